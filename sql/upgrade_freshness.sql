-- upgrade_freshness: ALTER EXTENSION cfeast UPDATE from 0.3 starts feast.freshness from what the
-- online tables hold (one scan each, during the update), the last push and the last
-- materialization; later writes add to it
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP TABLE IF EXISTS upf_batch;
CREATE EXTENSION cfeast VERSION '0.3';
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY terse

CREATE TABLE upf_batch (driver_id bigint, ts timestamptz, conv real);
INSERT INTO upf_batch VALUES (1, '2024-01-01', 0.1), (2, '2024-01-03', 0.2), (3, '2024-01-02', 0.3);
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('upf_src', 'upf_batch', 'ts');
SELECT feast_apply_push_source('upf_push', 'upf_src');
SELECT feast_apply_feature_view('upf_pushed', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'upf_push');
SELECT feast_apply_feature_view('upf_mat', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'upf_src');
SELECT feast_apply_feature_view('upf_empty', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'upf_src');
-- under 0.3: pushes (one of them replacing a row), and a materialization
SELECT feast_push('upf_push', '[{"driver_id": 1, "conv": 1, "ts": "2024-02-01T00:00:00Z"},
                                {"driver_id": 2, "conv": 2, "ts": "2024-02-02T00:00:00Z"}]');
SELECT feast_push('upf_push', '[{"driver_id": 1, "conv": 3, "ts": "2024-02-03T00:00:00Z"}]');
SELECT feast_materialize('2023-01-01', '2024-12-31', ARRAY['upf_mat']);

ALTER EXTENSION cfeast UPDATE TO '0.4';
SELECT feature_view, rows_written, rows_stale, rows_expired, newest_event_timestamp,
       last_push_at IS NOT NULL AS pushed, last_materialize_at IS NOT NULL AS materialized,
       last_write_at IS NOT NULL AS written
  FROM feast.freshness;
-- the counts start at the rows each table holds: the state and a scan agree
SELECT f.feature_view, f.rows_written = feast_online_row_count(f.feature_view) AS rows_match
  FROM feast.freshness f ORDER BY 1;
-- later writes add to them; the old scan helper is gone
SELECT feast_push('upf_push', '[{"driver_id": 4, "conv": 4, "ts": "2024-03-01T00:00:00Z"},
                                {"driver_id": 2, "conv": 0, "ts": "2023-01-01T00:00:00Z"}]');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp FROM feast.freshness WHERE feature_view = 'upf_pushed';
SELECT to_regprocedure('feast._online_table_stats(regclass)') IS NULL AS scan_helper_dropped;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP TABLE upf_batch;
RESET client_min_messages;
