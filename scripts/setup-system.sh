#!/usr/bin/env bash
# Installs the Debian packages Spool builds and tests against, when any is missing:
# FFmpeg's libraries (and ffmpeg/ffprobe for the tests and benchmarks), SQLite's
# headers for GRDB, PostgreSQL (the shared store's tests start a throwaway server), and
# Chromium with its chromedriver (the dashboard's browser test).
# --bundle: also what scripts/bundle.sh and scripts/bundle-check.sh need to build FFmpeg small
# (x264's and NVENC's headers, nasm), set the libraries' rpath and make a minimal Debian root.
set -euo pipefail
packages=(pkg-config libavcodec-dev libavformat-dev libswscale-dev libavutil-dev ffmpeg libsqlite3-dev procps postgresql chromium chromium-driver)
if [ "${1:-}" = "--bundle" ]; then packages+=(libx264-dev libffmpeg-nvenc-dev nasm patchelf xz-utils debootstrap make gcc); fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Programs, wherever they come from: curl (the demo), python3 (the demo, the Helios worker).
command -v curl >/dev/null || missing+=(curl)
command -v python3 >/dev/null || missing+=(python3)
# The tests' Python environment (scripts/setup-python.sh) needs venv and pip.
if command -v python3 >/dev/null && ! python3 -c "import venv, ensurepip" 2>/dev/null; then missing+=(python3-venv); fi
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "setup: Swift 6.1 or later must be on PATH (https://swift.org/install)"; exit 1; }
