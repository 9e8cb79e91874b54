"""Backends collected from plugins, with duplicate ids reported, never settled by load order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ._backends import Backend, ImageBackend, VideoBackend
from ._config import load_settings
from ._models import Kind, ModelInfo
from ._plugins import load_plugins, pm
from .errors import PluginError, UnknownModelError

__all__ = [
    "RegisterImageBackend",
    "RegisterVideoBackend",
    "backends",
    "choose_backend",
    "find_model",
    "get_backend",
    "no_backend_error",
    "plugin_of",
]

RegisterImageBackend = Callable[[ImageBackend], None]
RegisterVideoBackend = Callable[[VideoBackend], None]

_HOOKS = {Kind.IMAGE: "register_image_backends", Kind.VIDEO: "register_video_backends"}
_lock = threading.Lock()
_cache: dict[Kind, tuple[Any, dict[str, Backend], dict[str, str]]] = {}


def _plugin_state() -> tuple[tuple[str, object], ...]:
    # The plugin objects themselves, not their id()s: an id can be reused by a new plugin
    # registered under the same name once the old one is gone, which served stale backends.
    return tuple(sorted(((str(name), plugin) for name, plugin in pm.list_name_plugin()), key=_first))


def _first(item: tuple[str, object]) -> str:
    return item[0]


def _same_state(a: tuple[tuple[str, object], ...], b: tuple[tuple[str, object], ...]) -> bool:
    return len(a) == len(b) and all(na == nb and pa is pb for (na, pa), (nb, pb) in zip(a, b, strict=True))


def _collect(kind: Kind) -> tuple[dict[str, Backend], dict[str, str]]:
    found: dict[str, Backend] = {}
    owners: dict[str, str] = {}
    expected = ImageBackend if kind is Kind.IMAGE else VideoBackend
    caller = getattr(pm.hook, _HOOKS[kind])
    for impl in caller.get_hookimpls():
        plugin_name = impl.plugin_name

        def register(backend: Backend, _plugin: str = plugin_name) -> None:
            if not isinstance(backend, expected):
                raise PluginError(
                    f"plugin {_plugin!r} registered {backend!r} as a {kind} backend, but it is "
                    f"not an arthur_gen.{expected.__name__}"
                )
            if backend.id in found:
                raise PluginError(
                    f"two {kind} backends share the id {backend.id!r}: one from plugin "
                    f"{owners[backend.id]!r}, one from plugin {_plugin!r}; uninstall one of them "
                    "or limit ARTHUR_GEN_LOAD_PLUGINS"
                )
            _check_models(backend, _plugin)
            found[backend.id] = backend
            owners[backend.id] = _plugin

        # Through pluggy (one plugin at a time, to know who registered what), so that
        # hook-call monitoring such as ARTHUR_GEN_TRACE_PLUGINS sees every call.
        others = [p for p in pm.get_plugins() if p is not impl.plugin]
        pm.subset_hook_caller(_HOOKS[kind], remove_plugins=others)(register=register)
    return found, owners


def _check_models(backend: Backend, plugin: str) -> None:
    seen: dict[str, str] = {}
    for model in backend.models():
        for name in (model.id, *model.aliases):
            if name in seen:
                raise PluginError(
                    f"backend {backend.id!r} (plugin {plugin!r}) declares {name!r} twice: "
                    f"for model {seen[name]!r} and for model {model.id!r}"
                )
            seen[name] = model.id


# Job kinds the core runs with its own backends (no plugin hook): "module:Class".
BUILTIN_BACKENDS: dict[Kind, str] = {Kind.EDIT: "arthur_gen.media._backend:EditBackend"}


def _builtin(kind: Kind) -> tuple[dict[str, Backend], dict[str, str]]:
    import importlib

    cached = _cache.get(kind)
    if cached is None:
        module, _, name = BUILTIN_BACKENDS[kind].partition(":")
        backend = getattr(importlib.import_module(module), name)()
        cached = _cache[kind] = ((), {backend.id: backend}, {backend.id: "arthur_gen"})
    return cached[1], cached[2]


def _registry(kind: Kind) -> tuple[dict[str, Backend], dict[str, str]]:
    if kind in BUILTIN_BACKENDS:
        return _builtin(kind)
    if kind not in _HOOKS:  # e.g. publish: publishers, not backends (arthur_gen.publish)
        return {}, {}
    load_plugins()
    state = _plugin_state()
    cached = _cache.get(kind)
    if cached is not None and _same_state(cached[0], state):
        return cached[1], cached[2]
    with _lock:
        found, owners = _collect(kind)
        _cache[kind] = (state, found, owners)
    return found, owners


def backends(kind: Kind) -> dict[str, Backend]:
    """Registered backends of one kind, by id."""
    return dict(_registry(kind)[0])


def plugin_of(backend: Backend) -> str:
    return _registry(backend.kind)[1].get(backend.id, "?")


def get_backend(backend_id: str, kind: Kind) -> Backend:
    """The backend with that id, or UnknownModelError listing the ones there are."""
    found = backends(kind)
    if backend_id in found:
        return found[backend_id]
    known = ", ".join(sorted(found)) or "none (install a plugin, e.g. arthur-gen-replicate)"
    hint = _did_you_mean(backend_id, {b: b for b in found})
    raise UnknownModelError(f"no {kind} backend {backend_id!r}; installed: {known}{hint}")


def _did_you_mean(wanted: str, candidates: dict[str, str]) -> str:
    """`` (did you mean 'x'?)`` naming the ids closest to a mistyped one (``candidates``: name -> id)."""
    import difflib

    by_lower = {name.lower(): real for name, real in candidates.items()}
    low = wanted.lower()
    close = difflib.get_close_matches(low, list(by_lower), n=6, cutoff=0.6)
    if not close and low:
        close = [name for name in by_lower if low in name]
    ids = list(dict.fromkeys(by_lower[name] for name in close))[:3]
    if not ids:
        return ""
    return " (did you mean " + " or ".join(repr(i) for i in ids) + "?)"


def no_backend_error(kind: Kind) -> UnknownModelError:
    """No backend of ``kind`` is installed: which plugins make one."""
    local_plugin = "arthur-gen-mlx-video" if kind is Kind.VIDEO else "arthur-gen-mflux"
    return UnknownModelError(
        f"no {kind} backend is installed; install one: `pip install arthur-gen-replicate` "
        f"(cloud, needs REPLICATE_API_TOKEN) or `pip install {local_plugin}` (local, MLX)"
    )


def choose_backend(kind: Kind, backend_id: str | None) -> Backend:
    """The named backend, else the configured default, else the only (or only local) one."""
    if backend_id:
        return get_backend(backend_id, kind)
    default = load_settings().default_backends.get(f"{kind}_backend")
    if default:
        return get_backend(default, kind)
    found = backends(kind)
    if not found:
        raise no_backend_error(kind)
    if len(found) == 1:
        return next(iter(found.values()))
    ready = [b for b in found.values() if b.availability().ok]
    local = [b for b in ready if b.is_local]
    for group in (local, ready):
        if len(group) == 1:
            return group[0]
    names = ", ".join(sorted(found))
    raise UnknownModelError(
        f"several {kind} backends are installed ({names}); pick one with --backend / "
        f"backend=..., or set a default: `arthur-gen config set defaults.{kind}_backend NAME`"
    )


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (ids are short, so the plain dynamic programme is enough)."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _near_catalog_id(wanted: str, models: list[ModelInfo]) -> str | None:
    """A catalog id one or two edits from ``wanted`` (``minimax/video-1`` → ``minimax/video-01``)."""
    low = wanted.lower()
    best = min(models, key=lambda m: _edit_distance(low, m.id.lower()), default=None)
    if best is None or len(low) < 6 or _edit_distance(low, best.id.lower()) > 2:
        return None
    return best.id


def find_model(backend: Backend, model_id: str | None, *, allow_uncataloged: bool = False) -> ModelInfo:
    """A model of ``backend`` by id or alias (the backend's default when None).

    A backend may accept ids outside its catalog (any Replicate model); an id a typo away from a
    catalog id is refused with "did you mean" unless ``allow_uncataloged`` (the user passed
    ``--allow-unknown-price``, so they mean that very model).
    """
    wanted = model_id or backend.default_model
    for model in backend.models():
        if wanted == model.id or wanted in model.aliases:
            return model
    dynamic = backend.resolve_model(wanted)
    if dynamic is not None:
        near = None if allow_uncataloged else _near_catalog_id(wanted, list(backend.models()))
        if near is None:
            return dynamic
        raise UnknownModelError(
            f"{wanted!r} is not in {backend.id}'s catalog (did you mean {near!r}?). To run "
            f"{wanted!r} itself, uncataloged and at an unknown price, add --allow-unknown-price "
            "(Python: allow_unknown_price=True)"
        )
    models = backend.models()
    known = ", ".join(m.id for m in models)
    names = {alias: m.id for m in models for alias in m.aliases} | {m.id: m.id for m in models}
    hint = _did_you_mean(wanted, names)
    raise UnknownModelError(
        f"backend {backend.id!r} has no model {wanted!r}; its models: {known}{hint}"
        " (`arthur-gen models` lists them with their options)"
    )
