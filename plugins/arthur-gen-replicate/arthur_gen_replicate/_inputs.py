"""Turning a request into the ``input`` dict Replicate gets (pure; no network, no heavy imports)."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from typing import Any

from arthur_gen._models import ModelInfo
from arthur_gen._requests import ImageRequest, VideoRequest, is_url

__all__ = [
    "DATA_URI_MAX_BYTES",
    "FILE_PLACEHOLDER",
    "build_input",
    "data_uri",
    "file_fields",
    "replicate_ref",
    "split_ref",
]

Request = ImageRequest | VideoRequest
Upload = Callable[[str], str]

#: Local files smaller than this go inline as ``data:`` URIs; larger ones are uploaded through
#: the files API (Replicate's advice: data URLs only for files up to about 256 KB).
DATA_URI_MAX_BYTES = 256 * 1024

#: Stands in for an uploaded file's URL when inputs are compared (reconcile, dry runs).
FILE_PLACEHOLDER = "<file>"

_FILE_REQUEST_FIELDS = ("first_frame", "last_frame", "image")


def replicate_ref(model: ModelInfo) -> str:
    """The model's Replicate id: ``owner/name`` or ``owner/name:version``."""
    return str(model.extra.get("replicate_id", model.id))


def split_ref(ref: str) -> tuple[str, str | None]:
    """``owner/name[:version]`` -> (``owner/name``, version or None)."""
    name, _, version = ref.partition(":")
    return name, (version or None)


def file_fields(model: ModelInfo) -> frozenset[str]:
    """The Replicate input fields that hold files (their URLs change with every upload)."""
    fields: Mapping[str, str | None] = model.extra.get("fields", {})
    names = {fields[key] for key in _FILE_REQUEST_FIELDS if fields.get(key)}
    names.update(model.extra.get("file_options", ()))
    return frozenset(n for n in names if n)


def _number(value: float) -> int | float:
    """Whole numbers go as JSON integers (Replicate's schemas use ``integer`` for durations)."""
    return int(value) if float(value).is_integer() else value


def build_input(request: Request, model: ModelInfo, upload: Upload) -> dict[str, Any]:
    """The ``input`` for a prediction of ``model`` serving ``request``.

    ``upload(path) -> url`` is called for each local file (not for URLs, which pass through).
    Model options go last, verbatim, so raw inputs of uncatalogued models reach Replicate.
    """
    fields: Mapping[str, str | None] = model.extra.get("fields", {})
    out: dict[str, Any] = {}

    def put(key: str, value: Any) -> None:
        name = fields.get(key)
        if name and value is not None:
            out[name] = value

    put("prompt", request.prompt)
    put("negative_prompt", request.negative_prompt)
    put("seed", request.seed)
    put("steps", request.steps)
    put("guidance", request.guidance)
    put("strength", request.strength)
    if request.width is not None and request.height is not None:
        put("width", request.width)
        put("height", request.height)
        custom = model.extra.get("custom_aspect_ratio")
        if custom:
            put("aspect_ratio", custom)
    put("aspect_ratio", request.aspect_ratio)
    if isinstance(request, VideoRequest):
        put("duration", None if request.duration is None else _number(request.duration))
        put("fps", request.fps)
        put("resolution", request.resolution)
    for key, value in request.input_files().items():
        put(key, _file(value, upload))
    for name in model.extra.get("as_list", ()):
        if isinstance(out.get(name), str):
            out[name] = [out[name]]
    file_options = set(model.extra.get("file_options", ()))
    for name, value in request.options.items():
        sent: Any = value
        if name in file_options and isinstance(value, str) and value:
            sent = _file(value, upload)
        elif name in file_options and isinstance(value, list | tuple):
            sent = [_file(v, upload) if isinstance(v, str) and v else v for v in value]
        out[name] = sent
    return out


def _file(value: str, upload: Upload) -> str:
    if is_url(value):
        return value
    return upload(os.fspath(value))


def data_uri(path: str) -> str:
    """A ``data:`` URI holding the file (for small inputs)."""
    import mimetypes

    media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    with open(path, "rb") as fh:
        payload = base64.b64encode(fh.read()).decode("ascii")
    return f"data:{media_type};base64,{payload}"
