-- feast_write_online: one online view written directly, whatever feeds it
-- (the write behind cfeast-server's /write-to-online-store)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS ow_stats, ow_trips;
RESET client_min_messages;
SET TimeZone = 'UTC';

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
CREATE TABLE ow_stats (driver_id bigint, ts timestamptz, created_at timestamptz, conv_rate real, trips int);
INSERT INTO ow_stats VALUES (1, '2024-05-01 10:00', NULL, 0.1, 1), (2, '2024-05-01 10:00', NULL, 0.2, 2);
SELECT feast_apply_batch_source('ow_src', 'ow_stats', 'ts', 'created_at');
-- a view fed by a batch source, one that is not online, and a push-fed pair
SELECT feast_apply_feature_view('ow_batch', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]', 'ow_src');
SELECT feast_apply_feature_view('ow_offline', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'ow_src', online => false);
SELECT feast_apply_push_source('ow_push', 'ow_src');
SELECT feast_apply_feature_view('ow_pushed_a', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'ow_push');
SELECT feast_apply_feature_view('ow_pushed_b', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'ow_push');
\set VERBOSITY terse
SELECT feast_materialize('2024-05-01', '2024-05-02', '{ow_batch}');
\set VERBOSITY default
SELECT driver_id, conv_rate, trips, event_timestamp, created_timestamp FROM feast_online.ow_batch ORDER BY driver_id;

-- the body of Feast's remote online store: column form, naive UTC ISO times, "created" may be null
SELECT feast_write_online('ow_batch', '{"driver_id": [1, 3], "conv_rate": [0.5, 0.7], "trips": [10, null],
  "event_timestamp": ["2024-05-01T11:00:00", "2024-05-01T11:30:00.250000"],
  "created": ["2024-05-01T11:00:05", null]}');
SELECT driver_id, conv_rate, trips, event_timestamp, created_timestamp FROM feast_online.ow_batch ORDER BY driver_id;
-- the row form too; "created" may be left out
SELECT feast_write_online('ow_batch', '[{"driver_id": 2, "conv_rate": 0.25, "trips": 20, "event_timestamp": "2024-05-01T12:00:00Z"}]');
SELECT driver_id, conv_rate, trips FROM feast_online.ow_batch WHERE driver_id = 2;

-- newest wins against stored rows: an older row is stale (0 written of 1 given: the count is rows given)
SELECT feast_write_online('ow_batch', '{"driver_id": [1], "conv_rate": [9], "trips": [9],
  "event_timestamp": ["2024-05-01T09:00:00"], "created": [null]}');
-- equal event time: an older created loses, a newer one wins
SELECT feast_write_online('ow_batch', '{"driver_id": [1, 1], "conv_rate": [8, 0.55], "trips": [8, 11],
  "event_timestamp": ["2024-05-01T11:00:00", "2024-05-01T11:00:00"], "created": ["2024-05-01T11:00:00", "2024-05-01T11:00:06"]}');
SELECT driver_id, conv_rate, trips, event_timestamp, created_timestamp FROM feast_online.ow_batch WHERE driver_id = 1;
-- materialize applies the same rule: older offline rows do not overwrite
\set VERBOSITY terse
SELECT feast_materialize('2024-05-01', '2024-05-02', '{ow_batch}');
\set VERBOSITY default
SELECT driver_id, conv_rate, trips FROM feast_online.ow_batch ORDER BY driver_id;

-- a push-fed view: only the named view is written, not its push source's other views
SELECT feast_write_online('ow_pushed_a', '{"driver_id": [5], "trips": [50], "event_timestamp": ["2024-05-01T10:00:00"]}');
SELECT (SELECT count(*) FROM feast_online.ow_pushed_a) AS a_rows, (SELECT count(*) FROM feast_online.ow_pushed_b) AS b_rows;
SELECT feature_view, last_push_at IS NOT NULL AS written FROM feast.push_activity
 WHERE feature_view IN ('ow_pushed_a', 'ow_pushed_b') ORDER BY 1;

-- a feature named "created" is a feature: the view's writer then has no created field
ALTER TABLE ow_stats ADD COLUMN created bigint;
SELECT feast_apply_feature_view('ow_created', '{driver}', '[{"name": "created", "dtype": "int64"}]', 'ow_src');
SELECT feast_write_online('ow_created', '{"driver_id": [1], "created": [42], "event_timestamp": ["2024-05-01T10:00:00"]}');
SELECT driver_id, created, created_timestamp FROM feast_online.ow_created;

-- errors: each names the row and field, and nothing is written
CREATE TABLE ow_before AS SELECT * FROM feast_online.ow_batch;
SELECT feast_write_online('ow_batch', '{"driver_id": [1, 7], "conv_rate": [0.9, "fast"], "trips": [1, 2],
  "event_timestamp": ["2024-06-01T00:00:00", "2024-06-01T00:00:00"], "created": [null, null]}');
SELECT feast_write_online('ow_batch', '[{"driver_id": 1, "conv_rate": 0.9, "trips": 1, "event_timestamp": "2024-06-01T00:00:00"},
  {"driver_id": 7, "conv_rate": 0.9, "trips": 2.5, "event_timestamp": "2024-06-01T00:00:00"}]');
SELECT feast_write_online('ow_batch', '[{"driver_id": 1, "conv_rate": 0.9, "trips": 1, "event_timestamp": "2024-06-01T00:00:00"},
  {"driver_id": 7, "conv_rate": 0.9, "event_timestamp": "2024-06-01T00:00:00"}]');
SELECT feast_write_online('ow_batch', '[{"driver_id": null, "conv_rate": 0.9, "trips": 1, "event_timestamp": "2024-06-01T00:00:00"}]');
SELECT feast_write_online('ow_batch', '{"driver_id": [1], "conv_rate": [0.9], "trips": [1],
  "event_timestamp": ["2024-06-01T00:00:00"], "created": [null], "speed": [3]}');
SELECT feast_write_online('ow_batch', '{"driver_id": [1, 2], "conv_rate": [0.9], "trips": [1, 2],
  "event_timestamp": ["2024-06-01T00:00:00", "2024-06-01T00:00:00"]}');
SELECT feast_write_online('ow_batch', '"rows"');
SELECT feast_write_online('ow_batch', NULL);
SELECT feast_write_online(NULL, '[]');
SELECT count(*) AS changed_rows FROM (
  (SELECT * FROM feast_online.ow_batch EXCEPT SELECT * FROM ow_before)
  UNION ALL (SELECT * FROM ow_before EXCEPT SELECT * FROM feast_online.ow_batch)) d;

-- unknown view: 42704; a view that is not online: 55000
\set VERBOSITY sqlstate
SELECT feast_write_online('no_such_view', '[]');
SELECT feast_write_online('ow_offline', '[]');
SELECT feast_write_online('ow_push', '[]');
\set VERBOSITY default
SELECT feast_write_online('ow_offline', '[]');

-- privileges: PostgreSQL's own, on the online table
CREATE ROLE regress_ow_writer;
SET ROLE regress_ow_writer;
\set VERBOSITY sqlstate
SELECT feast_write_online('ow_batch', '[{"driver_id": 9, "conv_rate": 0.9, "trips": 9, "event_timestamp": "2024-06-01T00:00:00"}]');
\set VERBOSITY default
RESET ROLE;
SELECT count(*) FROM feast_grant('regress_ow_writer', 'materialize', 'ow_batch');
SET ROLE regress_ow_writer;
SELECT feast_write_online('ow_batch', '[{"driver_id": 9, "conv_rate": 0.9, "trips": 9, "event_timestamp": "2024-06-01T00:00:00"}]');
RESET ROLE;
SELECT driver_id, trips FROM feast_online.ow_batch WHERE driver_id = 9;

SET client_min_messages = warning;
DROP TABLE ow_before;
DROP EXTENSION cfeast CASCADE;
DROP TABLE ow_stats;
DROP OWNED BY regress_ow_writer;
DROP ROLE regress_ow_writer;
