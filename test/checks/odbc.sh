#!/bin/bash
# test/checks/odbc.sh: the serving views through a real BI driver: unixODBC with
# Debian's odbc-postgresql (psqlODBC, the driver Tableau, Power BI and Excel
# use).  test/odbc/odbc_probe.c lists feast_serving through SQLTables and
# SQLColumns and runs queries; this script checks that it sees every serving
# view and column (names, order, types), that the feature descriptions reach
# it (as REMARKS where the driver fills them, and through the catalog either
# way), and that the values it reads for random keys, fresh, expired (outside
# the ttl) and missing, equal feast_get_online_features' answers.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP (test/run-all.sh sets them), gcc
# and unixodbc-dev, odbc-postgresql (test/lib/common.sh installs them).
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_odbc
W="$CF_TMP/check-odbc"
mkdir -p "$W"
PASS=0
FAIL=0
ok() { PASS=$((PASS + 1)); echo "ok: $*"; }
bad() { FAIL=$((FAIL + 1)); echo "FAILED: $*"; }
q() { psql -XAtq -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
cleanup() { psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1; }
trap cleanup EXIT

gcc -std=gnu11 -O1 -Wall -Wextra -Werror -o "$W/odbc_probe" test/odbc/odbc_probe.c -lodbc || {
	bad "build odbc_probe"
	exit 1
}
grep -q '^\[PostgreSQL Unicode\]' /etc/odbcinst.ini || {
	bad "no PostgreSQL Unicode driver in /etc/odbcinst.ini (package odbc-postgresql)"
	exit 1
}
CONN="Driver={PostgreSQL Unicode};Servername=$PGHOST;Port=$PGPORT;Database=$DB;UserName=$PGUSER;"

psql -XAtq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null || exit 1
# 300 drivers: a third pushed within the last 20 hours, a third 2 to 5 days ago (outside the
# ttl of one day), a third fresh with null values; keys above 300 are missing
q >/dev/null <<'SQL' || { bad "set-up"; exit 1; }
CREATE EXTENSION cfeast;
SELECT feast_apply_entity('driver', 'driver_id', description => 'Driver id, as in the "drivers" table');
SELECT feast_apply_push_source('od_push', NULL);
SELECT feast_apply_feature_view('od_stats', '{driver}', '[
    {"name": "conv_rate", "dtype": "float64", "description": "Share of offered rides the driver accepted"},
    {"name": "trips", "dtype": "int32", "description": "Trips today"},
    {"name": "city", "dtype": "string", "description": "City of the last trip (it''s free text)"}]',
    'od_push', '1 day', description => 'Hourly driver statistics');
SELECT feast_apply_feature_view('od_rating', '{driver}', '[{"name": "stars", "dtype": "float32", "description": "Mean rating"}]',
    'od_push');
SELECT feast_apply_feature_service('od_dash', '{od_stats:conv_rate, od_stats:city, od_rating}', 'The dashboard');
SELECT setseed(0.42);
SELECT feast_push('od_push', (SELECT jsonb_agg(jsonb_build_object(
           'driver_id', g,
           'conv_rate', CASE WHEN g % 3 = 0 THEN NULL ELSE round(random()::numeric, 6) END,
           'trips', CASE WHEN g % 3 = 0 THEN NULL ELSE (random() * 100)::int END,
           'city', CASE WHEN g % 3 = 0 THEN NULL ELSE 'city ' || (g % 7) || ' é''"' END,
           'stars', round((random() * 5)::numeric, 2),
           'event_timestamp', CASE WHEN g % 3 = 1 THEN now() - (2 + random() * 3) * interval '1 day'
                                   ELSE now() - random() * interval '20 hours' END))
         FROM generate_series(1, 300) g));
SQL

# --------------------------------------------------------------- the catalog
(echo "SELECT c.relname || '.' || a.attname || ' ' || t.typname, coalesce(col_description(c.oid, a.attnum), '') FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped JOIN pg_type t ON t.oid = a.atttypid WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY c.relname, a.attnum") |
	"$W/odbc_probe" "$CONN" feast_serving >"$W/catalog.out" 2>"$W/catalog.err" || {
	bad "odbc_probe: $(cat "$W/catalog.err")"
	exit 1
}
got=$(awk -F'\t' '$1 == "table" { print $2 " " $3 }' "$W/catalog.out" | sort | tr '\n' ' ')
[ "$got" = "od_dash VIEW od_rating VIEW od_stats VIEW " ] && ok "SQLTables lists the serving views" ||
	bad "SQLTables: $got"
want=$(q -c "SELECT c.relname || ' ' || a.attname || ' ' || t.typname FROM pg_class c
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
               JOIN pg_type t ON t.oid = a.atttypid
              WHERE c.relnamespace = 'feast_serving'::regnamespace ORDER BY c.relname, a.attnum")
got=$(awk -F'\t' '$1 == "column" { print $2 " " $3 " " $4 }' "$W/catalog.out")
[ "$got" = "$want" ] && ok "SQLColumns: every column, in order, with its type ($(echo "$got" | wc -l) columns)" ||
	bad "SQLColumns: got
$got
want
$want"
echo "$got" | grep -qx "od_dash od_stats__conv_rate float8" && echo "$got" | grep -qx "od_stats age interval" &&
	ok "SQLColumns: full feature names in the service view, the age column" || bad "SQLColumns: names"

# REMARKS: psqlODBC (13.02) returns them empty from SQLColumns and SQLTables; where a driver
# fills them they must be the comments
bad_remarks=$(awk -F'\t' '$1 == "column" && $5 != "" { print $2 "." $3 "\t" $5 }' "$W/catalog.out" | while IFS=$'\t' read -r col rem; do
	[ "$rem" = "$(q -c "SELECT col_description('feast_serving.${col%%.*}'::regclass, (SELECT attnum FROM pg_attribute WHERE attrelid = 'feast_serving.${col%%.*}'::regclass AND attname = '${col#*.}'))")" ] || echo "$col"
done)
nremarks=$(awk -F'\t' '$1 == "column" && $5 != ""' "$W/catalog.out" | wc -l)
[ -z "$bad_remarks" ] && ok "SQLColumns REMARKS: $nremarks filled by the driver, each equal to the column comment" ||
	bad "REMARKS differ from the comments: $bad_remarks"
# the descriptions through the ODBC connection (the catalog query a tool without REMARKS runs)
grep -qP '^row\tod_stats\.conv_rate float8\tShare of offered rides the driver accepted \[feature; dtype: float64\]$' "$W/catalog.out" &&
	grep -qP '^row\tod_dash\.od_stats__city text\tCity of the last trip \(it.s free text\) \[feature; dtype: string\]$' "$W/catalog.out" &&
	grep -qP '^row\tod_dash\.driver_id int8\tDriver id, as in the "drivers" table \[join key of entity driver; value_type: int64\]$' "$W/catalog.out" &&
	grep -qP '^row\tod_rating\.stars float4\tMean rating \[feature; dtype: float32\]$' "$W/catalog.out" &&
	ok "feature descriptions read through ODBC as the serving views' column comments" ||
	bad "descriptions through ODBC: $(grep '^row' "$W/catalog.out" | head -20)"
descr_rows=$(grep -c '^row' "$W/catalog.out")
[ "$descr_rows" = "$(echo "$want" | wc -l)" ] && ok "a comment row per column" || bad "comment rows: $descr_rows"

# --------------------------------------------------------------- values by key
# 80 random keys (with repeats) among 1..400: fresh, expired, null-valued and missing
mapfile -t KEYS < <(q -c "SELECT (random() * 399)::int + 1 FROM generate_series(1, 80)")
for k in "${KEYS[@]}"; do
	echo "SELECT 'view', driver_id, conv_rate, trips, city FROM feast_serving.od_stats WHERE driver_id = $k"
	echo "SELECT 'service', driver_id, od_stats__conv_rate, od_rating__stars, od_stats__city FROM feast_serving.od_dash WHERE driver_id = $k"
done | "$W/odbc_probe" "$CONN" nothing_here >"$W/values.out" 2>"$W/values.err" || {
	bad "odbc_probe values: $(cat "$W/values.err")"
	exit 1
}
grep '^row' "$W/values.out" | cut -f2- >"$W/values.tsv"
# compare in SQL: the rows ODBC read, and the API's answer for every key asked
result=$(q <<SQL
CREATE TEMP TABLE odbc_rows (what text, driver_id bigint, a float8, b float8, city text);
\copy odbc_rows FROM '$W/values.tsv'
CREATE TEMP TABLE asked AS SELECT DISTINCT unnest('{$(
	IFS=,
	echo "${KEYS[*]}"
)}'::bigint[]) AS driver_id;
WITH api AS (
    SELECT k.driver_id, r
      FROM asked k,
           feast_get_online_features('{od_stats:conv_rate, od_stats:trips, od_stats:city}',
                                     jsonb_build_object('driver_id', jsonb_build_array(k.driver_id))) r),
     svc AS (
    SELECT k.driver_id, r
      FROM asked k,
           feast_get_online_features(feature_service => 'od_dash',
                                     entity_rows => jsonb_build_object('driver_id', jsonb_build_array(k.driver_id)),
                                     full_feature_names => true) r),
     cmp AS (
    SELECT a.driver_id, a.r -> 'results' -> 1 -> 'statuses' ->> 0 AS status,
           v.driver_id IS NOT NULL AS view_row,
           (a.r -> 'results' -> 1 -> 'values' ->> 0)::float8 IS NOT DISTINCT FROM v.a
           AND (a.r -> 'results' -> 2 -> 'values' ->> 0)::float8 IS NOT DISTINCT FROM v.b
           AND (a.r -> 'results' -> 3 -> 'values' ->> 0) IS NOT DISTINCT FROM v.city AS view_same,
           (s.r -> 'results' -> 1 -> 'values' ->> 0)::float8 IS NOT DISTINCT FROM w.a
           AND (s.r -> 'results' -> 2 -> 'values' ->> 0) IS NOT DISTINCT FROM w.city
           AND (s.r -> 'results' -> 3 -> 'values' ->> 0)::float4 IS NOT DISTINCT FROM w.stars::float4 AS svc_same,
           (s.r -> 'results' -> 1 -> 'statuses' ->> 0) AS svc_status
      FROM api a JOIN svc s USING (driver_id)
      LEFT JOIN (SELECT DISTINCT driver_id, a, b, city FROM odbc_rows WHERE what = 'view') v USING (driver_id)
      LEFT JOIN (SELECT DISTINCT driver_id, a, b AS stars, city FROM odbc_rows WHERE what = 'service') w USING (driver_id))
SELECT count(*) || ' keys; ' ||
       string_agg(DISTINCT status, '/' ORDER BY status) || '; ' ||
       count(*) FILTER (WHERE NOT view_same OR NOT svc_same) || ' differ; ' ||
       count(*) FILTER (WHERE view_row <> (status <> 'NOT_FOUND')) || ' row mismatches; ' ||
       count(*) FILTER (WHERE status = 'OUTSIDE_MAX_AGE') || ' expired, ' ||
       count(*) FILTER (WHERE status = 'NOT_FOUND') || ' missing, ' ||
       count(*) FILTER (WHERE status = 'NULL_VALUE') || ' null'
  FROM cmp;
SQL
)
echo "$result"
case "$result" in
*"NOT_FOUND/NULL_VALUE/OUTSIDE_MAX_AGE/PRESENT; 0 differ; 0 row mismatches;"*)
	ok "values read through ODBC equal feast_get_online_features' (view and service): $result" ;;
*) bad "values through ODBC: $result" ;;
esac
rows=$(wc -l <"$W/values.tsv")
[ "$rows" -gt 0 ] && ok "$rows rows read through ODBC" || bad "no rows read through ODBC"

echo "odbc check: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
