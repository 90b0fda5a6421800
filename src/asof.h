/*-------------------------------------------------------------------------
 * asof.h
 *	  The as-of join behind training sets (asof.c), callable from C.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_ASOF_H
#define CFEAST_ASOF_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "storage/dsm.h"
#include "storage/shm_toc.h"
#include "datatype/timestamp.h"

/* the arguments of feast._as_of_join */
typedef struct CfAsofCall
{
	const char *entity_sql;
	bool		filter_created;
	bool		has_lower;
	TimestampTz lower;
	int			nviews;
	char	  **sources;		/* each view's source query */
	/*
	 * Each view's source relation when sources[v] is cf_source_select's
	 * SELECT of it (one FROM item, the WHERE clause last), so the scan may
	 * be split by block range among parallel workers; InvalidOid (or a
	 * NULL array): read it in one scan.
	 */
	Oid		   *split_rels;
	Interval  **ttls;			/* NULL: no ttl */
	int		   *key_counts;
	int		   *feat_counts;
	int			ncols;			/* result columns: entity columns, then every feature */
} CfAsofCall;

/*
 * Where the joined rows go: start() once with the number of rows, then
 * row() per entity row in input order (entity columns, then each view's
 * features; the values stay valid until finish()), then finish().
 */
typedef struct CfAsofSink CfAsofSink;
struct CfAsofSink
{
	void		(*start) (CfAsofSink *sink, int64 nrows);
	void		(*row) (CfAsofSink *sink, Datum *values, bool *nulls);
	void		(*finish) (CfAsofSink *sink);
};

/* ---------- in asof.c ---------- */

/*
 * Run the as-of join of "call"; "out" describes the rows (entity columns,
 * then each view's features, view after view).
 */
extern void cf_as_of_join_exec(const CfAsofCall *call, TupleDesc out, CfAsofSink *sink);
/*
 * Run it into the new table "relid" (created by the caller in this
 * transaction, its columns those of "out" in the order col_map gives:
 * table column i is result column col_map[i]), inserting in batches.
 */
extern int64 cf_as_of_join_into(const CfAsofCall *call, Oid relid, const int *col_map);

/* a parallel worker of the as-of join's source scan (started by asof.c) */
extern PGDLLEXPORT void cf_asof_parallel_main(dsm_segment *seg, shm_toc *toc);

#endif							/* CFEAST_ASOF_H */
