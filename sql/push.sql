-- push: forms, the write rule, fan-out, "to" modes, errors (SPEC sections 4 and 5)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';
DROP TABLE IF EXISTS push_stats, push_audit;
DROP FUNCTION IF EXISTS push_audit_fn;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('zone', 'zone_id', 'string');
CREATE TABLE push_stats (driver_id bigint, zone_id text, event_ts timestamp, created timestamptz,
                         conv_rate real, raw_trips int, city text);
SELECT feast_apply_batch_source('stats', 'push_stats', 'event_ts', 'created', '{"raw_trips": "trips"}');
SELECT feast_apply_push_source('stats_push', 'stats');
-- two views read the push source: fan-out
SELECT feast_apply_feature_view('driver_hourly', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]', 'stats_push');
SELECT feast_apply_feature_view('driver_zone', '{driver,zone}',
    '[{"name": "city", "dtype": "string"}]', 'stats_push');

-- row form
SELECT feast_push('stats_push', '[
  {"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 0.5, "trips": 3, "city": "x"},
  {"driver_id": 2, "zone_id": "b", "event_ts": "2024-05-01T10:00:00", "conv_rate": null, "trips": 4, "city": "y", "created": "2024-05-01T10:00:01"}]');
SELECT * FROM feast_online.driver_hourly ORDER BY driver_id;
SELECT * FROM feast_online.driver_zone ORDER BY driver_id;
-- column form (Feast's feature-server df)
SELECT feast_push('stats_push', '{"driver_id": [3, 4], "zone_id": ["a", "a"], "event_ts": [1714557600, 1714557600],
  "conv_rate": [0.25, 0.75], "trips": [1, 2], "city": ["z", "z"]}');
SELECT driver_id, conv_rate, trips FROM feast_online.driver_hourly ORDER BY driver_id;
-- empty pushes
SELECT feast_push('stats_push', '[]');
SELECT feast_push('stats_push', '{"driver_id": [], "zone_id": [], "event_ts": [], "conv_rate": [], "trips": [], "city": []}');

-- the write rule: an older row is stale and not written
SELECT feast_push('stats_push', '[{"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T09:00:00", "conv_rate": 9, "trips": 9, "city": "old"}]');
SELECT driver_id, conv_rate, trips, event_timestamp FROM feast_online.driver_hourly WHERE driver_id = 1;
-- equal event time: a created timestamp beats NULL, a newer one beats an older one, an older one loses
SELECT feast_push('stats_push', '[{"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "created": "2024-05-01T11:00:00", "conv_rate": 1, "trips": 1, "city": "c1"}]');
SELECT feast_push('stats_push', '[{"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "created": "2024-05-01T10:30:00", "conv_rate": 2, "trips": 2, "city": "c2"}]');
SELECT feast_push('stats_push', '[{"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 3, "trips": 3, "city": "c3"}]');
SELECT driver_id, conv_rate, trips, created_timestamp FROM feast_online.driver_hourly WHERE driver_id = 1;
SELECT feast_push('stats_push', '[{"driver_id": 1, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "created": "2024-05-01T12:00:00", "conv_rate": 4, "trips": 4, "city": "c4"}]');
SELECT driver_id, conv_rate, trips, created_timestamp FROM feast_online.driver_hourly WHERE driver_id = 1;
-- duplicate keys in one batch resolve by the same rule, whatever their order
SELECT feast_push('stats_push', '[
  {"driver_id": 7, "zone_id": "a", "event_ts": "2024-05-02T01:00:00", "conv_rate": 1, "trips": 1, "city": "t1"},
  {"driver_id": 7, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 3, "trips": 3, "city": "t3"},
  {"driver_id": 7, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "t2"}]');
SELECT feast_push('stats_push', '[
  {"driver_id": 8, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 3, "trips": 3, "city": "t3"},
  {"driver_id": 8, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "t2"},
  {"driver_id": 8, "zone_id": "a", "event_ts": "2024-05-02T01:00:00", "conv_rate": 1, "trips": 1, "city": "t1"}]');
SELECT driver_id, conv_rate, trips FROM feast_online.driver_hourly WHERE driver_id IN (7, 8) ORDER BY 1;
-- equal event times in a batch: the created timestamp decides; full ties go to the later row
SELECT feast_push('stats_push', '[
  {"driver_id": 9, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "created": "2024-05-02T05:00:00", "conv_rate": 5, "trips": 5, "city": "c5"},
  {"driver_id": 9, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "created": null, "conv_rate": 0, "trips": 0, "city": "c0"},
  {"driver_id": 9, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "created": "2024-05-02T04:00:00", "conv_rate": 4, "trips": 4, "city": "c4"},
  {"driver_id": 10, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 1, "trips": 1, "city": "first"},
  {"driver_id": 10, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 2, "trips": 2, "city": "second"}]');
SELECT driver_id, conv_rate, trips FROM feast_online.driver_hourly WHERE driver_id IN (9, 10) ORDER BY 1;
-- composite keys: (driver, zone) pairs are distinct rows of driver_zone, one row of driver_hourly
SELECT feast_push('stats_push', '[
  {"driver_id": 11, "zone_id": "a", "event_ts": "2024-05-03T00:00:00", "conv_rate": 1, "trips": 1, "city": "p"},
  {"driver_id": 11, "zone_id": "b", "event_ts": "2024-05-03T01:00:00", "conv_rate": 2, "trips": 2, "city": "q"}]');
SELECT driver_id, zone_id, city FROM feast_online.driver_zone WHERE driver_id = 11 ORDER BY 2;
SELECT driver_id, conv_rate FROM feast_online.driver_hourly WHERE driver_id = 11;

-- bad rows fail the whole call and write nothing, in any view
SELECT count(*) AS hourly_before FROM feast_online.driver_hourly \gset
SELECT feast_push('stats_push', '[
  {"driver_id": 20, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "ok"},
  {"zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "no key"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "trips": 1, "city": "no conv"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "conv_rate": 1, "trips": 1, "city": "no time"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": null, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "null key"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "event_ts": null, "conv_rate": 1, "trips": 1, "city": "null time"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "typo", "citty": "x"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": 5}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": 7, "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "bad zone"}]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[5]');
\echo :SQLSTATE
SELECT feast_push('stats_push', '"rows"');
\echo :SQLSTATE
SELECT feast_push('stats_push', '{"driver_id": [1, 2], "zone_id": ["a"], "event_ts": [1, 2], "conv_rate": [1, 2], "trips": [1, 2], "city": ["a", "b"]}');
\echo :SQLSTATE
SELECT feast_push('stats_push', '{"driver_id": 1, "zone_id": "a", "event_ts": 1, "conv_rate": 1, "trips": 1, "city": "a"}');
\echo :SQLSTATE
SELECT feast_push('stats_push', '{"driver_id": [1], "zone_id": ["a"], "event_ts": [1], "conv_rate": [1], "trips": [1]}');
\echo :SQLSTATE
SELECT feast_push('stats_push', '{"driver_id": [1], "zone_id": ["a"], "event_ts": [1], "conv_rate": ["x"], "trips": [1], "city": ["a"]}');
\echo :SQLSTATE
SELECT count(*) = :hourly_before AS nothing_written FROM feast_online.driver_hourly;
SELECT count(*) AS zone_rows_for_20 FROM feast_online.driver_zone WHERE driver_id = 20;
-- the GUC lets unknown fields through
SET cfeast.unknown_fields = 'ignore';
SELECT feast_push('stats_push', '[{"driver_id": 20, "zone_id": "a", "event_ts": "2024-05-01T10:00:00", "conv_rate": 1, "trips": 1, "city": "typo", "citty": "x"}]');
SELECT feast_push('stats_push', '{"driver_id": [21], "zone_id": ["a"], "event_ts": [1], "conv_rate": [1], "trips": [1], "city": ["a"], "extra": "not even an array"}');
RESET cfeast.unknown_fields;
SET cfeast.unknown_fields = 'sometimes';
\echo :SQLSTATE
SELECT driver_id, city FROM feast_online.driver_zone WHERE driver_id IN (20, 21) ORDER BY 1;

-- "to": offline appends to the batch relation, mapping names back (trips -> raw_trips)
SELECT feast_push('stats_push', '[{"driver_id": 30, "zone_id": "q", "event_ts": "2024-06-01T00:00:00+02:00", "conv_rate": 0.5, "trips": 6, "city": "off"}]', 'offline');
SELECT * FROM push_stats;
SELECT count(*) AS online_rows_for_30 FROM feast_online.driver_hourly WHERE driver_id = 30;
SELECT feast_push('stats_push', '[{"driver_id": 31, "zone_id": "q", "event_ts": "2024-06-01T00:00:00", "created": "2024-06-01T00:00:05", "conv_rate": 0.5, "trips": 7, "city": "both"}]', 'online_and_offline');
SELECT driver_id, raw_trips, event_ts, created FROM push_stats ORDER BY driver_id;
SELECT driver_id, trips FROM feast_online.driver_hourly WHERE driver_id = 31;
SELECT feast_push('stats_push', '[]', 'sideways');
\echo :SQLSTATE
SELECT feast_push('stats_push', '[]', NULL);
\echo :SQLSTATE

-- sources: unknown, batch, unread, online-only
SELECT feast_push('nope', '[]');
\echo :SQLSTATE
SELECT feast_push('stats', '[]');
\echo :SQLSTATE
SELECT feast_apply_push_source('lonely', NULL);
SELECT feast_push('lonely', '[]');
\echo :SQLSTATE
SELECT feast_push(NULL, '[]');
\echo :SQLSTATE
SELECT feast_push('stats_push', NULL);
\echo :SQLSTATE
-- a push source without a batch source: online only, timestamp field "event_timestamp"
SELECT feast_apply_feature_view('lonely_view', '{zone}', '[{"name": "load", "dtype": "float64"}]', 'lonely');
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2024-01-01T00:00:00Z", "created_timestamp": null, "load": 0.5}]');
SELECT * FROM feast_online.lonely_view;
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2024-01-01T00:00:00Z", "load": 0.5}]', 'offline');
\echo :SQLSTATE

-- an entityless view keeps one row: the newest
SELECT feast_apply_feature_view('global_stats', '{}', '[{"name": "load", "dtype": "float64"}]', 'lonely');
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2024-01-02T00:00:00Z", "load": 2},
                              {"zone_id": "m", "event_timestamp": "2024-01-03T00:00:00Z", "load": 3},
                              {"zone_id": "o", "event_timestamp": "2024-01-01T00:00:00Z", "load": 1}]');
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2023-01-01T00:00:00Z", "load": 0}]');
SELECT * FROM feast_online.global_stats;

-- a registry change is seen by the next push in this session (cached plans and fields are flushed)
SELECT feast_apply_feature_view('lonely_view', '{zone}', '[{"name": "load", "dtype": "float64"}, {"name": "busy", "dtype": "bool"}]', 'lonely');
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2024-02-01T00:00:00Z", "load": 0.5}]');
\echo :SQLSTATE
SELECT feast_apply_feature_view('global_stats', '{}', '[{"name": "load", "dtype": "float64"}, {"name": "busy", "dtype": "bool"}]', 'lonely');
SELECT feast_push('lonely', '[{"zone_id": "n", "event_timestamp": "2024-02-01T00:00:00Z", "load": 0.5, "busy": true}]');
SELECT zone_id, load, busy FROM feast_online.lonely_view;
-- and a rolled-back push leaves nothing
BEGIN;
SELECT feast_push('lonely', '[{"zone_id": "r", "event_timestamp": "2024-02-01T00:00:00Z", "load": 9, "busy": false}]');
ROLLBACK;
SELECT count(*) AS rolled_back_rows FROM feast_online.lonely_view WHERE zone_id = 'r';
-- pushes are recorded for freshness
SELECT feature_view, last_push_at IS NOT NULL AS pushed FROM feast.push_activity ORDER BY 1;
-- ... by the push itself, for a role that may write the views (SELECT, INSERT, UPDATE: what
-- INSERT ... ON CONFLICT DO UPDATE needs) but not feast.push_activity
-- (a backend records a view's push at most once a second: wait that long first)
UPDATE feast.push_activity SET last_push_at = NULL;
SELECT pg_sleep(1.1);
DROP ROLE IF EXISTS regress_push_writer;
CREATE ROLE regress_push_writer;
GRANT SELECT, INSERT, UPDATE ON feast_online.lonely_view, feast_online.global_stats TO regress_push_writer;
SET ROLE regress_push_writer;
SELECT feast_push('lonely', '[{"zone_id": "w", "event_timestamp": "2024-03-01T00:00:00Z", "load": 1, "busy": true}]');
UPDATE feast.push_activity SET last_push_at = now();
\echo :SQLSTATE
RESET ROLE;
SELECT feature_view, last_push_at IS NOT NULL AS pushed FROM feast.push_activity ORDER BY 1;
-- every one of the three is needed: without UPDATE a push is refused
REVOKE UPDATE ON feast_online.lonely_view FROM regress_push_writer;
SET ROLE regress_push_writer;
SELECT feast_push('lonely', '[{"zone_id": "w", "event_timestamp": "2024-03-02T00:00:00Z", "load": 2, "busy": true}]');
\echo :SQLSTATE
RESET ROLE;
SELECT zone_id, load FROM feast_online.lonely_view WHERE zone_id = 'w';
REVOKE ALL ON feast_online.lonely_view, feast_online.global_stats FROM regress_push_writer;
DROP ROLE regress_push_writer;

-- the same rule once more, then on a table with a trigger
SELECT feast_push('stats_push', '[
  {"driver_id": 40, "zone_id": "a", "event_ts": "2024-05-02T01:00:00", "conv_rate": 1, "trips": 1, "city": "t1"},
  {"driver_id": 40, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 3, "trips": 3, "city": "t3"},
  {"driver_id": 41, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "created": "2024-05-02T05:00:00", "conv_rate": 5, "trips": 5, "city": "c5"},
  {"driver_id": 41, "zone_id": "a", "event_ts": "2024-05-02T03:00:00", "conv_rate": 0, "trips": 0, "city": "c0"}]');
SELECT feast_push('stats_push', '[{"driver_id": 40, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "t2"}]');
SELECT driver_id, conv_rate, trips FROM feast_online.driver_hourly WHERE driver_id IN (40, 41) ORDER BY 1;
CREATE TABLE push_audit (driver_id bigint, trips int);
CREATE FUNCTION push_audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO push_audit VALUES (NEW.driver_id, NEW.trips); RETURN NEW; END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE ON feast_online.driver_hourly FOR EACH ROW EXECUTE FUNCTION push_audit_fn();
SELECT feast_push('stats_push', '[{"driver_id": 42, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "t2"},
                                  {"driver_id": 40, "zone_id": "a", "event_ts": "2024-05-02T04:00:00", "conv_rate": 4, "trips": 4, "city": "t4"}]');
SELECT * FROM push_audit ORDER BY driver_id;
DROP TRIGGER audit ON feast_online.driver_hourly;
-- under REPEATABLE READ and SERIALIZABLE the SQL path writes (with the same rule)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT feast_push('stats_push', '[{"driver_id": 44, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "rr"},
                                  {"driver_id": 40, "zone_id": "a", "event_ts": "2024-05-02T01:00:00", "conv_rate": 0, "trips": 0, "city": "stale"}]');
COMMIT;
BEGIN ISOLATION LEVEL SERIALIZABLE;
SELECT feast_push('stats_push', '[{"driver_id": 45, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": 2, "city": "ser"}]');
COMMIT;
SELECT driver_id, trips FROM feast_online.driver_hourly WHERE driver_id IN (40, 44, 45) ORDER BY 1;
-- a NOT NULL that a user added to a feature column is enforced with PostgreSQL's own error
ALTER TABLE feast_online.driver_hourly ALTER COLUMN trips SET NOT NULL;
SELECT feast_push('stats_push', '[{"driver_id": 43, "zone_id": "a", "event_ts": "2024-05-02T02:00:00", "conv_rate": 2, "trips": null, "city": "t2"}]');
\echo :SQLSTATE
SELECT count(*) AS rows_for_43 FROM feast_online.driver_hourly WHERE driver_id = 43;
ALTER TABLE feast_online.driver_hourly ALTER COLUMN trips DROP NOT NULL;

DROP TABLE push_stats, push_audit;
DROP FUNCTION push_audit_fn;
