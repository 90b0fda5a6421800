#!/bin/bash
# test/sanitize.sh: the regression and isolation suites, and a fuzz run, with
# cfeast built with UndefinedBehaviorSanitizer and the server run under
# valgrind's memcheck.
#
#   bash test/sanitize.sh        # as root, from the repository; ends with "sanitize: PASS" or "sanitize: FAIL"
#
# Why not AddressSanitizer: Debian's postgres is not built with it, so an
# ASan-built cfeast.so needs libasan preloaded into the server, and on this
# Debian 12 every LD_PRELOAD=libasan.so postgres hangs before main() is done:
# libgpg-error's constructor holds glibc's gettext lock when its first malloc
# starts ASan, whose start-up takes the same lock (seen with gdb; any preload
# order, `postgres -V` included).  UBSan needs no preload (libubsan starts on
# its own), and memcheck covers what ASan would: reads and writes outside
# malloc'd blocks, use after free, uninitialised values in conditions, for
# every backend (the postmaster forks them; memcheck follows).  Debian's server
# has no valgrind client requests, so palloc chunks are invisible to memcheck;
# the build adds -DUSE_ASSERT_CHECKING and the install sets
# debug_discard_caches=0 (kept) and CLOBBER_FREED_MEMORY is not available:
# errors inside one palloc block go unseen.
#
# Only reports with a cfeast frame count; PostgreSQL's own known reports (no
# suppression file ships with Debian) are listed but do not fail the run.
# It builds in a copy of the source and installs into a private copy of the
# PostgreSQL tree, like test/run-all.sh: the worktree's own build is untouched.
# CF_KEEP_TMP=1 keeps the temporary directory; CF_FUZZ_COUNT sets the fuzz run; CF_REGRESS names
# the regression files to run (default: all).
set -u
cd "$(dirname "$0")/.."
. test/lib/common.sh
CF_ROOT=$PWD

cf_install_deps || exit 1
command -v valgrind >/dev/null || { apt-get install -y -qq valgrind >/dev/null || exit 1; }
CF_TMP=$(mktemp -d /tmp/cfeast-sanitize.XXXXXX)
chmod 755 "$CF_TMP"
chown postgres: "$CF_TMP"
trap cf_cleanup EXIT

SAN="-fsanitize=undefined -fno-omit-frame-pointer"
cf_log "building with $SAN"
mkdir -p "$CF_TMP/src"
git ls-files -z | xargs -0 cp --parents -t "$CF_TMP/src"
git ls-files -z --others --exclude-standard | xargs -0 -r cp --parents -t "$CF_TMP/src"
make -C "$CF_TMP/src" -s PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config \
	PG_CFLAGS="-DUSE_ASSERT_CHECKING -g -O1 $SAN" SHLIB_LINK="$SAN" >"$CF_TMP/build.log" 2>&1 || {
	cat "$CF_TMP/build.log"
	echo "sanitize: FAIL (build)"
	exit 1
}
CF_ROOT="$CF_TMP/src" cf_private_install || { echo "sanitize: FAIL (install)"; exit 1; }
readelf -d "$CF_INSTALL/usr/lib/postgresql/15/lib/cfeast.so" | grep -q libubsan || {
	echo "sanitize: FAIL (cfeast.so is not linked with libubsan)"
	exit 1
}

# initdb as usual, then the server under memcheck: postgres becomes a wrapper
cf_start_cluster "-c max_prepared_transactions=10" || { echo "sanitize: FAIL (initdb)"; exit 1; }
cf_stop_cluster
export UBSAN_OPTIONS="print_stacktrace=1:log_path=$CF_TMP/ubsan"
mv "$CF_PGBIN/postgres" "$CF_PGBIN/postgres.real"
{
	echo '#!/bin/sh'
	echo 'case "$1" in -V|--version|-C|--describe-config) exec '"$CF_PGBIN"'/postgres.real "$@" ;; esac'
	echo 'exec valgrind --quiet --tool=memcheck --trace-children=yes --track-origins=yes --num-callers=30 \'
	echo '	--error-limit=no --log-file='"$CF_TMP"'/valgrind.%p.log '"$CF_PGBIN"'/postgres.real "$@"'
} >"$CF_PGBIN/postgres"
chmod 755 "$CF_PGBIN/postgres"
runuser -u postgres -- "$CF_PGBIN/pg_ctl" -D "$CF_PGDATA" -l "$CF_TMP/server.log" -w -t 300 \
	-o "-k $CF_PGHOST -p $CF_PGPORT -c listen_addresses='' -c fsync=off -c max_prepared_transactions=10" start >/dev/null || {
	cat "$CF_TMP/server.log"
	echo "sanitize: FAIL (server start under valgrind)"
	exit 1
}
CF_STARTED=1
export PGHOST="$CF_PGHOST" PGPORT="$CF_PGPORT" PGUSER=postgres
pgrep -u postgres -f "valgrind.*postgres.real" >/dev/null || pgrep -u postgres -f "memcheck" >/dev/null || {
	echo "sanitize: FAIL (server not under valgrind)"
	exit 1
}

PGXS_DIR=/usr/lib/postgresql/15/lib/pgxs
rc=0
# pg_regress hands the tests PG_ABS_SRCDIR (this tree): historical_sources reads its CSV from there
cf_log "pg_regress under memcheck and UBSan"
REG=${CF_REGRESS:-$(make -s -f Makefile print-regress 2>/dev/null)}   # CF_REGRESS, or the Makefile's REGRESS list
mkdir -p "$CF_TMP/regress"
"$PGXS_DIR/src/test/regress/pg_regress" --inputdir=. --outputdir="$CF_TMP/regress" \
	--bindir="$CF_PGBIN" --host="$PGHOST" --port="$PGPORT" --user=postgres \
	--dbname=contrib_regression $REG >"$CF_TMP/regress.log" 2>&1
grep -E '\.\.\. |tests' "$CF_TMP/regress.log"
grep -q "All [0-9]* tests passed" "$CF_TMP/regress.log" || { rc=1; head -100 "$CF_TMP/regress/regression.diffs" 2>/dev/null; }

ISO=$(make -s -f Makefile print-isolation 2>/dev/null)
if [ -n "$ISO" ]; then
	cf_log "isolation under memcheck and UBSan"
	mkdir -p "$CF_TMP/isolation"
	"$PGXS_DIR/src/test/isolation/pg_isolation_regress" --inputdir=test/isolation \
		--outputdir="$CF_TMP/isolation" --bindir="$CF_PGBIN" --host="$PGHOST" --port="$PGPORT" \
		--user=postgres --dbname=cfeast_isolation $ISO >"$CF_TMP/isolation.log" 2>&1
	grep -E '\.\.\. |tests' "$CF_TMP/isolation.log"
	grep -q "All [0-9]* tests passed" "$CF_TMP/isolation.log" || rc=1
fi

cf_log "fuzz under memcheck and UBSan"
CF_TMP="$CF_TMP" bash test/fuzz/fuzz.sh 4242 "${CF_FUZZ_COUNT:-300}" | tail -2 || rc=1
cf_stop_cluster

# the reports: UBSan's, and memcheck's that have a cfeast frame
if ls "$CF_TMP"/ubsan.* >/dev/null 2>&1; then
	echo "UBSan reports:"
	head -40 "$CF_TMP"/ubsan.*
	rc=1
fi
# One report per block: memcheck ends each with a line holding only "==pid== ".  PostgreSQL's
# regex cache moves its entries with memmove (RE_compile_and_cache), which memcheck reports as an
# overlapping __memcpy_chk: not an error, whoever calls the regex (cfeast's PL/pgSQL does).
perl -e '
	my ($ours, $theirs) = (0, 0);
	local $/;
	for my $f (@ARGV) {
		open(my $fh, "<", $f) or next;
		for my $block (split /^==\d+== \n/m, <$fh>) {
			next unless $block =~ /==\d+== (Invalid|Conditional|Use of uninit|Syscall param|Mismatched|Source and destination)/;
			next if $block =~ /Source and destination overlap in memcpy_chk.*\n.*__memcpy_chk.*\n.*RE_compile_and_cache/;
			# a temporary file block written with its unused bytes (logtape.c through BufFile, as in
			# the sort of an index build): src/tools/valgrind.supp of PostgreSQL suppresses such writes
			next if $block =~ /Syscall param pwrite64\(buf\) points to uninitialised byte.*\n.*pwrite.*\n.*FileWrite.*\n(.*\n)?.*BufFile/;
			# a shared-invalidation message for a relation file (smgr), read when any lock is taken:
			# PostgreSQL marks such messages defined with VALGRIND_MAKE_MEM_DEFINED in
			# CacheInvalidateSmgr, a no-op in the Debian build; whoever takes the lock (cfeast too)
			next if $block =~ /==\d+== (Conditional|Use of uninit).*\n.*hash_search_with_hash_value.*\n.*smgrclosenode.*\n.*ReceiveSharedInvalidMessages/;
			if ($block =~ /cfeast\.so|\bcf_[a-z_]+ \(|cfeast_[a-z_]+ \(/) { $ours++; print "== $f\n$block"; }
			else { $theirs++; }
		}
	}
	print "memcheck: $ours report(s) with a cfeast frame, $theirs in PostgreSQL alone\n";
	exit($ours ? 1 : 0);
' "$CF_TMP"/valgrind.*.log || rc=1
[ "$rc" = 0 ] && echo "sanitize: PASS" || echo "sanitize: FAIL"
exit $rc
