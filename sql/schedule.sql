-- schedule: feast_schedule / feast_unschedule check their arguments, and without pg_cron in this
-- database say what to install and set (test/tap/005_cron.pl runs them against pg_cron)
\set SHOW_CONTEXT never
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS cfeast CASCADE;
CREATE EXTENSION cfeast;
RESET client_min_messages;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_push_source('sch_push', NULL);
SELECT feast_apply_feature_view('sch_v', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'sch_push', ttl => '1 day');

-- pg_cron is not installed here: 55000, naming the package and the settings
SELECT feast_schedule('materialize_incremental', '* * * * *');
\echo :SQLSTATE
SELECT feast_unschedule('expire');
\echo :SQLSTATE
-- arguments are checked first
SELECT feast_schedule('vacuum', '* * * * *');
\echo :SQLSTATE
SELECT feast_schedule(NULL, '* * * * *');
\echo :SQLSTATE
SELECT feast_schedule('expire', NULL);
\echo :SQLSTATE
SELECT feast_schedule('expire', '* * * * *', ARRAY['sch_nope']);
\echo :SQLSTATE
SELECT feast_apply_feature_view('sch_off', '{driver}', '[{"name": "v", "dtype": "int32"}]', 'sch_push', online => false);
SELECT feast_schedule('materialize_incremental', '* * * * *', ARRAY['sch_v', 'sch_off']);
\echo :SQLSTATE
SELECT feast_schedule('expire', '* * * * *', ARRAY['Sch_v']);
\echo :SQLSTATE
SELECT feast_schedule('expire', '* * * * *', ARRAY['sch_v', NULL]);
\echo :SQLSTATE
SELECT feast_unschedule('vacuum');
\echo :SQLSTATE
-- the job each would hand to pg_cron: one name per (job, views), views sorted and once
SELECT * FROM feast._cron_job('materialize_incremental', NULL);
SELECT * FROM feast._cron_job('expire', ARRAY['sch_v', 'sch_v']);
-- anyone may call them: the job runs with its scheduler's rights
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p WHERE p.proname IN ('feast_schedule', 'feast_unschedule', 'feast_expire', 'feast_online_row_count')
 ORDER BY 1;

SET client_min_messages = warning;
DROP EXTENSION cfeast CASCADE;
RESET client_min_messages;
