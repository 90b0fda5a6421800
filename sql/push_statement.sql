-- push_statement: several pushes of one key in one statement (SELECT feast_push(...) FROM batches)
-- give newest-wins, as pushes one by one would
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('ps_push', NULL);
SELECT feast_apply_feature_view('ps', '{driver}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'ps_push');

-- insert, update, stale, equal-time update of one key
CREATE TEMP TABLE ps_batches (i int, doc jsonb);
INSERT INTO ps_batches VALUES
  (1, '[{"driver_id": 10, "event_timestamp": "2024-05-01T10:00:00Z", "a": 1, "b": "10:00"}]'),
  (2, '[{"driver_id": 10, "event_timestamp": "2024-05-01T11:00:00Z", "a": 2, "b": "11:00"}]'),
  (3, '[{"driver_id": 10, "event_timestamp": "2024-05-01T09:00:00Z", "a": 3, "b": "09:00"}]'),
  (4, '[{"driver_id": 10, "event_timestamp": "2024-05-01T11:00:00Z", "a": 4, "b": "11:00 again"}]');
SELECT sum(n) FROM (SELECT feast_push('ps_push', doc) AS n FROM (SELECT * FROM ps_batches ORDER BY i) b) p;
SELECT driver_id, a, b, event_timestamp AT TIME ZONE 'UTC' AS event_utc FROM feast_online.ps WHERE driver_id = 10;
-- the same in a transaction block
BEGIN;
UPDATE ps_batches SET doc = jsonb_set(doc, '{0,driver_id}', '11');
SELECT sum(n) FROM (SELECT feast_push('ps_push', doc) AS n FROM (SELECT * FROM ps_batches ORDER BY i) b) p;
SELECT driver_id, a, b, event_timestamp AT TIME ZONE 'UTC' AS event_utc FROM feast_online.ps WHERE driver_id = 11;
COMMIT;
-- several keys, several statements of several pushes in one transaction
BEGIN;
SELECT sum(feast_push('ps_push', jsonb_build_array(
    jsonb_build_object('driver_id', 20 + k, 'event_timestamp', '2024-05-01T10:00:00Z'::timestamptz + make_interval(mins => i),
                       'a', i, 'b', 'v' || i))))
  FROM generate_series(1, 5) i, generate_series(0, 2) k;
SELECT sum(feast_push('ps_push', jsonb_build_array(
    jsonb_build_object('driver_id', 20 + k, 'event_timestamp', '2024-05-01T11:00:00Z'::timestamptz + make_interval(mins => i),
                       'a', 10 + i, 'b', 'w' || i))))
  FROM generate_series(1, 3) i, generate_series(0, 2) k;
SELECT sum(feast_push('ps_push', jsonb_build_array(
    jsonb_build_object('driver_id', 20 + k, 'event_timestamp', '2024-05-01T11:02:00Z'::timestamptz + make_interval(mins => i),
                       'a', 20 + i, 'b', 'x' || i))))
  FROM generate_series(1, 2) i, generate_series(0, 2) k;
COMMIT;
SELECT driver_id, a, b, event_timestamp AT TIME ZONE 'UTC' AS event_utc FROM feast_online.ps WHERE driver_id >= 20 ORDER BY 1;
