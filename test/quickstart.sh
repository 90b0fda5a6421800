#!/bin/bash
# test/quickstart.sh: install what is missing, build, install cfeast, start a throwaway cluster
# (user postgres, Unix socket in a temporary directory) and run test/quickstart.sql, printing
# what a new user should see.  The cluster is stopped and removed on every exit path.
set -u
cd "$(dirname "$0")/.."
. test/lib/common.sh
trap cf_cleanup EXIT
cf_install_deps || exit 1
cf_build_install || exit 1
cf_mktemp
cf_start_cluster || exit 1
cf_log "cluster running: psql -h $PGHOST -p $PGPORT -U postgres (until this script exits)"
psql -X -v ON_ERROR_STOP=1 -e -f test/quickstart.sql || exit 1
cf_log "quickstart done"
