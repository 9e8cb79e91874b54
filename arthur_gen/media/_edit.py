"""The edit verb: inputs + a recipe (or the shortcut flags) -> a durable, cached edit job."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, InvalidRequestError
from ._recipe import (
    Captions,
    Card,
    EditRecipe,
    EditRequest,
    Gif,
    Logo,
    Music,
    Operation,
    Poster,
    Reformat,
    Title,
)

if TYPE_CHECKING:
    from ..jobs._results import GeneratedVideo, ProgressEvent
    from ..jobs._runner import Plan

__all__ = ["brand_kit", "build_recipe", "edit", "file_metadata", "plan_edit"]


def brand_kit(name: str) -> dict[str, Any]:
    """The ``[brands.NAME]`` table of the config file (logo, font, color, box, intro, outro, music)."""
    from .._config import config_path

    path = config_path()
    data: dict[str, Any] = {}
    if path.is_file():
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    brands = data.get("brands", {})
    if not isinstance(brands, Mapping) or name not in brands:
        known = ", ".join(sorted(brands)) if isinstance(brands, Mapping) and brands else "none"
        raise InvalidRequestError(
            f"brand={name!r} is not configured (configured: {known}); add a [brands.{name}] table "
            f"with logo, font, color, intro, outro, music to {path}",
            field="brand",
        )
    kit = dict(brands[name])
    unknown = sorted(set(kit) - {"logo", "font", "color", "box", "intro", "outro", "music", "corner"})
    if unknown:
        raise InvalidRequestError(f"brand {name!r}: unknown key(s) {', '.join(unknown)}", field="brand")
    return kit


def _card(where: str, value: str, kit: Mapping[str, Any]) -> Card:
    looks_like_image = Path(value).suffix.lower() in (".png", ".jpg", ".jpeg", ".webp")
    if looks_like_image:
        return Card(where=where, image=value)
    return Card(where=where, text=value, font=kit.get("font"), color=kit.get("color", "white"))


def build_recipe(
    recipe: EditRecipe | Sequence[Operation] | Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    fit: str | None = None,
    logo: str | Path | None = None,
    title: str | None = None,
    captions: str | Path | Sequence[tuple[float, float, str]] | None = None,
    music: str | Path | None = None,
    brand: str | None = None,
    poster: bool = False,
    gif: bool = False,
) -> EditRecipe:
    """A recipe from an explicit one plus the shortcut arguments (a brand fills the gaps)."""
    if recipe is None:
        base = EditRecipe()
    elif isinstance(recipe, EditRecipe):
        base = recipe
    elif isinstance(recipe, Mapping):
        base = EditRecipe.from_dict(recipe)
    else:
        base = EditRecipe(tuple(recipe))
    kit = brand_kit(brand) if brand else {}
    ops = list(base.operations)
    if preset is not None or fit is not None:
        if base.first(Reformat) is not None:
            raise InvalidRequestError("give preset/fit or a reformat operation in the recipe, not both")
        if preset is None:
            raise InvalidRequestError(
                "fit=... needs a preset (or a reformat operation with a size)", field="fit"
            )
        ops.insert(0, Reformat(preset=preset, mode=fit or "fill"))
    if kit.get("intro") and not any(isinstance(o, Card) and o.where == "intro" for o in ops):
        ops.append(_card("intro", str(kit["intro"]), kit))
    if kit.get("outro") and not any(isinstance(o, Card) and o.where == "outro" for o in ops):
        ops.append(_card("outro", str(kit["outro"]), kit))
    logo = logo or kit.get("logo")
    if logo:
        ops.append(Logo(path=str(logo), corner=kit.get("corner", "top-right")))
    if title:
        ops.append(Title(text=title, font=kit.get("font"), color=kit.get("color", "white")))
    if captions is not None:
        style = {"font": kit.get("font"), "color": kit.get("color", "white")}
        if isinstance(captions, str | Path):
            ops.append(Captions(file=str(captions), **style))
        else:
            ops.append(Captions(cues=captions, **style))
    music = music or kit.get("music")
    if music and base.first(Music) is None:
        ops.append(Music(path=str(music)))
    if poster and base.first(Poster) is None:
        ops.append(Poster())
    if gif and base.first(Gif) is None:
        ops.append(Gif())
    return EditRecipe(tuple(ops))


def plan_edit(inputs: Any, recipe: Any = None, **shortcuts: Any) -> Plan:
    """Validate an edit (probing the inputs) without rendering: what ``--dry-run`` shows."""
    from .._models import Kind
    from ..jobs._runner import plan_request

    request: Any = EditRequest(inputs=inputs, recipe=build_recipe(recipe, **shortcuts))
    return plan_request(Kind.EDIT, request, None, None)


def edit(
    inputs: Any,
    recipe: EditRecipe | Sequence[Operation] | Mapping[str, Any] | None = None,
    *,
    preset: str | None = None,
    fit: str | None = None,
    logo: str | Path | None = None,
    title: str | None = None,
    captions: str | Path | Sequence[tuple[float, float, str]] | None = None,
    music: str | Path | None = None,
    brand: str | None = None,
    poster: bool = False,
    gif: bool = False,
    out_dir: str | Path | None = None,
    cache: bool = True,
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel_event: threading.Event | None = None,
    timeout: float | None = None,
) -> GeneratedVideo:
    """Edit videos and images into one post-ready MP4 (plus a poster/GIF if asked), as a job.

    ``inputs`` are paths or results (a generated video or image); the output's lineage links
    to their jobs. The same inputs (by content) and recipe return the earlier output at once.
    """
    from ..jobs._runner import RunOptions, run_plan

    the_plan = plan_edit(
        inputs, recipe, preset=preset, fit=fit, logo=logo, title=title, captions=captions,
        music=music, brand=brand, poster=poster, gif=gif,
    )  # fmt: skip
    items = inputs if isinstance(inputs, Sequence) and not isinstance(inputs, str) else [inputs]
    parents = tuple(i.job_id for i in items if isinstance(getattr(i, "job_id", None), str))
    opts = RunOptions(
        out_dir=Path(out_dir).expanduser() if out_dir else None,
        cache=cache,
        parents=parents,
        on_progress=on_progress,
        cancel_event=cancel_event,
        timeout_s=timeout,
    )
    result = run_plan(the_plan, opts)
    from ..jobs._results import GeneratedVideo

    assert isinstance(result, GeneratedVideo)
    return result


def file_metadata(path: Path) -> dict[str, Any]:
    """The arthur-gen record of an output file: embedded (MP4, PNG), else its sidecar."""
    import json

    from ..errors import JobNotFoundError
    from ..jobs._outputs import sidecar_path
    from ..jobs._pngmeta import read_png_metadata
    from ._mp4meta import read_mp4_metadata

    meta: dict[str, Any] | None = None
    try:
        if path.suffix.lower() in (".mp4", ".mov"):
            meta = read_mp4_metadata(path)
        elif path.suffix.lower() == ".png":
            meta = read_png_metadata(path)
        elif path.suffix.lower() == ".json":
            meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JobNotFoundError(f"{path}: cannot read its arthur-gen record ({exc})") from None
    if meta is None and sidecar_path(path).is_file():
        meta = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    if not isinstance(meta, dict):
        raise JobNotFoundError(f"{path} carries no arthur-gen record and has no sidecar")
    return meta
