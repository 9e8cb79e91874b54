"""Re-create a generation from a job id, a sidecar JSON, or the metadata embedded in a PNG.

A stored request is the *effective* request (with the seed that was actually used), so a
re-run with no overrides asks for the same picture again; with an explicit seed it is
answered from the result cache at $0 unless ``cache=False``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._models import Kind
from .._requests import ImageRequest, VideoRequest, request_from_dict
from ..errors import InvalidRequestError, JobNotFoundError
from ._outputs import sidecar_path
from ._pngmeta import read_png_metadata

if TYPE_CHECKING:
    import threading

    from .._secrets import Secret
    from ._results import GeneratedImage, GeneratedVideo, ProgressEvent
    from ._runner import Plan
    from ._store import JobRow

__all__ = ["plan_rerun", "request_from", "rerun"]

Request = ImageRequest | VideoRequest
Source = Any  # a job id, a path (sidecar, PNG, any output with a sidecar), a result or a JobRow


def _from_metadata(meta: Mapping[str, Any], where: str) -> tuple[Kind, str, str, Request]:
    try:
        request_data = meta["request"]
        backend = str(meta["backend"])
        model = str(meta["model"])
    except (KeyError, TypeError):
        raise JobNotFoundError(
            f"{where} holds no arthur-gen request (expected the keys request, backend and model)"
        ) from None
    if not isinstance(request_data, Mapping):
        raise JobNotFoundError(f"{where}: 'request' is not an object")
    try:
        request = request_from_dict(request_data)
    except InvalidRequestError as exc:
        message = f"cannot rebuild the request from {where}: {exc}"
        raise InvalidRequestError(message, field=exc.field) from None
    return request.kind, backend, model, request


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise JobNotFoundError(f"cannot read {path} as a sidecar: {exc}") from None
    if not isinstance(data, dict):
        raise JobNotFoundError(f"{path} is not an arthur-gen sidecar (not a JSON object)")
    return data


def _from_file(path: Path) -> tuple[Kind, str, str, Request]:
    if path.suffix.lower() == ".json":
        return _from_metadata(_read_json(path), str(path))
    suffix = path.suffix.lower()
    if suffix in (".png", ".mp4", ".mov"):
        from ..media._mp4meta import read_mp4_metadata

        reader = read_png_metadata if suffix == ".png" else read_mp4_metadata
        try:
            meta = reader(path)
        except (OSError, ValueError) as exc:
            meta, problem = None, f"{exc}"
        else:
            problem = "no arthur-gen metadata embedded"
        if meta is not None:
            return _from_metadata(meta, str(path))
    else:
        problem = "not a PNG or MP4"
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        return _from_metadata(_read_json(sidecar), str(sidecar))
    raise JobNotFoundError(f"{path}: {problem}, and no sidecar {sidecar.name} beside it")


def _from_row(row: JobRow) -> tuple[Kind, str, str, Request]:
    request = request_from_dict(row.request)
    return request.kind, row.backend, row.model, request


def request_from(source: Source) -> tuple[Kind, str, str, Request]:
    """``(kind, backend, model, request)`` of a past generation.

    ``source`` is a job id (or unique prefix), a sidecar ``.json``, an output file (a PNG's
    embedded metadata, else the sidecar beside it), a result object or a job row.
    """
    from ._store import JobRow

    if isinstance(source, JobRow):
        return _from_row(source)
    job_id = getattr(source, "job_id", None)
    if isinstance(job_id, str) and not isinstance(source, str | Path):
        paths = getattr(source, "paths", ())
        if paths and Path(paths[0]).is_file():
            return _from_file(Path(paths[0]))
        return _from_job(job_id)
    if isinstance(source, Path):
        if not source.exists():
            raise JobNotFoundError(f"no such file: {source}")
        return _from_file(source)
    if isinstance(source, str):
        path = Path(source).expanduser()
        looks_like_path = "/" in source or path.suffix != "" or source.startswith((".", "~"))
        if path.is_file():
            return _from_file(path)
        if looks_like_path:
            raise JobNotFoundError(f"no such file: {source} (give a job id, a sidecar or an output)")
        return _from_job(source)
    raise JobNotFoundError(f"cannot re-run from {source!r}: give a job id, a sidecar or an output file")


def _from_job(job: str) -> tuple[Kind, str, str, Request]:
    from .._api import get_job

    return _from_row(get_job(job))


def _resolve(source: Source, overrides: Mapping[str, Any]) -> tuple[Kind, str | None, str | None, Request]:
    kind, backend, model, request = request_from(source)
    changes = {k: v for k, v in overrides.items() if v is not None}
    new_backend = changes.pop("backend", None)
    new_model = changes.pop("model", None)
    if new_backend is not None and new_backend != backend:
        backend = new_backend
        model = new_model  # the old model id belongs to the old backend; None means its default
    elif new_model is not None:
        model = new_model
    if changes:
        try:
            request = request.with_changes(**changes)
        except TypeError as exc:
            raise InvalidRequestError(f"cannot override: {exc}") from None
    return kind, backend, model, request


def plan_rerun(source: Source, **overrides: Any) -> Plan:
    """What :func:`rerun` would do (backend, model, estimate, what it would send); runs nothing."""
    from ._runner import plan_request

    kind, backend, model, request = _resolve(source, overrides)
    return plan_request(kind, request, backend, model)


def rerun(
    source: Source,
    *,
    key: str | Secret | None = None,
    out_dir: str | Path | None = None,
    timeout: float | None = None,
    cache: bool = True,
    allow_unknown_price: bool | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel_event: threading.Event | None = None,
    **overrides: Any,
) -> GeneratedImage | GeneratedVideo:
    """Generate again what ``source`` generated (see :func:`request_from`), with overrides.

    Overrides are request fields (``seed=``, ``prompt=``, ``steps=``, ``options=`` ...) and
    ``model=`` / ``backend=``. With the original seed and model the answer comes from the
    cache at $0; pass ``cache=False`` to really run it again.
    """
    from ._runner import RunOptions, plan_request, run_plan

    kind, backend, model, request = _resolve(source, overrides)
    the_plan = plan_request(kind, request, backend, model)
    opts = RunOptions(
        key=key,
        out_dir=Path(out_dir).expanduser() if out_dir else None,
        timeout_s=timeout,
        cache=cache,
        allow_unknown_price=allow_unknown_price,
        on_progress=on_progress,
        cancel_event=cancel_event,
    )
    return run_plan(the_plan, opts)
