-- types_strict: bytes are strict base64, timestamps strict ISO-8601 or epoch seconds over the
-- whole range of timestamptz, and every fast conversion path answers exactly as the plain
-- PostgreSQL routine it shortcuts
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';
SET DateStyle = 'ISO, YMD';
-- test-only C functions in cfeast.so (not in the extension's SQL): convert values with the fast
-- paths on or off (bench), and count values where the two modes answer differently (check)
CREATE FUNCTION pg_temp.conversion_bench(vals jsonb, dtype text, fast boolean, loops int) RETURNS float8
  LANGUAGE C STRICT AS '$libdir/cfeast', 'cfeast_conversion_bench';
CREATE FUNCTION pg_temp.conversion_check(vals jsonb, dtype text) RETURNS text
  LANGUAGE C STRICT AS '$libdir/cfeast', 'cfeast_conversion_check';
-- one value through the converter (fast paths on): 'ok' or the error's SQLSTATE and message
CREATE FUNCTION pg_temp.conv(v jsonb, dtype text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_temp.conversion_bench(jsonb_build_array(v), dtype, true, 1);
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

SELECT feast_apply_entity('thing', 'thing_id', 'int64');
SELECT feast_apply_push_source('strict_src', NULL);
SELECT feast_apply_feature_view('strict', '{thing}', '[{"name": "b", "dtype": "bytes"},
  {"name": "ts", "dtype": "unix_timestamp"}, {"name": "abs", "dtype": "array(bytes)"}]', 'strict_src');
-- push one row for key 1 with the given fields (fresh event time each call), show the stored row
CREATE SEQUENCE st_seq;
CREATE FUNCTION pg_temp.p(fields jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  result text;
BEGIN
  PERFORM feast_push('strict_src', jsonb_build_array(jsonb_build_object(
    'thing_id', 1, 'event_timestamp', 1700000000 + nextval('st_seq'), 'b', '', 'ts', 0, 'abs', '[]'::jsonb) || fields));
  SELECT concat_ws(', ', 'b=' || b::text, 'ts=' || ts, 'abs=' || abs::text) INTO result
    FROM feast_online.strict WHERE thing_id = 1;
  RETURN result;
END $$;

-- bytes: canonical, padded base64
SELECT pg_temp.p('{"b": "YQ=="}');
SELECT pg_temp.p('{"b": "YWI="}');
SELECT pg_temp.p('{"b": "YWJj"}');
SELECT pg_temp.p('{"b": "+/+/"}');
SELECT pg_temp.p('{"b": ""}');
-- data after the padding was decoded as if it were padding (YQ==YWJj gave 0x6161)
SELECT pg_temp.p('{"b": "YQ==YWJj"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "YQ=a"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "Y==="}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "===="}');
\echo :SQLSTATE
-- unpadded or truncated
SELECT pg_temp.p('{"b": "YQ"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "YWJjZ"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "="}');
\echo :SQLSTATE
-- whitespace and line breaks (PostgreSQL's decode skips them; a JSON string has no need of them)
SELECT pg_temp.p('{"b": "YW Jj"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "YWJj\n"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "\tYWJj"}');
\echo :SQLSTATE
-- other alphabets and characters
SELECT pg_temp.p('{"b": "YW-_"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "YWJ\u00e9"}');
\echo :SQLSTATE
-- nonzero bits in what the padding leaves unused: "YR==" would also decode to "a"
SELECT pg_temp.p('{"b": "YR=="}');
\echo :SQLSTATE
SELECT pg_temp.p('{"b": "YWJ="}');
\echo :SQLSTATE
-- in arrays, the element is named
SELECT pg_temp.p('{"abs": ["YQ==", null, "YQ==YWJj"]}');
\echo :SQLSTATE
-- nothing above that failed changed the stored row
SELECT b FROM feast_online.strict WHERE thing_id = 1;

-- timestamps: ISO-8601 and nothing else
SELECT pg_temp.p('{"ts": "2024-05-01 BC"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": "2024-05-01 allballs"}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": "2024-05-01T10:00:00 BC"}');
\echo :SQLSTATE
-- every other word, zone name, and shape outside the grammar is refused, in both modes alike
SELECT s, pg_temp.conv(to_jsonb(s), 'unix_timestamp') AS outcome
  FROM unnest(ARRAY['epoch', 'infinity', '-infinity', 'today', 'tomorrow', 'now', 'allballs',
    '2024-05-01 today', '2024-05-01 10:00:00 UTC', '2024-05-01T10:00:00 America/New_York',
    '2024-05-01T10:00:00EST', '2024-05-01T10:00:00 +02:00', '2024-05-01T10:00:00+02:00:00',
    '2024-05-01T10', '2024-05-01T10:00:00,5', '20240501T100000Z', '2024-05-01Z', ' 2024-05-01',
    '2024-05-01 ', '2024-05-01T10:00:00.Z', '2024-05-01T10:00:00+16:00', '2024-05-01T10:00:00+02:60',
    '12024-05-01', '2024-5-1', '0000-01-01', '2023-02-29', '2024-05-01T25:00:00', '2024-05-01T10:60:00',
    '2024-05-01T10:00:61', '2024-05-01T24:00:01Z', '2024-05-01T24:30Z', '2024-05-01T23:59:60.5Z',
    '2024-05-01T10:00:00+2', '2024-05-01T10:00:00+02:0', '2024-05-01T10:00:00+0200Z', 'J2460432',
    '2024-05-01 10:00:00 pm', '2024-05-01T10:00:00.5.5', '2024-05-01T10:00:00Zulu', '2024-W18-3',
    '2024-122', '2024-05-01T10:00:00 Z', '2024-05-01TT10:00:00']) AS s;
-- what the grammar accepts is what PostgreSQL's timestamptz input reads (no zone: UTC)
CREATE TEMP TABLE good AS
SELECT k, s FROM unnest(ARRAY['2024-05-01', '2024-05-01T10:00', '2024-05-01 10:00Z',
    '2024-05-01t10:00:00z', '2024-05-01T10:00:00.5-00:00', '2024-05-01T10:00:00+1530',
    '2024-05-01T10:00:00-15:59', '2024-05-01T24:00:00Z', '2024-05-01T24:00:00.000Z',
    '2016-12-31T23:59:60Z', '2024-05-01T10:00:00.1234565Z', '2024-05-01T10:00:00.9999995',
    '2024-05-01T10:00:00.000000000001+01', '0001-01-01T00:00:00+15:00', '9999-12-31T23:59:59.999999-15:59',
    '2000-02-29', '1900-02-28T12:00:00Z']) WITH ORDINALITY AS t(s, k);
SELECT feast_push('strict_src', (SELECT jsonb_agg(jsonb_build_object('thing_id', 100 + k,
  'event_timestamp', 0, 'b', null, 'ts', s, 'abs', null)) FROM good));
SELECT g.s, o.ts, o.ts = g.s::timestamptz AS agrees
  FROM good g JOIN feast_online.strict o ON o.thing_id = 100 + g.k ORDER BY g.k;

-- epoch seconds: the whole range of timestamptz, 4714-11-24 BC to 294276-12-31
SELECT pg_temp.p('{"ts": 9224318015999}');
SELECT pg_temp.p('{"ts": 9224318015999.999999}');
SELECT pg_temp.p('{"ts": 9223372036854.775807}');
SELECT pg_temp.p('{"ts": 9223372036855}');
SELECT pg_temp.p('{"ts": 9000000000000}');
SELECT pg_temp.p('{"ts": -210866803200}');
SELECT pg_temp.p('{"ts": -210866803199.9999995}');
SELECT pg_temp.p('{"ts": 9224318016000}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": 9224318015999.9999995}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": -210866803200.000001}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": 1e300}');
\echo :SQLSTATE
SELECT pg_temp.p('{"ts": -1.5e300}');
\echo :SQLSTATE
-- the same instant as PostgreSQL's own timestamptz
SELECT pg_temp.p('{"ts": 9224318015999.5}');
SELECT ts = '294276-12-31 23:59:59.5+00'::timestamptz AS agrees FROM feast_online.strict WHERE thing_id = 1;

-- fast paths and plain routines agree, value for value (bit for bit) and error for error
SELECT setseed(0.7);
CREATE TEMP TABLE nums AS
SELECT (CASE k % 6
    WHEN 0 THEN random()::text
    WHEN 1 THEN (floor(random() * 1e19)::numeric / power(10::numeric, (random() * 40)::int))::text
    WHEN 2 THEN (floor(random() * 1e17)::numeric * power(10::numeric, (random() * 20)::int))::text
    WHEN 3 THEN round((random() * 1e4)::numeric, (random() * 4)::int)::text
    WHEN 4 THEN random()::real::text
    ELSE ((random() - 0.5) * 10 ^ ((random() * 80)::int - 40))::text END)::numeric AS v
  FROM generate_series(1, 6000) k;
INSERT INTO nums VALUES (0), (-0.0), (1e22), (1e23), (9007199254740993), (9007199254740992.5),
  (3.4028235e38), (3.4028236e38), (1.17549435e-38), (1e-45), (1.4e-45), (16777217), (16777216.5),
  (4.9e-324), (2.5e-324), (1.7976931348623157e308), (1.7976931348623159e308), (1e309), (1e-400),
  (0.30000000000000004), (123456789012345678901234567890), (9223372036854775807),
  (9223372036854775808), (-9223372036854775808), (-9223372036854775809), (5.0), (1e2), (-1);
SELECT dtype, pg_temp.conversion_check((SELECT jsonb_agg(v) FROM nums), dtype) AS differ
  FROM unnest(ARRAY['int32', 'int64', 'float32', 'float64', 'unix_timestamp']) AS dtype;
-- integers of every size and epoch seconds near the ends of the range
SELECT pg_temp.conversion_check((SELECT jsonb_agg(v) FROM (
  SELECT floor((random() - 0.5) * 10 ^ (random() * 21)::int)::numeric AS v FROM generate_series(1, 3000)
  UNION ALL SELECT 9224318016000 + d FROM generate_series(-3, 3) d
  UNION ALL SELECT -210866803200 + d FROM generate_series(-3, 3) d
  UNION ALL SELECT 9224318015999.9999995 + d / 1e7 FROM generate_series(-3, 3) d) x), dtype) AS differ
  FROM unnest(ARRAY['int64', 'unix_timestamp']) AS dtype;
-- timestamps in generated shapes: dates, times, fractions of 0-9 digits, zones and offsets
SELECT pg_temp.conversion_check((SELECT jsonb_agg(
    to_char(t, 'YYYY-MM-DD') || CASE WHEN k % 7 = 0 THEN '' ELSE
      (CASE k % 2 WHEN 0 THEN 'T' ELSE ' ' END) || to_char(t, 'HH24:MI') ||
      (CASE WHEN k % 5 = 0 THEN '' ELSE to_char(t, ':SS') ||
        (CASE WHEN k % 3 = 0 THEN '' ELSE '.' || left(to_char(t, 'US') || '987', 1 + k % 9) END) END) ||
      (CASE k % 4 WHEN 0 THEN '' WHEN 1 THEN 'Z' WHEN 2 THEN to_char(k % 31 - 15, 'S00') || ':' || lpad((k % 60)::text, 2, '0')
        ELSE to_char(k % 31 - 15, 'S00') END) END)
  FROM (SELECT k, timestamp '0001-01-01' + random() * (timestamp '9999-12-31' - timestamp '0001-01-01') AS t
          FROM generate_series(1, 3000) k) g), 'unix_timestamp') AS differ;
-- and the refusals above, in both modes
SELECT pg_temp.conversion_check(to_jsonb(ARRAY['YQ==YWJj', 'YQ==', 'YW Jj', 'YR==', 'x']), 'bytes') AS differ;
