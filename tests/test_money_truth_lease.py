"""Issue 8 item 5: a live owner keeps its job. While this process downloads an output or runs a
local generation for longer than the lease, a `resume` in another process (the real CLI) must
not take the job over: one download, one file, one output path."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.jobs import _store
from arthur_gen.testing import FakeImageBackend, FakePlugin, registered

replicate_plugin = pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate import _backend  # noqa: E402
from arthur_gen_replicate.emulator import Emulator  # noqa: E402

CLI = str(Path(sys.executable).parent / "arthur-gen")
TOKEN = "r8_LeaseTestToken0123456789abcdefghij"
LEASE_S = 0.6  # the owner's lease in these tests (30 s in real use): a beat every 0.2 s


@pytest.fixture
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_store, "LEASE_S", LEASE_S)


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    _backend._shared_pool().clear()
    with (
        Emulator(starting_s=0.05, processing_s=0.1, output_size_bytes=150_000) as emulator,
        registered(replicate_plugin, "replicate"),
    ):
        monkeypatch.setenv("REPLICATE_BASE_URL", emulator.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        yield emulator
    _backend._shared_pool().clear()


def _trees() -> str:
    """The trees this test imported, for the child (a mutated copy too, see scripts/mutate.py)."""
    trees = {Path(m.__file__ or "").resolve().parent.parent for m in (arthur_gen, replicate_plugin)}
    return os.pathsep.join(sorted(map(str, trees)))


def _in_background(fn: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def _until(check: Callable[[], Any], seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def _resume_elsewhere(children: Any, env: dict[str, str]) -> str:
    done = children.run([CLI, "resume"], env, timeout=60)
    assert "Traceback" not in done.stderr, done.stderr
    return str(done.stdout)


def test_a_long_download_is_not_taken_over(
    emu: Emulator, home: Path, short_lease: None, children: Any, tmp_path: Path
) -> None:
    emu.faults.slow_download(75_000)  # 150 kB: a 2 s download, over three leases long
    out = tmp_path / "videos"
    thread, box = _in_background(
        lambda: arthur_gen.generate_video("a long download", backend="replicate", out_dir=out, timeout=60)
    )
    _until(lambda: emu.request_counts.get("download", 0) >= 1)
    time.sleep(2 * LEASE_S)  # the first lease has long run out: only its renewal keeps the job
    env = dict(
        os.environ,
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate",
        ARTHUR_GEN_HOME=str(home),
        PYTHONPATH=_trees(),
    )
    said = _resume_elsewhere(children, env)
    thread.join(60)
    assert "error" not in box, box
    assert "Nothing to resume" in said, said
    assert emu.request_counts["download"] == 1
    (row,) = arthur_gen.history()
    assert row.state == "saved" and len(row.outputs) == 1
    assert len([p for p in out.rglob("*.mp4") if ".work" not in p.parts]) == 1


def test_a_slow_local_generation_is_not_taken_over(
    short_lease: None, children: Any, child_env: dict[str, str], tmp_path: Path
) -> None:
    slow = FakeImageBackend(step_s=4.0, backend_id="fake-image")  # one step, over six leases long
    out = tmp_path / "images"
    with registered(FakePlugin(slow), "test-slow-image"):
        thread, box = _in_background(
            lambda: arthur_gen.generate_image("a slow step", backend="fake-image", steps=1, out_dir=out)
        )
        _until(lambda: any(r.state == "running" for r in arthur_gen.history()))
        time.sleep(2 * LEASE_S)
        env = dict(child_env, PYTHONPATH=os.pathsep.join([_trees(), child_env["PYTHONPATH"]]))
        said = _resume_elsewhere(children, env)
        thread.join(60)
    assert "error" not in box, box
    assert "Nothing to resume" in said, said
    (row,) = arthur_gen.history()
    assert row.state == "saved" and len(row.outputs) == 1
    assert len([p for p in out.rglob("*.png") if ".work" not in p.parts]) == 1
