/*-------------------------------------------------------------------------
 * privileges.h
 *	  Who may do what in cfeast, checked in C where SQL cannot see it:
 *	  running the registry functions as the extension's owner on behalf of
 *	  a caller, the materialize checks, online reads through column grants.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_PRIVILEGES_H
#define CFEAST_PRIVILEGES_H

#include "cfeast.h"
#include "source.h"

/*
 * A saved identity, restored by cf_priv_end.  On an error nothing needs to
 * run: the (sub)transaction abort restores the user id, as it does for
 * SECURITY DEFINER functions (fmgr_security_definer relies on the same).
 */
typedef struct CfPrivSwitch
{
	bool		switched;
	Oid			save_user;
	int			save_sec;
} CfPrivSwitch;

/* ---------- in privileges.c ---------- */

/* become the owner of feast.<table> (a registry table) until cf_priv_end */
extern void cf_priv_begin_registry_owner(const char *table, CfPrivSwitch *sw);
extern void cf_priv_end(CfPrivSwitch *sw);

/* the same for a relation the caller has opened (its relcache entry names the owner) */
extern void cf_priv_begin_owner_of(Relation rel, CfPrivSwitch *sw);

/*
 * Materialize: the caller and the view's owner of record must both be able
 * to read every source column the view uses (42501 otherwise); the source
 * is then read as the owner of record, until cf_priv_end.
 */
extern void cf_priv_begin_materialize_read(CfSourceSpec *spec, CfPrivSwitch *sw);

/*
 * Online read of "view" for the features marked in wanted[] (nfeatures):
 * a caller without SELECT on the table but with SELECT on every column read
 * (join keys, the wanted features, event_timestamp) reads as the table's
 * owner, unless the table has row security.  Otherwise nothing changes and
 * PostgreSQL's own checks apply.
 */
extern void cf_priv_begin_online_read(CfView *view, const bool *wanted, CfPrivSwitch *sw);

#endif							/* CFEAST_PRIVILEGES_H */
