/*-------------------------------------------------------------------------
 * registry.c
 *	  The per-backend cache of cfeast's registry: push sources and feature
 *	  views as C structs, and the plans built for them.
 *
 * Entries are read from the feast.* tables with SPI on first use and kept
 * until the registry, or a relation they were built over, changes.  Every
 * registry table has a statement trigger (feast._registry_changed) that
 * sends a relcache invalidation for feast.feature_views; online tables and
 * batch relations are recorded as dependencies as entries are built.  Our
 * relcache callback marks the cache stale when any of these relations
 * changes (ALTER TABLE ... TYPE, RENAME, a retyped feature), and the next
 * outermost call drops it whole: any registry change costs every backend a
 * reload of every entry it uses (there is no finer-grained invalidation;
 * registry changes are rare next to pushes and reads).  Invalidations
 * travel at commit, so another session's change is seen by this backend's
 * next call, and by a call that was waiting on a lock the change held
 * (taking a lock processes them).
 *
 * Every SQL-callable function that reads the registry goes through
 * cf_registry_call: SPI connection, cache pin, and their release in
 * PG_FINALLY.  A pin keeps the cache whole while a caller up the stack (a
 * push firing a trigger that pushes) still uses its entries.  An error
 * caught by a savepoint or an EXCEPTION block therefore leaves no pin, and
 * the (sub)transaction callbacks drop entries a rolled-back
 * (sub)transaction added.
 *
 * The registry is read with the latest snapshot, like the catalogs it
 * describes (online tables, batch relations): a call that waited for a lock
 * while the registry changed reads the definition that holds once it has
 * the lock.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

PG_FUNCTION_INFO_V1(cfeast_registry_changed);

typedef struct CfViewEntry
{
	char		name[NAMEDATALEN];
	CfView	   *view;
} CfViewEntry;

typedef struct CfSourceEntry
{
	char		name[NAMEDATALEN];
	CfPushSource *source;
} CfSourceEntry;

static MemoryContext cf_cache_cxt = NULL;
static HTAB *cf_views = NULL;
static HTAB *cf_sources = NULL;
static HTAB *cf_writers = NULL;	/* views' writers (feast_write_online), by view name */
static HTAB *cf_deps = NULL;	/* relids the entries were built over */
static List *cf_kept_plans = NIL;
static bool cf_cache_stale = true;
static uint64 cf_cache_gen = 0;
static int	cf_cache_pins = 0;
static SubTransactionId cf_cache_filled_subid = InvalidSubTransactionId;	/* last entry added in */
static Oid	cf_registry_relid = InvalidOid;

static void cf_cache_refresh(void);

/* ------------------------------------------------------------------------
 * invalidation
 * ------------------------------------------------------------------------
 */

static void
cf_cache_invalidate(void)
{
	cf_cache_stale = true;
	cf_cache_gen++;
}

/* the registry, or a relation an entry was built over, changed */
static void
cf_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == cf_registry_relid ||
		(cf_deps != NULL && hash_search(cf_deps, &relid, HASH_FIND, NULL) != NULL))
		cf_cache_invalidate();
}

/*
 * An aborted transaction holds no pins.  Entries added in a (sub)transaction
 * that rolls back may describe rows only it could see: drop them.  (A
 * registry change it made also sends its invalidation locally at abort; a
 * cache filled before it began survives a bad push caught or failed.)
 */
static void
cf_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
	{
		cf_cache_pins = 0;
		if (cf_cache_filled_subid != InvalidSubTransactionId)
			cf_cache_invalidate();
	}
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		cf_cache_filled_subid = InvalidSubTransactionId;
}

/* pins are returned by cf_registry_call's PG_FINALLY; subtransaction ids only grow */
static void
cf_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && cf_cache_filled_subid != InvalidSubTransactionId &&
		cf_cache_filled_subid >= mySubid)
		cf_cache_invalidate();
}

/* an entry was added: remember in which (sub)transaction */
static void
cf_cache_note_fill(void)
{
	cf_cache_filled_subid = GetCurrentSubTransactionId();
}

void
cf_registry_init(void)
{
	CacheRegisterRelcacheCallback(cf_relcache_callback, (Datum) 0);
	RegisterXactCallback(cf_xact_callback, NULL);
	RegisterSubXactCallback(cf_subxact_callback, NULL);
}

/* trigger on every registry table: tell all backends (at commit) to flush */
Datum
cfeast_registry_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "feast._registry_changed() must be called as a trigger");
	relid = get_relname_relid("feature_views", RelationGetNamespace(trigdata->tg_relation));
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}

/* ------------------------------------------------------------------------
 * the cache's life: pins, refresh, the one entry point
 * ------------------------------------------------------------------------
 */

static void
cf_cache_pin(void)
{
	/* the outermost pin first drops a stale cache: pinned, it is kept as is */
	if (cf_cache_pins == 0)
		cf_cache_refresh();
	cf_cache_pins++;
}

void
cf_registry_call(CfRegistryBody body, void *arg)
{
	MemoryContext caller = CurrentMemoryContext;
	int			pins = cf_cache_pins;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PG_TRY();
	{
		cf_cache_pin();
		body(arg, caller);
	}
	PG_FINALLY();
	{
		cf_cache_pins = pins;
	}
	PG_END_TRY();
	/* on error, (sub)transaction abort closes the SPI connection */
	SPI_finish();
	MemoryContextSwitchTo(caller);
}

uint64
cf_cache_generation(void)
{
	return cf_cache_gen;
}

bool
cf_cache_reload(void)
{
	if (cf_cache_pins != 1)
		return false;			/* not inside cf_registry_call, or nested in another */
	cf_cache_stale = true;
	cf_cache_pins = 0;
	cf_cache_refresh();
	cf_cache_pins = 1;
	return true;
}

/* drop every entry and plan when stale, then make sure the tables exist */
static void
cf_cache_refresh(void)
{
	HASHCTL		ctl;
	ListCell   *lc;

	if (!cf_cache_stale && cf_views != NULL)
		return;
	if (cf_cache_pins > 0 && cf_views != NULL)
		return;					/* a caller up the stack still uses entries */

	foreach(lc, cf_kept_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	cf_kept_plans = NIL;
	cf_deps = NULL;
	if (cf_cache_cxt != NULL)
		MemoryContextDelete(cf_cache_cxt);
	cf_views = cf_sources = cf_writers = NULL;
	cf_cache_cxt = AllocSetContextCreate(CacheMemoryContext, "cfeast registry cache",
										 ALLOCSET_DEFAULT_SIZES);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN;
	ctl.entrysize = sizeof(CfViewEntry);
	ctl.hcxt = cf_cache_cxt;
	cf_views = hash_create("cfeast views", 32, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.entrysize = sizeof(CfSourceEntry);
	cf_sources = hash_create("cfeast push sources", 32, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	cf_writers = hash_create("cfeast view writers", 32, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	ctl.keysize = ctl.entrysize = sizeof(Oid);
	cf_deps = hash_create("cfeast cache dependencies", 32, &ctl, HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	cf_registry_relid = get_relname_relid("feature_views", get_namespace_oid("feast", false));
	cf_cache_stale = false;
}

MemoryContext
cf_cache_context(void)
{
	cf_cache_refresh();
	return cf_cache_cxt;
}

void
cf_cache_keep_plan(SPIPlanPtr plan)
{
	MemoryContext old;

	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	old = MemoryContextSwitchTo(cf_cache_cxt);
	cf_kept_plans = lappend(cf_kept_plans, plan);
	MemoryContextSwitchTo(old);
}

void
cf_cache_depend_on(Oid relid)
{
	if (OidIsValid(relid))
		(void) hash_search(cf_deps, &relid, HASH_ENTER, NULL);
}

/* ------------------------------------------------------------------------
 * reading the registry
 * ------------------------------------------------------------------------
 */

/* the views of one name or of one source, one row per key or feature */
static const char *cf_views_sql =
"SELECT v.name, v.source, v.online, v.online_table::pg_catalog.oid, v.ttl, k.kind, k.fname, k.dtype, k.entity "
"  FROM feast.feature_views v "
"  CROSS JOIN LATERAL ( "
"      SELECT 0 AS kind, e.join_key AS fname, e.value_type AS dtype, u.ord::pg_catalog.int4 AS ord, "
"             e.name AS entity "
"        FROM pg_catalog.unnest(v.entities) WITH ORDINALITY AS u(ent, ord) "
"        JOIN feast.entities e ON e.name OPERATOR(pg_catalog.=) u.ent "
"      UNION ALL "
"      SELECT 1, f.name, f.dtype, f.position, NULL FROM feast.features f "
"       WHERE f.feature_view OPERATOR(pg_catalog.=) v.name) k "
" WHERE %s OPERATOR(pg_catalog.=) $1 "
" ORDER BY v.name, k.kind, k.ord";

/*
 * Run a registry query of one text parameter with the latest snapshot.  The
 * result is SPI's (valid until the next SPI call); CurrentMemoryContext is
 * SPI's procedure context afterwards, as after any SPI call.
 */
static SPITupleTable *
cf_registry_select(const char *sql, const char *param, long limit, uint64 *nrows)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	SPIPlanPtr	plan;
	int			rc;

	args[0] = CStringGetTextDatum(param);
	plan = SPI_prepare(sql, 1, argtypes);
	if (plan == NULL)
		elog(ERROR, "preparing a cfeast registry query failed: %s", SPI_result_code_string(SPI_result));
	rc = SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot, true, false, limit);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed: %s", SPI_result_code_string(rc));
	SPI_freeplan(plan);
	*nrows = SPI_processed;
	return SPI_tuptable;
}

static CfDtype
cf_registry_dtype(const char *s, const char *what)
{
	CfDtype		t;

	if (!cf_parse_dtype(s, &t))
		elog(ERROR, "cfeast registry holds an invalid dtype \"%s\" for %s", s, what);
	return t;
}

/* build a CfView from rows [first, last) of the SPI result */
static CfView *
cf_view_from_rows(SPITupleTable *tt, uint64 first, uint64 last)
{
	TupleDesc	td = tt->tupdesc;
	HeapTuple	tup = tt->vals[first];
	CfView	   *v = palloc0(sizeof(CfView));
	bool		isnull;
	Datum		d;
	Oid			relid;

	v->name = pstrdup(SPI_getvalue(tup, td, 1));
	v->source = pstrdup(SPI_getvalue(tup, td, 2));
	v->online = DatumGetBool(SPI_getbinval(tup, td, 3, &isnull));
	d = SPI_getbinval(tup, td, 4, &isnull);
	relid = isnull ? InvalidOid : DatumGetObjectId(d);
	v->online_relid = relid;
	if (OidIsValid(relid))
	{
		char	   *nsp = get_namespace_name(get_rel_namespace(relid));
		char	   *rel = get_rel_name(relid);

		if (nsp == NULL || rel == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("the online table of feature view \"%s\" no longer exists", v->name),
					 errhint("Re-apply the feature view to recreate it.")));
		v->online_table = quote_qualified_identifier(nsp, rel);
	}
	d = SPI_getbinval(tup, td, 5, &isnull);
	v->has_ttl = !isnull;
	if (!isnull)
		v->ttl = *DatumGetIntervalP(d);

	v->key_names = palloc(sizeof(char *) * (last - first));
	v->key_types = palloc(sizeof(CfDtype) * (last - first));
	v->key_entities = palloc(sizeof(char *) * (last - first));
	v->feature_names = palloc(sizeof(char *) * (last - first));
	v->feature_types = palloc(sizeof(CfDtype) * (last - first));
	for (uint64 i = first; i < last; i++)
	{
		int			kind = DatumGetInt32(SPI_getbinval(tt->vals[i], td, 6, &isnull));
		char	   *fname = pstrdup(SPI_getvalue(tt->vals[i], td, 7));
		CfDtype		t = cf_registry_dtype(SPI_getvalue(tt->vals[i], td, 8), fname);

		if (kind == 0)
		{
			v->key_names[v->nkeys] = fname;
			v->key_entities[v->nkeys] = pstrdup(SPI_getvalue(tt->vals[i], td, 9));
			v->key_types[v->nkeys++] = t;
		}
		else
		{
			v->feature_names[v->nfeatures] = fname;
			v->feature_types[v->nfeatures++] = t;
		}
	}
	return v;
}

/* load (or find) the views selected by column "col" = value, into the cache */
static List *
cf_load_views(const char *col, const char *value)
{
	List	   *result = NIL;
	SPITupleTable *tt;
	uint64		n;
	uint64		first = 0;

	tt = cf_registry_select(psprintf(cf_views_sql, col), value, 0, &n);
	for (uint64 i = 1; i <= n; i++)
	{
		char	   *name;
		CfViewEntry *entry;
		bool		found;

		if (i < n && strcmp(SPI_getvalue(tt->vals[i], tt->tupdesc, 1),
							SPI_getvalue(tt->vals[first], tt->tupdesc, 1)) == 0)
			continue;
		name = SPI_getvalue(tt->vals[first], tt->tupdesc, 1);
		entry = hash_search(cf_views, name, HASH_FIND, &found);
		if (!found)
		{
			MemoryContext old = MemoryContextSwitchTo(cf_cache_cxt);
			CfView	   *view = cf_view_from_rows(tt, first, i);

			MemoryContextSwitchTo(old);
			cf_cache_depend_on(view->online_relid);
			cf_cache_note_fill();
			entry = hash_search(cf_views, name, HASH_ENTER, &found);
			entry->view = view;
		}
		result = lappend(result, entry->view);
		first = i;
	}
	return result;
}

CfView *
cf_lookup_view(const char *name)
{
	CfViewEntry *entry;
	List	   *views;

	cf_cache_refresh();
	if (strlen(name) < NAMEDATALEN)
	{
		entry = hash_search(cf_views, name, HASH_FIND, NULL);
		if (entry)
			return entry->view;
		views = cf_load_views("v.name", name);
		if (views != NIL)
			return (CfView *) linitial(views);
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("feature view \"%s\" does not exist", name)));
	return NULL;				/* not reached */
}

/* ------------------------------------------------------------------------
 * push sources
 * ------------------------------------------------------------------------
 */

/* find or add the push field "name"; the same field must keep one dtype */
static int
cf_source_field(CfPushSource *src, int *maxfields, const char *name, CfDtype t,
				CfFieldRole role, bool required)
{
	for (int i = 0; i < src->nfields; i++)
	{
		CfField    *f = &src->fields[i];

		if (strcmp(f->name, name) != 0)
			continue;
		if (f->dtype.base != t.base || f->dtype.is_array != t.is_array || f->role != role)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("push source \"%s\": field \"%s\" is read as %s and as %s by different views",
							src->name, name, cf_dtype_name(f->dtype), cf_dtype_name(t)),
					 errhint("Give the field one dtype (or one role) in every view of the source.")));
		return i;
	}
	if (src->nfields == *maxfields)
	{
		*maxfields *= 2;
		src->fields = repalloc(src->fields, sizeof(CfField) * *maxfields);
	}
	src->fields[src->nfields].name = pstrdup(name);
	src->fields[src->nfields].namelen = strlen(name);
	src->fields[src->nfields].dtype = t;
	src->fields[src->nfields].role = role;
	src->fields[src->nfields].required = required;
	src->fields[src->nfields].offline_column = NULL;
	return src->nfields++;
}

/* field_mapping {"source column": "field"} read backwards: field -> column */
char *
cf_mapped_column(Jsonb *mapping, const char *field)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (mapping == NULL)
		return pstrdup(field);
	it = JsonbIteratorInit(&mapping->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && v.type == jbvString &&
				 strlen(field) == v.val.string.len &&
				 memcmp(field, v.val.string.val, v.val.string.len) == 0)
			return key;
	}
	return pstrdup(field);
}

static const char *cf_source_sql =
"SELECT s.kind, s.batch_source, b.relation::pg_catalog.oid, b.timestamp_field, "
"       b.created_timestamp_column, b.field_mapping "
"  FROM feast.data_sources s "
"  LEFT JOIN feast.data_sources b ON b.name OPERATOR(pg_catalog.=) s.batch_source "
" WHERE s.name OPERATOR(pg_catalog.=) $1";

/* a push source's registry row, read before the source is built */
typedef struct CfSourceRow
{
	char	   *batch_source;	/* NULL: online-only */
	Oid			relid;			/* the batch relation, or InvalidOid */
	char	   *ts_name;
	char	   *created_name;	/* or NULL */
	Jsonb	   *mapping;		/* or NULL */
} CfSourceRow;

/* read push source "name"'s row (42704 if there is none, or it is a batch source) */
static void
cf_read_source_row(const char *name, CfSourceRow *row)
{
	uint64		n;
	SPITupleTable *tt = cf_registry_select(cf_source_sql, name, 1, &n);
	HeapTuple	tup;
	TupleDesc	td = tt->tupdesc;
	bool		isnull;
	Datum		d;

	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("push source \"%s\" does not exist", name)));
	tup = tt->vals[0];
	if (strcmp(SPI_getvalue(tup, td, 1), "push") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("push source \"%s\" does not exist", name),
				 errdetail("\"%s\" is a batch source; feast_push takes push sources.", name)));
	memset(row, 0, sizeof(*row));
	row->batch_source = SPI_getvalue(tup, td, 2);
	if (row->batch_source == NULL)
	{
		row->ts_name = "event_timestamp";
		row->created_name = "created_timestamp";
		return;
	}
	d = SPI_getbinval(tup, td, 3, &isnull);
	row->relid = isnull ? InvalidOid : DatumGetObjectId(d);
	row->ts_name = SPI_getvalue(tup, td, 4);
	row->created_name = SPI_getvalue(tup, td, 5);
	d = SPI_getbinval(tup, td, 6, &isnull);
	if (!isnull)
		row->mapping = DatumGetJsonbPCopy(d);
}

/* build the push source from its row and its views (no SPI here: runs in the cache's context) */
static CfPushSource *
cf_build_push_source(const char *name, CfSourceRow *row, List *views)
{
	CfPushSource *src = palloc0(sizeof(CfPushSource));
	CfDtype		tst = {CF_TIMESTAMP, false};
	ListCell   *lc;
	int			maxfields = 16;
	int			t = 0;

	src->name = pstrdup(name);
	src->kind = "push source";
	src->fields = palloc(sizeof(CfField) * maxfields);
	src->created_field = -1;
	if (row->batch_source)
		src->batch_source = pstrdup(row->batch_source);
	if (OidIsValid(row->relid) && get_rel_name(row->relid) != NULL)
	{
		src->offline_relid = row->relid;
		src->offline_table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(row->relid)),
														get_rel_name(row->relid));
	}
	src->ntargets = list_length(views);
	src->targets = palloc0(sizeof(CfPushTarget) * src->ntargets);
	foreach(lc, views)
	{
		CfView	   *v = (CfView *) lfirst(lc);
		CfPushTarget *tg = &src->targets[t++];

		tg->view = v;
		tg->key_fields = palloc(sizeof(int) * Max(v->nkeys, 1));
		tg->feature_fields = palloc(sizeof(int) * Max(v->nfeatures, 1));
		for (int k = 0; k < v->nkeys; k++)
			tg->key_fields[k] = cf_source_field(src, &maxfields, v->key_names[k], v->key_types[k],
												CF_FIELD_KEY, true);
		for (int f = 0; f < v->nfeatures; f++)
			tg->feature_fields[f] = cf_source_field(src, &maxfields, v->feature_names[f],
													v->feature_types[f], CF_FIELD_FEATURE, true);
	}
	src->ts_field = cf_source_field(src, &maxfields, row->ts_name, tst, CF_FIELD_TIMESTAMP, true);
	if (row->created_name)
		src->created_field = cf_source_field(src, &maxfields, row->created_name, tst,
											 CF_FIELD_CREATED, false);
	for (int i = 0; i < src->nfields; i++)
		src->fields[i].offline_column = cf_mapped_column(row->mapping, src->fields[i].name);
	return src;
}

CfPushSource *
cf_lookup_push_source(const char *name)
{
	CfSourceEntry *entry;
	CfSourceRow row;
	List	   *views;
	CfPushSource *src;
	MemoryContext old;

	cf_cache_refresh();
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("push source \"%s\" does not exist", name)));
	entry = hash_search(cf_sources, name, HASH_FIND, NULL);
	if (entry)
		return entry->source;

	cf_read_source_row(name, &row);
	views = cf_load_views("v.source", name);
	if (views == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("push source \"%s\" is not read by any feature view", name),
				 errhint("Apply a feature view with source => '%s' first.", name)));
	old = MemoryContextSwitchTo(cf_cache_cxt);
	src = cf_build_push_source(name, &row, views);
	MemoryContextSwitchTo(old);
	cf_cache_depend_on(src->offline_relid);
	cf_cache_note_fill();
	entry = hash_search(cf_sources, name, HASH_ENTER, NULL);
	entry->source = src;
	return entry->source;
}

/* ------------------------------------------------------------------------
 * a view's writer
 * ------------------------------------------------------------------------
 */

CfPushSource *
cf_lookup_view_writer(const char *view_name)
{
	CfSourceEntry *entry;
	CfSourceRow row;
	CfView	   *v;
	CfPushSource *src;
	MemoryContext old;

	cf_cache_refresh();
	if (strlen(view_name) < NAMEDATALEN)
	{
		entry = hash_search(cf_writers, view_name, HASH_FIND, NULL);
		if (entry)
			return entry->source;
	}
	v = cf_lookup_view(view_name);
	if (!v->online || !OidIsValid(v->online_relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feature view \"%s\" is not online", view_name),
				 errhint("Apply it with online => true to give it an online table.")));
	/*
	 * The field names Feast's remote online store sends; no batch relation.
	 * A view with a key or feature named "created" has no created field.
	 */
	memset(&row, 0, sizeof(row));
	row.ts_name = "event_timestamp";
	row.created_name = "created";
	for (int i = 0; i < v->nkeys + v->nfeatures; i++)
		if (strcmp(i < v->nkeys ? v->key_names[i] : v->feature_names[i - v->nkeys], "created") == 0)
			row.created_name = NULL;
	old = MemoryContextSwitchTo(cf_cache_cxt);
	src = cf_build_push_source(view_name, &row, list_make1(v));
	src->kind = "feature view";
	MemoryContextSwitchTo(old);
	cf_cache_note_fill();
	entry = hash_search(cf_writers, view_name, HASH_ENTER, NULL);
	entry->source = src;
	return entry->source;
}
