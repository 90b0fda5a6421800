#!/bin/bash
# test/checks/server.sh: cfeast-server end to end.  Starts the server on a
# free port of 127.0.0.1 next to the throwaway cluster and drives every
# endpoint with curl: success paths, every error status, malformed and
# oversized bodies, a role without privileges, the database going away and
# coming back, a graceful stop on SIGTERM with a request in flight, and a
# stop whose drain timeout cancels the query still running.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP, CF_PGBIN (test/run-all.sh sets
# them).  CFEAST_SERVER_WRAPPER runs the server under a tool, e.g.
#   CFEAST_SERVER_WRAPPER="valgrind --error-exitcode=99 --leak-check=full"
# The read and materialize endpoints are tested on their success paths when
# feast_get_online_features / feast_materialize exist, on their error path
# (500, SQLSTATE 42883) when not.
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_server
W="$CF_TMP/check-server"
WRAP=${CFEAST_SERVER_WRAPPER:-}
mkdir -p "$W"
PASS=0
FAIL=0
SERVER_PIDS=()
BG_PIDS=()

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

pg_running() { "$CF_PGBIN/pg_isready" -q -h "$PGHOST" -p "$PGPORT"; }

# start the cluster again with the options it was started with (postmaster.opts)
pg_start() {
	local opts=() args="" i
	eval "opts=($(cat "$CF_TMP/data/postmaster.opts"))"
	for ((i = 1; i < ${#opts[@]}; i++)); do
		if [ "${opts[$i]}" = "-D" ]; then
			i=$((i + 1))
			continue
		fi
		args+="$(printf '%q' "${opts[$i]}") "
	done
	runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$CF_TMP/data" -l "$CF_TMP/server.log" -w \
		-o "$args" start >/dev/null
}

pg_stop() { runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$CF_TMP/data" -m fast -w stop >/dev/null; }

cleanup() {
	local p
	for p in "${SERVER_PIDS[@]}" "${BG_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${SERVER_PIDS[@]}"; do
		wait "$p" 2>/dev/null
	done
	pg_running || pg_start
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
	psql -XAtq -d postgres -c "DROP ROLE IF EXISTS regress_cfs_reader" >/dev/null 2>&1
}
trap cleanup EXIT

. "$CF_ROOT/test/lib/server.sh"

# call METHOD PATH [BODY|@FILE] [curl args...]: sets STATUS, BODY, HEADERS
call() {
	local method=$1 path=$2 data=${3-}
	shift 3 2>/dev/null || shift $#
	local args=(-s -o "$W/body" -D "$W/headers" -w '%{http_code}' -X "$method" "$@")
	if [ -n "$data" ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$data")
	fi
	STATUS=$(curl "${args[@]}" "http://127.0.0.1:$URLPORT$path")
	BODY=$(cat "$W/body")
	HEADERS=$(tr -d '\r' <"$W/headers")
}

# expect NAME STATUS [SQLSTATE]: the status, and the SQLSTATE in the JSON body
expect() {
	local name=$1 status=$2 state=${3-}
	if [ "$STATUS" != "$status" ]; then
		bad "$name: status $STATUS, expected $status; body: $BODY"
	elif [ -n "$state" ] && ! printf '%s' "$BODY" | grep -q "\"sqlstate\":\"$state\""; then
		bad "$name: body lacks sqlstate $state: $BODY"
	else
		ok "$name ($STATUS${state:+ $state})"
	fi
}

# is SQL (over the JSON body as :'j') true?
json_true() {
	local r
	r=$(printf '%s\n' "SELECT ($1)::text" | q -v j="$BODY" 2>&1)
	[ "$r" = true ]
}
expect_json() {
	if json_true "$2"; then ok "$1"; else bad "$1: not ($2): $BODY"; fi
}
expect_sql() {
	local r
	r=$(q -c "$2" 2>&1)
	if [ "$r" = "$3" ]; then ok "$1"; else bad "$1: $2 gave '$r', expected '$3'"; fi
}
# wait until a cfeast-server connection waits on a lock (the request is in flight)
# hold a lock of mode $1 ("EXCLUSIVE", "ACCESS EXCLUSIVE") on the online table for $2 s in the
# background (its pid in LOCKER) and wait until it is granted
hold_table_lock() {
	local i granted
	granted="$(echo "$1" | sed 's/ACCESS /Access/; s/EXCLUSIVE/Exclusive/')Lock"
	psql -XAtq -d "$DB" -c "BEGIN; LOCK TABLE feast_online.driver_hourly_stats IN $1 MODE; SELECT pg_sleep($2); COMMIT;" >/dev/null 2>&1 &
	LOCKER=$!
	BG_PIDS+=($LOCKER)
	for i in $(seq 1 50); do
		[ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'driver_hourly_stats' AND l.mode = '$granted' AND l.granted")" = 1 ] && break
		sleep 0.05
	done
}
wait_lock_waiter() {
	local i
	for i in $(seq 1 200); do
		[ "$(q -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND wait_event_type = 'Lock'")" -ge 1 ] && return 0
		sleep 0.05
	done
	bad "no request of the server waits on the lock"
}
has_header() { printf '%s\n' "$HEADERS" | grep -qi "^$1\$"; }

# ------------------------------------------------------------------ set up
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null || exit 1
q >/dev/null <<'EOF' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips bigint);
INSERT INTO driver_stats VALUES (2001, '2022-05-01 00:00:00+00', NULL, 0.75, 0.5, 7),
                                (2001, '2022-05-02 00:00:00+00', NULL, 0.125, 0.5, 8);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float32"},
      {"name": "avg_daily_trips", "dtype": "int64"}]', 'driver_stats_push_source');
SELECT feast_apply_feature_view('driver_batch_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}]', 'driver_stats_source');
SELECT feast_apply_feature_service('driver_service', '{driver_hourly_stats:conv_rate}');
DROP ROLE IF EXISTS regress_cfs_reader;
CREATE ROLE regress_cfs_reader LOGIN;
EOF

DSN="host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB"
start_server main "$DSN" --pool 2 --max-body 64k || { bad "server did not start"; exit 1; }
MAIN_PID=$PID
URLPORT=$PORT
echo "cfeast-server on 127.0.0.1:$PORT (pid $PID)"

HAVE_READ=$(q -c "SELECT to_regprocedure('feast_get_online_features(text[],jsonb,boolean,text)') IS NOT NULL")
HAVE_MAT=$(q -c "SELECT to_regprocedure('feast_materialize(timestamptz,timestamptz,text[])') IS NOT NULL")
HAVE_MATINC=$(q -c "SELECT to_regprocedure('feast_materialize_incremental(timestamptz,text[])') IS NOT NULL")

# ------------------------------------------------------------------ routing
call GET /health
expect "health" 200
[ -z "$BODY" ] && ok "health: empty body, as Feast" || bad "health body: $BODY"
call GET /nope
expect "unknown path" 404
[ "$BODY" = '{"detail":"Not Found"}' ] && ok "404 body" || bad "404 body: $BODY"
call POST /health '{}'
expect "POST /health" 405
has_header "Allow: GET" && ok "405 names GET" || bad "405 Allow header: $HEADERS"
call GET /push
expect "GET /push" 405
has_header "Allow: POST" && ok "405 names POST" || bad "405 Allow header: $HEADERS"

# ------------------------------------------------------------------ /push
PUSH='{"push_source_name": "driver_stats_push_source",
 "df": {"driver_id": [1001, 1002], "event_timestamp": ["2022-05-13 10:59:42+00:00", "2022-05-13 10:59:42"],
        "created": ["2022-05-13 10:59:42", null], "conv_rate": [0.5, 0.25], "acc_rate": [1.0, 0.75],
        "avg_daily_trips": [1000, 20]}}'
call POST /push "$PUSH"
expect "push" 200
has_header "X-Cfeast-Rows: 2" && ok "push: X-Cfeast-Rows 2" || bad "push rows header: $HEADERS"
[ -z "$BODY" ] && ok "push: empty body, as Feast" || bad "push body: $BODY"
expect_sql "push: rows stored" \
	"SELECT string_agg(driver_id || '=' || conv_rate || '/' || avg_daily_trips, ' ' ORDER BY driver_id) FROM feast_online.driver_hourly_stats" \
	"1001=0.5/1000 1002=0.25/20"

call POST /push '{"push_source_name": "driver_stats_push_source", "to": "online_and_offline",
 "df": {"driver_id": [1003], "event_timestamp": ["2022-05-14T00:00:00Z"], "conv_rate": [0.5],
        "acc_rate": [0.5], "avg_daily_trips": [3]}, "allow_registry_cache": true}'
expect "push online_and_offline" 200
expect_sql "push online_and_offline: offline row" "SELECT count(*) FROM driver_stats WHERE driver_id = 1003" 1

# the row form is taken too
call POST /push '{"push_source_name": "driver_stats_push_source", "df": [{"driver_id": 1004,
 "event_timestamp": "2022-05-14T00:00:00Z", "conv_rate": 0.5, "acc_rate": 0.5, "avg_daily_trips": 4}]}'
expect "push, row form" 200

call POST /push '{"push_source_name": "no_such_source", "df": {"driver_id": [1]}}'
expect "push: unknown push source" 422 42704
printf '%s' "$BODY" | grep -q 'push source \\"no_such_source\\" does not exist' &&
	ok "push: message names the source" || bad "push unknown source message: $BODY"

call POST /push '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1005],
 "event_timestamp": ["2022-05-14T00:00:00Z"], "conv_rate": ["abc"], "acc_rate": [0.5], "avg_daily_trips": [3]}}'
expect "push: bad value" 422 22P02
printf '%s' "$BODY" | grep -q 'row 0: field \\"conv_rate\\": expected float32, got string \\"abc\\"' &&
	ok "push: message names row, field, dtype and value" || bad "push bad value message: $BODY"
expect_sql "push: nothing written on a bad row" "SELECT count(*) FROM feast_online.driver_hourly_stats WHERE driver_id = 1005" 0

call POST /push '{"push_source_name": "driver_stats_push_source", "df": {}, "to": "sideways"}'
expect "push: bad \"to\"" 422 22023

# ------------------------------------------------------------------ request bodies
call POST /push '{"push_source_name": "driver_stats_push_source", "df": '
expect "malformed JSON" 422
expect_json "malformed JSON: FastAPI-style detail" \
	":'j'::jsonb #>> '{detail,0,type}' = 'json_invalid' AND :'j'::jsonb #>> '{detail,0,loc,0}' = 'body'"
call POST /push ''
expect "empty body" 422
call POST /push '[1, 2]'
expect "body not an object" 422
expect_json "body not an object: detail" ":'j'::jsonb #>> '{detail,0,type}' = 'model_attributes_type'"
call POST /push '{"df": 3, "to": null}'
expect "push: missing and mistyped fields" 422
expect_json "push: every field problem listed" \
	"(SELECT array_agg(e->>'type' || ':' || (e->'loc'->>1)) FROM jsonb_array_elements(:'j'::jsonb->'detail') e)
	 = '{missing:push_source_name,dict_type:df,string_type:to}'"

# over the limit (64 kB): with Content-Length, and chunked
BIG="$W/big.json"
{
	printf '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [1006], "event_timestamp": ["2022-05-14T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [3]}, "pad": "'
	head -c 70000 /dev/zero | tr '\0' 'x'
	printf '"}'
} >"$BIG"
call POST /push "@$BIG"
expect "body over the limit" 413
call POST /push "@$BIG" -H 'Transfer-Encoding: chunked'
expect "chunked body over the limit" 413
expect_sql "oversized push not written" "SELECT count(*) FROM feast_online.driver_hourly_stats WHERE driver_id = 1006" 0
# just under the limit is fine (unknown top-level keys are ignored, as Feast does)
head -c 64000 "$BIG" >"$W/fit.json"
printf '"}' >>"$W/fit.json"
call POST /push "@$W/fit.json"
expect "body under the limit" 200

# ------------------------------------------------------------------ /write-to-online-store
call POST /write-to-online-store '{"feature_view_name": "driver_hourly_stats", "df": {"driver_id": [1007],
 "event_timestamp": ["2022-05-14T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [7]}}'
expect "write-to-online-store" 200
[ "$BODY" = null ] && ok "write-to-online-store: body null, as Feast" || bad "write body: $BODY"
expect_sql "write-to-online-store: row stored" "SELECT avg_daily_trips FROM feast_online.driver_hourly_stats WHERE driver_id = 1007" 7
call POST /write-to-online-store '{"feature_view_name": "no_such_view", "df": {}}'
expect "write-to-online-store: unknown view" 404 42704
# Feast's remote online store (online_store: type: remote): its online_write_batch sends the join
# keys, the features, event_timestamp and created as naive UTC ISO strings (created may be null),
# in the column form, with allow_registry_cache false; here to a view fed by a batch source
REMOTE_WRITE='{"feature_view_name": "driver_batch_stats", "df": {"driver_id": [3001, 3002], "conv_rate": [0.5, null],
 "event_timestamp": ["2022-05-14T00:00:00", "2022-05-14T01:02:03.500000"], "created": ["2022-05-14T00:00:05", null]},
 "allow_registry_cache": false}'
call POST /write-to-online-store "$REMOTE_WRITE"
expect "remote store write: batch-sourced view" 200
[ "$BODY" = null ] && ok "remote store write: body null, as Feast" || bad "remote write body: $BODY"
has_header "X-Cfeast-Rows: 2" && ok "remote store write: X-Cfeast-Rows 2" || bad "remote write rows header: $HEADERS"
expect_sql "remote store write: rows stored" \
	"SELECT string_agg(driver_id || '=' || coalesce(conv_rate::text, 'null') || '@' || to_char(event_timestamp AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') || '/' || coalesce(to_char(created_timestamp AT TIME ZONE 'UTC', 'HH24:MI:SS'), 'null'), ' ' ORDER BY driver_id) FROM feast_online.driver_batch_stats" \
	"3001=0.5@00:00:00.000/00:00:05 3002=null@01:02:03.500/null"
# an older version of 3001 (its materialize of older rows) does not overwrite the newer one
call POST /write-to-online-store '{"feature_view_name": "driver_batch_stats", "df": {"driver_id": [3001], "conv_rate": [0.25],
 "event_timestamp": ["2022-05-13T00:00:00"], "created": [null]}, "allow_registry_cache": false}'
expect "remote store write: older row" 200
expect_sql "remote store write: newest wins" "SELECT conv_rate FROM feast_online.driver_batch_stats WHERE driver_id = 3001" 0.5
# only the named view is written (driver_hourly_stats shares the batch source, not this view)
expect_sql "remote store write: other views untouched" "SELECT count(*) FROM feast_online.driver_hourly_stats WHERE driver_id IN (3001, 3002)" 0
call POST /write-to-online-store '{"feature_view_name": "driver_batch_stats", "df": {"driver_id": [3003], "conv_rate": ["fast"],
 "event_timestamp": ["2022-05-14T00:00:00"], "created": [null]}, "allow_registry_cache": false}'
expect "remote store write: bad value" 422 22P02
printf '%s' "$BODY" | grep -q 'row 0: field \\"conv_rate\\"' && ok "remote store write: error names row and field" \
	|| bad "remote write error: $BODY"
expect_sql "remote store write: nothing written on error" "SELECT count(*) FROM feast_online.driver_batch_stats WHERE driver_id = 3003" 0
# and its online_read: one join key's values, features as view:feature, bare names back
if [ "$HAVE_READ" = t ]; then
	call POST /get-online-features '{"features": ["driver_batch_stats:conv_rate"], "entities": {"driver_id": [3001, 3002, 3999]}}'
	expect "remote store read" 200
	expect_json "remote store read: names" "(:'j'::jsonb)->'metadata'->'feature_names' = '[\"driver_id\", \"conv_rate\"]'"
	expect_json "remote store read: values" "(:'j'::jsonb)->'results'->1->'values' = '[0.5, null, null]'"
	expect_json "remote store read: statuses" "(:'j'::jsonb)->'results'->1->'statuses'->>0 = 'PRESENT' AND (:'j'::jsonb)->'results'->1->'statuses'->>2 = 'NOT_FOUND'"
	expect_json "remote store read: event timestamp of row 0" "(:'j'::jsonb)->'results'->1->'event_timestamps'->>0 = '2022-05-14T00:00:00Z'"
fi
call POST /write-to-online-store '{"feature_view_name": "driver_hourly_stats", "df": {"driver_id": [1008]}}'
expect "write-to-online-store: bad rows" 422 22023
call POST /write-to-online-store '{"df": {}}'
expect "write-to-online-store: missing view name" 422

# ------------------------------------------------------------------ /get-online-features
call POST /get-online-features '{"features": ["driver_hourly_stats:conv_rate"]}'
expect "read: entities missing" 422
call POST /get-online-features '{"entities": {"driver_id": 1001}, "features": ["driver_hourly_stats:conv_rate"]}'
expect "read: entities not lists" 422
call POST /get-online-features '{"entities": {"driver_id": [1001]}, "features": "driver_hourly_stats:conv_rate"}'
expect "read: features not a list" 422
READ='{"entities": {"driver_id": [1001, 1002, 9999]}, "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]}'
call POST /get-online-features "$READ"
if [ "$HAVE_READ" = t ]; then
	expect "read" 200
	expect_json "read: feature names" \
		":'j'::jsonb->'metadata'->'feature_names' = '[\"driver_id\", \"conv_rate\", \"avg_daily_trips\"]'"
	expect_json "read: values column by column" \
		":'j'::jsonb #> '{results,0,values}' = '[1001, 1002, 9999]' AND
		 :'j'::jsonb #> '{results,1,values}' = '[0.5, 0.25, null]' AND
		 :'j'::jsonb #> '{results,2,values}' = '[1000, 20, null]'"
	expect_json "read: statuses" \
		":'j'::jsonb #> '{results,1,statuses}' = '[\"PRESENT\", \"PRESENT\", \"NOT_FOUND\"]'"
	# Feast's older clients key entity rows by the entity's name: the answer names the join key
	call POST /get-online-features '{"entities": {"driver": [1001, 9999]}, "features": ["driver_hourly_stats:conv_rate"]}'
	expect "read by entity name" 200
	expect_json "read by entity name: join key and values" \
		":'j'::jsonb->'metadata'->'feature_names' = '[\"driver_id\", \"conv_rate\"]' AND
		 :'j'::jsonb #> '{results,1,values}' = '[0.5, null]'"
	call POST /get-online-features '{"entities": {"driver": [1001], "driver_id": [1001]}, "features": ["driver_hourly_stats:conv_rate"]}'
	expect "read: join key and entity name both given" 422 22023
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "feature_service": "driver_service", "full_feature_names": true}'
	expect "read: feature service, full names" 200
	expect_json "read: full feature names" \
		":'j'::jsonb->'metadata'->'feature_names' = '[\"driver_id\", \"driver_hourly_stats__conv_rate\"]'"
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["no_such_view:conv_rate"]}'
	expect "read: unknown view" 404 42704
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "feature_service": "no_such_service"}'
	expect "read: unknown feature service" 404 42704
	# a service that renames: one view read as origin and destination, each through its own column
	q >/dev/null <<'EOF'
SELECT feast_apply_feature_service('trip_service', '{origin:conv_rate, destination:conv_rate}',
    projections => '{"origin": {"feature_view": "driver_hourly_stats", "join_key_map": {"driver_id": "origin_id"}},
                     "destination": {"feature_view": "driver_hourly_stats", "join_key_map": {"driver_id": "destination_id"}}}');
EOF
	call POST /get-online-features '{"entities": {"origin_id": [1001, 9999], "destination_id": [1002, 1001]}, "feature_service": "trip_service", "full_feature_names": true}'
	expect "read: feature service with projections" 200
	expect_json "read: projections rename and read through their own columns" \
		":'j'::jsonb->'metadata'->'feature_names' = '[\"origin_id\", \"destination_id\", \"origin__conv_rate\", \"destination__conv_rate\"]' AND
		 :'j'::jsonb #> '{results,2,values}' = '[0.5, null]' AND
		 :'j'::jsonb #> '{results,3,values}' = '[0.25, 0.5]'"
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "feature_service": "trip_service", "full_feature_names": true}'
	expect "read: a projection's column missing" 422 22023
	# unix_timestamp values, and their arrays, are integer epoch seconds as Feast's server sends
	# them (its test: 2021-01-01T00:00:00Z is 1609459200); event timestamps stay RFC 3339
	q >/dev/null <<'EOF'
SELECT feast_apply_push_source('ts_push', NULL);
SELECT feast_apply_feature_view('ts_stats', '{driver}',
    '[{"name": "seen", "dtype": "unix_timestamp"}, {"name": "seens", "dtype": "array(unix_timestamp)"}]', 'ts_push');
EOF
	call POST /push '{"push_source_name": "ts_push", "df": {"driver_id": [1001], "event_timestamp": ["2021-01-01T00:00:00Z"],
	 "seen": ["2021-01-01T00:00:00Z"], "seens": [["2021-01-01T00:00:00.75Z", -0.5]]}}'
	expect "push a unix_timestamp feature" 200
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["ts_stats:seen", "ts_stats:seens"]}'
	expect "read unix_timestamp features" 200
	expect_json "read: unix_timestamp values are epoch seconds, event timestamps RFC 3339" \
		":'j'::jsonb #> '{results,1,values}' = '[1609459200]' AND
		 :'j'::jsonb #> '{results,2,values}' = '[[1609459200, -1]]' AND
		 :'j'::jsonb #> '{results,1,event_timestamps}' = '[\"2021-01-01T00:00:00Z\"]'"
else
	echo "note: feast_get_online_features does not exist here; testing its error path only"
	expect "read without feast_get_online_features" 500 42883
	# a stand-in shows what the server hands over and that the result comes back unchanged
	q <<'EOF'
CREATE FUNCTION public.feast_get_online_features(features text[] DEFAULT NULL, entity_rows jsonb DEFAULT NULL,
    full_feature_names boolean DEFAULT false, feature_service text DEFAULT NULL) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('features', features, 'entities', entity_rows,
    'full', full_feature_names, 'service', feature_service, 'tz', current_setting('TimeZone')) $$;
EOF
	call POST /get-online-features '{"entities": {"driver_id": [1001, 1002]}, "features": ["v:a", "q\"x\\y"]}'
	expect "read, stand-in function created while the server runs" 200
	WANT=$(q <<'EOF'
SELECT jsonb_build_object('features', ARRAY['v:a', 'q"x\y'], 'entities', '{"driver_id": [1001, 1002]}'::jsonb,
    'full', false, 'service', null, 'tz', 'UTC')::text
EOF
	)
	[ "$BODY" = "$WANT" ] && ok "read: arguments as sent, result passed through unchanged" ||
		bad "read pass-through: got $BODY, expected $WANT"
	call POST /get-online-features '{"entities": {"driver_id": [1]}, "features": ["v:a"], "feature_service": "svc", "full_feature_names": true}'
	expect_json "read: a feature service wins over features, as Feast" \
		":'j'::jsonb = '{\"features\": null, \"entities\": {\"driver_id\": [1]}, \"full\": true, \"service\": \"svc\", \"tz\": \"UTC\"}'"
	# the function's result type changes under the prepared statement: prepared again
	q <<'EOF'
DROP FUNCTION public.feast_get_online_features(text[], jsonb, boolean, text);
CREATE FUNCTION public.feast_get_online_features(text[], jsonb, boolean, text) RETURNS text
LANGUAGE sql AS $$ SELECT '"replaced"' $$;
EOF
	call POST /get-online-features "$READ"
	expect "read after the function's result type changed" 200
	[ "$BODY" = '"replaced"' ] && ok "read: statement prepared again" || bad "read after replace: $BODY"
	q -c "DROP FUNCTION public.feast_get_online_features(text[], jsonb, boolean, text)"
	call POST /get-online-features "$READ"
	expect "read after the stand-in is dropped" 500 42883
fi

# ------------------------------------------------------------------ /materialize, /materialize-incremental
call POST /materialize '{"end_ts": "2022-06-01T00:00:00Z"}'
expect "materialize: start_ts missing" 422
call POST /materialize '{"start_ts": "2022-01-01T00:00:00Z", "end_ts": "2022-06-01T00:00:00Z", "disable_event_timestamp": true}'
expect "materialize: disable_event_timestamp refused" 422
call POST /materialize-incremental '{"feature_views": ["driver_batch_stats"]}'
expect "materialize-incremental: end_ts missing" 422
call POST /materialize-incremental '{"end_ts": "2022-06-01T00:00:00Z", "feature_views": "driver_batch_stats"}'
expect "materialize-incremental: feature_views not a list" 422
MAT='{"start_ts": "2022-01-01T00:00:00Z", "end_ts": "2022-06-01T00:00:00Z", "feature_views": ["driver_batch_stats"]}'
call POST /materialize "$MAT"
if [ "$HAVE_MAT" = t ]; then
	expect "materialize" 200
	[ "$BODY" = null ] && ok "materialize: body null, as Feast" || bad "materialize body: $BODY"
	expect_sql "materialize: latest batch row online" \
		"SELECT conv_rate FROM feast_online.driver_batch_stats WHERE driver_id = 2001" 0.125
	has_header "X-Cfeast-Rows: [0-9]*" && ok "materialize: X-Cfeast-Rows" || bad "materialize header: $HEADERS"
	call POST /materialize '{"start_ts": "yesterday-ish", "end_ts": "2022-06-01T00:00:00Z"}'
	expect "materialize: bad timestamp" 422 22007
	call POST /materialize '{"start_ts": "2022-01-01T00:00:00Z", "end_ts": "2022-06-01T00:00:00Z", "feature_views": ["no_such_view"]}'
	expect "materialize: unknown view" 404 42704
else
	echo "note: feast_materialize does not exist here; testing its error path only"
	expect "materialize without feast_materialize" 500 42883
	# a stand-in: the seconds between start and end plus the number of views
	q -c "CREATE FUNCTION public.feast_materialize(s timestamptz, e timestamptz, v text[] DEFAULT NULL) RETURNS bigint
	      LANGUAGE sql AS 'SELECT extract(epoch FROM e - s)::bigint + coalesce(cardinality(v), 0)'"
	call POST /materialize '{"start_ts": "2022-01-01 00:00:00", "end_ts": "2022-01-01T01:00:30+01:00", "feature_views": ["a", "b"]}'
	expect "materialize, stand-in function" 200
	has_header "X-Cfeast-Rows: 32" && ok "materialize: naive timestamps are UTC, views passed" ||
		bad "materialize stand-in: $HEADERS"
	call POST /materialize '{"start_ts": "yesterday-ish", "end_ts": "2022-06-01T00:00:00Z"}'
	expect "materialize: bad timestamp" 422 22007
	q -c "DROP FUNCTION public.feast_materialize(timestamptz, timestamptz, text[])"
fi
call POST /materialize-incremental '{"end_ts": "2022-07-01T00:00:00Z", "feature_views": ["driver_batch_stats"]}'
if [ "$HAVE_MATINC" = t ]; then
	expect "materialize-incremental" 200
	[ "$BODY" = null ] && ok "materialize-incremental: body null" || bad "materialize-incremental body: $BODY"
else
	echo "note: feast_materialize_incremental does not exist here; testing its error path only"
	expect "materialize-incremental without the function" 500 42883
fi

# ------------------------------------------------------------------ permission: a second server as a role without rights
start_server reader "host=$PGHOST port=$PGPORT user=regress_cfs_reader dbname=$DB" --pool 1 ||
	bad "reader server did not start"
READER_PID=$PID
URLPORT=$PORT
call GET /health
expect "reader: health" 200
call POST /push "$PUSH"
expect "push without privileges" 403 42501
kill -TERM "$READER_PID"
wait "$READER_PID"
rc=$?
[ $rc = 0 ] && ok "reader server stopped cleanly" || bad "reader server exit status $rc"

# ------------------------------------------------------------------ settings from the environment; a flag wins
CFEAST_DSN="$DSN" CFEAST_LISTEN=127.0.0.1:0 CFEAST_POOL=1 CFEAST_MAX_BODY=1k \
	$WRAP ./cfeast-server --max-body 2k >"$W/env.access" 2>"$W/env.err" &
ENV_PID=$!
SERVER_PIDS+=("$ENV_PID")
for i in $(seq 1 300); do
	grep -q 'listening on' "$W/env.err" 2>/dev/null && break
	sleep 0.1
done
grep -q 'listening on http://127\.0\.0\.1:[0-9]* (pool 1, max body 2048 bytes)' "$W/env.err" &&
	ok "CFEAST_DSN, CFEAST_LISTEN, CFEAST_POOL taken; --max-body wins over CFEAST_MAX_BODY" ||
	bad "environment settings: $(cat "$W/env.err")"
URLPORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/env.err")
call GET /health
expect "server configured from the environment: health" 200
head -c 2100 "$BIG" >"$W/env.json"
call POST /push "@$W/env.json"
expect "server configured from the environment: body over 2k" 413
kill -TERM "$ENV_PID"
wait "$ENV_PID"
SERVER_PIDS=("$MAIN_PID")
URLPORT=$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$W/main.err")

# ------------------------------------------------------------------ many at once (pool of 2)
: >"$W/par"
for i in $(seq 1 24); do
	curl -s -o /dev/null -w '%{http_code}\n' --data-binary "$PUSH" "http://127.0.0.1:$URLPORT/push" >>"$W/par" &
	BG_PIDS+=($!)
done
wait "${BG_PIDS[@]}"
BG_PIDS=()
[ "$(grep -c '^200$' "$W/par")" = 24 ] && ok "24 concurrent pushes over a pool of 2: all 200" ||
	bad "concurrent pushes: $(sort "$W/par" | uniq -c | tr '\n' ' ')"

# ------------------------------------------------------------------ the database goes away and comes back
pg_stop || bad "could not stop the cluster"
call GET /health
expect "health, database down" 503
printf '%s' "$BODY" | grep -q '"sqlstate":"\(08\|57P\)' && ok "503 body carries a connection SQLSTATE" ||
	bad "503 body: $BODY"
printf '%s' "$BODY" | grep -qF -e "$PGHOST" -e ".s.PGSQL" && bad "503 body shows the socket: $BODY" ||
	ok "503 body does not show the socket path"
call POST /push "$PUSH"
expect "push, database down" 503
pg_start || bad "could not start the cluster again"
call GET /health
expect "health, database back" 200
call POST /push "$PUSH"
expect "push, database back" 200
# both pooled connections died with the cluster: each is opened again on use
: >"$W/par"
for i in $(seq 1 8); do
	curl -s -o /dev/null -w '%{http_code}\n' --data-binary "$PUSH" "http://127.0.0.1:$URLPORT/push" >>"$W/par" &
	BG_PIDS+=($!)
done
wait "${BG_PIDS[@]}"
BG_PIDS=()
[ "$(grep -c '^200$' "$W/par")" = 8 ] && ok "8 concurrent pushes after the restart: all 200" ||
	bad "pushes after the restart: $(sort "$W/par" | uniq -c | tr '\n' ' ')"

# ------------------------------------------------------------------ the event loop: every answer to its own request
# pushes, reads and writes run on the loop's thread when a connection is free (pipeline.c);
# 40 at once over the pool of 2, mixed: good pushes (each its own driver and value), pushes
# to a source that does not exist (each its own name, which its error names), bad values,
# bodies that are not JSON, reads: each request must get its own answer
rm -f "$W"/mix.*
for i in $(seq 1 40); do
	case $((i % 5)) in
	0) body="{\"push_source_name\": \"driver_stats_push_source\", \"df\": {\"driver_id\": [$((7000 + i))], \"event_timestamp\": [\"2022-05-14T00:00:00Z\"], \"conv_rate\": [0.5], \"acc_rate\": [0.5], \"avg_daily_trips\": [$i]}}" path=/push ;;
	1) body="{\"push_source_name\": \"no_such_source_$i\", \"df\": {\"driver_id\": [1]}}" path=/push ;;
	2) body="{\"push_source_name\": \"driver_stats_push_source\", \"df\": {\"driver_id\": [$((7000 + i))], \"event_timestamp\": [\"2022-05-14T00:00:00Z\"], \"conv_rate\": [\"bad$i\"], \"acc_rate\": [0.5], \"avg_daily_trips\": [$i]}}" path=/push ;;
	3) body="{\"push_source_name\": \"driver_stats_push_source\", \"df\": $i" path=/push ;;
	4) body='{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:avg_daily_trips"]}' path=/get-online-features ;;
	esac
	curl -s -o "$W/mix.$i.body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary "$body" \
		"http://127.0.0.1:$URLPORT$path" >"$W/mix.$i.status" &
	BG_PIDS+=($!)
done
wait "${BG_PIDS[@]}"
BG_PIDS=()
mixbad=0
for i in $(seq 1 40); do
	st=$(cat "$W/mix.$i.status")
	b=$(cat "$W/mix.$i.body")
	case $((i % 5)) in
	0) [ "$st" = 200 ] && [ -z "$b" ] ;;
	1) [ "$st" = 422 ] && printf '%s' "$b" | grep -q "push source \\\\\"no_such_source_$i\\\\\" does not exist" ;;
	2) [ "$st" = 422 ] && printf '%s' "$b" | grep -q "\"sqlstate\":\"22P02\"" && printf '%s' "$b" | grep -q "got string \\\\\"bad$i\\\\\"" ;;
	3) [ "$st" = 422 ] && printf '%s' "$b" | grep -q '"json_invalid"' ;;
	4) if [ "$HAVE_READ" = t ]; then [ "$st" = 200 ] && printf '%s' "$b" | grep -q '1000'; else [ "$st" = 500 ]; fi ;;
	esac || { mixbad=$((mixbad + 1)); echo "request $i: $st $b"; }
done
[ $mixbad = 0 ] && ok "40 mixed requests at once over 2 connections: each got its own answer" ||
	bad "$mixbad of 40 mixed requests got a wrong answer"
expect_sql "the 8 good pushes of the mix stored, their own values" \
	"SELECT count(*) FILTER (WHERE avg_daily_trips = driver_id - 7000) || '/' || count(*) FROM feast_online.driver_hourly_stats WHERE driver_id BETWEEN 7001 AND 7040" "8/8"

# a push waiting on a lock holds one connection; reads go on on the other meanwhile, and the
# access log shows them while the push still waits (it is written at least every 100 ms)
hold_table_lock EXCLUSIVE 30
curl -s -o "$W/held.body" -w '%{http_code}' --data-binary "$PUSH" "http://127.0.0.1:$URLPORT/push" >"$W/held.status" &
HELD_CURL=$!
BG_PIDS+=($HELD_CURL)
wait_lock_waiter
LOG_LINES=$(wc -l <"$W/main.access")
for i in 1 2 3; do
	call GET /health
	expect "health $i while a push waits on a lock" 200
done
if [ "$HAVE_READ" = t ]; then
	call POST /get-online-features '{"entities": {"driver_id": [1001]}, "features": ["driver_hourly_stats:avg_daily_trips"]}'
	expect "a read on the other connection while a push waits on a lock" 200
fi
sleep 0.3
[ "$(($(wc -l <"$W/main.access") - LOG_LINES))" -ge 3 ] && ok "access log written while a request is in flight" ||
	bad "access log: $(($(wc -l <"$W/main.access") - LOG_LINES)) new lines while the push waits"
# the connection under the waiting push is terminated: that push fails alone (503), and the
# next one opens a connection again
q -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cfeast-server' AND wait_event_type = 'Lock'" >/dev/null
wait "$HELD_CURL"
[ "$(cat "$W/held.status")" = 503 ] && grep -q '"sqlstate":"57P01"' "$W/held.body" &&
	ok "the push on a terminated connection: 503, 57P01" ||
	bad "push on a terminated connection: $(cat "$W/held.status") $(cat "$W/held.body")"
kill "$LOCKER" 2>/dev/null
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE%' AND pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null
BG_PIDS=()
for i in 1 2 3 4; do
	call POST /push "$PUSH"
	expect "push $i after a connection was terminated" 200
done

# ------------------------------------------------------------------ graceful stop with a request in flight
LOCK_DONE="$W/lock.done"
psql -XAtq -d "$DB" -c "BEGIN; LOCK TABLE feast_online.driver_hourly_stats; SELECT pg_sleep(1.5); COMMIT;" >/dev/null &
BG_PIDS+=($!)
for i in $(seq 1 50); do
	[ "$(q -c "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'driver_hourly_stats' AND l.mode = 'AccessExclusiveLock' AND l.granted")" = 1 ] && break
	sleep 0.05
done
curl -s -o "$W/inflight.body" -w '%{http_code}' --data-binary "$PUSH" "http://127.0.0.1:$URLPORT/push" >"$W/inflight.status" &
BG_PIDS+=($!)
CURL_PID=$!
wait_lock_waiter
kill -TERM "$MAIN_PID"
wait "$CURL_PID"
[ "$(cat "$W/inflight.status")" = 200 ] && ok "request in flight at SIGTERM completes (200)" ||
	bad "request in flight at SIGTERM: $(cat "$W/inflight.status")"
wait "$MAIN_PID"
rc=$?
[ $rc = 0 ] && ok "server exits 0 after SIGTERM" || bad "server exit status $rc after SIGTERM"
grep -q 'SIGTERM received' "$W/main.err" && grep -q 'stopped' "$W/main.err" && ok "shutdown logged" ||
	bad "shutdown log: $(cat "$W/main.err")"
curl -s -o /dev/null "http://127.0.0.1:$URLPORT/health" && bad "server still answers after SIGTERM" ||
	ok "port closed after SIGTERM"
wait "${BG_PIDS[@]}" 2>/dev/null
BG_PIDS=()
SERVER_PIDS=()

# ------------------------------------------------------------------ coalesced pushes (--push-batch)
# One connection, one loop: a push waits on a lock, the pushes that come meanwhile wait for it
# and then go together as one statement (feast._push_many); each still gets its own answer.
# coalesce_run NAME N: N bodies from $W/co.NAME.<i> POSTed at once; statuses, bodies and headers
coalesce_run() {
	local name=$1 n=$2 i
	hold_table_lock EXCLUSIVE 30
	curl -s -o /dev/null --data-binary '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [8000], "event_timestamp": ["2022-05-14T00:00:00Z"], "conv_rate": [0.5], "acc_rate": [0.5], "avg_daily_trips": [0]}}' \
		"http://127.0.0.1:$CO_PORT/push" &
	BG_PIDS+=($!)
	wait_lock_waiter
	for i in $(seq 1 "$n"); do
		curl -s -o "$W/co.$name.$i.out" -D "$W/co.$name.$i.hdr" -w '%{http_code}' \
			--data-binary "@$W/co.$name.$i" "http://127.0.0.1:$CO_PORT/push" >"$W/co.$name.$i.status" &
		BG_PIDS+=($!)
	done
	sleep 1	# every one has come and waits (the only connection is held)
	kill "$LOCKER" 2>/dev/null
	q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE%' AND pid <> pg_backend_pid()" >/dev/null
	wait "${BG_PIDS[@]}" 2>/dev/null
	BG_PIDS=()
}
co_row() { printf '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [%s], "event_timestamp": ["%s"], "conv_rate": [%s], "acc_rate": [0.5], "avg_daily_trips": [%s]}}' "$@"; }
co_metric_at() { curl -s "http://127.0.0.1:$1/metrics" | sed -n "s/^$2 //p"; }
co_metric() { co_metric_at "$CO_PORT" "$1"; }
HAVE_MANY=$(q -c "SELECT to_regprocedure('feast._push_many(text,text[],text)') IS NOT NULL")
start_server coalesce "$DSN" --pool 1 --threads 1 || bad "coalescing server did not start"
CO_PORT=$PORT
# a first push prepares the statements on the connection (a worker does), so the loop runs the next
curl -s -o /dev/null --data-binary "$PUSH" "http://127.0.0.1:$CO_PORT/push"
# good pushes only: distinct drivers, one driver twice (the newer event wins, whatever the
# order), two rows in one request, the row form
co_row 8001 2022-05-14T00:00:00Z 0.1 1 >"$W/co.good.1"
co_row 8002 2022-05-14T00:00:00Z 0.2 2 >"$W/co.good.2"
co_row 8003 2022-05-14T00:00:00Z 0.3 3 >"$W/co.good.3"
co_row 8010 2022-05-15T00:00:00Z 0.4 4 >"$W/co.good.4"
co_row 8010 2022-05-14T00:00:00Z 0.5 5 >"$W/co.good.5"
printf '{"push_source_name": "driver_stats_push_source", "df": {"driver_id": [8020, 8021], "event_timestamp": ["2022-05-14T00:00:00Z", "2022-05-14T00:00:00Z"], "conv_rate": [0.6, 0.6], "acc_rate": [0.5, 0.5], "avg_daily_trips": [6, 6]}}' >"$W/co.good.6"
printf '{"push_source_name": "driver_stats_push_source", "df": [{"driver_id": 8030, "event_timestamp": "2022-05-14T00:00:00Z", "conv_rate": 0.7, "acc_rate": 0.5, "avg_daily_trips": 7}]}' >"$W/co.good.7"
S0=$(co_metric cfeast_push_statements_total)
coalesce_run good 7
cobad=0
for i in $(seq 1 7); do
	rows=1
	[ "$i" = 6 ] && rows=2
	[ "$(cat "$W/co.good.$i.status")" = 200 ] && tr -d '\r' <"$W/co.good.$i.hdr" | grep -qx "X-Cfeast-Rows: $rows" ||
		{ cobad=$((cobad + 1)); echo "coalesced request $i: $(cat "$W/co.good.$i.status") $(cat "$W/co.good.$i.out") $(tr -d '\r' <"$W/co.good.$i.hdr" | grep -i rows)"; }
done
[ $cobad = 0 ] && ok "7 pushes that waited together: each 200 with its own X-Cfeast-Rows" ||
	bad "$cobad of 7 coalesced pushes got a wrong answer"
expect_sql "the coalesced pushes stored, the newer of one driver's two" \
	"SELECT string_agg(driver_id || '=' || avg_daily_trips, ' ' ORDER BY driver_id) FROM feast_online.driver_hourly_stats WHERE driver_id BETWEEN 8001 AND 8030" \
	"8001=1 8002=2 8003=3 8010=4 8020=6 8021=6 8030=7"
if [ "$HAVE_MANY" = t ]; then
	[ "$(co_metric cfeast_push_coalesced_requests_total)" = 7 ] && [ "$(($(co_metric cfeast_push_statements_total) - S0))" = 2 ] &&
		ok "the 7 went as one statement (metrics: 7 coalesced, 2 push statements with the held one)" ||
		bad "coalescing: $(co_metric cfeast_push_coalesced_requests_total) coalesced, $(($(co_metric cfeast_push_statements_total) - S0)) statements"
else
	[ "$(co_metric cfeast_push_coalesced_requests_total)" = 0 ] && ok "no feast._push_many: each push sent alone" ||
		bad "coalesced without feast._push_many"
fi
# good and bad together: the statement fails, changes nothing, and each request runs alone
co_row 8101 2022-05-14T00:00:00Z 0.1 1 >"$W/co.mix.1"
co_row 8102 2022-05-14T00:00:00Z '"bad2"' 2 >"$W/co.mix.2"
co_row 8103 2022-05-14T00:00:00Z 0.3 3 >"$W/co.mix.3"
co_row 8104 2022-05-14T00:00:00Z 0.4 '"bad4"' >"$W/co.mix.4"
printf '{"push_source_name": "no_such_source_5", "df": {"driver_id": [1]}}' >"$W/co.mix.5"
co_row 8106 2022-05-14T00:00:00Z 0.6 6 >"$W/co.mix.6"
coalesce_run mix 6
cobad=0
for i in $(seq 1 6); do
	st=$(cat "$W/co.mix.$i.status")
	b=$(cat "$W/co.mix.$i.out")
	case $i in
	2) [ "$st" = 422 ] && printf '%s' "$b" | grep -q '"sqlstate":"22P02"' && printf '%s' "$b" | grep -q 'row 0' &&
		printf '%s' "$b" | grep -q 'got string \\"bad2\\"' && ! printf '%s' "$b" | grep -q element ;;
	4) [ "$st" = 422 ] && printf '%s' "$b" | grep -q 'got string \\"bad4\\"' ;;
	5) [ "$st" = 422 ] && printf '%s' "$b" | grep -q 'push source \\"no_such_source_5\\" does not exist' ;;
	*) [ "$st" = 200 ] && tr -d '\r' <"$W/co.mix.$i.hdr" | grep -qx "X-Cfeast-Rows: 1" ;;
	esac || { cobad=$((cobad + 1)); echo "mixed coalesced request $i: $st $b"; }
done
[ $cobad = 0 ] && ok "good and bad pushes that waited together: each its own answer, as if alone" ||
	bad "$cobad of 6 mixed coalesced pushes got a wrong answer"
expect_sql "only the good ones of the mix stored" \
	"SELECT string_agg(driver_id::text, ' ' ORDER BY driver_id) FROM feast_online.driver_hourly_stats WHERE driver_id BETWEEN 8101 AND 8106" \
	"8101 8103 8106"
kill "$PID" && wait "$PID"
SERVER_PIDS=("${SERVER_PIDS[@]/$PID}")
# group commit: pushes that come while their loop's push is in flight wait for it and go together,
# even with connections free (4 clients, a pool of 8: each push could have had its own)
start_server group "$DSN" --pool 8 --threads 1 || bad "group-commit server did not start"
co_row 8300 2022-05-14T00:00:00Z 0.1 1 >"$W/co.group"
S0=$(co_metric_at "$PORT" cfeast_push_statements_total)
curl -s -Z --parallel-max 4 -w '%{http_code}\n' --data-binary "@$W/co.group" \
	"http://127.0.0.1:$PORT/push?n=[1-400]" >"$W/co.group.status"
n200=$(grep -c '^200$' "$W/co.group.status")
ncoal=$(co_metric_at "$PORT" cfeast_push_coalesced_requests_total)
nstmt=$(($(co_metric_at "$PORT" cfeast_push_statements_total) - S0))
if [ "$HAVE_MANY" = t ]; then
	[ "$n200" = 400 ] && [ "${ncoal:-0}" -gt 0 ] && [ "$nstmt" -lt 400 ] &&
		ok "group commit with free connections: 400 pushes from 4 clients answered 200, $ncoal shared a statement, $nstmt statements" ||
		bad "group commit with free connections: $n200 of 400 answered 200, $ncoal shared a statement, $nstmt statements"
fi
kill "$PID" && wait "$PID"
SERVER_PIDS=("${SERVER_PIDS[@]/$PID}")
# a push that comes while its loop's push statement waits on a row lock does not wait with it:
# after a moment (HOLD_MS) it goes on the pool's other connection
start_server holdrow "$DSN" --pool 2 --threads 1 || bad "row-lock server did not start"
co_row 8200 2022-05-14T00:00:00Z 0.1 1 >"$W/co.row.1"
co_row 8201 2022-05-14T00:00:00Z 0.1 1 >"$W/co.row.2"
curl -s -o /dev/null --data-binary "@$W/co.row.1" "http://127.0.0.1:$PORT/push"
curl -s -o /dev/null --data-binary "@$W/co.row.2" "http://127.0.0.1:$PORT/push"
psql -XAtq -d "$DB" -c "BEGIN; UPDATE feast_online.driver_hourly_stats SET conv_rate = 0.9 WHERE driver_id = 8200; SELECT pg_sleep(5); COMMIT;" >/dev/null 2>&1 &
LOCKER=$!
BG_PIDS+=($LOCKER)
sleep 0.3
co_row 8200 2022-05-15T00:00:00Z 0.2 2 >"$W/co.row.3"
co_row 8201 2022-05-15T00:00:00Z 0.2 2 >"$W/co.row.4"
curl -s -o /dev/null -w '%{http_code}' --data-binary "@$W/co.row.3" "http://127.0.0.1:$PORT/push" >"$W/co.row.3.status" &
HELD=$!
wait_lock_waiter
T0=$(date +%s%N)
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --data-binary "@$W/co.row.4" "http://127.0.0.1:$PORT/push")
T1=$(date +%s%N)
held_running=$(kill -0 "$HELD" 2>/dev/null && echo yes || echo no)
[ "$st" = 200 ] && [ $(((T1 - T0) / 1000000)) -lt 1000 ] && [ "$held_running" = yes ] &&
	ok "a push behind its loop's push held by a row lock went on the other connection: 200 in $(((T1 - T0) / 1000000)) ms, the held one still waiting" ||
	bad "push behind a held push: $st in $(((T1 - T0) / 1000000)) ms, held one still running: $held_running"
wait "$HELD" "$LOCKER"
[ "$(cat "$W/co.row.3.status")" = 200 ] && ok "the held push answered 200 once the lock went" ||
	bad "the held push: $(cat "$W/co.row.3.status")"
expect_sql "both pushes stored after the lock" \
	"SELECT string_agg(driver_id || '=' || avg_daily_trips, ' ' ORDER BY driver_id) FROM feast_online.driver_hourly_stats WHERE driver_id IN (8200, 8201)" \
	"8200=2 8201=2"
kill "$PID" && wait "$PID"
SERVER_PIDS=("${SERVER_PIDS[@]/$PID}")

# ------------------------------------------------------------------ past the drain timeout, queries are cancelled
start_server drain "$DSN" --pool 1 --drain-timeout 1 || bad "drain server did not start"
DRAIN_PID=$PID
hold_table_lock "ACCESS EXCLUSIVE" 6
curl -s -o "$W/drain.body" -w '%{http_code}' --data-binary "$PUSH" "http://127.0.0.1:$PORT/push" >"$W/drain.status" &
CURL_PID=$!
BG_PIDS+=($CURL_PID)
wait_lock_waiter
T0=$(date +%s%N)
kill -TERM "$DRAIN_PID"
wait "$DRAIN_PID"
rc=$?
T1=$(date +%s%N)
wait "$CURL_PID"
[ $rc = 0 ] && ok "drain: server exits 0" || bad "drain: exit status $rc"
[ $(((T1 - T0) / 1000000)) -lt 4000 ] && ok "drain: stopped after the drain timeout, not the lock" ||
	bad "drain: took $(((T1 - T0) / 1000000)) ms"
[ "$(cat "$W/drain.status")" = 503 ] && grep -q '"sqlstate":"57014"' "$W/drain.body" &&
	ok "drain: the request still running got 503, query cancelled (57014)" ||
	bad "drain: request got $(cat "$W/drain.status") $(cat "$W/drain.body")"
grep -q 'cancelled 1 queries' "$W/drain.err" && ok "drain: cancellation logged" || bad "drain log: $(cat "$W/drain.err")"
kill "$LOCKER" 2>/dev/null
q -c "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'BEGIN; LOCK TABLE%' AND pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null
BG_PIDS=()
SERVER_PIDS=()

# ------------------------------------------------------------------ access log
grep -qE '^[0-9T:.-]+Z 127\.0\.0\.1 "POST /push" 200 [0-9]+ 0 [0-9.]+ms$' "$W/main.access" &&
	ok "access log: a line per request" || bad "access log: $(head -3 "$W/main.access")"
grep -q '"POST /push" 422 .* sqlstate=42704' "$W/main.access" && ok "access log: SQLSTATE of errors" ||
	bad "access log lacks sqlstate"
if [ -n "$WRAP" ]; then
	echo "server stderr (wrapper output):"
	tail -20 "$W/main.err"
fi

echo "server check: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
