"""Typed, frozen, validated requests: what the user asked for.

Construction checks what can be checked without a model (types, ranges, that local input
files exist); :func:`arthur_gen._validate.check_request` then checks the request against the
chosen model. Both raise only :class:`InvalidRequestError`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from ._models import Kind
from .errors import InvalidRequestError

__all__ = ["ImageRequest", "VideoRequest", "is_url"]

_ASPECT = re.compile(r"^[1-9][0-9]{0,3}:[1-9][0-9]{0,3}$")
_URL = re.compile(r"^(https?://|data:)", re.IGNORECASE)
_MAX_SEED = 2**63 - 1


def is_url(value: str) -> bool:
    """True for http(s) and data: URLs (inputs passed through, not read from disk)."""
    return bool(_URL.match(value))


def _fail(field: str, value: object, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}={value!r} is not valid: {allowed}", field=field)


def _int_field(name: str, lo: int, hi: int) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(name, value, f"must be a whole number from {lo} to {hi}")
        if not lo <= value <= hi:
            raise _fail(name, value, f"must be from {lo} to {hi}")

    return check


def _float_field(name: str, lo: float, hi: float, *, lo_open: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(name, value, f"must be a number from {lo} to {hi}")
        # Compare before isfinite(): a huge int overflows float() but compares exactly.
        if value > hi or value < lo or not math.isfinite(value) or (lo_open and value == lo):
            bound = f"greater than {lo}" if lo_open else f"from {lo}"
            raise _fail(name, value, f"must be {bound} up to {hi}")

    return check


def _text(name: str, *, required: bool, max_len: int = 10_000) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str):
            raise _fail(name, value, "must be text")
        if required and not value.strip():
            raise _fail(name, value, "must not be empty; say what to generate")
        if len(value) > max_len:
            raise _fail(name, f"{value[:20]}...", f"must be at most {max_len} characters")
        if "\x00" in value:
            raise _fail(name, value, "must not contain NUL characters")

    return check


def _to_input(value: Any) -> Any:
    """Accept a path, a URL, or a result object (anything with a ``path``)."""
    if value is None:
        return None
    path = getattr(value, "path", None)
    if isinstance(path, Path | str) and not isinstance(value, str | os.PathLike):
        value = path
    if isinstance(value, os.PathLike) or (isinstance(value, str) and value and not is_url(value)):
        path = Path(value)
        try:
            path = path.expanduser()
        except RuntimeError:  # "~user" with no such user: keep it; the validator reports it
            pass
        return str(path.absolute())
    return value


def _input_file(name: str) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value:
            raise _fail(name, value, "must be a file path or an http(s)/data: URL")
        if is_url(value):
            return
        try:
            exists = Path(value).is_file()
        except (OSError, ValueError):  # name too long, NUL byte...
            exists = False
        if not exists:
            raise _fail(name, value, "no such file; give an existing image path or a URL")

    return check


def _to_options(value: Any) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping):
        raise _fail("options", value, "must be a mapping of option names to values")
    for key in value:
        if not isinstance(key, str):
            raise _fail("options", value, "option names must be text")
    return MappingProxyType(dict(sorted(value.items())))


def _aspect(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not _ASPECT.match(value):
        raise _fail("aspect_ratio", value, "must look like '16:9' (two whole numbers)")


def _resolution(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not re.match(r"^[0-9]{3,4}p$", value):
        raise _fail("resolution", value, "must look like '720p'")


@attrs.frozen(kw_only=True)
class _Request:
    """Fields every request has."""

    kind: ClassVar[Kind]

    prompt: str = attrs.field(validator=_text("prompt", required=True))
    negative_prompt: str | None = attrs.field(
        default=None, validator=_text("negative_prompt", required=False)
    )
    width: int | None = attrs.field(default=None, validator=_int_field("width", 16, 16384))
    height: int | None = attrs.field(default=None, validator=_int_field("height", 16, 16384))
    aspect_ratio: str | None = attrs.field(default=None, validator=_aspect)
    seed: int | None = attrs.field(default=None, validator=_int_field("seed", 0, _MAX_SEED))
    steps: int | None = attrs.field(default=None, validator=_int_field("steps", 1, 1000))
    guidance: float | None = attrs.field(default=None, validator=_float_field("guidance", 0.0, 100.0))
    strength: float | None = attrs.field(default=None, validator=_float_field("strength", 0.0, 1.0))
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_to_options, hash=False)

    def __attrs_post_init__(self) -> None:
        if (self.width is None) != (self.height is None):
            raise InvalidRequestError(
                f"width={self.width!r}, height={self.height!r}: give both or neither",
                field="width" if self.width is None else "height",
            )
        if self.width is not None and self.aspect_ratio is not None:
            raise InvalidRequestError(
                "give either width/height or aspect_ratio, not both", field="aspect_ratio"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; ``from_dict`` turns it back into an equal request."""
        data = attrs.asdict(self, recurse=False)
        data["options"] = dict(self.options)
        return {"kind": self.kind.value, **data}

    def with_changes(self, **changes: Any) -> Any:
        """A copy with some fields replaced (validated again)."""
        return attrs.evolve(self, **changes)


@attrs.frozen(kw_only=True)
class ImageRequest(_Request):
    """A request for an image: text-to-image, or image-to-image with ``image`` and ``strength``.

    ``strength`` (0..1) is how much to change the input image: 0 keeps it, 1 ignores it
    (the diffusers and Replicate convention; every backend maps it to its own).
    """

    kind: ClassVar[Kind] = Kind.IMAGE

    image: str | None = attrs.field(default=None, converter=_to_input, validator=_input_file("image"))

    def input_files(self) -> dict[str, str]:
        return {"image": self.image} if self.image else {}


@attrs.frozen(kw_only=True)
class VideoRequest(_Request):
    """A request for a video: text-to-video, or image-to-video with ``first_frame``."""

    kind: ClassVar[Kind] = Kind.VIDEO

    duration: float | None = attrs.field(
        default=None, validator=_float_field("duration", 0.0, 600.0, lo_open=True)
    )
    fps: int | None = attrs.field(default=None, validator=_int_field("fps", 1, 240))
    resolution: str | None = attrs.field(default=None, validator=_resolution)
    first_frame: str | None = attrs.field(
        default=None, converter=_to_input, validator=_input_file("first_frame")
    )
    last_frame: str | None = attrs.field(
        default=None, converter=_to_input, validator=_input_file("last_frame")
    )

    def input_files(self) -> dict[str, str]:
        files = {"first_frame": self.first_frame, "last_frame": self.last_frame}
        return {k: v for k, v in files.items() if v}


# Other job kinds rebuild their requests with their own ``from_dict``: "module:Class", imported
# only when a request of that kind is read (register_request_kind adds more, e.g. "publish").
REQUEST_KINDS: dict[str, str] = {
    "edit": "arthur_gen.media._recipe:EditRequest",
    "publish": "arthur_gen.publish._request:PublishRequest",
}


def register_request_kind(kind: str, target: str) -> None:
    """Make :func:`request_from_dict` rebuild ``kind`` with ``target`` ("module:Class")."""
    REQUEST_KINDS[kind] = target


def request_from_dict(data: Mapping[str, Any]) -> Any:
    """Rebuild a request from :meth:`to_dict` output (a sidecar, a PNG, the store)."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if str(kind) in REQUEST_KINDS:
        import importlib

        module, _, name = REQUEST_KINDS[str(kind)].partition(":")
        other: Any = getattr(importlib.import_module(module), name).from_dict(data)
        return other
    cls = {Kind.IMAGE.value: ImageRequest, Kind.VIDEO.value: VideoRequest}.get(str(kind))
    if cls is None:
        kinds = ", ".join(repr(k) for k in ["image", "video", *REQUEST_KINDS])
        raise InvalidRequestError(f"kind={kind!r} is not valid: must be one of {kinds}")
    known = {a.name for a in attrs.fields(cls)}
    unknown = sorted(str(name) for name in set(fields) - known)
    if unknown:
        raise InvalidRequestError(
            f"unknown request field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            field=unknown[0],
        )
    try:
        request: ImageRequest | VideoRequest = cls(**fields)
        return request
    except TypeError as exc:  # pragma: no cover - attrs raises this only for missing prompt
        raise InvalidRequestError(str(exc)) from None
