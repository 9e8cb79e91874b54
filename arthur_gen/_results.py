"""What a generation returns: files plus everything needed to trust and repeat them."""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ._requests import ImageRequest, VideoRequest

__all__ = ["GeneratedImage", "GeneratedVideo", "ProgressEvent"]

_INLINE_LIMIT = 20 * 1024 * 1024


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
        from .publish._driver import publish

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
        from .media._edit import edit

        return edit(self, recipe, **options)

    def _repr_html_(self) -> str:
        items = "".join(_media_html(p) for p in self.paths)
        caption = html.escape(self.caption())
        return f"<figure>{items}<figcaption><code>{caption}</code></figcaption></figure>"


def _data_uri(path: Path, media_type: str) -> str | None:
    try:
        if path.stat().st_size > _INLINE_LIMIT:
            return None
        return f"data:{media_type};base64," + base64.b64encode(path.read_bytes()).decode()
    except OSError:
        return None


_MEDIA_TYPES = {
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".mp4": "video/mp4",
    ".webm": "video/webm",
}


def _media_html(path: Path) -> str:
    media_type = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    src = _data_uri(path, media_type) or path.as_uri()
    if media_type.startswith("video/"):
        return f'<video src="{src}" controls loop style="max-width:100%"></video>'
    return f'<img src="{src}" style="max-width:100%" alt="{html.escape(path.name)}"/>'


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
