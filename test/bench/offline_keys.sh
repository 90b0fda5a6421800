#!/bin/bash
# test/bench/offline_keys.sh: training sets of a few keys over a batch table hash-partitioned by
# its join key into postgres_fdw partitions (the scale-out layout: PARTITION BY HASH, modulus 64,
# each partition a foreign table; here all on a second database of the same cluster, over the
# Unix socket), against a running cluster with cfeast and postgres_fdw (PGHOST/PGPORT/PGUSER).
#
#   bash test/bench/offline_keys.sh                 # 10k keys x 40 rows, training sets of 1 and 100 keys
#   KEYS=2000 ROWS_PER_KEY=20 bash test/bench/offline_keys.sh
#   KEEP=1 ...: keep the two databases
#
# Same data, same answers (checked), best of RUNS (default 5):
#   cfeast   feast_create_training_set over the partitioned table: the entity keys go to the
#            nodes (= ANY) and partitions holding none are pruned
#   0.4      the same over a view of the partitioned table (read as 0.4 read every source:
#            every row up to the latest entity time, from every partition)
#   by hand  LEFT JOIN LATERAL (... WHERE key = e.key AND ts <= e.ts ORDER BY ts DESC LIMIT 1)
set -eu
DB=${BENCH_DB:-cfeast_bench_offkeys}
RDB=${DB}_node
KEYS=${KEYS:-10000}
ROWS_PER_KEY=${ROWS_PER_KEY:-40}
RUNS=${RUNS:-5}
PSQL="psql -X -q -v ON_ERROR_STOP=1 -d $DB"

for d in "$DB" "$RDB"; do
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d" -c "CREATE DATABASE $d"
done
psql -X -q -v ON_ERROR_STOP=1 -d "$RDB" >/dev/null <<SQL
DO \$\$ BEGIN
  FOR r IN 0 .. 63 LOOP
    EXECUTE format('CREATE TABLE h_%s (driver_id bigint, rating float8, ts timestamptz)', r);
    EXECUTE format('CREATE INDEX ON h_%s (driver_id, ts)', r);
  END LOOP;
END \$\$;
SQL
$PSQL >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE EXTENSION postgres_fdw;
DO \$\$
DECLARE
    sock text := (SELECT split_part(setting, ',', 1) FROM pg_settings WHERE name = 'unix_socket_directories');
    port text := (SELECT setting FROM pg_settings WHERE name = 'port');
BEGIN
    EXECUTE format('CREATE SERVER node FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host %L, port %L, dbname %L)',
                   sock, port, '$RDB');
    EXECUTE format('CREATE USER MAPPING FOR %I SERVER node', current_user);
END \$\$;
CREATE TABLE hist (driver_id bigint, rating float8, ts timestamptz) PARTITION BY HASH (driver_id);
DO \$\$ BEGIN
  FOR r IN 0 .. 63 LOOP
    EXECUTE format('CREATE FOREIGN TABLE hist_%s PARTITION OF hist FOR VALUES WITH (MODULUS 64, REMAINDER %s)'
                   ' SERVER node OPTIONS (table_name %L)', r, r, 'h_' || r);
  END LOOP;
END \$\$;
INSERT INTO hist SELECT k, k + i * 0.001, '2026-01-01'::timestamptz + i * interval '1 hour' + k * interval '1 second'
  FROM generate_series(1, $KEYS) k, generate_series(1, $ROWS_PER_KEY) i;
CREATE VIEW hist_view AS SELECT * FROM hist;
SELECT feast_apply_entity('driver', 'driver_id');
SELECT feast_apply_batch_source('part_src', 'hist', 'ts');
SELECT feast_apply_batch_source('view_src', 'hist_view', 'ts');
SELECT feast_apply_feature_view('part', '{driver}', '[{"name": "rating", "dtype": "float64"}]', 'part_src', online => false);
SELECT feast_apply_feature_view('whole', '{driver}', '[{"name": "rating", "dtype": "float64"}]', 'view_src', online => false);
SQL
psql -X -q -d "$RDB" -c "ANALYZE"
echo "batch table: $((KEYS * ROWS_PER_KEY)) rows, $KEYS keys, 64 postgres_fdw partitions (loopback)"

# best of RUNS, in ms, of the statement in $1, run RUNS times in one session (warm: the first
# run of a session also opens the postgres_fdw connection)
best() {
	{ echo '\timing on'; for _ in $(seq 1 "$RUNS"); do echo "$1;"; done; } | $PSQL 2>&1 |
		sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | sort -n | head -1
}

for n in 1 100; do
	$PSQL -c "DROP TABLE IF EXISTS ent; CREATE TABLE ent AS SELECT (g * 7919) % $KEYS + 1 AS driver_id,
	          '2026-01-02'::timestamptz + g * interval '1 minute' AS event_timestamp FROM generate_series(1, $n) g"
	c=$(best "SELECT feast_create_training_set('ts_part', 'ent', '{part:rating}', replace => true)")
	o=$(best "SELECT feast_create_training_set('ts_whole', 'ent', '{whole:rating}', replace => true)")
	h=$(best "DO \$x\$ BEGIN DROP TABLE IF EXISTS ts_hand; CREATE TABLE ts_hand AS SELECT e.*, h.rating FROM ent e
	          LEFT JOIN LATERAL (SELECT s.rating FROM hist s WHERE s.driver_id = e.driver_id AND s.ts <= e.event_timestamp
	                              ORDER BY s.ts DESC LIMIT 1) h ON true; END \$x\$")
	same=$($PSQL -Atc "SELECT count(*) FROM (SELECT * FROM ts_part EXCEPT SELECT * FROM ts_whole) a" \
	                 -c "SELECT count(*) FROM (SELECT * FROM ts_part EXCEPT SELECT * FROM ts_hand) a" | awk '{s += $1} END {print s}')
	[ "$same" = 0 ] || echo "MISMATCH: $same rows differ"
	awk -v n="$n" -v c="$c" -v o="$o" -v h="$h" 'BEGIN {
		printf "training set, %3d keys: cfeast %8.1f ms   0.4 (whole read) %8.1f ms (%.1fx)   by hand (LATERAL) %8.1f ms (%.2fx)\n",
		       n, c, o, o / c, h, h / c }'
done
[ "${KEEP:-0}" = 1 ] && exit 0
for d in "$DB" "$RDB"; do
	PGOPTIONS="-c client_min_messages=warning" psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $d"
done
