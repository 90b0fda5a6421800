/*-------------------------------------------------------------------------
 * direct.c
 *	  One-row writes by primary key without planning or starting an
 *	  executor: the pieces PostgreSQL's logical replication apply is built
 *	  from (execReplication.c: an index probe with a dirty snapshot, then
 *	  table_tuple_update and ExecInsertIndexTuples) and the speculative
 *	  insertion of INSERT ... ON CONFLICT (nodeModifyTable.c).
 *
 * Used by every push to a plain online table (push.c), where the
 * statement's start-up cost more than a few rows' work and, per row, the
 * tuple store and projection of INSERT ... SELECT ... ON CONFLICT cost more
 * than the probe itself, and by the commit-time write of
 * feast.freshness_state (freshness.c).  Only plain heap tables without
 * triggers, rules or row security qualify (cf_direct_plain); the callers
 * keep their SQL path for everything else.  What the executor would do to
 * such a table is done here too: NOT NULL and CHECK constraints
 * (ExecConstraints), every index (ExecInsertIndexTuples, including other
 * unique and exclusion constraints), HOT where no indexed column changes.
 *
 * Concurrency gives what ON CONFLICT DO UPDATE gives.  The probe reads the
 * key with a dirty snapshot; a row whose inserter or updater is still in
 * progress is waited for and probed again, so the caller compares against
 * the latest committed version.  The update is made to exactly that
 * version (table_tuple_update, waiting for a writer that came since): if
 * another transaction replaced or deleted it meanwhile, the probe starts
 * over and the caller compares again.  Every write follows the write rule,
 * so a stored version only ever gets newer, and a row found stale stays
 * stale: unlike ON CONFLICT, it is not locked (no lock record in the WAL,
 * no second visit of the heap page).  An absent key is inserted
 * speculatively: heap tuple with a speculative token, then the primary key
 * entry with UNIQUE_CHECK_PARTIAL; if another transaction inserted the key
 * in between, the tuple is killed and the caller probes again (and so
 * waits for, then updates, the other row).  A row that replaces a stored
 * row holding the same values (a re-sent row) is counted as written and
 * left as it is (cf_same_row).
 *
 * A single-row push pays this file's set-up once per table, so it is kept
 * small: the indexes are opened on the first insert or non-HOT update, the
 * index scan begun on the first probe, and what a table's fit for the
 * direct path is (cf_direct_map) is kept per push target until the
 * registry cache's generation moves.  A writer that knows where it last
 * wrote a row (freshness.c, its state row) fetches that version by TID
 * (cf_direct_fetch) instead of probing the index and walking the row's
 * HOT chain, and probes only when that version is no longer the row.
 *-------------------------------------------------------------------------
 */
#include "direct.h"
#include "version.h"
#include "write.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/nbtree.h"
#include "access/sysattr.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "utils/acl.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "storage/smgr.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

bool
cf_direct_plain(Relation rel, int nkeys)
{
	Oid			pk;
	bool		ok;
	Relation	idx;

	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rel->relam != HEAP_TABLE_AM_OID ||
		rel->trigdesc != NULL || rel->rd_rules != NULL || rel->rd_rel->relrowsecurity ||
		rel->rd_rel->relispartition || nkeys <= 0)
		return false;
	pk = RelationGetPrimaryKeyIndex(rel);
	if (!OidIsValid(pk))
		return false;
	idx = index_open(pk, RowExclusiveLock);
	ok = idx->rd_rel->relam == BTREE_AM_OID && idx->rd_index->indimmediate &&
		IndexRelationGetNumberOfKeyAttributes(idx) == nkeys &&
		IndexRelationGetNumberOfAttributes(idx) == nkeys;
	index_close(idx, NoLock);
	return ok;
}

void
cf_direct_begin(CfDirectRel *d, Relation rel, Bitmapset *updated_cols)
{
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	memset(d, 0, sizeof(*d));
	d->rel = rel;
	d->idx = index_open(RelationGetPrimaryKeyIndex(rel), RowExclusiveLock);
	d->nkeys = IndexRelationGetNumberOfKeyAttributes(d->idx);

	/* a range table of the one relation: the index code reads its updated columns */
	d->estate = CreateExecutorState();
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->updatedCols = updated_cols;
	ExecInitRangeTable(d->estate, list_make1(rte));
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, rel, 1, NULL, 0);
	/* the indexes are opened when a row first needs index entries (cf_direct_open_indices) */
	d->estate->es_output_cid = GetCurrentCommandId(true);
	/* as INSERT ... ON CONFLICT DO UPDATE checks: a published table needs a replica identity */
	CheckCmdReplicaIdentity(rel, CMD_UPDATE);
	d->arbiters = list_make1_oid(RelationGetRelid(d->idx));

	/* the key probe: the index's own equality operators */
	d->keys = palloc(sizeof(ScanKeyData) * d->nkeys);
	for (int k = 0; k < d->nkeys; k++)
	{
		Oid			type = d->idx->rd_opcintype[k];
		Oid			eqop = get_opfamily_member(d->idx->rd_opfamily[k], type, type,
											   BTEqualStrategyNumber);

		if (!OidIsValid(eqop))
			elog(ERROR, "cfeast: no equality operator for key column %d of %s", k + 1,
				 RelationGetRelationName(d->idx));
		ScanKeyEntryInitialize(&d->keys[k], 0, (AttrNumber) (k + 1), BTEqualStrategyNumber,
							   type, d->idx->rd_indcollation[k], get_opcode(eqop), (Datum) 0);
	}
	InitDirtySnapshot(d->dirty);
	d->scan = NULL;				/* begun by the first probe */
	d->found = table_slot_create(rel, NULL);
	d->slot = MakeSingleTupleTableSlot(RelationGetDescr(rel), &TTSOpsVirtual);
}

void
cf_direct_end(CfDirectRel *d)
{
	if (d->scan)
		index_endscan(d->scan);
	ExecDropSingleTupleTableSlot(d->found);
	ExecDropSingleTupleTableSlot(d->slot);
	if (d->indices_open)
		ExecCloseIndices(d->rri);
	FreeExecutorState(d->estate);
	index_close(d->idx, NoLock);
}

/*
 * Open the table's indexes (for speculative insertion) on first need: an
 * insert, or an update that is not HOT.  A push whose rows are all stale,
 * or whose updates are all HOT, never builds their index info.  The
 * table's lock (held by the caller) keeps its set of indexes as the
 * relcache gives it, which is also what heap_update's HOT choice reads.
 */
static void
cf_direct_open_indices(CfDirectRel *d)
{
	if (!d->indices_open)
	{
		ExecOpenIndices(d->rri, true);
		d->indices_open = true;
	}
}

bool
cf_direct_find(CfDirectRel *d, const Datum *keys)
{
	for (int k = 0; k < d->nkeys; k++)
		d->keys[k].sk_argument = keys[k];
	if (d->scan == NULL)
		d->scan = index_beginscan(d->rel, d->idx, &d->dirty, d->nkeys, 0);
	for (;;)
	{
		TransactionId xwait;

		CHECK_FOR_INTERRUPTS();
		index_rescan(d->scan, d->keys, d->nkeys, NULL, 0);
		if (!index_getnext_slot(d->scan, ForwardScanDirection, d->found))
			return false;
		/* its inserter or updater is still at work: wait for it, then look again */
		xwait = TransactionIdIsValid(d->dirty.xmin) ? d->dirty.xmin : d->dirty.xmax;
		if (!TransactionIdIsValid(xwait))
			return true;
		XactLockTableWait(xwait, d->rel, &d->found->tts_tid, XLTW_InsertIndexUnique);
	}
}

bool
cf_direct_fetch(CfDirectRel *d, ItemPointer tid, const Datum *keys)
{
	BlockNumber blk;
	BlockNumber nblocks;
	SMgrRelation smgr;
	Buffer		buf;

	if (!ItemPointerIsValid(tid))
		return false;

	/*
	 * A row deleted since may have had its page truncated away.  The size
	 * this backend last learned serves (asking the kernel costs a system
	 * call): a truncation, which another backend makes under an
	 * AccessExclusiveLock we have waited out, sends an invalidation that
	 * closes our smgr handle, so a size still known was never larger than
	 * the relation is now; one that is too small (others extended the
	 * relation since) is asked again.
	 */
	blk = ItemPointerGetBlockNumber(tid);
	smgr = RelationGetSmgr(d->rel);
	nblocks = smgr->smgr_cached_nblocks[MAIN_FORKNUM];
	if (nblocks == InvalidBlockNumber || blk >= nblocks)
		nblocks = smgrnblocks(smgr, MAIN_FORKNUM);
	if (blk >= nblocks)
		return false;
	/* what an index fetch does on reaching the page: prune it when it is nearly full */
	buf = ReadBuffer(d->rel, blk);
	heap_page_prune_opt(d->rel, buf);
	ReleaseBuffer(buf);
	if (!table_tuple_fetch_row_version(d->rel, tid, &d->dirty, d->found))
		return false;
	/* a writer at work on it (cf_direct_find waits), or a version replaced or deleted */
	if (TransactionIdIsValid(d->dirty.xmin) || TransactionIdIsValid(d->dirty.xmax))
		return false;
	for (int k = 0; k < d->nkeys; k++)
	{
		bool		isnull;
		Datum		stored = slot_getattr(d->found, d->idx->rd_index->indkey.values[k], &isnull);

		if (isnull ||
			!DatumGetBool(FunctionCall2Coll(&d->keys[k].sk_func, d->keys[k].sk_collation, stored, keys[k])))
			return false;
	}
	return true;
}

bool
cf_direct_update(CfDirectRel *d)
{
	TM_FailureData tmfd;
	LockTupleMode lockmode;
	bool		update_indexes;
	TM_Result	res;

	res = table_tuple_update(d->rel, &d->found->tts_tid, d->slot, d->estate->es_output_cid,
							 GetActiveSnapshot(), InvalidSnapshot, true, &tmfd, &lockmode,
							 &update_indexes);
	switch (res)
	{
		case TM_Ok:
			/* a non-HOT update: new index entries ("update": btree may drop the old ones bottom-up) */
			if (update_indexes)
				cf_direct_open_indices(d);
			if (d->rri->ri_NumIndices > 0 && update_indexes)
				list_free(ExecInsertIndexTuples(d->rri, d->slot, d->estate, true, false, NULL, NIL));
			ResetPerTupleExprContext(d->estate);
			return true;
		case TM_Updated:
		case TM_Deleted:
			/* another transaction replaced or deleted the row since it was found: look again */
			return false;
		case TM_SelfModified:
			elog(ERROR, "cfeast: a row of %s was written twice by one command",
				 RelationGetRelationName(d->rel));
			break;
		default:
			elog(ERROR, "cfeast: unexpected result %d updating a row of %s", (int) res,
				 RelationGetRelationName(d->rel));
	}
	return false;
}

void
cf_direct_check(CfDirectRel *d)
{
	if (d->rel->rd_att->constr)
		ExecConstraints(d->rri, d->slot, d->estate);
}

bool
cf_direct_insert(CfDirectRel *d)
{
	TransactionId xid = GetCurrentTransactionId();
	uint32		token;
	bool		conflict = false;
	List	   *recheck;

	cf_direct_open_indices(d);
	token = SpeculativeInsertionLockAcquire(xid);
	table_tuple_insert_speculative(d->rel, d->slot, d->estate->es_output_cid, 0, NULL, token);
	recheck = ExecInsertIndexTuples(d->rri, d->slot, d->estate, false, true, &conflict, d->arbiters);
	table_tuple_complete_speculative(d->rel, d->slot, token, !conflict);
	SpeculativeInsertionLockRelease(xid);
	list_free(recheck);
	ResetPerTupleExprContext(d->estate);
	return !conflict;
}

/* ------------------------------------------------------------------------
 * a push's rows into an online table
 * ------------------------------------------------------------------------
 */

/* where each table attribute's value comes from: a batch field, or none (NULL) */
#define CF_ATT_DROPPED	(-2)
#define CF_ATT_NULL		(-1)

static int
cf_name_index(char **names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return i;
	return -1;
}

/*
 * The batch field of each attribute of the online table, and which
 * attributes hold the version; false if the table has a column the view
 * does not define, or of another type (the SQL path decides then).
 */
static bool
cf_map_online(Relation rel, CfBatch *b, CfPushTarget *tg, int *att_field, int *event_att,
			  int *created_att, Bitmapset **updated)
{
	TupleDesc	td = RelationGetDescr(rel);
	CfView	   *v = tg->view;
	CfPushSource *src = b->src;
	int			nmapped = 0;

	*event_att = *created_att = -1;
	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a);
		const char *name = NameStr(att->attname);
		Oid			type;
		int			i;
		bool		key = false;

		if (att->attisdropped)
		{
			att_field[a] = CF_ATT_DROPPED;
			continue;
		}
		if (strcmp(name, "event_timestamp") == 0)
		{
			att_field[a] = src->ts_field;
			*event_att = a;
			type = TIMESTAMPTZOID;
		}
		else if (strcmp(name, "created_timestamp") == 0)
		{
			att_field[a] = src->created_field < 0 ? CF_ATT_NULL : src->created_field;
			*created_att = a;
			type = TIMESTAMPTZOID;
		}
		else if ((i = cf_name_index(v->key_names, v->nkeys, name)) >= 0)
		{
			att_field[a] = tg->key_fields[i];
			type = cf_dtype_type_oid(v->key_types[i]);
			key = true;
		}
		else if ((i = cf_name_index(v->feature_names, v->nfeatures, name)) >= 0)
		{
			att_field[a] = tg->feature_fields[i];
			type = cf_dtype_type_oid(v->feature_types[i]);
		}
		else
			return false;
		if (att->atttypid != type || att->attgenerated)
			return false;
		if (!key)
			*updated = bms_add_member(*updated, a + 1 - FirstLowInvalidHeapAttributeNumber);
		nmapped++;
	}
	return *event_att >= 0 && *created_att >= 0 && nmapped == v->nkeys + v->nfeatures + 2;
}

/*
 * The table's fit for the direct path (cf_direct_plain, cf_map_online) per
 * push target, kept while the registry cache's generation holds: it moves
 * with every relcache invalidation of an online table the cache was built
 * over (registry.c: a trigger, rule, policy, index or column added or
 * changed), and a target is never freed before it moves.  Privileges are
 * checked at every write: they follow the role, not the table.
 */
typedef struct CfDirectMap
{
	CfPushTarget *tg;			/* hash key */
	bool		ok;				/* false: the SQL path writes */
	int			natts;
	int		   *att_field;
	int			event_att;
	int			created_att;
	Bitmapset  *updated;
} CfDirectMap;

static HTAB *cf_maps = NULL;
static MemoryContext cf_maps_cxt = NULL;
static uint64 cf_maps_gen = 0;

static CfDirectMap *
cf_direct_map(Relation rel, CfBatch *b, CfPushTarget *tg)
{
	uint64		gen = cf_cache_generation();
	CfDirectMap m;
	CfDirectMap *entry;
	MemoryContext old;

	if (cf_maps == NULL || gen != cf_maps_gen)
	{
		HASHCTL		ctl;

		if (cf_maps_cxt == NULL)
			cf_maps_cxt = AllocSetContextCreate(TopMemoryContext, "cfeast direct writes",
												ALLOCSET_SMALL_SIZES);
		else
			MemoryContextReset(cf_maps_cxt);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(CfPushTarget *);
		ctl.entrysize = sizeof(CfDirectMap);
		ctl.hcxt = cf_maps_cxt;
		cf_maps = hash_create("cfeast direct writes", 16, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		cf_maps_gen = gen;
	}
	entry = hash_search(cf_maps, &tg, HASH_FIND, NULL);
	if (entry != NULL && entry->natts == RelationGetDescr(rel)->natts)
		return entry;

	/* worked out in full before the entry is made: an error leaves none */
	old = MemoryContextSwitchTo(cf_maps_cxt);
	memset(&m, 0, sizeof(m));
	m.tg = tg;
	m.natts = RelationGetDescr(rel)->natts;
	m.att_field = palloc(sizeof(int) * Max(m.natts, 1));
	m.ok = cf_direct_plain(rel, tg->view->nkeys) &&
		cf_map_online(rel, b, tg, m.att_field, &m.event_att, &m.created_att, &m.updated);
	MemoryContextSwitchTo(old);
	entry = hash_search(cf_maps, &tg, HASH_ENTER, NULL);
	*entry = m;
	return entry;
}

/*
 * Does the stored row hold the new row's values, byte for byte?  Then the
 * write rule's replacement would change nothing but the row's version:
 * the push counts it as written and leaves it (no new version, no WAL),
 * as a re-sent row of an at-least-once stream is common.
 */
static bool
cf_same_row(TupleTableSlot *stored, TupleTableSlot *row)
{
	TupleDesc	td = row->tts_tupleDescriptor;

	slot_getallattrs(stored);
	for (int a = 0; a < td->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(td, a);

		if (att->attisdropped)
			continue;
		if (stored->tts_isnull[a] != row->tts_isnull[a])
			return false;
		if (!row->tts_isnull[a] &&
			!datum_image_eq(stored->tts_values[a], row->tts_values[a], att->attbyval, att->attlen))
			return false;
	}
	return true;
}

int64
cf_write_rows_direct(CfBatch *b, CfPushTarget *tg, const int64 *rows, int64 nrows)
{
	CfView	   *v = tg->view;
	Relation	rel;
	Oid			relid = v->online_relid;
	Oid			user = GetUserId();
	TupleDesc	td;
	CfDirectMap *map;
	int		   *att_field;
	int			event_att;
	int			created_att;
	CfDirectRel d;
	Datum	   *key;
	int64		written = 0;

	/* a read-only transaction (a hot standby's too) gets the SQL path's 25006 */
	if (XactReadOnly || IsolationUsesXactSnapshot() || !OidIsValid(relid))
		return -1;
	/* what the SQL path needs, table-wide: with less (column grants), it decides */
	if (pg_class_aclcheck(relid, user, ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(relid, user, ACL_INSERT) != ACLCHECK_OK ||
		pg_class_aclcheck(relid, user, ACL_UPDATE) != ACLCHECK_OK)
		return -1;
	rel = table_open(relid, RowExclusiveLock);
	td = RelationGetDescr(rel);
	map = cf_direct_map(rel, b, tg);
	if (!map->ok)
	{
		table_close(rel, NoLock);
		return -1;
	}
	att_field = map->att_field;
	event_att = map->event_att;
	created_att = map->created_att;
	/*
	 * Rows an earlier push of this statement wrote (SELECT feast_push(...)
	 * FROM batches) carry the current command id: advance it, as SPI does
	 * before each statement, so that this push can update them.
	 */
	CommandCounterIncrement();
	cf_direct_begin(&d, rel, map->updated);
	/* the key in index column order */
	key = palloc(sizeof(Datum) * v->nkeys);
	for (int64 i = 0; i < nrows; i++)
	{
		int64		r = rows[i];
		TupleTableSlot *slot = d.slot;

		CHECK_FOR_INTERRUPTS();
		ResetPerTupleExprContext(d.estate);
		ExecClearTuple(slot);
		for (int a = 0; a < td->natts; a++)
		{
			int			f = att_field[a];

			slot->tts_values[a] = f >= 0 ? b->values[f][r] : (Datum) 0;
			slot->tts_isnull[a] = f < 0 || b->nulls[f][r];
		}
		ExecStoreVirtualTuple(slot);
		for (int k = 0; k < v->nkeys; k++)
		{
			AttrNumber	attno = d.idx->rd_index->indkey.values[k];

			key[k] = slot->tts_values[attno - 1];
		}
		/* as INSERT does: the new row's constraints first, whatever is stored */
		cf_direct_check(&d);
		for (;;)
		{
			if (cf_direct_find(&d, key))
			{
				bool		old_enull;
				bool		old_cnull;
				Datum		old_event = slot_getattr(d.found, event_att + 1, &old_enull);
				Datum		old_created = slot_getattr(d.found, created_att + 1, &old_cnull);
				TimestampTz event;
				TimestampTz created;
				bool		cnull;

				cf_batch_version(b, r, &event, &cnull, &created);
				/* a NULL stored event time compares as unknown in SQL: never replaced */
				if (!old_enull &&
					cf_version_replaces(event, cnull, created, DatumGetTimestampTz(old_event),
										old_cnull, old_cnull ? 0 : DatumGetTimestampTz(old_created)))
				{
					/* the stored row already holds exactly these values (a re-sent row): written as is */
					if (!cf_same_row(d.found, slot) && !cf_direct_update(&d))
						continue;	/* replaced meanwhile: compare with the new version */
					written++;
				}
				break;
			}
			if (cf_direct_insert(&d))
			{
				written++;
				break;
			}
		}
	}
	cf_direct_end(&d);
	table_close(rel, NoLock);
	ereport(DEBUG2, (errmsg_internal("cfeast: wrote " INT64_FORMAT " of " INT64_FORMAT " rows directly to %s",
									 written, nrows, v->online_table)));
	return written;
}
