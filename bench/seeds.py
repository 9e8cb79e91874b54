"""Several seeds on a remote backend: at once (``generate_images``) against one after another.

    python bench/seeds.py                 # 4 seeds of 3 s predictions; prints numbers, asserts nothing
    python bench/seeds.py --seeds 6 --processing 5

The real ``replicate`` client talks to the plugin's emulator (in its own process) over HTTP.
Both sides make the same number of predictions of ``black-forest-labs/flux-dev`` (seeded, so
each seed is its own job), each in a fresh ``ARTHUR_GEN_HOME`` so the cache answers nothing.
Goal: at once within 1.5x of one prediction's time, so N seeds cost about one wait, not N.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN = "r8_bench_token"
MODEL = "black-forest-labs/flux-dev"


def _start_emulator(processing: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "arthur_gen_replicate.emulator",
            "--port",
            "0",
            "--starting",
            "0",
            "--processing",
            str(processing),
            "--token",
            TOKEN,
            "-q",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    return proc, url


def _timed(fn: object, home: Path) -> float:
    os.environ["ARTHUR_GEN_HOME"] = str(home)
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--processing", type=float, default=3.0, help="seconds each prediction runs")
    args = parser.parse_args()
    proc, url = _start_emulator(args.processing)
    os.environ.update(REPLICATE_BASE_URL=url, REPLICATE_API_TOKEN=TOKEN, ARTHUR_GEN_PROGRESS="off")
    import arthur_gen

    seeds = list(range(1, args.seeds + 1))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            warm = _timed(
                lambda: arthur_gen.generate_image("warm-up", backend="replicate", model=MODEL, seed=99),
                root / "warm",
            )
            together = _timed(
                lambda: arthur_gen.generate_images(
                    "a harbour", seeds=seeds, backend="replicate", model=MODEL
                ),
                root / "together",
            )
            in_turn = _timed(
                lambda: [
                    arthur_gen.generate_image("a harbour", seed=s, backend="replicate", model=MODEL)
                    for s in seeds
                ],
                root / "in-turn",
            )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{args.seeds} seeds of {args.processing:.1f} s predictions (one job alone: {warm:.2f} s)")
    print(f"  at once (generate_images):    {together:6.2f} s  = {together / warm:.2f}x one job")
    print(f"  one after another (a loop):   {in_turn:6.2f} s  = {in_turn / warm:.2f}x one job")
    print(f"  speed-up: {in_turn / together:.2f}x")


if __name__ == "__main__":
    main()
