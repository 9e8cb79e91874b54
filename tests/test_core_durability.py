"""Durable remote jobs: one submit per request, whatever crashes, cancels or races."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import GenerationError, JobCanceledError, JobTimeoutError, SubmitUncertainError
from arthur_gen.jobs._store import get_store
from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, registered


def _rows(home: Path) -> list[dict[str, Any]]:
    """The jobs table, read-only (empty while the store does not exist yet)."""
    path = home / "data" / "jobs.db"
    if not path.exists():
        return []
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM jobs ORDER BY created_at")]
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        db.close()


def _spent(home: Path) -> float:
    from arthur_gen.money._budget import spent_since

    with sqlite3.connect(home / "data" / "jobs.db") as db:
        return spent_since(db, 0)


# --- in this process ---------------------------------------------------------------------


def test_remote_job_is_saved_with_one_submit(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    phases: list[str] = []
    result = arthur_gen.generate_video("waves", on_progress=lambda e: phases.append(e.phase))
    assert provider.submits == 1
    assert result.path.exists() and result.path.suffix == ".mp4"
    assert result.remote_id and result.cost_usd == 0.5 and result.cost_source == "metrics"
    (row,) = _rows(home)
    assert row["state"] == "saved" and row["submit_count"] == 1 and row["lease_owner"] is None
    assert row["remote_id"] == result.remote_id and row["cost_usd"] == 0.5
    assert phases[:2] == ["planned", "submitted"] and "downloading" in phases
    assert _spent(home) == 0.5


def test_dropped_submit_is_reconciled_not_resent(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    provider.drop_submit = True
    result = arthur_gen.generate_video("waves, dropped")
    assert provider.submits == 1
    (row,) = _rows(home)
    assert row["state"] == "saved" and row["submit_count"] == 1
    (job,) = provider.all_jobs()
    assert result.remote_id == job["id"]


class _ExplodingSubmit(FakeVideoBackend):
    """Creates the job at the provider, then the process 'dies' before hearing the id."""

    def __init__(self, provider: FakeProvider, create: bool) -> None:
        super().__init__(provider)
        self.create = create

    def submit(self, request: Any, model: Any, ctx: Any) -> str:
        if self.create:
            super().submit(request, model, ctx)
            raise KeyboardInterrupt
        raise SubmitUncertainError("read timeout while creating the job")


def test_interrupted_submit_is_reconciled_by_resume(provider: FakeProvider, home: Path) -> None:
    with registered(FakePlugin(_ExplodingSubmit(provider, create=True))), pytest.raises(KeyboardInterrupt):
        arthur_gen.generate_video("waves, interrupted submit")
    (row,) = _rows(home)
    assert row["state"] == "uncertain" and provider.submits == 1
    with registered(FakePlugin(FakeVideoBackend(provider))):
        ((job_id, result),) = arthur_gen.resume()
    assert not isinstance(result, Exception), result
    assert job_id == row["id"] and result.path.exists()
    assert provider.submits == 1
    assert _rows(home)[0]["state"] == "saved"


def test_uncertain_submit_that_created_nothing_is_sent_once_by_resume(
    provider: FakeProvider, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("arthur_gen.jobs._runner.time.sleep", lambda s: None)
    lost = _ExplodingSubmit(provider, create=False)
    with registered(FakePlugin(lost)), pytest.raises(SubmitUncertainError, match="arthur-gen resume"):
        arthur_gen.generate_video("waves, lost")
    assert provider.submits == 0 and _rows(home)[0]["state"] == "uncertain"
    with registered(FakePlugin(FakeVideoBackend(provider))):
        ((_, result),) = arthur_gen.resume()
    assert not isinstance(result, Exception), result
    assert provider.submits == 1


def test_cancel_event_cancels_the_remote_job(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path, helpers: Any
) -> None:
    provider.latency_s = 30
    cancel = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            arthur_gen.generate_video("waves, cancelled", cancel_event=cancel)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        helpers.wait_for(lambda: _rows(home) and _rows(home)[0]["state"] in ("submitted", "running"))
    finally:
        cancel.set()
        thread.join(30)
    assert len(errors) == 1 and isinstance(errors[0], JobCanceledError)
    (row,) = _rows(home)
    assert row["state"] == "canceled" and "cancelled by the user" in row["error"]
    (job,) = provider.all_jobs()
    assert job["canceled"] is True and video_backend.cancels == 1
    assert provider.submits == 1


@pytest.mark.parametrize("phase", ["submitted", "running"])
def test_ctrl_c_cancels_the_remote_job_and_records_it(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path, phase: str
) -> None:
    provider.latency_s = 30

    def interrupt(event: Any) -> None:
        if event.phase == phase:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        arthur_gen.generate_video("waves, ctrl-c", on_progress=interrupt)
    (row,) = _rows(home)
    assert row["state"] == "canceled" and "Ctrl-C" in row["error"]
    assert row["remote_id"]
    (job,) = provider.all_jobs()
    assert job["canceled"] is True and job["id"] == row["remote_id"]
    assert arthur_gen.resume() == []


def test_deadline_cancels_and_raises_timeout(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    provider.latency_s = 30
    with pytest.raises(JobTimeoutError, match=r"did not finish within 0\.5 s") as info:
        arthur_gen.generate_video("waves, slow", timeout=0.5)
    assert isinstance(info.value, TimeoutError)
    (row,) = _rows(home)
    assert row["state"] == "canceled" and "deadline" in row["error"]
    (job,) = provider.all_jobs()
    assert job["canceled"] is True


def test_failed_remote_job_records_failure(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    provider.fail_jobs = True
    with pytest.raises(GenerationError, match="the fake model failed"):
        arthur_gen.generate_video("waves, doomed")
    (row,) = _rows(home)
    assert row["state"] == "failed" and row["cost_usd"] == 0.0 and row["finished_at"]
    assert provider.submits == 1


def test_two_threads_with_one_request_share_one_job(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    provider.latency_s = 0.5
    results: list[Any] = []
    phases: list[str] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        result = arthur_gen.generate_video("the same waves", on_progress=lambda e: phases.append(e.phase))
        results.append(result)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 2
    assert results[0].job_id == results[1].job_id
    assert provider.submits == 1 and len(_rows(home)) == 1
    assert "attached" in phases


def test_resume_with_nothing_to_do(video_backend: FakeVideoBackend, home: Path) -> None:
    assert arthur_gen.resume() == []


# --- across processes --------------------------------------------------------------------

CHILD = """
import arthur_gen, json, sys
result = arthur_gen.generate_video({prompt!r}, backend="fake-video")
print(json.dumps(result.to_dict()))
"""


def _start_and_kill(children: Any, helpers: Any, env: dict[str, str], home: Path, prompt: str) -> str:
    """Start a remote job in a child, SIGKILL it while it polls; return the job id."""
    provider = FakeProvider(env["ARTHUR_GEN_FAKE_PROVIDER"])
    child = children.python(CHILD.format(prompt=prompt), env)
    try:
        row = helpers.wait_for(
            lambda: (
                provider.submits == 1
                and next((r for r in _rows(home) if r["state"] in ("submitted", "running")), None)
            ),
            what="the child to submit and poll",
        )
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    (after,) = _rows(home)
    assert after["state"] in ("submitted", "running") and after["remote_id"]
    assert after["lease_owner"] and after["lease_owner"].split(":")[1] == str(child.pid)
    return str(row["id"])


def _check_finished_once(env: dict[str, str], home: Path, job_id: str) -> dict[str, Any]:
    provider = FakeProvider(env["ARTHUR_GEN_FAKE_PROVIDER"])
    assert provider.submits == 1
    (row,) = _rows(home)
    assert row["id"] == job_id and row["state"] == "saved"
    assert row["cost_usd"] == 0.5 and row["submit_count"] == 1
    outputs = json.loads(row["outputs"])
    assert len(outputs) == 1 and Path(outputs[0]["path"]).stat().st_size > 0
    sidecar = json.loads(Path(outputs[0]["path"] + ".json").read_text())
    assert sidecar["job_id"] == job_id and sidecar["cost_usd"] == 0.5
    assert _spent(home) == 0.5
    return row


def test_sigkill_while_polling_then_resume_finishes_with_one_submit(
    children: Any, helpers: Any, child_env: dict[str, str], home: Path
) -> None:
    child_env["ARTHUR_GEN_FAKE_LATENCY"] = "2.5"
    job_id = _start_and_kill(children, helpers, child_env, home, "waves under a crash")
    done = children.run([helpers.CLI, "resume", "--json"], child_env)
    assert done.returncode == 0, done.stderr
    (outcome,) = json.loads(done.stdout)
    assert outcome["job_id"] == job_id and outcome["ok"] is True
    _check_finished_once(child_env, home, job_id)

    again = children.run([helpers.CLI, "resume"], child_env)
    assert again.returncode == 0 and "Nothing to resume" in again.stdout
    assert FakeProvider(child_env["ARTHUR_GEN_FAKE_PROVIDER"]).submits == 1


def test_sigkill_while_polling_then_same_request_takes_over(
    children: Any, helpers: Any, child_env: dict[str, str], home: Path
) -> None:
    child_env["ARTHUR_GEN_FAKE_LATENCY"] = "2.5"
    job_id = _start_and_kill(children, helpers, child_env, home, "waves, run twice")
    rerun = children.python(CHILD.format(prompt="waves, run twice"), child_env)
    out, err = rerun.communicate(timeout=60)
    assert rerun.returncode == 0, err
    assert json.loads(out)["job_id"] == job_id
    _check_finished_once(child_env, home, job_id)


def test_sigint_to_the_cli_cancels_the_remote_job(
    children: Any, helpers: Any, child_env: dict[str, str], home: Path
) -> None:
    child_env["ARTHUR_GEN_FAKE_LATENCY"] = "30"
    provider = FakeProvider(child_env["ARTHUR_GEN_FAKE_PROVIDER"])
    cli = children.start([helpers.CLI, "video", "waves, interrupted", "-b", "fake-video"], child_env)
    try:
        helpers.wait_for(
            lambda: (
                provider.submits == 1 and any(r["state"] in ("submitted", "running") for r in _rows(home))
            ),
            what="the CLI to submit",
        )
    finally:
        os.kill(cli.pid, signal.SIGINT)
    _, err = cli.communicate(timeout=30)
    assert cli.returncode == 130, err
    assert "Interrupted" in err and "Traceback" not in err
    (row,) = _rows(home)
    assert row["state"] == "canceled"
    (job,) = provider.all_jobs()
    assert job["canceled"] is True


def test_store_is_usable_from_a_fresh_process_after_jobs(
    video_backend: FakeVideoBackend, children: Any, home: Path
) -> None:
    result = arthur_gen.generate_video("waves, then look back")
    code = f"import arthur_gen; print(arthur_gen.get_job({result.job_id[:10]!r}).state)"
    env = dict(os.environ)
    done = children.run([sys.executable, "-c", code], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "saved"
    assert get_store().get(result.job_id) is not None


def test_the_write_before_a_paid_submit_is_synced_to_disk(
    video_backend: FakeVideoBackend, provider: FakeProvider
) -> None:
    from arthur_gen.jobs._store import get_store

    statements: list[str] = []
    real_create = provider.create

    def create(request: dict[str, object]) -> str:
        statements.append("<submit>")
        return real_create(request)

    provider.create = create  # type: ignore[method-assign]
    get_store()._db().set_trace_callback(statements.append)
    try:
        arthur_gen.generate_video("a synced submit")
    finally:
        get_store()._db().set_trace_callback(None)
    submit = statements.index("<submit>")
    before = statements[:submit]
    full = max(i for i, s in enumerate(before) if s == "PRAGMA synchronous=FULL")
    assert any("submit_count" in s for s in before[full:]), before[full:]
    assert "COMMIT" in before[full:]
