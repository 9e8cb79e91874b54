"""Check a request against the model that would serve it, before any work or spending."""

from __future__ import annotations

from typing import Any

from ._models import Capability, Kind, ModelInfo, OptionSpec
from ._requests import ImageRequest, VideoRequest
from .errors import InvalidRequestError

__all__ = ["check_request"]

Request = ImageRequest | VideoRequest


def _bad(model: ModelInfo, field: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}={value!r} is not accepted by {model.id}: {allowed}", field=field)


def _choices(values: tuple[Any, ...]) -> str:
    return "one of " + ", ".join(f"{v:g}" if isinstance(v, float) else repr(v) for v in values)


def check_request(request: Request, model: ModelInfo) -> None:
    """Raise InvalidRequestError naming the field, the value and what is allowed."""
    if request.kind is not model.kind:
        raise InvalidRequestError(
            f"{model.id} makes {model.kind.value}s, not {request.kind.value}s", field="model"
        )
    if request.kind is Kind.EDIT:  # checked by the edit backend's validate (needs the inputs)
        return
    _check_capability(request, model)
    _check_geometry(request, model)
    _check_sampling(request, model)
    if isinstance(request, VideoRequest):
        _check_timing(request, model)
    _check_options(request, model)


def _check_capability(request: Request, model: ModelInfo) -> None:
    if isinstance(request, ImageRequest):
        source, needs, plain, field = (
            request.image,
            Capability.IMAGE_TO_IMAGE,
            Capability.TEXT_TO_IMAGE,
            "image",
        )
    else:
        source, needs, plain, field = (
            request.first_frame,
            Capability.IMAGE_TO_VIDEO,
            Capability.TEXT_TO_VIDEO,
            "first_frame",
        )
        if request.last_frame and not model.supports_last_frame:
            raise _bad(model, "last_frame", request.last_frame, "this model takes no last frame")
    if source is not None and not model.can(needs):
        raise _bad(model, field, source, f"this model cannot do {needs.value}")
    if source is None and (model.requires_image or not model.can(plain)):
        raise InvalidRequestError(
            f"{model.id} needs an input image: pass {field}=PATH_OR_URL "
            f"(CLI: --{'first-frame' if field == 'first_frame' else 'image'} PATH)",
            field=field,
        )
    if request.strength is not None:
        if not model.supports_strength:
            raise _bad(model, "strength", request.strength, "this model takes no strength")
        if source is None:
            raise InvalidRequestError(
                f"strength={request.strength!r} needs an input image ({field})", field="strength"
            )


def _check_geometry(request: Request, model: ModelInfo) -> None:
    if request.width is not None and request.height is not None:
        if not model.supports_size:
            alternatives = (
                f"use aspect_ratio ({_choices(model.aspect_ratios)})"
                if model.aspect_ratios
                else f"use resolution ({_choices(model.resolutions)})"
                if model.resolutions
                else "its size is fixed"
            )
            raise _bad(model, "width", request.width, f"it takes no width/height; {alternatives}")
        for name, value in (("width", request.width), ("height", request.height)):
            if not model.min_size <= value <= model.max_size:
                raise _bad(model, name, value, f"must be from {model.min_size} to {model.max_size}")
            if value % model.size_multiple:
                lower = value - value % model.size_multiple
                raise _bad(
                    model,
                    name,
                    value,
                    f"must be a multiple of {model.size_multiple} (try {lower} or "
                    f"{lower + model.size_multiple})",
                )
    if request.aspect_ratio is not None and request.aspect_ratio not in model.aspect_ratios:
        allowed = (
            _choices(model.aspect_ratios)
            if model.aspect_ratios
            else "this model takes width/height instead"
            if model.supports_size
            else "this model takes no aspect ratio"
        )
        raise _bad(model, "aspect_ratio", request.aspect_ratio, allowed)
    if isinstance(request, VideoRequest) and request.resolution is not None:
        if request.resolution not in model.resolutions:
            allowed = _choices(model.resolutions) if model.resolutions else "it has one resolution"
            raise _bad(model, "resolution", request.resolution, allowed)


def _check_sampling(request: Request, model: ModelInfo) -> None:
    if request.seed is not None and not model.supports_seed:
        raise _bad(model, "seed", request.seed, "this model takes no seed")
    if request.negative_prompt is not None and not model.supports_negative_prompt:
        raise _bad(model, "negative_prompt", request.negative_prompt, "not supported")
    if request.steps is not None:
        if not model.supports_steps:
            raise _bad(model, "steps", request.steps, "this model takes no step count")
        if model.max_steps is not None and request.steps > model.max_steps:
            raise _bad(model, "steps", request.steps, f"at most {model.max_steps}")
    if request.guidance is not None and not model.supports_guidance:
        raise _bad(model, "guidance", request.guidance, "this model takes no guidance")


def _check_timing(request: VideoRequest, model: ModelInfo) -> None:
    if request.duration is not None:
        allowed = model.durations or ((model.default_duration,) if model.default_duration is not None else ())
        if request.duration not in allowed:
            text = _choices(allowed) + " seconds" if allowed else "its length is fixed"
            raise _bad(model, "duration", request.duration, text)
    if request.fps is not None:
        allowed_fps = model.fps or ((model.default_fps,) if model.default_fps else ())
        if request.fps not in allowed_fps:
            text = _choices(allowed_fps) if allowed_fps else "its frame rate is fixed"
            raise _bad(model, "fps", request.fps, text)


def _check_options(request: Request, model: ModelInfo) -> None:
    if model.accepts_any_options:
        return
    for name, value in request.options.items():
        spec = model.option(name)
        if spec is None:
            known = ", ".join(o.name for o in model.options) or "none"
            raise _bad(model, f"options.{name}", value, f"unknown option; its options: {known}")
        _check_option(model, spec, value)


def _check_option(model: ModelInfo, spec: OptionSpec, value: Any) -> None:
    field = f"options.{spec.name}"
    if spec.type is list:
        item = spec.items or str
        if not isinstance(value, list | tuple) or not all(_is(v, item) for v in value):
            raise _bad(model, field, value, f"must be a list of {item.__name__}")
        return
    if not _is(value, spec.type):
        raise _bad(model, field, value, f"must be a {spec.type.__name__}")
    if spec.choices and value not in spec.choices:
        raise _bad(model, field, value, _choices(spec.choices))
    if spec.min is not None and value < spec.min:
        raise _bad(model, field, value, f"at least {spec.min}")
    if spec.max is not None and value > spec.max:
        raise _bad(model, field, value, f"at most {spec.max}")


def _is(value: Any, kind: type) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    return isinstance(value, kind)
