-- security_model: one test per sentence of the privilege model (sql/cfeast--0.2--0.3.sql),
-- each an attack that worked before it
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS sm_secret, sm_open, sm_a, sm_b;
DROP VIEW IF EXISTS sm_who;
DROP SCHEMA IF EXISTS sm_hidden CASCADE;
DROP FUNCTION IF EXISTS sm_escalate();
DO $$
DECLARE r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_sm\_%' LOOP
        EXECUTE format('DROP OWNED BY %I CASCADE', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
RESET client_min_messages;

CREATE ROLE regress_sm_applier;
CREATE ROLE regress_sm_materializer;
CREATE ROLE regress_sm_reader;
CREATE ROLE regress_sm_admin;
SELECT count(*) AS statements FROM feast_grant('regress_sm_applier', 'apply', '*');

CREATE TABLE sm_secret (driver_id bigint, salary real, event_timestamp timestamptz);
INSERT INTO sm_secret VALUES (1, 99999, '2026-01-01');
CREATE TABLE sm_open (driver_id bigint, conv_rate real, trips int, event_timestamp timestamptz);
INSERT INTO sm_open VALUES (1, 0.5, 3, '2026-01-01');
GRANT SELECT ON sm_open TO regress_sm_applier;
SELECT feast_apply_entity('driver', 'driver_id');

-------------------------------------------------------------------------------
-- 3. applying a source or a view needs SELECT on every column it uses
-------------------------------------------------------------------------------
SET ROLE regress_sm_applier;
-- a relation it cannot read at all
SELECT feast_apply_batch_source('sm_secret_batch', 'sm_secret', 'event_timestamp');
\echo :SQLSTATE
SELECT feast_apply('{"data_sources": [{"name": "sm_secret_batch", "kind": "batch", "relation": "sm_secret",
                                       "timestamp_field": "event_timestamp"}]}');
\echo :SQLSTATE
RESET ROLE;
-- some columns granted, not the feature's
GRANT SELECT (driver_id, event_timestamp) ON sm_secret TO regress_sm_applier;
SET ROLE regress_sm_applier;
SELECT feast_apply_batch_source('sm_secret_batch', 'sm_secret', 'event_timestamp');
SELECT feast_apply_feature_view('sm_secret_view', '{driver}', '[{"name": "salary", "dtype": "float32"}]', 'sm_secret_batch');
\echo :SQLSTATE
-- a view over a source another role registered, reading a column it may not read
RESET ROLE;
SELECT feast_apply_batch_source('sm_secret_admin', 'sm_secret', 'event_timestamp');
SET ROLE regress_sm_applier;
SELECT feast_apply_feature_view('sm_secret_view', '{driver}', '[{"name": "salary", "dtype": "float32"}]', 'sm_secret_admin');
\echo :SQLSTATE
-- a relation in a schema it may not use, though the table itself is granted
RESET ROLE;
CREATE SCHEMA sm_hidden;
CREATE TABLE sm_hidden.t (driver_id bigint, x real, event_timestamp timestamptz);
GRANT SELECT ON sm_hidden.t TO regress_sm_applier;
SET ROLE regress_sm_applier;
SELECT feast_apply_batch_source('sm_hidden_batch', 'sm_hidden.t', 'event_timestamp');
\echo :SQLSTATE
SELECT feast_apply('{"data_sources": [{"name": "sm_hidden_batch", "kind": "batch", "relation": "sm_hidden.t",
                                       "timestamp_field": "event_timestamp"}]}');
\echo :SQLSTATE
-- every column it uses granted: applied
SELECT feast_apply_batch_source('sm_open_batch', 'sm_open', 'event_timestamp');
SELECT feast_apply_feature_view('sm_open_view', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}]', 'sm_open_batch');
RESET ROLE;
SELECT name FROM feast.feature_views ORDER BY name;

-------------------------------------------------------------------------------
-- 1. online tables belong to the extension's owner: no triggers, rules or policies from apply roles
-------------------------------------------------------------------------------
SELECT c.relowner = x.extowner AS owned_by_extension_owner, pg_get_userbyid(c.relowner) AS owner
  FROM pg_class c, pg_extension x
 WHERE c.oid = 'feast_online.sm_open_view'::regclass AND x.extname = 'cfeast';
-- the attack: a trigger that makes the applier superuser when the operator next writes the view
CREATE FUNCTION sm_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE regress_sm_applier SUPERUSER;
    RETURN NEW;
END $$;
ALTER FUNCTION sm_escalate() OWNER TO regress_sm_applier;
SET ROLE regress_sm_applier;
CREATE TRIGGER sm_escalate BEFORE INSERT OR UPDATE ON feast_online.sm_open_view
    FOR EACH ROW EXECUTE FUNCTION sm_escalate();
\echo :SQLSTATE
RESET ROLE;
-- the operator materializes every view: the applier is still not superuser
SET client_min_messages = warning;
SELECT feast_materialize('2000-01-01', '2026-11-01');
RESET client_min_messages;
SELECT driver_id, conv_rate FROM feast_online.sm_open_view;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_sm_applier';
SELECT count(*) AS user_triggers FROM pg_trigger WHERE tgrelid = 'feast_online.sm_open_view'::regclass AND NOT tgisinternal;
-- nor rules, policies or row security
SET ROLE regress_sm_applier;
CREATE RULE sm_rule AS ON INSERT TO feast_online.sm_open_view DO ALSO NOTIFY sm;
\echo :SQLSTATE
CREATE POLICY sm_policy ON feast_online.sm_open_view USING (false);
\echo :SQLSTATE
ALTER TABLE feast_online.sm_open_view ENABLE ROW LEVEL SECURITY;
\echo :SQLSTATE
-- nor put a table of its own where the next view's online table goes
CREATE TABLE feast_online.sm_next (driver_id bigint);
\echo :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- 2. the registry changes only through the functions
-------------------------------------------------------------------------------
SET ROLE regress_sm_applier;
UPDATE feast.feature_views SET online_table = 'sm_secret' WHERE name = 'sm_open_view';
\echo :SQLSTATE
UPDATE feast.data_sources SET relation = 'sm_secret' WHERE name = 'sm_open_batch';
\echo :SQLSTATE
UPDATE feast.features SET dtype = 'string' WHERE feature_view = 'sm_open_view';
\echo :SQLSTATE
INSERT INTO feast.entities (name, join_key, value_type) VALUES ('forged', 'forged', 'int64');
\echo :SQLSTATE
DELETE FROM feast.feature_services;
\echo :SQLSTATE
TRUNCATE feast.feature_views;
\echo :SQLSTATE
DELETE FROM feast.push_activity;
\echo :SQLSTATE
-- nor through the functions' inner parts
SELECT feast._do_apply_entity('forged', NULL, 'int64', '', '{}');
\echo :SQLSTATE
SELECT feast._apply_entity('forged', NULL, 'int64', '', '{}');
\echo :SQLSTATE
SELECT feast._exec_as_caller('ALTER ROLE regress_sm_applier SUPERUSER');
\echo :SQLSTATE
SELECT feast._delete('feature_view', 'sm_open_view');
\echo :SQLSTATE
RESET ROLE;
SELECT v.name, v.online_table, s.relation, f.dtype
  FROM feast.feature_views v JOIN feast.data_sources s ON s.name = v.source
  JOIN feast.features f ON f.feature_view = v.name
 WHERE v.name = 'sm_open_view';
SELECT count(*) AS forged FROM feast.entities WHERE name = 'forged';
-- EXECUTE on the registry functions is what apply grants; a role without it is refused
SET ROLE regress_sm_reader;
SELECT feast_apply_entity('forged');
\echo :SQLSTATE
SELECT feast_delete('feature_view', 'sm_open_view');
\echo :SQLSTATE
SELECT feast_grant('regress_sm_reader', 'read', 'sm_open_view');
\echo :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- 4. materialize: the caller and the view's owner of record may both read the source now
-------------------------------------------------------------------------------
SELECT name, applied_by FROM feast.feature_views ORDER BY name;
-- the applier loses its grant on the source: the operator's run over all views is refused,
-- and the applier's online table does not receive the rows
RESET ROLE;
TRUNCATE feast_online.sm_open_view;
REVOKE SELECT ON sm_open FROM regress_sm_applier;
SELECT feast_materialize('2000-01-01', '2026-11-01');
\echo :SQLSTATE
SELECT count(*) AS online_rows FROM feast_online.sm_open_view;
-- re-applied by a role that may read it, the view has that owner of record
GRANT SELECT ON sm_open TO regress_sm_admin;
GRANT EXECUTE ON FUNCTION feast_apply_feature_view(text, text[], jsonb, text, interval, boolean, text, jsonb) TO regress_sm_admin;
SET ROLE regress_sm_admin;
SELECT feast_apply_feature_view('sm_open_view', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]', 'sm_open_batch');
RESET ROLE;
SELECT applied_by FROM feast.feature_views WHERE name = 'sm_open_view';
SET client_min_messages = warning;
SELECT feast_materialize('2000-01-01', '2026-11-01');
RESET client_min_messages;
SELECT driver_id, conv_rate, trips FROM feast_online.sm_open_view;
-- a caller who may not read the source is refused, though the owner of record may
SELECT count(*) AS statements FROM feast_grant('regress_sm_materializer', 'materialize', 'sm_open_view');
REVOKE SELECT ON sm_open FROM regress_sm_materializer;
SET ROLE regress_sm_materializer;
SELECT feast_materialize('2000-01-01', '2026-11-01', '{sm_open_view}');
\echo :SQLSTATE
RESET ROLE;
-- a view whose owner of record no longer exists is not materialized until re-applied
CREATE ROLE regress_sm_gone;
GRANT SELECT ON sm_open TO regress_sm_gone;
SELECT count(*) AS statements FROM feast_grant('regress_sm_gone', 'apply', '*');
SET ROLE regress_sm_gone;
SELECT feast_apply_feature_view('sm_gone_view', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'sm_open_batch');
RESET ROLE;
DROP OWNED BY regress_sm_gone;
DROP ROLE regress_sm_gone;
SELECT feast_materialize('2000-01-01', '2026-11-01', '{sm_gone_view}');
\echo :SQLSTATE
SELECT feast_apply_feature_view('sm_gone_view', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'sm_open_batch',
                                description => 're-applied');
SET client_min_messages = warning;
SELECT feast_materialize('2000-01-01', '2026-11-01', '{sm_gone_view}');
RESET client_min_messages;
SELECT feast_delete('feature_view', 'sm_gone_view');
-- the source is read as the owner of record: its code runs with that role's rights, not the caller's
CREATE VIEW sm_who AS SELECT driver_id, current_user::text AS reader, event_timestamp FROM sm_open;
GRANT SELECT ON sm_who TO regress_sm_applier;
SELECT count(*) AS statements FROM feast_grant('regress_sm_applier', 'apply', '*');
SET ROLE regress_sm_applier;
SELECT feast_apply_batch_source('sm_who_batch', 'sm_who', 'event_timestamp');
SELECT feast_apply_feature_view('sm_who_view', '{driver}', '[{"name": "reader", "dtype": "string"}]', 'sm_who_batch');
RESET ROLE;
SET client_min_messages = warning;
SELECT feast_materialize('2000-01-01', '2026-11-01', '{sm_who_view}');
RESET client_min_messages;
SELECT current_user AS caller, reader FROM feast_online.sm_who_view;

-------------------------------------------------------------------------------
-- 5. intervals are written by feast_materialize only, for the view it wrote
-------------------------------------------------------------------------------
CREATE TABLE sm_a (driver_id bigint, v real, event_timestamp timestamptz);
CREATE TABLE sm_b (driver_id bigint, v real, event_timestamp timestamptz);
INSERT INTO sm_a VALUES (1, 1, '2026-01-01');
INSERT INTO sm_b VALUES (1, 2, '2026-01-01 12:00');
SELECT feast_apply_batch_source('sm_a_batch', 'sm_a', 'event_timestamp');
SELECT feast_apply_batch_source('sm_b_batch', 'sm_b', 'event_timestamp');
SELECT feast_apply_feature_view('sm_view_a', '{driver}', '[{"name": "v", "dtype": "float32"}]', 'sm_a_batch');
SELECT feast_apply_feature_view('sm_view_b', '{driver}', '[{"name": "v", "dtype": "float32"}]', 'sm_b_batch');
SET client_min_messages = warning;
SELECT feast_materialize('2025-01-01', '2026-01-01', '{sm_view_b}');
RESET client_min_messages;
SELECT feast_grant('regress_sm_materializer', 'materialize', 'sm_view_a');
SET ROLE regress_sm_materializer;
-- the forged interval: view_b "done" up to 2026-11-01, so the next incremental run would skip 2026-01-01 12:00
INSERT INTO feast.materialization_intervals (feature_view, start_ts, end_ts, rows_written)
VALUES ('sm_view_b', '2026-01-01', '2026-11-01', 0);
\echo :SQLSTATE
UPDATE feast.materialization_intervals SET end_ts = '2026-11-01' WHERE feature_view = 'sm_view_b';
\echo :SQLSTATE
-- materializing its own view records the interval; the other view is not its to materialize
SET client_min_messages = warning;
SELECT feast_materialize('2025-01-01', '2026-06-01', '{sm_view_a}');
RESET client_min_messages;
SELECT feast_materialize('2025-01-01', '2026-11-01', '{sm_view_b}');
\echo :SQLSTATE
RESET ROLE;
SELECT feature_view, start_ts, end_ts, rows_written FROM feast.materialization_intervals
 WHERE feature_view LIKE 'sm_view_%' ORDER BY feature_view, end_ts;
-- the operator's incremental run picks up view_b's row
SET client_min_messages = warning;
SELECT feast_materialize_incremental('2026-11-01', '{sm_view_b}');
RESET client_min_messages;
SELECT driver_id, v FROM feast_online.sm_view_b;

-------------------------------------------------------------------------------
-- 6. each feast_grant action on its object only
-------------------------------------------------------------------------------
SELECT feast_apply_push_source('sm_push', NULL);
SELECT feast_apply_feature_view('sm_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float32"},
    {"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32"}]', 'sm_push');
SELECT feast_apply_feature_service('sm_conv', '{sm_stats:conv_rate}');
SELECT feast_apply_feature_service('sm_conv_and_a', '{sm_stats:conv_rate, sm_stats:trips, sm_view_a}');
SELECT feast_push('sm_push', '[{"driver_id": 1, "conv_rate": 0.5, "trips": 7, "rating": 4.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
-- read on a service: exactly the columns it answers from
SELECT feast_grant('regress_sm_reader', 'read', 'sm_conv');
SET ROLE regress_sm_reader;
SELECT feast_get_online_features(feature_service => 'sm_conv', entity_rows => '{"driver_id": [1, 2]}');
SELECT feast_get_online_features('{sm_stats:conv_rate}', '{"driver_id": [1]}') -> 'results' -> 1 -> 'values' AS conv_rate;
SELECT feast_get_online_features('{sm_stats:trips}', '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT rating FROM feast_online.sm_stats;
\echo :SQLSTATE
SELECT driver_id, conv_rate FROM feast_online.sm_stats;
SELECT count(*) FROM feast_online.sm_view_a;
\echo :SQLSTATE
RESET ROLE;
-- an error inside a read through column grants leaves the caller's identity as it was
ALTER TABLE feast_online.sm_stats RENAME COLUMN rating TO rating_gone;
SET ROLE regress_sm_reader;
DO $$
BEGIN
    PERFORM feast_get_online_features('{sm_stats:conv_rate}', '{"driver_id": [1]}');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'the read failed (%: %); current_user is %', SQLSTATE, SQLERRM, current_user;
END $$;
SELECT current_user;
RESET ROLE;
ALTER TABLE feast_online.sm_stats RENAME COLUMN rating_gone TO rating;
-- a whole view named by a service is granted whole
SELECT feast_grant('regress_sm_reader', 'read', 'sm_conv_and_a');
SELECT table_name, column_name FROM information_schema.column_privileges
 WHERE grantee = 'regress_sm_reader' AND table_schema = 'feast_online' ORDER BY 1, 2;
-- apply grants EXECUTE, and no table privilege at all
SELECT count(*) AS applier_table_privileges FROM information_schema.role_table_grants
 WHERE grantee = 'regress_sm_applier' AND table_schema IN ('feast', 'feast_online');
-- grants on the user's relations are made with the caller's rights: a cfeast admin
-- without the right to grant on a batch relation cannot hand it out
GRANT EXECUTE ON FUNCTION feast_grant(name, text, text) TO regress_sm_admin;
SET ROLE regress_sm_admin;
SELECT feast_grant('regress_sm_reader', 'train', 'sm_view_a');
\echo :SQLSTATE
SELECT feast_grant('regress_sm_reader', 'read', 'sm_view_a');
RESET ROLE;
SELECT has_table_privilege('regress_sm_reader', 'sm_a', 'SELECT') AS reader_reads_sm_a;
-- train on a service: the batch relation's columns its features come from
SELECT feast_apply_feature_service('sm_open_conv', '{sm_open_view:conv_rate}');
SELECT feast_grant('regress_sm_reader', 'train', 'sm_open_conv');
SET ROLE regress_sm_reader;
SELECT feast_historical_features_sql('SELECT 1::bigint AS driver_id, ''2026-06-01+00''::timestamptz AS event_timestamp',
                                     feature_service => 'sm_open_conv') AS q \gset
:q;
SELECT feast_historical_features_sql('SELECT 1::bigint AS driver_id, ''2026-06-01+00''::timestamptz AS event_timestamp',
                                     '{sm_open_view:trips}') AS q \gset
:q;
\echo :SQLSTATE
RESET ROLE;

-------------------------------------------------------------------------------
-- a feature that a service names cannot be dropped from its view (2BP01)
-------------------------------------------------------------------------------
SELECT feast_apply_feature_view('sm_stats', '{driver}', '[{"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32"}]', 'sm_push');
\echo :SQLSTATE
SELECT feast_apply('{"feature_views": [{"name": "sm_stats", "entities": ["driver"], "source": "sm_push",
                     "schema": [{"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32"}]}]}');
\echo :SQLSTATE
SELECT name FROM feast.features WHERE feature_view = 'sm_stats' ORDER BY position;
-- dropping a feature no service names is fine; so is dropping one in the repository that
-- also takes it out of the services
SELECT feast_apply_feature_view('sm_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]', 'sm_push');
SELECT feast_apply('{"feature_views": [{"name": "sm_stats", "entities": ["driver"], "source": "sm_push",
                     "schema": [{"name": "trips", "dtype": "int32"}]}],
                     "feature_services": [{"name": "sm_conv", "features": ["sm_stats:trips"]},
                                          {"name": "sm_conv_and_a", "features": ["sm_stats:trips", "sm_view_a"]}]}') -> 'updated';
SELECT name FROM feast.features WHERE feature_view = 'sm_stats' ORDER BY position;

-- clean up
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP VIEW sm_who;
DROP TABLE sm_secret, sm_open, sm_a, sm_b;
DROP SCHEMA sm_hidden CASCADE;
DROP FUNCTION sm_escalate();
DROP OWNED BY regress_sm_applier, regress_sm_materializer, regress_sm_reader, regress_sm_admin CASCADE;
DROP ROLE regress_sm_applier, regress_sm_materializer, regress_sm_reader, regress_sm_admin;
RESET client_min_messages;
