-- push_many: feast._push_many, several JSON texts pushed as one push (what cfeast-server uses to
-- coalesce /push requests): each text's count, the write rule across texts, to = offline, errors
-- of the failing text with its place, nothing written on any error, privileges as feast_push's.
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE TABLE pm_hist (driver_id bigint, ts timestamptz, created timestamptz, trips int, rate real);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('pm_batch', 'pm_hist', 'ts', 'created');
SELECT feast_apply_push_source('pm_src', 'pm_batch');
SELECT feast_apply_feature_view('pm', '{driver}',
    '[{"name": "trips", "dtype": "int32"}, {"name": "rate", "dtype": "float32"}]', 'pm_src');
CREATE FUNCTION pm_row(k int, ts text, trips int, created text DEFAULT NULL) RETURNS text LANGUAGE sql AS $$
    SELECT '{"driver_id": ' || k || ', "ts": "' || ts || '", "trips": ' || trips || ', "rate": 0.5'
           || CASE WHEN created IS NULL THEN '' ELSE ', "created": "' || created || '"' END || '}'
$$;
CREATE VIEW pm_table AS
    SELECT string_agg(driver_id || '=' || trips || '@' || to_char(event_timestamp, 'MM-DD')
                      || coalesce('/' || to_char(created_timestamp, 'MM-DD'), ''), ' ' ORDER BY driver_id) AS stored
      FROM feast_online.pm;

-- each text's row count, in order; row and column forms together; an empty text and an empty array
SELECT feast._push_many('pm_src', ARRAY[
    '[' || pm_row(1, '2026-01-02', 10) || ',' || pm_row(2, '2026-01-02', 20) || ']',
    '{"driver_id": [3, 4, 5], "ts": ["2026-01-02", "2026-01-02", "2026-01-02"], "trips": [30, 40, 50], "rate": [0.1, 0.2, 0.3]}',
    '[]',
    '[' || pm_row(6, '2026-01-02', 60) || ']']);
SELECT * FROM pm_table;
SELECT feast._push_many('pm_src', '{}'::text[]);
SELECT feast._push_many('pm_src', ARRAY[]::text[], 'offline');

-- the write rule across texts, whatever their order: the newer event wins, then the newer created;
-- a full tie goes to the later text (the later row), as within one push
SELECT feast._push_many('pm_src', ARRAY[
    '[' || pm_row(1, '2026-01-05', 11) || ']',
    '[' || pm_row(1, '2026-01-03', 12) || ']',
    '[' || pm_row(2, '2026-01-03', 21, '2026-01-04') || ']',
    '[' || pm_row(2, '2026-01-03', 22, '2026-01-09') || ']',
    '[' || pm_row(2, '2026-01-03', 23, '2026-01-05') || ']',
    '[' || pm_row(3, '2026-01-07', 31) || ']',
    '[' || pm_row(3, '2026-01-07', 32) || ']',
    '[' || pm_row(5, '2025-12-31', 51) || ']']);
SELECT * FROM pm_table;

-- the same texts give the same table as one feast_push of all their rows
CREATE TABLE pm_texts (n int, doc text);
INSERT INTO pm_texts
    SELECT g, '[' || string_agg(pm_row((g * 7 + i) % 13 + 100, '2026-02-0' || (1 + (g * 3 + i) % 9), g * 100 + i,
                                       CASE WHEN i % 3 = 0 THEN NULL ELSE '2026-02-0' || (1 + (g + i) % 5) END), ',') || ']'
      FROM generate_series(1, 12) g, generate_series(1, 4) i GROUP BY g;
SELECT feast._push_many('pm_src', (SELECT array_agg(doc ORDER BY n) FROM pm_texts));
CREATE TABLE pm_after_many AS SELECT * FROM feast_online.pm WHERE driver_id >= 100;
DELETE FROM feast_online.pm WHERE driver_id >= 100;
SELECT feast_push('pm_src', (SELECT '[' || string_agg(trim(both '[]' from doc), ',' ORDER BY n) || ']' FROM pm_texts));
SELECT count(*) AS rows, count(*) FILTER (WHERE m IS NULL OR o IS NULL) AS differing
  FROM (SELECT * FROM pm_after_many) m FULL JOIN (SELECT * FROM feast_online.pm WHERE driver_id >= 100) o
    ON (m.*)::text = (o.*)::text;

-- to = offline and online_and_offline: every text's rows appended to the batch table
SELECT feast._push_many('pm_src', ARRAY['[' || pm_row(7, '2026-01-02', 70) || ']',
                                        '[' || pm_row(8, '2026-01-02', 80) || ']'], 'offline');
SELECT feast._push_many('pm_src', ARRAY['[' || pm_row(9, '2026-01-02', 90) || ']'], 'online_and_offline');
SELECT driver_id, trips FROM pm_hist ORDER BY 1;
SELECT count(*) FROM feast_online.pm WHERE driver_id IN (7, 8, 9);

-- errors: feast_push's own, for the failing text, with its place; nothing written
\set VERBOSITY default
SELECT count(*) AS before FROM feast_online.pm \gset
SELECT feast._push_many('pm_src', ARRAY[
    '[' || pm_row(40, '2026-03-01', 1) || ']',
    '[' || pm_row(41, '2026-03-01', 2) || ',' || replace(pm_row(42, '2026-03-01', 3), '"trips": 3', '"trips": "x"') || ']',
    '[' || pm_row(43, '2026-03-01', 4) || ']']);
SELECT feast_push('pm_src', '[' || pm_row(41, '2026-03-01', 2) || ',' || replace(pm_row(42, '2026-03-01', 3), '"trips": 3', '"trips": "x"') || ']');
SELECT feast._push_many('pm_src', ARRAY['[' || pm_row(40, '2026-03-01', 1) || ']', '{"driver_id": [1], "ts": []}']);
-- text that is not JSON: jsonb's input error, as feast_push gives it, even after a row error
SELECT feast._push_many('pm_src', ARRAY['[' || pm_row(40, '2026-03-01', 1) || ']', '[{"driver_id": 1,']);
SELECT feast._push_many('pm_src', ARRAY['[{"driver_id": "x"}]', '[1, 2']);
SELECT feast._push_many('pm_src', ARRAY['[{"driver_id": "x", "ts": 1}', '[1, 2]']);
SELECT feast_push('pm_src', '[{"driver_id": "x", "ts": 1}');
-- unknown source, bad "to", nulls, two dimensions
SELECT feast._push_many('pm_nope', ARRAY['[]']);
SELECT feast._push_many('pm_src', ARRAY['[]'], 'nowhere');
SELECT feast._push_many(NULL, ARRAY['[]']);
SELECT feast._push_many('pm_src', NULL);
SELECT feast._push_many('pm_src', ARRAY['[]', NULL]);
SELECT feast._push_many('pm_src', ARRAY[['[]'], ['[]']]);
-- a call that fails before reading any text (NULL source, bad "to", unknown source) fails as
-- feast_push does on the first text: that text's jsonb error comes first, with its place; a later
-- text is not reached
SELECT feast._push_many(NULL, ARRAY['[1,', '[]']);
SELECT feast_push(NULL, '[1,'::text);
SELECT feast._push_many('pm_src', ARRAY['[1,', '[]'], 'nowhere');
SELECT feast_push('pm_src', '[1,'::text, 'nowhere');
SELECT feast._push_many('pm_nope', ARRAY['[1,', '[]']);
SELECT feast._push_many('pm_nope', ARRAY['[]', '[1,']);
SELECT feast_push('pm_nope', '[]'::text);
SELECT feast._push_many('pm_src', ARRAY['[]', '[1,'], 'nowhere');
SELECT count(*) - :before AS written_by_errors FROM feast_online.pm;

-- privileges: a role that may not write the online table gets feast_push's 42501
CREATE ROLE regress_pm_user;
SET ROLE regress_pm_user;
SELECT feast._push_many('pm_src', ARRAY['[' || pm_row(50, '2026-03-01', 1) || ']']);
SELECT feast_push('pm_src', '[' || pm_row(50, '2026-03-01', 1) || ']');
RESET ROLE;
DROP ROLE regress_pm_user;

-- the function as installed: in schema feast, a C function, EXECUTE for everyone
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.proname = '_push_many';
