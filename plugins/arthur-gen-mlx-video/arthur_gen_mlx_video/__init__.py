"""arthur-gen-mlx-video: local video on MLX (Wan 2.x; LTX-2 with sound) via mlx-video-with-audio.

Registers the ``mlx_video`` video backend through the ``mlx_video`` entry point of the
``arthur_gen`` group::

    import arthur_gen
    arthur_gen.generate_video("waves at dusk", backend="mlx_video", duration=2, seed=1)
    arthur_gen.generate_video("a jazz trio", backend="mlx_video", model="ltx-2", duration=3)

Importing this module is cheap: mlx, mlx_video and transformers are imported only when a
video is made, on the backend's MLX worker thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from arthur_gen.hookspecs import hookimpl

from ._backend import MlxVideoBackend, Plan, plan_request
from ._catalog import CATALOG, DEFAULT_MODEL

if TYPE_CHECKING:
    from arthur_gen._registry import RegisterVideoBackend

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "MlxVideoBackend",
    "Plan",
    "backend",
    "plan_request",
    "register_video_backends",
]

_lock = threading.Lock()
_instance: MlxVideoBackend | None = None


def backend() -> MlxVideoBackend:
    """The process-wide backend the hook registers; its warm models outlive re-registration."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = MlxVideoBackend()
        return _instance


@hookimpl
def register_video_backends(register: RegisterVideoBackend) -> None:
    """Register the ``mlx_video`` video backend."""
    register(backend())
