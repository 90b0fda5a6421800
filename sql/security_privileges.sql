-- security_privileges: the caller's rights apply; feast_grant gives each role exactly one action
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS sec_trips;
DROP SCHEMA IF EXISTS sec_train CASCADE;
DO $$
DECLARE r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname IN ('regress_nobody', 'regress_pusher', 'regress_reader',
               'regress_trainer', 'regress_materializer', 'regress_applier') LOOP
        EXECUTE format('DROP OWNED BY %I CASCADE', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
RESET client_min_messages;

CREATE ROLE regress_nobody;
CREATE ROLE regress_pusher;
CREATE ROLE regress_reader;
CREATE ROLE regress_trainer;
CREATE ROLE regress_materializer;
CREATE ROLE regress_applier;

CREATE TABLE sec_trips (driver_id bigint, conv_rate real, event_timestamp timestamptz, created timestamptz);
-- training sets are created where the caller says: CREATE on that schema is the caller's own affair
CREATE SCHEMA sec_train;
GRANT CREATE, USAGE ON SCHEMA sec_train TO regress_trainer, regress_nobody;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('sec_trips_batch', 'sec_trips', 'event_timestamp', 'created');
SELECT feast_apply_push_source('sec_trips_push', 'sec_trips_batch');
SELECT feast_apply_feature_view('sec_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]', 'sec_trips_push');
SELECT feast_apply_feature_service('sec_service', '{sec_stats}');

-- a role with no grants: PostgreSQL's own 42501, and nothing written
SET ROLE regress_nobody;
SELECT feast_push('sec_trips_push', '[{"driver_id": 1, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
\echo :SQLSTATE
SELECT feast_push('sec_trips_push', '[{"driver_id": 1, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'offline');
\echo :SQLSTATE
SELECT * FROM feast_online.sec_stats;
\echo :SQLSTATE
SELECT feast_apply_entity('rider');
\echo :SQLSTATE
SELECT feast_delete('feature_service', 'sec_service');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'read', 'sec_stats');
\echo :SQLSTATE
SELECT feast_get_online_features('{sec_stats:conv_rate}', '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_create_training_set('sec_train.ts_nobody', 'SELECT 1::bigint AS driver_id, now() AS event_timestamp', '{sec_stats:conv_rate}');
\echo :SQLSTATE
SELECT feast_materialize('2025-01-01', '2026-11-01', '{sec_stats}');
\echo :SQLSTATE
-- the registry itself is readable by everyone
SELECT name FROM feast.feature_views;
RESET ROLE;
SELECT (SELECT count(*) FROM feast_online.sec_stats) AS online_rows, (SELECT count(*) FROM sec_trips) AS offline_rows,
       (SELECT count(*) FROM feast.entities) AS entities, (SELECT count(*) FROM feast.feature_services) AS services;

-- feast_grant returns the statements it ran
SELECT feast_grant('regress_pusher', 'push', 'sec_trips_push');
SELECT feast_grant('regress_reader', 'read', 'sec_service');
SELECT feast_grant('regress_trainer', 'train', 'sec_stats');
SELECT feast_grant('regress_materializer', 'materialize', 'sec_stats');
SELECT feast_grant('regress_applier', 'apply', '*');
-- granting again is harmless
SELECT count(*) FROM feast_grant('regress_reader', 'read', 'sec_stats');

-- the pusher pushes online and offline.  INSERT ... ON CONFLICT DO UPDATE needs SELECT
-- on the columns it sets, so it reads the online table too; it cannot read the batch relation
SET ROLE regress_pusher;
SELECT feast_push('sec_trips_push', '[{"driver_id": 1, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
SELECT feast_push('sec_trips_push', '[{"driver_id": 2, "conv_rate": 0.25, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'online_and_offline');
-- an older row is stale, a newer one replaces
SELECT feast_push('sec_trips_push', '[{"driver_id": 1, "conv_rate": 0.9, "event_timestamp": "2025-01-01T00:00:00Z"}]');
SELECT feast_push('sec_trips_push', '{"driver_id": [2], "conv_rate": [0.75], "event_timestamp": ["2026-01-02T00:00:00Z"]}');
SELECT driver_id, conv_rate FROM feast_online.sec_stats ORDER BY driver_id;
SELECT count(*) FROM sec_trips;
\echo :SQLSTATE
SELECT feast_apply_entity('rider');
\echo :SQLSTATE
DELETE FROM feast_online.sec_stats;
\echo :SQLSTATE
RESET ROLE;
SELECT driver_id, conv_rate, event_timestamp FROM feast_online.sec_stats ORDER BY driver_id;
SELECT driver_id, conv_rate FROM sec_trips ORDER BY driver_id;

-- the reader reads the online table and writes nothing
SET ROLE regress_reader;
SELECT driver_id, conv_rate FROM feast_online.sec_stats ORDER BY driver_id;
SELECT feast_get_online_features('{sec_stats:conv_rate}', '{"driver_id": [1, 2, 3]}') -> 'results' -> 1;
SELECT feast_create_training_set('sec_train.ts_reader', 'SELECT 1::bigint AS driver_id, now() AS event_timestamp', '{sec_stats:conv_rate}');
\echo :SQLSTATE
SELECT feast_push('sec_trips_push', '[{"driver_id": 3, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
\echo :SQLSTATE
SELECT count(*) FROM sec_trips;
\echo :SQLSTATE
RESET ROLE;

-- the trainer reads the batch relation, not the online table
SET ROLE regress_trainer;
SELECT count(*) FROM sec_trips;
SELECT feast_create_training_set('sec_train.ts', 'SELECT 2::bigint AS driver_id, ''2026-01-05+00''::timestamptz AS event_timestamp',
                                 '{sec_stats:conv_rate}');
SELECT * FROM sec_train.ts;
SELECT feast_get_online_features('{sec_stats:conv_rate}', '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT count(*) FROM feast_online.sec_stats;
\echo :SQLSTATE
INSERT INTO sec_trips VALUES (9, 0.1, now(), NULL);
\echo :SQLSTATE
RESET ROLE;

-- the materializer reads the batch relation and writes the online table and the intervals
SET ROLE regress_materializer;
SELECT count(*) FROM sec_trips;
SET client_min_messages = warning;   -- the progress NOTICE carries a rate
SELECT feast_materialize('2025-01-01', '2026-11-01', '{sec_stats}');
RESET client_min_messages;
INSERT INTO feast_online.sec_stats VALUES (7, 0.7, '2026-01-02T00:00:00Z', NULL)
    ON CONFLICT (driver_id) DO UPDATE SET conv_rate = EXCLUDED.conv_rate;
-- the intervals are written by feast_materialize only
INSERT INTO feast.materialization_intervals (feature_view, start_ts, end_ts, rows_written)
    VALUES ('sec_stats', '2026-01-01', '2026-01-02', 1);
\echo :SQLSTATE
DELETE FROM feast_online.sec_stats;
\echo :SQLSTATE
SELECT feast_push('sec_trips_push', '[{"driver_id": 3, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'offline');
\echo :SQLSTATE
RESET ROLE;

-- the applier defines objects through the functions; the online tables it creates belong to
-- the extension's owner, so it neither pushes to nor reads them without those grants, and
-- it cannot define a view over a batch relation it may not read
ALTER TABLE sec_trips ADD COLUMN trips bigint;
SET ROLE regress_applier;
SELECT feast_apply_entity('rider');
SELECT feast_apply_push_source('sec_rider_push', NULL);
SELECT feast_apply_feature_view('sec_rider', '{rider}', '[{"name": "rating", "dtype": "float64"}]', 'sec_rider_push');
SELECT feast_push('sec_rider_push', '[{"rider": 1, "rating": 4.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
\echo :SQLSTATE
SELECT rider, rating FROM feast_online.sec_rider;
\echo :SQLSTATE
SELECT feast_apply_feature_view('sec_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int64"}]', 'sec_trips_push');
\echo :SQLSTATE
SELECT feast_delete('feature_view', 'sec_rider');
SELECT feast_delete('data_source', 'sec_rider_push');
SELECT feast_delete('entity', 'rider');
-- apply grants no data access
SELECT count(*) FROM feast_online.sec_stats;
\echo :SQLSTATE
RESET ROLE;
SELECT name, online_table FROM feast.feature_views ORDER BY name;
SELECT feature_view, name FROM feast.features ORDER BY 1, 2;

-- bad arguments
SELECT feast_grant('regress_nobody', 'write', 'sec_stats');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'read', 'no_such_view');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'push', 'sec_trips_batch');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'push', 'sec_stats');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'read', 'Sec_Stats');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'read', 'sec_stats; DROP TABLE sec_trips');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'read', 'sec_stats_and_a_name_longer_than_sixty_three_bytes_which_is_refused');
\echo :SQLSTATE
SELECT feast_grant('regress_no_such_role', 'read', 'sec_stats');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', 'apply', 'sec_stats');
\echo :SQLSTATE
SELECT feast_grant(NULL, 'read', 'sec_stats');
\echo :SQLSTATE
SELECT feast_grant('regress_nobody', NULL, 'sec_stats');
\echo :SQLSTATE
-- nothing was granted by the failed calls
SELECT count(*) AS nobody_privileges FROM information_schema.role_table_grants WHERE grantee = 'regress_nobody';

-- role names that need quoting: quotes, a semicolon, upper case, 64+ bytes (truncated to 63 like any name)
SET client_min_messages = warning;
DROP ROLE IF EXISTS "regress_Odd""; DROP TABLE sec_trips; --";
DROP ROLE IF EXISTS regress_long_role_name_that_goes_on_and_on_past_the_sixty_three_b;
RESET client_min_messages;
CREATE ROLE "regress_Odd""; DROP TABLE sec_trips; --";
SELECT feast_grant('regress_Odd"; DROP TABLE sec_trips; --', 'read', 'sec_stats');
SET ROLE "regress_Odd""; DROP TABLE sec_trips; --";
SELECT count(*) FROM feast_online.sec_stats;
RESET ROLE;
SET client_min_messages = warning;   -- the truncation NOTICE
CREATE ROLE regress_long_role_name_that_goes_on_and_on_past_the_sixty_three_byte_limit;
SELECT feast_grant('regress_long_role_name_that_goes_on_and_on_past_the_sixty_three_byte_limit', 'read', 'sec_stats');
RESET client_min_messages;
SELECT grantee, privilege_type FROM information_schema.role_table_grants
 WHERE table_name = 'sec_stats' AND (grantee LIKE 'regress_Odd%' OR grantee LIKE 'regress_long%') ORDER BY 1, 2;
SELECT count(*) AS sec_trips_still_there FROM sec_trips;

-- clean up
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP TABLE sec_trips;
DROP SCHEMA sec_train CASCADE;
DROP OWNED BY regress_nobody, regress_pusher, regress_reader, regress_trainer, regress_materializer,
              regress_applier, "regress_Odd""; DROP TABLE sec_trips; --",
              regress_long_role_name_that_goes_on_and_on_past_the_sixty_three_b CASCADE;
DROP ROLE regress_nobody, regress_pusher, regress_reader, regress_trainer, regress_materializer,
          regress_applier, "regress_Odd""; DROP TABLE sec_trips; --",
          regress_long_role_name_that_goes_on_and_on_past_the_sixty_three_b;
RESET client_min_messages;
