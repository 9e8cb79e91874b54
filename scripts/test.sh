#!/usr/bin/env bash
# Set everything up, then run every check: ruff, mypy and the tests of the core, of both
# plugins and of the worked backend example. Tests needing real model weights are marked
# `weights` and skipped here (run them on an Apple Silicon Mac with `pytest -m weights`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

# Debian's packages the tests use: headless Chromium checks the cost dashboard's rendering;
# OpenBLAS stands in for the reference BLAS of MLX's CPU wheel (scripts/mlx-cpu-env.sh).
debs=()
command -v chromium >/dev/null 2>&1 || debs+=(chromium)
if [ "$(uname -s)" = "Linux" ] && ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    debs+=(libopenblas0-pthread)
fi
if [ "${#debs[@]}" -gt 0 ] && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's ${debs[*]} for the tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${debs[@]}" >/dev/null) \
        || echo "   (${debs[*]} could not be installed; the tests that need them will say so)"
fi

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy
# On Linux the setup installs mflux; its contract tests must fail, not skip, if that broke.
if [ "$(uname -s)" = "Linux" ]; then export ARTHUR_GEN_REQUIRE_MFLUX=1; fi
# MLX on a Linux CPU: OpenBLAS and an allocator that keeps memory (the tiny real pipelines ~2x faster)
. scripts/mlx-cpu-env.sh
echo "==> pytest"
.venv/bin/python -m pytest -q "$@"
