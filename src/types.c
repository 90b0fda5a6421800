/*-------------------------------------------------------------------------
 * types.c
 *	  cfeast dtypes, and the strict conversion of JSON values to Datums.
 *
 * Values arrive as JsonbValues straight from a jsonb iterator (push rows,
 * entity rows).  Each dtype has one converter that returns a Datum or raises
 * an error naming the row, the field, the dtype expected and the value
 * received: "row 3: field "x": expected int32, got number 1.5 (not an
 * integer)".  JSON null is SQL NULL for every dtype.  The rules:
 *
 *	int32, int64	a JSON number that is an integer as written (5 yes; 5.0,
 *					1.5 no: 22023) and in range (22003); 1e2 is 100.  Exact:
 *					never through double.
 *	float32/64		a JSON number, rounded correctly to the nearest value
 *					(exactly what float4in/float8in give for the same text);
 *					out of range, or a nonzero value that underflows to zero,
 *					22003; the strings "NaN", "Infinity", "-Infinity".
 *	string			a JSON string.
 *	bytes			a JSON string of strict base64 (RFC 4648 section 4): the
 *					standard alphabet (A-Z a-z 0-9 + /), padded with "=" to a
 *					multiple of 4 characters, "=" only at the end, no
 *					whitespace or line breaks, zero bits in what the padding
 *					leaves unused (so each value has one spelling).  Anything
 *					else is 22P02, naming the offset of the first fault.
 *					(PostgreSQL's decode(..., 'base64') skips whitespace and
 *					decodes data after "=" as if it were padding: cfeast
 *					refuses both.)
 *	bool			true or false.
 *	unix_timestamp	a JSON number of epoch seconds, integer or fractional
 *					(rounded to the microsecond, halves away from zero),
 *					within what timestamptz holds: -210866803200 (4714-11-24
 *					BC) to below 9224318016000 (294277-01-01 UTC), else
 *					22008; or ISO-8601 text in exactly this grammar
 *					(cf_iso_scan), else 22P02 with a hint:
 *						YYYY-MM-DD
 *						YYYY-MM-DD{T|t| }HH:MM[:SS[.fraction]][Z|z|{+|-}HH[[:]MM]]
 *					years 0001-9999, a real calendar date, hours 00-23
 *					(24:00:00 is the next midnight), seconds 00-59 (60 for a
 *					leap second, counted as the next minute), fractions
 *					rounded to the microsecond, offsets up to 15:59; no zone
 *					means UTC whatever TimeZone says.  No words (now, today,
 *					epoch, infinity, allballs), no BC, no zone names or
 *					abbreviations, no space before the zone, no basic format.
 *	json			any JSON value.
 *	array(T)		a JSON array of T's (or nulls); nested arrays and objects
 *					are refused; errors name the element: field "x[2]".
 *
 * Fast paths.  Four shortcuts compute, in the common cases, what a plain
 * PostgreSQL routine computes, and must give exactly its answer:
 *	- int64 from the numeric's base-10000 digits, instead of numeric_scale,
 *	  a range check and numeric_int8 (ints and integer epoch seconds);
 *	- doubles and floats from decimal digits (Clinger: mantissa < 2^53 or
 *	  2^24, one exact IEEE operation), instead of float8in/float4in on the
 *	  numeric's text;
 *	- doubles and floats of 15 to 19 digits through x87 extended precision
 *	  (one rounding to 64 bits, declined at the narrower format's midpoints,
 *	  and wherever long double is not really 64-bit: valgrind);
 *	- ISO-8601 arithmetic from the scanned fields, instead of ParseDateTime
 *	  and DecodeDateTime (the grammar check itself runs in both modes).
 * Each stays because test/bench/types.sh measured it, beside the plain
 * routine on the same values in one run, at least 15% cheaper per value;
 * its figures are in test/bench/README.md.  The test-only functions at the
 * end of this file (cfeast_conversion_bench and cfeast_conversion_check,
 * in cfeast.so but not in the extension's SQL) run either mode;
 * sql/types_strict.sql checks that both modes agree on generated values.
 *-------------------------------------------------------------------------
 */
#include "cfeast.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "common/int.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/datetime.h"
#include "utils/float.h"
#include "utils/formatting.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
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

/* a number from text as jsonb would hold it: numeric_in of its digits */
static Numeric
cf_text_numeric(CfJsonValue *v)
{
	return DatumGetNumeric(DirectFunctionCall3(numeric_in, CStringGetDatum(v->str),
											   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)));
}

/*
 * A short, quoted description of a JSON value: string "abc", number 1.5,
 * array.  A number reads as jsonb prints it (1E+2 is 100, -0 is 0) whatever
 * its spelling in the text.
 */
char *
cf_describe_value(CfJsonValue *v)
{
	switch (v->kind)
	{
		case CF_JSON_NULL:
			return "null";
		case CF_JSON_BOOL:
			return v->boolean ? "true" : "false";
		case CF_JSON_NUMBER:
			{
				Numeric		num = v->jbv ? v->jbv->val.numeric : cf_text_numeric(v);
				char	   *n = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(num)));

				if (strlen(n) > CF_DESCRIBE_MAX)
					return psprintf("number %.*s...", CF_DESCRIBE_MAX, n);
				return psprintf("number %s", n);
			}
		case CF_JSON_STRING:
			{
				StringInfoData buf;
				int			len = v->len;
				bool		cut = false;

				if (len > CF_DESCRIBE_MAX)
				{
					len = pg_mbcliplen(v->str, len, CF_DESCRIBE_MAX);
					cut = true;
				}
				initStringInfo(&buf);
				appendStringInfoString(&buf, "string ");
				escape_json(&buf, pnstrdup(v->str, len));
				if (cut)
					appendStringInfoString(&buf, "...");
				return buf.data;
			}
		case CF_JSON_ARRAY:
			return "array";
		case CF_JSON_OBJECT:
			return "object";
	}
	return "a JSON value";
}

void
cf_value_from_jsonb(JsonbValue *v, CfJsonValue *out)
{
	memset(out, 0, sizeof(*out));
	out->jbv = v;
	switch (v->type)
	{
		case jbvNull:
			out->kind = CF_JSON_NULL;
			break;
		case jbvBool:
			out->kind = CF_JSON_BOOL;
			out->boolean = v->val.boolean;
			break;
		case jbvNumeric:
			out->kind = CF_JSON_NUMBER;
			break;
		case jbvString:
			out->kind = CF_JSON_STRING;
			out->str = v->val.string.val;
			out->len = v->val.string.len;
			break;
		case jbvBinary:
			out->kind = JsonContainerIsArray(v->val.binary.data) ? CF_JSON_ARRAY : CF_JSON_OBJECT;
			break;
		default:
			elog(ERROR, "cfeast: unexpected jsonb value type %d", (int) v->type);
	}
}

char *
cf_describe_json(JsonbValue *v)
{
	CfJsonValue cv;

	cf_value_from_jsonb(v, &cv);
	return cf_describe_value(&cv);
}

/* where: "row 3: field "x"" or "field "x"" */
static char *
cf_site_prefix(const CfValueSite *site)
{
	if (site->row >= 0)
		return psprintf("row " INT64_FORMAT ": field \"%s\"", site->row, site->field);
	return psprintf("field \"%s\"", site->field);
}

static void cf_reject_hint(const CfValueSite *site, CfDtype t, CfJsonValue *v, int sqlstate,
						   const char *why, const char *hint) pg_attribute_noreturn();
static void cf_reject(const CfValueSite *site, CfDtype t, CfJsonValue *v, int sqlstate,
					  const char *why) pg_attribute_noreturn();

static void
cf_reject_hint(const CfValueSite *site, CfDtype t, CfJsonValue *v, int sqlstate, const char *why,
			   const char *hint)
{
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("%s: expected %s, got %s%s%s", cf_site_prefix(site), cf_dtype_name(t),
					cf_describe_value(v), why ? " " : "", why ? why : ""),
			 hint ? errhint("%s", hint) : 0));
}

static void
cf_reject(const CfValueSite *site, CfDtype t, CfJsonValue *v, int sqlstate, const char *why)
{
	cf_reject_hint(site, t, v, sqlstate, why, NULL);
}

/* ------------------------------------------------------------------------
 * fast paths
 *
 * Each fast path below shortcuts a plain PostgreSQL routine and must give
 * exactly its answer; test/bench/types.sh measures both in one run through
 * cfeast_conversion_bench(), and sql/types_strict.sql compares both on
 * generated values through cfeast_conversion_check().  Those two C
 * functions are not part of the extension's SQL: a test creates them itself.
 * ------------------------------------------------------------------------
 */

static bool cf_fast_paths = true;	/* false: the plain routines only (tests) */

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

/* fast path: exact int64 from the numeric's base-10000 digits */
static CfIntResult
cf_numeric_to_int64_fast(Numeric num, int64 *out)
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

/* plain: numeric_scale, a range check against int64's bounds, numeric_int8 */
static CfIntResult
cf_numeric_to_int64_plain(Numeric num, int64 *out)
{
	static Numeric lo = NULL;
	static Numeric hi = NULL;
	Datum		d = NumericGetDatum(num);

	if (lo == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		lo = int64_to_numeric(PG_INT64_MIN);
		hi = int64_to_numeric(PG_INT64_MAX);
		MemoryContextSwitchTo(old);
	}
	if (numeric_is_nan(num) || numeric_is_inf(num) ||
		DatumGetInt32(DirectFunctionCall1(numeric_scale, d)) > 0)
		return CF_INT_NOT_INTEGER;
	if (DatumGetInt32(DirectFunctionCall2(numeric_cmp, d, NumericGetDatum(lo))) < 0 ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, d, NumericGetDatum(hi))) > 0)
		return CF_INT_OUT_OF_RANGE;
	*out = DatumGetInt64(DirectFunctionCall1(numeric_int8, d));
	return CF_INT_OK;
}

/* an integer JSON number, exactly; dscale > 0 (5.0, 1.5) is not an integer */
static CfIntResult
cf_numeric_to_int64(Numeric num, int64 *out)
{
	if (cf_fast_paths)
		return cf_numeric_to_int64_fast(num, out);
	return cf_numeric_to_int64_plain(num, out);
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
 * Fast path (Clinger): a mantissa below 2^53 scaled by 10^e with |e| <= 22
 * is one correctly rounded IEEE operation.  Returns false when the number
 * needs another path.
 */
static bool
cf_decimal_to_double_fast(bool negative, uint64 m, int e10, double *out)
{
	double		d;

	if (m > (UINT64CONST(1) << 53) || e10 < -22 || e10 > 22)
		return false;
	d = (double) m;
	d = e10 >= 0 ? d * cf_pow10[e10] : d / cf_pow10[-e10];
	*out = negative && m != 0 ? -d : d;
	return true;
}

static bool
cf_numeric_to_double_fast(const CfNumParts *p, double *out)
{
	uint64		m;
	int			e10;

	return cf_decimal_parts(p, &m, &e10) && cf_decimal_to_double_fast(p->negative, m, e10, out);
}

static const float cf_pow10f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f, 1e8f, 1e9f, 1e10f};

/* the same for float32: mantissa below 2^24, |e| <= 10 */
static bool
cf_decimal_to_float_fast(bool negative, uint64 m, int e10, float *out)
{
	float		f;

	if (m > (UINT64CONST(1) << 24) || e10 < -10 || e10 > 10)
		return false;
	f = (float) m;
	f = e10 >= 0 ? f * cf_pow10f[e10] : f / cf_pow10f[-e10];
	*out = negative && m != 0 ? -f : f;
	return true;
}

static bool
cf_numeric_to_float_fast(const CfNumParts *p, float *out)
{
	uint64		m;
	int			e10;

	return cf_decimal_parts(p, &m, &e10) && cf_decimal_to_float_fast(p->negative, m, e10, out);
}

#if LDBL_MANT_DIG == 64
static const long double cf_pow10l[] = {
	1e0L, 1e1L, 1e2L, 1e3L, 1e4L, 1e5L, 1e6L, 1e7L, 1e8L, 1e9L, 1e10L, 1e11L, 1e12L, 1e13L,
	1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L, 1e21L, 1e22L, 1e23L, 1e24L, 1e25L,
	1e26L, 1e27L
};

/*
 * Is long double arithmetic really carried out with a 64-bit mantissa?  It
 * is on x86 hardware; emulators (valgrind among them) may round it to
 * double, and then the extended path below would not be exact.  Checked
 * once, at run time; when it fails, that path always declines.
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

/*
 * The extended fast path, for the 15 to 19 significant digits that doubles
 * printed in full carry: a mantissa below 2^64 and 10^|e| (|e| <= 27) are
 * both exact in x87 extended precision, so m * 10^e or m / 10^e is one
 * rounding to 64 bits.  Rounding that again to "bits" bits gives the
 * correctly rounded result unless the 64-bit value sits exactly on a
 * midpoint of the narrower format (the narrower format's midpoints are
 * 64-bit values, so the exact value and its 64-bit rounding lie on the same
 * side of every other one); then we decline and the caller takes the plain
 * path.  Returns the value, still in extended precision.
 */
static bool
cf_decimal_to_extended(bool negative, uint64 m, int e10, int bits, long double *out)
{
	int			ex;
	long double x;
	uint64		mant;
	uint64		low = (UINT64CONST(1) << (64 - bits)) - 1;

	if (!cf_extended_is_exact() || m == 0 || e10 < -27 || e10 > 27)
		return false;
	x = (long double) m;
	x = e10 >= 0 ? x * cf_pow10l[e10] : x / cf_pow10l[-e10];
	mant = (uint64) ldexpl(frexpl(x, &ex), 64);
	if ((mant & low) == ((low >> 1) + 1))
		return false;			/* exactly halfway at the narrower precision */
	*out = negative ? -x : x;
	return true;
}
#else
static bool
cf_decimal_to_extended(bool negative, uint64 m, int e10, int bits, long double *out)
{
	return false;
}
#endif

static bool
cf_numeric_to_extended(const CfNumParts *p, int bits, long double *out)
{
	uint64		m;
	int			e10;

	return cf_decimal_parts(p, &m, &e10) &&
		cf_decimal_to_extended(p->negative, m, e10, bits, out);
}

/*
 * Plain: the numeric's text read as float8in / float4in read it (strtod /
 * strtof, correctly rounded); false if out of range (overflow, or underflow
 * to zero).
 */
static bool
cf_numeric_to_double_plain(Numeric num, bool single, double *out)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(num)));
	char	   *end;
	double		d;
	float		f;

	errno = 0;
	if (!single)
	{
		bool		error = false;

		d = float8in_internal_opt_error(s, &end, "double precision", s, &error);
		if (error || *end != '\0')
			return false;
		*out = d;
		return true;
	}
	f = strtof(s, &end);		/* as float4in */
	if (end == s || *end != '\0' || (errno == ERANGE && (f == 0.0f || isinf(f))) || isinf(f))
		return false;
	*out = (double) f;
	return true;
}

/* ------------------------------------------------------------------------
 * numbers from JSON text: the digits as written
 *
 * The JSON lexer has checked the grammar (-?int(.frac)?([eE][+-]?exp)?).
 * jsonb would hold the number as numeric_in reads it: the exact value, and
 * a scale (digits after the point) of the fraction's digits minus the
 * exponent, never below 0, so 1.5e1 is the integer 15 and 1.50e1 is not an
 * integer.  The rules above are computed here from the digits themselves,
 * with the same answers; a number too long, or of too large an exponent,
 * for that is read through numeric_in, exactly as jsonb reads it (and a
 * number jsonb refuses is refused by jsontext.c with jsonb's error).
 * ------------------------------------------------------------------------
 */

#define CF_TEXTNUM_MAXLEN	40		/* longer: through numeric_in */
#define CF_TEXTNUM_MAXEXP	340		/* |exponent| beyond: through numeric_in */

typedef struct CfTextNum
{
	bool		negative;
	bool		fits;			/* m holds every significant digit */
	uint64		m;				/* significant digits, trailing zeros dropped; 0: zero */
	int			e10;			/* value = m * 10^e10 */
	bool		integer;		/* scale 0 as numeric_in reads it */
} CfTextNum;

/* false: not for this path (too long, exponent too large) */
static bool
cf_text_number(const char *s, int len, CfTextNum *n)
{
	int			i = 0;
	int			nfrac = 0;
	int			zeros = 0;		/* zeros since the last nonzero digit */
	bool		frac = false;
	bool		any = false;	/* a nonzero digit seen */
	int			exp = 0;

	memset(n, 0, sizeof(*n));
	n->fits = true;
	if (len > CF_TEXTNUM_MAXLEN)
		return false;
	if (i < len && s[i] == '-')
	{
		n->negative = true;
		i++;
	}
	for (; i < len && s[i] != 'e' && s[i] != 'E'; i++)
	{
		int			d;

		if (s[i] == '.')
		{
			frac = true;
			continue;
		}
		d = s[i] - '0';
		if (frac)
			nfrac++;
		if (d == 0)
		{
			zeros += any;
			continue;
		}
		for (int z = 0; z <= zeros && n->fits; z++)
		{
			if (n->m > PG_UINT64_MAX / 10)
				n->fits = false;
			else
				n->m *= 10;
		}
		if (n->fits && n->m > PG_UINT64_MAX - d)
			n->fits = false;
		else if (n->fits)
			n->m += d;
		zeros = 0;
		any = true;
	}
	if (i < len)
	{
		bool		eneg = false;

		i++;
		if (s[i] == '+' || s[i] == '-')
			eneg = s[i++] == '-';
		for (; i < len; i++)
		{
			exp = exp * 10 + (s[i] - '0');
			if (exp > CF_TEXTNUM_MAXEXP)
				return false;
		}
		if (eneg)
			exp = -exp;
	}
	n->integer = nfrac - exp <= 0;
	n->e10 = any ? zeros + exp - nfrac : 0;
	if (!any)
	{
		n->m = 0;
		n->negative = false;	/* numeric has no -0 */
	}
	return true;
}

static CfIntResult
cf_text_to_int64(const CfTextNum *n, int64 *out)
{
	uint64		mag = n->m;
	uint64		limit = n->negative ? (uint64) PG_INT64_MAX + 1 : (uint64) PG_INT64_MAX;

	if (!n->integer)
		return CF_INT_NOT_INTEGER;
	if (mag == 0)
	{
		*out = 0;
		return CF_INT_OK;
	}
	if (!n->fits)
		return CF_INT_OUT_OF_RANGE;
	for (int i = 0; i < n->e10; i++)
	{
		if (mag > limit / 10)
			return CF_INT_OUT_OF_RANGE;
		mag *= 10;
	}
	if (mag > limit)
		return CF_INT_OUT_OF_RANGE;
	*out = n->negative ? (int64) (0 - mag) : (int64) mag;
	return CF_INT_OK;
}

/* an integer JSON number of either origin, exactly */
static CfIntResult
cf_value_to_int64(CfJsonValue *v, int64 *out)
{
	CfTextNum	n;

	if (v->jbv)
		return cf_numeric_to_int64(v->jbv->val.numeric, out);
	if (cf_fast_paths && cf_text_number(v->str, v->len, &n))
		return cf_text_to_int64(&n, out);
	return cf_numeric_to_int64(cf_text_numeric(v), out);
}

/*
 * A float from text.  The fast paths as for jsonb's digits; else float8in
 * (or float4in) on the text itself, which reads the same decimal value as
 * jsonb's numeric prints; a zero is +0 either way (numeric has no -0).
 * False if out of range.
 */
static bool
cf_text_to_double(CfJsonValue *v, bool single, double *out)
{
	CfTextNum	n;
	long double x;
	char	   *end;

	if (!cf_text_number(v->str, v->len, &n) || !n.fits)
		;
	else if (single)
	{
		float		f;

		if (cf_decimal_to_float_fast(n.negative, n.m, n.e10, &f))
		{
			*out = f;
			return true;
		}
		if (cf_decimal_to_extended(n.negative, n.m, n.e10, FLT_MANT_DIG, &x) &&
			fabsl(x) >= FLT_MIN && fabsl(x) <= FLT_MAX)
		{
			*out = (float) x;
			return true;
		}
	}
	else
	{
		if (cf_decimal_to_double_fast(n.negative, n.m, n.e10, out))
			return true;
		if (cf_decimal_to_extended(n.negative, n.m, n.e10, DBL_MANT_DIG, &x))
		{
			*out = (double) x;
			return true;
		}
	}
	errno = 0;
	if (!single)
	{
		bool		error = false;
		double		d = float8in_internal_opt_error((char *) v->str, &end, "double precision",
													(char *) v->str, &error);

		if (error || *end != '\0')
			return false;
		*out = d == 0 ? 0.0 : d;
		return true;
	}
	else
	{
		float		f = strtof(v->str, &end);	/* as float4in */

		if (end == v->str || *end != '\0' || (errno == ERANGE && (f == 0.0f || isinf(f))) || isinf(f))
			return false;
		*out = f == 0 ? 0.0 : (double) f;
		return true;
	}
}

/* ------------------------------------------------------------------------
 * scalar converters
 * ------------------------------------------------------------------------
 */

static Datum
cf_to_int(CfJsonValue *v, CfDtype t, const CfValueSite *site)
{
	int64		i;
	CfIntResult r;

	if (v->kind != CF_JSON_NUMBER)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	r = cf_value_to_int64(v, &i);
	if (r == CF_INT_NOT_INTEGER)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, "(not an integer)");
	if (r == CF_INT_OUT_OF_RANGE || (t.base == CF_INT32 && (i < PG_INT32_MIN || i > PG_INT32_MAX)))
		cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
	return t.base == CF_INT32 ? Int32GetDatum((int32) i) : Int64GetDatum(i);
}

/* "NaN", "Infinity", "-Infinity" as JSON strings */
static bool
cf_special_float(CfJsonValue *v, double *out)
{
	const char *s = v->str;
	int			len = v->len;

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
cf_to_float(CfJsonValue *v, CfDtype t, const CfValueSite *site)
{
	bool		single = (t.base == CF_FLOAT32);
	double		d;
	Numeric		num;

	if (v->kind == CF_JSON_STRING)
	{
		if (!cf_special_float(v, &d))
			cf_reject(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION, NULL);
		return single ? Float4GetDatum((float4) d) : Float8GetDatum(d);
	}
	if (v->kind != CF_JSON_NUMBER)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	if (v->jbv == NULL && cf_fast_paths)
	{
		if (!cf_text_to_double(v, single, &d))
			cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
		return single ? Float4GetDatum((float4) d) : Float8GetDatum(d);
	}
	num = v->jbv ? v->jbv->val.numeric : cf_text_numeric(v);
	if (cf_fast_paths)
	{
		CfNumParts	p;
		long double x;

		cf_numeric_parts(num, &p);
		if (single)
		{
			float		f;

			if (cf_numeric_to_float_fast(&p, &f))
				return Float4GetDatum(f);
			if (cf_numeric_to_extended(&p, FLT_MANT_DIG, &x) &&
				fabsl(x) >= FLT_MIN && fabsl(x) <= FLT_MAX)
				return Float4GetDatum((float) x);
		}
		else
		{
			if (cf_numeric_to_double_fast(&p, &d))
				return Float8GetDatum(d);
			if (cf_numeric_to_extended(&p, DBL_MANT_DIG, &x))
				return Float8GetDatum((double) x);
		}
	}
	if (!cf_numeric_to_double_plain(num, single, &d))
		cf_reject(site, t, v, ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, "(out of range)");
	return single ? Float4GetDatum((float4) d) : Float8GetDatum(d);
}

/* a character's value in the standard base64 alphabet, or -1 */
static inline int
cf_base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Strict base64 (RFC 4648, section 4): the standard alphabet, "=" padding
 * to a multiple of 4 characters, padding only at the very end, no
 * whitespace, and zero bits in what the padding leaves unused, so that
 * every value has exactly one spelling.  Returns NULL, or why not.
 */
static const char *
cf_base64_check(const char *s, int len)
{
	int			pad = 0;

	for (int i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '=')
		{
			if (pad == 0 && i < len - 2)
				return psprintf("(not base64: \"=\" padding at offset %d is not at the end)", i);
			pad++;
			continue;
		}
		if (pad > 0)
			return psprintf("(not base64: \"=\" padding at offset %d is not at the end)", i - pad);
		if (cf_base64_value(c) < 0)
		{
			if (c == ' ')
				return psprintf("(not base64: a space at offset %d)", i);
			if (c < ' ' || c == 0x7f)
				return psprintf("(not base64: character 0x%02X at offset %d)", c, i);
			return psprintf("(not base64: character \"%.*s\" at offset %d)",
							pg_mblen(s + i), s + i, i);
		}
	}
	if (len % 4 != 0)
		return psprintf("(not base64: length %d is not a multiple of 4)", len);
	if (pad > 0)
	{
		/* the last data character's bits beyond the last byte must be zero */
		int			b = cf_base64_value((unsigned char) s[len - pad - 1]);

		if ((b & (pad == 1 ? 0x03 : 0x0f)) != 0)
			return psprintf("(not base64: nonzero bits in the padding at offset %d)", len - pad - 1);
	}
	return NULL;
}

static Datum
cf_to_bytes(CfJsonValue *v, CfDtype t, const CfValueSite *site)
{
	int			len;
	int			maxlen;
	bytea	   *result;
	const char *why;

	if (v->kind != CF_JSON_STRING)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	len = v->len;
	if ((why = cf_base64_check(v->str, len)) != NULL)
		cf_reject(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION, why);
	maxlen = pg_b64_dec_len(len);
	result = palloc(VARHDRSZ + maxlen);
	len = pg_b64_decode(v->str, len, VARDATA(result), maxlen);
	if (len < 0)
		elog(ERROR, "base64 that passed the check did not decode");
	SET_VARSIZE(result, VARHDRSZ + len);
	return PointerGetDatum(result);
}

/* ------------------------------------------------------------------------
 * timestamps
 * ------------------------------------------------------------------------
 */

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

/* an ISO-8601 timestamp's fields, as cf_iso_scan found them */
typedef struct CfIsoParts
{
	int			y, mo, d, h, mi, sec;
	int64		usec;			/* the first 6 fraction digits, in microseconds */
	int			nfrac;			/* fraction digits given */
	int			tz;				/* seconds east of UTC */
	bool		zoned;			/* Z or an offset given */
} CfIsoParts;

#define CF_ISO_HINT "Timestamps are YYYY-MM-DD[THH:MM[:SS[.fraction]][Z|+HH:MM|-HH:MM]] " \
	"(T or a space; no zone is UTC), or epoch seconds as a JSON number."

/*
 * The one grammar of timestamp text, the calendar date and time of day in
 * ISO-8601's extended format (RFC 3339's profile, with reduced precision):
 *   YYYY-MM-DD
 *   YYYY-MM-DD{T|t| }HH:MM[:SS[.F...]][Z|z|{+|-}HH[[:]MM]]
 * Years 0001-9999; hours 00-24 and seconds 00-60 (24:00:00 and leap seconds
 * are left to PostgreSQL's parser, which knows their rules); offsets up to
 * 15:59.  Nothing else: no words (now, epoch, infinity, allballs), no BC,
 * no zone names or abbreviations, no spaces around the zone.  Returns false
 * for anything outside the grammar.
 */
static bool
cf_iso_scan(const char *s, int len, CfIsoParts *p)
{
	int			i = 10;

	memset(p, 0, sizeof(*p));
	if (len < 10 || s[4] != '-' || s[7] != '-')
		return false;
	p->y = cf_digits(s, 4);
	p->mo = cf_digits(s + 5, 2);
	p->d = cf_digits(s + 8, 2);
	if (p->y < 1 || p->mo < 1 || p->mo > 12 || p->d < 1 || p->d > day_tab[isleap(p->y)][p->mo - 1])
		return false;
	if (len == 10)
		return true;
	if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || len < 16 || s[13] != ':')
		return false;
	p->h = cf_digits(s + 11, 2);
	p->mi = cf_digits(s + 14, 2);
	if (p->h < 0 || p->h > 24 || p->mi < 0 || p->mi > 59)
		return false;
	i = 16;
	if (i < len && s[i] == ':')
	{
		if (len - i < 3 || (p->sec = cf_digits(s + i + 1, 2)) < 0 || p->sec > 60)
			return false;
		i += 3;
		if (i < len && s[i] == '.')
		{
			i++;
			while (i < len && isdigit((unsigned char) s[i]))
			{
				if (p->nfrac < 6)
					p->usec = p->usec * 10 + (s[i] - '0');
				p->nfrac++;
				i++;
			}
			if (p->nfrac == 0)
				return false;
			for (int n = p->nfrac; n < 6; n++)
				p->usec *= 10;
		}
	}
	p->zoned = i < len;
	if (i < len && (s[i] == 'Z' || s[i] == 'z'))
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
		{
			if (len - i != 3)
				return false;
			i++;
		}
		if (len - i == 2)
		{
			if ((tm = cf_digits(s + i, 2)) < 0)
				return false;
			i += 2;
		}
		if (th > 15 || tm > 59)
			return false;
		p->tz = sign * (th * 3600 + tm * 60);
	}
	return i == len;
}

/*
 * Fast path: the timestamp from the scanned fields, for the common case
 * (hour below 24, no leap second, at most microseconds).  False: take the
 * plain path.
 */
static bool
cf_iso_to_timestamp_fast(const CfIsoParts *p, TimestampTz *out)
{
	int64		days;

	if (p->h > 23 || p->sec > 59 || p->nfrac > 6)
		return false;
	days = date2j(p->y, p->mo, p->d) - POSTGRES_EPOCH_JDATE;
	*out = (((days * 24 + p->h) * 60 + p->mi) * 60 + p->sec - p->tz) * USECS_PER_SEC + p->usec;
	return IS_VALID_TIMESTAMP(*out);
}

/*
 * Plain: text that cf_iso_scan accepted, through PostgreSQL's own date
 * parser (as timestamptz_in does, except that no zone means UTC, not
 * TimeZone: DecodeDateTime gets no zone pointer then).
 */
static bool
cf_iso_to_timestamp_plain(const char *s, bool zoned, TimestampTz *out)
{
	char		workbuf[MAXDATELEN + MAXDATEFIELDS];
	char	   *field[MAXDATEFIELDS];
	int			ftype[MAXDATEFIELDS];
	int			nf;
	int			dtype;
	struct pg_tm tm;
	fsec_t		fsec;
	int			tz = 0;

	if (strlen(s) >= MAXDATELEN ||
		ParseDateTime(s, workbuf, sizeof(workbuf), field, ftype, MAXDATEFIELDS, &nf) != 0 ||
		DecodeDateTime(field, ftype, nf, &dtype, &tm, &fsec, zoned ? &tz : NULL) != 0 ||
		dtype != DTK_DATE)
		return false;
	return tm2timestamp(&tm, fsec, &tz, out) == 0 && IS_VALID_TIMESTAMP(*out);
}

/* the epoch range of timestamptz, in seconds: [CF_EPOCH_MIN, CF_EPOCH_END) */
#define CF_EPOCH_OFFSET ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY)
#define CF_EPOCH_MIN	(MIN_TIMESTAMP / USECS_PER_SEC + CF_EPOCH_OFFSET)
#define CF_EPOCH_END	(END_TIMESTAMP / USECS_PER_SEC + CF_EPOCH_OFFSET)

/*
 * Epoch seconds, integer or fractional (rounded to the microsecond, halves
 * away from zero), exactly.  The shift to PostgreSQL's epoch comes first,
 * so every second that timestamptz holds fits (up to 294276-12-31).
 */
static bool
cf_epoch_to_timestamp(Numeric num, TimestampTz *out)
{
	int64		secs;
	int64		usecs;
	CfIntResult r = cf_numeric_to_int64(num, &secs);

	if (r == CF_INT_OK)
	{
		if (pg_sub_s64_overflow(secs, CF_EPOCH_OFFSET, &secs) ||
			pg_mul_s64_overflow(secs, USECS_PER_SEC, &usecs))
			return false;
	}
	else if (r == CF_INT_NOT_INTEGER)
	{
		Datum		shifted = DirectFunctionCall2(numeric_sub, NumericGetDatum(num),
												  NumericGetDatum(int64_to_numeric(CF_EPOCH_OFFSET)));
		Datum		scaled = DirectFunctionCall2(numeric_mul, shifted,
												 NumericGetDatum(int64_to_numeric(USECS_PER_SEC)));
		Datum		rounded = DirectFunctionCall2(numeric_round, scaled, Int32GetDatum(0));

		if (cf_numeric_to_int64(DatumGetNumeric(rounded), &usecs) != CF_INT_OK)
			return false;
	}
	else
		return false;
	*out = usecs;
	return IS_VALID_TIMESTAMP(*out);
}

/*
 * The same from a number's digits in text: round(x * 10^6 - offset * 10^6),
 * halves away from zero, computed in 128 bits.  -1: not for this path
 * (the caller reads the number through numeric_in); 0: out of range.
 */
static int
cf_text_epoch_to_timestamp(CfJsonValue *v, TimestampTz *out)
{
#ifdef HAVE_INT128
	CfTextNum	n;
	int128		z;
	int128		p = 1;
	int			shift;

	if (!cf_text_number(v->str, v->len, &n) || !n.fits || n.e10 > 30 || n.e10 < -30)
		return -1;
	if (n.integer)
	{
		int64		secs;

		if (cf_text_to_int64(&n, &secs) != CF_INT_OK ||
			pg_sub_s64_overflow(secs, CF_EPOCH_OFFSET, &secs) ||
			pg_mul_s64_overflow(secs, USECS_PER_SEC, out))
			return 0;
		return IS_VALID_TIMESTAMP(*out);
	}
	/* x * 10^6 = m * 10^shift; more than 10^19 microseconds is out of range anyway */
	shift = n.e10 + 6;
	z = n.negative ? -(int128) n.m : (int128) n.m;
	if (shift >= 0)
	{
		for (int i = 0; i < shift; i++)
			z *= 10;
		z -= (int128) CF_EPOCH_OFFSET * USECS_PER_SEC;
	}
	else
	{
		int128		q,
					r;

		for (int i = 0; i < -shift; i++)
			p *= 10;
		z -= (int128) CF_EPOCH_OFFSET * USECS_PER_SEC * p;
		q = z / p;
		r = z % p;
		if (r < 0)
			r = -r;
		if (2 * r >= p)
			q += z < 0 ? -1 : 1;
		z = q;
	}
	if (z < PG_INT64_MIN || z > PG_INT64_MAX)
		return 0;
	*out = (TimestampTz) z;
	return IS_VALID_TIMESTAMP(*out);
#else
	return -1;
#endif
}

static Datum
cf_to_timestamp(CfJsonValue *v, CfDtype t, const CfValueSite *site)
{
	TimestampTz ts;

	if (v->kind == CF_JSON_STRING)
	{
		CfIsoParts	p;
		bool		ok = cf_iso_scan(v->str, v->len, &p);

		if (ok && !(cf_fast_paths && cf_iso_to_timestamp_fast(&p, &ts)))
			ok = cf_iso_to_timestamp_plain(pnstrdup(v->str, v->len), p.zoned, &ts);
		if (!ok)
			cf_reject_hint(site, t, v, ERRCODE_INVALID_TEXT_REPRESENTATION,
						   "(not an ISO-8601 timestamp)", CF_ISO_HINT);
		return TimestampTzGetDatum(ts);
	}
	if (v->kind == CF_JSON_NUMBER)
	{
		int			ok = -1;

		if (v->jbv == NULL && cf_fast_paths)
			ok = cf_text_epoch_to_timestamp(v, &ts);
		if (ok < 0)
			ok = cf_epoch_to_timestamp(v->jbv ? v->jbv->val.numeric : cf_text_numeric(v), &ts);
		if (!ok)
			cf_reject(site, t, v, ERRCODE_DATETIME_VALUE_OUT_OF_RANGE,
					  psprintf("(out of range: epoch seconds from " INT64_FORMAT
							   " to below " INT64_FORMAT
							   ", that is 4714-11-24 00:00:00 BC to 294276-12-31 23:59:59.999999 UTC)",
							   CF_EPOCH_MIN, CF_EPOCH_END));
		return TimestampTzGetDatum(ts);
	}
	cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	return (Datum) 0;			/* not reached */
}

/* a json value from text: jsonb of its JSON text, as jsonb would hold it */
static Datum
cf_text_to_jsonb(CfJsonValue *v)
{
	JsonbValue	jv;

	switch (v->kind)
	{
		case CF_JSON_ARRAY:
		case CF_JSON_OBJECT:
			return DirectFunctionCall1(jsonb_in, CStringGetDatum(pnstrdup(v->str, v->len)));
		case CF_JSON_BOOL:
			jv.type = jbvBool;
			jv.val.boolean = v->boolean;
			break;
		case CF_JSON_NUMBER:
			jv.type = jbvNumeric;
			jv.val.numeric = cf_text_numeric(v);
			break;
		case CF_JSON_STRING:
			jv.type = jbvString;
			jv.val.string.val = (char *) v->str;
			jv.val.string.len = v->len;
			break;
		default:
			jv.type = jbvNull;
			break;
	}
	return JsonbPGetDatum(JsonbValueToJsonb(&jv));
}

static Datum
cf_scalar_to_datum(CfJsonValue *v, CfDtype t, const CfValueSite *site)
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
			if (v->kind != CF_JSON_STRING)
				cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
			return PointerGetDatum(cstring_to_text_with_len(v->str, v->len));
		case CF_BYTES:
			return cf_to_bytes(v, t, site);
		case CF_BOOL:
			if (v->kind != CF_JSON_BOOL)
				cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
			return BoolGetDatum(v->boolean);
		case CF_TIMESTAMP:
			return cf_to_timestamp(v, t, site);
		case CF_JSON:
			if (v->jbv)
				return JsonbPGetDatum(JsonbValueToJsonb(v->jbv));
			return cf_text_to_jsonb(v);
	}
	elog(ERROR, "unknown cfeast dtype %d", (int) t.base);
	return (Datum) 0;
}

/* ------------------------------------------------------------------------
 * arrays
 * ------------------------------------------------------------------------
 */

/* element i of an array(T) value: a Datum or NULL; nested arrays and objects refused */
static void
cf_array_element(CfJsonValue *elem, int i, CfDtype t, const CfValueSite *site, char **elemfield,
				 Datum *value, bool *isnull)
{
	CfDtype		et = {t.base, false};
	CfValueSite esite;

	if (elem->kind == CF_JSON_NULL)
	{
		*isnull = true;
		*value = (Datum) 0;
		return;
	}
	if ((elem->kind == CF_JSON_ARRAY || elem->kind == CF_JSON_OBJECT) && t.base != CF_JSON)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: expected %s, got %s at element %d",
						cf_site_prefix(site), cf_dtype_name(t), cf_describe_value(elem), i),
				 errdetail("Arrays of %s hold scalars; nested arrays and objects are refused.",
						   cf_dtype_name(et))));
	if (*elemfield == NULL)
		*elemfield = palloc(strlen(site->field) + 32);
	sprintf(*elemfield, "%s[%d]", site->field, i);
	esite.row = site->row;
	esite.field = *elemfield;
	*isnull = false;
	*value = cf_scalar_to_datum(elem, et, &esite);
}

static Datum
cf_array_to_datum(CfJsonValue *v, CfDtype t, const CfValueSite *site)
{
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
	char	   *elemfield = NULL;

	if (v->kind != CF_JSON_ARRAY)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	if (v->jbv)
	{
		/* the jsonb array's elements, converted as the iterator reaches them */
		JsonbContainer *c = v->jbv->val.binary.data;
		JsonbIterator *it;
		JsonbIteratorToken tok;
		JsonbValue	jv;
		CfJsonValue elem;

		if (JsonContainerIsScalar(c))
			cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
		n = JsonContainerSize(c);
		values = palloc(sizeof(Datum) * Max(n, 1));
		nulls = palloc(sizeof(bool) * Max(n, 1));
		it = JsonbIteratorInit(c);
		while ((tok = JsonbIteratorNext(&it, &jv, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			cf_value_from_jsonb(&jv, &elem);
			cf_array_element(&elem, i, t, site, &elemfield, &values[i], &nulls[i]);
			i++;
			if ((i & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
		}
		n = i;
	}
	else
	{
		n = v->nelems;
		if (v->elems == NULL && n > 0)
			elog(ERROR, "cfeast: array elements were not kept");
		values = palloc(sizeof(Datum) * Max(n, 1));
		nulls = palloc(sizeof(bool) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			cf_array_element(&v->elems[i], i, t, site, &elemfield, &values[i], &nulls[i]);
			if (((i + 1) & 1023) == 0)
				CHECK_FOR_INTERRUPTS();
		}
	}
	dims[0] = n;
	get_typlenbyvalalign(cf_dtype_type_oid(et), &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(values, nulls, 1, dims, lbs,
											  cf_dtype_type_oid(et), typlen, typbyval, typalign));
}

/*
 * Convert one JSON value to a Datum of dtype t.  JSON null gives SQL NULL;
 * anything else that does not fit raises an error naming the site.
 */
Datum
cf_value_to_datum(CfJsonValue *v, CfDtype t, const CfValueSite *site, bool *isnull)
{
	if (v->kind == CF_JSON_NULL)
	{
		*isnull = true;
		return (Datum) 0;
	}
	*isnull = false;
	if (t.is_array)
		return cf_array_to_datum(v, t, site);
	if ((v->kind == CF_JSON_ARRAY || v->kind == CF_JSON_OBJECT) && t.base != CF_JSON)
		cf_reject(site, t, v, ERRCODE_INVALID_PARAMETER_VALUE, NULL);
	return cf_scalar_to_datum(v, t, site);
}

Datum
cf_json_to_datum(JsonbValue *v, CfDtype t, const CfValueSite *site, bool *isnull)
{
	CfJsonValue cv;

	cf_value_from_jsonb(v, &cv);
	return cf_value_to_datum(&cv, t, site, isnull);
}

/* ------------------------------------------------------------------------
 * test-only functions: the fast paths against the plain routines
 *
 * Not part of the extension's SQL; a superuser's test creates them:
 *   CREATE FUNCTION pg_temp.conversion_bench(values jsonb, dtype text, fast boolean, loops int)
 *     RETURNS float8 LANGUAGE C STRICT AS '$libdir/cfeast', 'cfeast_conversion_bench';
 *   CREATE FUNCTION pg_temp.conversion_check(values jsonb, dtype text)
 *     RETURNS text LANGUAGE C STRICT AS '$libdir/cfeast', 'cfeast_conversion_check';
 *   CREATE FUNCTION pg_temp.conversion_fast_paths(on boolean)
 *     RETURNS boolean LANGUAGE C STRICT AS '$libdir/cfeast', 'cfeast_conversion_fast_paths';
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(cfeast_conversion_bench);
PG_FUNCTION_INFO_V1(cfeast_conversion_check);
PG_FUNCTION_INFO_V1(cfeast_conversion_fast_paths);

/*
 * conversion_fast_paths(on): the mode of every later conversion in this
 * session (feast_push included) until called again; returns the previous.
 */
Datum
cfeast_conversion_fast_paths(PG_FUNCTION_ARGS)
{
	bool		old = cf_fast_paths;

	cf_fast_paths = PG_GETARG_BOOL(0);
	PG_RETURN_BOOL(old);
}

/* the scalar elements of a JSON array, and the dtype named by text */
static JsonbValue *
cf_test_values(Jsonb *jb, text *dtype, CfDtype *t, int *n)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	JsonbValue *vals;
	int			i = 0;

	if (!cf_parse_dtype(text_to_cstring(dtype), t))
		elog(ERROR, "invalid dtype \"%s\"", text_to_cstring(dtype));
	if (!JB_ROOT_IS_ARRAY(jb) || JB_ROOT_IS_SCALAR(jb))
		elog(ERROR, "values must be a JSON array");
	vals = palloc(sizeof(JsonbValue) * Max(JB_ROOT_COUNT(jb), 1));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_ELEM)
			vals[i++] = v;
	*n = i;
	return vals;
}

/*
 * conversion_bench(values, dtype, fast, loops): converts every value loops
 * times, with the fast paths (fast) or with the plain routines only, and
 * returns the nanoseconds per value.
 */
Datum
cfeast_conversion_bench(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	bool		fast = PG_GETARG_BOOL(2);
	int			loops = PG_GETARG_INT32(3);
	CfDtype		t;
	int			n;
	JsonbValue *vals = cf_test_values(jb, PG_GETARG_TEXT_PP(1), &t, &n);
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast bench",
											  ALLOCSET_DEFAULT_SIZES);
	bool		saved = cf_fast_paths;
	instr_time	start,
				elapsed;

	cf_fast_paths = fast;
	PG_TRY();
	{
		INSTR_TIME_SET_CURRENT(start);
		for (int l = 0; l < loops; l++)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			for (int i = 0; i < n; i++)
			{
				CfValueSite site = {i, "value"};
				bool		isnull;

				(void) cf_json_to_datum(&vals[i], t, &site, &isnull);
			}
			MemoryContextSwitchTo(old);
			MemoryContextReset(cxt);
			CHECK_FOR_INTERRUPTS();
		}
		INSTR_TIME_SET_CURRENT(elapsed);
		INSTR_TIME_SUBTRACT(elapsed, start);
	}
	PG_FINALLY();
	{
		cf_fast_paths = saved;
	}
	PG_END_TRY();
	MemoryContextDelete(cxt);
	PG_RETURN_FLOAT8(INSTR_TIME_GET_DOUBLE(elapsed) * 1e9 / ((double) Max(n, 1) * Max(loops, 1)));
}

/* one conversion's outcome: a Datum, or an error's SQLSTATE and message */
static char *
cf_test_convert(JsonbValue *v, CfDtype t, int row, bool fast, Datum *d)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		saved = cf_fast_paths;
	char	   *err = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	cf_fast_paths = fast;
	PG_TRY();
	{
		CfValueSite site = {row, "value"};
		bool		isnull;

		*d = cf_json_to_datum(v, t, &site, &isnull);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(cxt);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		err = psprintf("%s %s", unpack_sql_state(e->sqlerrcode), e->message);
	}
	PG_END_TRY();
	cf_fast_paths = saved;
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return err;
}

static char *
cf_test_show(Datum d, CfDtype t)
{
	Oid			out;
	bool		varlena;

	getTypeOutputInfo(cf_dtype_type_oid(t), &out, &varlena);
	return OidOutputFunctionCall(out, d);
}

/*
 * conversion_check(values, dtype): converts every value with the fast paths
 * and with the plain routines only, and counts the values converted alike
 * (the same bits), refused alike (the same SQLSTATE and message) and those
 * that differ; a WARNING shows the first few that differ.
 */
Datum
cfeast_conversion_check(PG_FUNCTION_ARGS)
{
	Jsonb	   *jb = PG_GETARG_JSONB_P(0);
	CfDtype		t;
	int			n;
	JsonbValue *vals = cf_test_values(jb, PG_GETARG_TEXT_PP(1), &t, &n);
	int16		typlen;
	bool		typbyval;
	int64		differ = 0;
	int64		refused = 0;

	get_typlenbyval(cf_dtype_type_oid(t), &typlen, &typbyval);
	for (int i = 0; i < n; i++)
	{
		Datum		a = (Datum) 0,
					b = (Datum) 0;
		char	   *ea = cf_test_convert(&vals[i], t, i, true, &a);
		char	   *eb = cf_test_convert(&vals[i], t, i, false, &b);
		bool		same;

		if (ea && eb)
			refused++;
		if (ea || eb)
			same = ea && eb && strcmp(ea, eb) == 0;
		else
			same = datumIsEqual(a, b, typbyval, typlen);
		if (!same && ++differ <= 5)
			ereport(WARNING,
					(errmsg("value %d, %s: fast path and plain routine differ", i,
							cf_describe_json(&vals[i])),
					 errdetail("fast: %s; plain: %s", ea ? ea : cf_test_show(a, t),
							   eb ? eb : cf_test_show(b, t))));
		CHECK_FOR_INTERRUPTS();
	}
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("%d values: " INT64_FORMAT " converted alike, "
											  INT64_FORMAT " refused alike, " INT64_FORMAT " differ",
											  n, n - refused - differ, refused, differ)));
}
