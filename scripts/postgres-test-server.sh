#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback for the tests and benchmarks.
#   scripts/postgres-test-server.sh start   # prints its URL; reuses one already running
#   scripts/postgres-test-server.sh stop
#   scripts/postgres-test-server.sh crash   # stops it the way a crash does (immediate: no
#                                           # checkpoint, connections cut); start recovers it
# The cluster lives in $SPOOL_PG_DIR (default /tmp/spool-postgres-$UID) on port
# $SPOOL_PG_PORT (default 54329), with trust authentication on 127.0.0.1 only, and
# durable commits (fsync on, as in production). Run as root, it runs the server as
# the `postgres` user, since PostgreSQL refuses to run as root. It takes 1,000
# connections: the fleet test runs 200 hosts in one process, each with its own pool and
# LISTEN. $SPOOL_PG_OPTIONS adds server options (scripts/bench-fleet.sh preloads
# pg_stat_statements).
set -euo pipefail
command=${1:-start}
dir=${SPOOL_PG_DIR:-/tmp/spool-postgres-$(id -u)}
port=${SPOOL_PG_PORT:-54329}
url="postgres://spool@127.0.0.1:$port/postgres?sslmode=disable"

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
[ -n "$bindir" ] || bindir=$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/pg_ctl)")
if [ ! -x "$bindir/pg_ctl" ]; then
    echo "postgres-test-server: PostgreSQL is not installed (apt-get install postgresql)" >&2
    exit 1
fi
as=()
if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); fi

case "$command" in
start)
    if [ -f "$dir/data/postmaster.pid" ] && "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
        echo "$url"
        exit 0
    fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        rm -rf "$dir"
        mkdir -p "$dir"
        [ ${#as[@]} -eq 0 ] || chown postgres "$dir"
        "${as[@]}" "$bindir/initdb" -D "$dir/data" -U spool -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c max_connections=1000 -c shared_buffers=128MB ${SPOOL_PG_OPTIONS:-}" \
        start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    echo "$url"
    ;;
stop)
    [ -d "$dir/data" ] && "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
crash)
    [ -d "$dir/data" ] && "${as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start|stop|crash" >&2
    exit 64
    ;;
esac
