#!/usr/bin/env bash
# The test command: builds everything (executables included; the tests start them as
# real processes) and runs the whole suite. The PostgreSQL store's tests need a server:
# $SPOOL_TEST_POSTGRES names one, else a throwaway one is started on loopback when
# PostgreSQL is installed (and stopped afterwards), else those tests are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
started=""
if [ -z "${SPOOL_TEST_POSTGRES:-}" ]; then
    if url=$(bash scripts/postgres-test-server.sh start); then
        export SPOOL_TEST_POSTGRES="$url"
        started=1
        echo "test: PostgreSQL test server at $url"
    else
        echo "test: no PostgreSQL server; the PostgreSQL store's tests will be skipped"
    fi
fi
status=0
swift build --build-tests && swift test --skip-build || status=$?
[ -z "$started" ] || bash scripts/postgres-test-server.sh stop
exit $status
