/*-------------------------------------------------------------------------
 * jsonout.c
 *	  Datums of cfeast's dtypes as JSON values, appended to a jsonb being
 *	  built with pushJsonbValue: the output side of types.c.
 *
 * Integers are JSON numbers; floats are the shortest decimal text that
 * reads back exactly (their digits turned into a numeric directly, without
 * numeric_in's parsing), NaN and the infinities strings; bytes base64
 * strings; unix_timestamp values (and their arrays) integer epoch seconds,
 * as Feast's feature server sends them (its proto holds int64 seconds): a
 * fraction of a second is dropped toward negative infinity (the second the
 * instant falls in: 1969-12-31T23:59:59.5Z is -1), and the infinities, which
 * no second holds, are the strings "infinity" and "-infinity" as for
 * floats; arrays JSON arrays (nested when multi-dimensional); json values
 * are embedded as they are.  Event timestamps are not values: callers format
 * them with cf_format_timestamp as RFC 3339 strings in UTC ending in Z, with
 * 0, 3 or 6 fractional digits.
 *-------------------------------------------------------------------------
 */
#include "jsonout.h"

#include <math.h>

#include "common/base64.h"
#include "common/shortest_dec.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

/* append a JSON string element */
void
cf_jsonb_string(JsonbParseState **st, const char *s, int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	pushJsonbValue(st, WJB_ELEM, &v);
}

/* append an object key */
void
cf_jsonb_key(JsonbParseState **st, const char *key)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) key;
	v.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &v);
}

/* append a JSON number element */
static void
cf_jsonb_numeric(JsonbParseState **st, Numeric n)
{
	JsonbValue	v;

	v.type = jbvNumeric;
	v.val.numeric = n;
	pushJsonbValue(st, WJB_ELEM, &v);
}

/* write "n" as exactly "width" digits, return the end */
static inline char *
cf_put_digits(char *p, int n, int width)
{
	for (int i = width - 1; i >= 0; i--)
	{
		p[i] = '0' + n % 10;
		n /= 10;
	}
	return p + width;
}

/* RFC 3339 in UTC with 0, 3 or 6 fractional digits, ending in Z; returns the length */
int
cf_format_timestamp(TimestampTz ts, char *buf)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char	   *p = buf;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		return sprintf(buf, "-infinity");
	if (TIMESTAMP_IS_NOEND(ts))
		return sprintf(buf, "infinity");
	if (timestamp2tm(ts, NULL, &tm, &fsec, NULL, NULL) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (tm.tm_year < 1 || tm.tm_year > 9999)
		p += sprintf(p, "%+05d", tm.tm_year);	/* ISO 8601 expanded year */
	else
		p = cf_put_digits(p, tm.tm_year, 4);
	*p++ = '-';
	p = cf_put_digits(p, tm.tm_mon, 2);
	*p++ = '-';
	p = cf_put_digits(p, tm.tm_mday, 2);
	*p++ = 'T';
	p = cf_put_digits(p, tm.tm_hour, 2);
	*p++ = ':';
	p = cf_put_digits(p, tm.tm_min, 2);
	*p++ = ':';
	p = cf_put_digits(p, tm.tm_sec, 2);
	if (fsec != 0)
	{
		*p++ = '.';
		if (fsec % 1000 == 0)
			p = cf_put_digits(p, fsec / 1000, 3);
		else
			p = cf_put_digits(p, fsec, 6);
	}
	*p++ = 'Z';
	*p = '\0';
	return p - buf;
}

/* seconds from PostgreSQL's epoch (2000-01-01) back to the Unix epoch */
#define CF_UNIX_EPOCH_OFFSET ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)

/*
 * append a unix_timestamp value as integer epoch seconds, the fraction
 * dropped toward negative infinity; the infinities as strings
 */
static void
cf_jsonb_epoch_seconds(JsonbParseState **st, TimestampTz ts)
{
	int64		secs;

	if (TIMESTAMP_IS_NOBEGIN(ts))
		cf_jsonb_string(st, "-infinity", 9);
	else if (TIMESTAMP_IS_NOEND(ts))
		cf_jsonb_string(st, "infinity", 8);
	else
	{
		secs = ts / USECS_PER_SEC;
		if (ts % USECS_PER_SEC < 0)
			secs--;				/* floor, not C's truncation toward zero */
		cf_jsonb_numeric(st, int64_to_numeric(secs + CF_UNIX_EPOCH_OFFSET));
	}
}

/*
 * The numeric of a shortest float text ("-1.25e-07", "0.5", "1e+21"): its
 * digits (at most 17) as an integer, scaled by a power of ten.  The same
 * value and display scale as numeric_in would give, without its parsing.
 */
static Numeric
cf_decimal_to_numeric(const char *s)
{
	const char *p = s;
	bool		negative = false;
	bool		point = false;
	int64		digits = 0;
	int			ndigits = 0;
	int			fraction = 0;
	int			exponent = 0;

	if (*p == '-')
	{
		negative = true;
		p++;
	}
	for (; *p != '\0' && *p != 'e'; p++)
	{
		if (*p == '.')
			point = true;
		else
		{
			digits = digits * 10 + (*p - '0');
			ndigits++;
			fraction += point ? 1 : 0;
		}
	}
	if (*p == 'e')
		exponent = atoi(p + 1);
	if (ndigits > 18)			/* not a shortest float text: let numeric_in read it */
		return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(s),
												   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
	return int64_div_fast_to_numeric(negative ? -digits : digits, fraction - exponent);
}

/* floats: the shortest text that reads back exactly; NaN and infinities as strings */
static void
cf_jsonb_float(JsonbParseState **st, double d, bool single)
{
	char		buf[64];

	if (isnan(d))
		cf_jsonb_string(st, "NaN", 3);
	else if (isinf(d))
		cf_jsonb_string(st, d > 0 ? "Infinity" : "-Infinity", d > 0 ? 8 : 9);
	else
	{
		if (single)
			float_to_shortest_decimal_buf((float) d, buf);
		else
			double_to_shortest_decimal_buf(d, buf);
		cf_jsonb_numeric(st, cf_decimal_to_numeric(buf));
	}
}

/* append bytes as a base64 string */
static void
cf_jsonb_bytes(JsonbParseState **st, bytea *b)
{
	int			len = VARSIZE_ANY_EXHDR(b);
	int			maxlen = pg_b64_enc_len(len);
	char	   *out = palloc(maxlen + 1);
	int			n = pg_b64_encode(VARDATA_ANY(b), len, out, maxlen);

	if (n < 0)
		elog(ERROR, "cfeast: base64 encoding failed");
	cf_jsonb_string(st, out, n);
}

/* append one non-null value of a scalar dtype */
static void
cf_jsonb_scalar(JsonbParseState **st, Datum d, CfBaseType base)
{
	JsonbValue	v;

	switch (base)
	{
		case CF_INT32:
			cf_jsonb_numeric(st, int64_to_numeric(DatumGetInt32(d)));
			break;
		case CF_INT64:
			cf_jsonb_numeric(st, int64_to_numeric(DatumGetInt64(d)));
			break;
		case CF_FLOAT32:
			cf_jsonb_float(st, DatumGetFloat4(d), true);
			break;
		case CF_FLOAT64:
			cf_jsonb_float(st, DatumGetFloat8(d), false);
			break;
		case CF_STRING:
			{
				text	   *t = DatumGetTextPP(d);

				cf_jsonb_string(st, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
			}
			break;
		case CF_BYTES:
			cf_jsonb_bytes(st, DatumGetByteaPP(d));
			break;
		case CF_BOOL:
			v.type = jbvBool;
			v.val.boolean = DatumGetBool(d);
			pushJsonbValue(st, WJB_ELEM, &v);
			break;
		case CF_TIMESTAMP:
			cf_jsonb_epoch_seconds(st, DatumGetTimestampTz(d));
			break;
		case CF_JSON:
			{
				Jsonb	   *jb = DatumGetJsonbP(d);

				v.type = jbvBinary;
				v.val.binary.data = &jb->root;
				v.val.binary.len = VARSIZE(jb) - VARHDRSZ;
				pushJsonbValue(st, WJB_ELEM, &v);
			}
			break;
	}
}

/* append a JSON null element */
void
cf_jsonb_null(JsonbParseState **st)
{
	JsonbValue	v;

	v.type = jbvNull;
	pushJsonbValue(st, WJB_ELEM, &v);
}

/* one dimension of an array (nested for multi-dimensional ones); returns the next element */
static int
cf_jsonb_array_dim(JsonbParseState **st, int dim, int ndim, int *dims, Datum *elems, bool *nulls,
				  int next, CfBaseType base)
{
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < dims[dim]; i++)
	{
		if (dim + 1 < ndim)
			next = cf_jsonb_array_dim(st, dim + 1, ndim, dims, elems, nulls, next, base);
		else
		{
			if (nulls[next])
				cf_jsonb_null(st);
			else
				cf_jsonb_scalar(st, elems[next], base);
			next++;
		}
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	return next;
}

/* append an array value as a JSON array (nested when multi-dimensional) */
static void
cf_jsonb_array(JsonbParseState **st, Datum d, CfBaseType base)
{
	ArrayType  *arr = DatumGetArrayTypeP(d);
	Oid			elemtype = ARR_ELEMTYPE(arr);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(arr, elemtype, typlen, typbyval, typalign, &elems, &nulls, &n);
	if (ARR_NDIM(arr) == 0)
	{
		pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
		pushJsonbValue(st, WJB_END_ARRAY, NULL);
		return;
	}
	(void) cf_jsonb_array_dim(st, 0, ARR_NDIM(arr), ARR_DIMS(arr), elems, nulls, 0, base);
}

/* append one non-null value of dtype t */
void
cf_jsonb_datum(JsonbParseState **st, Datum d, CfDtype t)
{
	if (t.is_array)
		cf_jsonb_array(st, d, t.base);
	else
		cf_jsonb_scalar(st, d, t.base);
}
