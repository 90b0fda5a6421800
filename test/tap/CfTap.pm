# test/tap/CfTap.pm: shared set-up for cfeast's TAP tests (crash, cancel, dump).
#
# A store with one push source feeding two feature views, online and offline,
# a big document ready in a table, and the long operations to interrupt.  To
# interrupt a new operation (materialization, a training-set build), add it to
# long_operations() with the state it must leave untouched; crash and cancel
# tests pick it up.
package CfTap;

use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

our $DB = 'cfeast_tap';

# a node with cfeast and a store holding $base rows, plus big_doc holding $nrows rows,
# and $hist batch rows (and entity rows) for materialization and training sets
sub setup_store
{
	my ($node, $nrows, $base, $hist) = @_;
	$hist //= $nrows;
	$node->safe_psql('postgres', "CREATE DATABASE $DB");
	$node->safe_psql($DB, qq{
		CREATE EXTENSION cfeast;
		CREATE EXTENSION amcheck;
		CREATE TABLE trips (driver_id bigint, conv_rate double precision, trips integer,
		                    event_timestamp timestamptz, created timestamptz);
		SELECT feast_apply_entity('driver', 'driver_id');
		SELECT feast_apply_batch_source('trips_batch', 'trips', 'event_timestamp', 'created');
		SELECT feast_apply_push_source('trips_push', 'trips_batch');
		SELECT feast_apply_feature_view('stats_a', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'trips_push');
		SELECT feast_apply_feature_view('stats_b', '{driver}',
		       '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'trips_push');
		SELECT feast_apply_feature_service('svc', '{stats_a, stats_b}');
		-- a batch-fed view to materialize, and entity rows for a training set
		CREATE TABLE trips_hist (driver_id bigint, conv_rate double precision, event_timestamp timestamptz);
		INSERT INTO trips_hist SELECT g % ($hist / 2 + 1), g * 0.25, '2026-01-01'::timestamptz + g * interval '1 second'
		  FROM generate_series(1, $hist) g;
		SELECT feast_apply_batch_source('hist_batch', 'trips_hist', 'event_timestamp');
		SELECT feast_apply_feature_view('stats_h', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'hist_batch');
		CREATE TABLE entity_big AS
		SELECT g % ($hist / 2 + 1) AS driver_id, '2026-01-01'::timestamptz + g * interval '1 second' AS event_timestamp
		  FROM generate_series(1, $hist) g;
		ANALYZE;
		SELECT feast_push('trips_push',
		       (SELECT jsonb_agg(jsonb_build_object('driver_id', g, 'conv_rate', g * 0.5, 'trips', g,
		                                            'event_timestamp', '2026-01-01T00:00:00Z'))
		          FROM generate_series(1, $base) g), 'online_and_offline');
		-- the big push: newer values for the base keys, and many new keys
		CREATE TABLE big_doc AS
		SELECT jsonb_agg(jsonb_build_object('driver_id', g, 'conv_rate', g * 0.001, 'trips', g % 1000,
		                                    'event_timestamp', '2026-01-02T00:00:00Z')) AS rows
		  FROM generate_series(1, $nrows) g;
		CHECKPOINT;
	});
	return;
}

# the long operations to interrupt: name => SQL.  Each must change the state below when it commits.
sub long_operations
{
	return (
		push => "SELECT feast_push('trips_push', rows, 'online_and_offline') FROM big_doc",
		push_columns => "SELECT feast_push('trips_push', jsonb_build_object("
		  . "'driver_id', jsonb_path_query_array(rows, '\$[*].driver_id'), "
		  . "'conv_rate', jsonb_path_query_array(rows, '\$[*].conv_rate'), "
		  . "'trips', jsonb_path_query_array(rows, '\$[*].trips'), "
		  . "'event_timestamp', jsonb_path_query_array(rows, '\$[*].event_timestamp')), 'online') FROM big_doc",
		materialize => "SELECT feast_materialize('2025-01-01', '2026-11-01', '{stats_h}')",
		training_set => "SELECT feast_create_training_set('ts_big', 'entity_big', '{stats_h:conv_rate, stats_a:conv_rate}', true)",
	);
}

# the relations an operation writes, to see that it has started writing (undef: none visible before commit)
sub written_relations
{
	my ($op) = @_;
	return q{SELECT pg_relation_size('feast_online.stats_h')} if $op eq 'materialize';
	return undef if $op eq 'training_set';    # a new table: invisible until commit
	return q{SELECT pg_relation_size('feast_online.stats_a') + pg_relation_size('feast_online.stats_b') + pg_relation_size('trips')};
}

# everything a failed operation must leave as it was: registry, online rows, offline rows
sub state
{
	my ($node) = @_;
	return $node->safe_psql($DB, q{
		SELECT concat_ws(' | ',
		  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.entities t),
		  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.data_sources t),
		  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.feature_views t),
		  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.features t),
		  (SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.feature_services t),
		  (SELECT count(*) || ' ' || sum(conv_rate) || ' ' || max(event_timestamp) FROM feast_online.stats_a),
		  (SELECT count(*) || ' ' || sum(conv_rate) || ' ' || sum(trips) || ' ' || max(event_timestamp) FROM feast_online.stats_b),
		  (SELECT count(*) || ' ' || sum(conv_rate) FROM trips),
		  (SELECT count(*) || ' ' || coalesce(sum(conv_rate), 0) FROM feast_online.stats_h),
		  (SELECT count(*) FROM feast.materialization_intervals),
		  (SELECT count(*) FROM pg_tables WHERE schemaname = 'public'))
	});
}

# the btree indexes of the registry and the online tables agree with their heaps
sub check_indexes
{
	my ($node, $what) = @_;
	my $n = $node->safe_psql($DB, q{
		SELECT count(*) FROM (
		  SELECT bt_index_parent_check(i.indexrelid, true)
		    FROM pg_index i
		    JOIN pg_class ic ON ic.oid = i.indexrelid
		    JOIN pg_am am ON am.oid = ic.relam AND am.amname = 'btree'
		    JOIN pg_class c ON c.oid = i.indrelid
		   WHERE c.relnamespace IN ('feast'::regnamespace, 'feast_online'::regnamespace)) x
	});
	cmp_ok($n, '>=', 8, "$what: amcheck finds the registry and online indexes consistent ($n indexes)");
	return;
}

# start "sql" in its own psql, named cfeast_victim; returns the harness
sub start_victim
{
	my ($node, $sql) = @_;
	my %run = (out => '', err => '');
	my @cmd = ('psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d',
		$node->connstr($DB) . ' application_name=cfeast_victim', '-c', $sql);
	$run{h} = IPC::Run::start(\@cmd, '<', \undef, '>', \$run{out}, '2>', \$run{err});
	return \%run;
}

# the pid of the victim's backend once its statement runs
sub victim_pid
{
	my ($node) = @_;
	my $deadline = time() + 60;
	while (time() < $deadline)
	{
		my $pid = $node->safe_psql('postgres', q{
			SELECT pid FROM pg_stat_activity
			 WHERE application_name = 'cfeast_victim' AND state = 'active' AND query NOT LIKE 'SET %'});
		return $pid if $pid ne '';
		usleep(5_000);
	}
	die "the victim never started";
}

# wait for the victim; returns seconds waited
sub finish_victim
{
	my ($run) = @_;
	my $t0 = time();
	$run->{h}->finish;
	return time() - $t0;
}

# run "sql" to completion and roll it back; returns seconds taken
sub timed_rollback
{
	my ($node, $sql) = @_;
	my $t0 = time();
	$node->safe_psql($DB, "BEGIN; $sql; ROLLBACK;");
	return time() - $t0;
}

1;
