/*-------------------------------------------------------------------------
 * router.c
 *	  Router mode: the same SQL names over several nodes, through PL/Proxy.
 *
 * A router is a database with cfeast, PL/Proxy and a cluster (a foreign
 * server of the plproxy wrapper whose partitions p0 .. p<N-1> are the N
 * logical shards, each naming the node that holds it; several partitions
 * name one node).  feast_router_setup records the cluster in feast.router
 * and creates the routing functions feast._route_* (LANGUAGE plproxy, jit
 * off).  On a router:
 *
 *	- feast_push reads and checks every row here, with push.c's own parser
 *	  (so errors and row numbers are one node's), writing nothing; then
 *	  each row's logical shard is feast_shard_of(its first join key, N) and
 *	  the rows are split per shard in their own form (a row-form push sends
 *	  row-form parts, a column-form push column-form parts).  One call of
 *	  feast._route_push sends them: PL/Proxy's SPLIT gives each node the
 *	  parts of its shards, and the nodes run in parallel.  A node pushes its
 *	  parts in one transaction (feast._shard_push) after checking that its
 *	  registry fingerprint is the router's, and records the push id per
 *	  shard in feast.push_ids; a retry with the same id skips the shards
 *	  recorded there.  After a failure the router asks every node which
 *	  shards committed, and says so in the error.
 *	- feast_get_online_features splits the entity rows by the shard of the
 *	  requested views' join key, reads each node's part (feast._shard_read,
 *	  one SPLIT call) and merges the answers column by column into the
 *	  caller's row order: the same jsonb one node would return.
 *	- feast_apply*, feast_delete and feast_materialize* run here, then on
 *	  every node (feast._route_call, RUN ON ALL), and every node's registry
 *	  fingerprint must then equal the router's.
 *-------------------------------------------------------------------------
 */
#include "router.h"
#include "shard.h"
#include "write.h"
#include "privileges.h"
#include "request.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/inval.h"

PG_FUNCTION_INFO_V1(cfeast_shard_push);
PG_FUNCTION_INFO_V1(cfeast_push_with_id);
PG_FUNCTION_INFO_V1(cfeast_node_call);

/* ------------------------------------------------------------------------
 * router configuration
 * ------------------------------------------------------------------------
 */

typedef struct CfRouter
{
	bool		active;
	int			nshards;		/* logical shards */
} CfRouter;

static CfRouter cf_router_read_config(void);

/*
 * feast.router, read once per registry generation: every push and read asks
 * whether this database routes, so the answer is kept until an invalidation
 * (feast.router has the registry's change trigger since 0.5).
 */
static CfRouter
cf_router_config(void)
{
	static bool cached = false;
	static uint64 cached_gen = 0;
	static CfRouter cached_r;
	CfRouter	r;

	if (cached && cached_gen == cf_cache_generation())
		return cached_r;
	cached_gen = cf_cache_generation();
	r = cf_router_read_config();
	/* an invalidation that arrived while reading leaves the cache unset */
	cached = (cached_gen == cf_cache_generation());
	cached_r = r;
	return r;
}

static CfRouter
cf_router_read_config(void)
{
	static SPIPlanPtr plan = NULL;
	CfRouter	r = {false, 0};
	Oid			ns = get_namespace_oid("feast", true);

	if (!OidIsValid(ns) || !OidIsValid(get_relname_relid("router", ns)))
		return r;				/* an extension not yet updated */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT logical_shards FROM feast.router", 0, NULL);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "cfeast: preparing the router look-up failed");
	}
	if (SPI_execute_plan(plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "cfeast: reading feast.router failed");
	if (SPI_processed == 1)
	{
		bool		isnull;

		r.nshards = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		r.active = true;
	}
	SPI_finish();
	return r;
}

bool
cf_router_active(void)
{
	return cf_router_config().active;
}

/* this database's registry fingerprint (inside SPI) */
static char *
cf_fingerprint(void)
{
	if (SPI_execute("SELECT feast._registry_fingerprint()", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cfeast: computing the registry fingerprint failed");
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Refuse to route while any node's registry differs from the router's
 * (inside SPI): one RUN ON ALL call before anything is sent.
 */
static ErrorData *cf_try_execute(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls);

static void
cf_check_nodes(void)
{
	char	   *fp = cf_fingerprint();
	StringInfoData bad;
	ErrorData  *edata;

	edata = cf_try_execute("SELECT node, fingerprint FROM feast._route_fingerprint() ORDER BY node",
						   0, NULL, NULL, NULL);
	if (edata != NULL)
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("routed push not sent: %s", edata->message),
				 errdetail("Every node is asked for its registry fingerprint before a push; nothing was sent.")));
	initStringInfo(&bad);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *nfp = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		if (nfp == NULL || strcmp(nfp, fp) != 0)
			appendStringInfo(&bad, "%s\"%s\"", bad.len ? ", " : "",
							 SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
	if (bad.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the registry of node(s) %s differs from the router's", bad.data),
				 errhint("Re-apply the registry through the router; feast_router_check() compares every node.")));
}

/* ------------------------------------------------------------------------
 * running a routing call in a subtransaction, to report what committed
 * ------------------------------------------------------------------------
 */

/*
 * A kept plan for one of this file's statements (string constants, told
 * apart by address).  The plan cache replans it when a routing function it
 * calls is replaced by feast_router_setup.
 */
static SPIPlanPtr
cf_plan_for(const char *sql, int nargs, Oid *types)
{
	static struct
	{
		const char *sql;
		SPIPlanPtr	plan;
	}			plans[8];
	int			i;

	for (i = 0; i < (int) lengthof(plans) && plans[i].sql != NULL; i++)
		if (plans[i].sql == sql)
			return plans[i].plan;
	if (i == (int) lengthof(plans))
		elog(ERROR, "cfeast: too many router statements");
	plans[i].plan = SPI_prepare(sql, nargs, types);
	if (plans[i].plan == NULL || SPI_keepplan(plans[i].plan) != 0)
		elog(ERROR, "cfeast: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	plans[i].sql = sql;
	return plans[i].plan;
}

/*
 * Run sql with args in a subtransaction; on an error, return its ErrorData
 * (the subtransaction rolled back) instead of raising it.
 */
static ErrorData *
cf_try_execute(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		int			rc = SPI_execute_plan(cf_plan_for(sql, nargs, types), args, nulls, false, 0);

		if (rc < 0)
			elog(ERROR, "cfeast: \"%s\" failed: %s", sql, SPI_result_code_string(rc));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_END_TRY();
	return edata;
}

/* ------------------------------------------------------------------------
 * splitting a push by shard, each part in the push's own form
 * ------------------------------------------------------------------------
 */

/* the field whose value places a row: every view's first join key */
static int
cf_distribution_field(CfPushSource *src)
{
	int			f = -1;

	for (int t = 0; t < src->ntargets; t++)
	{
		CfView	   *v = src->targets[t].view;

		if (v->nkeys == 0)
			continue;
		if (f >= 0 && f != src->targets[t].key_fields[0])
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("push source \"%s\" cannot be routed: its feature views are distributed by different join keys (\"%s\" and \"%s\")",
							src->name, src->fields[f].name, src->fields[src->targets[t].key_fields[0]].name),
					 errhint("In router mode every view of a push source has the same first join key.")));
		f = src->targets[t].key_fields[0];
	}
	return f;
}

/* parts[s]: the rows of shard s, as a jsonb of the push's form, or NULL */
static Jsonb **
cf_split_rows(Jsonb *rows, const int *shard_of_row, int64 nrows, int nshards, CfPushSource *src)
{
	JsonbParseState **st = palloc0(sizeof(JsonbParseState *) * nshards);
	bool	   *used = palloc0(sizeof(bool) * nshards);
	Jsonb	  **parts = palloc0(sizeof(Jsonb *) * nshards);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *res;

	for (int64 r = 0; r < nrows; r++)
		used[shard_of_row[r]] = true;

	if (JB_ROOT_IS_ARRAY(rows))
	{
		int64		r = 0;

		for (int s = 0; s < nshards; s++)
			if (used[s])
				pushJsonbValue(&st[s], WJB_BEGIN_ARRAY, NULL);
		it = JsonbIteratorInit(&rows->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if ((r & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			pushJsonbValue(&st[shard_of_row[r]], WJB_ELEM, &v);
			r++;
		}
		for (int s = 0; s < nshards; s++)
			if (used[s])
			{
				res = pushJsonbValue(&st[s], WJB_END_ARRAY, NULL);
				parts[s] = JsonbValueToJsonb(res);
			}
		return parts;
	}

	/* column form: every column of the push, each cut into the shards' columns */
	for (int s = 0; s < nshards; s++)
		if (used[s])
			pushJsonbValue(&st[s], WJB_BEGIN_OBJECT, NULL);
	it = JsonbIteratorInit(&rows->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbValue	key;
		JsonbIterator *cit;
		JsonbValue	e;
		int64		r = 0;

		if (tok != WJB_KEY)
			continue;
		key = v;
		tok = JsonbIteratorNext(&it, &v, true);
		Assert(tok == WJB_VALUE);
		if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
			continue;			/* an unknown field that was ignored */
		for (int s = 0; s < nshards; s++)
			if (used[s])
			{
				pushJsonbValue(&st[s], WJB_KEY, &key);
				pushJsonbValue(&st[s], WJB_BEGIN_ARRAY, NULL);
			}
		cit = JsonbIteratorInit(v.val.binary.data);
		while ((tok = JsonbIteratorNext(&cit, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if ((r & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			pushJsonbValue(&st[shard_of_row[r]], WJB_ELEM, &e);
			r++;
		}
		for (int s = 0; s < nshards; s++)
			if (used[s])
				pushJsonbValue(&st[s], WJB_END_ARRAY, NULL);
	}
	for (int s = 0; s < nshards; s++)
		if (used[s])
		{
			res = pushJsonbValue(&st[s], WJB_END_OBJECT, NULL);
			parts[s] = JsonbValueToJsonb(res);
		}
	return parts;
}

/* ------------------------------------------------------------------------
 * routed push
 * ------------------------------------------------------------------------
 */

typedef struct CfShardCount
{
	int			shard;
	int64		accepted;
	int64		written;
	int64		stale;
	bool		skipped;
} CfShardCount;

/* a push id for a push that was given none: reported in the error after a partial failure */
static char *
cf_new_push_id(void)
{
	uint8		b[12];
	StringInfoData s;

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR, (errcode(ERRCODE_INTERNAL_ERROR), errmsg("could not generate a push id")));
	initStringInfo(&s);
	appendStringInfoString(&s, "auto-");
	for (int i = 0; i < (int) sizeof(b); i++)
		appendStringInfo(&s, "%02x", b[i]);
	return s.data;
}

/*
 * The error of a routed push that failed, naming the shards that committed
 * its id: each node holding a shard of the push is asked (one call per node
 * that answers; a node that does not leaves its shards unknown).
 */
static void
cf_push_failed(ErrorData *edata, const char *push_id, bool given, Datum *shards, int nshards)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	bool	   *known = palloc0(sizeof(bool) * nshards);
	bool	   *committed = palloc0(sizeof(bool) * nshards);
	StringInfoData done;
	StringInfoData unknown;
	StringInfoData detail;

	args[1] = CStringGetTextDatum(push_id);
	for (int i = 0; i < nshards; i++)
	{
		ErrorData  *e2;

		if (known[i])
			continue;
		args[0] = shards[i];
		e2 = cf_try_execute("SELECT s FROM feast._route_push_status($1, $2) s", 2, types, args, NULL);
		if (e2 != NULL)
			continue;
		known[i] = true;
		/* the shards of that node that committed; the node's other shards did not */
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int32		s = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));

			for (int j = 0; j < nshards; j++)
				if (DatumGetInt32(shards[j]) == s)
					committed[j] = known[j] = true;
		}
	}
	initStringInfo(&done);
	initStringInfo(&unknown);
	for (int i = 0; i < nshards; i++)
	{
		if (committed[i])
			appendStringInfo(&done, "%s%d", done.len ? ", " : "", DatumGetInt32(shards[i]));
		else if (!known[i])
			appendStringInfo(&unknown, "%s%d", unknown.len ? ", " : "", DatumGetInt32(shards[i]));
	}
	initStringInfo(&detail);
	if (edata->detail)
		appendStringInfo(&detail, "%s\n", edata->detail);
	if (done.len)
		appendStringInfo(&detail, "Shards that committed push id \"%s\": %s.", push_id, done.data);
	else
		appendStringInfo(&detail, "No shard committed push id \"%s\".", push_id);
	if (unknown.len)
		appendStringInfo(&detail, " Unknown (their node did not answer): %s.", unknown.data);
	ereport(ERROR,
			(errcode(edata->sqlerrcode),
			 errmsg("routed push failed: %s", edata->message),
			 errdetail_internal("%s", detail.data),
			 errhint("Retry with feast_push(push_source, rows, \"to\", '%s'): shards that committed are skipped.%s",
					 push_id, given ? "" : " That id was generated for this push.")));
}

typedef struct CfRoutedPush
{
	CfShardCount *counts;
	int			ncounts;
	int64		accepted;
} CfRoutedPush;

static CfRoutedPush
cf_router_push_counts(const char *source, Jsonb *rows, text *to, const char *push_id)
{
	CfRouter	cfg = cf_router_config();
	CfBatch		batch;
	int			tobits;
	int			f;
	Oid			keytype = InvalidOid;
	int		   *shard_of_row;
	Jsonb	  **parts;
	int			nparts = 0;
	Datum	   *shard_d;
	Datum	   *part_d;
	Oid			types[6] = {INT4ARRAYOID, TEXTOID, JSONBARRAYOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[6];
	ErrorData  *edata;
	CfRoutedPush out = {NULL, 0, 0};
	bool		given = push_id != NULL;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&batch, 0, sizeof(batch));
	tobits = cf_push_parse(source, rows, to, &batch);
	f = cf_distribution_field(batch.src);
	if (f >= 0)
		keytype = cf_dtype_type_oid(batch.src->fields[f].dtype);
	shard_of_row = palloc_extended(sizeof(int) * Max(batch.nrows, 1), MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < batch.nrows; r++)
		shard_of_row[r] = f < 0 ? 0 : cf_shard_of(batch.values[f][r], batch.nulls[f][r], keytype,
												  InvalidOid, cfg.nshards);
	if (batch.nrows == 0)
		return out;
	parts = cf_split_rows(rows, shard_of_row, batch.nrows, cfg.nshards, batch.src);
	shard_d = palloc(sizeof(Datum) * cfg.nshards);
	part_d = palloc(sizeof(Datum) * cfg.nshards);
	for (int s = 0; s < cfg.nshards; s++)
		if (parts[s] != NULL)
		{
			shard_d[nparts] = Int32GetDatum(s);
			part_d[nparts] = JsonbPGetDatum(parts[s]);
			nparts++;
		}
	if (push_id == NULL)
		push_id = cf_new_push_id();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_check_nodes();
	args[0] = PointerGetDatum(construct_array(shard_d, nparts, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = CStringGetTextDatum(source);
	args[2] = PointerGetDatum(construct_array(part_d, nparts, JSONBOID, -1, false, TYPALIGN_INT));
	args[3] = CStringGetTextDatum(tobits == 1 ? "online" : tobits == 2 ? "offline" : "online_and_offline");
	args[4] = CStringGetTextDatum(push_id);
	args[5] = CStringGetTextDatum(cf_fingerprint());
	edata = cf_try_execute("SELECT shard, accepted, written, stale, skipped"
						   "  FROM feast._route_push($1, $2, $3, $4, $5, $6) ORDER BY shard",
						   6, types, args, NULL);
	if (edata != NULL)
		cf_push_failed(edata, push_id, given, shard_d, nparts);
	out.ncounts = (int) SPI_processed;
	out.counts = MemoryContextAllocZero(cxt, sizeof(CfShardCount) * Max(out.ncounts, 1));
	for (int i = 0; i < out.ncounts; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		bool		isnull;

		out.counts[i].shard = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
		out.counts[i].accepted = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
		out.counts[i].written = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
		out.counts[i].stale = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
		out.counts[i].skipped = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		out.accepted += out.counts[i].accepted;
	}
	SPI_finish();
	return out;
}

int64
cf_router_push(const char *source, Jsonb *rows, text *to, const char *push_id)
{
	return cf_router_push_counts(source, rows, to, push_id).accepted;
}

/* ------------------------------------------------------------------------
 * node side of a push
 * ------------------------------------------------------------------------
 */

/* the counts of push_id's part for shard, if it committed here */
static bool
cf_push_id_committed(const char *push_id, int shard, CfShardCount *c)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		args[2] = {CStringGetTextDatum(push_id), Int32GetDatum(shard)};
	CfPrivSwitch sw;
	int			rc;

	/*
	 * Claim the id first: a concurrent retry of the same push waits here for
	 * this one, then finds the id taken.
	 */
	cf_priv_begin_registry_owner("push_ids", &sw);
	rc = SPI_execute_with_args("INSERT INTO feast.push_ids AS p (push_id, shard) VALUES ($1, $2)"
							   " ON CONFLICT (push_id, shard) DO NOTHING RETURNING p.shard",
							   2, types, args, NULL, false, 0);
	if (rc == SPI_OK_INSERT_RETURNING && SPI_processed == 0)
		rc = SPI_execute_with_args("SELECT accepted, written, stale FROM feast.push_ids"
								   " WHERE push_id OPERATOR(pg_catalog.=) $1 AND shard OPERATOR(pg_catalog.=) $2",
								   2, types, args, NULL, false, 1);
	cf_priv_end(&sw);
	if (rc < 0)
		elog(ERROR, "cfeast: recording the push id failed: %s", SPI_result_code_string(rc));
	if (rc == SPI_OK_INSERT_RETURNING)
		return false;
	if (SPI_processed == 1)
	{
		bool		isnull;

		c->accepted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		c->written = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
		c->stale = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	}
	return true;
}

static void
cf_push_id_counts(const char *push_id, CfShardCount *c)
{
	Oid			types[5] = {TEXTOID, INT4OID, INT8OID, INT8OID, INT8OID};
	Datum		args[5] = {CStringGetTextDatum(push_id), Int32GetDatum(c->shard), Int64GetDatum(c->accepted),
	Int64GetDatum(c->written), Int64GetDatum(c->stale)};
	CfPrivSwitch sw;
	int			rc;

	cf_priv_begin_registry_owner("push_ids", &sw);
	rc = SPI_execute_with_args("UPDATE feast.push_ids SET accepted = $3, written = $4, stale = $5"
							   " WHERE push_id OPERATOR(pg_catalog.=) $1 AND shard OPERATOR(pg_catalog.=) $2",
							   5, types, args, NULL, false, 0);
	cf_priv_end(&sw);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "cfeast: recording the push id failed");
}

static int
cf_to_bits(const char *to)
{
	if (strcmp(to, "online") == 0)
		return 1;
	if (strcmp(to, "offline") == 0)
		return 2;
	if (strcmp(to, "online_and_offline") == 0)
		return 3;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for \"to\": %s", quote_literal_cstr(to))));
	return 0;
}

static void
cf_put_count(ReturnSetInfo *rsi, CfShardCount *c, bool shard_null)
{
	Datum		values[5] = {Int32GetDatum(c->shard), Int64GetDatum(c->accepted), Int64GetDatum(c->written),
	Int64GetDatum(c->stale), BoolGetDatum(c->skipped)};
	bool		nulls[5] = {shard_null, false, false, false, false};

	tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
}

/*
 * feast._shard_push(shards int[], push_source text, parts jsonb[], "to"
 * text, push_id text, fingerprint text): the node side of a routed push.
 */
Datum
cfeast_shard_push(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	ArrayType  *shards;
	ArrayType  *parts;
	Datum	   *shard_d,
			   *part_d;
	bool	   *shard_n,
			   *part_n;
	int			nshards,
				nparts;
	char	   *source;
	int			to;
	char	   *push_id;
	char	   *fp;

	for (int i = 0; i < 6; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feast._shard_push: argument %d must not be null", i + 1)));
	InitMaterializedSRF(fcinfo, 0);
	shards = PG_GETARG_ARRAYTYPE_P(0);
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	parts = PG_GETARG_ARRAYTYPE_P(2);
	to = cf_to_bits(text_to_cstring(PG_GETARG_TEXT_PP(3)));
	push_id = text_to_cstring(PG_GETARG_TEXT_PP(4));
	fp = text_to_cstring(PG_GETARG_TEXT_PP(5));
	deconstruct_array(shards, INT4OID, 4, true, TYPALIGN_INT, &shard_d, &shard_n, &nshards);
	deconstruct_array(parts, JSONBOID, -1, false, TYPALIGN_INT, &part_d, &part_n, &nparts);
	if (nshards != nparts)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("feast._shard_push: %d shards but %d parts", nshards, nparts)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	{
		char	   *mine = cf_fingerprint();

		if (strcmp(mine, fp) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the registry of node \"%s\" differs from the router's", get_database_name(MyDatabaseId)),
					 errdetail("Fingerprint %s here, %s on the router.", mine, fp),
					 errhint("Re-apply the registry through the router; feast_router_check() compares every node.")));
	}
	for (int i = 0; i < nshards; i++)
	{
		CfShardCount c;

		memset(&c, 0, sizeof(c));
		if (shard_n[i] || part_n[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feast._shard_push: null shard or part")));
		c.shard = DatumGetInt32(shard_d[i]);
		if (cf_push_id_committed(push_id, c.shard, &c))
			c.skipped = true;
		else
		{
			c.accepted = cf_push_local(source, DatumGetJsonbP(part_d[i]), to, &c.written, &c.stale);
			cf_push_id_counts(push_id, &c);
		}
		cf_put_count(rsi, &c, false);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * feast_push(push_source, rows, "to", push_id) RETURNS TABLE(shard,
 * accepted, written, stale, skipped): on a router, the routed push with that
 * id, one row per logical shard it reached; on a node, the push in the
 * caller's transaction, skipped if the id committed here (one row, shard
 * NULL).
 */
Datum
cfeast_push_with_id(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *source;
	Jsonb	   *rows;
	text	   *to;
	char	   *push_id;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("push source name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("rows must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for \"to\": NULL"),
				 errhint("\"to\" is one of online, offline, online_and_offline.")));
	if (PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("push id must not be null")));
	source = text_to_cstring(PG_GETARG_TEXT_PP(0));
	rows = PG_GETARG_JSONB_P(1);
	to = PG_GETARG_TEXT_PP(2);
	push_id = text_to_cstring(PG_GETARG_TEXT_PP(3));
	InitMaterializedSRF(fcinfo, 0);
	if (cf_router_active())
	{
		CfRoutedPush p = cf_router_push_counts(source, rows, to, push_id);

		for (int i = 0; i < p.ncounts; i++)
			cf_put_count(rsi, &p.counts[i], false);
	}
	else
	{
		CfShardCount c;
		CfBatch		batch;
		int			tobits;

		memset(&c, 0, sizeof(c));
		/* the same checks (and "to") as feast_push, before the id is looked at */
		memset(&batch, 0, sizeof(batch));
		tobits = cf_push_parse(source, rows, to, &batch);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		c.shard = -1;
		if (cf_push_id_committed(push_id, -1, &c))
			c.skipped = true;
		else
		{
			c.accepted = cf_push_local(source, rows, tobits, &c.written, &c.stale);
			cf_push_id_counts(push_id, &c);
		}
		SPI_finish();
		cf_put_count(rsi, &c, true);
	}
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * broadcast of registry functions and materialization
 * ------------------------------------------------------------------------
 */

static const char *const cf_broadcast_names[] = {
	"feast_apply_entity", "feast_apply_batch_source", "feast_apply_push_source",
	"feast_apply_feature_view", "feast_apply_feature_service", "feast_apply", "feast_delete",
	"feast_materialize", "feast_materialize_incremental", NULL
};

static bool
cf_broadcast_allowed(const char *name)
{
	for (int i = 0; cf_broadcast_names[i]; i++)
		if (strcmp(cf_broadcast_names[i], name) == 0)
			return true;
	return false;
}

/*
 * On a router, after feast_apply*, feast_delete or feast_materialize* ran
 * here: the same call on every node.  Every node's registry must then be
 * the router's.  Materialization returns the sum of the nodes' counts.
 */
Datum
cf_router_broadcast(FunctionCallInfo fcinfo, Datum local_result)
{
	Oid			fn = fcinfo->flinfo->fn_oid;
	HeapTuple	tup;
	Form_pg_proc proc;
	char	   *name;
	int			nargs;
	Datum	   *types;
	Datum	   *vals;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};
	Oid			argtypes[3] = {TEXTOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		args[3];
	char	   *fp;
	int64		sum = 0;
	bool		materialize;
	StringInfoData bad;

	if (!cf_router_active())
		return local_result;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	name = pstrdup(NameStr(proc->proname));
	nargs = proc->pronargs;
	types = palloc(sizeof(Datum) * Max(nargs, 1));
	vals = palloc(sizeof(Datum) * Max(nargs, 1));
	nulls = palloc(sizeof(bool) * Max(nargs, 1));
	for (int i = 0; i < nargs; i++)
	{
		Oid			t = proc->proargtypes.values[i];

		types[i] = CStringGetTextDatum(format_type_be_qualified(t));
		nulls[i] = fcinfo->args[i].isnull;
		if (!nulls[i])
		{
			Oid			out;
			bool		varlena;

			if (t == REGCLASSOID)
			{
				/* schema-qualified: nodes resolve it with search_path pg_catalog */
				Oid			rel = DatumGetObjectId(fcinfo->args[i].value);
				char	   *relname = get_rel_name(rel);

				if (relname == NULL)
					elog(ERROR, "cache lookup failed for relation %u", rel);
				vals[i] = CStringGetTextDatum(quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)),
																		 relname));
				continue;
			}
			getTypeOutputInfo(t, &out, &varlena);
			vals[i] = CStringGetTextDatum(OidOutputFunctionCall(out, fcinfo->args[i].value));
		}
		else
			vals[i] = (Datum) 0;
	}
	ReleaseSysCache(tup);
	if (!cf_broadcast_allowed(name))
		return local_result;
	materialize = strncmp(name, "feast_materialize", 17) == 0;

	dims[0] = nargs;
	args[0] = CStringGetTextDatum(name);
	args[1] = PointerGetDatum(construct_array(types, nargs, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_md_array(vals, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	fp = cf_fingerprint();
	if (SPI_execute_with_args("SELECT node, fingerprint, result FROM feast._route_call($1, $2, $3) ORDER BY node",
							  3, argtypes, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "cfeast: broadcasting %s failed", name);
	initStringInfo(&bad);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *node = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		char	   *nfp = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
		char	   *res = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 3);

		if (nfp == NULL || strcmp(nfp, fp) != 0)
			appendStringInfo(&bad, "%s\"%s\"", bad.len ? ", " : "", node);
		if (materialize && res != NULL)
			sum += pg_strtoint64(res);
	}
	SPI_finish();
	if (!materialize && bad.len > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("after %s, the registry of node(s) %s differs from the router's", name, bad.data),
				 errhint("Those nodes were changed outside the router; feast_router_check() compares every node.")));
	return materialize ? Int64GetDatum(sum) : local_result;
}

/*
 * feast._node_call(fn text, argtypes text[], args text[]): on a node, one
 * call of a registry or materialize function of cfeast (no other), its
 * arguments given as text of the named types.  Returns this node, its
 * registry fingerprint after the call, and the call's result as text.
 */
Datum
cfeast_node_call(PG_FUNCTION_ARGS)
{
	char	   *fn;
	ArrayType  *types_a;
	ArrayType  *args_a;
	Datum	   *types;
	bool	   *types_n;
	Datum	   *args;
	bool	   *args_n;
	int			ntypes,
				nargs;
	StringInfoData sql;
	Oid		   *argtypes;
	char	   *nulls;
	char	   *schema;
	TupleDesc	td;
	Datum		out[3];
	bool		outnull[3] = {false, false, false};
	int			rc;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("feast._node_call: arguments must not be null")));
	fn = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!cf_broadcast_allowed(fn))
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						errmsg("feast._node_call: \"%s\" is not a registry or materialize function", fn)));
	types_a = PG_GETARG_ARRAYTYPE_P(1);
	args_a = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(types_a, TEXTOID, -1, false, TYPALIGN_INT, &types, &types_n, &ntypes);
	deconstruct_array(args_a, TEXTOID, -1, false, TYPALIGN_INT, &args, &args_n, &nargs);
	if (ntypes != nargs)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("feast._node_call: %d types but %d arguments", ntypes, nargs)));
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	td = BlessTupleDesc(td);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n"
					"  ON n.oid OPERATOR(pg_catalog.=) e.extnamespace"
					" WHERE e.extname OPERATOR(pg_catalog.=) 'cfeast'", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "cfeast: extension schema not found");
	schema = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	argtypes = palloc(sizeof(Oid) * Max(nargs, 1));
	nulls = palloc(Max(nargs, 1) + 1);
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT %s.%s(", quote_identifier(schema), quote_identifier(fn));
	for (int i = 0; i < nargs; i++)
	{
		Oid			t;
		int32		typmod;

		if (types_n[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feast._node_call: null type")));
		parseTypeString(TextDatumGetCString(types[i]), &t, &typmod, false);
		argtypes[i] = TEXTOID;
		nulls[i] = args_n[i] ? 'n' : ' ';
		appendStringInfo(&sql, "%s$%d::%s", i ? ", " : "", i + 1, format_type_be_qualified(t));
	}
	nulls[nargs] = '\0';
	appendStringInfoString(&sql, ")::text");
	rc = SPI_execute_with_args(sql.data, nargs, argtypes, args, nulls, false, 0);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cfeast: \"%s\" failed: %s", sql.data, SPI_result_code_string(rc));
	{
		char	   *res = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		out[2] = res ? CStringGetTextDatum(res) : (Datum) 0;
		outnull[2] = res == NULL;
	}
	out[0] = CStringGetTextDatum(psprintf("%s port %s", get_database_name(MyDatabaseId),
										  GetConfigOption("port", false, false)));
	out[1] = CStringGetTextDatum(cf_fingerprint());
	{
		HeapTuple	tup = heap_form_tuple(td, out, outnull);
		Datum		d = HeapTupleGetDatum(tup);

		d = SPI_datumTransfer(d, false, -1);
		SPI_finish();
		PG_RETURN_DATUM(d);
	}
}

/* ------------------------------------------------------------------------
 * routed read
 * ------------------------------------------------------------------------
 */

typedef struct CfReadKey
{
	ArrayType  *features;
	const char *service;
	bool		full_names;
	char	   *key;			/* out: the join key distributing every view asked for */
	CfDtype		dtype;			/* out */
	bool		mixed;			/* out: views of different distribution keys */
	char	   *other;			/* out, with mixed */
} CfReadKey;

static void
cf_read_key_body(void *arg, MemoryContext caller)
{
	CfReadKey  *rk = (CfReadKey *) arg;
	const CfFeatureList *list = cf_resolve_features(rk->features, rk->service, rk->full_names);

	for (int i = 0; i < list->n; i++)
	{
		CfView	   *v = list->refs[i].view;

		if (v->nkeys == 0)
			continue;
		if (rk->key == NULL)
		{
			rk->key = MemoryContextStrdup(caller, v->key_names[0]);
			rk->dtype = v->key_types[0];
		}
		else if (strcmp(rk->key, v->key_names[0]) != 0 ||
				 rk->dtype.base != v->key_types[0].base)
		{
			rk->mixed = true;
			rk->other = MemoryContextStrdup(caller, v->key_names[0]);
		}
	}
}

/* key "name" of a row object, or NULL */
static JsonbValue *
cf_object_key(JsonbContainer *obj, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/*
 * The logical shard of every entity row (by its value of "key"); false if
 * the rows are not what a read accepts, so that the caller reads locally
 * for one node's error.
 */
static bool
cf_entity_shards(Jsonb *rows, const char *key, CfDtype dtype, int nshards, int **shards, int64 *nrows)
{
	Oid			typid = cf_dtype_type_oid(dtype);
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;
	JsonbValue **vals;
	int64		n;

	if (rows == NULL || JB_ROOT_IS_SCALAR(rows))
		return false;
	if (JB_ROOT_IS_ARRAY(rows))
	{
		JsonbIterator *it = JsonbIteratorInit(&rows->root);
		JsonbValue	v;
		JsonbIteratorToken tok;

		n = JB_ROOT_COUNT(rows);
		vals = palloc(sizeof(JsonbValue *) * Max(n, 1));
		n = 0;
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data) ||
				(vals[n] = cf_object_key(v.val.binary.data, key)) == NULL)
				return false;
			n++;
		}
	}
	else
	{
		JsonbValue *col = cf_object_key(&rows->root, key);

		if (col == NULL || col->type != jbvBinary || !JsonContainerIsArray(col->val.binary.data))
			return false;
		n = JsonContainerSize(col->val.binary.data);
		vals = palloc(sizeof(JsonbValue *) * Max(n, 1));
		for (int64 i = 0; i < n; i++)
			vals[i] = getIthJsonbValueFromContainer(col->val.binary.data, (uint32) i);
	}
	if (n == 0)
		return false;
	*nrows = n;
	*shards = palloc(sizeof(int) * n);
	/* a value the key's type refuses: the local read gives that error */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		for (int64 i = 0; i < n; i++)
		{
			CfValueSite site = {i, key};
			bool		isnull;
			Datum		d;

			if (vals[i]->type == jbvNull)
			{
				ok = false;
				break;
			}
			d = cf_json_to_datum(vals[i], dtype, &site, &isnull);
			(*shards)[i] = cf_shard_of(d, isnull, typid, InvalidOid, nshards);
		}
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return ok;
}

/*
 * For reads: the lowest logical shard on the same node as each shard (the
 * same connect string in the cluster's foreign server), so that a read
 * sends one part per node, not per shard; a node answers for all its
 * shards.  Kept until the foreign server changes.
 */
static int *cf_node_rep = NULL;
static int	cf_node_rep_n = 0;
static bool cf_node_rep_callback = false;

static void
cf_node_rep_reset(Datum arg, int cacheid, uint32 hashvalue)
{
	cf_node_rep = NULL;
}

static const int *
cf_shard_node_rep(int nshards)
{
	int		   *rep;
	char	  **conn;

	if (cf_node_rep != NULL && cf_node_rep_n == nshards)
		return cf_node_rep;
	if (!cf_node_rep_callback)
	{
		CacheRegisterSyscacheCallback(FOREIGNSERVEROID, cf_node_rep_reset, (Datum) 0);
		cf_node_rep_callback = true;
	}
	rep = MemoryContextAlloc(TopMemoryContext, sizeof(int) * nshards);
	conn = palloc0(sizeof(char *) * nshards);
	for (int i = 0; i < nshards; i++)
		rep[i] = i;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT pg_catalog.substr(o.opt, 2)::int, pg_catalog.substr(o.val, 1)"
					"  FROM feast.router r"
					"  JOIN pg_catalog.pg_foreign_server s ON s.srvname OPERATOR(pg_catalog.=) r.cluster,"
					"       LATERAL (SELECT pg_catalog.split_part(x, '=', 1) AS opt,"
					"                       pg_catalog.substr(x, pg_catalog.strpos(x, '=') OPERATOR(pg_catalog.+) 1) AS val"
					"                  FROM pg_catalog.unnest(s.srvoptions) x) o"
					" WHERE o.opt OPERATOR(pg_catalog.~) '^p[0-9]+$'", true, 0) == SPI_OK_SELECT)
	{
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int			p = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
			char	   *c = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			if (p >= 0 && p < nshards && c != NULL)
				conn[p] = MemoryContextStrdup(TopMemoryContext, c);
		}
	}
	SPI_finish();
	for (int i = 0; i < nshards; i++)
		for (int j = 0; j < i; j++)
			if (conn[i] != NULL && conn[j] != NULL && strcmp(conn[i], conn[j]) == 0)
			{
				rep[i] = rep[j];
				break;
			}
	for (int i = 0; i < nshards; i++)
		if (conn[i])
			pfree(conn[i]);
	cf_node_rep_n = nshards;
	cf_node_rep = rep;
	return rep;
}

/* the local read on the router (its online tables are empty): for one node's errors */
static Jsonb *
cf_read_here(FunctionCallInfo fcinfo)
{
	return cf_online_local(fcinfo);
}

/* one part's answer, opened for the merge: results[i].values etc. */
typedef struct CfPartAnswer
{
	Jsonb	   *response;
	JsonbContainer **cols;		/* [result * 3 + (values, statuses, event_timestamps)] */
} CfPartAnswer;

static const char *const cf_result_fields[3] = {"values", "statuses", "event_timestamps"};

static JsonbContainer *
cf_container(JsonbContainer *c, const char *key)
{
	JsonbValue *v = cf_object_key(c, key);

	if (v == NULL || v->type != jbvBinary)
		elog(ERROR, "cfeast: a node's answer lacks \"%s\"", key);
	return v->val.binary.data;
}

static int
cf_open_answer(CfPartAnswer *a)
{
	JsonbContainer *results = cf_container(&a->response->root, "results");
	int			nres = JsonContainerSize(results);

	a->cols = palloc(sizeof(JsonbContainer *) * Max(nres * 3, 1));
	for (int i = 0; i < nres; i++)
	{
		JsonbValue *r = getIthJsonbValueFromContainer(results, i);

		if (r == NULL || r->type != jbvBinary)
			elog(ERROR, "cfeast: a node's answer has a malformed result");
		for (int j = 0; j < 3; j++)
			a->cols[i * 3 + j] = cf_container(r->val.binary.data, cf_result_fields[j]);
	}
	return nres;
}

Jsonb *
cf_router_read(FunctionCallInfo fcinfo)
{
	CfRouter	cfg = cf_router_config();
	CfReadKey	rk;
	Jsonb	   *rows = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	int		   *shard_of_row;
	int64		nrows;
	Jsonb	  **parts;
	Datum	   *shard_d,
			   *part_d;
	int			nparts = 0;
	Oid			types[5] = {INT4ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, BOOLOID, TEXTOID};
	Datum		args[5];
	char		nulls[6] = "     ";
	ErrorData  *edata;
	CfPartAnswer *answers;
	int		   *pos;
	int			nres = -1;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	JsonbValue	meta;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&rk, 0, sizeof(rk));
	rk.features = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	rk.service = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	rk.full_names = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	/* the features asked for: one node's errors for unknown ones */
	cf_registry_call(cf_read_key_body, &rk);
	if (rk.mixed)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a routed read cannot join views distributed by different join keys (\"%s\" and \"%s\")",
						rk.key, rk.other),
				 errhint("Read each join key's views in a call of its own.")));
	if (rk.key == NULL ||
		!cf_entity_shards(rows, rk.key, rk.dtype, cfg.nshards, &shard_of_row, &nrows))
	{
		/* the router's own (empty) online tables give one node's answer or error */
		(void) cf_read_here(fcinfo);
		if (rk.key != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a routed read needs join key \"%s\" in every entity row", rk.key),
					 errhint("Name keys by their join key, not their entity, on a router.")));
		return cf_read_here(fcinfo);
	}

	{
		const int  *rep = cf_shard_node_rep(cfg.nshards);

		/* one part per node: rows of shards on one node go to its lowest shard */
		for (int64 r = 0; r < nrows; r++)
			shard_of_row[r] = rep[shard_of_row[r]];
	}
	parts = cf_split_rows(rows, shard_of_row, nrows, cfg.nshards, NULL);
	shard_d = palloc(sizeof(Datum) * cfg.nshards);
	part_d = palloc(sizeof(Datum) * cfg.nshards);
	for (int s = 0; s < cfg.nshards; s++)
		if (parts[s] != NULL)
		{
			shard_d[nparts] = Int32GetDatum(s);
			part_d[nparts] = JsonbPGetDatum(parts[s]);
			nparts++;
		}
	args[0] = PointerGetDatum(construct_array(shard_d, nparts, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[1] = PG_ARGISNULL(0) ? 'n' : ' ';
	args[2] = PointerGetDatum(construct_array(part_d, nparts, JSONBOID, -1, false, TYPALIGN_INT));
	args[3] = BoolGetDatum(rk.full_names);
	args[4] = rk.service ? CStringGetTextDatum(rk.service) : (Datum) 0;
	nulls[4] = rk.service ? ' ' : 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	edata = cf_try_execute("SELECT shard, response FROM feast._route_read($1, $2, $3, $4, $5)",
						   5, types, args, nulls);
	if (edata != NULL)
	{
		/* a request the nodes refuse gets one node's error from the router's own read */
		(void) cf_read_here(fcinfo);
		ReThrowError(edata);
	}
	answers = MemoryContextAllocZero(cxt, sizeof(CfPartAnswer) * cfg.nshards);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int			s = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		if (s < 0 || s >= cfg.nshards || isnull)
			elog(ERROR, "cfeast: unexpected answer from shard %d", s);
		answers[s].response = DatumGetJsonbPCopy(d);
		MemoryContextSwitchTo(old);
	}
	SPI_finish();

	/* merge: each column's values in the caller's row order */
	for (int s = 0; s < cfg.nshards; s++)
		if (parts[s] != NULL)
		{
			int			n;

			if (answers[s].response == NULL)
				elog(ERROR, "cfeast: shard %d did not answer", s);
			n = cf_open_answer(&answers[s]);
			if (nres >= 0 && n != nres)
				elog(ERROR, "cfeast: shards answered with different columns");
			nres = n;
			if (st == NULL)
			{
				JsonbValue *m = cf_object_key(&answers[s].response->root, "metadata");

				if (m == NULL)
					elog(ERROR, "cfeast: a node's answer lacks \"metadata\"");
				meta = *m;
				pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			}
		}
	pos = palloc(sizeof(int) * cfg.nshards);
	{
		JsonbValue	k;

		k.type = jbvString;
		k.val.string.val = "metadata";
		k.val.string.len = 8;
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_VALUE, &meta);
		k.val.string.val = "results";
		k.val.string.len = 7;
		pushJsonbValue(&st, WJB_KEY, &k);
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (int i = 0; i < nres; i++)
		{
			pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
			for (int j = 0; j < 3; j++)
			{
				k.val.string.val = (char *) cf_result_fields[j];
				k.val.string.len = strlen(cf_result_fields[j]);
				pushJsonbValue(&st, WJB_KEY, &k);
				pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
				memset(pos, 0, sizeof(int) * cfg.nshards);
				for (int64 r = 0; r < nrows; r++)
				{
					int			s = shard_of_row[r];
					JsonbValue *e = getIthJsonbValueFromContainer(answers[s].cols[i * 3 + j], pos[s]++);

					if (e == NULL)
						elog(ERROR, "cfeast: shard %d answered too few rows", s);
					pushJsonbValue(&st, WJB_ELEM, e);
				}
				pushJsonbValue(&st, WJB_END_ARRAY, NULL);
			}
			pushJsonbValue(&st, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}
