#!/bin/bash
# test/bench/collide.sh: push, online read, materialize and point-in-time join of N
# (default 100000) plain int64 keys and of N keys built to collide in an unseeded
# 32-bit hash (test/lib/collide.sql), run by hand against a running cluster:
#
#   PGHOST=/tmp/sock PGPORT=5432 PGUSER=postgres bash test/bench/collide.sh
#
# Prints, per operation, the best of ROUNDS (3) runs for each kind and the ratio
# colliding / plain (1.0 means the crafted keys cost nothing extra).
set -eu
N=${N:-100000}
ROUNDS=${ROUNDS:-3}
DB=cfeast_bench_collide
cd "$(dirname "$0")/../.."
export PGDATABASE=$DB
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null 2>&1
psql -qX -v ON_ERROR_STOP=1 -v n="$N" -f test/lib/collide.sql >/dev/null
# best time in ms of op(kind)
best() {
	psql -qXAt -v ON_ERROR_STOP=1 <<SQL
SET client_min_messages = warning;
DO \$\$
DECLARE t0 timestamptz; best float8 := 'Infinity';
BEGIN
    FOR i IN 1 .. $ROUNDS LOOP
        t0 := clock_timestamp();
        PERFORM op_$1('$2');
        best := least(best, extract(epoch FROM clock_timestamp() - t0) * 1000);
    END LOOP;
    RAISE WARNING '%', round(best::numeric, 1);
END \$\$;
SQL
}
printf '%-12s %12s %12s %8s\n' operation "plain ms" "collide ms" ratio
for op in push read materialize join; do
	p=$(best $op plain 2>&1 | sed -n 's/.*WARNING: *//p')
	c=$(best $op collide 2>&1 | sed -n 's/.*WARNING: *//p')
	printf '%-12s %12s %12s %8s\n' $op "$p" "$c" "$(echo "scale=2; $c / $p" | bc)"
done
psql -qX -d postgres -c "DROP DATABASE $DB" >/dev/null
