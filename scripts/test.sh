#!/usr/bin/env bash
# The test command: builds everything (executables included; the tests start them as
# real processes) and runs the whole suite.
# - The PostgreSQL store's tests need a server: $SPOOL_TEST_POSTGRES names one, else a
#   throwaway one is started on loopback when PostgreSQL is installed (and stopped
#   afterwards), else those tests are skipped.
# - The tests that run Python tools and workers (the API-schema fuzzer) use the virtual
#   environment scripts/setup-python.sh makes in .venv, set up while Swift builds.
# - The portable bundle's checks (scripts/bundle-test.sh: build it, run it in a minimal Debian
#   root, gpu-check.sh --bundle on the CPU) run where SPOOL_BUNDLE=1 or SPOOL_REQUIRE_BUNDLE=1
#   (CI) asks: they add about 10 minutes with a warm cache, 20 cold (docs/bundle.md).
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
python_log="${TMPDIR:-/tmp}/spool-setup-python-$$.log"
bash scripts/setup-python.sh >"$python_log" 2>&1 &
python_setup=$!
status=0
# Every import must be a declared dependency (issue 26): a target that uses a module it does not
# declare builds only by the accident of build order.
swift build --build-tests --explicit-target-dependency-import-check error || status=$?
if wait "$python_setup"; then
    cat "$python_log"
    export SPOOL_PYTHON="${SPOOL_VENV:-$PWD/.venv}/bin/python"
else
    cat "$python_log"
    echo "test: the Python environment could not be set up; the tests that need it will say so"
fi
rm -f "$python_log"
if [ "${SPOOL_BUNDLE:-}" = 1 ] || [ "${SPOOL_REQUIRE_BUNDLE:-}" = 1 ]; then
    bash scripts/bundle-test.sh || status=$?
else
    echo "test: the portable bundle's checks are skipped (SPOOL_BUNDLE=1 runs them; CI does)"
fi
[ "$status" != 0 ] || swift test --skip-build || status=$?
[ -z "$started" ] || bash scripts/postgres-test-server.sh stop
exit $status
