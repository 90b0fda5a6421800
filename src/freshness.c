/*-------------------------------------------------------------------------
 * freshness.c
 *	  The state behind feast.freshness: what every push, materialization and
 *	  expiry did to each online table, without scanning it.
 *
 * Each write adds its counts (rows written, rows refused as stale, rows
 * expired), the newest event time it offered and the time of the write to
 * one row of feast.freshness_state, in the writer's transaction: a
 * rolled-back push (or savepoint) counts nothing, a committed one is
 * counted exactly once.  feast.freshness sums the rows of a view.
 *
 * Concurrent writers to one view must not wait on each other, so they do
 * not share a row: the row is (online table, slot), and a writer uses the
 * slot of its backend (MyBackendId), which no other live backend has.  The
 * slot is held for the rest of the transaction by a transaction-level lock
 * of cfeast's own (an advisory lock tag with field4 = 0x4346, which
 * pg_advisory_lock cannot produce), taken with dontWait: the only other
 * holder can be a prepared transaction of an earlier session that had the
 * same backend id, and then the writer moves on to the next slot of its
 * series (backend id + k * MaxBackends).  Holding the lock, the writer is
 * the only transaction that can be writing its row, so its INSERT ... ON
 * CONFLICT DO UPDATE never waits.  A view has at most about MaxBackends
 * rows.
 *
 * The newest event time is the greatest offered, written or not: a stale
 * row is older than the stored row of its key, so the greatest offered
 * never exceeds the newest stored (given the state started exact: an
 * update to 0.4 scans each table once).  Rows deleted outside feast_expire
 * (DELETE, TRUNCATE by a role with those rights) are not seen;
 * feast_online_row_count() counts exactly.
 *
 * The state table belongs to the extension's owner; the write is made as
 * that owner (privileges.c), after the writer's own write to the online
 * table succeeded with its own rights, so no role needs a grant on it.
 *
 * Every single-row push commits one such write, so it is made cheap: the
 * state table's OID and fit are kept until its relcache is invalidated, and
 * the backend remembers where it last wrote each slot's row (CfSlotHint),
 * fetching that version directly while it is still the row.
 *-------------------------------------------------------------------------
 */
#include "freshness.h"
#include "direct.h"
#include "privileges.h"
#include "write.h"

#include "access/sysattr.h"
#include "access/table.h"
#include "access/xact.h"
#include "common/int.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/backendid.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

/* field4 of the slot locks: not 1 or 2, which the advisory lock functions use */
#define CF_SLOT_LOCK_FIELD4 0x4346

#define CF_FRESHNESS_NARGS 11

/* a slot of online table relid that this transaction holds: its backend's, or the next free */
static int32
cf_freshness_slot(Oid relid)
{
	for (int64 k = 0;; k++)
	{
		int64		slot = (int64) MyBackendId + k * (int64) MaxBackends;
		LOCKTAG		tag;

		if (slot > PG_INT32_MAX)
			elog(ERROR, "cfeast: no free freshness slot for relation %u", relid);
		SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, relid, (uint32) slot, CF_SLOT_LOCK_FIELD4);
		if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return (int32) slot;
		CHECK_FOR_INTERRUPTS();
	}
}

/* what this transaction has done to one online table so far, in one subtransaction */
typedef struct CfPending
{
	Oid			relid;
	SubTransactionId subid;
	char	   *view;
	int64		written;
	int64		stale;
	int64		expired;
	bool		has_newest;
	TimestampTz newest;
	TimestampTz last[4];		/* write, push, materialize, expire; 0: none */
} CfPending;

enum
{
	CF_LAST_WRITE, CF_LAST_PUSH, CF_LAST_MATERIALIZE, CF_LAST_EXPIRE
};

/* in TopTransactionContext; NIL between transactions */
static List *cf_pending = NIL;
static bool cf_callbacks_registered = false;

/*
 * feast.freshness_state's OID, looked up by name once and kept until an
 * invalidation could change what the name finds: the table's own relcache
 * invalidation (dropped, renamed, moved to another schema), a reset of
 * every relcache entry, or any change to a schema (feast renamed or
 * dropped).  A table created under the name later comes after the old
 * one's drop.  InvalidOid: look it up.
 */
static Oid	cf_state_relid = InvalidOid;

/*
 * The state table last found as cfeast made it (cf_pending_write_direct),
 * until its next relcache invalidation: a trigger, rule, policy, index or
 * column added or changed.
 */
static Oid	cf_state_plain_relid = InvalidOid;

static void
cf_state_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cf_state_relid)
		cf_state_relid = InvalidOid;
	if (relid == InvalidOid || relid == cf_state_plain_relid)
		cf_state_plain_relid = InvalidOid;
}

static void
cf_state_namespace_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	cf_state_relid = InvalidOid;
}

/* feast.freshness_state, or InvalidOid if it does not exist (cfeast dropped meanwhile) */
static Oid
cf_state_table(void)
{
	if (!OidIsValid(cf_state_relid))
	{
		Oid			nsp = get_namespace_oid("feast", true);

		cf_state_relid = OidIsValid(nsp) ? get_relname_relid("freshness_state", nsp) : InvalidOid;
	}
	return cf_state_relid;
}

/* b's counts into a (same relid) */
static void
cf_pending_merge(CfPending *a, const CfPending *b)
{
	a->written += b->written;
	a->stale += b->stale;
	a->expired += b->expired;
	if (b->has_newest && (!a->has_newest || b->newest > a->newest))
	{
		a->has_newest = true;
		a->newest = b->newest;
	}
	for (int i = 0; i < 4; i++)
		a->last[i] = Max(a->last[i], b->last[i]);
}

static CfPending *
cf_pending_find(Oid relid, SubTransactionId subid)
{
	ListCell   *lc;

	foreach(lc, cf_pending)
	{
		CfPending  *p = lfirst(lc);

		if (p->relid == relid && p->subid == subid)
			return p;
	}
	return NULL;
}

/* the INSERT ... ON CONFLICT DO UPDATE of one pending entry, as the state table's owner */
static void
cf_pending_write(CfPending *p)
{
	/* kept for the backend's life: it names no view, and plancache revalidates it */
	static SPIPlanPtr plan = NULL;
	Oid			types[CF_FRESHNESS_NARGS] = {REGCLASSOID, INT4OID, TEXTOID, INT8OID, INT8OID, INT8OID,
		TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[CF_FRESHNESS_NARGS];
	char		nulls[CF_FRESHNESS_NARGS];
	CfPrivSwitch sw;
	int			rc;

	if (plan == NULL)
	{
		SPIPlanPtr	q = SPI_prepare(
									"INSERT INTO feast.freshness_state AS s (online_table, slot, feature_view,"
									" rows_written, rows_stale, rows_expired, newest_event_timestamp,"
									" last_write_at, last_push_at, last_materialize_at, last_expire_at)"
									" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
									" ON CONFLICT (online_table, slot) DO UPDATE SET"
									" feature_view = EXCLUDED.feature_view,"
									" rows_written = s.rows_written OPERATOR(pg_catalog.+) EXCLUDED.rows_written,"
									" rows_stale = s.rows_stale OPERATOR(pg_catalog.+) EXCLUDED.rows_stale,"
									" rows_expired = s.rows_expired OPERATOR(pg_catalog.+) EXCLUDED.rows_expired,"
									" newest_event_timestamp = GREATEST(s.newest_event_timestamp, EXCLUDED.newest_event_timestamp),"
									" last_write_at = GREATEST(s.last_write_at, EXCLUDED.last_write_at),"
									" last_push_at = GREATEST(s.last_push_at, EXCLUDED.last_push_at),"
									" last_materialize_at = GREATEST(s.last_materialize_at, EXCLUDED.last_materialize_at),"
									" last_expire_at = GREATEST(s.last_expire_at, EXCLUDED.last_expire_at)",
									CF_FRESHNESS_NARGS, types);

		if (q == NULL || SPI_keepplan(q) != 0)
			elog(ERROR, "cfeast: preparing the freshness update failed: %s",
				 SPI_result_code_string(SPI_result));
		plan = q;
	}
	memset(nulls, ' ', sizeof(nulls));
	args[0] = ObjectIdGetDatum(p->relid);
	args[1] = Int32GetDatum(cf_freshness_slot(p->relid));
	args[2] = CStringGetTextDatum(p->view);
	args[3] = Int64GetDatum(p->written);
	args[4] = Int64GetDatum(p->stale);
	args[5] = Int64GetDatum(p->expired);
	args[6] = TimestampTzGetDatum(p->newest);
	nulls[6] = p->has_newest ? ' ' : 'n';
	for (int i = 0; i < 4; i++)
	{
		args[7 + i] = TimestampTzGetDatum(p->last[i]);
		nulls[7 + i] = p->last[i] != 0 ? ' ' : 'n';
	}
	/* as the state table's owner: the caller has written (or expired) the view itself */
	cf_priv_begin_registry_owner("freshness_state", &sw);
	rc = SPI_execute_plan(plan, args, nulls, false, 0);
	cf_priv_end(&sw);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cfeast: updating feast.freshness_state failed: %s", SPI_result_code_string(rc));
}

/* the state table's columns, in the order of cf_pending_write's parameters */
static const char *const cf_state_columns[CF_FRESHNESS_NARGS] = {
	"online_table", "slot", "feature_view", "rows_written", "rows_stale", "rows_expired",
	"newest_event_timestamp", "last_write_at", "last_push_at", "last_materialize_at", "last_expire_at"
};
static const Oid cf_state_types[CF_FRESHNESS_NARGS] = {
	REGCLASSOID, INT4OID, TEXTOID, INT8OID, INT8OID, INT8OID,
	TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID
};

/* the greater of a stored and an added timestamp, NULLs ignored (GREATEST) */
static void
cf_state_greatest(TupleTableSlot *slot, int a, bool add_null, TimestampTz add)
{
	if (add_null)
		return;
	if (slot->tts_isnull[a] || DatumGetTimestampTz(slot->tts_values[a]) < add)
	{
		slot->tts_values[a] = TimestampTzGetDatum(add);
		slot->tts_isnull[a] = false;
	}
}

/* a stored count plus an added one, failing as bigint + bigint does */
static Datum
cf_state_sum(Datum stored, int64 add)
{
	int64		sum;

	if (pg_add_s64_overflow(DatumGetInt64(stored), add, &sum))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("bigint out of range")));
	return Int64GetDatum(sum);
}

/*
 * Where this backend last wrote the row of (online table, slot), to try
 * first next time (cf_direct_fetch): every write of the row adds a
 * version to its HOT chain, which an index probe walks from its root, as
 * long as the page holds versions.  Only a hint: the row found there is
 * checked, and otherwise the index is probed.
 */
typedef struct CfSlotHint
{
	Oid			relid;			/* the online table (hash key) */
	Oid			staterelid;
	int32		slot;
	ItemPointerData tid;
} CfSlotHint;

static HTAB *cf_slot_hints = NULL;

static CfSlotHint *
cf_slot_hint(Oid relid)
{
	CfSlotHint *h;
	bool		found;

	if (cf_slot_hints == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(CfSlotHint);
		ctl.hcxt = TopMemoryContext;
		cf_slot_hints = hash_create("cfeast freshness slot rows", 16, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	h = hash_search(cf_slot_hints, &relid, HASH_ENTER, &found);
	if (!found)
	{
		h->staterelid = InvalidOid;
		h->slot = -1;
		ItemPointerSetInvalid(&h->tid);
	}
	return h;
}

/*
 * The same write as cf_pending_write, straight into the slot's row
 * (direct.c): the slot lock makes this transaction its only writer, and a
 * plan would cost more than the row.  False, having written nothing, when
 * the table is not as cfeast made it (a trigger or policy added, a column
 * changed): then the SQL path writes.
 */
static bool
cf_pending_write_direct(Oid staterelid, CfPending *p)
{
	Relation	rel = table_open(staterelid, RowExclusiveLock);
	TupleDesc	td = RelationGetDescr(rel);
	int			att[CF_FRESHNESS_NARGS];
	Bitmapset  *updated = NULL;
	CfDirectRel d;
	Datum		key[2];
	int32		slot;
	CfPrivSwitch sw;
	CfSlotHint *hint;
	bool		first = true;

	if (staterelid != cf_state_plain_relid)
	{
		if (!cf_direct_plain(rel, 2) || td->natts != CF_FRESHNESS_NARGS)
		{
			table_close(rel, NoLock);
			return false;
		}
		for (int i = 0; i < CF_FRESHNESS_NARGS; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i);

			if (a->attisdropped || strcmp(NameStr(a->attname), cf_state_columns[i]) != 0 ||
				a->atttypid != cf_state_types[i])
			{
				table_close(rel, NoLock);
				return false;
			}
		}
		cf_state_plain_relid = staterelid;
	}
	for (int i = 0; i < CF_FRESHNESS_NARGS; i++)
	{
		att[i] = i;
		if (i >= 2)
			updated = bms_add_member(updated, i + 1 - FirstLowInvalidHeapAttributeNumber);
	}
	slot = cf_freshness_slot(p->relid);
	/* as the state table's owner, as the SQL path: its constraints run as the owner */
	cf_priv_begin_owner_of(rel, &sw);
	cf_direct_begin(&d, rel, updated);
	key[0] = ObjectIdGetDatum(p->relid);
	key[1] = Int32GetDatum(slot);
	hint = cf_slot_hint(p->relid);
	for (;; first = false)
	{
		TupleTableSlot *n = d.slot;
		bool		hinted = first && hint->staterelid == staterelid && hint->slot == slot;

		ExecClearTuple(n);
		if ((hinted && cf_direct_fetch(&d, &hint->tid, key)) || cf_direct_find(&d, key))
		{
			slot_getallattrs(d.found);
			memcpy(n->tts_values, d.found->tts_values, sizeof(Datum) * td->natts);
			memcpy(n->tts_isnull, d.found->tts_isnull, sizeof(bool) * td->natts);
			n->tts_values[att[2]] = CStringGetTextDatum(p->view);
			n->tts_values[att[3]] = cf_state_sum(n->tts_values[att[3]], p->written);
			n->tts_values[att[4]] = cf_state_sum(n->tts_values[att[4]], p->stale);
			n->tts_values[att[5]] = cf_state_sum(n->tts_values[att[5]], p->expired);
			cf_state_greatest(n, att[6], !p->has_newest, p->newest);
			for (int i = 0; i < 4; i++)
				cf_state_greatest(n, att[7 + i], p->last[i] == 0, p->last[i]);
			ExecStoreVirtualTuple(n);
			if (cf_direct_update(&d))
				break;
			continue;			/* deleted meanwhile (its view was dropped): insert */
		}
		memset(n->tts_isnull, true, sizeof(bool) * td->natts);
		n->tts_values[att[0]] = key[0];
		n->tts_values[att[1]] = key[1];
		n->tts_values[att[2]] = CStringGetTextDatum(p->view);
		n->tts_values[att[3]] = Int64GetDatum(p->written);
		n->tts_values[att[4]] = Int64GetDatum(p->stale);
		n->tts_values[att[5]] = Int64GetDatum(p->expired);
		for (int i = 0; i < 6; i++)
			n->tts_isnull[att[i]] = false;
		cf_state_greatest(n, att[6], !p->has_newest, p->newest);
		for (int i = 0; i < 4; i++)
			cf_state_greatest(n, att[7 + i], p->last[i] == 0, p->last[i]);
		ExecStoreVirtualTuple(n);
		if (cf_direct_insert(&d))
			break;
	}
	/* the version just written */
	hint->staterelid = staterelid;
	hint->slot = slot;
	hint->tid = d.slot->tts_tid;
	cf_direct_end(&d);
	cf_priv_end(&sw);
	table_close(rel, NoLock);
	return true;
}

/*
 * At commit (or PREPARE): write what the transaction did, one row update
 * per online table however many writes it made (so a transaction of many
 * pushes does not pile up versions of one row).  Tables dropped meanwhile,
 * or cfeast itself, are skipped.
 */
static void
cf_pending_flush(void)
{
	List	   *pending = cf_pending;
	Oid			staterelid = cf_state_table();
	MemoryContext cxt;
	MemoryContext old;
	bool		connected = false;
	ListCell   *lc;

	cf_pending = NIL;
	if (!OidIsValid(staterelid))
		return;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast freshness", ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(cxt);
	/* this transaction's own earlier writes of the state table, visible to the probe */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	foreach(lc, pending)
	{
		CfPending  *p = lfirst(lc);

		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(p->relid)))
			continue;
		if (cf_pending_write_direct(staterelid, p))
			continue;
		if (!connected && SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		connected = true;
		cf_pending_write(p);
	}
	PopActiveSnapshot();
	if (connected)
		SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

static void
cf_freshness_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (cf_pending != NIL)
				cf_pending_flush();
			break;
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			break;
		default:
			/* committed, prepared or aborted: the list went with TopTransactionContext */
			cf_pending = NIL;
			break;
	}
}

/* a committed subtransaction's counts go to its parent; an aborted one's are dropped */
static void
cf_freshness_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg)
{
	List	   *keep = NIL;
	ListCell   *lc;

	if (cf_pending == NIL || (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB))
		return;
	foreach(lc, cf_pending)
	{
		CfPending  *p = lfirst(lc);
		CfPending  *into;
		MemoryContext old;

		if (p->subid != mySubid)
		{
			old = MemoryContextSwitchTo(TopTransactionContext);
			keep = lappend(keep, p);
			MemoryContextSwitchTo(old);
			continue;
		}
		if (event == SUBXACT_EVENT_ABORT_SUB)
			continue;
		/* the parent's entry for the table, kept whether already passed or still ahead */
		into = cf_pending_find(p->relid, parentSubid);
		if (into != NULL)
		{
			cf_pending_merge(into, p);
			continue;
		}
		p->subid = parentSubid;
		old = MemoryContextSwitchTo(TopTransactionContext);
		keep = lappend(keep, p);
		MemoryContextSwitchTo(old);
	}
	cf_pending = keep;
}

void
cf_freshness_note(CfWriteKind kind, Oid relid, const char *view, int64 written, int64 stale,
				  int64 expired, bool has_newest, TimestampTz newest)
{
	SubTransactionId subid = GetCurrentSubTransactionId();
	TimestampTz now = GetCurrentTimestamp();
	CfPending	add;
	CfPending  *p;

	if (!OidIsValid(relid))
		return;
	if (!cf_callbacks_registered)
	{
		RegisterXactCallback(cf_freshness_xact_callback, NULL);
		RegisterSubXactCallback(cf_freshness_subxact_callback, NULL);
		CacheRegisterRelcacheCallback(cf_state_relcache_callback, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, cf_state_namespace_callback, (Datum) 0);
		cf_callbacks_registered = true;
	}
	memset(&add, 0, sizeof(add));
	add.written = written;
	add.stale = stale;
	add.expired = expired;
	add.has_newest = has_newest;
	add.newest = newest;
	if (written > 0 && kind != CF_WRITE_EXPIRE)
		add.last[CF_LAST_WRITE] = now;
	add.last[kind == CF_WRITE_PUSH ? CF_LAST_PUSH :
			 kind == CF_WRITE_MATERIALIZE ? CF_LAST_MATERIALIZE : CF_LAST_EXPIRE] = now;

	p = cf_pending_find(relid, subid);
	if (p == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);

		p = palloc0(sizeof(CfPending));
		p->relid = relid;
		p->subid = subid;
		p->view = pstrdup(view);
		cf_pending = lappend(cf_pending, p);
		MemoryContextSwitchTo(old);
	}
	cf_pending_merge(p, &add);
}

void
cf_freshness_note_push(CfBatch *b, CfPushTarget *tg, uint64 written)
{
	Datum	   *ts = b->values[b->src->ts_field];
	TimestampTz newest = DT_NOBEGIN;

	if (b->nrows == 0)
		return;
	for (int64 r = 0; r < b->nrows; r++)
		newest = Max(newest, DatumGetTimestampTz(ts[r]));
	cf_freshness_note(CF_WRITE_PUSH, tg->view->online_relid, tg->view->name, (int64) written,
					  b->nrows - (int64) written, 0, true, newest);
}
