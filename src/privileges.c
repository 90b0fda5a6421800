/*-------------------------------------------------------------------------
 * privileges.c
 *	  The parts of cfeast's privilege model that need C.
 *
 * The registry functions (feast_apply*, feast_delete, feast_grant) are C
 * entry points, cfeast_as_owner, that check nothing themselves: PostgreSQL
 * has already checked EXECUTE on them for the caller, which is what
 * feast_grant(role, 'apply', '*') grants.  cfeast_as_owner notes the caller,
 * becomes the owner of the PL/pgSQL function that does the work
 * (feast._do_<name>, whose EXECUTE is revoked from PUBLIC) and calls it with
 * the same arguments.  So the registry tables and the online tables belong
 * to the extension's owner, nobody else writes them, and the PL/pgSQL code
 * asks feast._caller() whose rights to check (SELECT on source columns).
 * This is SECURITY DEFINER done in C, because a SECURITY DEFINER function
 * cannot see who called it.
 *
 * Materialize reads the batch source as the view's owner of record (the
 * role that last applied the view), after checking that both it and the
 * caller may read every column used, as a security-restricted operation
 * (the source's own code, a view's functions, cannot change the session).
 *
 * Online reads may use column grants: a caller without SELECT on the online
 * table but with it on every column answered (join keys, the features asked
 * for, event_timestamp) and USAGE on feast_online reads the rows as the
 * table's owner.  Not on a table with row security: the owner would bypass
 * the policies, so there only a table grant reads (and the read then fails
 * with PostgreSQL's own 42501).
 *-------------------------------------------------------------------------
 */
#include "router.h"
#include "privileges.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(cfeast_as_owner);
PG_FUNCTION_INFO_V1(cfeast_caller);
PG_FUNCTION_INFO_V1(cfeast_privileged_caller);
PG_FUNCTION_INFO_V1(cfeast_exec_as_caller);

/* the role that called the registry function in progress; InvalidOid outside one */
static Oid	cf_caller = InvalidOid;

/* the function a registry entry point runs, and its owner */
typedef struct CfOwnerCall
{
	FmgrInfo	target;
	Oid			owner;
} CfOwnerCall;

/* ------------------------------------------------------------------------
 * switching identity
 * ------------------------------------------------------------------------
 */

/* become "role"; extra_sec may add SECURITY_RESTRICTED_OPERATION (no temp objects, no PREPARE...) */
static void
cf_priv_become(Oid role, int extra_sec, CfPrivSwitch *sw)
{
	GetUserIdAndSecContext(&sw->save_user, &sw->save_sec);
	SetUserIdAndSecContext(role, sw->save_sec | SECURITY_LOCAL_USERID_CHANGE | extra_sec);
	sw->switched = true;
}

void
cf_priv_end(CfPrivSwitch *sw)
{
	if (sw->switched)
		SetUserIdAndSecContext(sw->save_user, sw->save_sec);
	sw->switched = false;
}

/* a relation's owner, and whether row security is enabled on it */
static Oid
cf_rel_owner(Oid relid, bool *rls)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Form_pg_class rel;
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	rel = (Form_pg_class) GETSTRUCT(tup);
	owner = rel->relowner;
	if (rls)
		*rls = rel->relrowsecurity;
	ReleaseSysCache(tup);
	return owner;
}

void
cf_priv_begin_registry_owner(const char *table, CfPrivSwitch *sw)
{
	Oid			relid = get_relname_relid(table, get_namespace_oid("feast", false));

	if (!OidIsValid(relid))
		elog(ERROR, "cfeast: feast.%s is missing", table);
	cf_priv_become(cf_rel_owner(relid, NULL), SECURITY_RESTRICTED_OPERATION, sw);
}

void
cf_priv_begin_owner_of(Relation rel, CfPrivSwitch *sw)
{
	cf_priv_become(rel->rd_rel->relowner, SECURITY_RESTRICTED_OPERATION, sw);
}

/* ------------------------------------------------------------------------
 * registry functions run as the extension's owner
 * ------------------------------------------------------------------------
 */

/* feast_<x>(args) -> feast._do_<x>(the same argument types) */
static CfOwnerCall *
cf_owner_call_setup(FmgrInfo *flinfo)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(flinfo->fn_oid));
	Form_pg_proc proc;
	char	   *name;
	Oid			target;
	CfOwnerCall *c;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", flinfo->fn_oid);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (strncmp(NameStr(proc->proname), "feast_", 6) != 0)
		elog(ERROR, "cfeast_as_owner: unexpected function \"%s\"", NameStr(proc->proname));
	name = psprintf("_do_%s", NameStr(proc->proname) + 6);
	target = LookupFuncName(list_make2(makeString("feast"), makeString(name)), proc->pronargs,
							proc->proargtypes.values, false);
	ReleaseSysCache(tup);

	c = MemoryContextAllocZero(flinfo->fn_mcxt, sizeof(CfOwnerCall));
	fmgr_info_cxt(target, &c->target, flinfo->fn_mcxt);
	c->target.fn_expr = flinfo->fn_expr;
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(target));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", target);
	c->owner = ((Form_pg_proc) GETSTRUCT(tup))->proowner;
	ReleaseSysCache(tup);
	return c;
}

/*
 * The entry point of feast_apply*, feast_delete and feast_grant: call
 * feast._do_<name> as its owner, with this call's arguments (and result
 * set, for feast_grant).  In a nested call the outermost caller stays.
 */
Datum
cfeast_as_owner(PG_FUNCTION_ARGS)
{
	FmgrInfo   *own = fcinfo->flinfo;
	Oid			outer = cf_caller;
	CfOwnerCall *c;
	CfPrivSwitch sw;
	volatile Datum result = (Datum) 0;

	if (own->fn_extra == NULL)
		own->fn_extra = cf_owner_call_setup(own);
	c = (CfOwnerCall *) own->fn_extra;
	if (!OidIsValid(outer))
		cf_caller = GetUserId();
	cf_priv_become(c->owner, 0, &sw);
	PG_TRY();
	{
		fcinfo->flinfo = &c->target;
		fcinfo->isnull = false;
		result = FunctionCallInvoke(fcinfo);
	}
	PG_FINALLY();
	{
		fcinfo->flinfo = own;
		cf_priv_end(&sw);
		cf_caller = outer;
	}
	PG_END_TRY();
	/* on a router, the outermost registry call runs on every node too */
	if (!OidIsValid(outer))
		result = cf_router_broadcast(fcinfo, result);
	return result;
}

/* feast._caller() RETURNS regrole: the role whose rights a registry function checks */
Datum
cfeast_caller(PG_FUNCTION_ARGS)
{
	PG_RETURN_OID(OidIsValid(cf_caller) ? cf_caller : GetUserId());
}

/* feast._privileged_caller() RETURNS regrole: the caller, or NULL outside a registry function */
Datum
cfeast_privileged_caller(PG_FUNCTION_ARGS)
{
	if (!OidIsValid(cf_caller))
		PG_RETURN_NULL();
	PG_RETURN_OID(cf_caller);
}

/*
 * feast._exec_as_caller(stmt text): run one statement (a GRANT that
 * feast_grant built) with the caller's rights, so that it grants only what
 * the caller could grant itself.  EXECUTE is the owner's alone.
 */
Datum
cfeast_exec_as_caller(PG_FUNCTION_ARGS)
{
	char	   *stmt = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CfPrivSwitch sw = {false};
	volatile int rc = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (OidIsValid(cf_caller))
		cf_priv_become(cf_caller, 0, &sw);
	PG_TRY();
	{
		rc = SPI_execute(stmt, false, 0);
	}
	PG_FINALLY();
	{
		cf_priv_end(&sw);
	}
	PG_END_TRY();
	if (rc < 0)
		elog(ERROR, "cfeast: \"%s\" failed: %s", stmt, SPI_result_code_string(rc));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * materialize
 * ------------------------------------------------------------------------
 */

/* the role that last applied view "name"; InvalidOid if none is recorded */
static Oid
cf_view_applier(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	Datum		d;

	if (SPI_execute_with_args("SELECT v.applied_by::pg_catalog.oid FROM feast.feature_views AS v "
							  "WHERE v.name OPERATOR(pg_catalog.=) $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the cfeast registry failed");
	if (SPI_processed == 0)
		return InvalidOid;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? InvalidOid : DatumGetObjectId(d);
}

/* what cf_unreadable_column answers when the schema itself may not be used */
static const char cf_schema_usage[] = "(schema usage)";

/* the first source column "role" may not SELECT, or NULL if it may read them all */
static const char *
cf_unreadable_column(CfSourceSpec *s, Oid role)
{
	List	   *cols = list_make1(s->ts_col);
	ListCell   *lc;

	if (pg_namespace_aclcheck(get_rel_namespace(s->relid), role, ACL_USAGE) != ACLCHECK_OK)
		return cf_schema_usage;
	if (pg_class_aclcheck(s->relid, role, ACL_SELECT) == ACLCHECK_OK)
		return NULL;
	if (s->created_col)
		cols = lappend(cols, s->created_col);
	for (int k = 0; k < s->view->nkeys; k++)
		cols = lappend(cols, s->key_cols[k]);
	for (int f = 0; f < s->view->nfeatures; f++)
		cols = lappend(cols, s->feature_cols[f]);
	foreach(lc, cols)
	{
		AttrNumber	att = get_attnum(s->relid, lfirst(lc));

		if (att == InvalidAttrNumber ||
			pg_attribute_aclcheck(s->relid, att, role, ACL_SELECT) != ACLCHECK_OK)
			return lfirst(lc);
	}
	return NULL;
}

/* "who" is a format with one %s for the role's name */
static void
cf_refuse_materialize(CfSourceSpec *s, Oid role, const char *who, const char *col)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("feature view \"%s\" cannot be materialized: %s may not %s",
					s->view->name, psprintf(who, quote_identifier(GetUserNameFromId(role, false))),
					col == cf_schema_usage ? psprintf("use the schema of %s", s->relation)
					: psprintf("read column %s of %s", quote_identifier(col), s->relation)),
			 errdetail("Materialization moves only rows that both its caller and the role that applied the view may read."),
			 errhint("Grant SELECT on the batch relation (feast_grant(role, 'materialize', view)), or re-apply the view as a role that may read it.")));
}

void
cf_priv_begin_materialize_read(CfSourceSpec *s, CfPrivSwitch *sw)
{
	Oid			caller = GetUserId();
	Oid			applier = cf_view_applier(s->view->name);
	const char *col;

	if ((col = cf_unreadable_column(s, caller)) != NULL)
		cf_refuse_materialize(s, caller, "the caller, role %s,", col);
	if (!OidIsValid(applier) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(applier)))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("feature view \"%s\" cannot be materialized: the role that applied it is not known",
						s->view->name),
				 errhint("Re-apply the view.")));
	if ((col = cf_unreadable_column(s, applier)) != NULL)
		cf_refuse_materialize(s, applier, "role %s, which applied it,", col);
	/* the source's own code (a view's functions, casts) runs with the applier's rights, not the caller's */
	sw->switched = false;
	if (applier != caller)
		cf_priv_become(applier, SECURITY_RESTRICTED_OPERATION, sw);
}

/* ------------------------------------------------------------------------
 * online reads through column grants
 * ------------------------------------------------------------------------
 */

static bool
cf_may_read_column(Oid relid, const char *col, Oid role)
{
	AttrNumber	att = get_attnum(relid, col);

	return att != InvalidAttrNumber &&
		pg_attribute_aclcheck(relid, att, role, ACL_SELECT) == ACLCHECK_OK;
}

void
cf_priv_begin_online_read(CfView *view, const bool *wanted, CfPrivSwitch *sw)
{
	Oid			relid = view->online_relid;
	Oid			caller = GetUserId();
	Oid			owner;
	bool		rls;

	sw->switched = false;
	if (!OidIsValid(relid) || pg_class_aclcheck(relid, caller, ACL_SELECT) == ACLCHECK_OK)
		return;
	/* an owner bypasses row security: with it, only a table grant reads */
	owner = cf_rel_owner(relid, &rls);
	if (rls)
		return;
	if (pg_namespace_aclcheck(get_rel_namespace(relid), caller, ACL_USAGE) != ACLCHECK_OK ||
		!cf_may_read_column(relid, "event_timestamp", caller))
		return;
	for (int k = 0; k < view->nkeys; k++)
		if (!cf_may_read_column(relid, view->key_names[k], caller))
			return;
	for (int f = 0; f < view->nfeatures; f++)
		if (wanted[f] && !cf_may_read_column(relid, view->feature_names[f], caller))
			return;
	/* every column answered is granted: read the row as the table's owner */
	cf_priv_become(owner, SECURITY_RESTRICTED_OPERATION, sw);
}
