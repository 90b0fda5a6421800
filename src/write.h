/*-------------------------------------------------------------------------
 * write.h
 *	  Rows of a batch, and the SQL path that writes them into an online
 *	  table under the write rule.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_WRITE_H
#define CFEAST_WRITE_H

#include "cfeast.h"

#include "lib/stringinfo.h"
#include "utils/tuplestore.h"

/* the validated rows of one push, one array per field */
typedef struct CfBatch
{
	CfPushSource *src;
	int64		nrows;
	int64		capacity;		/* rows the arrays hold */
	Datum	  **values;			/* [field][row] */
	bool	  **nulls;			/* [field][row] */
	bool		want_spans;		/* JSON text: record where each row of the row form is */
	int64	   *spans;			/* [row * 2]: its offset and length in the text, or NULL */
} CfBatch;

/* ---------- in write.c ---------- */

/* the version of batch row r: event time, created time (or *created_null) */
extern void cf_batch_version(CfBatch *b, int64 r, TimestampTz *event, bool *created_null,
							 TimestampTz *created);

/* an online table's columns: keys, features, event_timestamp, created_timestamp */
extern TupleDesc cf_online_tupdesc(CfView *v);
/* "feast._push_batch() AS b(col type, ...)" for the columns of td */
extern void cf_append_batch_call(StringInfo buf, TupleDesc td);
/* run a plan that reads feast._push_batch(), which returns "store"; returns rows processed */
extern uint64 cf_run_with_batch(SPIPlanPtr plan, Tuplestorestate *store, TupleDesc td);
/*
 * INSERT ... ON CONFLICT ... DO UPDATE ... WHERE <write rule> of the rows in
 * "store" (of cf_online_tupdesc(v)) into v's online table; the plan is kept
 * in *keep (built on first use) or, with keep NULL, used once.  Returns rows
 * written.
 */
extern uint64 cf_write_store(CfView *v, Tuplestorestate *store, TupleDesc td, SPIPlanPtr *keep);
/* the same for rows (batch row numbers, in write order) of one push target */
extern uint64 cf_write_rows_sql(CfBatch *b, CfPushTarget *tg, const int64 *rows, int64 nrows);

#endif							/* CFEAST_WRITE_H */
