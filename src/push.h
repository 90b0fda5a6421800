/*-------------------------------------------------------------------------
 * push.h
 *	  The validation of push rows that both forms of feast_push share: the
 *	  jsonb form (push.c) and the JSON text form (jsontext.c) hand each row,
 *	  field and value here, so one set of rules and messages holds for both.
 *
 * Values come in jsonb's order: a row's fields by key length then bytes,
 * each key once (the last of duplicates), rows in order; in the column
 * form the columns in that order, then the values field by field.
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_PUSH_H
#define CFEAST_PUSH_H

#include "write.h"

/* room for at least nrows rows in every field's arrays (new rows NULL) */
extern void cf_batch_reserve(CfBatch *b, int64 nrows);
/* one value of field f at row r, converted by the field's dtype and null rule */
extern void cf_store_value(CfBatch *b, int f, int64 r, CfJsonValue *v);
/* the error for rows that are neither an array nor an object */
extern void cf_rows_not_container(void) pg_attribute_noreturn();

/* the row form: [{"driver_id": 1, ...}, ...] */
typedef struct CfRowReader
{
	CfBatch    *b;
	int64	   *seen;			/* seen[f] == row + 1: the row gave field f */
	int		   *guess;			/* field of the key at each position, last row */
	int			nguess;
	int64		row;
	int			pos;
	int			nrequired;
} CfRowReader;

extern void cf_row_reader_init(CfRowReader *rr, CfBatch *b);
extern void cf_row_begin(CfRowReader *rr, int64 row, CfJsonValue *v);
extern void cf_row_field(CfRowReader *rr, const char *key, int keylen, CfJsonValue *v);
extern void cf_row_end(CfRowReader *rr);

/* the column form: {"driver_id": [1, 2], ...} */
typedef struct CfColumns
{
	CfBatch    *b;
	CfJsonValue **cols;			/* [field]: its array, or NULL */
	int64		nrows;			/* -1 until the first column */
	char	   *first_name;
} CfColumns;

extern void cf_columns_init(CfColumns *c, CfBatch *b);
extern void cf_column_field(CfColumns *c, const char *key, int keylen, CfJsonValue *v);
extern void cf_columns_end(CfColumns *c);

#endif							/* CFEAST_PUSH_H */
