"""A small series of images with fixed seeds, made locally with mflux.

The model loads once and stays warm: the first image pays for loading, the rest only for
their steps. Same seeds, same settings, same pictures, every time.

    python examples/mflux_seed_series.py
    python examples/mflux_seed_series.py --model z-image-turbo --seeds 1 2 3 4 --quantize 4

Needs arthur-gen-mflux, mflux (an Apple Silicon Mac, or MLX's slow CPU backend on Linux)
and the model's weights in the Hugging Face cache; when something is missing it says what
and how to fix it, and exits with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import arthur_gen


def main() -> int:
    parser = argparse.ArgumentParser(description="A seed series with mflux.")
    parser.add_argument("--prompt", default="a lighthouse on a cliff at dawn, watercolor")
    parser.add_argument("--model", default="schnell", help="schnell, dev, z-image-turbo, ...")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--size", type=int, default=512, help="width and height (multiple of 16)")
    parser.add_argument("--steps", type=int, default=None, help="default: the model's")
    parser.add_argument("--quantize", type=int, default=8, choices=(3, 4, 5, 6, 8))
    parser.add_argument("--out", default=None, help="output folder (default: arthur-gen's)")
    args = parser.parse_args()

    def on_progress(event: Any) -> None:
        if event.phase == "step" and event.total:
            print(f"\r  step {event.step}/{event.total}", end="", flush=True)

    try:
        backend = arthur_gen.get_backend("mflux")
    except arthur_gen.UnknownModelError:
        print("The mflux backend is not installed: pip install arthur-gen-mflux", file=sys.stderr)
        return 2
    ready = backend.availability()
    if not ready.ok:
        print(f"mflux cannot run here: {ready.reason}\n  fix: {ready.fix}", file=sys.stderr)
        return 2

    for seed in args.seeds:
        started = time.perf_counter()
        try:
            image = arthur_gen.generate_image(
                args.prompt,
                backend="mflux",
                model=args.model,
                seed=seed,
                width=args.size,
                height=args.size,
                steps=args.steps,
                options={"quantize": args.quantize},
                out_dir=args.out,
                on_progress=on_progress,
            )
        except (arthur_gen.BackendUnavailableError, arthur_gen.InvalidRequestError) as exc:
            print(f"\n{exc}", file=sys.stderr)
            return 2
        print(f"\rseed {seed}: {image.path}  ({time.perf_counter() - started:.1f} s)")
    if isinstance(backend, arthur_gen.LocalBackend):
        backend.release()  # free the model's memory (it would stay warm for more calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
