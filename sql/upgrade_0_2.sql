-- upgrade_0_2: ALTER EXTENSION cfeast UPDATE from 0.1 (through 0.2, 0.3, 0.4 and 0.5 to 0.6) keeps the registry and the online rows
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP TABLE IF EXISTS up_members;
CREATE EXTENSION cfeast VERSION '0.1';
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'cfeast';
SELECT source, target, path FROM pg_extension_update_paths('cfeast') WHERE path IS NOT NULL ORDER BY 1, 2;
SELECT count(*) AS has_feast_grant FROM pg_proc WHERE proname = 'feast_grant';

-- a store with data in it
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('up_push', NULL);
SELECT feast_apply_feature_view('up_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'up_push');
SELECT feast_push('up_push', '[{"driver_id": 1, "conv_rate": 0.5, "event_timestamp": "2026-01-01T00:00:00Z"},
                               {"driver_id": 2, "conv_rate": 0.25, "event_timestamp": "2026-01-01T00:00:00Z"}]');

ALTER EXTENSION cfeast UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'cfeast';
-- 0.3: push and materialize share feast._push_batch(); feast._materialize_batch() is gone
SELECT to_regprocedure('feast._materialize_batch()') IS NULL AS materialize_batch_dropped,
       to_regprocedure('feast._push_batch()') IS NOT NULL AS push_batch_kept;
-- 0.3: feast_range_features_sql has latest_only (the 0.2 signature is gone), still PUBLIC
SELECT to_regprocedure('feast_range_features_sql(timestamptz,timestamptz,text[],boolean,text,boolean)') IS NOT NULL AS range_latest_only,
       to_regprocedure('feast_range_features_sql(timestamptz,timestamptz,text[],boolean,text)') IS NULL AS range_old_gone,
       has_function_privilege('public', 'feast_range_features_sql(timestamptz,timestamptz,text[],boolean,text,boolean)', 'EXECUTE') AS range_public;
-- the data and the registry are untouched, the registry tables still dumped with the database
SELECT driver_id, conv_rate, event_timestamp FROM feast_online.up_stats ORDER BY driver_id;
SELECT name, online_table FROM feast.feature_views;
SELECT count(*) AS config_tables FROM pg_extension, unnest(extconfig) WHERE extname = 'cfeast';
-- 0.3: the online tables made before it carry the comments apply writes, features a description
SELECT obj_description('feast_online.up_stats'::regclass, 'pg_class') AS table_comment;
SELECT attname, col_description(attrelid, attnum) FROM pg_attribute
 WHERE attrelid = 'feast_online.up_stats'::regclass AND attnum > 0 ORDER BY attnum;
SELECT name, description, tags FROM feast.features;
-- the new function works, and the same session keeps pushing (cached plans, registry cache)
SELECT feast_grant('public', 'read', 'up_stats');
SELECT feast_push('up_push', '[{"driver_id": 1, "conv_rate": 0.75, "event_timestamp": "2026-01-02T00:00:00Z"}]');
SELECT feast_apply_feature_view('up_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'up_push');
SELECT feast_push('up_push', '[{"driver_id": 2, "conv_rate": 0.5, "trips": 3, "event_timestamp": "2026-01-02T00:00:00Z"}]');
SELECT driver_id, conv_rate, trips, event_timestamp FROM feast_online.up_stats ORDER BY driver_id;

-- an updated install has the same members as a fresh one
CREATE TABLE up_members AS
SELECT pg_describe_object(classid, objid, objsubid) AS member
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
   AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cfeast');
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SELECT extversion FROM pg_extension WHERE extname = 'cfeast';
SELECT count(*) AS members FROM up_members;
(SELECT member FROM up_members
 EXCEPT
 SELECT pg_describe_object(classid, objid, objsubid)
   FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cfeast'))
UNION ALL
(SELECT pg_describe_object(classid, objid, objsubid)
   FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'cfeast')
 EXCEPT
 SELECT member FROM up_members);
DROP TABLE up_members;
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
RESET client_min_messages;
