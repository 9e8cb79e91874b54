"""Crash matrix: a real `arthur-gen video` process stopped at each phase, then recovered.

Against the Replicate emulator (minimax/video-01, $0.50 a video), each trial starts the real CLI
in a child process, stops it at one phase with one signal, then recovers it (by
`arthur-gen resume`, or, on every other SIGKILL trial, by running the same command again) and
checks what a user pays for and gets:

    phases:  before-create   the job row exists, the create is not sent
             during-create   the create reached the provider, its answer had not come back
             mid-poll        the prediction is running
             mid-download    the output is half downloaded
             placed          the file has its name, the job's row does not list it yet
    signals: KILL (SIGKILL), INT (one Ctrl-C), INT2 (two quick Ctrl-Cs), TERM (SIGTERM)

Printed per phase and signal: trials, the most predictions one logical job made, predictions
paid, double payments, the most files for one output, trials whose ledger differs from what the
provider billed, jobs left in flight, leftovers in outputs/.work, and charges after a message
that said "cancelled". The goal is 1 / - / 0 / 1 / 0 / 0 / 0 / 0 in every row.

    .venv/bin/python bench/crash_matrix.py                     # 10 trials per cell
    .venv/bin/python bench/crash_matrix.py --trials 2 --signals KILL
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from arthur_gen_replicate.emulator import Emulator

CLI = str(Path(sys.executable).parent / "arthur-gen")
PRICE = 0.50
PHASES = ("before-create", "during-create", "mid-poll", "mid-download", "placed")
SIGNALS = {
    "KILL": (signal.SIGKILL,),
    "INT": (signal.SIGINT,),
    "INT2": (signal.SIGINT, signal.SIGINT),
    "TERM": (signal.SIGTERM,),
}

# The real CLI; for two phases one call is made to wait (after writing a marker) so the signal
# lands exactly there. Nothing else is changed.
_CHILD = """
import pathlib, sys, time
marker, phase = pathlib.Path(sys.argv[1]), sys.argv[2]

def paused(fn):
    def wrapped(*args, **kwargs):
        marker.write_text(phase)
        time.sleep(30)
        return fn(*args, **kwargs)
    return wrapped

if phase == "before-create":
    from arthur_gen_replicate import _backend
    _backend._ReplicateBackend.submit = paused(_backend._ReplicateBackend.submit)
elif phase == "placed":
    from arthur_gen.jobs import _store
    _store.Store.add_output = paused(_store.Store.add_output)
from arthur_gen.cli._main import main
sys.exit(main(sys.argv[3:]))
"""


def _rows(home: Path) -> list[dict[str, Any]]:
    db = home / "data" / "jobs.db"
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute("SELECT * FROM jobs")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def _until(check: Callable[[], Any], seconds: float = 30.0) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check():
            return True
        time.sleep(0.01)
    return False


def _trial(phase: str, name: str, recover_by_rerun: bool, root: Path) -> dict[str, Any]:
    home, out, marker = root / "home", root / "out", root / "marker"
    with Emulator(starting_s=0.1, processing_s=1.5, output_size_bytes=300_000) as emu:
        env = dict(
            os.environ,
            ARTHUR_GEN_HOME=str(home),
            ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate",
            REPLICATE_BASE_URL=emu.url,
            REPLICATE_API_TOKEN="r8_CrashMatrixToken0123456789abcdefgh",
        )
        command = ["video", "a crash matrix trial", "-b", "replicate", "--out", str(out), "--timeout", "120"]
        if phase == "during-create":
            emu.faults.delay("create", 3.0)
        if phase == "mid-download":
            emu.faults.slow_download(150_000)  # 2 s
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(marker), phase, *command],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        reached = {
            "before-create": marker.exists,
            "placed": marker.exists,
            "during-create": lambda: emu.create_count >= 1,
            "mid-poll": lambda: (
                any(p.status == "processing" for p in emu.predictions.values())
                and any(r["state"] in ("submitted", "running") for r in _rows(home))
            ),
            "mid-download": lambda: (
                emu.request_counts.get("download", 0) >= 1 and any(out.glob(".work/*.part"))
            ),
        }[phase]
        hit = _until(reached)
        for number, sig in enumerate(SIGNALS[name]):
            if number:
                time.sleep(0.1)
            try:
                os.killpg(child.pid, sig)
            except ProcessLookupError:
                break
        try:
            _, err = child.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            _, err = child.communicate()
        emu.faults.clear()
        emu.faults.slow_download(None)
        said_cancelled = "cancelled" in err.lower() and "already paid" not in err.lower()
        if recover_by_rerun:
            recover = subprocess.run([CLI, *command], env=env, capture_output=True, text=True, timeout=120)
        else:
            recover = subprocess.run([CLI, "resume"], env=env, capture_output=True, text=True, timeout=120)
        _until(
            lambda: all(
                p.status in ("succeeded", "failed", "canceled", "aborted") for p in emu.predictions.values()
            ),
            10,
        )
        predictions = list(emu.predictions.values())
        rows = _rows(home)
    paid = sum(p.status == "succeeded" for p in predictions)
    ledger = sum(r["cost_usd"] or 0.0 for r in rows)
    files: dict[tuple[str, int], int] = {}
    for sidecar in out.rglob("*.mp4.json"):
        data = json.loads(sidecar.read_text())
        key = (data["job_id"], data["output_index"])
        files[key] = files.get(key, 0) + 1
    return {
        "hit": int(hit),
        "predictions": len(predictions) / max(1, len(rows)),  # per logical job (one row each)
        "paid": paid,
        "double": int(paid > 1),
        "files": max(files.values(), default=0),
        "ledger_off": int(abs(ledger - paid * PRICE) > 1e-9),
        "in_flight": sum(
            r["state"] in ("planned", "submitted", "running", "completed", "uncertain") for r in rows
        ),
        "work_left": len(list(out.glob(".work/**/*"))) if (out / ".work").exists() else 0,
        "charged_after_cancel": int(said_cancelled and paid > 0),
        "traceback": int("Traceback" in err or "Traceback" in recover.stderr),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per phase and signal (10)")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--signals", default=",".join(SIGNALS))
    args = parser.parse_args(argv)
    phases = args.phases.split(",")
    names = args.signals.split(",")
    print(
        f"{'phase':14} {'signal':6} {'trials':>6} {'preds/job':>9} {'paid':>5} {'double':>6} "
        f"{'files/out':>9} {'ledger!=':>8} {'inflight':>8} {'.work':>5} {'cancel$':>7} {'tb':>3} {'hit':>4}"
    )
    bad = 0
    for phase in phases:
        for name in names:
            results = []
            for trial in range(args.trials):
                with tempfile.TemporaryDirectory(prefix="arthur-gen-crash-") as scratch:
                    rerun = name == "KILL" and trial % 2 == 1
                    results.append(_trial(phase, name, rerun, Path(scratch)))
            total = {k: sum(r[k] for r in results) for k in results[0]}
            worst = {k: max(r[k] for r in results) for k in ("predictions", "files")}
            row_bad = (
                worst["predictions"] > 1
                or total["double"]
                or total["ledger_off"]
                or total["in_flight"]
                or total["work_left"]
                or total["charged_after_cancel"]
                or total["traceback"]
            )
            bad += bool(row_bad)
            print(
                f"{phase:14} {name:6} {len(results):6d} {worst['predictions']:9.2f} {total['paid']:5d} "
                f"{total['double']:6d} {worst['files']:9d} {total['ledger_off']:8d} {total['in_flight']:8d} "
                f"{total['work_left']:5d} {total['charged_after_cancel']:7d} {total['traceback']:3d} "
                f"{total['hit']:4d}",
                flush=True,
            )
    print("all rows meet the goal" if not bad else f"{bad} row(s) miss the goal")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
