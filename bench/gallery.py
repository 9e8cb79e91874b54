"""Benchmark the gallery: building the page for 1,000 jobs, against the obvious way to do it.

    python bench/gallery.py                 # 1,000 jobs; prints the numbers
    python bench/gallery.py --jobs 5000 --runs 3

Each job has a real output file and its sidecar on disk (tiny files), a third of them made
from an earlier job (lineage). Measured:

- ``write_gallery`` in this process (one store query, children found in one pass, a stat per
  file): the median of ``--runs``;
- the obvious alternative: ``history()`` for the rows, each output's sidecar JSON read for
  its facts, and each job's children found by scanning every job (what a first version does);
- ``arthur-gen gallery --html`` in a fresh process, as a user runs it;
- one load of the served page (``/``, rebuilt from the store on every load).

Targets, per 1,000 jobs: the page built in under 0.5 s, and the command under 1.5 s. Exits 1
when a target is missed. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BUILD_TARGET_S = 0.5
COMMAND_TARGET_S = 1.5

MODELS = [
    ("mflux", "flux-schnell", "image"),
    ("replicate", "black-forest-labs/flux-schnell", "image"),
    ("replicate", "minimax/video-01", "video"),
    ("replicate", "kwaivgi/kling-v2.5-turbo-pro", "video"),
    ("edit", "pyav", "edit"),
]
PROMPTS = [
    "a lighthouse at dusk, volumetric fog",
    "waves rolling onto a pebble beach",
    "a red fox in fresh snow, telephoto",
    "neon street market in the rain",
    "a paper boat drifting down a gutter",
]


def fill(home: Path, jobs: int) -> None:
    """``jobs`` saved jobs over 60 days, each with a file and a sidecar; a third have a parent."""
    from arthur_gen.jobs._store import Store, new_job_id

    rng = random.Random(1)
    out = home / "data" / "outputs" / "2026-12-01"
    out.mkdir(parents=True, exist_ok=True)
    store = Store(home / "data" / "jobs.db")
    now = time.time()
    ids: list[str] = []
    with store.transaction() as db:
        for i in range(jobs):
            backend, model, kind = rng.choice(MODELS)
            job_id = new_job_id()[:12] + f"{i:010x}"
            ext = ".png" if kind == "image" else ".mp4"
            path = out / f"{i:05d}_{kind}{ext}"
            path.write_bytes(b"x" * 64)
            prompt = rng.choice(PROMPTS)
            seed = rng.randrange(2**31)
            request = {"kind": kind, "prompt": prompt, "seed": seed, "options": {"prompt_optimizer": False}}
            parents = [rng.choice(ids)] if ids and rng.random() < 0.33 else []
            meta = {"job_id": job_id, "kind": kind, "backend": backend, "model": model, "request": request,
                    "seed": seed, "cost_usd": 0.5, "parents": parents}  # fmt: skip
            Path(str(path) + ".json").write_text(json.dumps(meta))
            created = now - (jobs - i) * 60
            store.insert(
                db,
                {
                    "id": job_id,
                    "created_at": created,
                    "updated_at": created,
                    "kind": kind,
                    "backend": backend,
                    "model": model,
                    "prompt": prompt,
                    "request": request,
                    "request_hash": job_id,
                    "state": "saved",
                    "seed": seed,
                    "estimate_usd": 0.5,
                    "cost_usd": 0.5 if backend == "replicate" else 0.0,
                    "cost_source": "metrics" if backend == "replicate" else "free",
                    "parents": parents,
                    "outputs": [
                        {
                            "path": str(path),
                            "media_type": "image/png" if ext == ".png" else "video/mp4",
                            "index": 0,
                            "sha256": job_id,
                            "size": 64,
                        }
                    ],
                    "out_dir": str(home / "data" / "outputs"),
                },
            )
            ids.append(job_id)
    store.close()


def obvious(page: Path) -> int:
    """The first version: history rows, a sidecar read per output, children by scanning all jobs."""
    import html

    import arthur_gen

    rows = arthur_gen.history(limit=None)
    cards = []
    for row in rows:
        facts: dict[str, Any] = {}
        for output in row.outputs:
            facts = json.loads(Path(output["path"] + ".json").read_text())
        children = [other.id for other in rows if row.id in other.parents]
        rel = os.path.relpath(row.outputs[0]["path"], page.parent) if row.outputs else ""
        cards.append(
            f"<article id='job-{row.id}'><img src='{html.escape(rel)}'><p>{html.escape(row.prompt)}</p>"
            f"<p>{html.escape(str(facts.get('model')))} {facts.get('seed')} {facts.get('cost_usd')}</p>"
            + "".join(f"<a href='#job-{c}'>{c}</a>" for c in children)
            + "</article>"
        )
    page.write_text("<!DOCTYPE html><html><body>" + "".join(cards) + "</body></html>")
    return len(cards)


def _median(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["ARTHUR_GEN_HOME"] = str(home)
        os.environ["ARTHUR_GEN_LOAD_PLUGINS"] = ""
        t0 = time.perf_counter()
        fill(home, args.jobs)
        print(f"made {args.jobs:,} jobs with files and sidecars in {time.perf_counter() - t0:.1f} s")

        import arthur_gen
        from arthur_gen.gallery import GalleryServer

        page = home / "site" / "gallery.html"
        arthur_gen.write_gallery(page)  # warm: imports, the store's first connection
        ours = _median(lambda: arthur_gen.write_gallery(page), args.runs)
        size = page.stat().st_size
        naive = _median(lambda: obvious(home / "site" / "naive.html"), max(1, min(args.runs, 3)))
        env = {**os.environ}
        command = [str(Path(sys.executable).parent / "arthur-gen"), "gallery", "--html", str(page)]
        fresh = _median(lambda: subprocess.run(command, env=env, check=True, capture_output=True), 3)
        with GalleryServer(port=0) as server:

            def load_page() -> None:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()

            served = _median(load_page, args.runs)
    print(f"write_gallery, {args.jobs:,} jobs:      {ours * 1000:8.1f} ms   (page {size / 1e6:.2f} MB)")
    print(f"the obvious way:                {naive * 1000:8.1f} ms   ({naive / ours:.1f}x slower)")
    print(f"arthur-gen gallery --html:      {fresh * 1000:8.1f} ms   (a fresh process)")
    print(f"served page load (rebuilt):     {served * 1000:8.1f} ms")
    scale = args.jobs / 1000
    build_target, command_target = BUILD_TARGET_S * scale, COMMAND_TARGET_S * scale
    ok = ours < build_target and fresh < command_target
    print(f"targets: build < {build_target:g} s, command < {command_target:g} s: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
