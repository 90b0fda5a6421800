/*-------------------------------------------------------------------------
 * historical.c
 *	  Point-in-time retrieval as SQL: feast_historical_features_sql builds
 *	  one readable SELECT, feast_range_features_sql the same for the latest
 *	  rows in a time range (no entity rows), and feast_create_training_set
 *	  runs it into a table.
 *
 * feast_create_training_set creates the table as CREATE TABLE AS ... WITH
 * NO DATA would from that SELECT, then runs the as-of join from C straight
 * into it (cf_as_of_join_into), or, if an event trigger gave the table an
 * index, trigger, constraint or row security, changed its columns or took
 * the INSERT privilege, INSERT ... SELECT (which applies them).
 *
 * The SELECT is one call of feast._as_of_join() (asof.c): it gets the
 * entity query (the entity rows, then their time and each view's join keys
 * as hidden columns) and each view's source query (source.c), reads the
 * entity rows once and returns them with every view's features.  While a
 * database's extension is not yet updated to 0.4, the SELECT of 0.3 is
 * generated instead (a CTE of arrays: whole rows, times, keys, handed to
 * feast._point_in_time_join() once per view and zipped by position).  The
 * entity input is a table, a view or a query; its event time column is
 * "event_timestamp", or its only timestamp column.  Entity-less (range) mode, as Feast's retrieval
 * without entity rows: the entity rows are the distinct (join keys, event
 * time) pairs of every view's source rows in [start, end] (both ends
 * inclusive), ordered by time, and each is answered as of its own time by
 * the same point-in-time join (each view's ttl counted back from that
 * time): with one view, every source row in the window with its own
 * values; rows of one key at one time appear once (the write rule picks
 * among them).  latest_only keeps the other form: the distinct keys, each
 * at time end, answered by each view's latest row in [start, end].
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"
#include "asof.h"
#include "request.h"
#include "source.h"
#include "version.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

PG_FUNCTION_INFO_V1(cfeast_historical_features_sql);
PG_FUNCTION_INFO_V1(cfeast_range_features_sql);
PG_FUNCTION_INFO_V1(cfeast_create_training_set);

/* a timestamptz as an ISO 8601 UTC literal: '2024-01-01 00:00:00+00' */
static char *
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
 * the features asked for, by view
 * ------------------------------------------------------------------------
 */

/* one view of the request under one name, and the features asked of it, in request order */
typedef struct CfPitView
{
	CfView	   *view;
	const char *alias;			/* the view's name, or a service's projection alias */
	char	  **key_cols;		/* entity column of each view key (projections rename them) */
	CfSourceSpec *src;
	int			nfeat;
	int		   *feat_idx;
	char	  **out_names;
} CfPitView;

typedef struct CfPitRequest
{
	const CfFeatureList *features;	/* as asked (request.c) */
	int			nviews;
	CfPitView  *views;
	/* output order of features (that of "features"): (view, position in view's list) */
	int			nout;
	int		   *out_view;
	int		   *out_pos;
} CfPitRequest;

/* the request's view of "ref" under its alias, added on first use */
static CfPitView *
cf_pit_view(CfPitRequest *req, const CfFeatureRef *ref)
{
	CfView	   *view = ref->view;

	for (int i = 0; i < req->nviews; i++)
		if (req->views[i].view == view && strcmp(req->views[i].alias, ref->alias) == 0)
			return &req->views[i];
	req->views = req->nviews == 0 ? palloc(sizeof(CfPitView))
		: repalloc(req->views, sizeof(CfPitView) * (req->nviews + 1));
	memset(&req->views[req->nviews], 0, sizeof(CfPitView));
	req->views[req->nviews].view = view;
	req->views[req->nviews].alias = ref->alias;
	req->views[req->nviews].key_cols = ref->key_cols;
	req->views[req->nviews].feat_idx = palloc(sizeof(int) * Max(view->nfeatures, 1));
	req->views[req->nviews].out_names = palloc(sizeof(char *) * Max(view->nfeatures, 1));
	return &req->views[req->nviews++];
}

static CfPitRequest *
cf_build_request(ArrayType *features, const char *service, bool full_names)
{
	CfPitRequest *req = palloc0(sizeof(CfPitRequest));

	req->features = cf_resolve_features(features, service, full_names);
	req->out_view = palloc(sizeof(int) * req->features->n);
	req->out_pos = palloc(sizeof(int) * req->features->n);
	for (int o = 0; o < req->features->n; o++)
	{
		const CfFeatureRef *ref = &req->features->refs[o];
		CfPitView  *pv = cf_pit_view(req, ref);

		pv->feat_idx[pv->nfeat] = ref->feature;
		pv->out_names[pv->nfeat] = ref->name;
		req->out_view[o] = pv - req->views;
		req->out_pos[o] = pv->nfeat++;
	}
	req->nout = req->features->n;
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

/* every view's join keys are entity columns; no feature takes an entity column's name or a name too long for a column */
static void
cf_check_request(CfPitRequest *req, CfEntityInput *in)
{
	for (int i = 0; i < req->nviews; i++)
	{
		CfPitView  *pv = &req->views[i];
		CfView	   *v = pv->view;

		for (int k = 0; k < v->nkeys; k++)
			if (cf_entity_column(in, pv->key_cols[k]) < 0)
			{
				if (strcmp(pv->key_cols[k], v->key_names[k]) != 0)
					ereport(ERROR,
							(errcode(ERRCODE_UNDEFINED_COLUMN),
							 errmsg("the entity rows have no column \"%s\", join key \"%s\" of feature view \"%s\" as projection \"%s\" reads it",
									pv->key_cols[k], v->key_names[k], v->name, pv->alias),
							 errdetail("The entity rows have columns: %s.", cf_entity_columns_list(in))));
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("the entity rows have no column \"%s\", a join key of feature view \"%s\"",
								v->key_names[k], v->name),
						 errdetail("The entity rows have columns: %s.", cf_entity_columns_list(in))));
			}
	}
	for (int o = 0; o < req->nout; o++)
	{
		const CfFeatureRef *ref = &req->features->refs[o];

		if (cf_entity_column(in, ref->name) >= 0)
			cf_feature_named_like_column(ref, ref->name);
		if (strlen(ref->name) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_NAME_TOO_LONG),
					 errmsg("feature name \"%s\" is too long for a column", ref->name),
					 errdetail("Column names are at most %d bytes; longer ones would be truncated.",
							   NAMEDATALEN - 1),
					 errhint("Shorten the feature view's name, or pass full_feature_names => false.")));
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

/* a string literal for SQL text; dollar-quoted with $tag$ when that is safe */
static char *
cf_sql_literal(const char *s, const char *tag)
{
	if (strstr(s, psprintf("$%s$", tag)) == NULL)
		return psprintf("$%s$%s $%s$", tag, s, tag);
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
		char	  **cols = req->views[i].key_cols;

		for (int k = 0; k < v->nkeys; k++)
		{
			ListCell   *lc;
			bool		seen = false;

			foreach(lc, keys)
				if (strcmp(lfirst(lc), cols[k]) == 0)
					seen = true;
			if (!seen)
			{
				keys = lappend(keys, cols[k]);
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
					 v->name, cf_sql_literal(src, "source"),
					 /* entity-less mode: [start, end] is the window, the ttl only its default */
					 v->has_ttl && lower_bound == NULL
					 ? quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out,
																			  IntervalPGetDatum(&v->ttl))))
					 : "NULL",
					 filter_created ? "true" : "false",
					 lower_bound ? lower_bound : "NULL");
	for (int k = 0; k < v->nkeys; k++)
		appendStringInfo(buf, ", a.%s", quote_identifier(pv->key_cols[k]));
	appendStringInfoString(buf, ")\n           AS (");
	for (int f = 0; f < pv->nfeat; f++)
		appendStringInfo(buf, "%s%s %s", f ? ", " : "", quote_identifier(v->feature_names[pv->feat_idx[f]]),
						 cf_dtype_sql(v->feature_types[pv->feat_idx[f]]));
	appendStringInfoChar(buf, ')');
}

/*
 * The SELECT of 0.3, used while the extension's SQL is not yet updated to
 * 0.4 (no feast._as_of_join): one pass over the entity rows collects them (whole
 * rows, times, keys) into arrays; ROWS FROM zips the unnested entity rows
 * with each view's answers, which come back one per entity row in the same
 * order.  lower_bound (SQL text or NULL) bounds the source rows' event time
 * from below in every view (entity-less mode).
 */
static char *
cf_generate_sql_arrays(CfPitRequest *req, CfEntityInput *in, bool filter_created, const char *lower_bound)
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

/* a view's ttl as an interval literal, or NULL (entity-less mode: [start, end] is the window) */
static char *
cf_view_ttl_literal(CfView *v, const char *lower_bound)
{
	if (!v->has_ttl || lower_bound != NULL)
		return "NULL";
	return quote_literal_cstr(DatumGetCString(DirectFunctionCall1(interval_out, IntervalPGetDatum(&v->ttl))));
}

/*
 * The arguments of that SELECT's feast._as_of_join call (sources: its
 * source queries, as the SELECT passes them), for running it from C
 * (feast_create_training_set), and where each column of the SELECT
 * comes from in the call's result (the SELECT lists features in request
 * order, the call view by view).
 */
static void
cf_asof_call_for(CfPitRequest *req, CfEntityInput *in, bool filter_created, const char *entity_sql,
				 char **sources, CfAsofCall **call_out, int **col_map_out)
{
	CfAsofCall *call = palloc0(sizeof(CfAsofCall));
	int			nent = in->tupdesc->natts;
	int		   *first = palloc(sizeof(int) * Max(req->nviews, 1));
	int		   *col_map = palloc(sizeof(int) * (nent + req->nout));

	call->entity_sql = pstrdup(entity_sql);
	call->ncols = nent + req->nout;
	call->filter_created = filter_created;
	call->nviews = req->nviews;
	call->sources = palloc(sizeof(char *) * Max(req->nviews, 1));
	call->ttls = palloc(sizeof(Interval *) * Max(req->nviews, 1));
	call->key_counts = palloc(sizeof(int) * Max(req->nviews, 1));
	call->feat_counts = palloc(sizeof(int) * Max(req->nviews, 1));
	call->split_rels = palloc(sizeof(Oid) * Max(req->nviews, 1));
	for (int i = 0, f0 = nent; i < req->nviews; i++)
	{
		CfPitView  *pv = &req->views[i];
		CfView	   *v = pv->view;

		call->sources[i] = sources[i];
		/* a plain table's SELECT has no key filter: asof.c may split its scan by blocks */
		call->split_rels[i] = get_rel_relkind(pv->src->relid) == RELKIND_RELATION ? pv->src->relid : InvalidOid;
		call->ttls[i] = NULL;
		if (v->has_ttl)
		{
			call->ttls[i] = palloc(sizeof(Interval));
			*call->ttls[i] = v->ttl;
		}
		call->key_counts[i] = v->nkeys;
		call->feat_counts[i] = pv->nfeat;
		first[i] = f0;
		f0 += pv->nfeat;
	}
	for (int i = 0; i < nent; i++)
		col_map[i] = i;
	for (int o = 0; o < req->nout; o++)
		col_map[nent + o] = first[req->out_view[o]] + req->out_pos[o];
	*call_out = call;
	*col_map_out = col_map;
}

/*
 * The whole SELECT: feast._as_of_join reads the entity rows (their columns,
 * then their time and each view's join keys as the views' types), answers
 * each view from its source query and returns the entity columns followed
 * by each view's features, one row per entity row in their order.
 * lower_bound (SQL text or NULL) bounds the source rows' event time from
 * below in every view (entity-less mode).
 */
static char *
cf_generate_sql(CfPitRequest *req, CfEntityInput *in, bool filter_created, const char *lower_bound,
				CfAsofCall **call_out, int **col_map_out)
{
	StringInfoData buf;
	StringInfoData ent;
	TupleDesc	td = in->tupdesc;
	char	  **sources;
	Oid			argtypes[7] = {TEXTOID, BOOLOID, TIMESTAMPTZOID, TEXTARRAYOID, INTERVALARRAYOID,
		INT4ARRAYOID, INT4ARRAYOID};

	/* a database whose extension is not yet updated to 0.4 has no feast._as_of_join */
	if (call_out)
		*call_out = NULL;
	if (!OidIsValid(LookupFuncName(list_make2(makeString("feast"), makeString("_as_of_join")), 7, argtypes,
								   true)))
		return cf_generate_sql_arrays(req, in, filter_created, lower_bound);

	/* the entity query: the rows, their time, each view's join keys */
	initStringInfo(&ent);
	appendStringInfo(&ent, "SELECT e.*, %s", cf_entity_ts_expr(in, "e"));
	for (int i = 0; i < req->nviews; i++)
	{
		CfView	   *v = req->views[i].view;

		/* a projection reads the view's keys from the entity columns its join_key_map names */
		for (int k = 0; k < v->nkeys; k++)
			appendStringInfo(&ent, ", CAST(e.%s AS %s)", quote_identifier(req->views[i].key_cols[k]),
							 cf_dtype_sql(v->key_types[k]));
	}
	appendStringInfo(&ent, " FROM %s AS e", in->from);

	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT ");
	for (int i = 0; i < td->natts; i++)
		appendStringInfo(&buf, "%sr.%s", i ? ", " : "", quote_identifier(NameStr(TupleDescAttr(td, i)->attname)));
	for (int o = 0; o < req->nout; o++)
		appendStringInfo(&buf, ",\n       r.%s",
						 quote_identifier(req->views[req->out_view[o]].out_names[req->out_pos[o]]));
	appendStringInfo(&buf, "\n  FROM feast._as_of_join(\n"
					 "         -- the entity rows, then their time and each feature view's join keys\n"
					 "         %s,\n"
					 "         %s, %s,\n"
					 "         -- each feature view: its batch source's rows, ttl, number of join keys and of features\n"
					 "         CAST(ARRAY[",
					 cf_sql_literal(ent.data, "entity"), filter_created ? "true" : "false",
					 lower_bound ? lower_bound : "NULL");
	sources = palloc(sizeof(char *) * Max(req->nviews, 1));
	for (int i = 0; i < req->nviews; i++)
	{
		CfPitView  *pv = &req->views[i];
		CfView	   *v = pv->view;
		char	   *src = cf_source_select(pv->src, pv->nfeat, pv->feat_idx,
										   v->has_ttl || lower_bound != NULL, false);

		/* entity rows given: a partitioned or foreign source reads only their keys (source.c) */
		if (lower_bound == NULL)
			src = psprintf("%s%s", src, cf_source_key_filter(pv->src));
		sources[i] = src;
		appendStringInfo(&buf, "%s\n           -- %s\n           %s", i ? "," : "", v->name,
						 cf_sql_literal(src, "source"));
	}
	appendStringInfoString(&buf, "] AS pg_catalog.text[]),\n         CAST(ARRAY[");
	for (int i = 0; i < req->nviews; i++)
		appendStringInfo(&buf, "%s%s", i ? ", " : "", cf_view_ttl_literal(req->views[i].view, lower_bound));
	appendStringInfoString(&buf, "] AS pg_catalog.interval[]),\n         ARRAY[");
	for (int i = 0; i < req->nviews; i++)
		appendStringInfo(&buf, "%s%d", i ? ", " : "", req->views[i].view->nkeys);
	appendStringInfoString(&buf, "], ARRAY[");
	for (int i = 0; i < req->nviews; i++)
		appendStringInfo(&buf, "%s%d", i ? ", " : "", req->views[i].nfeat);
	appendStringInfoString(&buf, "])\n       AS r(");
	for (int i = 0; i < td->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(td, i);

		appendStringInfo(&buf, "%s%s %s", i ? ", " : "", quote_identifier(NameStr(att->attname)),
						 format_type_extended(att->atttypid, att->atttypmod,
											  FORMAT_TYPE_TYPEMOD_GIVEN | FORMAT_TYPE_FORCE_QUALIFY));
	}
	/* the features follow view by view */
	for (int i = 0; i < req->nviews; i++)
	{
		CfPitView  *pv = &req->views[i];

		for (int f = 0; f < pv->nfeat; f++)
			appendStringInfo(&buf, ", %s %s", quote_identifier(pv->out_names[f]),
							 cf_dtype_sql(pv->view->feature_types[pv->feat_idx[f]]));
	}
	appendStringInfoChar(&buf, ')');
	if (call_out && lower_bound == NULL)
		cf_asof_call_for(req, in, filter_created, ent.data, sources, call_out, col_map_out);
	return buf.data;
}

typedef struct CfHistoricalCall
{
	text	   *entity_sql;
	ArrayType  *features;
	bool		full_names;
	text	   *service;
	bool		filter_created;
	char	   *sql;			/* out, in the caller's context */
	bool		want_call;
	CfAsofCall *call;			/* out if want_call: the as-of join's arguments, or NULL */
	int		   *col_map;
} CfHistoricalCall;

static void
cf_historical_body(void *arg, MemoryContext caller)
{
	CfHistoricalCall *c = (CfHistoricalCall *) arg;
	CfPitRequest *req;
	CfEntityInput *in;
	CfAsofCall *call = NULL;
	int		   *col_map = NULL;
	char	   *sql;

	req = cf_build_request(c->features, c->service ? text_to_cstring(c->service) : NULL, c->full_names);
	in = cf_entity_input(text_to_cstring(c->entity_sql));
	cf_check_request(req, in);
	sql = cf_generate_sql(req, in, c->filter_created, NULL, c->want_call ? &call : NULL, &col_map);
	c->sql = MemoryContextStrdup(caller, sql);
	if (call != NULL)
	{
		/* into the caller's memory */
		MemoryContext old = MemoryContextSwitchTo(caller);
		CfAsofCall *copy = palloc(sizeof(CfAsofCall));
		int			ncols = call->ncols;

		*copy = *call;
		copy->entity_sql = pstrdup(call->entity_sql);
		copy->sources = palloc(sizeof(char *) * Max(call->nviews, 1));
		copy->ttls = palloc(sizeof(Interval *) * Max(call->nviews, 1));
		copy->key_counts = palloc(sizeof(int) * Max(call->nviews, 1));
		copy->feat_counts = palloc(sizeof(int) * Max(call->nviews, 1));
		copy->split_rels = palloc(sizeof(Oid) * Max(call->nviews, 1));
		for (int i = 0; i < call->nviews; i++)
		{
			copy->sources[i] = pstrdup(call->sources[i]);
			copy->split_rels[i] = call->split_rels[i];
			copy->ttls[i] = NULL;
			if (call->ttls[i] != NULL)
			{
				copy->ttls[i] = palloc(sizeof(Interval));
				*copy->ttls[i] = *call->ttls[i];
			}
			copy->key_counts[i] = call->key_counts[i];
			copy->feat_counts[i] = call->feat_counts[i];
		}
		c->col_map = palloc(sizeof(int) * ncols);
		memcpy(c->col_map, col_map, sizeof(int) * ncols);
		c->call = copy;
		MemoryContextSwitchTo(old);
	}
}

/* the generated SELECT, built inside cf_registry_call; *call_out (if asked): its as-of join's arguments */
static char *
cf_historical_sql(text *entity_sql, ArrayType *features, bool full_names, text *service,
				  bool filter_created, CfAsofCall **call_out, int **col_map_out)
{
	CfHistoricalCall call = {entity_sql, features, full_names, service, filter_created, NULL,
	call_out != NULL, NULL, NULL};

	if (entity_sql == NULL)
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("entity_sql must not be null"),
						errhint("Pass a table or view name, or a SELECT.")));
	cf_registry_call(cf_historical_body, &call);
	if (call_out)
	{
		*call_out = call.call;
		*col_map_out = call.col_map;
	}
	return call.sql;
}

#define ARG_TEXT(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_TEXT_PP(n))
#define ARG_ARRAY(n) (PG_ARGISNULL(n) ? NULL : PG_GETARG_ARRAYTYPE_P(n))
#define ARG_BOOL(n) (PG_ARGISNULL(n) ? false : PG_GETARG_BOOL(n))

/* feast_historical_features_sql(entity_sql, features, full_feature_names, feature_service,
 *								  filter_by_created_timestamp) RETURNS text */
Datum
cfeast_historical_features_sql(PG_FUNCTION_ARGS)
{
	char	   *sql = cf_historical_sql(ARG_TEXT(0), ARG_ARRAY(1), ARG_BOOL(2), ARG_TEXT(3), ARG_BOOL(4),
										NULL, NULL);

	PG_RETURN_TEXT_P(cstring_to_text(sql));
}

/* ------------------------------------------------------------------------
 * entity-less mode: the rows of [start, end]
 * ------------------------------------------------------------------------
 */

/*
 * The entity rows over every view's source rows in [start, end]: SELECT
 * DISTINCT keys, event time ordered by time then keys; latest_only: the
 * keys, each with end as its time.
 */
static char *
cf_range_entity_sql(CfPitRequest *req, const char *start, const char *end, bool latest_only)
{
	StringInfoData buf;
	CfView	   *first = req->views[0].view;
	char	  **first_cols = req->views[0].key_cols;

	for (int i = 1; i < req->nviews; i++)
	{
		CfView	   *v = req->views[i].view;
		bool		same = v->nkeys == first->nkeys;

		for (int k = 0; same && k < v->nkeys; k++)
			same = strcmp(req->views[i].key_cols[k], first_cols[k]) == 0 &&
				v->key_types[k].base == first->key_types[k].base;
		if (!same)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("feature views \"%s\" and \"%s\" have different join keys", req->views[0].alias,
							req->views[i].alias),
					 errhint("Entity-less retrieval needs views with the same join keys; pass entity rows instead.")));
	}
	initStringInfo(&buf);
	appendStringInfoString(&buf, "SELECT DISTINCT ");
	for (int k = 0; k < first->nkeys; k++)
		appendStringInfo(&buf, "k.%s, ", quote_identifier(first_cols[k]));
	appendStringInfo(&buf, "%s AS event_timestamp FROM (", latest_only ? end : "k.event_timestamp");
	for (int i = 0; i < req->nviews; i++)
	{
		CfSourceSpec *s = req->views[i].src;
		char	   *qts = psprintf("s.%s", quote_identifier(s->ts_col));
		char	   *ts = cf_ts_expr(qts, s->ts_type);

		appendStringInfoString(&buf, i ? " UNION ALL SELECT " : "SELECT ");
		for (int k = 0; k < first->nkeys; k++)
			appendStringInfo(&buf, "%s AS %s, ",
							 cf_cast_column(s, s->key_cols[k], first->key_types[k], "join key"),
							 quote_identifier(first_cols[k]));
		appendStringInfo(&buf, "%s AS event_timestamp", ts);
		appendStringInfo(&buf, " FROM %s AS s WHERE %s OPERATOR(pg_catalog.>=) %s AND %s OPERATOR(pg_catalog.<=) %s",
						 s->relation, ts, start, ts, end);
	}
	appendStringInfoString(&buf, ") AS k ORDER BY ");
	if (!latest_only)
		appendStringInfoString(&buf, "k.event_timestamp");
	for (int k = 0; k < first->nkeys; k++)
		appendStringInfo(&buf, "%sk.%s", k || !latest_only ? ", " : "", quote_identifier(first_cols[k]));
	if (latest_only && first->nkeys == 0)
		appendStringInfoString(&buf, "1");
	return buf.data;
}

typedef struct CfRangeCall
{
	FunctionCallInfo fcinfo;
	char	   *sql;			/* out, in the caller's context */
} CfRangeCall;

static void
cf_range_body(void *arg, MemoryContext caller)
{
	FunctionCallInfo fcinfo = ((CfRangeCall *) arg)->fcinfo;
	TimestampTz start;
	TimestampTz end = PG_GETARG_TIMESTAMPTZ(1);
	CfPitRequest *req;
	CfEntityInput *in;
	char	   *start_lit;
	char	   *end_lit;
	bool		latest_only = PG_NARGS() > 5 && ARG_BOOL(5);

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
		/* the ttl as everywhere: a fixed length, saturating (no expiry) beyond the range */
		start = cf_minus_ttl(end, &longest);
	}
	else
		start = PG_GETARG_TIMESTAMPTZ(0);
	if (start > end)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("start_ts must not be after end_ts")));
	start_lit = cf_timestamptz_literal(start);
	end_lit = cf_timestamptz_literal(end);
	in = cf_entity_input(cf_range_entity_sql(req, start_lit, end_lit, latest_only));
	cf_check_request(req, in);
	/* latest_only: [start, end] is every view's window; else each view's ttl from each row's time */
	((CfRangeCall *) arg)->sql = MemoryContextStrdup(caller, cf_generate_sql(req, in, false,
																		 latest_only ? start_lit : NULL, NULL, NULL));
}

/* feast_range_features_sql(start_ts, end_ts, features, full_feature_names, feature_service,
 *							latest_only) */
Datum
cfeast_range_features_sql(PG_FUNCTION_ARGS)
{
	CfRangeCall call = {fcinfo, NULL};

	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("end_ts must not be null")));
	cf_registry_call(cf_range_body, &call);
	PG_RETURN_TEXT_P(cstring_to_text(call.sql));
}

/* ------------------------------------------------------------------------
 * feast_create_training_set
 * ------------------------------------------------------------------------
 */

/*
 * Fill the new training set table: the as-of join's rows inserted in
 * batches, unless something (an event trigger) gave the table an index, a
 * trigger, a constraint or row security: then INSERT ... SELECT, which
 * applies them.
 */
static void
cf_training_set_fill(Oid relid, const char *target, const char *select, CfAsofCall *call, int *col_map)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	td = RelationGetDescr(rel);
	bool		bare = rel->rd_rel->relkind == RELKIND_RELATION && !rel->rd_rel->relhasindex &&
		rel->trigdesc == NULL && rel->rd_att->constr == NULL && !rel->rd_rel->relrowsecurity &&
		td->natts == call->ncols && pg_class_aclcheck(relid, GetUserId(), ACL_INSERT) == ACLCHECK_OK;

	for (int i = 0; bare && i < td->natts; i++)
		bare = !TupleDescAttr(td, i)->attisdropped;

	table_close(rel, NoLock);
	CommandCounterIncrement();
	if (bare)
	{
		/* a fresh snapshot, as the statement run through SPI would take */
		PushActiveSnapshot(GetTransactionSnapshot());
		cf_as_of_join_into(call, relid, col_map);
		PopActiveSnapshot();
	}
	else if (SPI_execute(psprintf("INSERT INTO %s\n%s", target, select), false, 0) != SPI_OK_INSERT)
		elog(ERROR, "filling %s failed", target);
	CommandCounterIncrement();
}

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
	CfAsofCall *call = NULL;
	int		   *col_map = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("the training set needs a table name")));
	names = textToQualifiedNameList(PG_GETARG_TEXT_PP(0));
	rv = makeRangeVarFromNameList(names);
	target = rv->schemaname ? quote_qualified_identifier(rv->schemaname, rv->relname)
		: pstrdup(quote_identifier(rv->relname));
	select = cf_historical_sql(ARG_TEXT(1), ARG_ARRAY(2), ARG_BOOL(3), ARG_TEXT(4), ARG_BOOL(5),
							   &call, &col_map);

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
	if (call == NULL)
	{
		if (SPI_execute(psprintf("CREATE TABLE %s AS\n%s", target, select), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "creating %s failed", target);
		relid = RangeVarGetRelid(rv, NoLock, false);
	}
	else
	{
		/* the table as CREATE TABLE AS makes it, then the join's rows straight into it */
		if (SPI_execute(psprintf("CREATE TABLE %s AS\n%s\nWITH NO DATA", target, select), false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "creating %s failed", target);
		relid = RangeVarGetRelid(rv, NoLock, false);
		cf_training_set_fill(relid, target, select, call, col_map);
	}
	SPI_finish();
	PG_RETURN_OID(relid);
}
