-- security_names: names that reach dynamic SQL are validated (cfeast's own) or quoted (the user's relations)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP SCHEMA IF EXISTS "Odd ""Schema""; --" CASCADE;
DROP TABLE IF EXISTS nm_canary;
RESET client_min_messages;
CREATE TABLE nm_canary (x int);
INSERT INTO nm_canary VALUES (1);

-- cfeast's own names: refused before any SQL is built, with 42602
SELECT feast_apply_entity('Driver');
\echo :SQLSTATE
SELECT feast_apply_entity('driver"; DROP TABLE nm_canary; --');
\echo :SQLSTATE
SELECT feast_apply_entity('driver', 'driver_id; DROP TABLE nm_canary');
\echo :SQLSTATE
SELECT feast_apply_entity('a234567890123456789012345678901234567890123456789012345678901234');
\echo :SQLSTATE
SELECT feast_apply_entity('');
\echo :SQLSTATE
SELECT feast_apply_entity('1driver');
\echo :SQLSTATE
SELECT feast_apply_entity('drivér');
\echo :SQLSTATE
SELECT feast_apply_push_source('push''; DROP TABLE nm_canary; --', NULL);
\echo :SQLSTATE
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('nm_push', NULL);
SELECT feast_apply_feature_view('Stats', '{driver}', '[{"name": "x", "dtype": "int64"}]', 'nm_push');
\echo :SQLSTATE
SELECT feast_apply_feature_view('stats', '{driver}', '[{"name": "X\"; DROP TABLE nm_canary; --", "dtype": "int64"}]', 'nm_push');
\echo :SQLSTATE
SELECT feast_apply_feature_view('stats', '{driver}', '[{"name": "x", "dtype": "int64); DROP TABLE nm_canary; --"}]', 'nm_push');
\echo :SQLSTATE
SELECT feast_apply_feature_service('svc"', '{stats}');
\echo :SQLSTATE
SELECT feast_delete('entity', 'driver'' OR true; --');
\echo :SQLSTATE
-- look-ups by name are parameterized: an odd name is simply unknown
SELECT feast_push('nm_push''; DROP TABLE nm_canary; --', '[]');
\echo :SQLSTATE
SELECT feast_push('a234567890123456789012345678901234567890123456789012345678901234567890', '[]');
\echo :SQLSTATE
-- a field name with quotes is just an unknown field
SELECT feast_apply_feature_view('nm_stats', '{driver}', '[{"name": "x", "dtype": "int64"}]', 'nm_push');
SELECT feast_push('nm_push', '[{"driver_id": 1, "x": 1, "event_timestamp": 0, "x\"; DROP TABLE nm_canary; --": 1}]');
\echo :SQLSTATE

-- 63 bytes is the limit, and works end to end (also for an entityless view's one-row index)
SELECT feast_apply_entity('e23456789012345678901234567890123456789012345678901234567890123',
                          'k23456789012345678901234567890123456789012345678901234567890123');
SELECT feast_apply_push_source('p23456789012345678901234567890123456789012345678901234567890123', NULL);
SELECT feast_apply_feature_view('v23456789012345678901234567890123456789012345678901234567890123',
       '{e23456789012345678901234567890123456789012345678901234567890123}',
       '[{"name": "f23456789012345678901234567890123456789012345678901234567890123", "dtype": "string"}]',
       'p23456789012345678901234567890123456789012345678901234567890123');
SELECT feast_apply_feature_view('w23456789012345678901234567890123456789012345678901234567890123', '{}',
       '[{"name": "g", "dtype": "string"}]', 'p23456789012345678901234567890123456789012345678901234567890123');
SELECT feast_push('p23456789012345678901234567890123456789012345678901234567890123',
       '[{"k23456789012345678901234567890123456789012345678901234567890123": 1,
          "f23456789012345678901234567890123456789012345678901234567890123": "x", "g": "y",
          "event_timestamp": "2026-01-01T00:00:00Z"}]');
SELECT * FROM feast_online.v23456789012345678901234567890123456789012345678901234567890123;
SELECT g FROM feast_online.w23456789012345678901234567890123456789012345678901234567890123;

-- the user's relation and columns may need quoting: quotes, semicolons, spaces, upper case
CREATE SCHEMA "Odd ""Schema""; --";
CREATE TABLE "Odd ""Schema""; --"."Trips'; DROP TABLE nm_canary; --" (
    "Driver ""Id""" bigint, "Conv;Rate" real, "Event TS" timestamptz, "CREATED" timestamp);
SELECT feast_apply_batch_source('nm_batch', '"Odd ""Schema""; --"."Trips''; DROP TABLE nm_canary; --"', 'Event TS',
       'CREATED', '{"Driver \"Id\"": "driver_id", "Conv;Rate": "conv_rate"}');
SELECT feast_apply_push_source('nm_push2', 'nm_batch');
SELECT feast_apply_feature_view('nm_trips', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]', 'nm_push2');
SELECT feast_push('nm_push2', '[{"driver_id": 7, "conv_rate": 0.5, "Event TS": "2026-01-01T00:00:00Z", "CREATED": "2026-01-01T00:00:05Z"}]',
                  'online_and_offline');
SELECT * FROM "Odd ""Schema""; --"."Trips'; DROP TABLE nm_canary; --";
SELECT driver_id, conv_rate, event_timestamp, created_timestamp FROM feast_online.nm_trips;
SELECT feast_grant('public', 'push', 'nm_push2');
SELECT feast_grant('public', 'train', 'nm_trips');
SELECT count(*) AS canary_alive FROM nm_canary;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP SCHEMA "Odd ""Schema""; --" CASCADE;
DROP TABLE nm_canary;
RESET client_min_messages;
