/*-------------------------------------------------------------------------
 * upsert.h
 *	  The direct write path of feast_push.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_UPSERT_H
#define CFEAST_UPSERT_H

#include "write.h"

/* ---------- in upsert.c ---------- */

/*
 * Write rows (in key order) of one view straight into its online table
 * (index probe, in-place update, multi-insert) when the table is plain
 * enough.  Returns rows written, or -1 when the table needs the SQL path.
 */
extern int64 cf_upsert_direct(CfBatch *b, CfPushTarget *tg, const int64 *rows, int64 nrows);

#endif							/* CFEAST_UPSERT_H */
