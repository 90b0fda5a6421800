#!/bin/bash
# test/bench/historical.sh: point-in-time join benchmark, by hand, against a running cluster
# with cfeast installed (PGHOST/PGPORT/PGUSER as for psql).
#
#   bash test/bench/historical.sh            # 200k entity rows x 1M feature rows (10k keys x 100)
#   ENTITY_ROWS=20000 KEYS=1000 bash test/bench/historical.sh   # a quick run
#
# Same data, each writing a table (a logged heap table, the same columns and rows):
#   cfeast  feast_create_training_set (the C as-of join)
#   (a)     the range join + ROW_NUMBER SQL that Feast's Postgres offline store generates
#   (b)     LEFT JOIN LATERAL (... ORDER BY event_timestamp DESC LIMIT 1), index on (key, ts)
# and checks that cfeast's table and (b)'s hold the same rows.  cfeast and (b) run RUNS times
# (default 3) and report the best; (a) runs RUNS_A times (default 1: it is slow, so its figure is
# the noisiest; SKIP_A=1 skips it).  Then the join alone, no table written ("cfeast-join": the
# SELECT of feast_historical_features_sql; "(b)-join": (b)'s SELECT), each consumed by one
# aggregate over every output column, whose results must agree;
# historical_duckdb.sh reports DuckDB's figures the same two ways.  Last, the ratios.
#
# The tables are read as a long-lived offline table is: vacuumed, every page all-visible (which
# spares each scan the per-row visibility check).  They are created with autovacuum off and
# vacuumed here until pg_class.relallvisible = relpages (an autovacuum worker busy in the new
# database's catalogs can hold back the first few), which is checked before anything is timed.
#
# Each run is one new session (psql) that runs the statement twice, dropping its table between:
# "cold" is the session's first statement (a fresh backend: its memory and its mappings of shared
# buffers are touched for the first time), "warm" the second, as in a pooled session that has
# served statements before.  Both are printed, every side measured alike; the ratios use warm.
# Times are measured in the server (clock_timestamp() around the statement, so no connection
# start-up) and its CPU as the backend's user + system time from /proc/<pid>/stat, read with
# pg_read_file (a superuser's session), so that figures taken on a busy machine can still be
# compared; parallel workers' CPU is included (the postmaster's reaped children's time, so any
# other server process that ends meanwhile, an autovacuum worker say, counts too).
set -eu
DB=${BENCH_DB:-cfeast_bench_hist}
KEYS=${KEYS:-10000}
ROWS_PER_KEY=${ROWS_PER_KEY:-100}
ENTITY_ROWS=${ENTITY_ROWS:-200000}
SKIP_A=${SKIP_A:-0}
RUNS_A=${RUNS_A:-1}
RUNS=${RUNS:-3}
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"

PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
$PSQL >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
SELECT setseed(0.42);
-- feature rows: one a day per key with jitter, created a few minutes later;
-- some created values are NULL and some event times are repeated (ties)
CREATE TABLE driver_stats WITH (autovacuum_enabled = off) AS
SELECT k AS driver_id,
       ts AS event_timestamp,
       CASE WHEN random() < 0.05 THEN NULL ELSE ts + random() * interval '10 minutes' END AS created,
       random()::real AS conv_rate,
       random()::real AS acc_rate,
       (random() * 1000)::int AS trips
  FROM generate_series(1, $KEYS) AS k,
       generate_series(1, $ROWS_PER_KEY) AS i,
       LATERAL (SELECT timestamptz '2024-01-01 00:00:00+00' + i * interval '1 day'
                       + CASE WHEN i % 17 = 0 THEN interval '0' ELSE random() * interval '20 hours' END AS ts) t;
CREATE INDEX ON driver_stats (driver_id, event_timestamp);
CREATE TABLE entity_df WITH (autovacuum_enabled = off) AS
SELECT (1 + floor(random() * $KEYS))::bigint AS driver_id,
       timestamptz '2024-01-01 00:00:00+00' + random() * ($ROWS_PER_KEY + 2) * interval '1 day' AS event_timestamp,
       g AS order_id
  FROM generate_series(1, $ENTITY_ROWS) AS g;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_feature_view('driver_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "trips", "dtype": "int32"}]', 'driver_stats_source', interval '1 day');
SQL
echo "data: $ENTITY_ROWS entity rows, $((KEYS * ROWS_PER_KEY)) feature rows ($KEYS keys x $ROWS_PER_KEY), ttl 1 day"

# every page all-visible, as a vacuumed table's (see the header); an autovacuum worker busy in the
# new database's catalogs can hold the horizon back for a while, so VACUUM again until it is done
for i in $(seq 60); do
	$PSQL -c "VACUUM (ANALYZE) driver_stats" -c "VACUUM (ANALYZE) entity_df"
	NOTVIS=$($PSQL -At -c "SELECT string_agg(relname || ' ' || relallvisible || '/' || relpages, ', ')
	                         FROM pg_class WHERE oid IN ('driver_stats'::regclass, 'entity_df'::regclass)
	                          AND relallvisible <> relpages")
	[ -z "$NOTVIS" ] && break
	sleep 1
done
if [ -n "$NOTVIS" ]; then
	echo "FAIL: pages not all-visible after $i VACUUMs: $NOTVIS"
	exit 1
fi
echo "every page all-visible after $i VACUUM (ANALYZE) of each table"
# the postmaster's pid, for its children's CPU time (run_cpu)
PM=$($PSQL -At -c "SELECT split_part(pg_read_file('postmaster.pid'), E'\n', 1)")
echo "parallel workers allowed per statement: $($PSQL -At -c "SHOW max_parallel_workers_per_gather")"

# one session: the statement $2 twice, "$1" (a table, or -) dropped before each; prints
# "cold_wall cold_cpu warm_wall warm_cpu" (ms)
run_cpu() {
	local drop="" sql cpu now="extract(epoch FROM clock_timestamp())"
	[ "$1" = - ] || drop="DROP TABLE IF EXISTS $1;"
	sql=$2
	# the backend's user + system time, and its parallel workers' (ticks of 10 ms): a worker's time
	# is added to the postmaster's children's time (fields 16, 17) when it is reaped, before the
	# statement returns (DestroyParallelContext waits for that)
	cpu="split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ', 14)::bigint
     + split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ', 15)::bigint
     + split_part(pg_read_file('/proc/' || $PM || '/stat'), ' ', 16)::bigint
     + split_part(pg_read_file('/proc/' || $PM || '/stat'), ' ', 17)::bigint"
	# (the previous session's backend must have been reaped before c0, or its time would count)
	$PSQL -At <<EOS | tail -1
SET client_min_messages = warning;
DO \$\$BEGIN
    FOR i IN 1..200 LOOP
        EXIT WHEN (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') = 1;
        PERFORM pg_sleep(0.01);
    END LOOP;
    PERFORM pg_sleep(0.02);
END\$\$;
$drop
SELECT $cpu AS c0, $now AS t0 \\gset
$sql;
SELECT $now AS t1, $cpu AS c1 \\gset
$drop
SELECT $cpu AS c2, $now AS t2 \\gset
$sql;
SELECT $now AS t3, $cpu AS c3 \\gset
SELECT round((:t1 - :t0) * 1000) || ' ' || (:c1 - :c0) * 10 || ' ' || round((:t3 - :t2) * 1000) || ' ' || (:c3 - :c2) * 10;
EOS
}

# best of $2 sessions (cold and warm apart, by wall time): statement $4, table $3 dropped first
best() {
	local label=$1 runs=$2 drop=$3 sql=$4 cw="" cc="" ww="" wc="" r
	for _ in $(seq "$runs"); do
		read -r -a r <<<"$(run_cpu "$drop" "$sql")"
		if [ -z "$cw" ] || [ "${r[0]}" -lt "$cw" ]; then cw=${r[0]}; cc=${r[1]}; fi
		if [ -z "$ww" ] || [ "${r[2]}" -lt "$ww" ]; then ww=${r[2]}; wc=${r[3]}; fi
	done
	printf '%-16s %6d ms (best of %d; CPU %s ms), warm\n' "$label" "$ww" "$runs" "$wc"
	printf '%-16s %6d ms (best of %d; CPU %s ms), the first statement of a session\n' \
		"$label-cold" "$cw" "$runs" "$cc"
	eval "WALL_$5=$ww CPU_$5=$wc COLDWALL_$5=$cw COLDCPU_$5=$cc"
}

# (b): a hand-written LATERAL join using the index on (driver_id, event_timestamp)
SEL_B="SELECT e.driver_id, e.event_timestamp, e.order_id, f.conv_rate, f.acc_rate, f.trips
  FROM entity_df e
  LEFT JOIN LATERAL (
       SELECT s.conv_rate, s.acc_rate, s.trips
         FROM driver_stats s
        WHERE s.driver_id = e.driver_id
          AND s.event_timestamp <= e.event_timestamp
          AND s.event_timestamp >= e.event_timestamp - interval '1 day'
        ORDER BY s.event_timestamp DESC, s.created DESC NULLS LAST
        LIMIT 1) f ON true"
SQL_B="CREATE TABLE ts_b AS $SEL_B"

# (a): the SQL Feast's Postgres offline store generates (entity table, row ids by concatenation,
# range join, dedup on created, ROW_NUMBER, re-join), written out for this view
SQL_A="CREATE TABLE ts_a AS
WITH entity_dataframe AS (
    SELECT *, event_timestamp AS entity_timestamp,
           (CAST(driver_id AS VARCHAR) || CAST(event_timestamp AS VARCHAR)) AS driver_stats__entity_row_unique_id
      FROM entity_df
),
driver_stats__entity_dataframe AS (
    SELECT driver_id, entity_timestamp, driver_stats__entity_row_unique_id
      FROM entity_dataframe
     GROUP BY driver_id, entity_timestamp, driver_stats__entity_row_unique_id
),
driver_stats__subquery AS (
    SELECT event_timestamp AS event_timestamp, created AS created_timestamp, driver_id AS driver_id,
           conv_rate AS conv_rate, acc_rate AS acc_rate, trips AS trips
      FROM driver_stats
     WHERE event_timestamp <= (SELECT MAX(entity_timestamp) FROM entity_dataframe)
       AND event_timestamp >= (SELECT MIN(entity_timestamp) FROM entity_dataframe) - interval '86400 second'
),
driver_stats__base AS (
    SELECT subquery.*, entity_dataframe.entity_timestamp, entity_dataframe.driver_stats__entity_row_unique_id
      FROM driver_stats__subquery AS subquery
     INNER JOIN driver_stats__entity_dataframe AS entity_dataframe
        ON TRUE
       AND subquery.event_timestamp <= entity_dataframe.entity_timestamp
       AND subquery.event_timestamp >= entity_dataframe.entity_timestamp - interval '86400 second'
       AND subquery.driver_id = entity_dataframe.driver_id
),
driver_stats__dedup AS (
    SELECT driver_stats__entity_row_unique_id, event_timestamp, MAX(created_timestamp) AS created_timestamp
      FROM driver_stats__base
     GROUP BY driver_stats__entity_row_unique_id, event_timestamp
),
driver_stats__latest AS (
    SELECT event_timestamp, created_timestamp, driver_stats__entity_row_unique_id
      FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY driver_stats__entity_row_unique_id
                                         ORDER BY event_timestamp DESC, created_timestamp DESC) AS row_number
              FROM driver_stats__base
             INNER JOIN driver_stats__dedup USING (driver_stats__entity_row_unique_id, event_timestamp, created_timestamp)) _
     WHERE row_number = 1
),
driver_stats__cleaned AS (
    SELECT base.*
      FROM driver_stats__base AS base
     INNER JOIN driver_stats__latest USING (driver_stats__entity_row_unique_id, event_timestamp, created_timestamp)
)
SELECT driver_id, event_timestamp, order_id, conv_rate, acc_rate, trips
  FROM entity_dataframe
  LEFT JOIN (SELECT driver_stats__entity_row_unique_id, conv_rate, acc_rate, trips FROM driver_stats__cleaned) AS d
 USING (driver_stats__entity_row_unique_id)"

SQL_C="SELECT feast_create_training_set('ts_cfeast', 'entity_df',
        ARRAY['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'])"

$PSQL -c "SELECT count(*) FROM driver_stats" -c "SELECT count(*) FROM entity_df" >/dev/null  # warm the cache
best cfeast "$RUNS" ts_cfeast "$SQL_C" C
best "(b)" "$RUNS" ts_b "$SQL_B" B
[ "$SKIP_A" = 1 ] || best "(a)" "$RUNS_A" ts_a "$SQL_A" A

# the join alone: each SELECT's rows consumed by the same aggregate, no table written
SEL_C=$($PSQL -At -c "SELECT feast_historical_features_sql('entity_df',
        ARRAY['driver_stats:conv_rate', 'driver_stats:acc_rate', 'driver_stats:trips'])")
agg() { echo "SELECT count(*), count(driver_id), count(event_timestamp), sum(order_id), count(conv_rate),
                     sum(acc_rate::numeric), sum(trips) FROM ($1) j"; }
best cfeast-join "$RUNS" - "$(agg "$SEL_C")" CJ
best "(b)-join" "$RUNS" - "$(agg "$SEL_B")" BJ
AGG_C=$($PSQL -At -c "$(agg "$SEL_C")")
AGG_B=$($PSQL -At -c "$(agg "$SEL_B")")
if [ "$AGG_C" != "$AGG_B" ]; then
	echo "FAIL: the joins alone differ: cfeast $AGG_C, (b) $AGG_B"
	exit 1
fi

# cfeast and (b) must hold the same rows (both directions, duplicates counted)
DIFF=$($PSQL -At -c "SELECT (SELECT count(*) FROM (TABLE ts_cfeast EXCEPT ALL TABLE ts_b) x)
                          + (SELECT count(*) FROM (TABLE ts_b EXCEPT ALL TABLE ts_cfeast) y)")
ROWS=$($PSQL -At -c "SELECT count(*) || ' rows, ' || count(conv_rate) || ' with features' FROM ts_cfeast")
if [ "$DIFF" != 0 ]; then
	echo "FAIL: cfeast and (b) differ in $DIFF rows"
	exit 1
fi
echo "cfeast = (b): $ROWS"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else printf "-" }'; }
echo "(b) / cfeast, table written: CPU $(ratio "$CPU_B" "$CPU_C"), wall $(ratio "$WALL_B" "$WALL_C")" \
	"(cold: CPU $(ratio "$COLDCPU_B" "$COLDCPU_C"), wall $(ratio "$COLDWALL_B" "$COLDWALL_C"));" \
	"join alone: CPU $(ratio "$CPU_BJ" "$CPU_CJ"), wall $(ratio "$WALL_BJ" "$WALL_CJ")"
[ "$SKIP_A" = 1 ] || echo "(a) / cfeast, table written: CPU $(ratio "$CPU_A" "$CPU_C"), wall $(ratio "$WALL_A" "$WALL_C")" \
	"(cold: CPU $(ratio "$COLDCPU_A" "$COLDCPU_C"), wall $(ratio "$COLDWALL_A" "$COLDWALL_C"))"
[ "${KEEP_DB:-0}" = 1 ] || psql -X -q -d postgres -c "DROP DATABASE $DB"
