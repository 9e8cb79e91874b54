"""Issue 8 item 2: Ctrl-C and SIGTERM tell the truth and stop the billing. The real CLI in a
child process, signalled the way a user (or a service manager) does, against the emulator."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen.errors import JobCanceledError

Rows = Callable[[], list[dict[str, Any]]]


def _cli() -> list[str]:
    script = shutil.which("arthur-gen", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "arthur_gen"]


@pytest.fixture
def child_env(emu: Emulator, home: Path, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "ARTHUR_GEN_HOME": str(home),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
        "REPLICATE_BASE_URL": emu.url,
        "REPLICATE_API_TOKEN": token,
    }


@pytest.fixture
def start(child_env: dict[str, str]) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    children: list[subprocess.Popen[str]] = []

    def run() -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [*_cli(), "video", "a signal test", "--backend", "replicate", "--timeout", "60"],
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    try:
        yield run
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.communicate(timeout=10)


def _until(check: Callable[[], bool], seconds: float = 20.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out waiting"
        time.sleep(0.02)


def _finish(child: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = child.communicate(timeout=40)
    assert "Traceback" not in err, err
    return child.returncode, err


@pytest.mark.parametrize("signals", [(signal.SIGINT,), (signal.SIGINT, signal.SIGINT), (signal.SIGTERM,)])
def test_interrupt_during_the_create_cancels_what_it_made(
    emu: Emulator, rows: Rows, start: Callable[[], subprocess.Popen[str]], signals: tuple[int, ...]
) -> None:
    emu.set_timing(0.2, 5.0)
    emu.faults.delay("create", 1.5)
    child = start()
    _until(lambda: emu.request_counts.get("create", 0) >= 1)
    for sig in signals:
        child.send_signal(sig)
        time.sleep(0.2)
    code, err = _finish(child)
    assert code == 130, err
    assert "cancelled at the provider" in err, err
    (row,) = rows()
    assert row["state"] == "canceled" and row["remote_id"] in emu.predictions
    assert emu.predictions[row["remote_id"]].status == "canceled"
    assert emu.create_count == 1
    assert arthur_gen.resume() == []  # nothing left for resume to pay for


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_mid_poll_cancels_and_records(
    emu: Emulator, rows: Rows, start: Callable[[], subprocess.Popen[str]], sig: int
) -> None:
    emu.set_timing(0.1, 10.0)
    child = start()
    _until(lambda: emu.request_counts.get("get", 0) >= 1)
    child.send_signal(sig)
    code, err = _finish(child)
    assert code == 130 and "cancelled at replicate" in err, err
    (row,) = rows()
    assert row["state"] == "canceled"
    assert emu.predictions[row["remote_id"]].status == "canceled"


def test_interrupt_during_the_download_says_it_was_paid(
    emu: Emulator, rows: Rows, start: Callable[[], subprocess.Popen[str]]
) -> None:
    emu.configure(output_size_bytes=400_000)
    emu.faults.slow_download(50_000)
    child = start()
    _until(lambda: emu.request_counts.get("download", 0) >= 1)
    child.send_signal(signal.SIGINT)
    code, err = _finish(child)
    assert code == 130 and "already finished" in err and "paid" in err and "resume" in err, err
    assert "cancelled" not in err
    emu.faults.slow_download(None)
    (outcome,) = arthur_gen.resume()
    assert isinstance(outcome[1], arthur_gen.GeneratedVideo)
    (row,) = rows()
    assert row["state"] == "saved" and row["cost_usd"] == 0.5 and emu.create_count == 1


def test_interrupt_while_the_create_outcome_stays_unknown_is_cancelled_by_resume(
    emu: Emulator, rows: Rows, start: Callable[[], subprocess.Popen[str]]
) -> None:
    emu.set_timing(0.2, 30.0)
    emu.faults.delay("create", 11.0)  # longer than the grace the CLI gives a create in flight
    child = start()
    _until(lambda: emu.request_counts.get("create", 0) >= 1)
    child.send_signal(signal.SIGINT)
    code, err = _finish(child)
    assert code == 130 and "outcome is unknown" in err and "cancels it" in err, err
    (row,) = rows()
    assert row["state"] == "uncertain"
    _until(lambda: emu.create_count == 1)
    (outcome,) = arthur_gen.resume()
    assert isinstance(outcome[1], JobCanceledError), outcome
    (row,) = rows()
    assert row["state"] == "canceled" and row["remote_id"] in emu.predictions
    assert emu.predictions[row["remote_id"]].status == "canceled"
    assert emu.create_count == 1
