#!/bin/bash
# test/bench/server.sh: a bounded load run of cfeast-server on loopback, beside
# the same operations over plain SQL with pgbench, so the HTTP layer's cost
# shows.  Run as root from the repository (like test/run-all.sh): builds,
# installs into a private tree, starts a throwaway cluster, loads KEYS drivers,
# then for SECONDS each:
#   HTTP  POST /push                 (one row, random driver)   server_load
#   HTTP  POST /get-online-features  (one entity, 3 features)   server_load
#   SQL   SELECT feast_push(...) (the JSON text form, as HTTP) pgbench -M prepared
#   SQL   SELECT feast_get_online_features(...)                 pgbench -M prepared
# with CONC concurrent clients on 2 client threads on both sides, for each
# CONC of CF_BENCH_CONC ("4 16"), against a server pool of CF_BENCH_POOL (4):
# SQL's side has one backend per client.  Each
# HTTP line also has the server's CPU time per request (server_cpu_us, all
# its threads) and the load generator's (client_cpu_us).  Fails if any
# request fails.  Settings: CF_BENCH_SECONDS (30), CF_BENCH_CONC ("4 16"),
# CF_BENCH_KEYS (10000), CF_BENCH_POOL (4), CF_BENCH_THREADS (the
# server's --threads; its default when unset).  The HTTP pushes run twice:
# with the server's default --push-batch (pushes that arrive while one is in
# flight share the next statement) and with --push-batch 1 (each alone).
set -u
cd "$(dirname "$0")/../.."
. test/lib/common.sh

SECONDS_EACH=${CF_BENCH_SECONDS:-30}
CONCS=${CF_BENCH_CONC:-"4 16"}
KEYS=${CF_BENCH_KEYS:-10000}
POOL=${CF_BENCH_POOL:-4}
THREADS=${CF_BENCH_THREADS:+--threads $CF_BENCH_THREADS}
DB=cfeast_bench_server
SERVER_PID=

finish() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	cf_cleanup
}
trap finish EXIT

cf_install_deps || exit 1
cf_mktemp
make -s >/dev/null || exit 1
cf_private_install || exit 1
cf_start_cluster "-c shared_buffers=256MB -c synchronous_commit=off" || exit 1
W="$CF_TMP/bench"
mkdir -p "$W"
cc -O2 -pthread -Wall -Wextra -o "$W/server_load" test/bench/server_load.c || exit 1

createdb "$DB" || exit 1
psql -XAtq -d "$DB" >/dev/null <<EOF || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips bigint);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "avg_daily_trips", "dtype": "int64"}]', 'driver_stats_push_source');
SELECT feast_push('driver_stats_push_source',
    (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'event_timestamp', '2022-05-13T10:59:42Z',
                      'conv_rate', 0.5, 'acc_rate', 0.25, 'avg_daily_trips', i))
       FROM generate_series(1, $KEYS) i));
VACUUM ANALYZE;
EOF
HAVE_READ=$(psql -XAtq -d "$DB" -c "SELECT to_regprocedure('feast_get_online_features(text[],jsonb,boolean,text)') IS NOT NULL")

# the same operations, as HTTP bodies and as pgbench scripts
DF='{"driver_id": [@ID@], "event_timestamp": ["2022-05-13T11:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.25], "avg_daily_trips": [@ID@]}'
printf '{"push_source_name": "driver_stats_push_source", "df": %s}' "$DF" >"$W/push.json"
printf '{"entities": {"driver_id": [@ID@]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:acc_rate", "driver_hourly_stats:avg_daily_trips"]}' >"$W/read.json"
cat >"$W/push.sql" <<EOF
\set id random(1, $KEYS)
SELECT feast_push('driver_stats_push_source', '$(echo "$DF" | sed "s/@ID@/' || (:id)::text || '/g")');
EOF
# \x3a is ':' (pgbench -M prepared would take ":conv_rate" for a variable)
cat >"$W/read.sql" <<EOF
\set id random(1, $KEYS)
SELECT feast_get_online_features(E'{driver_hourly_stats\\x3aconv_rate,driver_hourly_stats\\x3aacc_rate,driver_hourly_stats\\x3aavg_daily_trips}',
    ('{"driver_id": [' || (:id)::text || ']}')::jsonb);
EOF

# start_server [flags]: cfeast-server on a free port (PORT, SERVER_PID)
start_server() {
	rm -f "$W/server.err"
	./cfeast-server --dsn "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB" --listen 127.0.0.1:0 \
		--pool "$POOL" $THREADS "$@" >>"$W/access.log" 2>"$W/server.err" &
	SERVER_PID=$!
	PORT=
	for i in $(seq 1 50); do
		PORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/server.err")
		[ -n "$PORT" ] && break
		sleep 0.1
	done
	[ -n "$PORT" ] || { cat "$W/server.err"; exit 1; }
}
stop_server() {
	kill -TERM "$SERVER_PID"
	wait "$SERVER_PID"
	SERVER_PID=
}

FAILED=0
RESULTS=()
# the server's CPU time so far (all threads), in microseconds
server_cpu() {
	awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($14 + $15) * 1e6 / hz}' "/proc/$SERVER_PID/stat"
}
http_run() {
	local name=$1 path=$2 body=$3 out c0 n
	c0=$(server_cpu)
	out=$("$W/server_load" "$PORT" "$path" "$body" "$CONC" "$SECONDS_EACH" "$KEYS" 2) || FAILED=1
	n=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
	[ "${n:-0}" -gt 0 ] && out="$out server_cpu_us=$(awk -v a="$c0" -v b="$(server_cpu)" -v n="$n" 'BEGIN {printf "%.1f", (b - a) / n}')"
	echo "$name: $out"
	RESULTS+=("$name $out")
}
# pgbench: tps and the percentiles of its per-transaction log
sql_run() {
	local name=$1 script=$2 out tps n p50 p99 failed
	rm -f "$W"/pgbench_log.*
	out=$(cd "$W" && pgbench -n -M prepared -c "$CONC" -j 2 -T "$SECONDS_EACH" -f "$script" \
		--log --log-prefix=pgbench_log "$DB" 2>&1) || { FAILED=1; echo "$out" | grep -i error | head -5; }
	tps=$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
	failed=$(echo "$out" | sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p')
	cat "$W"/pgbench_log.* | awk '{print $3}' | sort -n >"$W/lat"
	n=$(wc -l <"$W/lat")
	p50=$(awk -v n="$n" 'NR == int((n - 1) * 0.50) + 1 {printf "%.3f", $1 / 1000}' "$W/lat")
	p99=$(awk -v n="$n" 'NR == int((n - 1) * 0.99) + 1 {printf "%.3f", $1 / 1000}' "$W/lat")
	echo "$name: requests=$n failed=${failed:-?} rps=${tps%.*} p50_ms=$p50 p99_ms=$p99"
	RESULTS+=("$name requests=$n failed=${failed:-?} rps=${tps%.*} p50_ms=$p50 p99_ms=$p99")
}

# the ratios of one concurrency: HTTP requests/s over SQL's
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else printf "?"}'; }
rps_of() { local r; for r in "${RESULTS[@]}"; do case $r in "$1 requests="*) echo "$r" | sed -n 's/.* rps=\([0-9]*\).*/\1/p' ;; esac; done; }

start_server --push-batch 1
ALONE_PORT=$PORT ALONE_PID=$SERVER_PID
start_server
SUMMARY=()
for CONC in $CONCS; do
	echo "== $SECONDS_EACH s each, $CONC concurrent clients, server pool $POOL${CF_BENCH_THREADS:+, $CF_BENCH_THREADS HTTP threads}, $KEYS keys, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
	RESULTS=()
	MAIN_PORT=$PORT MAIN_PID=$SERVER_PID
	PORT=$ALONE_PORT SERVER_PID=$ALONE_PID
	http_run "http push alone" /push "$W/push.json"
	PORT=$MAIN_PORT SERVER_PID=$MAIN_PID
	m0=$(curl -s "http://127.0.0.1:$PORT/metrics")
	http_run "http push" /push "$W/push.json"
	m1=$(curl -s "http://127.0.0.1:$PORT/metrics")
	metric() { echo "$1" | sed -n "s/^$2 //p"; }
	echo "  $(($(metric "$m1" cfeast_push_coalesced_requests_total) - $(metric "$m0" cfeast_push_coalesced_requests_total))) requests shared a statement; $(($(metric "$m1" cfeast_push_statements_total) - $(metric "$m0" cfeast_push_statements_total))) push statements from the event loops"
	sql_run "sql  push" push.sql
	if [ "$HAVE_READ" = t ]; then
		http_run "http read" /get-online-features "$W/read.json"
		sql_run "sql  read" read.sql
	fi
	SP=$(rps_of "sql  push")
	line="$CONC clients: push HTTP/SQL $(ratio "$(rps_of "http push")" "$SP")x (each alone: $(ratio "$(rps_of "http push alone")" "$SP")x)"
	[ "$HAVE_READ" = t ] && line="$line, read HTTP/SQL $(ratio "$(rps_of "http read")" "$(rps_of "sql  read")")x"
	SUMMARY+=("$line")
done
stop_server
SERVER_PID=$ALONE_PID
stop_server
echo "access log lines: $(wc -l <"$W/access.log"), non-200: $(grep -vc '" 200 ' "$W/access.log")"
for l in "${SUMMARY[@]}"; do echo "$l"; done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$FAILED" = 0 ] && echo "no failed request" || echo "SOME REQUESTS FAILED"
[ "$FAILED" = 0 ]
