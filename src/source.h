/*-------------------------------------------------------------------------
 * source.h
 *	  Reading a feature view's batch source.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_SOURCE_H
#define CFEAST_SOURCE_H

#include "cfeast.h"

#include "executor/tuptable.h"
#include "nodes/params.h"
#include "tcop/dest.h"

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

/* the version of a row of that SELECT */
typedef struct CfSourceRow
{
	TimestampTz event;
	bool		created_null;
	TimestampTz created;
} CfSourceRow;

/* ---------- in source.c ---------- */

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
/*
 * Read the rows of "plan" (a SELECT prepared with SPI, its parameters in
 * "params") into "dest" without the executor where PostgreSQL plans it as
 * a sequential scan of one plain table that returns its columns as they
 * are, filtered only by timestamptz bounds (cf_source_select's SELECT of a
 * table whose columns need no cast, say): the same rows, snapshot (a new
 * one unless read_only, as SPI takes), lock and permission check.  False
 * (nothing read) otherwise: run the plan.
 */
extern bool cf_source_read_direct(SPIPlanPtr plan, ParamListInfo params, bool read_only,
								  DestReceiver *dest);
/*
 * Read a row of that SELECT: its version into *row, its keys into keys[]
 * (text and bytea detoasted in the current memory context, integers as
 * they come); false if it has no event time or a NULL key.  Features
 * follow at slot->tts_values[nkeys + 2].
 */
extern bool cf_source_row(TupleTableSlot *slot, int nkeys, Datum *keys, CfSourceRow *row);
/*
 * Appended to that SELECT of a plain table: only the rows of blocks
 * [$3, $4) (tid parameters), so that parallel workers can each read a
 * range of blocks (a TID range scan).
 */
#define CF_SOURCE_BLOCK_RANGE " AND s.ctid OPERATOR(pg_catalog.>=) $3 AND s.ctid OPERATOR(pg_catalog.<) $4"
/* the parameters of that SELECT: $1 = upper, $2 = lower */
extern ParamListInfo cf_source_params(TimestampTz upper, TimestampTz lower);

/* a timestamp column (quoted "alias.col") of type "type" as timestamptz */
extern char *cf_ts_expr(const char *qcol, Oid type);
/* "s.col" cast to dtype t unless it already has that type; "what" names it in errors */
extern char *cf_cast_column(CfSourceSpec *s, const char *col, CfDtype t, const char *what);

/*
 * A training set over a partitioned or foreign relation reads only the
 * entity rows' first keys: cf_source_key_filter is the clause to append to
 * cf_source_select's SELECT ("" for other relations); a source query with
 * it (cf_source_wants_keys) takes $3, the distinct first keys, as
 * cf_source_params_keys binds them (NULL, no filter, past the maximum).
 */
#define CF_SOURCE_KEYS_CLAUSE "ANY ($3)"
#define CF_SOURCE_KEY_FILTER_MAX 10000
extern char *cf_source_key_filter(CfSourceSpec *s);
extern bool cf_source_wants_keys(const char *sql);
extern ParamListInfo cf_source_params_keys(TimestampTz upper, TimestampTz lower, Oid elemtype,
										   Datum *keys, int nkeys);

#endif							/* CFEAST_SOURCE_H */
