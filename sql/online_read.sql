-- online retrieval: statuses, entity forms, composite keys, services, order, names
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('customer', 'customer_id', 'string');
SELECT feast_apply_push_source('driver_push', NULL);
SELECT feast_apply_push_source('customer_push', NULL);
SELECT feast_apply_push_source('pair_push', NULL);
SELECT feast_apply_push_source('global_push', NULL);
SELECT feast_apply_push_source('daily_push', NULL);
-- ttl of one day: rows from 2020 are outside it, rows from 2100 inside
SELECT feast_apply_feature_view('driver_hourly', ARRAY['driver'],
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float64"},
      {"name": "avg_daily_trips", "dtype": "int64"}]', 'driver_push', ttl => '1 day');
SELECT feast_apply_feature_view('customer_profile', ARRAY['customer'],
    '[{"name": "avg_order", "dtype": "float64"}, {"name": "tier", "dtype": "string"}]', 'customer_push');
SELECT feast_apply_feature_view('driver_customer', ARRAY['driver', 'customer'],
    '[{"name": "trips_together", "dtype": "int32"}]', 'pair_push');
SELECT feast_apply_feature_view('global_stats', '{}',
    '[{"name": "total_rides", "dtype": "int64"}]', 'global_push');
SELECT feast_apply_feature_view('driver_daily', ARRAY['driver'],
    '[{"name": "conv_rate", "dtype": "float32"}]', 'daily_push');

SELECT feast_push('driver_push', '[
  {"driver_id": 1001, "conv_rate": 0.5, "acc_rate": 0.25, "avg_daily_trips": 10, "event_timestamp": "2100-01-01T00:00:00Z"},
  {"driver_id": 1002, "conv_rate": null, "acc_rate": 0.75, "avg_daily_trips": null, "event_timestamp": "2100-01-02T03:04:05.5Z"},
  {"driver_id": 1003, "conv_rate": 0.1, "acc_rate": 0.2, "avg_daily_trips": 30, "event_timestamp": "2020-01-01T00:00:00Z"}]');
SELECT feast_push('customer_push', '{"customer_id": ["c1", "c2"], "avg_order": [12.5, 7],
  "tier": ["gold", null], "event_timestamp": ["2021-06-01T12:00:00.123456Z", "2021-06-01T12:00:00.001Z"]}');
SELECT feast_push('pair_push', '[
  {"driver_id": 1001, "customer_id": "c1", "trips_together": 3, "event_timestamp": "2021-01-01T00:00:00Z"},
  {"driver_id": 1001, "customer_id": "c2", "trips_together": 4, "event_timestamp": "2021-01-01T00:00:00Z"},
  {"driver_id": 1002, "customer_id": "c1", "trips_together": 5, "event_timestamp": "2021-01-01T00:00:00Z"}]');
SELECT feast_push('global_push', '[{"total_rides": 123456, "event_timestamp": "2022-02-02T00:00:00Z"}]');
SELECT feast_push('daily_push', '[{"driver_id": 1001, "conv_rate": 0.9, "event_timestamp": "2022-02-02T00:00:00Z"}]');

-- every status: PRESENT (1001), NULL_VALUE (1002's conv_rate and trips), OUTSIDE_MAX_AGE (1003,
-- row of 2020 with ttl 1 day), NOT_FOUND (9999); the column form of entity rows
SELECT jsonb_pretty(feast_get_online_features(
    ARRAY['driver_hourly:conv_rate', 'driver_hourly:avg_daily_trips'],
    '{"driver_id": [1001, 1002, 1003, 9999]}'));

-- the row form gives the same answer
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_hourly:avg_daily_trips'],
           '[{"driver_id": 1001}, {"driver_id": 1002}, {"driver_id": 1003}, {"driver_id": 9999}]')
     = feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_hourly:avg_daily_trips'],
           '{"driver_id": [1001, 1002, 1003, 9999]}') AS same;

-- one entity at a time, the direct primary-key probe (the default) and the cached SPI plan
-- (cfeast.direct_read = off) give the same answers, for every status
CREATE TEMP TABLE direct_answers AS
SELECT k, feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_hourly:avg_daily_trips'],
                                    jsonb_build_object('driver_id', jsonb_build_array(k))) AS a
  FROM unnest(ARRAY[1001, 1002, 1003, 9999]) k;
SET cfeast.direct_read = off;
SELECT count(*) FILTER (WHERE a = feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_hourly:avg_daily_trips'],
                                                            jsonb_build_object('driver_id', jsonb_build_array(k)))) AS same,
       count(*) AS total
  FROM direct_answers;
RESET cfeast.direct_read;

-- features in the order asked (not the view's order); a repeated entity gets the same values
SELECT r -> 'metadata' AS metadata,
       jsonb_path_query_array(r, '$.results[*].values') AS values
  FROM feast_get_online_features(ARRAY['driver_hourly:avg_daily_trips', 'driver_hourly:acc_rate',
                                       'driver_hourly:conv_rate'],
                                 '[{"driver_id": 1001}, {"driver_id": 1001}]') r;

-- several views: join keys first, in order of first use, then features in the order asked;
-- composite keys; an entityless view gives its one row to every entity row
SELECT r -> 'metadata' AS metadata,
       jsonb_path_query_array(r, '$.results[*].values') AS values,
       jsonb_path_query_array(r, '$.results[*].statuses') AS statuses
  FROM feast_get_online_features(ARRAY['driver_customer:trips_together', 'customer_profile:tier',
                                       'global_stats:total_rides', 'driver_hourly:conv_rate'],
                                 '{"driver_id": [1001, 1001, 1002, 1002], "customer_id": ["c1", "c2", "c1", "c2"]}') r;

-- event timestamps: RFC 3339 UTC with 0, 3 or 6 fractional digits, whatever TimeZone says
SET TimeZone = 'America/New_York';
SELECT jsonb_path_query_array(r, '$.results[*].event_timestamps') AS event_timestamps
  FROM feast_get_online_features(ARRAY['customer_profile:avg_order', 'driver_hourly:acc_rate'],
                                 '[{"customer_id": "c1", "driver_id": 1002}, {"customer_id": "c2", "driver_id": 1001}]') r;
RESET TimeZone;

-- full feature names: view__feature, so one name in two views is fine
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_daily:conv_rate'],
                                 '{"driver_id": [1001]}', full_feature_names => true);

-- entityless only: no entity rows needed (one row); extra entity fields are ignored
SELECT feast_get_online_features(ARRAY['global_stats:total_rides']);
SELECT feast_get_online_features(ARRAY['global_stats:total_rides'], '[{"x": 1}, {"x": 2}]');
-- an entityless view without its row: NOT_FOUND
SELECT feast_apply_feature_view('global_empty', '{}', '[{"name": "n", "dtype": "int64"}]', 'customer_push');
SELECT feast_get_online_features(ARRAY['global_empty:n'], '[{}, {}]');
SELECT feast_delete('feature_view', 'global_empty');
-- no entity rows: empty columns
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate'], '[]');
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate'], '{"driver_id": []}');

-- a batch of 50 rows over 5 keys (2 unknown), checked against the online table row by row
WITH ids AS (SELECT i, 1000 + i % 5 AS id FROM generate_series(0, 49) i),
     answer AS (SELECT feast_get_online_features(ARRAY['driver_hourly:avg_daily_trips'],
                         (SELECT jsonb_build_object('driver_id', jsonb_agg(id ORDER BY i)) FROM ids)) AS r),
     expected AS (
       SELECT ids.i, ids.id,
              CASE WHEN t.driver_id IS NULL THEN 'NOT_FOUND'
                   WHEN t.event_timestamp < now() - interval '1 day' THEN 'OUTSIDE_MAX_AGE'
                   WHEN t.avg_daily_trips IS NULL THEN 'NULL_VALUE' ELSE 'PRESENT' END AS status,
              CASE WHEN t.event_timestamp >= now() - interval '1 day' THEN t.avg_daily_trips::text END AS value
         FROM ids LEFT JOIN feast_online.driver_hourly t ON t.driver_id = ids.id)
SELECT e.status, count(*) AS n,
       bool_and(r -> 'results' -> 0 -> 'values' ->> e.i = e.id::text) AS keys_ok,
       bool_and(r -> 'results' -> 1 -> 'statuses' ->> e.i = e.status) AS statuses_ok,
       bool_and((r -> 'results' -> 1 -> 'values' ->> e.i) IS NOT DISTINCT FROM e.value) AS values_ok
  FROM expected e, answer
 GROUP BY e.status ORDER BY e.status;

-- feature services: 'view' is all of a view's features, in schema order
SELECT feast_apply_feature_service('driver_activity',
    ARRAY['driver_hourly', 'customer_profile:tier', 'global_stats:total_rides']);
SELECT r -> 'metadata' AS metadata, jsonb_path_query_array(r, '$.results[*].values') AS values
  FROM feast_get_online_features(feature_service => 'driver_activity',
                                 entity_rows => '{"driver_id": [1001], "customer_id": ["c1"]}') r;
-- a changed service is seen at once (the registry cache is flushed)
SELECT feast_apply_feature_service('driver_activity', ARRAY['driver_hourly:acc_rate']);
SELECT feast_get_online_features(feature_service => 'driver_activity',
                                 entity_rows => '{"driver_id": [1002]}');
SELECT feast_get_online_features(feature_service => 'driver_activity',
                                 entity_rows => '{"driver_id": [1002]}', full_feature_names => true);

-- a newer push is read at once; an older one does not change the answer
SELECT feast_push('driver_push', '[{"driver_id": 1003, "conv_rate": 0.125, "acc_rate": 1, "avg_daily_trips": 31,
                                    "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate'], '{"driver_id": [1003]}');
SELECT feast_push('driver_push', '[{"driver_id": 1003, "conv_rate": 0.75, "acc_rate": 1, "avg_daily_trips": 31,
                                    "event_timestamp": "2099-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate'], '{"driver_id": [1003]}') -> 'results' -> 1;

-- the same entity twice in one call, and two views sharing a key: one probe per view
SELECT jsonb_path_query_array(r, '$.results[*].values') AS values
  FROM feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_daily:conv_rate'],
                                 '{"driver_id": [1001, 1001, 1003]}', full_feature_names => true) r;

-- a ttl of hours: rows 1 hour old are in, rows 2 hours old are out; the boundary is inclusive
SELECT feast_apply_push_source('recent_push', NULL);
SELECT feast_apply_feature_view('recent', ARRAY['driver'], '[{"name": "v", "dtype": "int32"}]',
                                'recent_push', ttl => '90 minutes');
BEGIN;  -- one now() for the push and the read
SELECT feast_push('recent_push', jsonb_build_array(
    jsonb_build_object('driver_id', 1, 'v', 1, 'event_timestamp', now() - interval '1 hour'),
    jsonb_build_object('driver_id', 2, 'v', 2, 'event_timestamp', now() - interval '2 hours'),
    jsonb_build_object('driver_id', 3, 'v', 3, 'event_timestamp', now() - interval '90 minutes')));
SELECT r -> 'results' -> 1 -> 'values' AS values, r -> 'results' -> 1 -> 'statuses' AS statuses
  FROM feast_get_online_features(ARRAY['recent:v'], '{"driver_id": [1, 2, 3]}') r;
SELECT r -> 'results' -> 1 -> 'statuses' AS statuses
  FROM feast_get_online_features(ARRAY['recent:v'], '{"driver_id": [2]}') r;
COMMIT;
SELECT feast_delete('feature_view', 'recent');

-- freshness: what pushes wrote and refused per view, the newest event time, the last push (kept
-- by the pushes themselves, not read from the online tables; test freshness has the details)
SELECT feast_apply_feature_view('never_pushed', ARRAY['driver'],
    '[{"name": "x", "dtype": "int32"}]', 'driver_push');
SELECT feast_apply_feature_view('offline_only', ARRAY['driver'],
    '[{"name": "y", "dtype": "int32"}]', 'customer_push', online => false);
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp,
       CASE WHEN feature_view <> 'offline_only' THEN feast_online_row_count(feature_view) END AS online_rows,
       last_push_at IS NOT NULL AS pushed
  FROM feast.freshness;
