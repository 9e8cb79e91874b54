"""Edit recipes: an ordered list of typed, frozen, validated operations, and the edit request.

Everything here is checked on construction, before any file is decoded: types, ranges,
that named files exist, colours. Checks that need the inputs (durations, codecs, preset
limits) run in the edit backend's ``validate`` (still before any output is written).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

import attrs

from .._models import Kind
from ..errors import InvalidRequestError

__all__ = [
    "Captions",
    "Card",
    "Custom",
    "EditRecipe",
    "EditRequest",
    "Fps",
    "Gif",
    "Logo",
    "Loudness",
    "LowerThird",
    "Music",
    "Operation",
    "Poster",
    "Reformat",
    "Speed",
    "Still",
    "Title",
    "Transition",
    "Trim",
    "operation_from_dict",
]

CORNERS = ("top-left", "top-right", "bottom-left", "bottom-right")
MODES = ("fill", "fit", "blur")
TRANSITIONS = ("cut", "crossfade", "fade")
PANS = ("center", "left", "right", "up", "down")


def _bad(field: str, value: object, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(f"{field}={value!r} is not valid: {allowed}", field=field)


def _number(lo: float, hi: float, *, optional: bool = False, lo_open: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _bad(attribute.name, value, f"must be a number from {lo} to {hi}")
        if value < lo or value > hi or (lo_open and value == lo):
            raise _bad(attribute.name, value, f"must be {'above' if lo_open else 'from'} {lo} up to {hi}")

    return check


def _whole(lo: int, hi: int, *, optional: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise _bad(attribute.name, value, f"must be a whole number from {lo} to {hi}")

    return check


def _choice(options: Sequence[str]) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in options:
            raise _bad(attribute.name, value, f"must be one of {', '.join(options)}")

    return check


def _text(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value.strip() or "\x00" in value or len(value) > 2000:
        raise _bad(attribute.name, value, "must be non-empty text of at most 2000 characters")


def _colour(optional: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str):
            raise _bad(attribute.name, value, "must be a colour name or '#rrggbb'")
        from ._draw import check_color

        check_color(value, attribute.name)

    return check


def _abs_path(value: Any) -> Any:
    if value is None:
        return None
    path = getattr(value, "path", None)  # a result object
    if isinstance(path, Path | str) and not isinstance(value, str | Path):
        value = path
    if isinstance(value, str | Path) and str(value):
        return str(Path(value).expanduser().absolute())
    return value


def _file(optional: bool = False) -> Any:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None and optional:
            return
        if not isinstance(value, str) or not value:
            raise _bad(attribute.name, value, "must be a file path")
        try:
            ok = Path(value).is_file()
        except (OSError, ValueError):
            ok = False
        if not ok:
            raise _bad(attribute.name, value, "no such file; give the path of an existing file")

    return check


@attrs.frozen(kw_only=True)
class Operation:
    """One step of a recipe. ``op`` names it in dicts, sidecars and the CLI."""

    op: ClassVar[str] = ""

    def files(self) -> dict[str, str]:
        """Local files this operation reads (their contents key the cache)."""
        out = {}
        for field in attrs.fields(type(self)):
            if field.metadata.get("file") and getattr(self, field.name):
                out[field.name] = getattr(self, field.name)
        return out

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self, recurse=False)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = [list(v) if isinstance(v, tuple) else v for v in value]
            elif isinstance(value, Mapping):
                data[key] = dict(value)
        return {"op": self.op, **data}


def _file_field(optional: bool = True) -> Any:
    return attrs.field(default=None, converter=_abs_path, validator=_file(optional), metadata={"file": True})


@attrs.frozen(kw_only=True)
class Reformat(Operation):
    """Make every frame ``width`` x ``height`` (or the preset's size): fill crops, fit pads with
    ``color``, blur puts the clip blurred and scaled behind itself."""

    op: ClassVar[str] = "reformat"
    preset: str | None = None
    width: int | None = attrs.field(default=None, validator=_whole(16, 8192, optional=True))
    height: int | None = attrs.field(default=None, validator=_whole(16, 8192, optional=True))
    mode: str = attrs.field(default="fill", validator=_choice(MODES))
    color: str = attrs.field(default="black", validator=_colour())

    def __attrs_post_init__(self) -> None:
        if self.preset is not None:
            from ._presets import get_preset

            get_preset(self.preset)
            if self.width is not None or self.height is not None:
                raise InvalidRequestError("reformat: give a preset or width/height, not both", field="width")
        elif self.width is None or self.height is None:
            raise InvalidRequestError("reformat: give a preset, or both width and height", field="width")
        elif self.width % 2 or self.height % 2:
            raise InvalidRequestError(
                f"reformat: {self.width}x{self.height} must be even numbers (H.264 yuv420p)", field="width"
            )

    def size(self) -> tuple[int, int]:
        if self.preset is not None:
            from ._presets import get_preset

            p = get_preset(self.preset)
            return p.width, p.height
        assert self.width is not None and self.height is not None
        return self.width, self.height


@attrs.frozen(kw_only=True)
class Trim(Operation):
    """Keep ``start``..``end`` seconds of input ``input`` (every input when None)."""

    op: ClassVar[str] = "trim"
    start: float = attrs.field(default=0.0, validator=_number(0, 86400))
    end: float | None = attrs.field(default=None, validator=_number(0, 86400, optional=True))
    input: int | None = attrs.field(default=None, validator=_whole(0, 999, optional=True))

    def __attrs_post_init__(self) -> None:
        if self.end is not None and self.end <= self.start:
            raise InvalidRequestError(f"trim: end={self.end} must be after start={self.start}", field="end")


@attrs.frozen(kw_only=True)
class Speed(Operation):
    """Play input ``input`` (every input when None) ``factor`` times as fast."""

    op: ClassVar[str] = "speed"
    factor: float = attrs.field(validator=_number(0.1, 10.0))
    input: int | None = attrs.field(default=None, validator=_whole(0, 999, optional=True))


@attrs.frozen(kw_only=True)
class Fps(Operation):
    """The output frame rate (default: the first video input's, capped by the preset)."""

    op: ClassVar[str] = "fps"
    fps: float = attrs.field(validator=_number(1, 120))


@attrs.frozen(kw_only=True)
class Transition(Operation):
    """How consecutive clips join: ``cut``, ``crossfade`` or ``fade`` (through black).

    ``after=i`` sets the join from input ``i`` to input ``i + 1`` only; without it, every
    other join (cards included). A recipe has one of each.
    """

    op: ClassVar[str] = "transition"
    kind: str = attrs.field(default="crossfade", validator=_choice(TRANSITIONS))
    duration: float = attrs.field(default=0.5, validator=_number(0, 10))
    after: int | None = attrs.field(default=None, validator=_whole(0, 999, optional=True))


@attrs.frozen(kw_only=True)
class Still(Operation):
    """How an image input becomes a clip: ``duration`` s with a slow zoom to ``zoom`` and a pan."""

    op: ClassVar[str] = "still"
    duration: float = attrs.field(default=3.0, validator=_number(0.1, 600))
    zoom: float = attrs.field(default=1.1, validator=_number(1.0, 4.0))
    pan: str = attrs.field(default="center", validator=_choice(PANS))


@attrs.frozen(kw_only=True)
class _TextStyle(Operation):
    font: str | None = _file_field()
    size: float = attrs.field(default=0.05, validator=_number(0.005, 0.5))  # of the frame height
    color: str = attrs.field(default="white", validator=_colour())
    stroke: float = attrs.field(default=0.08, validator=_number(0, 0.5))  # of the text size
    stroke_color: str = attrs.field(default="black", validator=_colour())
    box: str | None = attrs.field(default=None, validator=_colour(optional=True))


@attrs.frozen(kw_only=True)
class Logo(Operation):
    """A logo image in a corner: ``size`` and ``margin`` are fractions of the frame width."""

    op: ClassVar[str] = "logo"
    path: str = _file_field(optional=False)
    corner: str = attrs.field(default="top-right", validator=_choice(CORNERS))
    size: float = attrs.field(default=0.15, validator=_number(0.01, 1.0))
    margin: float = attrs.field(default=0.03, validator=_number(0, 0.4))
    opacity: float = attrs.field(default=1.0, validator=_number(0, 1.0))


@attrs.frozen(kw_only=True)
class Title(_TextStyle):
    """A title over the first ``duration`` seconds, centred (``position``: center/top/bottom)."""

    op: ClassVar[str] = "title"
    text: str = attrs.field(validator=_text)
    start: float = attrs.field(default=0.0, validator=_number(0, 86400))
    duration: float = attrs.field(default=2.5, validator=_number(0.1, 3600))
    position: str = attrs.field(default="center", validator=_choice(("center", "top", "bottom")))
    size: float = attrs.field(default=0.07, validator=_number(0.005, 0.5))


@attrs.frozen(kw_only=True)
class LowerThird(_TextStyle):
    """A name strap in the lower third from ``start`` for ``duration`` seconds, on a box."""

    op: ClassVar[str] = "lower_third"
    text: str = attrs.field(validator=_text)
    start: float = attrs.field(default=0.5, validator=_number(0, 86400))
    duration: float = attrs.field(default=4.0, validator=_number(0.1, 3600))
    box: str | None = attrs.field(default="#000000b0", validator=_colour(optional=True))


def _cues(value: Any) -> tuple[tuple[float, float, str], ...]:
    if value is None:
        return ()
    try:
        return tuple((float(s), float(e), str(t)) for s, e, t in value)
    except (TypeError, ValueError):
        raise _bad("cues", value, "must be a list of (start_s, end_s, text)") from None


@attrs.frozen(kw_only=True)
class Captions(_TextStyle):
    """Timed captions near the bottom, from ``cues`` or an SRT/VTT ``file``."""

    op: ClassVar[str] = "captions"
    cues: tuple[tuple[float, float, str], ...] = attrs.field(factory=tuple, converter=_cues)
    file: str | None = _file_field()
    box: str | None = attrs.field(default="#00000090", validator=_colour(optional=True))

    def __attrs_post_init__(self) -> None:
        if bool(self.cues) == bool(self.file):
            raise InvalidRequestError(
                "captions: give cues or a file (SRT/VTT), one of them", field="captions"
            )
        for start, end, text in self.cues:
            if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
                raise InvalidRequestError(
                    f"captions: cue {text!r} runs {start:g}-{end:g} s; it must start at 0 or later "
                    "and end after it starts",
                    field="captions",
                )
        if self.file:
            from ._subtitles import read_captions

            read_captions(self.file)

    def all_cues(self) -> list[tuple[float, float, str]]:
        if self.file:
            from ._subtitles import read_captions

            return read_captions(self.file)
        return list(self.cues)


@attrs.frozen(kw_only=True)
class Card(_TextStyle):
    """An intro or outro card (``where``) of ``duration`` s: text on a colour, or an image."""

    op: ClassVar[str] = "card"
    where: str = attrs.field(default="intro", validator=_choice(("intro", "outro")))
    text: str | None = attrs.field(default=None)
    image: str | None = _file_field()
    duration: float = attrs.field(default=2.0, validator=_number(0.1, 60))
    background: str = attrs.field(default="black", validator=_colour())
    size: float = attrs.field(default=0.07, validator=_number(0.005, 0.5))

    def __attrs_post_init__(self) -> None:
        if self.text is None and self.image is None:
            raise InvalidRequestError("card: give text or an image", field="card")
        if self.text is not None:
            _text(self, attrs.fields(Card).text, self.text)


@attrs.frozen(kw_only=True)
class Music(Operation):
    """A music or voice track: trimmed, looped to length, faded, at ``volume_db``, ducked by
    ``duck_db`` under the clips' own sound (0 for no ducking)."""

    op: ClassVar[str] = "music"
    path: str = _file_field(optional=False)
    start: float = attrs.field(default=0.0, validator=_number(0, 86400))
    end: float | None = attrs.field(default=None, validator=_number(0, 86400, optional=True))
    loop: bool = True
    fade_in: float = attrs.field(default=0.5, validator=_number(0, 60))
    fade_out: float = attrs.field(default=1.0, validator=_number(0, 60))
    volume_db: float = attrs.field(default=0.0, validator=_number(-60, 20))
    duck_db: float = attrs.field(default=12.0, validator=_number(0, 60))


@attrs.frozen(kw_only=True)
class Loudness(Operation):
    """Normalise the mix to ``target`` LUFS integrated (default -14, the platforms' level)."""

    op: ClassVar[str] = "loudness"
    target: float = attrs.field(default=-14.0, validator=_number(-40, -5))


@attrs.frozen(kw_only=True)
class Poster(Operation):
    """Also write a poster JPEG: the frame at ``at`` seconds, or the sharpest when None."""

    op: ClassVar[str] = "poster"
    at: float | None = attrs.field(default=None, validator=_number(0, 86400, optional=True))


@attrs.frozen(kw_only=True)
class Gif(Operation):
    """Also write an animated GIF of ``duration`` s from ``start``, ``width`` px, ``fps``."""

    op: ClassVar[str] = "gif"
    start: float = attrs.field(default=0.0, validator=_number(0, 86400))
    duration: float = attrs.field(default=4.0, validator=_number(0.2, 30))
    width: int = attrs.field(default=480, validator=_whole(32, 1920))
    fps: float = attrs.field(default=10.0, validator=_number(1, 30))


def _params(value: Any) -> Mapping[str, Any]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad("params", value, "must be a mapping of names to values")
    return MappingProxyType(dict(sorted(value.items())))


@attrs.frozen(kw_only=True)
class Custom(Operation):
    """A post-processor from a plugin (``register_postprocessors``), by name, with params."""

    op: ClassVar[str] = "custom"
    name: str = attrs.field(validator=_text)
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_params, hash=False)

    def __attrs_post_init__(self) -> None:
        from ._postprocessors import get_postprocessor

        get_postprocessor(self.name).validate(dict(self.params))


OPERATIONS: dict[str, type[Operation]] = {
    cls.op: cls
    for cls in (
        Reformat, Trim, Speed, Fps, Transition, Still, Logo, Title, LowerThird,
        Captions, Card, Music, Loudness, Poster, Gif, Custom,
    )
}  # fmt: skip
_SINGLE = {"reformat", "fps", "still", "loudness", "poster", "gif", "music"}


def operation_from_dict(data: Mapping[str, Any]) -> Operation:
    """An operation from its dict (``{"op": "logo", "path": ...}``)."""
    if not isinstance(data, Mapping):
        raise _bad("operation", data, "must be a mapping with an 'op' key")
    fields = dict(data)
    name = fields.pop("op", None)
    cls = OPERATIONS.get(str(name))
    if cls is None:
        raise _bad("op", name, f"must be one of {', '.join(sorted(OPERATIONS))}")
    known = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise InvalidRequestError(
            f"{name}: unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}",
            field=unknown[0],
        )
    try:
        return cls(**fields)
    except TypeError as exc:
        raise InvalidRequestError(f"{name}: {exc}") from None


def _operations(value: Any) -> tuple[Operation, ...]:
    if isinstance(value, Operation):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise _bad("operations", value, "must be a list of operations")
    return tuple(v if isinstance(v, Operation) else operation_from_dict(v) for v in value)


@attrs.frozen
class EditRecipe:
    """An ordered list of operations. Overlays are drawn in list order."""

    operations: tuple[Operation, ...] = attrs.field(factory=tuple, converter=_operations)

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for op in self.operations:
            if op.op in _SINGLE and op.op in seen:
                raise InvalidRequestError(f"the recipe has two {op.op!r} operations; keep one", field=op.op)
            seen.add(op.op)
        joins = [t.after for t in self.all(Transition)]
        for after in set(joins):
            if joins.count(after) > 1:
                which = "for every join" if after is None else f"with after={after}"
                raise InvalidRequestError(
                    f"the recipe has two transitions {which}; keep one", field="transition"
                )

    def first(self, cls: type[Any]) -> Any:
        return next((op for op in self.operations if isinstance(op, cls)), None)

    def all(self, cls: type[Any]) -> list[Any]:
        return [op for op in self.operations if isinstance(op, cls)]

    def then(self, *operations: Operation) -> EditRecipe:
        """A recipe with ``operations`` appended."""
        return EditRecipe(self.operations + tuple(operations))

    def files(self) -> dict[str, str]:
        out = {}
        for i, op in enumerate(self.operations):
            for name, path in op.files().items():
                out[f"recipe[{i}].{name}"] = path
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"operations": [op.to_dict() for op in self.operations]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EditRecipe:
        if not isinstance(data, Mapping) or set(data) - {"operations"}:
            raise _bad("recipe", data, "must be {'operations': [...]}")
        return cls(data.get("operations", ()))


def _inputs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str | Path) or hasattr(value, "paths"):
        value = [value]
    if not isinstance(value, Sequence) or not value:
        raise _bad("inputs", value, "give at least one video or image file")
    out: list[str] = []
    for item in value:
        paths = getattr(item, "paths", None)
        if paths and not isinstance(item, str | Path):  # a result: its video (or first file)
            videos = [p for p in paths if str(p).endswith((".mp4", ".mov", ".webm"))]
            item = (videos or list(paths))[0]
        out.append(_abs_path(item))
    return tuple(out)


def _input_files(instance: object, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
    for path in value:
        if not isinstance(path, str) or not Path(path).is_file():
            raise _bad("inputs", path, "no such file; give existing video or image files")


@attrs.frozen(kw_only=True)
class EditRequest:
    """A request to edit: inputs (videos, images) and a recipe. Local, deterministic, $0."""

    kind: ClassVar[Kind] = Kind.EDIT
    deterministic: ClassVar[bool] = True  # same inputs + recipe -> same output: always cacheable

    inputs: tuple[str, ...] = attrs.field(converter=_inputs, validator=_input_files)
    recipe: EditRecipe = attrs.field(factory=EditRecipe)
    prompt: str = ""
    seed: None = None

    def __attrs_post_init__(self) -> None:
        if not self.prompt:
            stem = Path(self.inputs[0]).stem[:40]
            reformat = self.recipe.first(Reformat)
            target = (reformat.preset or f"{reformat.width}x{reformat.height}") if reformat else "edit"
            object.__setattr__(self, "prompt", f"{target} {stem}")
        if self.seed is not None:
            raise _bad("seed", self.seed, "edits take no seed")

    def input_files(self) -> dict[str, str]:
        files = {f"inputs[{i}]": p for i, p in enumerate(self.inputs)}
        files.update(self.recipe.files())
        return files

    def canonical_dict(self, digest: Callable[[str], str]) -> dict[str, Any]:
        """What keys the cache: contents only. Every file (input, logo, font, music, captions)
        becomes ``digest(path)``; the label ``prompt`` (made from a file name) is left out."""
        recipe = self.recipe.to_dict()
        for op, data in zip(self.recipe.operations, recipe["operations"], strict=True):
            for name, path in op.files().items():
                data[name] = digest(path)
        return {"kind": self.kind.value, "inputs": [digest(p) for p in self.inputs], "recipe": recipe}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "prompt": self.prompt,
            "inputs": list(self.inputs),
            "recipe": self.recipe.to_dict(),
            "seed": None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EditRequest:
        fields = dict(data)
        fields.pop("kind", None)
        unknown = sorted(set(fields) - {"prompt", "inputs", "recipe", "seed"})
        if unknown:
            raise InvalidRequestError(f"unknown edit request field(s) {', '.join(unknown)}", field=unknown[0])
        recipe = fields.get("recipe") or {}
        return cls(
            inputs=fields.get("inputs") or (),
            recipe=recipe if isinstance(recipe, EditRecipe) else EditRecipe.from_dict(recipe),
            prompt=str(fields.get("prompt") or ""),
        )

    def with_changes(self, **changes: Any) -> EditRequest:
        return attrs.evolve(self, **changes)
