/*-------------------------------------------------------------------------
 * materialize.c
 *	  feast_materialize(start, end, views) and feast_materialize_incremental:
 *	  the latest batch-source row per key with start <= event time <= end,
 *	  written to the online table under the write rule (version.c).
 *
 * The source (source.c) is read once, streamed from the executor (a plain
 * table: read directly, source.c) into a DestReceiver that keeps one row
 * per key: entries in arrays, found by a key set of keys.c (the later row
 * wins on equal (event, created) pairs, as with feast_push).  The
 * winners go into a tuplestore that write.c's
 * INSERT ... ON CONFLICT ... DO UPDATE ... WHERE <write rule> reads, the
 * same writer as feast_push's, so a fresher pushed row is never
 * overwritten.  Each view's run is recorded in
 * feast.materialization_intervals and reported with a NOTICE.
 *
 * An incremental run starts where the view's last run ended; a view never
 * materialized starts at end - ttl, or 52 weeks before the end when it has
 * no ttl (Feast's default for an unbounded lookback).
 *-------------------------------------------------------------------------
 */
#include "router.h"
#include "source.h"
#include "freshness.h"
#include "keys.h"
#include "privileges.h"
#include "version.h"
#include "write.h"

#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

PG_FUNCTION_INFO_V1(cfeast_materialize);

/* the lookback of an incremental run of a view without ttl that never ran: 52 weeks */
#define CF_NO_TTL_LOOKBACK ((int64) 52 * 7 * USECS_PER_DAY)
PG_FUNCTION_INFO_V1(cfeast_materialize_incremental);

/* the latest row per key of one view */
typedef struct CfLatest
{
	CfView	   *view;
	int			nkeys;
	int			nfeat;
	Oid		   *key_types;
	int16	   *typlen;			/* per feature */
	bool	   *typbyval;
	TimestampTz start;
	TimestampTz end;
	/* entries */
	int			n;
	int			cap;
	Datum	   *keys;			/* [e * nkeys + k]; entry n: the row being read */
	TimestampTz *ts;
	TimestampTz *created;
	bool	   *cnull;
	Datum	   *values;			/* [e * nfeat + f] */
	bool	   *nulls;
	CfKeySet   *set;			/* entries by key */
	int64		last;			/* the previous row's entry, or -1 */
	int64		last_item;
	MemoryContext values_cxt;
	MemoryContext row_cxt;
	int64		rows_read;
} CfLatest;

typedef struct CfLatestReceiver
{
	DestReceiver pub;
	CfLatest   *latest;
} CfLatestReceiver;

/* ------------------------------------------------------------------------
 * the latest row per key
 * ------------------------------------------------------------------------
 */

static void
cf_latest_grow(CfLatest *l)
{
	int			cap = l->cap * 2;

	l->keys = repalloc_huge(l->keys, sizeof(Datum) * (cap + 1) * Max(l->nkeys, 1));
	l->ts = repalloc_huge(l->ts, sizeof(TimestampTz) * cap);
	l->created = repalloc_huge(l->created, sizeof(TimestampTz) * cap);
	l->cnull = repalloc_huge(l->cnull, sizeof(bool) * cap);
	l->values = repalloc_huge(l->values, sizeof(Datum) * cap * Max(l->nfeat, 1));
	l->nulls = repalloc_huge(l->nulls, sizeof(bool) * cap * Max(l->nfeat, 1));
	l->cap = cap;
}

/* key k of entry "item" (a CfKeyFetch) */
static Datum
cf_latest_key(void *arg, int64 item, int k)
{
	CfLatest   *l = arg;

	return l->keys[item * l->nkeys + k];
}

static CfLatest *
cf_latest_create(CfView *view, TimestampTz start, TimestampTz end)
{
	CfLatest   *l = palloc0(sizeof(CfLatest));

	l->view = view;
	l->nkeys = view->nkeys;
	l->nfeat = view->nfeatures;
	l->start = start;
	l->end = end;
	l->key_types = palloc(sizeof(Oid) * Max(l->nkeys, 1));
	for (int k = 0; k < l->nkeys; k++)
		l->key_types[k] = cf_dtype_type_oid(view->key_types[k]);
	l->typlen = palloc(sizeof(int16) * Max(l->nfeat, 1));
	l->typbyval = palloc(sizeof(bool) * Max(l->nfeat, 1));
	for (int f = 0; f < l->nfeat; f++)
		get_typlenbyval(cf_dtype_type_oid(view->feature_types[f]), &l->typlen[f], &l->typbyval[f]);
	l->cap = 1024;
	l->keys = palloc(sizeof(Datum) * (l->cap + 1) * Max(l->nkeys, 1));
	l->ts = palloc(sizeof(TimestampTz) * l->cap);
	l->created = palloc(sizeof(TimestampTz) * l->cap);
	l->cnull = palloc(sizeof(bool) * l->cap);
	l->values = palloc(sizeof(Datum) * l->cap * Max(l->nfeat, 1));
	l->nulls = palloc(sizeof(bool) * l->cap * Max(l->nfeat, 1));
	l->set = cf_keyset_create(l->nkeys, l->key_types, cf_latest_key, l, l->cap);
	l->last = -1;
	l->values_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast materialize values",
										  ALLOCSET_DEFAULT_SIZES);
	l->row_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast materialize row",
									   ALLOCSET_SMALL_SIZES);
	return l;
}

/* copy a value into the values context (varlena detoasted) */
static Datum
cf_copy_value(CfLatest *l, int f, Datum d)
{
	if (l->typbyval[f])
		return d;
	if (l->typlen[f] == -1)
		return PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(d)));
	return datumCopy(d, false, l->typlen[f]);
}

/* entry e takes the row's version and values */
static void
cf_latest_set(CfLatest *l, int e, TimestampTz ts, bool cnull, TimestampTz created,
			  Datum *vals, bool *nulls, bool replacing)
{
	MemoryContext old = MemoryContextSwitchTo(l->values_cxt);

	for (int f = 0; f < l->nfeat; f++)
	{
		int			i = e * l->nfeat + f;

		if (replacing && !l->nulls[i] && !l->typbyval[f])
			pfree(DatumGetPointer(l->values[i]));
		l->nulls[i] = nulls[f];
		l->values[i] = nulls[f] ? (Datum) 0 : cf_copy_value(l, f, vals[f]);
	}
	MemoryContextSwitchTo(old);
	l->ts[e] = ts;
	l->cnull[e] = cnull;
	l->created[e] = created;
}

/* entry n, whose keys the receiver has set, becomes a real entry: its keys copied */
static int
cf_latest_add(CfLatest *l)
{
	int			e = l->n++;
	MemoryContext old = MemoryContextSwitchTo(l->values_cxt);

	for (int k = 0; k < l->nkeys; k++)
		if (!cf_key_is_int(l->key_types[k]))
			l->keys[e * l->nkeys + k] =
				PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(l->keys[e * l->nkeys + k])));
	MemoryContextSwitchTo(old);
	if (l->n == l->cap)
		cf_latest_grow(l);
	return e;
}

static bool
cf_latest_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CfLatestReceiver *r = (CfLatestReceiver *) self;
	CfLatest   *l = r->latest;
	int			nk = l->nkeys;
	TimestampTz ts;
	TimestampTz created;
	bool		cnull;
	bool		found;
	int64	   *e;
	CfSourceRow row;
	bool		usable;
	MemoryContext old;

	if ((++l->rows_read & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	/* the row's keys go to entry n, which it takes if the key is new */
	MemoryContextReset(l->row_cxt);
	old = MemoryContextSwitchTo(l->row_cxt);
	usable = cf_source_row(slot, nk, &l->keys[l->n * nk], &row);
	MemoryContextSwitchTo(old);
	if (!usable)
		return true;			/* no event time or no key: nothing to write */
	ts = row.event;
	cnull = row.created_null;
	created = row.created;
	if (ts < l->start || ts > l->end)
		return true;			/* the SQL bound can be loose for date columns */

	/* rows of one key often come one after another: the previous row's entry, without hashing */
	if (l->last >= 0 && cf_keys_eq(&l->keys[l->n * nk], l->key_types, &l->keys[l->last * nk], l->key_types, nk))
	{
		e = &l->last_item;
		found = true;
	}
	else
	{
		e = cf_keyset_enter(l->set, l->n, &found);
		l->last = found ? *e : l->n;
		l->last_item = l->last;
	}
	if (!found)
		cf_latest_set(l, cf_latest_add(l), ts, cnull, created, &slot->tts_values[nk + 2],
					  &slot->tts_isnull[nk + 2], false);
	else if (cf_version_replaces(ts, cnull, created, l->ts[*e], l->cnull[*e], l->created[*e]))
		cf_latest_set(l, (int) *e, ts, cnull, created, &slot->tts_values[nk + 2],
					  &slot->tts_isnull[nk + 2], true);
	return true;
}

static void
cf_latest_startup(DestReceiver *self, int operation, TupleDesc td)
{
}

static void
cf_latest_noop(DestReceiver *self)
{
}

/* read the view's source rows in [start, end] into "l" */
static void
cf_latest_scan(CfLatest *l, CfSourceSpec *spec)
{
	CfLatestReceiver r;
	SPIExecuteOptions opts;
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	SPIPlanPtr	plan;
	char	   *sql;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = cf_latest_receive;
	r.pub.rStartup = cf_latest_startup;
	r.pub.rShutdown = cf_latest_noop;
	r.pub.rDestroy = cf_latest_noop;
	r.pub.mydest = DestNone;
	r.latest = l;

	memset(&opts, 0, sizeof(opts));
	opts.params = cf_source_params(l->end, l->start);
	opts.read_only = false;
	opts.dest = (DestReceiver *) &r;
	sql = cf_source_select(spec, spec->view->nfeatures, NULL, true, true);
	plan = SPI_prepare_cursor(sql, 2, argtypes, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		elog(ERROR, "cfeast: reading the batch source of \"%s\" failed: %s", spec->view->name,
			 SPI_result_code_string(SPI_result));
	/* a plain table PostgreSQL would scan whole is read without the executor (source.c) */
	if (cf_source_read_direct(plan, opts.params, false, (DestReceiver *) &r))
		return;
	rc = SPI_execute_plan_extended(plan, &opts);
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)	/* UTILITY: rows went to our receiver */
		elog(ERROR, "cfeast: reading the batch source of \"%s\" failed: %s", spec->view->name,
			 SPI_result_code_string(rc));
}

/* ------------------------------------------------------------------------
 * writing
 * ------------------------------------------------------------------------
 */

/* write the winners; returns the rows written (stale ones are not) */
static uint64
cf_latest_write(CfLatest *l)
{
	CfView	   *v = l->view;
	TupleDesc	td = cf_online_tupdesc(v);
	int			n = td->natts;
	Datum	   *values = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	Tuplestorestate *store;

	if (l->n == 0)
		return 0;
	store = tuplestore_begin_heap(false, false, work_mem);
	for (int e = 0; e < l->n; e++)
	{
		if ((e & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		memcpy(values, &l->keys[e * l->nkeys], sizeof(Datum) * l->nkeys);
		memset(nulls, false, sizeof(bool) * l->nkeys);
		memcpy(&values[l->nkeys], &l->values[e * l->nfeat], sizeof(Datum) * l->nfeat);
		memcpy(&nulls[l->nkeys], &l->nulls[e * l->nfeat], sizeof(bool) * l->nfeat);
		values[n - 2] = TimestampTzGetDatum(l->ts[e]);
		nulls[n - 2] = false;
		values[n - 1] = TimestampTzGetDatum(l->created[e]);
		nulls[n - 1] = l->cnull[e];
		tuplestore_putvalues(store, td, values, nulls);
	}
	return cf_write_store(v, store, td, NULL);
}

/* feast.freshness: the keys written or refused as stale, the newest event time among them */
static void
cf_note_materialized(CfLatest *l, uint64 written)
{
	TimestampTz newest = DT_NOBEGIN;

	for (int e = 0; e < l->n; e++)
		newest = Max(newest, l->ts[e]);
	cf_freshness_note(CF_WRITE_MATERIALIZE, l->view->online_relid, l->view->name, (int64) written,
					  (int64) l->n - (int64) written, 0, l->n > 0, newest);
}

static void
cf_record_interval(CfView *v, TimestampTz start, TimestampTz end, uint64 rows)
{
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT8OID};
	Datum		args[4];
	CfPrivSwitch sw;
	int			rc;

	args[0] = CStringGetTextDatum(v->name);
	args[1] = TimestampTzGetDatum(start);
	args[2] = TimestampTzGetDatum(end);
	args[3] = Int64GetDatum((int64) rows);
	/* as the registry's owner: the caller has just written this view's online table (privileges.c) */
	cf_priv_begin_registry_owner("materialization_intervals", &sw);
	rc = SPI_execute_with_args("INSERT INTO feast.materialization_intervals "
							   "(feature_view, start_ts, end_ts, rows_written) VALUES ($1, $2, $3, $4)",
							   4, types, args, NULL, false, 0);
	cf_priv_end(&sw);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cfeast: recording the materialization of \"%s\" failed", v->name);
}

/* materialize one view over [start, end]; returns rows written */
static uint64
cf_materialize_view(CfView *v, TimestampTz start, TimestampTz end)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast materialize view",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	TimestampTz t0 = GetCurrentTimestamp();
	CfSourceSpec *spec = cf_source_spec(v);
	CfLatest   *l = cf_latest_create(v, start, end);
	uint64		written;
	double		secs;
	CfPrivSwitch sw;

	/* checks who may read the source, then reads it as the view's owner of record (privileges.c) */
	cf_priv_begin_materialize_read(spec, &sw);
	cf_latest_scan(l, spec);
	cf_priv_end(&sw);
	MemoryContextSwitchTo(cxt);
	written = cf_latest_write(l);
	MemoryContextSwitchTo(cxt);
	cf_note_materialized(l, written);
	cf_record_interval(v, start, end, written);
	secs = (double) (GetCurrentTimestamp() - t0) / USECS_PER_SEC;
	ereport(NOTICE,
			(errmsg("materialized feature view \"%s\": " UINT64_FORMAT " rows written (" INT64_FORMAT
					" source rows read, %d keys)", v->name, written, l->rows_read, l->n),
			 errdetail("%.3f s, %.0f source rows/s, %.0f rows written/s", secs,
					   secs > 0 ? (double) l->rows_read / secs : 0.0,
					   secs > 0 ? (double) written / secs : 0.0)));
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	return written;
}

/* ------------------------------------------------------------------------
 * choosing views and ranges
 * ------------------------------------------------------------------------
 */

/* the views named, or every online view with a batch source; each must be online */
static List *
cf_materialize_views(ArrayType *names)
{
	List	   *result = NIL;
	List	   *vnames = NIL;
	ListCell   *lc;

	if (names == NULL)
	{
		/* views fed only by pushes (no batch source) have nothing to materialize */
		if (SPI_execute("SELECT v.name FROM feast.feature_views AS v "
						" WHERE v.online AND (feast._view_batch_source(v.name)).name IS NOT NULL "
						" ORDER BY v.name", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "reading the cfeast registry failed");
		for (uint64 i = 0; i < SPI_processed; i++)
			vnames = lappend(vnames, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	else
	{
		Datum	   *d;
		bool	   *nulls;
		int			n;

		deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &d, &nulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("feature view name %d is null", i + 1)));
			vnames = lappend(vnames, TextDatumGetCString(d[i]));
		}
	}
	foreach(lc, vnames)
	{
		CfView	   *v = cf_lookup_view(lfirst(lc));

		if (!v->online || !OidIsValid(v->online_relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("feature view \"%s\" is not online, so it cannot be materialized", v->name),
					 errhint("Apply it with online => true.")));
		result = lappend(result, v);
	}
	return result;
}

/* a bound given by the caller is a finite time */
static void
cf_check_bound(TimestampTz t, const char *what)
{
	if (TIMESTAMP_NOT_FINITE(t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite time, not %s", what,
						TIMESTAMP_IS_NOBEGIN(t) ? "-infinity" : "infinity"),
				 errhint("Pass the earliest and latest event times to materialize; now() for the present.")));
}

/*
 * An end time in the future is refused: a recorded interval must not claim
 * rows that have not arrived (the next incremental run starts at its end).
 * now() (the transaction's start) always passes.
 */
static void
cf_check_not_future(TimestampTz end)
{
	TimestampTz now = GetCurrentTimestamp();

	if (end > now)
	{
		char	   *e = pstrdup(timestamptz_to_str(end));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("end_ts must not be in the future"),
				 errdetail("end_ts is %s, the clock reads %s; a materialization is recorded as covering every row up to its end_ts.",
						   e, timestamptz_to_str(now)),
				 errhint("Pass now() or an earlier time.")));
	}
}

static void
cf_check_range(TimestampTz start, TimestampTz end, const char *view)
{
	char	   *s;
	char	   *e;

	if (start <= end)
		return;
	/* timestamptz_to_str returns a static buffer */
	s = pstrdup(timestamptz_to_str(start));
	e = pstrdup(timestamptz_to_str(end));
	if (view)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("feature view \"%s\" would be materialized from %s, after end_ts %s", view, s, e),
				 errdetail("An incremental run starts where the last one ended."),
				 errhint("Pass a later end_ts.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("start_ts %s is after end_ts %s", s, e)));
}

/* where an incremental run of "v" starts: its latest recorded end, or end - ttl */
static TimestampTz
cf_incremental_start(CfView *v, TimestampTz end)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		d;

	args[0] = CStringGetTextDatum(v->name);
	if (SPI_execute_with_args("SELECT pg_catalog.max(m.end_ts) FROM feast.materialization_intervals AS m "
							  "WHERE m.feature_view OPERATOR(pg_catalog.=) $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
		return DatumGetTimestampTz(d);
	if (!v->has_ttl)
	{
		/* no ttl (unbounded lookback): 52 weeks before the end, as Feast does */
		TimestampTz start;

		if (pg_sub_s64_overflow(end, CF_NO_TTL_LOOKBACK, &start) || !IS_VALID_TIMESTAMP(start))
			return DT_NOBEGIN;
		return start;
	}
	return cf_minus_ttl(end, &v->ttl);
}

typedef struct CfMaterializeCall
{
	ArrayType  *names;
	bool		incremental;
	TimestampTz start;
	TimestampTz end;
	int64		total;			/* out */
} CfMaterializeCall;

static void
cf_materialize_body(void *arg, MemoryContext caller)
{
	CfMaterializeCall *c = (CfMaterializeCall *) arg;
	List	   *views;
	List	   *starts = NIL;
	ListCell   *lc;
	ListCell   *ls;

	views = cf_materialize_views(c->names);
	/* every start is found (and checked) before anything is written */
	foreach(lc, views)
	{
		CfView	   *v = lfirst(lc);
		TimestampTz *s = palloc(sizeof(TimestampTz));

		*s = c->incremental ? cf_incremental_start(v, c->end) : c->start;
		if (c->incremental)
			cf_check_range(*s, c->end, v->name);
		starts = lappend(starts, s);
	}
	forboth(lc, views, ls, starts)
	{
		CHECK_FOR_INTERRUPTS();
		c->total += cf_materialize_view(lfirst(lc), *(TimestampTz *) lfirst(ls), c->end);
	}
}

static int64
cf_materialize_run(ArrayType *names, bool incremental, TimestampTz start, TimestampTz end)
{
	CfMaterializeCall call = {names, incremental, start, end, 0};

	if (!incremental)
		cf_check_bound(start, "start_ts");
	cf_check_bound(end, "end_ts");
	cf_check_not_future(end);
	if (!incremental)
		cf_check_range(start, end, NULL);
	cf_registry_call(cf_materialize_body, &call);
	return call.total;
}

/* feast_materialize(start_ts, end_ts, feature_views) RETURNS bigint */
Datum
cfeast_materialize(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("start_ts and end_ts must not be null")));
	if (cf_router_active())
		return cf_router_broadcast(fcinfo, Int64GetDatum(0));
	PG_RETURN_INT64(cf_materialize_run(PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2), false,
									   PG_GETARG_TIMESTAMPTZ(0), PG_GETARG_TIMESTAMPTZ(1)));
}

/* feast_materialize_incremental(end_ts, feature_views) RETURNS bigint */
Datum
cfeast_materialize_incremental(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("end_ts must not be null")));
	if (cf_router_active())
		return cf_router_broadcast(fcinfo, Int64GetDatum(0));
	PG_RETURN_INT64(cf_materialize_run(PG_ARGISNULL(1) ? NULL : PG_GETARG_ARRAYTYPE_P(1), true,
									   0, PG_GETARG_TIMESTAMPTZ(0)));
}
