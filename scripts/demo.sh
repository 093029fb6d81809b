#!/usr/bin/env bash
# Installs what is missing, builds Spool, starts the daemon on its embedded defaults
# (SQLite, the synthetic pipeline, one CPU slot), submits Samples/hello.json over HTTP and
# prints the path of the MP4 that comes out. The daemon keeps running only with --keep.
set -euo pipefail
cd "$(dirname "$0")/.."
keep=0; [ "${1:-}" = "--keep" ] && keep=1

bash scripts/setup-system.sh
echo "demo: building Spool (release)…"
# Only what the demo runs: the daemon and the synthetic worker its default pipeline starts.
# The benchmarks and load generator are built by the scripts that run them.
swift build -c release --product spool >/dev/null
swift build -c release --product spool-synthetic-worker >/dev/null
bin="$(swift build -c release --show-bin-path)"

data="${SPOOL_DATA:-$PWD/.spool}"
port="${SPOOL_PORT:-8750}"
server="http://127.0.0.1:$port"
mkdir -p "$data"
"$bin/spool" serve --data "$data" --listen "127.0.0.1:$port" >"$data/daemon.log" 2>&1 &
daemon=$!
[ "$keep" = 1 ] || trap 'kill -TERM $daemon 2>/dev/null; wait $daemon 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf "$server/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "$server/healthz" >/dev/null || { echo "demo: the daemon did not start; see $data/daemon.log"; exit 1; }
echo "demo: daemon up at $server (data in $data, log in $data/daemon.log)"

job=$(curl -sf -X POST "$server/v1/jobs" -H 'Content-Type: application/json' --data @Samples/hello.json)
id=$(printf '%s' "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
echo "demo: submitted job $id"
while :; do
    status=$(curl -sf "$server/v1/jobs/$id")
    state=$(printf '%s' "$status" | python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["state"], "%d/%d frames" % (j["progress"]["framesDone"], j["progress"]["framesTotal"]))')
    printf '\rdemo: %-40s' "$state"
    case "$state" in succeeded*|failed*|cancelled*) break;; esac
    sleep 0.3
done
echo
printf '%s' "$status" | python3 -c '
import json, sys
j = json.load(sys.stdin)
if j["state"] != "succeeded":
    sys.exit("demo: the job " + j["state"] + ": " + str(j.get("error")))
t = j["timings"]
print("demo: done in %.2f s (queue %.2f s, generation %.2f s, encode tail %.3f s), %.2f GPU-seconds"
      % (t["totalLatency"], t["queueWait"], t["generationTime"], t["encodeTail"], j["gpuSeconds"]))'
echo "demo: video at $data/videos/$id.mp4 (also $server/v1/jobs/$id/video)"
