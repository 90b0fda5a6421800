-- registry cache: errors caught by a savepoint or an EXCEPTION block leave no pin behind,
-- and DDL on a batch relation reaches the plans cached for it
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS rc_offline, rc_offline_renamed;
RESET client_min_messages;
SET TimeZone = 'UTC';

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('rc_push', NULL);
SELECT feast_apply_feature_view('rc', '{driver}', '[{"name": "a", "dtype": "int64"}]', 'rc_push');

-- a bad push caught by a savepoint; the view then gains feature b in the same transaction,
-- and the next push must know it
BEGIN;
SAVEPOINT s;
SELECT feast_push('rc_push', '[{"driver_id": 1, "event_timestamp": "2024-05-01T10:00:00Z", "a": "x"}]');
ROLLBACK TO s;
SELECT feast_apply_feature_view('rc', '{driver}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'rc_push', ttl => '1 day');
SELECT feast_push('rc_push', '[{"driver_id": 1, "event_timestamp": "2024-05-01T10:00:00Z", "a": 1, "b": "one"}]');
COMMIT;
SELECT driver_id, a, b FROM feast_online.rc ORDER BY driver_id;

-- a bad push caught by a PL/pgSQL EXCEPTION block, then committed: later registry changes
-- (a shorter ttl, a feature taken out of a service) are seen by the next statements
\c -
SET TimeZone = 'UTC';
SELECT feast_apply_feature_view('rc', '{driver}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'rc_push', ttl => '1 day');
SELECT feast_apply_feature_service('rc_svc', '{rc:a,rc:b}');
SELECT feast_push('rc_push', jsonb_build_array(jsonb_build_object('driver_id', 2,
    'event_timestamp', now() - interval '2 hours', 'a', 2, 'b', 'two')));
DO $$
BEGIN
    PERFORM feast_push('rc_push', '[{"driver_id": 1, "event_timestamp": "2024-05-01T10:00:00Z", "a": "x", "b": null}]');
EXCEPTION WHEN invalid_text_representation OR invalid_parameter_value THEN
    RAISE NOTICE 'caught: %', SQLERRM;
END $$;
SELECT r -> 'metadata' -> 'feature_names' AS names, r -> 'results' -> 1 -> 'statuses' AS statuses
  FROM feast_get_online_features(feature_service => 'rc_svc', entity_rows => '[{"driver_id": 2}]') r;
SELECT feast_apply_feature_view('rc', '{driver}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'rc_push', ttl => '1 hour');
SELECT feast_apply_feature_service('rc_svc', '{rc:a}');
SELECT r -> 'metadata' -> 'feature_names' AS names, r -> 'results' -> 1 -> 'statuses' AS statuses
  FROM feast_get_online_features(feature_service => 'rc_svc', entity_rows => '[{"driver_id": 2}]') r;

-- a savepoint that added feature c and pushed it rolls back: the next push knows no c
BEGIN;
SAVEPOINT s;
SELECT feast_apply_feature_view('rc', '{driver}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}, {"name": "c", "dtype": "int64"}]',
    'rc_push', ttl => '1 hour');
SELECT feast_push('rc_push', '[{"driver_id": 3, "event_timestamp": "2024-05-01T10:00:00Z", "a": 3, "b": "three", "c": 3}]');
ROLLBACK TO s;
SELECT feast_push('rc_push', '[{"driver_id": 3, "event_timestamp": "2024-05-01T10:00:00Z", "a": 3, "b": "three", "c": 3}]');
ROLLBACK;
SELECT count(*) FROM feast_online.rc WHERE driver_id = 3;

-- an online column retyped by hand is refused, not coerced into (55000); its serving view
-- and its service's would stop the retype, so they go first
DROP VIEW feast_serving.rc, feast_serving.rc_svc;
ALTER TABLE feast_online.rc ALTER COLUMN a TYPE numeric;
SELECT feast_push('rc_push', '[{"driver_id": 4, "event_timestamp": "2024-05-01T10:00:00Z", "a": 4, "b": "four"}]');
\echo :SQLSTATE
ALTER TABLE feast_online.rc ALTER COLUMN a TYPE bigint;
SELECT feast_push('rc_push', '[{"driver_id": 4, "event_timestamp": "2024-05-01T10:00:00Z", "a": 4, "b": "four"}]');

-- the cached offline INSERT follows ALTER TABLE on the batch relation: a retyped event column
-- (timestamptz to timestamp, read as UTC whatever the session's TimeZone) and a new name
CREATE TABLE rc_offline (driver_id bigint, ts timestamptz, a bigint);
SELECT feast_apply_batch_source('rc_batch', 'rc_offline', 'ts');
SELECT feast_apply_push_source('rc_push2', 'rc_batch');
SELECT feast_apply_feature_view('rc2', '{driver}', '[{"name": "a", "dtype": "int64"}]', 'rc_push2');
SET TimeZone = 'America/New_York';
SELECT feast_push('rc_push2', '[{"driver_id": 1, "ts": "2024-05-01T10:00:00Z", "a": 1}]', 'offline');
ALTER TABLE rc_offline ALTER COLUMN ts TYPE timestamp USING ts AT TIME ZONE 'UTC';
SELECT feast_push('rc_push2', '[{"driver_id": 2, "ts": "2024-05-01T10:00:00Z", "a": 2}]', 'offline');
SELECT driver_id, ts, a FROM rc_offline ORDER BY driver_id;
ALTER TABLE rc_offline RENAME TO rc_offline_renamed;
SELECT feast_push('rc_push2', '[{"driver_id": 3, "ts": "2024-05-01T10:00:00Z", "a": 3}]', 'offline');
SELECT driver_id, ts, a FROM rc_offline_renamed ORDER BY driver_id;
RESET TimeZone;
