"""Media: the edit engine (recipes, presets, brand kits, one-pass PyAV render) and MP4 I/O.

Nothing heavy is imported until used: ``write_video`` pulls in PyAV and numpy when called.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "PRESETS",
    "Captions",
    "Card",
    "Custom",
    "EditRecipe",
    "EditRequest",
    "Fps",
    "Gif",
    "Logo",
    "Loudness",
    "LowerThird",
    "Music",
    "Operation",
    "Poster",
    "Postprocessor",
    "Preset",
    "Reformat",
    "Speed",
    "Still",
    "Title",
    "Transition",
    "Trim",
    "brand_kit",
    "build_recipe",
    "edit",
    "embed_mp4_metadata",
    "get_preset",
    "integrated_loudness",
    "plan_edit",
    "presets",
    "read_mp4_metadata",
    "write_video",
]

_LAZY = {
    "Captions": "._recipe",
    "Card": "._recipe",
    "Custom": "._recipe",
    "EditRecipe": "._recipe",
    "EditRequest": "._recipe",
    "Fps": "._recipe",
    "Gif": "._recipe",
    "Logo": "._recipe",
    "Loudness": "._recipe",
    "LowerThird": "._recipe",
    "Music": "._recipe",
    "Operation": "._recipe",
    "Poster": "._recipe",
    "Reformat": "._recipe",
    "Speed": "._recipe",
    "Still": "._recipe",
    "Title": "._recipe",
    "Transition": "._recipe",
    "Trim": "._recipe",
    "PRESETS": "._presets",
    "Preset": "._presets",
    "get_preset": "._presets",
    "presets": "._presets",
    "Postprocessor": "._postprocessors",
    "edit": "._edit",
    "plan_edit": "._edit",
    "build_recipe": "._edit",
    "brand_kit": "._edit",
    "integrated_loudness": "._audio",
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
