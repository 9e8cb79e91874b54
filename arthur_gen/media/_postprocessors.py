"""Third-party operations: post-processors registered by plugins (``register_postprocessors``).

A post-processor works on the finished timeline one frame at a time (streaming): an
upscaler, a style filter, burned-in subtitles from a speech model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import InvalidRequestError, PluginError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Postprocessor", "RegisterPostprocessor", "get_postprocessor", "postprocessors"]


class Postprocessor(ABC):
    """One named operation. ``validate`` runs before anything is decoded; ``process`` gets an
    HxWx3 uint8 frame, its time in seconds and the params, and returns a frame of the same shape."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise InvalidRequestError for params this operation cannot take."""

    @abstractmethod
    def process(self, frame: np.ndarray, t: float, params: Mapping[str, Any]) -> np.ndarray:
        """The processed frame (the input may be modified in place and returned)."""


RegisterPostprocessor = Callable[[Postprocessor], None]


def postprocessors() -> dict[str, Postprocessor]:
    """Post-processors registered by installed plugins, by name."""
    from .._plugins import load_plugins, pm

    load_plugins()
    found: dict[str, Postprocessor] = {}
    owners: dict[str, str] = {}
    caller = pm.hook.register_postprocessors
    for impl in caller.get_hookimpls():

        def register(item: Postprocessor, _plugin: str = impl.plugin_name) -> None:
            if not isinstance(item, Postprocessor) or not getattr(item, "name", ""):
                raise PluginError(
                    f"plugin {_plugin!r} registered {item!r}, which is not a named "
                    "arthur_gen.media.Postprocessor"
                )
            if item.name in found:
                raise PluginError(
                    f"two post-processors are called {item.name!r}: from plugins {owners[item.name]!r} "
                    f"and {_plugin!r}; uninstall one"
                )
            found[item.name] = item
            owners[item.name] = _plugin

        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        pm.subset_hook_caller("register_postprocessors", remove_plugins=others)(register=register)
    return found


def get_postprocessor(name: str) -> Postprocessor:
    found = postprocessors()
    if name not in found:
        known = ", ".join(sorted(found)) or "none installed"
        raise InvalidRequestError(f"no post-processor {name!r}; installed: {known}", field="custom")
    return found[name]
