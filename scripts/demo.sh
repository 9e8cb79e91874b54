#!/usr/bin/env bash
# Set everything up, then run the main job: the hybrid pipeline (an image, animated into a
# video on Replicate's MiniMax video-01), recorded with its cost and lineage.
# Without REPLICATE_API_TOKEN it runs offline against the bundled Replicate emulator and
# says so; with a token it does the real (paid) thing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh >/dev/null
export ARTHUR_GEN_HOME="${ARTHUR_GEN_HOME:-$PWD/out/demo-home}"
.venv/bin/python examples/hybrid_pipeline.py "$@"
echo
.venv/bin/arthur-gen history --limit 5
