# 005_scale_out.pl: router mode on PL/Proxy.  A reference node, a router and 3 shards
# (64 logical shards, shard i on node i % 3): the registry broadcast with equal fingerprints
# and a changed shard refused; generated pushes (both forms, online and offline, duplicates
# and full ties within a batch, NULL created, int64, string, bytes and composite keys; JSON text
# and jsonb) leave the shards together identical to the reference, every key on its node; 300
# generated reads byte-identical to the reference; bad rows give one node's error and change no
# shard; an apply mixing distribution keys refused; reads refused while a node differs; a node
# down at start, a node failing mid-push and a router timeout while a node waits on a
# lock, each retried with the same push id, end identical to the reference; a broadcast
# materialization equals the reference's.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $db = 'cfeast_so';
my $NSHARDS = 64;

# tables that must exist before the registry names them, on every database
my $tables = q{
	SET client_min_messages = warning;
	CREATE EXTENSION cfeast;
	CREATE TABLE public.trips (driver_id bigint, conv_rate double precision, trips integer,
	                           event_timestamp timestamptz, created timestamptz);
	CREATE TABLE public.hist (driver_id bigint, rating double precision, event_timestamp timestamptz);
};
# the registry, applied on the reference directly and on the router (broadcast)
my $registry = q{
	SELECT feast_apply_entity('driver', 'driver_id', 'int64');
	SELECT feast_apply_entity('customer', 'customer_id', 'string');
	SELECT feast_apply_entity('device', 'device_id', 'bytes');
	SELECT feast_apply_batch_source('trips_batch', 'public.trips', 'event_timestamp', 'created');
	SELECT feast_apply_push_source('trips_push', 'trips_batch');
	SELECT feast_apply_feature_view('stats_a', '{driver}', '[{"name": "conv_rate", "dtype": "float64"}]', 'trips_push');
	SELECT feast_apply_feature_view('stats_b', '{driver}',
	       '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'trips_push');
	SELECT feast_apply_push_source('cust_push', NULL);
	SELECT feast_apply_feature_view('cust', '{customer}', '[{"name": "score", "dtype": "float64"}]', 'cust_push');
	SELECT feast_apply_push_source('dev_push', NULL);
	SELECT feast_apply_feature_view('dev', '{device}', '[{"name": "temp", "dtype": "int64"}]', 'dev_push');
	SELECT feast_apply_push_source('pair_push', NULL);
	SELECT feast_apply_feature_view('pair', '{driver, customer}', '[{"name": "rides", "dtype": "int32"}]', 'pair_push');
	SELECT feast_apply_batch_source('hist_batch', 'public.hist', 'event_timestamp');
	SELECT feast_apply_feature_view('rated', '{driver}', '[{"name": "rating", "dtype": "float64"}]', 'hist_batch');
};
# one initdb: the reference, with the extension and the tables, copied to every other node
my $ref = PostgreSQL::Test::Cluster->new('ref');
$ref->init(allows_streaming => 1);
$ref->append_conf('postgresql.conf', "fsync = off\njit = off\nmax_connections = 40\n");
$ref->start;
$ref->safe_psql('postgres', "CREATE DATABASE $db");
$ref->safe_psql($db, $tables);
$ref->backup('base');
my $router = PostgreSQL::Test::Cluster->new('router');
my @nodes = map { PostgreSQL::Test::Cluster->new("shard$_") } 0 .. 2;
for my $n ($router, @nodes)
{
	$n->init_from_backup($ref, 'base');
	$n->start;
}
$ref->safe_psql($db, $registry);

# the router: PL/Proxy cluster of 64 partitions, partition i on node i % 3
my $parts = join(', ',
	map { my $n = $nodes[ $_ % 3 ]; sprintf("p%d 'host=%s port=%d dbname=%s'", $_, $n->host, $n->port, $db) }
	  0 .. $NSHARDS - 1);
$router->safe_psql($db, qq{
	CREATE EXTENSION plproxy;
	CREATE SERVER feast_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($parts);
	CREATE USER MAPPING FOR PUBLIC SERVER feast_cluster;
	SELECT feast_router_setup('feast_cluster', $NSHARDS);
});
$router->safe_psql($db, $registry);

# ---------------------------------------------------------------------------
# (1) registry broadcast and fingerprints
# ---------------------------------------------------------------------------
is($router->safe_psql($db, q{SELECT count(*), bool_and(same) FROM feast_router_check()}),
	'3|t', 'every node has the router\'s registry');
is($nodes[1]->safe_psql($db, q{SELECT count(*) FROM feast.feature_views}), '6', 'the views reached a node');
# an apply giving a push source views of another distribution key is refused on the router
my ($rc, $out, $err) = $router->psql($db,
	q{SELECT feast_apply_feature_view('by_cust', '{customer}', '[{"name": "score", "dtype": "float64"}]', 'pair_push')},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  0A000: push source "pair_push" cannot be routed: its feature views are distributed by different join keys \("customer_id" string and "driver_id" int64\)/,
	'an apply mixing distribution keys on a push source is refused (0A000)');
is($router->safe_psql($db, q{SELECT count(*), bool_and(same) FROM feast_router_check()}) . ' '
	  . $nodes[0]->safe_psql($db, q{SELECT count(*) FROM feast.feature_views WHERE name = 'by_cust'}),
	'3|t 0', 'the refused apply reached no node');
# a router session whose fingerprints and node connections are cached
my $rs = $router->background_psql($db, on_error_stop => 0);
$rs->query_safe('\set VERBOSITY verbose');
my $read_all = q{SELECT feast_get_online_features('{stats_a:conv_rate}', '{"driver_id": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]}')};
like($rs->query_safe($read_all), qr/"NOT_FOUND"/, 'a routed read before any change');
$nodes[1]->safe_psql($db, q{SELECT feast_apply_entity('stray', 'stray_id')});
is($router->safe_psql($db, q{SELECT string_agg(node, ',') FROM feast_router_check() WHERE NOT same}),
	"$db port " . $nodes[1]->port, 'a node changed behind the router\'s back differs');
($rc, $out, $err) = $router->psql($db, q{
	SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')});
like($err, qr/the registry of node\(s\) "$db port \d+" differs from the router's/, 'a push is refused while a node differs');
($rc, $out, $err) = $router->psql($db, $read_all, extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/ERROR:  55000: .*the registry of node "$db" differs from the router's/,
	'a routed read is refused while a node differs (55000)');
$rs->query($read_all);
like($rs->{stderr}, qr/ERROR:  55000: .*the registry of node "$db" differs from the router's/,
	'a session that read before refuses too: the node dropped its cached fingerprint');
$rs->{stderr} = '';
$rs->query(q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')});
like($rs->{stderr}, qr/the registry of node\(s\) "$db port \d+" differs from the router's/, 'and so does its push');
$rs->{stderr} = '';
($rc, $out, $err) = $router->psql($db, q{SELECT feast_apply_entity('other', 'other_id')});
like($err, qr/after feast_apply_entity, the registry of node\(s\) .* differs from the router's/,
	'an apply is refused while a node differs');
$nodes[1]->safe_psql($db, q{SELECT feast_delete('entity', 'stray'); SELECT feast_delete('entity', 'other')});
$nodes[$_]->safe_psql($db, q{SELECT feast_delete('entity', 'other')}) for (0, 2);
is($router->safe_psql($db, q{SELECT count(*), bool_and(same) FROM feast_router_check()}),
	'3|t', 'equal again once the node is repaired');
like($rs->query_safe($read_all), qr/"NOT_FOUND"/, 'the cached session reads again once the node is repaired');
# a registry change through another router session: the cached session's router drops its fingerprint
$router->safe_psql($db, q{SELECT feast_apply_entity('late', 'late_id')});
like($rs->query_safe($read_all), qr/"NOT_FOUND"/, 'the cached session reads after an apply by another session');
$router->safe_psql($db, q{SELECT feast_delete('entity', 'late')});
$rs->quit;

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
my %keycols = (
	stats_a => 'driver_id', stats_b => 'driver_id', cust => 'customer_id',
	dev => 'device_id', pair => 'driver_id, customer_id', rated => 'driver_id');
my %distkey = (stats_a => 'driver_id', stats_b => 'driver_id', cust => 'customer_id',
	dev => 'device_id', pair => 'driver_id', rated => 'driver_id');

# every row of the online views and the offline table, one line each ("table|row"), sorted
my @tables = ((map { "feast_online.$_" } sort keys %keycols), 'public.trips');
sub snapshot
{
	my ($node) = @_;
	my $sql = join(' UNION ALL ', map { "SELECT '$_', t::text FROM $_ t" } @tables);
	return grep { $_ ne '' } split /\n/, $node->safe_psql($db, "SELECT * FROM ($sql) s ORDER BY 1, 2");
}

# the shards' rows together, sorted the same way
sub shards_snapshot
{
	my @all;
	push @all, snapshot($_) for @nodes;
	return sort { $a cmp $b } @all;
}

sub check_equal
{
	my ($what) = @_;
	my @mine = shards_snapshot();
	my @theirs = sort { $a cmp $b } snapshot($ref);
	for my $t (@tables)
	{
		my $m = join("\n", grep { index($_, "$t|") == 0 } @mine);
		my $r = join("\n", grep { index($_, "$t|") == 0 } @theirs);
		is($m, $r, "$what: $t equals the reference");
	}
}

sub check_placement
{
	for my $i (0 .. 2)
	{
		my $bad = $nodes[$i]->safe_psql($db, 'SELECT ' . join(' + ', map {
			"(SELECT count(*) FROM feast_online.$_ WHERE feast_shard_of($distkey{$_}, $NSHARDS) % 3 <> $i)"
		} sort keys %distkey) . " + (SELECT count(*) FROM public.trips WHERE feast_shard_of(driver_id, $NSHARDS) % 3 <> $i)");
		is($bad, '0', "every row on node $i belongs to one of its logical shards");
	}
}

# ---------------------------------------------------------------------------
# (2) generated pushes
# ---------------------------------------------------------------------------
srand(20261202);
my @stamps = map { sprintf('2026-01-0%dT00:00:00Z', $_) } 1 .. 3;
sub pick { return $_[ int(rand(@_)) ] }
sub jstr { my $s = shift; return '"' . $s . '"' }

sub gen_row
{
	my ($src) = @_;
	my %r = (event_timestamp => jstr(pick(@stamps)));
	if ($src eq 'trips_push')
	{
		$r{driver_id} = int(rand(400)) - 50;
		$r{driver_id} = pick(9007199254740993, -4611686018427387904) if rand() < 0.02;
		$r{conv_rate} = rand() < 0.1 ? 'null' : sprintf('%.3f', rand(10));
		$r{trips} = int(rand(1000));
		$r{created} = rand() < 0.3 ? 'null' : jstr(pick(@stamps)) if rand() < 0.8;
	}
	elsif ($src eq 'cust_push')
	{
		$r{customer_id} = jstr(pick('c', 'ü', 'x y', '') . int(rand(200)));
		$r{score} = sprintf('%.2f', rand(1));
	}
	elsif ($src eq 'dev_push')
	{
		$r{device_id} = jstr(join('', map { sprintf('%02x', int(rand(256))) } 1 .. 1 + int(rand(3))));
		$r{temp} = int(rand(100)) - 50;
	}
	else
	{
		$r{driver_id} = int(rand(100));
		$r{customer_id} = jstr('c' . int(rand(20)));
		$r{rides} = int(rand(50));
	}
	return \%r;
}

# bytes travel as base64 in JSON: hex digits are valid base64 of an even length of 4
sub fix_bytes { my $r = shift; if (exists $r->{device_id}) { my $h = $r->{device_id}; $h =~ s/"//g; $h = substr($h . 'AAAA', 0, 4); $r->{device_id} = jstr($h) } return $r }

sub to_json
{
	my ($rows, $columns) = @_;
	if (!$columns)
	{
		return '[' . join(', ', map { my $r = $_; '{' . join(', ', map { "\"$_\": $r->{$_}" } sort keys %$r) . '}' } @$rows) . ']';
	}
	my %cols;
	for my $r (@$rows) { $cols{$_} = 1 for keys %$r }
	# the column form needs every field in every row: absent created becomes null
	return '{' . join(', ', map { my $c = $_; "\"$c\": [" . join(', ', map { $_->{$c} // 'null' } @$rows) . ']' } sort keys %cols) . '}';
}

my @batches;
for my $b (1 .. 40)
{
	my $src = pick('trips_push', 'trips_push', 'cust_push', 'dev_push', 'pair_push');
	my $n = 1 + int(rand(60));
	my @rows = map { fix_bytes(gen_row($src)) } 1 .. $n;
	push @rows, { %{ $rows[0] } } if rand() < 0.5;    # a full tie within the batch
	my $to = $src eq 'trips_push' ? pick("'online'", "'offline'", "'online_and_offline'") : "'online'";
	my $json = to_json(\@rows, rand() < 0.5);
	# an untyped literal is the text form (split as text on the router), ::jsonb the jsonb form
	my $cast = rand() < 0.5 ? '::jsonb' : '';
	push @batches, "SELECT feast_push('$src', \$j\$$json\$j\$$cast, $to);";
}
my $script = join("\n", @batches);
is($router->safe_psql($db, $script), $ref->safe_psql($db, $script), '40 generated pushes accept the same rows');
check_equal('after the generated pushes');
check_placement();

# ---------------------------------------------------------------------------
# (3) 300 generated reads, byte-identical
# ---------------------------------------------------------------------------
my @reads;
for my $i (1 .. 300)
{
	my $v = pick('stats_a', 'stats_b', 'cust', 'dev', 'pair', 'rated');
	my $n = 1 + int(rand(20));
	my @rows = map {
		my $r = fix_bytes(gen_row({ stats_a => 'trips_push', stats_b => 'trips_push', rated => 'trips_push',
			cust => 'cust_push', dev => 'dev_push', pair => 'pair_push' }->{$v}));
		my %k = map { $_ => $r->{$_} } split /, /, $keycols{$v};
		\%k;
	} 1 .. $n;
	my $feats = { stats_a => '{stats_a:conv_rate}', stats_b => '{stats_b:conv_rate, stats_b:trips}',
		cust => '{cust:score}', dev => '{dev:temp}', pair => '{pair:rides}', rated => '{rated:rating}' }->{$v};
	$feats = '{stats_a:conv_rate, stats_b:trips, rated:rating}' if $v eq 'stats_a' && rand() < 0.3;
	my $full = rand() < 0.3 ? 'true' : 'false';
	push @reads, "SELECT feast_get_online_features('$feats', \$j\$" . to_json(\@rows, rand() < 0.5) . "\$j\$, $full);";
}
$script = join("\n", @reads);
my $r_out = $router->safe_psql($db, $script);
my $f_out = $ref->safe_psql($db, $script);
is(scalar(split /\n/, $r_out), 300, '300 routed reads answered');
ok($r_out eq $f_out, '300 routed reads are byte-identical to the reference');
like($r_out, qr/"PRESENT"/, 'the reads found stored values');

# ---------------------------------------------------------------------------
# (4) bad rows: one node's error, no shard changed
# ---------------------------------------------------------------------------
sub state_of { return join("\n", shards_snapshot()) }
my $before = state_of();
my @bad = (
	q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}, {"driver_id": "x", "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')},
	q{SELECT feast_push('trips_push', '{"driver_id": [1, 2], "conv_rate": [1, 2], "trips": [1, 2.5], "event_timestamp": ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"]}')},
	q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}, {"driver_id": null, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')},
	q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z", "bogus": 1}]')},
	q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')},
	q{SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]', 'sideways')},
	q{SELECT feast_push('cust_push', '[{"customer_id": 5, "score": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')},
	q{SELECT feast_push('dev_push', '[{"device_id": "not base64!", "temp": 1, "event_timestamp": "2026-01-01T00:00:00Z"}]')},
	q{SELECT feast_push('nope', '[]')},
	q{SELECT feast_get_online_features('{stats_a:nope}', '{"driver_id": [1]}')},
	q{SELECT feast_get_online_features('{stats_a:conv_rate}', '{"driver_id": ["x"]}')},
	q{SELECT feast_get_online_features('{stats_a:conv_rate}', '[{"customer_id": "c1"}]')},
);
# each statement alone (ON_ERROR_STOP off): every error, in order, from one session each
my $bad_script = "\\set VERBOSITY verbose\n" . join(";\n", @bad) . ";\n";
my (undef, undef, $e_router) = $router->psql($db, $bad_script, on_error_stop => 0);
my (undef, undef, $e_ref) = $ref->psql($db, $bad_script, on_error_stop => 0);
s/^CONTEXT:.*\n?//mg for ($e_router, $e_ref);
s/^psql:<stdin>:\d+: //mg for ($e_router, $e_ref);
my $nerr = () = $e_ref =~ /^ERROR:/mg;
is($nerr, scalar(@bad), 'the reference refuses every bad call');
is($e_router, $e_ref, 'the router gives the same SQLSTATEs and messages');
($rc, $out, $err) = $router->psql($db, q{SELECT feast_write_online('stats_a', '[]')});
like($err, qr/feast_write_online is not routed/, 'feast_write_online is refused on a router, not written there');
is(state_of(), $before, 'bad rows changed no shard');

# ---------------------------------------------------------------------------
# (5) failures, each retried with the same push id
# ---------------------------------------------------------------------------
sub gen_push
{
	my ($n) = @_;
	my @rows = map { my $r = gen_row('trips_push'); $r->{event_timestamp} = '"2026-02-01T00:00:00Z"'; $r } 1 .. $n;
	return to_json(\@rows, 0);
}

# a node down at start
my $doc = gen_push(150);
$ref->safe_psql($db, "SELECT feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline')");
$nodes[2]->stop;
($rc, $out, $err) = $router->psql($db, "SELECT * FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'down-1')");
like($err, qr/routed push not sent: .*connection to server/s, 'a push with a node down fails before sending anything');
is(join(',', map { $_->safe_psql($db, q{SELECT count(*) FROM feast.push_ids WHERE push_id = 'down-1'}) } @nodes[0, 1]),
	'0,0', 'no node committed it');
$nodes[2]->start;
$out = $router->safe_psql($db, "SELECT count(*), sum(accepted) FILTER (WHERE NOT skipped) + coalesce(sum(accepted) FILTER (WHERE skipped), 0) FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'down-1')");
like($out, qr/^\d+\|150$/, 'the retry accounts for every row');
check_equal('after a node down at start and a retry');

# a node failing mid-push: a trigger on node 1 refuses the rows
$doc = gen_push(150);
$ref->safe_psql($db, "SELECT feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline')");
$nodes[1]->safe_psql($db, q{
	CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN RAISE EXCEPTION 'node 1 refuses'; END $$;
	CREATE TRIGGER refuse BEFORE INSERT ON public.trips FOR EACH ROW EXECUTE FUNCTION public.refuse();
});
($rc, $out, $err) = $router->psql($db, "SELECT * FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'mid-1')");
like($err, qr/routed push failed: .*node 1 refuses/, 'a node failing mid-push fails the push');
like($err, qr/Shards that committed push id "mid-1": \d+/, 'the error names the shards that committed');
my @committed = $err =~ /Shards that committed push id "mid-1": ([\d, ]+)\./ ? split(/, /, $1) : ();
is(scalar(grep { $_ % 3 == 1 } @committed), 0, 'none of them on the failing node');
$nodes[1]->safe_psql($db, q{DROP TRIGGER refuse ON public.trips});
$out = $router->safe_psql($db, "SELECT string_agg(shard::text, ', ' ORDER BY shard) FILTER (WHERE skipped), sum(accepted) FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'mid-1')");
# the error lists what each node had committed when it was asked: a node whose part was still
# committing as the failure came back (PL/Proxy does not wait for it) is listed without those
# shards, and the retry skips them too; so every listed shard is skipped, none on the failing node
my ($skipped_list, $accepted) = split(/\|/, $out);
my %skipped = map { $_ => 1 } split(/, /, $skipped_list // '');
is(scalar(grep { !$skipped{$_} } @committed), 0, 'the retry skips every shard the error named');
is(scalar(grep { $_ % 3 == 1 } keys %skipped), 0, 'and none on the failing node');
is($accepted, 150, 'the retry accounts for every row');
check_equal('after a node failing mid-push and a retry');

# a router timeout while a node waits on a lock
$doc = gen_push(150);
$ref->safe_psql($db, "SELECT feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline')");
my $locker = $nodes[0]->background_psql($db);
$locker->query_safe('BEGIN; LOCK TABLE public.trips IN EXCLUSIVE MODE;');
($rc, $out, $err) = $router->psql($db, "SET statement_timeout = '2s'; SELECT * FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'lock-1')");
like($err, qr/canceling statement due to statement timeout/, 'the router times out while a node waits');
$locker->query_safe('COMMIT;');
$locker->quit;
$out = $router->safe_psql($db, "SELECT sum(accepted) FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'lock-1')");
is($out, '150', 'the retry after the timeout accounts for every row');
check_equal('after a router timeout and a retry');
# the same id again: every shard skipped, nothing written twice
$out = $router->safe_psql($db, "SELECT bool_and(skipped), sum(accepted) FROM feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline', 'lock-1')");
is($out, 't|150', 'a third try skips every shard');
check_equal('after a retry of a complete push');
check_placement();

# ---------------------------------------------------------------------------
# (7) broadcast materialization: each node holds its keys' batch rows
# ---------------------------------------------------------------------------
my $hist = q{INSERT INTO public.hist SELECT g % 300, g * 0.5, '2026-01-01'::timestamptz + g * interval '1 minute'
             FROM generate_series(1, 3000) g};
$ref->safe_psql($db, $hist);
for my $i (0 .. 2)
{
	$nodes[$i]->safe_psql($db, "$hist; DELETE FROM public.hist WHERE feast_shard_of(driver_id, $NSHARDS) % 3 <> $i");
}
my $n_ref = $ref->safe_psql($db, q{SELECT feast_materialize('2025-01-01', '2026-11-01', '{rated}')});
my $n_router = $router->safe_psql($db, q{SELECT feast_materialize('2025-01-01', '2026-11-01', '{rated}')});
is($n_router, $n_ref, 'a broadcast materialization counts what the reference counts');
check_equal('after a broadcast materialization');
is($router->safe_psql($db, q{SELECT count(*) FROM feast_online.rated}), '0', 'the router holds no rows');

# ---------------------------------------------------------------------------
# (7) offline scale-out: a batch table hash-partitioned by the first join key
# (modulus = the logical shards), each partition a postgres_fdw foreign table
# on the node holding those keys; training sets and a materialization from it
# equal the reference's over an ordinary table with the same rows
# ---------------------------------------------------------------------------
my $off_db = 'cfeast_offline';
# each node: its own logical shards of hist as the partitions of a hash-partitioned table
for my $i (0 .. 2)
{
	$nodes[$i]->safe_psql($db, join("\n",
		'CREATE TABLE public.hist_part (driver_id bigint, rating double precision, event_timestamp timestamptz)'
		  . ' PARTITION BY HASH (driver_id);',
		(map { "CREATE TABLE public.hist_part_$_ PARTITION OF public.hist_part FOR VALUES WITH (MODULUS $NSHARDS, REMAINDER $_);" }
		  grep { $_ % 3 == $i } 0 .. $NSHARDS - 1),
		'INSERT INTO public.hist_part SELECT * FROM public.hist;'));
}
# an offline database (on the router's server, not in router mode): the reference's registry,
# its hist the shards' partitions through postgres_fdw
$router->safe_psql('postgres', "CREATE DATABASE $off_db");
my $off_tables = $tables;
$off_tables =~ s/CREATE TABLE public\.hist \(([^)]*)\);/CREATE TABLE public.hist ($1) PARTITION BY HASH (driver_id);/
  or die 'no hist in the set-up';
$router->safe_psql($off_db, $off_tables . "\nCREATE EXTENSION postgres_fdw;\n" . join("\n",
	(map { my $n = $nodes[$_]; sprintf("CREATE SERVER shard%d FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '%s', port '%d', dbname '%s');"
		  . " CREATE USER MAPPING FOR CURRENT_USER SERVER shard%d;", $_, $n->host, $n->port, $db, $_) } 0 .. 2),
	(map { sprintf("CREATE FOREIGN TABLE public.hist_%d PARTITION OF public.hist FOR VALUES WITH (MODULUS %d, REMAINDER %d)"
		  . " SERVER shard%d OPTIONS (table_name 'hist_part_%d');", $_, $NSHARDS, $_, $_ % 3, $_) } 0 .. $NSHARDS - 1)));
$router->safe_psql($off_db, $registry);
is($router->safe_psql($off_db, q{SELECT count(*), count(DISTINCT driver_id), sum(rating) FROM public.hist}),
	$ref->safe_psql($db, q{SELECT count(*), count(DISTINCT driver_id), sum(rating) FROM public.hist}),
	'the fdw-partitioned batch table holds the reference\'s rows');
is($router->safe_psql($off_db, qq{SELECT count(*) FROM public.hist WHERE feast_shard_of(driver_id, $NSHARDS)
	<> pg_catalog.substr(tableoid::regclass::text, 6)::int}), '0',
	'every row comes from the partition feast_shard_of names');
like($router->safe_psql($off_db, q{EXPLAIN (VERBOSE, COSTS OFF) SELECT * FROM public.hist WHERE driver_id = 7}),
	qr/^ *Foreign Scan on public\.hist_\d+ hist\n.*Remote SQL: SELECT .* FROM public\.hist_part_\d+ WHERE \(\(driver_id = 7\)\)$/s,
	'a key reads one foreign partition, its predicate sent to the node');

# the same entity rows on both: keys with and without batch rows, ties of key and time
my $entity = q{CREATE TABLE public.ent AS
	SELECT g AS id, (g * 7) % 320 AS driver_id,
	       '2026-01-01'::timestamptz + ((g * 13) % 3200) * interval '1 minute' AS event_timestamp
	  FROM generate_series(1, 2000) g};
my $ttl_view = q{SELECT feast_apply_feature_view('rated_recent', '{driver}', '[{"name": "rating", "dtype": "float64"}]',
	'hist_batch', ttl => '3 hours')};
$_->[0]->safe_psql($_->[1], "$entity; $ttl_view") for ([$ref, $db], [$router, $off_db]);
my $training = q{SELECT feast_create_training_set('ts', 'ent', '{rated:rating, rated_recent:rating}', true) \g /dev/null
	SELECT string_agg(t::text, E'\n' ORDER BY t.id) FROM ts t};
my $ts_ref = $ref->safe_psql($db, $training);
my $ts_off = $router->safe_psql($off_db, $training);
is(scalar(split /\n/, $ts_off), 2000, 'a training set over fdw partitions: a row per entity row');
ok($ts_off eq $ts_ref, 'the training set over fdw partitions equals the reference\'s, cell by cell');
my $n_feat = () = $ts_off =~ /,\d[^,]*,\d[^,]*\)$/mg;
cmp_ok($n_feat, '>', 100, "and it found rows ($n_feat entity rows with both features)");
my $n_old = () = $ts_off =~ /,\d[^,]*,\)$/mg;
cmp_ok($n_old, '>', 10, "and the ttl applied ($n_old entity rows with a row older than 3 hours)");
# a training set of a few keys reads only their logical shards' partitions, the keys sent along
my @few = (3, 77, 150);
my $few = join(',', @few);
my %want = map { $_ => 1 } split /\n/, $router->safe_psql($off_db,
	"SELECT DISTINCT feast_shard_of(k, $NSHARDS) FROM unnest('{$few}'::bigint[]) k");
my @log_at = map { -s $_->logfile } @nodes;
my $few_sql = qq{CREATE TABLE public.ent_few AS SELECT k AS driver_id, '2026-01-02'::timestamptz AS event_timestamp
	FROM unnest('{$few}'::bigint[]) k;
	SELECT feast_create_training_set('ts_few', 'ent_few', '{rated:rating}') \\g /dev/null
	SELECT string_agg(t::text, E'\\n' ORDER BY driver_id) FROM ts_few t};
is($router->safe_psql($off_db, $few_sql), $ref->safe_psql($db, $few_sql), 'a training set of 3 keys equals the reference\'s');
my %read;
for my $i (0 .. 2)
{
	my $log = slurp_file($nodes[$i]->logfile, $log_at[$i]);
	while ($log =~ /FROM public\.hist_part_(\d+) WHERE ([^\n]*)/g)
	{
		my ($part, $where) = ($1, $2);
		$read{$part} = $where =~ /driver_id = ANY \('\{([\d,]+)\}'::bigint\[\]\)/ ? join(',', sort { $a <=> $b } split /,/, $1) : 'all';
	}
}
is(join(' ', map { "$_:$read{$_}" } sort { $a <=> $b } keys %read), join(' ', map { "$_:$few" } sort { $a <=> $b } keys %want),
	'it read only the partitions of their logical shards, sending the keys to the nodes');
# the entity-less form, run from its SQL
my $range = q{SELECT feast_range_features_sql('2026-01-01 10:00+00', '2026-01-02 10:00+00', '{rated:rating, rated_recent:rating}', true) \gexec};
my $r_ref = $ref->safe_psql($db, $range);
my $r_off = $router->safe_psql($off_db, $range);
ok($r_off ne '' && $r_off eq $r_ref, 'the entity-less form over fdw partitions equals the reference\'s');
# materialization from the fdw-partitioned source equals the reference's from its ordinary table
is($router->safe_psql($off_db, q{SELECT feast_materialize('2025-01-01', '2026-11-01', '{rated}')}),
	$n_ref, 'a materialization from fdw partitions counts what the reference counts');
is($router->safe_psql($off_db, q{SELECT string_agg(t::text, E'\n' ORDER BY driver_id) FROM feast_online.rated t}),
	$ref->safe_psql($db, q{SELECT string_agg(t::text, E'\n' ORDER BY driver_id) FROM feast_online.rated t}),
	'and writes the reference\'s online rows');
# an offline push through the partitioned table lands each row on the node holding its key
$router->safe_psql($off_db, q{
	SELECT feast_apply_push_source('hist_push', 'hist_batch');
	SELECT feast_apply_feature_view('rated_pushed', '{driver}', '[{"name": "rating", "dtype": "float64"}]', 'hist_push');
	SELECT feast_push('hist_push', '{"driver_id": [1001, 1002, 1003, 1004], "rating": [1, 2, 3, 4],
	       "event_timestamp": ["2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-06-01T00:00:00Z"]}',
	       'online_and_offline')});
my @pushed = (1001 .. 1004);
for my $i (0 .. 2)
{
	is($nodes[$i]->safe_psql($db, q{SELECT string_agg(driver_id::text, ',' ORDER BY driver_id) FROM public.hist_part WHERE driver_id > 1000}),
		$router->safe_psql($off_db, "SELECT string_agg(k::text, ',' ORDER BY k) FROM unnest('{" . join(',', @pushed)
			. "}'::bigint[]) k WHERE feast_shard_of(k, $NSHARDS) % 3 = $i"),
		"an offline push through the fdw-partitioned table lands node ${i}'s keys there, and only those");
}

# ---------------------------------------------------------------------------
# (6) a streaming standby of node 0: reads identical once caught up, cfeast writes 25006
# ---------------------------------------------------------------------------
$nodes[0]->backup('standby_base');
my $standby = PostgreSQL::Test::Cluster->new('standby0');
$standby->init_from_backup($nodes[0], 'standby_base', has_streaming => 1);
$standby->start;
is($standby->safe_psql($db, 'SELECT pg_is_in_recovery()'), 't', 'node 0 has a streaming hot standby');
# pushes routed after the base backup reach it by streaming
$doc = gen_push(200);
$router->safe_psql($db, "SELECT feast_push('trips_push', \$j\$$doc\$j\$, 'online_and_offline')");
$nodes[0]->wait_for_catchup($standby, 'replay', $nodes[0]->lsn('insert'));
is(join("\n", snapshot($standby)), join("\n", snapshot($nodes[0])), 'caught up, the standby holds node 0\'s rows');
my $reads = join("\n", @reads);
my $s_out = $standby->safe_psql($db, $reads);
ok($s_out ne '' && $s_out eq $nodes[0]->safe_psql($db, $reads), '300 reads on the standby are byte-identical to node 0\'s');
like($s_out, qr/"PRESENT"/, 'the standby\'s reads found stored values');
my $hsql = q{SELECT feast_historical_features_sql('SELECT driver_id, event_timestamp FROM public.trips', '{rated:rating, stats_b:trips}') \gexec};
my $h_out = $standby->safe_psql($db, $hsql);
ok($h_out ne '' && $h_out eq $nodes[0]->safe_psql($db, $hsql), 'a training set read on the standby equals node 0\'s');
# every cfeast write there: 25006 and PostgreSQL's message, nothing written
my $one = '{"driver_id": 1, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-07-01T00:00:00Z"}';
my @writes = (
	"SELECT feast_push('trips_push', '[$one]')",
	"SELECT feast_push('trips_push', '{\"driver_id\": [1], \"conv_rate\": [1], \"trips\": [1], \"event_timestamp\": [\"2026-07-01T00:00:00Z\"]}', 'offline')",
	"SELECT feast_push('trips_push', CAST('[$one]' AS text), 'online_and_offline')",
	"SELECT * FROM feast_push('trips_push', '[$one]', 'online', 'standby-1')",
	"SELECT feast_write_online('stats_a', '[{\"driver_id\": 1, \"conv_rate\": 1, \"event_timestamp\": \"2026-07-01T00:00:00Z\"}]')",
	"SELECT feast_materialize('2025-01-01', '2026-11-01', '{rated}')",
	"SELECT feast_apply_entity('rider', 'rider_id')",
	"SELECT feast_create_training_set('ts_standby', 'SELECT driver_id, event_timestamp FROM public.trips', '{rated:rating}')",
	"CALL feast_expire('{stats_a}', '1 second')",
);
for my $w (@writes)
{
	my (undef, undef, $e) = $standby->psql($db, "\\set VERBOSITY verbose\n$w");
	my ($what) = $w =~ /(feast_\w+\('[^']*', .{0,12})/;
	like($e, qr/ERROR:  25006: cannot execute .+ in a read-only transaction/, "on the standby, 25006: $what...");
}
is(join("\n", snapshot($standby)), join("\n", snapshot($nodes[0])), 'the refused writes changed nothing');
# staleness: how long after a routed push returns its rows are visible on the standby
use Time::HiRes ();
my @keys0 = split /\n/, $nodes[0]->safe_psql($db, "SELECT k FROM generate_series(1000000, 1010000) k
	WHERE feast_shard_of(k::bigint, $NSHARDS) % 3 = 0 ORDER BY k LIMIT 20");
my $watch = $standby->background_psql($db);
my @lag;
for my $k (1 .. 20)
{
	my $key = $keys0[ $k - 1 ];
	$router->safe_psql($db, qq{SELECT feast_push('trips_push', '[{"driver_id": $key, "conv_rate": 1, "trips": 1, "event_timestamp": "2026-07-01T00:00:00Z"}]')});
	my $t1 = Time::HiRes::time();
	my $polls = 0;
	$polls++ until $watch->query_safe("SELECT count(*) FROM feast_online.stats_a WHERE driver_id = $key") =~ /1/ || $polls > 20000;
	push @lag, (Time::HiRes::time() - $t1) * 1000;
}
$watch->quit;
@lag = sort { $a <=> $b } @lag;
note(sprintf('standby staleness after a routed push returned: median %.1f ms, max %.1f ms (20 pushes)', $lag[10], $lag[-1]));
cmp_ok($lag[-1], '<', 10_000, 'every routed push became visible on the standby');
$standby->stop;

$_->stop for ($ref, $router, @nodes);
done_testing();
