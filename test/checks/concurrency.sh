#!/bin/bash
# test/checks/concurrency.sh: writers push overlapping keys with random event times (several rows
# a call, in random key order) while readers call feast_get_online_features, for a fixed time.
# Each writer logs what it pushed in the same statement.  Afterwards every key must hold the
# newest row any writer pushed, and no client may have failed.  Prints p50/p99 latencies.
# CF_CONCURRENCY_SECONDS (default 10), WRITERS (3), READERS (2), KEYS (200).
set -eu
SECS=${CF_CONCURRENCY_SECONDS:-10}
WRITERS=${WRITERS:-3}
READERS=${READERS:-2}
KEYS=${KEYS:-200}
DB=cfeast_concurrency
WORK=$(mktemp -d "${CF_TMP:-/tmp}/concurrency.XXXXXX")
export PGDATABASE=$DB
dropdb --if-exists $DB 2>/dev/null
createdb $DB
psql -qX -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION cfeast;
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('src', NULL);
SELECT feast_apply_feature_view('v', '{driver}', '[{"name": "x", "dtype": "int64"}, {"name": "w", "dtype": "string"}]', 'src');
CREATE TABLE push_log (driver_id bigint, ts timestamptz, x bigint);
SQL

cat >"$WORK/write.sql" <<SQL
WITH rows AS MATERIALIZED (
  SELECT (random() * ($KEYS - 1))::int + 1 AS k,
         timestamptz '2024-01-01' + random() * interval '100 days' AS ts,
         (random() * 1e15)::bigint AS x
    FROM generate_series(1, 1 + (random() * 7)::int)),
dedup AS (SELECT DISTINCT ON (k) k, ts, x FROM rows ORDER BY k, ts DESC),
p AS (SELECT feast_push('src', jsonb_agg(jsonb_build_object('driver_id', k, 'event_timestamp', ts, 'x', x, 'w', 'pgbench')
                                           ORDER BY random())) AS n FROM rows)
INSERT INTO push_log SELECT k, ts, x FROM dedup, p WHERE p.n > 0;
SQL
cat >"$WORK/read.sql" <<SQL
SELECT feast_get_online_features('{v:x,v:w}', jsonb_build_object('driver_id',
  (SELECT jsonb_agg((random() * ($KEYS - 1))::int + 1) FROM generate_series(1, 10))));
SQL
chmod -R a+rwx "$WORK"
cd "$WORK"
pgbench -n -M simple -c "$WRITERS" -j "$WRITERS" -T "$SECS" -f write.sql -l --log-prefix=w >w.out 2>&1 &
wpid=$!
pgbench -n -M simple -c "$READERS" -j "$READERS" -T "$SECS" -f read.sql -l --log-prefix=r >r.out 2>&1 &
rpid=$!
wst=0; rst=0
wait $wpid || wst=$?
wait $rpid || rst=$?
fail=0
if [ $wst -ne 0 ] || grep -qiE "error|abort" w.out; then
	echo "FAIL: writers: exit $wst"; cat w.out; fail=1
fi
if [ $rst -ne 0 ] || grep -qiE "error|abort" r.out; then
	echo "FAIL: readers: exit $rst"; cat r.out; fail=1
fi
pct() { cat "$1".* | awk '{print $3}' | sort -n | awk '{a[NR] = $1} END {
	if (NR == 0) { print "no transactions"; exit }
	printf "%d calls, p50 %.2f ms, p99 %.2f ms", NR, a[int(NR * 0.50) + 1] / 1000, a[int(NR * 0.99) + (NR > 1 ? 0 : 1)] / 1000 }'; }
echo "writers ($WRITERS, 1-8 rows a push, $KEYS keys, ${SECS}s): $(pct w)"
echo "readers ($READERS, 10 keys a read, ${SECS}s): $(pct r)"
# every key holds the newest row any writer pushed (ties on the exact microsecond are not expected)
bad=$(psql -qAtX -c "
  WITH newest AS (SELECT DISTINCT ON (driver_id) driver_id, ts, x FROM push_log ORDER BY driver_id, ts DESC)
  SELECT count(*) FROM newest n FULL JOIN feast_online.v o USING (driver_id)
   WHERE o.x IS DISTINCT FROM n.x OR o.event_timestamp IS DISTINCT FROM n.ts")
pushed=$(psql -qAtX -c "SELECT count(*) || ' rows logged, ' || count(DISTINCT driver_id) || ' keys' FROM push_log")
echo "pushed: $pushed; keys not holding their newest row: $bad"
[ "$bad" = 0 ] || fail=1
dropdb $DB
exit $fail
