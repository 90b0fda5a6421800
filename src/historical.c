/*-------------------------------------------------------------------------
 * historical.c
 *	  Point-in-time joins: feast_historical_features_sql builds one readable
 *	  SELECT; feast_create_training_set runs it into a table.
 *
 * The SELECT numbers the entity rows once (a MATERIALIZED CTE), hands their
 * keys and timestamps to feast._point_in_time_join() as arrays, and joins
 * each view's answer back by row number.  feast._point_in_time_join() is an
 * as-of join in C whose cost grows like reading the source once plus
 * sorting the entity rows:
 *
 *	 1. sort the entity rows by (key tuple, time) and index the key tuples;
 *	 2. stream the source rows once (executor -> our DestReceiver); a row with
 *		time t can only answer entity rows of its key with time >= t, so it
 *		goes to the "bucket" of the first such entity row (binary search),
 *		and each bucket keeps only its latest (event, created) row;
 *	 3. walk each key's entity rows in time order carrying the latest row
 *		seen so far (a prefix maximum); the ttl bound is checked last, since
 *		if the latest row is too old, every other candidate is older still.
 *
 * With filter_by_created_timestamp a row may only answer entity rows with
 * time >= max(event, created); bucketing by that value keeps step 3 exact.
 *-------------------------------------------------------------------------
 */
#include "historical.h"
#include "keys.h"
#include "version.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/int.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "tcop/dest.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(cfeast_historical_features_sql);
PG_FUNCTION_INFO_V1(cfeast_range_features_sql);
PG_FUNCTION_INFO_V1(cfeast_create_training_set);
PG_FUNCTION_INFO_V1(cfeast_point_in_time_join);

/* ------------------------------------------------------------------------
 * small helpers shared with materialize.c
 * ------------------------------------------------------------------------
 */

char *
cf_timestamptz_literal(TimestampTz ts)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		return "'-infinity'::pg_catalog.timestamptz";
	if (TIMESTAMP_IS_NOEND(ts))
		return "'infinity'::pg_catalog.timestamptz";
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR, (errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
						errmsg("timestamp out of range")));
	return psprintf("'%04d-%02d-%02d %02d:%02d:%02d.%06d+00%s'::pg_catalog.timestamptz",
					tm.tm_year > 0 ? tm.tm_year : -(tm.tm_year - 1), tm.tm_mon, tm.tm_mday,
					tm.tm_hour, tm.tm_min, tm.tm_sec, (int) fsec, tm.tm_year > 0 ? "" : " BC");
}

/* ------------------------------------------------------------------------
 * the batch source of a view
 * ------------------------------------------------------------------------
 */

/* the type of column "col" of the source relation, or an error naming it */
static Oid
cf_source_column_type(CfSourceSpec *s, const char *col, const char *what)
{
	AttrNumber	att = get_attnum(s->relid, col);

	if (att == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" (%s of feature view \"%s\") does not exist in %s",
						col, what, s->view->name, s->relation),
				 errhint("Re-apply batch source \"%s\" or the feature view to match the relation.",
						 s->batch_name)));
	return get_atttype(s->relid, att);
}

static const char *cf_batch_source_sql =
"SELECT b.name, b.relation::pg_catalog.oid, b.timestamp_field, b.created_timestamp_column, "
"       b.field_mapping "
"  FROM feast._view_batch_source($1) AS b";

CfSourceSpec *
cf_source_spec(CfView *view)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	CfSourceSpec *s = palloc0(sizeof(CfSourceSpec));
	TupleDesc	td;
	HeapTuple	tup;
	bool		isnull;
	Datum		d;
	Jsonb	   *mapping = NULL;
	char	   *nsp;
	char	   *rel;

	args[0] = CStringGetTextDatum(view->name);
	if (SPI_execute_with_args(cf_batch_source_sql, 1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed");
	td = SPI_tuptable->tupdesc;
	tup = SPI_processed > 0 ? SPI_tuptable->vals[0] : NULL;
	if (tup == NULL || SPI_getvalue(tup, td, 1) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feature view \"%s\" has no batch source to read offline rows from", view->name),
				 errdetail("Its source \"%s\" is a push source without a batch source.", view->source),
				 errhint("Apply the push source with a batch source.")));
	s->view = view;
	s->batch_name = SPI_getvalue(tup, td, 1);
	s->relid = DatumGetObjectId(SPI_getbinval(tup, td, 2, &isnull));
	nsp = get_namespace_name(get_rel_namespace(s->relid));
	rel = get_rel_name(s->relid);
	if (nsp == NULL || rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("the relation of batch source \"%s\" no longer exists", s->batch_name),
				 errhint("Re-apply the batch source with its new relation.")));
	s->relation = quote_qualified_identifier(nsp, rel);
	s->ts_col = SPI_getvalue(tup, td, 3);
	s->created_col = SPI_getvalue(tup, td, 4);
	d = SPI_getbinval(tup, td, 5, &isnull);
	if (!isnull)
		mapping = DatumGetJsonbPCopy(d);

	s->ts_type = cf_source_column_type(s, s->ts_col, "timestamp_field");
	if (s->created_col)
		s->created_type = cf_source_column_type(s, s->created_col, "created_timestamp_column");
	s->key_cols = palloc(sizeof(char *) * Max(view->nkeys, 1));
	s->feature_cols = palloc(sizeof(char *) * Max(view->nfeatures, 1));
	for (int k = 0; k < view->nkeys; k++)
		s->key_cols[k] = cf_mapped_column(mapping, view->key_names[k]);
	for (int f = 0; f < view->nfeatures; f++)
		s->feature_cols[f] = cf_mapped_column(mapping, view->feature_names[f]);
	return s;
}

/* a source timestamp column as timestamptz (timestamp and date are UTC) */
static char *
cf_ts_expr(const char *qcol, Oid type)
{
	if (type == TIMESTAMPOID)
		return psprintf("pg_catalog.timezone('UTC', %s)", qcol);
	if (type == DATEOID)
		return psprintf("pg_catalog.timezone('UTC', CAST(%s AS pg_catalog.timestamp))", qcol);
	return pstrdup(qcol);
}

/* "col <op> $n" with $n converted to the column's own type, so indexes apply */
static char *
cf_ts_bound(const char *qcol, Oid type, const char *op, int param)
{
	if (type == TIMESTAMPOID)
		return psprintf("%s OPERATOR(pg_catalog.%s) pg_catalog.timezone('UTC', $%d)", qcol, op, param);
	if (type == DATEOID)
		return psprintf("%s OPERATOR(pg_catalog.%s) CAST(pg_catalog.timezone('UTC', $%d) AS pg_catalog.date)",
						qcol, op, param);
	return psprintf("%s OPERATOR(pg_catalog.%s) $%d", qcol, op, param);
}

/* "s.col" cast to dtype t unless it already has that type */
static char *
cf_cast_column(CfSourceSpec *s, const char *col, CfDtype t, const char *what)
{
	char	   *q = psprintf("s.%s", quote_identifier(col));

	if (cf_source_column_type(s, col, what) == cf_dtype_type_oid(t))
		return q;
	return psprintf("CAST(%s AS %s)", q, cf_dtype_sql(t));
}

char *
cf_source_select(CfSourceSpec *s, int nfeat, const int *feat_idx, bool lower, bool exact_key_types)
{
	StringInfoData buf;
	CfView	   *v = s->view;
	char	   *qts = psprintf("s.%s", quote_identifier(s->ts_col));

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int k = 0; k < v->nkeys; k++)
	{
		/* an integer key of another width needs no cast: the join compares integers by value */
		bool		as_is = !exact_key_types && cf_key_is_int(cf_dtype_type_oid(v->key_types[k])) &&
			cf_key_is_int(cf_source_column_type(s, s->key_cols[k], "join key"));

		appendStringInfo(&buf, "%s AS %s, ",
						 as_is ? psprintf("s.%s", quote_identifier(s->key_cols[k]))
						 : cf_cast_column(s, s->key_cols[k], v->key_types[k], "join key"),
						 quote_identifier(v->key_names[k]));
	}
	appendStringInfo(&buf, "%s AS event_timestamp, ", cf_ts_expr(qts, s->ts_type));
	if (s->created_col)
		appendStringInfo(&buf, "%s AS created_timestamp",
						 cf_ts_expr(psprintf("s.%s", quote_identifier(s->created_col)), s->created_type));
	else
		appendStringInfoString(&buf, "CAST(NULL AS pg_catalog.timestamptz) AS created_timestamp");
	for (int i = 0; i < nfeat; i++)
	{
		int			f = feat_idx ? feat_idx[i] : i;

		appendStringInfo(&buf, ", %s AS %s",
						 cf_cast_column(s, s->feature_cols[f], v->feature_types[f], "feature"),
						 quote_identifier(v->feature_names[f]));
	}
	appendStringInfo(&buf, " FROM %s AS s WHERE %s", s->relation, cf_ts_bound(qts, s->ts_type, "<=", 1));
	if (lower)
		appendStringInfo(&buf, " AND %s", cf_ts_bound(qts, s->ts_type, ">=", 2));
	return buf.data;
}

/* ------------------------------------------------------------------------
 * feature references
 * ------------------------------------------------------------------------
 */

/* one view of the request and the features asked of it, in request order */
typedef struct CfPitView
{
	CfView	   *view;
	CfSourceSpec *src;
	int			nfeat;
	int		   *feat_idx;
	char	  **out_names;
} CfPitView;

typedef struct CfPitRequest
{
	int			nviews;
	CfPitView  *views;
	/* output order of features: (view, position in view's list) */
	int			nout;
	int		   *out_view;
	int		   *out_pos;
} CfPitRequest;

static int
cf_find_feature(CfView *v, const char *name)
{
	for (int f = 0; f < v->nfeatures; f++)
		if (strcmp(v->feature_names[f], name) == 0)
			return f;
	return -1;
}

static CfPitView *
cf_request_view(CfPitRequest *req, CfView *view)
{
	for (int i = 0; i < req->nviews; i++)
		if (req->views[i].view == view)
			return &req->views[i];
	req->views = req->nviews == 0 ? palloc(sizeof(CfPitView))
		: repalloc(req->views, sizeof(CfPitView) * (req->nviews + 1));
	memset(&req->views[req->nviews], 0, sizeof(CfPitView));
	req->views[req->nviews].view = view;
	req->views[req->nviews].feat_idx = palloc(sizeof(int) * Max(view->nfeatures, 1));
	req->views[req->nviews].out_names = palloc(sizeof(char *) * Max(view->nfeatures, 1));
	return &req->views[req->nviews++];
}

static void
cf_request_add(CfPitRequest *req, CfView *view, int f, bool full_names)
{
	CfPitView  *pv = cf_request_view(req, view);
	int			vi = pv - req->views;

	for (int i = 0; i < pv->nfeat; i++)
		if (pv->feat_idx[i] == f)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("feature \"%s:%s\" is requested twice", view->name, view->feature_names[f])));
	pv->feat_idx[pv->nfeat] = f;
	pv->out_names[pv->nfeat] = full_names
		? psprintf("%s__%s", view->name, view->feature_names[f])
		: view->feature_names[f];
	req->out_view = req->nout == 0 ? palloc(sizeof(int)) : repalloc(req->out_view, sizeof(int) * (req->nout + 1));
	req->out_pos = req->nout == 0 ? palloc(sizeof(int)) : repalloc(req->out_pos, sizeof(int) * (req->nout + 1));
	req->out_view[req->nout] = vi;
	req->out_pos[req->nout++] = pv->nfeat++;
}

/* "view:feature", or "view" for all of its features */
static void
cf_request_ref(CfPitRequest *req, const char *ref, bool full_names)
{
	const char *colon = strchr(ref, ':');
	char	   *vname = colon ? pnstrdup(ref, colon - ref) : pstrdup(ref);
	CfView	   *view = cf_lookup_view(vname);

	if (colon == NULL)
	{
		for (int f = 0; f < view->nfeatures; f++)
			cf_request_add(req, view, f, full_names);
		return;
	}
	{
		int			f = cf_find_feature(view, colon + 1);

		if (f < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("feature view \"%s\" has no feature \"%s\"", vname, colon + 1),
					 errhint("Feature references are written \"view:feature\".")));
		cf_request_add(req, view, f, full_names);
	}
}

static ArrayType *
cf_service_features(const char *service)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;

	args[0] = CStringGetTextDatum(service);
	if (SPI_execute_with_args("SELECT s.features FROM feast.feature_services AS s "
							  "WHERE s.name OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("feature service \"%s\" does not exist", service)));
	return DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static CfPitRequest *
cf_build_request(ArrayType *features, const char *service, bool full_names)
{
	CfPitRequest *req = palloc0(sizeof(CfPitRequest));
	Datum	   *refs;
	bool	   *nulls;
	int			n;

	if (features != NULL && service != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("give either features or feature_service, not both")));
	if (features == NULL && service == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("no features requested"),
				 errhint("Pass features => ARRAY['view:feature', ...] or feature_service => 'name'.")));
	if (service != NULL)
		features = cf_service_features(service);
	deconstruct_array(features, TEXTOID, -1, false, TYPALIGN_INT, &refs, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("feature reference %d is null", i + 1)));
		cf_request_ref(req, TextDatumGetCString(refs[i]), full_names);
	}
	if (req->nout == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("no features requested"),
				 errhint("Pass features => ARRAY['view:feature', ...] or feature_service => 'name'.")));
	for (int i = 0; i < req->nviews; i++)
		req->views[i].src = cf_source_spec(req->views[i].view);
	return req;
}

/* ------------------------------------------------------------------------
 * the entity input
 * ------------------------------------------------------------------------
 */

typedef struct CfEntityInput
{
	char	   *from;			/* "(SELECT ...)" or a qualified relation */
	TupleDesc	tupdesc;
	int			ts_att;			/* 0-based */
} CfEntityInput;

/* does the text start with a query keyword (or a parenthesis)? */
static bool
cf_looks_like_query(const char *s)
{
	static const char *const words[] = {"select", "with", "values", "table"};

	while (*s && (isspace((unsigned char) *s) || *s == '('))
	{
		if (*s == '(')
			return true;
		s++;
	}
	for (int i = 0; i < lengthof(words); i++)
	{
		size_t		len = strlen(words[i]);

		if (pg_strncasecmp(s, words[i], len) == 0 &&
			(s[len] == '\0' || isspace((unsigned char) s[len]) || s[len] == '('))
			return true;
	}
	return false;
}

static char *
cf_entity_from(const char *entity_sql)
{
	char	   *s = pstrdup(entity_sql);
	int			len = strlen(s);
	List	   *names;
	Oid			relid;

	/* a trailing semicolon is common in pasted SQL */
	while (len > 0 && (isspace((unsigned char) s[len - 1]) || s[len - 1] == ';'))
		s[--len] = '\0';
	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity_sql is empty"),
				 errhint("Pass a table or view name, or a SELECT.")));
	if (cf_looks_like_query(s))
		return psprintf("(%s)", s);
	names = textToQualifiedNameList(cstring_to_text(s));
	relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, false);
	return psprintf("(SELECT * FROM %s)",
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
											   get_rel_name(relid)));
}

static bool
cf_is_timestamp_type(Oid t)
{
	return t == TIMESTAMPTZOID || t == TIMESTAMPOID;
}

static CfEntityInput *
cf_entity_input(const char *entity_sql)
{
	CfEntityInput *in = palloc0(sizeof(CfEntityInput));
	int			rc;
	int			found = -1;
	int			nts = 0;

	in->from = cf_entity_from(entity_sql);
	rc = SPI_execute(psprintf("SELECT * FROM %s AS e LIMIT 0", in->from), true, 0);
	if (rc != SPI_OK_SELECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity_sql must be a table, a view or a query returning rows")));
	in->tupdesc = CreateTupleDescCopy(SPI_tuptable->tupdesc);
	for (int i = 0; i < in->tupdesc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(in->tupdesc, i);

		if (strcmp(NameStr(a->attname), "event_timestamp") == 0)
			found = i;
		if (cf_is_timestamp_type(a->atttypid))
			nts++;
	}
	if (found >= 0)
	{
		Oid			t = TupleDescAttr(in->tupdesc, found)->atttypid;

		if (!cf_is_timestamp_type(t) && t != DATEOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"event_timestamp\" of the entity rows has type %s, expected timestamptz or timestamp",
							format_type_be(t))));
	}
	else if (nts == 1)
	{
		for (int i = 0; i < in->tupdesc->natts; i++)
			if (cf_is_timestamp_type(TupleDescAttr(in->tupdesc, i)->atttypid))
				found = i;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("cannot tell which column of the entity rows is their event time"),
				 errdetail("The entity rows have no \"event_timestamp\" column and %d timestamp columns.", nts),
				 errhint("Name the event time column \"event_timestamp\".")));
	in->ts_att = found;
	return in;
}

static int
cf_entity_column(CfEntityInput *in, const char *name)
{
	for (int i = 0; i < in->tupdesc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(in->tupdesc, i)->attname), name) == 0)
			return i;
	return -1;
}

static char *
cf_entity_columns_list(CfEntityInput *in)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < in->tupdesc->natts; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", NameStr(TupleDescAttr(in->tupdesc, i)->attname));
	return buf.data;
}

/* every view's join keys are entity columns; output names are unique */
static void
cf_check_request(CfPitRequest *req, CfEntityInput *in)
{
	for (int i = 0; i < req->nviews; i++)
	{
		CfView	   *v = req->views[i].view;

		for (int k = 0; k < v->nkeys; k++)
			if (cf_entity_column(in, v->key_names[k]) < 0)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("the entity rows have no column \"%s\", a join key of feature view \"%s\"",
								v->key_names[k], v->name),
						 errdetail("The entity rows have columns: %s.", cf_entity_columns_list(in))));
	}
	for (int o = 0; o < req->nout; o++)
	{
		CfPitView  *pv = &req->views[req->out_view[o]];
		const char *name = pv->out_names[req->out_pos[o]];

		if (cf_entity_column(in, name) >= 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("feature \"%s:%s\" has the name of an entity column", pv->view->name,
							pv->view->feature_names[pv->feat_idx[req->out_pos[o]]]),
					 errhint("Use full_feature_names => true to name features view__feature.")));
		for (int p = 0; p < o; p++)
		{
			CfPitView  *pp = &req->views[req->out_view[p]];

			if (strcmp(pp->out_names[req->out_pos[p]], name) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("feature name \"%s\" is requested from feature views \"%s\" and \"%s\"",
								name, pp->view->name, pv->view->name),
						 errhint("Use full_feature_names => true to name features view__feature.")));
		}
	}
}

/* ------------------------------------------------------------------------
 * generating the SELECT
 * ------------------------------------------------------------------------
 */

/* an entity column as timestamptz (timestamp and date are UTC) */
static char *
cf_entity_ts_expr(CfEntityInput *in, const char *alias)
{
	Form_pg_attribute a = TupleDescAttr(in->tupdesc, in->ts_att);

	return cf_ts_expr(psprintf("%s.%s", alias, quote_identifier(NameStr(a->attname))), a->atttypid);
}

/* a string literal for SQL text; dollar-quoted when that is safe */
static char *
cf_sql_literal(const char *s)
{
	if (strstr(s, "$source$") == NULL)
		return psprintf("$source$%s $source$", s);
	return quote_literal_cstr(s);
}

/* the union of the views' join keys, in order of first use */
static List *
cf_all_keys(CfPitRequest *req, List **types)
{
	List	   *keys = NIL;

	*types = NIL;
	for (int i = 0; i < req->nviews; i++)
	{
		CfView	   *v = req->views[i].view;

		for (int k = 0; k < v->nkeys; k++)
		{
			ListCell   *lc;
			bool		seen = false;

			foreach(lc, keys)
				if (strcmp(lfirst(lc), v->key_names[k]) == 0)
					seen = true;
			if (!seen)
			{
				keys = lappend(keys, v->key_names[k]);
				*types = lappend(*types, cf_dtype_sql(v->key_types[k]));
			}
		}
	}
	return keys;
}

static void
cf_append_view_call(StringInfo buf, CfPitRequest *req, int i, bool filter_created,
					const char *lower_bound)
{
	CfPitView  *pv = &req->views[i];
	CfView	   *v = pv->view;
	char	   *src = cf_source_select(pv->src, pv->nfeat, pv->feat_idx,
									   v->has_ttl || lower_bound != NULL, false);

	appendStringInfo(buf, ",\n         -- feature view %s: its latest row at or before each entity row's time\n"
					 "         feast._point_in_time_join(\n"
					 "             %s,\n"
					 "             %s, %s, %s,\n"
					 "             a.event_timestamps",
					 v->name, cf_sql_literal(src),
					 /* entity-less mode: [start, end] is the window, the ttl only its default */
					 v->has_ttl && lower_bound == NULL
					 ? quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out,
																			  IntervalPGetDatum(&v->ttl))))
					 : "NULL",
					 filter_created ? "true" : "false",
					 lower_bound ? lower_bound : "NULL");
	for (int k = 0; k < v->nkeys; k++)
		appendStringInfo(buf, ", a.%s", quote_identifier(v->key_names[k]));
	appendStringInfoString(buf, ")\n           AS (");
	for (int f = 0; f < pv->nfeat; f++)
		appendStringInfo(buf, "%s%s %s", f ? ", " : "", quote_identifier(v->feature_names[pv->feat_idx[f]]),
						 cf_dtype_sql(v->feature_types[pv->feat_idx[f]]));
	appendStringInfoChar(buf, ')');
}

/*
 * The whole SELECT: one pass over the entity rows collects them (whole
 * rows, times, keys) into arrays; ROWS FROM zips the unnested entity rows
 * with each view's answers, which come back one per entity row in the same
 * order.  lower_bound (SQL text or NULL) bounds the source rows' event time
 * from below in every view (entity-less mode).
 */
static char *
cf_generate_sql(CfPitRequest *req, CfEntityInput *in, bool filter_created, const char *lower_bound)
{
	StringInfoData buf;
	List	   *keys;
	List	   *key_types;
	ListCell   *lc;
	ListCell   *lt;
	TupleDesc	td = in->tupdesc;

	initStringInfo(&buf);
	appendStringInfo(&buf,
					 "WITH entity_arrays AS (\n"
					 "    SELECT pg_catalog.array_agg(e) AS entity_rows,\n"
					 "           pg_catalog.array_agg(%s) AS event_timestamps",
					 cf_entity_ts_expr(in, "e"));
	keys = cf_all_keys(req, &key_types);
	forboth(lc, keys, lt, key_types)
	{
		const char *q = quote_identifier(lfirst(lc));

		appendStringInfo(&buf, ",\n           pg_catalog.array_agg(CAST(e.%s AS %s)) AS %s",
						 q, (char *) lfirst(lt), q);
	}
	appendStringInfo(&buf, "\n      FROM %s AS e\n)\n", in->from);
	appendStringInfoString(&buf, "SELECT ");
	for (int i = 0; i < td->natts; i++)
		appendStringInfo(&buf, "%sr.%s", i ? ", " : "", quote_identifier(NameStr(TupleDescAttr(td, i)->attname)));
	for (int o = 0; o < req->nout; o++)
		appendStringInfo(&buf, ",\n       r.%s",
						 quote_identifier(req->views[req->out_view[o]].out_names[req->out_pos[o]]));
	appendStringInfoString(&buf, "\n  FROM entity_arrays AS a,\n"
					 "  ROWS FROM (\n"
					 "         pg_catalog.unnest(a.entity_rows)\n"
					 "           AS (");
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);

		appendStringInfo(&buf, "%s%s %s", i ? ", " : "", quote_identifier(NameStr(att->attname)),
						 format_type_extended(att->atttypid, att->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	appendStringInfoChar(&buf, ')');
	for (int i = 0; i < req->nviews; i++)
		cf_append_view_call(&buf, req, i, filter_created, lower_bound);
	appendStringInfoString(&buf, "\n  ) AS r(");
	for (int i = 0; i < td->natts; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", quote_identifier(NameStr(TupleDescAttr(td, i)->attname)));
	/* ROWS FROM lists the features view by view; name them in that order */
	for (int i = 0; i < req->nviews; i++)
		for (int f = 0; f < req->views[i].nfeat; f++)
			appendStringInfo(&buf, ", %s", quote_identifier(req->views[i].out_names[f]));
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/* the generated SELECT; SPI is connected and the registry cache pinned meanwhile */
static char *
cf_historical_sql(text *entity_sql, ArrayType *features, bool full_names, text *service,
				  bool filter_created)
{
	MemoryContext caller = CurrentMemoryContext;
	CfPitRequest *req;
	CfEntityInput *in;
	char	   *sql;

	if (entity_sql == NULL)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("entity_sql must not be null"),
						errhint("Pass a table or view name, or a SELECT.")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_cache_pin();
	req = cf_build_request(features, service ? text_to_cstring(service) : NULL, full_names);
	in = cf_entity_input(text_to_cstring(entity_sql));
	cf_check_request(req, in);
	sql = cf_generate_sql(req, in, filter_created, NULL);
	sql = MemoryContextStrdup(caller, sql);
	cf_cache_unpin();
	SPI_finish();
	return sql;
}

#define ARG_TEXT(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define ARG_ARRAY(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_ARRAYTYPE_P(n))
#define ARG_BOOL(n) (PG_ARGISNULL(n) ? false : PG_GETARG_BOOL(n))

/* feast_historical_features_sql(entity_sql, features, full_feature_names, feature_service,
 *								  filter_by_created_timestamp) RETURNS text */
Datum
cfeast_historical_features_sql(PG_FUNCTION_ARGS)
{
	char	   *sql = cf_historical_sql(ARG_TEXT(0), ARG_ARRAY(1), ARG_BOOL(2), ARG_TEXT(3), ARG_BOOL(4));

	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

/* ------------------------------------------------------------------------
 * entity-less mode: the latest row per key in [start, end]
 * ------------------------------------------------------------------------
 */

/* SELECT DISTINCT keys, end AS event_timestamp over every view's source rows in range */
static char *
cf_range_entity_sql(CfPitRequest *req, const char *start, const char *end)
{
	StringInfoData buf;
	CfView	   *first = req->views[0].view;

	for (int i = 1; i < req->nviews; i++)
	{
		CfView	   *v = req->views[i].view;
		bool		same = v->nkeys == first->nkeys;

		for (int k = 0; same && k < v->nkeys; k++)
			same = strcmp(v->key_names[k], first->key_names[k]) == 0 &&
				v->key_types[k].base == first->key_types[k].base;
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature views \"%s\" and \"%s\" have different join keys", first->name, v->name),
					 errhint("Entity-less retrieval needs views with the same join keys; pass entity rows instead.")));
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT DISTINCT ");
	for (int k = 0; k < first->nkeys; k++)
		appendStringInfo(&buf, "k.%s, ", quote_identifier(first->key_names[k]));
	appendStringInfo(&buf, "%s AS event_timestamp FROM (", end);
	for (int i = 0; i < req->nviews; i++)
	{
		CfSourceSpec *s = req->views[i].src;
		char	   *qts = psprintf("s.%s", quote_identifier(s->ts_col));
		char	   *ts = cf_ts_expr(qts, s->ts_type);

		appendStringInfoString(&buf, i ? " UNION ALL SELECT " : "SELECT ");
		for (int k = 0; k < first->nkeys; k++)
			appendStringInfo(&buf, "%s%s AS %s", k ? ", " : "",
							 cf_cast_column(s, s->key_cols[k], first->key_types[k], "join key"),
							 quote_identifier(first->key_names[k]));
		if (first->nkeys == 0)
			appendStringInfoString(&buf, "1 AS one");
		appendStringInfo(&buf, " FROM %s AS s WHERE %s OPERATOR(pg_catalog.>=) %s AND %s OPERATOR(pg_catalog.<=) %s",
						 s->relation, ts, start, ts, end);
	}
	appendStringInfoString(&buf, ") AS k");
	return buf.data;
}

/* feast_range_features_sql(start_ts, end_ts, features, full_feature_names, feature_service) */
Datum
cfeast_range_features_sql(PG_FUNCTION_ARGS)
{
	MemoryContext caller = CurrentMemoryContext;
	TimestampTz start;
	TimestampTz end;
	CfPitRequest *req;
	CfEntityInput *in;
	char	   *start_lit;
	char	   *end_lit;
	char	   *sql;

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("end_ts must not be null")));
	end = PG_GETARG_TIMESTAMPTZ(1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cf_cache_pin();
	req = cf_build_request(ARG_ARRAY(2), PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4)),
						   ARG_BOOL(3));
	if (PG_ARGISNULL(0))
	{
		/* Feast's default: end minus the longest ttl, or 30 days */
		Interval	longest = {0, 30, 0};
		bool		any = false;

		for (int i = 0; i < req->nviews; i++)
		{
			CfView	   *v = req->views[i].view;

			if (v->has_ttl && (!any || DatumGetInt32(DirectFunctionCall2(interval_cmp, IntervalPGetDatum(&v->ttl), IntervalPGetDatum(&longest))) > 0))
			{
				longest = v->ttl;
				any = true;
			}
		}
		start = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_mi_interval,
														TimestampTzGetDatum(end),
														IntervalPGetDatum(&longest)));
	}
	else
		start = PG_GETARG_TIMESTAMPTZ(0);
	if (start > end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("start_ts must not be after end_ts")));
	start_lit = cf_timestamptz_literal(start);
	end_lit = cf_timestamptz_literal(end);
	in = cf_entity_input(cf_range_entity_sql(req, start_lit, end_lit));
	cf_check_request(req, in);
	sql = MemoryContextStrdup(caller, cf_generate_sql(req, in, false, start_lit));
	cf_cache_unpin();
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

/* ------------------------------------------------------------------------
 * feast_create_training_set
 * ------------------------------------------------------------------------
 */

/* feast_create_training_set(name, entity_sql, features, full_feature_names, feature_service,
 *							  filter_by_created_timestamp, replace) RETURNS regclass */
Datum
cfeast_create_training_set(PG_FUNCTION_ARGS)
{
	char	   *select;
	List	   *names;
	RangeVar   *rv;
	char	   *target;
	Oid			relid;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the training set needs a table name")));
	names = textToQualifiedNameList(PG_GETARG_TEXT_PP(0));
	rv = makeRangeVarFromNameList(names);
	target = rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname)
		: pstrdup(quote_identifier(rv->relname));
	select = cf_historical_sql(ARG_TEXT(1), ARG_ARRAY(2), ARG_BOOL(3), ARG_TEXT(4), ARG_BOOL(5));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (ARG_BOOL(6))
	{
		relid = RangeVarGetRelid(rv, NoLock, true);
		if (OidIsValid(relid) && get_rel_relkind(relid) != RELKIND_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" is not a table; replace only replaces a training set table", target)));
		if (OidIsValid(relid) && SPI_execute(psprintf("DROP TABLE %s", target), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "dropping %s failed", target);
	}
	if (SPI_execute(psprintf("CREATE TABLE %s AS\n%s", target, select), false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "creating %s failed", target);
	relid = RangeVarGetRelid(rv, NoLock, false);
	SPI_finish();
	PG_RETURN_OID(relid);
}

/* ------------------------------------------------------------------------
 * feast._point_in_time_join: the as-of join
 * ------------------------------------------------------------------------
 */

/* the latest source row offered to one entity position so far */
typedef struct CfBucket
{
	TimestampTz ts;
	TimestampTz created;
	bool		has;
	bool		cnull;
} CfBucket;

typedef struct CfAsof
{
	/* entity rows, input order; n of them have keys and a time */
	int			ninput;
	int			n;
	int			nkeys;
	Oid		   *key_types;
	Datum	   *keys;			/* [row * nkeys + k] */
	TimestampTz *ts;
	bool	   *usable;
	bool		has_varlena_key;
	Oid		   *src_key_types;	/* the source query's key types */
	int			last_group;		/* group of the previous source row, -2: none */
	/* key groups: rows sorted by (group, time) in ord[], group g at [group_start[g], group_start[g + 1]) */
	int			ngroups;
	int		   *group_start;
	CfKeySet   *groups;			/* key tuple -> its group (stored as the group's row) */
	int		   *row_group;		/* [input row]: its group */
	int		   *ord;			/* sorted position -> input row */
	TimestampTz *sorted_ts;		/* sorted position -> time */
	/* the best source row per sorted position */
	CfBucket   *best;
	int			nfeat;
	Datum	   *best_values;	/* [pos * nfeat + f] */
	bool	   *best_nulls;
	Oid		   *feat_types;
	int16	   *typlen;
	bool	   *typbyval;
	/* options */
	bool		filter_created;
	bool		has_lower;
	TimestampTz lower;
	MemoryContext values_cxt;
	MemoryContext row_cxt;
	int64		rows_read;
} CfAsof;

/* read the entity arrays; rows with a NULL key or time take no part */
static void
cf_asof_load(CfAsof *a, FunctionCallInfo fcinfo, int first_arg)
{
	int			nargs = PG_NARGS() - first_arg;
	Datum	   *d;
	bool	   *nulls;
	int			n;
	bool	   *usable;

	a->ninput = 0;
	a->n = 0;
	if (nargs < 1 || PG_ARGISNULL(first_arg))
		return;
	a->nkeys = nargs - 1;
	a->key_types = palloc(sizeof(Oid) * Max(a->nkeys, 1));
	if (get_fn_expr_argtype(fcinfo->flinfo, first_arg) != TIMESTAMPTZARRAYOID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the entity times passed to feast._point_in_time_join must be a timestamptz[]")));
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(first_arg), TIMESTAMPTZOID, 8, true, TYPALIGN_DOUBLE,
					  &d, &nulls, &n);
	a->n = a->ninput = n;
	usable = palloc_extended(sizeof(bool) * Max(n, 1), MCXT_ALLOC_HUGE);
	a->ts = palloc_extended(sizeof(TimestampTz) * Max(n, 1), MCXT_ALLOC_HUGE);
	for (int i = 0; i < n; i++)
	{
		a->ts[i] = nulls[i] ? 0 : DatumGetTimestampTz(d[i]);
		usable[i] = !nulls[i];
	}
	a->keys = palloc_extended(sizeof(Datum) * Max(n * a->nkeys, 1), MCXT_ALLOC_HUGE);
	for (int k = 0; k < a->nkeys; k++)
	{
		Oid			at = get_fn_expr_argtype(fcinfo->flinfo, first_arg + 1 + k);
		Oid			et = OidIsValid(at) ? get_element_type(at) : InvalidOid;
		int16		len;
		bool		byval;
		char		align;

		cf_check_key_type(et, psprintf("join key argument %d", k + 1));
		a->key_types[k] = et;
		if (PG_ARGISNULL(first_arg + 1 + k))
		{
			a->n = 0;
			return;
		}
		get_typlenbyvalalign(et, &len, &byval, &align);
		deconstruct_array(PG_GETARG_ARRAYTYPE_P(first_arg + 1 + k), et, len, byval, align, &d, &nulls, &n);
		if (n != a->n)
			elog(ERROR, "feast._point_in_time_join: arrays of different lengths");
		for (int i = 0; i < n; i++)
		{
			a->keys[i * a->nkeys + k] = d[i];
			usable[i] &= !nulls[i];
		}
	}
	a->usable = usable;
	a->n = 0;
	for (int i = 0; i < a->ninput; i++)
		a->n += usable[i];
	for (int k = 0; k < a->nkeys; k++)
		a->has_varlena_key |= a->key_types[k] != INT4OID && a->key_types[k] != INT8OID;
}

/* key k of entity row "item" (a CfKeyFetch) */
static Datum
cf_asof_key(void *arg, int64 item, int k)
{
	CfAsof	   *a = arg;

	return a->keys[item * a->nkeys + k];
}

/* (time, row) pairs in order */
static int
cf_ts_row_cmp(const void *x, const void *y)
{
	const TimestampTz *a = x;
	const TimestampTz *b = y;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	return a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
}

/* sort one group's positions [lo, hi) by time (insertion sort: groups are small) */
static void
cf_asof_sort_group(CfAsof *a, int lo, int hi)
{
	for (int i = lo + 1; i < hi; i++)
	{
		TimestampTz t = a->sorted_ts[i];
		int			r = a->ord[i];
		int			j = i - 1;

		while (j >= lo && a->sorted_ts[j] > t)
		{
			a->sorted_ts[j + 1] = a->sorted_ts[j];
			a->ord[j + 1] = a->ord[j];
			j--;
		}
		a->sorted_ts[j + 1] = t;
		a->ord[j + 1] = r;
	}
}

/* a big group: sort (time, row) pairs with qsort */
static void
cf_asof_sort_big_group(CfAsof *a, int lo, int hi)
{
	int			n = hi - lo;
	TimestampTz *pairs = palloc_extended(sizeof(TimestampTz) * 2 * n, MCXT_ALLOC_HUGE);

	for (int i = 0; i < n; i++)
	{
		pairs[2 * i] = a->sorted_ts[lo + i];
		pairs[2 * i + 1] = a->ord[lo + i];
	}
	/* the row number breaks ties, so the order is stable */
	qsort(pairs, n, sizeof(TimestampTz) * 2, cf_ts_row_cmp);
	for (int i = 0; i < n; i++)
	{
		a->sorted_ts[lo + i] = pairs[2 * i];
		a->ord[lo + i] = (int) pairs[2 * i + 1];
	}
	pfree(pairs);
}

/*
 * Group the rows by key tuple (hash table, O(n)), lay the groups out one
 * after another (counting sort), then sort each group by time.
 */
static void
cf_asof_index(CfAsof *a)
{
	int		   *gid = palloc_extended(sizeof(int) * Max(a->ninput, 1), MCXT_ALLOC_HUGE);
	int		   *fill;

	a->groups = cf_keyset_create(a->nkeys, a->key_types, cf_asof_key, a, a->n);
	a->row_group = gid;
	a->group_start = palloc_extended(sizeof(int) * (a->n + 1), MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	for (int r = 0; r < a->ninput; r++)
	{
		bool		found;
		int64	   *first;

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!a->usable[r])
			continue;
		first = cf_keyset_enter(a->groups, r, &found);
		gid[r] = found ? gid[*first] : a->ngroups++;
		a->group_start[gid[r] + 1]++;
	}
	for (int g = 0; g < a->ngroups; g++)
		a->group_start[g + 1] += a->group_start[g];
	fill = palloc_extended(sizeof(int) * Max(a->ngroups, 1), MCXT_ALLOC_HUGE);
	memcpy(fill, a->group_start, sizeof(int) * a->ngroups);
	a->ord = palloc_extended(sizeof(int) * Max(a->n, 1), MCXT_ALLOC_HUGE);
	a->sorted_ts = palloc_extended(sizeof(TimestampTz) * Max(a->n, 1), MCXT_ALLOC_HUGE);
	for (int r = 0; r < a->ninput; r++)
	{
		int			p;

		if (!a->usable[r])
			continue;
		p = fill[gid[r]]++;
		a->ord[p] = r;
		a->sorted_ts[p] = a->ts[r];
	}
	for (int g = 0; g < a->ngroups; g++)
	{
		int			lo = a->group_start[g];
		int			hi = a->group_start[g + 1];

		if (hi - lo <= 32)
			cf_asof_sort_group(a, lo, hi);
		else
			cf_asof_sort_big_group(a, lo, hi);
	}
	pfree(fill);
}

/* first sorted position of group g whose time is >= t, or -1 */
static inline int
cf_asof_bucket(CfAsof *a, int g, TimestampTz t)
{
	int			lo = a->group_start[g];
	int			end = a->group_start[g + 1];
	int			hi = end;

	while (lo < hi)
	{
		int			mid = lo + (hi - lo) / 2;

		if (a->sorted_ts[mid] < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < end ? lo : -1;
}

/* keep source row (values at "vals") in bucket "pos" if it is the latest there */
static void
cf_asof_offer(CfAsof *a, int pos, TimestampTz ts, bool cnull, TimestampTz created,
			  Datum *vals, bool *nulls)
{
	CfBucket   *b = &a->best[pos];
	Datum	   *bv = &a->best_values[pos * a->nfeat];
	bool	   *bn = &a->best_nulls[pos * a->nfeat];
	MemoryContext old;

	if (b->has && !cf_version_replaces(ts, cnull, created, b->ts, b->cnull, b->created))
		return;
	old = MemoryContextSwitchTo(a->values_cxt);
	for (int f = 0; f < a->nfeat; f++)
	{
		if (b->has && !bn[f] && !a->typbyval[f])
			pfree(DatumGetPointer(bv[f]));
		bn[f] = nulls[f];
		if (nulls[f])
			bv[f] = (Datum) 0;
		else if (a->typbyval[f])
			bv[f] = vals[f];
		else if (a->typlen[f] == -1)
			bv[f] = PointerGetDatum(pg_detoast_datum_copy((struct varlena *) DatumGetPointer(vals[f])));
		else
			bv[f] = datumCopy(vals[f], false, a->typlen[f]);
	}
	MemoryContextSwitchTo(old);
	b->has = true;
	b->ts = ts;
	b->cnull = cnull;
	b->created = created;
}

/* the DestReceiver that the source query's executor feeds */
typedef struct CfAsofReceiver
{
	DestReceiver pub;
	CfAsof	   *asof;
	Datum	   *keys;
	Datum	   *last_keys;		/* integer keys of the previous row */
} CfAsofReceiver;

static bool
cf_asof_receive(TupleTableSlot *slot, DestReceiver *self)
{
	CfAsofReceiver *r = (CfAsofReceiver *) self;
	CfAsof	   *a = r->asof;
	int			nk = a->nkeys;
	TimestampTz ts;
	TimestampTz created = 0;
	bool		cnull;
	TimestampTz at;
	int			g;
	int			pos;
	MemoryContext old;

	if ((++a->rows_read & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	slot_getallattrs(slot);
	if (slot->tts_isnull[nk])
		return true;			/* no event time: never a candidate */
	ts = DatumGetTimestampTz(slot->tts_values[nk]);
	cnull = slot->tts_isnull[nk + 1];
	if (!cnull)
		created = DatumGetTimestampTz(slot->tts_values[nk + 1]);
	if (a->has_lower && ts < a->lower)
		return true;
	if (a->filter_created && cnull)
		return true;
	at = a->filter_created && created > ts ? created : ts;

	if (a->has_varlena_key)
		MemoryContextReset(a->row_cxt);
	old = MemoryContextSwitchTo(a->row_cxt);
	for (int k = 0; k < nk; k++)
	{
		if (slot->tts_isnull[k])
		{
			MemoryContextSwitchTo(old);
			return true;
		}
		r->keys[k] = a->key_types[k] == INT4OID || a->key_types[k] == INT8OID
			? slot->tts_values[k]
			: PointerGetDatum(PG_DETOAST_DATUM_PACKED(slot->tts_values[k]));
	}
	MemoryContextSwitchTo(old);
	/* sources are often stored key by key: the previous row's group, if the keys are the same */
	if (a->last_group != -2 && cf_keys_eq(r->keys, a->src_key_types, r->last_keys, a->src_key_types, nk))
		g = a->last_group;
	else
	{
		int64		first = cf_keyset_find(a->groups, r->keys, a->src_key_types);

		g = first < 0 ? -1 : a->row_group[first];
		if (!a->has_varlena_key)
		{
			memcpy(r->last_keys, r->keys, sizeof(Datum) * nk);
			a->last_group = g;
		}
	}
	if (g < 0)
		return true;
	pos = cf_asof_bucket(a, g, at);
	if (pos < 0)
		return true;
	cf_asof_offer(a, pos, ts, cnull, created, &slot->tts_values[nk + 2], &slot->tts_isnull[nk + 2]);
	return true;
}

static void
cf_asof_startup(DestReceiver *self, int operation, TupleDesc td)
{
	CfAsofReceiver *r = (CfAsofReceiver *) self;
	CfAsof	   *a = r->asof;

	if (td->natts != a->nkeys + 2 + a->nfeat)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("the source query returns %d columns, expected %d (keys, event and created timestamps, features)",
						td->natts, a->nkeys + 2 + a->nfeat)));
	a->src_key_types = palloc(sizeof(Oid) * Max(a->nkeys, 1));
	for (int k = 0; k < a->nkeys; k++)
	{
		Oid			t = TupleDescAttr(td, k)->atttypid;

		a->src_key_types[k] = t;
		if (t != a->key_types[k] && !(cf_key_is_int(t) && cf_key_is_int(a->key_types[k])))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d has type %s, but the entity key has type %s", k + 1,
							format_type_be(TupleDescAttr(td, k)->atttypid), format_type_be(a->key_types[k]))));
	}
	for (int i = 0; i < 2; i++)
		if (TupleDescAttr(td, a->nkeys + i)->atttypid != TIMESTAMPTZOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d must be timestamptz", a->nkeys + i + 1)));
	for (int f = 0; f < a->nfeat; f++)
	{
		Oid			t = TupleDescAttr(td, a->nkeys + 2 + f)->atttypid;

		if (t != a->feat_types[f])
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("source column %d has type %s, but the column definition list says %s",
							a->nkeys + 3 + f, format_type_be(t), format_type_be(a->feat_types[f]))));
	}
}

static void
cf_asof_noop(DestReceiver *self)
{
}

/* run the source query, feeding every row to the receiver */
static void
cf_asof_scan(CfAsof *a, const char *source_sql, TimestampTz upper, TimestampTz lower)
{
	CfAsofReceiver r;
	SPIExecuteOptions opts;
	ParamListInfo params = makeParamList(2);
	Oid			argtypes[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	SPIPlanPtr	plan;
	int			rc;

	memset(&r, 0, sizeof(r));
	r.pub.receiveSlot = cf_asof_receive;
	r.pub.rStartup = cf_asof_startup;
	r.pub.rShutdown = cf_asof_noop;
	r.pub.rDestroy = cf_asof_noop;
	r.pub.mydest = DestNone;
	r.asof = a;
	r.keys = palloc(sizeof(Datum) * Max(a->nkeys, 1));
	r.last_keys = palloc(sizeof(Datum) * Max(a->nkeys, 1));
	a->last_group = -2;			/* none yet */

	params->numParams = 2;
	params->params[0].value = TimestampTzGetDatum(upper);
	params->params[0].isnull = false;
	params->params[0].pflags = PARAM_FLAG_CONST;
	params->params[0].ptype = TIMESTAMPTZOID;
	params->params[1].value = TimestampTzGetDatum(lower);
	params->params[1].isnull = false;
	params->params[1].pflags = PARAM_FLAG_CONST;
	params->params[1].ptype = TIMESTAMPTZOID;

	memset(&opts, 0, sizeof(opts));
	opts.params = params;
	opts.read_only = true;
	opts.dest = (DestReceiver *) &r;
	/* the scan may run in parallel workers; our receiver runs in the leader */
	plan = SPI_prepare_cursor(source_sql, 2, argtypes, CURSOR_OPT_PARALLEL_OK);
	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source query of feast._point_in_time_join is invalid: %s",
						SPI_result_code_string(SPI_result))));
	rc = SPI_execute_plan_extended(plan, &opts);
	if (rc != SPI_OK_SELECT && rc != SPI_OK_UTILITY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the source query of feast._point_in_time_join must be a SELECT")));
}

/* walk each group in time order, carrying the latest row: answer[input row] */
static int *
cf_asof_answers(CfAsof *a, Interval *ttl)
{
	int		   *answer = palloc_extended(sizeof(int) * Max(a->ninput, 1), MCXT_ALLOC_HUGE);

	for (int i = 0; i < a->ninput; i++)
		answer[i] = -1;
	for (int g = 0; g < a->ngroups; g++)
	{
		int			cur = -1;

		CHECK_FOR_INTERRUPTS();
		for (int p = a->group_start[g]; p < a->group_start[g + 1]; p++)
		{
			int			r = a->ord[p];

			if (a->best[p].has &&
				(cur < 0 || cf_version_replaces(a->best[p].ts, a->best[p].cnull, a->best[p].created,
												a->best[cur].ts, a->best[cur].cnull,
												a->best[cur].created)))
				cur = p;
			if (cur < 0)
				continue;
			if (ttl != NULL && a->best[cur].ts < cf_minus_ttl(a->sorted_ts[p], ttl))
				continue;
			answer[r] = cur;
		}
	}
	return answer;
}

/* one output row per entity row, in the order given */
static void
cf_asof_emit(CfAsof *a, int *answer, ReturnSetInfo *rsinfo)
{
	bool	   *all_null = palloc(sizeof(bool) * Max(a->nfeat, 1));
	Datum	   *zero = palloc0(sizeof(Datum) * Max(a->nfeat, 1));

	memset(all_null, true, sizeof(bool) * Max(a->nfeat, 1));
	for (int r = 0; r < a->ninput; r++)
	{
		int			p = answer[r];

		if ((r & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		if (p < 0)
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, zero, all_null);
		else
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &a->best_values[p * a->nfeat],
								 &a->best_nulls[p * a->nfeat]);
	}
}

static void
cf_asof_alloc_best(CfAsof *a, TupleDesc out)
{
	int			n = Max(a->n, 1);

	a->nfeat = out->natts;
	a->typlen = palloc(sizeof(int16) * Max(a->nfeat, 1));
	a->typbyval = palloc(sizeof(bool) * Max(a->nfeat, 1));
	a->feat_types = palloc(sizeof(Oid) * Max(a->nfeat, 1));
	for (int f = 0; f < a->nfeat; f++)
	{
		a->feat_types[f] = TupleDescAttr(out, f)->atttypid;
		get_typlenbyval(a->feat_types[f], &a->typlen[f], &a->typbyval[f]);
	}
	a->best = palloc_extended(sizeof(CfBucket) * n, MCXT_ALLOC_HUGE | MCXT_ALLOC_ZERO);
	a->best_values = palloc_extended(sizeof(Datum) * n * Max(a->nfeat, 1), MCXT_ALLOC_HUGE);
	a->best_nulls = palloc_extended(sizeof(bool) * n * Max(a->nfeat, 1), MCXT_ALLOC_HUGE);
}

/*
 * Like InitMaterializedSRF, but the tuplestore may hold all the answers in
 * memory: they are in memory already, and spilling them to disk only to
 * read them back at once would cost more than it saves.
 */
static void
cf_asof_init_result(FunctionCallInfo fcinfo, int nrows)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext old;
	int64		kb;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize) || rsinfo->expectedDesc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast._point_in_time_join() must be called in FROM with a column definition list")));
	kb = (int64) nrows * (32 + 16 * rsinfo->expectedDesc->natts) / 1024 + 1024;
	old = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setDesc = CreateTupleDescCopy(rsinfo->expectedDesc);
	rsinfo->setResult = tuplestore_begin_heap((rsinfo->allowedModes & SFRM_Materialize_Random) != 0, false,
											  (int) Min(Max(kb, work_mem), MAX_KILOBYTES));
	MemoryContextSwitchTo(old);
}

/*
 * feast._point_in_time_join(source_sql text, ttl interval, filter_created boolean,
 *		lower_bound timestamptz, VARIADIC event_timestamps timestamptz[], keys anyarray...)
 *		RETURNS SETOF record (features...): one row per entity row, in their order
 *
 * source_sql returns (keys..., event_timestamp, created_timestamp, features...),
 * all timestamptz, keys of the arrays' element types; $1 is the latest entity
 * time, $2 the earliest time a candidate may have.
 */
Datum
cfeast_point_in_time_join(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext join_cxt;
	MemoryContext old;
	CfAsof	   *a;
	Interval   *ttl = PG_ARGISNULL(1) ? NULL : PG_GETARG_INTERVAL_P(1);
	TimestampTz upper = DT_NOBEGIN;
	TimestampTz lower = DT_NOEND;
	TimestampTz t0,
				t1,
				t2,
				t3;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("source_sql must not be null")));
	join_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast point-in-time join",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(join_cxt);
	a = palloc0(sizeof(CfAsof));
	a->filter_created = ARG_BOOL(2);
	a->has_lower = !PG_ARGISNULL(3);
	if (a->has_lower)
		a->lower = PG_GETARG_TIMESTAMPTZ(3);
	a->values_cxt = AllocSetContextCreate(join_cxt, "cfeast join values", ALLOCSET_DEFAULT_SIZES);
	a->row_cxt = AllocSetContextCreate(join_cxt, "cfeast join row", ALLOCSET_SMALL_SIZES);
	t0 = GetCurrentTimestamp();
	cf_asof_load(a, fcinfo, 4);
	cf_asof_init_result(fcinfo, a->ninput);
	cf_asof_alloc_best(a, rsinfo->setDesc);
	t1 = GetCurrentTimestamp();
	if (a->n == 0)
		cf_asof_emit(a, cf_asof_answers(a, ttl), rsinfo);
	else
	{
		cf_asof_index(a);
		t2 = GetCurrentTimestamp();
		for (int i = 0; i < a->n; i++)
		{
			upper = Max(upper, a->sorted_ts[i]);
			lower = Min(lower, a->sorted_ts[i]);
		}
		lower = ttl != NULL ? cf_minus_ttl(lower, ttl) : DT_NOBEGIN;
		if (a->has_lower)
			lower = Max(lower, a->lower);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cf_asof_scan(a, text_to_cstring(PG_GETARG_TEXT_PP(0)), upper, lower);
		SPI_finish();
		MemoryContextSwitchTo(join_cxt);
		t3 = GetCurrentTimestamp();
		cf_asof_emit(a, cf_asof_answers(a, ttl), rsinfo);
		ereport(DEBUG1,
				(errmsg_internal("cfeast as-of join: %d entity rows in %d key groups, " INT64_FORMAT
								 " source rows; load %ld ms, sort %ld ms, scan %ld ms, answer %ld ms",
								 a->ninput, a->ngroups, a->rows_read,
								 (long) ((t1 - t0) / 1000), (long) ((t2 - t1) / 1000),
								 (long) ((t3 - t2) / 1000), (long) ((GetCurrentTimestamp() - t3) / 1000))));
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(join_cxt);
	return (Datum) 0;
}
