#!/bin/bash
# test/bench/scaleout.sh: router mode against one node, run by hand against a running cluster
# (or by test/bench/run.sh scaleout).
#
#   PGHOST=/tmp/sock PGPORT=5432 PGUSER=postgres bash test/bench/scaleout.sh
#
# Creates databases cfeast_so_ref (one node), cfeast_so_s1..3 (shards) and cfeast_so_router
# (PL/Proxy cluster of 64 logical shards over the three) in the cluster PGHOST/PGPORT name,
# loads ROWS drivers into both, then with pgbench (-M prepared, one client, RUN_SECONDS a run,
# local and routed side by side in each of ROUNDS rounds) prints per run and as the median:
#   1. a 1-key read: local and routed latency, and the difference (target: within 0.3 ms);
#   2. a 100-key read: the same (target: within 1.5 ms);
#   3. a 2,500-row push from JSON text of new values (feast_push's text form, split as text on the
#      router): rows a second, local and routed, and the ratio (target: >= 0.6).  Every push carries
#      a newer event time (replace() of a placeholder in a stored document, the same on both sides;
#      its own time, measured alone, is subtracted from both), so every row is written;
#   4. the same 2,500 rows re-sent unchanged, as jsonb and as text: nothing is written (a node only
#      parses and compares), so this is the routing's cost against the cheapest push there is;
#   5. a bare PL/Proxy hop (a one-row SQL function on a node): the floor a routed read pays.
# JOBS picks some of them (default "r1 r100 pushn push pusht hop").
# All databases share one server, so the figures are the routing's own cost (PL/Proxy hop,
# split and merge), not a network's.  Environment: ROWS (20000), RUN_SECONDS (3), ROUNDS (3), JOBS, PGBIN.
set -eu
ROWS=${ROWS:-20000}
SECS=${RUN_SECONDS:-3}
ROUNDS=${ROUNDS:-3}
PGBIN=${PGBIN:-$(dirname "$(command -v pgbench 2>/dev/null || echo /usr/lib/postgresql/15/bin/pgbench)")}
WORK=$(mktemp -d /tmp/cfeast-bench-so.XXXXXX)
chmod 777 "$WORK"
trap 'rm -rf "$WORK"' EXIT
psql_() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

REGISTRY="
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('bench_push', NULL);
SELECT feast_apply_feature_view('bench', ARRAY['driver'], '[
    {\"name\": \"f1\", \"dtype\": \"float32\"}, {\"name\": \"f2\", \"dtype\": \"float64\"}, {\"name\": \"f3\", \"dtype\": \"int64\"},
    {\"name\": \"f4\", \"dtype\": \"string\"}, {\"name\": \"f5\", \"dtype\": \"bool\"}]', 'bench_push');"
for d in ref s1 s2 s3 router; do
	psql_ -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS cfeast_so_$d" -c "CREATE DATABASE cfeast_so_$d"
	psql_ -d cfeast_so_$d -c "SET client_min_messages = warning" -c "CREATE EXTENSION cfeast" >/dev/null
done
psql_ -d cfeast_so_ref -c "$REGISTRY" >/dev/null
parts=$(for i in $(seq 0 63); do printf "%sp%d 'host=%s port=%s dbname=cfeast_so_s%d'" "$([ $i -gt 0 ] && echo ', ')" $i "${PGHOST:-/var/run/postgresql}" "${PGPORT:-5432}" $((i % 3 + 1)); done)
psql_ -d cfeast_so_router >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION plproxy;
CREATE SERVER feast_cluster FOREIGN DATA WRAPPER plproxy OPTIONS ($parts);
CREATE USER MAPPING FOR PUBLIC SERVER feast_cluster;
SELECT feast_router_setup('feast_cluster');
$REGISTRY
SQL
LOAD="
CREATE TABLE docs (id int PRIMARY KEY, rows jsonb, t text);
INSERT INTO docs SELECT b, (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'f1', i / 7.0, 'f2', i / 3.0,
       'f3', i * 1000003::bigint, 'f4', 'driver-' || i, 'f5', i % 2 = 0, 'event_timestamp', '2026-01-01T00:00:00Z'))
         FROM generate_series(b * 2500 + 1, (b + 1) * 2500) i)
  FROM generate_series(0, ($ROWS - 1) / 2500) b;
UPDATE docs SET t = rows::text;
SELECT sum(feast_push('bench_push', rows)) FROM docs;
CREATE TABLE keys100 AS SELECT jsonb_build_object('driver_id', jsonb_agg((i * 7919) % $ROWS + 1)) AS rows
  FROM generate_series(1, 100) i;"
psql_ -d cfeast_so_ref -c "$LOAD" >/dev/null
psql_ -d cfeast_so_router -c "$LOAD" >/dev/null
same=$(psql_ -At -d cfeast_so_router -c "SELECT md5(feast_get_online_features('{bench:f1,bench:f2,bench:f3,bench:f4,bench:f5}', rows)::text) FROM keys100")
refsum=$(psql_ -At -d cfeast_so_ref -c "SELECT md5(feast_get_online_features('{bench:f1,bench:f2,bench:f3,bench:f4,bench:f5}', rows)::text) FROM keys100")
[ "$same" = "$refsum" ] && echo "100-key answer identical on the router and the node" || echo "100-key answers DIFFER"

# pgbench reads ":f1" as a variable: the feature list is built without a colon in the script
FEATURES="pg_catalog.replace('{bench.f1,bench.f2,bench.f3,bench.f4,bench.f5}', '.', pg_catalog.chr(58))::text[]"
cat >"$WORK/r1.sql" <<SQL
\set id random(1, $ROWS)
SELECT feast_get_online_features($FEATURES, ('{"driver_id": [' || :id::text || ']}')::jsonb);
SQL
cat >"$WORK/r100.sql" <<SQL
SELECT feast_get_online_features($FEATURES, rows) FROM keys100;
SQL
cat >"$WORK/push.sql" <<SQL
\set b random(0, $(( (ROWS - 1) / 2500 )))
SELECT feast_push('bench_push', rows) FROM docs WHERE id = :b;
SQL
for d in s1 s2 s3; do
	psql_ -d cfeast_so_$d -c "CREATE FUNCTION public.bench_hop(i int) RETURNS int LANGUAGE sql AS 'SELECT \$1'"
done
psql_ -d cfeast_so_router -c "CREATE FUNCTION public.bench_hop(i int) RETURNS int LANGUAGE plproxy AS \$\$ CLUSTER 'feast_cluster'; RUN ON hashint4(i); \$\$"
cat >"$WORK/hop.sql" <<SQL
\set id random(1, $ROWS)
SELECT public.bench_hop(:id);
SQL
# new values: a newer event time in every push (clock_timestamp: distinct per call)
NEWTS="pg_catalog.translate(pg_catalog.clock_timestamp()::text, ' ', 'T')"
cat >"$WORK/pushn.sql" <<SQL
\set b random(0, $(( (ROWS - 1) / 2500 )))
SELECT feast_push('bench_push', pg_catalog.replace(t, '2026-01-01T00:00:00Z', $NEWTS)) FROM docs WHERE id = :b;
SQL
cat >"$WORK/repl.sql" <<SQL
\set b random(0, $(( (ROWS - 1) / 2500 )))
SELECT pg_catalog.length(pg_catalog.replace(t, '2026-01-01T00:00:00Z', $NEWTS)) FROM docs WHERE id = :b;
SQL
cat >"$WORK/pusht.sql" <<SQL
\set b random(0, $(( (ROWS - 1) / 2500 )))
SELECT feast_push('bench_push', t) FROM docs WHERE id = :b;
SQL
lat() { "$PGBIN/pgbench" -n -M prepared -T "$SECS" -f "$WORK/$1.sql" "$2" 2>/dev/null | awk '/latency average/ {print $4}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for job in ${JOBS:-r1 r100 pushn push pusht hop}; do
	if [ $job = pushn ]; then
		: >"$WORK/repl"
		for r in $(seq 1 "$ROUNDS"); do lat repl cfeast_so_ref >>"$WORK/repl"; done
		c=$(median <"$WORK/repl")
	fi
	if [ $job = hop ]; then
		: >"$WORK/hop.routed"
		for r in $(seq 1 "$ROUNDS"); do lat hop cfeast_so_router >>"$WORK/hop.routed"; done
		printf 'bare PL/Proxy hop: %s ms (median of %d runs; a routed read pays it once)\n' "$(median <"$WORK/hop.routed")" "$ROUNDS"
		continue
	fi
	: >"$WORK/$job.local"; : >"$WORK/$job.routed"
	for r in $(seq 1 "$ROUNDS"); do
		l=$(lat $job cfeast_so_ref); m=$(lat $job cfeast_so_router)
		echo "$l" >>"$WORK/$job.local"; echo "$m" >>"$WORK/$job.routed"
		printf '%-5s round %d: local %s ms, routed %s ms\n' "$job" "$r" "$l" "$m"
	done
	l=$(median <"$WORK/$job.local"); m=$(median <"$WORK/$job.routed")
	if [ $job = pushn ]; then
		awk -v l="$l" -v m="$m" -v c="$c" 'BEGIN {printf "2,500-row push of new values from JSON text: local %.0f rows/s, routed %.0f rows/s, ratio %.2f (target >= 0.6; the placeholder replace, %.3f ms, subtracted from both)\n", 2500000 / (l - c), 2500000 / (m - c), (l - c) / (m - c), c}'
	elif [ $job = push ] || [ $job = pusht ]; then
		awk -v l="$l" -v m="$m" -v j="$job" 'BEGIN {printf "2,500 rows re-sent unchanged%s: local %.0f rows/s, routed %.0f rows/s, ratio %.2f\n", j == "pusht" ? " from JSON text" : " (jsonb)", 2500000 / l, 2500000 / m, l / m}'
	else
		awk -v l="$l" -v m="$m" -v j="$job" 'BEGIN {printf "%s read: local %.3f ms, routed %.3f ms, routed - local %.3f ms (target %s)\n", j == "r1" ? "1-key" : "100-key", l, m, m - l, j == "r1" ? "<= 0.3" : "<= 1.5"}'
	fi
done
