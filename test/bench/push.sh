#!/bin/bash
# test/bench/push.sh: feast_push against the hand-written jsonb upsert, same data, same table shape:
# the JSON text form (what the server and most clients send) and the jsonb form (jsonb in hand).
# Needs a running cluster (PGHOST/PGPORT/PGUSER) where cfeast can be created; run it through
# test/bench/run.sh.  ROWS, BATCH, PGBENCH_SECONDS and CLIENTS can be set in the environment.
set -eu
ROWS=${ROWS:-100000}
BATCH=${BATCH:-10000}
SECS=${PGBENCH_SECONDS:-10}
CLIENTS=${CLIENTS:-2}
DB=cfeast_bench_push
export PGDATABASE=$DB
dropdb --if-exists $DB
createdb $DB
Q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

Q <<SQL
CREATE EXTENSION cfeast;
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('bench_src', NULL);
SELECT feast_apply_feature_view('bench', '{driver}',
  (SELECT jsonb_agg(jsonb_build_object('name', 'f' || i, 'dtype', 'float64')) FROM generate_series(1, 10) i),
  'bench_src');
-- the hand-written alternative: an identical table
CREATE TABLE hand (LIKE feast_online.bench INCLUDING ALL) WITH (fillfactor = 90);
-- the batches, as JSON text: fresh keys at 10:00, then the same keys again at 11:00
CREATE TABLE batches (pass int, i int, body text);
INSERT INTO batches
SELECT p, b, (SELECT jsonb_agg(jsonb_build_object('driver_id', k, 'event_timestamp', ts,
                 'f1', random(), 'f2', random(), 'f3', random(), 'f4', random(), 'f5', random(),
                 'f6', random(), 'f7', random(), 'f8', random(), 'f9', random(), 'f10', random()))::text
               FROM generate_series(b * $BATCH + 1, (b + 1) * $BATCH) k)
  FROM (VALUES (1, '2024-05-01T10:00:00Z'), (2, '2024-05-01T11:00:00Z')) AS t(p, ts),
       generate_series(0, $ROWS / $BATCH - 1) b;
SQL

# one statement per batch, each its own transaction, as a stream processor would send them
run_batches() { # $1 pass, $2 statement with BODY for the batch text
	local pass=$1 stmt=$2 n=$((ROWS / BATCH)) i
	{
		echo '\timing on'
		for ((i = 0; i < n; i++)); do
			echo "${stmt//BODY/(SELECT body FROM batches WHERE pass = $pass AND i = $i)}"
		done
	} | psql -qAtX -v ON_ERROR_STOP=1 | awk '/^Time:/ {s += $2} END {printf "%.1f", s}'
}
HAND="INSERT INTO hand AS t SELECT r.* FROM jsonb_to_recordset(BODY::jsonb) AS r(driver_id bigint,
  f1 float8, f2 float8, f3 float8, f4 float8, f5 float8, f6 float8, f7 float8, f8 float8, f9 float8, f10 float8,
  event_timestamp timestamptz, created_timestamp timestamptz)
  ON CONFLICT (driver_id) DO UPDATE SET f1 = EXCLUDED.f1, f2 = EXCLUDED.f2, f3 = EXCLUDED.f3, f4 = EXCLUDED.f4,
  f5 = EXCLUDED.f5, f6 = EXCLUDED.f6, f7 = EXCLUDED.f7, f8 = EXCLUDED.f8, f9 = EXCLUDED.f9, f10 = EXCLUDED.f10,
  event_timestamp = EXCLUDED.event_timestamp, created_timestamp = EXCLUDED.created_timestamp
  WHERE EXCLUDED.event_timestamp > t.event_timestamp;"
CF="SELECT feast_push('bench_src', BODY::jsonb);"
# the text form: the batch's JSON text as it is (an untyped literal takes this form too)
CFT="SELECT feast_push('bench_src', BODY);"

report() { # label cfeast_ms hand_ms
	awk -v l="$1" -v c="$2" -v h="$3" -v n="$ROWS" 'BEGIN {
		printf "%-44s cfeast %8.0f rows/s   hand-written %8.0f rows/s   ratio %.2fx\n", l, n / (c / 1000), n / (h / 1000), h / c }'
}
Q -c "VACUUM ANALYZE" >/dev/null
# best of REPEAT rounds (each from empty tables), so other load on the machine counts less
REPEAT=${REPEAT:-3}
best() { awk -v a="$1" -v b="$2" 'BEGIN {print (a == "" || b < a) ? b : a}'; }
c1=; c2=; c3=; h1=; h2=; h3=; p1=; t1=; t2=; t3=
for ((round = 0; round < REPEAT; round++)); do
	Q -c "TRUNCATE feast_online.bench, hand" >/dev/null
	c1=$(best "$c1" "$(run_batches 1 "$CF")"); h1=$(best "$h1" "$(run_batches 1 "$HAND")")
	c2=$(best "$c2" "$(run_batches 2 "$CF")"); h2=$(best "$h2" "$(run_batches 2 "$HAND")")
	# stale rows: the 10:00 rows again, every one older than what is stored
	c3=$(best "$c3" "$(run_batches 1 "$CF")"); h3=$(best "$h3" "$(run_batches 1 "$HAND")")
	p1=$(best "$p1" "$(run_batches 1 "SELECT (BODY::jsonb) IS NOT NULL;")")
	# the text form, from an empty online table again
	Q -c "TRUNCATE feast_online.bench" >/dev/null
	t1=$(best "$t1" "$(run_batches 1 "$CFT")")
	t2=$(best "$t2" "$(run_batches 2 "$CFT")")
	t3=$(best "$t3" "$(run_batches 1 "$CFT")")
done
report "text: push ${ROWS} fresh keys (${BATCH}/batch)" "$t1" "$h1"
report "text: push ${ROWS} updates (${BATCH}/batch)" "$t2" "$h2"
report "text: push ${ROWS} stale rows (${BATCH}/batch)" "$t3" "$h3"
report "jsonb: push ${ROWS} fresh keys (${BATCH}/batch)" "$c1" "$h1"
report "jsonb: push ${ROWS} updates (${BATCH}/batch)" "$c2" "$h2"
report "jsonb: push ${ROWS} stale rows (${BATCH}/batch)" "$c3" "$h3"
awk -v p="$p1" -v n="$ROWS" -v c="$c1" -v h="$h1" 'BEGIN {
	printf "  of which JSON text -> jsonb, paid by both: %.0f rows/s (%.2f us/row); without it, fresh keys: cfeast %.2f us/row, hand-written %.2f us/row (%.2fx)\n",
		n / (p / 1000), p * 1000 / n, (c - p) * 1000 / n, (h - p) * 1000 / n, (h - p) / (c - p) }'
same=$(Q -c "SELECT count(*) FROM feast_online.bench o JOIN hand h USING (driver_id)
             WHERE (o.f1, o.f10, o.event_timestamp) = (h.f1, h.f10, h.event_timestamp)")
echo "identical rows in both tables: $same of $ROWS (the text form's run, after the updates and stale rows)"

# single-row pushes under pgbench, simple protocol for both, the same JSON text for both
# (ISO timestamps from random days and hours, so some pushes update and some are stale)
ROW='[{"driver_id": :k, "event_timestamp": "2024-05-:d :h:00:00Z", "f1": 0.1, "f2": 0.2, "f3": 0.3, "f4": 0.4, "f5": 0.5, "f6": 0.6, "f7": 0.7, "f8": 0.8, "f9": 0.9, "f10": 1.0}]'
VARS='\set k random(1, 100000)
\set d random(10, 28)
\set h random(10, 23)'
printf '%s\n%s\n' "$VARS" "${CF//BODY/\'$ROW\'}" >"$CF_TMP/cf.sql"
printf '%s\n%s\n' "$VARS" "${CFT//BODY/\'$ROW\'}" >"$CF_TMP/cft.sql"
printf '%s\n%s\n' "$VARS" "$(echo "${HAND//BODY/\'$ROW\'}" | tr '\n' ' ')" >"$CF_TMP/hand.sql"
tps() { pgbench -n -M simple -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$1" | awk '/^tps/ {print $3; exit}'; }
# ROUNDS rounds, alternated (text, hand-written, jsonb; then jsonb, hand-written, text; ...) so that
# load from elsewhere on the machine falls on both sides alike; each round's ratio is against the
# hand-written run between the two cfeast runs; the lines give the median of each
ROUNDS=${PGBENCH_ROUNDS:-3}
rt=(); rc=(); rh=(); qt=(); qc=()
for ((round = 0; round < ROUNDS; round++)); do
	if ((round % 2 == 0)); then
		tt=$(tps "$CF_TMP/cft.sql"); th=$(tps "$CF_TMP/hand.sql"); tc=$(tps "$CF_TMP/cf.sql")
	else
		tc=$(tps "$CF_TMP/cf.sql"); th=$(tps "$CF_TMP/hand.sql"); tt=$(tps "$CF_TMP/cft.sql")
	fi
	rt+=("$tt"); rc+=("$tc"); rh+=("$th")
	qt+=("$(awk -v c="$tt" -v h="$th" 'BEGIN {printf "%.3f", c / h}')")
	qc+=("$(awk -v c="$tc" -v h="$th" 'BEGIN {printf "%.3f", c / h}')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
awk -v c="$(median "${rt[@]}")" -v h="$(median "${rh[@]}")" -v r="$(median "${qt[@]}")" -v n="$CLIENTS" -v s="$SECS" 'BEGIN {
	printf "%-44s cfeast %8.0f tps      hand-written %8.0f tps      ratio %.2fx\n", "text: single-row push, pgbench " n "x" s "s", c, h, r }'
awk -v c="$(median "${rc[@]}")" -v h="$(median "${rh[@]}")" -v r="$(median "${qc[@]}")" -v n="$CLIENTS" -v s="$SECS" 'BEGIN {
	printf "%-44s cfeast %8.0f tps      hand-written %8.0f tps      ratio %.2fx\n", "jsonb: single-row push, pgbench " n "x" s "s", c, h, r }'
echo "  single-row rounds (median above; tps ratio per round): text ${qt[*]}; jsonb ${qc[*]}; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# the same single-row pushes with both statements prepared once (pgbench -M prepared), as a client
# that prepares its statements sends them: the hand-written upsert then skips its parse and plan,
# which the simple protocol makes it pay on every call.  The JSON text is built from the variables
# by concatenation (a prepared statement's parameters cannot sit inside a literal), on both sides.
PBODY="'[{\"driver_id\": ' || :k || ', \"event_timestamp\": \"2024-05-' || :d || ' ' || :h || ':00:00Z\", \"f1\": 0.1, \"f2\": 0.2, \"f3\": 0.3, \"f4\": 0.4, \"f5\": 0.5, \"f6\": 0.6, \"f7\": 0.7, \"f8\": 0.8, \"f9\": 0.9, \"f10\": 1.0}]'"
printf '%s\n%s\n' "$VARS" "${CFT//BODY/($PBODY)::text}" >"$CF_TMP/cft_p.sql"
printf '%s\n%s\n' "$VARS" "$(echo "${HAND//BODY/($PBODY)}" | tr '\n' ' ')" >"$CF_TMP/hand_p.sql"
tpsp() { pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECS" -f "$1" | awk '/^tps/ {print $3; exit}'; }
pt=(); ph=(); qp=()
for ((round = 0; round < ROUNDS; round++)); do
	if ((round % 2 == 0)); then
		tt=$(tpsp "$CF_TMP/cft_p.sql"); th=$(tpsp "$CF_TMP/hand_p.sql")
	else
		th=$(tpsp "$CF_TMP/hand_p.sql"); tt=$(tpsp "$CF_TMP/cft_p.sql")
	fi
	pt+=("$tt"); ph+=("$th")
	qp+=("$(awk -v c="$tt" -v h="$th" 'BEGIN {printf "%.3f", c / h}')")
done
awk -v c="$(median "${pt[@]}")" -v h="$(median "${ph[@]}")" -v r="$(median "${qp[@]}")" -v n="$CLIENTS" -v s="$SECS" 'BEGIN {
	printf "%-44s cfeast %8.0f tps      hand-written %8.0f tps      ratio %.2fx\n", "text: single-row, prepared, pgbench " n "x" s "s", c, h, r }'
echo "  prepared rounds (tps ratio per round): ${qp[*]}"

# the same single-row pushes in one session, one statement (and transaction) each, timed by the
# backend's own CPU (user + system, /proc/<pid>/stat): less sensitive to other load than tps, and
# "SELECT 1" gives the floor every statement pays (protocol, parse, a transaction).  Rounds
# alternate the sides; each side's best round counts.  The hand-written side gets the text side's
# rows (same seed); the jsonb side other rows of the same kind, as the text side's are stored by then.
SINGLE_CALLS=${SINGLE_CALLS:-5000}
CPU_ROUNDS=${CPU_ROUNDS:-3}
single_cpu() { # $1 statement with BODY, $2 seed -> backend CPU us per call
	local cpu="(split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ', 14)::bigint
	           + split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ' ', 15)::bigint)"
	{
		echo "SELECT $cpu AS c0 \\gset"
		awk -v n="$SINGLE_CALLS" -v stmt="$1" -v row="$ROW" -v seed="$2" 'BEGIN {
			srand(seed)
			for (i = 0; i < n; i++) {
				r = row
				sub(/:k/, int(rand() * 100000) + 1, r); sub(/:d/, int(rand() * 19) + 10, r); sub(/:h/, int(rand() * 14) + 10, r)
				s = stmt; gsub(/\n/, " ", s); sub(/BODY/, "\047" r "\047", s)
				print s
			} }'
		echo "SELECT $cpu AS c1 \\gset"
		echo "\\echo :c0 :c1"
	} | psql -qAtX -v ON_ERROR_STOP=1 -o /dev/null |
		awk -v n="$SINGLE_CALLS" -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($2 - $1) * 1e6 / hz / n}'
}
ct=; ch=; cc=; c0=
for ((round = 0; round < CPU_ROUNDS; round++)); do
	ct=$(best "$ct" "$(single_cpu "$CFT" $((100 + round)))")
	ch=$(best "$ch" "$(single_cpu "$HAND" $((100 + round)))")
	cc=$(best "$cc" "$(single_cpu "$CF" $((200 + round)))")
	c0=$(best "$c0" "$(single_cpu "SELECT 1;" 1)")
done
awk -v t="$ct" -v c="$cc" -v h="$ch" -v z="$c0" -v n="$SINGLE_CALLS" -v k="$CPU_ROUNDS" 'BEGIN {
	printf "  single-row push, backend CPU per call (best of %d rounds of %d calls): text %.1f us, jsonb %.1f us, hand-written %.1f us (%.2fx, %.2fx); SELECT 1: %.1f us\n",
		k, n, t, c, h, h / t, h / c, z }'

# memory: all rows in one call; the push's own memory context against the jsonb's size
psql -qAtX -v ON_ERROR_STOP=1 2>&1 <<SQL | sed -n 's/.*pushed \([0-9]*\) rows.*batch memory \([0-9]*\) kB.*/\1 \2/p' >"$CF_TMP/mem"
CREATE TEMP TABLE one AS
  SELECT ('[' || string_agg(trim(both '[]' from body), ',') || ']')::jsonb AS b FROM batches WHERE pass = 1;
SET client_min_messages = debug1;
SELECT feast_push('bench_src', b) FROM one;
SQL
jsz=$(Q -c "SELECT pg_column_size(('[' || string_agg(trim(both '[]' from body), ',') || ']')::jsonb) FROM batches WHERE pass = 1")
read -r mrows mkb <"$CF_TMP/mem"
awk -v r="$mrows" -v k="$mkb" -v j="$jsz" 'BEGIN {
	printf "memory: one %d-row push used %.1f MB in its memory context; the jsonb itself is %.1f MB (%.1fx)\n", r, k / 1024, j / 1048576, (k * 1024) / j }'
dropdb $DB
