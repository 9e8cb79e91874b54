#!/usr/bin/env bash
# Set everything up, then run the main job: the hybrid pipeline (an image, animated into a
# video on Replicate's MiniMax video-01, then edited locally into a branded LinkedIn-portrait
# cut), recorded with its cost and lineage.
# Without REPLICATE_API_TOKEN it runs offline against the bundled Replicate emulator and
# says so; with a token it does the real (paid) thing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p out
echo "==> setting up .venv (log: out/setup.log)"
if ! bash scripts/setup.sh >out/setup.log 2>&1; then
    tail -n 40 out/setup.log >&2
    exit 1
fi
# A separate ledger for the demo, so emulated costs never mix with real ones.
export ARTHUR_GEN_HOME="${ARTHUR_GEN_HOME:-$PWD/out/demo-home}"
.venv/bin/python examples/hybrid_pipeline.py "$@"
echo
.venv/bin/arthur-gen history --limit 5
