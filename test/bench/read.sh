#!/bin/bash
# test/bench/read.sh: online read benchmark, run by hand against a running cluster.
#
#   PGHOST=/tmp/sock PGPORT=5432 PGUSER=postgres bash test/bench/read.sh
#
# Creates database cfeast_bench_read (dropped first), loads ROWS drivers into a
# feature view of 10 features (and an identical plain table), then with pgbench
# (-M prepared, CLIENTS clients, RUN_SECONDS seconds per run):
#   1. TPS of feast_get_online_features for 1 entity x 10 features, against
#      SELECT to_jsonb(t) FROM t WHERE key = $1 on the plain table, both running
#      side by side in each of ROUNDS rounds; prints each round and the median ratio;
#   2. the direct index probe for 1 entity against the cached SPI plan
#      (cfeast.direct_read = off), side by side, the median ratio;
#   3. the reads of 1 and 2 timed inside the server (no client or network), per read;
#   4. latency (p50, p99) of a 100-entity x 10-feature read.
# Environment: ROWS (default 100000), RUN_SECONDS (3), ROUNDS (3), CLIENTS (1),
# PGBIN (the directory of pgbench and psql).
set -eu
ROWS=${ROWS:-100000}
SECONDS_PER_RUN=${RUN_SECONDS:-3}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-1}
PGBIN=${PGBIN:-$(dirname "$(command -v pgbench 2>/dev/null || echo /usr/lib/postgresql/15/bin/pgbench)")}
DB=cfeast_bench_read
WORK=$(mktemp -d /tmp/cfeast-bench-read.XXXXXX)
chmod 777 "$WORK"
trap 'rm -rf "$WORK"' EXIT

psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql_ -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_ -d $DB >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('bench_push', NULL);
SELECT feast_apply_feature_view('bench', ARRAY['driver'], '[
    {"name": "f1", "dtype": "float32"}, {"name": "f2", "dtype": "float64"}, {"name": "f3", "dtype": "int64"},
    {"name": "f4", "dtype": "int32"}, {"name": "f5", "dtype": "string"}, {"name": "f6", "dtype": "float64"},
    {"name": "f7", "dtype": "bool"}, {"name": "f8", "dtype": "int64"}, {"name": "f9", "dtype": "float32"},
    {"name": "f10", "dtype": "unix_timestamp"}]', 'bench_push', ttl => '1000 days');
-- push in batches of 10000 rows
DO \$\$
BEGIN
    FOR b IN 0 .. ($ROWS - 1) / 10000 LOOP
        PERFORM feast_push('bench_push', (
            SELECT jsonb_agg(jsonb_build_object(
                'driver_id', i, 'f1', (i % 1000) / 7.0, 'f2', i / 3.0, 'f3', i::bigint * 1000003, 'f4', i % 100000,
                'f5', 'driver-' || i, 'f6', i * 0.001, 'f7', i % 2 = 0, 'f8', i, 'f9', 0.5,
                'f10', '2026-01-01T00:00:00Z', 'event_timestamp', now()))
              FROM generate_series(b * 10000 + 1, least((b + 1) * 10000, $ROWS)) i));
    END LOOP;
END \$\$;
-- the same rows in a plain table with the same columns and primary key
CREATE TABLE bench_plain (LIKE feast_online.bench INCLUDING ALL);
INSERT INTO bench_plain SELECT * FROM feast_online.bench;
-- 1000 batches of 100 entity keys for the latency run
CREATE TABLE bench_batches (id int PRIMARY KEY, entity_rows jsonb NOT NULL);
SELECT setseed(0.5);
INSERT INTO bench_batches
SELECT b, jsonb_build_object('driver_id', jsonb_agg(1 + floor(random() * $ROWS)::int))
  FROM generate_series(1, 1000) b, generate_series(1, 100) i GROUP BY b;
VACUUM ANALYZE;
SQL

# pgbench reads ":name" as a variable, so the references are spelled with "." and mapped back
FEATURES="pg_catalog.replace('{bench.f1,bench.f2,bench.f3,bench.f4,bench.f5,bench.f6,bench.f7,bench.f8,bench.f9,bench.f10}', '.', pg_catalog.chr(58))::text[]"
cat >"$WORK/plain.sql" <<SQL
\set id random(1, $ROWS)
SELECT to_jsonb(t) FROM bench_plain t WHERE driver_id = :id;
SQL
cat >"$WORK/feast1.sql" <<SQL
\set id random(1, $ROWS)
SELECT feast_get_online_features($FEATURES, ('{"driver_id": [' || :id::text || ']}')::jsonb);
SQL
cat >"$WORK/feast100.sql" <<SQL
\set b random(1, 1000)
SELECT feast_get_online_features($FEATURES, (SELECT entity_rows FROM bench_batches WHERE id = :b));
SQL

# runs a script; prints its TPS (excluding connection time)
tps() {
	"$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -f "$1" $DB 2>&1 |
		sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}

# the warm-up also checks that the read answers what was pushed
psql_ -d $DB -At -c "SELECT feast_get_online_features($FEATURES, '{\"driver_id\": [42]}') -> 'results' -> 5 -> 'values'" |
	grep -q '"driver-42"' || { echo "read.sh: the feature read does not answer driver-42" >&2; exit 1; }

# The two reads run side by side, each with its own clients, for the same seconds: on a
# shared machine both then see the same load, so the ratio of their TPS compares their
# costs.  ROUNDS rounds; the median ratio is the result.
RATIOS=""
echo "1 entity x 10 features, $CLIENTS client(s) each, $ROUNDS rounds of ${SECONDS_PER_RUN}s, $ROWS rows, side by side:"
for r in $(seq 1 "$ROUNDS"); do
	tps "$WORK/plain.sql" >"$WORK/plain.tps" &
	tps "$WORK/feast1.sql" >"$WORK/feast.tps" &
	wait
	P=$(cat "$WORK/plain.tps")
	F=$(cat "$WORK/feast.tps")
	R=$(awk -v a="$F" -v b="$P" 'BEGIN { printf "%.2f", a / b }')
	RATIOS="$RATIOS $R"
	echo "  round $r: plain SELECT to_jsonb(t) ... WHERE key = \$1: $P tps; feast_get_online_features: $F tps; ratio $R"
done
MEDIAN=$(echo $RATIOS | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "  median ratio feast / plain: ${MEDIAN}x (goal >= 0.70x)"

# the direct index probe against the cached SPI plan (cfeast.direct_read = off), the same
# read side by side as above: the probe stays only where it gains at least 15%
RATIOS=""
echo "1 entity x 10 features, direct probe vs cached SPI plan, $ROUNDS rounds of ${SECONDS_PER_RUN}s, side by side:"
for r in $(seq 1 "$ROUNDS"); do
	tps "$WORK/feast1.sql" >"$WORK/direct.tps" &
	PGOPTIONS="-c cfeast.direct_read=off" tps "$WORK/feast1.sql" >"$WORK/spi.tps" &
	wait
	D=$(cat "$WORK/direct.tps")
	S=$(cat "$WORK/spi.tps")
	R=$(awk -v a="$D" -v b="$S" 'BEGIN { printf "%.2f", a / b }')
	RATIOS="$RATIOS $R"
	echo "  round $r: direct probe $D tps; SPI plan $S tps; ratio $R"
done
MEDIAN=$(echo $RATIOS | tr ' ' '\n' | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "  median ratio direct / SPI plan: ${MEDIAN}x (kept if >= 1.15x)"

# the same two reads inside the server (a loop in one transaction: no client, no network,
# no per-transaction work), best of 3 rounds of 20000 reads each: microseconds per read
psql_ -d $DB -At <<SQL
CREATE TEMP TABLE refs AS SELECT $FEATURES AS f;
CREATE FUNCTION pg_temp.us_per_read(feast boolean, n int) RETURNS numeric LANGUAGE plpgsql AS \$\$
DECLARE
    f text[] := (SELECT r.f FROM refs r);
    t0 timestamptz;
    r jsonb;
BEGIN
    t0 := clock_timestamp();
    FOR i IN 1 .. n LOOP
        IF feast THEN
            r := feast_get_online_features(f, jsonb_build_object('driver_id', jsonb_build_array(1 + i % $ROWS)));
        ELSE
            r := (SELECT to_jsonb(t) FROM bench_plain t WHERE driver_id = 1 + i % $ROWS);
        END IF;
    END LOOP;
    RETURN round(extract(epoch FROM clock_timestamp() - t0) * 1e6 / n, 1);
END \$\$;
SELECT format('in the server, best of 3 x 20000: plain %s us per read, feast_get_online_features %s us per read',
              min(p), min(f))
  FROM (SELECT pg_temp.us_per_read(false, 20000) AS p, pg_temp.us_per_read(true, 20000) AS f
          FROM generate_series(1, 3)) x;
CREATE FUNCTION pg_temp.us_direct(direct boolean) RETURNS numeric LANGUAGE sql AS
\$\$ SELECT set_config('cfeast.direct_read', direct::text, false); SELECT pg_temp.us_per_read(true, 20000) \$\$;
SELECT format('in the server, best of 3 x 20000: direct probe %s us per read, SPI plan %s us per read, ratio %s',
              min(d), min(s), round(min(s) / min(d), 2))
  FROM (SELECT pg_temp.us_direct(true) AS d, pg_temp.us_direct(false) AS s FROM generate_series(1, 3)) x;
SQL

# latency of 100-entity reads from pgbench's per-transaction log (microseconds, column 3)
(cd "$WORK" && "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -l --log-prefix=lat \
	-f "$WORK/feast100.sql" $DB >/dev/null 2>&1)
cat "$WORK"/lat.* | awk '{ print $3 }' | sort -n >"$WORK/lat.sorted"
N=$(wc -l <"$WORK/lat.sorted")
P50=$(awk -v n="$N" 'NR == int(n * 0.50 + 0.5) { print $1 / 1000 }' "$WORK/lat.sorted")
P99=$(awk -v n="$N" 'NR == int(n * 0.99 + 0.5) { print $1 / 1000 }' "$WORK/lat.sorted")
echo "100 entities x 10 features, 1 client, ${SECONDS_PER_RUN}s: $N reads, p50 $P50 ms, p99 $P99 ms"
