"""Benchmark the ledger: reports over 100,000 jobs, and the cost of recording one job.

    python bench/ledger.py                      # 100,000 jobs over 90 days; prints the numbers
    python bench/ledger.py --jobs 20000 --runs 3
    python bench/ledger.py --sample-dashboard docs/img/dashboard.png   # the picture in the docs

Targets: ``arthur-gen costs --json`` (a fresh process, as a user runs it) under 0.5 s, and
recording one job (inserting the planned row, then updating it to saved with its cost) under
2 ms. Prints the medians; exits 1 when a target is missed. Never run by the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from arthur_gen.jobs._store import Store

COSTS_TARGET_S = 0.5
RECORD_TARGET_S = 0.002

# (backend, model, kind, price of one generation or None when unknown, share of jobs)
CATALOG: list[tuple[str, str, str, float | None, float]] = [
    ("mflux", "flux-schnell", "image", 0.0, 0.40),
    ("mflux", "flux-dev", "image", 0.0, 0.12),
    ("replicate", "black-forest-labs/flux-schnell", "image", 0.003, 0.16),
    ("replicate", "black-forest-labs/flux-1.1-pro", "image", 0.04, 0.10),
    ("replicate", "minimax/video-01", "video", 0.50, 0.12),
    ("replicate", "kwaivgi/kling-v2.1", "video", 1.40, 0.05),
    ("replicate", "wavespeedai/wan-2.1-t2v-480p", "video", 0.45, 0.04),
    ("replicate", "lightricks/ltx-video", "video", None, 0.01),
]

PROMPTS = [
    "a lighthouse at dusk, volumetric fog",
    "waves rolling onto a pebble beach",
    "a red fox in fresh snow, telephoto",
    "neon street market in the rain",
    "isometric cozy workshop, soft light",
    "timelapse of clouds over mountains",
    "a paper boat drifting down a gutter",
    "portrait of an old sailor, 35mm film",
]

_INSERT = """
INSERT INTO jobs (id, created_at, updated_at, kind, backend, model, prompt, request, request_hash,
    cache_key, state, remote_id, seed, estimate_usd, cost_usd, cost_source, saved_usd, cached_from,
    outputs, timings, submit_count, submitted_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""


def _job_rows(count: int, days: int, seed: int = 1) -> list[tuple[Any, ...]]:
    """``count`` jobs over the last ``days`` days: busier lately and on weekends."""
    rng = random.Random(seed)
    now = time.time()
    start = now - days * 86400
    weights = [share for *_, share in CATALOG]
    rows: list[tuple[Any, ...]] = []
    for _ in range(count):
        # more activity toward the end of the period, and in the evening
        while True:
            t = start + (now - start) * (rng.random() ** 0.7)
            lt = time.localtime(t)
            busy = (1.6 if lt.tm_wday >= 5 else 1.0) * (1.5 if 18 <= lt.tm_hour <= 23 else 0.6)
            if rng.random() < busy / 2.4:
                break
        backend, model, kind, price, _ = rng.choices(CATALOG, weights)[0]
        seeded = rng.random() < 0.55
        seed_value = rng.randrange(2**32)
        prompt = rng.choice(PROMPTS)
        request = {"kind": kind, "prompt": prompt, "seed": seed_value, "options": {}}
        if kind == "video":
            request["duration"] = 5.0
        rhash = uuid.uuid4().hex + uuid.uuid4().hex
        roll = rng.random()
        state, cost, saved, cached_from, submits = "saved", price, 0.0, None, 1
        source: str | None = "metrics"
        if price == 0.0:
            source, submits = "free", 0
        elif price is None:
            source = None
        elif seeded and roll < 0.10:
            state, cost, source, saved, cached_from, submits = "saved", 0.0, "cache", price, "0", 0
        elif roll < 0.14:
            state, cost, source = "failed", 0.0, "metrics"
        elif roll < 0.16:
            source = "estimate"
        if kind == "video" and price and source == "metrics" and state == "saved":
            cost = round(price * rng.uniform(0.9, 1.1), 4)  # billed by compute time
        ext = "mp4" if kind == "video" else "png"
        outputs = json.dumps([{"index": 0, "path": f"/out/{rhash[:12]}.{ext}", "sha256": rhash}])
        finished = t + (rng.uniform(40, 240) if kind == "video" else rng.uniform(2, 30))
        rows.append(
            (
                f"{int(t * 1000):012x}{uuid.uuid4().hex[:10]}",
                t,
                finished,
                kind,
                backend,
                model,
                prompt,
                json.dumps(request, sort_keys=True),
                rhash,
                rhash if seeded else None,
                state,
                None if backend == "mflux" else uuid.uuid4().hex[:20],
                seed_value,
                price,
                cost,
                source,
                saved,
                cached_from,
                outputs if state == "saved" else "[]",
                json.dumps({"total_s": round(finished - t, 2)}),
                submits,
                t + 0.5 if submits else None,
                finished,
            )
        )
    return rows


def fill_store(home: Path, jobs: int, days: int, today: int = 0) -> tuple[float, float]:
    """Create ``home``'s store and bulk-insert ``jobs`` jobs (one transaction, executemany).

    ``today`` more jobs are made in the hours of today so far. Returns the seconds taken to
    make the rows and to insert them.
    """
    store = Store(home / "data" / "jobs.db")
    started = time.perf_counter()
    rows = _job_rows(jobs, days)
    if today:
        midnight = time.mktime(datetime.date.today().timetuple())
        rows += [r for r in _job_rows(today * 20, 1, seed=2) if r[1] >= midnight][:today]
    made = time.perf_counter()
    with store.transaction() as db:
        db.executemany(_INSERT, rows)
    store.close()
    return made - started, time.perf_counter() - made


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("arthur-gen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "arthur_gen"]


def time_costs(home: Path, runs: int) -> list[float]:
    env = dict(os.environ, ARTHUR_GEN_HOME=str(home), ARTHUR_GEN_LOAD_PLUGINS="")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as users run it: with cached bytecode
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        out = subprocess.run([*_cli(), "costs", "--json"], env=env, capture_output=True, check=True)
        elapsed = time.perf_counter() - started
        if i == 0:
            report = json.loads(out.stdout)
            print(
                f"  (report: {report['totals']['jobs']:,} jobs, ${report['totals']['cost_usd']:,.2f}, "
                f"{len(report['by_day'])} days, {len(report['by_model'])} models)"
            )
            continue  # the first run warms the OS file cache
        times.append(elapsed)
    return times


def time_record(home: Path, runs: int) -> list[float]:
    """Insert a planned row (one transaction) and update it to saved with its cost."""
    store = Store(home / "data" / "jobs.db")
    request = json.dumps({"kind": "video", "prompt": "bench", "seed": 1, "options": {}})
    times = []
    for i in range(runs):
        now = time.time()
        job_id = f"{int(now * 1000):012x}{uuid.uuid4().hex[:10]}"
        started = time.perf_counter()
        with store.transaction() as db:
            store.insert(
                db,
                {
                    "id": job_id,
                    "created_at": now,
                    "updated_at": now,
                    "kind": "video",
                    "backend": "replicate",
                    "model": "minimax/video-01",
                    "prompt": "bench",
                    "request": request,
                    "request_hash": uuid.uuid4().hex,
                    "cache_key": None,
                    "state": "planned",
                    "seed": i,
                    "estimate_usd": 0.5,
                    "parents": [],
                    "out_dir": "/tmp/out",
                    "timeout_s": 1800.0,
                    "lease_owner": "bench",
                    "lease_until": now + 30,
                },
            )
        store.update(job_id, state="saved", cost_usd=0.5, cost_source="metrics", finished_at=time.time())
        times.append(time.perf_counter() - started)
    store.close()
    return times


def sample_dashboard(png: Path, jobs: int = 1800, days: int = 90, height: int = 1000) -> None:
    """Realistic sample data for one busy user, rendered and screenshot with headless Chromium."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("needs chromium (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp, "home")
        fill_store(home, jobs, days, today=12)
        (home / "config.toml").write_text("[budget]\nper_day = 15.0\nper_month = 150.0\n")
        html = Path(tmp, "dashboard.html")
        env = dict(os.environ, ARTHUR_GEN_HOME=str(home), ARTHUR_GEN_LOAD_PLUGINS="")
        subprocess.run([*_cli(), "costs", "--html", str(html)], env=env, check=True)
        png.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={Path(tmp, 'profile')}",
                f"--screenshot={png.absolute()}",
                f"--window-size=1280,{height}",
                html.absolute().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {png}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--runs", type=int, default=5, help="timed runs of `arthur-gen costs --json`")
    parser.add_argument("--record-runs", type=int, default=500)
    parser.add_argument("--sample-dashboard", metavar="PNG", help="write the docs' dashboard picture")
    parser.add_argument("--height", type=int, default=1000, help="window height of the picture")
    args = parser.parse_args()
    if args.sample_dashboard:
        sample_dashboard(Path(args.sample_dashboard), height=args.height)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        made, inserted = fill_store(home, args.jobs, args.days)
        size = (home / "data" / "jobs.db").stat().st_size
        print(
            f"inserted {args.jobs:,} jobs over {args.days} days in {inserted:.2f} s "
            f"(rows made in {made:.2f} s; store {size / 2**20:.0f} MiB)"
        )
        costs = time_costs(home, args.runs)
        record = time_record(home, args.record_runs)
    costs_s = statistics.median(costs)
    record_s = statistics.median(record)
    ok_costs = costs_s < COSTS_TARGET_S
    ok_record = record_s < RECORD_TARGET_S
    print(
        f"arthur-gen costs --json: median {costs_s * 1000:.0f} ms over {len(costs)} runs "
        f"(min {min(costs) * 1000:.0f}, max {max(costs) * 1000:.0f}); "
        f"target < {COSTS_TARGET_S * 1000:.0f} ms: {'ok' if ok_costs else 'MISSED'}"
    )
    print(
        f"record one job (insert planned + update saved): median {record_s * 1000:.3f} ms over "
        f"{len(record)} (p95 {sorted(record)[int(len(record) * 0.95)] * 1000:.3f} ms); "
        f"target < {RECORD_TARGET_S * 1000:.0f} ms: {'ok' if ok_record else 'MISSED'}"
    )
    return 0 if ok_costs and ok_record else 1


if __name__ == "__main__":
    sys.exit(main())
