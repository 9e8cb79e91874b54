"""How much time does arthur-gen add around an mflux model?

A test double stands in for the model: it takes a fixed time to load (default 0.5 s) and to
run each denoising step (default 4 steps x 20 ms), and writes a small PNG. The benchmark times

- direct:   the double loaded once, then ``generate_image`` + ``save`` called N times;
- backend:  N calls of ``MfluxBackend.generate`` (validation, warm cache, progress, output);
- api:      N calls of ``arthur_gen.generate_image(..., backend="mflux")`` (plus the job
            store, sidecars, PNG metadata, moving files into place);

and prints each against direct. The target is within 1.05x for the API. Everything runs in a
temporary home with fake (empty) weight files, offline; nothing real is loaded.

``--tiny`` times mflux's real FLUX.2 klein pipeline instead, on the tiny random checkpoint the
tests use (``arthur_gen_mflux.tiny``, built in a temporary folder): direct is
``Flux2Klein(model_path=...)`` loaded once, then ``generate_image`` + ``save`` N times at
256x256; the other two go through the plugin with ``model_path``. MLX's compile is off on
both sides (on the CPU backend it compiles kernels with the C++ compiler on first use).

    python bench/mflux_overhead.py [--calls 10] [--load-s 0.5] [--steps 4] [--step-s 0.02]
    python bench/mflux_overhead.py --tiny [--calls 10] [--steps 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _setup_env(root: Path) -> None:
    os.environ["ARTHUR_GEN_HOME"] = str(root / "home")
    os.environ["HF_HUB_CACHE"] = str(root / "hf-cache")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["ARTHUR_GEN_LOAD_PLUGINS"] = ""


def _timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--load-s", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--step-s", type=float, default=0.02)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=None, help="median of this many runs (5; --tiny 1)")
    parser.add_argument("--tiny", action="store_true", help="the real klein pipeline, tiny weights")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="mflux-bench-"))
    _setup_env(root)
    if args.tiny:
        return _tiny(args, root)
    args.repeat = args.repeat or 5

    from arthur_gen_mflux import MfluxBackend
    from arthur_gen_mflux._backend import plan_request
    from arthur_gen_mflux._catalog import entry_for, model_info
    from arthur_gen_mflux.testing import FakeLoader, fake_weights

    from arthur_gen._backends import LocalContext
    from arthur_gen._requests import ImageRequest

    fake_weights(["schnell"])
    entry = entry_for("schnell")
    assert entry is not None
    info = model_info(entry)
    fields = {"steps": args.steps, "width": args.size, "height": args.size}

    def direct(run: int) -> None:
        loader = FakeLoader(load_s=args.load_s, step_s=args.step_s)
        first = plan_request(entry, ImageRequest(prompt="a red fox", seed=0, **fields))
        model = loader(entry, first.key)
        out = root / f"direct-{run}"
        out.mkdir()
        for seed in range(args.calls):
            kwargs = dict(first.generate_kwargs, seed=seed)
            model.generate_image(**kwargs).save(path=out / f"{seed}.png", overwrite=True)

    def backend_calls(run: int) -> None:
        backend = MfluxBackend(loader=FakeLoader(load_s=args.load_s, step_s=args.step_s))
        for seed in range(args.calls):
            request = ImageRequest(prompt="a red fox", seed=seed, **fields)
            backend.validate(request, info)
            ctx = LocalContext(job_id=f"b{run}-{seed}", workdir=root / f"backend-{run}" / str(seed))
            backend.generate(request, info, ctx)

    api_available = True
    try:
        import arthur_gen
        from arthur_gen.testing import FakePlugin, registered

        arthur_gen.generate_image  # noqa: B018 - is the public API there yet?
    except (ImportError, AttributeError):
        api_available = False

    def api_calls(run: int) -> None:
        backend = MfluxBackend(loader=FakeLoader(load_s=args.load_s, step_s=args.step_s))
        steps: list[int] = []
        with registered(FakePlugin(backend)):
            for seed in range(args.calls):
                arthur_gen.generate_image(
                    "a red fox",
                    backend="mflux",
                    model="schnell",
                    seed=seed,
                    out_dir=root / f"api-{run}",
                    cache=False,  # time the generation, not arthur-gen's result cache
                    on_progress=lambda e: steps.append(e.step or 0),
                    **fields,
                )

    timings: dict[str, list[float]] = {"direct": [], "backend": [], "api": []}
    for run in range(args.repeat):
        timings["direct"].append(_timed(functools.partial(direct, run)))
        timings["backend"].append(_timed(functools.partial(backend_calls, run)))
        if api_available:
            timings["api"].append(_timed(functools.partial(api_calls, run)))

    base = statistics.median(timings["direct"])
    ideal = args.load_s + args.calls * args.steps * args.step_s
    print(
        f"{args.calls} calls, load {args.load_s:g} s, {args.steps} steps x {args.step_s * 1000:g} ms,"
        f" {args.size}x{args.size}; median of {args.repeat} runs (ideal {ideal:.3f} s)"
    )
    print(f"  direct (double, loaded once)      {base:7.3f} s   1.000x")
    for name, label in (("backend", "MfluxBackend.generate"), ("api", "arthur_gen.generate_image")):
        if not timings[name]:
            print(f"  {label:<33} (not available yet)")
            continue
        value = statistics.median(timings[name])
        extra = (value - base) / args.calls * 1000
        print(f"  {label:<33} {value:7.3f} s   {value / base:.3f}x   (+{extra:.1f} ms per call)")
    final = statistics.median(timings["api"] or timings["backend"])
    ratio = final / base
    verdict = "within" if ratio <= 1.05 else "OVER"
    print(f"ratio {ratio:.3f}x ({verdict} the 1.05x target)")
    return 0


def _tiny(args: argparse.Namespace, root: Path) -> int:
    """The real FLUX.2 klein pipeline on the tiny checkpoint: direct mflux vs the plugin."""
    import mlx.core as mx
    from arthur_gen_mflux import MfluxBackend
    from arthur_gen_mflux._catalog import entry_for, model_info
    from arthur_gen_mflux.tiny import build_tiny_klein, tiny_klein

    import arthur_gen
    from arthur_gen._backends import LocalContext
    from arthur_gen._requests import ImageRequest
    from arthur_gen.testing import FakePlugin, registered

    mx.disable_compile()
    repeat = args.repeat or 1
    steps = args.steps if args.steps != 4 else 2
    entry = entry_for("flux2-klein-4b")
    assert entry is not None
    info = model_info(entry)
    with tiny_klein():
        folder = str(build_tiny_klein(root / "tiny").mflux)
        fields = {"steps": steps, "width": 256, "height": 256, "options": {"model_path": folder}}

        def direct(run: int) -> None:
            from mflux.models.common.config.model_config import ModelConfig
            from mflux.models.flux2.variants.txt2img.flux2_klein import Flux2Klein

            model = Flux2Klein(model_path=folder, model_config=ModelConfig.flux2_klein_4b())
            out = root / f"direct-{run}"
            out.mkdir()
            for seed in range(args.calls):
                image = model.generate_image(
                    seed=seed, prompt="a red fox", num_inference_steps=steps, width=256, height=256
                )
                image.save(path=str(out / f"{seed}.png"), overwrite=True)

        def backend_calls(run: int) -> None:
            backend = MfluxBackend()
            for seed in range(args.calls):
                request = ImageRequest(prompt="a red fox", seed=seed, **fields)
                backend.validate(request, info)
                ctx = LocalContext(job_id=f"b{run}-{seed}", workdir=root / f"backend-{run}" / str(seed))
                backend.generate(request, info, ctx)
            backend.release()

        def api_calls(run: int) -> None:
            backend = MfluxBackend()
            with registered(FakePlugin(backend)):
                for seed in range(args.calls):
                    arthur_gen.generate_image(
                        "a red fox",
                        backend="mflux",
                        model="flux2-klein-4b",
                        seed=seed,
                        out_dir=root / f"api-{run}",
                        cache=False,
                        on_progress=lambda e: None,
                        **fields,
                    )
            backend.release()

        direct(-1)  # warm-up: imports, first-call allocations
        timings: dict[str, list[float]] = {"direct": [], "backend": [], "api": []}
        cpu: dict[str, list[float]] = {"direct": [], "backend": [], "api": []}
        for run in range(repeat):
            for name, fn in (("direct", direct), ("backend", backend_calls), ("api", api_calls)):
                cpu_started = time.process_time()
                timings[name].append(_timed(functools.partial(fn, run)))
                cpu[name].append(time.process_time() - cpu_started)

    base = statistics.median(timings["direct"])
    print(
        f"real FLUX.2 klein pipeline, tiny random weights: {args.calls} calls, {steps} steps, "
        f"256x256, one load each; median of {repeat} run(s)"
    )
    print(
        f"  direct (Flux2Klein loaded once)   {base:7.3f} s   1.000x   ({base / args.calls:.3f} s per call)"
    )
    for name, label in (("backend", "MfluxBackend.generate"), ("api", "arthur_gen.generate_image")):
        value = statistics.median(timings[name])
        extra = (value - base) / args.calls * 1000
        print(f"  {label:<33} {value:7.3f} s   {value / base:.3f}x   (+{extra:.1f} ms per call)")
    # CPU seconds of this process: on a shared machine wall time swings with the neighbours' load
    cpu_base = statistics.median(cpu["direct"])
    print(f"  CPU time: direct {cpu_base:.2f} s", end="")
    for name in ("backend", "api"):
        value = statistics.median(cpu[name])
        print(f", {name} {value:.2f} s ({value / cpu_base:.3f}x)", end="")
    print()
    ratio = statistics.median(timings["api"]) / base
    cpu_ratio = statistics.median(cpu["api"]) / cpu_base
    verdict = "within" if cpu_ratio <= 1.05 else "OVER"
    print(f"ratio {cpu_ratio:.3f}x CPU ({verdict} the 1.05x target); {ratio:.3f}x wall (shared machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
