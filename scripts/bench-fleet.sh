#!/usr/bin/env bash
# spool-bench fleet on a PostgreSQL server of its own (issue 33): simulated hosts of the real
# dispatcher, lease keeper and store client on one queue, with pg_stat_statements preloaded so
# that the bench counts the statements the fleet sends. Arguments go to `spool-bench fleet`:
#   scripts/bench-fleet.sh                       # 10, 50, 100 and 200 hosts (about 6 minutes)
#   scripts/bench-fleet.sh --hosts 10,50 --seconds 10
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product spool-bench >/tmp/spool-bench-fleet-build.log 2>&1 || { cat /tmp/spool-bench-fleet-build.log >&2; exit 1; }
export SPOOL_PG_DIR=${SPOOL_PG_DIR:-/tmp/spool-postgres-fleet-$(id -u)}
export SPOOL_PG_PORT=${SPOOL_PG_PORT:-54339}
export SPOOL_PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements"
SPOOL_TEST_POSTGRES=$(scripts/postgres-test-server.sh start)
export SPOOL_TEST_POSTGRES
trap 'scripts/postgres-test-server.sh stop' EXIT
.build/release/spool-bench fleet "$@"
