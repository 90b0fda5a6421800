/*-------------------------------------------------------------------------
 * online.c
 *	  feast_get_online_features(features, entity_rows, full_feature_names,
 *	  feature_service): read the latest feature values of some entities
 *	  from the online tables, as Feast's feature server answers them.
 *
 * A call resolves its feature references against the registry cache
 * (registry.c), converts every join key of every entity row once
 * (types.c), and then, for each view asked for, removes duplicate entity
 * keys (a key set of keys.c) and reads all of them with one probe: for a single key, straight
 * through the primary key index (or a cached "key = $1" plan when the
 * caller's rights or row security need the executor); for a batch, one
 * cached plan that joins the unnested key arrays (WITH ORDINALITY) to the
 * online table.  The answer is Feast's column-oriented response, built
 * with pushJsonbValue from the fetched Datums (jsonout.c writes each value).
 *
 * An entity row names each key by its join key or, as Feast's older
 * clients do, by its entity's name when that is unambiguous
 * (cf_resolve_entity_names, cf_find_entity_key); the answer always names
 * the join key.
 *-------------------------------------------------------------------------
 */
#include "router.h"
#include "cfeast.h"
#include "source.h"
#include "keys.h"
#include "version.h"
#include "jsonout.h"
#include "privileges.h"
#include "request.h"


#include "access/genam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cfeast_get_online_features);

bool		cf_direct_read = true;

/* statuses of Feast's serving API */
typedef enum CfStatus
{
	CF_PRESENT,
	CF_NULL_VALUE,
	CF_NOT_FOUND,
	CF_OUTSIDE_MAX_AGE
} CfStatus;

static const char *const cf_status_names[] = {
	"PRESENT", "NULL_VALUE", "NOT_FOUND", "OUTSIDE_MAX_AGE"
};

/* join-key columns and missing rows carry the epoch, as in Feast */
#define CF_EPOCH_RFC3339 "1970-01-01T00:00:00Z"

/*
 * How to probe a view's primary key directly for one entity: the index, the
 * equality procedure and collation of each index column, and the table
 * columns of the features and the event time.
 */
typedef struct CfDirectProbe
{
	Oid			index;
	int		   *index_key;		/* index column -> view key */
	RegProcedure *eqprocs;		/* per index column */
	Oid		   *collations;
	AttrNumber *attnums;		/* features, then event_timestamp */
	Oid		   *atttypes;
	int16	   *typlens;
	bool	   *typbyvals;
	AttrNumber	maxattnum;
} CfDirectProbe;

/* per-view read state, hung on CfView.private_online (in the cache's context) */
typedef struct CfOnlinePlans
{
	SPIPlanPtr	one;			/* WHERE k1 = $1 AND ...: one entity key */
	SPIPlanPtr	many;			/* unnest($1, ...) WITH ORDINALITY joined to the table */
	CfDirectProbe *direct;		/* NULL until built */
	bool		no_direct;		/* the table does not fit a direct probe */
} CfOnlinePlans;

/* one join key of the request: its name, dtype and the value of every entity row */
typedef struct CfReqKey
{
	const char *name;
	CfDtype		dtype;
	const char *view;			/* the first view that needs it, for messages */
	Datum	   *values;			/* [row] */
	/* entity names that stand for it in entity rows (Feast's older form) */
	int			naliases;
	const char **aliases;
	/* entity names of it that cannot (they are another key's name), for hints */
	int			nshadowed;
	const char **shadowed;
} CfReqKey;

/* one view of the request, under one name, and what was read from it */
typedef struct CfReqView
{
	CfView	   *view;
	const char *alias;			/* the view's name, or a service's projection alias */
	char	  **key_cols;		/* entity row column of each view key (projections rename them) */
	int		   *keys;			/* request key index of each view key */
	int			ndistinct;
	int		   *row_distinct;	/* entity row -> distinct key */
	int		   *distinct_row;	/* distinct key -> first entity row with it */
	Datum	  **values;			/* [distinct][feature], event_timestamp last; NULL: no row */
	bool	  **nulls;
	char	  **event_ts;		/* [distinct]: the row's event_timestamp, formatted once */
	int		   *event_ts_len;
	bool		has_cutoff;
	TimestampTz cutoff;			/* now() - ttl: rows older than this are outside max age */
} CfReqView;

/* one feature of the answer */
typedef struct CfReqFeature
{
	int			view;			/* index into CfRequest.views */
	int			feature;		/* index into the view's features */
	char	   *name;			/* output name */
} CfReqFeature;

typedef struct CfRequest
{
	bool		full_names;
	int			nviews;
	int			maxviews;
	CfReqView  *views;
	int			nfeatures;
	int			maxfeatures;
	CfReqFeature *features;
	int			nkeys;
	int			maxkeys;
	CfReqKey   *keys;
	int			nrows;
} CfRequest;

/* ------------------------------------------------------------------------
 * resolving the features asked for
 * ------------------------------------------------------------------------
 */

/* the request's index of the view of "ref" under its alias, added on first use; it must be online */
static int
cf_request_view(CfRequest *req, const CfFeatureRef *ref)
{
	CfView	   *view = ref->view;
	CfReqView  *rv;

	for (int i = 0; i < req->nviews; i++)
		if (req->views[i].view == view && strcmp(req->views[i].alias, ref->alias) == 0)
			return i;
	if (!view->online || view->online_table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feature view \"%s\" is not online", view->name),
				 errdetail("It was applied with online => false, so it has no online table."),
				 errhint("Re-apply it with online => true to serve it, or read it with feast_create_training_set.")));
	if (req->nviews == req->maxviews)
	{
		req->maxviews *= 2;
		req->views = repalloc(req->views, sizeof(CfReqView) * req->maxviews);
	}
	rv = &req->views[req->nviews];
	memset(rv, 0, sizeof(CfReqView));
	rv->view = view;
	rv->alias = ref->alias;
	rv->key_cols = ref->key_cols;
	return req->nviews++;
}

/* append feature "feature" of request view "rv" under "name" */
static void
cf_append_feature(CfRequest *req, int rv, int feature, char *name)
{
	CfReqFeature *f;

	if (req->nfeatures == req->maxfeatures)
	{
		req->maxfeatures *= 2;
		req->features = repalloc(req->features, sizeof(CfReqFeature) * req->maxfeatures);
	}
	f = &req->features[req->nfeatures++];
	f->view = rv;
	f->feature = feature;
	f->name = name;
}

/* the features asked for, each under its view */
static void
cf_request_features(CfRequest *req, ArrayType *features, const char *service)
{
	const CfFeatureList *list = cf_resolve_features(features, service, req->full_names);

	for (int i = 0; i < list->n; i++)
		cf_append_feature(req, cf_request_view(req, &list->refs[i]), list->refs[i].feature,
						  list->refs[i].name);
}

/* add "name" to a list of names unless it is there */
static void
cf_add_name(const char ***list, int *n, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (strcmp((*list)[i], name) == 0)
			return;
	*list = *list ? repalloc(*list, sizeof(char *) * (*n + 1)) : palloc(sizeof(char *));
	(*list)[(*n)++] = name;
}

/*
 * Entity rows may name a key by its entity, as Feast's older clients do
 * ({"driver": [1001]} for join key driver_id), when that is unambiguous: the
 * entity belongs to a view asked for and its name is no join key of the
 * request.  (Whether the join key and the entity name both appear, or two
 * entities of one join key, is checked where the rows are read.)
 */
static void
cf_resolve_entity_names(CfRequest *req)
{
	for (int v = 0; v < req->nviews; v++)
	{
		CfView	   *view = req->views[v].view;

		for (int k = 0; k < view->nkeys; k++)
		{
			CfReqKey   *rk = &req->keys[req->views[v].keys[k]];
			const char *ent = view->key_entities[k];
			bool		is_key = false;

			/* a key a projection reads from another column is named by that column only */
			if (strcmp(ent, rk->name) == 0 || strcmp(rk->name, view->key_names[k]) != 0)
				continue;
			for (int i = 0; i < req->nkeys && !is_key; i++)
				is_key = strcmp(req->keys[i].name, ent) == 0;
			if (is_key)
				cf_add_name(&rk->shadowed, &rk->nshadowed, ent);
			else
				cf_add_name(&rk->aliases, &rk->naliases, ent);
		}
	}
}

/* collect the join keys of every view asked for, in order of first use */
static void
cf_resolve_keys(CfRequest *req)
{
	for (int v = 0; v < req->nviews; v++)
	{
		CfReqView  *rv = &req->views[v];
		CfView	   *view = rv->view;

		rv->keys = palloc(sizeof(int) * Max(view->nkeys, 1));
		for (int k = 0; k < view->nkeys; k++)
		{
			int			i;

			for (i = 0; i < req->nkeys; i++)
				if (strcmp(req->keys[i].name, rv->key_cols[k]) == 0)
					break;
			if (i < req->nkeys)
			{
				CfDtype		a = req->keys[i].dtype;
				CfDtype		b = view->key_types[k];

				if (a.base != b.base || a.is_array != b.is_array)
					ereport(ERROR,
							(errcode(ERRCODE_DATATYPE_MISMATCH),
							 errmsg("join key \"%s\" is %s in feature view \"%s\" but %s in \"%s\"",
									rv->key_cols[k], cf_dtype_name(a), req->keys[i].view,
									cf_dtype_name(b), view->name),
							 errhint("Ask for these views in separate calls.")));
			}
			else
			{
				if (req->nkeys == req->maxkeys)
				{
					req->maxkeys *= 2;
					req->keys = repalloc(req->keys, sizeof(CfReqKey) * req->maxkeys);
				}
				req->keys[i].name = rv->key_cols[k];
				req->keys[i].dtype = view->key_types[k];
				req->keys[i].view = view->name;
				req->keys[i].values = NULL;
				req->keys[i].naliases = 0;
				req->keys[i].aliases = NULL;
				req->keys[i].nshadowed = 0;
				req->keys[i].shadowed = NULL;
				req->nkeys++;
			}
			rv->keys[k] = i;
		}
	}
	cf_resolve_entity_names(req);
	/* a feature must not take a join-key column's name */
	for (int f = 0; f < req->nfeatures; f++)
		for (int k = 0; k < req->nkeys; k++)
			if (strcmp(req->features[f].name, req->keys[k].name) == 0)
			{
				CfReqView  *rv = &req->views[req->features[f].view];
				CfFeatureRef ref = {rv->view, req->features[f].feature, req->features[f].name,
				(char *) rv->alias, rv->key_cols};

				cf_feature_named_like_column(&ref, req->keys[k].name);
			}
}

/* ------------------------------------------------------------------------
 * entity rows
 * ------------------------------------------------------------------------
 */

/* "driver_id, customer_id": the join keys asked for, for messages */
static char *
cf_key_list(CfRequest *req)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int k = 0; k < req->nkeys; k++)
		appendStringInfo(&buf, "%s%s", k ? ", " : "", req->keys[k].name);
	return buf.data;
}

/* the value of key "name" in a JSON object, or NULL */
static JsonbValue *
cf_find_key(JsonbContainer *obj, const char *name)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) name;
	k.val.string.len = strlen(name);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/*
 * The value of join key "rk" in an entity row (row >= 0) or in the column
 * form's object (row < 0): under its name, or under the name of its entity
 * (*field says which); NULL if neither is there.  Both, or two entity names of one key, are
 * refused as ambiguous.
 */
static JsonbValue *
cf_find_entity_key(JsonbContainer *obj, CfReqKey *rk, int row, const char **field)
{
	JsonbValue *kv = cf_find_key(obj, rk->name);
	JsonbValue *found = kv;
	const char *via = NULL;
	char	   *where = row >= 0 ? psprintf("row %d: ", row) : "entity_rows: ";

	for (int a = 0; a < rk->naliases; a++)
	{
		JsonbValue *av = cf_find_key(obj, rk->aliases[a]);

		if (av == NULL)
			continue;
		if (kv != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%sjoin key \"%s\" is given twice: as \"%s\" and as \"%s\", the name of its entity",
							where, rk->name, rk->name, rk->aliases[a]),
					 errhint("Give \"%s\" only.", rk->name)));
		if (found != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%sjoin key \"%s\" is given twice: as \"%s\" and as \"%s\", two entities with that join key",
							where, rk->name, via, rk->aliases[a]),
					 errhint("Give \"%s\" only.", rk->name)));
		found = av;
		via = rk->aliases[a];
	}
	*field = via ? via : rk->name;
	return found;
}

/* raise: join key "rk" is in no entity row / not in the column form */
static void
cf_missing_key(CfRequest *req, CfReqKey *rk, JsonbContainer *obj, int row)
{
	const char *shadow = NULL;
	const char *other = NULL;
	StringInfoData names;

	/* an entity name that is another join key of the request was taken as that key */
	for (int i = 0; i < rk->nshadowed && shadow == NULL; i++)
		if (cf_find_key(obj, rk->shadowed[i]) != NULL)
			shadow = rk->shadowed[i];
	if (shadow)
		for (int k = 0; k < req->nkeys; k++)
			if (strcmp(req->keys[k].name, shadow) == 0)
				other = req->keys[k].view;
	initStringInfo(&names);
	for (int a = 0; a < rk->naliases; a++)
		appendStringInfo(&names, "%s\"%s\"", a ? " or " : "", rk->aliases[a]);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 row >= 0 ? errmsg("row %d: join key \"%s\" is missing", row, rk->name)
			 : errmsg("join key \"%s\" is missing from entity_rows", rk->name),
			 row >= 0 ? errdetail("Every entity row gives every join key of the views asked for: %s.",
								  cf_key_list(req))
			 : errdetail("Entity rows give every join key of the views asked for: %s.", cf_key_list(req)),
			 shadow ? errhint("\"%s\" names the entity of join key \"%s\", but it is also a join key of feature view \"%s\" "
							  "and is read as that; give \"%s\".", shadow, rk->name, other, rk->name)
			 : rk->naliases > 0 ? errhint("Give \"%s\" (or %s, the name of its entity).", rk->name, names.data)
			 : 0));
}

/* convert one entity value; join keys must not be null */
static Datum
cf_key_value(CfReqKey *key, const char *field, JsonbValue *v, int row)
{
	CfValueSite site = {row, field};
	bool		isnull;
	Datum		d;

	if (v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row %d: field \"%s\": expected %s, got null", row, field,
						cf_dtype_name(key->dtype)),
				 errdetail("Join keys must not be null.")));
	d = cf_json_to_datum(v, key->dtype, &site, &isnull);
	return d;
}

/* [{"driver_id": 1001}, ...] */
static void
cf_parse_entity_objects(CfRequest *req, Jsonb *rows)
{
	JsonbIterator *it = JsonbIteratorInit(&rows->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			row = 0;
	bool		only_keys;

	req->nrows = JB_ROOT_COUNT(rows);
	for (int k = 0; k < req->nkeys; k++)
		req->keys[k].values = palloc(sizeof(Datum) * Max(req->nrows, 1));
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if ((row & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("entity row %d: expected a JSON object, got %s", row,
							cf_describe_json(&v))));
		/*
		 * A row of no more fields than join keys, holding this key under its
		 * own name, holds no entity name of it (or lacks another key: refused
		 * below), so the lookups of entity names are skipped.
		 */
		only_keys = JsonContainerSize(v.val.binary.data) <= req->nkeys;
		for (int k = 0; k < req->nkeys; k++)
		{
			const char *field = req->keys[k].name;
			JsonbValue *kv = cf_find_key(v.val.binary.data, field);

			if (req->keys[k].naliases > 0 && (kv == NULL || !only_keys))
				kv = cf_find_entity_key(v.val.binary.data, &req->keys[k], row, &field);

			if (kv == NULL)
				cf_missing_key(req, &req->keys[k], v.val.binary.data, row);
			req->keys[k].values[row] = cf_key_value(&req->keys[k], field, kv, row);
		}
		row++;
	}
}

/* {"driver_id": [1001, 1002], ...}: one array per key, all of one length */
static void
cf_parse_entity_columns(CfRequest *req, Jsonb *rows)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *first = NULL;
	int			nrows = -1;
	char	   *key = NULL;

	/* every column is an array, and all have one length (unused ones too) */
	it = JsonbIteratorInit(&rows->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			int			n;

			if (v.type != jbvBinary || !JsonContainerIsArray(v.val.binary.data))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("entity_rows: field \"%s\": expected an array of values (column form), got %s",
								key, cf_describe_json(&v))));
			n = JsonContainerSize(v.val.binary.data);
			if (nrows < 0)
			{
				nrows = n;
				first = key;
			}
			else if (n != nrows)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("entity_rows: field \"%s\" has %d values, but field \"%s\" has %d",
								key, n, first, nrows),
						 errdetail("In the column form every field holds one value per entity row.")));
		}
	}
	req->nrows = nrows < 0 ? 1 : nrows;

	for (int k = 0; k < req->nkeys; k++)
	{
		CfReqKey   *rk = &req->keys[k];
		const char *field;
		JsonbValue *col = cf_find_entity_key(&rows->root, rk, -1, &field);
		int			row = 0;

		if (col == NULL)
			cf_missing_key(req, rk, &rows->root, -1);
		rk->values = palloc(sizeof(Datum) * Max(req->nrows, 1));
		it = JsonbIteratorInit(col->val.binary.data);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if ((row & 1023) == 1023)
				CHECK_FOR_INTERRUPTS();
			rk->values[row] = cf_key_value(rk, field, &v, row);
			row++;
		}
	}
}

/* convert the join keys of every entity row, in either form */
static void
cf_parse_entity_rows(CfRequest *req, Jsonb *rows)
{
	if (rows == NULL)
	{
		if (req->nkeys > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("entity_rows is null, but the features asked for need join keys: %s",
							cf_key_list(req)),
					 errhint("Pass entity_rows => '{\"%s\": [...]}'.", req->keys[0].name)));
		req->nrows = 1;
		return;
	}
	if (JB_ROOT_IS_SCALAR(rows))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity_rows must be a JSON array of objects or an object of arrays, got a scalar")));
	if (JB_ROOT_IS_ARRAY(rows))
		cf_parse_entity_objects(req, rows);
	else
		cf_parse_entity_columns(req, rows);
}

/* ------------------------------------------------------------------------
 * distinct entity keys per view
 * ------------------------------------------------------------------------
 */

/* view key k of entity row "item" (a CfKeyFetch) */
static Datum
cf_entity_key(void *arg, int64 item, int k)
{
	CfRequest  *req = ((void **) arg)[0];
	CfReqView  *rv = ((void **) arg)[1];

	return req->keys[rv->keys[k]].values[item];
}

/* number the distinct entity keys of one view (one probe each) */
static void
cf_distinct_keys(CfRequest *req, CfReqView *rv)
{
	int			n = req->nrows;
	void	   *arg[2] = {req, rv};
	Oid		   *types;
	CfKeySet   *set;

	rv->row_distinct = palloc(sizeof(int) * Max(n, 1));
	rv->distinct_row = palloc(sizeof(int) * Max(n, 1));
	rv->ndistinct = 0;
	if (n == 0)
		return;
	if (rv->view->nkeys == 0 || n == 1)
	{
		memset(rv->row_distinct, 0, sizeof(int) * n);
		rv->distinct_row[0] = 0;
		rv->ndistinct = 1;
		return;
	}
	types = palloc(sizeof(Oid) * rv->view->nkeys);
	for (int k = 0; k < rv->view->nkeys; k++)
		types[k] = cf_dtype_type_oid(rv->view->key_types[k]);
	set = cf_keyset_create(rv->view->nkeys, types, cf_entity_key, arg, n);
	for (int r = 0; r < n; r++)
	{
		bool		found;
		int64	   *first = cf_keyset_enter(set, r, &found);

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (found)
			rv->row_distinct[r] = rv->row_distinct[*first];
		else
		{
			rv->distinct_row[rv->ndistinct] = r;
			rv->row_distinct[r] = rv->ndistinct++;
		}
	}
	cf_keyset_destroy(set);
}

/* ------------------------------------------------------------------------
 * reading the online tables
 * ------------------------------------------------------------------------
 */

/* "SELECT [u.ord, ]t.f1, ..., t.event_timestamp" */
static void
cf_append_select(StringInfo sql, CfView *view, bool ord)
{
	appendStringInfoString(sql, "SELECT ");
	if (ord)
		appendStringInfoString(sql, "u.ord, ");
	for (int i = 0; i < view->nfeatures; i++)
		appendStringInfo(sql, "t.%s, ", quote_identifier(view->feature_names[i]));
	appendStringInfo(sql, "t.event_timestamp FROM %s t", view->online_table);
}

/* prepare a generic plan (no re-planning per call) and keep it with the cache */
static SPIPlanPtr
cf_prepare(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);

	if (plan == NULL)
		elog(ERROR, "cfeast: preparing \"%s\" failed: %s", sql, SPI_result_code_string(SPI_result));
	cf_cache_keep_plan(plan);
	return plan;
}

/* the probe for one entity key: WHERE k1 = $1 AND k2 = $2 */
static SPIPlanPtr
cf_plan_one(CfView *view)
{
	StringInfoData sql;
	Oid		   *argtypes = palloc(sizeof(Oid) * Max(view->nkeys, 1));

	initStringInfo(&sql);
	cf_append_select(&sql, view, false);
	for (int k = 0; k < view->nkeys; k++)
	{
		argtypes[k] = cf_dtype_type_oid(view->key_types[k]);
		appendStringInfo(&sql, " %s t.%s OPERATOR(pg_catalog.=) $%d", k ? "AND" : "WHERE",
						 quote_identifier(view->key_names[k]), k + 1);
	}
	if (view->nkeys == 0)
		appendStringInfoString(&sql, " LIMIT 1");
	return cf_prepare(sql.data, view->nkeys, argtypes);
}

/* the probe for a batch: the key arrays unnested with their position, joined to the table */
static SPIPlanPtr
cf_plan_many(CfView *view)
{
	StringInfoData sql;
	Oid		   *argtypes = palloc(sizeof(Oid) * view->nkeys);

	initStringInfo(&sql);
	cf_append_select(&sql, view, true);
	appendStringInfoString(&sql, " JOIN ROWS FROM (");
	for (int k = 0; k < view->nkeys; k++)
	{
		CfDtype		at = {view->key_types[k].base, true};

		argtypes[k] = cf_dtype_type_oid(at);
		appendStringInfo(&sql, "%spg_catalog.unnest($%d)", k ? ", " : "", k + 1);
	}
	appendStringInfoString(&sql, ") WITH ORDINALITY AS u(");
	for (int k = 0; k < view->nkeys; k++)
		appendStringInfo(&sql, "k%d, ", k);
	appendStringInfoString(&sql, "ord) ON ");
	for (int k = 0; k < view->nkeys; k++)
		appendStringInfo(&sql, "%st.%s OPERATOR(pg_catalog.=) u.k%d", k ? " AND " : "",
						 quote_identifier(view->key_names[k]), k);
	return cf_prepare(sql.data, view->nkeys, argtypes);
}

/* the view's read state, made on first use */
static CfOnlinePlans *
cf_view_plans(CfView *view)
{
	if (view->private_online == NULL)
		view->private_online = MemoryContextAllocZero(cf_cache_context(), sizeof(CfOnlinePlans));
	return (CfOnlinePlans *) view->private_online;
}

/* keep the values of one fetched row for distinct key d */
static void
cf_keep_row(CfReqView *rv, int d, HeapTuple tup, TupleDesc td, int skip)
{
	Datum	   *values = palloc(sizeof(Datum) * td->natts);
	bool	   *nulls = palloc(sizeof(bool) * td->natts);
	int			nf = rv->view->nfeatures;

	heap_deform_tuple(tup, td, values, nulls);
	rv->values[d] = values + skip;
	rv->nulls[d] = nulls + skip;
	if (!rv->nulls[d][nf])
	{
		rv->event_ts[d] = palloc(CF_TS_LEN);
		rv->event_ts_len[d] = cf_format_timestamp(DatumGetTimestampTz(rv->values[d][nf]),
												  rv->event_ts[d]);
	}
}

/* the distinct values of view key k, as an array for the batch plan */
static ArrayType *
cf_key_array(CfRequest *req, CfReqView *rv, int k)
{
	CfReqKey   *key = &req->keys[rv->keys[k]];
	Datum	   *elems = palloc(sizeof(Datum) * rv->ndistinct);
	Oid			elemtype = cf_dtype_type_oid(key->dtype);
	int16		typlen;
	bool		typbyval;
	char		typalign;

	for (int d = 0; d < rv->ndistinct; d++)
	{
		if ((d & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		elems[d] = key->values[rv->distinct_row[d]];
	}
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return construct_array(elems, rv->ndistinct, elemtype, typlen, typbyval, typalign);
}

/* ------------------------------------------------------------------------
 * the direct probe: one entity, straight through the primary key index
 *
 * A read of one entity is mostly executor start-up when it goes through
 * SPI.  When the caller may SELECT the whole table and no row security
 * applies, the probe opens the primary key index itself, under the same
 * snapshot and lock a plan would take.  Otherwise (and for batches) the
 * cached SPI plans do the work, with all the checks of the executor.
 * ------------------------------------------------------------------------
 */

/* the table column "name" of type "type", or InvalidAttrNumber */
static AttrNumber
cf_column(TupleDesc td, const char *name, Oid type)
{
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->atttypid == type ? att->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/* are the probe's index and columns still those of the table? */
static bool
cf_direct_valid(CfDirectProbe *dp, CfView *view, Relation heap)
{
	TupleDesc	td = RelationGetDescr(heap);

	if (RelationGetPrimaryKeyIndex(heap) != dp->index)
		return false;
	for (int i = 0; i <= view->nfeatures; i++)
	{
		const char *name = i < view->nfeatures ? view->feature_names[i] : "event_timestamp";
		Form_pg_attribute att;

		if (dp->attnums[i] > td->natts)
			return false;
		att = TupleDescAttr(td, dp->attnums[i] - 1);
		if (att->attisdropped || att->atttypid != dp->atttypes[i] ||
			strcmp(NameStr(att->attname), name) != 0)
			return false;
	}
	return true;
}

/* work out the probe of a view, or NULL when its table does not fit */
static CfDirectProbe *
cf_direct_build(CfView *view, Relation heap)
{
	TupleDesc	td = RelationGetDescr(heap);
	Oid			pk = RelationGetPrimaryKeyIndex(heap);
	CfDirectProbe *dp;
	Relation	index;
	bool		ok = true;

	if (!OidIsValid(pk) || heap->rd_rel->relkind != RELKIND_RELATION)
		return NULL;
	dp = MemoryContextAllocZero(cf_cache_context(), sizeof(CfDirectProbe));
	dp->index = pk;
	dp->index_key = MemoryContextAlloc(cf_cache_context(), sizeof(int) * view->nkeys);
	dp->eqprocs = MemoryContextAlloc(cf_cache_context(), sizeof(RegProcedure) * view->nkeys);
	dp->collations = MemoryContextAlloc(cf_cache_context(), sizeof(Oid) * view->nkeys);
	dp->attnums = MemoryContextAlloc(cf_cache_context(), sizeof(AttrNumber) * (view->nfeatures + 1));
	dp->atttypes = MemoryContextAlloc(cf_cache_context(), sizeof(Oid) * (view->nfeatures + 1));
	dp->typlens = MemoryContextAlloc(cf_cache_context(), sizeof(int16) * (view->nfeatures + 1));
	dp->typbyvals = MemoryContextAlloc(cf_cache_context(), sizeof(bool) * (view->nfeatures + 1));

	index = index_open(pk, AccessShareLock);
	if (index->rd_rel->relam != BTREE_AM_OID ||
		IndexRelationGetNumberOfKeyAttributes(index) != view->nkeys)
		ok = false;
	for (int j = 0; ok && j < view->nkeys; j++)
	{
		AttrNumber	attnum = index->rd_index->indkey.values[j];
		const char *name = attnum > 0 ? NameStr(TupleDescAttr(td, attnum - 1)->attname) : "";
		int			k;
		Oid			op;

		for (k = 0; k < view->nkeys; k++)
			if (strcmp(view->key_names[k], name) == 0)
				break;
		if (k == view->nkeys || index->rd_opcintype[j] != cf_dtype_type_oid(view->key_types[k]))
		{
			ok = false;
			break;
		}
		op = get_opfamily_member(index->rd_opfamily[j], index->rd_opcintype[j],
								 index->rd_opcintype[j], BTEqualStrategyNumber);
		dp->index_key[j] = k;
		dp->eqprocs[j] = OidIsValid(op) ? get_opcode(op) : InvalidOid;
		dp->collations[j] = index->rd_indcollation[j];
		ok = OidIsValid(dp->eqprocs[j]);
	}
	index_close(index, NoLock);
	for (int i = 0; ok && i <= view->nfeatures; i++)
	{
		bool		feature = i < view->nfeatures;
		Oid			type = feature ? cf_dtype_type_oid(view->feature_types[i]) : TIMESTAMPTZOID;
		const char *name = feature ? view->feature_names[i] : "event_timestamp";
		AttrNumber	attnum = cf_column(td, name, type);

		if (attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("online table %s has no column \"%s\" of type %s",
							view->online_table, name, format_type_be(type)),
					 errdetail("The table was changed behind the registry's back."),
					 errhint("Re-apply feature view \"%s\" to repair its online table.", view->name)));
		else
		{
			dp->attnums[i] = attnum;
			dp->atttypes[i] = type;
			get_typlenbyval(type, &dp->typlens[i], &dp->typbyvals[i]);
			dp->maxattnum = Max(dp->maxattnum, attnum);
		}
	}
	return ok ? dp : NULL;
}

/* copy the features and event time of the row in "slot" for distinct key 0 */
static void
cf_keep_slot(CfReqView *rv, CfDirectProbe *dp, TupleTableSlot *slot)
{
	int			nf = rv->view->nfeatures;
	Datum	   *values = palloc(sizeof(Datum) * (nf + 1));
	bool	   *nulls = palloc(sizeof(bool) * (nf + 1));

	slot_getsomeattrs(slot, dp->maxattnum);
	for (int i = 0; i <= nf; i++)
	{
		int			a = dp->attnums[i] - 1;

		nulls[i] = slot->tts_isnull[a];
		values[i] = nulls[i] ? (Datum) 0 :
			datumCopy(slot->tts_values[a], dp->typbyvals[i], dp->typlens[i]);
	}
	rv->values[0] = values;
	rv->nulls[0] = nulls;
	if (!nulls[nf])
	{
		rv->event_ts[0] = palloc(CF_TS_LEN);
		rv->event_ts_len[0] = cf_format_timestamp(DatumGetTimestampTz(values[nf]), rv->event_ts[0]);
	}
}

/* probe the primary key for the one distinct key; false: use the SPI plan instead */
static bool
cf_read_direct(CfRequest *req, CfReqView *rv, CfOnlinePlans *plans)
{
	CfView	   *view = rv->view;
	Relation	heap;
	Relation	index;
	CfDirectProbe *dp = plans->direct;
	ScanKeyData *skeys;
	TupleTableSlot *slot;
	IndexScanDesc scan;

	if (plans->no_direct || !ActiveSnapshotSet() || !OidIsValid(view->online_relid) ||
		pg_class_aclcheck(view->online_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(view->online_relid, InvalidOid, true) == RLS_ENABLED)
		return false;
	heap = try_table_open(view->online_relid, AccessShareLock);
	if (heap == NULL)
		return false;
	if (dp == NULL || !cf_direct_valid(dp, view, heap))
		dp = plans->direct = cf_direct_build(view, heap);
	if (dp == NULL)
	{
		plans->no_direct = true;
		table_close(heap, NoLock);
		return false;
	}
	index = index_open(dp->index, AccessShareLock);
	skeys = palloc(sizeof(ScanKeyData) * view->nkeys);
	for (int j = 0; j < view->nkeys; j++)
		ScanKeyEntryInitialize(&skeys[j], 0, j + 1, BTEqualStrategyNumber, InvalidOid,
							   dp->collations[j], dp->eqprocs[j],
							   req->keys[rv->keys[dp->index_key[j]]].values[rv->distinct_row[0]]);
	slot = table_slot_create(heap, NULL);
	scan = index_beginscan(heap, index, GetActiveSnapshot(), view->nkeys, 0);
	index_rescan(scan, skeys, view->nkeys, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
		cf_keep_slot(rv, dp, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(index, NoLock);
	table_close(heap, NoLock);
	return true;
}

/* one probe for all distinct keys of a view */
static void
cf_read_view(CfRequest *req, CfReqView *rv)
{
	CfView	   *view = rv->view;
	CfOnlinePlans *plans = cf_view_plans(view);
	bool		many = view->nkeys > 0 && rv->ndistinct > 1;
	Datum	   *args = palloc(sizeof(Datum) * Max(view->nkeys, 1));
	SPIPlanPtr	plan;
	int			rc;

	rv->values = palloc0(sizeof(Datum *) * Max(rv->ndistinct, 1));
	rv->nulls = palloc0(sizeof(bool *) * Max(rv->ndistinct, 1));
	rv->event_ts = palloc0(sizeof(char *) * Max(rv->ndistinct, 1));
	rv->event_ts_len = palloc0(sizeof(int) * Max(rv->ndistinct, 1));
	if (rv->ndistinct == 0)
		return;
	if (view->has_ttl)
	{
		TimestampTz now = GetCurrentTransactionStartTimestamp();

		rv->has_cutoff = true;
		/* the ttl is a fixed length (a day is 24 hours), exactly as the point-in-time join takes it */
		rv->cutoff = cf_minus_ttl(now, &view->ttl);
	}
	if (many)
	{
		if (plans->many == NULL)
			plans->many = cf_plan_many(view);
		plan = plans->many;
		for (int k = 0; k < view->nkeys; k++)
			args[k] = PointerGetDatum(cf_key_array(req, rv, k));
	}
	else
	{
		if (view->nkeys > 0 && cf_direct_read && cf_read_direct(req, rv, plans))
			return;
		if (plans->one == NULL)
			plans->one = cf_plan_one(view);
		plan = plans->one;
		for (int k = 0; k < view->nkeys; k++)
			args[k] = req->keys[rv->keys[k]].values[rv->distinct_row[0]];
	}
	rc = SPI_execute_plan(plan, args, NULL, true, many ? 0 : 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "cfeast: reading %s failed: %s", view->online_table, SPI_result_code_string(rc));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		int			d = 0;

		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (many)
		{
			bool		isnull;

			d = (int) DatumGetInt64(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull)) - 1;
		}
		cf_keep_row(rv, d, tup, SPI_tuptable->tupdesc, many ? 1 : 0);
	}
}

/* read view v, as its table's owner if column grants are all the caller has (privileges.c) */
static void
cf_read_view_granted(CfRequest *req, int v)
{
	bool	   *wanted = palloc0(sizeof(bool) * Max(req->views[v].view->nfeatures, 1));
	CfPrivSwitch sw;

	for (int i = 0; i < req->nfeatures; i++)
		if (req->features[i].view == v)
			wanted[req->features[i].feature] = true;
	cf_priv_begin_online_read(req->views[v].view, wanted, &sw);
	cf_read_view(req, &req->views[v]);
	cf_priv_end(&sw);
}

/* ------------------------------------------------------------------------
 * the response
 * ------------------------------------------------------------------------
 */

/* the status of a feature for distinct key d of a view */
static CfStatus
cf_status(CfReqView *rv, int d, int feature, int nfeatures)
{
	bool	   *nulls = rv->nulls[d];

	if (nulls == NULL)
		return CF_NOT_FOUND;
	if (rv->has_cutoff && !nulls[nfeatures] &&
		DatumGetTimestampTz(rv->values[d][nfeatures]) < rv->cutoff)
		return CF_OUTSIDE_MAX_AGE;
	return nulls[feature] ? CF_NULL_VALUE : CF_PRESENT;
}

/* append a status name */
static void
cf_push_status(JsonbParseState **st, CfStatus s)
{
	cf_jsonb_string(st, cf_status_names[s], strlen(cf_status_names[s]));
}

/* {"values": [...], "statuses": [...], "event_timestamps": [...]} of a join key */
static void
cf_push_key_result(JsonbParseState **st, CfRequest *req, CfReqKey *key)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	cf_jsonb_key(st, "values");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
	{
		if ((r & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		cf_jsonb_datum(st, key->values[r], key->dtype);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	cf_jsonb_key(st, "statuses");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
		cf_push_status(st, CF_PRESENT);
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	cf_jsonb_key(st, "event_timestamps");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
		cf_jsonb_string(st, CF_EPOCH_RFC3339, strlen(CF_EPOCH_RFC3339));
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* the same for a feature */
static void
cf_push_feature_result(JsonbParseState **st, CfRequest *req, CfReqFeature *f)
{
	CfReqView  *rv = &req->views[f->view];
	int			nf = rv->view->nfeatures;
	CfDtype		t = rv->view->feature_types[f->feature];

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	cf_jsonb_key(st, "values");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
	{
		int			d = rv->row_distinct[r];

		if ((r & 1023) == 1023)
			CHECK_FOR_INTERRUPTS();
		if (cf_status(rv, d, f->feature, nf) == CF_PRESENT)
			cf_jsonb_datum(st, rv->values[d][f->feature], t);
		else
			cf_jsonb_null(st);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	cf_jsonb_key(st, "statuses");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
		cf_push_status(st, cf_status(rv, rv->row_distinct[r], f->feature, nf));
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	cf_jsonb_key(st, "event_timestamps");
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int r = 0; r < req->nrows; r++)
	{
		int			d = rv->row_distinct[r];

		if (rv->event_ts[d] == NULL)
			cf_jsonb_string(st, CF_EPOCH_RFC3339, strlen(CF_EPOCH_RFC3339));
		else
			cf_jsonb_string(st, rv->event_ts[d], rv->event_ts_len[d]);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* the whole answer: metadata, then one result per join key and feature */
static JsonbValue *
cf_build_response(CfRequest *req)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	cf_jsonb_key(&st, "metadata");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	cf_jsonb_key(&st, "feature_names");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int k = 0; k < req->nkeys; k++)
		cf_jsonb_string(&st, req->keys[k].name, strlen(req->keys[k].name));
	for (int f = 0; f < req->nfeatures; f++)
		cf_jsonb_string(&st, req->features[f].name, strlen(req->features[f].name));
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	cf_jsonb_key(&st, "results");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (int k = 0; k < req->nkeys; k++)
		cf_push_key_result(&st, req, &req->keys[k]);
	for (int f = 0; f < req->nfeatures; f++)
	{
		if ((f & 63) == 63)
			CHECK_FOR_INTERRUPTS();
		cf_push_feature_result(&st, req, &req->features[f]);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	return pushJsonbValue(&st, WJB_END_OBJECT, NULL);
}

/* ------------------------------------------------------------------------
 * SQL-callable
 * ------------------------------------------------------------------------
 */

/* an empty request */
static void
cf_request_init(CfRequest *req, bool full_names)
{
	memset(req, 0, sizeof(CfRequest));
	req->full_names = full_names;
	req->maxviews = 4;
	req->views = palloc(sizeof(CfReqView) * req->maxviews);
	req->maxfeatures = 16;
	req->features = palloc(sizeof(CfReqFeature) * req->maxfeatures);
	req->maxkeys = 4;
	req->keys = palloc(sizeof(CfReqKey) * req->maxkeys);
}

/* resolve, parse, read, answer (in the caller's context "caller") */
static pg_noinline Jsonb *
cf_get_online(ArrayType *features, Jsonb *rows, bool full_names, const char *service,
			  MemoryContext caller)
{
	CfRequest	req;
	JsonbValue *answer;

	cf_request_init(&req, full_names);
	cf_request_features(&req, features, service);
	cf_resolve_keys(&req);
	cf_parse_entity_rows(&req, rows);
	for (int v = 0; v < req.nviews; v++)
	{
		CHECK_FOR_INTERRUPTS();
		cf_distinct_keys(&req, &req.views[v]);
		cf_read_view_granted(&req, v);
	}
	answer = cf_build_response(&req);
	MemoryContextSwitchTo(caller);
	return JsonbValueToJsonb(answer);
}

typedef struct CfOnlineCall
{
	ArrayType  *features;
	Jsonb	   *rows;
	bool		full_names;
	char	   *service;
	Jsonb	   *result;			/* out, in the caller's context */
} CfOnlineCall;

static void
cf_get_online_body(void *arg, MemoryContext caller)
{
	CfOnlineCall *call = (CfOnlineCall *) arg;

	call->result = cf_get_online(call->features, call->rows, call->full_names, call->service, caller);
}

/*
 * feast_get_online_features(features text[], entity_rows jsonb,
 *     full_feature_names boolean, feature_service text) RETURNS jsonb
 */
Datum
cfeast_get_online_features(PG_FUNCTION_ARGS)
{
	if (cf_router_active())
		PG_RETURN_JSONB_P(cf_router_read(fcinfo));
	PG_RETURN_JSONB_P(cf_online_local(fcinfo));
}

/* the read from this database's own online tables (router.c reads here for errors) */
Jsonb *
cf_online_local(FunctionCallInfo fcinfo)
{
	ArrayType  *features = PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0);
	Jsonb	   *rows = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);
	bool		full_names = PG_ARGISNULL(2) ? false : PG_GETARG_BOOL(2);
	char	   *service = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	CfOnlineCall call;
	Jsonb	   *result;

	call.features = features;
	call.rows = rows;
	call.full_names = full_names;
	call.service = service;
	/* work memory is SPI's procedure context, freed when the call ends */
	cf_registry_call(cf_get_online_body, &call);
	result = call.result;
	return result;
}
