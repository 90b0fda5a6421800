/*-------------------------------------------------------------------------
 * push.c
 *	  feast_push(push_source, rows, to): validate rows and write them to
 *	  every feature view of the source, online and/or offline, in the
 *	  caller's transaction; feast_write_online(view, rows): the same for
 *	  one online view, whatever its source.
 *
 * The jsonb is walked once.  Each value goes straight to its Datum
 * (types.c), into one column array per push field.  Nothing is written
 * until every row has passed.  Then, for each view, rows that share a key
 * are resolved by the write rule (version.c) in a key set (keys.c), the
 * winners are sorted by key (so concurrent pushers lock rows in one order
 * and cannot deadlock), and direct.c writes them into a plain online table
 * (probe the key, apply the same rule against the stored row, update or
 * insert); any other table gets write.c's cached INSERT ... ON CONFLICT
 * ... DO UPDATE ... WHERE <newer> plan, which applies the same rule.
 *-------------------------------------------------------------------------
 */
#include "write.h"
#include "direct.h"
#include "freshness.h"
#include "push.h"
#include "jsontext.h"
#include "keys.h"
#include "version.h"
#include "router.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/syscache.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/tuplestore.h"
#include "access/relation.h"
#include "parser/parse_relation.h"
#include "storage/lmgr.h"
#include "utils/rel.h"

PG_FUNCTION_INFO_V1(cfeast_push);
PG_FUNCTION_INFO_V1(cfeast_push_text);
PG_FUNCTION_INFO_V1(cfeast_write_online);
PG_FUNCTION_INFO_V1(cfeast_push_many);

int			cf_unknown_fields = CF_UNKNOWN_ERROR;

typedef enum CfPushTo
{
	CF_TO_ONLINE = 1,
	CF_TO_OFFLINE = 2,
	CF_TO_BOTH = 3
} CfPushTo;

/* ------------------------------------------------------------------------
 * arguments
 * ------------------------------------------------------------------------
 */

static CfPushTo
cf_parse_to(text *to)
{
	char	   *s = to ? text_to_cstring(to) : NULL;

	if (s && strcmp(s, "online") == 0)
		return CF_TO_ONLINE;
	if (s && strcmp(s, "offline") == 0)
		return CF_TO_OFFLINE;
	if (s && strcmp(s, "online_and_offline") == 0)
		return CF_TO_BOTH;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for \"to\": %s", s ? quote_literal_cstr(s) : "NULL"),
			 errhint("\"to\" is one of online, offline, online_and_offline.")));
	return CF_TO_ONLINE;		/* not reached */
}

static char *
cf_field_list(CfPushSource *src)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < src->nfields; i++)
		appendStringInfo(&buf, "%s%s%s", i ? ", " : "", src->fields[i].name,
						 src->fields[i].required ? "" : " (optional)");
	return buf.data;
}

/* ------------------------------------------------------------------------
 * parsing
 * ------------------------------------------------------------------------
 */

static inline int
cf_find_field(CfPushSource *src, const char *name, int len, int guess)
{
	if (guess >= 0 && src->fields[guess].namelen == len &&
		memcmp(src->fields[guess].name, name, len) == 0)
		return guess;
	for (int i = 0; i < src->nfields; i++)
		if (src->fields[i].namelen == len && memcmp(src->fields[i].name, name, len) == 0)
			return i;
	return -1;
}

static void
cf_unknown_field(CfPushSource *src, int64 row, const char *name, int len)
{
	char	   *n = pnstrdup(name, len);

	if (row >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row " INT64_FORMAT ": field \"%s\": not a field of %s \"%s\"",
						row, n, src->kind, src->name),
				 errdetail("Its fields are: %s.", cf_field_list(src)),
				 errhint("SET cfeast.unknown_fields = 'ignore' to drop unknown fields.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\": not a field of %s \"%s\"", n, src->kind, src->name),
			 errdetail("Its fields are: %s.", cf_field_list(src)),
			 errhint("SET cfeast.unknown_fields = 'ignore' to drop unknown fields.")));
}

/* store one value of field f at row r, with the field's null rule */
void
cf_store_value(CfBatch *b, int f, int64 r, CfJsonValue *v)
{
	CfField    *field = &b->src->fields[f];
	CfValueSite site = {r, field->name};
	bool		isnull;

	if (v->kind == CF_JSON_NULL && (field->role == CF_FIELD_KEY || field->role == CF_FIELD_TIMESTAMP))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("row " INT64_FORMAT ": field \"%s\": expected %s, got null", r, field->name,
						cf_dtype_name(field->dtype)),
				 errdetail("%s must not be null.",
						   field->role == CF_FIELD_KEY ? "Join keys" : "The event timestamp")));
	b->values[f][r] = cf_value_to_datum(v, field->dtype, &site, &isnull);
	b->nulls[f][r] = isnull;
}

static void
cf_missing_field(CfPushSource *src, int64 row, int f)
{
	if (row >= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row " INT64_FORMAT ": field \"%s\": missing", row, src->fields[f].name),
				 errdetail("Every row carries every join key, feature and the event timestamp (%s); give null for a missing feature value.",
						   src->fields[src->ts_field].name)));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("field \"%s\": missing", src->fields[f].name),
			 errdetail("Every row carries every join key, feature and the event timestamp (%s); give null for a missing feature value.",
					   src->fields[src->ts_field].name)));
}

/* room for at least nrows rows; new rows start as NULL in every field */
void
cf_batch_reserve(CfBatch *b, int64 nrows)
{
	int			nf = b->src->nfields;
	int64		cap = Max(nrows, 1);

	if (b->values == NULL)
	{
		b->values = palloc(sizeof(Datum *) * nf);
		b->nulls = palloc(sizeof(bool *) * nf);
		for (int f = 0; f < nf; f++)
		{
			b->values[f] = palloc_extended(sizeof(Datum) * cap, MCXT_ALLOC_HUGE);
			b->nulls[f] = palloc_extended(sizeof(bool) * cap, MCXT_ALLOC_HUGE);
			memset(b->nulls[f], true, sizeof(bool) * cap);
		}
		b->capacity = cap;
		return;
	}
	if (cap <= b->capacity)
		return;
	cap = Max(cap, b->capacity * 2);
	for (int f = 0; f < nf; f++)
	{
		b->values[f] = repalloc_huge(b->values[f], sizeof(Datum) * cap);
		b->nulls[f] = repalloc_huge(b->nulls[f], sizeof(bool) * cap);
		memset(b->nulls[f] + b->capacity, true, sizeof(bool) * (cap - b->capacity));
	}
	b->capacity = cap;
}

void
cf_row_reader_init(CfRowReader *rr, CfBatch *b)
{
	rr->b = b;
	rr->seen = palloc0(sizeof(int64) * b->src->nfields);
	rr->nguess = b->src->nfields * 2 + 8;
	rr->guess = palloc(sizeof(int) * rr->nguess);
	memset(rr->guess, -1, sizeof(int) * rr->nguess);
	rr->row = -1;
}

/* row "row" starts: an object, or the error for any other value */
void
cf_row_begin(CfRowReader *rr, int64 row, CfJsonValue *v)
{
	if (v->kind != CF_JSON_OBJECT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("row " INT64_FORMAT ": expected a JSON object, got %s", row,
						cf_describe_value(v))));
	rr->row = row;
	rr->pos = 0;
	rr->nrequired = 0;
}

/* one field of the row, in jsonb's key order (by length, then bytes), each key once */
void
cf_row_field(CfRowReader *rr, const char *key, int keylen, CfJsonValue *v)
{
	CfPushSource *src = rr->b->src;
	int			f = cf_find_field(src, key, keylen, rr->pos < rr->nguess ? rr->guess[rr->pos] : -1);

	if (f < 0 && cf_unknown_fields == CF_UNKNOWN_ERROR)
		cf_unknown_field(src, rr->row, key, keylen);
	if (rr->pos < rr->nguess)
		rr->guess[rr->pos] = f;
	rr->pos++;
	if (f < 0)
		return;
	cf_store_value(rr->b, f, rr->row, v);
	rr->seen[f] = rr->row + 1;
	if (src->fields[f].required)
		rr->nrequired++;
}

/* the row ends: every required field given */
void
cf_row_end(CfRowReader *rr)
{
	CfPushSource *src = rr->b->src;

	if (rr->nrequired < src->nfields)
	{
		for (int i = 0; i < src->nfields; i++)
			if (src->fields[i].required && rr->seen[i] != rr->row + 1)
				cf_missing_field(src, rr->row, i);
	}
}

/* [{"driver_id": 1, ...}, ...] */
static void
cf_parse_row_form(CfBatch *b, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int64		row = -1;
	CfRowReader rr;

	cf_batch_reserve(b, JB_ROOT_COUNT(jb));
	b->nrows = JB_ROOT_COUNT(jb);
	cf_row_reader_init(&rr, b);
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbIterator *oit;
		JsonbValue	fv;
		CfJsonValue cv;
		char	   *key = NULL;
		int			keylen = 0;

		if (tok != WJB_ELEM)
			continue;
		row++;
		CHECK_FOR_INTERRUPTS();
		cf_value_from_jsonb(&v, &cv);
		cf_row_begin(&rr, row, &cv);
		oit = JsonbIteratorInit(v.val.binary.data);
		while ((tok = JsonbIteratorNext(&oit, &fv, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				key = fv.val.string.val;
				keylen = fv.val.string.len;
			}
			else if (tok == WJB_VALUE)
			{
				cf_value_from_jsonb(&fv, &cv);
				cf_row_field(&rr, key, keylen, &cv);
			}
		}
		cf_row_end(&rr);
	}
}

void
cf_columns_init(CfColumns *c, CfBatch *b)
{
	c->b = b;
	c->cols = palloc0(sizeof(CfJsonValue *) * b->src->nfields);
	c->nrows = -1;
	c->first_name = NULL;
}

/* one column, in jsonb's key order, each key once: an array, of the others' length */
void
cf_column_field(CfColumns *c, const char *key, int keylen, CfJsonValue *v)
{
	CfPushSource *src = c->b->src;
	int			f = cf_find_field(src, key, keylen, -1);
	int64		n;

	if (f < 0 && cf_unknown_fields == CF_UNKNOWN_ERROR)
		cf_unknown_field(src, -1, key, keylen);
	if (f < 0)
		return;
	if (v->kind != CF_JSON_ARRAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\": expected an array of values (column form), got %s",
						src->fields[f].name, cf_describe_value(v))));
	n = v->jbv ? JsonContainerSize(v->jbv->val.binary.data) : v->nelems;
	if (c->nrows < 0)
	{
		c->nrows = n;
		c->first_name = src->fields[f].name;
	}
	else if (n != c->nrows)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("field \"%s\": has " INT64_FORMAT " values, but field \"%s\" has " INT64_FORMAT,
						src->fields[f].name, n, c->first_name, c->nrows),
				 errdetail("In the column form every field holds one value per row.")));
	c->cols[f] = v;
}

/* every column given: check the required ones, then convert field by field */
void
cf_columns_end(CfColumns *c)
{
	CfBatch    *b = c->b;
	CfPushSource *src = b->src;

	for (int i = 0; i < src->nfields; i++)
		if (src->fields[i].required && c->cols[i] == NULL)
			cf_missing_field(src, -1, i);

	cf_batch_reserve(b, Max(c->nrows, 0));
	b->nrows = Max(c->nrows, 0);
	for (int i = 0; i < src->nfields; i++)
	{
		CfJsonValue *col = c->cols[i];
		CfJsonValue cv;

		if (col == NULL)
			continue;
		if (col->jbv)
		{
			JsonbIterator *it = JsonbIteratorInit(col->jbv->val.binary.data);
			JsonbValue	v;
			JsonbIteratorToken tok;
			int64		row = 0;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok != WJB_ELEM)
					continue;
				if ((row & 1023) == 0)
					CHECK_FOR_INTERRUPTS();
				cf_value_from_jsonb(&v, &cv);
				cf_store_value(b, i, row, &cv);
				row++;
			}
		}
		else
		{
			for (int64 row = 0; row < col->nelems; row++)
			{
				if ((row & 1023) == 0)
					CHECK_FOR_INTERRUPTS();
				cf_store_value(b, i, row, &col->elems[row]);
			}
		}
	}
}

/* {"driver_id": [1, 2], "conv_rate": [0.5, 0.7], ...} */
static void
cf_parse_column_form(CfBatch *b, Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	CfColumns	c;
	char	   *key = NULL;
	int			keylen = 0;

	cf_columns_init(&c, b);
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			key = v.val.string.val;
			keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
		{
			JsonbValue *keep = palloc(sizeof(JsonbValue));
			CfJsonValue *cv = palloc(sizeof(CfJsonValue));

			*keep = v;
			cf_value_from_jsonb(keep, cv);
			cf_column_field(&c, key, keylen, cv);
		}
	}
	cf_columns_end(&c);
}

void
cf_rows_not_container(void)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("rows must be a JSON array of objects or an object of arrays, got a scalar")));
}

static void
cf_parse_rows(CfBatch *b, Jsonb *jb)
{
	if (JB_ROOT_IS_SCALAR(jb) || (!JB_ROOT_IS_ARRAY(jb) && !JB_ROOT_IS_OBJECT(jb)))
		cf_rows_not_container();
	if (JB_ROOT_IS_ARRAY(jb))
		cf_parse_row_form(b, jb);
	else
		cf_parse_column_form(b, jb);
}

/* ------------------------------------------------------------------------
 * the write rule within a batch
 * ------------------------------------------------------------------------
 */

/* does batch row r replace row s under the write rule? */
static bool
cf_row_replaces(CfBatch *b, int64 r, int64 s)
{
	TimestampTz er,
				es,
				cr,
				cs;
	bool		rn,
				sn;

	cf_batch_version(b, r, &er, &rn, &cr);
	cf_batch_version(b, s, &es, &sn, &cs);
	return cf_version_replaces(er, rn, cr, es, sn, cs);
}

/* key k of batch row "item" of a target (a CfKeyFetch) */
static Datum
cf_target_key(void *arg, int64 item, int k)
{
	CfBatch    *b = ((void **) arg)[0];
	CfPushTarget *tg = ((void **) arg)[1];

	return b->values[tg->key_fields[k]][item];
}

/* the key types of a target */
static Oid *
cf_target_key_types(CfPushTarget *tg)
{
	Oid		   *types = palloc(sizeof(Oid) * Max(tg->view->nkeys, 1));

	for (int k = 0; k < tg->view->nkeys; k++)
		types[k] = cf_dtype_type_oid(tg->view->key_types[k]);
	return types;
}

/*
 * Mark in winner[] the one row per key that the write rule keeps; returns
 * how many.  Equal (event, created) pairs go to the later row, as if the
 * rows had been pushed one by one.
 */
static int64
cf_resolve_duplicates(CfBatch *b, CfPushTarget *tg, bool *winner)
{
	int64		n = b->nrows;
	int64		nwin = 0;
	void	   *arg[2] = {b, tg};
	CfKeySet   *set;

	memset(winner, false, sizeof(bool) * Max(n, 1));
	if (n == 0)
		return 0;
	set = cf_keyset_create(tg->view->nkeys, cf_target_key_types(tg), cf_target_key, arg, n);
	for (int64 r = 0; r < n; r++)
	{
		bool		found;
		int64	   *s = cf_keyset_enter(set, r, &found);

		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		if (!found)
		{
			winner[r] = true;
			nwin++;
		}
		else if (cf_row_replaces(b, r, *s))
		{
			winner[*s] = false;
			winner[r] = true;
			*s = r;
		}
	}
	cf_keyset_destroy(set);
	return nwin;
}

/* ------------------------------------------------------------------------
 * writing
 * ------------------------------------------------------------------------
 */

/*
 * A total order on one view's keys, the same in every backend: rows are
 * written in this order, so concurrent pushers take their
 * row locks in one order and cannot deadlock each other.
 */
static int
cf_key_order(const void *a, const void *c, void *arg)
{
	CfPushTarget *tg = ((void **) arg)[1];
	Oid		   *types = ((void **) arg)[2];
	int64		r = *(const int64 *) a;
	int64		s = *(const int64 *) c;

	for (int k = 0; k < tg->view->nkeys; k++)
	{
		int			cmp = cf_key_cmp(cf_target_key(arg, r, k), cf_target_key(arg, s, k), types[k]);

		if (cmp != 0)
			return cmp;
	}
	return 0;
}

/* write one view's online table; returns rows written (the rest were stale) */
static uint64
cf_write_online(CfBatch *b, CfPushTarget *tg, bool *winner)
{
	CfView	   *v = tg->view;
	int64	   *rows;
	int64		nrows = 0;
	int64		written;
	void	   *cmp_arg[3] = {b, tg, cf_target_key_types(tg)};

	if (!v->online || v->online_table == NULL)
		return 0;
	if (cf_resolve_duplicates(b, tg, winner) == 0)
		return 0;
	rows = palloc_extended(sizeof(int64) * b->nrows, MCXT_ALLOC_HUGE);
	for (int64 r = 0; r < b->nrows; r++)
		if (winner[r])
			rows[nrows++] = r;
	CHECK_FOR_INTERRUPTS();
	if (v->nkeys > 0)
		qsort_arg(rows, nrows, sizeof(int64), cf_key_order, cmp_arg);
	written = cf_write_rows_direct(b, tg, rows, nrows);
	return written >= 0 ? (uint64) written : cf_write_rows_sql(b, tg, rows, nrows);
}

/* every field, named by its batch relation column */
static TupleDesc
cf_offline_tupdesc(CfPushSource *src)
{
	TupleDesc	td = CreateTemplateTupleDesc(src->nfields);

	for (int f = 0; f < src->nfields; f++)
		TupleDescInitEntry(td, (AttrNumber) (f + 1), src->fields[f].offline_column,
						   cf_dtype_type_oid(src->fields[f].dtype), -1, 0);
	return td;
}

/* the batch relation's columns, with timestamp-without-zone columns read as UTC */
static SPIPlanPtr
cf_offline_plan(CfPushSource *src, TupleDesc td)
{
	StringInfoData sql;
	int			n = td->natts;
	char	  **names = palloc(sizeof(char *) * n);
	Oid			relid;
	SPIPlanPtr	plan;

	relid = src->offline_relid;
	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s (", src->offline_table);
	for (int i = 0; i < n; i++)
	{
		names[i] = src->fields[i].offline_column;
		appendStringInfo(&sql, "%s%s", i ? ", " : "", quote_identifier(names[i]));
	}
	appendStringInfoString(&sql, ") SELECT ");
	for (int i = 0; i < n; i++)
	{
		AttrNumber	att = OidIsValid(relid) ? get_attnum(relid, names[i]) : InvalidAttrNumber;
		bool		naive = att != InvalidAttrNumber && get_atttype(relid, att) == TIMESTAMPOID;

		appendStringInfo(&sql, "%s%s%s%s", i ? ", " : "",
						 naive ? "pg_catalog.timezone('UTC', " : "",
						 quote_identifier(names[i]), naive ? ")" : "");
	}
	appendStringInfoString(&sql, " FROM ");
	cf_append_batch_call(&sql, td);
	plan = SPI_prepare(sql.data, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "cfeast: preparing the offline insert into %s failed: %s", src->offline_table,
			 SPI_result_code_string(SPI_result));
	cf_cache_keep_plan(plan);
	return plan;
}

/* append every row to the batch source's relation */
static void
cf_write_offline(CfBatch *b)
{
	CfPushSource *src = b->src;
	int			n = src->nfields;
	TupleDesc	td;
	Datum	   *values = palloc(sizeof(Datum) * src->nfields);
	bool	   *nulls = palloc(sizeof(bool) * src->nfields);
	Tuplestorestate *store;

	if (src->offline_table == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("push source \"%s\" has no batch source to write offline rows to", src->name),
				 errhint("Use \"to\" => 'online', or apply the push source with a batch source.")));
	td = cf_offline_tupdesc(src);
	store = tuplestore_begin_heap(false, false, MAX_KILOBYTES);
	for (int64 r = 0; r < b->nrows; r++)
	{
		if ((r & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int i = 0; i < n; i++)
		{
			values[i] = b->values[i][r];
			nulls[i] = b->nulls[i][r];
		}
		tuplestore_putvalues(store, td, values, nulls);
	}
	if (src->offline_plan == NULL)
		src->offline_plan = cf_offline_plan(src, td);
	(void) cf_run_with_batch(src->offline_plan, store, td);
}

/* the owner of feast.push_activity (the extension's installer, unless changed) */
static Oid
cf_push_activity_owner(void)
{
	Oid			relid = get_relname_relid("push_activity", get_namespace_oid("feast", false));
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cfeast: feast.push_activity is missing");
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * Record in feast.push_activity that a push reached this view.  At most once
 * a second per backend and view, and never waiting: a row locked by another
 * pusher (who is recording the same moment) is skipped.
 */
static void
cf_note_push(CfPushTarget *tg)
{
	static SPIPlanPtr plan = NULL;
	TimestampTz now = GetCurrentTimestamp();
	Oid			argtypes[2] = {TEXTOID, TIMESTAMPTZOID};
	Datum		args[2];
	Oid			owner;
	Oid			save_userid;
	int			save_sec;
	volatile int rc = 0;

	if (now - tg->last_noted < USECS_PER_SEC)
		return;
	tg->last_noted = now;
	/* kept for the backend's life: it names no view, and plancache revalidates it */
	if (plan == NULL)
	{
		plan = SPI_prepare("UPDATE feast.push_activity a SET last_push_at = $2"
						   "  FROM (SELECT p.ctid FROM feast.push_activity p"
						   "         WHERE p.feature_view OPERATOR(pg_catalog.=) $1"
						   "           FOR UPDATE SKIP LOCKED) l"
						   " WHERE a.ctid OPERATOR(pg_catalog.=) l.ctid"
						   "   AND (a.last_push_at IS NULL"
						   "        OR a.last_push_at OPERATOR(pg_catalog.<) $2)",
						   2, argtypes);
		if (plan == NULL)
			elog(ERROR, "cfeast: preparing the push_activity update failed");
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
	}
	args[0] = CStringGetTextDatum(tg->view->name);
	args[1] = TimestampTzGetDatum(now);
	/* as the table's owner: the pusher has just written the view, and needs no grant here */
	owner = cf_push_activity_owner();
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(owner, save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "cfeast: updating feast.push_activity failed");
}

/* ------------------------------------------------------------------------
 * SQL-callable
 * ------------------------------------------------------------------------
 */

/* the relations a push writes, locked in OID order as the writes will lock them */
static void
cf_lock_push_relations(CfPushSource *src, CfPushTo to)
{
	Oid		   *relids = palloc(sizeof(Oid) * (src->ntargets + 1));
	int			n = 0;

	for (int t = 0; (to & CF_TO_ONLINE) && t < src->ntargets; t++)
		if (src->targets[t].view->online && OidIsValid(src->targets[t].view->online_relid))
			relids[n++] = src->targets[t].view->online_relid;
	if ((to & CF_TO_OFFLINE) && OidIsValid(src->offline_relid))
		relids[n++] = src->offline_relid;
	qsort(relids, n, sizeof(Oid), oid_cmp);
	for (int i = 0; i < n; i++)
		LockRelationOid(relids[i], RowExclusiveLock);
}

/*
 * Each online table, now that the push holds its lock, has the column types
 * of the definition the push was read with.  A change through the registry
 * has been reloaded by then; a table retyped by hand is refused, never
 * coerced into.
 */
static void
cf_check_online_columns(CfPushSource *src, CfPushTo to)
{
	/*
	 * The last source found to match, at the registry cache's generation of
	 * then: that generation moves with every relcache invalidation of an
	 * online table the cache was built over (registry.c), and a source is
	 * never freed before it moves, so while it holds, nothing this check
	 * reads has changed.
	 */
	static CfPushSource *checked = NULL;
	static uint64 checked_gen = 0;

	if (!(to & CF_TO_ONLINE) || (src == checked && checked_gen == cf_cache_generation()))
		return;
	for (int t = 0; (to & CF_TO_ONLINE) && t < src->ntargets; t++)
	{
		CfView	   *v = src->targets[t].view;
		Relation	rel;

		if (!v->online || !OidIsValid(v->online_relid))
			continue;
		rel = relation_open(v->online_relid, NoLock);
		for (int i = 0; i < v->nkeys + v->nfeatures; i++)
		{
			const char *name = i < v->nkeys ? v->key_names[i] : v->feature_names[i - v->nkeys];
			CfDtype		dt = i < v->nkeys ? v->key_types[i] : v->feature_types[i - v->nkeys];
			AttrNumber	att = attnameAttNum(rel, name, false);
			Oid			have = att > 0 ? TupleDescAttr(RelationGetDescr(rel), att - 1)->atttypid : InvalidOid;

			if (have != cf_dtype_type_oid(dt))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("online table %s does not match feature view \"%s\"", v->online_table, v->name),
						 errdetail("Column \"%s\" is %s; the view defines it as %s.", name,
								   OidIsValid(have) ? format_type_be(have) : "missing", cf_dtype_name(dt)),
						 errhint("Re-apply the feature view, or restore the column.")));
		}
		relation_close(rel, NoLock);
	}
	checked = src;
	checked_gen = cf_cache_generation();
}

/*
 * The push source, with every relation the push writes locked, as defined
 * once those locks are held: a registry change that commits while the push
 * waits (a retyped feature) arrives as an invalidation when the lock is
 * granted, and the source is read again.  Nothing has been parsed yet, so
 * the rows are read with the definition that holds.
 */
static CfPushSource *
cf_push_source_locked(const char *name, CfPushTo to, bool view_writer)
{
	CfPushSource *src;

	for (int attempt = 0;; attempt++)
	{
		uint64		gen = cf_cache_generation();

		src = view_writer ? cf_lookup_view_writer(name) : cf_lookup_push_source(name);
		cf_lock_push_relations(src, to);
		if (gen == cf_cache_generation())
			break;
		if (attempt == 2 || !cf_cache_reload())
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("%s \"%s\" changed while the push waited for its tables",
							view_writer ? "feature view" : "push source", name),
					 errhint("Retry the push.")));
	}
	cf_check_online_columns(src, to);
	return src;
}

typedef struct CfPushCall
{
	char	   *source_name;
	Jsonb	   *rows;			/* the rows as jsonb, or */
	text	   *rows_text;		/* as JSON text (jsontext.c), or */
	Datum	   *texts;			/* several JSON texts, one push (feast._push_many) */
	int			ntexts;
	int64	   *counts;			/* out, with texts: each one's rows */
	int			element;		/* the text being read, for the error context; -1 none */
	CfPushTo	to;
	bool		view_writer;	/* source_name names a view: feast_write_online */
	bool		parse_only;		/* router.c: check the rows, write nothing */
	CfBatch    *batch;			/* out, with parse_only (in the caller's context) */
	bool		parsed;			/* out: every row read and converted */
	int64		nrows;			/* out */
	int64		written;		/* out: online view rows written */
	int64		stale;			/* out: online view rows older than the stored ones */
} CfPushCall;

/* errors while one of feast._push_many's texts is read name it */
static void
cf_element_context(void *arg)
{
	int			element = *(int *) arg;

	if (element >= 0)
		errcontext("element %d of the rows array", element);
}

/*
 * feast._push_many's texts, each read as feast_push reads its text into a
 * batch of its own, then appended to the one batch of the push: the rows
 * in order, text after text.  Each text's row count goes to call->counts.
 */
static void
cf_parse_texts(CfBatch *b, CfPushCall *call)
{
	ErrorContextCallback cb = {.previous = error_context_stack, .callback = cf_element_context,
	.arg = &call->element};
	int			nf = b->src->nfields;

	error_context_stack = &cb;
	for (int i = 0; i < call->ntexts; i++)
	{
		CfBatch		one;

		memset(&one, 0, sizeof(one));
		one.src = b->src;
		call->element = i;
		cf_parse_rows_text(&one, DatumGetTextPP(call->texts[i]));
		call->counts[i] = one.nrows;
		if (one.nrows == 0)
			continue;
		cf_batch_reserve(b, b->nrows + one.nrows);
		for (int f = 0; f < nf; f++)
		{
			memcpy(b->values[f] + b->nrows, one.values[f], sizeof(Datum) * one.nrows);
			memcpy(b->nulls[f] + b->nrows, one.nulls[f], sizeof(bool) * one.nrows);
			pfree(one.values[f]);
			pfree(one.nulls[f]);
		}
		b->nrows += one.nrows;
	}
	call->element = -1;
	error_context_stack = cb.previous;
}

/* the push itself, inside cf_registry_call (in SPI's procedure context) */
static void
cf_push_body(void *arg, MemoryContext caller)
{
	CfPushCall *call = (CfPushCall *) arg;
	CfBatch		batch;
	int64		stale = 0;

	memset(&batch, 0, sizeof(batch));
	batch.src = cf_push_source_locked(call->source_name, call->to, call->view_writer);
	if (call->parse_only)
	{
		MemoryContext old = MemoryContextSwitchTo(caller);

		batch.want_spans = call->batch->want_spans;

		/* the registry cache (batch.src) outlives the call; the rows go to the caller */
		if (call->rows_text)
			cf_parse_rows_text(&batch, call->rows_text);
		else
			cf_parse_rows(&batch, call->rows);
		MemoryContextSwitchTo(old);
		call->parsed = true;
		*call->batch = batch;
		call->nrows = batch.nrows;
		return;
	}
	if (call->texts)
		cf_parse_texts(&batch, call);
	else if (call->rows_text)
		cf_parse_rows_text(&batch, call->rows_text);
	else
		cf_parse_rows(&batch, call->rows);
	call->parsed = true;

	if (batch.nrows > 0 && (call->to & CF_TO_ONLINE))
	{
		bool	   *winner = palloc_extended(sizeof(bool) * batch.nrows, MCXT_ALLOC_HUGE);

		for (int t = 0; t < batch.src->ntargets; t++)
		{
			CfPushTarget *tg = &batch.src->targets[t];
			uint64		written = cf_write_online(&batch, tg, winner);

			if (tg->view->online && tg->view->online_table)
			{
				call->written += (int64) written;
				stale += batch.nrows - (int64) written;
				cf_note_push(tg);
				cf_freshness_note_push(&batch, tg, written);
			}
		}
	}
	if (batch.nrows > 0 && (call->to & CF_TO_OFFLINE))
		cf_write_offline(&batch);

	ereport(DEBUG1,
			(errmsg_internal("cfeast: pushed " INT64_FORMAT " rows to \"%s\" (%d views, " INT64_FORMAT
							 " stale view rows), batch memory %zu kB",
							 batch.nrows, call->source_name, batch.src->ntargets, stale,
							 MemoryContextMemAllocated(CurrentMemoryContext, true) / 1024)));
	call->nrows = batch.nrows;
	call->stale = stale;
}

/*
 * For router.c: a push in this transaction, with its counts (rows; online
 * view rows written and stale); "to" is 1 online, 2 offline, 3 both.
 */
static int64
cf_push_local_rows(const char *source_name, Jsonb *rows, text *rows_text, int to,
				   int64 *written, int64 *stale)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	call.source_name = pstrdup(source_name);
	call.rows = rows;
	call.rows_text = rows_text;
	call.to = (CfPushTo) to;
	cf_registry_call(cf_push_body, &call);
	*written = call.written;
	*stale = call.stale;
	return call.nrows;
}

int64
cf_push_local(const char *source_name, Jsonb *rows, int to, int64 *written, int64 *stale)
{
	return cf_push_local_rows(source_name, rows, NULL, to, written, stale);
}

/* For router.c: the same, from JSON text (a node part of a routed push) */
int64
cf_push_local_text(const char *source_name, text *rows, int to, int64 *written, int64 *stale)
{
	return cf_push_local_rows(source_name, NULL, rows, to, written, stale);
}

/*
 * For router.c: read and check the rows exactly as feast_push would (the
 * same errors, row numbers included), writing nothing; the rows land in
 * *batch, allocated in the current memory context.  Returns "to" as for
 * cf_push_local.
 */
int
cf_push_parse(const char *source_name, Jsonb *rows, text *to, CfBatch *batch)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	call.to = cf_parse_to(to);
	call.source_name = pstrdup(source_name);
	call.rows = rows;
	call.parse_only = true;
	call.batch = batch;
	cf_registry_call(cf_push_body, &call);
	return (int) call.to;
}

/* For router.c: cf_push_parse from JSON text; *parsed once every row was read */
int
cf_push_parse_text(const char *source_name, text *rows, text *to, CfBatch *batch, bool *parsed)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	*parsed = false;
	call.to = cf_parse_to(to);
	call.source_name = pstrdup(source_name);
	call.rows_text = rows;
	call.parse_only = true;
	call.batch = batch;
	cf_registry_call(cf_push_body, &call);
	*parsed = call.parsed;
	return (int) call.to;
}

/* feast_push's arguments but the rows */
static void
cf_push_args(FunctionCallInfo fcinfo, CfPushCall *call)
{
	memset(call, 0, sizeof(*call));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("push source name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("rows must not be null")));
	call->to = cf_parse_to(PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2));
	call->source_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
}

/* feast_push(push_source text, rows jsonb, "to" text DEFAULT 'online') RETURNS bigint */
Datum
cfeast_push(PG_FUNCTION_ARGS)
{
	CfPushCall	call;

	cf_push_args(fcinfo, &call);
	call.rows = PG_GETARG_JSONB_P(1);
	if (cf_router_active())
		PG_RETURN_INT64(cf_router_push(call.source_name, call.rows, PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2), NULL));
	cf_registry_call(cf_push_body, &call);
	PG_RETURN_INT64(call.nrows);
}

/* feast._push_many's texts, NULLs refused */
static void
cf_many_args(FunctionCallInfo fcinfo, CfPushCall *call)
{
	ArrayType  *a = PG_GETARG_ARRAYTYPE_P(1);
	bool	   *nulls;

	if (ARR_NDIM(a) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("rows must be a one-dimensional array of JSON texts, got %d dimensions", ARR_NDIM(a))));
	deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &call->texts, &nulls, &call->ntexts);
	for (int i = 0; i < call->ntexts; i++)
		if (nulls[i])
			ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
							errmsg("element %d of the rows array must not be null", i)));
	call->counts = palloc0(sizeof(int64) * Max(call->ntexts, 1));
	call->element = -1;
}

/*
 * A push from JSON text: feast_push's text form (many false) or
 * feast._push_many (many).  The jsonb form fails on text that jsonb
 * refuses before anything else, so an error raised before every row has
 * been read gives way to jsonb's input error, if the text has one.  For
 * feast._push_many, which answers as feast_push on each text in turn, the
 * texts checked are those up to the one being read, or only the first when
 * the call failed before reading any (a NULL source, a bad "to", an unknown
 * source: feast_push fails so on the first text, and jsonb's error of that
 * text comes first); the array's own errors (its shape, a NULL text) come
 * before everything.
 */
static void
cf_push_text_run(FunctionCallInfo fcinfo, CfPushCall *call, bool many)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile edata = NULL;
	CfPushCall	texts;

	memset(&texts, 0, sizeof(texts));
	if (many && !PG_ARGISNULL(1))
		cf_many_args(fcinfo, &texts);
	PG_TRY();
	{
		cf_push_args(fcinfo, call);
		if (many)
		{
			call->texts = texts.texts;
			call->ntexts = texts.ntexts;
			call->counts = texts.counts;
			call->element = -1;
		}
		else
			call->rows_text = PG_GETARG_TEXT_PP(1);
		cf_registry_call(cf_push_body, call);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		if (call->parsed || PG_ARGISNULL(1) || (many && texts.ntexts == 0))
			PG_RE_THROW();
		edata = CopyErrorData();
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INSUFFICIENT_RESOURCES ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_OPERATOR_INTERVENTION ||
			ERRCODE_TO_CATEGORY(edata->sqlerrcode) == ERRCODE_INTERNAL_ERROR)
			PG_RE_THROW();
		FlushErrorState();
	}
	PG_END_TRY();
	if (edata && !many)
		cf_json_text_check(PG_GETARG_TEXT_PP(1));
	else if (edata)
	{
		int			last = call->texts && call->element >= 0 ? call->element : 0;
		ErrorContextCallback cb = {.previous = error_context_stack, .callback = cf_element_context,
		.arg = &call->element};

		error_context_stack = &cb;
		for (call->element = 0; call->element <= last; call->element++)
			cf_json_text_check(DatumGetTextPP(texts.texts[call->element]));
		error_context_stack = cb.previous;
	}
	if (edata)
		ReThrowError(edata);
}

/* feast_push(push_source text, rows text, "to" text DEFAULT 'online'): the same push from JSON text */
Datum
cfeast_push_text(PG_FUNCTION_ARGS)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1) && cf_router_active())
	{
		/* a router checks and splits the text as it is (router.c) */
		cf_push_args(fcinfo, &call);
		PG_RETURN_INT64(cf_router_push_text(call.source_name, PG_GETARG_TEXT_PP(1),
											PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2)));
	}
	cf_push_text_run(fcinfo, &call, false);
	PG_RETURN_INT64(call.nrows);
}

/*
 * feast._push_many(push_source text, rows text[], "to" text DEFAULT
 * 'online') RETURNS bigint[]: the rows of several JSON texts pushed as one
 * push (one resolution by the write rule, rows in order text after text;
 * one sort by key; one write), each text's row count back.  cfeast-server
 * coalesces /push requests with it: calling feast_push once per text in
 * one transaction would lock keys in no one order.  Errors are feast_push's
 * for the text that fails, with its place as context.  Not on a router.
 */
Datum
cfeast_push_many(PG_FUNCTION_ARGS)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	if (cf_router_active())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast._push_many is not routed: on a router, call feast_push for each text")));
	cf_push_text_run(fcinfo, &call, true);
	if (call.ntexts == 0)
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(INT8OID));
	{
		Datum	   *d = palloc(sizeof(Datum) * call.ntexts);

		for (int i = 0; i < call.ntexts; i++)
			d[i] = Int64GetDatum(call.counts[i]);
		PG_RETURN_ARRAYTYPE_P(construct_array(d, call.ntexts, INT8OID, sizeof(int64), FLOAT8PASSBYVAL,
											  TYPALIGN_DOUBLE));
	}
}

/*
 * feast_write_online(feature_view text, rows jsonb) RETURNS bigint: the rows
 * of one online view, written straight to its online table whatever feeds
 * the view (Feast's write_to_online_store; cfeast-server's
 * /write-to-online-store).  The same parsing, conversion and write rule as
 * feast_push: the view's writer is a push source of one target whose fields
 * are the view's keys and features, event_timestamp and "created".
 */
Datum
cfeast_write_online(PG_FUNCTION_ARGS)
{
	CfPushCall	call;

	memset(&call, 0, sizeof(call));
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("feature view name must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						errmsg("rows must not be null")));
	if (cf_router_active())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast_write_online is not routed: on a router, push through the view's push source"),
				 errhint("Or call feast_write_online on the node that holds the keys.")));
	call.to = CF_TO_ONLINE;
	call.view_writer = true;
	call.source_name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	call.rows = PG_GETARG_JSONB_P(1);
	call.parse_only = false;
	call.nrows = call.written = call.stale = 0;
	cf_registry_call(cf_push_body, &call);
	PG_RETURN_INT64(call.nrows);
}
