"""Many writers at once: processes sharing one store, threads, and the async twins."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import InvalidRequestError
from arthur_gen.testing import FakeImageBackend, FakeProvider, FakeVideoBackend

WRITER = """
import os, sys, time
import arthur_gen
from arthur_gen.testing import FakeImageBackend, FakePlugin, registered

n, go = int(sys.argv[1]), sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
with registered(FakePlugin(FakeImageBackend())):
    for i in range(25):
        arthur_gen.generate_image(f"process {n} image {i}", seed=i)
"""


def test_four_processes_write_jobs_at_once(children: Any, home: Path, tmp_path: Path) -> None:
    go = tmp_path / "go"
    env = dict(os.environ, ARTHUR_GEN_HOME=str(home), ARTHUR_GEN_LOAD_PLUGINS="")
    procs = [children.start([sys.executable, "-c", WRITER, str(n), str(go)], env) for n in range(4)]
    go.touch()
    results = [p.communicate(timeout=120) for p in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert "database is locked" not in err
        assert proc.returncode == 0, err
    with sqlite3.connect(home / "data" / "jobs.db") as db:
        states = db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        prompts = {r[0] for r in db.execute("SELECT prompt FROM jobs")}
        outputs = db.execute("SELECT COUNT(DISTINCT path) FROM outputs").fetchone()[0]
    assert states == [("saved", 100)]
    assert prompts == {f"process {n} image {i}" for n in range(4) for i in range(25)}
    assert outputs == 100
    assert len(list((home / "data" / "outputs").rglob("*.png"))) == 100


def test_sync_api_works_inside_a_running_event_loop(image_backend: FakeImageBackend) -> None:
    async def notebook_cell() -> Any:
        asyncio.get_running_loop()  # as in Jupyter, a loop is running
        return arthur_gen.generate_image("inside a loop", seed=1)

    result = asyncio.run(notebook_cell())
    assert result.path.exists() and len(image_backend.calls) == 1


def test_async_twins_run_jobs_concurrently(
    video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    provider.latency_s = 0.5

    async def main() -> list[Any]:
        return await asyncio.gather(*(arthur_gen.agenerate_video(f"wave number {i}") for i in range(20)))

    results = asyncio.run(main())
    assert len({r.job_id for r in results}) == 20
    assert all(r.path.exists() for r in results)
    assert provider.submits == 20
    saved = arthur_gen.history(state="saved", limit=None)
    assert {r.id for r in saved} == {r.job_id for r in results}


def test_cancelling_an_async_task_cancels_the_job(
    video_backend: FakeVideoBackend, provider: FakeProvider, helpers: Any
) -> None:
    provider.latency_s = 30

    async def main() -> None:
        task = asyncio.create_task(arthur_gen.agenerate_video("waves, never mind"))
        while provider.submits == 0:
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    helpers.wait_for(
        lambda: [r.state for r in arthur_gen.history()] == ["canceled"], what="the job to be cancelled"
    )
    (job,) = provider.all_jobs()
    assert job["canceled"] is True


def test_async_image_twin_and_errors(image_backend: FakeImageBackend) -> None:
    async def main() -> tuple[Any, BaseException | None]:
        ok = await arthur_gen.agenerate_image("async image", seed=2)
        try:
            await arthur_gen.agenerate_image("")
        except InvalidRequestError as exc:
            return ok, exc
        return ok, None

    ok, error = asyncio.run(main())
    assert ok.path.exists() and ok.seed == 2
    assert isinstance(error, InvalidRequestError)


def test_gather_from_sync_code_returns_errors_in_place(image_backend: FakeImageBackend) -> None:
    calls = [
        lambda: arthur_gen.generate_image("first", seed=1),
        lambda: arthur_gen.generate_image("", seed=2),
        lambda: arthur_gen.generate_image("third", seed=3),
    ]
    first, second, third = arthur_gen.gather(calls, max_concurrency=3)
    assert not isinstance(first, BaseException) and first.request.prompt == "first"
    assert isinstance(second, InvalidRequestError)
    assert not isinstance(third, BaseException) and third.seed == 3
