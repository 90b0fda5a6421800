#!/bin/bash
# test/bench/materialize.sh: materialization benchmark, by hand, against a running cluster
# with cfeast installed (PGHOST/PGPORT/PGUSER as for psql).
#
#   bash test/bench/materialize.sh              # 1M batch rows: 10k keys x 100
#   KEYS=1000 bash test/bench/materialize.sh    # a quick run
#
# Same data, same empty online table shape:
#   cfeast  feast_materialize (one pass, latest row per key in C, one upsert)
#   hand    INSERT ... SELECT DISTINCT ON (key) ... ORDER BY key, ts DESC, created DESC
#           ON CONFLICT ... DO UPDATE ... WHERE (the same write rule)
# Each runs RUNS times (default 3) into an emptied table; the best time is reported.
# The two tables must end up identical (checked).
set -eu
DB=${BENCH_DB:-cfeast_bench_mat}
KEYS=${KEYS:-10000}
ROWS_PER_KEY=${ROWS_PER_KEY:-100}
RUNS=${RUNS:-3}
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"

PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
$PSQL >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
SELECT setseed(0.42);
CREATE TABLE driver_stats AS
SELECT k AS driver_id,
       ts AS event_timestamp,
       CASE WHEN random() < 0.05 THEN NULL ELSE ts + random() * interval '10 minutes' END AS created,
       random()::real AS conv_rate,
       random()::real AS acc_rate,
       (random() * 1000)::int AS trips
  FROM generate_series(1, $KEYS) AS k,
       generate_series(1, $ROWS_PER_KEY) AS i,
       LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 day'
                       + random() * interval '20 hours' AS ts) t;
CREATE INDEX ON driver_stats (driver_id, event_timestamp);
ANALYZE driver_stats;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "trips", "dtype": "int32"}]', 'driver_stats_source', interval '1 day');
CREATE TABLE hand_online (LIKE feast_online.driver_stats INCLUDING ALL);
SQL
echo "data: $((KEYS * ROWS_PER_KEY)) batch rows ($KEYS keys x $ROWS_PER_KEY), whole range materialized"

START="2023-12-31 00:00:00+00"
END="2025-01-01 00:00:00+00"
SQL_C="SELECT feast_materialize('$START', '$END', ARRAY['driver_stats'])"
SQL_H="INSERT INTO hand_online AS t (driver_id, conv_rate, acc_rate, trips, event_timestamp, created_timestamp)
SELECT DISTINCT ON (driver_id) driver_id, conv_rate, acc_rate, trips, event_timestamp, created
  FROM driver_stats
 WHERE event_timestamp BETWEEN '$START' AND '$END'
 ORDER BY driver_id, event_timestamp DESC, created DESC NULLS LAST
ON CONFLICT (driver_id) DO UPDATE
   SET conv_rate = EXCLUDED.conv_rate, acc_rate = EXCLUDED.acc_rate, trips = EXCLUDED.trips,
       event_timestamp = EXCLUDED.event_timestamp, created_timestamp = EXCLUDED.created_timestamp
 WHERE EXCLUDED.event_timestamp > t.event_timestamp
    OR (EXCLUDED.event_timestamp = t.event_timestamp
        AND (t.created_timestamp IS NULL OR EXCLUDED.created_timestamp >= t.created_timestamp))"

# run one statement; print the CPU time (user + system, ms) its backend process spent on it, read
# from /proc (the client must run on the server's machine), so that figures taken on a busy machine
# can still be compared.  Parallel workers' CPU is not included.
run_cpu() {
	$PSQL -At <<EOS | tail -1
SELECT pg_backend_pid() AS pid \\gset
\\setenv CF_PID :pid
\\! awk '{ print \$14 + \$15 }' /proc/\$CF_PID/stat > /tmp/cf_bench_cpu.\$CF_PID
SET client_min_messages = warning;
$1;
\\! awk -v t0=\$(cat /tmp/cf_bench_cpu.\$CF_PID) '{ print (\$14 + \$15 - t0) * 10 }' /proc/\$CF_PID/stat; rm -f /tmp/cf_bench_cpu.\$CF_PID
EOS
}

# best of RUNS: empty the table ($2), then time the statement ($3)
best() {
	local label=$1 empty=$2 sql=$3 b="" bc="" s e t cpu
	for _ in $(seq "$RUNS"); do
		$PSQL -c "$empty"
		s=$(date +%s%N)
		cpu=$(run_cpu "$sql")
		e=$(date +%s%N)
		t=$(((e - s) / 1000000))
		if [ -z "$b" ] || [ "$t" -lt "$b" ]; then b=$t; bc=$cpu; fi
	done
	printf '%-8s %5d ms (best of %d; backend CPU %s ms)\n' "$label" "$b" "$RUNS" "$bc"
}

$PSQL -c "SELECT count(*) FROM driver_stats" >/dev/null   # warm the cache
best cfeast "TRUNCATE feast_online.driver_stats" "$SQL_C"
best hand "TRUNCATE hand_online" "$SQL_H"

DIFF=$($PSQL -At -c "SELECT (SELECT count(*) FROM (TABLE feast_online.driver_stats EXCEPT ALL TABLE hand_online) x)
                          + (SELECT count(*) FROM (TABLE hand_online EXCEPT ALL TABLE feast_online.driver_stats) y)")
ROWS=$($PSQL -At -c "SELECT count(*) FROM hand_online")
if [ "$DIFF" != 0 ]; then
	echo "FAIL: cfeast and the hand-written upsert differ in $DIFF rows"
	exit 1
fi
echo "cfeast = hand-written: $ROWS online rows"
[ "${KEEP_DB:-0}" = 1 ] || psql -X -q -d postgres -c "DROP DATABASE $DB"
