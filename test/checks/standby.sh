#!/bin/bash
# test/checks/standby.sh: reads from a hot standby.  Makes a streaming standby
# of the test cluster (pg_basebackup -R, started on another port), then:
#  - every cfeast write function called on the standby fails with SQLSTATE
#    25006 and PostgreSQL's "cannot execute ... in a read-only transaction",
#    and writes nothing; reads there answer as on the primary;
#  - cfeast-server --dsn=primary --read-dsn=standby: pushes go to the primary,
#    reads to the standby (with replay paused a read still shows the old
#    value; once replay resumes and catches up, the read equals the
#    primary's answer byte for byte); /health checks both; /metrics shows
#    both pools;
#  - a libpq multi-host --read-dsn, primary first, with
#    target_session_attrs=prefer-standby connects to the standby, and falls
#    back to the primary when the standby stops;
#  - --dsn pointing at the standby: /push answers 25006 (500) and PostgreSQL's
#    message, not an internal error.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP, CF_PGBIN (test/run-all.sh sets them).
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_standby
W="$CF_TMP/check-standby"
WRAP=${CFEAST_SERVER_WRAPPER:-}
SDATA="$W/standby"
SSOCK="$W/sock"
SPORT=$((PGPORT + 1))
[ "$SPORT" -gt 65000 ] && SPORT=$((PGPORT - 1))
PASS=0
FAIL=0
SERVER_PIDS=()

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }               # the primary
sq() { psql -XAtq -v ON_ERROR_STOP=1 -h "$SSOCK" -p "$SPORT" -d "$DB" "$@"; } # the standby
pgctl_standby() { runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$SDATA" -l "$W/standby.log" -w "$@" >/dev/null; }

cleanup() {
	local p
	for p in "${SERVER_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SERVER_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ -f "$SDATA/postmaster.pid" ] && pgctl_standby -m immediate stop
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
}
trap cleanup EXIT

. "$CF_ROOT/test/lib/server.sh"

# wait until the standby has replayed everything the primary has written so far
catch_up() {
	local lsn i
	lsn=$(q -c "SELECT pg_current_wal_lsn()")
	for i in $(seq 1 300); do
		[ "$(sq -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ] && return 0
		sleep 0.1
	done
	bad "the standby did not replay up to $lsn in 30 s"
	return 1
}

# sql_error SQL: runs SQL on the standby, sets ERR to "SQLSTATE: message"
sql_error() {
	ERR=$(psql -XAtq -h "$SSOCK" -p "$SPORT" -d "$DB" -c "\\set VERBOSITY verbose" -c "$1" 2>&1 >/dev/null |
		sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)$/\1: \2/p' | head -1)
}

# call PORT METHOD PATH [BODY]: sets STATUS, BODY
call() {
	local port=$1 method=$2 path=$3 data=${4-}
	local args=(-s -o "$W/body" -w '%{http_code}' -X "$method")
	[ -n "$data" ] && args+=(-H 'Content-Type: application/json' --data-binary "$data")
	STATUS=$(curl "${args[@]}" "http://127.0.0.1:$port$path")
	BODY=$(cat "$W/body")
}
expect_status() {
	if [ "$STATUS" = "$2" ]; then ok "$1 ($STATUS)"; else bad "$1: status $STATUS, expected $2; body: $BODY"; fi
}

# ------------------------------------------------------------------ the primary's store
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null || exit 1
q >/dev/null <<'EOF' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips bigint);
INSERT INTO driver_stats VALUES (2001, '2022-05-01 00:00:00+00', NULL, 0.75, 0.5, 7);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "avg_daily_trips", "dtype": "int64"}]', 'driver_stats_push_source');
SELECT feast_apply_feature_view('driver_batch_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'driver_stats_source');
SELECT feast_push('driver_stats_push_source',
    (SELECT jsonb_agg(jsonb_build_object('driver_id', i, 'event_timestamp', '2022-05-13T10:00:00Z',
                      'conv_rate', i / 1000.0, 'acc_rate', 0.5, 'avg_daily_trips', i))
       FROM generate_series(1, 200) i));
EOF

# ------------------------------------------------------------------ the standby
rm -rf "$SDATA" "$SSOCK"
mkdir -p "$W" "$SSOCK"
chown postgres: "$W" "$SSOCK"
if ! runuser -u postgres -- "$CF_PGBIN/pg_basebackup" -D "$SDATA" -R -X stream --no-sync \
	-h "$PGHOST" -p "$PGPORT" -U postgres >"$W/basebackup.log" 2>&1; then
	cat "$W/basebackup.log"
	bad "pg_basebackup -R failed"
	exit 1
fi
# the port only names the socket file in the standby's own directory; a hot standby needs
# these settings at least as high as the primary's (it was started with them on its command line)
cat >>"$SDATA/postgresql.conf" <<EOF
port = $SPORT
unix_socket_directories = '$SSOCK'
listen_addresses = ''
hot_standby = on
fsync = off
EOF
for s in max_connections max_prepared_transactions max_locks_per_transaction max_wal_senders max_worker_processes; do
	echo "$s = $(q -c "SHOW $s")" >>"$SDATA/postgresql.conf"
done
pgctl_standby start || { cat "$W/standby.log"; bad "the standby did not start"; exit 1; }
[ "$(sq -c "SELECT pg_is_in_recovery()")" = t ] && ok "a streaming hot standby on port $SPORT" || bad "the standby is not in recovery"
q -c "SELECT feast_push('driver_stats_push_source', '[{\"driver_id\": 1, \"event_timestamp\": \"2022-05-14T00:00:00Z\", \"conv_rate\": 0.125, \"acc_rate\": 0.5, \"avg_daily_trips\": 11}]')" >/dev/null
catch_up && ok "the standby replays a push made after the base backup"

# ------------------------------------------------------------------ writes on the standby over SQL
PUSHSQL="SELECT feast_push('driver_stats_push_source', '[{\"driver_id\": 7777, \"event_timestamp\": \"2022-05-15T00:00:00Z\", \"conv_rate\": 0.5, \"acc_rate\": 0.5, \"avg_daily_trips\": 1}]')"
for to in online offline online_and_offline; do
	sql_error "${PUSHSQL%)}, '$to')"
	case "$ERR" in
	"25006: cannot execute "*" in a read-only transaction") ok "feast_push (to $to) on the standby: $ERR" ;;
	*) bad "feast_push (to $to) on the standby: '$ERR', expected 25006 cannot execute ... in a read-only transaction" ;;
	esac
done
for f in "SELECT feast_write_online('driver_batch_stats', '[{\"driver_id\": 7, \"event_timestamp\": \"2022-05-15T00:00:00Z\", \"conv_rate\": 0.5}]')" \
	"SELECT feast_materialize('2022-04-01', '2022-06-01')" \
	"SELECT feast_materialize_incremental('2022-06-01')" \
	"SELECT feast_apply_entity('rider', 'rider_id', 'int64')"; do
	sql_error "$f"
	case "$ERR" in
	"25006: cannot execute "*" in a read-only transaction") ok "${f:7:30}... on the standby: $ERR" ;;
	*) bad "${f:7:40}... on the standby: '$ERR', expected 25006" ;;
	esac
done
# and on the primary, a read-only transaction refuses the same way
ERR=$(psql -XAtq -d "$DB" -c "\\set VERBOSITY verbose" -c "SET default_transaction_read_only = on" -c "$PUSHSQL" 2>&1 >/dev/null |
	sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)$/\1: \2/p' | head -1)
case "$ERR" in
"25006: cannot execute "*" in a read-only transaction") ok "feast_push in a read-only transaction on the primary: $ERR" ;;
*) bad "feast_push in a read-only transaction on the primary: '$ERR'" ;;
esac
[ "$(q -c "SELECT count(*) FROM feast_online.driver_hourly_stats WHERE driver_id = 7777")" = 0 ] && [ "$(sq -c "SELECT count(*) FROM feast_online.driver_hourly_stats WHERE driver_id = 7777")" = 0 ] &&
	ok "nothing was written" || bad "a refused push wrote a row"

# reads on the standby answer as on the primary
READSQL="SELECT feast_get_online_features('{driver_hourly_stats:conv_rate,driver_hourly_stats:avg_daily_trips}', '{\"driver_id\": [1, 2, 150, 9999]}')"
[ "$(sq -c "$READSQL")" = "$(q -c "$READSQL")" ] && ok "feast_get_online_features on the standby = on the primary" ||
	bad "the standby's read differs: $(sq -c "$READSQL")"

# ------------------------------------------------------------------ the server: writes on --dsn, reads on --read-dsn
PRIMARY="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
STANDBY="host=$SSOCK port=$SPORT user=$PGUSER dbname=$DB"
start_server split "$PRIMARY" --read-dsn "$STANDBY" --pool 2 --read-pool 3 || { bad "server did not start"; exit 1; }
SPLIT=$PORT
grep -q "reads on --read-dsn (read pool 3)" "$W/split.err" && ok "the server says reads go to --read-dsn" || bad "no read pool line: $(cat "$W/split.err")"
call "$SPLIT" GET /health
expect_status "/health with both databases up" 200
[ "$(sq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND datname = '$DB'")" = 4 ] &&
	ok "the standby has the read pool's 3 connections and its /health one" ||
	bad "standby connections: $(sq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server'")"

READ='{"entities": {"driver_id": [1, 2, 150, 9999]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]}'
PUSH='{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1, 9999], "event_timestamp": ["2022-05-16T00:00:00Z", "2022-05-16T00:00:00Z"],
 "conv_rate": [0.875, 0.25], "acc_rate": [0.5, 0.5], "avg_daily_trips": [42, 43]}}'
call "$SPLIT" POST /get-online-features "$READ"
expect_status "read through the server" 200
[ "$BODY" = "$(q -c "$READSQL")" ] && ok "the server's read = the primary's answer, byte for byte" || bad "read: $BODY"

# with replay paused, a push lands on the primary and the server's reads still show the standby's rows
sq -c "SELECT pg_wal_replay_pause()" >/dev/null
call "$SPLIT" POST /push "$PUSH"
expect_status "push through the server (to the primary)" 200
[ "$(q -c "SELECT avg_daily_trips FROM feast_online.driver_hourly_stats WHERE driver_id = 1")" = 42 ] &&
	ok "the push is on the primary" || bad "the push is not on the primary"
call "$SPLIT" POST /get-online-features "$READ"
printf '%s' "$BODY" | grep -q '"values": \[11, 2, 150, null\]' && ok "replay paused: the server's read is the standby's (old) answer" ||
	bad "replay paused: read $BODY"
sq -c "SELECT pg_wal_replay_resume()" >/dev/null
catch_up
call "$SPLIT" POST /get-online-features "$READ"
[ "$BODY" = "$(q -c "$READSQL")" ] && ok "after catch-up the server's read = the primary's answer, byte for byte" || bad "after catch-up: $BODY"
printf '%s' "$BODY" | grep -q '"values": \[42, 2, 150, 43\]' && ok "after catch-up: the pushed values" || bad "after catch-up: $BODY"
# the other writes go to the primary too
call "$SPLIT" POST /write-to-online-store '{"feature_view_name": "driver_batch_stats", "df": {"driver_id": [5], "conv_rate": [0.5], "event_timestamp": ["2022-05-14T00:00:00"], "created": [null]}}'
expect_status "/write-to-online-store through the split server" 200
call "$SPLIT" POST /materialize '{"start_ts": "2022-04-01T00:00:00Z", "end_ts": "2022-06-01T00:00:00Z", "feature_views": ["driver_batch_stats"]}'
expect_status "/materialize through the split server" 200
[ "$(q -c "SELECT count(*) FROM feast_online.driver_batch_stats")" = 2 ] && ok "written on the primary" || bad "batch view rows: $(q -c "SELECT count(*) FROM feast_online.driver_batch_stats")"
curl -s "http://127.0.0.1:$SPLIT/metrics" >"$W/split.metrics"
grep -qx 'cfeast_pool_size{pool="read"} 3' "$W/split.metrics" && grep -qx 'cfeast_pool_size{pool="write"} 2' "$W/split.metrics" &&
	ok "/metrics: both pools" || bad "/metrics pools: $(grep pool_size "$W/split.metrics")"
grep -qx 'cfeast_pool_requests_total{pool="read"} 3' "$W/split.metrics" && grep -qx 'cfeast_pool_requests_total{pool="write"} 3' "$W/split.metrics" &&
	ok "/metrics: 3 reads on the read pool, 3 writes on the write pool" || bad "/metrics pool requests: $(grep pool_requests "$W/split.metrics")"
python3 test/lib/promtext.py "$W/split.metrics" && ok "/metrics with two pools is valid exposition text" || bad "/metrics with two pools: invalid"

# ------------------------------------------------------------------ the server's write pool on the standby
start_server onstandby "$STANDBY" --pool 1 || { bad "server did not start"; exit 1; }
call "$PORT" POST /push "$PUSH"
expect_status "/push with --dsn on the standby" 500
printf '%s' "$BODY" | grep -q '"sqlstate":"25006"' && printf '%s' "$BODY" | grep -q 'cannot execute .* in a read-only transaction' &&
	ok "/push on the standby: 25006 and PostgreSQL's message: $BODY" || bad "/push on the standby: $BODY"

# ------------------------------------------------------------------ a multi-host read DSN: prefer-standby
MULTI="host=$PGHOST,$SSOCK port=$PGPORT,$SPORT user=$PGUSER dbname=$DB target_session_attrs=prefer-standby"
[ "$(psql -XAtq "$MULTI" -c "SELECT pg_is_in_recovery()")" = t ] &&
	ok "libpq: primary listed first, prefer-standby connects to the standby" || bad "prefer-standby did not pick the standby"
start_server multi "$PRIMARY" --read-dsn "$MULTI" --pool 1 --read-pool 2 || { bad "server did not start"; exit 1; }
MPORT=$PORT
call "$MPORT" POST /get-online-features "$READ"
[ "$STATUS" = 200 ] && [ "$BODY" = "$(q -c "$READSQL")" ] && ok "multi-host --read-dsn: read = the primary's answer" || bad "multi-host read: $STATUS $BODY"
n=$(sq -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND backend_type = 'client backend'")
[ "$n" -ge 3 ] && ok "multi-host --read-dsn: its connections are on the standby ($n with the other servers')" || bad "multi-host: $n connections on the standby"
for p in "${SERVER_PIDS[@]}"; do
	[ "$p" = "$PID" ] || kill "$p" 2>/dev/null
done
pgctl_standby -m fast stop
call "$MPORT" POST /get-online-features "$READ"
[ "$STATUS" = 200 ] && [ "$BODY" = "$(q -c "$READSQL")" ] &&
	ok "standby stopped: the read pool reconnects to the primary, same answer" || bad "after the standby stopped: $STATUS $BODY"
call "$MPORT" GET /health
expect_status "standby stopped: /health (read database now the primary)" 200
[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND datname = '$DB'")" -ge 2 ] &&
	ok "the read connections are on the primary now" || bad "no read connection on the primary"
# a single-host --read-dsn whose database is down: /health says which
start_server readdown "$PRIMARY" --read-dsn "$STANDBY" --pool 1 || { bad "server did not start"; exit 1; }
call "$PORT" GET /health
expect_status "/health with the read database down" 503
printf '%s' "$BODY" | grep -q '"detail":"the read database is unavailable"' && ok "/health names the read database: $BODY" || bad "/health body: $BODY"
printf '%s' "$BODY" | grep -q "$SSOCK" && bad "/health names the socket path" || ok "/health names no path"

# the flags
./cfeast-server --dsn "$PRIMARY" --read-dsn "$STANDBY" --read-pool 0 >/dev/null 2>"$W/flags.err"
st=$?
[ $st = 2 ] && grep -q -- '--read-pool must be between 1 and 1000, got "0"' "$W/flags.err" &&
	ok "--read-pool 0 refused (exit 2)" || bad "--read-pool 0: exit $st, $(cat "$W/flags.err")"
CFEAST_READ_DSN="$PRIMARY" CFEAST_READ_POOL=2 start_server env "$PRIMARY" --pool 1 || bad "server did not start"
grep -q "reads on --read-dsn (read pool 2)" "$W/env.err" && ok "CFEAST_READ_DSN and CFEAST_READ_POOL" || bad "environment: $(cat "$W/env.err")"
CFEAST_READ_DSN= start_server noread "$PRIMARY" --pool 1 || bad "server did not start"
grep -q "reads on --read-dsn" "$W/noread.err" && bad "an empty CFEAST_READ_DSN made a read pool" || ok "an empty CFEAST_READ_DSN: no read pool"

echo "standby: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
