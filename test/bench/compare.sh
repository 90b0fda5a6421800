#!/bin/bash
# test/bench/compare.sh BASE [JOB...]: every benchmark job (default: all of test/bench/*.sh that
# run.sh runs) on two builds in one run: BASE (a git revision, e.g. a tag or main~5) and the work
# tree.  Each build gets its own private install and throwaway cluster; the two clusters run one
# at a time, job by job (BASE then the work tree for each job), so both see the same machine.
# Every job already prints cfeast's figure beside the hand-written SQL's, measured in the same
# cluster; compare those ratios between the two builds (the hand-written figure is the yardstick
# that absorbs machine noise).  Sizes come from each job's own environment variables.
set -u
cd "$(dirname "$0")/../.."
[ $# -ge 1 ] || { echo "usage: $0 BASE [JOB...]" >&2; exit 2; }
BASE=$1
shift
. test/lib/common.sh
cf_install_deps
TOP=$(mktemp -d /tmp/cfeast-compare.XXXXXX)
chmod 755 "$TOP"
declare -A TMP PORT DATA SRC
stop_all() {
	for b in base work; do
		[ -n "${DATA[$b]:-}" ] && runuser -u postgres -- "${TMP[$b]}/install/usr/lib/postgresql/15/bin/pg_ctl" \
			-D "${DATA[$b]}" -m fast -w stop >/dev/null 2>&1
	done
	rm -rf "$TOP"
}
trap stop_all EXIT

# build one tree ($2) into a private install and start its cluster (stopped between jobs)
prepare() { # name srcdir
	local b=$1 src=$2
	TMP[$b]="$TOP/$b"
	SRC[$b]=$src
	mkdir -p "${TMP[$b]}"
	chown postgres: "${TMP[$b]}"
	make -C "$src" -s clean >/dev/null
	make -C "$src" -s >"$TOP/$b-build.log" 2>&1 || { cat "$TOP/$b-build.log"; return 1; }
	local path=$PATH
	CF_ROOT=$src CF_TMP=${TMP[$b]} cf_private_install || return 1
	PATH=$path # the private install's pg_config would point the next build at its own tree
	DATA[$b]="${TMP[$b]}/data"
	PORT[$b]=$((20000 + RANDOM % 20000))
	mkdir -p "${TMP[$b]}/sock"
	chown postgres: "${TMP[$b]}/sock"
	runuser -u postgres -- "${TMP[$b]}/install/usr/lib/postgresql/15/bin/initdb" -D "${DATA[$b]}" -U postgres \
		-A trust --no-sync -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
	cat >>"${DATA[$b]}/postgresql.conf" <<EOF
listen_addresses = ''
port = ${PORT[$b]}
unix_socket_directories = '${TMP[$b]}/sock'
synchronous_commit = off
shared_buffers = 512MB
max_wal_size = 4GB
checkpoint_timeout = 30min
EOF
}
pgctl() { runuser -u postgres -- "${TMP[$1]}/install/usr/lib/postgresql/15/bin/pg_ctl" -D "${DATA[$1]}" -l "${TMP[$1]}/server.log" -w "$2" >/dev/null; }

mkdir -p "$TOP/src-base"
git archive "$BASE" | tar -x -C "$TOP/src-base" || exit 1
prepare base "$TOP/src-base" || exit 1
prepare work "$PWD" || exit 1

jobs=("$@")
if [ ${#jobs[@]} -eq 0 ]; then
	for f in test/bench/*.sh; do
		case "$(basename "$f")" in run.sh | lib.sh | compare.sh | plot.sh) continue ;; esac
		jobs+=("$(basename "$f" .sh)")
	done
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr); $(date -u '+%F %H:%M UTC')"
echo "base: $BASE ($(git rev-parse --short "$BASE")); work: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' + changes')"
for j in "${jobs[@]}"; do
	for b in base work; do
		# a job that the base tree does not have runs from the work tree's script
		script="$TOP/src-base/test/bench/$j.sh"
		[ "$b" = work ] || [ ! -e "$script" ] && script="$PWD/test/bench/$j.sh"
		echo "== $j ($b)"
		pgctl "$b" start || { echo "cluster $b did not start"; continue; }
		PATH="${TMP[$b]}/install/usr/lib/postgresql/15/bin:$PATH" PGHOST="${TMP[$b]}/sock" PGPORT=${PORT[$b]} \
			PGUSER=postgres CF_ROOT="${SRC[$b]}" CF_TMP="${TMP[$b]}" CF_PGBIN="${TMP[$b]}/install/usr/lib/postgresql/15/bin" \
			bash "$script" 2>&1 || echo "bench $j ($b) failed"
		pgctl "$b" stop
	done
done
