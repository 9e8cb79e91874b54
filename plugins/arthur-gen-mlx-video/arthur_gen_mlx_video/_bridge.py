"""The seams into ``mlx_video.generate_wan`` for one call: progress, cancel, warm models, frames.

``generate_wan.generate_video`` has no callback, loads and frees its models inside every
call, and ends by handing the frames to ``save_video`` (imageio, else OpenCV, else PNG
frames). It looks all of these up as globals of its module, so for the length of one call
(always on the one MLX worker thread, one call at a time) :func:`bridged` rebinds them:

- ``tqdm``: :class:`Steps` reports each finished denoising step and stops between steps when
  the job is cancelled (``JobCanceledError`` leaves the loop as it is);
- ``load_wan_model`` / ``load_t5_encoder`` / ``load_vae_decoder`` / ``load_vae_encoder``: served
  from a warm :class:`Slot` when the same file (size, mtime), config, quantization and LoRAs
  were loaded before (the package frees each after use and reloads it on the next call);
- ``save_video``: :class:`Capture` keeps the frames and the fps instead of writing anything;
  the backend writes the MP4 itself.

Downloads are off for the call: ``huggingface_hub`` is put in offline mode, so the one fetch
``generate_wan`` makes (the umt5 tokenizer) reads the cache or fails at once; the cache is
the one the environment names at call time (huggingface_hub reads it only at import).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from arthur_gen import LocalContext

from ._weights import hf_hub_cache

__all__ = ["CACHED_LOADERS", "Capture", "Slot", "Steps", "WarmCache", "bridged", "offline_hub"]

CACHED_LOADERS = ("load_wan_model", "load_t5_encoder", "load_vae_decoder", "load_vae_encoder")


class Steps:
    """Stands in for ``tqdm`` in the module: denoising steps become ``ctx.progress`` calls.

    Progress runs to ``steps + 1``: the last unit is the VAE decode, reported once the frames
    reach :class:`Capture`.
    """

    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx
        self.total = 0
        self.done = 0

    def __call__(self, iterable: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable if iterable is not None else range(int(kwargs.get("total") or 0)))
        return self._run(items)

    def _run(self, items: list[Any]) -> Iterator[Any]:
        self.total = len(items) + 1
        self.ctx.progress(0, self.total)
        for step, item in enumerate(items, start=1):
            self.ctx.check_cancelled()
            yield item
            self.done = step
            self.ctx.progress(step, self.total)
        self.ctx.check_cancelled()  # before the decode


@attrs.define
class Capture:
    """Stands in for ``save_video``: keeps what would have been written."""

    frames: Any = None  # numpy uint8 [T, H, W, 3]
    fps: float | None = None
    calls: int = 0

    def __call__(self, frames: Any, output_path: str = "", fps: float = 16) -> None:
        self.frames = frames
        self.fps = fps
        self.calls += 1


@attrs.define
class Slot:
    """The loaded models of one weights folder (with its LoRAs), kept between calls."""

    key: tuple[Any, ...]
    parts: dict[tuple[Any, ...], Any] = attrs.field(factory=dict)
    loads: int = 0
    hits: int = 0
    loads_by_name: dict[str, int] = attrs.field(factory=dict)  # loader name -> real loads

    def wrap(self, name: str, load: Callable[..., Any]) -> Callable[..., Any]:
        def cached(model_path: Any, config: Any = None, *args: Any, **kwargs: Any) -> Any:
            key = (name, str(model_path), _stamp(model_path), repr(config), repr(args), repr(kwargs))
            found = self.parts.get(key)
            if found is not None:
                self.hits += 1
                return found
            model = load(model_path, config, *args, **kwargs)
            self.loads += 1
            self.loads_by_name[name] = self.loads_by_name.get(name, 0) + 1
            self.parts[key] = model
            return model

        return cached


def _stamp(path: Any) -> tuple[int, int]:
    try:
        st = Path(path).stat()
    except (OSError, TypeError):
        return (-1, -1)
    return (st.st_size, st.st_mtime_ns)


class WarmCache:
    """At most ``size`` slots, least recently used dropped first. Thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._slots: OrderedDict[tuple[Any, ...], Slot] = OrderedDict()
        self._lock = threading.Lock()

    def slot(self, key: tuple[Any, ...]) -> tuple[Slot, bool]:
        """The slot for ``key`` and whether it was warm (already held models)."""
        with self._lock:
            found = self._slots.get(key)
            if found is not None:
                self._slots.move_to_end(key)
                return found, bool(found.parts)
            slot = Slot(key=key)
            if self.size > 0:
                self._slots[key] = slot
                while len(self._slots) > self.size:
                    self._slots.popitem(last=False)
            return slot, False

    def peek(self, key: tuple[Any, ...]) -> Slot | None:
        with self._lock:
            return self._slots.get(key)

    def loaded(self) -> list[tuple[Any, ...]]:
        with self._lock:
            return [k for k, s in self._slots.items() if s.parts]

    def clear(self) -> None:
        with self._lock:
            self._slots.clear()


@contextlib.contextmanager
def offline_hub() -> Iterator[None]:
    """huggingface_hub (and transformers through it) in offline mode for the block."""
    saved = {name: os.environ.get(name) for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    constants: Any = None
    before: tuple[Any, Any] = (None, None)
    try:
        import huggingface_hub.constants as constants

        # both read at import; the backend checked the cache the environment names now
        before = (constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE)
        constants.HF_HUB_OFFLINE = True
        constants.HF_HUB_CACHE = str(hf_hub_cache())
    except ImportError:  # pragma: no cover - a dependency of transformers
        constants = None
    try:
        yield
    finally:
        if constants is not None:
            constants.HF_HUB_OFFLINE, constants.HF_HUB_CACHE = before
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def bridged(module: ModuleType, ctx: LocalContext, slot: Slot) -> Iterator[tuple[Steps, Capture]]:
    """Rebind the module's globals for one call; restore them afterwards."""
    steps, capture = Steps(ctx), Capture()
    names = ("tqdm", "save_video", *CACHED_LOADERS)
    originals = {name: vars(module)[name] for name in names}
    replacements: dict[str, Any] = {"tqdm": steps, "save_video": capture}
    for name in CACHED_LOADERS:
        replacements[name] = slot.wrap(name, originals[name])
    vars(module).update(replacements)
    try:
        # mlx_video prints as it goes; stdout stays for what the CLI prints (the paths)
        with offline_hub(), contextlib.redirect_stdout(sys.stderr):
            yield steps, capture
    finally:
        vars(module).update(originals)
