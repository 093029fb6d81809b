#!/usr/bin/env bash
# The GPU host check for the Helios worker, without Swift: over worker protocol 2, as Spool
# runs it, the tiny Helios checkpoints (Base, Mid, Distilled), then a full-size
# Helios-Distilled with random weights (the published 14 B transformer, built on the GPU),
# then whether the GPU has NVENC. Writes OUT_DIR/gpu-check.json and OUT_DIR/summary.txt.
# About 3 minutes on an H200 (scripts/gpu_check.py says what each part measures).
#
#   scripts/gpu-check.sh [WHEELS_DIR] [--out OUT_DIR] [--gpu INDEX] [--size WxH] [--frames N]
#                        [--full-size-frames N | --no-full-size]
#   scripts/gpu-check.sh --download WHEELS_DIR
#   scripts/gpu-check.sh --bundle dist/spool-VERSION-linux-x86_64.tar.gz|BUNDLE_DIR [WHEELS_DIR] [--out OUT_DIR]
#                        [--size WxH] [--full-size-frames N | --no-full-size]
#
# --bundle: the same checks through the portable bundle's daemon, as a user runs it
# (scripts/gpu_check_bundle.py): `spool serve --gpus auto`, a job per tiny checkpoint of every
# family with its MP4 read back, the full-size Helios through the daemon (Spool's overhead, and
# nvidia-smi's view against the GPU-seconds Spool records), and an NVENC encode where the GPU has
# one. The bundle carries this script: `bin/../scripts/gpu-check.sh --bundle .` works on the host.
#
# The host needs an NVIDIA GPU and python3 with PyTorch (CUDA); SPOOL_HELIOS_DEVICE=cpu runs
# the tiny part on a CPU instead. Packages PyTorch images lack (diffusers, ftfy, ...) are
# installed into a throwaway folder put first on PYTHONPATH: from WHEELS_DIR with no network
# (make it where there is one with --download, for the host's Python version), else from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
# What the Helios worker needs beyond a CUDA PyTorch image's usual packages (huggingface_hub,
# safetensors, tokenizers, regex, numpy, Pillow): about 20 MB of wheels.
packages=(diffusers==0.42.1 transformers==5.24.0 ftfy==6.3.1 wcwidth==0.9.4 importlib_metadata==8.7.0)
if [ "${1:-}" = "--download" ]; then
    dir=${2:?usage: gpu-check.sh --download WHEELS_DIR}
    python_version=${SPOOL_GPU_PYTHON:-3.12}
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version "$python_version" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$dir" "${packages[@]}"
    du -sh "$dir"
    exit 0
fi
started=$(date +%s)
bundle=""
if [ "${1:-}" = "--bundle" ]; then bundle=${2:?usage: gpu-check.sh --bundle TARBALL|DIR ...}; shift 2; fi
wheels=""
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then wheels=$1; shift; fi
out=gpu-check-out
args=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) out=${2:?--out needs a folder}; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
# The Python with PyTorch: python3, or $SPOOL_PYTHON (a virtual environment's).
python3() { command "${SPOOL_PYTHON:-python3}" "$@"; }
python3 -c "import torch" 2>/dev/null || { echo "gpu-check: ${SPOOL_PYTHON:-python3} has no PyTorch; install it with CUDA first" >&2; exit 78; }
if [ "${SPOOL_HELIOS_DEVICE:-cuda}" = cuda ]; then
    python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
        || { echo "gpu-check: PyTorch sees no CUDA GPU (nvidia-smi: $(nvidia-smi -L 2>&1 | head -1))" >&2; exit 78; }
    nvidia-smi --query-gpu=index,name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
fi
env_dir=$(mktemp -d "${TMPDIR:-/tmp}/spool-gpu-check.XXXXXX")
trap 'rm -rf "$env_dir"' EXIT
if [ -n "$wheels" ]; then
    python3 -m pip install --quiet --no-index --no-deps --no-compile --target "$env_dir/site" "$wheels"/*.whl
elif ! python3 -c "import diffusers, ftfy; assert diffusers.__version__ == '0.42.1'" 2>/dev/null; then
    python3 -m pip install --quiet --no-deps --target "$env_dir/site" "${packages[@]}"
fi
export PYTHONPATH="$env_dir/site${PYTHONPATH:+:$PYTHONPATH}"
python3 -c "import diffusers, transformers, ftfy; print(f'gpu-check: diffusers {diffusers.__version__}, transformers {transformers.__version__}')"
echo "gpu-check: packages ready after $(( $(date +%s) - started )) s"
python3 Pipelines/helios/make_tiny.py "$env_dir/tiny" --all >/dev/null
python3 Pipelines/wan/make_tiny.py "$env_dir/tiny-wan" --all >/dev/null
python3 Pipelines/ltx/make_tiny.py "$env_dir/tiny-ltx" --all >/dev/null
python3 Pipelines/ltx2/make_tiny.py "$env_dir/tiny-ltx2" --all >/dev/null
if [ -z "$bundle" ]; then
    python3 scripts/gpu_check.py "$env_dir/tiny" --wan "$env_dir/tiny-wan" --ltx "$env_dir/tiny-ltx" --ltx2 "$env_dir/tiny-ltx2" \
        --out "$out" "${args[@]}"
    exit
fi
if [ -f "$bundle" ]; then
    mkdir -p "$env_dir/bundle"
    tar -xzf "$bundle" -C "$env_dir/bundle" --strip-components=1
    bundle=$env_dir/bundle
fi
[ -x "$bundle/bin/spool" ] || { echo "gpu-check: $bundle is no bundle (no bin/spool)" >&2; exit 1; }
python3 scripts/gpu_check_bundle.py "$bundle" --helios "$env_dir/tiny" --wan "$env_dir/tiny-wan" --ltx "$env_dir/tiny-ltx" --ltx2 "$env_dir/tiny-ltx2" \
    --out "$out" "${args[@]}"
