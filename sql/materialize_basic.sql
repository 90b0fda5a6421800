-- materialize: latest row per key in [start, end], the write rule of SPEC 4, intervals, errors
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS mat_stats, mat_global CASCADE;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
-- timings go to the NOTICE's detail, which terse verbosity leaves out
\set VERBOSITY terse

-- driver 1: a 01-01 (.1), b/c 01-02 created 00:05 / 00:10 (.2 / .21), d 01-04 no created (.4)
-- driver 2: g 01-01 12:00 no created (.6), h 01-01 12:00 created 12:00 (.59: wins over g)
-- driver 3: x 01-03 (.3)
CREATE TABLE mat_stats (id bigint, ts timestamptz, created timestamptz, conv real, note text);
INSERT INTO mat_stats VALUES
    (1, '2024-01-01', '2024-01-01', 0.1, 'a'),
    (1, '2024-01-02', '2024-01-02 00:10', 0.21, 'c'),
    (1, '2024-01-02', '2024-01-02 00:05', 0.2, 'b'),
    (1, '2024-01-04', NULL, 0.4, 'd'),
    (2, '2024-01-01 12:00', '2024-01-01 12:00', 0.59, 'h'),
    (2, '2024-01-01 12:00', NULL, 0.6, 'g'),
    (3, '2024-01-03', '2024-01-03', 0.3, 'x');
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('mat_src', 'mat_stats', 'ts', 'created', '{"id": "driver_id"}');
SELECT feast_apply_push_source('mat_push', 'mat_src');
SELECT feast_apply_feature_view('driver_mat', '{driver}',
    '[{"name": "conv", "dtype": "float32"}, {"name": "note", "dtype": "string"}]', 'mat_push', interval '2 days');

-- [01-01, 01-02] (inclusive): driver 1 -> c, driver 2 -> h; 2 rows
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['driver_mat']);
SELECT * FROM feast_online.driver_mat ORDER BY driver_id;

-- fresher pushed rows: driver 1 at 01-03, driver 3 at 01-05
SELECT feast_push('mat_push', '[{"driver_id": 1, "conv": 0.25, "note": "pushed 1", "ts": "2024-01-03T00:00:00Z"},
                                {"driver_id": 3, "conv": 0.35, "note": "pushed 3", "ts": "2024-01-05T00:00:00Z"}]');
-- incremental from the last end (01-02) to 01-04: driver 1 -> d (01-04, newer than the push: written);
-- driver 3 -> x (01-03, older than the push at 01-05: not written); 1 row
SELECT feast_materialize_incremental('2024-01-04', ARRAY['driver_mat']);
SELECT * FROM feast_online.driver_mat ORDER BY driver_id;
SELECT feature_view, start_ts, end_ts, rows_written FROM feast.materialization_intervals ORDER BY id;

-- again over [01-01, 01-02]: driver 1's c is older than d (not written); driver 2's h equals the
-- stored row (equal event and created time: written, same values); 1 row
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['driver_mat']);
SELECT * FROM feast_online.driver_mat ORDER BY driver_id;

-- a view never materialized starts at end - ttl: [01-03 12:00, 01-04 12:00] -> driver 1's d only
SELECT feast_apply_feature_view('fresh_mat', '{driver}', '[{"name": "conv", "dtype": "float64"}]',
                                'mat_src', interval '1 day');
SELECT feast_materialize_incremental('2024-01-04 12:00', ARRAY['fresh_mat']);
SELECT * FROM feast_online.fresh_mat ORDER BY driver_id;

-- an entityless view holds one row: the latest in range (20 at 01-02 within [01-01, 01-03])
CREATE TABLE mat_global (ts date, total int);
INSERT INTO mat_global VALUES ('2024-01-01', 10), ('2024-01-02', 20), ('2024-01-05', 50);
SELECT feast_apply_batch_source('mat_global_src', 'mat_global', 'ts');
SELECT feast_apply_feature_view('global_mat', '{}', '[{"name": "total", "dtype": "int64"}]',
                                'mat_global_src');
SELECT feast_materialize('2024-01-01', '2024-01-03', ARRAY['global_mat']);
SELECT * FROM feast_online.global_mat;

-- all online views at once (an offline view is left out): [01-01, 01-06]
--   driver_mat: 1 -> d (equal to stored: written), 2 -> h (equal: written), 3 -> x (older: not); 2
--   fresh_mat: 1 -> d (equal: written), 2 -> h (new), 3 -> x (new); 3
--   global_mat: 50 (01-05); 1
--   (a view fed only by a push source without a batch source is left out too)
SELECT feast_apply_feature_view('offline_only', '{driver}', '[{"name": "conv", "dtype": "float32"}]',
                                'mat_src', online => false);
SELECT feast_apply_push_source('mat_push_only', NULL);
SELECT feast_apply_feature_view('push_only_mat', '{driver}', '[{"name": "conv", "dtype": "float32"}]',
                                'mat_push_only');
SELECT feast_materialize('2024-01-01', '2024-01-06');
SELECT * FROM feast_online.fresh_mat ORDER BY driver_id;
SELECT * FROM feast_online.global_mat;
SELECT feature_view, start_ts, end_ts, rows_written FROM feast.materialization_intervals ORDER BY id;

-- errors, and nothing written by a failed call
SELECT feast_materialize('2024-01-02', '2024-01-01');
\echo :SQLSTATE
SELECT feast_apply_feature_view('nottl_mat', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'mat_src');
-- nottl_mat could run, but driver_mat's last run ended at 01-06 (after 01-05): nothing is written
SELECT feast_materialize_incremental('2024-01-05', ARRAY['nottl_mat', 'driver_mat']);
\echo :SQLSTATE
SELECT count(*) FROM feast_online.nottl_mat;
-- driver_mat's last run ended at 01-06
SELECT feast_materialize_incremental('2024-01-01', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['offline_only']);
\echo :SQLSTATE
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['push_only_mat']);
\echo :SQLSTATE
SELECT feast_materialize('2024-01-01', '2024-01-02', ARRAY['no_such_view']);
\echo :SQLSTATE
SELECT feast_materialize(NULL, '2024-01-02');
\echo :SQLSTATE
-- still the 8 intervals above
SELECT count(*) FROM feast.materialization_intervals;

-- bounds: infinite times are refused, and nothing is recorded
SELECT feast_materialize('-infinity', '2024-01-02', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT feast_materialize('2024-01-01', 'infinity', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT feast_materialize_incremental('infinity', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT count(*) FROM feast.materialization_intervals;
-- a future end is refused (a recorded run must not claim rows that have not arrived); now() passes
SELECT count(*) AS runs_before FROM feast.materialization_intervals \gset
SELECT feast_materialize('2024-01-01', now() + interval '1 day', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT feast_materialize_incremental(now() + interval '1 hour', ARRAY['driver_mat']);
\echo :SQLSTATE
SELECT count(*) = :runs_before AS nothing_recorded FROM feast.materialization_intervals;
SELECT feast_materialize_incremental(now(), ARRAY['driver_mat']) >= 0 AS ran;

-- a ttl beyond the timestamp range (about 292,000 years) means no expiry: an incremental run
-- of a view never materialized starts at -infinity instead of failing
SELECT feast_apply_feature_view('ancient_mat', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'mat_src',
                                interval '300000 years');
SELECT feast_materialize_incremental('2024-01-05', ARRAY['ancient_mat']);
SELECT * FROM feast_online.ancient_mat ORDER BY driver_id;
SELECT start_ts, end_ts FROM feast.materialization_intervals WHERE feature_view = 'ancient_mat';
-- ... online reads answer PRESENT, and the point-in-time join finds the rows
SELECT feast_get_online_features('{ancient_mat:conv}', '{"driver_id": [1, 3]}') -> 'results' -> 1 -> 'statuses';
SELECT feast_historical_features_sql('SELECT 1::bigint AS driver_id, timestamptz ''2024-01-05'' AS event_timestamp',
                                     '{ancient_mat:conv}') AS q \gset
SELECT driver_id, conv FROM (:q) AS j;

-- a view without ttl never materialized starts 52 weeks (364 days) before the end, as Feast does:
-- [2024-01-03, 2025-01-01] (2024 is a leap year) -> driver 1's d (01-04) and driver 3's x (01-03,
-- the inclusive start); driver 2's rows (01-01) are older
SELECT feast_materialize_incremental('2025-01-01', ARRAY['nottl_mat']);
SELECT driver_id, conv, event_timestamp FROM feast_online.nottl_mat ORDER BY driver_id;
SELECT start_ts, end_ts, rows_written FROM feast.materialization_intervals WHERE feature_view = 'nottl_mat';
-- near the start of the timestamp range the lookback stops at -infinity
SELECT feast_apply_feature_view('nottl_old', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'mat_src');
SELECT feast_materialize_incremental('4713-06-01 BC', ARRAY['nottl_old']);
SELECT start_ts, end_ts FROM feast.materialization_intervals WHERE feature_view = 'nottl_old';
