/*-------------------------------------------------------------------------
 * request.c
 *	  Feature references ("view:feature") and feature services, parsed,
 *	  looked up and checked in one place for online reads, training sets
 *	  and range retrieval, with one message per mistake.
 *
 * A request names features either as a text[] of "view:feature"
 * references or as a feature service, whose references may also name a
 * whole view ("view": all of its features, in their order).  Output names
 * are the feature names, or "view__feature" with full_feature_names.
 *
 * A service may also rename (Feast's with_name and with_join_key_map):
 * its projections ({"alias": {"feature_view": "view", "join_key_map":
 * {"view_key": "entity_column"}}}, checked and filled in at apply) let a
 * reference name an alias instead of a view.  "origin:temperature" reads
 * feature temperature of the projected view, is named origin__temperature
 * with full_feature_names, and its view's key location_id is read from
 * the entity rows' column origin_id.  One view may be read under several
 * aliases (origin and destination of one location view); the readers
 * group features by alias, not by view.
 *
 * A resolved request is kept in the registry cache's memory, keyed by the
 * text[] as sent (byte for byte) or the service name, and by
 * full_feature_names, so a read that names the same features as an
 * earlier one skips the look-ups and checks.  A reset callback on that
 * context forgets them when the registry changes.  Errors are never kept:
 * a request that fails is resolved (and fails) again next time.
 *-------------------------------------------------------------------------
 */
#include "request.h"

#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

/* a resolved request, kept for the next one that names its features alike */
typedef struct CfResolved
{
	struct CfResolved *next;
	uint32		hash;
	bool		service;		/* key: a service name; else a text[] as sent */
	bool		full_names;
	int			keylen;
	char	   *key;
	CfFeatureList list;
} CfResolved;

#define CF_MAX_RESOLVED 64

static bool cf_resolved_ready = false;
static CfResolved *cf_resolved = NULL;
static int	cf_nresolved = 0;

/* the hint of every naming mistake */
#define CF_FULL_NAMES_HINT "Pass full_feature_names => true to name features view__feature."

/* ------------------------------------------------------------------------
 * messages
 * ------------------------------------------------------------------------
 */

char *
cf_feature_ref_text(const CfFeatureRef *ref)
{
	return psprintf("%s:%s", ref->alias, ref->view->feature_names[ref->feature]);
}

void
cf_feature_named_like_column(const CfFeatureRef *ref, const char *column)
{
	ereport(ERROR,
			(errcode(ERRCODE_DUPLICATE_COLUMN),
			 errmsg("feature \"%s\" would be named like entity column \"%s\"",
					cf_feature_ref_text(ref), column),
			 errhint(CF_FULL_NAMES_HINT)));
}

static void
cf_no_features(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("no features requested"),
			 errhint("Pass features => ARRAY['view:feature', ...] or feature_service => 'name'.")));
}

static void
cf_invalid_ref(const char *ref)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid feature reference %s", ref ? quote_literal_cstr(ref) : "NULL"),
			 errhint("Feature references are written \"view:feature\".")));
}

/* "a, b, c" (the first 20, then "..."), for messages */
static char *
cf_feature_names(CfView *view)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < view->nfeatures && i < 20; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", view->feature_names[i]);
	if (view->nfeatures > 20)
		appendStringInfoString(&buf, ", ...");
	return buf.data;
}

/* ------------------------------------------------------------------------
 * resolving
 * ------------------------------------------------------------------------
 */

/* split "view:feature" (or "view" when bare is allowed: feature NULL) */
static bool
cf_split_ref(const char *ref, bool bare, char **view, char **feature)
{
	const char *colon = strchr(ref, ':');

	if (colon == NULL)
	{
		*view = pstrdup(ref);
		*feature = NULL;
		return bare && ref[0] != '\0';
	}
	if (colon == ref || colon[1] == '\0' || strchr(colon + 1, ':') != NULL)
		return false;
	*view = pnstrdup(ref, colon - ref);
	*feature = pstrdup(colon + 1);
	return true;
}

/* the index of "feature" in "view", or 42704 */
static int
cf_view_feature(CfView *view, const char *feature, const char *service)
{
	for (int i = 0; i < view->nfeatures; i++)
		if (strcmp(view->feature_names[i], feature) == 0)
			return i;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("feature \"%s\" of view \"%s\" does not exist", feature, view->name),
			 service ? errdetail("Feature service \"%s\" names it; the view's features are: %s.",
								 service, cf_feature_names(view))
			 : errdetail("Its features are: %s.", cf_feature_names(view))));
	return -1;					/* not reached */
}

/* how a reference reads its view: under which name, and from which entity row columns */
typedef struct CfProjection
{
	char	   *alias;
	char	  **key_cols;
} CfProjection;

/* add one feature; neither it nor its output name may be there already */
static void
cf_add_feature(CfFeatureList *list, CfView *view, int feature, bool full_names,
			   const CfProjection *proj)
{
	const char *fname = view->feature_names[feature];
	CfFeatureRef *ref;

	list->refs = list->n == 0 ? palloc(sizeof(CfFeatureRef))
		: repalloc(list->refs, sizeof(CfFeatureRef) * (list->n + 1));
	ref = &list->refs[list->n++];
	ref->view = view;
	ref->feature = feature;
	ref->alias = proj->alias;
	ref->key_cols = proj->key_cols;
	ref->name = full_names ? psprintf("%s__%s", proj->alias, fname) : pstrdup(fname);
	for (int i = 0; i < list->n - 1; i++)
	{
		CfFeatureRef *other = &list->refs[i];

		if (other->view == view && other->feature == feature && strcmp(other->alias, ref->alias) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("feature \"%s\" is requested twice", cf_feature_ref_text(ref))));
		if (strcmp(other->name, ref->name) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("features \"%s\" and \"%s\" would both be named \"%s\"",
							cf_feature_ref_text(other), cf_feature_ref_text(ref), ref->name),
					 errhint(CF_FULL_NAMES_HINT)));
	}
}

/* the value of key "name" in JSON object "obj", or NULL */
static JsonbValue *
cf_json_member(JsonbContainer *obj, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/* a stored projection that does not fit the registry any more (apply keeps them fitting) */
static void
cf_bad_projection(const char *service, const char *alias, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("projection \"%s\" of feature service \"%s\" %s", alias, service, what),
			 errhint("Re-apply the feature service.")));
}

/*
 * The view that "name" (in a reference) reads, and how: a projection of
 * service "service" when its projections have that alias, else the view of
 * that name under its own name and keys.
 */
static CfView *
cf_projection_view(const char *name, const char *service, Jsonb *projections, CfProjection *proj)
{
	JsonbValue *spec = NULL;
	JsonbValue *jv;
	JsonbContainer *map = NULL;
	CfView	   *view;
	int			nmapped = 0;

	if (projections != NULL && JB_ROOT_IS_OBJECT(projections))
		spec = cf_json_member(&projections->root, name);
	proj->alias = pstrdup(name);
	if (spec == NULL)
	{
		view = cf_lookup_view(name);
		proj->key_cols = view->key_names;
		return view;
	}
	if (spec->type != jbvBinary || !JsonContainerIsObject(spec->val.binary.data))
		cf_bad_projection(service, name, "is not a JSON object");
	jv = cf_json_member(spec->val.binary.data, "feature_view");
	if (jv != NULL && jv->type != jbvString)
		cf_bad_projection(service, name, "has a \"feature_view\" that is not a string");
	view = cf_lookup_view(jv ? pnstrdup(jv->val.string.val, jv->val.string.len) : name);
	jv = cf_json_member(spec->val.binary.data, "join_key_map");
	if (jv != NULL && jv->type == jbvBinary && JsonContainerIsObject(jv->val.binary.data))
		map = jv->val.binary.data;
	else if (jv != NULL && jv->type != jbvNull)
		cf_bad_projection(service, name, "has a \"join_key_map\" that is not a JSON object");
	proj->key_cols = palloc(sizeof(char *) * Max(view->nkeys, 1));
	for (int k = 0; k < view->nkeys; k++)
	{
		JsonbValue *col = map ? cf_json_member(map, view->key_names[k]) : NULL;

		if (col == NULL)
			proj->key_cols[k] = view->key_names[k];
		else if (col->type != jbvString)
			cf_bad_projection(service, name, "maps a join key to something other than a column name");
		else
		{
			proj->key_cols[k] = pnstrdup(col->val.string.val, col->val.string.len);
			nmapped++;
		}
	}
	if (map != NULL && (int) JsonContainerSize(map) != nmapped)
		cf_bad_projection(service, name,
						  psprintf("maps a join key that feature view \"%s\" does not have", view->name));
	return view;
}

/* add "view:feature", or all of a view's features when feature is NULL ("view" may be an alias) */
static void
cf_add_ref(CfFeatureList *list, const char *viewname, const char *feature, const char *service,
		   Jsonb *projections, bool full_names)
{
	CfProjection proj;
	CfView	   *view = cf_projection_view(viewname, service, projections, &proj);

	if (feature != NULL)
		cf_add_feature(list, view, cf_view_feature(view, feature, service), full_names, &proj);
	else
		for (int i = 0; i < view->nfeatures; i++)
			cf_add_feature(list, view, i, full_names, &proj);
}

/* the references and projections of feature service "name" */
static ArrayType *
cf_service_refs(const char *name, Jsonb **projections)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	Datum		proj;

	args[0] = CStringGetTextDatum(name);
	if (SPI_execute_with_args("SELECT s.features, s.projections FROM feast.feature_services AS s "
							  " WHERE s.name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature service \"%s\" does not exist", name)));
	proj = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*projections = isnull ? NULL : DatumGetJsonbPCopy(proj);
	return DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
												&isnull));
}

/* resolve and check, without the cache */
static void
cf_resolve_uncached(CfFeatureList *list, ArrayType *features, const char *service, bool full_names)
{
	Datum	   *refs;
	bool	   *nulls;
	int			nrefs;
	Jsonb	   *projections = NULL;

	deconstruct_array(service ? cf_service_refs(service, &projections) : features, TEXTOID, -1, false,
					  TYPALIGN_INT, &refs, &nulls, &nrefs);
	for (int i = 0; i < nrefs; i++)
	{
		char	   *ref = nulls[i] ? NULL : TextDatumGetCString(refs[i]);
		char	   *view;
		char	   *feature;

		if (ref == NULL || !cf_split_ref(ref, service != NULL, &view, &feature))
		{
			if (service)
				elog(ERROR, "feature service \"%s\" holds an invalid reference %s", service,
					 ref ? quote_literal_cstr(ref) : "NULL");
			cf_invalid_ref(ref);
		}
		cf_add_ref(list, view, feature, service, projections, full_names);
	}
	if (list->n == 0)
		cf_no_features();
}

/* ------------------------------------------------------------------------
 * the cache of resolved requests
 * ------------------------------------------------------------------------
 */

/* the registry cache was dropped, and the resolved requests with it */
static void
cf_resolved_reset(void *arg)
{
	cf_resolved_ready = false;
	cf_resolved = NULL;
	cf_nresolved = 0;
}

/* a resolved request kept, if it can be, for the next one alike */
static const CfFeatureList *
cf_remember(const CfFeatureList *list, const char *key, int keylen, uint32 hash, bool service,
			bool full_names)
{
	MemoryContext cxt = cf_cache_context();
	MemoryContext old;
	CfResolved *r;

	if (!cf_resolved_ready)
	{
		MemoryContextCallback *cb = MemoryContextAllocZero(cxt, sizeof(MemoryContextCallback));

		cb->func = cf_resolved_reset;
		MemoryContextRegisterResetCallback(cxt, cb);
		cf_resolved_ready = true;
	}
	if (cf_nresolved >= CF_MAX_RESOLVED)
		return list;
	old = MemoryContextSwitchTo(cxt);
	r = palloc(sizeof(CfResolved));
	r->hash = hash;
	r->service = service;
	r->full_names = full_names;
	r->keylen = keylen;
	r->key = palloc(keylen);
	memcpy(r->key, key, keylen);
	r->list.n = list->n;
	r->list.refs = palloc(sizeof(CfFeatureRef) * list->n);
	for (int i = 0; i < list->n; i++)
	{
		CfFeatureRef *ref = &r->list.refs[i];

		*ref = list->refs[i];
		ref->name = pstrdup(ref->name);
		/* the refs of one alias share their alias and key columns, and keep sharing them */
		if (i > 0 && ref->alias == list->refs[i - 1].alias)
		{
			ref->alias = r->list.refs[i - 1].alias;
			ref->key_cols = r->list.refs[i - 1].key_cols;
			continue;
		}
		ref->alias = pstrdup(ref->alias);
		if (ref->key_cols != ref->view->key_names)
		{
			char	  **cols = palloc(sizeof(char *) * Max(ref->view->nkeys, 1));

			for (int k = 0; k < ref->view->nkeys; k++)
				cols[k] = pstrdup(ref->key_cols[k]);
			ref->key_cols = cols;
		}
	}
	r->next = cf_resolved;
	cf_resolved = r;
	cf_nresolved++;
	MemoryContextSwitchTo(old);
	return &r->list;
}

const CfFeatureList *
cf_resolve_features(ArrayType *features, const char *service, bool full_names)
{
	const char *key;
	int			keylen;
	uint32		hash;
	CfFeatureList *list;

	if (features != NULL && service != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give either features or feature_service, not both")));
	if (features == NULL && service == NULL)
		cf_no_features();
	key = service ? service : (const char *) features;
	keylen = service ? strlen(service) : VARSIZE(features);
	hash = hash_bytes((const unsigned char *) key, keylen) ^ (service ? 1 : 0) ^ (full_names ? 2 : 0);
	/* a registry change since the last call drops the cache (and the kept requests) here */
	(void) cf_cache_context();
	if (cf_resolved_ready)
		for (CfResolved *r = cf_resolved; r != NULL; r = r->next)
			if (r->hash == hash && r->keylen == keylen && r->service == (service != NULL) &&
				r->full_names == full_names && memcmp(r->key, key, keylen) == 0)
				return &r->list;
	list = palloc0(sizeof(CfFeatureList));
	cf_resolve_uncached(list, features, service, full_names);
	return cf_remember(list, key, keylen, hash, service != NULL, full_names);
}
