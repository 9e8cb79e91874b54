"""arthur-gen-mlx-video-example: local video on Apple Silicon, Wan 2.x through mlx_video.

The worked example of ``docs/writing-a-backend.md``. It registers the ``mlx-video`` video
backend through the ``mlx_video`` entry point of the ``arthur_gen`` group::

    import arthur_gen
    arthur_gen.generate_video("waves at dusk", backend="mlx-video", duration=2, seed=1)

Importing this package is cheap: mlx and mlx_video are imported only when a video is made.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import arthur_gen

from ._backend import MlxVideoBackend
from ._catalog import CATALOG, DEFAULT_MODEL

__all__ = ["CATALOG", "DEFAULT_MODEL", "MlxVideoBackend", "backend", "register_video_backends"]

_lock = threading.Lock()
_instance: MlxVideoBackend | None = None


def backend() -> MlxVideoBackend:
    """The one backend object of this process, so its warm cache outlives re-registration."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = MlxVideoBackend()
        return _instance


@arthur_gen.hookimpl
def register_video_backends(register: Callable[[arthur_gen.VideoBackend], None]) -> None:
    """Register the ``mlx-video`` backend."""
    register(backend())
