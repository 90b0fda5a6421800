# 004_privileges.pl: the privilege model holds in a database and in its pg_dump/pg_restore copy
# (online tables owned by the extension's owner, the owner of record of each view, apply as
# EXECUTE on the registry functions, a service's column grants), and cfeast-server reads
# through those column grants.
use strict;
use warnings;

use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $node = PostgreSQL::Test::Cluster->new('privs');
$node->init;
$node->start;
my $src = 'cfeast_privs';
$node->safe_psql('postgres', "CREATE DATABASE $src");
$node->safe_psql($src, q{
	SET client_min_messages = warning;
	CREATE EXTENSION cfeast;
	CREATE ROLE regress_tap_applier;
	CREATE ROLE regress_tap_reader LOGIN;
	CREATE TABLE src (driver_id bigint, conv_rate real, trips int, event_timestamp timestamptz);
	INSERT INTO src VALUES (1, 0.5, 3, '2026-01-01'), (2, 0.25, 4, '2026-01-01');
	GRANT SELECT ON src TO regress_tap_applier;
	SELECT feast_grant('regress_tap_applier', 'apply', '*');
	SET ROLE regress_tap_applier;
	SELECT feast_apply_entity('driver', 'driver_id');
	SELECT feast_apply_batch_source('src_batch', 'src', 'event_timestamp');
	SELECT feast_apply_feature_view('stats', '{driver}',
	       '[{"name": "conv_rate", "dtype": "float32"}, {"name": "trips", "dtype": "int32"}]', 'src_batch');
	SELECT feast_apply_feature_service('conv', '{stats:conv_rate}');
	RESET ROLE;
	SELECT feast_grant('regress_tap_reader', 'read', 'conv');
	SELECT feast_materialize('2000-01-01', '2026-11-01');
});

# the model, checked in database $db
sub check_model
{
	my ($db, $where) = @_;
	is($node->safe_psql($db, q{
		SELECT c.relowner = x.extowner FROM pg_class c, pg_extension x
		 WHERE c.oid = 'feast_online.stats'::regclass AND x.extname = 'cfeast'}),
		't', "$where: the online table belongs to the extension's owner");
	is($node->safe_psql($db, q{SELECT applied_by FROM feast.feature_views WHERE name = 'stats'}),
		'regress_tap_applier', "$where: the view's owner of record");
	is($node->safe_psql($db, q{
		SET ROLE regress_tap_reader;
		SELECT feast_get_online_features(feature_service => 'conv', entity_rows => '{"driver_id": [1, 2]}')
		       -> 'results' -> 1 -> 'values'}),
		'[0.5, 0.25]', "$where: a read through the service's column grants");
	my ($rc, $out, $err) = $node->psql($db, q{
		SET ROLE regress_tap_reader;
		SELECT feast_get_online_features('{stats:trips}', '{"driver_id": [1]}')});
	like($err, qr/permission denied for table stats/, "$where: a feature the service does not name is refused");
	($rc, $out, $err) = $node->psql($db, q{
		SET ROLE regress_tap_applier;
		UPDATE feast.data_sources SET relation = 'pg_authid' WHERE name = 'src_batch'});
	like($err, qr/permission denied for table data_sources/, "$where: no direct registry writes");
	($rc, $out, $err) = $node->psql($db, q{
		SET ROLE regress_tap_applier;
		CREATE FUNCTION pg_temp.t() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END';
		CREATE TRIGGER t BEFORE INSERT ON feast_online.stats FOR EACH ROW EXECUTE FUNCTION pg_temp.t()});
	like($err, qr/permission denied for table stats/, "$where: no trigger on the online table");
	is($node->safe_psql($db, q{
		SET ROLE regress_tap_applier;
		SELECT feast_apply_entity('rider');
		SELECT feast_delete('entity', 'rider');
		SELECT count(*) FROM feast.entities}), "\n\n1", "$where: the applier applies through the functions");
	($rc, $out, $err) = $node->psql($db, q{
		REVOKE SELECT ON src FROM regress_tap_applier;
		SELECT feast_materialize('2000-01-01', '2026-11-01')});
	like($err, qr/role regress_tap_applier, which applied it, may not read column/,
		"$where: the superuser's materialization refuses a source the view's owner may not read");
	$node->safe_psql($db, 'GRANT SELECT ON src TO regress_tap_applier');
	return;
}

check_model($src, 'original');

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/privs.dump';
my @conn = ('-h', $node->host, '-p', $node->port);
$node->command_ok(['pg_dump', @conn, '-Fc', '-f', $dump, $src], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE cfeast_privs_copy');
$node->command_ok(['pg_restore', @conn, '--exit-on-error', '-d', 'cfeast_privs_copy', $dump], 'pg_restore');
check_model('cfeast_privs_copy', 'restored');

# cfeast-server as the reader: the service answers, the other feature is 403
SKIP:
{
	my $server = ($ENV{CF_ROOT} // '') . '/cfeast-server';
	skip 'cfeast-server is not built', 2 unless -x $server;
	my $dsn = sprintf('host=%s port=%d dbname=cfeast_privs_copy user=regress_tap_reader', $node->host, $node->port);
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([$server, '--dsn', $dsn, '--listen', '127.0.0.1:0'], \$in, \$out, \$err);
	my $port;
	for (1 .. 300)
	{
		$h->pump_nb;
		last if ($port) = $err =~ m{listening on http://127\.0\.0\.1:(\d+)};
		usleep(100_000);
	}
	ok($port, 'cfeast-server started') or diag($err);
	my $http = HTTP::Tiny->new(timeout => 10);
	my $r = $http->post("http://127.0.0.1:$port/get-online-features",
		{ content => '{"feature_service": "conv", "entities": {"driver_id": [1, 2]}}' });
	like("$r->{status} $r->{content}", qr/^200 .*0\.5, 0\.25/, 'the server reads through column grants');
	$r = $http->post("http://127.0.0.1:$port/get-online-features",
		{ content => '{"features": ["stats:trips"], "entities": {"driver_id": [1]}}' });
	is($r->{status}, 403, 'the server refuses a feature the service does not name');
	$h->signal('TERM');
	$h->finish;
}

$node->stop;
done_testing();
