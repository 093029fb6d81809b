#!/usr/bin/env bash
# Creates the virtual environment the tests' Python tools and workers run in (.venv, or
# $SPOOL_VENV), with exactly the packages in scripts/python-requirements.txt. Idempotent:
# an environment made from the same requirements is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${SPOOL_VENV:-$PWD/.venv}
requirements=scripts/python-requirements.txt
stamp="$venv/.spool-requirements"
if [ -x "$venv/bin/python" ] && cmp -s "$requirements" "$stamp"; then
    echo "setup-python: $venv is up to date"
    exit 0
fi
started=$(date +%s)
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$requirements"
cp "$requirements" "$stamp"
echo "setup-python: $venv ready in $(( $(date +%s) - started )) s"
