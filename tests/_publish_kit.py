"""Shared helpers of the publish tests: plugins on, a real small MP4, the emulator's account."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from arthur_gen_linkedin import add_token
from arthur_gen_linkedin.emulator import Emulator as LinkedInEmulator
from arthur_gen_youtube import add_credentials
from arthur_gen_youtube.emulator import Emulator as YouTubeEmulator

from arthur_gen import _plugins
from arthur_gen.publish import _publisher, get_publisher, publications

PLUGINS = "arthur-gen-youtube,arthur-gen-linkedin"


@pytest.fixture
def publishers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", PLUGINS)
    _plugins._reset_for_tests()
    _publisher._reset_for_tests()
    yield
    _plugins._reset_for_tests()
    _publisher._reset_for_tests()


def make_mp4(
    path: Path, seconds: float = 1.0, size: tuple[int, int] = (320, 180), pad_bytes: int = 0
) -> Path:
    """A real H.264 MP4 (noise, so it does not compress to nothing), optionally padded with a free box."""
    import av
    import numpy as np

    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(int(seconds * 24)):
            frame = av.VideoFrame.from_ndarray(
                rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8), format="rgb24"
            )
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    if pad_bytes:
        with path.open("ab") as fh:  # a top-level 'free' box: players and probes skip it
            fh.write((pad_bytes + 8).to_bytes(4, "big") + b"free" + os.urandom(pad_bytes))
    return path


CHUNK = 256 * 1024
PART = 256 * 1024


class Killed(BaseException):
    """Stands in for the process dying: nothing after it runs, no handler records anything."""


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch, publishers: None, tmp_path: Path) -> Iterator[YouTubeEmulator]:
    with YouTubeEmulator() as emu:
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", emu.url)
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_CHUNK_BYTES", str(CHUNK))
        add_credentials(emu.write_credentials(tmp_path))
        pub = get_publisher("youtube")
        pub.chunk_bytes = CHUNK  # type: ignore[attr-defined]
        pub._sleep = lambda s: None  # type: ignore[attr-defined]
        yield emu


@pytest.fixture
def linkedin(monkeypatch: pytest.MonkeyPatch, publishers: None) -> Iterator[LinkedInEmulator]:
    with LinkedInEmulator(part_bytes=PART, processing_polls=1) as emu:
        monkeypatch.setenv("ARTHUR_GEN_LINKEDIN_API_URL", emu.url)
        add_token(emu.token)
        yield emu


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("resume") / "clip.mp4", seconds=3.2, pad_bytes=12 * CHUNK)


@pytest.fixture
def clip(pristine: Path, tmp_path: Path) -> Path:
    return Path(shutil.copy(pristine, tmp_path / "clip.mp4"))


def die_after(limit: int) -> Callable[[int, int], None]:
    def progress(sent: int, total: int) -> None:
        if sent >= limit:
            raise Killed

    return progress


def owner_died() -> None:
    """Hand the killed job's lease to a process that has exited, as a real SIGKILL leaves it."""
    from arthur_gen.jobs._store import get_store

    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()
    job_id = publications()[0]["job_id"]
    get_store().set(
        job_id, lease_owner=f"{os.uname().nodename}:{gone.pid}:dead", lease_until=time.time() + 30
    )


def bytes_put(emu: YouTubeEmulator) -> int:
    return sum(s["bytes_put"] for s in emu.snapshot()["sessions"].values())
