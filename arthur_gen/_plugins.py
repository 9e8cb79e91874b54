"""The plugin manager: entry points in the ``arthur_gen`` group, loaded once and lazily."""

from __future__ import annotations

import os
import sys
import threading
import warnings
from typing import Any

import pluggy

from . import hookspecs
from ._entry_points import find_entry_points, normalize
from .errors import PluginError

__all__ = ["PluginWarning", "get_plugins", "load_plugins", "pm"]

pm = pluggy.PluginManager("arthur_gen")
pm.add_hookspecs(hookspecs)

_lock = threading.Lock()
_loaded = False
_distributions: dict[str, str] = {}  # plugin name -> "dist version"


class PluginWarning(UserWarning):
    """A plugin could not be loaded; the rest of arthur-gen still works."""


def _allowed() -> set[str] | None:
    """Distributions to load: None means all; ``ARTHUR_GEN_LOAD_PLUGINS=''`` means none."""
    value = os.environ.get("ARTHUR_GEN_LOAD_PLUGINS")
    if value is None:
        return None
    return {normalize(name) for name in value.split(",") if name.strip()}


def load_plugins() -> None:
    """Load every installed plugin once. A plugin that fails to import becomes a warning."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if _loaded:
            return
        _load_entry_points()
        if os.environ.get("ARTHUR_GEN_TRACE_PLUGINS"):
            pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            pm.enable_tracing()
        _loaded = True


def _load_entry_points() -> None:
    allowed = _allowed()
    for ep in find_entry_points("arthur_gen"):
        dist = ep.dist
        if allowed is not None and normalize(dist) not in allowed:
            continue
        name = ep.name
        if pm.get_plugin(name) is not None or pm.is_blocked(name):
            continue
        try:
            module = ep.load()
            pm.register(module, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {name!r} ({dist}) is invalid: {exc}") from exc
        except Exception as exc:
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
            warnings.warn(
                f"arthur-gen plugin {name!r} from {dist} failed to load and was skipped: "
                f"{type(exc).__name__}: {exc}. Reinstall or uninstall it "
                f"(ARTHUR_GEN_LOAD_PLUGINS lists the plugins to load).",
                PluginWarning,
                stacklevel=3,
            )
            continue
        _distributions[name] = f"{dist} {ep.version}"
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            f"{exc}. A plugin implements a hook arthur-gen does not define; "
            "check the spelling against docs/plugin_hooks.md"
        ) from exc


def _reset_for_tests() -> None:
    """Forget loaded entry-point plugins so the next call loads them again (tests only)."""
    global _loaded
    with _lock:
        for name in list(_distributions):
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
        _distributions.clear()
        _loaded = False


def get_plugins() -> list[dict[str, Any]]:
    """Registered plugins: name, distribution and the hooks each implements."""
    load_plugins()
    result = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: str(item[0])):
        callers = pm.get_hookcallers(plugin) or []
        result.append(
            {
                "name": name,
                "distribution": _distributions.get(str(name)),
                "hooks": sorted(caller.name for caller in callers),
            }
        )
    return result
