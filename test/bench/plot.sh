#!/bin/bash
# test/bench/plot.sh: the plotted benchmark.  Against a running cluster with cfeast installed
# (PGHOST/PGPORT/PGUSER as for psql; or through run.sh: bash test/bench/run.sh plot), as root on
# Debian 12 (it installs gnuplot-nox with apt and @duckdb/node-api with npm into a temporary
# directory if they are missing; nothing fetched is committed).  Writes into test/bench/ (or
# PLOT_OUT):
#   training.png  the time of a training set (test/bench/historical.sh's data and checks) as the
#                 entity rows grow, feature rows 10x entity rows, ttl 1 day: cfeast
#                 (feast_create_training_set), LATERAL (index on key, time), the SQL Feast's
#                 Postgres offline store generates (while a run stays under FEAST_LIMIT_MS) and
#                 DuckDB's ASOF JOIN (2 threads, its result written into a table of a database
#                 file, as the others write a table); CPU time (backend and parallel workers) for the three
#                 PostgreSQL ones (read from /proc, so a loaded machine counts less), process CPU
#                 time for DuckDB; wall times are in the table
#   push.png      push throughput (rows/s) by batch size: feast_push against the hand-written
#                 INSERT ... SELECT FROM jsonb_to_recordset ... ON CONFLICT DO UPDATE ... WHERE newer
#                 into an identical table, each under pgbench (PUSH_ROWS rows a point, at least 3
#                 batches; both tables emptied before each point)
# and prints the data tables.  Settings (environment):
#   PLOT_SIZES     entity rows (default "10000 20000 50000 100000 200000 500000")
#   PLOT_LARGE=1   adds 1000000 and 2000000 (long: 20M feature rows to generate)
#   FEAST_LIMIT_MS Feast's SQL runs while its predicted time stays under this (60000)
#   SKIP_DUCKDB=1  no DuckDB series;  SKIP_TRAINING=1 / SKIP_PUSH=1 one plot only
#   PLOT_BATCHES   batch sizes (default "1 10 100 1000 10000"); PUSH_ROWS (20000); CLIENTS (1)
#   PUSH_FORM      jsonb (feast_push gets body::jsonb, as the hand-written statement does) or
#                  text (feast_push gets the JSON text itself)
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${PLOT_OUT:-$HERE}
SIZES=${PLOT_SIZES:-"10000 20000 50000 100000 200000 500000"}
[ "${PLOT_LARGE:-0}" = 1 ] && SIZES="$SIZES 1000000 2000000"
FEAST_LIMIT_MS=${FEAST_LIMIT_MS:-60000}
BATCHES=${PLOT_BATCHES:-"1 10 100 1000 10000"}
PUSH_ROWS=${PUSH_ROWS:-20000}
CLIENTS=${CLIENTS:-1}
PUSH_FORM=${PUSH_FORM:-jsonb}
WORK=$(mktemp -d /tmp/cfeast-plot.XXXXXX)
chmod 755 "$WORK"
trap 'rm -rf "$WORK"' EXIT

if ! command -v gnuplot >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends \
		gnuplot-nox >/dev/null
fi
if [ "${SKIP_DUCKDB:-0}" != 1 ] && [ "${SKIP_TRAINING:-0}" != 1 ]; then
	(cd "$WORK" && npm install --silent --no-audit --no-fund @duckdb/node-api >/dev/null)
	cp "$HERE/historical_duckdb.mjs" "$WORK/"
fi
STAMP="$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%F %H:%M UTC')"

# ---- training sets by size ----
if [ "${SKIP_TRAINING:-0}" != 1 ]; then
	DB=cfeast_bench_plot
	T="$WORK/training.dat"
	echo "# entity_rows feature_rows cfeast_cpu lateral_cpu feast_cpu duckdb_cpu cfeast_wall lateral_wall feast_wall duckdb_wall" >"$T"
	skip_a=0 prev_a= prev_e=
	for e in $SIZES; do
		keys=$((e / 10))
		runs=2
		[ "$e" -gt 200000 ] && runs=1
		# Feast's SQL grows about linearly: skip it once this size would pass the limit
		if [ -n "$prev_a" ] && [ $((prev_a * e / prev_e)) -gt "$FEAST_LIMIT_MS" ]; then skip_a=1; fi
		log=$(ENTITY_ROWS=$e KEYS=$keys ROWS_PER_KEY=100 RUNS=$runs SKIP_A=$skip_a KEEP_DB=1 BENCH_DB=$DB \
			bash "$HERE/historical.sh" 2>&1) || { echo "$log"; exit 1; }
		echo "$log" | grep -v NOTICE
		wall() { echo "$log" | awk -v l="$1" '$1 == l && $3 == "ms" {print $2; exit}'; }
		cpu() { echo "$log" | awk -v l="$1" '$1 == l && $3 == "ms" {sub(/.*CPU /, ""); print $1; exit}'; }
		cw=$(wall cfeast) cc=$(cpu cfeast) bw=$(wall "(b)") bc=$(cpu "(b)") aw=- ac=- dw=- dc=-
		if [ "$skip_a" = 0 ]; then
			aw=$(wall "(a)") ac=$(cpu "(a)") prev_a=$aw prev_e=$e
		fi
		if [ "${SKIP_DUCKDB:-0}" != 1 ]; then
			psql -X -q -d $DB -c "\\copy (SELECT driver_id, event_timestamp, created, conv_rate, acc_rate, trips FROM driver_stats) TO '$WORK/driver_stats.csv' CSV HEADER"
			psql -X -q -d $DB -c "\\copy (SELECT driver_id, event_timestamp, order_id FROM entity_df) TO '$WORK/entity_df.csv' CSV HEADER"
			d=$(cd "$WORK" && node historical_duckdb.mjs "$WORK")
			echo "$d"
			dw=$(echo "$d" | awk '$1 == "duckdb" {print $2}')
			dc=$(echo "$d" | awk '$1 == "duckdb"' | sed -n 's/.*CPU \([0-9]*\) ms.*/\1/p')
			rm -f "$WORK"/*.csv
		fi
		echo "$e $((keys * 100)) $cc $bc $ac $dc $cw $bw $aw $dw" >>"$T"
		psql -X -q -d postgres -c "DROP DATABASE $DB"
	done
	echo "== training set: time by entity rows (feature rows 10x), ms (CPU: backend or process; wall: elapsed; - = not run)"
	column -t "$T"
	gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$OUT/training.png"
set title "Training set, ttl 1 day, feature rows = 10 x entity rows, warm session, all-visible tables\n$STAMP"
set xlabel "entity rows"
set ylabel "CPU time (s), log scale"
set logscale xy
set autoscale xfix
set key top left
set grid
set datafile missing "-"
plot "$T" using 1:(\$3/1000) with linespoints lw 2 title "cfeast (feast\\\\_create\\\\_training\\\\_set)", \
     "$T" using 1:(\$4/1000) with linespoints title "LEFT JOIN LATERAL ... LIMIT 1 (index on key, time)", \
     "$T" using 1:(\$5/1000) with linespoints title "Feast's SQL (range join + ROW\\\\_NUMBER)", \
     "$T" using 1:(\$6/1000) with linespoints title "DuckDB ASOF JOIN (2 threads, result in a database file)"
EOF
	echo "wrote $OUT/training.png"
fi

# ---- push throughput by batch size ----
if [ "${SKIP_PUSH:-0}" != 1 ]; then
	DB=cfeast_bench_plot_push
	P="$WORK/push.dat"
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
	Q() { psql -X -q -At -v ON_ERROR_STOP=1 -d $DB "$@"; }
	# batches of each size: keys unique within a batch (the hand-written upsert needs that), random
	# hours, so that a run mixes fresh keys, updates and stale rows; at most 200k rows per size
	Q >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION cfeast;
SELECT feast_apply_entity('driver', 'driver_id', 'int64');
SELECT feast_apply_push_source('bench_src', NULL);
SELECT feast_apply_feature_view('bench', '{driver}',
  (SELECT jsonb_agg(jsonb_build_object('name', 'f' || i, 'dtype', 'float64')) FROM generate_series(1, 10) i),
  'bench_src');
CREATE TABLE hand (LIKE feast_online.bench INCLUDING ALL) WITH (fillfactor = 90);
CREATE TABLE batches (bsize int, i int, body text, PRIMARY KEY (bsize, i));
SELECT setseed(0.5);
INSERT INTO batches
SELECT s, b, (SELECT jsonb_agg(jsonb_build_object('driver_id', (b * s + j) % 100000 + 1,
                 'event_timestamp', '2024-05-01T' || lpad((random() * 23)::int::text, 2, '0') || ':00:00Z',
                 'f1', random(), 'f2', random(), 'f3', random(), 'f4', random(), 'f5', random(),
                 'f6', random(), 'f7', random(), 'f8', random(), 'f9', random(), 'f10', random()))::text
               FROM generate_series(0, s - 1) j)
  FROM unnest('{$(echo $BATCHES | tr ' ' ,)}'::int[]) AS s,
       LATERAL generate_series(0, greatest(20, least(2000, 200000 / s)) - 1) b;
VACUUM ANALYZE;
SQL
	echo "# batch_rows cfeast_rows_per_s hand_rows_per_s ratio" >"$P"
	case $PUSH_FORM in
	text) CFBODY=body ;;
	*) CFBODY="body::jsonb" ;;
	esac
	for s in $BATCHES; do
		n=$(Q -c "SELECT count(*) FROM batches WHERE bsize = $s")
		printf '\\set i random(0, %d)\nSELECT feast_push('"'"'bench_src'"'"', %s) FROM batches WHERE bsize = %d AND i = :i;\n' \
			$((n - 1)) "$CFBODY" "$s" >"$WORK/cf.sql"
		printf '\\set i random(0, %d)\n%s\n' $((n - 1)) "INSERT INTO hand AS t SELECT r.* FROM batches b, jsonb_to_recordset(b.body::jsonb) AS r(driver_id bigint, f1 float8, f2 float8, f3 float8, f4 float8, f5 float8, f6 float8, f7 float8, f8 float8, f9 float8, f10 float8, event_timestamp timestamptz, created_timestamp timestamptz) WHERE b.bsize = $s AND b.i = :i ON CONFLICT (driver_id) DO UPDATE SET f1 = EXCLUDED.f1, f2 = EXCLUDED.f2, f3 = EXCLUDED.f3, f4 = EXCLUDED.f4, f5 = EXCLUDED.f5, f6 = EXCLUDED.f6, f7 = EXCLUDED.f7, f8 = EXCLUDED.f8, f9 = EXCLUDED.f9, f10 = EXCLUDED.f10, event_timestamp = EXCLUDED.event_timestamp, created_timestamp = EXCLUDED.created_timestamp WHERE EXCLUDED.event_timestamp > t.event_timestamp;" >"$WORK/hand.sql"
		t=$((PUSH_ROWS / s / CLIENTS))
		[ "$t" -lt 3 ] && t=3
		tps() { pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -t "$t" -f "$1" $DB 2>/dev/null | awk '/^tps/ {print $3; exit}'; }
		Q -c "TRUNCATE feast_online.bench, hand" >/dev/null
		tc=$(tps "$WORK/cf.sql")
		th=$(tps "$WORK/hand.sql")
		awk -v s="$s" -v c="$tc" -v h="$th" 'BEGIN { printf "%d %.0f %.0f %.2f\n", s, c * s, h * s, c / h }' >>"$P"
	done
	echo "== push throughput by batch size ($PUSH_FORM form, $CLIENTS client(s), $PUSH_ROWS rows a point), rows/s"
	column -t "$P"
	gnuplot <<EOF
set terminal pngcairo size 900,560 font "sans,10"
set output "$OUT/push.png"
set title "Push throughput by batch size: 1 int64 key + 10 float64 features, $CLIENTS client(s), both statements prepared\n$STAMP"
set xlabel "rows per batch (one statement, one transaction)"
set ylabel "rows per second, log scale"
set logscale xy
set key top left
set grid
plot "$P" using 1:2 with linespoints lw 2 title "cfeast feast\\\\_push ($PUSH_FORM)", \
     "$P" using 1:3 with linespoints title "INSERT ... jsonb\\\\_to\\\\_recordset ... ON CONFLICT DO UPDATE ... WHERE newer"
EOF
	echo "wrote $OUT/push.png"
	psql -X -q -d postgres -c "DROP DATABASE $DB"
fi
