-- security_search_path: cfeast works with search_path = '' and ignores a hostile schema ahead of pg_catalog
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP SCHEMA IF EXISTS evil CASCADE;
DROP TABLE IF EXISTS sp_trips, sp_ts, sp_ts2;
RESET client_min_messages;

CREATE TABLE sp_trips (driver_id bigint, conv_rate double precision, trips integer, label text,
                       event_timestamp timestamp, created timestamptz);

-- a schema whose operators and functions shadow pg_catalog's: any call raises an error
CREATE SCHEMA evil;
CREATE FUNCTION evil.trap(text) RETURNS boolean LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'evil.% was called', $1; END$$;
CREATE FUNCTION evil.eq(text, text) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('= (text)')$$;
CREATE FUNCTION evil.eq(bigint, bigint) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('= (bigint)')$$;
CREATE FUNCTION evil.eq(integer, integer) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('= (integer)')$$;
CREATE FUNCTION evil.ne(text, text) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('<> (text)')$$;
CREATE FUNCTION evil.gt(timestamptz, timestamptz) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('> (timestamptz)')$$;
CREATE FUNCTION evil.exists(jsonb, text) RETURNS boolean LANGUAGE sql AS $$SELECT evil.trap('? (jsonb)')$$;
CREATE OPERATOR evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.eq);
CREATE OPERATOR evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.eq);
CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = evil.eq);
CREATE OPERATOR evil.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.ne);
CREATE OPERATOR evil.> (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.gt);
CREATE OPERATOR evil.? (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = evil.exists);
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE sql AS $$SELECT evil.trap('now()')::int::timestamptz$$;
CREATE FUNCTION evil.lower(text) RETURNS text LANGUAGE sql AS $$SELECT evil.trap('lower()')::text$$;
CREATE FUNCTION evil.format(text, VARIADIC "any") RETURNS text LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'evil.format() was called'; END$$;
CREATE FUNCTION evil.jsonb_typeof(jsonb) RETURNS text LANGUAGE sql AS $$SELECT evil.trap('jsonb_typeof()')::text$$;
CREATE FUNCTION evil.quote_ident(text) RETURNS text LANGUAGE sql AS $$SELECT evil.trap('quote_ident()')::text$$;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE sql AS $$SELECT evil.trap('to_regclass()')::text::regclass$$;
CREATE FUNCTION evil.timezone(text, timestamp) RETURNS timestamptz LANGUAGE sql AS $$SELECT evil.trap('timezone()')::int::timestamptz$$;
CREATE FUNCTION evil.array_to_string(anyarray, text) RETURNS text LANGUAGE sql AS $$SELECT evil.trap('array_to_string()')::text$$;
CREATE FUNCTION evil.split_part(text, text, integer) RETURNS text LANGUAGE sql AS $$SELECT evil.trap('split_part()')::text$$;
-- and tables named like the registry's
CREATE TABLE evil.entities (name text, join_key text, value_type text);
CREATE TABLE evil.feature_views (name text);
CREATE TABLE evil.data_sources (name text);
-- the trap works
SET search_path = evil, pg_catalog, public;
SELECT 'a'::text = 'a'::text;
\echo :SQLSTATE

-- every step of a feature store's life, with evil first in search_path
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('sp_batch', 'public.sp_trips', 'event_timestamp', 'created', '{"label": "tag"}');
SELECT feast_apply_push_source('sp_push', 'sp_batch');
SELECT feast_apply_feature_view('sp_stats', '{driver}',
       '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}, {"name": "tag", "dtype": "string"}]',
       'sp_push', '1 day');
SELECT feast_apply_feature_view('sp_stats', '{driver}',
       '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}, {"name": "tag", "dtype": "string"}]',
       'sp_push', '1 day');
SELECT feast_apply_feature_service('sp_service', '{sp_stats:conv_rate}');
SELECT feast_apply('{"entities": [{"name": "rider"}], "data_sources": [{"name": "sp_push2", "kind": "push"}],
                     "feature_views": [{"name": "sp_rider", "entities": ["rider"], "source": "sp_push2",
                                        "schema": [{"name": "rating", "dtype": "float32"}]}]}');
SELECT feast_push('sp_push', '[{"driver_id": 1, "conv_rate": 0.5, "trips": 3, "tag": "a", "event_timestamp": "2026-01-01T00:00:00Z"},
                               {"driver_id": 1, "conv_rate": 0.6, "trips": 4, "tag": "b", "event_timestamp": "2026-01-02T00:00:00Z"},
                               {"driver_id": 2, "conv_rate": 0.7, "trips": 5, "tag": null, "event_timestamp": "2026-01-01T00:00:00Z",
                                "created": "2026-01-01T00:00:01Z"}]', 'online_and_offline');
SELECT feast_push('sp_push', '{"driver_id": [2, 3], "conv_rate": [0.1, 0.2], "trips": [1, 2], "tag": ["old", "c"],
                               "event_timestamp": ["2025-01-01T00:00:00Z", 1767225600]}');
SELECT feast_push('sp_push2', '[{"rider": 9, "rating": 4.5, "event_timestamp": "2026-01-01T00:00:00Z"}]');
SELECT feast_delete('feature_service', 'sp_service');
SELECT feast_apply('{"entities": [{"name": "driver", "join_key": "driver_id"}],
                     "data_sources": [{"name": "sp_push", "kind": "push", "batch_source": "sp_batch"},
                                      {"name": "sp_batch", "kind": "batch", "relation": "public.sp_trips",
                                       "timestamp_field": "event_timestamp", "created_timestamp_column": "created",
                                       "field_mapping": {"label": "tag"}}],
                     "feature_views": [{"name": "sp_stats", "entities": ["driver"], "source": "sp_push", "ttl": 86400,
                                        "schema": [{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"},
                                                   {"name": "tag", "dtype": "string"}]}]}', true);
-- a bad row still gets the usual error, not an evil one
SELECT feast_push('sp_push', '[{"driver_id": "x", "conv_rate": 0.5, "trips": 3, "tag": "a", "event_timestamp": "2026-01-01T00:00:00Z"}]');
\echo :SQLSTATE
-- reads, materialization and training sets too
SELECT feast_get_online_features('{sp_stats:conv_rate, sp_stats:tag}', '{"driver_id": [1, 2, 4]}');
SET client_min_messages = warning;   -- materialize's progress NOTICE carries a rate
SELECT feast_materialize('2025-01-01', '2026-06-01', '{sp_stats}');
RESET client_min_messages;
SELECT feast_create_training_set('public.sp_ts',
       'SELECT * FROM (VALUES (1::bigint, ''2026-01-01 12:00+00''::timestamptz), (2, ''2026-01-03+00''), (9, ''2026-01-03+00'')) e(driver_id, event_timestamp)',
       '{sp_stats:conv_rate, sp_stats:tag}');
SELECT feast_historical_features_sql('SELECT 1::bigint AS driver_id, ''2026-01-02+00''::timestamptz AS event_timestamp',
                                     feature_service => NULL, features => '{sp_stats:trips}') AS q \gset
:q;
RESET search_path;
SELECT * FROM sp_ts ORDER BY driver_id;
SELECT feature_view, start_ts, end_ts, rows_written FROM feast.materialization_intervals;
SELECT driver_id, conv_rate, trips, tag, event_timestamp, created_timestamp FROM feast_online.sp_stats ORDER BY driver_id;
SELECT driver_id, conv_rate, trips, label, event_timestamp, created FROM sp_trips ORDER BY driver_id, event_timestamp;
SELECT name FROM feast.feature_views ORDER BY name;
SELECT name, kind FROM feast.data_sources ORDER BY name;
SELECT count(*) AS evil_rows FROM evil.entities;

-- with an empty search_path, every function called qualified
SET search_path = '';
SELECT public.feast_apply_entity('rider2', 'rider_id', 'string');
SELECT public.feast_apply_push_source('sp_push3', NULL);
SELECT public.feast_apply_feature_view('sp_rider2', '{rider2}', '[{"name": "score", "dtype": "array(float64)"}]', 'sp_push3');
SELECT public.feast_push('sp_push3', '[{"rider_id": "r1", "score": [1, 2.5, null], "event_timestamp": "2026-01-01T00:00:00Z"}]');
SELECT public.feast_push('sp_push3', '[{"rider_id": "r1", "score": [1, "x"], "event_timestamp": "2026-01-01T00:00:00Z"}]');
\echo :SQLSTATE
SELECT public.feast_apply_feature_service('sp_service2', '{sp_rider2}');
SELECT public.feast_delete('feature_service', 'sp_service2');
SELECT public.feast_apply('{"entities": [{"name": "rider2", "join_key": "rider_id", "value_type": "string"}]}');
SELECT * FROM public.feast_grant('public', 'read', 'sp_rider2');
SELECT rider_id, score FROM feast_online.sp_rider2;
SELECT public.feast_get_online_features(entity_rows => '[{"rider_id": "r1"}]', features => '{sp_rider2:score}') -> 'results';
SELECT public.feast_create_training_set('public.sp_ts2',
       'SELECT 1::pg_catalog.int8 AS driver_id, ''2026-01-02+00''::pg_catalog.timestamptz AS event_timestamp',
       '{sp_stats:trips}');
SET client_min_messages = warning;
SELECT public.feast_materialize_incremental('2026-06-02', '{sp_stats}');
RESET client_min_messages;
RESET search_path;
SELECT driver_id, event_timestamp, trips FROM sp_ts2;
SELECT feature_view, start_ts, end_ts FROM feast.materialization_intervals ORDER BY end_ts;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP SCHEMA evil CASCADE;
DROP TABLE sp_trips, sp_ts, sp_ts2;
RESET client_min_messages;
