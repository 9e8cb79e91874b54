#!/usr/bin/env bash
# Install mlx-video-with-audio on Linux with MLX's CPU backend, next to mflux 0.24 (same mlx).
#
#   bash plugins/arthur-gen-mlx-video/install-linux-cpu.sh [PYTHON]
#
# PYTHON defaults to `python3`. Safe to run again. mlx-vlm is pinned to 0.7.6: 0.7.8+ need
# mlx >= 0.32.3, which mflux 0.24 does not allow, and an unpinned install backtracks silently.
# torch stays the CPU build (only mlx_video.convert_wan uses it). On macOS, don't use this:
# `pip install arthur-gen-mlx-video` pulls the package and MLX (Metal) directly.
set -euo pipefail

PY="${1:-python3}"
MLX_VIDEO_VERSION="${MLX_VIDEO_VERSION:-0.1.37}"
MLX_VLM_VERSION="${MLX_VLM_VERSION:-0.7.6}"
MLX_VERSION="${MLX_VERSION:-0.32.2}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if [ "$(uname -s)" != "Linux" ]; then
    echo "install-linux-cpu.sh is for Linux; on macOS run: $PY -m pip install arthur-gen-mlx-video" >&2
    exit 2
fi

printf '\n==> mlx-video-with-audio==%s (mlx[cpu]==%s, mlx-vlm==%s)\n' "$MLX_VIDEO_VERSION" "$MLX_VERSION" "$MLX_VLM_VERSION"
"$PY" -m pip install "mlx-video-with-audio==$MLX_VIDEO_VERSION" "mlx-vlm==$MLX_VLM_VERSION" \
    "mlx[cpu]==$MLX_VERSION" "mlx-cpu==$MLX_VERSION" "torch==$TORCH_VERSION"

printf '\n==> check\n'
"$PY" -m pip check
"$PY" -c "import importlib.metadata as md, mlx_video.generate_wan; print('mlx-video-with-audio', md.version('mlx-video-with-audio'))"
