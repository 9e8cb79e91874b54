"""What routing costs: planning with ``backend="auto"`` against naming the backend.

    python bench/routing.py            # 200 plans of each; prints medians and ratios
    python bench/routing.py --runs 500

With every installed plugin loaded (entry points, as a user runs it), a throwaway
``ARTHUR_GEN_HOME``, an empty Hugging Face cache and weights folder (so the local backends
are considered and skipped, the most work routing does) and a dummy ``REPLICATE_API_TOKEN``
(so Replicate runs), it times in one process:

- ``plan(kind, prompt, backend="replicate")``: the obvious alternative, no routing;
- ``plan(kind, prompt)``: ``auto``, every backend of the kind considered (model, request
  checks, estimate, availability, weights, key);
- ``list_backends()`` (what ``arthur-gen backends`` shows, with the default marked) against a
  plain loop over each backend's ``availability()`` and ``models()``.

Sends nothing. Goal: routing adds at most a few milliseconds per request, small next to a
remote job's seconds. Never run by the test suite.
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


def _median_ms(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm: plugins loaded, modules imported, positive availability answers kept
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arthur-gen-bench-routing-") as tmp:
        os.environ.update(
            ARTHUR_GEN_HOME=tmp,
            HF_HUB_CACHE=os.path.join(tmp, "hf"),
            ARTHUR_GEN_MLX_VIDEO_MODELS=os.path.join(tmp, "mlx-video"),
            REPLICATE_API_TOKEN="r8_bench_not_sent",
        )
        os.environ.pop("ARTHUR_GEN_LOAD_PLUGINS", None)
        import arthur_gen
        from arthur_gen._models import Kind
        from arthur_gen._registry import backends

        print(f"median of {args.runs} calls each, in one process ({sys.version.split()[0]}, {sys.platform})")
        for kind, prompt in (("image", "a lighthouse at dusk"), ("video", "waves roll in")):
            named_plan = functools.partial(arthur_gen.plan, kind, prompt, backend="replicate")
            named = _median_ms(named_plan, args.runs)
            auto = _median_ms(functools.partial(arthur_gen.plan, kind, prompt), args.runs)
            considered = [o.backend for o in arthur_gen.plan(kind, prompt).route.options]  # type: ignore[union-attr]
            print(f"{kind}: plan(backend='replicate') {named:7.3f} ms")
            print(
                f"{kind}: plan() auto                {auto:7.3f} ms  {auto / named:5.2f}x  "
                f"(+{auto - named:.3f} ms; considered {', '.join(considered)})"
            )

        def plain() -> None:
            for kind in (Kind.IMAGE, Kind.VIDEO):
                for backend in backends(kind).values():
                    backend.availability()
                    backend.models()

        listing = _median_ms(arthur_gen.list_backends, args.runs)
        base = _median_ms(plain, args.runs)
        print(f"availability() + models() of every backend {base:7.3f} ms")
        print(
            f"list_backends() (status, default route)    {listing:7.3f} ms  {listing / base:5.2f}x  "
            f"(+{listing - base:.3f} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
