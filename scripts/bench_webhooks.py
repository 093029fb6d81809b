"""How soon after a job ends its subscriber hears of it: a webhook, against its anchor, a
client polling GET /v1/videos/{id} at the interval Spool itself advises (openai-poll-after-ms),
both measured in the same run on the same jobs.

    bench_webhooks.py SPOOL_BINARY PIPELINES JOBS

Both latencies are counted from the job's finishedAt (the commit that ended it) to the moment
the receiver verified the webhook / the poller first saw the final state. Prints one line per
figure; run by scripts/bench-webhooks.sh.
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook


def iso(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    binary, pipelines, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = tempfile.mkdtemp()
    secret = subprocess.run([binary, "serve", "--data", data, "--show-webhook-secret"], capture_output=True, text=True).stdout.strip()
    verifier = Webhook(secret)
    heard = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            now = time.time()
            payload = verifier.verify(body, {k.lower(): v for k, v in self.headers.items()})
            heard.setdefault(payload["data"]["id"], now)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    port = 18760
    daemon = subprocess.Popen(
        [binary, "serve", "--data", data, "--gpus", "none", "--virtual-slots", "1", "--pipelines", pipelines,
         "--listen", f"127.0.0.1:{port}", "--no-drop-folder", "--log-level", "error", "--webhook-allow-private",
         "--webhook", f"http://127.0.0.1:{receiver.server_address[1]}/hook"],
        env={**os.environ, "SPOOL_SYNTHETIC_FRAME_COST_MS": "0"})
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + "/healthz")
            break
        except OSError:
            time.sleep(0.05)
    polled, finished = {}, {}
    try:
        for n in range(count):
            request = urllib.request.Request(base + "/v1/videos", data=json.dumps({"prompt": f"job {n}", "seconds": "1", "size": "128x96"}).encode(),
                                             headers={"content-type": "application/json"})
            with urllib.request.urlopen(request) as answer:
                video = json.load(answer)
                interval = int(answer.headers["openai-poll-after-ms"]) / 1000
            # One job at a time, so neither figure waits behind another job's encode.
            while True:
                with urllib.request.urlopen(f"{base}/v1/videos/{video['id']}") as answer:
                    if json.load(answer)["status"] in ("completed", "failed"):
                        polled[video["id"]] = time.time()
                        break
                time.sleep(interval)
            with urllib.request.urlopen(f"{base}/v1/jobs/{video['id']}") as answer:
                finished[video["id"]] = iso(json.load(answer)["timings"]["finishedAt"])
        deadline = time.time() + 30
        while len(heard) < count and time.time() < deadline:
            time.sleep(0.05)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait()
    hook = sorted(heard[i] - finished[i] for i in finished if i in heard)
    poll = sorted(polled[i] - finished[i] for i in finished)
    def q(values, p):
        return values[min(len(values) - 1, int(p * len(values)))] * 1000
    print(f"jobs {count}, webhooks heard {len(hook)}, polling every {interval * 1000:.0f} ms (openai-poll-after-ms)")
    print(f"webhook after the job ended: p50 {q(hook, 0.5):.1f} ms, p95 {q(hook, 0.95):.1f} ms, max {hook[-1] * 1000:.1f} ms")
    print(f"polling (anchor)           : p50 {q(poll, 0.5):.1f} ms, p95 {q(poll, 0.95):.1f} ms, max {poll[-1] * 1000:.1f} ms")
    print(f"ratio webhook / polling    : p50 {q(hook, 0.5) / q(poll, 0.5):.3f}, mean {statistics.mean(hook) / statistics.mean(poll):.3f}")


if __name__ == "__main__":
    main()
