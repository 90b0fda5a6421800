/*-------------------------------------------------------------------------
 * direct.h
 *	  Writing one row by its primary key without the SQL executor: the
 *	  probe, lock, update and insert that PostgreSQL's own logical
 *	  replication apply uses (execReplication.c), for plain tables only.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_DIRECT_H
#define CFEAST_DIRECT_H

#include "postgres.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "utils/rel.h"
#include "utils/snapshot.h"

typedef struct CfDirectRel
{
	Relation	rel;
	Relation	idx;			/* its primary key (btree) */
	int			nkeys;
	EState	   *estate;
	ResultRelInfo *rri;
	bool		indices_open;	/* rri's indexes opened (on first need) */
	SnapshotData dirty;
	ScanKey		keys;
	IndexScanDesc scan;
	TupleTableSlot *found;		/* the stored row, after a successful find */
	TupleTableSlot *slot;		/* a virtual slot of the table's descriptor, for the new row */
	List	   *arbiters;		/* the primary key, for speculative insertion */
} CfDirectRel;

/* ---------- in direct.c ---------- */

/*
 * Is relation rel (opened by the caller) one the direct path can write
 * exactly as an INSERT ... ON CONFLICT would: a plain heap table, without
 * triggers, rules or row security, with a btree primary key of nkeys
 * columns?  Privileges are the caller's concern.
 */
extern bool cf_direct_plain(Relation rel, int nkeys);

/*
 * Set up writes into rel (cf_direct_plain holds), the columns in
 * updated_cols (attribute numbers offset by FirstLowInvalidHeapAttributeNumber)
 * being those an update changes.  Allocates in the current memory context.
 */
extern void cf_direct_begin(CfDirectRel *d, Relation rel, Bitmapset *updated_cols);
extern void cf_direct_end(CfDirectRel *d);

/*
 * The latest committed row whose primary key is keys[] (in index column
 * order), in d->found; false if there is none.  A row another transaction
 * is writing is waited for, then looked up again, as ON CONFLICT does.
 */
extern bool cf_direct_find(CfDirectRel *d, const Datum *keys);

/*
 * The same result as cf_direct_find, from the row version at tid (where
 * the caller last wrote the row of these keys) without probing the index:
 * true if that version is live, no other transaction is writing it, and
 * it holds keys[] (then it is the key's one live row).  False otherwise
 * (replaced, deleted, a writer at work, another row, gone): call
 * cf_direct_find.  Prunes the page as an index fetch would.
 */
extern bool cf_direct_fetch(CfDirectRel *d, ItemPointer tid, const Datum *keys);

/* the new row (d->slot) against the table's NOT NULL and CHECK constraints, as INSERT checks first */
extern void cf_direct_check(CfDirectRel *d);

/*
 * Replace the row just found by d->slot's contents; false, changing
 * nothing, if another transaction replaced or deleted that row since it
 * was found (find it again).
 */
extern bool cf_direct_update(CfDirectRel *d);

/*
 * Insert d->slot's contents, which cf_direct_find found absent.
 * Returns false, inserting nothing, if another transaction inserted the
 * same key meanwhile (look it up again); speculative insertion, as ON
 * CONFLICT does, so neither side fails.
 */
extern bool cf_direct_insert(CfDirectRel *d);

/*
 * Write rows (batch row numbers, in key order) of one push target into its
 * online table under the write rule, as write.c's INSERT ... ON CONFLICT
 * DO UPDATE ... WHERE <newer> would; returns rows written, or -1 having
 * written nothing when the SQL path must do it: a transaction snapshot (REPEATABLE READ and above,
 * where ON CONFLICT raises serialization failures), a table that is not
 * plain (cf_direct_plain) or has columns the view does not define, or a
 * caller without table-wide SELECT, INSERT and UPDATE.
 */
struct CfBatch;
struct CfPushTarget;
extern int64 cf_write_rows_direct(struct CfBatch *b, struct CfPushTarget *tg, const int64 *rows,
								  int64 nrows);

#endif							/* CFEAST_DIRECT_H */
