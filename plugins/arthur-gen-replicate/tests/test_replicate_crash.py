"""A process killed with SIGKILL while it polls: `arthur-gen resume` (or the same request run
again) finishes the job with exactly one prediction created and its cost recorded once."""

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

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

Rows = Callable[[], list[dict[str, Any]]]

CHILD = """
import arthur_gen
result = arthur_gen.generate_video("a crash test", backend="replicate", timeout=60)
print("DONE", result.job_id, flush=True)
"""


@pytest.fixture
def child_env(emu: Emulator, home: Path, token: str) -> dict[str, str]:
    """The environment of the child processes: the test's store, the plugin by entry point."""
    return {
        **os.environ,
        "ARTHUR_GEN_HOME": str(home),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
        "REPLICATE_BASE_URL": emu.url,
        "REPLICATE_API_TOKEN": token,
    }


@pytest.fixture
def killed_while_polling(emu: Emulator, child_env: dict[str, str]) -> Iterator[None]:
    """Start a video job in a child process and SIGKILL it once it is polling."""
    emu.set_timing(0.2, 2.5)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while emu.request_counts.get("get", 0) < 2:
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never started polling"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(10) == -signal.SIGKILL
        assert emu.create_count == 1
        yield
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        if child.stdout:
            child.stdout.close()
        if child.stderr:
            child.stderr.close()


def _cli() -> list[str]:
    script = shutil.which("arthur-gen", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "arthur_gen"]


def _check_finished_once(emu: Emulator, rows: Rows) -> None:
    assert emu.create_count == 1
    (row,) = rows()
    assert row["state"] == "saved"
    assert row["submit_count"] == 1
    assert row["remote_id"] == next(iter(emu.predictions))
    assert row["cost_usd"] == 0.5 and row["cost_source"] == "metrics"
    assert sum(r["cost_usd"] or 0 for r in rows()) == 0.5
    outputs = [p for p in Path(row["out_dir"]).rglob("*.mp4") if ".work" not in p.parts]
    assert len(outputs) == 1 and outputs[0].read_bytes()[4:8] == b"ftyp"


@pytest.mark.usefixtures("killed_while_polling")
def test_resume_after_sigkill(emu: Emulator, child_env: dict[str, str], rows: Rows) -> None:
    (row,) = rows()
    assert row["state"] in ("submitted", "running") and row["remote_id"]
    done = subprocess.run([*_cli(), "resume"], env=child_env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    _check_finished_once(emu, rows)
    again = subprocess.run([*_cli(), "resume"], env=child_env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and emu.create_count == 1


@pytest.mark.usefixtures("killed_while_polling")
def test_same_request_after_sigkill(emu: Emulator, child_env: dict[str, str], rows: Rows) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], env=child_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "DONE" in done.stdout
    _check_finished_once(emu, rows)
