"""The emulated models: a small data table, input validation and output planning."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MIME_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}
_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
# flux-1.1-pro's published schema: no 21:9 or 9:21
_PRO_ASPECTS = ("custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3")
_KONTEXT_ASPECTS = ("match_input_image", *_ASPECTS, "2:1", "1:2")
_RATIO = re.compile(r"^(\d+):(\d+)$")
_IMAGE_FORMATS = ("webp", "png", "jpg")
_IMAGE_SIDE = 512
_VIDEO_SIDE = 320
_MAX_SECONDS = 60
_FLUX_CHOICES: Mapping[str, tuple[object, ...]] = {
    "aspect_ratio": _ASPECTS,
    "output_format": _IMAGE_FORMATS,
    "megapixels": ("1", "0.25"),
}


@dataclass(frozen=True)
class ModelSpec:
    """How one emulated model validates its input and what it outputs."""

    kind: Literal["image", "video"]
    required: tuple[str, ...] = ()
    uri_inputs: tuple[str, ...] = ()
    choices: Mapping[str, tuple[object, ...]] = field(default_factory=dict)
    ranges: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    defaults: Mapping[str, object] = field(default_factory=dict)
    array_output: bool = False
    fps: int = 25
    #: a field that may be given only together with another (``{"last_frame_image": "image"}``)
    needs: Mapping[str, str] = field(default_factory=dict)
    #: fields holding a list of URIs, with the most items allowed
    uri_lists: Mapping[str, int] = field(default_factory=dict)
    #: official models run through ``POST /v1/models/{owner}/{name}/predictions``
    official: bool = True


def _minimax(**choices: tuple[object, ...]) -> ModelSpec:
    return ModelSpec(
        "video",
        required=("prompt",),
        uri_inputs=("first_frame_image", "last_frame_image", "subject_reference"),
        choices=choices,
        defaults={"duration": 6},
    )


def _flux(steps: int, *, array: bool, uris: tuple[str, ...]) -> ModelSpec:
    return ModelSpec(
        "image",
        required=("prompt",),
        uri_inputs=uris,
        choices=_FLUX_CHOICES,
        ranges={
            "num_outputs": (1, 4),
            "num_inference_steps": (1, steps),
            "output_quality": (0, 100),
        },
        defaults={"aspect_ratio": "1:1", "output_format": "webp", "num_outputs": 1},
        array_output=array,
    )


def _video(
    required: tuple[str, ...] = ("prompt",),
    uris: tuple[str, ...] = (),
    *,
    fps: int = 24,
    **more: Any,
) -> ModelSpec:
    return ModelSpec("video", required=required, uri_inputs=uris, fps=fps, **more)


MODELS: Mapping[str, ModelSpec] = {
    "minimax/video-01": _minimax(),
    "minimax/video-01-live": ModelSpec(
        "video",
        required=("prompt", "first_frame_image"),
        uri_inputs=("first_frame_image",),
        defaults={"duration": 6},
    ),
    "minimax/hailuo-2.3": _minimax(duration=(6, 10), resolution=("768p", "1080p")),
    "kwaivgi/kling-v2.5-turbo-pro": _video(
        uris=("start_image", "end_image", "image"),
        choices={"aspect_ratio": ("16:9", "9:16", "1:1"), "duration": (5, 10)},
        defaults={"duration": 5, "aspect_ratio": "16:9"},
        needs={"end_image": "start_image"},
    ),
    "bytedance/seedance-1-lite": _video(
        uris=("image", "last_frame_image"),
        choices={
            "resolution": ("480p", "720p", "1080p"),
            "aspect_ratio": ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
            "fps": (24,),
        },
        ranges={"duration": (2, 12)},
        defaults={"duration": 5, "aspect_ratio": "16:9"},
        needs={"last_frame_image": "image"},
        uri_lists={"reference_images": 4},
    ),
    "bytedance/seedance-1-pro": _video(
        uris=("image", "last_frame_image"),
        choices={
            "resolution": ("480p", "720p", "1080p"),
            "aspect_ratio": ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
            "fps": (24,),
        },
        ranges={"duration": (2, 12)},
        defaults={"duration": 5, "aspect_ratio": "16:9"},
        needs={"last_frame_image": "image"},
    ),
    "google/veo-3.1": _video(
        uris=("image", "last_frame"),
        choices={
            "aspect_ratio": ("16:9", "9:16"),
            "duration": (4, 6, 8),
            "resolution": ("720p", "1080p"),
        },
        defaults={"duration": 8, "aspect_ratio": "16:9"},
        uri_lists={"reference_images": 3},
    ),
    "wan-video/wan-2.5-i2v": _video(
        ("prompt", "image"),
        ("image", "audio"),
        choices={"duration": (5, 10), "resolution": ("480p", "720p", "1080p")},
        defaults={"duration": 5},
    ),
    "pixverse/pixverse-v5": _video(
        uris=("image", "last_frame_image"),
        choices={
            "quality": ("360p", "540p", "720p", "1080p"),
            "aspect_ratio": ("16:9", "9:16", "1:1"),
            "duration": (5, 8),
        },
        defaults={"duration": 5, "aspect_ratio": "16:9"},
        needs={"last_frame_image": "image"},
    ),
    # an official model that arthur-gen's catalog does not list (run by id, price unknown)
    "google/nano-banana": ModelSpec(
        "image",
        required=("prompt",),
        choices={"output_format": ("jpg", "png")},
        defaults={"output_format": "jpg"},
        uri_lists={"image_input": 10},
    ),
    "bytedance/seedream-4": ModelSpec(
        "image",
        required=("prompt",),
        choices={
            "size": ("1K", "2K", "4K", "custom"),
            "aspect_ratio": ("match_input_image", "1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9"),
            "sequential_image_generation": ("disabled", "auto"),
        },
        ranges={"max_images": (1, 15), "width": (1024, 4096), "height": (1024, 4096)},
        defaults={"output_format": "jpg", "max_images": 1},
        uri_lists={"image_input": 10},
        array_output=True,
    ),
    "black-forest-labs/flux-kontext-pro": ModelSpec(
        "image",
        required=("prompt",),
        uri_inputs=("input_image",),
        choices={"aspect_ratio": _KONTEXT_ASPECTS, "output_format": ("jpg", "png")},
        ranges={"safety_tolerance": (0, 6)},
        defaults={"output_format": "png"},
    ),
    "minimax/hailuo-02": _minimax(duration=(6, 10), resolution=("512p", "768p", "1080p")),
    "kwaivgi/kling-v2.1": ModelSpec(
        "video",
        required=("prompt", "start_image"),
        uri_inputs=("start_image", "end_image"),
        choices={"mode": ("standard", "pro"), "duration": (5, 10)},
        defaults={"duration": 5},
        fps=24,
    ),
    "wan-video/wan-2.2-i2v-a14b": ModelSpec(
        "video",
        required=("prompt", "image"),
        uri_inputs=("image",),
        choices={"resolution": ("480p", "720p")},
        ranges={"num_frames": (81, 100), "frames_per_second": (5, 24), "sample_steps": (1, 50)},
        defaults={"num_frames": 81, "frames_per_second": 16},
    ),
    "black-forest-labs/flux-schnell": _flux(4, array=True, uris=()),
    "black-forest-labs/flux-dev": _flux(50, array=True, uris=("image",)),
    "black-forest-labs/flux-1.1-pro": ModelSpec(
        "image",
        required=("prompt",),
        uri_inputs=("image_prompt",),
        choices={**_FLUX_CHOICES, "aspect_ratio": _PRO_ASPECTS},
        ranges={
            "width": (256, 1440),
            "height": (256, 1440),
            "safety_tolerance": (1, 6),
            "output_quality": (0, 100),
        },
        defaults={"aspect_ratio": "1:1", "output_format": "webp"},
    ),
}
GENERIC = ModelSpec("image", defaults={"output_format": "png"}, official=False)


def spec_for(model: str) -> ModelSpec:
    """The spec of `model`; any unknown model is a community model (not official) that makes
    one PNG."""
    return MODELS.get(model, GENERIC)


def version_id(model: str) -> str:
    """The emulated latest version of `model`: 64 hex digits, the same on every run."""
    return hashlib.sha256(f"emulator-version\0{model}".encode()).hexdigest()


@dataclass(frozen=True)
class Media:
    """One output file to render: also its cache key."""

    name: str
    fmt: str
    width: int
    height: int
    digest: bytes
    frames: int = 0
    fps: int = 0

    @property
    def content_type(self) -> str:
        return MIME_TYPES[self.fmt]


@dataclass(frozen=True)
class FieldError:
    """One invalid input field, as listed in a 422 body."""

    field: str
    type: str
    description: str


_DATA_URI = re.compile(r"^data:[\w.+-]+/[\w.+-]+(;[\w.+-]+=[\w.+-]+)*(;base64)?,", re.ASCII)


def validate(
    spec: ModelSpec, inp: Mapping[str, Any], check_url: Callable[[str], str | None]
) -> list[FieldError]:
    """Check `inp` against `spec`; `check_url` vets http(s) URLs (None means accepted)."""
    errors: list[FieldError] = []
    for name in spec.required:
        value = inp.get(name)
        if value is None:
            errors.append(FieldError(name, "required", f"{name} is required"))
        elif not isinstance(value, str):
            errors.append(FieldError(name, "invalid_type", _type_error("string", value)))
        elif not value.strip():
            errors.append(FieldError(name, "too_short", f"{name} must not be empty"))
    for name in spec.uri_inputs:
        value = inp.get(name)
        if value is None or not isinstance(value, str):
            continue
        problem = (
            None
            if _DATA_URI.match(value)
            else check_url(value)
            if value.startswith(("http://", "https://"))
            else "Does not match format 'uri'"
        )
        if problem:
            errors.append(FieldError(name, "format", problem))
    for name, most in spec.uri_lists.items():
        value = inp.get(name)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            errors.append(FieldError(name, "invalid_type", _type_error("array", value)))
        elif not 1 <= len(value) <= most:
            errors.append(FieldError(name, "range", f"{name} must have 1 to {most} items"))
        else:
            for item in value:
                bad = (
                    None
                    if _DATA_URI.match(item)
                    else check_url(item)
                    if item.startswith(("http://", "https://"))
                    else "Does not match format 'uri'"
                )
                if bad:
                    errors.append(FieldError(name, "format", bad))
    for name, other in spec.needs.items():
        if inp.get(name) is not None and inp.get(other) is None:
            errors.append(FieldError(name, "dependency", f"{name} can only be used together with {other}"))
    for name, allowed in spec.choices.items():
        if name in inp and inp[name] not in allowed:
            listed = ", ".join(repr(a) for a in allowed)
            errors.append(FieldError(name, "enum", f"{name} must be one of: {listed}"))
    for name, (lo, hi) in spec.ranges.items():
        if name not in inp:
            continue
        value = inp[name]
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(FieldError(name, "invalid_type", _type_error("integer", value)))
        elif not lo <= value <= hi:
            errors.append(FieldError(name, "range", f"{name} must be between {lo} and {hi}"))
    seed = inp.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        errors.append(FieldError("seed", "invalid_type", _type_error("integer", seed)))
    return errors


def _type_error(expected: str, value: object) -> str:
    return f"Invalid type. Expected: {expected}, given: {type(value).__name__}"


def plan_outputs(model: str, spec: ModelSpec, inp: Mapping[str, Any]) -> tuple[Media, ...]:
    """The files a prediction of `model` with input `inp` produces."""
    params = {**spec.defaults, **inp}
    prompt, seed = params.get("prompt", ""), params.get("seed")

    def digest(index: int) -> bytes:
        return hashlib.sha256(f"{model}\0{prompt}\0{seed}\0{index}".encode()).digest()

    if spec.kind == "video":
        width, height = _size(params, _VIDEO_SIDE, (16, 9))
        if "num_frames" in params:
            frames, fps = int(params["num_frames"]), int(params["frames_per_second"])
        else:
            fps, duration = spec.fps, params["duration"]
            valid = isinstance(duration, int | float) and 0 < duration <= _MAX_SECONDS
            frames = max(2, round((duration if valid else 6) * fps))
        return (Media("output.mp4", "mp4", width, height, digest(0), frames, fps),)
    fmt = str(params["output_format"])
    if fmt not in _IMAGE_FORMATS:
        fmt = "png"
    width, height = _size(params, _IMAGE_SIDE, (1, 1))
    if not spec.array_output:
        return (Media(f"output.{fmt}", fmt, width, height, digest(0)),)
    count = int(params.get("num_outputs", 1))
    if params.get("sequential_image_generation") == "auto":  # seedream-4: up to max_images
        count = int(params.get("max_images", 1))
    return tuple(Media(f"out-{i}.{fmt}", fmt, width, height, digest(i)) for i in range(count))


def _size(params: Mapping[str, Any], side: int, default: tuple[int, int]) -> tuple[int, int]:
    """Scale the aspect ratio (or width/height) so the long side is `side`; sizes are even."""
    ratio, width, height = params.get("aspect_ratio"), params.get("width"), params.get("height")
    match = _RATIO.match(ratio) if isinstance(ratio, str) else None
    if match and int(match[1]) > 0 and int(match[2]) > 0:
        w, h = int(match[1]), int(match[2])
    elif isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        w, h = width, height
    else:
        w, h = default
    scale = side / max(w, h)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


def openapi_schema(spec: ModelSpec) -> dict[str, Any]:
    """A minimal Cog-style schema for `GET .../versions/{id}`: Input and Output only."""
    uri = {"type": "string", "format": "uri"}
    props: dict[str, Any] = {name: {"type": "string"} for name in spec.required}
    props.update({name: uri for name in spec.uri_inputs})
    props.update(
        {name: {"type": "array", "items": uri, "maxItems": most} for name, most in spec.uri_lists.items()}
    )
    props.update({name: {"enum": list(allowed)} for name, allowed in spec.choices.items()})
    props.update(
        {n: {"type": "integer", "minimum": lo, "maximum": hi} for n, (lo, hi) in spec.ranges.items()}
    )
    output = {"type": "array", "items": uri} if spec.array_output else uri
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {
            "schemas": {
                "Input": {"type": "object", "required": list(spec.required), "properties": props},
                "Output": {**output, "title": "Output"},
            }
        },
    }
