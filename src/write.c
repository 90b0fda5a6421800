/*-------------------------------------------------------------------------
 * write.c
 *	  The SQL writer shared by feast_push and feast_materialize.
 *
 * Rows to write go into a tuplestore.  One INSERT ... SELECT * FROM
 * feast._push_batch() AS b(...) ON CONFLICT (keys) DO UPDATE SET ...
 * WHERE <write rule> reads it: feast._push_batch() is a set-returning
 * function that hands the running plan the tuplestore of the write in
 * progress (cf_pending), so the rows reach the executor without being
 * turned into SQL text or parameters, and indexes, constraints,
 * triggers and row security all apply.  A push keeps the plan per target
 * (it is dropped with the registry cache); materialize uses it once per
 * view and run.
 *-------------------------------------------------------------------------
 */
#include "write.h"
#include "version.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cfeast_push_batch);
PG_FUNCTION_INFO_V1(cfeast_materialize_batch);

/* the tuplestore that feast._push_batch() hands to the running plan */
typedef struct CfPendingBatch
{
	Tuplestorestate *store;
	TupleDesc	tupdesc;
} CfPendingBatch;

static CfPendingBatch *cf_pending = NULL;

void
cf_batch_version(CfBatch *b, int64 r, TimestampTz *event, bool *created_null, TimestampTz *created)
{
	int			cf = b->src->created_field;

	*event = DatumGetTimestampTz(b->values[b->src->ts_field][r]);
	*created_null = cf < 0 || b->nulls[cf][r];
	*created = *created_null ? 0 : DatumGetTimestampTz(b->values[cf][r]);
}

TupleDesc
cf_online_tupdesc(CfView *v)
{
	TupleDesc	td = CreateTemplateTupleDesc(v->nkeys + v->nfeatures + 2);
	int			a = 1;

	for (int k = 0; k < v->nkeys; k++)
		TupleDescInitEntry(td, a++, v->key_names[k], cf_dtype_type_oid(v->key_types[k]), -1, 0);
	for (int f = 0; f < v->nfeatures; f++)
		TupleDescInitEntry(td, a++, v->feature_names[f], cf_dtype_type_oid(v->feature_types[f]), -1, 0);
	TupleDescInitEntry(td, a++, "event_timestamp", TIMESTAMPTZOID, -1, 0);
	TupleDescInitEntry(td, a++, "created_timestamp", TIMESTAMPTZOID, -1, 0);
	return td;
}

/* the quoted name of column i of td */
static const char *
cf_column_name(TupleDesc td, int i)
{
	return quote_identifier(NameStr(TupleDescAttr(td, i)->attname));
}

void
cf_append_batch_call(StringInfo buf, TupleDesc td)
{
	appendStringInfoString(buf, "feast._push_batch() AS b(");
	for (int i = 0; i < td->natts; i++)
		appendStringInfo(buf, "%s%s %s", i ? ", " : "", cf_column_name(td, i),
						 format_type_extended(TupleDescAttr(td, i)->atttypid, -1, FORMAT_TYPE_FORCE_QUALIFY));
	appendStringInfoChar(buf, ')');
}

/* INSERT ... SELECT * FROM feast._push_batch() ... ON CONFLICT ... DO UPDATE ... WHERE <rule> */
static char *
cf_upsert_sql(CfView *v, TupleDesc td)
{
	StringInfoData sql;
	int			n = td->natts;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s AS t (", v->online_table);
	for (int i = 0; i < n; i++)
		appendStringInfo(&sql, "%s%s", i ? ", " : "", cf_column_name(td, i));
	appendStringInfoString(&sql, ") SELECT * FROM ");
	cf_append_batch_call(&sql, td);
	if (v->nkeys == 0)
		appendStringInfoString(&sql, " ON CONFLICT ((true))");
	else
	{
		appendStringInfoString(&sql, " ON CONFLICT (");
		for (int k = 0; k < v->nkeys; k++)
			appendStringInfo(&sql, "%s%s", k ? ", " : "", cf_column_name(td, k));
		appendStringInfoChar(&sql, ')');
	}
	appendStringInfoString(&sql, " DO UPDATE SET ");
	for (int i = v->nkeys; i < n; i++)
		appendStringInfo(&sql, "%s%s = EXCLUDED.%s", i > v->nkeys ? ", " : "",
						 cf_column_name(td, i), cf_column_name(td, i));
	appendStringInfoString(&sql, " WHERE ");
	cf_append_write_rule(&sql, "EXCLUDED", "t");
	return sql.data;
}

uint64
cf_run_with_batch(SPIPlanPtr plan, Tuplestorestate *store, TupleDesc td)
{
	CfPendingBatch pending = {store, td};
	int			rc;

	cf_pending = &pending;
	PG_TRY();
	{
		rc = SPI_execute_plan(plan, NULL, NULL, false, 0);
	}
	PG_FINALLY();
	{
		cf_pending = NULL;
	}
	PG_END_TRY();
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cfeast: write failed: %s", SPI_result_code_string(rc));
	return SPI_processed;
}

uint64
cf_write_store(CfView *v, Tuplestorestate *store, TupleDesc td, SPIPlanPtr *keep)
{
	SPIPlanPtr	plan = keep ? *keep : NULL;
	uint64		written;

	if (plan == NULL)
	{
		plan = SPI_prepare(cf_upsert_sql(v, td), 0, NULL);
		if (plan == NULL)
			elog(ERROR, "cfeast: preparing the upsert for %s failed: %s", v->online_table,
				 SPI_result_code_string(SPI_result));
		if (keep)
		{
			cf_cache_keep_plan(plan);
			*keep = plan;
		}
	}
	written = cf_run_with_batch(plan, store, td);
	if (keep == NULL)
		SPI_freeplan(plan);
	return written;
}

uint64
cf_write_rows_sql(CfBatch *b, CfPushTarget *tg, const int64 *rows, int64 nrows)
{
	CfPushSource *src = b->src;
	CfView	   *v = tg->view;
	TupleDesc	td = cf_online_tupdesc(v);
	int			n = td->natts;
	int		   *fields = palloc(sizeof(int) * n);
	Datum	   *values = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	Tuplestorestate *store;

	if (nrows == 0)
		return 0;
	/* the batch field of each column; the created field may be -1: always NULL */
	memcpy(fields, tg->key_fields, sizeof(int) * v->nkeys);
	memcpy(fields + v->nkeys, tg->feature_fields, sizeof(int) * v->nfeatures);
	fields[n - 2] = src->ts_field;
	fields[n - 1] = src->created_field;
	store = tuplestore_begin_heap(false, false, MAX_KILOBYTES);
	for (int64 i = 0; i < nrows; i++)
	{
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
		for (int c = 0; c < n; c++)
		{
			values[c] = fields[c] < 0 ? (Datum) 0 : b->values[fields[c]][rows[i]];
			nulls[c] = fields[c] < 0 || b->nulls[fields[c]][rows[i]];
		}
		tuplestore_putvalues(store, td, values, nulls);
	}
	return cf_write_store(v, store, td, &tg->upsert_plan);
}

/* feast._push_batch(): the rows of the write in progress, for its INSERT plan */
Datum
cfeast_push_batch(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	if (cf_pending == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("feast._push_batch() is internal to feast_push and feast_materialize")));
	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("feast._push_batch() must be called in FROM")));
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = cf_pending->store;
	rsinfo->setDesc = cf_pending->tupdesc;
	cf_pending = NULL;
	return (Datum) 0;
}

/*
 * The C symbol of feast._materialize_batch() of cfeast 0.1 and 0.2, which
 * the install scripts still create before cfeast 0.3 drops it.
 */
Datum
cfeast_materialize_batch(PG_FUNCTION_ARGS)
{
	return cfeast_push_batch(fcinfo);
}
