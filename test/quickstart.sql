-- cfeast quickstart: register a driver feature view, push rows in both forms, read them back.
\pset footer off
CREATE EXTENSION cfeast;

-- where offline rows live: an ordinary table (a view or a foreign table works too)
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips integer);

SELECT feast_apply_entity('driver', join_key => 'driver_id', value_type => 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "avg_daily_trips", "dtype": "int64"}]',
    'driver_stats_push', ttl => '1 day');

-- push rows: the row form...
SELECT feast_push('driver_stats_push', '[
  {"driver_id": 1001, "event_timestamp": "2024-05-01T10:00:00Z", "conv_rate": 0.5, "acc_rate": 0.9, "avg_daily_trips": 12},
  {"driver_id": 1002, "event_timestamp": "2024-05-01T10:00:00Z", "conv_rate": 0.3, "acc_rate": 0.8, "avg_daily_trips": 7}]');
-- ... and Feast's column form, online and offline at once
SELECT feast_push('driver_stats_push', '{"driver_id": [1001, 1003], "event_timestamp": ["2024-05-01T11:00:00Z", "2024-05-01T11:00:00Z"],
  "conv_rate": [0.6, 0.1], "acc_rate": [0.95, 0.5], "avg_daily_trips": [13, 2]}', 'online_and_offline');
-- an older row is stale: it does not overwrite the newer one
SELECT feast_push('driver_stats_push', '[{"driver_id": 1001, "event_timestamp": "2024-05-01T09:00:00Z", "conv_rate": 0.0, "acc_rate": 0.0, "avg_daily_trips": 0}]');

-- the typed online table, readable by any SQL client or BI tool
SELECT driver_id, conv_rate, acc_rate, avg_daily_trips, event_timestamp
  FROM feast_online.driver_hourly_stats ORDER BY driver_id;
-- a fresh row for driver 1002, pushed now
SELECT feast_push('driver_stats_push', jsonb_build_array(jsonb_build_object('driver_id', 1002,
    'event_timestamp', now() - interval '5 minutes', 'conv_rate', 0.35, 'acc_rate', 0.85, 'avg_daily_trips', 8)));
-- serve features as Feast's feature server does: the ttl (1 day) applies, unlike Feast's own server
WITH r AS (SELECT feast_get_online_features(
               features => '{driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips}',
               entity_rows => '{"driver_id": [1001, 1002, 9999]}') AS response)
SELECT n.name AS feature, x.res -> 'values' AS "values", x.res -> 'statuses' AS statuses
  FROM r, jsonb_array_elements_text(r.response -> 'metadata' -> 'feature_names') WITH ORDINALITY AS n(name, i)
  JOIN jsonb_array_elements(r.response -> 'results') WITH ORDINALITY AS x(res, j) ON n.i = x.j;
-- freshness per view, kept by the writes themselves (no scan): rows written and refused as stale
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp > now() - interval '1 hour' AS fresh,
       last_push_at IS NOT NULL AS pushed FROM feast.freshness;
-- the exact row count is a scan
SELECT feast_online_row_count('driver_hourly_stats');
-- the rows pushed offline
SELECT * FROM driver_stats ORDER BY driver_id;

-- bad input is refused with the row, the field, what was expected and what came
\set ON_ERROR_STOP 0
SELECT feast_push('driver_stats_push', '[{"driver_id": 1004, "event_timestamp": "2024-05-01T10:00:00Z", "conv_rate": "high", "acc_rate": 1, "avg_daily_trips": 3}]');
\set ON_ERROR_STOP 1
