#!/bin/bash
# test/fuzz/fuzz.sh SEED COUNT: send COUNT generated documents to feast_push in a
# fresh database of the running server (PGHOST/PGPORT/PGUSER), check every outcome,
# print the violations.  Exit 0 only if there are none and the server never restarted.
#   test/fuzz/fuzz.sh 42 3000          # the suite's smoke run (test/checks/fuzz_smoke.sh)
#   test/fuzz/fuzz.sh $RANDOM 100000   # a long run by hand; the seed reproduces it
# CF_FUZZ_KEEP=1 keeps the database (cfeast_fuzz_SEED) to look at fuzz_docs/fuzz_results.
set -u
SEED=${1:?seed}
COUNT=${2:-3000}
HERE=$(cd "$(dirname "$0")" && pwd)
DB=cfeast_fuzz_$SEED
PSQL="psql -X -q -v ON_ERROR_STOP=1"

# UTF8 whatever the cluster's default: the documents carry non-ASCII text and \u escapes
$PSQL -d postgres -c "DROP DATABASE IF EXISTS $DB" \
	-c "CREATE DATABASE $DB TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'" || exit 1
$PSQL -d $DB -f "$HERE/schema.sql" >/dev/null || exit 1
started=$($PSQL -At -d postgres -c "SELECT pg_postmaster_start_time()")
t0=$(date +%s)
perl "$HERE/gen.pl" "$SEED" "$COUNT" | $PSQL -d $DB -c "\\copy fuzz_docs FROM STDIN" || exit 1
echo "seed $SEED: $COUNT documents, $($PSQL -At -d $DB -c "SELECT pg_size_pretty(sum(length(doc))) FROM fuzz_docs")"
# run; after a crash, wait for the server and go on from the next document
for attempt in 1 2 3 4 5; do
	if $PSQL -d $DB -c "CALL fuzz_run()"; then
		break
	fi
	echo "fuzz_run stopped; last result: $($PSQL -At -d $DB -c "SELECT max(id) FROM fuzz_results" 2>&1)"
	sleep 2
	$PSQL -d $DB -c "INSERT INTO fuzz_results (id, outcome, message)
	                 SELECT coalesce(max(id), 0) + 1, 'crash', 'the call did not return' FROM fuzz_results" || true
done
echo "ran in $(($(date +%s) - t0)) s"
$PSQL -d $DB -f "$HERE/checks.sql" -c "\\echo violations: :violations" | tee "${CF_TMP:-/tmp}/fuzz-$SEED.log"
now_started=$($PSQL -At -d postgres -c "SELECT pg_postmaster_start_time()")
rc=0
grep -q "^violations: 0$" "${CF_TMP:-/tmp}/fuzz-$SEED.log" || rc=1
if [ "$started" != "$now_started" ]; then
	echo "the server restarted during the run (crash)"
	rc=1
fi
[ "${CF_FUZZ_KEEP:-0}" = 1 ] || $PSQL -d postgres -c "DROP DATABASE $DB"
exit $rc
