"""The ``mflux`` image backend: FLUX, Z-Image, FLUX.2 Klein and Qwen-Image on MLX, in-process."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import platform
import re
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from arthur_gen import (
    Availability,
    ImageBackend,
    ImageRequest,
    LocalBackend,
    LocalContext,
    LocalOutput,
    MlxWorker,
    ModelInfo,
    VideoRequest,
)
from arthur_gen.errors import (
    BackendUnavailableError,
    GenerationError,
    InvalidRequestError,
    JobCanceledError,
    UnknownModelError,
)

from . import _weights
from ._catalog import (
    DEFAULT_MODEL,
    DEFAULT_STRENGTH,
    DEFAULT_UPSCALE,
    LOW_RAM_CACHE_LIMIT_GB,
    MAX_LORA_SCALE,
    MAX_REFERENCE_IMAGES,
    MAX_SIZE,
    MAX_UPSCALE,
    MAX_UPSCALE_LONG_SIDE,
    MAX_UPSCALE_SHORT_SIDE,
    MIN_SIZE,
    MIN_TILE_SIZE,
    MODELS,
    OUTPAINT_ASPECTS,
    QUANTIZE_CHOICES,
    SIZE_MULTIPLE,
    Entry,
    entry_for,
    model_info,
)
from ._loader import Loader, LoadKey, WarmCache, cache_size_from_env, clear_mlx_cache

Request = ImageRequest | VideoRequest
_URL = re.compile(r"^(https?://|data:)", re.IGNORECASE)

__all__ = ["LINUX_INSTALL", "MAC_INSTALL", "MfluxBackend", "Plan", "plan_request"]

MAC_INSTALL = "pip install 'mflux>=0.24,<0.25'"
LINUX_INSTALL = (
    "bash plugins/arthur-gen-mflux/install-linux-cpu.sh $(command -v python) "
    "(from an arthur-gen checkout; see docs/mflux.md)"
)


@functools.cache
def _installed_version(dist: str) -> str | None:
    """The installed version of ``dist``, read from its ``*.dist-info`` folder name.

    ``importlib.metadata`` would cost ~20 ms of CLI start-up; it is only the fallback.
    """
    wanted = re.sub(r"[-_.]+", "_", dist).lower()
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[: -len(".dist-info")].partition("-")
                if re.sub(r"[-_.]+", "_", project).lower() == wanted:
                    return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version(dist)
    except PackageNotFoundError:
        return None


def _bad(entry: Entry, field: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field}={value!r} is not accepted by mflux/{entry.id}: {allowed}", field=field
    )


def _round(value: float) -> int:
    rounded = round(value / SIZE_MULTIPLE) * SIZE_MULTIPLE
    return min(max(rounded, MIN_SIZE), MAX_SIZE)


def _size_for_aspect(aspect: str, area: int = 1024 * 1024) -> tuple[int, int]:
    a, b = (int(x) for x in aspect.split(":"))
    ratio = a / b
    width = math.sqrt(area * ratio)
    return _round(width), _round(width / ratio)


#: EXIF orientations that turn the stored pixels a quarter turn (mflux loads them upright).
_QUARTER_TURNS = {5, 6, 7, 8}


def _size_of_image(entry: Entry, path: str) -> tuple[int, int]:
    """The input image's upright size (after its EXIF orientation, as mflux loads it), scaled
    into the model's bounds keeping its aspect ratio where the bounds allow, rounded down to 16."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in _QUARTER_TURNS:
                width, height = height, width
    except OSError as exc:
        raise _bad(entry, "image", path, f"cannot be read as an image ({exc})") from None
    # Up to the minimum side, then down to the maximum: one factor for both sides.
    scale = max(1.0, MIN_SIZE / min(width, height))
    scale = min(scale, MAX_SIZE / max(width, height))

    def fit(side: int) -> int:
        return max(MIN_SIZE, min(MAX_SIZE, int(side * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE))

    return fit(width), fit(height)


#: Prompts whose text embeddings a warm model keeps (FLUX.1 and Qwen keep 2-4 MiB per prompt).
PROMPT_CACHE_LIMIT = 8


def bound_prompt_cache(model: Any, limit: int = PROMPT_CACHE_LIMIT) -> None:
    """Drop the oldest entries of mflux's ``model.prompt_cache`` dict (insertion ordered) so a
    warm model keeps at most ``limit - 1`` before a call adds one: memory stays flat in long
    sessions of distinct prompts, while a repeated prompt still reuses its embeddings."""
    cache = getattr(model, "prompt_cache", None)
    if not isinstance(cache, dict):
        return
    while len(cache) >= limit:
        del cache[next(iter(cache))]


@attrs.frozen(kw_only=True)
class Memory:
    """The memory options of one call (mflux's --low-ram, --mlx-cache-limit-gb, --vae-tiling)."""

    low_ram: bool = False
    cache_limit_gb: float | None = None  # None: MLX's default
    tile_size: int | None = None  # None: no tiling asked (low-RAM may still tile)

    @property
    def effective_cache_limit_gb(self) -> float | None:
        if self.cache_limit_gb is None and self.low_ram:
            return LOW_RAM_CACHE_LIMIT_GB
        return self.cache_limit_gb

    def metadata(self) -> dict[str, Any]:
        return {
            "low_ram": self.low_ram,
            "mlx_cache_limit_gb": self.effective_cache_limit_gb,
            "vae_tile_size": self.tile_size,
        }


@attrs.frozen(kw_only=True)
class Outpaint:
    """Reframe an image to another aspect ratio: the canvas, and where the original sits on it."""

    aspect: str
    source: str
    canvas: tuple[int, int]  # output width, height (multiples of 16)
    box: tuple[int, int, int, int]  # left, top, width, height of the original on the canvas

    def metadata(self) -> dict[str, Any]:
        return {"aspect": self.aspect, "canvas": list(self.canvas), "box": list(self.box)}

    def prepare(self, folder: Path) -> tuple[str, Any]:
        """Write the canvas mflux edits (the original on a blurred stretch of itself); returns
        its path and the original, resized into its box, to paste back after."""
        from PIL import Image, ImageFilter, ImageOps

        left, top, width, height = self.box
        with Image.open(self.source) as raw:
            original = (
                ImageOps.exif_transpose(raw).convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
            )
        canvas = original.resize(self.canvas, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(24))
        canvas.paste(original, (left, top))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "outpaint-canvas.png"
        canvas.save(path, format="PNG")
        return str(path), original


def _outpaint(entry: Entry, options: Mapping[str, Any], request: ImageRequest) -> Outpaint | None:
    aspect = options.get("outpaint")
    if aspect is None:
        return None
    field = "options.outpaint"
    if entry.family.edit_class_name is None:
        raise _bad(entry, field, aspect, "only FLUX.2 klein models outpaint")
    if not isinstance(aspect, str) or aspect not in OUTPAINT_ASPECTS:
        raise _bad(entry, field, aspect, "one of " + ", ".join(OUTPAINT_ASPECTS))
    if request.image is None:
        raise _bad(entry, field, aspect, "give the image to reframe (image=PATH)")
    if _URL.match(request.image):
        raise _bad(entry, "image", request.image[:60], "mflux reads a local file; download it first")
    for name in ("width", "height", "aspect_ratio", "strength"):
        if getattr(request, name) is not None:
            raise _bad(
                entry, name, getattr(request, name), "outpaint sets the size from the image and aspect"
            )
    if options.get("reference_images") is not None:
        raise _bad(entry, field, aspect, "give either outpaint or reference_images, not both")
    from PIL import Image

    try:
        with Image.open(request.image) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in _QUARTER_TURNS:
                width, height = height, width
    except OSError as exc:
        raise _bad(entry, "image", request.image, f"cannot be read as an image ({exc})") from None
    a, b = (int(x) for x in aspect.split(":"))
    ratio = a / b
    if abs(width / height - ratio) < 0.01:
        raise _bad(entry, field, aspect, f"the image is {width}x{height}, already {aspect}")
    # the smallest canvas of that aspect holding the image, then scaled into the model's bounds
    canvas_w, canvas_h = (
        (height * ratio, float(height)) if width / height < ratio else (float(width), width / ratio)
    )
    scale = min(MAX_SIZE / max(canvas_w, canvas_h), max(1.0, MIN_SIZE / min(canvas_w, canvas_h)))
    out_w = max(MIN_SIZE, int(canvas_w * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    out_h = max(MIN_SIZE, int(canvas_h * scale) // SIZE_MULTIPLE * SIZE_MULTIPLE)
    fit = min(out_w / width, out_h / height)
    box_w, box_h = min(out_w, round(width * fit)), min(out_h, round(height * fit))
    box = ((out_w - box_w) // 2, (out_h - box_h) // 2, box_w, box_h)
    return Outpaint(aspect=aspect, source=str(Path(request.image).absolute()), canvas=(out_w, out_h), box=box)


@attrs.frozen(kw_only=True)
class Upscale:
    """One SeedVR2 upscale: mflux's ``resolution`` (a factor or the shortest side) and sizes."""

    scale: float | None  # a factor of the shortest side (mflux's ScaleFactor), or
    resolution: int | None  # the shortest side in pixels
    softness: float
    source_size: tuple[int, int]  # the input's upright size
    size: tuple[int, int]  # the result's size, as mflux's SeedVR2Util works it out

    def mflux_resolution(self) -> Any:
        """The ``resolution`` argument as mflux's CLI builds it (an int, or a ScaleFactor)."""
        if self.resolution is not None:
            return self.resolution
        from mflux.utils.scale_factor import ScaleFactor

        value = self.scale or DEFAULT_UPSCALE
        return ScaleFactor(value=int(value) if float(value).is_integer() else value)

    def metadata(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "resolution": self.resolution,
            "softness": self.softness,
            "input_size": list(self.source_size),
            "size": list(self.size),
        }


def _upright_size(entry: Entry, path: str) -> tuple[int, int]:
    from PIL import Image

    try:
        with Image.open(path) as image:
            width, height = image.size
            if image.getexif().get(0x0112) in _QUARTER_TURNS:
                width, height = height, width
    except OSError as exc:
        raise _bad(entry, "image", path, f"cannot be read as an image ({exc})") from None
    return width, height


def _number(entry: Entry, options: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = options.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise _bad(entry, f"options.{name}", value, f"a number from {lo:g} to {hi:g}")
    return float(value)


def _plan_upscale(entry: Entry, request: ImageRequest) -> Plan:
    """A SeedVR2 upscale: the image, a scale or target resolution, softness; loads nothing."""
    options = request.options
    known = {"scale", "resolution", "softness", "quantize", "model_path", "download"}
    known |= {"low_ram", "mlx_cache_limit_gb", "vae_tiling", "vae_tile_size"}
    for name in options:
        if name not in known:
            raise _bad(entry, f"options.{name}", options[name], "not an option of the SeedVR2 upscaler")
    for name in ("width", "height", "aspect_ratio", "strength", "steps", "guidance", "negative_prompt"):
        if getattr(request, name) is not None:
            raise _bad(
                entry,
                name,
                getattr(request, name),
                "SeedVR2 sets the size from the image and options.scale or options.resolution",
            )
    if request.image is None:
        raise _bad(entry, "image", None, "give the image to upscale (image=PATH)")
    if _URL.match(request.image):
        raise _bad(entry, "image", request.image[:60], "mflux reads a local file; download it first")
    quantize = options.get("quantize")
    if quantize is not None and (isinstance(quantize, bool) or quantize not in QUANTIZE_CHOICES):
        choices = ", ".join(str(q) for q in QUANTIZE_CHOICES)
        raise _bad(entry, "options.quantize", quantize, f"one of {choices} (bits)")
    model_path = _model_path(entry, options.get("model_path"))
    download = options.get("download", False)
    if not isinstance(download, bool):
        raise _bad(entry, "options.download", download, "must be true or false")
    memory = _memory(entry, options)
    scale = _number(entry, options, "scale", 1.0, MAX_UPSCALE)
    softness = _number(entry, options, "softness", 0.0, 1.0) or 0.0
    resolution = options.get("resolution")
    if resolution is not None:
        if isinstance(resolution, bool) or not isinstance(resolution, int):
            raise _bad(entry, "options.resolution", resolution, "the shortest side in pixels (an integer)")
        if scale is not None:
            raise _bad(entry, "options.resolution", resolution, "give either scale or resolution, not both")
    width, height = _upright_size(entry, request.image)
    short = min(width, height)
    if resolution is not None:
        target = resolution
    else:  # mflux's ScaleFactor.get_scaled_value: the scaled side, rounded down to 16
        product = (scale or DEFAULT_UPSCALE) * short
        target = int(product - product % SIZE_MULTIPLE)
    if target < short:
        what = f"resolution={resolution}" if resolution is not None else f"scale={scale or DEFAULT_UPSCALE:g}"
        raise _bad(
            entry,
            "options.resolution" if resolution is not None else "options.scale",
            resolution if resolution is not None else scale,
            f"{what} makes the shortest side {target} px, below the image's {short} px: SeedVR2 upscales",
        )
    factor = target / short
    size = (int(width * factor) // 2 * 2, int(height * factor) // 2 * 2)
    if min(size) > MAX_UPSCALE_SHORT_SIDE or max(size) > MAX_UPSCALE_LONG_SIDE:
        raise _bad(
            entry,
            "options.resolution" if resolution is not None else "options.scale",
            resolution if resolution is not None else scale,
            f"the result would be {size[0]}x{size[1]}; at most {MAX_UPSCALE_SHORT_SIDE} px on the "
            f"short side and {MAX_UPSCALE_LONG_SIDE} on the long side",
        )
    upscale = Upscale(
        scale=None if resolution is not None else (scale or DEFAULT_UPSCALE),
        resolution=resolution,
        softness=softness,
        source_size=(width, height),
        size=size,
    )
    kwargs: dict[str, Any] = {
        "seed": request.seed,
        "image_path": request.image,
        "resolution": resolution if resolution is not None else f"{upscale.scale:g}x",
        "softness": softness,
    }
    key = LoadKey(model=entry.id, quantize=quantize, model_path=model_path)
    return Plan(
        entry=entry,
        key=key,
        generate_kwargs=kwargs,
        strength=None,
        download=download,
        memory=memory,
        upscale=upscale,
    )


@attrs.frozen(kw_only=True)
class Plan:
    """What one request becomes: the weights to load and the ``generate_image`` arguments."""

    entry: Entry
    key: LoadKey
    generate_kwargs: Mapping[str, Any]
    strength: float | None
    download: bool
    memory: Memory = Memory()
    outpaint: Outpaint | None = None
    upscale: Upscale | None = None

    @property
    def class_path(self) -> str:
        """The mflux class that runs this plan (the edit class for reference images)."""
        edit = self.entry.family.edit_class_path
        return edit if self.key.variant == "edit" and edit else self.entry.family.class_path

    @property
    def weights_repo(self) -> str | None:
        """The Hugging Face repo the weights come from; None for a local folder."""
        path = self.key.model_path
        if path is None:
            return self.entry.repo
        return path if _weights.is_hf_repo_id(path) and not Path(path).exists() else None

    @property
    def weights_revision(self) -> str | None:
        return self.entry.revision if self.key.model_path is None else None

    def metadata(self) -> dict[str, Any]:
        """JSON-ready parameters to re-create the image (mflux's own names where they exist)."""
        kw = self.generate_kwargs
        return {
            "mflux_version": _installed_version("mflux"),
            "mlx_version": _installed_version("mlx"),
            "mflux_class": self.class_path,
            "mflux_config": self.entry.config_key,
            "repo": self.weights_repo,
            "revision": self.weights_revision,
            "model_path": self.key.model_path,
            "quantize": self.key.quantize,
            "lora_paths": list(self.key.lora_paths),
            "lora_scales": list(self.key.lora_scales),
            "scheduler": kw.get("scheduler"),
            "seed": kw.get("seed"),
            "steps": kw.get("num_inference_steps"),
            "guidance": kw.get("guidance"),
            "width": kw.get("width"),
            "height": kw.get("height"),
            "negative_prompt": kw.get("negative_prompt"),
            "image_path": kw.get("image_path"),
            "image_strength": kw.get("image_strength"),
            "strength": self.strength,
            "reference_images": list(kw.get("image_paths") or []),
            "mask_path": kw.get("masked_image_path"),
            "outpaint": self.outpaint.metadata() if self.outpaint else None,
            **self.memory.metadata(),
            **self._upscale_metadata(),
        }

    def _upscale_metadata(self) -> dict[str, Any]:
        if self.upscale is None:
            return {}
        width, height = self.upscale.size
        return {
            "upscale": self.upscale.metadata(),
            "width": width,
            "height": height,
            "steps": 1,
            "lora_paths": [],
            "lora_scales": [],
        }


def _model_path(entry: Entry, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(entry, "options.model_path", value, "must be a folder or an org/name repo id")
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise _bad(entry, "options.model_path", value, "must be a folder of weights, not a file")
        return str(path.absolute())
    if _weights.is_hf_repo_id(value):
        return value
    raise _bad(
        entry,
        "options.model_path",
        value,
        "no such folder (and not a Hugging Face repo id like 'org/name')",
    )


def _loras(entry: Entry, options: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    paths = options.get("lora_paths")
    scales = options.get("lora_scales")
    if paths is None:
        if scales:
            raise _bad(entry, "options.lora_scales", scales, "give lora_paths with it")
        return (), ()
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list | tuple) or not all(isinstance(p, str) for p in paths):
        raise _bad(entry, "options.lora_paths", paths, "must be a list of file paths")
    resolved: list[str] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file():
            raise _bad(
                entry,
                "options.lora_paths",
                raw,
                "no such file; give a local .safetensors LoRA (download one from Hugging "
                "Face with `hf download ORG/NAME FILE.safetensors --local-dir DIR`)",
            )
        if path.suffix != ".safetensors":
            raise _bad(entry, "options.lora_paths", raw, "must be a .safetensors file")
        resolved.append(str(path.absolute()))
    if scales is None:
        scales = [1.0] * len(resolved)
    if not isinstance(scales, list | tuple) or not all(
        isinstance(s, int | float) and not isinstance(s, bool) for s in scales
    ):
        raise _bad(entry, "options.lora_scales", scales, "must be a list of numbers")
    if len(scales) != len(resolved):
        raise _bad(
            entry,
            "options.lora_scales",
            list(scales),
            f"give one scale per LoRA file ({len(resolved)} file(s), {len(scales)} scale(s))",
        )
    for scale in scales:
        if not math.isfinite(scale) or abs(scale) > MAX_LORA_SCALE:
            raise _bad(
                entry,
                "options.lora_scales",
                list(scales),
                f"each scale must be from -{MAX_LORA_SCALE:g} to {MAX_LORA_SCALE:g}",
            )
    return tuple(resolved), tuple(float(s) for s in scales)


def _reference_images(entry: Entry, options: Mapping[str, Any], request: ImageRequest) -> list[str]:
    refs = options.get("reference_images")
    if refs is None:
        return []
    field = "options.reference_images"
    if entry.family.edit_class_name is None:
        raise _bad(entry, field, refs, "only FLUX.2 klein models edit with reference images")
    if isinstance(refs, str):
        refs = [refs]
    if not isinstance(refs, list | tuple) or not all(isinstance(r, str) for r in refs):
        raise _bad(entry, field, refs, "must be a list of image file paths")
    if not 1 <= len(refs) <= MAX_REFERENCE_IMAGES:
        raise _bad(entry, field, list(refs), f"give 1 to {MAX_REFERENCE_IMAGES} images")
    if request.image is not None:
        raise _bad(
            entry,
            "image",
            request.image,
            "give either image (image-to-image) or options.reference_images (edit), not both; "
            "put the image to edit first in reference_images",
        )
    if request.strength is not None:
        raise _bad(entry, "strength", request.strength, "an edit with reference_images takes no strength")
    resolved = []
    for raw in refs:
        if _URL.match(raw):
            raise _bad(entry, field, raw[:60], "mflux reads local files; download the image first")
        path = Path(raw).expanduser()
        if not path.is_file():
            raise _bad(entry, field, raw, "no such file")
        _size_of_image(entry, str(path))  # decodes: a broken file fails here, not after loading
        resolved.append(str(path.absolute()))
    return resolved


def _mask(entry: Entry, options: Mapping[str, Any], request: ImageRequest) -> str | None:
    """The FLUX.1 Fill mask: a local image of the input's shape with something white to paint."""
    mask = options.get("mask")
    field = "options.mask"
    if not entry.family.fill:
        if mask is not None:
            raise _bad(entry, field, mask, "only the FLUX.1 Fill model (dev-fill) takes a mask")
        return None
    if request.image is None:
        raise _bad(entry, "image", None, "give the image to fill (image=PATH) and options.mask")
    if _URL.match(request.image):
        raise _bad(entry, "image", request.image[:60], "mflux reads a local file; download it first")
    if mask is None:
        raise _bad(entry, field, None, "give the mask (white: paint, black: keep) as options.mask=PATH")
    if not isinstance(mask, str) or _URL.match(mask):
        raise _bad(entry, field, str(mask)[:60], "a local image file; download it first")
    if request.strength is not None:
        raise _bad(entry, "strength", request.strength, "the fill paints the mask; it takes no strength")
    path = Path(mask).expanduser()
    if not path.is_file():
        raise _bad(entry, field, mask, "no such file")
    from PIL import Image

    image_w, image_h = _upright_size(entry, request.image)  # before any rounding to 16
    try:
        with Image.open(path) as raw:
            from PIL import ImageOps

            upright = ImageOps.exif_transpose(raw)
            mask_w, mask_h = upright.size
            brightest = upright.convert("L").getextrema()[1]
    except OSError as exc:
        raise _bad(entry, field, mask, f"cannot be read as an image ({exc})") from None
    if abs(mask_w / mask_h - image_w / image_h) > 0.01:
        raise _bad(entry, field, mask, f"the mask is {mask_w}x{mask_h}; it must have the image's shape")
    if not isinstance(brightest, int) or brightest < 128:  # mflux binarizes at one half
        raise _bad(entry, field, mask, "the mask is all black: nothing to fill (white marks the area)")
    return str(path.absolute())


def _memory(entry: Entry, options: Mapping[str, Any]) -> Memory:
    low_ram = options.get("low_ram", False)
    if not isinstance(low_ram, bool):
        raise _bad(entry, "options.low_ram", low_ram, "must be true or false")
    limit = options.get("mlx_cache_limit_gb")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or not 0 < limit < math.inf
    ):
        raise _bad(entry, "options.mlx_cache_limit_gb", limit, "a number of GB above 0")
    tiling = options.get("vae_tiling", False)
    if not isinstance(tiling, bool):
        raise _bad(entry, "options.vae_tiling", tiling, "must be true or false")
    size = options.get("vae_tile_size")
    if size is not None:
        if (
            isinstance(size, bool)
            or not isinstance(size, int)
            or size < MIN_TILE_SIZE
            or size % SIZE_MULTIPLE
        ):
            raise _bad(
                entry,
                "options.vae_tile_size",
                size,
                f"at least {MIN_TILE_SIZE} and a multiple of {SIZE_MULTIPLE}",
            )
        if options.get("vae_tiling") is False:
            raise _bad(entry, "options.vae_tile_size", size, "implies vae_tiling; drop vae_tiling=false")
    tile = size if size is not None else (512 if tiling else None)
    return Memory(low_ram=low_ram, cache_limit_gb=None if limit is None else float(limit), tile_size=tile)


def _stamps(paths: Sequence[str]) -> tuple[tuple[int, int], ...]:
    stamps = []
    for path in paths:
        try:
            st = Path(path).stat()
        except OSError:
            stamps.append((-1, -1))
        else:
            stamps.append((st.st_size, st.st_mtime_ns))
    return tuple(stamps)


def plan_request(entry: Entry, request: ImageRequest) -> Plan:
    """Check ``request`` against ``entry`` and work out the mflux calls. Loads nothing.

    Raises :class:`InvalidRequestError` for what the model cannot do; the declared limits in
    :func:`model_info` are checked by the core, these are the ones a declaration cannot say.
    """
    if entry.family.upscaler:
        return _plan_upscale(entry, request)
    options = request.options
    quantize = options.get("quantize")
    if quantize is not None and (isinstance(quantize, bool) or quantize not in QUANTIZE_CHOICES):
        choices = ", ".join(str(q) for q in QUANTIZE_CHOICES)
        raise _bad(entry, "options.quantize", quantize, f"one of {choices} (bits)")
    model_path = _model_path(entry, options.get("model_path"))
    lora_paths, lora_scales = _loras(entry, options)
    download = options.get("download", False)
    if not isinstance(download, bool):
        raise _bad(entry, "options.download", download, "must be true or false")
    outpaint = _outpaint(entry, options, request)
    references = _reference_images(entry, options, request)
    mask = _mask(entry, options, request)
    memory = _memory(entry, options)

    if request.image is not None and _URL.match(request.image):
        raise _bad(
            entry,
            "image",
            request.image[:60],
            "mflux reads a local file; download the image and pass its path",
        )

    if outpaint is not None:
        width, height = outpaint.canvas
    elif request.width is not None and request.height is not None:
        width, height = request.width, request.height
    elif request.aspect_ratio is not None:
        width, height = _size_for_aspect(request.aspect_ratio)
    elif request.image is not None:
        width, height = _size_of_image(entry, request.image)
    elif references:
        width, height = _size_of_image(entry, references[0])
    else:
        width, height = 1024, 1024

    steps = request.steps if request.steps is not None else entry.default_steps
    if steps > entry.max_steps:
        raise _bad(entry, "steps", steps, f"at most {entry.max_steps}")

    if request.guidance is not None and not entry.supports_guidance:
        raise _bad(entry, "guidance", request.guidance, "this model takes no guidance")
    guidance = request.guidance if request.guidance is not None else entry.default_guidance

    negative = request.negative_prompt
    if negative is not None:
        if not entry.negative_prompt:
            raise _bad(entry, "negative_prompt", negative[:40], "this model has no negative prompt")
        if guidance is None or guidance <= 1.0:
            raise _bad(
                entry,
                "negative_prompt",
                negative[:40],
                f"only used with guidance above 1 (guidance is {guidance})",
            )

    strength: float | None = None
    image_strength: float | None = None
    if request.strength is not None and request.image is None:
        raise _bad(entry, "strength", request.strength, "needs an input image (image=PATH)")
    if request.image is not None and outpaint is None and mask is None:
        strength = request.strength if request.strength is not None else DEFAULT_STRENGTH
        # arthur-gen's strength is how much to change the image (1.0 ignores it); mflux's
        # image_strength is how much of it to keep: the share of steps skipped.
        image_strength = round(1.0 - strength, 6)
        if image_strength > 0:
            skipped = max(1, int(steps * image_strength))
            if skipped >= steps:
                raise _bad(
                    entry,
                    "strength",
                    strength,
                    f"with {steps} steps no denoising step would run; raise strength or steps",
                )

    kwargs: dict[str, Any] = {
        "seed": request.seed,
        "prompt": request.prompt,
        "num_inference_steps": steps,
        "width": width,
        "height": height,
        "scheduler": entry.scheduler,
    }
    if entry.supports_guidance:
        kwargs["guidance"] = guidance
    if mask is not None:  # as mflux-generate-fill: the image and the mask, no image_strength
        kwargs["image_path"] = request.image
        kwargs["masked_image_path"] = mask
    elif request.image is not None and outpaint is None:
        kwargs["image_path"] = request.image
        kwargs["image_strength"] = image_strength
    if negative is not None:
        kwargs["negative_prompt"] = negative
    if references:
        kwargs["image_paths"] = references

    key = LoadKey(
        model=entry.id,
        quantize=quantize,
        model_path=model_path,
        lora_paths=lora_paths,
        lora_scales=lora_scales,
        lora_stamps=_stamps(lora_paths),
        variant="edit" if references or outpaint else "",
    )
    return Plan(
        entry=entry,
        key=key,
        generate_kwargs=kwargs,
        strength=strength,
        download=download,
        memory=memory,
        outpaint=outpaint,
    )


def _constructor(plan: Plan) -> dict[str, Any]:
    kwargs = plan.key.constructor_kwargs()
    if plan.entry.family.upscaler:  # SeedVR2 takes no LoRA (as _loader.load_mflux_model)
        return {"quantize": kwargs["quantize"], "model_path": kwargs["model_path"]}
    return kwargs


@contextlib.contextmanager
def _memory_settings(model: Any, memory: Memory) -> Iterator[None]:
    """Apply one call's memory options to MLX and the (warm) model; restore them after."""
    limit_gb = memory.effective_cache_limit_gb
    mx = sys.modules.get("mlx.core") if limit_gb is not None else None
    previous_limit = None
    if mx is not None and limit_gb is not None:
        previous_limit = mx.set_cache_limit(int(limit_gb * 1000**3))  # returns the old limit
        mx.clear_cache()
    previous_tiling = getattr(model, "tiling_config", None)
    tiling = previous_tiling
    if memory.tile_size is not None or memory.low_ram:
        from mflux.models.common.vae.tiling_config import TilingConfig

        if memory.tile_size is not None:
            tiling = TilingConfig(
                vae_decode_tile_size=memory.tile_size, vae_encode_tile_size=memory.tile_size
            )
        elif previous_tiling is None and TilingConfig.may_tile_implicitly(model):
            tiling = TilingConfig()  # what mflux's MemorySaver installs in low-RAM mode
        model.tiling_config = tiling
    try:
        yield
    finally:
        if tiling is not previous_tiling:
            model.tiling_config = previous_tiling
        if mx is not None and previous_limit is not None:
            mx.set_cache_limit(previous_limit)


@contextlib.contextmanager
def _empty_cumsum_guard(entry: Entry) -> Iterator[None]:
    """mflux's SeedVR2 takes ``mx.cumsum`` of an empty array for every single image (its window
    partition and text concat), which kills the process with SIGFPE on MLX 0.32's Linux CPU
    backend. For a SeedVR2 call there, an empty input is returned as it is (its cumsum is
    itself); every other input goes to MLX unchanged. ``test_mflux_upscale.py`` re-checks the
    crash in a child process."""
    mx: Any = sys.modules.get("mlx.core")
    if not entry.family.upscaler or sys.platform != "linux" or mx is None:
        yield
        return
    original = mx.cumsum

    def cumsum(a: Any, *args: Any, **kwargs: Any) -> Any:
        return a if getattr(a, "size", 1) == 0 else original(a, *args, **kwargs)

    mx.cumsum = cumsum
    try:
        yield
    finally:
        mx.cumsum = original


class MfluxBackend(LocalBackend, ImageBackend):
    """Images from mflux (MLX) in this process, with warm models, progress and cancel.

    ``loader`` is the seam for tests: a callable ``loader(entry, key) -> model``
    (default: :func:`~arthur_gen_mflux._loader.load_mflux_model`). ``cache_size`` is how many
    loaded models to keep (default: ``ARTHUR_GEN_MFLUX_CACHE_SIZE``, else 1).
    """

    id: ClassVar[str] = "mflux"
    display_name: ClassVar[str] = "mflux (MLX, local)"
    max_concurrency: ClassVar[int] = 1

    def __init__(self, *, loader: Loader | None = None, cache_size: int | None = None) -> None:
        from ._loader import load_mflux_model

        self._loader: Loader = loader or load_mflux_model
        self._cache = WarmCache(cache_size if cache_size is not None else cache_size_from_env)
        self._worker = MlxWorker(name="mflux", use_mlx_stream=loader is None)
        self._infos = tuple(model_info(entry) for entry in MODELS)
        self._available: Availability | None = None

    # -- catalog -------------------------------------------------------------------------

    @property
    def default_model(self) -> str:
        return DEFAULT_MODEL

    def models(self) -> Sequence[ModelInfo]:
        return self._infos

    def _entry(self, model: ModelInfo) -> Entry:
        entry = entry_for(model.id)
        if entry is None:
            known = ", ".join(e.id for e in MODELS)
            raise UnknownModelError(f"mflux has no model {model.id!r}; its models: {known}")
        return entry

    # -- can it run here -----------------------------------------------------------------

    def availability(self) -> Availability:
        # called before every job: a positive answer is kept (packages do not vanish mid-run)
        if self._available is not None:
            return self._available
        availability = self._check_availability()
        if availability.ok:
            self._available = availability
        return availability

    def _check_availability(self) -> Availability:
        system, machine = sys.platform, platform.machine().lower()
        if system == "darwin" and machine not in ("arm64", "aarch64"):
            return Availability.no(
                "MLX needs an Apple Silicon Mac (this Mac has an Intel CPU)",
                "use another backend, e.g. replicate",
            )
        if system not in ("darwin", "linux"):
            return Availability.no(f"MLX does not run on {system}", "use another backend")
        fix = MAC_INSTALL if system == "darwin" else LINUX_INSTALL
        missing = [m for m in ("mlx", "mflux") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(f"{' and '.join(missing)} not installed", fix)
        version = _installed_version("mflux") or "?"
        if not version.startswith("0.24."):
            return Availability.no(f"mflux {version} is installed; this plugin needs 0.24.x", fix)
        if system == "linux":
            note = "runs on MLX's CPU backend here: works, but minutes per image"
            if _installed_version("mlx-cpu") is None:
                note = "MLX without its CPU backend (mlx-cpu) may fail to import: " + LINUX_INSTALL
            return Availability(True, note)
        return Availability.yes()

    def model_availability(self, model: ModelInfo) -> Availability:
        entry = self._entry(model)
        if any(key.model == entry.id for key in self._cache.loaded()):
            return Availability.yes()  # loaded: runs whatever is on disk
        if _weights.snapshot_dir(entry.repo, entry.revision, entry.family) is not None:
            return Availability.yes()
        if _weights.download_allowed(None) and not _weights.offline():
            return Availability(
                True,
                f"weights of {entry.repo} not cached; mflux will download about "
                f"{entry.download_gb:g} GB on first use (ARTHUR_GEN_MFLUX_DOWNLOAD is set)",
            )
        gated = " (gated: accept the license on Hugging Face and `hf auth login`)"
        return Availability.no(
            f"weights of {entry.repo} not in the Hugging Face cache "
            f"({_weights.hf_hub_cache()}); about {entry.download_gb:g} GB to download"
            + (gated if entry.gated else ""),
            _weights.download_command(entry.repo, entry.revision, entry.family),
        )

    def model_version(self, model: ModelInfo) -> str:
        entry = self._entry(model)
        return f"mflux=={_installed_version('mflux')};{entry.repo}@{entry.revision}"

    # -- requests ------------------------------------------------------------------------

    def cache_identity(self, request: Request, model: ModelInfo) -> str | None:
        """A stamp of the local model folder and LoRA files the request uses (cache key part)."""
        plan = self._plan(request, model)
        references = plan.generate_kwargs.get("image_paths") or []
        mask = plan.generate_kwargs.get("masked_image_path")
        files = (plan.key.model_path, *plan.key.lora_paths, *references, mask)
        local = [p for p in files if p and Path(p).exists()]
        return _weights.files_stamp(local) if local else None

    def _plan(self, request: Request, model: ModelInfo) -> Plan:
        if not isinstance(request, ImageRequest):
            raise InvalidRequestError("mflux makes images, not videos", field="model")
        return plan_request(self._entry(model), request)

    def validate(self, request: Request, model: ModelInfo) -> None:
        self._plan(request, model)

    def describe_request(self, request: Request, model: ModelInfo) -> Mapping[str, Any]:
        plan = self._plan(request, model)
        return {
            "mflux_class": plan.class_path,
            "memory": plan.memory.metadata(),
            "model_config": f"ModelConfig.{plan.entry.config_factory}()",
            "constructor": _constructor(plan),
            "generate_image": dict(plan.generate_kwargs),
            "warm": self._cache.peek(plan.key) is not None,
            "weights": self._weights_state(plan),
        }

    def _weights_state(self, plan: Plan) -> str:
        repo = plan.weights_repo
        if repo is None:
            return f"local folder {plan.key.model_path}"
        cached = _weights.snapshot_dir(repo, plan.weights_revision, plan.entry.family)
        return f"cached at {cached}" if cached else f"not cached: {repo}"

    def _weights_error(self, plan: Plan) -> BackendUnavailableError | None:
        """Why mflux would reach for the network for this plan, or None if it will not."""
        if self._cache.peek(plan.key) is not None:  # warm: nothing to load
            return None
        repo = plan.weights_repo
        if repo is None:  # a local folder
            return None
        if _weights.download_allowed(plan.download) and not _weights.offline():
            return None
        if _weights.snapshot_dir(repo, plan.weights_revision, plan.entry.family) is not None:
            return None
        gb = plan.entry.download_gb if repo == plan.entry.repo else None
        return _weights.missing_weights_error(plan.entry, repo, plan.weights_revision, gb=gb)

    def request_availability(self, request: Request, model: ModelInfo) -> Availability:
        """Like :meth:`model_availability`, for this request: a ``model_path``, the
        ``download`` option or a warm model change the answer."""
        error = self._weights_error(self._plan(request, model))
        return Availability.yes() if error is None else Availability.no(str(error))

    # -- running -------------------------------------------------------------------------

    def _load(self, plan: Plan) -> Any:
        try:
            return self._loader(plan.entry, plan.key)
        except (JobCanceledError, KeyboardInterrupt):
            raise
        except ImportError as exc:
            fix = MAC_INSTALL if sys.platform == "darwin" else LINUX_INSTALL
            raise BackendUnavailableError(
                f"mflux cannot be imported here ({exc}); install it: {fix}"
            ) from exc
        except ConnectionError as exc:  # huggingface_hub's offline/network errors
            raise BackendUnavailableError(
                f"mflux could not fetch the weights of {plan.weights_repo} ({exc}); "
                f"download them first: "
                f"`{_weights.download_command(plan.weights_repo or '', None, plan.entry.family)}`"
            ) from exc
        except Exception as exc:
            raise GenerationError(
                f"mflux could not load {plan.entry.id} "
                f"(quantize={plan.key.quantize}, model_path={plan.key.model_path}, "
                f"loras={list(plan.key.lora_paths)}): {type(exc).__name__}: {exc}"
            ) from exc

    def generate(self, request: Request, model: ModelInfo, ctx: LocalContext) -> Sequence[LocalOutput]:
        plan = self._plan(request, model)
        if plan.generate_kwargs["seed"] is None:
            raise InvalidRequestError("mflux needs a seed (the core sets one)", field="seed")
        ctx.check_cancelled()
        error = self._weights_error(plan)
        if error is not None:
            raise error
        path, loaded, generate_s, bits = self._worker.run(
            lambda: self._run_on_worker(plan, ctx), cancel=ctx.cancel_event
        )
        metadata = plan.metadata()
        # What mflux actually used: a pre-quantized folder keeps its own bits, whatever was asked.
        metadata["quantize"] = bits
        metadata["warm"] = not loaded
        metadata["generate_s"] = round(generate_s, 3)
        return [
            LocalOutput(
                path=path,
                seed=plan.generate_kwargs["seed"],
                media_type="image/png",
                metadata=metadata,
            )
        ]

    def _run_on_worker(self, plan: Plan, ctx: LocalContext) -> tuple[Path, bool, float, int | None]:
        """Load (or reuse) the model, generate, save. Runs on the MLX worker thread."""
        slot, loaded = self._cache.get(plan.key, lambda: self._load(plan))
        ctx.check_cancelled()
        started = time.perf_counter()
        try:
            with slot.lock:
                slot.bridge.attach(ctx)
                try:
                    bound_prompt_cache(slot.model)
                    kwargs = dict(plan.generate_kwargs)
                    if plan.outpaint is not None:  # mflux edits the canvas; the original goes back on top
                        canvas, original = plan.outpaint.prepare(ctx.workdir)
                        kwargs["image_paths"] = [canvas]
                    if plan.upscale is not None:  # an int, or a ScaleFactor as mflux's CLI parses "2x"
                        kwargs["resolution"] = plan.upscale.mflux_resolution()
                    with _memory_settings(slot.model, plan.memory), _empty_cumsum_guard(plan.entry):
                        result = slot.model.generate_image(**kwargs)
                    if plan.outpaint is not None:
                        result.image = result.image.convert("RGB")
                        result.image.paste(original, plan.outpaint.box[:2])
                    bits = getattr(slot.model, "bits", plan.key.quantize)
                finally:
                    slot.bridge.attach(None)
                    slot.uses += 1
        except (JobCanceledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if type(exc).__name__ == "StopImageGenerationException":
                raise JobCanceledError(f"job {ctx.job_id} was stopped: {exc}") from exc
            raise GenerationError(
                f"mflux failed to generate with {plan.entry.id}: {type(exc).__name__}: {exc}"
            ) from exc
        finally:
            if plan.memory.low_ram:  # low-RAM: the model is not kept warm
                self._cache.drop(plan.key)
            if self._cache.peek(plan.key) is None:  # cache size 0 or low-RAM: free it now
                del slot
                clear_mlx_cache()
        generate_s = time.perf_counter() - started
        bits = bits if isinstance(bits, int) and not isinstance(bits, bool) else plan.key.quantize
        return self._save(result, plan, ctx), loaded, generate_s, bits

    def _save(self, result: Any, plan: Plan, ctx: LocalContext) -> Path:
        ctx.phase("saving")
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        path = ctx.workdir / f"mflux-{plan.entry.id}-{plan.generate_kwargs['seed']}.png"
        try:
            # mflux's own save embeds its metadata too (readable by `mflux-info`)
            result.save(path=str(path), overwrite=True)
        except Exception as exc:
            image = getattr(result, "image", None)
            if image is None:
                raise GenerationError(f"mflux could not save the image: {exc}") from exc
            image.save(path, format="PNG")
        if not path.is_file():
            raise GenerationError(f"mflux reported success but wrote no image at {path}")
        return path

    # -- memory --------------------------------------------------------------------------

    def warm_models(self) -> list[LoadKey]:
        """The loaded models, least recently used first."""
        return self._cache.loaded()

    def release(self) -> None:
        """Drop every warm model, return MLX's cached memory and end the worker thread cleanly."""
        self._worker.run(self._cache.clear)
        self._worker.close()
