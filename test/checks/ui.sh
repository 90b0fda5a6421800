#!/bin/bash
# test/checks/ui.sh: Feast's web UI over cfeast-server, in a real browser.
#
# Builds the UI app (test/ui, `make ui`: npm's @feast-dev/feast-ui bundled by
# esbuild) unless test/ui/dist exists, registers a store like the
# quickstart's (two entities, a batch source, a push source, two views, a
# service), starts `cfeast-server --ui test/ui/dist`, and checks:
#   - each registry REST endpoint the UI reads, its shape as the UI reads it
#     (lists, details, relationships, pagination, features, projects);
#   - unknown objects and projects: 404 with Feast's error shape;
#   - --ui: content types, client-side routes get index.html, paths that
#     would leave the folder (/../, %2e%2e, %2f, backslash, a symlink out)
#     are 404 and never the file;
#   - headless Chromium renders the UI: the project's home, its lineage page
#     naming every entity, view, service and source, the list pages of each
#     kind, and a feature view's page with its features and dtypes (read from
#     the rendered DOM, not the JSON); a screenshot is saved as
#     $CF_TMP/check-ui/ui.png (CF_UI_SCREENSHOT=FILE copies it there).
# If Chromium cannot start, the check fails saying so: it never skips.
#
# Needs PGHOST/PGPORT/PGUSER, CF_ROOT, CF_TMP (test/run-all.sh sets them),
# node and npm (installed from Debian when missing) and chromium.
set -u
cd "$CF_ROOT" || exit 1
export PGOPTIONS="-c client_min_messages=warning"

DB=cfeast_check_ui
W="$CF_TMP/check-ui"
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
	for p in "${SERVER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
}
trap cleanup EXIT
. test/lib/server.sh

# the tools: node/npm for the build, chromium for the browser
need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
	echo "installing ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "${need[@]}" >"$W/apt.log" 2>&1 || { cat "$W/apt.log"; exit 1; }
fi
if [ ! -f test/ui/dist/index.html ]; then
	echo "building the UI (make ui)"
	make -s ui >"$W/build.log" 2>&1 || { tail -30 "$W/build.log"; bad "make ui"; exit 1; }
fi
[ -f test/ui/dist/index.html ] && [ -f test/ui/dist/index.js ] && ok "make ui built test/ui/dist" || bad "make ui"

# a store like the quickstart's
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" || exit 1
q <<'SQL' >/dev/null || exit 1
CREATE EXTENSION cfeast;
CREATE TABLE driver_stats (driver_id bigint, customer_id bigint, event_timestamp timestamptz, created timestamptz,
                           conv_rate real, acc_rate real, avg_daily_trips integer, lifetime_spend double precision);
SELECT feast_apply_entity('driver', 'driver_id', 'int64', description => 'a driver of the fleet');
SELECT feast_apply_entity('customer', 'customer_id', 'int64');
SELECT feast_apply_batch_source('driver_stats_source', 'driver_stats', 'event_timestamp', 'created');
SELECT feast_apply_push_source('driver_stats_push', 'driver_stats_source');
SELECT feast_apply_feature_view('driver_hourly_stats', '{driver}',
    '[{"name": "conv_rate", "dtype": "float32", "description": "conversion rate"},
      {"name": "acc_rate", "dtype": "float32"}, {"name": "avg_daily_trips", "dtype": "int64"}]',
    'driver_stats_push', ttl => '1 day', description => 'hourly driver statistics');
SELECT feast_apply_feature_view('customer_profile', '{customer}',
    '[{"name": "lifetime_spend", "dtype": "float64"}]', 'driver_stats_source');
SELECT feast_apply_feature_service('driver_activity', ARRAY['driver_hourly_stats', 'customer_profile:lifetime_spend']);
SQL

start_server ui "dbname=$DB" --ui test/ui/dist || { bad "server start"; exit 1; }
BASE="http://127.0.0.1:$PORT"

# get PATH: body in $W/body, status echoed
get() { curl -s --path-as-is -o "$W/body" -D "$W/headers" -w '%{http_code}' "$BASE$1"; }
# json PYTHON-EXPR: evaluates EXPR with the last body as j; prints the result
json() { python3 -c "import json,sys; j=json.load(open('$W/body')); print($1)"; }
expect_json() {
	local what=$1 path=$2 expr=$3 want=$4 code got
	code=$(get "$path")
	got=$(json "$expr" 2>&1)
	if [ "$code" = 200 ] && [ "$got" = "$want" ]; then ok "$what"; else
		bad "$what: GET $path: $code, $expr = $got, expected $want"; head -c 600 "$W/body"; echo; fi
}

# --- the registry REST API, as the UI reads it
expect_json "projects-list.json names the database, registry at /api/v1" /projects-list.json \
	"[(p['id'], p['name'], p['registryPath']) for p in j['projects']]" "[('$DB', '$DB', '/api/v1')]"
expect_json "projects" /api/v1/projects "[p['spec']['name'] for p in j['projects']]" "['$DB']"
expect_json "entities/all: both, with the project" "/api/v1/entities/all?limit=100&include_relationships=true" \
	"[(e['spec']['name'], e['spec']['joinKey'], e['spec'].get('valueType'), e['project']) for e in j['entities']]" \
	"[('customer', 'customer_id', 'INT64', '$DB'), ('driver', 'driver_id', 'INT64', '$DB')]"
expect_json "entities/all: relationships entity -> view, -> service" "/api/v1/entities/all?include_relationships=true" \
	"sorted((r['source']['name'], r['target']['type'], r['target']['name']) for r in j['relationships']['driver'])" \
	"[('driver', 'featureService', 'driver_activity'), ('driver', 'featureView', 'driver_hourly_stats')]"
expect_json "entities?project=: pagination as Feast's" "/api/v1/entities?project=$DB&limit=1&page=2" \
	"([e['spec']['name'] for e in j['entities']], j['pagination'])" \
	"(['driver'], {'page': 2, 'limit': 1, 'totalCount': 2, 'totalPages': 2, 'hasPrevious': True})"
expect_json "entity detail with relationships" "/api/v1/entities/driver?project=$DB&include_relationships=true" \
	"(j['spec']['name'], j['spec'].get('description'), len(j['relationships']))" \
	"('driver', 'a driver of the fleet', 2)"
expect_json "feature_views/all: typed views, features and dtypes" "/api/v1/feature_views/all?limit=100&include_relationships=true" \
	"[(v['type'], v['spec']['name'], [(f['name'], f['valueType']) for f in v['spec']['features']]) for v in j['featureViews']]" \
	"[('featureView', 'customer_profile', [('lifetime_spend', 'DOUBLE')]), ('featureView', 'driver_hourly_stats', [('conv_rate', 'FLOAT'), ('acc_rate', 'FLOAT'), ('avg_daily_trips', 'INT64')])]"
expect_json "feature_views: relationships source -> view" "/api/v1/feature_views/all?include_relationships=true" \
	"sorted((r['source']['type'], r['source']['name']) for r in j['relationships']['driver_hourly_stats'] if r['target']['name'] == 'driver_hourly_stats')" \
	"[('dataSource', 'driver_stats_push'), ('dataSource', 'driver_stats_source'), ('entity', 'driver')]"
expect_json "feature view detail" "/api/v1/feature_views/driver_hourly_stats?project=$DB&include_relationships=true" \
	"(j['spec']['name'], j['spec']['ttl'], j['spec']['batchSource']['name'], j['spec']['streamSource']['name'])" \
	"('driver_hourly_stats', '86400s', 'driver_stats_source', 'driver_stats_push')"
expect_json "feature_services/all: projections" "/api/v1/feature_services/all?limit=100&include_relationships=true" \
	"[(s['spec']['name'], [(p['featureViewName'], [c['name'] for c in p['featureColumns']]) for p in s['spec']['features']]) for s in j['featureServices']]" \
	"[('driver_activity', [('driver_hourly_stats', ['conv_rate', 'acc_rate', 'avg_daily_trips']), ('customer_profile', ['lifetime_spend'])])]"
expect_json "data_sources/all: batch and push" "/api/v1/data_sources/all?limit=100&include_relationships=true" \
	"[(d['name'], d['type']) for d in j['dataSources']]" \
	"[('driver_stats_push', 'PUSH_SOURCE'), ('driver_stats_source', 'CUSTOM_SOURCE')]"
expect_json "data source detail" "/api/v1/data_sources/driver_stats_source?project=$DB" \
	"(j['name'], j['timestampField'], j['createdTimestampColumn'])" \
	"('driver_stats_source', 'event_timestamp', 'created')"
expect_json "features/all" "/api/v1/features/all?limit=100" \
	"[(f['featureView'], f['name'], f['type']) for f in j['features']]" \
	"[('customer_profile', 'lifetime_spend', 'DOUBLE'), ('driver_hourly_stats', 'acc_rate', 'FLOAT'), ('driver_hourly_stats', 'avg_daily_trips', 'INT64'), ('driver_hourly_stats', 'conv_rate', 'FLOAT')]"
expect_json "feature detail" "/api/v1/features/driver_hourly_stats/conv_rate?project=$DB" \
	"(j['name'], j['featureView'], j['type'], j['description'])" "('conv_rate', 'driver_hourly_stats', 'FLOAT', 'conversion rate')"
expect_json "kinds cfeast lacks are empty lists" "/api/v1/saved_datasets/all?limit=100" "j['savedDatasets']" "[]"
expect_json "label views: empty" "/api/v1/label_views/all?limit=100&include_relationships=true" "j['featureViews']" "[]"
expect_json "permissions: empty" "/api/v1/permissions?project=$DB" "j['permissions']" "[]"

# --- unknown objects: 404 with Feast's error shape
for p in "/api/v1/entities/nobody?project=$DB" "/api/v1/feature_views/nothing?project=$DB" \
	"/api/v1/feature_services/none?project=$DB" "/api/v1/data_sources/none?project=$DB" \
	"/api/v1/features/driver_hourly_stats/nope?project=$DB" "/api/v1/entities?project=other_db" \
	"/api/v1/projects/other_db"; do
	code=$(get "$p")
	shape=$(json "(j['status_code'], j['error_type'], 'does not exist' in j['detail'])" 2>&1)
	if [ "$code" = 404 ] && [ "$shape" = "(404, 'FeastObjectNotFoundException', True)" ]; then
		ok "404 Feast shape: $p"; else bad "404 for $p: $code $shape"; fi
done
code=$(get /api/v1/no_such_kind)
[ "$code" = 404 ] && [ "$(json "j['detail']")" = "Not Found" ] && ok "unknown API path: 404" || bad "unknown API path: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/v1/entities?project=$DB" -d '{}')
[ "$code" = 405 ] && ok "POST on the read-only API: 405" || bad "POST on the API: $code"

# --- static files, client-side routes, and nothing outside the folder
code=$(get /)
[ "$code" = 200 ] && grep -qi '^content-type: text/html' "$W/headers" && grep -q 'id="root"' "$W/body" \
	&& ok "/ is index.html" || bad "/: $code"
code=$(get /index.js)
[ "$code" = 200 ] && grep -qi '^content-type: text/javascript' "$W/headers" && ok "index.js as JavaScript" || bad "index.js: $code"
code=$(get /index.css)
[ "$code" = 200 ] && grep -qi '^content-type: text/css' "$W/headers" && ok "index.css as CSS" || bad "index.css: $code"
code=$(get "/p/$DB/feature-view/driver_hourly_stats")
[ "$code" = 200 ] && grep -q 'id="root"' "$W/body" && ok "a client-side route gets index.html" || bad "client route: $code"
code=$(get /no-such-file.js)
[ "$code" = 404 ] && ok "a missing file with an extension: 404" || bad "missing file: $code"
# a file beside the folder, and a symlink inside it pointing out
echo "SECRET-OUTSIDE" >test/ui/outside.txt
ln -sfn "$PWD/test/ui/outside.txt" test/ui/dist/link.txt
for p in /../outside.txt /%2e%2e/outside.txt /..%2foutside.txt /%2E%2E%2Foutside.txt /assets/../../outside.txt \
	'/..%5coutside.txt' /link.txt '/%2e%2e/%2e%2e/%2e%2e/etc/passwd' /../../../../etc/passwd; do
	code=$(get "$p")
	if [ "$code" = 404 ] && ! grep -q 'SECRET-OUTSIDE\|root:' "$W/body"; then ok "escape refused: $p"
	else bad "escape $p: $code $(head -c 100 "$W/body")"; fi
done
rm -f test/ui/outside.txt test/ui/dist/link.txt

# --- the browser: the rendered DOM
CHROME=(chromium --headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run
	--user-data-dir="$W/chrome" --window-size=1400,1000 --virtual-time-budget=20000)
# dom PAGE FILE: the DOM of the UI's page /p/$DB/PAGE after its scripts ran, as text in FILE
dom() {
	timeout 120 "${CHROME[@]}" --dump-dom "$BASE/p/$DB/$1" >"$W/$2.html" 2>>"$W/chrome.err" || return 1
	python3 - "$W/$2.html" >"$W/$2.txt" <<'PY'
import html, re, sys
s = open(sys.argv[1]).read()
s = re.sub(r"<(style|script)[^>]*>.*?</\1>", "", s, flags=re.S)
print(html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", s))))
PY
}
# shows PAGE FILE NAME...: every NAME is a word of the rendered page
shows() {
	local page=$1 file=$2 missing=() n
	shift 2
	for n in "$@"; do grep -qw -- "$n" "$W/$file.txt" || missing+=("$n"); done
	[ ${#missing[@]} = 0 ] && ok "the UI's /p/$DB/$page shows $*" \
		|| { bad "the UI's /p/$DB/$page lacks ${missing[*]}"; head -c 1500 "$W/$file.txt"; echo; }
}
if ! dom "" home; then
	bad "Chromium could not start or render (see below): the UI test cannot run on this machine"
	grep -v dbus "$W/chrome.err" | tail -20
else
	shows "" home "Project: $DB" "Feature Views" "Entities"
	# the lineage graph draws a regular view's batch source only (the UI's own rule), so the
	# push source is looked for on the data-source page below
	dom lineage/ lineage
	shows lineage/ lineage driver customer driver_hourly_stats customer_profile driver_activity \
		driver_stats_source
	dom entity/ entities && shows entity/ entities driver customer
	dom feature-view/ views && shows feature-view/ views driver_hourly_stats customer_profile
	dom feature-service/ services && shows feature-service/ services driver_activity
	dom data-source/ sources && shows data-source/ sources driver_stats_source driver_stats_push
	dom feature-view/driver_hourly_stats/ view && shows feature-view/driver_hourly_stats/ view \
		conv_rate acc_rate avg_daily_trips FLOAT INT64 driver driver_activity
	timeout 120 "${CHROME[@]}" --screenshot="$W/ui.png" "$BASE/p/$DB/feature-view/driver_hourly_stats/" \
		>/dev/null 2>>"$W/chrome.err"
	[ -s "$W/ui.png" ] && ok "screenshot $W/ui.png" || bad "no screenshot"
	[ -n "${CF_UI_SCREENSHOT:-}" ] && [ -s "$W/ui.png" ] && cp "$W/ui.png" "$CF_UI_SCREENSHOT"
fi

kill "${SERVER_PIDS[@]}" 2>/dev/null
wait 2>/dev/null
SERVER_PIDS=()
psql -Xq -d postgres -c "DROP DATABASE IF EXISTS $DB"
echo "ui: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
