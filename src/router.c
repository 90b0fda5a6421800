/*-------------------------------------------------------------------------
 * router.c
 *	  Router mode: the same SQL names over several nodes, through PL/Proxy.
 *
 * A router is a database with cfeast, PL/Proxy and a cluster (a foreign
 * server of the plproxy wrapper whose partitions p0 .. p<N-1> are the N
 * logical shards, each naming the node that holds it; several partitions
 * name one node).  feast_router_setup records the cluster in feast.router
 * and creates the routing functions feast._route_* (LANGUAGE plproxy, jit
 * off).  PL/Proxy opens one connection per connect string, so the shards of
 * one node travel together: the router sends one part per node, keyed by
 * the node's lowest logical shard (cf_shard_node_rep).  On a router:
 *
 *	- feast_push reads and checks every row here, with push.c's own parser
 *	  (so errors and row numbers are one node's), writing nothing; then
 *	  each row's logical shard is feast_shard_of(its first join key, N), and
 *	  each node's rows become one part of JSON text in the push's own form
 *	  (row form or column form), with the list of its logical shards and
 *	  their row counts (JSON text in the row form is cut where the router's
 *	  own parse saw each row; other pushes are walked once more to cut
 *	  them).  One call of feast._route_node_push sends the parts (SPLIT),
 *	  and the nodes run in parallel.  A node (feast._node_push)
 *	  checks the router's registry fingerprint, claims every logical shard
 *	  of its part under the push id in feast.push_ids (one INSERT .. ON
 *	  CONFLICT DO NOTHING), and pushes the part in one go from text, all in
 *	  one transaction; a retry with the same id skips the shards recorded
 *	  there (if only some were, after a shard moved, the node keeps the
 *	  rows of the others).  After a failure the router asks each node once
 *	  which shards committed, and says so in the error.
 *	- feast_get_online_features reads from the router's own, empty, online
 *	  tables first (one node's answer or error for any request), then splits
 *	  the entity rows by node, reads each node's part (feast._node_read, one
 *	  SPLIT call, the router's fingerprint checked there) and merges the
 *	  answers column by column into the caller's row order: the same jsonb
 *	  one node would return.  Rows all on one node are sent as they are and
 *	  that node's answer is returned as it is.
 *	- feast_apply*, feast_delete and feast_materialize* run here, then on
 *	  every node (feast._route_call, RUN ON ALL), and every node's registry
 *	  fingerprint must then equal the router's.  An apply that would give a
 *	  push source views of different distribution keys is refused here,
 *	  before anything is sent.
 *	- feast_prune_push_ids forgets old push ids here and on every node.
 *
 * Each backend caches its router configuration, its registry fingerprint
 * and the node map; all are dropped with the registry cache (the registry
 * tables' and feast.router's triggers send a relcache invalidation for
 * feast.feature_views) or when the cluster's foreign server changes, and
 * pending invalidations are read at every call.  So a push or read checks
 * fingerprints for the price of a string comparison on each node, plus, for
 * a push, one RUN ON ALL round trip first (a node that cannot be reached
 * then fails the push before any node writes).
 *-------------------------------------------------------------------------
 */
#include "router.h"
#include "shard.h"
#include "write.h"
#include "privileges.h"
#include "request.h"
#include "jsontext.h"

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
#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/inval.h"

PG_FUNCTION_INFO_V1(cfeast_shard_push);
PG_FUNCTION_INFO_V1(cfeast_push_with_id);
PG_FUNCTION_INFO_V1(cfeast_node_call);
PG_FUNCTION_INFO_V1(cfeast_node_push);
PG_FUNCTION_INFO_V1(cfeast_node_read);
PG_FUNCTION_INFO_V1(cfeast_node_fingerprint);
PG_FUNCTION_INFO_V1(cfeast_prune_push_ids);

/* ------------------------------------------------------------------------
 * router configuration
 * ------------------------------------------------------------------------
 */

typedef struct CfRouter
{
	bool		active;
	int			nshards;		/* logical shards */
} CfRouter;

/*
 * Per-backend caches: the router configuration, this database's registry
 * fingerprint and the node map (cf_shard_node_rep).  They are dropped with
 * the registry cache: every registry table's trigger (and feast.router's)
 * sends a relcache invalidation for feast.feature_views, and the
 * fingerprint also names the batch relations (a rename changes it).
 * Pending invalidations are read before each use, so another session's
 * committed change is seen by this backend's next call.
 */
static bool cf_cfg_valid = false;
static CfRouter cf_cfg;
static char *cf_fp = NULL;		/* TopMemoryContext */
static Oid *cf_fp_rels = NULL;	/* TopMemoryContext */
static int	cf_fp_nrels = 0;
static Oid	cf_registry_rel = InvalidOid;
static bool cf_callbacks = false;

static void cf_node_rep_drop(void);

static void
cf_caches_reset(void)
{
	cf_cfg_valid = false;
	if (cf_fp != NULL)
		pfree(cf_fp);
	cf_fp = NULL;
	cf_fp_nrels = 0;
	cf_node_rep_drop();
}

static void
cf_router_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cf_registry_rel)
	{
		cf_caches_reset();
		return;
	}
	for (int i = 0; i < cf_fp_nrels; i++)
		if (cf_fp_rels[i] == relid)
		{
			cf_caches_reset();
			return;
		}
}

static void
cf_router_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	cf_node_rep_drop();
}

static void
cf_router_callbacks(void)
{
	if (cf_callbacks)
		return;
	CacheRegisterRelcacheCallback(cf_router_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, cf_router_syscache_cb, (Datum) 0);
	cf_callbacks = true;
}

static CfRouter
cf_router_config(void)
{
	static SPIPlanPtr plan = NULL;
	CfRouter	r = {false, 0};
	Oid			ns;
	Oid			relid;
	Oid			types[1] = {OIDOID};
	Datum		args[1];
	bool		isnull;
	bool		cacheable;
	bool		routes;

	cf_router_callbacks();
	AcceptInvalidationMessages();
	if (cf_cfg_valid)
		return cf_cfg;
	ns = get_namespace_oid("feast", true);
	if (!OidIsValid(ns) || !OidIsValid(relid = get_relname_relid("router", ns)))
		return r;				/* an extension not yet updated */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT (SELECT logical_shards FROM feast.router),"
						   "       EXISTS (SELECT FROM pg_catalog.pg_trigger t"
						   "                WHERE t.tgrelid OPERATOR(pg_catalog.=) $1"
						   "                  AND t.tgname OPERATOR(pg_catalog.=) 'registry_changed'),"
						   "       pg_catalog.to_regproc('feast._route_node_push') IS NOT NULL",
						   1, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "cfeast: preparing the router look-up failed");
	}
	args[0] = ObjectIdGetDatum(relid);
	if (SPI_execute_plan(plan, args, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cfeast: reading feast.router failed");
	r.nshards = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	r.active = !isnull;
	if (isnull)
		r.nshards = 0;
	/* before 0.5 no trigger tells other backends of a change to feast.router */
	cacheable = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	routes = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	SPI_finish();
	if (r.active && !routes)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("router mode was set up by an older cfeast"),
				 errhint("Run SELECT feast_router_setup(cluster, logical_shards) FROM feast.router; again on this router.")));
	cf_registry_rel = get_relname_relid("feature_views", ns);
	if (cacheable)
	{
		cf_cfg = r;
		cf_cfg_valid = true;
	}
	return r;
}

bool
cf_router_active(void)
{
	return cf_router_config().active;
}

/* this database's registry fingerprint, cached (inside SPI) */
static const char *
cf_fingerprint(void)
{
	bool		isnull;
	Datum		rels;
	ArrayType  *a;
	Datum	   *elems;
	int			n;
	char	   *fp;

	(void) cf_router_config();	/* callbacks, invalidations */
	if (cf_fp != NULL)
		return cf_fp;
	if (SPI_execute("SELECT feast._registry_fingerprint(),"
					"       ARRAY(SELECT relation::pg_catalog.oid FROM feast.data_sources"
					"              WHERE relation IS NOT NULL)", true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "cfeast: computing the registry fingerprint failed");
	fp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (fp == NULL)
		elog(ERROR, "cfeast: computing the registry fingerprint failed");
	rels = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	a = DatumGetArrayTypeP(rels);
	deconstruct_array(a, OIDOID, sizeof(Oid), true, TYPALIGN_INT, &elems, NULL, &n);
	if (cf_fp_rels != NULL)
		pfree(cf_fp_rels);
	cf_fp_rels = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
		cf_fp_rels[i] = DatumGetObjectId(elems[i]);
	cf_fp_nrels = n;
	/* only a registry whose invalidations reach us is kept (not before 0.5) */
	if (!cf_cfg_valid)
		return fp;
	cf_fp = MemoryContextStrdup(TopMemoryContext, fp);
	return cf_fp;
}

/* refuse, with 55000, a router fingerprint that is not this node's (inside SPI) */
static void
cf_check_fingerprint(const char *theirs)
{
	const char *mine = cf_fingerprint();

	if (strcmp(mine, theirs) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the registry of node \"%s\" differs from the router's", get_database_name(MyDatabaseId)),
				 errdetail("Fingerprint %s here, %s on the router.", mine, theirs),
				 errhint("Re-apply the registry through the router; feast_router_check() compares every node.")));
}

/*
 * Refuse to route while any node's registry differs from the router's
 * (inside SPI): one RUN ON ALL call before anything is sent.
 */
static ErrorData *cf_try_execute(const char *sql, int nargs, Oid *types, Datum *args, const char *nulls);

static void
cf_check_nodes(void)
{
	const char *fp = cf_fingerprint();
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
	}			plans[16];
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
 * the node map: which logical shards share a node
 * ------------------------------------------------------------------------
 */

/*
 * The lowest logical shard on the same node as each shard (the same connect
 * string in the cluster's foreign server; PL/Proxy opens one connection per
 * connect string), so that a push or a read sends one part per node, not
 * per shard.  Kept until the foreign server or the registry changes.
 */
static int *cf_node_rep = NULL;	/* TopMemoryContext */
static int	cf_node_rep_n = 0;

static void
cf_node_rep_drop(void)
{
	if (cf_node_rep != NULL)
		pfree(cf_node_rep);
	cf_node_rep = NULL;
}

static const int *
cf_shard_node_rep(int nshards)
{
	int		   *rep;
	char	  **conn;

	cf_router_callbacks();
	if (cf_node_rep != NULL && cf_node_rep_n == nshards)
		return cf_node_rep;
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
				conn[p] = pstrdup(c);
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
	cf_node_rep_drop();
	cf_node_rep_n = nshards;
	cf_node_rep = rep;
	return rep;
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
	bool		counted;		/* written and stale known (the part's lowest shard) */
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
 * its id: each node holding a shard of the push is asked once (a node that
 * does not answer leaves its shards unknown).  The failure can come back
 * while another node's part is still committing (seen in 005_scale_out: a
 * node answered without shards that the retry then found committed), so
 * the list can miss shards that commit a moment later; a retry with the id
 * skips them all the same.  rep[shard]: the node's lowest shard.
 */
static void
cf_push_failed(ErrorData *edata, const char *push_id, bool given, const int *shards, int nshards,
			   const int *rep)
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
		args[0] = Int32GetDatum(shards[i]);
		e2 = cf_try_execute("SELECT s FROM feast._route_push_status($1, $2) s", 2, types, args, NULL);
		if (e2 != NULL)
			continue;
		/* the node answered for every shard it holds */
		for (int j = 0; j < nshards; j++)
			if (rep[shards[j]] == rep[shards[i]])
				known[j] = true;
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int32		s = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));

			for (int j = 0; j < nshards; j++)
				if (shards[j] == s)
					committed[j] = known[j] = true;
		}
	}
	initStringInfo(&done);
	initStringInfo(&unknown);
	for (int i = 0; i < nshards; i++)
	{
		if (committed[i])
			appendStringInfo(&done, "%s%d", done.len ? ", " : "", shards[i]);
		else if (!known[i])
			appendStringInfo(&unknown, "%s%d", unknown.len ? ", " : "", shards[i]);
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

/* a JSON string (not NUL-terminated in jsonb) through escape_json, without a palloc each */
static void
cf_append_string(StringInfo out, const char *s, int len)
{
	static char *scratch = NULL;
	static int	cap = 0;

	if (len + 1 > cap)
	{
		cap = Max(len + 1, 256);
		if (scratch)
			pfree(scratch);
		scratch = MemoryContextAlloc(TopMemoryContext, cap);
	}
	memcpy(scratch, s, len);
	scratch[len] = '\0';
	escape_json(out, scratch);
}

static void cf_append_container(StringInfo out, JsonbContainer *c);

/* one JSON value as text, the value jsonb holds */
static void
cf_append_json(StringInfo out, JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		case jbvNumeric:
			appendStringInfoString(out, DatumGetCString(DirectFunctionCall1(numeric_out,
																		NumericGetDatum(v->val.numeric))));
			break;
		case jbvString:
			cf_append_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvBinary:
			cf_append_container(out, v->val.binary.data);
			break;
		default:
			elog(ERROR, "cfeast: unexpected jsonb value type %d", (int) v->type);
	}
}

/* an object or array of jsonb as JSON text */
static void
cf_append_container(StringInfo out, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		first = true;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_OBJECT:
				appendStringInfoChar(out, '{');
				break;
			case WJB_END_OBJECT:
				appendStringInfoChar(out, '}');
				break;
			case WJB_BEGIN_ARRAY:
				if (!v.val.array.rawScalar)
					appendStringInfoChar(out, '[');
				break;
			case WJB_END_ARRAY:
				if (!v.val.array.rawScalar)
					appendStringInfoChar(out, ']');
				break;
			case WJB_KEY:
				if (!first)
					appendStringInfoChar(out, ',');
				first = false;
				cf_append_string(out, v.val.string.val, v.val.string.len);
				appendStringInfoChar(out, ':');
				break;
			case WJB_VALUE:
				cf_append_json(out, &v);
				break;
			case WJB_ELEM:
				if (!first)
					appendStringInfoChar(out, ',');
				first = false;
				cf_append_json(out, &v);
				break;
			default:
				break;
		}
	}
}

/*
 * nparts empty part buffers for "bytes" of pushed text, each opened with
 * "open" after room for a text header (a part becomes a text datum in
 * place); sized about to its share, so that buffers seldom grow.
 */
static StringInfoData *
cf_parts_open(int nparts, int64 bytes, char open)
{
	StringInfoData *texts = palloc(sizeof(StringInfoData) * nparts);
	int			guess = (int) Min(bytes / nparts * 5 / 4 + 1024, MaxAllocSize / 4);

	for (int p = 0; p < nparts; p++)
	{
		initStringInfo(&texts[p]);
		enlargeStringInfo(&texts[p], guess);
		appendStringInfoSpaces(&texts[p], VARHDRSZ);
		appendStringInfoChar(&texts[p], open);
	}
	return texts;
}

/*
 * The rows of each node part as JSON text in the push's own form:
 * texts[p] for the rows whose part_of_row is p (nparts parts, each with
 * rows), each a text datum from its first byte (VARHDRSZ left for the
 * caller to set).
 */
static StringInfoData *
cf_split_text(Jsonb *rows, const int *part_of_row, int64 nrows, int nparts)
{
	StringInfoData *texts = cf_parts_open(nparts, VARSIZE(rows), JB_ROOT_IS_ARRAY(rows) ? '[' : '{');
	bool	   *first = palloc(sizeof(bool) * nparts);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	if (JB_ROOT_IS_ARRAY(rows))
	{
		int64		r = 0;

		memset(first, true, sizeof(bool) * nparts);
		it = JsonbIteratorInit(&rows->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			StringInfo	out;

			if (tok != WJB_ELEM)
				continue;
			if (r >= nrows)
				elog(ERROR, "cfeast: more rows than were checked");
			if ((r & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
			out = &texts[part_of_row[r]];
			if (!first[part_of_row[r]])
				appendStringInfoChar(out, ',');
			first[part_of_row[r]] = false;
			cf_append_json(out, &v);
			r++;
		}
		for (int p = 0; p < nparts; p++)
			appendStringInfoChar(&texts[p], ']');
		return texts;
	}

	/* column form: every column of the push, each cut into the parts' columns */
	{
		bool		first_col = true;

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
				continue;		/* an unknown field that was ignored */
			for (int p = 0; p < nparts; p++)
			{
				if (!first_col)
					appendStringInfoChar(&texts[p], ',');
				cf_append_json(&texts[p], &key);
				appendBinaryStringInfo(&texts[p], ":[", 2);
			}
			first_col = false;
			memset(first, true, sizeof(bool) * nparts);
			cit = JsonbIteratorInit(v.val.binary.data);
			while ((tok = JsonbIteratorNext(&cit, &e, true)) != WJB_DONE)
			{
				int			p;

				if (tok != WJB_ELEM)
					continue;
				if (r >= nrows)
					break;		/* an ignored field's extra values */
				if ((r & 1023) == 0)
					CHECK_FOR_INTERRUPTS();
				p = part_of_row[r];
				if (!first[p])
					appendStringInfoChar(&texts[p], ',');
				first[p] = false;
				cf_append_json(&texts[p], &e);
				r++;
			}
			for (int p = 0; p < nparts; p++)
				appendStringInfoChar(&texts[p], ']');
		}
		for (int p = 0; p < nparts; p++)
			appendStringInfoChar(&texts[p], '}');
	}
	return texts;
}

/*
 * Splitting a push given as JSON text: PostgreSQL's JSON parser walks the
 * text once and each row (row form) or each column value (column form) is
 * copied, as it is written, to its node's part.  The router's own parse of
 * the same text already checked it, so the parser meets valid JSON here.
 */
typedef struct CfTextSplit
{
	JsonLexContext *lex;
	StringInfoData *texts;
	bool	   *first;
	const int  *part_of_row;
	int64		nrows;
	int			nparts;
	bool		rows_form;
	int64		r;				/* the row or column value being read */
	const char *start;
	bool		in_column;		/* inside a column's array */
	bool		first_col;
} CfTextSplit;

static void
cf_text_copy(CfTextSplit *ts, const char *start, const char *end)
{
	int			p;

	if (ts->r >= ts->nrows)
	{
		if (ts->rows_form)
			elog(ERROR, "cfeast: more rows than were checked");
		return;					/* an ignored field's extra values */
	}
	if ((ts->r & 1023) == 0)
		CHECK_FOR_INTERRUPTS();
	p = ts->part_of_row[ts->r];
	if (!ts->first[p])
		appendStringInfoChar(&ts->texts[p], ',');
	ts->first[p] = false;
	appendBinaryStringInfo(&ts->texts[p], start, end - start);
}

static void
cf_ts_element_start(void *state, bool isnull)
{
	CfTextSplit *ts = (CfTextSplit *) state;

	if (ts->lex->lex_level == (ts->rows_form ? 1 : 2) && (ts->rows_form || ts->in_column))
		ts->start = ts->lex->token_start;
}

static void
cf_ts_element_end(void *state, bool isnull)
{
	CfTextSplit *ts = (CfTextSplit *) state;

	if (ts->lex->lex_level == (ts->rows_form ? 1 : 2) && (ts->rows_form || ts->in_column))
	{
		cf_text_copy(ts, ts->start, ts->lex->prev_token_terminator);
		ts->r++;
	}
}

static void
cf_ts_field_start(void *state, char *fname, bool isnull)
{
	CfTextSplit *ts = (CfTextSplit *) state;

	if (ts->rows_form || ts->lex->lex_level != 1)
		return;
	/* a column: its array is cut into the parts' columns; other values were ignored */
	ts->in_column = ts->lex->token_type == JSON_TOKEN_ARRAY_START;
	if (!ts->in_column)
		return;
	for (int p = 0; p < ts->nparts; p++)
	{
		if (!ts->first_col)
			appendStringInfoChar(&ts->texts[p], ',');
		escape_json(&ts->texts[p], fname);
		appendBinaryStringInfo(&ts->texts[p], ":[", 2);
	}
	ts->first_col = false;
	memset(ts->first, true, sizeof(bool) * ts->nparts);
	ts->r = 0;
}

static void
cf_ts_field_end(void *state, char *fname, bool isnull)
{
	CfTextSplit *ts = (CfTextSplit *) state;

	if (ts->rows_form || ts->lex->lex_level != 1 || !ts->in_column)
		return;
	for (int p = 0; p < ts->nparts; p++)
		appendStringInfoChar(&ts->texts[p], ']');
	ts->in_column = false;
}

static StringInfoData *
cf_split_json_text(text *rows, const int *part_of_row, int64 nrows, int nparts)
{
	CfTextSplit ts;
	JsonSemAction sem;
	char	   *data = VARDATA_ANY(rows);
	int			len = VARSIZE_ANY_EXHDR(rows);
	const char *c = data;
	JsonParseErrorType err;

	memset(&ts, 0, sizeof(ts));
	while (c < data + len && (*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r'))
		c++;
	ts.rows_form = c < data + len && *c == '[';
	/* column names are copied de-escaped; rows are copied as written, without de-escaping */
	ts.lex = makeJsonLexContextCstringLen(data, len, GetDatabaseEncoding(), !ts.rows_form);
	ts.texts = cf_parts_open(nparts, len, ts.rows_form ? '[' : '{');
	ts.first = palloc(sizeof(bool) * nparts);
	memset(ts.first, true, sizeof(bool) * nparts);
	ts.part_of_row = part_of_row;
	ts.nrows = nrows;
	ts.nparts = nparts;
	ts.first_col = true;
	memset(&sem, 0, sizeof(sem));
	sem.semstate = &ts;
	sem.array_element_start = cf_ts_element_start;
	sem.array_element_end = cf_ts_element_end;
	sem.object_field_start = cf_ts_field_start;
	sem.object_field_end = cf_ts_field_end;
	err = pg_parse_json(ts.lex, &sem);
	if (err != JSON_SUCCESS)
		json_ereport_error(err, ts.lex);
	if (ts.rows_form && ts.r != nrows)
		elog(ERROR, "cfeast: " INT64_FORMAT " rows split, " INT64_FORMAT " checked", ts.r, nrows);
	for (int p = 0; p < nparts; p++)
		appendStringInfoChar(&ts.texts[p], ts.rows_form ? ']' : '}');
	return ts.texts;
}

/*
 * The same split when the router's own parse recorded where each row of the
 * row form is (CfBatch.spans): each row's text is copied, as written, to its
 * node's part, without a second parse.
 */
static StringInfoData *
cf_split_spans(text *rows, const int64 *spans, const int *part_of_row, int64 nrows, int nparts)
{
	const char *data = VARDATA_ANY(rows);
	int			len = VARSIZE_ANY_EXHDR(rows);
	StringInfoData *texts = cf_parts_open(nparts, len, '[');
	bool	   *first = palloc(sizeof(bool) * nparts);

	memset(first, true, sizeof(bool) * nparts);
	for (int64 r = 0; r < nrows; r++)
	{
		StringInfo	out = &texts[part_of_row[r]];

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (spans[r * 2] < 0 || spans[r * 2 + 1] < 0 || spans[r * 2] + spans[r * 2 + 1] > len)
			elog(ERROR, "cfeast: row " INT64_FORMAT " lies outside the pushed text", r + 1);
		if (!first[part_of_row[r]])
			appendStringInfoChar(out, ',');
		first[part_of_row[r]] = false;
		appendBinaryStringInfo(out, data + spans[r * 2], (int) spans[r * 2 + 1]);
	}
	for (int p = 0; p < nparts; p++)
		appendStringInfoChar(&texts[p], ']');
	return texts;
}

/*
 * A one-dimensional text[] of n texts without NULLs: construct_array's
 * result, without zeroing the whole (large) array before filling it.
 */
static ArrayType *
cf_text_array(Datum *texts, int n)
{
	Size		nbytes = ARR_OVERHEAD_NONULLS(1);
	ArrayType  *a;
	char	   *p;

	for (int i = 0; i < n; i++)
		nbytes += INTALIGN(VARSIZE(DatumGetPointer(texts[i])));
	if (!AllocSizeIsValid(nbytes))
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("a routed push's parts exceed %zu bytes", (Size) MaxAllocSize)));
	a = (ArrayType *) palloc(nbytes);
	memset(a, 0, ARR_OVERHEAD_NONULLS(1));
	SET_VARSIZE(a, nbytes);
	a->ndim = 1;
	a->dataoffset = 0;
	a->elemtype = TEXTOID;
	ARR_DIMS(a)[0] = n;
	ARR_LBOUND(a)[0] = 1;
	p = ARR_DATA_PTR(a);
	for (int i = 0; i < n; i++)
	{
		Size		len = VARSIZE(DatumGetPointer(texts[i]));

		memcpy(p, DatumGetPointer(texts[i]), len);
		memset(p + len, 0, INTALIGN(len) - len);
		p += INTALIGN(len);
	}
	return a;
}

typedef struct CfRoutedPush
{
	CfShardCount *counts;
	int			ncounts;
	int64		accepted;
} CfRoutedPush;

/*
 * A routed push of rows already checked into *batch: one part per node, as
 * JSON text of the push's form, each holding the rows of the node's logical
 * shards; one call of feast._route_node_push sends them all in parallel.
 */
static CfRoutedPush
cf_router_push_batch(CfRouter cfg, const char *source, Jsonb *rows, text *rows_text, CfBatch *batch,
					 int tobits, const char *push_id)
{
	int			f;
	Oid			keytype = InvalidOid;
	const int  *rep;
	int		   *shard_of_row;
	int		   *part_of_row;
	int64	   *shard_rows;
	int		   *part_of_rep;
	int		   *shards;
	int			nshards_used = 0;
	int			nparts = 0;
	StringInfoData *texts;
	StringInfoData *sets;
	Datum	   *rep_d,
			   *part_d,
			   *set_d;
	Oid			types[8] = {INT4ARRAYOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID, INT4OID};
	Datum		args[8];
	ErrorData  *edata;
	CfRoutedPush out = {NULL, 0, 0};
	bool		given = push_id != NULL;
	MemoryContext cxt = CurrentMemoryContext;

	if (batch->nrows == 0)
		return out;
	f = cf_distribution_field(batch->src);
	if (f >= 0)
		keytype = cf_dtype_type_oid(batch->src->fields[f].dtype);
	/* a copy: an invalidation during the call may drop the cached map */
	rep = memcpy(palloc(sizeof(int) * cfg.nshards), cf_shard_node_rep(cfg.nshards), sizeof(int) * cfg.nshards);
	shard_of_row = palloc_extended(sizeof(int) * batch->nrows, MCXT_ALLOC_HUGE);
	part_of_row = palloc_extended(sizeof(int) * batch->nrows, MCXT_ALLOC_HUGE);
	shard_rows = palloc0(sizeof(int64) * cfg.nshards);
	part_of_rep = palloc(sizeof(int) * cfg.nshards);
	for (int s = 0; s < cfg.nshards; s++)
		part_of_rep[s] = -1;
	rep_d = palloc(sizeof(Datum) * cfg.nshards);
	for (int64 r = 0; r < batch->nrows; r++)
	{
		int			s = f < 0 ? 0 : cf_shard_of(batch->values[f][r], batch->nulls[f][r], keytype,
												InvalidOid, cfg.nshards);

		shard_of_row[r] = s;
		shard_rows[s]++;
		if (part_of_rep[rep[s]] < 0)
		{
			rep_d[nparts] = Int32GetDatum(rep[s]);
			part_of_rep[rep[s]] = nparts++;
		}
		part_of_row[r] = part_of_rep[rep[s]];
	}
	if (rows_text != NULL && batch->spans != NULL)
		texts = cf_split_spans(rows_text, batch->spans, part_of_row, batch->nrows, nparts);
	else if (rows_text != NULL)
		texts = cf_split_json_text(rows_text, part_of_row, batch->nrows, nparts);
	else
		texts = cf_split_text(rows, part_of_row, batch->nrows, nparts);
	/* each part's shards, "shard:rows,..." */
	sets = palloc(sizeof(StringInfoData) * nparts);
	for (int p = 0; p < nparts; p++)
		initStringInfo(&sets[p]);
	shards = palloc(sizeof(int) * cfg.nshards);
	for (int s = 0; s < cfg.nshards; s++)
		if (shard_rows[s] > 0)
		{
			StringInfo	set = &sets[part_of_rep[rep[s]]];

			appendStringInfo(set, "%s%d:" INT64_FORMAT, set->len ? "," : "", s, shard_rows[s]);
			shards[nshards_used++] = s;
		}
	part_d = palloc(sizeof(Datum) * nparts);
	set_d = palloc(sizeof(Datum) * nparts);
	for (int p = 0; p < nparts; p++)
	{
		SET_VARSIZE(texts[p].data, texts[p].len);
		part_d[p] = PointerGetDatum(texts[p].data);
		set_d[p] = CStringGetTextDatum(sets[p].data);
	}
	/* the parts, copied into the array: their buffers are free for what follows */
	args[2] = PointerGetDatum(cf_text_array(part_d, nparts));
	for (int p = 0; p < nparts; p++)
		pfree(texts[p].data);
	if (push_id == NULL)
		push_id = cf_new_push_id();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_check_nodes();
	args[0] = PointerGetDatum(construct_array(rep_d, nparts, INT4OID, 4, true, TYPALIGN_INT));
	args[1] = CStringGetTextDatum(source);
	args[3] = PointerGetDatum(construct_array(set_d, nparts, TEXTOID, -1, false, TYPALIGN_INT));
	args[4] = CStringGetTextDatum(tobits == 1 ? "online" : tobits == 2 ? "offline" : "online_and_offline");
	args[5] = CStringGetTextDatum(push_id);
	args[6] = CStringGetTextDatum(cf_fingerprint());
	args[7] = Int32GetDatum(cfg.nshards);
	edata = cf_try_execute("SELECT shard, accepted, written, stale, skipped"
						   "  FROM feast._route_node_push($1, $2, $3, $4, $5, $6, $7, $8) ORDER BY shard",
						   8, types, args, NULL);
	if (edata != NULL)
		cf_push_failed(edata, push_id, given, shards, nshards_used, rep);
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
		out.counts[i].counted = !isnull;
		out.counts[i].stale = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
		out.counts[i].skipped = DatumGetBool(SPI_getbinval(tup, td, 5, &isnull));
		out.accepted += out.counts[i].accepted;
	}
	SPI_finish();
	return out;
}

static CfRoutedPush
cf_router_push_counts(const char *source, Jsonb *rows, text *to, const char *push_id)
{
	CfRouter	cfg = cf_router_config();
	CfBatch		batch;
	int			tobits;

	memset(&batch, 0, sizeof(batch));
	tobits = cf_push_parse(source, rows, to, &batch);
	return cf_router_push_batch(cfg, source, rows, NULL, &batch, tobits, push_id);
}

int64
cf_router_push(const char *source, Jsonb *rows, text *to, const char *push_id)
{
	return cf_router_push_counts(source, rows, to, push_id).accepted;
}

/*
 * feast_push from JSON text on a router: the text is checked with the text
 * form's own parser and errors (jsonb's input error first, as one node
 * gives it), then split as it is, without becoming jsonb.
 */
int64
cf_router_push_text(const char *source, text *rows, text *to)
{
	CfRouter	cfg = cf_router_config();
	MemoryContext cxt = CurrentMemoryContext;
	CfBatch		batch;
	volatile int tobits = 0;
	bool		parsed = false;
	ErrorData  *volatile edata = NULL;

	memset(&batch, 0, sizeof(batch));
	batch.want_spans = true;	/* the row form is then split without a second parse */
	PG_TRY();
	{
		tobits = cf_push_parse_text(source, rows, to, &batch, &parsed);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTERNAL_ERROR)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();
	if (edata)
	{
		/* the jsonb form would have failed on the text first (as feast_push's text form does) */
		cf_json_text_check(rows);
		ReThrowError(edata);
	}
	return cf_router_push_batch(cfg, source, NULL, rows, &batch, tobits, NULL).accepted;
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
		c->counted = !isnull;
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
	bool		nulls[5] = {shard_null, false, !c->counted, !c->counted, false};

	tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
}

/* feast._shard_push (0.4): replaced by feast._node_push */
Datum
cfeast_shard_push(PG_FUNCTION_ARGS)
{
	ereport(ERROR,
			(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
			 errmsg("feast._shard_push is no longer used: a router sends feast._node_push"),
			 errhint("Update cfeast on the router too, then run feast_router_setup there again.")));
	PG_RETURN_NULL();
}

/* "shard:rows,shard:rows": a node part's logical shards and their row counts */
static int
cf_parse_shard_set(const char *set, int modulus, int **shards, int64 **rows)
{
	int			n = 1;
	const char *p = set;
	char	   *end;

	for (const char *c = set; *c; c++)
		if (*c == ',')
			n++;
	*shards = palloc(sizeof(int) * n);
	*rows = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
	{
		long		s = strtol(p, &end, 10);

		if (end == p || *end != ':' || s < 0 || s >= modulus)
			goto bad;
		p = end + 1;
		(*shards)[i] = (int) s;
		(*rows)[i] = strtoll(p, &end, 10);
		if (end == p || (*rows)[i] < 0 || (*end != ',' && *end != '\0') || (*end == '\0') != (i == n - 1))
			goto bad;
		p = end + 1;
	}
	return n;
bad:
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("feast._node_push: malformed shard list \"%s\"", set)));
	return 0;
}

/*
 * A partly committed node part (its shards moved between nodes since the
 * first try): the rows of the shards not committed yet, as jsonb.
 */
static Jsonb *
cf_rows_of_shards(const char *source, text *part, int tobits, int modulus, const bool *wanted)
{
	Jsonb	   *rows = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(part))));
	CfBatch		batch;
	int			f;
	Oid			keytype = InvalidOid;
	int		   *keep;
	Jsonb	  **parts;

	memset(&batch, 0, sizeof(batch));
	(void) cf_push_parse(source, rows, cstring_to_text(tobits == 1 ? "online" : tobits == 2 ? "offline" : "online_and_offline"),
						 &batch);
	f = cf_distribution_field(batch.src);
	if (f >= 0)
		keytype = cf_dtype_type_oid(batch.src->fields[f].dtype);
	keep = palloc_extended(sizeof(int) * Max(batch.nrows, 1), MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < batch.nrows; r++)
	{
		int			s = f < 0 ? 0 : cf_shard_of(batch.values[f][r], batch.nulls[f][r], keytype, InvalidOid, modulus);

		keep[r] = wanted[s] ? 0 : 1;
	}
	parts = cf_split_rows(rows, keep, batch.nrows, 2, NULL);
	return parts[0];
}

/*
 * feast._node_push(reps int[], push_source text, parts text[], shards
 * text[], "to" text, push_id text, fingerprint text, modulus int): the node
 * side of a routed push.  Each part is pushed in this one transaction,
 * after its logical shards are claimed under push_id in feast.push_ids
 * (one statement; a concurrent retry of the same push waits for this one,
 * then finds them taken); shards claimed before are skipped.  One row per
 * logical shard: its rows accepted; written and stale on the part's lowest
 * pushed shard (a part is written in one go), NULL on the others.
 */
Datum
cfeast_node_push(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *part_d,
			   *set_d;
	bool	   *part_n,
			   *set_n;
	int			nparts,
				nsets;
	char	   *source;
	int			to;
	char	   *push_id;
	int			modulus;
	Oid			claim_types[3] = {TEXTOID, INT4ARRAYOID, INT8ARRAYOID};
	Oid			count_types[4] = {TEXTOID, INT4OID, INT8OID, INT8OID};
	Oid			done_types[2] = {TEXTOID, INT4ARRAYOID};

	for (int i = 0; i < 8; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feast._node_push: argument %d must not be null", i + 1)));
	InitMaterializedSRF(fcinfo, 0);
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	to = cf_to_bits(text_to_cstring(PG_GETARG_TEXT_PP(4)));
	push_id = text_to_cstring(PG_GETARG_TEXT_PP(5));
	modulus = PG_GETARG_INT32(7);
	if (modulus < 1)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("feast._node_push: modulus must be positive")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), TEXTOID, -1, false, TYPALIGN_INT, &part_d, &part_n, &nparts);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(3), TEXTOID, -1, false, TYPALIGN_INT, &set_d, &set_n, &nsets);
	if (nparts != nsets)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("feast._node_push: %d parts but %d shard lists", nparts, nsets)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_check_fingerprint(text_to_cstring(PG_GETARG_TEXT_PP(6)));
	for (int i = 0; i < nparts; i++)
	{
		int		   *shards;
		int64	   *rows;
		int			n;
		bool	   *claimed = palloc0(sizeof(bool) * modulus);
		int			nclaimed = 0;
		int			lowest = -1;
		int64		accepted = 0,
					expected = 0,
					written = 0,
					stale = 0;
		Datum	   *sd,
				   *rd;
		Datum		args[4];
		CfPrivSwitch sw;
		int			rc;

		if (part_n[i] || set_n[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("feast._node_push: null part or shard list")));
		n = cf_parse_shard_set(TextDatumGetCString(set_d[i]), modulus, &shards, &rows);
		sd = palloc(sizeof(Datum) * n);
		rd = palloc(sizeof(Datum) * n);
		for (int j = 0; j < n; j++)
		{
			sd[j] = Int32GetDatum(shards[j]);
			rd[j] = Int64GetDatum(rows[j]);
		}
		args[0] = CStringGetTextDatum(push_id);
		args[1] = PointerGetDatum(construct_array(sd, n, INT4OID, 4, true, TYPALIGN_INT));
		args[2] = PointerGetDatum(construct_array(rd, n, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		/* claim every shard of the part in one statement */
		cf_priv_begin_registry_owner("push_ids", &sw);
		rc = SPI_execute_plan(cf_plan_for("INSERT INTO feast.push_ids AS p (push_id, shard, accepted)"
										  " SELECT $1, u.s, u.n FROM ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(s, n)"
										  " ON CONFLICT (push_id, shard) DO NOTHING RETURNING p.shard",
										  3, claim_types),
							  args, NULL, false, 0);
		cf_priv_end(&sw);
		if (rc != SPI_OK_INSERT_RETURNING)
			elog(ERROR, "cfeast: recording the push id failed: %s", SPI_result_code_string(rc));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		isnull;
			int			s = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &isnull));

			claimed[s] = true;
			nclaimed++;
		}
		for (int j = 0; j < n; j++)
			if (claimed[shards[j]])
			{
				expected += rows[j];
				if (lowest < 0 || shards[j] < lowest)
					lowest = shards[j];
			}
		if (nclaimed == n)
			accepted = cf_push_local_text(source, DatumGetTextPP(part_d[i]), to, &written, &stale);
		else if (nclaimed > 0)
		{
			Jsonb	   *mine = cf_rows_of_shards(source, DatumGetTextPP(part_d[i]), to, modulus, claimed);

			if (mine != NULL)
				accepted = cf_push_local(source, mine, to, &written, &stale);
		}
		if (accepted != expected)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("feast._node_push: " INT64_FORMAT " rows pushed, the router counted " INT64_FORMAT,
							accepted, expected)));
		if (nclaimed > 0)
		{
			Datum		cargs[4] = {args[0], Int32GetDatum(lowest), Int64GetDatum(written), Int64GetDatum(stale)};

			cf_priv_begin_registry_owner("push_ids", &sw);
			rc = SPI_execute_plan(cf_plan_for("UPDATE feast.push_ids SET written = $3, stale = $4"
											  " WHERE push_id OPERATOR(pg_catalog.=) $1"
											  "   AND shard OPERATOR(pg_catalog.=) $2",
											  4, count_types),
								  cargs, NULL, false, 0);
			cf_priv_end(&sw);
			if (rc != SPI_OK_UPDATE || SPI_processed != 1)
				elog(ERROR, "cfeast: recording the push id failed");
		}
		for (int j = 0; j < n; j++)
			if (claimed[shards[j]])
			{
				CfShardCount c = {shards[j], rows[j], written, stale, shards[j] == lowest, false};

				cf_put_count(rsi, &c, false);
			}
		if (nclaimed < n)
		{
			/* the shards that committed before: their recorded counts */
			rc = SPI_execute_plan(cf_plan_for("SELECT p.shard, p.accepted, p.written, p.stale FROM feast.push_ids p"
											  " WHERE p.push_id OPERATOR(pg_catalog.=) $1"
											  "   AND p.shard OPERATOR(pg_catalog.=) ANY ($2)",
											  2, done_types),
								  args, NULL, true, 0);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "cfeast: reading the push ids failed");
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				HeapTuple	tup = SPI_tuptable->vals[r];
				TupleDesc	td = SPI_tuptable->tupdesc;
				bool		isnull;
				CfShardCount c;

				memset(&c, 0, sizeof(c));
				c.shard = DatumGetInt32(SPI_getbinval(tup, td, 1, &isnull));
				if (claimed[c.shard])
					continue;
				c.accepted = DatumGetInt64(SPI_getbinval(tup, td, 2, &isnull));
				c.written = DatumGetInt64(SPI_getbinval(tup, td, 3, &isnull));
				c.counted = !isnull;
				c.stale = DatumGetInt64(SPI_getbinval(tup, td, 4, &isnull));
				c.skipped = true;
				cf_put_count(rsi, &c, false);
			}
		}
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
			c.counted = true;
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
 * On a router, every view of a push source must be distributed by one key
 * (its first entity's join key and type), or a push could not put a row on
 * one node: checked after an apply ran here, before it is broadcast
 * (inside SPI).  0A000 naming the source and two of its keys.
 */
static void
cf_check_distribution_keys(void)
{
	if (SPI_execute("SELECT v.source,"
					"       pg_catalog.array_agg(DISTINCT pg_catalog.format('\"%s\" %s', e.join_key, e.value_type))"
					"  FROM feast.feature_views v"
					"  JOIN feast.data_sources s ON s.name OPERATOR(pg_catalog.=) v.source"
					"                          AND s.kind OPERATOR(pg_catalog.=) 'push'"
					"  JOIN feast.entities e ON e.name OPERATOR(pg_catalog.=) v.entities[1]"
					" GROUP BY v.source"
					" HAVING pg_catalog.count(DISTINCT (e.join_key, e.value_type)) OPERATOR(pg_catalog.>) 1"
					" ORDER BY v.source COLLATE \"C\" LIMIT 1", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "cfeast: checking the distribution keys failed");
	if (SPI_processed == 1)
	{
		char	   *source = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		Datum	   *keys;
		int			nkeys;

		deconstruct_array(DatumGetArrayTypeP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
						  TEXTOID, -1, false, TYPALIGN_INT, &keys, NULL, &nkeys);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("push source \"%s\" cannot be routed: its feature views are distributed by different join keys (%s and %s)",
						source, TextDatumGetCString(keys[0]), TextDatumGetCString(keys[1])),
				 errdetail("A view is distributed by its first entity's join key and type."),
				 errhint("In router mode every view of a push source has the same first join key; use a push source per join key.")));
	}
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
	const char *fp;
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
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!materialize)
		cf_check_distribution_keys();
	args[1] = PointerGetDatum(construct_array(types, nargs, TEXTOID, -1, false, TYPALIGN_INT));
	args[2] = PointerGetDatum(construct_md_array(vals, nulls, 1, dims, lbs, TEXTOID, -1, false, TYPALIGN_INT));
	/* the call above changed the registry in this transaction: no cached fingerprint */
	cf_caches_reset();
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
	cf_caches_reset();			/* the call changed the registry in this transaction */
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
	/* the router's own read took these values already: they convert */
	for (int64 i = 0; i < n; i++)
	{
		CfValueSite site = {i, key};
		bool		isnull = true;
		Datum		d = (Datum) 0;

		if (vals[i]->type != jbvNull)
			d = cf_json_to_datum(vals[i], dtype, &site, &isnull);
		(*shards)[i] = cf_shard_of(d, isnull, typid, InvalidOid, nshards);
	}
	return true;
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
	Jsonb	   *here;
	int		   *shard_of_row;
	int64		nrows;
	Jsonb	  **parts;
	Datum	   *shard_d,
			   *part_d;
	int			nparts = 0;
	Oid			types[6] = {INT4ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, BOOLOID, TEXTOID, TEXTOID};
	Datum		args[6];
	char		nulls[7] = "      ";
	int			rc;
	CfPartAnswer *answers;
	int		   *pos;
	int			nres = -1;
	JsonbParseState *st = NULL;
	JsonbValue *res;
	JsonbValue	meta;
	MemoryContext cxt = CurrentMemoryContext;
	const int  *rep;
	int			only = -1;

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
	/*
	 * The router's own (empty) online tables first: one node's answer or
	 * error for every request, so that what is sent is known good.
	 */
	here = cf_read_here(fcinfo);
	if (rk.key == NULL)
		return here;
	if (!cf_entity_shards(rows, rk.key, rk.dtype, cfg.nshards, &shard_of_row, &nrows))
	{
		if (rows != NULL && !JB_ROOT_IS_SCALAR(rows) && JB_ROOT_COUNT(rows) == 0)
			return here;
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a routed read needs join key \"%s\" in every entity row", rk.key),
				 errhint("Name keys by their join key, not their entity, on a router.")));
	}

	/* one part per node: rows of shards on one node go to its lowest shard */
	rep = cf_shard_node_rep(cfg.nshards);
	for (int64 r = 0; r < nrows; r++)
	{
		shard_of_row[r] = rep[shard_of_row[r]];
		if (r == 0)
			only = shard_of_row[r];
		else if (only != shard_of_row[r])
			only = -2;
	}
	shard_d = palloc(sizeof(Datum) * cfg.nshards);
	part_d = palloc(sizeof(Datum) * cfg.nshards);
	if (only >= 0)
	{
		/* every row on one node: its answer is the answer */
		parts = NULL;
		shard_d[0] = Int32GetDatum(only);
		part_d[0] = JsonbPGetDatum(rows);
		nparts = 1;
	}
	else
	{
		parts = cf_split_rows(rows, shard_of_row, nrows, cfg.nshards, NULL);
		for (int s = 0; s < cfg.nshards; s++)
			if (parts[s] != NULL)
			{
				shard_d[nparts] = Int32GetDatum(s);
				part_d[nparts] = JsonbPGetDatum(parts[s]);
				nparts++;
			}
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
	args[5] = CStringGetTextDatum(cf_fingerprint());
	rc = SPI_execute_plan(cf_plan_for("SELECT shard, response FROM feast._route_node_read($1, $2, $3, $4, $5, $6)",
									  6, types),
						  args, nulls, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "cfeast: a routed read failed: %s", SPI_result_code_string(rc));
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
	if (only >= 0)
	{
		if (answers[only].response == NULL)
			elog(ERROR, "cfeast: shard %d did not answer", only);
		return answers[only].response;
	}

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

/*
 * feast._node_read(reps int[], features text[], rows jsonb[],
 * full_feature_names boolean, feature_service text, fingerprint text): the
 * node side of a routed read, one feast_get_online_features per element of
 * rows, once the router's registry fingerprint is found to be this node's.
 */
Datum
cfeast_node_read(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum	   *rep_d,
			   *rows_d;
	bool	   *rep_n,
			   *rows_n;
	int			nreps,
				nrows;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2) || PG_ARGISNULL(5))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("feast._node_read: shards, rows and fingerprint must not be null")));
	InitMaterializedSRF(fcinfo, 0);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT4OID, 4, true, TYPALIGN_INT, &rep_d, &rep_n, &nreps);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), JSONBOID, -1, false, TYPALIGN_INT, &rows_d, &rows_n, &nrows);
	if (nreps != nrows)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("feast._node_read: %d shards but %d row sets", nreps, nrows)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_check_fingerprint(text_to_cstring(PG_GETARG_TEXT_PP(5)));
	SPI_finish();
	for (int i = 0; i < nrows; i++)
	{
		LOCAL_FCINFO(call, 4);
		Datum		values[2];
		bool		nulls[2] = {false, false};

		InitFunctionCallInfoData(*call, NULL, 4, InvalidOid, NULL, NULL);
		call->args[0].value = PG_GETARG_DATUM(1);
		call->args[0].isnull = PG_ARGISNULL(1);
		call->args[1].value = rows_d[i];
		call->args[1].isnull = rows_n[i];
		call->args[2].value = PG_ARGISNULL(3) ? BoolGetDatum(false) : PG_GETARG_DATUM(3);
		call->args[2].isnull = PG_ARGISNULL(3);
		call->args[3].value = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
		call->args[3].isnull = PG_ARGISNULL(4);
		values[0] = rep_d[i];
		nulls[0] = rep_n[i];
		values[1] = JsonbPGetDatum(cf_online_local(call));
		tuplestore_putvalues(rsi->setResult, rsi->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* feast._node_fingerprint(OUT node text, OUT fingerprint text): this node and its cached fingerprint */
Datum
cfeast_node_fingerprint(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		out[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	td = BlessTupleDesc(td);
	out[0] = CStringGetTextDatum(psprintf("%s port %s", get_database_name(MyDatabaseId),
										  GetConfigOption("port", false, false)));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	out[1] = CStringGetTextDatum(cf_fingerprint());
	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, out, nulls)));
}

/*
 * feast_prune_push_ids(older_than interval): forget the push ids committed
 * before now() - older_than, here and, on a router, on every node; returns
 * the rows removed.
 */
Datum
cfeast_prune_push_ids(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {INTERVALOID};
	Datum		args[1];
	CfPrivSwitch sw;
	int64		n;
	int			rc;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("older_than must not be null")));
	args[0] = PG_GETARG_DATUM(0);
	if (DatumGetBool(DirectFunctionCall2(interval_lt, args[0], IntervalPGetDatum(palloc0(sizeof(Interval))))))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("older_than must not be negative, got %s",
						DatumGetCString(DirectFunctionCall1(interval_out, args[0])))));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_priv_begin_registry_owner("push_ids", &sw);
	rc = SPI_execute_with_args("DELETE FROM feast.push_ids"
							   " WHERE committed_at OPERATOR(pg_catalog.<) (pg_catalog.now() OPERATOR(pg_catalog.-) $1)",
							   1, types, args, NULL, false, 0);
	cf_priv_end(&sw);
	if (rc != SPI_OK_DELETE)
		elog(ERROR, "cfeast: pruning feast.push_ids failed: %s", SPI_result_code_string(rc));
	n = (int64) SPI_processed;
	if (cf_router_active())
	{
		rc = SPI_execute_with_args("SELECT pg_catalog.sum(n)::pg_catalog.int8 FROM feast._route_prune($1) n",
								   1, types, args, NULL, false, 0);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cfeast: pruning the nodes' push ids failed");
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
				n += DatumGetInt64(d);
		}
	}
	SPI_finish();
	PG_RETURN_INT64(n);
}
