-- push_types: every dtype accepted and refused at its edges (SPEC section 2)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
-- zone-less timestamps are UTC whatever the session says
SET TimeZone = 'America/New_York';

SELECT feast_apply_entity('item', 'item_id', 'int64');
SELECT feast_apply_push_source('typed', NULL);
SELECT feast_apply_feature_view('t', '{item}', '[
  {"name": "i32", "dtype": "int32"}, {"name": "i64", "dtype": "int64"},
  {"name": "f32", "dtype": "float32"}, {"name": "f64", "dtype": "float64"},
  {"name": "s", "dtype": "string"}, {"name": "b", "dtype": "bytes"}, {"name": "ok", "dtype": "bool"},
  {"name": "ts", "dtype": "unix_timestamp"}, {"name": "j", "dtype": "json"},
  {"name": "ai", "dtype": "array(int64)"}, {"name": "af", "dtype": "Array(Float32)"},
  {"name": "astr", "dtype": "array(string)"}, {"name": "ats", "dtype": "array(unix_timestamp)"}]', 'typed');

-- push one row (a valid base row with some fields replaced; key 1, a fresh event time each
-- call), then show the stored values of the replaced fields
CREATE SEQUENCE pt_seq;
CREATE FUNCTION pg_temp.p(fields jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  PERFORM feast_push('typed', jsonb_build_array(jsonb_build_object(
    'item_id', 1, 'event_timestamp', 1700000000 + nextval('pt_seq'),
    'i32', 0, 'i64', 0, 'f32', 0, 'f64', 0, 's', '', 'b', '', 'ok', false, 'ts', 0, 'j', null,
    'ai', '[]'::jsonb, 'af', '[]'::jsonb, 'astr', '[]'::jsonb, 'ats', '[]'::jsonb) || fields));
  EXECUTE (SELECT 'SELECT concat_ws('', '', ' || string_agg(format('%L || ''='' || coalesce(%I::text, ''NULL'')', k, k), ', ')
                  || ') FROM feast_online.t' FROM jsonb_object_keys(fields) k) INTO result;
  RETURN result;
END $$;

-- int32
SELECT pg_temp.p('{"i32": 2147483647}');
SELECT pg_temp.p('{"i32": -2147483648}');
SELECT pg_temp.p('{"i32": 2147483648}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": -2147483649}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": 1.5}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": 5.0}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": "5"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": true}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i32": 1e2}');
-- int64: exact, never through double
SELECT pg_temp.p('{"i64": 9223372036854775807}');
SELECT pg_temp.p('{"i64": -9223372036854775808}');
SELECT pg_temp.p('{"i64": 9007199254740993}');
SELECT i64 = 9007199254740993 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"i64": 9223372036854775808}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i64": -9223372036854775809}');
\echo :SQLSTATE
SELECT pg_temp.p('{"i64": 100000000000000000000000}');
\echo :SQLSTATE
-- float32
SELECT pg_temp.p('{"f32": 0.1}');
SELECT f32 = 0.1::real AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f32": 3.4028235e38}');
SELECT pg_temp.p('{"f32": 1.17549435e-38}');
SELECT f32 = '1.17549435e-38'::real AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f32": 16777217}');
SELECT f32 = '16777217'::real AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f32": 3.5e38}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f32": -3.5e38}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f32": 1e-50}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f32": "NaN"}');
SELECT pg_temp.p('{"f32": "-Infinity"}');
SELECT pg_temp.p('{"f32": "nan"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f32": "abc"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f32": "1.5"}');
\echo :SQLSTATE
-- float64: the exact fast path and the correctly rounded slow path
SELECT pg_temp.p('{"f64": 0.1}');
SELECT f64 = 0.1::float8 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f64": 123456789.123456789}');
SELECT f64 = '123456789.123456789'::float8 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f64": -1.7976931348623157e308}');
SELECT pg_temp.p('{"f64": 4.9e-324}');
SELECT f64 = '4.9e-324'::float8 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f64": 1e22}');
SELECT f64 = 1e22::float8 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f64": 0.30000000000000004}');
SELECT f64 = '0.30000000000000004'::float8 AS exact FROM feast_online.t;
SELECT pg_temp.p('{"f64": 1e309}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f64": 1e-400}');
\echo :SQLSTATE
SELECT pg_temp.p('{"f64": "Infinity"}');
SELECT pg_temp.p('{"f64": [1]}');
\echo :SQLSTATE
-- string
SELECT pg_temp.p('{"s": "h\u00e9llo \"q\"\n\ttab"}');
SELECT pg_temp.p('{"s": 5}');
\echo :SQLSTATE
-- long values are cut in messages
SELECT pg_temp.p(jsonb_build_object('i32', repeat('x', 100)));
\echo :SQLSTATE
-- bytes: base64
SELECT pg_temp.p('{"b": "aGVsbG8="}');
SELECT pg_temp.p('{"b": "AP8="}');
SELECT pg_temp.p('{"b": "not base64!"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": 12}');
\echo :SQLSTATE
-- bool
SELECT pg_temp.p('{"ok": true}');
SELECT pg_temp.p('{"ok": "true"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ok": 1}');
\echo :SQLSTATE
-- unix_timestamp: ISO-8601 text (no zone = UTC) or epoch seconds
SELECT pg_temp.p('{"ts": "2024-05-01T10:00:00"}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": "2024-05-01 10:00:00+02:00"}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": "2024-05-01T10:00:00.123456Z"}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": "2024-05-01"}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": 1714557600}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": 1714557600.25}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": -1}');
SELECT ts AT TIME ZONE 'UTC' FROM feast_online.t;
SELECT pg_temp.p('{"ts": "now"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": "May 1 2024"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": "2024-13-01T00:00:00"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": "2024-05-01T10:00:00 nonsense"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": 1e20}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": true}');
\echo :SQLSTATE
-- json: any value; JSON null is SQL NULL
SELECT pg_temp.p('{"j": {"a": [1, null, "x"], "b": {"c": 1.5}}}');
SELECT pg_temp.p('{"j": "just a string"}');
SELECT pg_temp.p('{"j": null}');
SELECT j IS NULL AS is_sql_null FROM feast_online.t;
-- arrays: elements of the element type, nulls allowed
SELECT pg_temp.p('{"ai": [1, null, 9223372036854775807], "af": ["NaN", 1.5, null], "astr": ["a", null], "ats": ["2024-01-01T00:00:00Z", 0]}');
SELECT pg_temp.p('{"ai": []}');
SELECT pg_temp.p('{"ai": [1, "2"]}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ai": [1, [2]]}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ai": [1, 2.5]}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ai": 1}');
\echo :SQLSTATE
SELECT pg_temp.p('{"af": [1e39]}');
\echo :SQLSTATE
-- nothing above that failed changed the stored row
SELECT item_id, i32, i64, s, ok FROM feast_online.t;
