"""arthur-gen's mlx_video backend vs calling mlx_video directly, on the same tiny real pipeline.

Builds a tiny random Wan 2.1 (dim 64, 1 layer, 8-channel VAE decoder) and a stand-in umt5
tokenizer in a temp folder, then times, in one process:

- direct: ``mlx_video.generate_wan.generate_video(...)`` as a user would call it (its own
  ``save_video`` writes the file);
- arthur-gen, cold: ``arthur_gen.generate_video(backend="mlx_video")`` with the warm cache off
  (job store, worker thread, bridge, frame check, MP4 via write_video with metadata);
- arthur-gen, warm: the same with the default cache, second call.

Prints seconds and the ratio cold/direct (goal <= 1.05x). Usage:
    .venv/bin/python bench/mlx_video_overhead.py [--runs N] [--steps N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mlx-video-"))
    os.environ.update(
        HF_HUB_CACHE=str(tmp / "hub"),
        HF_HUB_OFFLINE="1",
        ARTHUR_GEN_HOME=str(tmp / "home"),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-mlx-video",
    )
    from arthur_gen_mlx_video.testing import build_tiny_wan, build_umt5_standin, tiny_vae

    folder = build_tiny_wan(tmp / "tiny")
    build_umt5_standin(tmp / "hub")
    import contextlib

    import mlx_video.generate_wan as gw
    from arthur_gen_mlx_video import backend

    import arthur_gen

    kw = dict(width=256, height=256, num_frames=5, steps=args.steps, seed=1, tiling="none")

    def direct(i: int) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            gw.generate_video(str(folder), "a lighthouse", output_path=str(tmp / f"direct{i}.mp4"), **kw)

    def ours(i: int) -> None:
        arthur_gen.generate_video(
            "a lighthouse", backend="mlx_video", width=256, height=256, steps=args.steps, seed=1 + i,
            options={"model_path": str(folder), "num_frames": 5, "tiling": "none"}, cache=False,
        )  # fmt: skip

    def timed(fn: object, i: int) -> float:
        started = time.perf_counter()
        fn(i)  # type: ignore[operator]
        return time.perf_counter() - started

    with tiny_vae():
        results: dict[str, list[float]] = {"direct": [], "arthur-gen cold": [], "arthur-gen warm": []}
        for i in range(args.runs):
            results["direct"].append(timed(direct, i))
            backend()._cache.size = 0
            results["arthur-gen cold"].append(timed(ours, 100 + i))
            backend()._cache.size = 1
            timed(ours, 200 + i)  # loads into the cache
            results["arthur-gen warm"].append(timed(ours, 300 + i))
    backend().release()
    base = statistics.median(results["direct"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:16s} {median:8.2f} s  ({median / base:.3f}x direct)")
    print(f"ratio cold/direct: {statistics.median(results['arthur-gen cold']) / base:.3f}x (goal <= 1.05x)")


if __name__ == "__main__":
    main()
