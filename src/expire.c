/*-------------------------------------------------------------------------
 * expire.c
 *	  CALL feast_expire(feature_views, older_than): delete the online rows
 *	  that reads already answer as OUTSIDE_MAX_AGE, in batches.
 *
 * A procedure, not a function, so that a long expiry on a big table can
 * commit as it goes: called on its own (CALL at the top level, as psql and
 * pg_cron send it) it commits after every batch, so a cancel, a
 * statement_timeout or a crash loses at most the batch in progress, dead
 * rows become vacuumable while it runs, and a push that updates a row
 * being expired waits for one batch, not the whole run.  Called inside a
 * transaction block (or from a function) it runs in that transaction, all
 * or nothing, as any statement would.
 *
 * The cutoff is fixed when the call starts: now() - ttl (or - older_than),
 * the ttl taken as a fixed length exactly as online reads take it
 * (version.c), and a read answers OUTSIDE_MAX_AGE for a row older than
 * its own now() - ttl, which is later.  So every row deleted was already
 * answered as OUTSIDE_MAX_AGE, with a null value; afterwards it is
 * NOT_FOUND, with the same null value.
 *
 * Batches are ranges of the heap's blocks (a TID range scan each, so the
 * table is read once over the whole run, whatever its keys), sized to hold
 * about cfeast.expire_batch_rows rows by the table's statistics.  Each
 * batch is DELETE ... WHERE ctid in the range AND event_timestamp < cutoff:
 * a row that a push replaces meanwhile is re-checked on its new version
 * (READ COMMITTED's rule) and, being newer, kept.  Rows appended after the
 * call started (beyond the last block it saw) wait for the next run.
 *
 * The delete runs with the caller's rights: expiring a view needs DELETE
 * on its online table and SELECT on its event_timestamp (checked for every
 * view before anything is deleted, 42501), and row security applies.  The
 * rows deleted are added to feast.freshness (rows_expired) in the batch's
 * own transaction.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"
#include "freshness.h"
#include "version.h"

#include "access/relation.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/bufmgr.h"
#include "storage/itemptr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cfeast_expire);

int			cf_expire_batch_rows = 10000;

/* rows a heap page is taken to hold when the table has no statistics yet */
#define CF_ROWS_PER_PAGE_GUESS 100

/* how often a long expiry reports progress */
#define CF_EXPIRE_PROGRESS_USECS USECS_PER_SEC

typedef struct CfExpireView
{
	char	   *name;
	Oid			relid;
	char	   *table;			/* quoted, qualified */
	bool		has_ttl;
	Interval	ttl;
} CfExpireView;

static bool
cf_interval_is_zero(const Interval *iv)
{
	return iv->month == 0 && iv->day == 0 && iv->time == 0;
}

/* one row of the registry query: name, online_table (oid or NULL), ttl (or NULL) */
static CfExpireView *
cf_expire_view_from_row(HeapTuple tup, TupleDesc td, const char *asked)
{
	CfExpireView *v = palloc0(sizeof(CfExpireView));
	bool		isnull;
	Datum		d;

	v->name = SPI_getvalue(tup, td, 1);
	if (v->name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature view \"%s\" does not exist", asked)));
	d = SPI_getbinval(tup, td, 2, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feature view \"%s\" is not online, so it has no online rows to expire", v->name)));
	v->relid = DatumGetObjectId(d);
	/* qualified whatever the caller's search_path (regclass output would follow it) */
	v->table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(v->relid)),
										  get_rel_name(v->relid));
	d = SPI_getbinval(tup, td, 3, &isnull);
	if (!isnull)
	{
		v->ttl = *DatumGetIntervalP(d);
		v->has_ttl = !cf_interval_is_zero(&v->ttl);
	}
	return v;
}

/* the views to expire: those named (each must exist and be online), or every online view */
static List *
cf_expire_views(ArrayType *names)
{
	List	   *views = NIL;

	if (names == NULL)
	{
		if (SPI_execute("SELECT v.name, v.online_table, v.ttl FROM feast.feature_views AS v"
						" WHERE v.online_table IS NOT NULL ORDER BY v.name", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading the cfeast registry failed");
		for (uint64 i = 0; i < SPI_processed; i++)
			views = lappend(views, cf_expire_view_from_row(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, NULL));
		return views;
	}
	else
	{
		Datum	   *d;
		bool	   *nulls;
		int			n;
		Oid			types[1] = {TEXTOID};

		deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			Datum		args[1];

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature view name %d is null", i + 1)));
			args[0] = d[i];
			if (SPI_execute_with_args("SELECT v.name, v.online_table, v.ttl FROM (SELECT 1) AS one"
									  " LEFT JOIN feast.feature_views AS v ON v.name OPERATOR(pg_catalog.=) $1",
									  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "reading the cfeast registry failed");
			views = lappend(views, cf_expire_view_from_row(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														   TextDatumGetCString(d[i])));
		}
	}
	return views;
}

/* the caller may delete rows of the view's online table, reading their event time */
static void
cf_expire_check_rights(CfExpireView *v)
{
	Oid			user = GetUserId();
	AttrNumber	att = get_attnum(v->relid, "event_timestamp");

	if (pg_class_aclcheck(v->relid, user, ACL_DELETE) == ACLCHECK_OK &&
		(pg_class_aclcheck(v->relid, user, ACL_SELECT) == ACLCHECK_OK ||
		 (att != InvalidAttrNumber && pg_attribute_aclcheck(v->relid, att, user, ACL_SELECT) == ACLCHECK_OK)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to expire feature view \"%s\"", v->name),
			 errdetail("Expiry deletes rows of %s with the caller's rights: it needs DELETE on the table and SELECT on its event_timestamp.",
					   v->table),
			 errhint("SELECT feast_grant(%s, 'expire', %s) as the extension's owner, or expire as that owner.",
					 quote_literal_cstr(GetUserNameFromId(user, false)), quote_literal_cstr(v->name))));
}

/* rows a batch of "per batch" blocks holds about cfeast.expire_batch_rows of */
static BlockNumber
cf_expire_batch_blocks(Relation rel)
{
	double		per_page = CF_ROWS_PER_PAGE_GUESS;
	double		blocks;

	if (rel->rd_rel->relpages > 0 && rel->rd_rel->reltuples > 0)
		per_page = Max(rel->rd_rel->reltuples / rel->rd_rel->relpages, 1.0);
	blocks = Max(1.0, Min((double) cf_expire_batch_rows / per_page, (double) MaxBlockNumber));
	return (BlockNumber) blocks;
}

typedef struct CfExpireRun
{
	bool		nonatomic;		/* commit after each batch */
	TimestampTz started;
	TimestampTz last_progress;
	int64		total;
} CfExpireRun;

/* expire one view's rows older than cutoff; returns rows deleted */
static int64
cf_expire_view(CfExpireRun *run, CfExpireView *v, TimestampTz cutoff, const char *age)
{
	Relation	rel;
	BlockNumber nblocks;
	BlockNumber per_batch;
	char	   *sql;
	Oid			types[3] = {TIDOID, TIDOID, TIMESTAMPTZOID};
	int64		deleted = 0;
	int			batches = 0;
	TimestampTz t0 = GetCurrentTimestamp();

	rel = try_relation_open(v->relid, AccessShareLock);
	if (rel == NULL)
		return 0;				/* dropped since the registry was read */
	nblocks = RelationGetNumberOfBlocks(rel);
	per_batch = cf_expire_batch_blocks(rel);
	relation_close(rel, NoLock);
	sql = psprintf("DELETE FROM %s WHERE ctid OPERATOR(pg_catalog.>=) $1 AND ctid OPERATOR(pg_catalog.<) $2"
				   " AND event_timestamp OPERATOR(pg_catalog.<) $3", v->table);

	for (BlockNumber lo = 0; lo < nblocks;)
	{
		BlockNumber hi = (nblocks - lo > per_batch) ? lo + per_batch : nblocks;
		ItemPointerData lo_tid;
		ItemPointerData hi_tid;
		Datum		args[3];
		int			rc;
		int64		n;
		TimestampTz now;

		CHECK_FOR_INTERRUPTS();
		ItemPointerSet(&lo_tid, lo, 0);
		ItemPointerSet(&hi_tid, hi, 0);
		args[0] = PointerGetDatum(&lo_tid);
		args[1] = PointerGetDatum(&hi_tid);
		args[2] = TimestampTzGetDatum(cutoff);
		rc = SPI_execute_with_args(sql, 3, types, args, NULL, false, 0);
		if (rc != SPI_OK_DELETE)
			elog(ERROR, "cfeast: expiring %s failed: %s", v->table, SPI_result_code_string(rc));
		n = (int64) SPI_processed;
		if (n > 0)
			cf_freshness_note(CF_WRITE_EXPIRE, v->relid, v->name, 0, 0, n, false, 0);
		deleted += n;
		run->total += n;
		batches++;
		lo = hi;
		now = GetCurrentTimestamp();
		if (lo < nblocks && now - run->last_progress >= CF_EXPIRE_PROGRESS_USECS)
		{
			ereport(NOTICE,
					(errmsg("expiring feature view \"%s\": " INT64_FORMAT " rows deleted so far, %u of %u blocks",
							v->name, deleted, lo, nblocks)));
			run->last_progress = now;
		}
		if (run->nonatomic)
			SPI_commit();
	}
	/* the run itself is recorded, rows or not */
	cf_freshness_note(CF_WRITE_EXPIRE, v->relid, v->name, 0, 0, 0, false, 0);
	ereport(NOTICE,
			(errmsg("expired feature view \"%s\": " INT64_FORMAT " rows older than %s deleted",
					v->name, deleted, age),
			 errdetail("Event times before %s; %d batches of up to %u blocks, %.3f s.",
					   timestamptz_to_str(cutoff), batches, per_batch,
					   (double) (GetCurrentTimestamp() - t0) / USECS_PER_SEC)));
	if (run->nonatomic)
		SPI_commit();
	return deleted;
}

/*
 * feast_expire(feature_views text[] DEFAULT NULL, older_than interval DEFAULT NULL,
 *				INOUT rows_deleted bigint DEFAULT NULL): a procedure
 */
Datum
cfeast_expire(PG_FUNCTION_ARGS)
{
	CallContext *call = (fcinfo->context && IsA(fcinfo->context, CallContext)) ?
		(CallContext *) fcinfo->context : NULL;
	CfExpireRun run;
	bool		has_older = !PG_ARGISNULL(1);
	Interval	older = {0};
	List	   *views;
	ListCell   *lc;
	TupleDesc	tupdesc;
	Datum		result[1];
	bool		result_null[1] = {false};

	memset(&run, 0, sizeof(run));
	run.nonatomic = call != NULL && !call->atomic && !IsSubTransaction();
	run.started = GetCurrentTransactionStartTimestamp();
	run.last_progress = GetCurrentTimestamp();
	if (has_older)
	{
		older = *PG_GETARG_INTERVAL_P(1);
		if (cf_minus_ttl(run.started, &older) >= run.started)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("older_than must be a positive interval")));
	}
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cfeast: feast_expire must be a procedure with an INOUT rows_deleted");
	tupdesc = BlessTupleDesc(tupdesc);

	if (SPI_connect_ext(run.nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* every view is checked before anything is deleted */
	views = cf_expire_views(PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0));
	foreach(lc, views)
		cf_expire_check_rights(lfirst(lc));
	foreach(lc, views)
	{
		CfExpireView *v = lfirst(lc);
		TimestampTz cutoff;

		if (has_older)
			cutoff = cf_minus_ttl(run.started, &older);
		else if (v->has_ttl)
			cutoff = cf_minus_ttl(run.started, &v->ttl);
		else
		{
			ereport(NOTICE,
					(errmsg("feature view \"%s\" has no ttl: nothing expired", v->name),
					 errhint("Pass older_than to delete its rows older than an age.")));
			continue;
		}
		if (TIMESTAMP_IS_NOBEGIN(cutoff))
			continue;			/* a ttl beyond the timestamp range: nothing is that old */
		(void) cf_expire_view(&run, v, cutoff,
							  DatumGetCString(DirectFunctionCall1(interval_out,
																  IntervalPGetDatum(has_older ? &older : &v->ttl))));
	}
	SPI_finish();

	result[0] = Int64GetDatum(run.total);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, result, result_null)));
}
