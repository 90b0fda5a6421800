-- registry: entities, sources, views, services, feast_apply, feast_delete
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
DROP TABLE IF EXISTS reg_stats;
DROP SEQUENCE IF EXISTS reg_seq;
CREATE SEQUENCE reg_seq;

-- entities
SELECT feast_apply_entity('driver', 'driver_id', 'Int64', 'a driver');
SELECT feast_apply_entity('customer', value_type => 'string');
SELECT name, join_key, value_type, description, tags FROM feast.entities ORDER BY name;
-- bad names are refused, not folded
SELECT feast_apply_entity('Driver');
\echo :SQLSTATE
SELECT feast_apply_entity('driver; drop table x');
\echo :SQLSTATE
SELECT feast_apply_entity(repeat('a', 64));
\echo :SQLSTATE
SELECT feast_apply_entity('x"y');
\echo :SQLSTATE
SELECT feast_apply_entity('rider', value_type => 'float64');
\echo :SQLSTATE
SELECT feast_apply_entity('rider', value_type => 'decimal');
\echo :SQLSTATE
SELECT feast_apply_entity('rider', 'event_timestamp');
\echo :SQLSTATE
SELECT feast_apply_entity('rider', tags => '[1]');
\echo :SQLSTATE

-- batch sources: columns are checked at apply time
CREATE TABLE reg_stats (driver_id bigint, customer text, ts timestamptz, created timestamp,
                        conv real, acc double precision, trips_raw int, note text);
SELECT feast_apply_batch_source('stats', 'reg_stats', 'ts', 'created', '{"trips_raw": "trips"}');
SELECT name, kind, relation, timestamp_field, created_timestamp_column, field_mapping FROM feast.data_sources;
SELECT feast_apply_batch_source('bad', 'reg_stats', 'event_timestamp');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'note');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'ts', 'ts');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'ts', NULL, '{"nope": "x"}');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'ts', NULL, '{"ts": "x"}');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'ts', NULL, '{"note": "Bad"}');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_stats', 'ts', NULL, '[]');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'reg_seq', 'ts');
\echo :SQLSTATE
SELECT feast_apply_batch_source('bad', 'no_such_table', 'ts');
\echo :SQLSTATE

-- push sources
SELECT feast_apply_push_source('stats_push', 'stats');
SELECT feast_apply_push_source('online_only', NULL);
SELECT feast_apply_push_source('bad', 'nope');
\echo :SQLSTATE
SELECT feast_apply_push_source('bad', 'stats_push');
\echo :SQLSTATE
SELECT feast_apply_push_source('stats', NULL);
\echo :SQLSTATE

-- feature views create typed online tables
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "driver_id", "dtype": "int64"}, {"name": "conv", "dtype": "Float32"},
      {"name": "acc", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]',
    'stats_push', '1 day');
\d feast_online.driver_stats
SELECT feature_view, name, dtype, online_type, position FROM feast.features ORDER BY feature_view, position;
SELECT name, entities, source, ttl, online, online_table FROM feast.feature_views;
-- composite key, entityless
SELECT feast_apply_feature_view('pair', '{driver,customer}', '[{"name": "note", "dtype": "string"}]', 'stats');
\d feast_online.pair
SELECT feast_apply_feature_view('global', '{}', '[{"name": "conv", "dtype": "float32"}]', 'stats');
\d feast_online.global
-- errors
SELECT feast_apply_feature_view('v', '{nobody}', '[{"name": "conv", "dtype": "float32"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'nope');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "dtype": "float16"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "dtype": "float32"}, {"name": "conv", "dtype": "float32"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "event_timestamp", "dtype": "unix_timestamp"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "type": "float32"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '{"conv": "float32"}', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "driver_id", "dtype": "string"}, {"name": "conv", "dtype": "float32"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "missing_col", "dtype": "float32"}]', 'stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'stats', '-1 day');
\echo :SQLSTATE
SELECT feast_apply_feature_view('v', '{driver,driver}', '[{"name": "conv", "dtype": "float32"}]', 'stats');
\echo :SQLSTATE
-- views fed by one push source must agree on a feature's dtype
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "conv", "dtype": "float64"}]', 'stats_push');
\echo :SQLSTATE
SELECT count(*) AS views_after_errors FROM feast.feature_views;

-- re-applying an identical definition changes nothing
SELECT updated_at AS before FROM feast.feature_views WHERE name = 'driver_stats' \gset
SELECT feast_apply('{"feature_views": [{"name": "driver_stats", "entities": ["driver"], "source": "stats_push", "ttl": 86400,
    "schema": [{"name": "conv", "dtype": "float32"}, {"name": "acc", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]}]}');
SELECT updated_at = :'before' AS untouched FROM feast.feature_views WHERE name = 'driver_stats';

-- schema evolution: add and drop features
INSERT INTO feast_online.driver_stats VALUES (1, 0.5, 0.25, 3, '2024-01-01', NULL);
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "conv", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}, {"name": "note", "dtype": "string"}]',
    'stats_push', '1 day');
SELECT * FROM feast_online.driver_stats;
-- changing a dtype or the entities of a non-empty table is refused
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "conv", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}, {"name": "note", "dtype": "string"}]',
    'stats_push', '1 day');
\echo :SQLSTATE
SELECT feast_apply_feature_view('driver_stats', '{customer}',
    '[{"name": "conv", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}, {"name": "note", "dtype": "string"}]',
    'stats_push', '1 day');
\echo :SQLSTATE
-- ... but allowed once the table is empty
TRUNCATE feast_online.driver_stats;
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "conv", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}, {"name": "note", "dtype": "string"}]',
    'stats_push', '1 day');
SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
 WHERE a.attrelid = 'feast_online.driver_stats'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum;
-- an entity in use keeps its join key and type
SELECT feast_apply_entity('driver', 'driver_key', 'int64');
\echo :SQLSTATE
SELECT feast_apply_entity('driver', 'driver_id', 'int64', 'the driver');

-- feature services
SELECT feast_apply_feature_service('svc', '{driver_stats:conv,pair}');
SELECT feast_apply_feature_service('bad', '{driver_stats:nope}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{nope}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{a:b:c}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{pair,pair}');
\echo :SQLSTATE
SELECT name, features FROM feast.feature_services;

-- deletion refuses objects in use and names the dependents
SELECT feast_delete('entity', 'driver');
\echo :SQLSTATE
SELECT feast_delete('data_source', 'stats');
\echo :SQLSTATE
SELECT feast_delete('feature_view', 'pair');
\echo :SQLSTATE
SELECT feast_delete('feature_view', 'nope');
\echo :SQLSTATE
SELECT feast_delete('table', 'x');
\echo :SQLSTATE
SELECT feast_delete('feature_service', 'svc');
SELECT feast_delete('feature_view', 'pair');
SELECT to_regclass('feast_online.pair') AS pair_table_after_delete;

-- feast_apply: a whole repository, with prune
SELECT feast_apply('{
  "entities": [{"name": "driver", "join_key": "driver_id", "value_type": "int64", "description": "the driver"},
               {"name": "zone", "value_type": "string"}],
  "data_sources": [{"name": "stats_push", "kind": "push", "batch_source": "stats"},
                   {"name": "stats", "kind": "batch", "relation": "reg_stats", "timestamp_field": "ts",
                    "created_timestamp_column": "created", "field_mapping": {"trips_raw": "trips"}}],
  "feature_views": [{"name": "driver_stats", "entities": ["driver"], "source": "stats_push", "ttl": "1 day",
                     "schema": [{"name": "conv", "dtype": "float64"}, {"name": "trips", "dtype": "int32"},
                                {"name": "note", "dtype": "string"}]}],
  "feature_services": [{"name": "svc2", "features": ["driver_stats"]}]}', prune => true);
SELECT 'entity' AS kind, name FROM feast.entities UNION ALL SELECT 'source', name FROM feast.data_sources
UNION ALL SELECT 'view', name FROM feast.feature_views UNION ALL SELECT 'service', name FROM feast.feature_services
ORDER BY 1, 2;
SELECT to_regclass('feast_online.global') AS global_table_after_prune;
-- a repository with a typo is refused whole
SELECT feast_apply('{"entities": [{"name": "e1"}], "feature_veiws": []}');
\echo :SQLSTATE
SELECT feast_apply('{"entities": [{"name": "e1", "valuetype": "int64"}]}');
\echo :SQLSTATE
SELECT feast_apply('{"data_sources": [{"name": "s1", "kind": "stream"}]}');
\echo :SQLSTATE
SELECT feast_apply('{"entities": [{"name": "e1"}, {"name": "E2"}]}');
\echo :SQLSTATE
SELECT count(*) AS e1_exists FROM feast.entities WHERE name = 'e1';

-- every registry table is kept by pg_dump
SELECT c.relname FROM pg_extension e, unnest(e.extconfig) AS t(oid) JOIN pg_class c ON c.oid = t.oid
 WHERE e.extname = 'cfeast' ORDER BY 1;
DROP TABLE reg_stats;
DROP SEQUENCE reg_seq;
