/*-------------------------------------------------------------------------
 * jsonout.h
 *	  Datums of cfeast's dtypes as JSON values.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_JSONOUT_H
#define CFEAST_JSONOUT_H

#include "cfeast.h"

#include "utils/jsonb.h"

/* room for any RFC 3339 timestamp cf_format_timestamp writes */
#define CF_TS_LEN 64

/* ---------- in jsonout.c ---------- */

/* append one non-null value of dtype t as an array element */
extern void cf_jsonb_datum(JsonbParseState **st, Datum d, CfDtype t);
/* append a string element, an object key, a null element */
extern void cf_jsonb_string(JsonbParseState **st, const char *s, int len);
extern void cf_jsonb_key(JsonbParseState **st, const char *key);
extern void cf_jsonb_null(JsonbParseState **st);
/* RFC 3339 in UTC ending in Z into buf (CF_TS_LEN bytes); returns the length */
extern int	cf_format_timestamp(TimestampTz ts, char *buf);

#endif							/* CFEAST_JSONOUT_H */
