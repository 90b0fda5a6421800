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
PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs

# fixtures the server itself reads (file_fdw) must be readable by postgres
cp -r test/fixtures "$CF_TMP/fixtures" 2>/dev/null && chown -R postgres: "$CF_TMP/fixtures"
export CF_FIXTURES="$CF_TMP/fixtures"

# counts "ok"/"FAILED" lines of a pg_regress-style run
count_regress() {
	local log=$1 suite=$2 line name
	while IFS= read -r line; do
		name=$(echo "$line" | sed -E 's/^(test|ok|not ok) *[0-9]* *-? *//; s/ +\.\.\..*//; s/^ +//')
		case "$line" in
		*"... ok"* | *"... ignored"*) pass ;;
		*"... FAILED"* | *"... failed"*) fail "$suite/$name" ;;
		esac
	done <"$log"
}

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = regress ]; then
	cf_log "pg_regress"
	REG=$(make -s -f Makefile print-regress 2>/dev/null)
	mkdir -p "$CF_TMP/regress"
	"$PGXS_DIR/src/test/regress/pg_regress" --inputdir=. --outputdir="$CF_TMP/regress" \
		--bindir="$CF_PGBIN" --host="$PGHOST" --port="$PGPORT" --user=postgres \
		--dbname=cfeast_regress $REG >"$CF_TMP/regress.log" 2>&1
	cat "$CF_TMP/regress.log"
	count_regress "$CF_TMP/regress.log" regress
	[ -s "$CF_TMP/regress/regression.diffs" ] && cat "$CF_TMP/regress/regression.diffs"
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = isolation ]; then
	ISO=$(make -s -f Makefile print-isolation 2>/dev/null)
	if [ -n "$ISO" ]; then
		cf_log "isolation"
		mkdir -p "$CF_TMP/isolation"
		"$PGXS_DIR/src/test/isolation/pg_isolation_regress" --inputdir=test/isolation \
			--outputdir="$CF_TMP/isolation" --bindir="$CF_PGBIN" --host="$PGHOST" --port="$PGPORT" \
			--user=postgres --dbname=cfeast_isolation $ISO >"$CF_TMP/isolation.log" 2>&1
		cat "$CF_TMP/isolation.log"
		count_regress "$CF_TMP/isolation.log" isolation
		[ -s "$CF_TMP/isolation/regression.diffs" ] && cat "$CF_TMP/isolation/regression.diffs"
	fi
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = tap ]; then
	if ls test/tap/*.pl >/dev/null 2>&1; then
		cf_log "TAP"
		cp -r test/tap "$CF_TMP/tap"
		chown -R postgres: "$CF_TMP/tap"
		for t in "$CF_TMP"/tap/*.pl; do
			name=$(basename "$t")
			if runuser -u postgres -- env PATH="$CF_PGBIN:$PATH" TESTDIR="$CF_TMP/tap" CF_ROOT="$CF_ROOT" \
				PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
				prove -I "$PGXS_DIR/src/test/perl" "$t" >"$CF_TMP/tap-$name.log" 2>&1; then
				pass
				echo "ok: tap/$name"
			else
				fail "tap/$name"
				cat "$CF_TMP/tap-$name.log"
				cat "$CF_TMP"/tap/tmp_check/log/*.log 2>/dev/null | tail -50
			fi
		done
	fi
fi

if [ "${CF_ONLY:-all}" = all ] || [ "${CF_ONLY}" = checks ]; then
	for t in test/checks/*.sh; do
		[ -e "$t" ] || continue
		name=$(basename "$t" .sh)
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
