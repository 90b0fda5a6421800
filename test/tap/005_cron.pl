# 005_cron.pl: feast_schedule hands incremental materialization and expiry to pg_cron, which runs
# them: a cluster with pg_cron preloaded, a batch source with rows, both jobs every minute; within
# two minutes a new interval is recorded, the rows are online, the expired rows are gone (the
# expiry procedure commits per batch inside pg_cron's job), and feast_unschedule removes the jobs.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('cron');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'pg_cron'
cron.database_name = 'postgres'
cron.use_background_workers = on
max_worker_processes = 16
});
$node->start;
my $db = 'postgres';
$node->safe_psql($db, q{
	SET client_min_messages = warning;
	CREATE EXTENSION pg_cron;
	CREATE EXTENSION cfeast;
	CREATE TABLE cron_trips (driver_id bigint, conv_rate double precision, event_timestamp timestamptz);
	INSERT INTO cron_trips SELECT g, g * 0.5, now() - g * interval '1 minute' FROM generate_series(1, 50) g;
	SELECT feast_apply_entity('driver', 'driver_id');
	SELECT feast_apply_batch_source('cron_batch', 'cron_trips', 'event_timestamp');
	SELECT feast_apply_push_source('cron_push', 'cron_batch');
	SELECT feast_apply_feature_view('cron_stats', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]',
	                                'cron_push', ttl => '1 day');
	-- three rows already past the ttl, for the expiry job
	SELECT feast_push('cron_push', '[{"driver_id": 1001, "conv_rate": 1, "event_timestamp": "2020-01-01T00:00:00Z"},
	                                 {"driver_id": 1002, "conv_rate": 2, "event_timestamp": "2020-01-01T00:00:00Z"},
	                                 {"driver_id": 1003, "conv_rate": 3, "event_timestamp": "2020-01-01T00:00:00Z"}]');
});

# pg_cron 1.4 (Debian 12) schedules by the minute
my $mat = $node->safe_psql($db, q{SELECT feast_schedule('materialize_incremental', '* * * * *')});
my $exp = $node->safe_psql($db, q{SELECT feast_schedule('expire', '* * * * *', ARRAY['cron_stats'])});
ok($mat =~ /^\d+$/ && $exp =~ /^\d+$/ && $mat ne $exp, "two jobs scheduled ($mat, $exp)");
is($node->safe_psql($db, q{SELECT feast_schedule('materialize_incremental', '*/1 * * * *')}), $mat,
	'scheduling a job again changes it in place');
is($node->safe_psql($db, q{SELECT jobname || ' | ' || command FROM cron.job ORDER BY jobid}),
	"cfeast_materialize_incremental | SELECT public.feast_materialize_incremental(feature_views => NULL)\n"
	  . "cfeast_expire(cron_stats) | CALL public.feast_expire(feature_views => '{cron_stats}'::text[])",
	'the jobs pg_cron runs');

# wait for both jobs to have run (the next minute boundary, and some slack for a loaded machine)
my $done = 0;
for (my $i = 0; $i < 1500 && !$done; $i++)
{
	$done = $node->safe_psql($db, q{
		SELECT (SELECT count(*) FROM feast.materialization_intervals WHERE feature_view = 'cron_stats') > 0
		   AND (SELECT count(*) FROM feast_online.cron_stats WHERE driver_id > 1000) = 0
	}) eq 't';
	usleep(100_000) unless $done;
}
ok($done, 'pg_cron ran the materialization and the expiry');
is($node->safe_psql($db, q{SELECT count(*) FROM feast_online.cron_stats WHERE driver_id <= 50}), '50',
	'the batch rows are online');
is($node->safe_psql($db, q{SELECT rows_written >= 53, rows_expired FROM feast.freshness WHERE feature_view = 'cron_stats'}),
	't|3', 'feast.freshness counts what the jobs did');
# the run details say succeeded once each job has finished
my $ok = 0;
for (my $i = 0; $i < 300 && !$ok; $i++)
{
	$ok = $node->safe_psql($db, q{
		SELECT count(DISTINCT jobid) = 2 FROM cron.job_run_details WHERE status = 'succeeded'
	}) eq 't';
	usleep(100_000) unless $ok;
}
ok($ok, 'both jobs succeeded')
  or diag($node->safe_psql($db, q{SELECT jobid, status, return_message FROM cron.job_run_details}));

is($node->safe_psql($db, q{SELECT feast_unschedule('materialize_incremental')}), 't', 'unscheduled');
is($node->safe_psql($db, q{SELECT feast_unschedule('expire', ARRAY['cron_stats'])}), 't', 'unscheduled with its views');
is($node->safe_psql($db, q{SELECT feast_unschedule('expire')}), 'f', 'a job that is not scheduled: false');
is($node->safe_psql($db, q{SELECT count(*) FROM cron.job}), '0', 'no job left');

$node->stop;
done_testing();
