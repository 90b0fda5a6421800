/*-------------------------------------------------------------------------
 * jsontext.h
 *	  Push rows straight from JSON text (feast_push's text form).
 *-------------------------------------------------------------------------
 */
#ifndef CFEAST_JSONTEXT_H
#define CFEAST_JSONTEXT_H

#include "push.h"

/*
 * Parse rows (JSON text, row or column form) once into the batch's typed
 * values, with the jsonb form's rules, order and messages.  Raises jsonb's
 * own input error when the text is not what jsonb would accept.
 */
extern void cf_parse_rows_text(CfBatch *b, text *rows);

/*
 * Raise the error jsonb's input function raises for rows, if it raises one:
 * called when a text-form push fails before its rows were all read, since
 * the jsonb form would have failed on the text first.
 */
extern void cf_json_text_check(text *rows);

#endif							/* CFEAST_JSONTEXT_H */
