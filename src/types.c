/*-------------------------------------------------------------------------
 * types.c
 *	  cfeast dtypes and the strict JSON-to-Datum conversion of SPEC section 2.
 *
 * Values arrive as JsonbValues straight from a jsonb iterator.  Each dtype
 * has one converter that either returns a Datum or raises an error naming
 * the row, the field, the dtype expected and the value received.  Numbers
 * are read from jsonb's numeric digits directly: integers never pass
 * through double, and floats take an exact fast path before falling back
 * to correctly rounded text conversion.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>

#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(cfeast_dtype_canonical);
PG_FUNCTION_INFO_V1(cfeast_dtype_online_type);

static const struct
{
	const char *name;
	const char *alias;			/* Feast's spelling, lower-cased */
	CfBaseType	base;
	Oid			typoid;
	Oid			arrayoid;
}			cf_dtypes[] =
{
	{"int32", NULL, CF_INT32, INT4OID, INT4ARRAYOID},
	{"int64", NULL, CF_INT64, INT8OID, INT8ARRAYOID},
	{"float32", NULL, CF_FLOAT32, FLOAT4OID, FLOAT4ARRAYOID},
	{"float64", NULL, CF_FLOAT64, FLOAT8OID, FLOAT8ARRAYOID},
	{"string", NULL, CF_STRING, TEXTOID, TEXTARRAYOID},
	{"bytes", NULL, CF_BYTES, BYTEAOID, BYTEAARRAYOID},
	{"bool", NULL, CF_BOOL, BOOLOID, BOOLARRAYOID},
	{"unix_timestamp", "unixtimestamp", CF_TIMESTAMP, TIMESTAMPTZOID, TIMESTAMPTZARRAYOID},
	{"json", NULL, CF_JSON, JSONBOID, JSONBARRAYOID},
};

#define CF_NDTYPES lengthof(cf_dtypes)

/* ------------------------------------------------------------------------
 * dtype names
 * ------------------------------------------------------------------------
 */

static bool
cf_parse_base(const char *s, size_t len, CfBaseType *out)
{
	for (int i = 0; i < CF_NDTYPES; i++)
	{
		if ((strlen(cf_dtypes[i].name) == len && strncmp(cf_dtypes[i].name, s, len) == 0) ||
			(cf_dtypes[i].alias && strlen(cf_dtypes[i].alias) == len &&
			 strncmp(cf_dtypes[i].alias, s, len) == 0))
		{
			*out = cf_dtypes[i].base;
			return true;
		}
	}
	return false;
}

/* parse "Float32", "array(int64)", "Array(String)" (case-insensitive) */
bool
cf_parse_dtype(const char *str, CfDtype *out)
{
	char	   *s = asc_tolower(str, strlen(str));
	size_t		len = strlen(s);

	if (len > 7 && strncmp(s, "array(", 6) == 0 && s[len - 1] == ')')
	{
		out->is_array = true;
		return cf_parse_base(s + 6, len - 7, &out->base);
	}
	out->is_array = false;
	return cf_parse_base(s, len, &out->base);
}

const char *
cf_dtype_name(CfDtype t)
{
	if (t.is_array)
		return psprintf("array(%s)", cf_dtypes[t.base].name);
	return cf_dtypes[t.base].name;
}

Oid
cf_dtype_type_oid(CfDtype t)
{
	return t.is_array ? cf_dtypes[t.base].arrayoid : cf_dtypes[t.base].typoid;
}

/* the type's name for SQL text, qualified so search_path cannot redirect it */
char *
cf_dtype_sql(CfDtype t)
{
	return format_type_extended(cf_dtype_type_oid(t), -1, FORMAT_TYPE_FORCE_QUALIFY);
}

/* feast._dtype_canonical(dtype, what): canonical name or a clear error */
Datum
cfeast_dtype_canonical(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *what = text_to_cstring(PG_GETARG_TEXT_PP(1));
	CfDtype		t;

	if (!cf_parse_dtype(s, &t))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid dtype \"%s\" for %s", s, what),
				 errhint("Valid dtypes: int32, int64, float32, float64, string, bytes, bool, "
						 "unix_timestamp, json, and array(T) of each.")));
	PG_RETURN_TEXT_P(cstring_to_text(cf_dtype_name(t)));
}

/* feast._dtype_online_type(dtype): the online column's SQL type */
Datum
cfeast_dtype_online_type(PG_FUNCTION_ARGS)
{
	char	   *s = text_to_cstring(PG_GETARG_TEXT_PP(0));
	CfDtype		t;

	if (!cf_parse_dtype(s, &t))
		elog(ERROR, "invalid dtype \"%s\"", s);
	PG_RETURN_TEXT_P(cstring_to_text(cf_dtype_sql(t)));
}

/* ------------------------------------------------------------------------
 * error reporting
 * ------------------------------------------------------------------------
 */

#define CF_DESCRIBE_MAX 60

/* a short, quoted description of a JSON value: string "abc", number 1.5, array */
char *
cf_describe_json(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvBool:
			return v->val.boolean ? "true" : "false";
		case jbvNumeric:
			{
				char	   *n = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));

				if (strlen(n) > CF_DESCRIBE_MAX)
					return psprintf("number %.*s...", CF_DESCRIBE_MAX, n);
				return psprintf("number %s", n);
			}
		case jbvString:
			{
				StringInfoData buf;
				int			len = v->val.string.len;
				bool		cut = false;

				if (len > CF_DESCRIBE_MAX)
				{
					len = pg_mbcliplen(v->val.string.val, len, CF_DESCRIBE_MAX);
					cut = true;
				}
				initStringInfo(&buf);
				appendStringInfoString(&buf, "string ");
				escape_json(&buf, pnstrdup(v->val.string.val, len));
				if (cut)
					appendStringInfoString(&buf, "...");
				return buf.data;
			}
		case jbvBinary:
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "a JSON value";
	}
}

/* where: "row 3: field "x"" or "field "x"" */
static char *
cf_site_prefix(const CfValueSite *site)
{
	if (site->row >= 0)
		return psprintf("row " INT64_FORMAT ": field \"%s\"", site->row, site->field);
	return psprintf("field \"%s\"", site->field);
}

static void
cf_reject(const CfValueSite *site, CfDtype t, JsonbValue *v, int sqlstate, const char *why)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s: expected %s, got %s%s%s", cf_site_prefix(site), cf_dtype_name(t),
					cf_describe_json(v), why ? " " : "", why ? why : "")));
}

/* ------------------------------------------------------------------------
 * numbers: read jsonb's numeric digits directly
 * ------------------------------------------------------------------------
 */

/* the parts of a numeric; layout as in utils/adt/numeric.c (stable on disk) */
typedef struct CfNumParts
{
	bool		special;		/* NaN or infinity: never in jsonb */
	bool		negative;
	int			weight;			/* of the first digit, in base-10000 digits */
	int			dscale;			/* decimal digits after the point */
	int			ndigits;
	int16		digits[8];		/* the first (up to) 8 base-10000 digits */
	bool		truncated;		/* more than 8 digits */
} CfNumParts;

#define CF_NBASE			10000
#define CF_NUM_SIGN_MASK	0xC000
#define CF_NUM_NEG			0x4000
#define CF_NUM_SHORT		0x8000
#define CF_NUM_SPECIAL		0xC000
#define CF_NUM_SHORT_SIGN	0x2000
#define CF_NUM_SHORT_DSCALE 0x1F80
#define CF_NUM_SHORT_DSCALE_SHIFT 7
#define CF_NUM_SHORT_WSIGN	0x0040
#define CF_NUM_SHORT_WMASK	0x003F
#define CF_NUM_DSCALE_MASK	0x3FFF

static void
cf_numeric_parts(Numeric num, CfNumParts *p)
{
	const char *data = VARDATA_ANY(num);
	int			len = VARSIZE_ANY_EXHDR(num);
	uint16		header;
	int			off;

	memcpy(&header, data, sizeof(uint16));
	memset(p, 0, sizeof(*p));
	if ((header & CF_NUM_SIGN_MASK) == CF_NUM_SPECIAL)
	{
		p->special = true;
		return;
	}
	if (header & CF_NUM_SHORT)
	{
		p->negative = (header & CF_NUM_SHORT_SIGN) != 0;
		p->dscale = (header & CF_NUM_SHORT_DSCALE) >> CF_NUM_SHORT_DSCALE_SHIFT;
		if (header & CF_NUM_SHORT_WSIGN)
			p->weight = (int) (int16) (header | ~CF_NUM_SHORT_WMASK);
		else
			p->weight = header & CF_NUM_SHORT_WMASK;
		off = sizeof(uint16);
	}
	else
	{
		int16		w;

		p->negative = (header & CF_NUM_SIGN_MASK) == CF_NUM_NEG;
		p->dscale = header & CF_NUM_DSCALE_MASK;
		memcpy(&w, data + sizeof(uint16), sizeof(int16));
		p->weight = w;
		off = 2 * sizeof(uint16);
	}
	p->ndigits = (len - off) / sizeof(int16);
	if (p->ndigits > lengthof(p->digits))
	{
		p->truncated = true;
		p->ndigits = lengthof(p->digits);
	}
	memcpy(p->digits, data + off, p->ndigits * sizeof(int16));
}

typedef enum CfIntResult
{
	CF_INT_OK,
	CF_INT_NOT_INTEGER,
	CF_INT_OUT_OF_RANGE
} CfIntResult;

/* exact int64 from a numeric: no double, no text */
static CfIntResult
cf_numeric_to_int64(Numeric num, int64 *out)
{
	CfNumParts	p;
	int64		acc = 0;

	cf_numeric_parts(num, &p);
	if (p.special || p.dscale > 0)
		return CF_INT_NOT_INTEGER;
	if (p.ndigits == 0)
	{
		*out = 0;
		return CF_INT_OK;
	}
	if (p.weight > 4 || p.truncated)
		return CF_INT_OUT_OF_RANGE;
	/* accumulate negatively so that INT64_MIN fits */
	for (int i = 0; i <= p.weight; i++)
	{
		int			d = i < p.ndigits ? p.digits[i] : 0;

		if (pg_mul_s64_overflow(acc, CF_NBASE, &acc) ||
			pg_sub_s64_overflow(acc, d, &acc))
			return CF_INT_OUT_OF_RANGE;
	}
	if (!p.negative)
	{
		if (acc == PG_INT64_MIN)
			return CF_INT_OUT_OF_RANGE;
		acc = -acc;
	}
	*out = acc;
	return CF_INT_OK;
}

static const double cf_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};

/*
 * The number as m * 10^e10 with m an integer without trailing decimal
 * zeros; false if m does not fit in 64 bits.  Zero gives m = 0.
 */
static bool
cf_decimal_parts(const CfNumParts *p, uint64 *m, int *e10)
{
	int			n = p->ndigits;
	int			last;
	int			last_digits = 4;
	uint64		acc = 0;

	if (p->truncated)
		return false;
	while (n > 0 && p->digits[n - 1] == 0)
		n--;
	if (n == 0)
	{
		*m = 0;
		*e10 = 0;
		return true;
	}
	if (n > 5)
		return false;
	last = p->digits[n - 1];
	while (last % 10 == 0)
	{
		last /= 10;
		last_digits--;
	}
	for (int i = 0; i < n - 1; i++)
		acc = acc * CF_NBASE + p->digits[i];
	for (int i = 0; i < last_digits; i++)
	{
		if (acc > PG_UINT64_MAX / 10)
			return false;
		acc *= 10;
	}
	if (acc > PG_UINT64_MAX - last)
		return false;
	*m = acc + last;
	*e10 = 4 * (p->weight - (n - 1)) + (4 - last_digits);
	return true;
}

/*
 * Exact fast path (Clinger): a mantissa below 2^53 scaled by 10^e with
 * |e| <= 22 is one correctly rounded IEEE operation.  Returns false when
 * the number needs another path.
 */
static bool
cf_numeric_to_double_fast(const CfNumParts *p, double *out)
{
	uint64		m;
	int			e10;
	double		d;

	if (!cf_decimal_parts(p, &m, &e10) || m > (UINT64CONST(1) << 53) || e10 < -22 || e10 > 22)
		return false;
	d = (double) m;
	d = e10 >= 0 ? d * cf_pow10[e10] : d / cf_pow10[-e10];
	*out = p->negative ? -d : d;
	return true;
}

static const float cf_pow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

/* the same for float32: mantissa below 2^24, |e| <= 10 */
static bool
cf_numeric_to_float_fast(const CfNumParts *p, float *out)
{
	uint64		m;
	int			e10;
	float		f;

	if (!cf_decimal_parts(p, &m, &e10) || m > (UINT64CONST(1) << 24) || e10 < -10 || e10 > 10)
		return false;
	f = (float) m;
	f = e10 >= 0 ? f * cf_pow10f[e10] : f / cf_pow10f[-e10];
	*out = p->negative ? -f : f;
	return true;
}

#if LDBL_MANT_DIG == 64
static const long double cf_pow10l[] = {
	1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
	1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
	1e26L, 1e27L
};

/*
 * The wide fast path, for the 15 to 19 significant digits that doubles
 * printed in full carry: a mantissa below 2^64 and 10^|e| (|e| <= 27) are
 * both exact in x87 extended precision, so m * 10^e or m / 10^e is one
 * rounding to 64 bits.  Rounding that again to "bits" bits gives the
 * correctly rounded result unless the 64-bit value sits exactly on a
 * midpoint of the narrower format; then we decline and the caller uses the
 * text path.  Returns the value, still in extended precision.
 */
/*
 * Is long double arithmetic really carried out in 64-bit precision?  It is
 * on x86 hardware; emulators (valgrind among them) may round it to double,
 * and then this path would not be exact: checked once, at run time.
 */
static bool
cf_extended_is_exact(void)
{
	static int	exact = -1;

	if (exact < 0)
	{
		volatile long double one = 1.0L;
		volatile long double tiny = LDBL_EPSILON;	/* 2^-63 */
		volatile long double big = 18446744073709551615.0L;	/* 2^64 - 1 */

		exact = (one + tiny != one) && ((uint64) big == PG_UINT64_MAX);
	}
	return exact == 1;
}

static bool
cf_numeric_to_extended(const CfNumParts *p, int bits, long double *out)
{
	uint64		m;
	int			e10;
	int			ex;
	long double x;
	uint64		mant;
	uint64		low = (UINT64CONST(1) << (64 - bits)) - 1;

	if (!cf_extended_is_exact() ||
		!cf_decimal_parts(p, &m, &e10) || m == 0 || e10 < -27 || e10 > 27)
		return false;
	x = (long double) m;
	x = e10 >= 0 ? x * cf_pow10l[e10] : x / cf_pow10l[-e10];
	mant = (uint64) ldexpl(frexpl(x, &ex), 64);
	if ((mant & low) == ((low >> 1) + 1))
		return false;			/* exactly halfway at the narrower precision */
	*out = p->negative ? -x : x;
	return true;
}
#else
static bool
cf_numeric_to_extended(const CfNumParts *p, int bits, long double *out)
{
	return false;
}
#endif

/* the general path: numeric's text, then strtod/strtof (correctly rounded) */
static bool
cf_numeric_to_double_slow(Numeric num, bool single, double *out)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	char	   *end;
	double		d;

	errno = 0;
	d = single ? (double) strtof(s, &end) : strtod(s, &end);
	if (errno == ERANGE && (d == 0.0 || isinf(d)))
		return false;
	if (isinf(d))
		return false;
	*out = d;
	return true;
}

/* ------------------------------------------------------------------------
 * scalar converters
 * ------------------------------------------------------------------------
 */

static Datum
cf_to_int(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	int64		i;
	CfIntResult r;

	if (v->type != jbvNumeric)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	r = cf_numeric_to_int64(v->val.numeric, &i);
	if (r == CF_INT_NOT_INTEGER)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, "(not an integer)");
	if (r == CF_INT_OUT_OF_RANGE || (t.base == CF_INT32 && (i < PG_INT32_MIN || i > PG_INT32_MAX)))
		cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
	return t.base == CF_INT32 ? Int32GetDatum((int32) i) : Int64GetDatum(i);
}

/* "NaN", "Infinity", "-Infinity" as JSON strings */
static bool
cf_special_float(JsonbValue *v, double *out)
{
	const char *s = v->val.string.val;
	int			len = v->val.string.len;

	if (len == 3 && memcmp(s, "NaN", 3) == 0)
		*out = get_float8_nan();
	else if (len == 8 && memcmp(s, "Infinity", 8) == 0)
		*out = get_float8_infinity();
	else if (len == 9 && memcmp(s, "-Infinity", 9) == 0)
		*out = -get_float8_infinity();
	else
		return false;
	return true;
}

static Datum
cf_to_float(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	bool		single = (t.base == CF_FLOAT32);
	double		d;

	if (v->type == jbvString)
	{
		if (!cf_special_float(v, &d))
			cf_reject(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION, NULL);
		return single ? Float4GetDatum((float4) d) : Float8GetDatum(d);
	}
	if (v->type != jbvNumeric)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);

	if (single)
	{
		CfNumParts	p;
		float		f;

		long double x;

		cf_numeric_parts(v->val.numeric, &p);
		if (cf_numeric_to_float_fast(&p, &f))
			return Float4GetDatum(f);
		if (cf_numeric_to_extended(&p, FLT_MANT_DIG, &x) &&
			fabsl(x) >= FLT_MIN && fabsl(x) <= FLT_MAX)
			return Float4GetDatum((float) x);
		if (!cf_numeric_to_double_slow(v->val.numeric, true, &d))
			cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
		return Float4GetDatum((float4) d);
	}
	else
	{
		CfNumParts	p;

		long double x;

		cf_numeric_parts(v->val.numeric, &p);
		if (cf_numeric_to_double_fast(&p, &d))
			return Float8GetDatum(d);
		if (cf_numeric_to_extended(&p, DBL_MANT_DIG, &x))
			return Float8GetDatum((double) x);
		if (!cf_numeric_to_double_slow(v->val.numeric, false, &d))
			cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
		return Float8GetDatum(d);
	}
}

static Datum
cf_to_bytes(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	int			len;
	int			maxlen;
	bytea	   *result;

	if (v->type != jbvString)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	len = v->val.string.len;
	maxlen = pg_b64_dec_len(len);
	result = palloc(VARHDRSZ + maxlen);
	len = pg_b64_decode(v->val.string.val, len, VARDATA(result), maxlen);
	if (len < 0)
		cf_reject(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION, "(not base64)");
	SET_VARSIZE(result, VARHDRSZ + len);
	return PointerGetDatum(result);
}

/* n decimal digits at s, or -1 */
static inline int
cf_digits(const char *s, int n)
{
	int			v = 0;

	for (int i = 0; i < n; i++)
	{
		if (!isdigit((unsigned char) s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/*
 * The common shapes, without the general date parser:
 * YYYY-MM-DD, YYYY-MM-DD[T ]HH:MM:SS[.ffffff][Z|+HH:MM|-HH:MM|+HHMM|+HH].
 * Returns false for anything else (the general parser then decides).
 */
static bool
cf_parse_iso_fast(const char *s, int len, TimestampTz *out)
{
	int			y, mo, d, h = 0, mi = 0, sec = 0;
	int64		usec = 0;
	int			tz = 0;			/* seconds east of UTC */
	int			i = 10;
	int64		days;

	if (len < 10 || s[4] != '-' || s[7] != '-')
		return false;
	y = cf_digits(s, 4);
	mo = cf_digits(s + 5, 2);
	d = cf_digits(s + 8, 2);
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > day_tab[isleap(y)][mo - 1])
		return false;
	if (len > 10)
	{
		if ((s[10] != 'T' && s[10] != ' ') || len < 19 || s[13] != ':' || s[16] != ':')
			return false;
		h = cf_digits(s + 11, 2);
		mi = cf_digits(s + 14, 2);
		sec = cf_digits(s + 17, 2);
		if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
			return false;
		i = 19;
		if (i < len && s[i] == '.')
		{
			int			nd = 0;

			i++;
			while (i < len && isdigit((unsigned char) s[i]))
			{
				if (nd < 6)
					usec = usec * 10 + (s[i] - '0');
				nd++;
				i++;
			}
			if (nd == 0 || nd > 6)
				return false;	/* rounding below the microsecond: the general parser */
			for (; nd < 6; nd++)
				usec *= 10;
		}
		if (i < len && s[i] == 'Z')
			i++;
		else if (i < len && (s[i] == '+' || s[i] == '-'))
		{
			int			sign = s[i] == '-' ? -1 : 1;
			int			th, tm = 0;

			i++;
			if (len - i < 2 || (th = cf_digits(s + i, 2)) < 0)
				return false;
			i += 2;
			if (i < len && s[i] == ':')
				i++;
			if (len - i >= 2)
			{
				if ((tm = cf_digits(s + i, 2)) < 0)
					return false;
				i += 2;
			}
			if (th > 15 || tm > 59)
				return false;
			tz = sign * (th * 3600 + tm * 60);
		}
	}
	if (i != len)
		return false;
	days = date2j(y, mo, d) - POSTGRES_EPOCH_JDATE;
	*out = (((days * 24 + h) * 60 + mi) * 60 + sec - tz) * USECS_PER_SEC + usec;
	return IS_VALID_TIMESTAMP(*out);
}

/* ISO-8601 text: YYYY-MM-DD first; no zone means UTC, whatever TimeZone says */
static bool
cf_parse_timestamp(const char *s, TimestampTz *out)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz = 0;

	if (!(isdigit((unsigned char) s[0]) && isdigit((unsigned char) s[1]) &&
		  isdigit((unsigned char) s[2]) && isdigit((unsigned char) s[3]) && s[4] == '-' &&
		  isdigit((unsigned char) s[5]) && isdigit((unsigned char) s[6]) && s[7] == '-'))
		return false;
	if (strlen(s) >= MAXDATELEN)
		return false;
	if (ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0)
		return false;
	/* without a zone pointer, DecodeDateTime refuses text that names a zone */
	if (DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, NULL) == 0)
		tz = 0;
	else
	{
		if (ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
			DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, &tz) != 0)
			return false;
	}
	if (dtype != DTK_DATE)
		return false;
	if (tm2timestamp(&tm, fsec, &tz, out) != 0 || !IS_VALID_TIMESTAMP(*out))
		return false;
	return true;
}

/* epoch seconds, integer or fractional, to microseconds exactly */
static bool
cf_epoch_to_timestamp(Numeric num, TimestampTz *out)
{
	int64		secs;
	int64		usecs;
	CfIntResult r = cf_numeric_to_int64(num, &secs);

	if (r == CF_INT_OK)
	{
		if (pg_mul_s64_overflow(secs, USECS_PER_SEC, &usecs))
			return false;
	}
	else if (r == CF_INT_NOT_INTEGER)
	{
		Datum		scaled = DirectFunctionCall2(numeric_mul, NumericGetDatum(num),
												 DirectFunctionCall1(int8_numeric,
																	 Int64GetDatum(USECS_PER_SEC)));
		Datum		rounded = DirectFunctionCall2(numeric_round, scaled, Int32GetDatum(0));

		if (cf_numeric_to_int64(DatumGetNumeric(rounded), &usecs) != CF_INT_OK)
			return false;
	}
	else
		return false;
	/* Unix epoch to PostgreSQL epoch */
	if (pg_sub_s64_overflow(usecs, (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY,
							out))
		return false;
	return IS_VALID_TIMESTAMP(*out);
}

static Datum
cf_to_timestamp(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	TimestampTz ts;

	if (v->type == jbvString)
	{
		char	   *s;

		if (cf_parse_iso_fast(v->val.string.val, v->val.string.len, &ts))
			return TimestampTzGetDatum(ts);
		s = pnstrdup(v->val.string.val, v->val.string.len);
		if (!cf_parse_timestamp(s, &ts))
			cf_reject(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION,
					  "(not an ISO-8601 timestamp)");
		return TimestampTzGetDatum(ts);
	}
	if (v->type == jbvNumeric)
	{
		if (!cf_epoch_to_timestamp(v->val.numeric, &ts))
			cf_reject(site, t, v, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE, "(out of range)");
		return TimestampTzGetDatum(ts);
	}
	cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	return (Datum) 0;			/* not reached */
}

static Datum
cf_scalar_to_datum(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	switch (t.base)
	{
		case CF_INT32:
		case CF_INT64:
			return cf_to_int(v, t, site);
		case CF_FLOAT32:
		case CF_FLOAT64:
			return cf_to_float(v, t, site);
		case CF_STRING:
			if (v->type != jbvString)
				cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
			return PointerGetDatum(cstring_to_text_with_len(v->val.string.val, v->val.string.len));
		case CF_BYTES:
			return cf_to_bytes(v, t, site);
		case CF_BOOL:
			if (v->type != jbvBool)
				cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
			return BoolGetDatum(v->val.boolean);
		case CF_TIMESTAMP:
			return cf_to_timestamp(v, t, site);
		case CF_JSON:
			return JsonbPGetDatum(JsonbValueToJsonb(v));
	}
	elog(ERROR, "unknown cfeast dtype %d", (int) t.base);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * arrays
 * ------------------------------------------------------------------------
 */

static Datum
cf_array_to_datum(JsonbValue *v, CfDtype t, const CfValueSite *site)
{
	JsonbIterator *it;
	JsonbValue	elem;
	JsonbIteratorToken tok;
	CfDtype		et = {t.base, false};
	int			n;
	int			i = 0;
	Datum	   *values;
	bool	   *nulls;
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;
	char	   *elemfield;
	CfValueSite esite;

	if (v->type != jbvBinary || !JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);

	n = JsonContainerSize(v->val.binary.data);
	values = palloc(sizeof(Datum) * Max(n, 1));
	nulls = palloc(sizeof(bool) * Max(n, 1));
	elemfield = NULL;
	it = JsonbIteratorInit(v->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &elem, true)) != WJB_DONE)
	{
		if (tok != WJB_ELEM)
			continue;
		if (elem.type == jbvNull)
		{
			nulls[i] = true;
			values[i] = (Datum) 0;
		}
		else if (elem.type == jbvBinary && t.base != CF_JSON)
		{
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s: expected %s, got %s at element %d",
							cf_site_prefix(site), cf_dtype_name(t), cf_describe_json(&elem), i),
					 errdetail("Arrays of %s hold scalars; nested arrays and objects are refused.",
							   cf_dtype_name(et))));
		}
		else
		{
			if (elemfield == NULL)
				elemfield = palloc(strlen(site->field) + 32);
			sprintf(elemfield, "%s[%d]", site->field, i);
			esite.row = site->row;
			esite.field = elemfield;
			nulls[i] = false;
			values[i] = cf_scalar_to_datum(&elem, et, &esite);
		}
		i++;
		if ((i & 1023) == 0)
			CHECK_FOR_INTERRUPTS();
	}
	dims[0] = i;
	get_typlenbyvalalign(cf_dtype_type_oid(et), &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  cf_dtype_type_oid(et), typlen, typbyval, typalign));
}

/*
 * Convert one JSON value to a Datum of dtype t.  JSON null gives SQL NULL;
 * anything else that does not fit raises an error naming the site.
 */
Datum
cf_json_to_datum(JsonbValue *v, CfDtype t, const CfValueSite *site, bool *isnull)
{
	if (v->type == jbvNull)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	if (t.is_array)
		return cf_array_to_datum(v, t, site);
	if (v->type == jbvBinary && t.base != CF_JSON)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	return cf_scalar_to_datum(v, t, site);
}
