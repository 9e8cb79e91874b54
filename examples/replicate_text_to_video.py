"""A video from a sentence on Replicate (MiniMax video-01: 6 s of 720p, about $0.50).

    export REPLICATE_API_TOKEN=r8_...       # https://replicate.com/account/api-tokens
    python examples/replicate_text_to_video.py "a red fox running through fresh snow"

Without REPLICATE_API_TOKEN it runs offline against the local Replicate emulator that ships
with arthur-gen-replicate: same code path, real HTTP, no money spent (its video is a test
pattern, and its "costs" go to a throwaway ledger, not yours).

The job is durable: if this script is killed while Replicate works, `arthur-gen resume`
finishes it without paying twice.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from arthur_gen_replicate.emulator import replicate_or_emulator

import arthur_gen


def main() -> int:
    parser = argparse.ArgumentParser(description="Text to video on Replicate.")
    parser.add_argument("prompt", nargs="?", default="a red fox running through fresh snow")
    parser.add_argument("--model", default="minimax/video-01", help="any Replicate video model")
    parser.add_argument("--out", default=None, help="output folder (offline default: ./out)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds before cancelling")
    parser.add_argument("--dry-run", action="store_true", help="show the estimate and the input")
    args = parser.parse_args()

    def on_progress(event: Any) -> None:
        if event.phase == "step" and event.total:
            print(f"\r  {event.step}%", end="", flush=True)
        elif event.phase in ("submitted", "running", "downloading"):
            print(f"\n  {event.phase}", end="", flush=True)

    with replicate_or_emulator(starting_s=0.5, processing_s=2.0) as offline:
        plan = arthur_gen.plan("video", args.prompt, backend="replicate", model=args.model)
        print(f"{plan.model.id}: estimate {plan.estimate.describe()}")
        if args.dry_run:
            print(plan.to_dict()["would_send"])
            return 0
        try:
            video = arthur_gen.generate_video(
                args.prompt,
                backend="replicate",
                model=args.model,
                timeout=args.timeout,
                out_dir=args.out or ("out" if offline else None),
                on_progress=on_progress,
            )
        except arthur_gen.ArthurGenError as exc:
            print(f"\nfailed: {exc}", file=sys.stderr)
            return 1
    print()
    for path in video.paths:
        print(f"saved {path}")
    cost = "unknown" if video.cost_usd is None else f"${video.cost_usd:.2f}"
    print(f"job {video.job_id} (prediction {video.remote_id}), cost {cost}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
