-- historical_direct: a plain-table batch source whose columns the source SELECT returns uncast,
-- and which PostgreSQL would read with a sequential scan, is read without the executor by training
-- sets, their SELECT form and materialization (a DEBUG line says so): the same rows as the
-- executor's read (an index scan forced), the event-time bounds inclusive at both ends, NULL times and keys
-- never candidates, a dropped column before the used ones; what must not be read so goes through
-- the executor: a cast column, an inheritance child, row security (the policy applies); a missing
-- column privilege is the same 42501; materialization sees rows written earlier in its transaction;
-- the entity rows' table is read so too, a time bound of the entity query included
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS dir_src, dir_child, dir_ent, dir_rls, dir_one, dir_exec, dir_sel, dir_nottl_one,
    dir_nottl_exec, dir_dbg, dir_cast_dbg, dir_inh, dir_rls_all, dir_ent_direct, dir_ent_exec CASCADE;
DROP SCHEMA IF EXISTS dir_train CASCADE;
DROP ROLE IF EXISTS regress_dir_reader;
RESET client_min_messages;
SET timezone = 'UTC';
SET jit = off;
SELECT setseed(0.5);

-- 20,000 rows over 200 keys in random order, event times hours apart plus g milliseconds (no two
-- alike, so every answer is determined); a dropped first column, so the used columns are not 1..n
CREATE TABLE dir_src (dropme int, k bigint, ts timestamptz, cr timestamptz, x float8, label text, n int4);
INSERT INTO dir_src (k, ts, cr, x, label, n)
SELECT g % 200, ts, CASE WHEN g % 7 = 0 THEN NULL ELSE ts + (g % 60) * interval '1 minute' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE round(random()::numeric, 6)::float8 END, 'l' || g, g
  FROM generate_series(1, 20000) g,
       LATERAL (SELECT timestamptz '2024-01-01' + (random() * 500)::int * interval '1 hour'
                       + g * interval '1 millisecond' AS ts) t
 ORDER BY random();
ALTER TABLE dir_src DROP COLUMN dropme;
-- NULL keys and NULL event times are never candidates (the key is also one an entity row asks for)
INSERT INTO dir_src VALUES (NULL, '2024-01-10', NULL, 9, 'null key', -1), (7, NULL, NULL, 9, 'null time', -2);
-- the scan's bounds: key 1000's only row is exactly one ttl before the earliest entity row, key
-- 1001's exactly at the latest entity row
INSERT INTO dir_src VALUES (1000, '2023-11-30', NULL, 0.125, 'at the lower bound', 1000),
                           (1001, '2024-03-01', NULL, 0.375, 'at the upper bound', 1001);
CREATE INDEX ON dir_src (ts);
ANALYZE dir_src;
CREATE TABLE dir_ent AS
SELECT (random() * 210)::bigint AS k,
       timestamptz '2024-01-01' + (random() * 520)::int * interval '1 hour' AS event_timestamp, g AS id
  FROM generate_series(1, 3000) g;
INSERT INTO dir_ent VALUES (1000, '2023-12-01', 5000), (1001, '2024-03-01', 5001), (7, '2024-01-02', 5002);

SELECT feast_apply_entity('dir_k', 'k', 'int64');
SELECT feast_apply_batch_source('dir_source', 'dir_src', 'ts', 'cr');
SELECT feast_apply_feature_view('dir_v', '{dir_k}',
    '[{"name": "x", "dtype": "float64"}, {"name": "label", "dtype": "string"}, {"name": "n", "dtype": "int32"}]',
    'dir_source', interval '1 day', online => false);
SELECT feast_apply_feature_view('dir_nottl', '{dir_k}',
    '[{"name": "x", "dtype": "float64"}, {"name": "n", "dtype": "int32"}]', 'dir_source', online => false);
-- float32 over a float8 column: the SELECT casts, so the executor reads it
SELECT feast_apply_feature_view('dir_cast', '{dir_k}', '[{"name": "x", "dtype": "float32"}]',
    'dir_source', interval '1 day', online => false);

-- read directly (fixed-width columns only, so no toast table and its DEBUG lines)
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_dbg', 'SELECT k, event_timestamp, id FROM dir_ent', '{dir_v:x, dir_v:n}');
RESET client_min_messages;
SELECT feast_create_training_set('dir_one', 'dir_ent', '{dir_v:x, dir_v:label, dir_v:n}');
SELECT feast_create_training_set('dir_nottl_one', 'dir_ent', '{dir_nottl:x, dir_nottl:n}');
-- the executor's read of the same SELECT: an index scan on ts (no DEBUG line for dir_src)
SET enable_seqscan = off;
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_exec', 'SELECT k, event_timestamp, id FROM dir_ent', '{dir_v:x, dir_v:n}');
RESET client_min_messages;
DROP TABLE dir_exec;
SELECT feast_create_training_set('dir_exec', 'dir_ent', '{dir_v:x, dir_v:label, dir_v:n}');
SELECT feast_create_training_set('dir_nottl_exec', 'dir_ent', '{dir_nottl:x, dir_nottl:n}');
RESET enable_seqscan;
-- and the SELECT form (feast._as_of_join called in SQL), read directly too
SELECT feast_historical_features_sql('SELECT * FROM dir_ent', '{dir_v:x, dir_v:label, dir_v:n}') AS q \gset
CREATE TABLE dir_sel AS :q;
SELECT feast_historical_features_sql('SELECT k, event_timestamp, id FROM dir_ent', '{dir_v:x, dir_v:n}') AS q3 \gset
SET client_min_messages = debug1;
SELECT count(*) AS rows, count(*) FILTER (WHERE (z.x, z.n) IS DISTINCT FROM (o.x, o.n)) AS rows_differing
  FROM (:q3) z JOIN dir_one o USING (id);
RESET client_min_messages;
-- the SELECT form edited by hand, its source filtered further: no longer a bare scan, so the
-- executor reads it (no line for dir_src) and the extra filter holds
SELECT replace(feast_historical_features_sql('SELECT k, event_timestamp, id FROM dir_ent', '{dir_v:x, dir_v:n}'),
               'WHERE s.ts', 'WHERE s.x > 0.5 AND s.ts') AS q2 \gset
SELECT position('s.x > 0.5 AND s.ts' IN :'q2') > 0 AS edited;
SET client_min_messages = debug1;
SELECT count(*) AS rows, count(x) > 0 AS some_answers, count(*) FILTER (WHERE x <= 0.5) AS filtered_rows_used FROM (:q2) z;
RESET client_min_messages;

SELECT count(*) AS rows, count(x) AS x, count(label) AS label, count(n) AS n FROM dir_one;
SELECT (SELECT count(*) FROM (TABLE dir_one EXCEPT ALL TABLE dir_exec) a)
     + (SELECT count(*) FROM (TABLE dir_exec EXCEPT ALL TABLE dir_one) b)
     + (SELECT count(*) FROM (TABLE dir_one EXCEPT ALL TABLE dir_sel) c)
     + (SELECT count(*) FROM (TABLE dir_sel EXCEPT ALL TABLE dir_one) d) AS rows_differing;
SELECT count(*) AS rows, count(x) AS x FROM dir_nottl_one;
SELECT (SELECT count(*) FROM (TABLE dir_nottl_one EXCEPT ALL TABLE dir_nottl_exec) a)
     + (SELECT count(*) FROM (TABLE dir_nottl_exec EXCEPT ALL TABLE dir_nottl_one) b) AS rows_differing;
-- both bounds inclusive; the NULL-time row of key 7 is no answer, nor is the NULL key row
SELECT id, k, x, label, n FROM dir_one WHERE id >= 5000 ORDER BY id;
SELECT count(*) AS null_rows_used FROM dir_one WHERE n < 0;

-- the entity rows' table is read directly too, a time bound of its query included; an expression
-- (id + 0) sends it through the executor: the same rows in the same order
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_ent_direct', 'SELECT k, event_timestamp, id FROM dir_ent WHERE event_timestamp <= ''2024-01-15''', '{dir_v:x, dir_v:n}');
SELECT feast_create_training_set('dir_ent_exec', 'SELECT k, event_timestamp, id + 0 AS id FROM dir_ent WHERE event_timestamp <= ''2024-01-15''', '{dir_v:x, dir_v:n}');
RESET client_min_messages;
SELECT count(*) AS rows, (SELECT count(*) FROM dir_ent WHERE event_timestamp <= '2024-01-15') AS expected,
       count(*) FILTER (WHERE (a.k, a.event_timestamp, a.id, a.x, a.n) IS DISTINCT FROM (b.k, b.event_timestamp, b.id, b.x, b.n)) AS rows_differing
  FROM (SELECT *, row_number() OVER () AS r FROM dir_ent_direct) a
  JOIN (SELECT *, row_number() OVER () AS r FROM dir_ent_exec) b USING (r);

-- a cast column: the executor reads it (no line for dir_src), with the same answers rounded to float32
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_cast_dbg', 'SELECT k, event_timestamp, id FROM dir_ent', '{dir_cast:x}');
RESET client_min_messages;
SELECT count(*) AS rows_differing
  FROM dir_cast_dbg c JOIN dir_one o USING (id)
 WHERE c.x IS DISTINCT FROM o.x::float4;

-- an inheritance child: the plan appends it, so the executor reads parent and child
CREATE TABLE dir_child () INHERITS (dir_src);
INSERT INTO dir_child VALUES (1002, '2024-01-05', NULL, 0.625, 'in the child', 1002);
INSERT INTO dir_ent VALUES (1002, '2024-01-05 12:00', 5003);
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_inh', 'SELECT k, event_timestamp, id FROM dir_ent WHERE id >= 5000', '{dir_v:x, dir_v:n}');
RESET client_min_messages;
SELECT id, k, x, n FROM dir_inh ORDER BY id;
DROP TABLE dir_child;
DELETE FROM dir_ent WHERE id = 5003;

-- row security: for a role it applies to, the executor reads the table and the policy holds
CREATE TABLE dir_rls (k bigint, ts timestamptz, x float8);
INSERT INTO dir_rls SELECT g % 50, timestamptz '2024-01-01' + g * interval '1 hour', (g % 10) / 10.0 FROM generate_series(1, 2000) g;
ALTER TABLE dir_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY dir_rls_high ON dir_rls USING (x >= 0.5);
SELECT feast_apply_batch_source('dir_rls_source', 'dir_rls', 'ts');
SELECT feast_apply_feature_view('dir_rls_v', '{dir_k}', '[{"name": "x", "dtype": "float64"}]', 'dir_rls_source',
    interval '10 days', online => false);
CREATE ROLE regress_dir_reader;
CREATE SCHEMA dir_train;
GRANT CREATE, USAGE ON SCHEMA dir_train TO regress_dir_reader;
GRANT SELECT ON dir_ent TO regress_dir_reader;
SELECT count(*) > 0 AS granted FROM feast_grant('regress_dir_reader', 'train', 'dir_rls_v');
SET ROLE regress_dir_reader;
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_train.dir_rls_ts', 'SELECT k, event_timestamp, id FROM dir_ent', '{dir_rls_v:x}');
RESET client_min_messages;
RESET ROLE;
SELECT count(x) > 0 AS some_answers, count(*) FILTER (WHERE x < 0.5) AS hidden_rows_used FROM dir_train.dir_rls_ts;
-- a superuser bypasses the policy: read directly (a source without a created column), every row
SET client_min_messages = debug1;
SELECT feast_create_training_set('dir_rls_all', 'SELECT k, event_timestamp, id FROM dir_ent', '{dir_rls_v:x}');
RESET client_min_messages;
SELECT count(*) FILTER (WHERE x < 0.5) > 0 AS low_rows_used,
       count(*) FILTER (WHERE x IS DISTINCT FROM (
           SELECT r.x FROM dir_rls r WHERE r.k = e.k AND r.ts <= e.event_timestamp
              AND r.ts >= e.event_timestamp - interval '10 days' ORDER BY r.ts DESC LIMIT 1)) AS rows_differing
  FROM dir_rls_all a JOIN dir_ent e USING (id);

-- a column privilege missing: the same error as the executor gives
SELECT count(*) > 0 AS granted FROM feast_grant('regress_dir_reader', 'train', 'dir_v');
REVOKE SELECT ON dir_src FROM regress_dir_reader;
GRANT SELECT (k, ts, cr, x, label) ON dir_src TO regress_dir_reader;
SET ROLE regress_dir_reader;
SELECT feast_create_training_set('dir_train.dir_priv', 'dir_ent', '{dir_v:x, dir_v:n}');
SELECT feast_create_training_set('dir_train.dir_priv', 'dir_ent', '{dir_v:x, dir_v:label}');
RESET ROLE;
SELECT count(*) AS rows_differing
  FROM dir_train.dir_priv p JOIN dir_one o USING (id)
 WHERE (p.x, p.label) IS DISTINCT FROM (o.x, o.label);

-- materialization: read directly too (without the index on ts, PostgreSQL would scan the table),
-- the latest row per key in the window (both ends inclusive), as DISTINCT ON finds it; rows
-- inserted earlier in the same transaction are seen
DROP INDEX dir_src_ts_idx;
\set VERBOSITY terse
SELECT feast_apply_feature_view('dir_m', '{dir_k}', '[{"name": "x", "dtype": "float64"}, {"name": "n", "dtype": "int32"}]',
    'dir_source', interval '30 days');
BEGIN;
INSERT INTO dir_src VALUES (1004, '2024-01-02 00:00', NULL, 0.875, 'fresh', 1004),
                           (1005, '2024-01-10 00:00', NULL, 0.5, 'at the end', 1005);
SET LOCAL client_min_messages = debug1;
SELECT feast_materialize('2024-01-02 00:00', '2024-01-10 00:00', '{dir_m}');
COMMIT;
\set VERBOSITY default
SELECT k, x, n FROM feast_online.dir_m WHERE k >= 1000 ORDER BY k;
-- so is a row a data-modifying CTE of the same statement wrote before the call: the read takes a
-- new snapshot after the statement's last command, as SPI does
\set VERBOSITY terse
WITH ins AS (INSERT INTO dir_src VALUES (1006, '2024-01-05 00:00', NULL, 0.75, 'same statement', 1006) RETURNING k)
SELECT feast_materialize('2024-01-02 00:00', '2024-01-10 00:00', '{dir_m}') FROM ins;
\set VERBOSITY default
SELECT k, x, n FROM feast_online.dir_m WHERE k = 1006;
CREATE TEMP VIEW dir_latest AS
SELECT DISTINCT ON (k) k, x, n, ts FROM dir_src
 WHERE k IS NOT NULL AND ts BETWEEN '2024-01-02 00:00' AND '2024-01-10 00:00'
 ORDER BY k, ts DESC;
SELECT (SELECT count(*) FROM feast_online.dir_m) AS online_rows,
       (SELECT count(*) FROM (SELECT k, x, n, event_timestamp FROM feast_online.dir_m
                              EXCEPT ALL TABLE dir_latest) a)
     + (SELECT count(*) FROM (TABLE dir_latest
                              EXCEPT ALL SELECT k, x, n, event_timestamp FROM feast_online.dir_m) b) AS rows_differing;

DROP SCHEMA dir_train CASCADE;
DROP OWNED BY regress_dir_reader;
DROP ROLE regress_dir_reader;
