#!/usr/bin/env bash
# HTTP load benchmark: GET /v1/jobs/{id} on a release daemon on loopback, first idle, then
# while one 720p job generates and encodes. Two load generators, each beside its anchor
# (GET /healthz: the same server and connection handling with no job to read):
#   wrk           closed loop, 2 threads, 32 connections: the most the daemon serves, and
#                 the latency at that saturation.
#   spool-loadgen open loop at a fixed 10,000 requests/s (Benchmarks/loadgen), each request
#                 timed from when it fell due (wrk2's correction for coordinated omission):
#                 the latency at the rate the target names.
# Every line also says how much CPU time the hypervisor stole from this VM meanwhile
# (/proc/stat steal, both vCPUs): a stolen vCPU stalls client and server alike.
# Installs wrk if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)"
data="$(mktemp -d)"; port=18751; server="http://127.0.0.1:$port"
cc -O2 -o "$data/spool-loadgen" Benchmarks/loadgen/spool-loadgen.c -lpthread
"$bin/spool" serve --data "$data" --listen "127.0.0.1:$port" --log-level error >"$data/daemon.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "$server/healthz" >/dev/null && break; sleep 0.1; done
id=$(curl -sf -X POST "$server/v1/jobs" --data '{"prompt":"probe","frames":24}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 2
steal() { awk '/^cpu / {print $9}' /proc/stat; }
wrk_run() { # URL -> "requests/s p50 p99 steal-ms"
  local s0; s0=$(steal)
  wrk -t2 -c32 -d10s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r, p50, p99}' | tr '\n' ' '
  echo "$(( ($(steal) - s0) * 10 ))"
}
open_run() { # URL -> "answered/s p50 p99 p99.9 steal-ms"
  local s0; s0=$(steal)
  "$data/spool-loadgen" -r 10000 -d 10 "$1" | awk '/^offered/ {for (i = 2; i <= NF; i++) if ($i == "requests/s),") r = substr($(i - 1), 2)} /^ +50.0%/ {p50=$2} /^ +99.0%/ {p99=$2} /^ +99.9%/ {p999=$2} END {print r, p50, p99, p999}' | tr '\n' ' ' || true
  echo "$(( ($(steal) - s0) * 10 ))"
}
report_wrk() { # label figure anchor
  read -r rps p50 p99 st <<<"$2"; read -r arps _ _ _ <<<"$3"
  printf '%-44s wrk  %7.0f req/s  p50 %-7s p99 %-8s steal %4s ms | anchor /healthz %6.0f req/s | ratio %.2f | target >= 10000 req/s, p99 < 10 ms\n' \
    "$1" "$rps" "$p50" "$p99" "$st" "$arps" "$(awk -v a="$rps" -v b="$arps" 'BEGIN {print a / b}')"
}
report_open() { # label figure anchor
  read -r rps p50 p99 p999 st <<<"$2"; read -r _ _ ap99 _ _ <<<"$3"
  printf '%-44s 10k/s %6s answered/s  p50 %-7s p99 %-8s p99.9 %-8s steal %4s ms | anchor /healthz p99 %s | target p99 < 10 ms\n' \
    "$1" "$rps" "$p50" "$p99" "$p999" "$st" "$ap99"
}
report_wrk "GET /v1/jobs/{id}, idle daemon" "$(wrk_run "$server/v1/jobs/$id")" "$(wrk_run "$server/healthz")"
report_open "GET /v1/jobs/{id}, idle daemon" "$(open_run "$server/v1/jobs/$id")" "$(open_run "$server/healthz")"
big=$(curl -sf -X POST "$server/v1/jobs" --data '{"prompt":"load","frames":1440,"width":1280,"height":720}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$server/v1/jobs/$big" | grep -q '"framesDone":[1-9]'; do sleep 0.2; done
report_wrk "GET /v1/jobs/{id}, while a 720p job encodes" "$(wrk_run "$server/v1/jobs/$id")" "$(wrk_run "$server/healthz")"
report_open "GET /v1/jobs/{id}, while a 720p job encodes" "$(open_run "$server/v1/jobs/$id")" "$(open_run "$server/healthz")"
curl -sf "$server/v1/jobs/$big" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("   (the 720p job was", j["state"], "with", j["progress"]["framesDone"], "of 1440 frames generated)")'
