-- online retrieval: every dtype goes from push to read exactly
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;

SELECT feast_apply_entity('thing', 'thing_id', 'int64');
SELECT feast_apply_entity('shop', 'shop_id', 'int32');
SELECT feast_apply_entity('device', 'device_id', 'bytes');
SELECT feast_apply_entity('user', 'user_id', 'string');
SELECT feast_apply_push_source('things', NULL);
SELECT feast_apply_push_source('keyed', NULL);
SELECT feast_apply_feature_view('all_types', ARRAY['thing'], '[
    {"name": "i32", "dtype": "int32"}, {"name": "i64", "dtype": "int64"},
    {"name": "f32", "dtype": "float32"}, {"name": "f64", "dtype": "float64"},
    {"name": "s", "dtype": "string"}, {"name": "b", "dtype": "bytes"},
    {"name": "ok", "dtype": "bool"}, {"name": "ts", "dtype": "unix_timestamp"},
    {"name": "j", "dtype": "json"},
    {"name": "ai32", "dtype": "array(int32)"}, {"name": "ai64", "dtype": "array(int64)"},
    {"name": "af32", "dtype": "array(float32)"}, {"name": "af64", "dtype": "array(float64)"},
    {"name": "as", "dtype": "array(string)"}, {"name": "ab", "dtype": "array(bytes)"},
    {"name": "abool", "dtype": "array(bool)"}, {"name": "ats", "dtype": "array(unix_timestamp)"},
    {"name": "aj", "dtype": "array(json)"}]', 'things');
-- join keys of every key dtype (int32, bytes, string) in one composite view
SELECT feast_apply_feature_view('keyed', ARRAY['shop', 'device', 'user'],
    '[{"name": "n", "dtype": "int32"}]', 'keyed');

SELECT feast_push('things', '[
  {"thing_id": 1, "i32": -2147483648, "i64": 9007199254740993, "f32": 0.1, "f64": 0.1,
   "s": "héllo \"wörld\"\n", "b": "AAEC/w==", "ok": true, "ts": "2021-06-01T12:00:00.123456Z",
   "j": {"a": [1, 2.5, {"b": null}], "c": "d"},
   "ai32": [1, null, 3], "ai64": [9223372036854775807, null, -9223372036854775808],
   "af32": [1.5, null, "NaN", "-Infinity"], "af64": [0.30000000000000004, null, "Infinity", 1e-7],
   "as": ["x", null, ""], "ab": ["", null, "/w=="], "abool": [false, null, true],
   "ats": [0, null, "1999-12-31T23:59:59.5Z"], "aj": [{"k": 1}, null, [1, "two"], "s", 3],
   "event_timestamp": "2100-01-01T00:00:00Z"},
  {"thing_id": 2, "i32": 2147483647, "i64": -9223372036854775808, "f32": 3.4028235e38, "f64": 5e-324,
   "s": "", "b": "", "ok": false, "ts": 1.5, "j": "just a string",
   "ai32": [], "ai64": [], "af32": [1e-45], "af64": [-2.5e-300], "as": [], "ab": [], "abool": [], "ats": [], "aj": [],
   "event_timestamp": "2100-01-01T00:00:00Z"},
  {"thing_id": 3, "i32": null, "i64": null, "f32": null, "f64": null, "s": null, "b": null, "ok": null,
   "ts": null, "j": null, "ai32": null, "ai64": null, "af32": null, "af64": null, "as": null, "ab": null,
   "abool": null, "ats": null, "aj": null, "event_timestamp": "2100-01-01T00:00:00Z"},
  {"thing_id": 4, "i32": 0, "i64": 0, "f32": "NaN", "f64": "-Infinity", "s": "x", "b": "AA==", "ok": true,
   "ts": "1970-01-01T00:00:00Z", "j": null, "ai32": null, "ai64": null, "af32": null, "af64": null,
   "as": null, "ab": null, "abool": null, "ats": null, "aj": null, "event_timestamp": "2100-01-01T00:00:00Z"}]');

-- each feature, one line per entity: name, then the values of things 1, 2, 3 (all NULL_VALUE) and 4
SELECT n.name, r -> 'results' -> (n.i::int - 1) -> 'values' AS values,
       r -> 'results' -> (n.i::int - 1) -> 'statuses' AS statuses
  FROM feast_get_online_features(
         ARRAY['all_types:i32', 'all_types:i64', 'all_types:f32', 'all_types:f64', 'all_types:s',
               'all_types:b', 'all_types:ok', 'all_types:ts', 'all_types:j', 'all_types:ai32',
               'all_types:ai64', 'all_types:af32', 'all_types:af64', 'all_types:as', 'all_types:ab',
               'all_types:abool', 'all_types:ats', 'all_types:aj'],
         '{"thing_id": [1, 2, 3, 4]}') r,
       jsonb_array_elements_text(r -> 'metadata' -> 'feature_names') WITH ORDINALITY AS n(name, i);

-- unix_timestamp values are integer epoch seconds, as Feast's feature server sends them (its own
-- test: 2021-01-01T00:00:00Z is 1609459200); a fraction of a second is dropped toward negative
-- infinity (-0.5 is -1, 1.5 is 1); event timestamps stay RFC 3339 strings
SELECT feast_push('things', '[{"thing_id": 5, "i32": null, "i64": null, "f32": null, "f64": null,
   "s": null, "b": null, "ok": null, "ts": "2021-01-01T00:00:00Z", "j": null, "ai32": null, "ai64": null,
   "af32": null, "af64": null, "as": null, "ab": null, "abool": null,
   "ats": ["2021-01-01T00:00:00Z", -0.5, null, 1.5, "1969-12-31T23:59:59Z", "2021-01-01T00:00:00.999999Z"],
   "aj": null, "event_timestamp": "2021-01-01T00:00:00.5Z"},
  {"thing_id": 6, "i32": null, "i64": null, "f32": null, "f64": null, "s": null, "b": null, "ok": null,
   "ts": -0.000001, "j": null, "ai32": null, "ai64": null, "af32": null, "af64": null, "as": null,
   "ab": null, "abool": null, "ats": [], "aj": null, "event_timestamp": "2021-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['all_types:ts', 'all_types:ats'], '{"thing_id": [5, 6]}');
SELECT jsonb_typeof(r -> 'results' -> 1 -> 'values' -> 0) AS ts_type,
       r -> 'results' -> 1 -> 'values' -> 0 = '1609459200'::jsonb AS feast_value
  FROM feast_get_online_features(ARRAY['all_types:ts'], '{"thing_id": [5]}') r;

-- the infinities, which no second holds, come from a batch table only: strings, as for floats
CREATE TABLE online_types_inf (thing_id bigint, event_timestamp timestamptz, t timestamptz, ta timestamptz[]);
INSERT INTO online_types_inf VALUES (1, '2021-01-01', 'infinity', '{-infinity,2021-01-01 00:00+00,infinity}'),
                                    (2, '2021-01-01', '-infinity', NULL);
SELECT feast_apply_batch_source('inf_src', 'online_types_inf', 'event_timestamp');
SELECT feast_apply_feature_view('inf_ts', ARRAY['thing'],
    '[{"name": "t", "dtype": "unix_timestamp"}, {"name": "ta", "dtype": "array(unix_timestamp)"}]', 'inf_src');
SET client_min_messages = warning;
SELECT feast_materialize('2020-01-01', '2022-01-01', ARRAY['inf_ts']);
RESET client_min_messages;
SELECT jsonb_path_query_array(r, '$.results[1 to 2].values') AS values
  FROM feast_get_online_features(ARRAY['inf_ts:t', 'inf_ts:ta'], '{"thing_id": [1, 2]}') r;
DROP TABLE online_types_inf CASCADE;

-- int64 keys above 2^53 come back exactly
SELECT feast_push('things', '[{"thing_id": 9007199254740993, "i32": 5, "i64": null, "f32": null, "f64": null,
   "s": null, "b": null, "ok": null, "ts": null, "j": null, "ai32": null, "ai64": null, "af32": null,
   "af64": null, "as": null, "ab": null, "abool": null, "ats": null, "aj": null,
   "event_timestamp": "2100-01-01T00:00:00Z"}]');
SELECT feast_get_online_features(ARRAY['all_types:i32'], '[{"thing_id": 9007199254740993}, {"thing_id": 9007199254740992}]');

-- keys of dtypes int32, bytes and string, one entity and a batch
SELECT feast_push('keyed', '[{"shop_id": 7, "device_id": "3q2+7w==", "user_id": "ann", "n": 1, "event_timestamp": 0},
                             {"shop_id": 7, "device_id": "AA==", "user_id": "ann", "n": 2, "event_timestamp": 0},
                             {"shop_id": -1, "device_id": "3q2+7w==", "user_id": "bob", "n": 3, "event_timestamp": 0}]');
SELECT feast_get_online_features(ARRAY['keyed:n'], '{"shop_id": [7], "device_id": ["3q2+7w=="], "user_id": ["ann"]}');
SELECT jsonb_path_query_array(r, '$.results[*].values') AS values
  FROM feast_get_online_features(ARRAY['keyed:n'],
         '{"shop_id": [7, 7, -1, -1, 7], "device_id": ["3q2+7w==", "AA==", "3q2+7w==", "AA==", "3q2+7w=="],
           "user_id": ["ann", "ann", "bob", "bob", "bob"]}') r;

-- floats read back to the very same float4 and float8: 1000 values of many magnitudes
SET extra_float_digits = 1;  -- PostgreSQL's default: shortest exact output, to compare with
SELECT setseed(0.25);
CREATE TABLE online_types_floats AS
SELECT i + 100 AS id, (random() - 0.5) * 10 ^ (random() * 60 - 30)::int AS d FROM generate_series(1, 1000) i;
SELECT feast_push('things', (SELECT jsonb_agg(jsonb_build_object(
    'thing_id', id, 'i32', null, 'i64', null, 'f32', d::real, 'f64', d, 's', null, 'b', null, 'ok', null,
    'ts', null, 'j', null, 'ai32', null, 'ai64', null, 'af32', null, 'af64', jsonb_build_array(d, -d),
    'as', null, 'ab', null, 'abool', null, 'ats', null, 'aj', null,
    'event_timestamp', '2100-01-01T00:00:00Z')) FROM online_types_floats));
WITH r AS (SELECT feast_get_online_features(ARRAY['all_types:f32', 'all_types:f64', 'all_types:af64'],
             (SELECT jsonb_build_object('thing_id', jsonb_agg(id ORDER BY id)) FROM online_types_floats)) AS r),
     v AS (SELECT k.id::int AS id, a.v AS f32, b.v AS f64, c.v AS af64
             FROM r,
                  jsonb_array_elements(r -> 'results' -> 0 -> 'values') WITH ORDINALITY AS k(id, n)
             JOIN jsonb_array_elements(r -> 'results' -> 1 -> 'values') WITH ORDINALITY AS a(v, n) USING (n)
             JOIN jsonb_array_elements(r -> 'results' -> 2 -> 'values') WITH ORDINALITY AS b(v, n) USING (n)
             JOIN jsonb_array_elements(r -> 'results' -> 3 -> 'values') WITH ORDINALITY AS c(v, n) USING (n))
SELECT count(*) AS n,
       bool_and((v.f32 #>> '{}')::real = f.d::real) AS f32_exact,
       bool_and((v.f64 #>> '{}')::float8 = f.d) AS f64_exact,
       -- the very text PostgreSQL's own to_jsonb gives (shortest digits, same scale)
       bool_and(v.f32::text = to_jsonb(f.d::real)::text) AS f32_text,
       bool_and(v.f64::text = to_jsonb(f.d)::text) AS f64_text,
       bool_and(v.af64::text = jsonb_build_array(f.d, -f.d)::text) AS array_text
  FROM online_types_floats f JOIN v USING (id);
DROP TABLE online_types_floats;
