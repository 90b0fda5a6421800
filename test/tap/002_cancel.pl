# 002_cancel.pl: pg_cancel_backend and statement_timeout stop a long push
# within two seconds, at any point of its run, and leave nothing behind.
# Operations come from CfTap::long_operations.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use CfTap;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $NROWS = $ENV{CF_CANCEL_ROWS} // 60_000;
# seconds from the cancel to the error, psql's own start included: a loop that
# does not check for interrupts runs for many seconds here, and 1.0 failed
# on a loaded 2-core machine (1.1-1.3 s) with every loop checking
my $LIMIT = 2.0;

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->start;
CfTap::setup_store($node, $NROWS, 1000, $ENV{CF_CANCEL_HIST} // 600_000);
# one huge array value: its 2M elements are converted in one loop of cfeast's.
# Both columns are stored uncompressed, so that PostgreSQL's own pglz loops
# (which do not check for interrupts) stay out of the measurement.
$node->safe_psql($CfTap::DB, q{
	SELECT feast_apply_push_source('vec_push', NULL);
	SELECT feast_apply_feature_view('vec_view', '{driver}', '[{"name": "vec", "dtype": "array(float64)"}]', 'vec_push');
	ALTER TABLE feast_online.vec_view ALTER COLUMN vec SET STORAGE EXTERNAL;
	CREATE TABLE vec_doc (rows jsonb);
	ALTER TABLE vec_doc ALTER COLUMN rows SET STORAGE EXTERNAL;
	INSERT INTO vec_doc
	SELECT jsonb_build_array(jsonb_build_object('driver_id', 1, 'event_timestamp', '2026-01-01T00:00:00Z',
	       'vec', (SELECT jsonb_agg(g * 0.37) FROM generate_series(1, 2000000) g)));
});
# the store's state, and the vector view's
sub state { return CfTap::state($node) . ' | ' . $node->safe_psql($CfTap::DB, 'SELECT count(*) FROM feast_online.vec_view') }
my $before = state();
my %ops = (CfTap::long_operations(), vector => "SELECT feast_push('vec_push', rows) FROM vec_doc");

for my $op (sort keys %ops)
{
	# the faster of two runs (the first one warms caches)
	my $took = CfTap::timed_rollback($node, $ops{$op});
	my $again = CfTap::timed_rollback($node, $ops{$op});
	$took = $again if $again < $took;
	note(sprintf("%s takes %.2f s uninterrupted", $op, $took));
	# pg_cancel_backend at 10%, 50% and 80% of the run.  A run that ends before the
	# cancel arrives (the machine's speed varies) is rolled back and tried again earlier.
	for my $f (0.1, 0.5, 0.8)
	{
		my ($run, $latency);
		for my $try (0 .. 3)
		{
			my $delay = $f * $took / (2**$try);
			$run = CfTap::start_victim($node, "BEGIN; $ops{$op}; ROLLBACK;");
			my $t_start = time();
			my $pid = CfTap::victim_pid($node);
			usleep(1_000_000 * ($delay - (time() - $t_start))) if $delay > time() - $t_start;
			my $t0 = time();
			$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
			$run->{h}->finish;
			$latency = time() - $t0;
			# stderr also carries NOTICEs (materialize reports what it wrote): look for the cancel
			last if $run->{err} =~ /canceling statement/;
			note("$op: the run ended before the cancel at $delay s; trying earlier");
		}
		my $at = int($f * 100);
		like($run->{err}, qr/canceling statement due to user request/, "$op at $at%: cancelled");
		cmp_ok($latency, '<', $LIMIT, sprintf("%s at %d%%: stopped %.3f s after pg_cancel_backend", $op, $at, $latency));
		is(state(), $before, "$op at $at%: nothing left behind");
	}
	# statement_timeout at 30% of the run (again earlier if the run beats it)
	for my $f (0.3)
	{
		my ($ms, $err, $over);
		for my $try (0 .. 3)
		{
			$ms = int(1000 * $f * $took / (2**$try)) + 1;
			my $t0 = time();
			(undef, undef, $err) = $node->psql($CfTap::DB, "BEGIN; SET LOCAL statement_timeout = $ms; $ops{$op}; ROLLBACK;");
			$over = time() - $t0 - $ms / 1000;
			last if $err =~ /canceling statement/;
			note("$op: the run beat statement_timeout = $ms ms; trying shorter");
		}
		like($err, qr/canceling statement due to statement timeout/, "$op: statement_timeout = $ms ms fires");
		cmp_ok($over, '<', $LIMIT, sprintf("%s: stopped %.3f s after statement_timeout (with psql's start-up)", $op, $over));
		is(state(), $before, "$op: statement_timeout left nothing behind");
	}
}
$node->stop;
done_testing();
