#!/bin/bash
# test/checks/metrics.sh: cfeast-server's GET /metrics.  A scripted number of
# requests of each endpoint and status (sequential, then concurrent bursts),
# then the page's counters must equal those numbers exactly: requests by
# endpoint and status (and no other series), histogram counts, rows pushed,
# written and materialized; the pool's gauges while two pushes hold both
# connections and two more wait (/metrics answers meanwhile); the page is
# valid Prometheus text (test/lib/promtext.py, and promtool when installed);
# a server whose database is unreachable still answers /metrics.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP, CF_PGBIN (test/run-all.sh sets them).
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_metrics
W="$CF_TMP/check-metrics"
WRAP=${CFEAST_SERVER_WRAPPER:-}
mkdir -p "$W"
PASS=0
FAIL=0
SERVER_PIDS=()
BG_PIDS=()

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local p
	for p in "${SERVER_PIDS[@]}" "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SERVER_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS cfeast_check_metrics_fresh WITH (FORCE)" >/dev/null 2>&1
}
trap cleanup EXIT

. "$CF_ROOT/test/lib/server.sh"

# ------------------------------------------------------------------ the validator itself
# a page it must refuse, one per rule: it would be a check that cannot fail otherwise
validator_refuses() {
	printf "$2" >"$W/neg.txt"
	if python3 test/lib/promtext.py "$W/neg.txt" >/dev/null; then bad "promtext.py accepts: $1"; else ok "promtext.py refuses: $1"; fi
}
validator_refuses "an unterminated label value" '# HELP a_total h\n# TYPE a_total counter\na_total{x="y} 1\n'
validator_refuses "no final newline" '# HELP a_total h\n# TYPE a_total counter\na_total 1'
validator_refuses "a counter without _total" '# HELP a h\n# TYPE a counter\na 1\n'
validator_refuses "a negative counter" '# HELP a_total h\n# TYPE a_total counter\na_total -1\n'
validator_refuses "a family split in two" '# HELP a_total h\n# TYPE a_total counter\na_total{x="1"} 1\n# HELP b h\n# TYPE b gauge\nb 1\na_total{x="2"} 1\n'
validator_refuses "a series twice" '# HELP a_total h\n# TYPE a_total counter\na_total{x="1"} 1\na_total{x="1"} 2\n'
validator_refuses "a bad escape" '# HELP a_total h\n# TYPE a_total counter\na_total{x="\\q"} 1\n'
validator_refuses "decreasing buckets" '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'
validator_refuses "_count not the +Inf bucket" '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 1\n'
validator_refuses "no +Inf bucket" '# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'
validator_refuses "a value that is no number" '# HELP g h\n# TYPE g gauge\ng one\n'
validator_refuses "no HELP" '# TYPE g gauge\ng 1\n'

# ------------------------------------------------------------------ set up
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null || exit 1
q >/dev/null <<'EOF' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips bigint);
INSERT INTO driver_stats VALUES (2001, '2022-05-01 00:00:00+00', NULL, 0.75, 0.5, 7),
                                (2001, '2022-05-02 00:00:00+00', NULL, 0.125, 0.5, 8),
                                (2002, '2022-05-02 00:00:00+00', NULL, 0.5, 0.5, 9);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "avg_daily_trips", "dtype": "int64"}]', 'driver_stats_push_source');
SELECT feast_apply_feature_view('driver_batch_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'driver_stats_source');
EOF

DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
start_server main "$DSN" --pool 2 --max-body 64k || { bad "server did not start"; exit 1; }
URLPORT=$PORT
echo "cfeast-server on 127.0.0.1:$PORT (pid $PID)"

# expected counts: EXP["endpoint status"]
declare -A EXP
ROWS_PUSHED=0
ROWS_WRITTEN=0
ROWS_MAT=0
label_of() {
	case "$1" in
	/health | /push | /get-online-features | /write-to-online-store | /materialize | /materialize-incremental | /metrics) echo "$1" ;;
	*) echo other ;;
	esac
}
count() { local k="$(label_of "$1") $2"; EXP[$k]=$((${EXP[$k]:-0} + 1)); }

# req STATUS METHOD PATH [BODY]: one request that must get STATUS; sets ROWS (X-Cfeast-Rows)
req() {
	local want=$1 method=$2 path=$3 data=${4-} args got
	args=(-s -o "$W/body" -D "$W/headers" -w '%{http_code}' -X "$method")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	got=$(curl "${args[@]}" "http://127.0.0.1:$URLPORT$path")
	ROWS=$(tr -d '\r' <"$W/headers" | sed -n 's/^X-Cfeast-Rows: //Ip')
	count "$path" "$got"
	[ "$got" = "$want" ] || bad "$method $path: status $got, expected $want: $(head -c 300 "$W/body")"
}

# scrape [PORT]: GET /metrics into $W/page.txt, validated, samples in $W/samples.txt
SCRAPES=0
scrape() {
	local port=${1:-$URLPORT} st
	st=$(curl -s -o "$W/page.txt" -D "$W/page.headers" -w '%{http_code}' "http://127.0.0.1:$port/metrics")
	[ "$port" = "$URLPORT" ] && count /metrics "$st"
	[ "$st" = 200 ] || { bad "GET /metrics: status $st"; return 1; }
	if ! python3 test/lib/promtext.py "$W/page.txt" "$W/samples.txt" >"$W/promtext.out"; then
		bad "the page is not valid exposition text: $(head -5 "$W/promtext.out")"
		return 1
	fi
	return 0
}
# value 'NAME{LABELS}' (labels sorted by name): the sample's value, or "absent"
value() {
	K="$1 " awk 'BEGIN {k = ENVIRON["K"]} substr($0, 1, length(k)) == k {print $NF; f = 1; exit} END {if (!f) print "absent"}' "$W/samples.txt"
}
expect_value() {
	local v
	v=$(value "$2")
	if [ "$v" = "$3" ]; then ok "$1 ($2 = $v)"; else bad "$1: $2 = $v, expected $3"; fi
}

# ------------------------------------------------------------------ a scripted sequence
PUSH1='{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1001, 1002],
 "event_timestamp": ["2022-05-13T10:00:00Z", "2022-05-13T10:00:00Z"], "conv_rate": [0.5, 0.25],
 "acc_rate": [1.0, 0.75], "avg_daily_trips": [10, 20]}}'
PUSH2='{"push_source_name": "driver_stats_push_source", "df": [{"driver_id": 1003,
 "event_timestamp": "2022-05-13T10:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 3}]}'
# an older row for 1001: accepted (counted), left stale in the online table
PUSH3='{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1001, 1004, 1005],
 "event_timestamp": ["2022-05-12T10:00:00Z", "2022-05-13T10:00:00Z", "2022-05-13T10:00:00Z"],
 "conv_rate": [0.1, 0.2, 0.3], "acc_rate": [0.1, 0.2, 0.3], "avg_daily_trips": [1, 2, 3]}}'
READ='{"entities": {"driver_id": [1001, 1002, 9999]}, "features": ["driver_hourly_stats:conv_rate"]}'

scrape || exit 1
expect_value "a fresh server: no request counted yet" 'cfeast_http_request_duration_seconds_count{endpoint="/push"}' 0
for i in 1 2 3; do req 200 GET /health; done
req 200 POST /push "$PUSH1"; ROWS_PUSHED=$((ROWS_PUSHED + ROWS)); [ "$ROWS" = 2 ] || bad "push 1: X-Cfeast-Rows $ROWS"
req 200 POST /push "$PUSH2"; ROWS_PUSHED=$((ROWS_PUSHED + ROWS))
req 200 POST /push "$PUSH3"; ROWS_PUSHED=$((ROWS_PUSHED + ROWS)); [ "$ROWS" = 3 ] || bad "push 3: X-Cfeast-Rows $ROWS"
req 422 POST /push '{"push_source_name": "no_such_source", "df": {"driver_id": [1]}}'
req 422 POST /push '{"push_source_name": "no_such_source", "df": {"driver_id": [1]}}'
req 422 POST /push '{"push_source_name": '
req 422 POST /push '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [7],
 "event_timestamp": ["2022-05-13T10:00:00Z"], "conv_rate": ["abc"], "acc_rate": [0.5], "avg_daily_trips": [1]}}'
for i in 1 2 3 4 5; do req 200 POST /get-online-features "$READ"; done
req 404 POST /get-online-features '{"entities": {"driver_id": [1]}, "features": ["no_such_view:x"]}'
req 404 POST /get-online-features '{"entities": {"driver_id": [1]}, "features": ["no_such_view:x"]}'
req 200 POST /write-to-online-store '{"feature_view_name": "driver_batch_stats", "df": {"driver_id": [3001, 3002],
 "conv_rate": [0.5, 0.25], "event_timestamp": ["2022-05-14T00:00:00", "2022-05-14T00:00:00"], "created": [null, null]}}'
ROWS_WRITTEN=$((ROWS_WRITTEN + ROWS)); [ "$ROWS" = 2 ] || bad "write: X-Cfeast-Rows $ROWS"
req 404 POST /write-to-online-store '{"feature_view_name": "no_such_view", "df": {}}'
req 200 POST /materialize '{"start_ts": "2022-04-01T00:00:00Z", "end_ts": "2022-06-01T00:00:00Z", "feature_views": ["driver_batch_stats"]}'
ROWS_MAT=$((ROWS_MAT + ROWS)); [ "$ROWS" -ge 1 ] 2>/dev/null || bad "materialize: X-Cfeast-Rows '$ROWS'"
req 200 POST /materialize-incremental '{"end_ts": "2022-06-02T00:00:00Z", "feature_views": ["driver_batch_stats"]}'
ROWS_MAT=$((ROWS_MAT + ${ROWS:-0}))
req 422 POST /materialize '{"end_ts": "2022-06-01T00:00:00Z"}'
for i in 1 2 3; do req 404 GET /nope; done
req 404 GET '/push/x'
req 404 POST '/metrics/'
req 405 GET /push
req 405 GET /push
req 405 POST /health '{}'
req 405 POST /metrics '{}'
# over --max-body (64k): refused from Content-Length, before the body is read
head -c 70000 /dev/zero | tr '\0' 'x' >"$W/big.json"
req 413 POST /push "@$W/big.json"
scrape || exit 1
scrape || exit 1

# ------------------------------------------------------------------ concurrent bursts (the counters are atomic)
burst() { # N PARALLEL METHOD PATH [BODY]
	local n=$1 par=$2 method=$3 path=$4 data=${5-} st
	local args=(-s -o /dev/null -w '%{http_code}\n' -X "$method")
	if [ -n "$data" ]; then
		printf '%s' "$data" >"$W/burst.json"
		args+=(-H 'Content-Type: application/json' --data-binary "@$W/burst.json")
	fi
	yes "http://127.0.0.1:$URLPORT$path" | head -n "$n" | xargs -P "$par" -n 1 curl "${args[@]}" >"$W/burst.out"
	while read -r st; do count "$path" "$st"; done <"$W/burst.out"
	[ "$(sort -u "$W/burst.out")" = "$6" ] || bad "burst $method $path: statuses $(sort "$W/burst.out" | uniq -c | tr '\n' ' ')"
}
burst 200 16 GET /nope "" 404
burst 100 16 GET /health "" 200
burst 60 8 POST /get-online-features "$READ" 200
burst 40 8 POST /push "$PUSH2" 200
ROWS_PUSHED=$((ROWS_PUSHED + 40))
ok "bursts sent: 200 x 404, 100 /health, 60 reads, 40 pushes, at 8-16 at once"

# ------------------------------------------------------------------ a saturated pool
# a session locks the push view's online table: two pushes hold both connections waiting
# for it, two more queue for a worker; /metrics (its own worker) answers meanwhile
sleep 0.2
scrape || exit 1
WAITS0=$(value 'cfeast_pool_waits_total{pool="write"}')
psql -XAtq -d "$DB" -c "BEGIN; LOCK TABLE feast_online.driver_hourly_stats IN EXCLUSIVE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
LOCKER=$!
BG_PIDS+=("$LOCKER")
for i in $(seq 1 100); do
	[ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'driver_hourly_stats' AND l.mode = 'ExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.05
done
SLOW=()
for i in 1 2 3 4; do
	curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' --data-binary "$PUSH2" \
		"http://127.0.0.1:$URLPORT/push" >"$W/slow.$i" &
	SLOW+=($!)
	sleep 0.1
done
# the queued pushes get 503 once they wait 10 s (the pool wait): poll cheaply (curl and grep),
# then validate one page, and let the lock go
T0=$(date +%s.%N)
seen=no
for i in $(seq 1 100); do
	st=$(curl -s -o "$W/poll.txt" -w '%{http_code}' "http://127.0.0.1:$URLPORT/metrics")
	count /metrics "$st"
	if grep -qx 'cfeast_pool_waiting_requests{pool="write"} 2' "$W/poll.txt" &&
		grep -qx 'cfeast_pool_connections_in_use{pool="write"} 2' "$W/poll.txt"; then
		seen=yes
		break
	fi
	sleep 0.05
done
[ $seen = yes ] && ok "/metrics answers while the pool is saturated: 2 connections in use, 2 requests waiting" ||
	bad "never saw 2 in use and 2 waiting: $(grep -E '^cfeast_pool_(waiting|connections_in_use)' "$W/poll.txt" | tr '\n' ' ')"
scrape
# (a request just answered may not have been counted out yet: a few tries)
for i in 1 2 3 4 5; do
	[ "$(value 'cfeast_http_requests_in_flight{}')" = 5 ] && break
	sleep 0.05
	scrape
done
expect_value "in flight: the 4 pushes and this scrape" 'cfeast_http_requests_in_flight{}' 5
# each push takes over 1 s
awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN {exit !(now - t0 < 1.2)}' && sleep 1.2
HELD=$(awk -v t0="$T0" -v now="$(date +%s.%N)" 'BEGIN {printf "%.1f", now - t0 + 0.4}')
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE%' AND pid <> pg_backend_pid()" >/dev/null
for p in "${SLOW[@]}"; do wait "$p"; done
wait "$LOCKER" 2>/dev/null
for i in 1 2 3 4; do
	st=$(cat "$W/slow.$i")
	count /push "$st"
	[ "$st" = 200 ] && ROWS_PUSHED=$((ROWS_PUSHED + 1))
	[ "$st" = 200 ] || bad "slow push $i: status $st (the lock was held about $HELD s; over 10 s the queued ones get 503)"
done

# ------------------------------------------------------------------ the final page against the script
sleep 0.2
scrape || exit 1
cp "$W/page.txt" "$W/final-page.txt"
if command -v promtool >/dev/null; then
	if promtool check metrics <"$W/page.txt" >"$W/promtool.out" 2>&1; then
		ok "promtool check metrics: no problem"
	else
		bad "promtool check metrics: $(head -5 "$W/promtool.out")"
	fi
else
	echo "note: promtool not installed (Debian package prometheus); test/lib/promtext.py alone checked the format"
fi
ok "the page is valid exposition text (test/lib/promtext.py)"
grep -q '^Content-Type: text/plain; version=0.0.4; charset=utf-8' <(tr -d '\r' <"$W/page.headers") &&
	ok "Content-Type: text/plain; version=0.0.4" || bad "Content-Type: $(grep -i content-type "$W/page.headers")"

# this scrape is not counted on its own page
k="/metrics 200"
EXP[$k]=$((EXP[$k] - 1))
# requests by endpoint and status: exactly the expected series, with the expected values
: >"$W/expected-requests.txt"
for k in "${!EXP[@]}"; do
	printf 'cfeast_http_requests_total{endpoint="%s",status="%s"} %s\n' "${k% *}" "${k#* }" "${EXP[$k]}" >>"$W/expected-requests.txt"
done
sort -o "$W/expected-requests.txt" "$W/expected-requests.txt"
grep '^cfeast_http_requests_total{' "$W/samples.txt" | sort >"$W/got-requests.txt"
if diff "$W/expected-requests.txt" "$W/got-requests.txt" >"$W/requests.diff"; then
	ok "cfeast_http_requests_total: every endpoint/status count as scripted ($(wc -l <"$W/got-requests.txt") series, $(awk '{s += $2} END {print s}' "$W/got-requests.txt") requests)"
else
	bad "cfeast_http_requests_total differs from the script (< expected, > page):"
	cat "$W/requests.diff"
fi
# the histogram's counts add up to the requests of each endpoint
for ep in /health /push /get-online-features /write-to-online-store /materialize /materialize-incremental /metrics other; do
	n=$(grep -F "cfeast_http_requests_total{endpoint=\"$ep\"," "$W/samples.txt" | awk '{s += $2} END {print s + 0}')
	expect_value "histogram count of $ep = its requests" "cfeast_http_request_duration_seconds_count{endpoint=\"$ep\"}" "$n"
done
sum=$(value 'cfeast_http_request_duration_seconds_sum{endpoint="/push"}')
awk -v s="$sum" 'BEGIN {exit !(s >= 4)}' && ok "/push duration sum $sum s includes the 4 pushes of over 1 s" || bad "/push duration sum $sum"
over1=$(($(value 'cfeast_http_request_duration_seconds_count{endpoint="/push"}') - $(value 'cfeast_http_request_duration_seconds_bucket{endpoint="/push",le="1"}')))
[ "$over1" -ge 4 ] && ok "/push: $over1 requests in buckets above 1 s (the 4 that waited)" || bad "/push: $over1 requests above 1 s, expected >= 4"
fast=$(value 'cfeast_http_request_duration_seconds_bucket{endpoint="other",le="0.1"}')
[ "$fast" -ge 150 ] && ok "404s: $fast of $(value 'cfeast_http_request_duration_seconds_count{endpoint="other"}') under 100 ms" || bad "404s: only $fast under 100 ms"

# rows
expect_value "rows pushed: the sum of X-Cfeast-Rows" 'cfeast_rows_pushed_total{push_source="driver_stats_push_source"}' "$ROWS_PUSHED"
expect_value "rows written to the online store" 'cfeast_rows_written_online_total{feature_view="driver_batch_stats"}' "$ROWS_WRITTEN"
expect_value "rows materialized" 'cfeast_rows_materialized_total{}' "$ROWS_MAT"
grep -q 'no_such' "$W/samples.txt" && bad "an unknown name became a label value" || ok "failed requests' names are not label values"

# the pool
expect_value "pool size" 'cfeast_pool_size{pool="write"}' 2
expect_value "no connection in use" 'cfeast_pool_connections_in_use{pool="write"}' 0
expect_value "no request waiting" 'cfeast_pool_waiting_requests{pool="write"}' 0
expect_value "both connections open" 'cfeast_pool_connections_open{pool="write"}' 2
expect_value "2 more pool waits (the queued pushes)" 'cfeast_pool_waits_total{pool="write"}' $((WAITS0 + 2))
expect_value "no wait timed out" 'cfeast_pool_wait_timeouts_total{pool="write"}' 0
jobs=0
for k in "${!EXP[@]}"; do
	case "$k" in
	"/push "* | "/get-online-features "* | "/write-to-online-store "* | "/materialize"*) [ "${k#* }" != 405 ] && [ "${k#* }" != 413 ] && jobs=$((jobs + EXP[$k])) ;;
	esac
done
expect_value "every POST that reached a worker went through the pool's queue" 'cfeast_pool_requests_total{pool="write"}' "$jobs"
expect_value "no read pool without --read-dsn" 'cfeast_pool_size{pool="read"}' absent

# the per-view figures the database keeps, when this cfeast has them
HAVE_FRESH=$(q -c "SELECT count(*) = 5 FROM pg_attribute WHERE attrelid = to_regclass('feast.freshness') AND NOT attisdropped AND attname IN ('feature_view', 'rows_written', 'rows_stale', 'newest_event_timestamp', 'last_write_at')")
if [ "$HAVE_FRESH" = t ]; then
	expect_value "freshness read" 'cfeast_freshness_up{}' 1
	while IFS='|' read -r v written stale; do
		expect_value "rows written of $v as in feast.freshness" "cfeast_feature_view_rows_written_total{feature_view=\"$v\"}" "$written"
		expect_value "rows stale of $v as in feast.freshness" "cfeast_feature_view_rows_stale_total{feature_view=\"$v\"}" "$stale"
	done < <(q -c "SELECT feature_view, rows_written, rows_stale FROM feast.freshness WHERE rows_written IS NOT NULL AND rows_stale IS NOT NULL")
else
	expect_value "feast.freshness without the per-view columns: freshness_up 0" 'cfeast_freshness_up{}' 0
	grep -q '^cfeast_feature_view_' "$W/samples.txt" && bad "per-view samples without their columns" ||
		ok "no per-view samples without feast.freshness's columns; the rest of the page is there"
fi

# ------------------------------------------------------------------ per-view figures from SQL
# a database whose feast.freshness has the five columns (a stand-in view until every installed
# cfeast has them), one view named so that its label value needs all three escapes
FDB=cfeast_check_metrics_fresh
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $FDB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $FDB" >/dev/null || exit 1
psql -XAtq -v ON_ERROR_STOP=1 -d "$FDB" >/dev/null <<'EOF' || bad "stand-in feast.freshness"
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
ALTER EXTENSION cfeast DROP VIEW feast.freshness;
DROP VIEW feast.freshness;
CREATE VIEW feast.freshness AS
SELECT * FROM (VALUES ('plain_view', 120::bigint, 7::bigint, '2022-05-13 10:00:00+00'::timestamptz, '2022-05-14 00:00:00.5+00'::timestamptz),
                      (E'odd "view" \\ with\nnewline', 3, 0, NULL, '2022-05-14 00:00:00+00'),
                      ('never_written', NULL, NULL, NULL, NULL))
       AS t (feature_view, rows_written, rows_stale, newest_event_timestamp, last_write_at);
EOF
start_server fresh "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$FDB" --pool 1 || { bad "server did not start"; exit 1; }
if scrape "$PORT"; then
	expect_value "freshness read" 'cfeast_freshness_up{}' 1
	expect_value "rows written" 'cfeast_feature_view_rows_written_total{feature_view="plain_view"}' 120
	expect_value "rows stale" 'cfeast_feature_view_rows_stale_total{feature_view="plain_view"}' 7
	expect_value "newest event time" 'cfeast_feature_view_newest_event_timestamp_seconds{feature_view="plain_view"}' 1652436000
	expect_value "last write" 'cfeast_feature_view_last_write_timestamp_seconds{feature_view="plain_view"}' 1652486400.5
	expect_value "a name with quotes, a backslash and a newline, escaped" \
		'cfeast_feature_view_rows_written_total{feature_view="odd \"view\" \\ with\nnewline"}' 3
	expect_value "a NULL figure: no sample" 'cfeast_feature_view_newest_event_timestamp_seconds{feature_view="odd \"view\" \\ with\nnewline"}' absent
	grep -q never_written "$W/samples.txt" && bad "a view with no figures has samples" || ok "a view with no figures has no samples"
	if command -v promtool >/dev/null; then
		promtool check metrics <"$W/page.txt" >"$W/promtool.out" 2>&1 && ok "promtool: the page with per-view figures" ||
			bad "promtool: $(head -5 "$W/promtool.out")"
	fi
fi
psql -XAtq -d postgres -c "DROP DATABASE $FDB WITH (FORCE)" >/dev/null 2>&1

# ------------------------------------------------------------------ a database that does not answer
start_server nodb "host=$PGHOST port=$PGPORT user=$PGUSER dbname=cfeast_no_such_database" --pool 1 ||
	{ bad "server without its database did not start"; exit 1; }
NODB=$PORT
st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NODB/health")
[ "$st" = 503 ] && ok "no database: /health 503" || bad "no database: /health $st"
curl -s -o /dev/null "http://127.0.0.1:$NODB/nope"
sleep 0.1
if scrape "$NODB"; then
	ok "no database: /metrics 200, valid exposition text"
	expect_value "no database: freshness_up 0" 'cfeast_freshness_up{}' 0
	expect_value "no database: its own counters" 'cfeast_http_requests_total{endpoint="/health",status="503"}' 1
	expect_value "no database: 404 counted" 'cfeast_http_requests_total{endpoint="other",status="404"}' 1
	f=$(value 'cfeast_pool_connect_failures_total{pool="write"}')
	[ "$f" != absent ] && [ "$f" -ge 1 ] && ok "no database: connect failures counted ($f)" || bad "no database: connect failures $f"
fi
grep -q "cfeast_no_such_database" "$W/page.txt" && bad "the page names the database" || ok "the page names no database or path"

echo "metrics: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
