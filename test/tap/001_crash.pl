# 001_crash.pl: kill -9 a backend in the middle of a large push, a
# materialization and a training-set build; after crash recovery nothing of it
# is left, the registry is intact, and the next run works.  Operations come
# from CfTap::long_operations.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use CfTap;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $NROWS = $ENV{CF_CRASH_ROWS} // 100_000;
my $BASE = 1000;

my $node = PostgreSQL::Test::Cluster->new('crash');
$node->init;
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->start;
my $HIST = $ENV{CF_CRASH_HIST} // 300_000;
CfTap::setup_store($node, $NROWS, $BASE, $HIST);
my $before = CfTap::state($node);

my %ops = CfTap::long_operations();
for my $op (sort keys %ops)
{
	# early: as the statement starts (reading the document); writing: once the heaps grow
	my $rel_size = CfTap::written_relations($op);
	my $took = 0;
	if (!$rel_size)
	{
		# the faster of two runs: a kill "half way" after a slow first run could come after the end
		$took = CfTap::timed_rollback($node, $ops{$op});
		my $again = CfTap::timed_rollback($node, $ops{$op});
		$took = $again if $again < $took;
		note(sprintf("%s takes %.3f s", $op, $took));
	}
	my $tries = 0;
	for my $phase ('early', 'writing')
	{
		my $size0 = $rel_size ? $node->safe_psql($CfTap::DB, $rel_size) : 0;
		my $size = $size0;
		my $run = CfTap::start_victim($node, $ops{$op});
		my $pid = CfTap::victim_pid($node);
		if ($phase eq 'early')
		{
			# a training set now takes a fraction of a second: kill it as soon as it is seen
			# running (the poll for the victim is itself tens of milliseconds); the others
			# parse their documents for seconds
			usleep($rel_size ? 30_000 : 0);
		}
		elsif (!$rel_size)
		{
			usleep(1_000_000 * $took / 2);    # half way through
		}
		else
		{
			# kill as soon as the heaps are seen growing: no further round trip first (on a
			# loaded machine one psql more let a materialization finish before the kill)
			my $deadline = time() + 120;
			while (($size = $node->safe_psql($CfTap::DB, $rel_size)) <= $size0 + 65536 && time() < $deadline)
			{
				usleep(10_000);
			}
		}
		kill 'KILL', $pid;
		my $grown = $size - $size0;
		CfTap::finish_victim($run);
		if (!$rel_size && $run->{err} eq '' && $tries++ < 3)
		{
			# the training set ended before the kill reached it: drop its table and try again
			$node->safe_psql($CfTap::DB, 'DROP TABLE IF EXISTS ts_big');
			redo;
		}
		like($run->{err}, qr/server closed the connection|terminating connection|connection to server was lost/,
			"$op/$phase: the backend died" . ($rel_size ? " (heaps had grown by $grown bytes)" : ''));
		$node->poll_query_until('postgres', 'SELECT true') or die "the server did not come back";
		is(CfTap::state($node), $before, "$op/$phase: after recovery, registry, online and offline rows are as before");
		CfTap::check_indexes($node, "$op/$phase");
	}
}
ok($node->log_contains('was terminated by signal 9'), 'the server log records the kills');

# the store still works: the same big push goes through, all of it
my $n = $node->safe_psql($CfTap::DB, $ops{push});
is($n, $NROWS, 'the next push accepts every row');
is($node->safe_psql($CfTap::DB, q{
	SELECT count(*) || ' ' || min(event_timestamp) || ' ' || count(*) FILTER (WHERE conv_rate = driver_id * 0.001)
	  FROM feast_online.stats_b}),
	"$NROWS 2026-01-02 00:00:00+00 $NROWS", 'every key holds the new values');
is($node->safe_psql($CfTap::DB, 'SELECT count(*) FROM trips'), $NROWS + $BASE, 'the offline rows are appended once');
is($node->safe_psql($CfTap::DB, $ops{materialize}), $HIST / 2 + 1, 'the next materialization writes every key');
is($node->safe_psql($CfTap::DB, $ops{training_set} . '; SELECT count(*) FROM ts_big'), "ts_big\n$HIST",
	'the next training set has one row per entity row');
CfTap::check_indexes($node, 'after the last push');

# a committed training set (its pages written whole, logged as full pages) survives a crash and
# recovery (which replays them) intact
my $ts_sum = q{SELECT count(*) || ' ' || count(stats_h__conv_rate) || ' ' || sum(hashtext(t::text)::bigint)
                 FROM ts_big t};
my $ts_before = $node->safe_psql($CfTap::DB, $ts_sum);
$node->stop('immediate');
$node->start;
is($node->safe_psql($CfTap::DB, $ts_sum), $ts_before, 'the training set is whole after crash recovery');

$node->stop;
done_testing();
