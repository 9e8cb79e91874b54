#!/usr/bin/env bash
# Set everything up, then run every check: ruff, mypy and the tests of the core, of both
# plugins and of the worked backend example. Tests needing real model weights are marked
# `weights` and skipped here (run them on an Apple Silicon Mac with `pytest -m weights`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh

# The cost dashboard is checked in headless Chromium (Debian's package).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the dashboard rendering test"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "   (chromium could not be installed; the dashboard rendering test will say so)"
fi

echo "==> ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "==> mypy"
.venv/bin/mypy
# On Linux the setup installs mflux; its contract tests must fail, not skip, if that broke.
if [ "$(uname -s)" = "Linux" ]; then export ARTHUR_GEN_REQUIRE_MFLUX=1; fi
echo "==> pytest"
.venv/bin/python -m pytest -q "$@"
