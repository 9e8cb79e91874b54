"""Issue 8 item 6: one output, one file. A real CLI process is killed (SIGKILL) after its output
was downloaded, after it was placed but before the job's row says so, and in the middle of the
download; `arthur-gen resume` then adopts what is already there (by digest and size) instead of
downloading or writing a second copy, and leaves nothing behind in ``outputs/.work``."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.jobs._outputs import file_digest, sidecar_path

replicate_plugin = pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate.emulator import Emulator  # noqa: E402

CLI = str(Path(sys.executable).parent / "arthur-gen")
TOKEN = "r8_OneFileTestToken0123456789abcdefghij"

# The real CLI, with one step made to wait (after writing a marker) so the kill lands in it.
_CHILD = """
import pathlib, sys, time
from arthur_gen.jobs import _runner
from arthur_gen.jobs import _store
marker, phase = pathlib.Path(sys.argv[1]), sys.argv[2]

def paused(fn):
    def wrapped(*args, **kwargs):
        marker.write_text(phase)
        time.sleep(60)
        return fn(*args, **kwargs)
    return wrapped

if phase == "placed":  # the file has its name; the row does not list it yet
    _store.Store.add_output = paused(_store.Store.add_output)
elif phase == "downloaded":  # the download is complete in .work; nothing is placed yet
    _runner._save_output = paused(_runner._save_output)
from arthur_gen.cli._main import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(starting_s=0.05, processing_s=0.1) as emulator:
        yield emulator


@pytest.fixture
def env(emu: Emulator, home: Path) -> dict[str, str]:
    trees = {Path(m.__file__ or "").resolve().parent.parent for m in (arthur_gen, replicate_plugin)}
    return dict(
        os.environ,
        ARTHUR_GEN_HOME=str(home),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate",
        REPLICATE_BASE_URL=emu.url,
        REPLICATE_API_TOKEN=TOKEN,
        PYTHONPATH=os.pathsep.join(sorted(map(str, trees))),  # the trees this test imported
    )


def _wait_for(check: Any, seconds: float = 30.0) -> None:
    end = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < end, "timed out waiting for the child"
        time.sleep(0.02)


def _killed_then_resumed(
    children: Any, env: dict[str, str], tmp_path: Path, phase: str, emu: Emulator
) -> Path:
    out = tmp_path / "videos"
    marker = tmp_path / "marker"
    child = children.start(
        [
            sys.executable,
            "-c",
            _CHILD,
            str(marker),
            phase,
            "video",
            "one file",
            "-b",
            "replicate",
            "--out",
            str(out),
        ],
        env,
    )
    if phase == "mid-download":
        _wait_for(lambda: any(out.glob(".work/*.part")) and emu.request_counts.get("download", 0) >= 1)
    else:
        _wait_for(marker.exists)
    os.killpg(child.pid, signal.SIGKILL)
    child.communicate(timeout=10)
    emu.faults.slow_download(None)  # the recovery's download (if any) at full speed
    done = children.run([CLI, "resume"], env)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "saved" in done.stdout, done.stdout
    return out


def _one_file(out: Path) -> None:
    (row,) = arthur_gen.history()
    assert row.state == "saved" and len(row.outputs) == 1
    files = [p for p in out.rglob("*.mp4") if ".work" not in p.parts]
    assert files == [Path(row.outputs[0]["path"])], files
    assert file_digest(files[0]) == row.outputs[0]["sha256"] and sidecar_path(files[0]).is_file()
    assert list((out / ".work").glob("*")) == []
    assert "pending_outputs" not in row.metrics


@pytest.mark.parametrize("phase", ["placed", "downloaded"])
def test_a_kill_after_the_download_is_recovered_without_a_second_download(
    emu: Emulator, env: dict[str, str], children: Any, tmp_path: Path, phase: str
) -> None:
    out = _killed_then_resumed(children, env, tmp_path, phase, emu)
    _one_file(out)
    assert emu.request_counts["download"] == 1 and emu.create_count == 1


def test_a_kill_mid_download_leaves_no_part_file(
    emu: Emulator, env: dict[str, str], children: Any, tmp_path: Path
) -> None:
    emu.configure(output_size_bytes=200_000)
    emu.faults.slow_download(100_000)
    out = _killed_then_resumed(children, env, tmp_path, "mid-download", emu)
    _one_file(out)
    assert emu.create_count == 1
