# 003_dump_restore.pl: pg_dump/pg_restore of a database using cfeast gives the
# same registry and online rows, the same answers, and a store that accepts
# pushes, reads, materializations and training sets.
use strict;
use warnings;

use FindBin;
use lib $FindBin::Bin;
use CfTap;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->start;
CfTap::setup_store($node, 2000, 500);
my $src = $CfTap::DB;
$node->safe_psql($src, q{
	CREATE ROLE regress_dump_reader;
	CREATE ROLE regress_dump_bi;
	SELECT feast_grant('regress_dump_reader', 'read', 'stats_a');
	-- a grant given by hand on a serving view, and a column grant
	GRANT SELECT ON feast_online.stats_b TO regress_dump_bi;
	GRANT SELECT ON feast_serving.stats_b TO regress_dump_bi;
	GRANT SELECT (driver_id, trips) ON feast_serving.stats_b TO regress_dump_reader;
	-- every dtype, an entityless view, a composite key, an offline-only view
	SELECT feast_apply_entity('rider', 'rider_id', 'string');
	SELECT feast_apply_entity('city', 'city_id', 'int32');
	SELECT feast_apply_push_source('misc_push', NULL);
	SELECT feast_apply_feature_view('misc', '{rider, city}', '[
	    {"name": "f_i32", "dtype": "int32", "description": "it''s 32 bits", "tags": {"unit": "none"}}, {"name": "f_i64", "dtype": "int64"},
	    {"name": "f_f32", "dtype": "float32"}, {"name": "f_f64", "dtype": "float64"},
	    {"name": "f_str", "dtype": "string"}, {"name": "f_bytes", "dtype": "bytes"},
	    {"name": "f_bool", "dtype": "bool"}, {"name": "f_ts", "dtype": "unix_timestamp"},
	    {"name": "f_json", "dtype": "json"}, {"name": "f_arr", "dtype": "array(float64)"},
	    {"name": "f_sarr", "dtype": "array(string)"}]', 'misc_push', '1 day',
	                                description => 'every dtype');
	SELECT feast_apply_feature_view('global', '{}', '[{"name": "total", "dtype": "int64"}]', 'misc_push');
	SELECT feast_apply_feature_view('stats_offline', '{driver}', '[{"name": "trips", "dtype": "int32"}]', 'trips_batch',
	                                online => false);
	SELECT feast_push('misc_push', '[{"rider_id": "r\"1", "city_id": 7, "f_i32": -2147483648, "f_i64": 9223372036854775807,
	    "f_f32": "NaN", "f_f64": 1e-300, "f_str": "é\n\"", "f_bytes": "AAEC/w==", "f_bool": true,
	    "f_ts": "2026-01-01T12:00:00.123456+02:00", "f_json": {"a": [1, null]}, "f_arr": [1.5, null],
	    "f_sarr": ["x", null], "total": 42, "event_timestamp": "2026-01-01T00:00:00Z",
	    "created_timestamp": "2026-01-01T00:00:01Z"}]');
	INSERT INTO feast.materialization_intervals (feature_view, start_ts, end_ts, rows_written)
	VALUES ('stats_a', '2026-01-01', '2026-01-02', 3);
	-- a service that reads one view twice, under aliases and through other entity columns
	SELECT feast_apply_feature_service('od_svc', '{origin:conv_rate, destination:conv_rate}', projections => '{
	    "origin": {"feature_view": "stats_a", "join_key_map": {"driver_id": "from_id"}},
	    "destination": {"feature_view": "stats_a", "join_key_map": {"driver_id": "to_id"}}}');
});

# what must survive: every registry table and every online table, as text
my $snapshot = q{
	SELECT string_agg(r, E'\n' ORDER BY r) FROM (
	  SELECT 'entities ' || md5(string_agg(t::text, ',' ORDER BY t::text)) AS r FROM feast.entities t
	  UNION ALL SELECT 'data_sources ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.data_sources t
	  UNION ALL SELECT 'feature_views ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.feature_views t
	  UNION ALL SELECT 'features ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.features t
	  UNION ALL SELECT 'feature_services ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.feature_services t
	  UNION ALL SELECT 'materialization_intervals ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.materialization_intervals t
	  UNION ALL SELECT 'push_activity ' || count(*) FROM feast.push_activity t
	  UNION ALL SELECT 'freshness ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast.freshness t
	  UNION ALL SELECT 'stats_a ' || count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast_online.stats_a t
	  UNION ALL SELECT 'stats_b ' || count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM feast_online.stats_b t
	  UNION ALL SELECT 'misc ' || string_agg(t::text, ',') FROM feast_online.misc t
	  UNION ALL SELECT 'global ' || string_agg(t::text, ',') FROM feast_online.global t
	  UNION ALL SELECT 'trips ' || count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t::text)) FROM trips t
	  UNION ALL SELECT 'online tables ' || string_agg(c.relname || ':' || coalesce(array_to_string(c.relacl, ' '), ''), ',' ORDER BY c.relname)
	              FROM pg_class c WHERE c.relnamespace = 'feast_online'::regnamespace AND c.relkind = 'r'
	  UNION ALL SELECT 'extension ' || extversion FROM pg_extension WHERE extname = 'cfeast'
	  -- the serving views: definitions, grants, comments, not extension members
	  UNION ALL SELECT 'serving ' || c.relname || ' ' || md5(pg_get_viewdef(c.oid)) || ' ' || array_to_string(c.reloptions, ',')
	                   || ' ' || coalesce(array_to_string(c.relacl, ' '), '') || ' ' || obj_description(c.oid, 'pg_class')
	                   || ' member:' || EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
	              FROM pg_class c WHERE c.relnamespace = 'feast_serving'::regnamespace
	  UNION ALL SELECT 'serving column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
	                   || ' ' || coalesce(col_description(c.oid, a.attnum), '')
	              FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0
	             WHERE c.relnamespace = 'feast_serving'::regnamespace) x
};
my $before = $node->safe_psql($src, $snapshot);
# the comments apply wrote on the online tables (pg_dump carries them)
my $comments = q{
	SELECT string_agg(c.relname || '.' || COALESCE(a.attname, '') || ': ' || d.description, E'\n'
	                  ORDER BY c.relname, d.objsubid)
	  FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
	  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid AND d.objsubid > 0
	 WHERE c.relnamespace = 'feast_online'::regnamespace
};
my $comments_before = $node->safe_psql($src, $comments);
like($comments_before, qr/^misc\.f_i32: it's 32 bits \[feature; dtype: int32\]$/m, 'apply wrote the column comments');
# what reads, training sets and materialization answer
my $answers = q{
	SELECT feast_get_online_features('{stats_a:conv_rate, stats_b:trips, stats_b:conv_rate}',
	                                 '{"driver_id": [1, 2, 499, 500, 501]}', true)::text;
	SELECT feast_get_online_features(feature_service => 'svc', entity_rows => '[{"driver_id": 7}]', full_feature_names => true)::text;
	SELECT feast_get_online_features(feature_service => 'od_svc', entity_rows => '{"from_id": [1, 2], "to_id": [2, 499]}',
	                                 full_feature_names => true)::text;
	SELECT feast_historical_features_sql('SELECT driver_id, ''2026-01-05+00''::timestamptz AS event_timestamp
	                                        FROM generate_series(1, 5) driver_id', '{stats_a:conv_rate, stats_h:conv_rate}', true) AS q \gset
	SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (:q) t;
	SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT driver_id, event_timestamp, conv_rate FROM feast_serving.stats_a) t;
	SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT rider_id, city_id, f_str, f_arr FROM feast_serving.misc) t;
	SELECT string_agg(t::text, ',' ORDER BY t::text) FROM (SELECT driver_id, stats_a__conv_rate, stats_b__trips, stats_b__event_timestamp FROM feast_serving.svc WHERE driver_id IN (1, 7, 9999)) t;
};
my $answers_before = $node->safe_psql($src, $answers);

my $dump = $PostgreSQL::Test::Utils::tmp_check . '/cfeast.dump';
my @conn = ('-h', $node->host, '-p', $node->port);
$node->command_ok(['pg_dump', @conn, '-Fc', '-f', $dump, $src], 'pg_dump -Fc of a database using cfeast');
$node->safe_psql('postgres', 'CREATE DATABASE cfeast_restored');
$node->command_ok(['pg_restore', @conn, '--exit-on-error', '-d', 'cfeast_restored', $dump], 'pg_restore into a new database');

my $after = $node->safe_psql('cfeast_restored', $snapshot);
is($after, $before, 'same registry, same online and offline rows, same grants');
note($after);

is($node->safe_psql('cfeast_restored', $comments), $comments_before, 'the online tables keep their comments');
is($node->safe_psql('cfeast_restored', $answers), $answers_before,
	'online reads and point-in-time joins answer the same in the copy');

# the restored store works: pushes (online and offline), reads, applies
is($node->safe_psql('cfeast_restored', q{
	SELECT feast_push('trips_push', '[{"driver_id": 1, "conv_rate": 9.5, "trips": 9, "event_timestamp": "2026-02-01T00:00:00Z"},
	                                  {"driver_id": 999999, "conv_rate": 1.5, "trips": 1, "event_timestamp": "2026-02-01T00:00:00Z"}]',
	                  'online_and_offline')}), '2', 'push into the restored store');
is($node->safe_psql('cfeast_restored', q{
	SELECT string_agg(driver_id || ':' || conv_rate || ':' || trips, ' ' ORDER BY driver_id)
	  FROM feast_online.stats_b WHERE driver_id IN (1, 2, 999999)}),
	'1:9.5:9 2:1:2 999999:1.5:1', 'the pushed rows are read back, the others kept');
is($node->safe_psql('cfeast_restored', 'SELECT count(*) FROM trips'), 2 + 500, 'offline rows appended');
is($node->safe_psql('cfeast_restored', q{
	SET ROLE regress_dump_reader; SELECT count(*) FROM feast_online.stats_a}), 500 + 1, 'the restored grant works');
is($node->safe_psql('cfeast_restored', q{
	SELECT feast_push('misc_push', '[{"rider_id": "r\"1", "city_id": 7, "f_i32": 1, "f_i64": 2, "f_f32": 3, "f_f64": 4,
	    "f_str": "s", "f_bytes": "", "f_bool": false, "f_ts": 0, "f_json": null, "f_arr": [], "f_sarr": [],
	    "total": 43, "event_timestamp": "2026-02-01T00:00:00Z"}]');
	SELECT f_i32 || ' ' || (SELECT total FROM feast_online.global) FROM feast_online.misc}), "1\n1 43",
	'push to the composite-key and entityless views');
is($node->safe_psql('cfeast_restored', q{
	SELECT feast_apply_feature_view('stats_a', '{driver}',
	       '[{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int32"}]', 'trips_push');
	SELECT feast_push('trips_push', '[{"driver_id": 5, "conv_rate": 0.5, "trips": 5, "event_timestamp": "2026-03-01T00:00:00Z"}]');
	SELECT trips FROM feast_online.stats_a WHERE driver_id = 5}), "feast_online.stats_a\n1\n5",
	're-apply a view in the restored store, then push to its new column');
is($node->safe_psql('cfeast_restored', q{
	SELECT col_description('feast_online.stats_a'::regclass, attnum) FROM pg_attribute
	 WHERE attrelid = 'feast_online.stats_a'::regclass AND attname = 'trips'}),
	'[feature; dtype: int32]', 'the re-apply in the restored store comments the new column');
is($node->safe_psql('cfeast_restored', q{
	SELECT trips || ' ' || col_description('feast_serving.stats_a'::regclass, 5) FROM feast_serving.stats_a WHERE driver_id = 5;
	SET ROLE regress_dump_reader; SELECT trips FROM feast_serving.stats_a WHERE driver_id = 5}),
	"5 [feature; dtype: int32]\n5", 'the re-apply in the restored store rebuilds the serving view, its grant kept');
is($node->safe_psql('cfeast_restored', q{
	SET ROLE regress_dump_bi; SELECT count(*) FROM feast_serving.stats_b}), 500 + 1,
	'a grant given by hand on a serving view is restored');
is($node->safe_psql('cfeast_restored', q{
	EXPLAIN (COSTS OFF) SELECT * FROM feast_serving.stats_a WHERE driver_id = 1}),
	"Index Scan using stats_a_pkey on stats_a t\n  Index Cond: (driver_id = 1)", 'the restored serving view reads by primary key');
$node->safe_psql('cfeast_restored', 'SET client_min_messages = warning; SELECT feast_materialize(\'2025-01-01\', \'2026-11-01\', \'{stats_h}\')');
is($node->safe_psql('cfeast_restored', q{
	SELECT count(*) FROM feast_online.stats_h;
	SELECT feast_create_training_set('ts', 'SELECT driver_id, ''2026-01-05+00''::timestamptz AS event_timestamp
	                                        FROM generate_series(1, 5) driver_id', '{stats_h:conv_rate}');
	SELECT count(*) FROM ts WHERE conv_rate IS NOT NULL}), "1001\nts\n5", 'materialize and build a training set in the copy');

$node->stop;
done_testing();
