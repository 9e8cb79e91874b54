"""Loading mflux models, and keeping loaded ones warm between calls.

The seam: a *loader* is any callable ``loader(entry, key) -> model`` where ``model`` behaves
like an mflux model (``.callbacks.register(obj)`` and ``.generate_image(**kwargs)`` returning
an object with ``.save(path=..., overwrite=...)``). :func:`load_mflux_model` is the real one;
tests and benchmarks pass :class:`arthur_gen_mflux.testing.FakeLoader` instead.

:class:`WarmCache` keeps at most N loaded models (LRU), keyed by everything that changes the
weights: model, quantization, model path, LoRA files (with their size and mtime) and scales.
"""

from __future__ import annotations

import gc
import importlib
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import attrs

from arthur_gen.errors import ConfigError

from ._catalog import Entry
from ._progress import StepBridge

__all__ = [
    "CACHE_SIZE_ENV",
    "DEFAULT_CACHE_SIZE",
    "LoadKey",
    "Loader",
    "Slot",
    "WarmCache",
    "cache_size_from_env",
    "clear_mlx_cache",
    "load_mflux_model",
]

CACHE_SIZE_ENV = "ARTHUR_GEN_MFLUX_CACHE_SIZE"
DEFAULT_CACHE_SIZE = 1


@attrs.frozen(kw_only=True)
class LoadKey:
    """Everything that changes the weights in memory: two calls with equal keys share a model."""

    model: str
    quantize: int | None = None
    model_path: str | None = None
    lora_paths: tuple[str, ...] = ()
    lora_scales: tuple[float, ...] = ()
    # (size, mtime_ns) of each LoRA file: a retrained LoRA at the same path reloads
    lora_stamps: tuple[tuple[int, int], ...] = ()
    # "edit": the family's edit class (same weights, reference images); "": its txt2img class
    variant: str = ""

    def constructor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the mflux class, except ``model_config``."""
        return {
            "quantize": self.quantize,
            "model_path": self.model_path,
            "lora_paths": list(self.lora_paths) or None,
            "lora_scales": list(self.lora_scales) or None,
        }


Loader = Callable[[Entry, LoadKey], Any]


def load_mflux_model(entry: Entry, key: LoadKey) -> Any:
    """Build the mflux model for ``entry`` (imports mflux and mlx; loads the weights)."""
    family = entry.family
    if key.variant == "edit" and family.edit_module and family.edit_class_name:
        cls = getattr(importlib.import_module(family.edit_module), family.edit_class_name)
    else:
        cls = getattr(importlib.import_module(family.module), family.class_name)
    config_module = importlib.import_module("mflux.models.common.config.model_config")
    model_config = getattr(config_module.ModelConfig, entry.config_factory)()
    kwargs = key.constructor_kwargs()
    if family.upscaler:  # SeedVR2(quantize, model_path, model_config): no LoRA
        kwargs = {"quantize": kwargs["quantize"], "model_path": kwargs["model_path"]}
    return cls(model_config=model_config, **kwargs)


def clear_mlx_cache() -> None:
    """Return MLX's cached buffers to the system, if MLX was ever imported."""
    mx = sys.modules.get("mlx.core")
    if mx is None:
        return
    clear = getattr(mx, "clear_cache", None)
    if clear is None:  # MLX before 0.26 kept it under mx.metal
        clear = getattr(getattr(mx, "metal", None), "clear_cache", None)
    if clear is not None:
        clear()


def cache_size_from_env() -> int:
    raw = os.environ.get(CACHE_SIZE_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_SIZE
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 0:
        raise ConfigError(
            f"{CACHE_SIZE_ENV}={raw!r} is not valid: give the number of mflux models to keep "
            "loaded (0 frees each model after its call; default 1)"
        )
    return size


@attrs.define(eq=False)
class Slot:
    """A loaded model, its progress bridge, and a lock: one generation at a time per model."""

    key: LoadKey
    model: Any
    bridge: StepBridge
    lock: threading.Lock = attrs.field(factory=threading.Lock)
    load_s: float = 0.0
    uses: int = 0


class WarmCache:
    """Bounded LRU of loaded models. Thread-safe; one load at a time (they are huge)."""

    def __init__(self, size: int | Callable[[], int]) -> None:
        self._size = size
        self._slots: OrderedDict[LoadKey, Slot] = OrderedDict()
        self._lock = threading.Lock()  # guards _slots
        self._load_lock = threading.Lock()  # serializes loads

    @property
    def size(self) -> int:
        return self._size() if callable(self._size) else self._size

    def loaded(self) -> list[LoadKey]:
        with self._lock:
            return list(self._slots)

    def peek(self, key: LoadKey) -> Slot | None:
        with self._lock:
            return self._slots.get(key)

    def get(self, key: LoadKey, load: Callable[[], Any]) -> tuple[Slot, bool]:
        """The slot for ``key`` and whether it was loaded by this call."""
        with self._lock:
            slot = self._slots.get(key)
            if slot is not None:
                self._slots.move_to_end(key)
                return slot, False
        with self._load_lock:
            with self._lock:
                slot = self._slots.get(key)
                if slot is not None:  # another thread loaded it while we waited
                    self._slots.move_to_end(key)
                    return slot, False
            # make room before loading: two 30 GB models rarely fit side by side
            self._evict(keep=max(self.size - 1, 0))
            started = time.perf_counter()
            model = load()
            bridge = StepBridge()
            model.callbacks.register(bridge)
            slot = Slot(key=key, model=model, bridge=bridge)
            slot.load_s = time.perf_counter() - started
            if self.size > 0:
                with self._lock:
                    self._slots[key] = slot
            return slot, True

    def _evict(self, keep: int) -> None:
        with self._lock:
            dropped = 0
            while len(self._slots) > keep:
                self._slots.popitem(last=False)
                dropped += 1
        if dropped:
            gc.collect()
            clear_mlx_cache()

    def trim(self) -> None:
        """Drop models beyond the current size (after the size was lowered)."""
        self._evict(keep=self.size)

    def clear(self) -> None:
        self._evict(keep=0)

    def drop(self, key: LoadKey) -> None:
        """Forget one model (low-RAM calls free theirs after use)."""
        with self._lock:
            dropped = self._slots.pop(key, None)
        if dropped is not None:
            del dropped
            gc.collect()
            clear_mlx_cache()
