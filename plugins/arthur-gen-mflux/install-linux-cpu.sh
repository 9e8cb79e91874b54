#!/usr/bin/env bash
# Install mflux 0.24.x on Linux with MLX's CPU backend and the CPU build of torch, without
# the CUDA packages mflux asks for on Linux (mlx[cuda13] pulls ~2.5 GB of nvidia wheels and
# then fails to import on a machine without a GPU driver).
#
#   bash plugins/arthur-gen-mflux/install-linux-cpu.sh [PYTHON]
#
# PYTHON defaults to `python3`; everything goes into that interpreter's environment through
# `PYTHON -m pip`. Safe to run again: steps already done are no-ops. On macOS, don't use
# this: `pip install arthur-gen-mflux` pulls mflux and MLX (Metal) directly.
set -euo pipefail

PY="${1:-python3}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
MFLUX_VERSION="${MFLUX_VERSION:-0.24.0}"
MLX_VERSION="${MLX_VERSION:-0.32.2}"   # mflux 0.24 pins mlx==0.32.2 on Linux
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ "$(uname -s)" != "Linux" ]; then
    echo "install-linux-cpu.sh is for Linux; on macOS run: $PY -m pip install 'mflux>=0.24,<0.25'" >&2
    exit 2
fi

pip_() { "$PY" -m pip "$@"; }
step() { printf '\n==> %s\n' "$*"; }

step "torch==$TORCH_VERSION (CPU) and mlx[cpu]==$MLX_VERSION"
# A CUDA mlx backend left from an earlier `pip install mflux` breaks `import mlx.core` here.
if pip_ show mlx-cuda-13 >/dev/null 2>&1 || pip_ show mlx-cuda-12 >/dev/null 2>&1; then
    pip_ uninstall -y mlx-cuda-13 mlx-cuda-12 || true
fi
pip_ install "torch==$TORCH_VERSION" "mlx[cpu]==$MLX_VERSION" "mlx-cpu==$MLX_VERSION"

step "mflux==$MFLUX_VERSION (without its Linux CUDA requirement)"
pip_ install --no-deps "mflux==$MFLUX_VERSION"

step "mflux's other requirements"
pip_ install -r "$HERE/requirements-linux-cpu.txt"

step "check"
pip_ check
"$PY" - <<'PYCODE'
import importlib.metadata as md

import mlx.core as mx
from mflux.models.flux.variants.txt2img.flux import Flux1  # noqa: F401

print(f"mflux {md.version('mflux')}, mlx {md.version('mlx')}, device {mx.default_device()}")
PYCODE
