-- registry_types: apply refuses a join key or feature whose source column has a type its dtype
-- does not read (42804, naming the column's type and the dtype to use); what it accepts
-- materializes and joins
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS rt_text_keys, rt_all, rt_all_text, rt_other, rt_probe CASCADE;
DROP DOMAIN IF EXISTS rt_code;
-- (materialize's NOTICEs carry timings: left out)
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- an entity left at the default int64 over a text key column: refused, with the value_type to use
CREATE TABLE rt_text_keys (driver_id text, trips text, ts timestamptz);
INSERT INTO rt_text_keys VALUES ('d1', '7', '2024-01-01');
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('rt_text_src', 'rt_text_keys', 'ts');
SELECT feast_apply_feature_view('rt_text_view', '{driver}', '[{"name": "trips", "dtype": "string"}]', 'rt_text_src');
\echo :SQLSTATE
-- nothing was written
SELECT count(*) FROM feast.feature_views;
SELECT to_regclass('feast_online.rt_text_view') IS NULL AS no_table;
-- with value_type string the key is accepted; an int32 feature over the text column is refused
SELECT feast_apply_entity('driver_s', 'driver_id', 'string');
SELECT feast_apply_feature_view('rt_text_view', '{driver_s}', '[{"name": "trips", "dtype": "int32"}]', 'rt_text_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_text_view', '{driver_s}', '[{"name": "trips", "dtype": "string"}]', 'rt_text_src');
SELECT feast_materialize('2024-01-01', '2024-01-02', '{rt_text_view}');
SELECT * FROM feast_online.rt_text_view;

-- every column type a dtype reads, in one view; timestamp and date are read as UTC whatever
-- TimeZone says; a domain counts as its base type
CREATE DOMAIN rt_code AS varchar(8);
CREATE TABLE rt_all (id integer, ts timestamp, c_i2 smallint, c_i4 integer, c_i8 bigint,
                     c_f4 real, c_f8 double precision, c_num numeric(10, 3),
                     c_text text, c_vc varchar(10), c_ch char(3), c_dom rt_code,
                     c_bytea bytea, c_bool boolean, c_tstz timestamptz, c_ts timestamp, c_date date,
                     c_jsonb jsonb, c_json json,
                     a_i4 integer[], a_num numeric[], a_vc varchar[], a_json json[], a_tstz timestamptz[],
                     a_date date[]);
INSERT INTO rt_all VALUES (1, '2024-01-01 00:00', 32767, 2147483647, 9223372036854775807,
                           1.5, 2.25, 1234567.125,
                           't', 'vc', 'ab', 'dom', '\x0102', true,
                           '2024-01-01 10:00+02', '2024-01-01 10:00', '2024-01-01',
                           '{"a": 1}', '[1, 2]',
                           '{1,2}', '{1.5,2.5}', '{x,y}', ARRAY['{"k": 1}'::json],
                           '{2024-01-02 10:00+02}', '{2024-01-02}');
SELECT feast_apply_entity('small', 'id', 'int64');
SELECT feast_apply_batch_source('rt_all_src', 'rt_all', 'ts');
SELECT feast_apply_feature_view('rt_all_view', '{small}', '[
    {"name": "c_i2", "dtype": "int32"}, {"name": "c_i4", "dtype": "int64"}, {"name": "c_i8", "dtype": "int64"},
    {"name": "c_f4", "dtype": "float64"}, {"name": "c_f8", "dtype": "float32"}, {"name": "c_num", "dtype": "float64"},
    {"name": "c_text", "dtype": "string"}, {"name": "c_vc", "dtype": "string"}, {"name": "c_ch", "dtype": "string"},
    {"name": "c_dom", "dtype": "string"}, {"name": "c_bytea", "dtype": "bytes"}, {"name": "c_bool", "dtype": "bool"},
    {"name": "c_tstz", "dtype": "unix_timestamp"}, {"name": "c_ts", "dtype": "unix_timestamp"},
    {"name": "c_date", "dtype": "unix_timestamp"}, {"name": "c_jsonb", "dtype": "json"}, {"name": "c_json", "dtype": "json"},
    {"name": "a_i4", "dtype": "array(int64)"}, {"name": "a_num", "dtype": "array(float64)"},
    {"name": "a_vc", "dtype": "array(string)"}, {"name": "a_json", "dtype": "array(json)"},
    {"name": "a_tstz", "dtype": "array(unix_timestamp)"}]', 'rt_all_src');
SET timezone = 'America/New_York';
SELECT feast_materialize('2023-12-31', '2024-01-02', '{rt_all_view}');
SET timezone = 'UTC';
SELECT * FROM feast_online.rt_all_view;
-- the point-in-time join reads the same columns (under another TimeZone too)
SET timezone = 'Asia/Tokyo';
SELECT feast_historical_features_sql('SELECT 1 AS id, timestamptz ''2024-01-01 12:00Z'' AS event_timestamp',
    '{rt_all_view:c_i2,rt_all_view:c_num,rt_all_view:c_ch,rt_all_view:c_ts,rt_all_view:c_date,rt_all_view:a_i4}') AS q \gset
SET timezone = 'UTC';
SELECT * FROM (:q) AS j;

-- what each dtype reads: every dtype against every column type above (t: apply accepts it)
CREATE TABLE rt_probe (dtype text, col text, accepted boolean, state text);
DO $$
DECLARE
    d text;
    c record;
BEGIN
    FOREACH d IN ARRAY '{int32,int64,float32,float64,string,bytes,bool,unix_timestamp,json,array(int32),array(int64),array(float64),array(string),array(json),array(unix_timestamp)}'::text[] LOOP
        FOR c IN SELECT attname FROM pg_attribute WHERE attrelid = 'rt_all'::regclass AND attnum > 2 ORDER BY attnum LOOP
            BEGIN
                PERFORM feast_apply_feature_view('rt_probe_view', '{small}',
                    jsonb_build_array(jsonb_build_object('name', c.attname, 'dtype', d)), 'rt_all_src',
                    online => false);
                INSERT INTO rt_probe VALUES (d, c.attname, true, NULL);
                PERFORM feast_delete('feature_view', 'rt_probe_view');
            EXCEPTION WHEN OTHERS THEN
                INSERT INTO rt_probe VALUES (d, c.attname, false, SQLSTATE);
            END;
        END LOOP;
    END LOOP;
END $$;
SELECT dtype, string_agg(col, ' ' ORDER BY col) AS reads FROM rt_probe WHERE accepted GROUP BY dtype ORDER BY dtype;
-- every refusal is 42804
SELECT state, count(*) FROM rt_probe WHERE NOT accepted GROUP BY state;
-- and every accepted pair converts the value above in the SQL that materialize runs
DO $$
DECLARE
    p record;
    online text;
BEGIN
    FOR p IN SELECT * FROM rt_probe WHERE accepted LOOP
        online := feast._dtype_online_type(p.dtype);
        EXECUTE format('SELECT CAST(%I AS %s) FROM rt_all', p.col, online);
    END LOOP;
END $$;

-- the hints: narrower integers, scalar vs array, a type no dtype reads, a key type no entity has
CREATE TABLE rt_other (id bigint, ts timestamptz, big bigint, arr bigint[], span interval, u uuid, f double precision);
SELECT feast_apply_batch_source('rt_other_src', 'rt_other', 'ts', field_mapping => '{"big": "trips"}');
SELECT feast_apply_entity('wide', 'id', 'int32');
SELECT feast_apply_feature_view('rt_bad', '{wide}', '[{"name": "f", "dtype": "float64"}]', 'rt_other_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "trips", "dtype": "int32"}]', 'rt_other_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "arr", "dtype": "int64"}]', 'rt_other_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "trips", "dtype": "array(int64)"}]', 'rt_other_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "span", "dtype": "int64"}]', 'rt_other_src');
\echo :SQLSTATE
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "f", "dtype": "int64"}]', 'rt_other_src');
\echo :SQLSTATE
-- array(unix_timestamp) reads timestamptz[] only: timestamp[] and date[] would be read in the
-- session's TimeZone
SELECT feast_apply_feature_view('rt_bad', '{small}', '[{"name": "a_date", "dtype": "array(unix_timestamp)"}]', 'rt_all_src');
\echo :SQLSTATE
SELECT feast_apply_entity('rt_uuid', 'u', 'string');
SELECT feast_apply_feature_view('rt_bad', '{rt_uuid}', '[{"name": "f", "dtype": "float64"}]', 'rt_other_src');
\echo :SQLSTATE
-- feast_apply checks the same way, and writes nothing of the repository
SELECT feast_apply('{"entities": [{"name": "rider", "join_key": "driver_id"}],
                     "feature_views": [{"name": "rt_repo_view", "entities": ["rider"], "source": "rt_text_src",
                                        "schema": [{"name": "trips", "dtype": "string"}]}]}');
\echo :SQLSTATE
SELECT count(*) FROM feast.entities WHERE name = 'rider';

-- re-pointing a source at a relation whose column types no longer fit is refused too
SELECT feast_apply_feature_view('rt_i8_view', '{small}', '[{"name": "c_i8", "dtype": "int64"}]', 'rt_all_src');
CREATE TABLE rt_all_text AS SELECT id::text AS id, ts, c_i8::text AS c_i8 FROM rt_all;
SELECT feast_apply_batch_source('rt_all_src', 'rt_all_text', 'ts');
\echo :SQLSTATE
SELECT relation FROM feast.data_sources WHERE name = 'rt_all_src';
-- a push source given a batch source: its views are checked against it
SELECT feast_apply_push_source('rt_push', NULL);
SELECT feast_apply_feature_view('rt_push_view', '{driver_s}', '[{"name": "trips", "dtype": "int64"}]', 'rt_push');
SELECT feast_apply_push_source('rt_push', 'rt_text_src');
\echo :SQLSTATE
SELECT batch_source FROM feast.data_sources WHERE name = 'rt_push';
