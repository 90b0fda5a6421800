#!/bin/bash
# test/checks/push_text_diff.sh: feast_push's two forms, JSON text and jsonb, must give the same
# tables and the same errors (SQLSTATE, message, detail, hint) on the same input.
#  1. the fuzz corpus (test/fuzz/gen.pl, the smoke run's seed and count): each push document
#     goes through the text form (then rolled back) and through the jsonb form (kept, so later
#     documents meet stored rows), against the same store; a document jsonb refuses must be
#     refused by the text form with jsonb's own error.
#  2. every push regression file: run once with every feast_push call taking the jsonb form and
#     once with every call taking the text form (a wrapper of the other form's signature, first
#     on search_path, converts), in two fresh databases; the outputs, plus a digest of every
#     table at the end, must be the same (context lines aside: the wrapper adds its own).
# Runs against the server PGHOST/PGPORT/PGUSER name; exit 0 only if nothing differs.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PSQL="psql -X -q -v ON_ERROR_STOP=1"
. "$ROOT/test/lib/fuzzdiff.sh"
FILES=${CF_DIFF_FILES:-"push push_types push_statement push_text types_strict"}
OUT=${CF_TMP:-/tmp}/push_text_diff.$$
mkdir -p "$OUT"
rc=0

# ---- 1. the fuzz corpus ----
DB=cfeast_textdiff
fz_diff_db $DB || exit 1
$PSQL -d $DB >/dev/null <<'SQL' || exit 1
CREATE TABLE diff_results (id integer PRIMARY KEY, text_outcome text, jsonb_outcome text,
                           text_state text, jsonb_state text);
CREATE PROCEDURE diff_run() LANGUAGE plpgsql AS $$
DECLARE
    d      record;
    j      jsonb;
    n      bigint;
    st     text; msg text; det text; hnt text;
    t_out  text; j_out text; t_state text; j_state text;
BEGIN
    FOR d IN SELECT * FROM fuzz_docs WHERE target = 'push' ORDER BY id LOOP
        -- the text form, rolled back
        BEGIN
            BEGIN
                n := feast_push('fz_push', d.doc, d.arg);
                t_out := 'ok ' || n;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                        det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
                t_out := concat_ws(' | ', st, msg, det, hnt);
            END;
            t_state := fz_state();
            RAISE EXCEPTION USING ERRCODE = 'P0099';
        EXCEPTION WHEN SQLSTATE 'P0099' THEN
            NULL;
        END;
        -- the jsonb form, kept
        BEGIN
            j := d.doc::jsonb;
            n := feast_push('fz_push', j, d.arg);
            j_out := 'ok ' || n;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            j_out := concat_ws(' | ', st, msg, det, hnt);
        END;
        j_state := fz_state();
        INSERT INTO diff_results VALUES (d.id, t_out, j_out, t_state, j_state);
        COMMIT;
    END LOOP;
END $$;
SQL
$PSQL -d $DB -c "CALL diff_run()" || exit 1
$PSQL -d $DB <<'SQL' | tee "$OUT/fuzz.log"
\pset footer off
SELECT count(*) AS push_documents,
       count(*) FILTER (WHERE jsonb_outcome LIKE 'ok %') AS accepted,
       count(*) FILTER (WHERE jsonb_outcome NOT LIKE 'ok %') AS refused,
       count(DISTINCT jsonb_outcome) FILTER (WHERE jsonb_outcome NOT LIKE 'ok %') AS distinct_errors
  FROM diff_results;
\echo == the two forms differ (must be empty)
SELECT id, left(text_outcome, 150) AS text_form, left(jsonb_outcome, 150) AS jsonb_form,
       text_state IS DISTINCT FROM jsonb_state AS tables_differ
  FROM diff_results
 WHERE text_outcome IS DISTINCT FROM jsonb_outcome OR text_state IS DISTINCT FROM jsonb_state
 ORDER BY id LIMIT 20;
SELECT count(*) AS fuzz_differences FROM diff_results
 WHERE text_outcome IS DISTINCT FROM jsonb_outcome OR text_state IS DISTINCT FROM jsonb_state \gset
\echo fuzz differences: :fuzz_differences
SQL
grep -q "^fuzz differences: 0$" "$OUT/fuzz.log" || rc=1
[ "${CF_DIFF_KEEP:-0}" = 1 ] || $PSQL -d postgres -c "DROP DATABASE $DB"

# ---- 2. the push regression files ----
# a digest of every table a test left behind
TRAILER="RESET ROLE;
SELECT c.oid::regclass AS tbl,
       md5(query_to_xml(format('SELECT string_agg(t::text, %L ORDER BY t::text) FROM %s t', ',', c.oid::regclass),
                        true, false, '')::text) AS digest
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p') AND n.nspname IN ('public', 'feast_online')
 ORDER BY 1::text;"
for f in $FILES; do
	for form in jsonb text; do
		db=cfeast_textdiff_$form
		$PSQL -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || exit 1
		if [ $form = jsonb ]; then
			# every call with text rows takes the jsonb form
			wrapper='CREATE FUNCTION cf_diff.feast_push(push_source text, rows text, "to" text DEFAULT $d$online$d$)
			  RETURNS bigint LANGUAGE plpgsql AS $b$ BEGIN RETURN public.feast_push(push_source, rows::jsonb, "to"); END $b$'
		else
			# every call with jsonb rows takes the text form (jsonb's text)
			wrapper='CREATE FUNCTION cf_diff.feast_push(push_source text, rows jsonb, "to" text DEFAULT $d$online$d$)
			  RETURNS bigint LANGUAGE plpgsql AS $b$ BEGIN RETURN public.feast_push(push_source, rows::text, "to"); END $b$'
		fi
		$PSQL -d $db -c "CREATE SCHEMA cf_diff" -c "GRANT USAGE ON SCHEMA cf_diff TO PUBLIC" -c "$wrapper" \
			-c "ALTER DATABASE $db SET search_path = cf_diff, public" || exit 1
		{
			sed 's/^CREATE EXTENSION cfeast;$/CREATE EXTENSION cfeast SCHEMA public;/' "$ROOT/sql/$f.sql"
			echo "$TRAILER"
		} | psql -X -a -q -v SHOW_CONTEXT=never -d $db 2>&1 | grep -v '^CONTEXT:' >"$OUT/$f.$form.out"
		$PSQL -d postgres -c "DROP DATABASE $db" || exit 1
	done
	calls=$(grep -c "feast_push" "$ROOT/sql/$f.sql")
	if ! grep -q "^ERROR\|^ feast_push\|^ sum\|^ n " "$OUT/$f.jsonb.out"; then
		echo "regression file $f: no output to compare (did it run?)"
		rc=1
	elif diff -u "$OUT/$f.jsonb.out" "$OUT/$f.text.out" >"$OUT/$f.diff"; then
		echo "regression file $f: $calls feast_push lines, $(grep -c '^ERROR' "$OUT/$f.jsonb.out") errors: the same in both forms"
	else
		echo "regression file $f: the two forms differ"
		head -60 "$OUT/$f.diff"
		rc=1
	fi
done
[ $rc = 0 ] && [ "${CF_DIFF_KEEP:-0}" != 1 ] && rm -rf "$OUT"
[ $rc = 0 ] && echo "push_text_diff: the text and jsonb forms agree"
exit $rc
