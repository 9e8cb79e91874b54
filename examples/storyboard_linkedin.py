"""Run examples/storyboard_linkedin.yaml: offline against the Replicate emulator, or for real.

python examples/storyboard_linkedin.py            # no token: the emulator, $0, a throwaway ledger
REPLICATE_API_TOKEN=r8_... python examples/storyboard_linkedin.py --yes
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from arthur_gen_replicate.emulator import replicate_or_emulator

import arthur_gen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--file", default=str(Path(__file__).with_name("storyboard_linkedin.yaml")))
    parser.add_argument("--out", default=None, help="output folder (offline default: ./out)")
    parser.add_argument("--yes", action="store_true", help="skip the confirmation (real runs)")
    args = parser.parse_args()
    with replicate_or_emulator(starting_s=0.2, processing_s=1.0) as offline:
        board = arthur_gen.Storyboard.from_file(args.file)
        plan = board.plan()
        print(plan.describe())
        run = board.run(
            yes=args.yes or offline,
            out_dir=args.out or ("out" if offline else None),
            on_event=lambda e: sys.stdout.write(f"{e.state:<8} {e.step}\n") if e.state != "started" else None,
        )
        for name, video in run.outputs.items():
            print(f"{name}: {video.paths[0]}")
        print(f"paid: ${run.cost_usd:.3f}{' (emulated)' if offline else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
