"""What a generation returns: files plus everything needed to trust and repeat them."""

from __future__ import annotations

import base64
import html
import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from .._requests import ImageRequest, VideoRequest

__all__ = ["GeneratedImage", "GeneratedVideo", "ProgressEvent"]


@attrs.frozen(kw_only=True)
class _Generated:
    paths: tuple[Path, ...]
    request: ImageRequest | VideoRequest
    seed: int | None
    backend: str
    model: str
    job_id: str
    cost_usd: float | None
    cost_source: str | None
    estimate_usd: float | None
    timings: Mapping[str, float] = attrs.field(factory=dict)
    parents: tuple[str, ...] = ()
    remote_id: str | None = None
    cached: bool = False

    @property
    def path(self) -> Path:
        """The first (usually only) output file."""
        return self.paths[0]

    @property
    def sidecars(self) -> tuple[Path, ...]:
        return tuple(p.with_name(p.name + ".json") for p in self.paths)

    def publish(self, *, to: str, **options: Any) -> dict[str, Any]:
        """Publish :attr:`path` (see :func:`arthur_gen.publish`); the upload's parent is this job."""
        from ..publish._driver import publish

        return publish(self.path, to=to, **options)

    def caption(self) -> str:
        cost = "cost unknown" if self.cost_usd is None else f"${self.cost_usd:.4f}"
        if self.cached:
            cost += " (cached)"
        seed = f"seed {self.seed}" if self.seed is not None else "no seed"
        return f"{self.backend}/{self.model} · {seed} · {cost} · job {self.job_id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kind": self.request.kind.value,
            "paths": [str(p) for p in self.paths],
            "backend": self.backend,
            "model": self.model,
            "seed": self.seed,
            "cost_usd": self.cost_usd,
            "cost_source": self.cost_source,
            "estimate_usd": self.estimate_usd,
            "cached": self.cached,
            "timings": dict(self.timings),
            "parents": list(self.parents),
            "remote_id": self.remote_id,
            "request": self.request.to_dict(),
        }

    def edit(self, recipe: Any = None, **options: Any) -> GeneratedVideo:
        """Edit this output (see :func:`arthur_gen.edit`): ``result.edit(preset="linkedin-portrait")``."""
        from ..media._edit import edit

        return edit(self, recipe, **options)

    def _repr_html_(self) -> str:
        items = "".join(_media_html(p) for p in self.paths)
        caption = html.escape(self.caption())
        return f"<figure>{items}<figcaption><code>{caption}</code></figcaption></figure>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """What Jupyter shows (HTML) and what a terminal IPython prints (the caption, the paths)."""
        plain = "\n".join([self.caption(), *(str(p) for p in self.paths)])
        return {"text/html": self._repr_html_(), "text/plain": plain}


#: Files up to these sizes are embedded in the notebook (so it shows them anywhere, even in a
#: viewer with no access to the disk); larger ones are linked by a path relative to the
#: notebook's folder, so a saved notebook does not grow by the size of every video it shows.
INLINE_IMAGE_BYTES = 2 * 1024 * 1024
INLINE_VIDEO_BYTES = 256 * 1024


def _data_uri(path: Path, media_type: str, limit: int) -> str | None:
    try:
        if path.stat().st_size > limit:
            return None
        return f"data:{media_type};base64," + base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return None


_MEDIA_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
}


def notebook_dir() -> Path:
    """The folder a notebook's relative links are resolved from: the notebook's own folder
    when Jupyter says which notebook this is (``JPY_SESSION_NAME``), else the working directory
    (a kernel starts in its notebook's folder)."""
    session = os.environ.get("JPY_SESSION_NAME", "")
    if session and os.path.isabs(session) and os.path.isdir(os.path.dirname(session)):
        return Path(os.path.dirname(session))
    return Path.cwd()


def linked_src(path: Path, base: Path | None = None) -> str:
    """``path`` as a URL relative to ``base`` (default :func:`notebook_dir`): what Jupyter
    serves from a notebook (``file://`` links are blocked by browsers there)."""
    try:
        rel = os.path.relpath(path, base or notebook_dir())
    except ValueError:  # another drive (Windows): no relative path exists
        return path.as_uri()
    return urllib.parse.quote(rel.replace(os.sep, "/"))


def media_src(path: Path, limit: int | None = None) -> str:
    """The ``src`` for ``path`` in a notebook: a data URI up to ``limit`` bytes (default by
    kind), else the path relative to the notebook (:func:`linked_src`)."""
    path = path if path.is_absolute() else Path.cwd() / path
    media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    if limit is None:
        limit = INLINE_VIDEO_BYTES if media_type.startswith("video/") else INLINE_IMAGE_BYTES
    return _data_uri(path, media_type, limit) or linked_src(path)


def _media_html(path: Path) -> str:
    path = path if path.is_absolute() else Path.cwd() / path  # older jobs kept relative paths
    media_type = _MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")
    video = media_type.startswith("video/")
    name = html.escape(path.name)
    if not path.is_file():
        return f"<p>missing: <code>{html.escape(str(path))}</code></p>"
    inline = _data_uri(path, media_type, INLINE_VIDEO_BYTES if video else INLINE_IMAGE_BYTES)
    src = html.escape(inline or linked_src(path), quote=True)
    if video:
        element = f'<video src="{src}" controls loop preload="metadata" style="max-width:100%"></video>'
    else:
        element = f'<img src="{src}" style="max-width:100%" alt="{name}"/>'
    if inline:
        return element
    size = path.stat().st_size / 1024**2
    return (
        f'{element}<div><a href="{src}" target="_blank">{name}</a> ({size:.1f} MB, linked, not '
        f"embedded) <code>{html.escape(str(path))}</code></div>"
    )


@attrs.frozen(kw_only=True)
class GeneratedImage(_Generated):
    """One or more generated images. Renders inline in Jupyter."""


@attrs.frozen(kw_only=True)
class GeneratedVideo(_Generated):
    """A generated video. Renders inline in Jupyter as a ``<video>`` element."""


@attrs.frozen(kw_only=True)
class ProgressEvent:
    """A step in a job's life.

    Phases: ``planned``, ``attached`` (same request already in flight), ``cached``,
    ``submitted``, ``running``, ``step`` (``step`` of ``total``), ``downloading``, then one of
    ``saved``, ``failed``, ``canceled``.
    """

    job_id: str
    phase: str
    step: int | None = None
    total: int | None = None
    message: str = ""
