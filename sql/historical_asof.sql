-- historical_asof: feast._as_of_join, the one call behind training sets: entity rows read once
-- and returned in their order with every view's features; the same answers as the per-view
-- join of 0.3 (feast._point_in_time_join) on random data; key-ordered and shuffled sources;
-- NULL keys and times, duplicates, composite and text keys, toasted entity columns; its errors
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS asof_src, asof_src_shuffled, asof_src3, asof_ent, asof_cust, asof_a, asof_b, asof_c, asof_d,
    asof_e, asof_f, asof_g, asof_p, asof_h, asof_w CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SELECT setseed(0.7);

-- source rows in key order (asof_src) and the same rows shuffled; composite key (k int, tag text)
CREATE TABLE asof_src AS
SELECT k, tag, ts, cr, val
  FROM (SELECT (random() * 40)::int AS k, (ARRAY['x', 'y', NULL])[1 + (random() * 2.2)::int] AS tag,
               timestamptz '2024-01-01' + (random() * 200)::int * interval '1 hour' AS ts,
               CASE WHEN random() < 0.2 THEN NULL
                    ELSE timestamptz '2024-01-01' + (random() * 220)::int * interval '1 hour' END AS cr,
               g AS val
          FROM generate_series(1, 8000) g) s
 ORDER BY k, tag, ts;
CREATE TABLE asof_src_shuffled AS SELECT * FROM asof_src ORDER BY random();
-- entity rows: NULL keys, NULL times, duplicates (rows repeated), an int4 key column (bigint keys),
-- a long text column that is stored out of line
CREATE TABLE asof_ent AS
SELECT CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 45)::int END AS k,
       (ARRAY['x', 'y', NULL])[1 + (random() * 2.2)::int] AS tag,
       CASE WHEN random() < 0.03 THEN NULL
            ELSE timestamptz '2024-01-01' + (random() * 230)::int * interval '1 hour' END AS event_timestamp,
       g AS id,
       CASE WHEN g % 500 = 0 THEN repeat(md5(g::text), 400) END AS blob
  FROM generate_series(1, 3000) g;
INSERT INTO asof_ent SELECT * FROM asof_ent WHERE id % 7 = 0;
SELECT count(*) AS entity_rows, count(*) FILTER (WHERE k IS NULL OR event_timestamp IS NULL) AS unusable
  FROM asof_ent;

SELECT feast_apply_entity('asof_k', 'k', 'int64');
SELECT feast_apply_entity('asof_tag', 'tag', 'string');
SELECT feast_apply_batch_source('asof_s', 'asof_src', 'ts', 'cr');
SELECT feast_apply_batch_source('asof_s2', 'asof_src_shuffled', 'ts', 'cr');
SELECT feast_apply_feature_view('asof_v', '{asof_k, asof_tag}', '[{"name": "val", "dtype": "int32"}]', 'asof_s',
                                interval '12 hours', online => false);
SELECT feast_apply_feature_view('asof_v2', '{asof_k, asof_tag}', '[{"name": "val", "dtype": "int32"}]', 'asof_s2',
                                interval '12 hours', online => false);
SELECT feast_apply_feature_view('asof_k_only', '{asof_k}', '[{"name": "val", "dtype": "int32"}]', 'asof_s',
                                NULL, online => false);

-- the training set: one row per entity row, entity columns untouched, both sources agree
SELECT feast_create_training_set('asof_a', 'asof_ent', '{asof_v:val, asof_v2:val, asof_k_only:val}',
                                 full_feature_names => true);
-- (rows of one key with equal event and created times may answer either: compare the versions)
SELECT count(*) AS rows_out,
       count(asof_v__val) AS matched,
       count(*) FILTER (WHERE (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = asof_v__val)
                              IS DISTINCT FROM
                              (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = asof_v2__val))
         AS ordered_vs_shuffled,
       count(asof_k_only__val) AS matched_by_k
  FROM asof_a;
SELECT (SELECT count(*) FROM (SELECT k, tag, event_timestamp, id, blob FROM asof_a EXCEPT ALL TABLE asof_ent) x)
     + (SELECT count(*) FROM (TABLE asof_ent EXCEPT ALL SELECT k, tag, event_timestamp, id, blob FROM asof_a) y)
       AS entity_rows_changed;
-- rows with a NULL key or time get no features
SELECT count(*) AS unusable_with_features FROM asof_a
 WHERE (k IS NULL OR tag IS NULL OR event_timestamp IS NULL) AND asof_v__val IS NOT NULL;

-- the same answers as 0.3's per-view join (arrays of entity rows, zipped by position)
CREATE TABLE asof_b AS
WITH a AS (SELECT array_agg(e) AS rows_, array_agg(e.event_timestamp) AS ts, array_agg(e.k::bigint) AS k,
                  array_agg(e.tag) AS tag FROM (SELECT * FROM asof_ent) e)
SELECT r.*
  FROM a, ROWS FROM (unnest(a.rows_) AS (k int, tag text, event_timestamp timestamptz, id int, blob text),
       feast._point_in_time_join('SELECT s.k, s.tag, s.ts, s.cr, s.val FROM public.asof_src AS s
                                   WHERE s.ts <= $1 AND s.ts >= $2', '12 hours', false, NULL, a.ts, a.k, a.tag)
         AS (val int)) AS r(k, tag, event_timestamp, id, blob, val);
SELECT count(*) AS rows_0_3,
       count(*) FILTER (WHERE (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = b.val)
                              IS DISTINCT FROM
                              (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = a.asof_v__val)) AS diffs_to_0_3
  FROM (SELECT *, row_number() OVER () AS n FROM asof_a) a
  JOIN (SELECT *, row_number() OVER () AS n FROM asof_b) b USING (n)
 WHERE a.id = b.id;

-- the entity query's order is kept (ORDER BY in the query), and filter_by_created_timestamp
SELECT feast_historical_features_sql('SELECT * FROM asof_ent ORDER BY id DESC', '{asof_v:val}',
                                     filter_by_created_timestamp => true) AS q \gset
SELECT bool_and(id <= prev) AS in_order, count(*) AS n
  FROM (SELECT id, lag(id, 1, 1000000) OVER () AS prev FROM (:q) j) x;
SELECT count(*) AS rows_out,
       count(*) FILTER (WHERE (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = j.val)
                              IS DISTINCT FROM
                              (SELECT row(s.ts, s.cr) FROM asof_src s WHERE s.val = r.val)) AS filter_diffs
  FROM (SELECT id, val, row_number() OVER (PARTITION BY id) AS dup FROM (:q) j) j
  JOIN (SELECT e.id, row_number() OVER (PARTITION BY e.id) AS dup,
               (SELECT s.val FROM asof_src s
                 WHERE s.k = e.k AND s.tag = e.tag AND s.ts <= e.event_timestamp
                   AND s.ts >= e.event_timestamp - interval '12 hours'
                   AND s.cr IS NOT NULL AND s.cr <= e.event_timestamp
                 ORDER BY s.ts DESC, s.cr DESC LIMIT 1) AS val
          FROM asof_ent e) r USING (id, dup);

-- no entity rows: no rows, and the entity columns' types
CREATE TABLE asof_c AS SELECT * FROM asof_ent WHERE false;
SELECT feast_historical_features_sql('asof_c', '{asof_v:val}') AS q \gset
SELECT count(*) AS no_rows FROM (:q) j;

-- materialize shares the reader: the key-ordered and the shuffled source give the same latest
-- version per key (rows of one key one after another take the previous row's entry)
SELECT feast_apply_feature_view('asof_on', '{asof_k, asof_tag}', '[{"name": "val", "dtype": "int32"}]', 'asof_s');
SELECT feast_apply_feature_view('asof_on2', '{asof_k, asof_tag}', '[{"name": "val", "dtype": "int32"}]', 'asof_s2');
SET client_min_messages = warning;
SELECT feast_materialize('2024-01-02', '2024-01-08', ARRAY['asof_on', 'asof_on2']) > 100 AS wrote_rows;
RESET client_min_messages;
SELECT count(*) AS online_rows,
       count(*) FILTER (WHERE row(o.event_timestamp, o.created_timestamp) IS DISTINCT FROM
                              row(o2.event_timestamp, o2.created_timestamp)) AS ordered_vs_shuffled,
       count(*) FILTER (WHERE row(o.event_timestamp, o.created_timestamp)::text IS DISTINCT FROM d.v) AS diffs
  FROM feast_online.asof_on o
  FULL JOIN feast_online.asof_on2 o2 USING (k, tag)
  FULL JOIN (SELECT DISTINCT ON (k, tag) k, tag, row(ts, cr)::text AS v FROM asof_src
              WHERE ts BETWEEN '2024-01-02' AND '2024-01-08' AND k IS NOT NULL AND tag IS NOT NULL
              ORDER BY k, tag, ts DESC, cr DESC NULLS LAST) d USING (k, tag);

-- feast_create_training_set writes the join's rows straight into its table: the same rows and
-- columns as the generated SELECT, with features asked out of their views' order
CREATE TABLE asof_src3 AS SELECT k, ts, cr, val, -val AS neg FROM asof_src;
SELECT feast_apply_batch_source('asof_s3', 'asof_src3', 'ts', 'cr');
SELECT feast_apply_feature_view('asof_two', '{asof_k}', '[{"name": "val", "dtype": "int32"},
                                 {"name": "neg", "dtype": "int64"}]', 'asof_s3', interval '6 hours', online => false);
SELECT feast_create_training_set('asof_d', 'asof_ent', '{asof_two:neg, asof_v:val, asof_two:val}',
                                 full_feature_names => true);
SELECT feast_historical_features_sql('asof_ent', '{asof_two:neg, asof_v:val, asof_two:val}',
                                     full_feature_names => true) AS q \gset
CREATE TABLE asof_e AS :q;
SELECT (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'asof_d'::regclass AND attnum > 0) AS columns,
       (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
          FROM pg_attribute WHERE attrelid = 'asof_d'::regclass AND attnum > 0)
       = (SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
            FROM pg_attribute WHERE attrelid = 'asof_e'::regclass AND attnum > 0) AS same_columns;
SELECT count(*) AS rows_out, count(asof_two__val) AS matched, bool_and(asof_two__neg = -asof_two__val) AS neg_is_neg,
       (SELECT count(*) FROM (TABLE asof_d EXCEPT ALL TABLE asof_e) x)
       + (SELECT count(*) FROM (TABLE asof_e EXCEPT ALL TABLE asof_d) y) AS diffs_to_select
  FROM asof_d;
-- in the entity rows' order, as the SELECT returns them
SELECT count(*) AS out_of_order
  FROM (SELECT id, row_number() OVER () AS n FROM asof_d) d
  JOIN (SELECT id, row_number() OVER () AS n FROM asof_ent) e USING (n)
 WHERE d.id IS DISTINCT FROM e.id;
-- the entity rows' arrays are sized for the planner's estimate of them: one far too low (a
-- predicate it guesses keeps 1 row in 200 of 3428; it keeps all) grows them: the same rows, in order
SELECT feast_create_training_set('asof_h', 'SELECT * FROM asof_ent WHERE length(md5(id::text)) = 32',
                                 '{asof_two:neg, asof_v:val, asof_two:val}', full_feature_names => true);
SELECT count(*) AS rows_out,
       (SELECT count(*) FROM (TABLE asof_h EXCEPT ALL TABLE asof_d) x)
       + (SELECT count(*) FROM (TABLE asof_d EXCEPT ALL TABLE asof_h) y) AS diffs,
       (SELECT count(*)
          FROM (SELECT id, row_number() OVER () AS n FROM asof_h) h
          JOIN (SELECT id, row_number() OVER () AS n FROM asof_ent) e USING (n)
         WHERE h.id IS DISTINCT FROM e.id) AS out_of_order
  FROM asof_h;
-- rows are formed straight into the table's pages; one too wide for a page's share (a column of
-- hex digits, which compress badly) is toasted as an insert would, on the same pages
SELECT feast_create_training_set('asof_w', 'SELECT *, CASE WHEN id % 100 = 0 THEN (SELECT string_agg(md5((id * 1000 + i)::text), '''') FROM generate_series(1, 200) i) END AS wide FROM asof_ent',
                                 '{asof_two:neg, asof_v:val, asof_two:val}', full_feature_names => true);
SELECT count(*) AS rows_out, count(wide) AS wide_rows,
       bool_and(wide IS NULL OR wide = (SELECT string_agg(md5((id * 1000 + i)::text), '') FROM generate_series(1, 200) i))
         AS wide_kept,
       (SELECT count(*) FROM (SELECT k, tag, event_timestamp, id, blob, asof_two__neg, asof_v__val, asof_two__val
                                FROM asof_w EXCEPT ALL TABLE asof_d) x)
       + (SELECT count(*) FROM (TABLE asof_d EXCEPT ALL SELECT k, tag, event_timestamp, id, blob, asof_two__neg,
                                       asof_v__val, asof_two__val FROM asof_w) y) AS diffs,
       (SELECT pg_relation_size(reltoastrelid) > 0 FROM pg_class WHERE oid = 'asof_w'::regclass) AS toasted
  FROM asof_w;
-- sources read by parallel workers (the planner's choice; forced here): the same rows
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT s.k, s.ts, s.cr, s.neg FROM public.asof_src3 AS s WHERE s.ts <= now();
SELECT feast_create_training_set('asof_p', 'asof_ent', '{asof_two:neg, asof_v:val, asof_two:val}',
                                 full_feature_names => true);
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
SELECT count(*) AS rows_out,
       (SELECT count(*) FROM (TABLE asof_p EXCEPT ALL TABLE asof_d) x)
       + (SELECT count(*) FROM (TABLE asof_d EXCEPT ALL TABLE asof_p) y) AS diffs
  FROM asof_p;
-- wide entity rows past work_mem go to a tuple store: the same rows
SET work_mem = '64kB';
SELECT feast_create_training_set('asof_f', 'SELECT *, repeat(''pad'', 40) || id AS pad FROM asof_ent',
                                 '{asof_two:neg, asof_v:val, asof_two:val}', full_feature_names => true);
RESET work_mem;
SELECT count(*) AS rows_out,
       (SELECT count(*) FROM (SELECT k, tag, event_timestamp, id, blob, asof_two__neg, asof_v__val, asof_two__val
                                FROM asof_f EXCEPT ALL TABLE asof_d) x)
       + (SELECT count(*) FROM (TABLE asof_d EXCEPT ALL SELECT k, tag, event_timestamp, id, blob, asof_two__neg,
                                       asof_v__val, asof_two__val FROM asof_f) y) AS diffs,
       bool_and(pad = repeat('pad', 40) || id) AS pad_kept
  FROM asof_f;
-- a table that an event trigger gave a constraint is filled by INSERT ... SELECT, which checks it
CREATE FUNCTION asof_add_check() RETURNS event_trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM pg_event_trigger_ddl_commands() WHERE object_identity = 'public.asof_g') THEN
        ALTER TABLE public.asof_g ADD CONSTRAINT not_27 CHECK (id <> 27);
    END IF;
END $$;
CREATE EVENT TRIGGER asof_check ON ddl_command_end WHEN TAG IN ('CREATE TABLE AS') EXECUTE FUNCTION asof_add_check();
SELECT feast_create_training_set('asof_g', 'asof_ent', '{asof_v:val}', full_feature_names => true);
\echo :SQLSTATE
SELECT feast_create_training_set('asof_g', 'SELECT * FROM asof_ent WHERE id <> 27', '{asof_v:val}',
                                 full_feature_names => true);
SELECT count(*) AS rows_out,
       (SELECT count(*) FROM (TABLE asof_g EXCEPT ALL SELECT k, tag, event_timestamp, id, blob, asof_v__val
                                FROM asof_a WHERE id <> 27) x)
       + (SELECT count(*) FROM (SELECT k, tag, event_timestamp, id, blob, asof_v__val FROM asof_a WHERE id <> 27
                                EXCEPT ALL TABLE asof_g) y) AS diffs,
       (SELECT count(*) FROM pg_constraint WHERE conrelid = 'asof_g'::regclass) AS constraints
  FROM asof_g;
DROP EVENT TRIGGER asof_check;
DROP FUNCTION asof_add_check();

-- direct calls: what the function checks
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a bigint, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now()', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now()::timestamp, 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1.5', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), ''1''::text', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL, NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{3}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{-1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{{"SELECT 1::bigint, now(), now(), 5"}}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join(NULL, false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT * FROM feast._as_of_join('CREATE TABLE asof_never (x int)', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
SELECT feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}');
\echo :SQLSTATE
-- the source query is checked as in 0.3
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), 1::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), ''x''::text"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE
-- an error inside the entity query surfaces as itself
SELECT * FROM feast._as_of_join('SELECT 1::int, now(), (1 / 0)::bigint', false, NULL,
    '{"SELECT 1::bigint, now(), now(), 5"}', '{NULL}', '{1}', '{1}') AS r(a int, v int);
\echo :SQLSTATE

SET client_min_messages = warning;
DROP TABLE asof_src, asof_src_shuffled, asof_src3, asof_ent, asof_a, asof_b, asof_c, asof_d, asof_e, asof_f, asof_g,
    asof_p, asof_h, asof_w;
DROP EXTENSION cfeast CASCADE;
