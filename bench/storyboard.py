"""Storyboard wall time: 6 shots with 3 s emulated cloud clips vs one shot's chain, same run.

Each shot is keyframe (emulated FLUX schnell, 0.3 s) -> clip (emulated video-01, 3 s); the
storyboard runs cloud steps in parallel, so 6 shots should take about as long as one.
Target: 6 shots <= 1.5x one shot's chain (edits excluded: both sides stop after the clips).

    .venv/bin/python bench/storyboard.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHOT = "  - {{id: s{i}, prompt: scene {i} {tag}, keyframe: keyframe {i} {tag}}}\n"
HEAD = """\
defaults:
  seed: 1
  image: {backend: replicate, model: black-forest-labs/flux-schnell, options: {output_format: png}}
  video: {backend: replicate, model: minimax/video-01}
  max_parallel: 6
  confirm_above_usd: 100
shots:
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from arthur_gen_replicate.emulator import Emulator

    from arthur_gen.storyboard import Storyboard

    one, six = [], []
    with Emulator(starting_s=0.05, processing_s=3.0) as emu, tempfile.TemporaryDirectory() as tmp:
        emu.set_timing(starting_s=0.05, processing_s=0.3, model="black-forest-labs/flux-schnell")
        os.environ.update(
            REPLICATE_BASE_URL=emu.url,
            REPLICATE_API_TOKEN="r8_bench",
            ARTHUR_GEN_HOME=str(Path(tmp) / "home"),
            ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate",
        )
        for run in range(args.runs):
            for shots, into in ((1, one), (6, six)):
                path = Path(tmp) / f"b{shots}-{run}.yaml"
                body = "".join(SHOT.format(i=i, tag=f"r{run}n{shots}") for i in range(shots))
                path.write_text(HEAD + body, encoding="utf-8")
                start = time.perf_counter()
                Storyboard.from_file(path).run(
                    yes=True, out_dir=Path(tmp) / "out", publish=False, edits=False
                )
                into.append(time.perf_counter() - start)
    a, b = statistics.median(one), statistics.median(six)
    ratio = b / a
    print(f"one shot's chain: {a:.2f} s   6 shots: {b:.2f} s   ratio {ratio:.2f}x (goal <= 1.5x)")
    return 0 if ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
