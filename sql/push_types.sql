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

-- numbers convert exactly as PostgreSQL's own float8in/float4in read the same text, across
-- the fast paths and the text path: shortest forms, 19-digit mantissas, big and small exponents
SELECT feast_apply_push_source('conv_src', NULL);
SELECT feast_apply_feature_view('conv', '{item}', '[{"name": "d", "dtype": "float64"}, {"name": "f", "dtype": "float32"}]', 'conv_src');
SELECT setseed(0.42);
CREATE TEMP TABLE vals AS
SELECT k, (CASE k % 4
    WHEN 0 THEN random()::text
    WHEN 1 THEN (floor(random() * 1e19)::numeric / power(10::numeric, (random() * 40)::int))::text
    WHEN 2 THEN (floor(random() * 1e17)::numeric * power(10::numeric, (random() * 20)::int))::text
    ELSE ((random() - 0.5) * 10 ^ ((random() * 60)::int - 30))::text END)::numeric AS v
  FROM generate_series(1, 20000) k;
SELECT feast_push('conv_src', (SELECT jsonb_agg(jsonb_build_object('item_id', k, 'event_timestamp', 0, 'd', v, 'f', v))
                                 FROM vals WHERE abs(v) < 3e38 AND (abs(v) > 1.2e-38 OR v = 0)));
SELECT count(*) AS compared,
       count(*) FILTER (WHERE o.d IS DISTINCT FROM v.v::text::float8) AS float64_mismatches,
       count(*) FILTER (WHERE o.f IS DISTINCT FROM v.v::text::float4) AS float32_mismatches
  FROM feast_online.conv o JOIN vals v ON v.k = o.item_id;
-- and timestamps in every shape agree with timestamptz input read as UTC
SET TimeZone = 'UTC';
CREATE TEMP TABLE tss AS
SELECT k, s FROM (VALUES (1, '2024-02-29T23:59:59.999999Z'), (2, '2024-02-29 23:59:59.5+05:30'),
  (3, '1999-12-31T00:00:00-08:00'), (4, '2024-05-01T10:00:00.1234567Z'), (5, '2024-05-01T10:00Z'),
  (6, '0001-01-01T00:00:00Z'), (7, '2024-05-01T10:00:00+0130'), (8, '2024-05-01T10:00:00-03'),
  (9, '2024-05-01T10:00:00.25'), (10, '2023-02-28')) AS t(k, s);
SELECT feast_push('conv_src', (SELECT jsonb_agg(jsonb_build_object('item_id', 100000 + k, 'event_timestamp', s, 'd', 0, 'f', 0)) FROM tss));
SELECT t.s, o.event_timestamp, o.event_timestamp = t.s::timestamptz AS agrees
  FROM feast_online.conv o JOIN tss t ON 100000 + t.k = o.item_id ORDER BY t.k;
SELECT feast_push('conv_src', '[{"item_id": 1, "event_timestamp": "2023-02-29", "d": 0, "f": 0}]');
\echo :SQLSTATE
SELECT feast_push('conv_src', '[{"item_id": 1, "event_timestamp": "2024-05-01T24:00:01Z", "d": 0, "f": 0}]');
\echo :SQLSTATE
