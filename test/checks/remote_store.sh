#!/bin/bash
# test/checks/remote_store.sh: cfeast-server as the server behind Feast's remote online store
# (feature_store.yaml: online_store: {type: remote, path: http://HOST:6566}).  Replays the
# requests that client sends, byte for byte as it sends them (Python's json.dumps: ", " and ": ",
# non-ASCII escaped): its online_write_batch, which carries Feast's materialize and push, posts
# /write-to-online-store with feature_view_name, a column-form df of the join keys, the features,
# event_timestamp and created (naive UTC ISO strings, created null when the source has none) and
# allow_registry_cache false; its get_online_features posts /get-online-features with entities,
# full_feature_names, include_feature_view_version_metadata and features or feature_service; its
# online_read posts features and one join key's values.  Checks the rows stored and the answers
# byte for byte, for a view fed by a batch source and one fed by a push source.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP, CF_PGBIN (test/run-all.sh sets them).
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_remote
W="$CF_TMP/check-remote"
WRAP=${CFEAST_SERVER_WRAPPER:-}
mkdir -p "$W"
PASS=0
FAIL=0
SERVER_PIDS=()

ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

cleanup() {
	local p
	for p in "${SERVER_PIDS[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
}
trap cleanup EXIT

. "$CF_ROOT/test/lib/server.sh"

# post PATH BODY: sets STATUS and BODY (the exact bytes of the answer)
post() {
	STATUS=$(curl -s -o "$W/body" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
		--data-binary "$2" "http://127.0.0.1:$PORT$1")
	BODY=$(cat "$W/body")
}
# same NAME EXPECTED: the answer is 200 with exactly these bytes
same() {
	if [ "$STATUS" != 200 ]; then
		bad "$1: status $STATUS: $BODY"
	elif [ "$BODY" != "$2" ]; then
		bad "$1: answer differs"
		echo "  got:      $BODY"
		echo "  expected: $2"
	else
		ok "$1"
	fi
}
expect_sql() {
	local r
	r=$(q -c "$2" 2>&1)
	if [ "$r" = "$3" ]; then ok "$1"; else bad "$1: gave '$r', expected '$3'"; fi
}

# ------------------------------------------------------------------ set up
psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
psql -XAtq -d postgres -c "CREATE DATABASE $DB" >/dev/null || exit 1
q >/dev/null <<'EOF' || exit 1
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate double precision, avg_daily_trips bigint, city text,
                           active boolean, last_trip timestamptz, recent_trips bigint[], labels text[]);
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push_source', 'driver_stats_source');
-- fed by the batch source: Feast's materialize writes it through the remote store
SELECT feast_apply_feature_view('driver_batch', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "acc_rate", "dtype": "float64"},
      {"name": "avg_daily_trips", "dtype": "int64"}, {"name": "city", "dtype": "string"},
      {"name": "active", "dtype": "bool"}, {"name": "last_trip", "dtype": "unix_timestamp"},
      {"name": "recent_trips", "dtype": "array(int64)"}, {"name": "labels", "dtype": "array(string)"}]',
    'driver_stats_source');
-- fed by the push source: Feast's push writes it through the remote store
SELECT feast_apply_feature_view('driver_pushed', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32"}, {"name": "avg_daily_trips", "dtype": "int64"}]',
    'driver_stats_push_source');
SELECT feast_apply_feature_service('driver_service', '{driver_pushed:conv_rate,driver_batch:city}');
EOF

start_server remote "host=$PGHOST port=$PGPORT user=$PGUSER dbname=$DB" --pool 2 || { bad "server did not start"; exit 1; }
echo "cfeast-server on 127.0.0.1:$PORT (pid $PID)"

# ------------------------------------------------------------------ writes
# Feast's materialize of driver_batch: one online_write_batch of the latest row per key; float32
# values come as the double of the float (0.3 -> 0.30000001192092896), unix_timestamp values as
# epoch seconds, a null value as null, event_timestamp as isoformat() of naive UTC (microseconds
# only when not zero), created null where the row has none
post /write-to-online-store '{"feature_view_name": "driver_batch", "df": {"driver_id": [1001, 1002], "conv_rate": [0.30000001192092896, 0.5], "acc_rate": [0.9, null], "avg_daily_trips": [12, 7], "city": ["Lisbon", "Z\u00fcrich"], "active": [true, false], "last_trip": [1714557600, null], "recent_trips": [[3, 4], []], "labels": [["a", "b"], null], "event_timestamp": ["2024-05-01T10:00:00", "2024-05-01T11:30:00.250000"], "created": ["2024-05-01T10:00:05", null]}, "allow_registry_cache": false}'
same "materialize write (batch-fed view)" 'null'
expect_sql "materialize write: rows stored" \
	"SELECT string_agg(concat_ws('|', driver_id, conv_rate, acc_rate, avg_daily_trips, city, active, extract(epoch FROM last_trip)::bigint, recent_trips, labels, to_char(event_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), to_char(created_timestamp AT TIME ZONE 'UTC', 'HH24:MI:SS')), E'\n' ORDER BY driver_id) FROM feast_online.driver_batch" \
	"1001|0.3|0.9|12|Lisbon|t|1714557600|{3,4}|{a,b}|2024-05-01 10:00:00.000000|10:00:05
1002|0.5|7|Zürich|f|{}|2024-05-01 11:30:00.250000"
expect_sql "materialize write: nulls stored as NULL" \
	"SELECT acc_rate IS NULL AND last_trip IS NULL AND labels IS NULL AND created_timestamp IS NULL FROM feast_online.driver_batch WHERE driver_id = 1002" t
expect_sql "materialize write: only the named view" "SELECT count(*) FROM feast_online.driver_pushed" 0

# the same write again (a retried request) changes nothing; an older materialize does not
# overwrite a newer row
post /write-to-online-store '{"feature_view_name": "driver_batch", "df": {"driver_id": [1001], "conv_rate": [0.125], "acc_rate": [0.1], "avg_daily_trips": [1], "city": ["Porto"], "active": [false], "last_trip": [1714550000], "recent_trips": [[1]], "labels": [["old"]], "event_timestamp": ["2024-05-01T09:00:00"], "created": ["2024-05-01T09:00:05"]}, "allow_registry_cache": false}'
same "materialize write of an older row" 'null'
expect_sql "older row: the newer stays" "SELECT city FROM feast_online.driver_batch WHERE driver_id = 1001" Lisbon

# Feast's push to driver_stats_push_source: one write per view of the push source, each naming it
post /write-to-online-store '{"feature_view_name": "driver_pushed", "df": {"driver_id": [1001, 1003], "conv_rate": [0.75, 0.0625], "avg_daily_trips": [20, 3], "event_timestamp": ["2024-05-01T12:00:00", "2024-05-01T12:00:00.000001"], "created": ["2024-05-01T12:00:01", "2024-05-01T12:00:01"]}, "allow_registry_cache": false}'
same "push write (push-fed view)" 'null'
expect_sql "push write: rows stored" \
	"SELECT string_agg(concat_ws('|', driver_id, conv_rate, avg_daily_trips, to_char(event_timestamp AT TIME ZONE 'UTC', 'HH24:MI:SS.US'), to_char(created_timestamp AT TIME ZONE 'UTC', 'HH24:MI:SS')), ' ' ORDER BY driver_id) FROM feast_online.driver_pushed" \
	"1001|0.75|20|12:00:00.000000|12:00:01 1003|0.0625|3|12:00:00.000001|12:00:01"
expect_sql "push write: the batch relation untouched" "SELECT count(*) FROM driver_stats" 0

# a write the client sends for a view cfeast does not have: Feast's status for an unknown view
post /write-to-online-store '{"feature_view_name": "no_such_view", "df": {"driver_id": [1], "event_timestamp": ["2024-05-01T12:00:00"], "created": [null]}, "allow_registry_cache": false}'
[ "$STATUS" = 404 ] && ok "unknown view: 404" || bad "unknown view: $STATUS $BODY"

# ------------------------------------------------------------------ reads
# RemoteOnlineStore.get_online_features: the whole request in one call.  The answers are
# Feast's column form; a stored NULL is NULL_VALUE (the client maps it to an empty value, as
# for NOT_FOUND); float32 values come back as the shortest decimal of the float (0.3)
post /get-online-features '{"entities": {"driver_id": [1001, 1002, 9999]}, "full_feature_names": false, "include_feature_view_version_metadata": false, "features": ["driver_batch:conv_rate", "driver_batch:acc_rate", "driver_batch:avg_daily_trips", "driver_batch:city", "driver_batch:active", "driver_batch:last_trip", "driver_batch:recent_trips", "driver_batch:labels"]}'
same "read: batch-fed view" '{"results": [{"values": [1001, 1002, 9999], "statuses": ["PRESENT", "PRESENT", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}, {"values": [0.3, 0.5, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [0.9, null, null], "statuses": ["PRESENT", "NULL_VALUE", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [12, 7, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": ["Lisbon", "Zürich", null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [true, false, null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [1714557600, null, null], "statuses": ["PRESENT", "NULL_VALUE", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [[3, 4], [], null], "statuses": ["PRESENT", "PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}, {"values": [["a", "b"], null, null], "statuses": ["PRESENT", "NULL_VALUE", "NOT_FOUND"], "event_timestamps": ["2024-05-01T10:00:00Z", "2024-05-01T11:30:00.250Z", "1970-01-01T00:00:00Z"]}], "metadata": {"feature_names": ["driver_id", "conv_rate", "acc_rate", "avg_daily_trips", "city", "active", "last_trip", "recent_trips", "labels"]}}'
post /get-online-features '{"entities": {"driver_id": [1003, 1001]}, "full_feature_names": true, "include_feature_view_version_metadata": false, "feature_service": "driver_service"}'
same "read: service over both views, full names" '{"results": [{"values": [1003, 1001], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}, {"values": [0.0625, 0.75], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["2024-05-01T12:00:00.000001Z", "2024-05-01T12:00:00Z"]}, {"values": [null, "Lisbon"], "statuses": ["NOT_FOUND", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z", "2024-05-01T10:00:00Z"]}], "metadata": {"feature_names": ["driver_id", "driver_pushed__conv_rate", "driver_batch__city"]}}'
post /get-online-features '{"entities": {"driver_id": [1003]}, "full_feature_names": false, "include_feature_view_version_metadata": false, "features": ["driver_pushed:conv_rate", "driver_pushed:avg_daily_trips"]}'
same "read: push-fed view" '{"results": [{"values": [1003], "statuses": ["PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z"]}, {"values": [0.0625], "statuses": ["PRESENT"], "event_timestamps": ["2024-05-01T12:00:00.000001Z"]}, {"values": [3], "statuses": ["PRESENT"], "event_timestamps": ["2024-05-01T12:00:00.000001Z"]}], "metadata": {"feature_names": ["driver_id", "conv_rate", "avg_daily_trips"]}}'
# RemoteOnlineStore.online_read: features as view:feature, one join key's values
post /get-online-features '{"features": ["driver_pushed:conv_rate"], "entities": {"driver_id": [1001, 1004]}}'
same "online_read request" '{"results": [{"values": [1001, 1004], "statuses": ["PRESENT", "PRESENT"], "event_timestamps": ["1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"]}, {"values": [0.75, null], "statuses": ["PRESENT", "NOT_FOUND"], "event_timestamps": ["2024-05-01T12:00:00Z", "1970-01-01T00:00:00Z"]}], "metadata": {"feature_names": ["driver_id", "conv_rate"]}}'

if [ -n "$WRAP" ]; then
	echo "server stderr (wrapper output):"
	tail -20 "$W/remote.err"
fi
echo "remote store check: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
