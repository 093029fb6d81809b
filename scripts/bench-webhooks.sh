#!/usr/bin/env bash
# Webhook latency: how soon after a job ends a subscriber hears of it by webhook, against a
# client polling at the interval Spool advises (openai-poll-after-ms), same jobs, same run.
# JOBS jobs (default 40) on a release build; needs the test environment (scripts/setup-python.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product spool >/dev/null
swift build -c release --product spool-synthetic-worker >/dev/null
bin="$(swift build -c release --show-bin-path)"
python="${SPOOL_PYTHON:-.venv/bin/python}"
"$python" scripts/bench_webhooks.py "$bin/spool" "$PWD/Pipelines" "${JOBS:-40}"
