#!/usr/bin/env bash
# The GPU host check for the Helios worker: runs it, over worker protocol 2 and without
# Swift, on tiny Helios checkpoints (Base, Mid, Distilled) on CUDA, and prints per-chunk
# time, peak GPU memory, that the worker sees only its one GPU, and NVENC availability.
# Finishes in well under 5 minutes.
#
#   scripts/gpu-check.sh [WHEELS_DIR] [--gpu INDEX] [--size WxH] [--frames N]
#
# The host needs an NVIDIA GPU and python3 with PyTorch (CUDA). diffusers, transformers,
# accelerate and ftfy are installed into a throwaway environment that sees the system's
# PyTorch: from WHEELS_DIR with no network (make it where there is one with
# `scripts/gpu-check.sh --download WHEELS_DIR`, on the same Python version), else from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(diffusers==0.42.1 transformers==5.24.0 accelerate==1.15.0 ftfy==6.3.1)
if [ "${1:-}" = "--download" ]; then
    dir=${2:?usage: gpu-check.sh --download WHEELS_DIR}
    # Everything those packages need except PyTorch and what it brings, which the GPU host has.
    python3 -m pip download --quiet --only-binary=:all: -d "$dir" "${packages[@]}"
    rm -f "$dir"/torch-* "$dir"/nvidia_* "$dir"/triton-* "$dir"/sympy-* "$dir"/networkx-* "$dir"/mpmath-*
    du -sh "$dir"
    exit 0
fi
started=$(date +%s)
wheels=""
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then wheels=$1; shift; fi
python3 -c "import torch" 2>/dev/null || { echo "gpu-check: python3 has no PyTorch; install it with CUDA first" >&2; exit 78; }
if [ "${SPOOL_HELIOS_DEVICE:-cuda}" = cuda ]; then
    python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || { echo "gpu-check: PyTorch sees no CUDA GPU (nvidia-smi: $(nvidia-smi -L 2>&1 | head -1))" >&2; exit 78; }
fi
nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
env_dir=$(mktemp -d "${TMPDIR:-/tmp}/spool-gpu-check.XXXXXX")
trap 'rm -rf "$env_dir"' EXIT
python3 -m venv --system-site-packages "$env_dir/venv"
if [ -n "$wheels" ]; then
    "$env_dir/venv/bin/python" -m pip install --quiet --no-index --find-links "$wheels" "${packages[@]}"
else
    "$env_dir/venv/bin/python" -m pip install --quiet "${packages[@]}"
fi
echo "gpu-check: packages ready after $(( $(date +%s) - started )) s"
"$env_dir/venv/bin/python" Pipelines/helios/make_tiny.py "$env_dir/tiny" --all >/dev/null
"$env_dir/venv/bin/python" scripts/gpu_check.py "$env_dir/tiny" "$@"
echo "gpu-check: $(( $(date +%s) - started )) s in all"
