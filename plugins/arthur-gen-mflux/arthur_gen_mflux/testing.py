"""A stand-in for mflux models, for tests, benchmarks and trying the plugin without weights.

:class:`FakeLoader` plugs into :class:`~arthur_gen_mflux.MfluxBackend` at its model seam::

    loader = FakeLoader(load_s=0.5, step_s=0.02)
    backend = MfluxBackend(loader=loader)

Each :class:`FakeModel` runs mflux's loop shape: before-loop callbacks, one in-loop callback
per step (``t`` from the image-to-image start step), after-loop callbacks, then returns an
image that saves as a small PNG. It records every load and every ``generate_image`` call.
:func:`fake_weights` lays out a Hugging Face cache in which the plugin's weight check finds a
model's files (empty ones).
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import attrs

from ._catalog import MODELS, Entry, entry_for
from ._loader import LoadKey
from ._weights import hf_hub_cache

__all__ = ["FakeImage", "FakeLoader", "FakeModel", "fake_weights", "tiny_png"]


def tiny_png(width: int, height: int, rgb: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    """A solid-colour PNG, written without Pillow."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    row = b"\x00" + bytes(rgb) * width
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 1))
        + chunk(b"IEND", b"")
    )


class _Registry:
    """The duck-typed shape of mflux's CallbackRegistry."""

    def __init__(self) -> None:
        self.before_loop: list[Any] = []
        self.in_loop: list[Any] = []
        self.after_loop: list[Any] = []
        self.interrupt: list[Any] = []

    def register(self, callback: Any) -> None:
        for name in ("before_loop", "in_loop", "after_loop", "interrupt"):
            if hasattr(callback, f"call_{name}"):
                getattr(self, name).append(callback)


@attrs.define
class _Config:
    """The fields of mflux's Config that callbacks read."""

    num_inference_steps: int
    init_time_step: int
    width: int
    height: int
    guidance: float | None


@attrs.define
class FakeImage:
    """What ``generate_image`` returns: ``.save(path=..., overwrite=...)`` like GeneratedImage."""

    seed: int
    prompt: str
    width: int
    height: int
    kwargs: dict[str, Any]

    def save(self, path: str | Path, export_json_metadata: bool = False, overwrite: bool = False) -> None:
        target = Path(path)
        if target.exists() and not overwrite:
            raise FileExistsError(target)
        # a small image: the bytes are not the point, the call shape is
        target.write_bytes(tiny_png(max(1, self.width // 16), max(1, self.height // 16)))


class FakeModel:
    """One "loaded" model. ``step_s`` is slept per denoising step."""

    def __init__(self, entry: Entry, key: LoadKey, *, step_s: float = 0.0) -> None:
        self.entry = entry
        self.key = key
        self.step_s = step_s
        self.callbacks = _Registry()
        self.calls: list[dict[str, Any]] = []
        self.threads: list[int] = []  # the thread each call ran on

    def generate_image(self, **kwargs: Any) -> FakeImage:
        self.calls.append(dict(kwargs))
        self.threads.append(threading.get_ident())
        if self.entry.family.upscaler:
            return self._upscale(**kwargs)
        steps = int(kwargs["num_inference_steps"])
        strength = kwargs.get("image_strength")
        start = 0
        if kwargs.get("image_path") is not None and strength is not None and strength > 0:
            start = max(1, int(steps * min(1.0, strength)))
        config = _Config(
            num_inference_steps=steps,
            init_time_step=start,
            width=int(kwargs["width"]),
            height=int(kwargs["height"]),
            guidance=kwargs.get("guidance"),
        )
        seed, prompt = int(kwargs["seed"]), str(kwargs["prompt"])
        for cb in self.callbacks.before_loop:
            cb.call_before_loop(seed=seed, prompt=prompt, latents=None, config=config)
        time_steps = range(start, steps)
        for t in time_steps:
            if self.step_s:
                time.sleep(self.step_s)
            for cb in self.callbacks.in_loop:
                cb.call_in_loop(
                    t=t,
                    seed=seed,
                    prompt=prompt,
                    latents=None,
                    config=config,
                    time_steps=time_steps,
                )
        for cb in self.callbacks.after_loop:
            cb.call_after_loop(seed=seed, prompt=prompt, latents=None, config=config)
        return FakeImage(
            seed=seed, prompt=prompt, width=config.width, height=config.height, kwargs=dict(kwargs)
        )

    def _upscale(self, *, seed: int, image_path: str, resolution: Any, softness: float = 0.0) -> FakeImage:
        """SeedVR2's call shape: the output size computed as mflux's SeedVR2Util does, one step."""
        from PIL import Image, ImageOps

        with Image.open(image_path) as raw:
            width, height = ImageOps.exif_transpose(raw).size
        short = min(width, height)
        factor = getattr(resolution, "value", None)
        target = int(factor * short - (factor * short) % 16) if factor is not None else int(resolution)
        scale = target / short
        out_w, out_h = int(width * scale) // 2 * 2, int(height * scale) // 2 * 2
        config = _Config(num_inference_steps=1, init_time_step=0, width=out_w, height=out_h, guidance=1.0)
        for cb in self.callbacks.before_loop:
            cb.call_before_loop(seed=seed, prompt="", latents=None, config=config)
        for cb in self.callbacks.in_loop:
            cb.call_in_loop(t=0, seed=seed, prompt="", latents=None, config=config, time_steps=range(1))
        for cb in self.callbacks.after_loop:
            cb.call_after_loop(seed=seed, prompt="", latents=None, config=config)
        kwargs = {"seed": seed, "image_path": image_path, "resolution": resolution, "softness": softness}
        return FakeImage(seed=seed, prompt="", width=out_w, height=out_h, kwargs=kwargs)


class FakeLoader:
    """A loader for :class:`MfluxBackend` that builds :class:`FakeModel` objects.

    ``load_s`` is slept per load. ``loads`` lists every key loaded, ``models`` every model.
    ``fail`` (an exception) is raised by the next load instead.
    """

    def __init__(self, *, load_s: float = 0.0, step_s: float = 0.0) -> None:
        self.load_s = load_s
        self.step_s = step_s
        self.loads: list[LoadKey] = []
        self.models: list[FakeModel] = []
        self.threads: list[int] = []  # the thread each load ran on
        self.fail: BaseException | None = None
        self._lock = threading.Lock()

    def __call__(self, entry: Entry, key: LoadKey) -> FakeModel:
        if self.fail is not None:
            error, self.fail = self.fail, None
            raise error
        if self.load_s:
            time.sleep(self.load_s)
        model = FakeModel(entry, key, step_s=self.step_s)
        with self._lock:
            self.loads.append(key)
            self.models.append(model)
            self.threads.append(threading.get_ident())
        return model

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every ``generate_image`` call, across models, in order of the models' loads."""
        return [call for model in self.models for call in model.calls]


def fake_weights(model_ids: Iterable[str] | None = None, *, cache: Path | None = None) -> Path:
    """Lay out (empty) weight files for these models (default: all) in the HF cache.

    ``cache`` defaults to the cache the environment names (set ``HF_HUB_CACHE`` first).
    Returns the cache folder.
    """
    root = cache or hf_hub_cache()
    entries: list[Entry] = []
    for model_id in model_ids if model_ids is not None else [e.id for e in MODELS]:
        entry = entry_for(model_id)
        if entry is None:
            raise KeyError(model_id)
        entries.append(entry)
    for entry in entries:
        repo_dir = root / f"models--{entry.repo.replace('/', '--')}"
        snapshot = repo_dir / "snapshots" / (entry.revision or "main")
        snapshot.mkdir(parents=True, exist_ok=True)
        for name in entry.family.root_weight_files:
            (snapshot / name).write_bytes(b"")
        for sub in entry.family.weight_dirs:
            (snapshot / sub).mkdir(parents=True, exist_ok=True)
            (snapshot / sub / "model.safetensors").write_bytes(b"")
            (snapshot / sub / "config.json").write_text("{}")
        for sub in entry.family.tokenizer_dirs:
            (snapshot / sub).mkdir(parents=True, exist_ok=True)
            (snapshot / sub / "tokenizer.json").write_text("{}")
        refs = repo_dir / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / "main").write_text(entry.revision or "main")
    os.makedirs(root, exist_ok=True)
    return root
