#!/bin/bash
# test/checks/collide.sh: join keys built to collide in an unseeded 32-bit hash
# (test/lib/collide.sql) must not make push, online read, materialize or the
# point-in-time join quadratic, and their loops must notice a cancel: each
# operation over N (default 100000) such keys, repeated until statement_timeout
# (1 s) fires, must stop within 2 s of it.
set -eu
N=${N:-100000}
DB=cfeast_collide
LIMIT_MS=2000
TIMEOUT_MS=1000
export PGDATABASE=$DB
dropdb --if-exists $DB 2>/dev/null
createdb $DB
psql -qX -v ON_ERROR_STOP=1 -v n="$N" -f "${CF_ROOT:-.}/test/lib/collide.sql" >/dev/null
fail=0
for op in push read materialize join; do
	t0=$(date +%s%N)
	err=$(psql -qX -c "SET statement_timeout = $TIMEOUT_MS" -c "SET client_min_messages = warning" \
		-c "DO \$\$ BEGIN FOR i IN 1 .. 1000 LOOP PERFORM op_$op('collide'); END LOOP; END \$\$" 2>&1 >/dev/null || true)
	ms=$((($(date +%s%N) - t0) / 1000000))
	if ! grep -q "canceling statement due to statement timeout" <<<"$err"; then
		echo "FAIL $op: not cancelled by statement_timeout: $err"
		fail=1
	elif [ $ms -gt $((TIMEOUT_MS + LIMIT_MS)) ]; then
		echo "FAIL $op: cancelled after $ms ms (statement_timeout $TIMEOUT_MS ms, limit +$LIMIT_MS ms)"
		fail=1
	else
		echo "ok $op: cancelled after $ms ms (statement_timeout $TIMEOUT_MS ms)"
	fi
done
dropdb $DB
exit $fail
