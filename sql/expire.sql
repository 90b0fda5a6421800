-- expire: CALL feast_expire deletes the online rows older than the ttl (or older_than) in batches,
-- reads answer the same values before and after, rights are the caller's, a cancel mid-run
-- leaves a consistent table and counts exactly what it deleted
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
CREATE EXTENSION IF NOT EXISTS amcheck;
DROP FUNCTION IF EXISTS ex_slow();
DROP ROLE IF EXISTS regress_ex_deleter;
DROP ROLE IF EXISTS regress_ex_reader;
RESET client_min_messages;
SET timezone = 'UTC';
\set VERBOSITY terse
CREATE ROLE regress_ex_deleter;
CREATE ROLE regress_ex_reader;

SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('ex_push', NULL);
SELECT feast_apply_feature_view('ex_ttl', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'ex_push', ttl => '1 day');
SELECT feast_apply_feature_view('ex_forever', '{driver}', '[{"name": "w", "dtype": "int32"}]', 'ex_push');
-- driver i's rows are i * 5 hours old: drivers 5.. are older than the day of ex_ttl
SELECT feast_push('ex_push', (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'v', i, 'w', -i,
                              'event_timestamp', now() - i * interval '5 hours')) FROM generate_series(1, 8) i));

-- in one transaction (one now()): the same values before and after; the expired rows go from
-- OUTSIDE_MAX_AGE to NOT_FOUND; the view without ttl keeps everything (a NOTICE says why)
BEGIN;
CREATE TEMP TABLE ex_before AS
SELECT feast_get_online_features(ARRAY['ex_ttl:v', 'ex_forever:w'], '{"driver_id": [1, 4, 5, 8, 99]}') AS r;
CALL feast_expire();
SELECT b.r -> 'results' -> 1 -> 'values' AS values_before, a.r -> 'results' -> 1 -> 'values' AS values_after,
       b.r -> 'results' -> 1 -> 'values' = a.r -> 'results' -> 1 -> 'values' AS same_values,
       b.r -> 'results' -> 2 = a.r -> 'results' -> 2 AS same_view_without_ttl
  FROM ex_before b, feast_get_online_features(ARRAY['ex_ttl:v', 'ex_forever:w'], '{"driver_id": [1, 4, 5, 8, 99]}') a(r);
SELECT b.r -> 'results' -> 1 -> 'statuses' AS statuses_before, a.r -> 'results' -> 1 -> 'statuses' AS statuses_after
  FROM ex_before b, feast_get_online_features(ARRAY['ex_ttl:v'], '{"driver_id": [1, 4, 5, 8, 99]}') a(r);
COMMIT;
SELECT driver_id FROM feast_online.ex_ttl ORDER BY 1;
SELECT count(*) AS forever_rows FROM feast_online.ex_forever;
SELECT feature_view, rows_written, rows_expired, last_expire_at IS NOT NULL AS expired FROM feast.freshness;

-- a second run finds nothing; older_than applies to views without ttl too
CALL feast_expire(ARRAY['ex_ttl']);
CALL feast_expire(ARRAY['ex_forever'], older_than => '26 hours');
SELECT driver_id, w FROM feast_online.ex_forever ORDER BY 1;
-- in a transaction block it is one transaction: rolled back, nothing is deleted or counted
BEGIN;
CALL feast_expire(older_than => '1 hour');
ROLLBACK;
SELECT count(*) AS forever_rows FROM feast_online.ex_forever;
SELECT feature_view, rows_expired FROM feast.freshness;

-- errors change nothing
CALL feast_expire(ARRAY['ex_ttl', 'ex_nope']);
\echo :SQLSTATE
CALL feast_expire(ARRAY['ex_ttl', NULL]);
\echo :SQLSTATE
SELECT feast_apply_feature_view('ex_off', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'ex_push', online => false);
CALL feast_expire(ARRAY['ex_off']);
\echo :SQLSTATE
CALL feast_expire(older_than => '0');
\echo :SQLSTATE
CALL feast_expire(older_than => '-1 day');
\echo :SQLSTATE
SELECT feast_grant('regress_ex_deleter', 'expire', 'ex_off');
\echo :SQLSTATE
SELECT feast_delete('feature_view', 'ex_off');

-- rights: expiring deletes as the caller, who needs DELETE (and SELECT on event_timestamp); each
-- view named is checked before anything is deleted
SELECT feast_push('ex_push', (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'v', i, 'w', -i,
                              'event_timestamp', now() - i * interval '5 hours')) FROM generate_series(10, 12) i));
-- feast_grant's expire action grants exactly that (a view or a service's views)
SELECT feast_grant('regress_ex_deleter', 'expire', 'ex_ttl');
SELECT has_table_privilege('regress_ex_deleter', 'feast_online.ex_ttl', 'DELETE') AS may_delete,
       has_table_privilege('regress_ex_deleter', 'feast_online.ex_ttl', 'SELECT') AS may_select,
       has_table_privilege('regress_ex_deleter', 'feast_online.ex_ttl', 'INSERT') AS may_insert,
       has_table_privilege('regress_ex_deleter', 'feast_online.ex_forever', 'DELETE') AS other_view;
SELECT feast_grant('regress_ex_deleter', 'expire', 'no_such_view');
\echo :SQLSTATE
SELECT feast_grant('regress_ex_deleter', 'expire', 'Ex_TTL');
\echo :SQLSTATE
SELECT feast_grant('regress_no_such_role', 'expire', 'ex_ttl');
\echo :SQLSTATE
SELECT feast_grant('regress_ex_deleter', 'expire', '*');
\echo :SQLSTATE
SET ROLE regress_ex_deleter;
SELECT feast_grant('regress_ex_deleter', 'expire', 'ex_forever');
\echo :SQLSTATE
RESET ROLE;
SET ROLE regress_ex_deleter;
CALL feast_expire(ARRAY['ex_ttl', 'ex_forever'], older_than => '1 hour');
\echo :SQLSTATE
SET ROLE regress_ex_reader;
CALL feast_expire();
\echo :SQLSTATE
RESET ROLE;
SELECT count(*) AS ttl_rows, (SELECT count(*) FROM feast_online.ex_forever) AS forever_rows FROM feast_online.ex_ttl;
SET ROLE regress_ex_deleter;
CALL feast_expire(ARRAY['ex_ttl']);
RESET ROLE;
SELECT driver_id FROM feast_online.ex_ttl ORDER BY 1;
-- row security applies to the caller's delete
SELECT feast_push('ex_push', (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'v', i, 'w', -i,
                              'event_timestamp', now() - i * interval '5 hours')) FROM generate_series(20, 23) i));
ALTER TABLE feast_online.ex_ttl ENABLE ROW LEVEL SECURITY;
CREATE POLICY ex_even ON feast_online.ex_ttl USING (driver_id % 2 = 0);
SET ROLE regress_ex_deleter;
CALL feast_expire(ARRAY['ex_ttl']);
RESET ROLE;
SELECT driver_id FROM feast_online.ex_ttl ORDER BY 1;
DROP POLICY ex_even ON feast_online.ex_ttl;

-- a cancel mid-run: every row is old, each row costs 2 ms to examine (a policy), a batch is about
-- one block; statement_timeout stops the CALL after some batches have committed: the rows of the
-- committed batches are gone and counted, the rest are whole, the index agrees with the heap,
-- and the next run finishes the job
DELETE FROM feast_online.ex_ttl;
SELECT feast_push('ex_push', (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'v', i, 'w', -i,
                              'event_timestamp', now() - interval '2 days')) FROM generate_series(1, 1200) i));
CREATE FUNCTION ex_slow() RETURNS boolean LANGUAGE sql AS 'SELECT true FROM pg_sleep(0.002)';
CREATE POLICY ex_slow ON feast_online.ex_ttl USING (ex_slow());
SELECT rows_expired AS expired_before FROM feast.freshness WHERE feature_view = 'ex_ttl' \gset
SET ROLE regress_ex_deleter;
SET cfeast.expire_batch_rows = 1;
SET statement_timeout = '1s';
SET client_min_messages = warning;  -- a progress NOTICE may come just before the timeout
CALL feast_expire(ARRAY['ex_ttl']);
\echo :SQLSTATE
RESET statement_timeout;
RESET client_min_messages;
RESET ROLE;
SELECT count(*) > 0 AND count(*) < 1200 AS some_deleted_some_kept,
       1200 - count(*) = (SELECT rows_expired - :expired_before FROM feast.freshness WHERE feature_view = 'ex_ttl') AS counted_exactly,
       count(*) = count(v) AND bool_and(v = driver_id) AS rows_whole
  FROM feast_online.ex_ttl;
SELECT bt_index_check('feast_online.ex_ttl_pkey'::regclass, true);
SET enable_seqscan = off;
SELECT count(*) = (SELECT count(*) FROM feast_online.ex_ttl WHERE driver_id > 0) AS index_matches FROM feast_online.ex_ttl;
RESET enable_seqscan;
DROP POLICY ex_slow ON feast_online.ex_ttl;
SET client_min_messages = warning;
SELECT count(*) AS ttl_rows_left FROM feast_online.ex_ttl \gset
CALL feast_expire(ARRAY['ex_ttl']) \gset
RESET client_min_messages;
SELECT :rows_deleted = :ttl_rows_left AS rest_deleted, count(*) AS ttl_rows FROM feast_online.ex_ttl;
SELECT rows_expired - :expired_before AS expired_in_all FROM feast.freshness WHERE feature_view = 'ex_ttl';

-- a hostile search_path: a temporary table named like the online table is not what is expired
SELECT feast_push('ex_push', '[{"driver_id": 1, "v": 1, "w": 1, "event_timestamp": "2020-01-01T00:00:00Z"}]');
CREATE TEMP TABLE ex_ttl AS SELECT 1::bigint AS driver_id, now() - interval '9 days' AS event_timestamp;
SET search_path = pg_temp, feast_online, public;
CALL feast_expire(ARRAY['ex_ttl']) \gset
RESET search_path;
SELECT :rows_deleted AS rows_deleted, (SELECT count(*) FROM pg_temp.ex_ttl) AS temp_rows,
       (SELECT count(*) FROM feast_online.ex_ttl) AS online_rows;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
DROP FUNCTION ex_slow();
DROP EXTENSION amcheck;
DROP OWNED BY regress_ex_deleter, regress_ex_reader CASCADE;
DROP ROLE regress_ex_deleter, regress_ex_reader;
RESET client_min_messages;
