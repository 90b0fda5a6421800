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
dropdb $DB
