/*-------------------------------------------------------------------------
 * upsert.c
 *	  The direct write path of feast_push: probe the online table's primary
 *	  key, update newer rows in place and multi-insert new keys, without a
 *	  trip through the SQL executor for each row.
 *
 * It applies only where the SQL path would do nothing more: a plain online
 * table (no triggers, rules, row security, CHECK constraints or columns
 * cfeast does not know), READ COMMITTED, and a caller holding INSERT and
 * UPDATE on it.  Rows that would break a NOT NULL constraint also go to the
 * SQL path, which reports them.  Anything else, and any row whose key another transaction is
 * writing at the same moment, is left to the INSERT ... ON CONFLICT plan of
 * push.c, which is always correct; that plan also raises PostgreSQL's own
 * permission errors.
 *
 * Concurrency: keys are probed with a dirty snapshot.  A key with an
 * in-progress insert or update is a fallback row.  An update that finds the
 * row changed since the probe (TM_Updated, TM_Deleted) is a fallback row.
 * New keys are inserted in a subtransaction: if another transaction inserted
 * one of them since the probe, the unique violation rolls the inserts back
 * and they all become fallback rows.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"

#include "access/heapam.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "access/nbtree.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/execnodes.h"
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
} CfDirect;

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
	if (pg_class_aclcheck(RelationGetRelid(rel), GetUserId(), ACL_INSERT | ACL_UPDATE) != ACLCHECK_OK)
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

/* does batch row r replace the stored row in "stored"?  (SPEC 4: newer event, or equal and newer-or-equal created) */
static bool
cf_replaces_stored(CfDirect *d, int64 r, TupleTableSlot *stored)
{
	CfBatch    *b = d->b;
	bool		isnull;
	TimestampTz ev = DatumGetTimestampTz(slot_getattr(stored, d->event_att + 1, &isnull));
	Datum		cr = slot_getattr(stored, d->created_att + 1, &isnull);
	TimestampTz new_ev = DatumGetTimestampTz(b->values[b->src->ts_field][r]);
	int			cf = b->src->created_field;

	if (new_ev != ev)
		return new_ev > ev;
	if (isnull)
		return true;
	if (cf < 0 || b->nulls[cf][r])
		return false;
	return DatumGetTimestampTz(b->values[cf][r]) >= DatumGetTimestampTz(cr);
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

/* point the key scan at row r's key */
static void
cf_set_scankeys(CfDirect *d, ScanKey keys, int64 r)
{
	CfView	   *v = d->tg->view;

	for (int k = 0; k < v->nkeys; k++)
	{
		Oid			opfamily = d->idx->rd_opfamily[k];
		Oid			type = d->idx->rd_opcintype[k];
		Oid			eqop = get_opfamily_member(opfamily, type, type, BTEqualStrategyNumber);

		if (r < 0)
			ScanKeyEntryInitialize(&keys[k], 0, (AttrNumber) (k + 1), BTEqualStrategyNumber,
								   type, d->idx->rd_indcollation[k], get_opcode(eqop), (Datum) 0);
		else
			keys[k].sk_argument = d->b->values[d->tg->key_fields[k]][r];
	}
}

/*
 * Probe each winner's key.  Sorts rows into updates (with the stored TID),
 * inserts, stale rows (dropped) and fallback rows (a concurrent writer).
 */
static void
cf_probe(CfDirect *d, const bool *winner, bool *fallback, int64 *upd, ItemPointerData *tids,
		 int64 *nupd, int64 *ins, int64 *nins)
{
	SnapshotData dirty;
	ScanKey		keys = palloc(sizeof(ScanKeyData) * d->tg->view->nkeys);
	TupleTableSlot *found = table_slot_create(d->rel, NULL);
	IndexScanDesc scan;

	InitDirtySnapshot(dirty);
	cf_set_scankeys(d, keys, -1);
	scan = index_beginscan(d->rel, d->idx, &dirty, d->tg->view->nkeys, 0);
	*nupd = *nins = 0;
	for (int64 r = 0; r < d->b->nrows; r++)
	{
		if (!winner[r])
			continue;
		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (cf_violates_not_null(d, r))
		{
			fallback[r] = true; /* the SQL path raises the proper error */
			continue;
		}
		cf_set_scankeys(d, keys, r);
		index_rescan(scan, keys, d->tg->view->nkeys, NULL, 0);
		if (!index_getnext_slot(scan, ForwardScanDirection, found))
		{
			ins[(*nins)++] = r;
			continue;
		}
		if (TransactionIdIsValid(dirty.xmin) || TransactionIdIsValid(dirty.xmax))
			fallback[r] = true; /* another transaction is writing this key */
		else if (cf_replaces_stored(d, r, found))
		{
			tids[*nupd] = found->tts_tid;
			upd[(*nupd)++] = r;
		}
		/* else: stale, not written */
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(found);
}

/* update the rows in place; a row changed since the probe becomes a fallback row */
static int64
cf_update_rows(CfDirect *d, const int64 *upd, ItemPointerData *tids, int64 nupd, bool *fallback)
{
	TupleTableSlot *slot = MakeSingleTupleTableSlot(RelationGetDescr(d->rel), &TTSOpsVirtual);
	CommandId	cid = GetCurrentCommandId(true);
	int64		written = 0;

	if (nupd > 0)
		CheckCmdReplicaIdentity(d->rel, CMD_UPDATE);
	for (int64 i = 0; i < nupd; i++)
	{
		TM_FailureData tmfd;
		LockTupleMode lockmode;
		bool		update_indexes;
		TM_Result	res;
		MemoryContext old = MemoryContextSwitchTo(d->row_cxt);

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		cf_fill_slot(d, slot, upd[i]);
		res = table_tuple_update(d->rel, &tids[i], slot, cid, GetActiveSnapshot(), InvalidSnapshot,
								 true, &tmfd, &lockmode, &update_indexes);
		if (res == TM_Ok)
		{
			/* a non-HOT update: new index entries ("update" is only an optimizer
			 * hint, and its column check needs a range table we do not have) */
			if (update_indexes)
				ExecInsertIndexTuples(d->rri, slot, d->estate, false, false, NULL, NIL);
			written++;
		}
		else if (res == TM_Updated || res == TM_Deleted || res == TM_SelfModified)
			fallback[upd[i]] = true;
		else
			elog(ERROR, "cfeast: unexpected result %d updating %s", (int) res, d->tg->view->online_table);
		MemoryContextSwitchTo(old);
		MemoryContextReset(d->row_cxt);
	}
	ExecDropSingleTupleTableSlot(slot);
	return written;
}

/* multi-insert the new keys (inside the caller's subtransaction) */
static void
cf_insert_rows_inner(CfDirect *d, const int64 *ins, int64 nins)
{
	TupleTableSlot **slots = palloc(sizeof(TupleTableSlot *) * CF_INSERT_CHUNK);
	BulkInsertState bistate = GetBulkInsertState();
	CommandId	cid = GetCurrentCommandId(true);

	for (int i = 0; i < CF_INSERT_CHUNK; i++)
		slots[i] = MakeSingleTupleTableSlot(RelationGetDescr(d->rel), &TTSOpsVirtual);
	for (int64 start = 0; start < nins; start += CF_INSERT_CHUNK)
	{
		int			n = (int) Min(CF_INSERT_CHUNK, nins - start);
		MemoryContext old = MemoryContextSwitchTo(d->row_cxt);

		CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
			cf_fill_slot(d, slots[i], ins[start + i]);
		table_multi_insert(d->rel, slots, n, cid, 0, bistate);
		for (int i = 0; i < n; i++)
			ExecInsertIndexTuples(d->rri, slots[i], d->estate, false, false, NULL, NIL);
		MemoryContextSwitchTo(old);
		MemoryContextReset(d->row_cxt);
	}
	FreeBulkInsertState(bistate);
	for (int i = 0; i < CF_INSERT_CHUNK; i++)
		ExecDropSingleTupleTableSlot(slots[i]);
}

/* insert new keys; if one of them appeared meanwhile, roll back and let the SQL path do them */
static int64
cf_insert_rows(CfDirect *d, const int64 *ins, int64 nins, bool *fallback)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		conflict = false;

	if (nins == 0)
		return 0;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		cf_insert_rows_inner(d, ins, nins);
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
		return nins;
	for (int64 i = 0; i < nins; i++)
		fallback[ins[i]] = true;
	return 0;
}

int64
cf_upsert_direct(CfBatch *b, CfPushTarget *tg, const bool *winner, bool *fallback)
{
	CfDirect	d;
	int64	   *upd;
	int64	   *ins;
	ItemPointerData *tids;
	int64		nupd;
	int64		nins;
	int64		written;

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
	d.rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d.rri, d.rel, 1, NULL, 0);
	ExecOpenIndices(d.rri, false);
	d.row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast upsert row", ALLOCSET_DEFAULT_SIZES);

	upd = palloc_extended(sizeof(int64) * Max(b->nrows, 1), MCXT_ALLOC_HUGE);
	ins = palloc_extended(sizeof(int64) * Max(b->nrows, 1), MCXT_ALLOC_HUGE);
	tids = palloc_extended(sizeof(ItemPointerData) * Max(b->nrows, 1), MCXT_ALLOC_HUGE);
	cf_probe(&d, winner, fallback, upd, tids, &nupd, ins, &nins);
	written = cf_update_rows(&d, upd, tids, nupd, fallback);
	written += cf_insert_rows(&d, ins, nins, fallback);

	ExecCloseIndices(d.rri);
	FreeExecutorState(d.estate);
	MemoryContextDelete(d.row_cxt);
	index_close(d.idx, NoLock);
	table_close(d.rel, NoLock);
	return written;
}
