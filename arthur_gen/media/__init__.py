"""Media: the edit engine (recipes, presets, brand kits, one-pass PyAV render) and MP4 I/O.

Nothing heavy is imported until used: ``write_video`` pulls in PyAV and numpy when called.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "embed_mp4_metadata",
    "read_mp4_metadata",
    "write_video",
]

_LAZY = {
    "embed_mp4_metadata": "._mp4meta",
    "read_mp4_metadata": "._mp4meta",
    "write_video": "._encode",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'arthur_gen.media' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
