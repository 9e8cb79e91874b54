"""Issue 8 item 7: true $0 endings. A job that never reached the provider (401, 402, 422,
connection refused), or was stopped before it was sent or before it started, costs $0.00 and is
recorded as such in the store, the ledger, ``costs``, ``history`` and ``show``: never as unknown.
A job cancelled while running is priced by what the provider bills for it."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.cli import _main as _cli
from arthur_gen.errors import ArthurGenError, JobCanceledError

replicate_plugin = pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate import _backend  # noqa: E402
from arthur_gen_replicate.emulator import Emulator  # noqa: E402

from arthur_gen.testing import registered  # noqa: E402

TOKEN = "r8_ZeroDollarTestToken0123456789abcdef"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The Replicate emulator (starting 0.05 s, processing 0.1 s), the plugin registered."""
    _backend._shared_pool().clear()
    with Emulator(starting_s=0.05, processing_s=0.1) as emulator, registered(replicate_plugin, "replicate"):
        monkeypatch.setenv("REPLICATE_BASE_URL", emulator.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        yield emulator
    _backend._shared_pool().clear()


def _cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    capsys.readouterr()
    assert _cli.main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _assert_zero_everywhere(capsys: pytest.CaptureFixture[str], job_id: str) -> None:
    row = arthur_gen.get_job(job_id)
    assert row.cost_usd == 0.0, row
    assert row.cost_source == "not_started"
    totals = _cli_json(capsys, "costs")["totals"]
    assert totals["unknown_cost"] == 0 and totals["cost_usd"] == 0.0
    (listed,) = _cli_json(capsys, "history")
    assert listed["cost_usd"] == 0.0
    assert _cli_json(capsys, "show", job_id)["cost_usd"] == 0.0
    capsys.readouterr()
    assert _cli.main(["history"]) == 0
    table = capsys.readouterr().out
    assert "$0.0000" in table and "?" not in table
    assert _cli.main(["costs"]) == 0
    assert "UNKNOWN" not in capsys.readouterr().out


@pytest.mark.parametrize("status", [401, 402, 422])
def test_a_refused_create_costs_zero(emu: Emulator, capsys: pytest.CaptureFixture[str], status: int) -> None:
    emu.faults.fail("create", status, detail="refused by the test")
    with pytest.raises(ArthurGenError):
        arthur_gen.generate_video("a refused create", backend="replicate", timeout=30)
    assert emu.create_count == 0
    (row,) = arthur_gen.history()
    assert row.state == "failed" and row.submit_count == 1
    _assert_zero_everywhere(capsys, row.id)


def test_connection_refused_costs_zero(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("REPLICATE_BASE_URL", f"http://127.0.0.1:{port}")
    _backend._shared_pool().clear()
    with pytest.raises(ArthurGenError, match="could not connect"):
        arthur_gen.generate_video("nobody listens", backend="replicate", timeout=30)
    (row,) = arthur_gen.history()
    assert row.state == "failed"
    _assert_zero_everywhere(capsys, row.id)


def test_ctrl_c_before_anything_was_sent_costs_zero_and_is_never_sent(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    def stop(event: Any) -> None:
        if event.phase == "planned":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        arthur_gen.generate_video("stopped at once", backend="replicate", on_progress=stop)
    (row,) = arthur_gen.history()
    assert row.state == "canceled" and row.submit_count == 0
    _assert_zero_everywhere(capsys, row.id)
    assert arthur_gen.resume() == [] and emu.create_count == 0


def test_cancelled_while_queued_is_priced_by_the_provider(
    emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """video-01 is billed per video made: Replicate bills a cancelled prediction nothing."""
    emu.set_timing(starting_s=30, processing_s=1)
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    with pytest.raises(JobCanceledError):
        arthur_gen.generate_video("cancel me", backend="replicate", cancel_event=cancel, timeout=60)
    (row,) = arthur_gen.history()
    assert row.state == "canceled" and row.remote_id is not None
    assert emu.predictions[row.remote_id].status == "canceled"
    assert row.cost_usd == 0.0 and row.cost_source == "metrics"
    assert _cli_json(capsys, "costs")["totals"]["unknown_cost"] == 0


def test_a_failed_local_run_costs_zero(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from arthur_gen.testing import FakeImageBackend, FakePlugin

    with registered(FakePlugin(FakeImageBackend(fail="boom")), "test-zero-local"):
        with pytest.raises(ArthurGenError):
            arthur_gen.generate_image("fails locally", backend="fake-image")
        (row,) = arthur_gen.history()
        assert row.state == "failed" and row.cost_usd == 0.0 and row.cost_source == "free"
    time.sleep(0)


def test_ctrl_c_during_a_create_that_finished_first_says_paid_and_resume_saves_it(
    emu: Emulator, home: Path, children: Any, tmp_path: Path
) -> None:
    """A slow create answer (the prediction ran and finished meanwhile), then Ctrl-C: the cancel
    comes too late, so the job is paid; it must say so (never "cancelled") and `resume` saves it."""
    import os
    import signal
    import sys

    emu.faults.delay("create", 2.0)
    trees = {Path(m.__file__ or "").resolve().parent.parent for m in (arthur_gen, replicate_plugin)}
    env = dict(
        os.environ,
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate",
        PYTHONPATH=os.pathsep.join(sorted(map(str, trees))),  # the trees this test imported
    )
    cli = str(Path(sys.executable).parent / "arthur-gen")
    child = children.start(
        [cli, "video", "too late to stop", "-b", "replicate", "--out", str(tmp_path / "v")], env
    )
    end = time.monotonic() + 30
    while emu.create_count < 1:
        assert time.monotonic() < end
        time.sleep(0.02)
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert "Traceback" not in err and "already finished" in err and "paid ($0.50)" in err, err
    assert "cancelled" not in err.lower()
    (row,) = arthur_gen.history()
    assert row.state == "completed" and row.cost_usd == 0.5
    done = children.run([cli, "resume"], env)
    assert done.returncode == 0 and "saved" in done.stdout, done.stderr
    (row,) = arthur_gen.history()
    assert row.state == "saved" and len(row.outputs) == 1 and emu.create_count == 1
