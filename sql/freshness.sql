-- freshness: feast.freshness answers from the state that pushes, writes and materializations keep
-- (no scan of an online table); the counts follow commits and rollbacks; exact counts on demand
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
DROP TABLE IF EXISTS fr_batch CASCADE;
DROP ROLE IF EXISTS regress_fr_reader;
RESET client_min_messages;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';
\set VERBOSITY terse
CREATE ROLE regress_fr_reader;

CREATE TABLE fr_batch (driver_id bigint, ts timestamptz, conv real);
INSERT INTO fr_batch VALUES (1, '2024-01-01', 0.1), (2, '2024-01-01', 0.2), (4, '2024-01-02', 0.4), (4, '2024-01-01', 0.3);
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('fr_src', 'fr_batch', 'ts');
SELECT feast_apply_push_source('fr_push', 'fr_src');
SELECT feast_apply_feature_view('fr_a', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'fr_push');
SELECT feast_apply_feature_view('fr_b', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'fr_push', ttl => '1 day');
SELECT feast_apply_feature_view('fr_off', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'fr_push', online => false);

-- what feast.freshness reads: the registry and the state, never an online table
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE p jsonb;
BEGIN
    EXECUTE 'EXPLAIN (COSTS OFF, VERBOSE, FORMAT JSON) ' || q INTO p;
    RETURN p;
END $$;
CREATE FUNCTION pg_temp.plan_text(q text) RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE 'EXPLAIN (COSTS OFF) ' || q;
END $$;
SELECT DISTINCT (n ->> 'Schema') || '.' || (n ->> 'Relation Name') AS relation_scanned
  FROM jsonb_path_query(pg_temp.plan_of('SELECT * FROM feast.freshness'), 'strict $.**') n
 WHERE jsonb_typeof(n) = 'object' AND n ? 'Relation Name' ORDER BY 1;
SELECT count(*) AS plan_lines_naming_feast_online
  FROM pg_temp.plan_text('SELECT * FROM feast.freshness') l WHERE l ~ 'feast_online|fr_a|fr_b';

-- nothing written yet: zeros for online views, NULL for the offline one
SELECT * FROM feast.freshness;

-- a push reaches both views: 3 rows written to each
SELECT feast_push('fr_push', '[{"driver_id": 1, "conv": 1, "ts": "2024-02-01T00:00:00Z"},
                               {"driver_id": 2, "conv": 2, "ts": "2024-02-01T00:00:00Z"},
                               {"driver_id": 3, "conv": 3, "ts": "2024-02-03T00:00:00Z"}]');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp, last_write_at IS NOT NULL AS written,
       last_push_at IS NOT NULL AS pushed, last_materialize_at
  FROM feast.freshness;
-- stale rows: driver 1 older than stored, driver 2 twice in the batch (one loses), driver 3 newer
SELECT feast_push('fr_push', '[{"driver_id": 1, "conv": 9, "ts": "2024-01-15T00:00:00Z"},
                               {"driver_id": 2, "conv": 8, "ts": "2024-02-02T00:00:00Z"},
                               {"driver_id": 2, "conv": 7, "ts": "2024-02-05T00:00:00Z"},
                               {"driver_id": 3, "conv": 6, "ts": "2024-02-04T00:00:00Z"}]');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp FROM feast.freshness WHERE rows_written IS NOT NULL;

-- a rolled-back push counts nothing; a push rolled back to a savepoint neither, the one before it does
BEGIN;
SELECT feast_push('fr_push', '[{"driver_id": 5, "conv": 5, "ts": "2030-01-01T00:00:00Z"}]');
ROLLBACK;
BEGIN;
SELECT feast_push('fr_push', '[{"driver_id": 6, "conv": 6, "ts": "2024-03-01T00:00:00Z"}]');
SAVEPOINT s;
SELECT feast_push('fr_push', '[{"driver_id": 7, "conv": 7, "ts": "2031-01-01T00:00:00Z"},
                               {"driver_id": 1, "conv": 0, "ts": "2020-01-01T00:00:00Z"}]');
ROLLBACK TO SAVEPOINT s;
COMMIT;
-- a failed push (a bad row) counts nothing either
SELECT feast_push('fr_push', '[{"driver_id": 8, "conv": "x", "ts": "2032-01-01T00:00:00Z"}]');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp FROM feast.freshness WHERE rows_written IS NOT NULL;

-- feast_write_online counts for its one view
SELECT feast_write_online('fr_b', '[{"driver_id": 9, "conv": 9, "event_timestamp": "2024-03-02T00:00:00Z"},
                                    {"driver_id": 1, "conv": 9, "event_timestamp": "2019-01-01T00:00:00Z"}]');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp FROM feast.freshness WHERE rows_written IS NOT NULL;

-- a materialization: per key the latest source row in the window; drivers 1 and 2 are older than
-- the pushed rows (stale), driver 4 is new (written)
SELECT feast_materialize('2023-12-01', '2024-01-31', ARRAY['fr_a']);
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp,
       last_materialize_at IS NOT NULL AS materialized
  FROM feast.freshness WHERE rows_written IS NOT NULL;

-- every row was a new key or replaced one, nothing was deleted: the state agrees with a scan
SELECT f.feature_view, f.newest_event_timestamp = (SELECT max(event_timestamp) FROM feast_online.fr_a) AS newest_exact,
       feast_online_row_count(f.feature_view) AS online_rows
  FROM feast.freshness f WHERE f.feature_view = 'fr_a';
SELECT f.feature_view, f.newest_event_timestamp = (SELECT max(event_timestamp) FROM feast_online.fr_b) AS newest_exact,
       feast_online_row_count(f.feature_view) AS online_rows
  FROM feast.freshness f WHERE f.feature_view = 'fr_b';

-- the exact count: errors, and the caller's own rights
SELECT feast_online_row_count('fr_nope');
\echo :SQLSTATE
SELECT feast_online_row_count('fr_off');
\echo :SQLSTATE
SELECT feast_online_row_count(NULL);
\echo :SQLSTATE
SET ROLE regress_fr_reader;
SELECT feast_online_row_count('fr_a');
\echo :SQLSTATE
-- a role that may read no column of a view's online table sees no counts for it
SELECT feature_view, rows_written, newest_event_timestamp FROM feast.freshness;
-- the state is written by cfeast only
INSERT INTO feast.freshness_state (online_table, slot, feature_view, rows_written) VALUES ('feast_online.fr_a', 999, 'fr_a', 1000);
\echo :SQLSTATE
RESET ROLE;
SELECT feast_grant('regress_fr_reader', 'read', 'fr_a');
SET ROLE regress_fr_reader;
SELECT feature_view, rows_written, newest_event_timestamp FROM feast.freshness;
SELECT feast_online_row_count('fr_a');
RESET ROLE;

-- deleting a view forgets its state; applied again it starts from zero
SELECT count(*) AS state_rows FROM feast.freshness_state WHERE feature_view = 'fr_b';
SELECT feast_delete('feature_view', 'fr_b');
SELECT count(*) AS state_rows FROM feast.freshness_state WHERE feature_view = 'fr_b';
SELECT feast_apply_feature_view('fr_b', '{driver}', '[{"name": "conv", "dtype": "float32"}]', 'fr_push', ttl => '1 day');
SELECT feature_view, rows_written, rows_stale, newest_event_timestamp FROM feast.freshness WHERE feature_view = 'fr_b';

-- a session writes its state row where it last wrote it when that version is still the row
-- (no index probe); whatever became of it since, the counts stay exact and nothing fails: replaced
-- by another writer, deleted, its table truncated, the table renamed away (nothing counted then),
-- a trigger added to it (then SQL writes the state, and the trigger fires)
CREATE FUNCTION pg_temp.fr_push(k int) RETURNS bigint LANGUAGE sql AS $$
  SELECT feast_push('fr_push', jsonb_build_array(jsonb_build_object('driver_id', k, 'conv', k,
                    'ts', '2024-05-01T00:00:00Z'))::text) $$;
SELECT pg_temp.fr_push(100) + pg_temp.fr_push(101) AS pushed;
SELECT rows_written FROM feast.freshness WHERE feature_view = 'fr_a';
UPDATE feast.freshness_state SET rows_written = rows_written + 1000 WHERE feature_view = 'fr_a';
SELECT pg_temp.fr_push(102) AS pushed;
SELECT rows_written FROM feast.freshness WHERE feature_view = 'fr_a';
DELETE FROM feast.freshness_state WHERE feature_view = 'fr_a';
SELECT pg_temp.fr_push(103) AS pushed;
SELECT rows_written, rows_stale FROM feast.freshness WHERE feature_view = 'fr_a';
TRUNCATE feast.freshness_state;
SELECT pg_temp.fr_push(104) AS pushed;
SELECT pg_temp.fr_push(105) AS pushed;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness WHERE feature_view IN ('fr_a', 'fr_b') ORDER BY 1;
ALTER TABLE feast.freshness_state RENAME TO freshness_state_away;
SELECT pg_temp.fr_push(106) AS pushed;
ALTER TABLE feast.freshness_state_away RENAME TO freshness_state;
SELECT pg_temp.fr_push(107) AS pushed;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness WHERE feature_view IN ('fr_a', 'fr_b') ORDER BY 1;
CREATE FUNCTION pg_temp.fr_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'state of % written by SQL', NEW.feature_view; RETURN NEW; END $$;
CREATE TRIGGER fr_note BEFORE INSERT OR UPDATE ON feast.freshness_state
  FOR EACH ROW EXECUTE FUNCTION pg_temp.fr_note();
SELECT pg_temp.fr_push(108) AS pushed;
DROP TRIGGER fr_note ON feast.freshness_state;
SELECT pg_temp.fr_push(109) AS pushed;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness WHERE feature_view IN ('fr_a', 'fr_b') ORDER BY 1;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP TABLE fr_batch;
DROP OWNED BY regress_fr_reader CASCADE;
DROP ROLE regress_fr_reader;
RESET client_min_messages;
