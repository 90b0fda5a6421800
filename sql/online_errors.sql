-- online retrieval: every error names what is wrong
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('driver_name', 'driver_id', 'string');
SELECT feast_apply_entity('shop', 'shop_id', 'int32');
SELECT feast_apply_entity('device', 'device_id', 'bytes');
SELECT feast_apply_push_source('p1', NULL);
SELECT feast_apply_push_source('p2', NULL);
SELECT feast_apply_push_source('p3', NULL);
SELECT feast_apply_push_source('p4', NULL);
SELECT feast_apply_push_source('p5', NULL);
SELECT feast_apply_feature_view('driver_hourly', ARRAY['driver'],
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int64"}]', 'p1');
SELECT feast_apply_feature_view('driver_daily', ARRAY['driver'],
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "shop_id", "dtype": "int32"}]', 'p2');
SELECT feast_apply_feature_view('driver_names', ARRAY['driver_name'],
    '[{"name": "nick", "dtype": "string"}]', 'p3');
SELECT feast_apply_feature_view('shop_device', ARRAY['shop', 'device'],
    '[{"name": "hits", "dtype": "int64"}]', 'p4');
SELECT feast_apply_feature_view('driver_archive', ARRAY['driver'],
    '[{"name": "old_rate", "dtype": "float64"}]', 'p5', online => false);
SELECT feast_apply_feature_service('svc', ARRAY['driver_hourly']);

-- what to read: features or a service, exactly one of them
SELECT feast_get_online_features(entity_rows => '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1]}', feature_service => 'svc');
\echo :SQLSTATE
SELECT feast_get_online_features('{}', '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(feature_service => 'no_such_service', entity_rows => '{"driver_id": [1]}');
\echo :SQLSTATE

-- references: unknown view, unknown feature, malformed, null
SELECT feast_get_online_features(ARRAY['no_such_view:trips'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:no_such_feature'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips:x'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY[':trips'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips', NULL], '{"driver_id": [1]}');
\echo :SQLSTATE
-- a view that is not online
SELECT feast_get_online_features(ARRAY['driver_archive:old_rate'], '{"driver_id": [1]}');
\echo :SQLSTATE

-- names: a collision without full names, the same feature twice, a feature named like a join key
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_daily:conv_rate'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips', 'driver_hourly:trips'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips', 'driver_hourly:trips'], '{"driver_id": [1]}',
                                 full_feature_names => true);
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_daily:shop_id', 'shop_device:hits'],
                                 '{"driver_id": [1], "shop_id": [2], "device_id": ["AA=="]}');
\echo :SQLSTATE
-- ... which full names resolve
SELECT r -> 'metadata' FROM feast_get_online_features(ARRAY['driver_daily:shop_id', 'shop_device:hits'],
    '{"driver_id": [1], "shop_id": [2], "device_id": ["AA=="]}', full_feature_names => true) r;
-- one join key name with two dtypes in the views asked for
SELECT feast_get_online_features(ARRAY['driver_hourly:trips', 'driver_names:nick'], '{"driver_id": [1]}');
\echo :SQLSTATE

-- entity rows: a missing join key (row form names the row), in the column form, none at all
SELECT feast_get_online_features(ARRAY['shop_device:hits'],
                                 '[{"shop_id": 1, "device_id": "AA=="}, {"shop_id": 2}]');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['shop_device:hits'], '{"shop_id": [1, 2]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['shop_device:hits']);
\echo :SQLSTATE
-- values of the wrong dtype, with the row and the key
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '[{"driver_id": 1}, {"driver_id": "2"}]');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1, 2.5]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1, 9223372036854775808]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['shop_device:hits'], '{"shop_id": [2147483648], "device_id": ["AA=="]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['shop_device:hits'], '{"shop_id": [1], "device_id": ["not base64!"]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_names:nick'], '{"driver_id": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '[{"driver_id": null}]');
\echo :SQLSTATE
-- shapes
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1, 2], "other": [1]}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": 1}');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '[{"driver_id": 1}, [2]]');
\echo :SQLSTATE
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '1');
\echo :SQLSTATE

-- resolved feature lists are reused only until the registry changes
SELECT feast_push('p4', '[{"shop_id": 1, "device_id": "AA==", "hits": 5, "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['shop_device:hits'], '{"shop_id": [1], "device_id": ["AA=="]}') -> 'results' -> 2 -> 'values';
SELECT feast_apply_feature_view('shop_device', ARRAY['shop', 'device'],
    '[{"name": "visits", "dtype": "int64"}]', 'p4');
SELECT feast_get_online_features(ARRAY['shop_device:hits'], '{"shop_id": [1], "device_id": ["AA=="]}');
\echo :SQLSTATE
-- an error is not remembered either: the same call fails the same way twice
SELECT feast_get_online_features(ARRAY['driver_hourly:conv_rate', 'driver_daily:conv_rate'], '{"driver_id": [1]}');
\echo :SQLSTATE

-- a hostile search_path changes nothing
CREATE SCHEMA evil;
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE sql AS 'SELECT NULL::int8 WHERE false';
SET search_path = evil, public;
SELECT feast_push('p1', '[{"driver_id": 1, "conv_rate": 0.5, "trips": 7, "event_timestamp": "2100-01-01T00:00:00Z"},
                          {"driver_id": 2, "conv_rate": 0.25, "trips": 8, "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['driver_hourly:trips'], '{"driver_id": [1, 2, 2]}') -> 'results' -> 1;
RESET search_path;
DROP SCHEMA evil CASCADE;
