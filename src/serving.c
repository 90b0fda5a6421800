/*-------------------------------------------------------------------------
 * serving.c
 *	  The ttl cutoff of the serving views (feast_serving.*).
 *
 * A serving view shows a feature value only when its row is at most ttl
 * old, exactly as feast_get_online_features reports OUTSIDE_MAX_AGE: the
 * cutoff is the transaction's start time (now()) minus the ttl taken as a
 * fixed length (cf_minus_ttl, version.c), and a row is outside when its
 * event_timestamp is strictly older than the cutoff.  The views call
 * feast._ttl_cutoff(ttl) so the two can never disagree: SQL's
 * timestamptz - interval would count a day as a calendar day (23 or 25
 * hours across a DST change) and overflow on a very long ttl.
 *
 * The views themselves are built in SQL (sql/cfeast--0.3--0.4.sql, section
 * "serving views").
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "utils/timestamp.h"

#include "version.h"

PG_FUNCTION_INFO_V1(cfeast_ttl_cutoff);

/* feast._ttl_cutoff(ttl interval) -> now() - ttl, ttl as a fixed length, saturating */
Datum
cfeast_ttl_cutoff(PG_FUNCTION_ARGS)
{
	Interval   *ttl = PG_GETARG_INTERVAL_P(0);

	PG_RETURN_TIMESTAMPTZ(cf_minus_ttl(GetCurrentTransactionStartTimestamp(), ttl));
}
