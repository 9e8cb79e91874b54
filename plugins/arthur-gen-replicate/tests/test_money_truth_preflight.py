"""Issue 8 item 3: everything that can be checked locally is checked before a paid call; no job
row is left behind that a later `resume` could submit."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen.errors import ConfigError, InvalidRequestError

Rows = Callable[[], list[dict[str, Any]]]


def _nothing_sent(emu: Emulator, home: Path) -> None:
    assert emu.create_count == 0 and emu.request_counts.get("files", 0) == 0
    db = home / "data" / "jobs.db"
    if db.exists():
        import sqlite3

        con = sqlite3.connect(db)
        try:
            assert con.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0
        finally:
            con.close()
    assert arthur_gen.resume() == []


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        ({"key": 123}, "key="),
        ({"timeout": "soon"}, "timeout='soon'"),
        ({"timeout": -1}, "timeout=-1"),
        ({"timeout": float("nan")}, "timeout=nan"),
        ({"out_dir": 123}, "out_dir=123"),
        ({"parents": "abc"}, "parents='abc'"),
        ({"cancel_event": "x"}, "cancel_event='x'"),
    ],
)
def test_bad_python_arguments_are_refused_before_anything(
    emu: Emulator, home: Path, arguments: dict[str, Any], named: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        arthur_gen.generate_video("a preflight test", backend="replicate", **arguments)
    assert named in str(caught.value)
    _nothing_sent(emu, home)


def test_lone_surrogate_in_the_prompt(emu: Emulator, home: Path) -> None:
    with pytest.raises(InvalidRequestError, match="surrogate"):
        arthur_gen.generate_video("a \ud800 prompt", backend="replicate")
    _nothing_sent(emu, home)


def _bad_folders(tmp_path: Path) -> list[tuple[Path, str]]:
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return [(a_file, "is a file"), (a_file / "sub", "is under a file")]


def test_output_folder_that_is_a_file_or_under_one(emu: Emulator, home: Path, tmp_path: Path) -> None:
    for folder, says in _bad_folders(tmp_path):
        with pytest.raises(InvalidRequestError, match=says):
            arthur_gen.generate_video("a preflight test", backend="replicate", out_dir=folder)
    _nothing_sent(emu, home)


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True, reason="root can write anywhere")
def test_output_folder_not_writable(emu: Emulator, home: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(InvalidRequestError, match="not writable"):
            arthur_gen.generate_video("a preflight test", backend="replicate", out_dir=locked / "out")
    finally:
        locked.chmod(0o700)
    _nothing_sent(emu, home)


def test_first_frames_that_are_not_images(emu: Emulator, home: Path, tmp_path: Path) -> None:
    text = tmp_path / "frame.png"
    text.write_text("not an image at all")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    mp4 = tmp_path / "clip.png"
    mp4.write_bytes(b"\0\0\0\x18ftypmp42" + b"\0" * 200)
    for frame in (text, empty, fake, mp4):
        with pytest.raises(InvalidRequestError, match="image"):
            arthur_gen.generate_video(
                "a preflight test", backend="replicate", model="video-01-live", first_frame=frame
            )
    _nothing_sent(emu, home)


def test_config_output_dir_that_is_not_a_path(emu: Emulator, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    from arthur_gen._config import config_path

    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("output_dir = 5\n")
    try:
        with pytest.raises(ConfigError, match="output_dir = 5"):
            arthur_gen.generate_video("a preflight test", backend="replicate")
    finally:
        path.unlink()
    _nothing_sent(emu, home)


@pytest.mark.parametrize(
    ("flags", "says"),
    [(["--timeout", "-1"], "timeout"), (["--timeout", "nan"], "timeout"), (["--out", "FILE"], "is a file")],
)
def test_cli_refuses_before_paying(
    emu: Emulator, home: Path, tmp_path: Path, token: str, flags: list[str], says: str
) -> None:
    a_file = tmp_path / "FILE"
    a_file.write_text("x")
    flags = [str(a_file) if f == "FILE" else f for f in flags]
    env = {
        **os.environ,
        "ARTHUR_GEN_HOME": str(home),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
        "REPLICATE_BASE_URL": emu.url,
        "REPLICATE_API_TOKEN": token,
    }
    done = subprocess.run(
        [sys.executable, "-m", "arthur_gen", "video", "a preflight test", "--backend", "replicate", *flags],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    _nothing_sent(emu, home)
