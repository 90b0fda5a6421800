-- upgrade_0_3: ALTER EXTENSION cfeast UPDATE from 0.2 moves a store that apply roles already
-- used into the privilege model, and keeps its data and the rights its roles relied on
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP TABLE IF EXISTS up3_secret;
DROP FUNCTION IF EXISTS up3_escalate();
DO $$
DECLARE r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_up3\_%' LOOP
        EXECUTE format('DROP OWNED BY %I CASCADE', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
CREATE EXTENSION cfeast VERSION '0.2';
RESET client_min_messages;
CREATE ROLE regress_up3_applier;
CREATE ROLE regress_up3_materializer;

-- under 0.2: the apply role registers a source over a table it cannot read, owns the online
-- tables it creates, and plants a trigger on one
CREATE TABLE up3_secret (driver_id bigint, salary real, event_timestamp timestamptz);
INSERT INTO up3_secret VALUES (1, 99999, '2026-01-01');
SELECT count(*) AS statements FROM feast_grant('regress_up3_applier', 'apply', '*');
CREATE FUNCTION up3_escalate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    ALTER ROLE regress_up3_applier SUPERUSER;
    RETURN NEW;
END $$;
ALTER FUNCTION up3_escalate() OWNER TO regress_up3_applier;
SET ROLE regress_up3_applier;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('up3_push', NULL);
SELECT feast_apply_feature_view('up3_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'up3_push');
SELECT feast_apply_batch_source('up3_secret_batch', 'up3_secret', 'event_timestamp');
SELECT feast_apply_feature_view('up3_secret_view', '{driver}', '[{"name": "salary", "dtype": "float32"}]', 'up3_secret_batch');
SELECT feast_push('up3_push', '[{"driver_id": 1, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
CREATE TRIGGER up3_escalate BEFORE INSERT OR UPDATE ON feast_online.up3_secret_view
    FOR EACH ROW EXECUTE FUNCTION up3_escalate();
RESET ROLE;
SELECT count(*) AS statements FROM feast_grant('regress_up3_materializer', 'materialize', 'up3_secret_view');
SELECT pg_get_userbyid(relowner) AS owner_before FROM pg_class WHERE oid = 'feast_online.up3_stats'::regclass;

-- range retrieval through 0.2's five-argument function (the library is already the new one):
-- the rows of the window, each at its own time
SELECT feast_range_features_sql('2025-12-31', '2026-01-02', '{up3_secret_view:salary}') AS q \gset
:q;

-- the update names the trigger it leaves in place
ALTER EXTENSION cfeast UPDATE TO '0.3';
-- ... and after it, latest_only: each key at end_ts
SELECT feast_range_features_sql('2025-12-31', '2026-01-02', '{up3_secret_view:salary}', latest_only => true) AS q \gset
:q;
SELECT extversion FROM pg_extension WHERE extname = 'cfeast';

-- online tables belong to the extension's owner; the former owner keeps its data rights
SELECT c.relname, pg_get_userbyid(c.relowner) AS owner,
       has_table_privilege('regress_up3_applier', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE') AS data_rights,
       has_table_privilege('regress_up3_applier', c.oid, 'TRIGGER') AS trigger_right
  FROM pg_class c WHERE c.relnamespace = 'feast_online'::regnamespace AND c.relkind = 'r' ORDER BY 1;
-- the owner of record is the role that applied each view
SELECT name, applied_by FROM feast.feature_views ORDER BY name;
-- the data is untouched, and the former owner still pushes and reads
SET ROLE regress_up3_applier;
SELECT feast_push('up3_push', '[{"driver_id": 2, "conv_rate": 0.25, "event_timestamp": "2026-01-01T00:00:00Z"}]');
SELECT driver_id, conv_rate FROM feast_online.up3_stats ORDER BY driver_id;
-- it keeps apply through the registry functions, and loses the direct writes and schema CREATE
SELECT feast_apply_feature_view('up3_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'up3_push');
UPDATE feast.feature_views SET online_table = 'up3_secret' WHERE name = 'up3_stats';
\echo :SQLSTATE
CREATE TABLE feast_online.up3_other (x int);
\echo :SQLSTATE
CREATE TRIGGER up3_escalate BEFORE INSERT ON feast_online.up3_stats
    FOR EACH ROW EXECUTE FUNCTION up3_escalate();
\echo :SQLSTATE
RESET ROLE;
-- the materialize grant of 0.2 no longer writes intervals
SET ROLE regress_up3_materializer;
INSERT INTO feast.materialization_intervals (feature_view, start_ts, end_ts, rows_written)
VALUES ('up3_stats', '2026-01-01', '2026-11-01', 0);
\echo :SQLSTATE
RESET ROLE;
-- the view over the table its applier could never read is not materialized, even by a superuser
SELECT feast_materialize('2000-01-01', '2026-11-01');
\echo :SQLSTATE
SELECT count(*) AS secret_rows_online FROM feast_online.up3_secret_view;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_up3_applier';
-- the registry tables are written by their owner only
SELECT count(*) AS registry_write_grants
  FROM pg_class c, aclexplode(c.relacl) a
 WHERE c.relnamespace = 'feast'::regnamespace AND a.grantee <> c.relowner AND a.privilege_type <> 'SELECT';

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP TABLE up3_secret;
DROP FUNCTION up3_escalate();
DROP OWNED BY regress_up3_applier, regress_up3_materializer CASCADE;
DROP ROLE regress_up3_applier, regress_up3_materializer;
RESET client_min_messages;
