-- serving views (feast_serving.*): one per feature view and per feature service, ttl applied as
-- online reads apply it, kept current by every apply with the grants given on them, cheap by key
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
DROP ROLE IF EXISTS regress_sv_reader;
DROP ROLE IF EXISTS regress_sv_bi;
CREATE EXTENSION cfeast;
RESET client_min_messages;
CREATE ROLE regress_sv_reader;
CREATE ROLE regress_sv_bi;

-- what a BI tool sees: columns, types and comments
CREATE FUNCTION sv_columns(rel regclass) RETURNS TABLE (col text, type text, comment text)
LANGUAGE sql AS $$
    SELECT NULL::text, NULL::text, obj_description(rel, 'pg_class')
    UNION ALL
    (SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), col_description(rel, a.attnum)
       FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum)
$$;
-- feast_get_online_features' answer for one feature and one key: status and value
CREATE FUNCTION sv_api(ref text, keys jsonb, OUT k jsonb, OUT status text, OUT val jsonb) RETURNS SETOF record
LANGUAGE sql AS $$
    SELECT r -> 'results' -> 0 -> 'values' -> (i::int - 1), r -> 'results' -> 1 -> 'statuses' ->> (i::int - 1),
           r -> 'results' -> 1 -> 'values' -> (i::int - 1)
      FROM feast_get_online_features(ARRAY[ref], keys) r,
           generate_series(1, jsonb_array_length(r -> 'results' -> 0 -> 'values')) i
$$;

SELECT feast_apply_entity('driver', 'driver_id', description => 'The driver');
SELECT feast_apply_entity('customer', 'customer_id', 'string');
SELECT feast_apply_push_source('sv_push', NULL);
SELECT feast_apply_feature_view('sv_stats', '{driver}', '[
    {"name": "conv_rate", "dtype": "float64", "description": "Share of rides accepted"},
    {"name": "trips", "dtype": "int32"}]', 'sv_push', '1 hour', description => 'Driver stats');
SELECT feast_apply_feature_view('sv_pair', '{driver, customer}', '[{"name": "rides", "dtype": "int64"}]', 'sv_push');
SELECT feast_apply_feature_view('sv_global', '{}', '[{"name": "total", "dtype": "int64"}]', 'sv_push');
-- a feature named "age": the view's age column takes the next free name
SELECT feast_apply_feature_view('sv_people', '{customer}', '[{"name": "age", "dtype": "int32"}]', 'sv_push');

-- one view per online view, not extension members, owned by the extension's owner, security_invoker
SELECT c.relname, pg_get_userbyid(c.relowner) = (SELECT pg_get_userbyid(extowner) FROM pg_extension WHERE extname = 'cfeast') AS ext_owner,
       c.reloptions, EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') AS member
  FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY 1;
SELECT * FROM sv_columns('feast_serving.sv_stats');
SELECT * FROM sv_columns('feast_serving.sv_people');
SELECT * FROM sv_columns('feast_serving.sv_global');

-- values: 1 fresh, 2 outside the ttl (2020), 3 with a null feature; 9 missing
SELECT feast_push('sv_push', '[
  {"driver_id": 1, "customer_id": "a", "conv_rate": 0.5, "trips": 10, "rides": 1, "total": 7, "age": 30, "event_timestamp": "2100-01-01T00:00:00Z"},
  {"driver_id": 2, "customer_id": "b", "conv_rate": 0.25, "trips": 20, "rides": 2, "total": 8, "age": 31, "event_timestamp": "2020-01-01T00:00:00Z"},
  {"driver_id": 3, "customer_id": "a", "conv_rate": null, "trips": 30, "rides": 3, "total": 9, "age": null, "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT driver_id, event_timestamp, age > '0' AS aged, conv_rate, trips FROM feast_serving.sv_stats ORDER BY 1;
SELECT driver_id, customer_id, event_timestamp, rides FROM feast_serving.sv_pair ORDER BY 1, 2;
SELECT total, event_timestamp FROM feast_serving.sv_global;
SELECT customer_id, age FROM feast_serving.sv_people ORDER BY 1;
-- the same values, and NULL exactly where the API says OUTSIDE_MAX_AGE, NULL_VALUE or NOT_FOUND
SELECT a.k, a.status, a.val, to_jsonb(s.conv_rate) AS view_value,
       a.val IS NOT DISTINCT FROM COALESCE(to_jsonb(s.conv_rate), 'null') AS same
  FROM sv_api('sv_stats:conv_rate', '{"driver_id": [1, 2, 3, 9]}') a
  LEFT JOIN feast_serving.sv_stats s ON s.driver_id = (a.k)::bigint ORDER BY 1;

-- the ttl boundary: a row exactly ttl old is in, a microsecond older is out, as in online reads
BEGIN;
SELECT feast_push('sv_push', jsonb_build_array(
    jsonb_build_object('driver_id', 4, 'customer_id', 'x', 'conv_rate', 4, 'trips', 4, 'rides', 4, 'total', 4, 'age', 4,
                       'event_timestamp', now() - '1 hour'::interval),
    jsonb_build_object('driver_id', 5, 'customer_id', 'x', 'conv_rate', 5, 'trips', 5, 'rides', 5, 'total', 5, 'age', 5,
                       'event_timestamp', now() - '1 hour 0.000001 second'::interval)));
SELECT s.driver_id, s.conv_rate, s.age, a.status
  FROM feast_serving.sv_stats s JOIN sv_api('sv_stats:conv_rate', '{"driver_id": [4, 5]}') a ON (a.k)::bigint = s.driver_id
 WHERE s.driver_id IN (4, 5) ORDER BY 1;
ROLLBACK;

-- a key lookup uses the online table's primary key
EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.sv_stats WHERE driver_id = 1;
EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.sv_pair WHERE driver_id = 1 AND customer_id = 'a';

-- a service: keys of its views, view__feature, view__event_timestamp, age of the stalest value
SELECT feast_apply_feature_service('sv_svc', '{sv_stats:trips, sv_pair, sv_global:total}', 'For the dashboard');
SELECT * FROM sv_columns('feast_serving.sv_svc');
SELECT driver_id, customer_id, age > '0' AS aged, sv_stats__trips, sv_pair__rides, sv_global__total,
       sv_stats__event_timestamp, sv_pair__event_timestamp
  FROM feast_serving.sv_svc ORDER BY 1, 2;
-- the key predicate reaches the primary key of every keyed table (the entityless view's table has one row)
EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.sv_svc WHERE driver_id = 1 AND customer_id = 'a';
-- a service over views of one entity set
SELECT feast_apply_feature_view('sv_more', '{driver}', '[{"name": "stars", "dtype": "float32"}]', 'sv_push');
SELECT feast_push('sv_push', '[{"driver_id": 9, "customer_id": "z", "conv_rate": 1, "trips": 1, "rides": 1, "total": 1, "age": 1,
                                "stars": 4.5, "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT feast_apply_feature_service('sv_drivers', '{sv_stats, sv_more}');
SELECT driver_id, sv_stats__conv_rate, sv_stats__trips, sv_more__stars FROM feast_serving.sv_drivers ORDER BY 1;
EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.sv_drivers WHERE driver_id = 9;
-- service values equal the API's with full feature names
SELECT count(*) AS keys, count(*) FILTER (WHERE
         (feast_get_online_features(feature_service => 'sv_drivers', entity_rows => jsonb_build_object('driver_id', jsonb_build_array(d.driver_id)),
                                    full_feature_names => true) -> 'results' -> 1 -> 'values' -> 0)
         IS NOT DISTINCT FROM COALESCE(to_jsonb(d.sv_stats__conv_rate), 'null')) AS same
  FROM feast_serving.sv_drivers d;

-- names: a view and a service cannot share one (each has feast_serving.<name>)
SELECT feast_apply_feature_service('sv_stats', '{sv_stats:trips}');
SELECT feast_apply_feature_view('sv_svc', '{driver}', '[{"name": "x", "dtype": "int32"}]', 'sv_push');
SELECT feast_apply('{"feature_views": [{"name": "sv_twin", "entities": ["driver"], "source": "sv_push",
                     "schema": [{"name": "x", "dtype": "int32"}]}],
                     "feature_services": [{"name": "sv_twin", "features": ["sv_twin"]}]}');

-- grants: feast_grant read grants the serving view too; reading needs the online table's columns too
SELECT feast_grant('regress_sv_reader', 'read', 'sv_stats');
SELECT feast_grant('regress_sv_reader', 'read', 'sv_svc');
GRANT SELECT ON feast_serving.sv_stats TO regress_sv_bi WITH GRANT OPTION;
GRANT SELECT (driver_id, rides) ON feast_serving.sv_pair TO regress_sv_bi;
SET ROLE regress_sv_reader;
SELECT driver_id, trips FROM feast_serving.sv_stats WHERE driver_id = 1;
SELECT driver_id, sv_stats__trips, sv_global__total FROM feast_serving.sv_svc WHERE driver_id = 1 ORDER BY customer_id;
SELECT * FROM feast_serving.sv_pair;
RESET ROLE;
SET ROLE regress_sv_bi;
SELECT driver_id FROM feast_serving.sv_stats;
RESET ROLE;
CREATE FUNCTION sv_acl() RETURNS TABLE (rel text, col text, acl text)
LANGUAGE sql AS $$
    SELECT c.relname::text, NULL::text, array_to_string(array(SELECT unnest(c.relacl)::text ORDER BY 1), ' ')
      FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace AND c.relacl IS NOT NULL
    UNION ALL
    SELECT c.relname::text, a.attname::text, array_to_string(array(SELECT unnest(a.attacl)::text ORDER BY 1), ' ')
      FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
     WHERE c.relnamespace = 'feast_serving'::regnamespace AND a.attacl IS NOT NULL
    ORDER BY 1, 2
$$;
SELECT * FROM sv_acl();
-- a user's own view on a serving view
CREATE VIEW sv_dash AS SELECT driver_id, conv_rate FROM feast_serving.sv_stats;

-- re-apply adding a feature at the end: replaced in place (same view, grants, dependents)
SELECT 'feast_serving.sv_stats'::regclass::oid AS stats_oid \gset
SELECT feast_apply_feature_view('sv_stats', '{driver}', '[
    {"name": "conv_rate", "dtype": "float64", "description": "Share of rides accepted"},
    {"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32", "description": "Stars"}]', 'sv_push', '1 hour',
    description => 'Driver stats');
SELECT 'feast_serving.sv_stats'::regclass::oid = :stats_oid AS same_view;
SELECT * FROM sv_columns('feast_serving.sv_stats');
SELECT * FROM sv_acl();
SELECT * FROM sv_dash ORDER BY 1;
-- removing a feature a user's view reads is refused (the user's view is not dropped behind its back)
SELECT feast_apply_feature_view('sv_stats', '{driver}', '[
    {"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32"}]', 'sv_push', '1 hour');
DROP VIEW sv_dash;
-- removing a feature: dropped and created again, its grants replayed
SELECT feast_apply_feature_view('sv_stats', '{driver}', '[
    {"name": "trips", "dtype": "int32"}, {"name": "rating", "dtype": "float32", "description": "Stars"}]', 'sv_push', '2 hours');
SELECT * FROM sv_columns('feast_serving.sv_stats');
SELECT * FROM sv_columns('feast_serving.sv_svc');
SELECT * FROM sv_acl();
SET ROLE regress_sv_reader;
SELECT driver_id, trips, rating FROM feast_serving.sv_stats WHERE driver_id = 1;
RESET ROLE;
-- a service naming a feature that goes is refused, and nothing changed
SELECT feast_apply_feature_view('sv_stats', '{driver}', '[{"name": "rating", "dtype": "float32"}]', 'sv_push');
SELECT count(*) AS columns FROM sv_columns('feast_serving.sv_stats');
-- a retyped feature (empty table): dropped and created, grants kept
GRANT SELECT ON feast_serving.sv_more TO regress_sv_bi;
TRUNCATE feast_online.sv_more;
SELECT feast_apply_feature_view('sv_more', '{driver}', '[{"name": "stars", "dtype": "int64"}]', 'sv_push');
SELECT * FROM sv_columns('feast_serving.sv_more') WHERE col = 'stars';
SELECT * FROM sv_acl() WHERE rel = 'sv_more';

-- an entity's new description reaches the serving views' key columns
SELECT feast_apply_entity('driver', 'driver_id', description => 'Driver id');
SELECT rel, comment FROM (SELECT 'sv_stats' AS rel, * FROM sv_columns('feast_serving.sv_stats')
                          UNION ALL SELECT 'sv_svc', * FROM sv_columns('feast_serving.sv_svc')) x
 WHERE col = 'driver_id' ORDER BY 1;

-- offline views have none; back online, it is back
TRUNCATE feast_online.sv_people;
SELECT feast_apply_feature_view('sv_people', '{customer}', '[{"name": "age", "dtype": "int32"}]', 'sv_push', online => false);
SELECT to_regclass('feast_serving.sv_people') AS offline;
SELECT feast_apply_feature_view('sv_people', '{customer}', '[{"name": "age", "dtype": "int32"}]', 'sv_push');
SELECT to_regclass('feast_serving.sv_people') AS online;

-- feast_apply keeps them current; deletes drop them
SELECT feast_apply('{"feature_views": [{"name": "sv_more", "entities": ["driver"], "source": "sv_push",
                     "schema": [{"name": "stars", "dtype": "int64"}, {"name": "votes", "dtype": "int32"}]}],
                     "feature_services": [{"name": "sv_only_more", "features": ["sv_more:votes"]}]}') - 'unchanged' AS applied;
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY 1;
SELECT * FROM sv_columns('feast_serving.sv_more');
SELECT * FROM sv_acl();
SELECT feast_delete('feature_service', 'sv_only_more');
SELECT feast_delete('feature_service', 'sv_drivers');
SELECT feast_delete('feature_view', 'sv_more');
SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY 1;

-- a service that renames (projections): the view under each alias, read through the key column
-- its join_key_map names; two aliases with no key in common combine every origin with every
-- destination, and a lookup by both keys uses the primary key for each
SELECT feast_apply_entity('location', 'location_id', description => 'A place');
SELECT feast_apply_push_source('sv_loc_push', NULL);
SELECT feast_apply_feature_view('sv_loc', '{location}', '[{"name": "temp", "dtype": "float64", "description": "Degrees"}]',
                                'sv_loc_push', '1 hour');
SELECT feast_push('sv_loc_push', '[{"location_id": 10, "temp": 10.5, "event_timestamp": "2100-01-01T00:00:00Z"},
                                   {"location_id": 20, "temp": 20.5, "event_timestamp": "2020-01-01T00:00:00Z"}]');
SELECT feast_apply_feature_service('sv_trip', '{origin:temp, destination:temp, sv_stats:trips}',
    projections => '{"origin": {"feature_view": "sv_loc", "join_key_map": {"location_id": "origin_id"}},
                     "destination": {"feature_view": "sv_loc", "join_key_map": {"location_id": "destination_id"}}}');
SELECT * FROM sv_columns('feast_serving.sv_trip');
SELECT origin_id, destination_id, driver_id, origin__temp, destination__temp, sv_stats__trips
  FROM feast_serving.sv_trip WHERE driver_id = 1 ORDER BY 1, 2;
EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.sv_trip WHERE origin_id = 10 AND destination_id = 20 AND driver_id = 1;
-- the same values as the API with full feature names (origin 10 fresh, destination 20 outside the ttl)
SELECT r -> 'metadata' -> 'feature_names' AS names, jsonb_path_query_array(r, '$.results[3 to 5].values[0]') AS api,
       jsonb_path_query_array(r, '$.results[3 to 5].statuses[0]') AS statuses,
       (SELECT jsonb_build_array(origin__temp, destination__temp, sv_stats__trips) FROM feast_serving.sv_trip
         WHERE origin_id = 10 AND destination_id = 20 AND driver_id = 1) AS serving
  FROM feast_get_online_features(feature_service => 'sv_trip', full_feature_names => true,
           entity_rows => '[{"origin_id": 10, "destination_id": 20, "driver_id": 1}]') r;
SELECT feast_delete('feature_service', 'sv_trip');

-- an online table changed behind the registry's back (CASCADE drops its serving views): a
-- re-apply warns and goes on without the view; restored, the next re-apply brings it back
SET client_min_messages = warning;
ALTER TABLE feast_online.sv_people DROP COLUMN age CASCADE;
RESET client_min_messages;
SELECT feast_apply_feature_view('sv_people', '{customer}', '[{"name": "age", "dtype": "int32"}]', 'sv_push');
SELECT to_regclass('feast_serving.sv_people') AS gone;
ALTER TABLE feast_online.sv_people ADD COLUMN age integer;
SELECT feast_apply_feature_view('sv_people', '{customer}', '[{"name": "age", "dtype": "int32"}]', 'sv_push');
SELECT to_regclass('feast_serving.sv_people') AS back;

-- a store made under 0.3 gets its serving views on update: not extension members, a role that
-- may read every online column a serving view reads may read the view; a view and a service
-- that 0.3 let share a name: the view keeps it, the service gets none (a WARNING says so)
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
CREATE EXTENSION cfeast VERSION '0.3';
RESET client_min_messages;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('up_push', NULL);
SELECT feast_apply_feature_view('up_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64", "description": "Rate"}]',
                                'up_push', '1 day');
SELECT feast_apply_feature_view('up_twin', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'up_push');
SELECT feast_apply_feature_service('up_svc', '{up_stats, up_twin:trips}');
SELECT feast_apply_feature_service('up_twin', '{up_stats:conv_rate}');
SELECT feast_push('up_push', '[{"driver_id": 1, "conv_rate": 0.5, "trips": 3, "event_timestamp": "2100-01-01T00:00:00Z"},
                               {"driver_id": 2, "conv_rate": 0.25, "trips": 4, "event_timestamp": "2020-01-01T00:00:00Z"}]');
SELECT count(*) FROM feast_grant('regress_sv_reader', 'read', 'up_stats');
SELECT count(*) FROM feast_grant('regress_sv_bi', 'read', 'up_svc');
ALTER EXTENSION cfeast UPDATE TO '0.4';
SELECT c.relname, c.reloptions, EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') AS member
  FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY 1;
SELECT * FROM sv_acl();
SELECT * FROM sv_columns('feast_serving.up_twin');
SET ROLE regress_sv_reader;
SELECT driver_id, conv_rate FROM feast_serving.up_stats ORDER BY 1;
RESET ROLE;
SELECT driver_id, up_stats__conv_rate, up_twin__trips FROM feast_serving.up_svc ORDER BY 1;
-- the next apply keeps them current (the clash is named again, nothing fails)
SELECT feast_apply_feature_view('up_twin', '{driver}', '[{"name": "trips", "dtype": "int32"}, {"name": "km", "dtype": "float64"}]', 'up_push');
SELECT * FROM sv_columns('feast_serving.up_twin');

-- clean up
SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP OWNED BY regress_sv_reader, regress_sv_bi CASCADE;
DROP ROLE regress_sv_reader, regress_sv_bi;
RESET client_min_messages;
