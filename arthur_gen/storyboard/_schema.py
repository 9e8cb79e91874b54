"""The storyboard file: YAML parsed with PyYAML, validated with messages naming line and field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from ..errors import InvalidRequestError

__all__ = ["Board", "Defaults", "Output", "Shot", "parse_board"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_TRANSITIONS = ("cut", "crossfade", "fade")
_STAGE_KEYS = ("backend", "model", "options", "width", "height", "aspect_ratio", "resolution", "steps")


@attrs.frozen(kw_only=True)
class Shot:
    """One shot: an optional keyframe (a prompt for a local image, or a file), then a clip."""

    id: str
    prompt: str
    keyframe_prompt: str | None = None
    keyframe_file: Path | None = None
    last_frame: Path | None = None
    chain: bool = False
    duration: float | None = None
    motion: str | None = None
    caption: str | None = None
    transition: str | None = None
    seed: int | None = None


@attrs.frozen(kw_only=True)
class Defaults:
    """What every shot shares: prompt style, backends and models, seeds, preset, brand."""

    style: str = ""
    image: Mapping[str, Any] = attrs.field(factory=dict)
    video: Mapping[str, Any] = attrs.field(factory=dict)
    seed: int = 1
    preset: str | None = None
    brand: str | None = None
    reference: Path | None = None
    transition: str = "cut"
    max_parallel: int = 4
    confirm_above_usd: float = 1.0


@attrs.frozen(kw_only=True)
class Output:
    """One finished video: a preset (or none: the clips' own size) and a name."""

    name: str
    preset: str | None = None
    fit: str | None = None


@attrs.frozen(kw_only=True)
class Board:
    """A validated storyboard file."""

    path: Path
    title: str | None
    defaults: Defaults
    shots: tuple[Shot, ...]
    soundtrack: Path | None
    logo: Path | None
    outputs: tuple[Output, ...]
    publish: tuple[Mapping[str, Any], ...]


class _Reader:
    """Walks the composed YAML node tree, so that every error names its line."""

    def __init__(self, path: Path, text: str) -> None:
        import yaml

        self.path = path
        self.base = path.parent
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            self.value = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            problem = getattr(exc, "problem", None) or str(exc)
            raise InvalidRequestError(f"{where}: not valid YAML: {problem}") from None
        finally:
            loader.dispose()
        self.lines: dict[str, int] = {}
        if node is not None:
            self._index(node, "")

    def _index(self, node: Any, where: str) -> None:
        import yaml

        self.lines[where] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                self.lines[_join(where, str(key.value))] = key.start_mark.line + 1
                self._index(value, _join(where, str(key.value)))
                self.lines[_join(where, str(key.value))] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._index(item, f"{where}[{i}]")

    def fail(self, where: str, message: str) -> InvalidRequestError:
        probe = where
        while probe and probe not in self.lines:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
        line = self.lines.get(probe, 1)
        return InvalidRequestError(f"{self.path}:{line}: {where or 'file'}: {message}", field=where or None)

    def mapping(self, value: Any, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping (key: value lines), got {type(value).__name__}")
        unknown = [str(k) for k in value if k not in allowed]
        if unknown:
            raise self.fail(
                _join(where, unknown[0]), f"unknown field; allowed here: {', '.join(sorted(allowed))}"
            )
        return dict(value)

    def text(self, value: Any, where: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                raise self.fail(where, "is required (a non-empty text)")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, f"expected a non-empty text, got {value!r}")
        return value.strip()

    def number(self, value: Any, where: str, *, integer: bool = False, low: float = 0) -> Any:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (integer and not isinstance(value, int))
            or value < low
        ):
            what = "a whole number" if integer else "a number"
            raise self.fail(where, f"expected {what} >= {low:g}, got {value!r}")
        return value

    def file(self, value: Any, where: str) -> Path | None:
        name = self.text(value, where)
        if name is None:
            return None
        path = Path(name).expanduser()
        path = path if path.is_absolute() else self.base / path
        if not path.is_file():
            raise self.fail(where, f"file {path} does not exist (paths are relative to the storyboard)")
        return path

    def choice(self, value: Any, where: str, choices: tuple[str, ...]) -> str | None:
        if value is None:
            return None
        if value not in choices:
            raise self.fail(where, f"{value!r} is not one of {', '.join(choices)}")
        return str(value)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _defaults(r: _Reader, raw: Any) -> Defaults:
    allowed = (
        "style", "image", "video", "seed", "preset", "brand", "reference", "transition",
        "max_parallel", "confirm_above_usd",
    )  # fmt: skip
    d = r.mapping(raw, "defaults", allowed)
    stages = {name: r.mapping(d.get(name), f"defaults.{name}", _STAGE_KEYS) for name in ("image", "video")}
    for name, stage in stages.items():
        if "options" in stage:
            r.mapping(stage["options"], f"defaults.{name}.options", tuple(map(str, stage["options"] or {})))
    seed = r.number(d.get("seed"), "defaults.seed", integer=True)
    parallel = r.number(d.get("max_parallel"), "defaults.max_parallel", integer=True, low=1)
    confirm = r.number(d.get("confirm_above_usd"), "defaults.confirm_above_usd")
    return Defaults(
        style=r.text(d.get("style"), "defaults.style") or "",
        image=stages["image"],
        video=stages["video"],
        seed=1 if seed is None else seed,
        preset=r.text(d.get("preset"), "defaults.preset"),
        brand=r.text(d.get("brand"), "defaults.brand"),
        reference=r.file(d.get("reference"), "defaults.reference"),
        transition=r.choice(d.get("transition"), "defaults.transition", _TRANSITIONS) or "cut",
        max_parallel=4 if parallel is None else parallel,
        confirm_above_usd=1.0 if confirm is None else float(confirm),
    )


def _shot(r: _Reader, raw: Any, where: str, index: int) -> Shot:
    allowed = (
        "id", "prompt", "keyframe", "first_frame", "last_frame", "duration", "motion", "caption",
        "voiceover", "transition", "seed",
    )  # fmt: skip
    s = r.mapping(raw, where, allowed)
    shot_id = r.text(s.get("id"), f"{where}.id", required=True)
    assert shot_id is not None
    if not _ID.match(shot_id):
        raise r.fail(f"{where}.id", f"{shot_id!r}: use letters, digits, '-' and '_' (at most 64)")
    keyframe_prompt = keyframe_file = None
    key = s.get("keyframe")
    if isinstance(key, Mapping):
        k = r.mapping(key, f"{where}.keyframe", ("prompt", "file"))
        if ("prompt" in k) == ("file" in k):
            raise r.fail(f"{where}.keyframe", "give exactly one of prompt (a local image) or file")
        keyframe_prompt = r.text(k.get("prompt"), f"{where}.keyframe.prompt")
        keyframe_file = r.file(k.get("file"), f"{where}.keyframe.file")
    elif key is not None:
        keyframe_prompt = r.text(key, f"{where}.keyframe")
    first = s.get("first_frame")
    chain = False
    if first == "previous":
        if index == 0:
            raise r.fail(f"{where}.first_frame", "'previous' needs a shot before this one")
        if key is not None:
            raise r.fail(f"{where}.first_frame", "give a keyframe or first_frame: previous, not both")
        chain = True
    elif first is not None:
        if key is not None:
            raise r.fail(f"{where}.first_frame", "give a keyframe or a first_frame file, not both")
        keyframe_file = r.file(first, f"{where}.first_frame")
    caption = r.text(s.get("caption"), f"{where}.caption")
    voiceover = r.text(s.get("voiceover"), f"{where}.voiceover")
    if caption and voiceover:
        raise r.fail(f"{where}.voiceover", "give caption or voiceover text, not both")
    duration = r.number(s.get("duration"), f"{where}.duration")
    if duration is not None and duration <= 0:
        raise r.fail(f"{where}.duration", f"expected seconds > 0, got {duration!r}")
    return Shot(
        id=shot_id,
        prompt=r.text(s.get("prompt"), f"{where}.prompt", required=True) or "",
        keyframe_prompt=keyframe_prompt,
        keyframe_file=keyframe_file,
        last_frame=r.file(s.get("last_frame"), f"{where}.last_frame"),
        chain=chain,
        duration=None if duration is None else float(duration),
        motion=r.text(s.get("motion"), f"{where}.motion"),
        caption=caption or voiceover,
        transition=r.choice(s.get("transition"), f"{where}.transition", _TRANSITIONS),
        seed=r.number(s.get("seed"), f"{where}.seed", integer=True),
    )


def parse_board(path: str | Path, text: str | None = None) -> Board:
    """Read and validate a storyboard file; every error names the file, line and field."""
    p = Path(path).expanduser().resolve()
    if text is None:
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequestError(f"cannot read storyboard {p}: {exc.strerror or exc}") from None
    r = _Reader(p, text)
    top = r.mapping(
        r.value, "", ("version", "title", "defaults", "shots", "soundtrack", "logo", "outputs", "publish")
    )
    if top.get("version", 1) != 1:
        raise r.fail("version", f"{top['version']!r} is not supported: use version: 1")
    shots_raw = top.get("shots")
    if not isinstance(shots_raw, list) or not shots_raw:
        raise r.fail("shots", "is required: a list of shots, each with an id and a prompt")
    shots = tuple(_shot(r, raw, f"shots[{i}]", i) for i, raw in enumerate(shots_raw))
    seen: set[str] = set()
    for i, shot in enumerate(shots):
        if shot.id in seen:
            raise r.fail(f"shots[{i}].id", f"{shot.id!r} is used by an earlier shot; ids must be unique")
        seen.add(shot.id)
    outputs_raw = top.get("outputs") or [{}]
    if not isinstance(outputs_raw, list):
        raise r.fail("outputs", "expected a list of outputs, e.g. - preset: linkedin-portrait")
    defaults = _defaults(r, top.get("defaults"))
    outputs = []
    for i, raw in enumerate(outputs_raw):
        o = r.mapping(raw, f"outputs[{i}]", ("name", "preset", "fit"))
        preset = r.text(o.get("preset"), f"outputs[{i}].preset") or defaults.preset
        name = r.text(o.get("name"), f"outputs[{i}].name") or preset or "main"
        outputs.append(
            Output(
                name=name,
                preset=preset,
                fit=r.choice(o.get("fit"), f"outputs[{i}].fit", ("fill", "fit", "blur")),
            )
        )
    if len({o.name for o in outputs}) != len(outputs):
        raise r.fail("outputs", "two outputs share a name; give each a distinct name")
    publish_raw = top.get("publish") or []
    if not isinstance(publish_raw, list):
        raise r.fail("publish", "expected a list of targets, e.g. - to: youtube")
    targets = []
    for i, raw in enumerate(publish_raw):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("to"), str):
            raise r.fail(f"publish[{i}]", "each target needs to: PLATFORM (and optional title, output, ...)")
        output = raw.get("output", outputs[0].name)
        if output not in {o.name for o in outputs}:
            raise r.fail(f"publish[{i}].output", f"{output!r} is not an output name")
        targets.append(dict(raw))
    return Board(
        path=p,
        title=r.text(top.get("title"), "title"),
        defaults=defaults,
        shots=shots,
        soundtrack=r.file(top.get("soundtrack"), "soundtrack"),
        logo=r.file(top.get("logo"), "logo"),
        outputs=tuple(outputs),
        publish=tuple(targets),
    )
