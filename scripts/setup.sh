#!/usr/bin/env bash
# Set up a development environment from nothing: .venv with the core, both plugins, the
# Replicate emulator's media extras, mflux on MLX's CPU backend (Linux) and the dev tools.
# Safe to run again; it only installs what is missing.
#
#   bash scripts/setup.sh            (PYTHON=python3.12 bash scripts/setup.sh to pick one)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
    done
fi
echo "==> Python: $("$PY" --version) ($PY)"

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
VPY=.venv/bin/python
"$VPY" -m pip install -q --upgrade pip

echo "==> arthur-gen (core, edit extra, dev tools) and arthur-gen-replicate (with the emulator's media extras)"
"$VPY" -m pip install -q -e ".[dev,edit]" -e "plugins/arthur-gen-replicate[emulator]" \
    -e plugins/arthur-gen-youtube -e plugins/arthur-gen-linkedin

if [ "$(uname -s)" = "Linux" ]; then
    if ! "$VPY" -c "import mflux, mlx.core" >/dev/null 2>&1; then
        echo "==> mflux on MLX's CPU backend (Linux; no CUDA packages)"
        bash plugins/arthur-gen-mflux/install-linux-cpu.sh "$VPY"
    fi
    if ! "$VPY" -c "import mlx_video.generate_wan" >/dev/null 2>&1; then
        echo "==> mlx-video-with-audio on MLX's CPU backend (Linux), next to mflux"
        bash plugins/arthur-gen-mlx-video/install-linux-cpu.sh "$VPY"
    fi
fi
echo "==> arthur-gen-mflux and arthur-gen-mlx-video"
"$VPY" -m pip install -q -e plugins/arthur-gen-mflux -e plugins/arthur-gen-mlx-video
# examples/writing_a_backend is a teaching example: not installed (its tests import it from its folder)
"$VPY" -m pip uninstall -q -y arthur-gen-mlx-video-example >/dev/null 2>&1 || true
echo "==> ready: $("$VPY" -m arthur_gen --version 2>/dev/null || echo '?') in .venv"
