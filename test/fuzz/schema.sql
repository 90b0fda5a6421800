-- test/fuzz/schema.sql: the store the fuzz documents target, and the driver
-- that feeds them one by one.  Run in a fresh database.
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE fz_trips (driver_id bigint, rider_id text, f_i32 integer, f_i64 bigint, f_f32 real,
                       f_f64 double precision, f_str text, f_bytes bytea, f_bool boolean, f_ts timestamptz,
                       f_json jsonb, f_arr bigint[], f_farr real[], f_sarr text[],
                       event_timestamp timestamptz, created_timestamp timestamptz);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('rider', 'rider_id', 'string');
SELECT feast_apply_batch_source('fz_batch', 'fz_trips', 'event_timestamp', 'created_timestamp');
SELECT feast_apply_push_source('fz_push', 'fz_batch');
SELECT feast_apply_feature_view('fz_a', '{driver}', '[
    {"name": "f_i32", "dtype": "int32"}, {"name": "f_i64", "dtype": "int64"},
    {"name": "f_f32", "dtype": "float32"}, {"name": "f_f64", "dtype": "float64"},
    {"name": "f_str", "dtype": "string"}, {"name": "f_bytes", "dtype": "bytes"},
    {"name": "f_bool", "dtype": "bool"}, {"name": "f_ts", "dtype": "unix_timestamp"},
    {"name": "f_json", "dtype": "json"}, {"name": "f_arr", "dtype": "array(int64)"},
    {"name": "f_farr", "dtype": "array(float32)"}, {"name": "f_sarr", "dtype": "array(string)"}]', 'fz_push');
SELECT feast_apply_feature_view('fz_b', '{driver, rider}', '[
    {"name": "f_str", "dtype": "string"}, {"name": "f_f64", "dtype": "float64"},
    {"name": "f_bool", "dtype": "bool"}]', 'fz_push');

-- documents: id, target, arg, expect, nrows, doc (see gen.pl)
CREATE TABLE fuzz_docs (id integer PRIMARY KEY, target text, arg text, expect text, nrows bigint, doc text);
CREATE TABLE fuzz_results (id integer PRIMARY KEY, outcome text, sqlstate text, message text,
                           ret bigint, state_kept boolean);

-- a digest of everything a call may write
CREATE FUNCTION fuzz_state() RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws('|',
        (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast_online.fz_a t),
        (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast_online.fz_b t),
        (SELECT count(*) FROM fz_trips),
        (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.feature_views t))
$$;

-- feed every document; each call in its own subtransaction, each result committed
-- (so after a crash the last committed id names the document)
CREATE PROCEDURE fuzz_run() LANGUAGE plpgsql AS $$
DECLARE
    d       record;
    j       jsonb;
    outcome text;
    st      text;
    msg     text;
    n       bigint;
    before  text;
    kept    boolean;
BEGIN
    FOR d IN SELECT * FROM fuzz_docs WHERE id > (SELECT coalesce(max(id), 0) FROM fuzz_results) ORDER BY id LOOP
        outcome := 'ok'; st := NULL; msg := NULL; n := NULL; kept := NULL;
        BEGIN
            j := d.doc::jsonb;
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
            outcome := 'cast';  -- PostgreSQL's own JSON parser refused it: never reaches cfeast
        END;
        IF outcome = 'ok' THEN
            before := fuzz_state();
            BEGIN
                IF d.target = 'push' THEN
                    n := feast_push('fz_push', j, d.arg);
                ELSIF d.target = 'online' THEN
                    n := pg_catalog.jsonb_array_length(
                           feast_get_online_features(features => d.arg::text[], entity_rows => j)
                             -> 'results' -> 0 -> 'values');
                ELSE
                    RAISE EXCEPTION 'unknown fuzz target %', d.target;
                END IF;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
                outcome := 'error';
                kept := fuzz_state() = before;
            END;
        END IF;
        INSERT INTO fuzz_results VALUES (d.id, outcome, st, msg, n, kept);
        COMMIT;
    END LOOP;
END $$;
