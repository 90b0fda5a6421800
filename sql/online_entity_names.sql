-- online reads: entity rows may name a key by its entity ({"driver": [1001]} for join key
-- driver_id), as Feast's older clients do, when that is unambiguous; the answer names the join key
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('customer', 'customer_id', 'string');
-- a second entity over join key driver_id
SELECT feast_apply_entity('rider', 'driver_id', 'int64');
-- entity "zone_id" has join key "zone"; entity "area" has join key "zone_id"
SELECT feast_apply_entity('zone_id', 'zone', 'int64');
SELECT feast_apply_entity('area', 'zone_id', 'int64');
SELECT feast_apply_push_source('en_push', NULL);
SELECT feast_apply_push_source('en_pair_push', NULL);
SELECT feast_apply_push_source('en_rider_push', NULL);
SELECT feast_apply_push_source('en_zone_push', NULL);
SELECT feast_apply_push_source('en_area_push', NULL);
SELECT feast_apply_feature_view('en_driver', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'en_push');
SELECT feast_apply_feature_view('en_pair', '{driver,customer}', '[{"name": "trips", "dtype": "int32"}]', 'en_pair_push');
SELECT feast_apply_feature_view('en_rider', '{rider}', '[{"name": "rating", "dtype": "float64"}]', 'en_rider_push');
SELECT feast_apply_feature_view('en_zone', '{zone_id}', '[{"name": "demand", "dtype": "int64"}]', 'en_zone_push');
SELECT feast_apply_feature_view('en_area', '{area}', '[{"name": "surge", "dtype": "float64"}]', 'en_area_push');
SELECT feast_push('en_push', '{"driver_id": [1001, 1002], "conv_rate": [0.5, 0.25],
                               "event_timestamp": ["2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]}');
SELECT feast_push('en_pair_push', '[{"driver_id": 1001, "customer_id": "c1", "trips": 3, "event_timestamp": "2024-01-01T00:00:00Z"}]');
SELECT feast_push('en_rider_push', '[{"driver_id": 1001, "rating": 4.5, "event_timestamp": "2024-01-01T00:00:00Z"}]');
SELECT feast_push('en_zone_push', '[{"zone": 7, "demand": 70, "event_timestamp": "2024-01-01T00:00:00Z"}]');
SELECT feast_push('en_area_push', '[{"zone_id": 7, "surge": 1.5, "event_timestamp": "2024-01-01T00:00:00Z"}]');

-- the column form by entity name: the same answer as by join key, whose name it carries
SELECT feast_get_online_features('{en_driver:conv_rate}', '{"driver": [1001, 9999]}');
SELECT feast_get_online_features('{en_driver:conv_rate}', '{"driver": [1001, 9999]}')
     = feast_get_online_features('{en_driver:conv_rate}', '{"driver_id": [1001, 9999]}') AS same;
-- the row form too, and a composite key named both ways at once
SELECT feast_get_online_features('{en_driver:conv_rate}', '[{"driver": 1002}, {"driver": 1001}]')
     = feast_get_online_features('{en_driver:conv_rate}', '{"driver_id": [1002, 1001]}') AS same;
SELECT feast_get_online_features('{en_pair:trips}', '[{"driver": 1001, "customer_id": "c1"}]');
SELECT feast_get_online_features('{en_pair:trips}', '{"driver_id": [1001], "customer": ["c1"]}')
     = feast_get_online_features('{en_pair:trips}', '{"driver_id": [1001], "customer_id": ["c1"]}') AS same;
-- rows may mix the two names from row to row
SELECT feast_get_online_features('{en_driver:conv_rate}', '[{"driver": 1002}, {"driver_id": 1001}]')
     = feast_get_online_features('{en_driver:conv_rate}', '{"driver_id": [1002, 1001]}') AS same;
-- a value is converted to the join key's dtype; errors name the field as given
SELECT feast_get_online_features('{en_driver:conv_rate}', '{"driver": ["x"]}');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_driver:conv_rate}', '[{"driver": null}]');
\echo :SQLSTATE
-- two entities with one join key, in views asked for together: either name alone works
SELECT feast_get_online_features('{en_driver:conv_rate,en_rider:rating}', '{"rider": [1001]}')
     = feast_get_online_features('{en_driver:conv_rate,en_rider:rating}', '{"driver_id": [1001]}') AS same;
SELECT feast_get_online_features('{en_driver:conv_rate,en_rider:rating}', '[{"driver": 1001}]') -> 'results' -> 2 -> 'values';

-- ambiguous: the join key and its entity's name both given (22023)
SELECT feast_get_online_features('{en_driver:conv_rate}', '{"driver_id": [1001], "driver": [1001]}');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_driver:conv_rate}', '[{"driver_id": 1001}, {"driver_id": 1002, "driver": 1002}]');
\echo :SQLSTATE
-- ambiguous: two entity names of one join key
SELECT feast_get_online_features('{en_driver:conv_rate,en_rider:rating}', '{"driver": [1001], "rider": [1001]}');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_driver:conv_rate,en_rider:rating}', '[{"rider": 1001, "driver": 1001}]');
\echo :SQLSTATE
-- an entity name that is also a join key of the request is read as that join key only:
-- "zone_id" is area's join key, so it does not stand for entity zone_id's key "zone"
SELECT feast_get_online_features('{en_zone:demand,en_area:surge}', '{"zone_id": [7]}');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_zone:demand,en_area:surge}', '[{"zone_id": 7}]');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_zone:demand,en_area:surge}', '{"zone_id": [7], "zone": [7]}') -> 'results';
-- asked for alone, en_zone takes its entity's name "zone_id" for key "zone"
SELECT feast_get_online_features('{en_zone:demand}', '{"zone_id": [7]}');
-- the entity of a view not asked for does not count: "driver" is no key of en_area
SELECT feast_get_online_features('{en_area:surge}', '{"driver": [7]}');
\echo :SQLSTATE
-- a missing key's error names the entity name it also takes
SELECT feast_get_online_features('{en_pair:trips}', '[{"driver": 1001}]');
\echo :SQLSTATE
-- a row of exactly as many fields as join keys: one key twice leaves the other missing
SELECT feast_get_online_features('{en_pair:trips}', '[{"driver_id": 1001, "driver": 1001}]');
\echo :SQLSTATE
SELECT feast_get_online_features('{en_pair:trips}', '[{"driver_id": 1001, "driver": 1001, "customer_id": "c1"}]');
\echo :SQLSTATE
