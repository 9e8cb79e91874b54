"""Issue 8 item 1: a lost create never adopts a prediction that is not its own, and "not sure"
never becomes "not found". Real client, real HTTP, the loopback emulator."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_replicate import _backend
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen.errors import SubmitUncertainError

Rows = Callable[[], list[dict[str, Any]]]


def video(**kwargs: Any) -> arthur_gen.GeneratedVideo:
    kwargs.setdefault("timeout", 20)
    return arthur_gen.generate_video("a seedless request", backend="replicate", **kwargs)


def forget_jobs(home: Path) -> None:
    """Predictions made outside this store (another machine, the web UI): no job owns them."""
    db = sqlite3.connect(home / "data" / "jobs.db")
    try:
        with db:
            db.execute("DELETE FROM jobs")
    finally:
        db.close()


def test_lost_create_never_adopts_another_jobs_prediction(emu: Emulator, rows: Rows) -> None:
    video()
    video()
    assert emu.create_count == 2
    emu.faults.drop("create", after_effect=False)
    with pytest.raises(SubmitUncertainError):
        video()
    arthur_gen.resume()
    assert emu.create_count == 3
    all_rows = rows()
    remote_ids = [r["remote_id"] for r in all_rows]
    assert len(all_rows) == 3 and len(set(remote_ids)) == 3, remote_ids
    assert sum(r["cost_usd"] or 0 for r in all_rows) == pytest.approx(1.50)
    assert {r["state"] for r in all_rows} == {"saved"}


def test_several_candidates_stay_uncertain_and_name_them(emu: Emulator, rows: Rows, home: Path) -> None:
    video()
    video()
    forget_jobs(home)
    emu.faults.drop("create", after_effect=True)
    with pytest.raises(SubmitUncertainError) as caught:
        video()
    message = str(caught.value)
    for pid in emu.predictions:
        assert pid in message
    assert "arthur-gen settle" in message and "--adopt" in message and "--resubmit" in message
    (row,) = rows()
    assert row["state"] == "uncertain" and row["remote_id"] is None
    outcomes = arthur_gen.resume()
    assert len(outcomes) == 1 and isinstance(outcomes[0][1], SubmitUncertainError)
    assert emu.create_count == 3  # never an automatic second submit
    assert rows()[0]["state"] == "uncertain"


def test_unfinished_listing_is_not_not_found(
    emu: Emulator, rows: Rows, monkeypatch: pytest.MonkeyPatch
) -> None:
    video()
    video()
    emu.configure(page_size=1)
    monkeypatch.setattr(_backend, "_RECONCILE_MAX_PAGES", 1)
    emu.faults.drop("create", after_effect=False)
    with pytest.raises(SubmitUncertainError, match="did not end"):
        video()
    outcomes = arthur_gen.resume()
    assert isinstance(outcomes[0][1], SubmitUncertainError)
    assert emu.create_count == 2
    assert [r["state"] for r in rows()] == ["saved", "saved", "uncertain"]


def test_failed_listing_stays_uncertain(emu: Emulator, rows: Rows) -> None:
    emu.faults.drop("create", after_effect=True)
    emu.faults.fail("list", 500, times=None)
    with pytest.raises(SubmitUncertainError, match="could not list"):
        video()
    assert emu.create_count == 1
    (row,) = rows()
    assert row["state"] == "uncertain" and row["submit_count"] == 1
    emu.faults.clear()
    (outcome,) = arthur_gen.resume()
    assert isinstance(outcome[1], arthur_gen.GeneratedVideo)
    assert emu.create_count == 1 and rows()[0]["cost_usd"] == 0.5


def test_candidate_with_removed_data_is_not_ruled_out(emu: Emulator, rows: Rows) -> None:
    emu.configure(ttl_s=0.0)
    emu.faults.drop("create", after_effect=True)
    with pytest.raises(SubmitUncertainError) as caught:
        video()
    (pid,) = emu.predictions
    assert pid in str(caught.value) and "arthur-gen settle" in str(caught.value)
    assert rows()[0]["state"] == "uncertain"
    arthur_gen.resume()
    assert emu.create_count == 1


def test_429_on_create_is_retried_after_retry_after(emu: Emulator, rows: Rows) -> None:
    emu.faults.fail("create", 429, retry_after=1)
    result = video()
    assert result.paths
    assert emu.create_count == 1 and emu.request_counts["create"] == 2
    assert rows()[0]["cost_usd"] == 0.5


def test_settle_adopt_from_the_cli(emu: Emulator, rows: Rows, home: Path, token: str) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "ARTHUR_GEN_HOME": str(home),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
        "REPLICATE_BASE_URL": emu.url,
        "REPLICATE_API_TOKEN": token,
    }

    video()
    forget_jobs(home)
    emu.faults.drop("create", after_effect=True)
    with pytest.raises(SubmitUncertainError):
        video()
    (row,) = rows()
    newest = max(emu.predictions.values(), key=lambda p: str(p.json["created_at"])).id
    cli = [sys.executable, "-m", "arthur_gen"]
    bad = subprocess.run([*cli, "settle", row["id"]], capture_output=True, text=True, timeout=60, env=env)
    assert bad.returncode != 0 and "--adopt" in bad.stderr
    done = subprocess.run(
        [*cli, "settle", row["id"][:10], "--adopt", newest],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    (row,) = rows()
    assert row["state"] == "saved" and row["remote_id"] == newest and row["cost_usd"] == 0.5
    assert emu.create_count == 2
    again = subprocess.run(
        [*cli, "settle", row["id"], "--resubmit"], capture_output=True, text=True, timeout=60, env=env
    )
    assert again.returncode != 0 and "not uncertain" in again.stderr and "Traceback" not in again.stderr


def test_settle_refuses_another_jobs_prediction_and_resubmits(emu: Emulator, rows: Rows) -> None:
    from arthur_gen.errors import InvalidRequestError
    from arthur_gen.jobs._settle import settle

    video()
    emu.faults.drop("create", after_effect=False)
    with pytest.raises(SubmitUncertainError):
        video()
    first, second = rows()
    assert second["state"] == "uncertain"
    with pytest.raises(InvalidRequestError, match="already belongs"):
        settle(second["id"], adopt=first["remote_id"])
    result = settle(second["id"], resubmit=True)
    assert result.paths and emu.create_count == 2
    first, second = rows()
    assert second["state"] == "saved" and second["remote_id"] != first["remote_id"]
