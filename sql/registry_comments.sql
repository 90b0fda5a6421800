-- registry_comments: features keep their description and tags; online tables carry comments
-- (view description, ttl, source; each column's description and type) that follow re-applies
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

-- what a BI tool reads from the catalog
CREATE FUNCTION rc_comments(tbl regclass) RETURNS TABLE (col text, comment text)
LANGUAGE sql AS $$
    SELECT NULL::text, obj_description(tbl, 'pg_class')
    UNION ALL
    (SELECT a.attname::text, col_description(tbl, a.attnum) FROM pg_attribute a
      WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
$$;

SELECT feast_apply_entity('driver', 'driver_id', description => 'A driver''s "id"');
SELECT feast_apply_push_source('rc_push', NULL);
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[
    {"name": "conv_rate", "dtype": "float64", "description": "Share of rides accepted", "tags": {"owner": "ops"}},
    {"name": "trips", "dtype": "int32"}]', 'rc_push', '1 day', description => 'Hourly driver stats');
SELECT * FROM rc_comments('feast_online.rc_stats');
SELECT name, description, tags FROM feast.features WHERE feature_view = 'rc_stats' ORDER BY position;

-- the same definition again changes nothing, not even updated_at
SELECT updated_at AS before FROM feast.feature_views WHERE name = 'rc_stats' \gset
SELECT feast_apply('{"feature_views": [{"name": "rc_stats", "entities": ["driver"], "source": "rc_push",
    "ttl": "1 day", "description": "Hourly driver stats", "schema": [
    {"name": "conv_rate", "dtype": "float64", "description": "Share of rides accepted", "tags": {"owner": "ops"}},
    {"name": "trips", "dtype": "int32"}]}]}') -> 'unchanged' AS unchanged;
SELECT updated_at = :'before' AS same_updated_at FROM feast.feature_views WHERE name = 'rc_stats';

-- a changed feature description (or tags) is a change: stored, updated_at moves, comment rewritten
SELECT feast_apply('{"feature_views": [{"name": "rc_stats", "entities": ["driver"], "source": "rc_push",
    "ttl": "1 day", "description": "Hourly driver stats", "schema": [
    {"name": "conv_rate", "dtype": "float64", "description": "Share of rides accepted, last hour", "tags": {"owner": "ops"}},
    {"name": "trips", "dtype": "int32", "tags": {"pii": "no"}}]}]}') -> 'updated' AS updated;
SELECT updated_at > :'before' AS updated_at_moved FROM feast.feature_views WHERE name = 'rc_stats';
SELECT name, description, tags FROM feast.features WHERE feature_view = 'rc_stats' ORDER BY position;
SELECT * FROM rc_comments('feast_online.rc_stats');

-- a feature added and one removed, another view description, ttl and no feature description
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[
    {"name": "trips", "dtype": "int32", "description": "Rides today"},
    {"name": "labels", "dtype": "array(string)", "description": "Quotes '' and \" kept"}]',
    'rc_push', NULL, description => '');
SELECT * FROM rc_comments('feast_online.rc_stats');
-- tags only: stored, comments unchanged
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[
    {"name": "trips", "dtype": "int32", "description": "Rides today", "tags": {"a": "b"}},
    {"name": "labels", "dtype": "array(string)", "description": "Quotes '' and \" kept"}]',
    'rc_push', NULL, description => '');
SELECT name, tags FROM feast.features WHERE feature_view = 'rc_stats' ORDER BY position;

-- an entity's new description reaches the join key columns of its views
SELECT feast_apply_entity('driver', 'driver_id', description => 'Driver id');
SELECT col, comment FROM rc_comments('feast_online.rc_stats') WHERE col = 'driver_id';

-- an entityless view and a view taken offline and back online
SELECT feast_apply_feature_view('rc_global', '{}', '[{"name": "total", "dtype": "int64", "description": "All rides"}]',
                                'rc_push', '2 hours');
SELECT * FROM rc_comments('feast_online.rc_global');
SELECT feast_apply_feature_view('rc_global', '{}', '[{"name": "total", "dtype": "int64", "description": "All rides"}]',
                                'rc_push', '2 hours', online => false);
SELECT feast_apply_feature_view('rc_global', '{}', '[{"name": "total", "dtype": "int64", "description": "Every ride"}]',
                                'rc_push', '2 hours');
SELECT * FROM rc_comments('feast_online.rc_global');

-- bad descriptions and tags are refused, and change nothing
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "trips", "dtype": "int32", "tags": ["x"]}]', 'rc_push');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "trips", "dtype": "int32", "tags": "x"}]', 'rc_push');
\echo :SQLSTATE
SELECT feast_apply('{"feature_views": [{"name": "rc_stats", "entities": ["driver"], "source": "rc_push",
    "schema": [{"name": "trips", "dtype": "int32", "tags": null}]}]}');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "trips", "dtype": "int32", "description": 7}]', 'rc_push');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "driver_id", "dtype": "int64", "description": "x"},
                                                          {"name": "trips", "dtype": "int32"}]', 'rc_push');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "trips", "dtype": "int32", "descr": "x"}]', 'rc_push');
\echo :SQLSTATE
SELECT name, description, tags FROM feast.features WHERE feature_view = 'rc_stats' ORDER BY position;
SELECT col, comment FROM rc_comments('feast_online.rc_stats') WHERE col = 'trips';
-- a join key entry with no description or tags is accepted, as before
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "driver_id", "dtype": "int64"},
    {"name": "trips", "dtype": "int32", "description": "Rides today", "tags": {"a": "b"}},
    {"name": "labels", "dtype": "array(string)", "description": "Quotes '' and \" kept"}]',
    'rc_push', NULL, description => '');

-- comments are written as the extension's owner: an apply role that owns nothing can apply
CREATE ROLE regress_rc_applier;
SELECT count(*) AS statements FROM feast_grant('regress_rc_applier', 'apply', '*');
SET ROLE regress_rc_applier;
SELECT feast_apply_feature_view('rc_stats', '{driver}', '[{"name": "trips", "dtype": "int32", "description": "Rides so far"}]',
                                'rc_push', NULL, description => 'Set by a role');
RESET ROLE;
SELECT * FROM rc_comments('feast_online.rc_stats');

SET client_min_messages = warning;
DROP FUNCTION rc_comments(regclass);
DROP EXTENSION cfeast CASCADE;
DROP OWNED BY regress_rc_applier;
DROP ROLE regress_rc_applier;
