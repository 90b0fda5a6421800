/*-------------------------------------------------------------------------
 * version.h
 *	  Which version of a row wins (the write rule), and when a version is
 *	  too old (the ttl).
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_VERSION_H
#define CFEAST_VERSION_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

/* ---------- in version.c ---------- */

/*
 * The write rule: does a row with (event, created) replace one with
 * (old_event, old_created)?  A newer event time wins; on equal event
 * times a newer-or-equal created time wins, a NULL created time being the
 * oldest.  Equal versions replace, so the later of two equal rows wins.
 */
extern bool cf_version_replaces(TimestampTz event, bool created_null, TimestampTz created,
								TimestampTz old_event, bool old_created_null,
								TimestampTz old_created);
/* the same rule as an SQL condition on event_timestamp and created_timestamp of two aliases */
extern void cf_append_write_rule(StringInfo buf, const char *new_alias, const char *old_alias);

/* t - ttl, the ttl as a fixed length (1 day = 24 h, 1 month = 30 days), saturating */
extern TimestampTz cf_minus_ttl(TimestampTz t, const Interval *ttl);

#endif							/* CFEAST_VERSION_H */
