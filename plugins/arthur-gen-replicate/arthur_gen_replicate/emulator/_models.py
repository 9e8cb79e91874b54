"""The emulated models: a small data table, input validation and output planning."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MIME_TYPES = {"webp": "image/webp", "png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}
_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
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


MODELS: Mapping[str, ModelSpec] = {
    "minimax/video-01": _minimax(),
    "minimax/video-01-live": _minimax(),
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
        ranges={"num_frames": (81, 100), "frames_per_second": (5, 24), "sample_steps": (1, 40)},
        defaults={"num_frames": 81, "frames_per_second": 16},
    ),
    "black-forest-labs/flux-schnell": _flux(4, array=True, uris=()),
    "black-forest-labs/flux-dev": _flux(50, array=True, uris=("image",)),
    "black-forest-labs/flux-1.1-pro": ModelSpec(
        "image",
        required=("prompt",),
        uri_inputs=("image_prompt",),
        choices={**_FLUX_CHOICES, "aspect_ratio": (*_ASPECTS, "custom")},
        ranges={
            "width": (256, 1440),
            "height": (256, 1440),
            "safety_tolerance": (1, 6),
            "output_quality": (0, 100),
        },
        defaults={"aspect_ratio": "1:1", "output_format": "webp"},
    ),
}
GENERIC = ModelSpec("image", defaults={"output_format": "png"})


def spec_for(model: str) -> ModelSpec:
    """The spec of `model`; any unknown model behaves generically (one PNG)."""
    return MODELS.get(model, GENERIC)


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
    count = int(params["num_outputs"])
    return tuple(Media(f"out-{i}.{fmt}", fmt, width, height, digest(i)) for i in range(count))


def _size(params: Mapping[str, Any], side: int, default: tuple[int, int]) -> tuple[int, int]:
    """Scale the aspect ratio (or width/height) so the long side is `side`; sizes are even."""
    ratio, width, height = params.get("aspect_ratio"), params.get("width"), params.get("height")
    if ratio in _ASPECTS:
        w, h = (int(x) for x in str(ratio).split(":"))
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
