"""A webhook receiver for Spool's tests: verifies every message with the `standardwebhooks`
package from PyPI (a verifier nobody here wrote) and appends what it saw to a JSON-lines log.

    receiver.py --secret-file F --log L [--port P] [--fail-first N]

It prints `listening PORT` once it listens. Paths choose the answer: /gone answers 410;
anything else answers 200, or 500 for the first N tries of each webhook-id (--fail-first).
A message that fails verification is answered 400 and logged with "verified": false.
"""

import argparse
import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-file", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--fail-first", type=int, default=0)
    args = parser.parse_args()
    with open(args.secret_file) as f:
        verifier = Webhook(f.read().strip())
    lock = threading.Lock()
    seen = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {k.lower(): v for k, v in self.headers.items()}
            entry = {"path": self.path, "id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp")}
            try:
                payload = verifier.verify(body, headers)
                entry.update(verified=True, type=payload["type"], job=payload["data"]["id"], state=payload["data"]["state"],
                             seamWorst=(payload["data"].get("quality") or {}).get("seamWorst"))
            except (WebhookVerificationError, KeyError, ValueError) as error:
                entry.update(verified=False, error=str(error))
            with lock:
                seen[entry["id"]] = seen.get(entry["id"], 0) + 1
                if not entry["verified"]:
                    status = 400
                elif self.path == "/gone":
                    status = 410
                elif seen[entry["id"]] <= args.fail_first:
                    status = 500
                else:
                    status = 200
                entry["answered"] = status
                with open(args.log, "a") as log:
                    log.write(json.dumps(entry) + "\n")
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *_):
            pass

    # Stopped by SIGTERM as a receiver going down is: at once. The test runner that starts it
    # may have SIGTERM blocked, and a child inherits that mask.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM])
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
