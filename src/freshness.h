/*-------------------------------------------------------------------------
 * freshness.h
 *	  What pushes, materializations and expiry did to each online table,
 *	  kept in feast.freshness_state in the writer's transaction.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_FRESHNESS_H
#define CFEAST_FRESHNESS_H

#include "postgres.h"

#include "datatype/timestamp.h"

typedef enum CfWriteKind
{
	CF_WRITE_PUSH,
	CF_WRITE_MATERIALIZE,
	CF_WRITE_EXPIRE
} CfWriteKind;

/* ---------- in freshness.c ---------- */

/*
 * Add one write to the state of online table "relid" of view "view":
 * rows written, refused as stale, deleted by expiry, and the newest event
 * time among the rows offered (has_newest false: none).  Runs SQL through
 * SPI (the caller is connected), as the state table's owner.  Never waits
 * for another writer.
 */
extern void cf_freshness_note(CfWriteKind kind, Oid relid, const char *view, int64 written,
							  int64 stale, int64 expired, bool has_newest, TimestampTz newest);

/* the same for one push's write to one target: newest among the batch's rows */
struct CfBatch;
struct CfPushTarget;
extern void cf_freshness_note_push(struct CfBatch *b, struct CfPushTarget *tg, uint64 written);

/* ---------- in expire.c ---------- */

extern int	cf_expire_batch_rows;	/* GUC cfeast.expire_batch_rows */

#endif							/* CFEAST_FRESHNESS_H */
