"""arthur-gen's mlx_video backend vs calling mlx_video directly, on the same tiny real pipelines.

Builds, in a temp folder, a tiny random Wan 2.1 (dim 64, 1 layer, 8-channel VAE decoder) with a
stand-in umt5 tokenizer, and a tiny random LTX-2 (unified folder + Gemma 3 folder, built from
the package's classes: ``arthur_gen_mlx_video.testing_ltx``), then times, in one process:

- direct: the package function as a user would call it
  (``generate_wan.generate_video`` / ``generate_av.generate_video_with_audio``), which loads
  every model in every call and writes its own file;
- arthur-gen, cold: ``arthur_gen.generate_video(backend="mlx_video")`` with the warm cache off,
  so it loads everything per call too (job store, worker thread, bridge, frame check, MP4 with
  metadata -- and for LTX-2 the AAC sound track -- written by PyAV);
- arthur-gen, warm: the same with the default cache, after one call that loaded the models.

On Linux the package's own LTX-2 writer produces no video (OpenCV has no H.264 encoder there
and there is no ``ffmpeg`` CLI), so its "direct" time is the compute alone, while arthur-gen's
includes encoding the MP4 and the sound; the temporary file it renames is pre-created so the
direct call finishes. Prints wall and CPU seconds (CPU: every thread of this process), the time
spent inside the package function on each path, arthur-gen's own time per cold call (its wall
time outside the package function; the package's compute swings by 10-15% from call to call
on a CPU, far more than arthur-gen adds) and the ratios (goal: cold/direct <= 1.05x). On Linux
source ``scripts/mlx-cpu-env.sh`` first (OpenBLAS; see docs/mlx-video.md). Usage:
    .venv/bin/python bench/mlx_video_overhead.py [--runs N] [--steps N] [--only wan|ltx2]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CPU: dict[str, list[float]] = {}  # CPU seconds (all threads of this process) per result name
INSIDE: dict[str, list[float]] = {}  # wall seconds spent inside the package function per result name
_inside: list[float] = []  # the current call's time inside the package function


def _timed(fn: Callable[[int], object], i: int, name: str = "") -> float:
    _inside.clear()
    started, cpu = time.perf_counter(), time.process_time()
    fn(i)
    if name:
        CPU.setdefault(name, []).append(time.process_time() - cpu)
        INSIDE.setdefault(name, []).append(sum(_inside))
    return time.perf_counter() - started


@contextlib.contextmanager
def _clocked(module: Any, name: str) -> Iterator[None]:
    """Time every call of ``module.name`` (the package function, whichever thread calls it)."""
    original = getattr(module, name)

    def clocked(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _inside.append(time.perf_counter() - started)

    setattr(module, name, clocked)
    try:
        yield
    finally:
        setattr(module, name, original)


def _pairs(
    runs: int, direct: Callable[[int], object], ours: Callable[[int], object], backend: Any
) -> dict[str, list[float]]:
    """Direct and cold calls in alternating order (the load on a shared machine drifts)."""
    results: dict[str, list[float]] = {"direct": [], "arthur-gen cold": [], "arthur-gen warm": []}
    for i in range(runs):
        backend._cache.size = 0  # cold: everything loaded per call, as the package does
        if i % 2:
            results["arthur-gen cold"].append(_timed(ours, 100 + i, "arthur-gen cold"))
            results["direct"].append(_timed(direct, i, "direct"))
        else:
            results["direct"].append(_timed(direct, i, "direct"))
            results["arthur-gen cold"].append(_timed(ours, 100 + i, "arthur-gen cold"))
        backend._cache.size = 1
        _timed(ours, 200 + i)  # loads into the cache
        results["arthur-gen warm"].append(_timed(ours, 300 + i, "arthur-gen warm"))
    backend.release()
    return results


def _report(title: str, results: dict[str, list[float]]) -> None:
    """Ratios of medians, and arthur-gen's own time: its wall time outside the package function.

    The package's compute on a CPU swings by 10-15% from one call to the next here (memory
    returned to the system and faulted in again), far more than arthur-gen adds; its own time
    is measured per call, so it does not drown in that swing.
    """
    base = statistics.median(results["direct"])
    cpu_base = statistics.median(CPU["direct"])
    print(f"\n{title}")
    for name, values in results.items():
        median, cpu = statistics.median(values), statistics.median(CPU[name])
        inside = statistics.median(INSIDE[name])
        print(
            f"  {name:16s} wall {median:7.2f} s ({median / base:.3f}x)   "
            f"CPU {cpu:7.2f} s ({cpu / cpu_base:.3f}x)   in the package {inside:6.2f} s   runs: {len(values)}"
        )
    cold = statistics.median(results["arthur-gen cold"]) / base
    cold_cpu = statistics.median(CPU["arthur-gen cold"]) / cpu_base
    own = [w - i for w, i in zip(results["arthur-gen cold"], INSIDE["arthur-gen cold"], strict=True)]
    own_s = statistics.median(own)
    inside_ratio = statistics.median(INSIDE["arthur-gen cold"]) / statistics.median(INSIDE["direct"])
    print(f"  ratio cold/direct: wall {cold:.3f}x, CPU {cold_cpu:.3f}x (goal <= 1.05x)")
    print(
        f"  arthur-gen's own time per cold call: {own_s:.3f} s = {own_s / base:.1%} of the direct call "
        f"(job record, checks, MP4 with metadata); the package function itself on the worker thread: "
        f"{inside_ratio:.3f}x its direct time"
    )
    CPU.clear()
    INSIDE.clear()


def bench_wan(tmp: Path, runs: int, steps: int) -> None:
    import mlx_video.generate_wan as gw
    from arthur_gen_mlx_video import backend
    from arthur_gen_mlx_video.testing import build_tiny_wan, build_umt5_standin, tiny_vae

    import arthur_gen

    folder = build_tiny_wan(tmp / "tiny")
    build_umt5_standin(tmp / "hub")
    kw = dict(width=256, height=256, num_frames=5, steps=steps, seed=1, tiling="none")

    def direct(i: int) -> None:
        with contextlib.redirect_stdout(sys.stderr):
            gw.generate_video(str(folder), "a lighthouse", output_path=str(tmp / f"direct{i}.mp4"), **kw)

    def ours(i: int) -> None:
        arthur_gen.generate_video(
            "a lighthouse", backend="mlx_video", width=256, height=256, steps=steps, seed=1 + i,
            options={"model_path": str(folder), "num_frames": 5, "tiling": "none"}, cache=False,
        )  # fmt: skip

    with tiny_vae(), _clocked(gw, "generate_video"):
        results = _pairs(runs, direct, ours, backend())
    _report(f"Wan 2.1 tiny, 256x256, 5 frames, {steps} steps", results)


def bench_ltx2(tmp: Path, runs: int) -> None:
    import mlx_video.generate_av as av
    from arthur_gen_mlx_video import backend
    from arthur_gen_mlx_video.testing_ltx import build_tiny_ltx2, tiny_ltx2

    import arthur_gen

    model, gemma = build_tiny_ltx2(tmp / "ltx")
    size, frames = 256, 17

    def direct(i: int) -> None:
        out = tmp / f"direct-ltx{i}.mp4"
        out.with_suffix(".temp.mp4").touch()  # see the module docstring
        with contextlib.redirect_stdout(sys.stderr):
            av.generate_video_with_audio(
                str(model), str(gemma), "a lighthouse, waves", height=size, width=size,
                num_frames=frames, seed=1, fps=24, output_path=str(out), tiling="none", verbose=False,
            )  # fmt: skip

    def ours(i: int) -> None:
        arthur_gen.generate_video(
            "a lighthouse, waves", backend="mlx_video", model="ltx-2", width=size, height=size,
            seed=1 + i, cache=False,
            options={"model_path": str(model), "text_encoder_path": str(gemma), "num_frames": frames,
                     "tiling": "none"},
        )  # fmt: skip

    with tiny_ltx2(), _clocked(av, "generate_video_with_audio"):
        results = _pairs(runs, direct, ours, backend())
    _report(f"LTX-2 tiny, {size}x{size}, {frames} frames with sound, 8 + 3 steps", results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=2, help="Wan denoising steps")
    parser.add_argument("--only", choices=("wan", "ltx2"))
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-mlx-video-"))
    os.environ.update(
        HF_HUB_CACHE=str(tmp / "hub"),
        HF_HUB_OFFLINE="1",
        ARTHUR_GEN_HOME=str(tmp / "home"),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-mlx-video",
    )
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    if args.only in (None, "wan"):
        bench_wan(tmp, args.runs, args.steps)
    if args.only in (None, "ltx2"):
        bench_ltx2(tmp, args.runs)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
