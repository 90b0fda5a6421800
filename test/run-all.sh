#!/bin/bash
# test/run-all.sh: set up (packages, build) and run every cfeast test:
# pg_regress, isolation, TAP, and the scripted checks in test/checks/.
# Ends with one line: "N passed, M failed".  Exit status 0 only if all pass.
set -u
cd "$(dirname "$0")/.."
. test/lib/common.sh

PASSED=0
FAILED=0
FAILED_NAMES=()
pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); }

trap cf_cleanup EXIT
cf_install_deps || { echo "0 passed, 1 failed"; exit 1; }
cf_mktemp

cf_log "building (warnings are errors here)"
make -s clean >/dev/null
if ! make -s PG_CFLAGS="-DUSE_ASSERT_CHECKING -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare" >"$CF_TMP/build.log" 2>&1; then
	cat "$CF_TMP/build.log"
	echo "0 passed, 1 failed"
	exit 1
fi
cf_private_install || { echo "0 passed, 1 failed"; exit 1; }
cf_start_cluster "-c max_prepared_transactions=10" || { echo "0 passed, 1 failed"; exit 1; }
# each suite is PGXS's "make installcheck" pointed at this cluster (PGHOST/PGPORT/PGUSER are
# exported) and the private install (its pg_config), one suite at a time so each is counted
installcheck() { make -s installcheck PG_CONFIG="$CF_PGBIN/pg_config" "$@"; }

# counts "ok"/"FAILED" lines of a pg_regress-style run; $3 is make's exit status: a failed
# make that ran no failing test (no server, no pg_regress) counts as one failure
count_regress() {
	local log=$1 suite=$2 status=${3:-0} line name failed=0
	while IFS= read -r line; do
		name=$(echo "$line" | sed -E 's/^(test|ok|not ok) *[0-9]* *-? *//; s/ +\.\.\..*//; s/^ +//')
		case "$line" in
		*"... ok"* | *"... ignored"*) pass ;;
		*"... FAILED"* | *"... failed"*) fail "$suite/$name"; failed=1 ;;
		esac
	done <"$log"
	[ "$status" != 0 ] && [ "$failed" = 0 ] && fail "$suite (make installcheck)"
}

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = regress ]; then
	cf_log "pg_regress (make installcheck)"
	mkdir -p "$CF_TMP/regress"
	installcheck ISOLATION= TAP_TESTS= ${CF_REGRESS:+REGRESS="$CF_REGRESS"} EXTRA_REGRESS_OPTS="--outputdir=$CF_TMP/regress" \
		>"$CF_TMP/regress.log" 2>&1
	status=$?
	cat "$CF_TMP/regress.log"
	count_regress "$CF_TMP/regress.log" regress $status
	[ -s "$CF_TMP/regress/regression.diffs" ] && cat "$CF_TMP/regress/regression.diffs"
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = isolation ]; then
	cf_log "isolation (make installcheck)"
	mkdir -p "$CF_TMP/isolation"
	installcheck REGRESS= TAP_TESTS= EXTRA_REGRESS_OPTS="--outputdir=$CF_TMP/isolation" \
		>"$CF_TMP/isolation.log" 2>&1
	status=$?
	cat "$CF_TMP/isolation.log"
	count_regress "$CF_TMP/isolation.log" isolation $status
	[ -s "$CF_TMP/isolation/regression.diffs" ] && cat "$CF_TMP/isolation/regression.diffs"
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = tap ]; then
	# TAP tests start clusters of their own, which PostgreSQL refuses to do as root: run
	# make installcheck as postgres in a copy of the tree it may write (tmp_check/)
	cf_log "TAP (make installcheck)"
	mkdir -p "$CF_TMP/tree"
	tar --exclude=.git -cf - . | tar -xf - -C "$CF_TMP/tree"
	chown -R postgres: "$CF_TMP/tree"
	for t in ${CF_TAP:-test/tap/*.pl}; do
		[ -e "$t" ] || continue
		name=$(basename "$t")
		if runuser -u postgres -- make -s -C "$CF_TMP/tree" installcheck PG_CONFIG="$CF_PGBIN/pg_config" \
			REGRESS= ISOLATION= PROVE_TESTS="$t" >"$CF_TMP/tap-$name.log" 2>&1; then
			pass
			echo "ok: tap/$name"
		else
			fail "tap/$name"
			cat "$CF_TMP/tap-$name.log"
			cat "$CF_TMP"/tree/tmp_check/log/*.log 2>/dev/null | tail -50
		fi
	done
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = checks ]; then
	for t in test/checks/*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
		# CF_CHECKS="metrics standby": those checks only
		[ -n "${CF_CHECKS:-}" ] && [[ " $CF_CHECKS " != *" $name "* ]] && continue
		cf_log "check $name"
		if CF_ROOT="$PWD" CF_TMP="$CF_TMP" CF_PGBIN="$CF_PGBIN" bash "$t" >"$CF_TMP/check-$name.log" 2>&1; then
			pass
			echo "ok: check/$name"
			tail -3 "$CF_TMP/check-$name.log"
		else
			fail "check/$name"
			tail -60 "$CF_TMP/check-$name.log"
		fi
	done
fi

[ ${#FAILED_NAMES[@]} -gt 0 ] && echo "failed: ${FAILED_NAMES[*]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
