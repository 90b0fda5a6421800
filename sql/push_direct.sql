-- push_direct: pushes write a plain online table directly (src/direct.c); every outcome (rows,
-- counts, errors) equals the SQL path's, which a trigger or REPEATABLE READ selects; the router
-- check a push makes is remembered until feast.router changes
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SET TimeZone = 'UTC';
DROP TABLE IF EXISTS pd_docs;
DROP FUNCTION IF EXISTS pd_noop;

SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_entity('zone', 'zone_id', 'string');
SELECT feast_apply_push_source('pd_push', NULL);
-- two views of one source: pd_direct stays plain, pd_sql gets a trigger (the SQL path writes it)
SELECT feast_apply_feature_view('pd_direct', '{driver,zone}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'pd_push');
SELECT feast_apply_feature_view('pd_sql', '{driver,zone}',
    '[{"name": "a", "dtype": "int64"}, {"name": "b", "dtype": "string"}]', 'pd_push');
CREATE FUNCTION pd_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER pd_noop BEFORE INSERT OR UPDATE ON feast_online.pd_sql FOR EACH ROW EXECUTE FUNCTION pd_noop();

-- 400 pushes of 1 to 3 rows over 12 keys: event times from 6 hours, created times from 3
-- (a third NULL), so inserts, updates, stale rows and every tie of the write rule occur;
-- several pushes per statement, and rows of one key within a push
CREATE TABLE pd_docs AS
SELECT p, (SELECT jsonb_agg(jsonb_build_object(
           'driver_id', (p * 7 + r * 5) % 4, 'zone_id', chr(97 + (p + r) % 3),
           'event_timestamp', '2024-05-01T0' || ((p * 13 + r * 3) % 6) || ':00:00Z',
           'created_timestamp', CASE WHEN (p + r) % 3 = 0 THEN NULL
                           ELSE '2024-05-02T0' || ((p * 11 + r) % 3) || ':00:00Z' END,
           'a', p * 10 + r, 'b', 'p' || p || 'r' || r))
          FROM generate_series(0, p % 3) r) AS doc
  FROM generate_series(1, 400) p;
SELECT sum(feast_push('pd_push', doc::text)) AS rows_pushed FROM (SELECT doc FROM pd_docs WHERE p <= 200 ORDER BY p) d;
DO $$
DECLARE d jsonb;
BEGIN
  FOR d IN SELECT doc FROM pd_docs WHERE p > 200 ORDER BY p LOOP
    PERFORM feast_push('pd_push', d::text);
  END LOOP;
END $$;
SELECT count(*) AS keys, count(*) FILTER (WHERE created_timestamp IS NULL) AS created_null FROM feast_online.pd_direct;
SELECT count(*) AS differing_rows FROM (
  (SELECT * FROM feast_online.pd_direct EXCEPT SELECT * FROM feast_online.pd_sql)
  UNION ALL
  (SELECT * FROM feast_online.pd_sql EXCEPT SELECT * FROM feast_online.pd_direct)) x;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness
 WHERE feature_view IN ('pd_direct', 'pd_sql') ORDER BY 1;

-- batches of 64 and 65 rows, one push each
SELECT feast_push('pd_push', (SELECT jsonb_agg(jsonb_build_object('driver_id', 1000 + k, 'zone_id', 'z',
         'event_timestamp', '2024-06-01T00:00:00Z', 'a', k, 'b', NULL)) FROM generate_series(1, n) k)::text)
  FROM (VALUES (64), (65)) AS t(n);
SELECT count(*) AS differing_rows FROM (
  (SELECT * FROM feast_online.pd_direct EXCEPT SELECT * FROM feast_online.pd_sql)
  UNION ALL
  (SELECT * FROM feast_online.pd_sql EXCEPT SELECT * FROM feast_online.pd_direct)) x;

-- the same in REPEATABLE READ (the SQL path for both), then compared again
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT feast_push('pd_push', '[{"driver_id": 1, "zone_id": "a", "event_timestamp": "2024-07-01T00:00:00Z", "a": -1, "b": "rr"}]');
COMMIT;
SELECT driver_id, zone_id, a, b FROM feast_online.pd_direct WHERE b = 'rr';
SELECT count(*) AS differing_rows FROM (
  (SELECT * FROM feast_online.pd_direct EXCEPT SELECT * FROM feast_online.pd_sql)
  UNION ALL
  (SELECT * FROM feast_online.pd_sql EXCEPT SELECT * FROM feast_online.pd_direct)) x;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness
 WHERE feature_view IN ('pd_direct', 'pd_sql') ORDER BY 1;

-- constraints a user added to the plain table: the same errors as the SQL path (REPEATABLE READ)
DROP TRIGGER pd_noop ON feast_online.pd_sql;
ALTER TABLE feast_online.pd_direct ALTER COLUMN a SET NOT NULL;
ALTER TABLE feast_online.pd_direct ADD CONSTRAINT pd_a_small CHECK (a < 100000);
CREATE UNIQUE INDEX pd_b_unique ON feast_online.pd_direct (b);
-- a NULL into NOT NULL fails even where the row is stale (INSERT checks before the conflict)
SELECT feast_push('pd_push', '[{"driver_id": 1, "zone_id": "a", "event_timestamp": "2000-01-01T00:00:00Z", "a": null, "b": "old"}]');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT feast_push('pd_push', '[{"driver_id": 1, "zone_id": "a", "event_timestamp": "2000-01-01T00:00:00Z", "a": null, "b": "old"}]');
ROLLBACK;
SELECT feast_push('pd_push', '[{"driver_id": 1, "zone_id": "a", "event_timestamp": "2030-01-01T00:00:00Z", "a": 100000, "b": "big"}]');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT feast_push('pd_push', '[{"driver_id": 1, "zone_id": "a", "event_timestamp": "2030-01-01T00:00:00Z", "a": 100000, "b": "big"}]');
ROLLBACK;
-- another key with a taken b: the unique index refuses it, an insert and an update alike
SELECT feast_push('pd_push', '[{"driver_id": 77, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 1, "b": "rr"}]');
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT feast_push('pd_push', '[{"driver_id": 77, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 1, "b": "rr"}]');
ROLLBACK;
SELECT feast_push('pd_push', '[{"driver_id": 2, "zone_id": "a", "event_timestamp": "2030-01-01T00:00:00Z", "a": 1, "b": "rr"}]');
-- nothing of the failed pushes was written, to either view
SELECT count(*) AS differing_rows FROM (
  (SELECT * FROM feast_online.pd_direct EXCEPT SELECT * FROM feast_online.pd_sql)
  UNION ALL
  (SELECT * FROM feast_online.pd_sql EXCEPT SELECT * FROM feast_online.pd_direct)) x;
-- a column the view does not define (the SQL path fills its default)
ALTER TABLE feast_online.pd_direct ADD COLUMN note text DEFAULT 'by default';
SELECT feast_push('pd_push', '[{"driver_id": 88, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 8, "b": "eight"}]');
SELECT driver_id, a, b, note FROM feast_online.pd_direct WHERE driver_id = 88;

-- a re-sent row (same version, same values) counts as written and leaves the stored row as it is
ALTER TABLE feast_online.pd_direct DROP COLUMN note;
SELECT feast_push('pd_push', '[{"driver_id": 88, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 8, "b": "eight"}]');
CREATE TEMP TABLE pd_before AS SELECT xmin::text AS x FROM feast_online.pd_direct WHERE driver_id = 88;
SELECT feast_push('pd_push', '[{"driver_id": 88, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 8, "b": "eight"}]');
SELECT (SELECT xmin::text FROM feast_online.pd_direct WHERE driver_id = 88) = x AS row_untouched FROM pd_before;
SELECT feast_push('pd_push', '[{"driver_id": 88, "zone_id": "q", "event_timestamp": "2030-01-01T00:00:00Z", "a": 9, "b": "eight"}]');
SELECT (SELECT xmin::text FROM feast_online.pd_direct WHERE driver_id = 88) = x AS row_untouched FROM pd_before;
SELECT driver_id, a, b FROM feast_online.pd_direct WHERE driver_id = 88;
SELECT feature_view, rows_written, rows_stale FROM feast.freshness
 WHERE feature_view IN ('pd_direct', 'pd_sql') ORDER BY 1;

-- the router check: "not a router" is remembered until feast.router changes
SELECT feast_write_online('pd_sql', '[{"driver_id": 5, "zone_id": "r", "event_timestamp": "2030-01-01T00:00:00Z", "a": 5, "b": null}]');
INSERT INTO feast.router VALUES (true, 'nowhere', 4);
SELECT feast_write_online('pd_sql', '[{"driver_id": 5, "zone_id": "r", "event_timestamp": "2030-01-01T00:00:00Z", "a": 5, "b": null}]');
DELETE FROM feast.router;
SELECT feast_write_online('pd_sql', '[{"driver_id": 5, "zone_id": "r", "event_timestamp": "2030-01-01T00:00:00Z", "a": 5, "b": null}]');
BEGIN;
INSERT INTO feast.router VALUES (true, 'nowhere', 4);
SELECT feast_write_online('pd_sql', '[{"driver_id": 5, "zone_id": "r", "event_timestamp": "2030-01-01T00:00:00Z", "a": 5, "b": null}]');
ROLLBACK;
TRUNCATE feast.router;
SELECT feast_write_online('pd_sql', '[{"driver_id": 5, "zone_id": "r", "event_timestamp": "2030-01-01T00:00:00Z", "a": 5, "b": null}]');

-- a read-only transaction writes nothing, on either path: 25006 as INSERT ... ON CONFLICT gives it
-- (a hot standby's transactions are read-only: 005_scale_out.pl pushes there)
BEGIN READ ONLY;
SELECT feast_push('pd_push', '[{"driver_id": 88, "zone_id": "q", "event_timestamp": "2031-01-01T00:00:00Z", "a": 10, "b": "ro"}]');
\echo :SQLSTATE
ROLLBACK;
SET default_transaction_read_only = on;
SELECT feast_push('pd_push', '{"driver_id": [89], "zone_id": ["q"], "event_timestamp": ["2031-01-01T00:00:00Z"], "a": [1], "b": ["ro"]}'::text);
\echo :SQLSTATE
SELECT feast_write_online('pd_direct', '[{"driver_id": 89, "zone_id": "q", "event_timestamp": "2031-01-01T00:00:00Z", "a": 1, "b": "ro"}]');
\echo :SQLSTATE
RESET default_transaction_read_only;
SELECT driver_id, a, b FROM feast_online.pd_direct WHERE driver_id IN (88, 89) ORDER BY 1;

-- what a push learns about a table (its columns match the view, it is plain, which column is
-- which) is kept only until the table changes, in this session and within one transaction: a
-- trigger added after a direct push fires on the next push (the SQL path), dropped it fires no
-- more; a renamed column is refused at once; a revoked grant refuses the next push
CREATE FUNCTION pd_note() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'trigger saw a = %', NEW.a; RETURN NEW; END $$;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:01Z", "a": 1, "b": "t1"}]');
CREATE TRIGGER pd_note BEFORE INSERT OR UPDATE ON feast_online.pd_direct FOR EACH ROW EXECUTE FUNCTION pd_note();
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:02Z", "a": 2, "b": "t2"}]');
DROP TRIGGER pd_note ON feast_online.pd_direct;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:03Z", "a": 3, "b": "t3"}]');
BEGIN;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:04Z", "a": 4, "b": "t4"}]');
CREATE TRIGGER pd_note BEFORE INSERT OR UPDATE ON feast_online.pd_direct FOR EACH ROW EXECUTE FUNCTION pd_note();
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:05Z", "a": 5, "b": "t5"}]');
ROLLBACK;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:06Z", "a": 6, "b": "t6"}]');
ALTER TABLE feast_online.pd_direct RENAME COLUMN b TO b_renamed;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:07Z", "a": 7, "b": "t7"}]');
\echo :SQLSTATE
ALTER TABLE feast_online.pd_direct RENAME COLUMN b_renamed TO b;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:08Z", "a": 8, "b": "t8"}]');
SELECT driver_id, a, b FROM feast_online.pd_direct WHERE driver_id = 90;
SET client_min_messages = warning;
DROP ROLE IF EXISTS regress_pd_pusher;
RESET client_min_messages;
CREATE ROLE regress_pd_pusher;
SELECT count(*) > 0 AS granted FROM feast_grant('regress_pd_pusher', 'push', 'pd_push');
SET ROLE regress_pd_pusher;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:09Z", "a": 9, "b": "t9"}]');
RESET ROLE;
REVOKE UPDATE ON feast_online.pd_direct FROM regress_pd_pusher;
SET ROLE regress_pd_pusher;
SELECT feast_push('pd_push', '[{"driver_id": 90, "zone_id": "t", "event_timestamp": "2030-01-01T00:00:10Z", "a": 10, "b": "t10"}]');
\echo :SQLSTATE
RESET ROLE;
SELECT driver_id, a, b FROM feast_online.pd_direct WHERE driver_id = 90;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP TABLE pd_docs;
DROP FUNCTION pd_noop;
DROP FUNCTION pd_note;
DROP OWNED BY regress_pd_pusher CASCADE;
DROP ROLE regress_pd_pusher;
