"""Shared helpers of the publish tests: plugins on, a real small MP4, the emulator's account."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from arthur_gen import _plugins
from arthur_gen.publish import _publisher

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
