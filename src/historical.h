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

/* a timestamptz as an ISO 8601 UTC literal: '2024-01-01 00:00:00+00' */
extern char *cf_timestamptz_literal(TimestampTz ts);

#endif							/* CFEAST_HISTORICAL_H */
