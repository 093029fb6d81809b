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
echo "== GET /v1/jobs/{id}, idle daemon =="
wrk -t2 -c32 -d10s --latency "$server/v1/jobs/$id" | grep -E "Requests/sec|99%|50%|Non-2xx" || true
big=$(curl -sf -X POST "$server/v1/jobs" --data '{"prompt":"load","frames":1440,"width":1280,"height":720}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
until curl -sf "$server/v1/jobs/$big" | grep -q '"framesDone":[1-9]'; do sleep 0.2; done
echo "== GET /v1/jobs/{id}, while a 1280x720 job generates and encodes =="
wrk -t2 -c32 -d10s --latency "$server/v1/jobs/$id" | grep -E "Requests/sec|99%|50%|Non-2xx" || true
curl -sf "$server/v1/jobs/$big" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("   (the 720p job was", j["state"], "at", j["progress"]["framesDone"], "frames encoded-in-order)")'
