#!/bin/bash
# test/bench/types.sh: the per-value cost of cfeast's JSON-to-Datum conversion, each fast path in
# src/types.c against the plain PostgreSQL routine it shortcuts, on the same values in one run.
# It calls the test-only C function cfeast_conversion_bench (in cfeast.so, not in the extension's
# SQL), which converts a JSON array's values LOOPS times with the fast paths on or off and returns
# nanoseconds per value; fast and plain alternate, REPEAT rounds, best of each.  A fast path earns
# its place with a ratio of at least 1.15.  Needs a running cluster (PGHOST/PGPORT/PGUSER) where
# cfeast can be created; run it through test/bench/run.sh.
set -eu
N=${N:-10000}
LOOPS=${LOOPS:-20}
REPEAT=${REPEAT:-5}
DB=cfeast_bench_types
export PGDATABASE=$DB
dropdb --if-exists $DB
createdb $DB
Q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

Q <<SQL
CREATE EXTENSION cfeast;
CREATE FUNCTION conversion_bench(vals jsonb, dtype text, fast boolean, loops int) RETURNS float8
  LANGUAGE C STRICT AS '\$libdir/cfeast', 'cfeast_conversion_bench';
CREATE FUNCTION conversion_check(vals jsonb, dtype text) RETURNS text
  LANGUAGE C STRICT AS '\$libdir/cfeast', 'cfeast_conversion_check';
CREATE FUNCTION conversion_fast_paths(on_ boolean) RETURNS boolean
  LANGUAGE C STRICT AS '\$libdir/cfeast', 'cfeast_conversion_fast_paths';
SELECT setseed(0.5);
-- one row per job: the values (as a client would send them), the dtype, the plain routine
CREATE TABLE jobs (job text, dtype text, plain text, vals jsonb);
INSERT INTO jobs SELECT 'int64, ids below 1e6', 'int64', 'numeric_int8',
  jsonb_agg((random() * 1e6)::bigint) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'int64, 15-19 digits', 'int64', 'numeric_int8',
  jsonb_agg((random() * 9e18)::bigint) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'float64, short decimals (12.34)', 'float64', 'float8in on numeric_out',
  jsonb_agg(round((random() * 1000)::numeric, 2)) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'float64, 15-17 digits (random())', 'float64', 'float8in on numeric_out',
  jsonb_agg(random()) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'float32, short decimals (12.34)', 'float32', 'float4in on numeric_out',
  jsonb_agg(round((random() * 1000)::numeric, 2)) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'float32, 8-9 digits (random()::real)', 'float32', 'float4in on numeric_out',
  jsonb_agg(random()::real) FROM generate_series(1, $N);
INSERT INTO jobs SELECT 'unix_timestamp, ISO text', 'unix_timestamp', 'ParseDateTime+DecodeDateTime',
  jsonb_agg(to_char(timestamptz '2020-01-01' + random() * interval '5 years',
    CASE k % 3 WHEN 0 THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' WHEN 1 THEN 'YYYY-MM-DD HH24:MI:SS.US"+02:00"'
    ELSE 'YYYY-MM-DD"T"HH24:MI:SS.MS' END)) FROM generate_series(1, $N) k;
INSERT INTO jobs SELECT 'unix_timestamp, epoch seconds', 'unix_timestamp', 'numeric_int8',
  jsonb_agg(1.6e9::bigint + (random() * 1e8)::bigint) FROM generate_series(1, $N);
SQL

Q -c "SELECT job FROM jobs ORDER BY ctid" | while IFS= read -r job; do
	fast=
	plain=
	for ((r = 0; r < REPEAT; r++)); do
		f=$(Q -c "SELECT conversion_bench(vals, dtype, true, $LOOPS) FROM jobs WHERE job = '$job'")
		p=$(Q -c "SELECT conversion_bench(vals, dtype, false, $LOOPS) FROM jobs WHERE job = '$job'")
		fast=$(awk -v a="$fast" -v b="$f" 'BEGIN {print (a == "" || b < a) ? b : a}')
		plain=$(awk -v a="$plain" -v b="$p" 'BEGIN {print (a == "" || b < a) ? b : a}')
	done
	check=$(Q -c "SELECT conversion_check(vals, dtype) FROM jobs WHERE job = '$job'")
	routine=$(Q -c "SELECT plain FROM jobs WHERE job = '$job'")
	awk -v j="$job" -v f="$fast" -v p="$plain" -v r="$routine" -v c="$check" 'BEGIN {
		printf "%-38s cfeast %6.1f ns/value   plain %6.1f ns/value   ratio %.2fx %s\n", j, f, p, p / f,
			(p / f >= 1.15 ? "(earns its place)" : "(below 1.15: remove the fast path)")
		printf "    plain routine: %s; same data, both modes: %s\n", r, c }'
done

# the same in whole pushes: PUSH_ROWS rows of 10 features of one dtype, written into an empty
# online table each time (the second push of a session, so that the registry and plans are
# loaded), fast paths on and off in turn; the jsonb is stored beforehand (no parsing).  The
# figure per value is the whole push's time divided by the values converted.
PUSH_ROWS=${PUSH_ROWS:-10000}
Q >/dev/null <<SQL
SELECT feast_apply_entity('k', 'k', 'int64');
SELECT feast_apply_push_source('src_' || d, NULL) FROM unnest(ARRAY['float64', 'unix_timestamp']) d;
SELECT feast_apply_feature_view('v_' || d, '{k}',
  (SELECT jsonb_agg(jsonb_build_object('name', 'f' || i, 'dtype', d)) FROM generate_series(1, 10) i), 'src_' || d)
  FROM unnest(ARRAY['float64', 'unix_timestamp']) d;
CREATE TABLE bodies (dtype text, body jsonb);
INSERT INTO bodies SELECT 'float64', jsonb_agg(jsonb_build_object('k', k, 'event_timestamp', 0,
  'f1', random(), 'f2', random(), 'f3', random(), 'f4', random(), 'f5', random(),
  'f6', random(), 'f7', random(), 'f8', random(), 'f9', random(), 'f10', random()))
  FROM generate_series(1, $PUSH_ROWS) k;
INSERT INTO bodies SELECT 'unix_timestamp', jsonb_agg(jsonb_build_object('k', k, 'event_timestamp', 0)
  || (SELECT jsonb_object_agg('f' || i, to_char(timestamptz '2020-01-01' + random() * interval '5 years',
        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) FROM generate_series(1, 10 + k * 0) i))
  FROM generate_series(1, $PUSH_ROWS) k;
SQL
push_ms() { # dtype fast
	psql -qAtX -v ON_ERROR_STOP=1 <<SQL | awk '/^Time:/ {t = $2} END {print t}'
SELECT conversion_fast_paths($2);
SELECT feast_push('src_$1', body) FROM bodies WHERE dtype = '$1';
TRUNCATE feast_online.v_$1;
\\timing on
SELECT feast_push('src_$1', body) FROM bodies WHERE dtype = '$1';
SQL
}
for d in float64 unix_timestamp; do
	fast=
	plain=
	for ((r = 0; r < REPEAT; r++)); do
		fast=$(awk -v a="$fast" -v b="$(push_ms $d true)" 'BEGIN {print (a == "" || b < a) ? b : a}')
		plain=$(awk -v a="$plain" -v b="$(push_ms $d false)" 'BEGIN {print (a == "" || b < a) ? b : a}')
	done
	awk -v j="push $PUSH_ROWS rows x 10 $d" -v f="$fast" -v p="$plain" -v n="$((PUSH_ROWS * 10))" 'BEGIN {
		printf "%-38s cfeast %6.0f ms (%.0f ns/value)   plain %6.0f ms (%.0f ns/value)   ratio %.2fx (whole push)\n",
			j, f, f * 1e6 / n, p, p * 1e6 / n, p / f }'
done
dropdb $DB
