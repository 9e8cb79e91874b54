"""arthur-gen-mflux: local image generation with mflux (MLX) for arthur-gen.

Registers the ``mflux`` image backend through the ``arthur_gen`` entry point::

    import arthur_gen
    arthur_gen.generate_image("a lighthouse at dawn", backend="mflux", model="schnell", seed=1)

Importing this module is cheap: mlx, mflux, torch and huggingface_hub are imported only when
a model is loaded.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from arthur_gen.hookspecs import hookimpl

from ._backend import MfluxBackend
from ._catalog import CATALOG, DEFAULT_MODEL
from ._loader import LoadKey, load_mflux_model

if TYPE_CHECKING:
    from arthur_gen._registry import RegisterImageBackend

__all__ = [
    "CATALOG",
    "DEFAULT_MODEL",
    "LoadKey",
    "MfluxBackend",
    "backend",
    "load_mflux_model",
    "register_image_backends",
]


_lock = threading.Lock()
_instance: MfluxBackend | None = None


def backend() -> MfluxBackend:
    """The process-wide backend the hook registers; its warm models outlive re-registration."""
    global _instance
    with _lock:
        if _instance is None:
            _instance = MfluxBackend()
        return _instance


@hookimpl
def register_image_backends(register: RegisterImageBackend) -> None:
    """Register the ``mflux`` image backend."""
    register(backend())
