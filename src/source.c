/*-------------------------------------------------------------------------
 * source.c
 *	  Reading a feature view's batch source: where it is (the registry's
 *	  batch source of the view, its relation and field mapping) and the
 *	  SELECT that returns its rows as materialize and the as-of join read
 *	  them: join keys, event_timestamp, created_timestamp, features.
 *
 * Timestamps come out as timestamptz: timestamp and date columns are read
 * as UTC (event times, created times and unix_timestamp features).  Apply
 * (feast._check_view_columns) admits only column types whose every value
 * the cast below converts.  Keys and features are cast to their dtypes unless the column
 * has that type already; the event time bounds ($1 above, $2 below) are
 * converted to the column's own type, so an index on it applies.
 *
 * A training set over a partitioned or foreign relation (a batch table
 * hash-partitioned by its first join key, its partitions postgres_fdw
 * tables on the nodes) reads only the entity rows' first keys:
 * cf_source_key_filter adds "first key = ANY ($3)", the as-of join binds
 * $3 to the distinct first keys of its entity rows (NULL past
 * CF_SOURCE_KEY_FILTER_MAX of them: no filter), and the plan, made for
 * those values, prunes the partitions that hold none of them and sends the
 * predicate to the remote nodes.  Ordinary tables and views are read as
 * before: a sequential scan of them beats an array probe.
 *
 * The SELECT of a plain table whose columns need no cast is read without
 * the executor when PostgreSQL plans it as a sequential scan of that table
 * (cf_source_read_direct, for training sets, their SELECT form and
 * materialization; the as-of join reads its entity rows so too).  The plan
 * tells whether that is so, whoever wrote the SELECT: one SeqScan, not
 * parallel, of a plain table without row security for its reader, its
 * target list the table's own columns (or NULLs), its
 * quals only "timestamptz column <= / >= value" (no policy, no other
 * filter, no inheritance child); then the table is scanned with the
 * snapshot SPI would use, each row's columns laid out as the plan's, the
 * bounds compared as timestamptz_le and _ge do.  The executor's own
 * permission check runs on the plan's range table.  It saves the
 * executor's per-row work, a third of a training set's source scan
 * (test/bench/README.md).  Any other plan (an index scan for a narrow
 * window, say) runs as it is.
 *-------------------------------------------------------------------------
 */
#include "source.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "keys.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "parser/parsetree.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

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
char *
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
char *
cf_cast_column(CfSourceSpec *s, const char *col, CfDtype t, const char *what)
{
	char	   *q = psprintf("s.%s", quote_identifier(col));
	Oid			ctype = cf_source_column_type(s, col, what);

	if (ctype == cf_dtype_type_oid(t))
		return q;
	/* a unix_timestamp feature over timestamp or date is read as UTC, like the event time */
	if (!t.is_array && t.base == CF_TIMESTAMP && (ctype == TIMESTAMPOID || ctype == DATEOID))
		return cf_ts_expr(q, ctype);
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
 * reading a plain table without the executor
 * ------------------------------------------------------------------------
 */

#define CF_MAX_BOUNDS 4

/* a plan that is a table scan: each output column's column (0: a NULL), each bound's */
typedef struct CfTableScan
{
	Oid			relid;
	int			ncols;
	AttrNumber *attnums;
	int			nbounds;
	AttrNumber	bound_att[CF_MAX_BOUNDS];
	bool		bound_le[CF_MAX_BOUNDS];	/* column <= value; else column >= value */
	TimestampTz bound[CF_MAX_BOUNDS];
} CfTableScan;

/* "timestamptz column <= value" or ">= value" (a Const, or a Param of "params") into t */
static bool
cf_scan_bound(Node *n, Index scanrelid, ParamListInfo params, CfTableScan *t)
{
	OpExpr	   *op = (OpExpr *) n;
	Var		   *var;
	Node	   *val;
	Oid			fn;
	Datum		d;

	if (!IsA(n, OpExpr) || list_length(op->args) != 2 || t->nbounds == CF_MAX_BOUNDS)
		return false;
	fn = get_opcode(op->opno);
	var = (Var *) linitial(op->args);
	val = lsecond(op->args);
	if ((fn != F_TIMESTAMPTZ_LE && fn != F_TIMESTAMPTZ_GE) || !IsA(var, Var) || var->varno != scanrelid ||
		var->varlevelsup != 0 || var->varattno <= 0 || var->vartype != TIMESTAMPTZOID)
		return false;
	if (IsA(val, Const) && !((Const *) val)->constisnull && ((Const *) val)->consttype == TIMESTAMPTZOID)
		d = ((Const *) val)->constvalue;
	else if (IsA(val, Param) && ((Param *) val)->paramkind == PARAM_EXTERN &&
			 ((Param *) val)->paramtype == TIMESTAMPTZOID && params != NULL &&
			 ((Param *) val)->paramid >= 1 && ((Param *) val)->paramid <= params->numParams &&
			 !params->params[((Param *) val)->paramid - 1].isnull)
		d = params->params[((Param *) val)->paramid - 1].value;
	else
		return false;
	t->bound_att[t->nbounds] = var->varattno;
	t->bound_le[t->nbounds] = fn == F_TIMESTAMPTZ_LE;
	t->bound[t->nbounds] = DatumGetTimestampTz(d);
	t->nbounds++;
	return true;
}

/*
 * Is the plan a sequential scan of one plain table, returning its columns
 * as they are (or NULLs), filtered only by timestamptz bounds, so that
 * nothing else (a policy, a child table, a parallel worker, a function)
 * takes part?  Then t describes it.
 */
static bool
cf_plan_table_scan(CachedPlan *cp, ParamListInfo params, CfTableScan *t)
{
	PlannedStmt *ps;
	Scan	   *scan;
	RangeTblEntry *rte;
	int			i = 0;
	ListCell   *lc;

	if (list_length(cp->stmt_list) != 1)
		return false;
	ps = linitial_node(PlannedStmt, cp->stmt_list);
	if (ps->commandType != CMD_SELECT || ps->hasModifyingCTE || ps->subplans != NIL ||
		ps->rowMarks != NIL || !IsA(ps->planTree, SeqScan) || ps->planTree->parallel_aware ||
		ps->planTree->initPlan != NIL)
		return false;
	scan = (Scan *) ps->planTree;
	rte = rt_fetch(scan->scanrelid, ps->rtable);
	if (rte->rtekind != RTE_RELATION || rte->relkind != RELKIND_RELATION ||
		check_enable_rls(rte->relid, rte->checkAsUser, true) == RLS_ENABLED)
		return false;
	t->relid = rte->relid;
	t->ncols = list_length(scan->plan.targetlist);
	t->attnums = palloc(sizeof(AttrNumber) * Max(t->ncols, 1));
	t->nbounds = 0;
	foreach(lc, scan->plan.targetlist)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Var		   *var = (Var *) tle->expr;

		if (tle->resjunk)
			return false;
		if (IsA(var, Var) && var->varno == scan->scanrelid && var->varlevelsup == 0 && var->varattno > 0)
			t->attnums[i++] = var->varattno;
		else if (IsA(tle->expr, Const) && ((Const *) tle->expr)->constisnull)
			t->attnums[i++] = 0;
		else
			return false;
	}
	foreach(lc, scan->plan.qual)
		if (!cf_scan_bound(lfirst(lc), scan->scanrelid, params, t))
			return false;
	return true;
}

/* the table's rows within the bounds, as the plan's columns, into dest */
static void
cf_scan_table(const CfTableScan *t, TupleDesc td, DestReceiver *dest)
{
	Relation	rel = table_open(t->relid, AccessShareLock);
	TupleTableSlot *in = table_slot_create(rel, NULL);
	TupleTableSlot *out = MakeSingleTupleTableSlot(td, &TTSOpsVirtual);
	TableScanDesc scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
	AttrNumber	last = 0;
	uint32		n = 0;

	for (int i = 0; i < t->ncols; i++)
		last = Max(last, t->attnums[i]);
	for (int b = 0; b < t->nbounds; b++)
		last = Max(last, t->bound_att[b]);
	dest->rStartup(dest, CMD_SELECT, td);
	while (table_scan_getnextslot(scan, ForwardScanDirection, in))
	{
		bool		pass = true;

		if ((++n & 4095) == 0)
			CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(in, last);
		/* as timestamptz_le and _ge compare; a NULL fails the qual */
		for (int b = 0; b < t->nbounds && pass; b++)
		{
			int			a = t->bound_att[b] - 1;
			TimestampTz v = DatumGetTimestampTz(in->tts_values[a]);

			pass = !in->tts_isnull[a] && (t->bound_le[b] ? v <= t->bound[b] : v >= t->bound[b]);
		}
		if (!pass)
			continue;
		ExecClearTuple(out);
		for (int i = 0; i < t->ncols; i++)
		{
			AttrNumber	a = t->attnums[i];

			out->tts_values[i] = a != 0 ? in->tts_values[a - 1] : (Datum) 0;
			out->tts_isnull[i] = a != 0 ? in->tts_isnull[a - 1] : true;
		}
		ExecStoreVirtualTuple(out);
		if (!dest->receiveSlot(out, dest))
			break;
	}
	dest->rShutdown(dest);
	table_endscan(scan);
	ExecDropSingleTupleTableSlot(out);
	ExecDropSingleTupleTableSlot(in);
	table_close(rel, NoLock);
}

/* does the query read a partitioned or foreign table (in it or in a subquery of its FROM)? */
static bool
cf_query_reads_partitions(Query *q)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if ((rte->rtekind == RTE_RELATION &&
			 (rte->relkind == RELKIND_PARTITIONED_TABLE || rte->relkind == RELKIND_FOREIGN_TABLE)) ||
			(rte->rtekind == RTE_SUBQUERY && cf_query_reads_partitions(rte->subquery)))
			return true;
	}
	return false;
}

bool
cf_source_read_direct(SPIPlanPtr plan, ParamListInfo params, bool read_only, DestReceiver *dest)
{
	List	   *sources = SPI_plan_get_plan_sources(plan);
	CachedPlanSource *src;
	CachedPlan *cp;
	CfTableScan t;
	bool		ok;

	if (list_length(sources) != 1)
		return false;
	src = linitial(sources);
	/*
	 * A query over partitioned or foreign tables is never one table's scan:
	 * leave it unplanned here (a plan with parameters is made anew for each
	 * run, and planning one over many partitions costs).
	 */
	if (src->is_valid && list_length(src->query_list) == 1 &&
		cf_query_reads_partitions(linitial_node(Query, src->query_list)))
		return false;
	/* the snapshot SPI would take: a new one, after the caller's last command, unless read-only */
	if (!read_only)
	{
		PushActiveSnapshot(GetTransactionSnapshot());
		CommandCounterIncrement();
		UpdateActiveSnapshotCommandId();
	}
	cp = GetCachedPlan(src, params, NULL, NULL);
	ok = cf_plan_table_scan(cp, params, &t);
	/* the executor's own permission check (ExecutorStart's), on the plan's range table */
	if (ok)
		ExecCheckRTPerms(linitial_node(PlannedStmt, cp->stmt_list)->rtable, true);
	ReleaseCachedPlan(cp, NULL);
	if (ok)
	{
		ereport(DEBUG1,
				(errmsg_internal("cfeast: table \"%s\" read directly (a sequential scan)",
								 get_rel_name(t.relid))));
		cf_scan_table(&t, src->resultDesc, dest);
	}
	if (!read_only)
		PopActiveSnapshot();
	return ok;
}

ParamListInfo
cf_source_params(TimestampTz upper, TimestampTz lower)
{
	ParamListInfo params = makeParamList(2);

	params->numParams = 2;
	for (int i = 0; i < 2; i++)
	{
		params->params[i].value = TimestampTzGetDatum(i == 0 ? upper : lower);
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = TIMESTAMPTZOID;
	}
	return params;
}

bool
cf_source_row(TupleTableSlot *slot, int nkeys, Datum *keys, CfSourceRow *row)
{
	slot_getallattrs(slot);
	if (slot->tts_isnull[nkeys])
		return false;
	row->event = DatumGetTimestampTz(slot->tts_values[nkeys]);
	row->created_null = slot->tts_isnull[nkeys + 1];
	row->created = row->created_null ? 0 : DatumGetTimestampTz(slot->tts_values[nkeys + 1]);
	for (int k = 0; k < nkeys; k++)
	{
		Form_pg_attribute att = TupleDescAttr(slot->tts_tupleDescriptor, k);

		if (slot->tts_isnull[k])
			return false;
		keys[k] = att->attlen == -1
			? PointerGetDatum(PG_DETOAST_DATUM_PACKED(slot->tts_values[k]))
			: slot->tts_values[k];
	}
	return true;
}

/* ------------------------------------------------------------------------
 * the key filter of a training-set read (see the header comment)
 * ------------------------------------------------------------------------
 */

char *
cf_source_key_filter(CfSourceSpec *s)
{
	CfView	   *v = s->view;
	char		kind;
	Oid			ctype;
	char	   *expr;

	if (v->nkeys == 0)
		return "";
	kind = get_rel_relkind(s->relid);
	if (kind != RELKIND_PARTITIONED_TABLE && kind != RELKIND_FOREIGN_TABLE)
		return "";
	/* the column itself where it can be (an integer of any width compares by value), so it prunes */
	ctype = cf_source_column_type(s, s->key_cols[0], "join key");
	if (ctype == cf_dtype_type_oid(v->key_types[0]) ||
		(cf_key_is_int(ctype) && cf_key_is_int(cf_dtype_type_oid(v->key_types[0]))))
		expr = psprintf("s.%s", quote_identifier(s->key_cols[0]));
	else
		expr = cf_cast_column(s, s->key_cols[0], v->key_types[0], "join key");
	return psprintf(" AND ($3 IS NULL OR %s OPERATOR(pg_catalog.=) " CF_SOURCE_KEYS_CLAUSE ")", expr);
}

bool
cf_source_wants_keys(const char *sql)
{
	return strstr(sql, CF_SOURCE_KEYS_CLAUSE) != NULL;
}

ParamListInfo
cf_source_params_keys(TimestampTz upper, TimestampTz lower, Oid elemtype, Datum *keys, int nkeys)
{
	ParamListInfo params = makeParamList(3);
	ParamListInfo bounds = cf_source_params(upper, lower);

	params->numParams = 3;
	params->params[0] = bounds->params[0];
	params->params[1] = bounds->params[1];
	params->params[2].ptype = get_array_type(elemtype);
	params->params[2].pflags = PARAM_FLAG_CONST;
	params->params[2].isnull = nkeys > CF_SOURCE_KEY_FILTER_MAX;
	if (!params->params[2].isnull)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;

		get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
		params->params[2].value = PointerGetDatum(construct_array(keys, nkeys, elemtype, typlen, typbyval,
																  typalign));
	}
	return params;
}
