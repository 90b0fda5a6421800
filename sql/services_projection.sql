-- feature services that rename: projection aliases (Feast's with_name) and join key maps
-- (with_join_key_map), online, in training sets and in the registry's guards
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP TABLE IF EXISTS sp_loc, sp_trip, sp_trips, sp_training, sp_training_plain;
DO $$
DECLARE r name;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_sp\_%' LOOP
        EXECUTE format('DROP OWNED BY %I CASCADE', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
-- an update from 0.3: a role granted apply keeps it on the new signature, old services read on
CREATE EXTENSION cfeast VERSION '0.3';
RESET client_min_messages;
CREATE ROLE regress_sp_applier;
CREATE ROLE regress_sp_reader;
SELECT count(*) AS statements FROM feast_grant('regress_sp_applier', 'apply', '*');

CREATE TABLE sp_loc (location_id bigint, temperature float8, humidity int, event_timestamp timestamptz);
INSERT INTO sp_loc VALUES
  (10, 10.5, 50, '2024-01-01 00:00+00'), (10, 11.5, 51, '2024-01-02 00:00+00'),
  (20, 20.5, 60, '2024-01-01 12:00+00'), (30, 30.5, NULL, '2024-01-01 00:00+00');
CREATE TABLE sp_trip (trip_id bigint, fare float8, event_timestamp timestamptz);
INSERT INTO sp_trip VALUES (1, 7.5, '2024-01-01 00:00+00'), (2, 8.25, '2024-01-02 00:00+00'),
  (3, 9.0, '2024-01-02 00:00+00'), (4, 1.0, '2024-01-01 00:00+00'), (5, 2.0, '2024-01-01 00:00+00');
SELECT feast_apply_entity('location', 'location_id');
SELECT feast_apply_entity('trip', 'trip_id');
SELECT feast_apply_batch_source('sp_loc_src', 'sp_loc', 'event_timestamp');
SELECT feast_apply_batch_source('sp_trip_src', 'sp_trip', 'event_timestamp');
SELECT feast_apply_feature_view('location_stats', '{location}',
    '[{"name": "temperature", "dtype": "float64"}, {"name": "humidity", "dtype": "int32"}]', 'sp_loc_src');
SELECT feast_apply_feature_view('trip_stats', '{trip}', '[{"name": "fare", "dtype": "float64"}]', 'sp_trip_src');
SELECT feast_apply_feature_service('plain_svc', '{location_stats:temperature}');

SET client_min_messages = warning;
ALTER EXTENSION cfeast UPDATE TO '0.4';
RESET client_min_messages;
-- an answer as a table: one line per column of the answer
CREATE FUNCTION sp_answer(a jsonb) RETURNS TABLE (name text, vals jsonb, statuses jsonb, event_timestamps jsonb)
LANGUAGE sql AS $$
    SELECT n.name, a -> 'results' -> (n.i::int - 1) -> 'values', a -> 'results' -> (n.i::int - 1) -> 'statuses',
           a -> 'results' -> (n.i::int - 1) -> 'event_timestamps'
      FROM jsonb_array_elements_text(a -> 'metadata' -> 'feature_names') WITH ORDINALITY AS n(name, i)
$$;
SELECT p.oid::regprocedure AS apply_function,
       has_function_privilege('regress_sp_applier', p.oid, 'EXECUTE') AS applier,
       has_function_privilege('regress_sp_reader', p.oid, 'EXECUTE') AS others
  FROM pg_proc p WHERE p.proname = 'feast_apply_feature_service';
SELECT name, features, projections FROM feast.feature_services;
SET client_min_messages = warning;
SELECT feast_materialize('2023-01-01', '2024-06-01');
RESET client_min_messages;
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'plain_svc', entity_rows => '{"location_id": [10]}'));

-- origin and destination of one location view, and a trip view read as it is
SELECT feast_apply_feature_service('trip_svc',
    '{origin:temperature, destination:temperature, destination:humidity, trip_stats:fare}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}},
                     "destination": {"feature_view": "location_stats", "join_key_map": {"location_id": "destination_id"}}}');
SELECT name, features, projections FROM feast.feature_services WHERE name = 'trip_svc';
-- the role granted apply under 0.3 applies one too (as the extension's owner, like every apply)
SET ROLE regress_sp_applier;
SELECT feast_apply_feature_service('applier_svc', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}}}');
SELECT feast_delete('feature_service', 'applier_svc');
RESET ROLE;

-- online, column form: keys come first under the entity rows' names; origin 10 is 11.5 (its latest),
-- destination 20 is 20.5 / 60, destination 99 is not found
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'trip_svc', full_feature_names => true,
    entity_rows => '{"trip_id": [1, 2], "origin_id": [10, 30], "destination_id": [20, 99]}'));
-- online, row form: the same view read through both columns in one row
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'trip_svc', full_feature_names => true,
    entity_rows => '[{"trip_id": 3, "origin_id": 20, "destination_id": 10},
                     {"trip_id": 5, "origin_id": 30, "destination_id": 30}]'));
-- without full_feature_names two aliases of one feature collide, as in Feast
SELECT feast_get_online_features(feature_service => 'trip_svc',
    entity_rows => '{"trip_id": [1], "origin_id": [10], "destination_id": [20]}');
\echo :SQLSTATE
-- ... and a service without collisions answers under the bare feature names
SELECT feast_apply_feature_service('od_svc', '{origin:temperature, destination:humidity}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}},
                     "destination": {"feature_view": "location_stats", "join_key_map": {"location_id": "destination_id"}}}');
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'od_svc',
    entity_rows => '[{"origin_id": 20, "destination_id": 30}, {"origin_id": 30, "destination_id": 10}]'));
SELECT feast_get_online_features(feature_service => 'od_svc', full_feature_names => true,
    entity_rows => '{"origin_id": [20], "destination_id": [20]}') -> 'metadata';
SELECT feast_get_online_features(feature_service => 'od_svc',
    entity_rows => '[{"origin_id": 20, "destination_id": "x"}]');
\echo :SQLSTATE

-- a whole alias ("origin": all features, renamed), a rename without a map (Feast's with_name
-- alone: the view's own key), and a pure join key map under the view's own name
SELECT feast_apply_feature_service('alias_svc', '{origin, here:humidity}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}},
                     "here": {"feature_view": "location_stats"}}');
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'alias_svc', full_feature_names => true,
    entity_rows => '{"origin_id": [10], "location_id": [20]}'));
SELECT feast_apply_feature_service('keymap_svc', '{location_stats:temperature}',
    projections => '{"location_stats": {"join_key_map": {"location_id": "loc"}}}');
SELECT projections FROM feast.feature_services WHERE name = 'keymap_svc';
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'keymap_svc', full_feature_names => true,
    entity_rows => '{"loc": [30, 10]}'));
-- the mapped column is the only name of the key: neither the view's join key nor its entity's name
-- stands for it
SELECT feast_get_online_features(feature_service => 'keymap_svc', entity_rows => '[{"location_id": 30}]');
\echo :SQLSTATE
SELECT feast_get_online_features(feature_service => 'keymap_svc', entity_rows => '{"location": [30]}');
\echo :SQLSTATE

-- training sets: entity rows with origin_id and destination_id, checked cell by cell against a
-- hand-written LATERAL query (latest row at or before each row's time, none: NULL)
CREATE TABLE sp_trips (trip_id bigint, origin_id bigint, destination_id bigint, event_timestamp timestamptz);
INSERT INTO sp_trips VALUES
  (1, 10, 20, '2024-01-01 13:00+00'), (2, 20, 10, '2024-01-02 06:00+00'), (3, 30, 30, '2024-01-03 00:00+00'),
  (4, 10, 99, '2023-12-31 00:00+00'), (1, 10, 10, '2024-01-02 00:00+00'), (5, 30, 10, '2024-01-01 00:00+00'),
  (2, 20, 20, '2024-01-01 11:59:59+00');
SELECT feast_create_training_set('sp_training', 'sp_trips', feature_service => 'trip_svc', full_feature_names => true);
SELECT * FROM sp_training ORDER BY event_timestamp, trip_id;
CREATE VIEW sp_by_hand AS
SELECT t.trip_id, t.origin_id, t.destination_id, t.event_timestamp,
       o.temperature AS origin__temperature, d.temperature AS destination__temperature,
       d.humidity AS destination__humidity, f.fare AS trip_stats__fare
  FROM sp_trips t
  LEFT JOIN LATERAL (SELECT * FROM sp_loc s WHERE s.location_id = t.origin_id AND s.event_timestamp <= t.event_timestamp
                      ORDER BY s.event_timestamp DESC LIMIT 1) o ON true
  LEFT JOIN LATERAL (SELECT * FROM sp_loc s WHERE s.location_id = t.destination_id AND s.event_timestamp <= t.event_timestamp
                      ORDER BY s.event_timestamp DESC LIMIT 1) d ON true
  LEFT JOIN LATERAL (SELECT * FROM sp_trip s WHERE s.trip_id = t.trip_id AND s.event_timestamp <= t.event_timestamp
                      ORDER BY s.event_timestamp DESC LIMIT 1) f ON true;
SELECT (SELECT count(*) FROM sp_training) AS training_rows, (SELECT count(*) FROM sp_by_hand) AS hand_rows,
       (SELECT count(*) FROM (TABLE sp_training EXCEPT ALL TABLE sp_by_hand) x) AS only_training,
       (SELECT count(*) FROM (TABLE sp_by_hand EXCEPT ALL TABLE sp_training) x) AS only_by_hand,
       (SELECT count(origin__temperature) + count(destination__temperature) + count(destination__humidity)
          FROM sp_training) AS non_null_cells;
-- the SQL reads each alias once, with its own key column
SELECT array_agg(m[1]) AS key_columns
  FROM regexp_matches(feast_historical_features_sql('sp_trips', feature_service => 'trip_svc', full_feature_names => true),
                      'CAST\(e\.(\w+)', 'g') AS m;
-- an entity input without the mapped column names it and the projection
SELECT feast_historical_features_sql('SELECT trip_id, origin_id, event_timestamp FROM sp_trips',
                                     feature_service => 'trip_svc', full_feature_names => true);
\echo :SQLSTATE
-- a pure join key map and a rename without one, in a training set
SELECT feast_historical_features_sql('SELECT origin_id AS loc, event_timestamp FROM sp_trips',
                                     feature_service => 'keymap_svc', full_feature_names => true) AS q \gset
SELECT * FROM (:q) x ORDER BY event_timestamp, loc;
SELECT feast_historical_features_sql('SELECT origin_id, origin_id AS location_id, event_timestamp FROM sp_trips',
                                     feature_service => 'alias_svc', full_feature_names => true) AS q \gset
SELECT * FROM (:q) x ORDER BY event_timestamp, origin_id;
-- range retrieval through a service: one key column, named as the projection maps it
SELECT feast_range_features_sql('2024-01-01', '2024-01-02', feature_service => 'keymap_svc',
                                full_feature_names => true) AS q \gset
:q;
-- origin and destination have different key columns: no entity-less mode for them
SELECT feast_range_features_sql('2024-01-01', '2024-01-02', feature_service => 'od_svc');
\echo :SQLSTATE

-- feast_apply: projections through a repository; re-applying is unchanged (also with the
-- defaults spelled out or left out), a changed map is an update
SELECT feast_apply('{"feature_services": [{"name": "trip_svc",
    "features": ["origin:temperature", "destination:temperature", "destination:humidity", "trip_stats:fare"],
    "projections": {"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}},
                    "destination": {"feature_view": "location_stats", "join_key_map": {"location_id": "destination_id"}}}}]}');
SELECT feast_apply('{"feature_services": [{"name": "keymap_svc", "features": ["location_stats:temperature"],
    "projections": {"location_stats": {"feature_view": "location_stats", "join_key_map": {"location_id": "loc"}}}},
    {"name": "plain_svc", "features": ["location_stats:temperature"], "projections": {}}]}');
SELECT feast_apply('{"feature_services": [{"name": "keymap_svc", "features": ["location_stats:temperature"],
    "projections": {"location_stats": {"join_key_map": {"location_id": "place_id"}}}}]}');
SELECT projections FROM feast.feature_services WHERE name = 'keymap_svc';
-- this session read the service before: it sees the new map at once
SELECT * FROM sp_answer(feast_get_online_features(feature_service => 'keymap_svc', entity_rows => '{"place_id": [20]}'));
SELECT feast_get_online_features(feature_service => 'keymap_svc', entity_rows => '{"loc": [20]}');
\echo :SQLSTATE
SELECT feast_apply('{"feature_services": [{"name": "keymap_svc", "features": ["location_stats:temperature"]}]}');
SELECT projections FROM feast.feature_services WHERE name = 'keymap_svc';
SELECT feast_apply('{"feature_services": [{"name": "keymap_svc", "features": ["location_stats:temperature"],
    "projections": {"location_stats": {"join_key_map": {"location_id": "loc"}}}}]}');
SELECT feast_apply('{"feature_services": [{"name": "x", "features": ["location_stats"], "projection": {}}]}');
\echo :SQLSTATE

-- a view of two keys (for the collision below); swapping its keys' columns is fine
SELECT feast_apply_entity('leg', 'leg_id');
CREATE TABLE sp_leg (leg_id bigint, location_id bigint, minutes int, event_timestamp timestamptz);
SELECT feast_apply_batch_source('sp_leg_src', 'sp_leg', 'event_timestamp');
SELECT feast_apply_feature_view('leg_stats', '{leg, location}', '[{"name": "minutes", "dtype": "int32"}]', 'sp_leg_src');
SELECT feast_apply_feature_service('swap_svc', '{leg_end:minutes}',
    projections => '{"leg_end": {"feature_view": "leg_stats", "join_key_map": {"location_id": "leg_id", "leg_id": "location_id"}}}');
SELECT projections FROM feast.feature_services WHERE name = 'swap_svc';

-- every mistake is refused before anything is written
CREATE TABLE sp_before AS SELECT name, features, projections FROM feast.feature_services;
-- names: the alias and the entity column follow the name rule
SELECT feast_apply_feature_service('bad', '{Origin:temperature}',
    projections => '{"Origin": {"feature_view": "location_stats"}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "Origin_ID"}}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin id; drop table x"}}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "event_timestamp"}}}');
\echo :SQLSTATE
-- unknown view
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "no_such_view"}}');
\echo :SQLSTATE
-- a map key that is no join key of the view
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"origin_id": "location_id"}}}');
\echo :SQLSTATE
-- two join keys read from one column
SELECT feast_apply_feature_service('bad', '{leg_end:minutes}',
    projections => '{"leg_end": {"feature_view": "leg_stats", "join_key_map": {"location_id": "leg_id"}}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{leg_end:minutes}',
    projections => '{"leg_end": {"feature_view": "leg_stats", "join_key_map": {"location_id": "x_id", "leg_id": "x_id"}}}');
\echo :SQLSTATE
-- an alias that is another view's name is ambiguous
SELECT feast_apply_feature_service('bad', '{trip_stats:temperature}',
    projections => '{"trip_stats": {"feature_view": "location_stats"}}');
\echo :SQLSTATE
-- references to an alias or a view that does not exist, or a feature the projected view lacks
SELECT feast_apply_feature_service('bad', '{origin:temperature, nowhere:temperature}',
    projections => '{"origin": {"feature_view": "location_stats"}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:fare}',
    projections => '{"origin": {"feature_view": "location_stats"}}');
\echo :SQLSTATE
-- a projection no reference uses, and malformed projections
SELECT feast_apply_feature_service('bad', '{location_stats:temperature}',
    projections => '{"origin": {"feature_view": "location_stats"}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{location_stats:temperature}', projections => '[]');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}', projections => '{"origin": "location_stats"}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "name_alias": "x"}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": 1}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": ["location_id", "origin_id"]}}');
\echo :SQLSTATE
SELECT feast_apply_feature_service('bad', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": 7}}}');
\echo :SQLSTATE
-- an existing service is not changed by a refused re-apply
SELECT feast_apply_feature_service('trip_svc', '{origin:temperature}',
    projections => '{"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "Bad"}}}');
\echo :SQLSTATE
SELECT (SELECT count(*) FROM (SELECT name, features, projections FROM feast.feature_services
                              EXCEPT SELECT * FROM sp_before) x) AS changed,
       (SELECT count(*) FROM feast.feature_services) - (SELECT count(*) FROM sp_before) AS added;

-- the guards see through aliases: a feature a service reads under an alias cannot be dropped
-- (2BP01), the projected view cannot be deleted, and no view may take an alias's name
SELECT feast_apply_feature_view('location_stats', '{location}',
    '[{"name": "temperature", "dtype": "float64"}]', 'sp_loc_src');
\echo :SQLSTATE
-- in a repository too, and nothing of it is written
SELECT feast_apply('{"feature_views": [{"name": "location_stats", "entities": ["location"], "source": "sp_loc_src",
    "schema": [{"name": "temperature", "dtype": "float64"}]}],
  "feature_services": [{"name": "alias_svc", "features": ["origin"],
    "projections": {"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}}}}]}');
\echo :SQLSTATE
SELECT features FROM feast.feature_services WHERE name = 'alias_svc';
SELECT name FROM feast.features WHERE feature_view = 'location_stats' ORDER BY position;
-- a join key a projection maps must stay a join key of its view
SELECT feast_apply_feature_view('leg_stats', '{leg}', '[{"name": "minutes", "dtype": "int32"}]', 'sp_leg_src');
\echo :SQLSTATE
SELECT entities FROM feast.feature_views WHERE name = 'leg_stats';
SELECT feast_delete('feature_service', 'plain_svc');
SELECT feast_delete('feature_view', 'location_stats');
\echo :SQLSTATE
SELECT feast_apply_feature_view('origin', '{location}', '[{"name": "temperature", "dtype": "float64"}]', 'sp_loc_src');
\echo :SQLSTATE
SELECT count(*) AS origin_views FROM feast.feature_views WHERE name = 'origin';
-- the same repository may change the service and drop the feature
SELECT feast_delete('feature_service', 'od_svc'), feast_delete('feature_service', 'alias_svc');
SELECT feast_apply('{"feature_views": [{"name": "location_stats", "entities": ["location"], "source": "sp_loc_src",
    "schema": [{"name": "temperature", "dtype": "float64"}]}],
  "feature_services": [{"name": "trip_svc", "features": ["origin:temperature", "destination:temperature"],
    "projections": {"origin": {"feature_view": "location_stats", "join_key_map": {"location_id": "origin_id"}},
                    "destination": {"feature_view": "location_stats", "join_key_map": {"location_id": "destination_id"}}}}]}'
  ) -> 'updated';
SELECT name, features FROM feast.feature_services ORDER BY name;

-- grants: read and train on a service name the projected view's columns
SELECT feast_grant('regress_sp_reader', 'read', 'trip_svc');
SELECT feast_grant('regress_sp_reader', 'train', 'trip_svc');
SET ROLE regress_sp_reader;
SELECT feast_get_online_features(feature_service => 'trip_svc', full_feature_names => true,
    entity_rows => '{"origin_id": [10], "destination_id": [30]}') -> 'results' -> 2;
SELECT * FROM feast_online.location_stats;
\echo :SQLSTATE
RESET ROLE;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP VIEW sp_by_hand;
DROP FUNCTION sp_answer(jsonb);
DROP TABLE sp_loc, sp_trip, sp_trips, sp_training, sp_before, sp_leg;
DROP OWNED BY regress_sp_applier, regress_sp_reader CASCADE;
DROP ROLE regress_sp_applier, regress_sp_reader;
RESET client_min_messages;
