#!/usr/bin/env bash
# HTTP load benchmark: wrk against GET /v1/jobs/{id} on a release daemon on loopback,
# first idle, then while one 720p job encodes. Installs wrk if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo; $sudo apt-get install -y -qq wrk >/dev/null; }
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)"
data="$(mktemp -d)"; port=18751; server="http://127.0.0.1:$port"
"$bin/spool" serve --data "$data" --listen "127.0.0.1:$port" --log-level error >"$data/daemon.log" 2>&1 &
daemon=$!
trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 100); do curl -sf "$server/healthz" >/dev/null && break; sleep 0.1; done
id=$(curl -sf -X POST "$server/v1/jobs" --data '{"prompt":"probe","frames":24}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sleep 2
# Each figure is printed with its anchor from the same run: GET /healthz, the same server,
# router and connection handling with no job to read, so the ratio is what reading and
# writing a job costs on top of serving HTTP at all.
measure() { # URL -> "requests/s p50 p99"
  wrk -t2 -c32 -d10s --latency "$1" | awk '/Requests\/sec/ {r=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print r, p50, p99}'
}
report() { # label figure anchor
  read -r rps p50 p99 <<<"$2"; read -r arps _ _ <<<"$3"
  printf '%-58s %9.0f req/s  p50 %-8s p99 %-8s | anchor /healthz %7.0f req/s | ratio %.2f | target >= 10000 req/s, p99 < 10 ms\n' \
    "$1" "$rps" "$p50" "$p99" "$arps" "$(awk -v a="$rps" -v b="$arps" 'BEGIN {print a / b}')"
}
anchor=$(measure "$server/healthz")
report "GET /v1/jobs/{id}, idle daemon" "$(measure "$server/v1/jobs/$id")" "$anchor"
big=$(curl -sf -X POST "$server/v1/jobs" --data '{"prompt":"load","frames":1440,"width":1280,"height":720}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$server/v1/jobs/$big" | grep -q '"framesDone":[1-9]'; do sleep 0.2; done
busy_anchor=$(measure "$server/healthz")
report "GET /v1/jobs/{id}, while a 1280x720 job generates, encodes" "$(measure "$server/v1/jobs/$id")" "$busy_anchor"
curl -sf "$server/v1/jobs/$big" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("   (the 720p job was", j["state"], "with", j["progress"]["framesDone"], "of 1440 frames generated)")'
