#!/bin/bash
# test/checks/push_many_diff.sh: feast._push_many (the one statement cfeast-server coalesces /push
# requests into) must behave as feast_push's text form called on each text of its array in order:
# the same tables, each text's count, and on any error nothing written and the error of the first
# failing text (SQLSTATE, message, detail, hint and context), with exactly one addition: the context
# line "element N of the rows array", N the failing text's 0-based place, after feast_push's own
# context lines.  An error feast_push gives for the empty text '[]' as well (a bad "to") is an
# argument's, not a text's, and has no place.  Over the push documents of the fuzz corpus
# (test/fuzz/gen.pl, the smoke run's seed and count), against one store whose online tables are
# emptied before every other step (else they soon hold the newest versions and every row is stale):
#  1. one document at a time: feast_push (rolled back) against feast._push_many of a one-text array
#     (kept, so the next step meets its rows): the run of step 2 with groups of one;
#  2. groups of 2, 3, 4, 5, 2, 3, ... documents, the group's "to" its first document's: feast_push
#     on each text in order inside one subtransaction, all of it rolled back at the first error
#     (and rolled back after), against one feast._push_many of the group (kept).  Two plans: every
#     document in order (errors at every place of a group), and the documents feast_push took
#     with rows ordered by their first driver id, so that texts of a group write the same keys,
#     often with full ties (equal event and created), which the later text wins, as between
#     feast_push calls; the check fails if no group holds such a tie.
# Runs against the server PGHOST/PGPORT/PGUSER name; exit 0 only if nothing differs.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PSQL="psql -X -q -v ON_ERROR_STOP=1"
. "$ROOT/test/lib/fuzzdiff.sh"
OUT=${CF_TMP:-/tmp}/push_many_diff.$$
DB=cfeast_manydiff
mkdir -p "$OUT"
rc=0

fz_diff_db $DB || exit 1
$PSQL -d $DB >/dev/null <<'SQL' || exit 1
-- before every other step the online tables are emptied: with 20 driver ids and a few timestamps
-- they fill with the newest versions within a few dozen pushes, after which nearly every row is
-- stale and the write rule between texts decides nothing; the steps between meet the rows the one
-- before left
CREATE FUNCTION pmd_step(step bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF step % 2 = 0 THEN
        DELETE FROM feast_online.fz_a;
        DELETE FROM feast_online.fz_b;
    END IF;
END $$;
-- an error's context without the lines of this check's own PL/pgSQL (they name its lines)
CREATE FUNCTION pmd_ctx(ctx text) RETURNS text LANGUAGE sql AS $$
    SELECT nullif(regexp_replace(ctx, '\n?PL/pgSQL function pmd_[^\n]*', '', 'g'), '')
$$;
-- what feast_push answers for the empty text with each "to" of the corpus: an error here is the
-- argument's (feast._push_many gives it with no place)
CREATE TABLE pmd_arg_outcome (arg text PRIMARY KEY, outcome text);
DO $$
DECLARE
    a text; n bigint; st text; msg text; det text; hnt text;
BEGIN
    FOR a IN SELECT DISTINCT arg FROM fuzz_docs WHERE target = 'push' LOOP
        BEGIN
            n := feast_push('fz_push', '[]'::text, a);
            INSERT INTO pmd_arg_outcome VALUES (a, 'ok ' || n);
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                                    det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
            INSERT INTO pmd_arg_outcome VALUES (a, concat_ws(' | ', st, msg, det, hnt));
        END;
    END LOOP;
END $$;
-- the context feast._push_many must give for feast_push's error (outcome, context) of the text
-- at 0-based place "place" pushed with "to" arg
CREATE FUNCTION pmd_want_ctx(outcome text, ctx text, arg text, place integer) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN outcome = (SELECT a.outcome FROM pmd_arg_outcome a WHERE a.arg = $3) THEN ctx
                ELSE concat_ws(E'\n', ctx, format('element %s of the rows array', place)) END
$$;

-- the documents of a plan in order, grouped: one by one in the plan 'one at a time', else in groups
-- of 2, 3, 4, 5 in turn (14 documents a round)
CREATE TABLE pmd_plan (part text, ord bigint, id integer);
CREATE FUNCTION pmd_plan_groups(part text) RETURNS TABLE (grp bigint, ids integer[], arg text, texts text[])
LANGUAGE sql AS $$
    SELECT g, array_agg(id ORDER BY ord), (array_agg(arg ORDER BY ord))[1], array_agg(doc ORDER BY ord)
      FROM (SELECT CASE WHEN $1 = 'one at a time' THEN p.ord
                        ELSE ((p.ord - 1) / 14) * 4 + CASE WHEN (p.ord - 1) % 14 < 2 THEN 0 WHEN (p.ord - 1) % 14 < 5 THEN 1
                                                           WHEN (p.ord - 1) % 14 < 9 THEN 2 ELSE 3 END END AS g, p.ord, d.*
              FROM pmd_plan p JOIN fuzz_docs d USING (id) WHERE p.part = $1) x
     GROUP BY g ORDER BY g
$$;
CREATE TABLE pmd_groups (part text, grp bigint, ids integer[], arg text, texts text[],
                         failed integer,    -- 1-based place of the first text feast_push refused
                         push_outcome text, push_ctx text, many_outcome text, many_ctx text,
                         push_state text, many_state text);
CREATE PROCEDURE pmd_run_groups(part text) LANGUAGE plpgsql AS $$
DECLARE
    g      record;
    ns     bigint[];
    failed integer;
    st     text; msg text; det text; hnt text; ctx text;
    p_out  text; p_ctx text; m_out text; m_ctx text; p_state text; m_state text;
BEGIN
    FOR g IN SELECT * FROM pmd_plan_groups(part) LOOP
        PERFORM pmd_step(g.grp);
        p_ctx := NULL; m_ctx := NULL; failed := NULL;
        -- feast_push on each text in order, in one subtransaction; rolled back
        BEGIN
            BEGIN
                ns := '{}';
                FOR i IN 1 .. cardinality(g.texts) LOOP
                    failed := i;
                    ns := ns || feast_push('fz_push', g.texts[i], g.arg);
                END LOOP;
                failed := NULL;
                p_out := 'ok ' || ns::text;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                        hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
                p_out := concat_ws(' | ', st, msg, det, hnt);
                p_ctx := pmd_ctx(ctx);
            END;
            p_state := fz_state();
            RAISE EXCEPTION USING ERRCODE = 'P0099';
        EXCEPTION WHEN SQLSTATE 'P0099' THEN
            NULL;
        END;
        -- one feast._push_many of the group, kept
        BEGIN
            ns := feast._push_many('fz_push', g.texts, g.arg);
            m_out := 'ok ' || ns::text;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
                                    hnt = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
            m_out := concat_ws(' | ', st, msg, det, hnt);
            m_ctx := pmd_ctx(ctx);
        END;
        m_state := fz_state();
        INSERT INTO pmd_groups VALUES (part, g.grp, g.ids, g.arg, g.texts, failed, p_out, p_ctx, m_out, m_ctx,
                                       p_state, m_state);
        COMMIT;
    END LOOP;
END $$;
SQL
t0=$(date +%s)
$PSQL -d $DB -c "INSERT INTO pmd_plan SELECT 'one at a time', row_number() OVER (ORDER BY id), id FROM fuzz_docs WHERE target = 'push'" \
	-c "CALL pmd_run_groups('one at a time')" || exit 1
t1=$(date +%s)
# the plans: every push document in order; and the documents feast_push took with rows, ordered by
# their first row's driver_id, so that the texts of a group write the same keys
$PSQL -d $DB >/dev/null <<'SQL' || exit 1
INSERT INTO pmd_plan SELECT 'consecutive', row_number() OVER (ORDER BY id), id FROM fuzz_docs WHERE target = 'push';
INSERT INTO pmd_plan
    SELECT 'shared keys', row_number() OVER (ORDER BY coalesce(d.doc::jsonb -> 0 -> 'driver_id', d.doc::jsonb -> 'driver_id' -> 0), d.id), d.id
      FROM fuzz_docs d JOIN pmd_groups s ON s.part = 'one at a time' AND s.ids = ARRAY[d.id]
     WHERE s.push_outcome LIKE 'ok %' AND s.push_outcome <> 'ok {0}';
SQL
$PSQL -d $DB -c "CALL pmd_run_groups('consecutive')" -c "CALL pmd_run_groups('shared keys')" || exit 1
t2=$(date +%s)
echo "one at a time: $((t1 - t0)) s; in groups: $((t2 - t1)) s"

$PSQL -d $DB <<'SQL' | tee "$OUT/diff.log"
\pset footer off
-- what feast._push_many must answer, from feast_push's answers
CREATE TEMP VIEW all_diff AS
    SELECT part, grp, ids, failed, push_outcome, many_outcome, many_ctx,
           push_outcome AS want_outcome,
           CASE WHEN failed IS NOT NULL THEN pmd_want_ctx(push_outcome, push_ctx, arg, failed - 1) END AS want_ctx,
           push_state IS DISTINCT FROM many_state AS tables_differ
      FROM pmd_groups;
CREATE TEMP VIEW single_diff AS SELECT ids[1] AS id, * FROM all_diff WHERE part = 'one at a time';
CREATE TEMP VIEW group_diff AS SELECT * FROM all_diff WHERE part <> 'one at a time';

\echo == 1. one document at a time
SELECT count(*) AS push_documents,
       count(*) FILTER (WHERE push_outcome LIKE 'ok %') AS accepted,
       count(*) FILTER (WHERE push_outcome NOT LIKE 'ok %') AS refused,
       count(*) FILTER (WHERE want_ctx LIKE '%element 0 of the rows array') AS refused_with_place,
       count(DISTINCT push_outcome) FILTER (WHERE push_outcome NOT LIKE 'ok %') AS distinct_errors
  FROM single_diff;
\echo == feast._push_many differs from feast_push (must be empty)
SELECT id, left(want_outcome, 100) AS feast_push, left(many_outcome, 100) AS feast_push_many,
       want_ctx IS DISTINCT FROM many_ctx AS context_differs, tables_differ
  FROM single_diff
 WHERE want_outcome IS DISTINCT FROM many_outcome OR want_ctx IS DISTINCT FROM many_ctx OR tables_differ
 ORDER BY id LIMIT 20;
SELECT count(*) AS single_differences FROM single_diff
 WHERE want_outcome IS DISTINCT FROM many_outcome OR want_ctx IS DISTINCT FROM many_ctx OR tables_differ \gset

\echo == 2. groups
-- per plan: groups, accepted ones, the places feast_push failed at; and, in accepted groups, how
-- many driver_ids (fz_a's key) two texts of a group write, and how many with a full tie (the same
-- event and created as written: equal instants spelled apart are not counted)
CREATE TEMP TABLE group_rows AS
    SELECT g.part, g.grp, t.place, x.v -> 'driver_id' AS k, x.v -> 'event_timestamp' AS ev,
           x.v -> 'created_timestamp' AS cr
      FROM pmd_groups g, unnest(g.texts) WITH ORDINALITY t(doc, place),
           LATERAL (SELECT e AS v FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.doc::jsonb) = 'array'
                                                                  THEN t.doc::jsonb END) e
                    UNION ALL
                    SELECT jsonb_build_object('driver_id', c.v,
                                              'event_timestamp', t.doc::jsonb -> 'event_timestamp' -> (c.n::int - 1),
                                              'created_timestamp', t.doc::jsonb -> 'created_timestamp' -> (c.n::int - 1))
                      FROM jsonb_array_elements(CASE WHEN jsonb_typeof(t.doc::jsonb) = 'object'
                                                     THEN t.doc::jsonb -> 'driver_id' END) WITH ORDINALITY c(v, n)) x
     WHERE g.failed IS NULL AND g.part <> 'one at a time';
CREATE TEMP VIEW group_keys AS
    SELECT part, grp, k, count(DISTINCT place) > 1 AS shared,
           bool_or(tied) AS tied
      FROM (SELECT part, grp, k, place, count(*) OVER (PARTITION BY part, grp, k, ev, cr) >
                                        count(*) OVER (PARTITION BY part, grp, k, ev, cr, place) AS tied
              FROM group_rows) r
     GROUP BY part, grp, k;
SELECT part, count(*) AS groups, count(*) FILTER (WHERE failed IS NULL) AS accepted,
       string_agg(DISTINCT failed::text, ',') AS failed_at,
       (SELECT count(*) FROM group_keys k WHERE k.part = g.part AND shared) AS keys_in_two_texts,
       (SELECT count(*) FROM group_keys k WHERE k.part = g.part AND tied) AS full_ties_across_texts
  FROM pmd_groups g WHERE part <> 'one at a time' GROUP BY part ORDER BY part;
SELECT count(*) AS full_ties FROM group_keys WHERE tied \gset
\echo == feast._push_many differs from feast_push one text after the other (must be empty)
SELECT part, grp, ids, failed, left(want_outcome, 80) AS feast_push, left(many_outcome, 80) AS feast_push_many,
       want_ctx IS DISTINCT FROM many_ctx AS context_differs, tables_differ
  FROM group_diff
 WHERE want_outcome IS DISTINCT FROM many_outcome OR want_ctx IS DISTINCT FROM many_ctx OR tables_differ
 ORDER BY part, grp LIMIT 20;
SELECT count(*) AS group_differences FROM group_diff
 WHERE want_outcome IS DISTINCT FROM many_outcome OR want_ctx IS DISTINCT FROM many_ctx OR tables_differ \gset
\echo == contexts that differ (the first 10)
SELECT part || ' ' || grp AS what, many_ctx AS feast_push_many_context, want_ctx AS wanted
  FROM all_diff WHERE want_ctx IS DISTINCT FROM many_ctx ORDER BY part, grp
 LIMIT 10;
\echo single differences: :single_differences
\echo group differences: :group_differences
\echo full ties across texts: :full_ties
SQL
grep -q "^single differences: 0$" "$OUT/diff.log" || rc=1
grep -q "^group differences: 0$" "$OUT/diff.log" || rc=1
if ! grep -q "^full ties across texts: [1-9]" "$OUT/diff.log"; then
	echo "push_many_diff: no group holds a full tie across texts: the write rule across texts went unchecked"
	rc=1
fi
[ "${CF_DIFF_KEEP:-0}" = 1 ] || $PSQL -d postgres -c "DROP DATABASE $DB"
[ $rc = 0 ] && [ "${CF_DIFF_KEEP:-0}" != 1 ] && rm -rf "$OUT"
[ $rc = 0 ] && echo "push_many_diff: feast._push_many answers as feast_push, text by text"
exit $rc
