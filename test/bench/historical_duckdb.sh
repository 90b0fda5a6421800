#!/bin/bash
# test/bench/historical_duckdb.sh: the stretch reference, DuckDB's ASOF JOIN on the data of
# test/bench/historical.sh.  Run that first with KEEP_DB=1 (it leaves database cfeast_bench_hist),
# then this.  Installs @duckdb/node-api with npm into a temporary directory (nothing is committed).
set -eu
DB=${BENCH_DB:-cfeast_bench_hist}
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d /tmp/cfeast-duckdb.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
psql -X -q -d "$DB" -c "\\copy (SELECT driver_id, event_timestamp, created, conv_rate, acc_rate, trips FROM driver_stats) TO '$WORK/driver_stats.csv' CSV HEADER"
psql -X -q -d "$DB" -c "\\copy (SELECT driver_id, event_timestamp, order_id FROM entity_df) TO '$WORK/entity_df.csv' CSV HEADER"
(cd "$WORK" && npm install --silent --no-audit --no-fund @duckdb/node-api >/dev/null)
cp "$HERE/historical_duckdb.mjs" "$WORK/"
(cd "$WORK" && node historical_duckdb.mjs "$WORK")
