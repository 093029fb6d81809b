#!/usr/bin/env bash
# The portable bundle's checks, as CI runs them (issue 32), in three steps:
# 1. scripts/bundle.sh builds dist/spool-VERSION-linux-x86_64.tar.gz (≤ 60 MiB, ldd-checked);
# 2. scripts/bundle-check.sh runs it in a minimal Debian 12 root: a synthetic job to an MP4
#    that ffprobe, outside, reads as exact;
# 3. scripts/gpu-check.sh --bundle runs the bundled daemon on this machine's CPU
#    (SPOOL_HELIOS_DEVICE=cpu) with every family's tiny checkpoints, each job's MP4 read back.
#
# What takes long is kept in $SPOOL_BUNDLE_CACHE (else .build/bundle): FFmpeg's small build, the
# static release build's scratch folder and the minimal root, so a second checkout on the same
# machine rebuilds only Spool's own modules. Needs root (chroot), and what
# `scripts/setup-system.sh --bundle` installs; Python with PyTorch in $SPOOL_PYTHON.
# Ends with one line: "bundle: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
cache=${SPOOL_BUNDLE_CACHE:-$PWD/.build/bundle}
export SPOOL_BUNDLE_CACHE=$cache
passed=0 failed=0
step() {
    local name=$1; shift
    local begun=$SECONDS
    echo "bundle: $name"
    if "$@"; then
        passed=$((passed + 1)); echo "bundle: $name passed in $((SECONDS - begun)) s"
    else
        failed=$((failed + 1)); echo "bundle: $name FAILED after $((SECONDS - begun)) s"
    fi
}
step "build (scripts/bundle.sh)" bash scripts/bundle.sh
version=$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/SpoolCore/Spool.swift)
tarball=dist/spool-$version-linux-x86_64.tar.gz
if [[ -f $tarball && $failed == 0 ]]; then
    step "minimal Debian root (scripts/bundle-check.sh)" bash scripts/bundle-check.sh "$tarball" --root "$cache/minroot"
    out=$(mktemp -d "${TMPDIR:-/tmp}/spool-gpu-check-cpu.XXXXXX")
    step "gpu-check --bundle on the CPU (scripts/gpu-check.sh)" \
        env SPOOL_HELIOS_DEVICE=cpu bash scripts/gpu-check.sh --bundle "$tarball" --out "$out"
    rm -rf "$out"
else
    failed=$((failed + 2)); echo "bundle: no bundle was built, so neither check ran"
fi
echo "bundle: $passed passed, $failed failed"
[[ $failed == 0 ]]
