-- historical_parallel: a training set whose plain-table source asks for parallel workers (its
-- parallel_workers storage parameter) is split among them (each reads ranges of blocks into
-- buckets of its own; the leader merges them by the write rule)
-- equals the one-scan training set: integer, composite and text keys, text and array features
-- (sent serialized), NULL features, filter_by_created_timestamp, ttl; a worker's error reaches the
-- caller as the one-scan error; views and the SELECT form stay one scan
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS par_src, par_src_view_base, par_ent, par_bad, par_one, par_two, par_three,
    par_fc_one, par_fc_two, par_view_ts, par_debug, par_one_scan CASCADE;
DROP FUNCTION IF EXISTS par_try(int);
RESET client_min_messages;
SET timezone = 'UTC';
SELECT setseed(0.3);

-- 20,000 source rows in random order over ~200 blocks; no two rows share an event time (hours
-- apart, plus g milliseconds), so every answer is determined whichever process reads it
CREATE TABLE par_src AS
SELECT g % 300 AS k, (ARRAY['a', 'b'])[1 + g % 2] AS tag, 'key' || (g % 250) AS name, ts,
       CASE WHEN g % 5 = 0 THEN NULL ELSE ts + (random() * 7200)::int * interval '1 second' END AS cr,
       CASE WHEN g % 11 = 0 THEN NULL ELSE round(random()::numeric, 6)::float8 END AS x,
       CASE WHEN g % 13 = 0 THEN NULL ELSE 'label ' || g END AS label,
       ARRAY[g, g + 1]::bigint[] AS arr
  FROM generate_series(1, 20000) g,
       LATERAL (SELECT timestamptz '2024-01-01' + (random() * 500)::int * interval '1 hour'
                       + g * interval '1 millisecond' AS ts) t
 ORDER BY random();
CREATE TABLE par_ent AS
SELECT (random() * 320)::int AS k, (ARRAY['a', 'b'])[1 + (random() * 1)::int] AS tag,
       'key' || (random() * 260)::int AS name,
       timestamptz '2024-01-01' + (random() * 520)::int * interval '1 hour' AS event_timestamp, g AS id
  FROM generate_series(1, 4000) g;
SELECT pg_relation_size('par_src') / current_setting('block_size')::int > 100 AS many_blocks;
ALTER TABLE par_src SET (parallel_workers = 2);

SELECT feast_apply_entity('par_k', 'k', 'int64');
SELECT feast_apply_entity('par_tag', 'tag', 'string');
SELECT feast_apply_entity('par_name', 'name', 'string');
SELECT feast_apply_batch_source('par_source', 'par_src', 'ts', 'cr');
SELECT feast_apply_feature_view('par_by_k', '{par_k}',
    '[{"name": "x", "dtype": "float64"}, {"name": "label", "dtype": "string"}, {"name": "arr", "dtype": "array(int64)"}]',
    'par_source', online => false);
SELECT feast_apply_feature_view('par_by_k_tag', '{par_k, par_tag}', '[{"name": "x", "dtype": "float64"}]',
    'par_source', interval '2 days', online => false);
SELECT feast_apply_feature_view('par_by_name', '{par_name}', '[{"name": "label", "dtype": "string"}]',
    'par_source', online => false);

-- one scan, then split among two workers with the leader only merging (so the workers read
-- every block and their buckets are what the leader merges)
SET max_parallel_workers_per_gather = 0;
SELECT feast_create_training_set('par_one', 'par_ent',
    '{par_by_k:x, par_by_k:label, par_by_k:arr, par_by_k_tag:x, par_by_name:label}', full_feature_names => true);
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT feast_create_training_set('par_two', 'par_ent',
    '{par_by_k:x, par_by_k:label, par_by_k:arr, par_by_k_tag:x, par_by_name:label}', full_feature_names => true);
-- the workers did read (a table of fixed-width columns: no toast table and its DEBUG lines)
SET client_min_messages = debug1;
SELECT feast_create_training_set('par_debug', 'SELECT k, event_timestamp, id FROM par_ent', '{par_by_k:x}');
RESET client_min_messages;
SELECT count(*) AS rows, count(x) AS x, count(x) = (SELECT count(par_by_k__x) FROM par_one) AS same_count FROM par_debug;
SELECT count(*) AS rows, count(par_by_k__x) AS x, count(par_by_k__label) AS label, count(par_by_k__arr) AS arr,
       count(par_by_k_tag__x) AS x_tag, count(par_by_name__label) AS by_name
  FROM par_two;
SELECT (SELECT count(*) FROM (TABLE par_one EXCEPT ALL TABLE par_two) a)
     + (SELECT count(*) FROM (TABLE par_two EXCEPT ALL TABLE par_one) b) AS rows_differing;
-- the leader reading too: the same rows
SET parallel_leader_participation = on;
SELECT feast_create_training_set('par_three', 'par_ent',
    '{par_by_k:x, par_by_k:label, par_by_k:arr, par_by_k_tag:x, par_by_name:label}', full_feature_names => true);
SELECT (SELECT count(*) FROM (TABLE par_one EXCEPT ALL TABLE par_three) a)
     + (SELECT count(*) FROM (TABLE par_three EXCEPT ALL TABLE par_one) b) AS rows_differing;
-- filter_by_created_timestamp: rows created after the entity row's time are no candidates
SET max_parallel_workers_per_gather = 0;
SELECT feast_create_training_set('par_fc_one', 'par_ent', '{par_by_k:x, par_by_k_tag:x}', full_feature_names => true,
    filter_by_created_timestamp => true);
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT feast_create_training_set('par_fc_two', 'par_ent', '{par_by_k:x, par_by_k_tag:x}', full_feature_names => true,
    filter_by_created_timestamp => true);
SELECT count(par_by_k__x) AS x, count(par_by_k_tag__x) AS x_tag,
       (SELECT count(*) FROM (TABLE par_fc_one EXCEPT ALL TABLE par_fc_two) a)
     + (SELECT count(*) FROM (TABLE par_fc_two EXCEPT ALL TABLE par_fc_one) b) AS rows_differing
  FROM par_fc_two;
-- the same rows as the SELECT form (which reads each source in one scan)
SELECT feast_historical_features_sql('par_ent', '{par_by_k:x, par_by_k:label, par_by_k:arr}') AS hsql \gset
SELECT count(*) AS differing FROM (
    SELECT k, tag, name, event_timestamp, id, x, label, arr FROM (:hsql) h
     EXCEPT ALL
    SELECT k, tag, name, event_timestamp, id, par_by_k__x, par_by_k__label, par_by_k__arr FROM par_two) d;

-- an error in a worker's blocks (a value past float32's range in the last one): the same SQLSTATE and
-- message as the one-scan read, and no table
CREATE TABLE par_bad AS
SELECT g % 50 AS k, timestamptz '2024-01-01' + g * interval '1 minute' AS ts,
       CASE WHEN g = 9000 THEN 1e40 ELSE g END::numeric AS val
  FROM generate_series(1, 9000) g;
ALTER TABLE par_bad SET (parallel_workers = 2);
SELECT feast_apply_batch_source('par_bad_source', 'par_bad', 'ts');
SELECT feast_apply_feature_view('par_bad_view', '{par_k}', '[{"name": "val", "dtype": "float32"}]',
    'par_bad_source', online => false);
CREATE FUNCTION par_try(workers int) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('max_parallel_workers_per_gather', workers::text, true);
    PERFORM feast_create_training_set('par_bad_ts', 'par_ent', '{par_bad_view:val}');
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT par_try(0) AS one_scan, par_try(2) AS split;
SELECT to_regclass('par_bad_ts') AS not_created;

-- a view is read in one scan (the source query's own plan)
CREATE TABLE par_src_view_base AS SELECT * FROM par_src;
CREATE VIEW par_src_view AS SELECT * FROM par_src_view_base;
SELECT feast_apply_batch_source('par_view_source', 'par_src_view', 'ts', 'cr');
SELECT feast_apply_feature_view('par_view_fv', '{par_k}', '[{"name": "x", "dtype": "float64"}]',
    'par_view_source', online => false);
SELECT feast_create_training_set('par_view_ts', 'par_ent', '{par_view_fv:x}');
SELECT count(x) AS x, count(x) = (SELECT count(par_by_k__x) FROM par_one) AS same_count FROM par_view_ts;
-- without parallel_workers on the table: one scan, whatever the session allows (no DEBUG line)
ALTER TABLE par_src RESET (parallel_workers);
SET client_min_messages = debug1;
SELECT feast_create_training_set('par_one_scan', 'SELECT k, event_timestamp, id FROM par_ent', '{par_by_k:x}');
RESET client_min_messages;
SELECT count(x) = (SELECT count(par_by_k__x) FROM par_one) AS same_count FROM par_one_scan;
RESET max_parallel_workers_per_gather;
RESET parallel_leader_participation;
