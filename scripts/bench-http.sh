#!/usr/bin/env bash
# HTTP load benchmark: GET /v1/jobs/{id} on a release daemon on loopback, first idle, then
# while one 720p job generates and encodes. Two load generators, each beside its anchor
# (GET /healthz: the same server and connection handling with no job to read):
#   wrk           closed loop, 2 threads, 32 connections: the most the daemon serves, and
#                 the latency at that saturation.
#   spool-loadgen open loop at a fixed 10,000 requests/s (Benchmarks/loadgen), each request
#                 timed from when it fell due (wrk2's correction for coordinated omission):
#                 the latency at the rate the target names. $ROUNDS rounds (default 5) of
#                 5 s, each beside a run against the floor server; the medians are reported.
# A second anchor is spool-floor-server (Benchmarks/loadgen): a C epoll server that answers
# every request with the bytes of a real poll answer and does nothing else. Measured in the
# same phase, it is the floor this machine puts under any server: the loopback, the
# scheduler, the load generator on the same two CPUs, the hypervisor. Spool's figure over
# the floor's is the part that is Spool's.
# Every line also says how much CPU time the hypervisor stole from this VM meanwhile
# (/proc/stat steal, both vCPUs): a stolen vCPU stalls client and server alike.
# Installs wrk if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)"
data="$(mktemp -d)"; port=18751; server="http://127.0.0.1:$port"; floor="http://127.0.0.1:$((port + 1))"
cc -O2 -o "$data/spool-loadgen" Benchmarks/loadgen/spool-loadgen.c -lpthread
cc -O2 -o "$data/spool-floor-server" Benchmarks/loadgen/spool-floor-server.c -lpthread
# Extra `spool serve` options for A/B runs, e.g. SPOOL_SERVE_OPTIONS="--encoder-priority 10".
# shellcheck disable=SC2086
"$bin/spool" serve --data "$data" --listen "127.0.0.1:$port" --log-level error ${SPOOL_SERVE_OPTIONS:-} >"$data/daemon.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon ${floor_pid:-} 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "$server/healthz" >/dev/null && break; sleep 0.1; done
submit() { curl -sf -X POST "$server/v1/jobs" --data "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
id=$(submit '{"prompt":"probe","frames":24}')
until curl -sf "$server/v1/jobs/$id" | grep -q '"state":"succeeded"'; do sleep 0.2; done
curl -sfi "$server/v1/jobs/$id" >"$data/answer.http"
"$data/spool-floor-server" -p $((port + 1)) "$data/answer.http" &
floor_pid=$!
steal() { awk '/^cpu / {print $9}' /proc/stat; }
wrk_run() { # URL -> "requests/s p50 p99 steal-ms"
  local s0; s0=$(steal)
  wrk -t2 -c32 -d10s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r, p50, p99}' | tr '\n' ' '
  echo "$(( ($(steal) - s0) * 10 ))"
}
open_run() { # URL -> "answered/s p50 p99 p99.9 steal-ms"
  local s0; s0=$(steal)
  "$data/spool-loadgen" -r 10000 -d "${OPEN_SECONDS:-5}" "$1" | awk '/^offered/ {for (i = 2; i <= NF; i++) if ($i == "requests/s),") r = substr($(i - 1), 2)} /^ +50.0%/ {p50=$2} /^ +99.0%/ {p99=$2} /^ +99.9%/ {p999=$2} END {print r, p50, p99, p999}' | tr '\n' ' ' || true
  echo "$(( ($(steal) - s0) * 10 ))"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
report_wrk() { # label figure healthz floor
  read -r rps p50 p99 st <<<"$2"; read -r hrps _ _ _ <<<"$3"; read -r frps _ fp99 fst <<<"$4"
  printf '%-34s wrk   %6.0f req/s p50 %-7s p99 %-8s steal %4s ms | /healthz %6.0f req/s | floor %6.0f req/s p99 %-7s steal %4s ms | req/s ratio to floor %s | target >= 10000 req/s, p99 < 10 ms\n' \
    "$1" "$rps" "$p50" "$p99" "$st" "$hrps" "$frps" "$fp99" "$fst" "$(ratio "$rps" "$frps")"
}
median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
report_open() { # label file-of-rounds: "poll-p50 poll-p99 poll-p99.9 poll-steal floor-p99 floor-steal" per line
  local col
  col() { awk -v c="$1" '{print $c}' "$2" | median; }
  printf '%-34s 10k/s x%s rounds  median p50 %.2fms p99 %.2fms p99.9 %.2fms (p99 each round: %s) | floor p99 %.2fms (each: %s) | median p99 ratio to floor %s | steal per round %s ms | target p99 < 10 ms\n' \
    "$1" "$(wc -l <"$2")" "$(col 1 "$2")" "$(col 2 "$2")" "$(col 3 "$2")" "$(awk '{printf "%s%s", s, $2; s=" "}' "$2")" \
    "$(col 5 "$2")" "$(awk '{printf "%s%s", s, $5; s=" "}' "$2")" "$(awk '{print $2 / $5}' "$2" | median | xargs printf '%.1f')" \
    "$(awk '{printf "%s%s/%s", s, $4, $6; s=" "}' "$2")"
}
measure() { # label [before-each-run]
  # wrk: the poll, /healthz and the floor server, 10 s each.
  local poll health flr
  ${2:-true}; poll=$(wrk_run "$server/v1/jobs/$id"); ${2:-true}; health=$(wrk_run "$server/healthz"); ${2:-true}; flr=$(wrk_run "$floor/v1/jobs/$id")
  report_wrk "$1" "$poll" "$health" "$flr"
  # Open loop: rounds of the poll then the floor server, 5 s each (after 1 s of warm-up), so
  # that each pair sees about the same host; the median of the rounds damps bursts of steal.
  : >"$data/rounds"
  for _ in $(seq "${ROUNDS:-5}"); do
    ${2:-true}; poll=$(open_run "$server/v1/jobs/$id"); ${2:-true}; flr=$(open_run "$floor/v1/jobs/$id")
    read -r _ p50 p99 p999 st <<<"$poll"; read -r _ _ fp99 _ fst <<<"$flr"
    echo "${p50%ms} ${p99%ms} ${p999%ms} $st ${fp99%ms} $fst" >>"$data/rounds"
  done
  report_open "$1" "$data/rounds"
}
measure "GET /v1/jobs/{id}, idle"
# Busy: one 60 s 720p job generating and encoding at all times; when one ends, the next starts.
busy_jobs=0
keep_busy() {
  if [ -z "${big:-}" ] || ! curl -sf "$server/v1/jobs/$big" | grep -qE '"state":"(queued|running|encoding)"'; then
    big=$(submit '{"prompt":"load","frames":1440,"width":1280,"height":720}'); busy_jobs=$((busy_jobs + 1))
    until curl -sf "$server/v1/jobs/$big" | grep -q '"framesDone":[1-9]'; do sleep 0.2; done
  fi
}
measure "GET /v1/jobs/{id}, a 720p job busy" keep_busy
echo "   (busy phase: $busy_jobs 720p job(s) of 1440 frames; encoding at priority ${SPOOL_SERVE_OPTIONS:-idle, the default})"
