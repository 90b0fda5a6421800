-- test/fuzz/checks.sql: what every fuzz run must show.  Each query lists violations.
\pset footer off
\echo == outcomes
SELECT d.target, d.expect, r.outcome, count(*) FROM fuzz_docs d JOIN fuzz_results r USING (id)
 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
\echo == SQLSTATEs
SELECT r.outcome, r.sqlstate, count(*) FROM fuzz_results r WHERE r.outcome <> 'ok' GROUP BY 1, 2 ORDER BY 1, 2;

CREATE TEMP VIEW violations AS
SELECT r.id, d.target, d.expect, d.arg, r.outcome, r.sqlstate, r.ret, d.nrows, left(r.message, 200) AS message,
       CASE
         WHEN r.id IS NULL THEN 'no result: the run stopped here (crash?)'
         WHEN r.outcome = 'error' AND left(r.sqlstate, 2) NOT IN ('22', '42') THEN 'error outside classes 22 and 42'
         WHEN r.outcome = 'error' AND NOT r.state_kept THEN 'a failed call changed the store'
         WHEN r.outcome = 'cast' AND left(r.sqlstate, 2) NOT IN ('22', '54') THEN 'the JSON cast failed oddly'
         WHEN d.expect = 'ok' AND r.outcome <> 'ok' THEN 'a valid document was refused'
         WHEN d.expect = 'ok' AND r.ret IS DISTINCT FROM d.nrows THEN 'wrong row count returned'
         WHEN d.expect LIKE 'bad%' AND r.outcome = 'ok' THEN 'an invalid document was accepted'
         WHEN d.expect LIKE 'bad:%' AND r.outcome = 'error'
              AND r.message NOT LIKE 'row ' || split_part(d.expect, ':', 2) || ': %'
              AND r.message NOT LIKE 'entity row ' || split_part(d.expect, ':', 2) || ': %'
              AND r.message NOT LIKE 'invalid value for "to"%' THEN 'the error does not name the bad row'
         WHEN d.target = 'push' AND r.outcome = 'error'
              AND r.message !~ '^(row \d+: (field ".*": |expected a JSON object)|field ".*": |rows must be |invalid value for "to")'
              THEN 'the error names no row or field'
         WHEN d.target = 'online' AND r.outcome = 'error'
              AND r.message !~ '^(row \d+: (field ".*": |join key ".*" is missing)|entity row \d+: |entity_rows(:| must be)|join key ".*" is missing from entity_rows)'
              THEN 'the error names no row or field'
       END AS problem
  FROM fuzz_docs d LEFT JOIN fuzz_results r USING (id);
\echo == violations (must be empty)
SELECT id, problem, target, expect, arg, outcome, sqlstate, ret, nrows, message FROM violations WHERE problem IS NOT NULL ORDER BY id LIMIT 30;
SELECT count(*) AS violations FROM violations WHERE problem IS NOT NULL \gset
