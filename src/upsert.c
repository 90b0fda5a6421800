/*-------------------------------------------------------------------------
 * upsert.c
 *	  The direct write path of feast_push: probe the online table's primary
 *	  key, update newer rows in place and multi-insert new keys, without a
 *	  trip through the SQL executor for each row.
 *
 * It applies only where the SQL path would do nothing more: a plain online
 * table (no triggers, rules, row security, CHECK constraints or columns
 * cfeast does not know), READ COMMITTED, and a caller holding SELECT, INSERT
 * and UPDATE on it (what the SQL path needs).  Rows that would break a NOT NULL constraint also go to the
 * SQL path, which reports them.  Anything else, and any row whose key another transaction is
 * writing at the same moment, is left to the INSERT ... ON CONFLICT plan of
 * write.c, which is always correct; that plan also raises PostgreSQL's own
 * permission errors.
 *
 * Rows come sorted by key, and are written in that order on this path and
 * on the SQL path alike, so concurrent pushers take row locks in one order
 * and cannot deadlock each other.  Each key is probed with a dirty
 * snapshot: a row another transaction is writing is waited for, then probed
 * again; an update that finds the row changed since the probe probes again.
 * New keys are gathered into multi-insert chunks, flushed before any later
 * key is touched; a chunk runs in a subtransaction, and if another
 * transaction inserted one of its keys meanwhile (unique violation) it is
 * rolled back and those rows go through the SQL path, still in order.
 *-------------------------------------------------------------------------
 */
#include "upsert.h"
#include "version.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/nbtree.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
#include "nodes/parsenodes.h"
#include "access/sysattr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#define CF_INSERT_CHUNK 1000

/* where each table attribute's value comes from */
#define CF_ATT_DROPPED	(-1)
#define CF_ATT_EVENT	(-2)
#define CF_ATT_CREATED	(-3)

typedef struct CfDirect
{
	CfBatch    *b;
	CfPushTarget *tg;
	Relation	rel;
	Relation	idx;
	int		   *att_field;		/* per table attribute: field index or CF_ATT_* */
	int			event_att;		/* attribute numbers (0-based) in the table */
	int			created_att;
	EState	   *estate;
	ResultRelInfo *rri;
	MemoryContext row_cxt;
	/* the key probe */
	SnapshotData dirty;
	ScanKey		keys;
	IndexScanDesc scan;
	TupleTableSlot *found;
	TupleTableSlot *upd_slot;
} CfDirect;

typedef enum CfProbe
{
	CF_PROBE_ABSENT,			/* no row for the key */
	CF_PROBE_FOUND,				/* a committed row: *tid */
	CF_PROBE_BUSY				/* another transaction is writing it: wait for *xwait */
} CfProbe;

/* is the table plain enough for the direct path? */
static bool
cf_direct_applies(Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;

	if (IsolationUsesXactSnapshot())
		return false;
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->trigdesc != NULL ||
		rel->rd_rules != NULL || rel->rd_rel->relrowsecurity)
		return false;
	if (constr && (constr->num_check > 0 || constr->has_generated_stored))
		return false;
	/* every privilege the SQL path needs (ON CONFLICT DO UPDATE reads the stored row);
	 * pg_class_aclcheck accepts any one bit of a mask, so each is checked alone */
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT) != ACLCHECK_OK ||
		pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_UPDATE) != ACLCHECK_OK)
		return false;
	return true;
}

static int
cf_find_name(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/* map the table's attributes to push fields; false if a column is unknown or of another type */
static bool
cf_map_attributes(CfDirect *d)
{
	TupleDesc	td = RelationGetDescr(d->rel);
	CfView	   *v = d->tg->view;
	CfPushSource *src = d->b->src;

	d->att_field = palloc(sizeof(int) * td->natts);
	d->event_att = d->created_att = -1;
	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a);
		const char *name = NameStr(att->attname);
		int			i;
		int			f;

		if (att->attisdropped)
		{
			d->att_field[a] = CF_ATT_DROPPED;
			continue;
		}
		if (strcmp(name, "event_timestamp") == 0)
		{
			d->att_field[a] = CF_ATT_EVENT;
			d->event_att = a;
			f = src->ts_field;
		}
		else if (strcmp(name, "created_timestamp") == 0)
		{
			d->att_field[a] = CF_ATT_CREATED;
			d->created_att = a;
			f = src->created_field;
			if (f < 0)
			{
				if (att->atttypid != TIMESTAMPTZOID)
					return false;
				continue;
			}
		}
		else if ((i = cf_find_name(v->key_names, v->nkeys, name)) >= 0)
			f = d->att_field[a] = d->tg->key_fields[i];
		else if ((i = cf_find_name(v->feature_names, v->nfeatures, name)) >= 0)
			f = d->att_field[a] = d->tg->feature_fields[i];
		else
			return false;
		if (att->atttypid != cf_dtype_type_oid(src->fields[f].dtype))
			return false;
	}
	return d->event_att >= 0 && d->created_att >= 0;
}

/* the primary key index, with its columns in the view's key order */
static bool
cf_open_key_index(CfDirect *d)
{
	Oid			pk = RelationGetPrimaryKeyIndex(d->rel);
	CfView	   *v = d->tg->view;

	if (!OidIsValid(pk) || v->nkeys == 0)
		return false;
	d->idx = index_open(pk, RowExclusiveLock);
	if (d->idx->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(d->idx) != v->nkeys)
		return false;
	for (int k = 0; k < v->nkeys; k++)
	{
		AttrNumber	attno = d->idx->rd_index->indkey.values[k];

		if (attno <= 0 || d->att_field[attno - 1] != d->tg->key_fields[k])
			return false;
	}
	return true;
}

/* fill a virtual slot with batch row r */
static void
cf_fill_slot(CfDirect *d, TupleTableSlot *slot, int64 r)
{
	TupleDesc	td = slot->tts_tupleDescriptor;
	CfBatch    *b = d->b;

	ExecClearTuple(slot);
	for (int a = 0; a < td->natts; a++)
	{
		int			f = d->att_field[a];

		if (f == CF_ATT_EVENT)
			f = b->src->ts_field;
		else if (f == CF_ATT_CREATED)
			f = b->src->created_field;
		if (f < 0)
		{
			slot->tts_values[a] = (Datum) 0;
			slot->tts_isnull[a] = true;
		}
		else
		{
			slot->tts_values[a] = b->values[f][r];
			slot->tts_isnull[a] = b->nulls[f][r];
		}
	}
	ExecStoreVirtualTuple(slot);
}

/* does batch row r replace the stored row in "stored" under the write rule? */
static bool
cf_replaces_stored(CfDirect *d, int64 r, TupleTableSlot *stored)
{
	bool		isnull;
	TimestampTz ev = DatumGetTimestampTz(slot_getattr(stored, d->event_att + 1, &isnull));
	Datum		cr = slot_getattr(stored, d->created_att + 1, &isnull);
	TimestampTz new_ev;
	TimestampTz new_cr;
	bool		new_cnull;

	cf_batch_version(d->b, r, &new_ev, &new_cnull, &new_cr);
	return cf_version_replaces(new_ev, new_cnull, new_cr, ev, isnull, isnull ? 0 : DatumGetTimestampTz(cr));
}

/* would row r put a NULL into a NOT NULL column (one a user added to a feature)? */
static bool
cf_violates_not_null(CfDirect *d, int64 r)
{
	TupleDesc	td = RelationGetDescr(d->rel);

	for (int a = 0; a < td->natts; a++)
	{
		int			f = d->att_field[a];

		if (!TupleDescAttr(td, a)->attnotnull || f == CF_ATT_DROPPED)
			continue;
		if (f == CF_ATT_EVENT)
			f = d->b->src->ts_field;
		else if (f == CF_ATT_CREATED)
			f = d->b->src->created_field;
		if (f < 0 || d->b->nulls[f][r])
			return true;
	}
	return false;
}

/* the key scan's equality keys, arguments filled per row by cf_set_scankeys */
static void
cf_init_scankeys(CfDirect *d, ScanKey keys)
{
	for (int k = 0; k < d->tg->view->nkeys; k++)
	{
		Oid			type = d->idx->rd_opcintype[k];
		Oid			eqop = get_opfamily_member(d->idx->rd_opfamily[k], type, type,
											   BTEqualStrategyNumber);

		ScanKeyEntryInitialize(&keys[k], 0, (AttrNumber) (k + 1), BTEqualStrategyNumber,
							   type, d->idx->rd_indcollation[k], get_opcode(eqop), (Datum) 0);
	}
}

/* point the key scan at row r's key */
static inline void
cf_set_scankeys(CfDirect *d, ScanKey keys, int64 r)
{
	for (int k = 0; k < d->tg->view->nkeys; k++)
		keys[k].sk_argument = d->b->values[d->tg->key_fields[k]][r];
}

/* probe row r's key; on CF_PROBE_FOUND, *replaces says whether r is newer */
static CfProbe
cf_probe_row(CfDirect *d, int64 r, ItemPointer tid, TransactionId *xwait, bool *replaces)
{
	cf_set_scankeys(d, d->keys, r);
	index_rescan(d->scan, d->keys, d->tg->view->nkeys, NULL, 0);
	if (!index_getnext_slot(d->scan, ForwardScanDirection, d->found))
		return CF_PROBE_ABSENT;
	*tid = d->found->tts_tid;
	if (TransactionIdIsValid(d->dirty.xmin) || TransactionIdIsValid(d->dirty.xmax))
	{
		*xwait = TransactionIdIsValid(d->dirty.xmin) ? d->dirty.xmin : d->dirty.xmax;
		return CF_PROBE_BUSY;
	}
	*replaces = cf_replaces_stored(d, r, d->found);
	return CF_PROBE_FOUND;
}

/* update the stored row at tid with row r */
static TM_Result
cf_update_row(CfDirect *d, int64 r, ItemPointer tid)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;
	MemoryContext old = MemoryContextSwitchTo(d->row_cxt);

	cf_fill_slot(d, d->upd_slot, r);
	res = table_tuple_update(d->rel, tid, d->upd_slot, GetCurrentCommandId(true), GetActiveSnapshot(),
							 InvalidSnapshot, true, &tmfd, &lockmode, &update_indexes);
	/* a non-HOT update needs new index entries; "update" lets btree delete the
	 * old versions bottom-up instead of splitting pages (the keys are unchanged) */
	if (res == TM_Ok && update_indexes)
		ExecInsertIndexTuples(d->rri, d->upd_slot, d->estate, true, false, NULL, NIL);
	MemoryContextSwitchTo(old);
	MemoryContextReset(d->row_cxt);
	if (res != TM_Ok && res != TM_Updated && res != TM_Deleted)
		elog(ERROR, "cfeast: unexpected result %d updating %s", (int) res, d->tg->view->online_table);
	return res;
}

/* multi-insert rows ins[0..n) (inside the caller's subtransaction) */
static void
cf_insert_chunk(CfDirect *d, const int64 *ins, int n)
{
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * n);
	BulkInsertState bistate = GetBulkInsertState();
	MemoryContext old;

	for (int i = 0; i < n; i++)
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(d->rel), &TTSOpsVirtual);
	old = MemoryContextSwitchTo(d->row_cxt);
	for (int i = 0; i < n; i++)
		cf_fill_slot(d, slots[i], ins[i]);
	table_multi_insert(d->rel, slots, n, GetCurrentCommandId(true), 0, bistate);
	for (int i = 0; i < n; i++)
		ExecInsertIndexTuples(d->rri, slots[i], d->estate, false, false, NULL, NIL);
	MemoryContextSwitchTo(old);
	MemoryContextReset(d->row_cxt);
	FreeBulkInsertState(bistate);
	for (int i = 0; i < n; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
}

/*
 * Insert the pending new keys.  If another transaction inserted one of
 * them since the probe, roll the chunk back and give it to the SQL path.
 */
static int64
cf_flush_inserts(CfDirect *d, int64 *ins, int *nins)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		conflict = false;
	int			n = *nins;

	if (n == 0)
		return 0;
	*nins = 0;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		cf_insert_chunk(d, ins, n);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode != ERRCODE_UNIQUE_VIOLATION)
			ReThrowError(edata);
		FreeErrorData(edata);
		conflict = true;
	}
	PG_END_TRY();
	if (!conflict)
		return n;
	return (int64) cf_write_rows_sql(d->b, d->tg, ins, n);
}

/* write the rows in order: probe, wait, update, gather inserts */
static int64
cf_write_rows(CfDirect *d, const int64 *rows, int64 nrows)
{
	int64	   *ins = palloc(sizeof(int64) * CF_INSERT_CHUNK);
	int			nins = 0;
	int64		written = 0;

	for (int64 i = 0; i < nrows; i++)
	{
		int64		r = rows[i];
		ItemPointerData tid;
		TransactionId xwait;
		bool		replaces;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (cf_violates_not_null(d, r))
		{
			/* the SQL path raises PostgreSQL's own error for it */
			written += cf_flush_inserts(d, ins, &nins);
			written += cf_write_rows_sql(d->b, d->tg, &rows[i], 1);
			continue;
		}
		for (;;)
		{
			CfProbe		p = cf_probe_row(d, r, &tid, &xwait, &replaces);

			if (p == CF_PROBE_ABSENT)
			{
				ins[nins++] = r;
				if (nins == CF_INSERT_CHUNK)
					written += cf_flush_inserts(d, ins, &nins);
				break;
			}
			written += cf_flush_inserts(d, ins, &nins);
			if (p == CF_PROBE_BUSY)
			{
				XactLockTableWait(xwait, d->rel, &tid, XLTW_InsertIndexUnique);
				continue;
			}
			if (!replaces)
				break;			/* stale */
			if (cf_update_row(d, r, &tid) == TM_Ok)
			{
				written++;
				break;
			}
			/* changed since the probe: probe again */
		}
	}
	written += cf_flush_inserts(d, ins, &nins);
	return written;
}

/*
 * A one-entry range table naming the online table, with every non-key
 * column as updated: the executor's index code reads it to tell btree that
 * an update left the key unchanged.
 */
static void
cf_init_range_table(CfDirect *d)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);
	TupleDesc	td = RelationGetDescr(d->rel);

	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(d->rel);
	rte->relkind = d->rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_SELECT | ACL_INSERT | ACL_UPDATE;
	for (int a = 0; a < td->natts; a++)
	{
		int			f = d->att_field[a];
		bool		is_key = false;

		for (int k = 0; k < d->tg->view->nkeys; k++)
			is_key |= (f == d->tg->key_fields[k]);
		if (f != CF_ATT_DROPPED && !is_key)
			rte->updatedCols = bms_add_member(rte->updatedCols,
											  a + 1 - FirstLowInvalidHeapAttributeNumber);
	}
	ExecInitRangeTable(d->estate, list_make1(rte));
}

int64
cf_upsert_direct(CfBatch *b, CfPushTarget *tg, const int64 *rows, int64 nrows)
{
	CfDirect	d;
	int64		written;

	if (nrows == 0)
		return 0;
	memset(&d, 0, sizeof(d));
	d.b = b;
	d.tg = tg;
	d.rel = table_open(tg->view->online_relid, RowExclusiveLock);
	if (!cf_direct_applies(d.rel) || !cf_map_attributes(&d) || !cf_open_key_index(&d))
	{
		if (d.idx)
			index_close(d.idx, NoLock);
		table_close(d.rel, NoLock);
		return -1;
	}
	d.estate = CreateExecutorState();
	cf_init_range_table(&d);
	d.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d.rri, d.rel, 1, NULL, 0);
	ExecOpenIndices(d.rri, false);
	d.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast upsert row", ALLOCSET_DEFAULT_SIZES);
	CheckCmdReplicaIdentity(d.rel, CMD_UPDATE);

	InitDirtySnapshot(d.dirty);
	d.keys = palloc(sizeof(ScanKeyData) * tg->view->nkeys);
	cf_init_scankeys(&d, d.keys);
	d.found = table_slot_create(d.rel, NULL);
	d.upd_slot = MakeSingleTupleTableSlot(RelationGetDescr(d.rel), &TTSOpsVirtual);
	d.scan = index_beginscan(d.rel, d.idx, &d.dirty, tg->view->nkeys, 0);

	written = cf_write_rows(&d, rows, nrows);

	index_endscan(d.scan);
	ExecDropSingleTupleTableSlot(d.found);
	ExecDropSingleTupleTableSlot(d.upd_slot);
	ExecCloseIndices(d.rri);
	FreeExecutorState(d.estate);
	MemoryContextDelete(d.row_cxt);
	index_close(d.idx, NoLock);
	table_close(d.rel, NoLock);
	return written;
}
