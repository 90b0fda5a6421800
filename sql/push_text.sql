-- push_text: feast_push from JSON text, the edges only text meets (duplicate keys, key order,
-- number spellings, escapes, input errors before row errors); each result is compared with the
-- jsonb form's on the same input.  test/checks/push_text_diff.sh runs every push test both ways.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('pt_src', NULL);
SELECT feast_apply_feature_view('pt', '{driver}', '[
    {"name": "trips", "dtype": "int32"}, {"name": "big", "dtype": "int64"},
    {"name": "conv_rate", "dtype": "float32"}, {"name": "x", "dtype": "float64"},
    {"name": "s", "dtype": "string"}, {"name": "at", "dtype": "unix_timestamp"},
    {"name": "j", "dtype": "json"}, {"name": "tags", "dtype": "array(string)"}]', 'pt_src');

-- an untyped literal takes the text form; a jsonb argument keeps the jsonb form
CREATE VIEW pt_calls AS SELECT feast_push('pt_src', '[]') AS t, feast_push('pt_src', '[]'::jsonb) AS j;
SELECT pg_get_viewdef('pt_calls');
DROP VIEW pt_calls;
SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS function
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE p.proname = 'feast_push' ORDER BY 1;

-- a row of key k: every field null, then the fields given (a later duplicate key wins)
CREATE FUNCTION pt_row(k int, fields text) RETURNS text LANGUAGE sql AS $$
    SELECT '{"driver_id": ' || k || ', "event_timestamp": "2026-01-01", "trips": null, "big": null, '
           '"conv_rate": null, "x": null, "s": null, "at": null, "j": null, "tags": null'
           || CASE WHEN fields = '' THEN '' ELSE ', ' || fields END || '}'
$$;
-- the text form into key k, the jsonb form into key k + 1000, then compare
CREATE FUNCTION pt_both(k int, fields text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    doc text := '[' || pt_row(k, fields) || ']';
    a text; b text; st text; msg text;
BEGIN
    BEGIN
        PERFORM feast_push('pt_src', doc);
        a := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        a := st || ' ' || msg;
    END;
    BEGIN
        PERFORM feast_push('pt_src', replace(doc, '"driver_id": ' || k, '"driver_id": ' || (k + 1000))::jsonb);
        b := 'ok';
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        b := st || ' ' || msg;
    END;
    IF a = 'ok' AND b = 'ok' THEN
        RETURN CASE WHEN (SELECT (t.trips, t.big, t.conv_rate, t.x, t.s, t.at, t.j, t.tags)
                                 IS NOT DISTINCT FROM (u.trips, u.big, u.conv_rate, u.x, u.s, u.at, u.j, u.tags)
                                 AND t.x::text IS NOT DISTINCT FROM u.x::text
                            FROM feast_online.pt t, feast_online.pt u
                           WHERE t.driver_id = k AND u.driver_id = k + 1000)
                    THEN 'both stored the same' ELSE 'DIFFERENT rows stored' END;
    ELSIF a = b THEN
        RETURN 'both refused: ' || a;
    END IF;
    RETURN 'DIFFERENT: text ' || a || ' / jsonb ' || b;
END $$;

-- duplicate keys: the last one wins, the earlier values are never looked at
SELECT pt_both(1, '"trips": "bad", "trips": 7, "s": null, "s": "last"');
SELECT trips, s FROM feast_online.pt WHERE driver_id = 1;
-- two bad fields: the one first in jsonb's key order (shorter keys first) is named
SELECT pt_both(2, '"conv_rate": "a", "trips": "b"');
SELECT pt_both(2, '"conv_rate": "a", "s": 1');
SELECT feast_push('pt_src', '[{"conv_rate": "a", "zzzzz": 1}]');
SELECT feast_push('pt_src', '[{"conv_rate": "a", "zzzzz": 1}]'::jsonb);

-- number spellings: integers as numeric reads them (1.5e1 is 15, 1.0 and 1.50e1 are not integers)
SELECT pt_both(3, '"trips": 1.5e1, "big": -0, "x": -0.0, "conv_rate": 1E+1');
SELECT trips, big, x, x::text AS x_text, conv_rate FROM feast_online.pt WHERE driver_id = 3;
SELECT pt_both(4, '"trips": 1.0');
SELECT pt_both(4, '"trips": 1.50e1');
SELECT pt_both(4, '"big": 9223372036854775807');
SELECT pt_both(5, '"big": -9223372036854775808');
SELECT pt_both(5, '"big": 9223372036854775808');
SELECT pt_both(5, '"big": 1e19');
SELECT pt_both(5, '"big": 0e400');
SELECT pt_both(5, '"trips": 1e400');
SELECT pt_both(5, '"x": 1e400');
SELECT pt_both(5, '"x": 1e-400');
SELECT pt_both(5, '"conv_rate": 1e39');
-- correctly rounded from all the digits written
SELECT pt_both(6, '"x": 0.1000000000000000055511151231257827021181583404541015625, "conv_rate": 16777217');
SELECT pt_both(7, '"x": 123456789012345678901234567890123456789012345678901234567890');
SELECT pt_both(8, '"x": 2.2250738585072011e-308, "conv_rate": 1.17549435e-38');
SELECT x, conv_rate FROM feast_online.pt WHERE driver_id IN (6, 7, 8) ORDER BY driver_id;
-- epoch seconds, fractions rounded half away from zero
SELECT pt_both(9, '"at": 1700000000.0000005');
SELECT pt_both(10, '"at": -0.0000005');
SELECT pt_both(11, '"at": 0.0000004999');
SELECT pt_both(12, '"at": 1.7e9');
SELECT pt_both(12, '"at": 1e400');
SELECT pt_both(12, '"at": 9224318016000');
SELECT driver_id, at FROM feast_online.pt WHERE driver_id BETWEEN 9 AND 12 ORDER BY 1;
-- a number numeric cannot hold: jsonb's error, wherever it is
SELECT pt_both(13, '"x": 1e999999999');
SELECT feast_push('pt_src', '[' || pt_row(13, '"trips": "bad"') || ', {"n": 1e-999999}]');
SET cfeast.unknown_fields = 'ignore';
SELECT pt_both(13, '"ignored": 1e999999999');
SELECT pt_both(13, '"ignored": 1e99999');
RESET cfeast.unknown_fields;

-- strings: escapes read as jsonb reads them; "\u0000" and broken surrogates are jsonb's errors
SELECT pt_both(14, '"s": "a\"b\\c\/d\n\u00e9\ud83d\ude00"');
SELECT s FROM feast_online.pt WHERE driver_id = 14;
SELECT pt_both(15, '"s": "\u0000"');
SELECT pt_both(15, '"s": "\ud83d"');
SELECT pt_both(15, '"s": "\x"');
SELECT pt_both(15, E'"s": "tab\there"');

-- json features: as jsonb holds them (last duplicate, key order, numbers as written)
SELECT pt_both(16, '"j": {"b": 1, "a": [1.0, 2e2, -0], "b": {"c": null}}, "tags": ["x", null, ""]');
SELECT j, tags FROM feast_online.pt WHERE driver_id = 16;
SELECT pt_both(17, '"j": "text", "tags": []');
SELECT pt_both(17, '"tags": ["x", ["y"]]');
SELECT pt_both(17, '"tags": ["x", {"y": 1}]');
SELECT pt_both(17, '"tags": "x"');

-- nesting: deep values in a json feature are kept whole; beyond the stack, jsonb's error
SELECT pt_both(18, '"j": ' || repeat('[', 200) || '1' || repeat(']', 200));
SELECT jsonb_array_length(j) FROM feast_online.pt WHERE driver_id = 18;
\set VERBOSITY terse
SELECT feast_push('pt_src', repeat('[', 1000000) || repeat(']', 1000000));
\set VERBOSITY default

-- input errors come first, as the jsonb form fails on the cast before anything is looked at
SELECT feast_push('pt_src', '[' || pt_row(19, '"trips": "bad"') || ', }');
SELECT feast_push('no_such_source', '[1, 2');
SELECT feast_push('no_such_source', '[]');
SELECT feast_push('pt_src', '[', 'nowhere');
SELECT feast_push('pt_src', '[]', 'nowhere');
SELECT feast_push('pt_src', '');
SELECT feast_push('pt_src', '  ');
SELECT feast_push('pt_src', NULL::text);
SELECT feast_push('pt_src', '5');
SELECT feast_push('pt_src', '"rows"');
SELECT feast_push('pt_src', '[[1]]');
SELECT feast_push('pt_src', '[' || pt_row(19, '') || ', null]');
SELECT feast_push('pt_src', ('[' || pt_row(19, '') || ', null]')::jsonb);
SELECT feast_push('pt_src', '[]');
SELECT feast_push('pt_src', E' [\n ' || pt_row(19, '') || E'\t] ');

-- the column form: columns in jsonb's key order, the last duplicate wins, values field by field
CREATE FUNCTION pt_cols(fields text) RETURNS text LANGUAGE sql AS $$
    SELECT '{"driver_id": [20, 21], "event_timestamp": [0, 0], "trips": [null, null], "big": [null, null], '
           '"conv_rate": [null, null], "x": [null, null], "s": [null, null], "at": [null, null], '
           '"j": [null, null], "tags": [null, null]' || CASE WHEN fields = '' THEN '' ELSE ', ' || fields END || '}'
$$;
SELECT feast_push('pt_src', pt_cols('"trips": [1], "s": ["a"]'));
SELECT feast_push('pt_src', pt_cols('"trips": [1], "s": ["a"]')::jsonb);
SELECT feast_push('pt_src', pt_cols('"trips": [1, 2], "trips": ["x", 3], "s": [1, 2]'));
SELECT feast_push('pt_src', pt_cols('"trips": [1, 2], "trips": ["x", 3], "s": [1, 2]')::jsonb);
SELECT feast_push('pt_src', pt_cols('"trips": [1, 2], "trips": [5, 3], "tags": [["a"], null]'));
SELECT driver_id, trips, tags FROM feast_online.pt WHERE driver_id IN (20, 21) ORDER BY 1;
SELECT feast_push('pt_src', pt_cols('"driver_id": 20'));
SELECT feast_push('pt_src', pt_cols('"driver_id": {"a": [1, 2]}'));
SELECT feast_push('pt_src', pt_cols('"tags": [["a", 1], [[]]]'));
SELECT feast_push('pt_src', pt_cols('"tags": [["a", 1], [[]]]')::jsonb);
SELECT feast_push('pt_src', '{"event_timestamp": [0]}');
SELECT feast_push('pt_src', '{}');
DROP FUNCTION pt_cols;

-- nothing was written by a failed push
SELECT count(*) FILTER (WHERE driver_id < 1000) AS text_rows, count(*) FILTER (WHERE driver_id >= 1000) AS jsonb_rows
  FROM feast_online.pt;
DROP FUNCTION pt_both;
DROP FUNCTION pt_row;
