#!/bin/bash
# test/bench/run.sh [JOB...]: set up a throwaway cluster (as test/run-all.sh does) and run the
# benchmark jobs in test/bench/<job>.sh (default: every job), each printing cfeast's figure beside
# the hand-written SQL a Postgres user would otherwise write, and the ratio.
set -u
cd "$(dirname "$0")/../.."
. test/lib/common.sh
trap cf_cleanup EXIT
cf_install_deps
cf_mktemp
make -s clean >/dev/null
make -s >/dev/null || exit 1
cf_private_install || exit 1
cf_start_cluster "-c fsync=on -c synchronous_commit=off -c shared_buffers=512MB -c max_wal_size=4GB -c checkpoint_timeout=30min" || exit 1
export CF_ROOT="$PWD" CF_TMP CF_PGBIN
jobs=("$@")
if [ ${#jobs[@]} -eq 0 ]; then
	for f in test/bench/*.sh; do
		case "$(basename "$f")" in run.sh | lib.sh | plot.sh) continue ;; esac
		jobs+=("$(basename "$f" .sh)")
	done
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), PostgreSQL $(pg_config --version | awk '{print $2}')"
for j in "${jobs[@]}"; do
	echo "== $j"
	bash "test/bench/$j.sh" || echo "bench $j failed"
done
