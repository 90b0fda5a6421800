-- offline_partitioned: a batch source hash-partitioned by its first join key, as the shards of
-- a scale-out lay it out: modulus 4, partitions 0 and 1 postgres_fdw foreign tables on a "shard"
-- database, 2 and 3 local.  Training sets (both forms) and materialization over it equal those
-- over an ordinary table with the same rows, cell by cell; pushed offline rows land in the
-- partition feast_shard_of names; a row with no partition refuses the whole push
\set SHOW_CONTEXT never
\set VERBOSITY terse
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS op_hist, op_plain, op_ent, op_gap, op_ts, op_ts2, op_ent_big, op_ts_big, op_pair, op_pair_plain, op_pair_ent, op_pair_ts, op_i4, op_i4_plain, op_i4_ent, op_i4_ts, op_far_plain, op_far_ts, op_proj_ent, op_proj_ts CASCADE;
DROP SERVER IF EXISTS op_shard CASCADE;
DROP DATABASE IF EXISTS cfeast_op_shard;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
RESET client_min_messages;
SET timezone = 'UTC';

-- the "shard": remainders 0 and 1 of modulus 4, each its own table
SELECT current_database() AS regress_db \gset
CREATE DATABASE cfeast_op_shard;
\c cfeast_op_shard
CREATE TABLE hist_r0 (driver_id bigint, rating float8, trips int, ts timestamptz, created timestamptz);
CREATE TABLE hist_r1 (LIKE hist_r0);
\c :regress_db
SET timezone = 'UTC';
DO $$
DECLARE
    sock text := (SELECT split_part(setting, ',', 1) FROM pg_settings WHERE name = 'unix_socket_directories');
    port text := (SELECT setting FROM pg_settings WHERE name = 'port');
BEGIN
    EXECUTE format('CREATE SERVER op_shard FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                   sock, port, 'cfeast_op_shard');
    EXECUTE format('CREATE USER MAPPING FOR %I SERVER op_shard OPTIONS (user %L)', current_user, current_user);
END $$;
CREATE TABLE op_hist (driver_id bigint, rating float8, trips int, ts timestamptz, created timestamptz)
    PARTITION BY HASH (driver_id);
CREATE FOREIGN TABLE op_hist_r0 PARTITION OF op_hist FOR VALUES WITH (MODULUS 4, REMAINDER 0)
    SERVER op_shard OPTIONS (table_name 'hist_r0');
CREATE FOREIGN TABLE op_hist_r1 PARTITION OF op_hist FOR VALUES WITH (MODULUS 4, REMAINDER 1)
    SERVER op_shard OPTIONS (table_name 'hist_r1');
CREATE TABLE op_hist_r2 PARTITION OF op_hist FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE op_hist_r3 PARTITION OF op_hist FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- generated rows: 60 keys, ties of (key, time) broken by created (NULL the oldest), NULL features
INSERT INTO op_hist
SELECT g % 60, CASE WHEN g % 17 = 0 THEN NULL ELSE g * 0.5 END, g,
       '2026-01-01'::timestamptz + ((g / 3) * 7 % 2000) * interval '1 minute',
       CASE WHEN g % 5 = 0 THEN NULL ELSE '2026-01-01'::timestamptz + (g % 11) * interval '1 second' END
  FROM generate_series(1, 3000) g;
CREATE TABLE op_plain AS SELECT * FROM op_hist;
-- every row went to the partition feast_shard_of names, two of them on the shard
SELECT tableoid::regclass AS partition, count(*) AS rows,
       bool_and(feast_shard_of(driver_id, 4) = right(tableoid::regclass::text, 1)::int) AS shard_of_agrees
  FROM op_hist GROUP BY 1 ORDER BY 1;

SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('op_part_src', 'op_hist', 'ts', 'created');
SELECT feast_apply_batch_source('op_plain_src', 'op_plain', 'ts', 'created');
SELECT feast_apply_push_source('op_push', 'op_part_src');
SELECT feast_apply_feature_view('op_part', '{driver}',
    '[{"name": "rating", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'op_push', interval '4 hours');
SELECT feast_apply_feature_view('op_plain', '{driver}',
    '[{"name": "rating", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'op_plain_src', interval '4 hours');

-- a training set over the partitions equals the one over the ordinary table, cell by cell
CREATE TABLE op_ent AS
SELECT g AS id, (g * 7) % 70 AS driver_id,
       '2026-01-01'::timestamptz + ((g * 13) % 2100) * interval '1 minute' AS event_timestamp
  FROM generate_series(1, 1500) g;
SELECT feast_create_training_set('op_ts', 'op_ent', '{op_part:rating, op_part:trips, op_plain:rating, op_plain:trips}', true);
SELECT count(*) AS rows, count(op_part__trips) AS found,
       count(*) FILTER (WHERE op_part__trips IS NULL AND op_plain__trips IS NULL
                          AND driver_id < 60) AS past_ttl_or_before_first,
       count(*) FILTER (WHERE (op_part__rating, op_part__trips) IS DISTINCT FROM (op_plain__rating, op_plain__trips)) AS differ
  FROM op_ts;
-- with filter_by_created_timestamp too, from the returned SQL
SELECT feast_historical_features_sql('op_ent', '{op_part:rating, op_part:trips, op_plain:rating, op_plain:trips}', true,
                                     filter_by_created_timestamp => true) AS q \gset
SELECT count(*) AS rows,
       count(*) FILTER (WHERE (op_part__rating, op_part__trips) IS DISTINCT FROM (op_plain__rating, op_plain__trips)) AS differ
  FROM (:q) t;
-- the entity-less form over a window
SELECT feast_range_features_sql('2026-01-01 05:00+00', '2026-01-01 20:00+00',
                                '{op_part:rating, op_part:trips}') AS q_part \gset
SELECT feast_range_features_sql('2026-01-01 05:00+00', '2026-01-01 20:00+00',
                                '{op_plain:rating, op_plain:trips}') AS q_plain \gset
SELECT (SELECT count(*) FROM (:q_part) a) AS rows,
       (SELECT count(*) FROM ((:q_part) EXCEPT ALL (:q_plain)) x) AS only_partitioned,
       (SELECT count(*) FROM ((:q_plain) EXCEPT ALL (:q_part)) x) AS only_plain;

-- the source query of a training set over a partitioned or foreign relation reads only the
-- entity rows' first keys ($3): partitions holding none of them are pruned, the predicate goes to
-- the shard; $3 NULL (past 10000 distinct keys) reads everything.  Ordinary tables read as before.
SELECT substring(feast_historical_features_sql('op_ent', '{op_part:rating}') from '\$source\$(.*)\$source\$') AS src \gset
SELECT substring(:'src' from '\(\$3 IS NULL OR .*? ANY \(\$3\)\)') AS key_filter,
       strpos(feast_historical_features_sql('op_ent', '{op_plain:rating}'), 'ANY ($3)') = 0 AS plain_not_keyed;
PREPARE op_src(timestamptz, timestamptz, bigint[]) AS :src;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE op_src('2026-02-01', '2026-01-01', '{1, 4}');
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE op_src('2026-02-01', '2026-01-01', '{3}');
EXPLAIN (COSTS OFF) EXECUTE op_src('2026-02-01', '2026-01-01', NULL);
DEALLOCATE op_src;
SELECT k, feast_shard_of(k, 4) FROM unnest('{1, 3, 4}'::bigint[]) k;
-- past 10000 distinct entity keys: no filter, the same answers
CREATE TABLE op_ent_big AS
SELECT g AS id, g % 12000 AS driver_id, '2026-01-02'::timestamptz + (g % 97) * interval '1 minute' AS event_timestamp
  FROM generate_series(1, 12001) g;
SELECT feast_create_training_set('op_ts_big', 'op_ent_big', '{op_part:rating, op_plain:rating}', true);
SELECT count(*) AS rows, count(op_part__rating) AS found,
       count(*) FILTER (WHERE op_part__rating IS DISTINCT FROM op_plain__rating) AS differ FROM op_ts_big;

-- a composite key, the first of a string type held in a varchar column (cast, so not pruned):
-- the same answers as an ordinary table
SELECT feast_apply_entity('city', 'city', 'string');
CREATE TABLE op_pair (city varchar(10), driver_id bigint, rides int, ts timestamptz) PARTITION BY HASH (city);
CREATE TABLE op_pair_r0 PARTITION OF op_pair FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE op_pair_r1 PARTITION OF op_pair FOR VALUES WITH (MODULUS 2, REMAINDER 1);
INSERT INTO op_pair SELECT 'c' || g % 7, g % 13, g, '2026-01-01'::timestamptz + g * interval '1 minute'
  FROM generate_series(1, 2000) g;
CREATE TABLE op_pair_plain AS SELECT * FROM op_pair;
SELECT feast_apply_batch_source('op_pair_src', 'op_pair', 'ts');
SELECT feast_apply_batch_source('op_pair_plain_src', 'op_pair_plain', 'ts');
SELECT feast_apply_feature_view('op_pair', '{city, driver}', '[{"name": "rides", "dtype": "int32"}]', 'op_pair_src', online => false);
SELECT feast_apply_feature_view('op_pair_plain', '{city, driver}', '[{"name": "rides", "dtype": "int32"}]', 'op_pair_plain_src', online => false);
SELECT substring(feast_historical_features_sql('SELECT ''c1''::text AS city, 1 AS driver_id, now() AS event_timestamp',
                                               '{op_pair:rides}') from '\(\$3 IS NULL OR .*? ANY \(\$3\)\)') AS pair_filter;
CREATE TABLE op_pair_ent AS
SELECT g AS id, 'c' || g % 9 AS city, g % 15 AS driver_id,
       '2026-01-01'::timestamptz + (g * 3 % 2100) * interval '1 minute' AS event_timestamp
  FROM generate_series(1, 600) g;
SELECT feast_create_training_set('op_pair_ts', 'op_pair_ent', '{op_pair:rides, op_pair_plain:rides}', true);
SELECT count(*) AS rows, count(op_pair__rides) AS found,
       count(*) FILTER (WHERE op_pair__rides IS DISTINCT FROM op_pair_plain__rides) AS differ FROM op_pair_ts;

-- an int64 key held in an integer column (compared by value, across widths): still pruned
CREATE TABLE op_i4 (driver_id int4, v int, ts timestamptz) PARTITION BY HASH (driver_id);
CREATE TABLE op_i4_r0 PARTITION OF op_i4 FOR VALUES WITH (MODULUS 3, REMAINDER 0);
CREATE TABLE op_i4_r1 PARTITION OF op_i4 FOR VALUES WITH (MODULUS 3, REMAINDER 1);
CREATE TABLE op_i4_r2 PARTITION OF op_i4 FOR VALUES WITH (MODULUS 3, REMAINDER 2);
INSERT INTO op_i4 SELECT g % 50, g, '2026-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 1000) g;
CREATE TABLE op_i4_plain AS SELECT * FROM op_i4;
SELECT feast_apply_batch_source('op_i4_src', 'op_i4', 'ts');
SELECT feast_apply_batch_source('op_i4_plain_src', 'op_i4_plain', 'ts');
SELECT feast_apply_feature_view('op_i4', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'op_i4_src', online => false);
SELECT feast_apply_feature_view('op_i4_plain', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'op_i4_plain_src', online => false);
CREATE TABLE op_i4_ent AS
SELECT g AS id, (g % 60)::int2 AS driver_id, '2026-01-01'::timestamptz + g * interval '2 minute' AS event_timestamp
  FROM generate_series(1, 400) g;
SELECT feast_create_training_set('op_i4_ts', 'op_i4_ent', '{op_i4:v, op_i4_plain:v}', true);
SELECT count(*) AS rows, count(op_i4__v) AS found,
       count(*) FILTER (WHERE op_i4__v IS DISTINCT FROM op_i4_plain__v) AS differ FROM op_i4_ts;
SELECT substring(feast_historical_features_sql('op_i4_ent', '{op_i4:v}') from '\$source\$(.*)\$source\$') AS src \gset
PREPARE op_i4_src(timestamptz, timestamptz, bigint[]) AS :src;
EXPLAIN (COSTS OFF) EXECUTE op_i4_src('2026-02-01', '-infinity', '{7}');
DEALLOCATE op_i4_src;
SELECT feast_shard_of(7, 3) AS shard_of_7;

-- a foreign table on its own (not a partition) is keyed too
CREATE FOREIGN TABLE op_far (driver_id bigint, rating float8, trips int, ts timestamptz, created timestamptz)
    SERVER op_shard OPTIONS (table_name 'hist_r1');
CREATE TABLE op_far_plain AS SELECT * FROM op_far;
SELECT feast_apply_batch_source('op_far_src', 'op_far', 'ts', 'created');
SELECT feast_apply_batch_source('op_far_plain_src', 'op_far_plain', 'ts', 'created');
SELECT feast_apply_feature_view('op_far', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'op_far_src', online => false);
SELECT feast_apply_feature_view('op_far_plain', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'op_far_plain_src', online => false);
SELECT feast_create_training_set('op_far_ts', 'op_ent', '{op_far:trips, op_far_plain:trips}', true);
SELECT count(*) AS rows, count(op_far__trips) AS found,
       count(*) FILTER (WHERE op_far__trips IS DISTINCT FROM op_far_plain__trips) AS differ FROM op_far_ts;
SELECT substring(feast_historical_features_sql('op_ent', '{op_far:trips}') from '\$source\$(.*)\$source\$') AS src \gset
PREPARE op_far_src(timestamptz, timestamptz, bigint[]) AS :src;
EXPLAIN (VERBOSE, COSTS OFF) EXECUTE op_far_src('2026-02-01', '-infinity', '{3, 5}');
DEALLOCATE op_far_src;

-- keyed reads through a service projection that maps the join key to another entity column,
-- and entity rows with NULL keys (no answer, no key sent): the same as the ordinary table's
SELECT feast_apply_feature_service('op_svc', '{pp:rating}',
    projections => '{"pp": {"feature_view": "op_part", "join_key_map": {"driver_id": "other_id"}}}');
CREATE TABLE op_proj_ent AS
SELECT g AS id, CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 7) % 70 END AS other_id, (g * 11) % 70 AS driver_id,
       '2026-01-01'::timestamptz + ((g * 13) % 2100) * interval '1 minute' AS event_timestamp
  FROM generate_series(1, 500) g;
SELECT feast_create_training_set('op_proj_ts', 'op_proj_ent', feature_service => 'op_svc', full_feature_names => true);
SELECT count(*) AS rows, count(p.pp__rating) AS found,
       count(*) FILTER (WHERE p.pp__rating IS DISTINCT FROM
                        (SELECT h.rating FROM op_plain h
                          WHERE h.driver_id = e.other_id AND h.ts <= e.event_timestamp AND h.ts >= e.event_timestamp - interval '4 hours'
                          ORDER BY h.ts DESC, h.created DESC NULLS LAST LIMIT 1)) AS differ
  FROM op_proj_ts p JOIN op_proj_ent e USING (id);

-- materialization from the partitions writes what the ordinary table gives
SELECT feast_materialize('2025-12-01', '2026-02-01', '{op_part, op_plain}');
SELECT (SELECT count(*) FROM feast_online.op_part) AS rows,
       (SELECT count(*) FROM (SELECT driver_id, rating, trips, event_timestamp, created_timestamp FROM feast_online.op_part
                              EXCEPT SELECT driver_id, rating, trips, event_timestamp, created_timestamp FROM feast_online.op_plain) x) AS differ;

-- an offline push through the partitioned table: each row in the partition feast_shard_of names,
-- foreign ones on the shard
SELECT feast_push('op_push', '{"driver_id": [1001, 1002, 1003, 1004, 1005, 1006],
    "rating": [1, 2, 3, 4, 5, 6], "trips": [1, 2, 3, 4, 5, 6],
    "ts": ["2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z",
           "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"]}', 'online_and_offline');
SELECT driver_id, tableoid::regclass AS partition, feast_shard_of(driver_id, 4) AS shard_of
  FROM op_hist WHERE driver_id > 1000 ORDER BY driver_id;
\c cfeast_op_shard
SELECT 'on the shard' AS what, driver_id FROM hist_r0 WHERE driver_id > 1000
UNION ALL SELECT 'on the shard', driver_id FROM hist_r1 WHERE driver_id > 1000 ORDER BY 2;
\c :regress_db
SET timezone = 'UTC';

-- a key whose partition is missing: the whole push is refused, online rows included
CREATE TABLE op_gap (driver_id bigint, rating float8, trips int, ts timestamptz, created timestamptz)
    PARTITION BY HASH (driver_id);
CREATE TABLE op_gap_r0 PARTITION OF op_gap FOR VALUES WITH (MODULUS 2, REMAINDER 0);
SELECT feast_apply_batch_source('op_part_src', 'op_gap', 'ts', 'created');
SELECT k, feast_shard_of(k, 2) FROM unnest('{2004, 2005}'::bigint[]) k;
SELECT feast_push('op_push', '[{"driver_id": 2004, "rating": 1, "trips": 1, "ts": "2026-03-01T00:00:00Z"},
                               {"driver_id": 2005, "rating": 1, "trips": 1, "ts": "2026-03-01T00:00:00Z"}]',
                  'online_and_offline');
SELECT count(*) AS written FROM feast_online.op_part WHERE driver_id > 2000;
SELECT count(*) AS appended FROM op_gap;

-- a foreign partition whose remote table is gone: the training set fails with the remote's error
SELECT feast_apply_batch_source('op_part_src', 'op_hist', 'ts', 'created');
\c cfeast_op_shard
ALTER TABLE hist_r1 RENAME TO hist_r1_moved;
\c :regress_db
SET timezone = 'UTC';
SELECT feast_create_training_set('op_ts2', 'op_ent', '{op_part:rating}');
SELECT to_regclass('op_ts2') AS no_table;
\c cfeast_op_shard
ALTER TABLE hist_r1_moved RENAME TO hist_r1;
\c :regress_db
SET timezone = 'UTC';
SELECT feast_create_training_set('op_ts2', 'op_ent', '{op_part:rating}');
SELECT count(*) AS rows, count(rating) AS found FROM op_ts2;

-- clean up
SET client_min_messages = warning;
DROP TABLE op_hist, op_plain, op_ent, op_gap, op_ts, op_ts2, op_ent_big, op_ts_big, op_pair, op_pair_plain, op_pair_ent, op_pair_ts, op_i4, op_i4_plain, op_i4_ent, op_i4_ts, op_far_plain, op_far_ts, op_proj_ent, op_proj_ts CASCADE;
DROP SERVER op_shard CASCADE;
DROP DATABASE cfeast_op_shard;
