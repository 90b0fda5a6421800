#!/bin/bash
# test/bench/read.sh: online read benchmark, run by hand against a running cluster.
#
#   PGHOST=/tmp/sock PGPORT=5432 PGUSER=postgres bash test/bench/read.sh
#
# Creates database cfeast_bench_read (dropped first), loads ROWS drivers into a
# feature view of 10 features (and an identical plain table), then with pgbench
# (-M prepared, CLIENTS clients, RUN_SECONDS seconds per run):
#   1. TPS of feast_get_online_features for 1 entity x 10 features, against
#      SELECT to_jsonb(t) FROM t WHERE key = $1 on the plain table, in ROUNDS
#      alternating rounds; prints every round, the best of each and their ratio;
#   2. latency (p50, p99) of a 100-entity x 10-feature read.
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

# alternate the two reads (the machine may be shared) and keep the best round of each
PLAIN=0
FEAST=0
ROUNDS_OUT=""
for r in $(seq 1 "$ROUNDS"); do
	P=$(tps "$WORK/plain.sql")
	F=$(tps "$WORK/feast1.sql")
	ROUNDS_OUT="$ROUNDS_OUT  round $r: plain $P tps, feast $F tps\n"
	PLAIN=$(awk -v a="$PLAIN" -v b="$P" 'BEGIN { print (b > a) ? b : a }')
	FEAST=$(awk -v a="$FEAST" -v b="$F" 'BEGIN { print (b > a) ? b : a }')
done
echo "1 entity x 10 features, $CLIENTS client(s), $ROUNDS rounds of ${SECONDS_PER_RUN}s each, $ROWS rows:"
printf "$ROUNDS_OUT"
echo "  best plain SELECT to_jsonb(t) ... WHERE key = \$1 : $PLAIN tps"
echo "  best feast_get_online_features                  : $FEAST tps"
awk -v a="$FEAST" -v b="$PLAIN" 'BEGIN { printf "  ratio                                           : %.2fx (goal >= 0.70x)\n", a / b }'

# latency of 100-entity reads from pgbench's per-transaction log (microseconds, column 3)
(cd "$WORK" && "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -T "$SECONDS_PER_RUN" -l --log-prefix=lat \
	-f "$WORK/feast100.sql" $DB >/dev/null 2>&1)
cat "$WORK"/lat.* | awk '{ print $3 }' | sort -n >"$WORK/lat.sorted"
N=$(wc -l <"$WORK/lat.sorted")
P50=$(awk -v n="$N" 'NR == int(n * 0.50 + 0.5) { print $1 / 1000 }' "$WORK/lat.sorted")
P99=$(awk -v n="$N" 'NR == int(n * 0.99 + 0.5) { print $1 / 1000 }' "$WORK/lat.sorted")
echo "100 entities x 10 features, 1 client, ${SECONDS_PER_RUN}s: $N reads, p50 $P50 ms, p99 $P99 ms"
