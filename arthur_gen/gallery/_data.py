"""What the gallery shows: one entry per image, video or edit job, read from the store in one query.

Lineage comes from the jobs' ``parents``; children are the inverse, found in one pass. Each
entry carries the commands that make it again: ``arthur-gen rerun ID`` (exact) and, for
generations, the equivalent ``arthur-gen image|video ...`` line to change and run.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Iterable, Sequence
from typing import Any

import attrs

__all__ = [
    "GALLERY_KINDS",
    "Entry",
    "Gallery",
    "Media",
    "collect",
    "generate_command",
    "load",
    "output_roots",
]

GALLERY_KINDS = ("image", "video", "edit")

# (request field, CLI flag) of the fields a generate command carries, in the order written.
_FLAGS = (
    ("negative_prompt", "--negative-prompt"),
    ("aspect_ratio", "--aspect-ratio"),
    ("steps", "--steps"),
    ("guidance", "--guidance"),
    ("strength", "--strength"),
    ("image", "--image"),
    ("first_frame", "--first-frame"),
    ("last_frame", "--last-frame"),
    ("duration", "--duration"),
    ("fps", "--fps"),
    ("resolution", "--resolution"),
)


@attrs.frozen(kw_only=True)
class Media:
    """One output file: absolute path, media type, and whether it is still there."""

    path: str
    media_type: str
    exists: bool

    @property
    def is_video(self) -> bool:
        return self.media_type.startswith("video/")

    @property
    def is_image(self) -> bool:
        return self.media_type.startswith("image/")


@attrs.frozen(kw_only=True)
class Entry:
    """One card of the gallery."""

    id: str
    kind: str
    state: str
    backend: str
    model: str
    prompt: str
    seed: int | None
    created_at: float
    cost_usd: float | None
    cost_source: str | None
    estimate_usd: float | None
    error: str | None
    main: Media | None
    poster: Media | None
    extras: tuple[Media, ...]
    sidecar: Media | None
    parents: tuple[str, ...]
    children: tuple[str, ...]
    commands: tuple[str, ...]

    @property
    def day(self) -> str:
        """The local date it was made, ``YYYY-MM-DD`` (what the date filter compares)."""
        return time.strftime("%Y-%m-%d", time.localtime(self.created_at))


def _media_type(output: dict[str, Any]) -> str:
    media = output.get("media_type")
    if isinstance(media, str) and media:
        return media
    from ..jobs._outputs import extension_for

    return extension_for(None, str(output.get("path", "")))[1]


def _media(output: dict[str, Any]) -> Media | None:
    path = output.get("path")
    if not isinstance(path, str) or not path:
        return None
    full = os.path.abspath(os.path.expanduser(path))
    return Media(path=full, media_type=_media_type(output), exists=os.path.isfile(full))


def _pick(kind: str, outputs: Sequence[dict[str, Any]]) -> tuple[Media | None, Media | None, list[Media]]:
    """(main file, poster, the rest): a video job's poster is an image output beside the video."""
    files = [m for m in (_media(o) for o in sorted(outputs, key=lambda o: o.get("index", 0))) if m]
    if not files:
        return None, None, []
    want_video = kind in ("video", "edit")
    main = next((m for m in files if (m.is_video if want_video else m.is_image)), files[0])
    rest = [m for m in files if m is not main]
    poster = None
    if main.is_video:
        poster = next((m for m in rest if m.media_type in ("image/jpeg", "image/png", "image/webp")), None)
        if poster is not None:
            rest.remove(poster)
    return main, poster, rest


def _option_text(value: Any) -> str:
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return value  # read back as text by the CLI
    return json.dumps(value)


def generate_command(kind: str, backend: str, model: str, request: dict[str, Any]) -> str | None:
    """The ``arthur-gen image|video ...`` line that asks for ``request`` again (None for edits)."""
    if kind not in ("image", "video") or not isinstance(request.get("prompt"), str):
        return None
    words = ["arthur-gen", kind, request["prompt"], "--backend", backend, "--model", model]
    if request.get("seed") is not None:
        words += ["--seed", str(request["seed"])]
    if request.get("width") is not None and request.get("height") is not None:
        words += ["--size", f"{request['width']}x{request['height']}"]
    for field, flag in _FLAGS:
        value = request.get(field)
        if value is not None:
            words += [flag, str(value)]
    for name, value in sorted((request.get("options") or {}).items()):
        words += ["-o", f"{name}={_option_text(value)}"]
    return shlex.join(words)


def _commands(row: Any) -> tuple[str, ...]:
    commands = [f"arthur-gen rerun {row.id}"]
    line = generate_command(row.kind, row.backend, row.model, row.request)
    if line is not None:
        commands.append(line)
    return tuple(commands)


def collect(rows: Iterable[Any]) -> list[Entry]:
    """Entries (newest first) for job rows of any kind; publish jobs count only as children."""
    rows = sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)
    children: dict[str, list[str]] = {}
    for row in reversed(rows):  # oldest first, so children read in the order they were made
        for parent in row.parents:
            children.setdefault(parent, []).append(row.id)
    entries = []
    for row in rows:
        if row.kind not in GALLERY_KINDS:
            continue
        main, poster, extras = _pick(row.kind, row.outputs)
        sidecar = None
        if main is not None:
            side = main.path + ".json"  # as arthur_gen.jobs._outputs.sidecar_path names it
            sidecar = Media(path=side, media_type="application/json", exists=os.path.isfile(side))
        entries.append(
            Entry(
                id=row.id,
                kind=row.kind,
                state=row.state,
                backend=row.backend,
                model=row.model,
                prompt=row.prompt,
                seed=row.seed,
                created_at=row.created_at,
                cost_usd=row.cost_usd,
                cost_source=row.cost_source,
                estimate_usd=row.estimate_usd,
                error=row.error,
                main=main,
                poster=poster,
                extras=tuple(extras),
                sidecar=sidecar,
                parents=tuple(row.parents),
                children=tuple(children.get(row.id, ())),
                commands=_commands(row),
            )
        )
    return entries


@attrs.frozen(kw_only=True)
class Gallery:
    """Everything the page shows: entries newest first, labels of other linked jobs, output roots."""

    entries: list[Entry]
    others: dict[str, str]
    roots: list[str]

    def summary(self) -> str:
        """``"12 images, 5 videos"`` (edits count as videos)."""
        images = sum(1 for e in self.entries if e.kind == "image")
        videos = len(self.entries) - images
        return f"{images} image{'' if images == 1 else 's'}, {videos} video{'' if videos == 1 else 's'}"


_COLUMNS = (
    "id, created_at, kind, backend, model, prompt, request, state, seed, estimate_usd, cost_usd, "
    "cost_source, parents, outputs, error, out_dir"
)


class _Row:
    """The columns the gallery reads, JSON decoded only where it is used."""

    __slots__ = (
        "backend",
        "cost_source",
        "cost_usd",
        "created_at",
        "error",
        "estimate_usd",
        "id",
        "kind",
        "model",
        "out_dir",
        "outputs",
        "parents",
        "prompt",
        "request",
        "seed",
        "state",
    )  # fmt: skip

    def __init__(self, values: Sequence[Any]) -> None:
        (self.id, self.created_at, self.kind, self.backend, self.model, self.prompt, request,
         self.state, self.seed, self.estimate_usd, self.cost_usd, self.cost_source, parents, outputs,
         self.error, self.out_dir) = values  # fmt: skip
        self.parents: list[str] = json.loads(parents) if parents != "[]" else []
        shown = self.kind in GALLERY_KINDS
        self.outputs: list[dict[str, Any]] = json.loads(outputs) if shown and outputs != "[]" else []
        self.request: dict[str, Any] = json.loads(request) if self.kind in ("image", "video") else {}


def load() -> Gallery:
    """Read every job from the store (one query) into a :class:`Gallery`."""
    from ..jobs._store import get_store

    rows = [_Row(v) for v in get_store().rows(f"SELECT {_COLUMNS} FROM jobs")]
    entries = collect(rows)
    shown = {e.id for e in entries}
    others = {r.id: f"{r.kind} · {r.backend} · {r.state}" for r in rows if r.id not in shown}
    return Gallery(entries=entries, others=others, roots=output_roots(rows))


def output_roots(rows: Iterable[Any]) -> list[str]:
    """The project's output folders (real paths): every job's ``out_dir`` and the configured one."""
    from .._config import load_settings

    folders = {str(load_settings().output_dir)} | {row.out_dir for row in rows if row.out_dir}
    return sorted({os.path.realpath(os.path.expanduser(folder)) for folder in folders})
