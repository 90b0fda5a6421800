/*-------------------------------------------------------------------------
 * jsontext.c
 *	  feast_push(push_source, rows text, to): push rows straight from JSON
 *	  text, parsed once by PostgreSQL's JSON parser (common/jsonapi.h) with
 *	  semantic callbacks, into the batch's typed values.
 *
 * The contract is the jsonb form's, to the message: the text form hands
 * every row, field and value to push.c's row and column readers (push.h),
 * which convert through types.c's cf_value_to_datum, the jsonb form's one
 * path.  A value reaches them as a CfJsonValue: a number as the digits
 * written (types.c reads them exactly, never through numeric), a string
 * de-escaped by the lexer, an array with its elements.  What the text form
 * must do to give the jsonb form's answers:
 *
 *	- Order.  jsonb holds an object's keys sorted by length, then bytes, and
 *	  each key once, the last of duplicates; its readers meet fields in that
 *	  order.  The text form keeps a row's fields (or the column form's
 *	  columns) as written until the object ends, then sorts them the same
 *	  way and drops all but the last of each key, so the same field fails
 *	  first and a duplicate's earlier values are never looked at.
 *	- Rows stream: a row is converted when its object ends, in the batch's
 *	  memory, and what its text needed is dropped (one small context, reset
 *	  per row).  The column form is read whole, then converted.
 *	- Input errors first.  The jsonb form fails on text that jsonb refuses
 *	  (bad syntax, "\u0000", a number numeric cannot hold) before any row
 *	  is looked at.  So a text-form push that fails before its rows are all
 *	  read runs cf_json_text_check (jsonb's input function on the text) and
 *	  raises jsonb's error if there is one, else its own; and a successful
 *	  parse that met a number numeric might refuse (longer than 40
 *	  characters, or an exponent beyond 340), a string longer than jsonb
 *	  holds, or text longer than a jsonb container holds runs the same
 *	  check.  Numbers of that kind are converted through numeric_in, as
 *	  jsonb reads them.
 *	- Values deeper than a field's array elements are only needed as text:
 *	  for json features (jsonb_in on their text, as jsonb would hold them)
 *	  and to name their kind in messages ("got array at element 2").
 *-------------------------------------------------------------------------
 */
#include "jsontext.h"

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"

#define CF_KEEP_DEPTH	3		/* values deeper than this are not kept */
#define CF_NUM_SAFE_LEN 40		/* longer numbers: maybe not a numeric */
#define CF_NUM_SAFE_EXP 340		/* larger exponents: maybe not a numeric */

/* an object's field as written: key, its place among the fields, value */
typedef struct CfPair
{
	const char *key;
	int			keylen;
	int			seq;
	CfJsonValue v;
} CfPair;

/* a container being read, at one depth */
typedef struct CfFrame
{
	CfJsonValue *slot;			/* where its value goes; NULL: nowhere */
	const char *start;			/* its text */
	bool		keep_elems;		/* an array whose elements are kept */
	CfJsonValue *elems;
	int			nelems;
	int			capelems;
	bool		keep_pairs;		/* an object whose fields are kept */
	CfPair	   *pairs;
	int			npairs;
	int			cappairs;
	const char *key;			/* the key of the field being read */
} CfFrame;

typedef struct CfTextState
{
	JsonLexContext *lex;
	CfBatch    *b;
	MemoryContext batch_cxt;	/* converted values */
	MemoryContext text_cxt;		/* tokens; reset per row in the row form */
	bool		column_form;
	bool		suspicious;		/* a number or string jsonb might refuse */
	int64		row;
	int64		nscalars;
	CfRowReader rr;
	CfPair	   *row_pairs;		/* the row form's field buffer, reused */
	int			row_cap;
	int64		span_cap;		/* rows b->spans holds */
	CfJsonValue root;
	CfFrame		frames[CF_KEEP_DEPTH + 1];
} CfTextState;

/* ------------------------------------------------------------------------
 * jsonb's key order
 * ------------------------------------------------------------------------
 */

static int
cf_pair_cmp(const void *a, const void *b)
{
	const CfPair *pa = a;
	const CfPair *pb = b;

	if (pa->keylen != pb->keylen)
		return pa->keylen < pb->keylen ? -1 : 1;
	if (pa->keylen > 0)
	{
		int			c = memcmp(pa->key, pb->key, pa->keylen);

		if (c != 0)
			return c;
	}
	return pa->seq < pb->seq ? -1 : pa->seq > pb->seq;
}

static bool
cf_same_key(const CfPair *pa, const CfPair *pb)
{
	return pa->keylen == pb->keylen && memcmp(pa->key, pb->key, pa->keylen) == 0;
}

/* sort as jsonb does and keep the last of each key; returns how many remain */
static int
cf_sort_pairs(CfPair *pairs, int n)
{
	int			out = 0;

	if (n > 16)
		qsort(pairs, n, sizeof(CfPair), cf_pair_cmp);
	else
	{
		for (int i = 1; i < n; i++)
		{
			CfPair		p = pairs[i];
			int			j = i - 1;

			while (j >= 0 && cf_pair_cmp(&pairs[j], &p) > 0)
			{
				pairs[j + 1] = pairs[j];
				j--;
			}
			pairs[j + 1] = p;
		}
	}
	for (int i = 0; i < n; i++)
	{
		if (i + 1 < n && cf_same_key(&pairs[i], &pairs[i + 1]))
			continue;			/* a later duplicate follows: it wins */
		if (out != i)
			pairs[out] = pairs[i];
		out++;
	}
	return out;
}

/* ------------------------------------------------------------------------
 * the tree of kept values
 * ------------------------------------------------------------------------
 */

static void *
cf_grow(void *buf, int *cap, int need, Size size)
{
	if (need <= *cap)
		return buf;
	*cap = Max(need, Max(*cap * 2, 8));
	return buf ? repalloc_huge(buf, size * *cap) : palloc_extended(size * *cap, MCXT_ALLOC_HUGE);
}

/* the slot for a new value at depth d (> 0), in its parent, or NULL */
static CfJsonValue *
cf_new_value(CfTextState *st, int d)
{
	CfFrame    *parent;
	CfJsonValue *v;

	if (d - 1 > CF_KEEP_DEPTH)
		return NULL;
	parent = &st->frames[d - 1];
	if (parent->keep_pairs)
	{
		CfPair	   *p;

		parent->pairs = cf_grow(parent->pairs, &parent->cappairs, parent->npairs + 1, sizeof(CfPair));
		if (parent == &st->frames[1] && !st->column_form)
		{
			st->row_pairs = parent->pairs;
			st->row_cap = parent->cappairs;
		}
		p = &parent->pairs[parent->npairs];
		p->key = parent->key;
		p->keylen = strlen(parent->key);
		p->seq = parent->npairs++;
		v = &p->v;
	}
	else if (parent->keep_elems)
	{
		parent->elems = cf_grow(parent->elems, &parent->capelems, parent->nelems + 1,
								sizeof(CfJsonValue));
		v = &parent->elems[parent->nelems++];
	}
	else
		return NULL;
	memset(v, 0, sizeof(*v));
	return v;
}

/* is this number one that numeric_in might refuse, or that types.c reads through it? */
static bool
cf_number_suspicious(const char *s, int len)
{
	const char *e;
	int			exp = 0;

	if (len > CF_NUM_SAFE_LEN)
		return true;
	e = memchr(s, 'e', len);
	if (e == NULL)
		e = memchr(s, 'E', len);
	if (e == NULL)
		return false;
	for (e++; e < s + len; e++)
	{
		if (*e < '0' || *e > '9')
			continue;
		exp = exp * 10 + (*e - '0');
		if (exp > CF_NUM_SAFE_EXP)
			return true;
	}
	return false;
}

/* a row (row form) that is not an object: the jsonb form's error */
static void
cf_bad_row(CfTextState *st, CfJsonValue *v)
{
	MemoryContextSwitchTo(st->batch_cxt);
	cf_row_begin(&st->rr, ++st->row, v);
	elog(ERROR, "cfeast: a row that is not an object was accepted");
}

/* ------------------------------------------------------------------------
 * semantic callbacks
 * ------------------------------------------------------------------------
 */

static void
cf_container_start(CfTextState *st, bool array)
{
	int			d = st->lex->lex_level;
	CfJsonValue *slot;
	CfFrame    *fr;

	if (d == 0)
	{
		st->column_form = !array;
		slot = &st->root;
	}
	else if (d == 1 && !st->column_form)
	{
		/* a row */
		if (array)
		{
			CfJsonValue v = {.kind = CF_JSON_ARRAY};

			cf_bad_row(st, &v);
		}
		CHECK_FOR_INTERRUPTS();
		MemoryContextReset(st->text_cxt);
		slot = &st->root;		/* the row itself is not kept as a value */
	}
	else
		slot = cf_new_value(st, d);
	if (d > CF_KEEP_DEPTH)
		return;
	fr = &st->frames[d];
	fr->slot = slot;
	fr->start = st->lex->token_start;
	fr->nelems = 0;
	fr->npairs = 0;
	fr->key = NULL;
	fr->keep_elems = array && (st->column_form ? (d == 1 || d == 2) : d == 2);
	fr->keep_pairs = !array && (st->column_form ? d == 0 : d == 1);
	if (fr->keep_elems)
	{
		/* each kept array has a buffer of its own (in the row's context) */
		fr->elems = NULL;
		fr->capelems = 0;
	}
	if (fr->keep_pairs && d == 1)
	{
		fr->pairs = st->row_pairs;
		fr->cappairs = st->row_cap;
	}
	else if (fr->keep_pairs)
	{
		fr->pairs = NULL;
		fr->cappairs = 0;
	}
	if (slot)
	{
		memset(slot, 0, sizeof(*slot));
		slot->kind = array ? CF_JSON_ARRAY : CF_JSON_OBJECT;
	}
}

/* where the next row of the row form is in the text (for a router's split; the column form has none) */
static void
cf_row_span(CfTextState *st, const char *start, const char *end)
{
	int64		r = st->row + 1;
	CfBatch    *b = st->b;

	if (r >= st->span_cap)
	{
		int64		cap = Max(st->span_cap * 2, 1024);

		if (b->spans == NULL)
			b->spans = MemoryContextAllocHuge(st->batch_cxt, sizeof(int64) * 2 * cap);
		else
			b->spans = repalloc_huge(b->spans, sizeof(int64) * 2 * cap);
		st->span_cap = cap;
	}
	b->spans[r * 2] = start - st->lex->input;
	b->spans[r * 2 + 1] = end - start;
}

/* one row of the row form, its fields in jsonb's order */
static void
cf_row_done(CfTextState *st, CfFrame *fr)
{
	CfJsonValue obj = {.kind = CF_JSON_OBJECT};
	int			n = cf_sort_pairs(fr->pairs, fr->npairs);

	MemoryContextSwitchTo(st->batch_cxt);
	st->row++;
	cf_batch_reserve(st->b, st->row + 1);
	cf_row_begin(&st->rr, st->row, &obj);
	for (int i = 0; i < n; i++)
		cf_row_field(&st->rr, fr->pairs[i].key, fr->pairs[i].keylen, &fr->pairs[i].v);
	cf_row_end(&st->rr);
	MemoryContextSwitchTo(st->text_cxt);
}

/* the column form, once read */
static void
cf_columns_done(CfTextState *st, CfFrame *fr)
{
	CfColumns	c;
	int			n = cf_sort_pairs(fr->pairs, fr->npairs);

	MemoryContextSwitchTo(st->batch_cxt);
	cf_columns_init(&c, st->b);
	for (int i = 0; i < n; i++)
		cf_column_field(&c, fr->pairs[i].key, fr->pairs[i].keylen, &fr->pairs[i].v);
	cf_columns_end(&c);
	MemoryContextSwitchTo(st->text_cxt);
}

static void
cf_container_end(CfTextState *st)
{
	int			d = st->lex->lex_level;
	CfFrame    *fr;

	if (d > CF_KEEP_DEPTH)
		return;
	fr = &st->frames[d];
	if (d == 1 && !st->column_form)
	{
		if (st->b->want_spans)
			cf_row_span(st, fr->start, st->lex->prev_token_terminator);
		cf_row_done(st, fr);
		return;
	}
	if (d == 0 && st->column_form)
	{
		cf_columns_done(st, fr);
		return;
	}
	if (fr->slot)
	{
		fr->slot->str = fr->start;
		fr->slot->len = st->lex->prev_token_terminator - fr->start;
		if (fr->keep_elems)
		{
			fr->slot->elems = fr->elems;
			fr->slot->nelems = fr->nelems;
		}
	}
}

static void
cf_object_start(void *state)
{
	cf_container_start((CfTextState *) state, false);
}

static void
cf_array_start(void *state)
{
	cf_container_start((CfTextState *) state, true);
}

static void
cf_object_end(void *state)
{
	cf_container_end((CfTextState *) state);
}

static void
cf_array_end(void *state)
{
	cf_container_end((CfTextState *) state);
}

static void
cf_field_start(void *state, char *fname, bool isnull)
{
	CfTextState *st = (CfTextState *) state;
	int			d = st->lex->lex_level - 1;	/* the object's depth */

	if (strlen(fname) > JENTRY_OFFLENMASK)
		st->suspicious = true;
	if (d <= CF_KEEP_DEPTH)
		st->frames[d].key = fname;
}

static void
cf_scalar(void *state, char *token, JsonTokenType tokentype)
{
	CfTextState *st = (CfTextState *) state;
	int			d = st->lex->lex_level;
	CfJsonValue tmp;
	CfJsonValue *v;
	int			len = token ? strlen(token) : 0;

	if (tokentype == JSON_TOKEN_NUMBER && cf_number_suspicious(token, len))
		st->suspicious = true;
	else if (tokentype == JSON_TOKEN_STRING && len > JENTRY_OFFLENMASK)
		st->suspicious = true;
	if ((++st->nscalars & 4095) == 0)
		CHECK_FOR_INTERRUPTS();
	if (d == 0)
		cf_rows_not_container();
	if (d == 1 && !st->column_form)
		v = &tmp;
	else if ((v = cf_new_value(st, d)) == NULL)
		return;
	memset(v, 0, sizeof(*v));
	switch (tokentype)
	{
		case JSON_TOKEN_STRING:
			v->kind = CF_JSON_STRING;
			break;
		case JSON_TOKEN_NUMBER:
			v->kind = CF_JSON_NUMBER;
			break;
		case JSON_TOKEN_TRUE:
		case JSON_TOKEN_FALSE:
			v->kind = CF_JSON_BOOL;
			v->boolean = tokentype == JSON_TOKEN_TRUE;
			break;
		default:
			v->kind = CF_JSON_NULL;
			break;
	}
	v->str = token;
	v->len = len;
	if (v == &tmp)
		cf_bad_row(st, v);
}

/* ------------------------------------------------------------------------
 * entry points
 * ------------------------------------------------------------------------
 */

void
cf_json_text_check(text *rows)
{
	(void) DirectFunctionCall1(jsonb_in, CStringGetDatum(text_to_cstring(rows)));
}

void
cf_parse_rows_text(CfBatch *b, text *rows)
{
	CfTextState st;
	JsonSemAction sem;
	JsonParseErrorType rc;

	memset(&st, 0, sizeof(st));
	memset(&sem, 0, sizeof(sem));
	st.b = b;
	st.row = -1;
	st.batch_cxt = CurrentMemoryContext;
	st.text_cxt = AllocSetContextCreate(CurrentMemoryContext, "cfeast JSON text",
										ALLOCSET_DEFAULT_SIZES);
	st.lex = makeJsonLexContextCstringLen(VARDATA_ANY(rows), VARSIZE_ANY_EXHDR(rows),
										  GetDatabaseEncoding(), true);
	cf_row_reader_init(&st.rr, b);
	st.row_cap = b->src->nfields * 2 + 8;
	st.row_pairs = palloc(sizeof(CfPair) * st.row_cap);	/* grows in place */
	sem.semstate = &st;
	sem.object_start = cf_object_start;
	sem.object_end = cf_object_end;
	sem.array_start = cf_array_start;
	sem.array_end = cf_array_end;
	sem.object_field_start = cf_field_start;
	sem.scalar = cf_scalar;

	MemoryContextSwitchTo(st.text_cxt);
	rc = pg_parse_json(st.lex, &sem);
	MemoryContextSwitchTo(st.batch_cxt);
	if (rc != JSON_SUCCESS)
	{
		cf_json_text_check(rows);
		json_ereport_error(rc, st.lex);
	}
	/* jsonb refuses containers beyond JENTRY_OFFLENMASK bytes: only text that long can reach it */
	if (st.suspicious || VARSIZE_ANY_EXHDR(rows) > JENTRY_OFFLENMASK)
		cf_json_text_check(rows);
	if (!st.column_form)
	{
		cf_batch_reserve(b, st.row + 1);
		b->nrows = st.row + 1;
	}
	MemoryContextDelete(st.text_cxt);
}
