/*-------------------------------------------------------------------------
 * version.c
 *	  The write rule and the ttl, each in one place.
 *
 * A feature row's version is its (event_timestamp, created_timestamp)
 * pair.  feast_push (both write paths, and between rows of one batch),
 * feast_materialize (between source rows and against the online table)
 * and the point-in-time join all decide "which row wins" with
 * cf_version_replaces; the SQL paths put cf_append_write_rule's text in
 * their ON CONFLICT ... DO UPDATE ... WHERE.  The two are kept equal by
 * construction here and by the regression tests of push and materialize.
 *
 * The ttl is a duration (a day is 24 hours, a month 30 days), as Feast's
 * is.  A ttl too long for the timestamp range (above about 292,000 years)
 * means "no expiry": the cutoff saturates at -infinity instead of
 * overflowing.
 *-------------------------------------------------------------------------
 */
#include "version.h"

#include "common/int.h"
#include "utils/timestamp.h"

bool
cf_version_replaces(TimestampTz event, bool created_null, TimestampTz created,
					TimestampTz old_event, bool old_created_null, TimestampTz old_created)
{
	if (event != old_event)
		return event > old_event;
	if (old_created_null)
		return true;
	if (created_null)
		return false;
	return created >= old_created;
}

void
cf_append_write_rule(StringInfo buf, const char *n, const char *o)
{
	appendStringInfo(buf,
					 "%s.event_timestamp OPERATOR(pg_catalog.>) %s.event_timestamp"
					 " OR (%s.event_timestamp OPERATOR(pg_catalog.=) %s.event_timestamp"
					 " AND (%s.created_timestamp IS NULL"
					 " OR %s.created_timestamp OPERATOR(pg_catalog.>=) %s.created_timestamp))",
					 n, o, n, o, o, n, o);
}

TimestampTz
cf_minus_ttl(TimestampTz t, const Interval *ttl)
{
	int64		days = (int64) ttl->day + (int64) ttl->month * DAYS_PER_MONTH;
	int64		span;

	if (TIMESTAMP_NOT_FINITE(t))
		return t;
	/* a span beyond the timestamp range: no expiry (or, negative, nothing fresh) */
	if (pg_mul_s64_overflow(days, USECS_PER_DAY, &span))
		return days > 0 ? DT_NOBEGIN : DT_NOEND;
	if (pg_add_s64_overflow(span, ttl->time, &span))
		return ttl->time > 0 ? DT_NOBEGIN : DT_NOEND;
	if (pg_sub_s64_overflow(t, span, &t) || t < MIN_TIMESTAMP || t >= END_TIMESTAMP)
		return span > 0 ? DT_NOBEGIN : DT_NOEND;
	return t;
}
