/*-------------------------------------------------------------------------
 * historical.h
 *	  Declarations shared by historical.c (point-in-time joins) and
 *	  materialize.c: how a feature view's batch source is read, and how
 *	  join-key tuples are hashed and compared.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_HISTORICAL_H
#define CFEAST_HISTORICAL_H

#include "cfeast.h"

/* a feature view's batch source, as the generated SQL reads it */
typedef struct CfSourceSpec
{
	CfView	   *view;
	char	   *batch_name;		/* the batch source's name */
	Oid			relid;
	char	   *relation;		/* quoted, qualified */
	char	   *ts_col;			/* source column of the event time */
	Oid			ts_type;		/* timestamptz, timestamp or date */
	char	   *created_col;	/* NULL: none */
	Oid			created_type;
	char	  **key_cols;		/* source column of each join key */
	char	  **feature_cols;	/* source column of each feature */
} CfSourceSpec;

/* ---------- in historical.c ---------- */

/* read the batch source of "view" from the registry (SPI connected) */
extern CfSourceSpec *cf_source_spec(CfView *view);

/*
 * SELECT keys, event_timestamp, created_timestamp, features FROM the
 * relation, keys and features cast to their dtypes, timestamps as
 * timestamptz; $1 bounds the event time from above, $2 (if "lower") from
 * below.  feat_idx lists the features wanted (NULL: all).  Without
 * exact_key_types, integer keys keep their own width (the as-of join
 * compares integers by value).
 */
extern char *cf_source_select(CfSourceSpec *s, int nfeat, const int *feat_idx, bool lower,
							  bool exact_key_types);

/* (ts, created) ordering of the write rule: NULL created is oldest */
static inline int
cf_version_cmp(TimestampTz ts1, bool cnull1, TimestampTz c1,
			   TimestampTz ts2, bool cnull2, TimestampTz c2)
{
	if (ts1 != ts2)
		return ts1 < ts2 ? -1 : 1;
	if (cnull1 || cnull2)
		return (cnull1 ? 0 : 1) - (cnull2 ? 0 : 1);
	if (c1 != c2)
		return c1 < c2 ? -1 : 1;
	return 0;
}

/* t - ttl, the ttl as a fixed length (1 day = 24 h, 1 month = 30 days) */
extern TimestampTz cf_minus_ttl(TimestampTz t, const Interval *ttl);

/* a timestamptz as an ISO 8601 UTC literal: '2024-01-01 00:00:00+00' */
extern char *cf_timestamptz_literal(TimestampTz ts);

#endif							/* CFEAST_HISTORICAL_H */
