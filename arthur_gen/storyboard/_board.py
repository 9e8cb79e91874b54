"""Storyboard plan and run: keyframe -> clip per shot, then one edit per output, then publish.

Every step is an ordinary durable job of the core, so a step's identity is its request and its
inputs' content: the core's cache answers an unchanged, seeded step at $0, and a job still in
flight from a killed run is attached to (and taken over) instead of being paid for again.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import html
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ..errors import BudgetExceededError, GenerationError, InvalidRequestError
from ._schema import Board, Shot, parse_board

if TYPE_CHECKING:
    from ..jobs._results import GeneratedImage, GeneratedVideo
    from ..jobs._runner import Plan

__all__ = ["Step", "StoryEvent", "Storyboard", "StoryboardPlan", "StoryboardRun"]


@attrs.frozen(kw_only=True)
class Step:
    """One job of the graph: ``keyframe``, ``clip``, ``edit`` or ``publish``."""

    shot: str | None
    stage: str
    backend: str
    model: str
    local: bool
    estimate_usd: float | None
    done: bool
    depends_on: tuple[str, ...] = ()
    output: str | None = None

    @property
    def name(self) -> str:
        return f"{self.shot}.{self.stage}" if self.shot else self.stage

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "shot": self.shot,
            "stage": self.stage,
            "backend": self.backend,
            "model": self.model,
            "local": self.local,
            "estimate_usd": self.estimate_usd,
            "to_pay_usd": 0.0 if self.done else self.estimate_usd,
            "done": self.done,
            "depends_on": list(self.depends_on),
            "output": self.output,
        }


@attrs.frozen(kw_only=True)
class StoryEvent:
    """Progress of one step: ``state`` is started, done (with the cost) or failed."""

    step: str
    state: str
    cost_usd: float | None = None
    cached: bool = False
    message: str = ""


@attrs.frozen(kw_only=True)
class StoryboardPlan:
    """The validated graph with estimates (local and cloud side by side) and the budget check."""

    board: Board
    steps: tuple[Step, ...]
    budget_problem: str | None

    def _sum(self, local: bool | None, pay: bool) -> float | None:
        total = 0.0
        for s in self.steps:
            if local is not None and s.local != local:
                continue
            if pay and s.done:
                continue
            if s.estimate_usd is None:
                return None
            total += s.estimate_usd
        return round(total, 6)

    @property
    def total_usd(self) -> float | None:
        """The whole graph's estimate, done steps included (None if a price is unknown)."""
        return self._sum(None, False)

    @property
    def to_pay_usd(self) -> float | None:
        """What running it now would cost: the steps not done yet."""
        return self._sum(None, True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.board.path),
            "shots": [s.id for s in self.board.shots],
            "steps": [s.to_dict() for s in self.steps],
            "estimate": {
                "total_usd": self.total_usd,
                "to_pay_usd": self.to_pay_usd,
                "local_usd": self._sum(True, False),
                "cloud_usd": self._sum(False, False),
                "cloud_to_pay_usd": self._sum(False, True),
            },
            "done": sum(s.done for s in self.steps),
            "budget": {"ok": self.budget_problem is None, "problem": self.budget_problem},
        }

    def describe(self) -> str:
        """The text ``arthur-gen storyboard plan`` prints."""
        lines = [f"storyboard {self.board.path.name}: {len(self.board.shots)} shots, {len(self.steps)} steps"]
        for s in self.steps:
            cost = "unknown" if s.estimate_usd is None else f"${s.estimate_usd:.3f}"
            where = "local" if s.local else "cloud"
            after = f"  <- {', '.join(s.depends_on)}" if s.depends_on else ""
            state = "done ($0)" if s.done else "to do"
            lines.append(f"  {s.name:<22} {s.backend}/{s.model:<34} {where:<5} {cost:>9}  {state}{after}")
        d = self.to_dict()["estimate"]
        money = {k: ("unknown" if v is None else f"${v:.3f}") for k, v in d.items()}
        lines.append(
            f"estimate: {money['total_usd']} in total (local {money['local_usd']}, "
            f"cloud {money['cloud_usd']}); to pay now: {money['to_pay_usd']}"
        )
        lines.append(
            "budget: ok" if self.budget_problem is None else f"budget: REFUSED: {self.budget_problem}"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(s.name)}</td><td>{html.escape(s.backend)}/{html.escape(s.model)}</td>"
            f"<td>{'local' if s.local else 'cloud'}</td>"
            f"<td>{'unknown' if s.estimate_usd is None else f'${s.estimate_usd:.3f}'}</td>"
            f"<td>{'done' if s.done else 'to do'}</td></tr>"
            for s in self.steps
        )
        head = "<tr><th>step</th><th>backend/model</th><th>where</th><th>estimate</th><th>state</th></tr>"
        return f"<table>{head}{rows}</table><p>{html.escape(self.describe().splitlines()[-2])}</p>"


@attrs.frozen(kw_only=True)
class StoryboardRun:
    """What a run produced: per shot its keyframe and clip, the outputs and the publications."""

    board: Board
    keyframes: Mapping[str, Path | None]
    clips: Mapping[str, GeneratedVideo]
    outputs: Mapping[str, GeneratedVideo]
    publications: tuple[Mapping[str, Any], ...]
    cost_usd: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "shots": {
                sid: {
                    "keyframe": None if self.keyframes.get(sid) is None else str(self.keyframes[sid]),
                    "clip": str(clip.paths[0]),
                    "clip_job": clip.job_id,
                    "cost_usd": clip.cost_usd,
                    "cached": clip.cached,
                }
                for sid, clip in self.clips.items()
            },
            "outputs": {n: {"path": str(v.paths[0]), "job_id": v.job_id} for n, v in self.outputs.items()},
            "publications": [dict(p) for p in self.publications],
            "cost_usd": round(self.cost_usd, 6),
        }

    def _repr_html_(self) -> str:
        from ..jobs._results import INLINE_VIDEO_BYTES, media_src

        cells = []
        for sid, clip in self.clips.items():
            frame = self.keyframes.get(sid)
            img = ""
            if frame is not None and frame.is_file():  # thumbnails: embedded only when small
                src = html.escape(media_src(frame, INLINE_VIDEO_BYTES), quote=True)
                img = f'<img src="{src}" style="max-width:160px"><br>'
            state = "cached ($0)" if clip.cached else f"${clip.cost_usd or 0:.3f}"
            video = html.escape(media_src(clip.paths[0]), quote=True)  # relative to the notebook
            cells.append(
                f'<td>{img}<b>{html.escape(sid)}</b><br><video src="{video}" '
                f"width=160 controls></video><br>{state}</td>"
            )
        outs = "".join(
            f"<li>{html.escape(n)}: {html.escape(str(v.paths[0]))}</li>" for n, v in self.outputs.items()
        )
        return f"<table><tr>{''.join(cells)}</tr></table><ul>{outs}</ul><p>cost ${self.cost_usd:.3f}</p>"


def _stage(fields: Mapping[str, Any]) -> tuple[str | None, str | None, dict[str, Any]]:
    rest = {k: v for k, v in fields.items() if k not in ("backend", "model")}
    if "options" in rest:
        rest["options"] = dict(rest["options"] or {})
    return fields.get("backend"), fields.get("model"), rest


def _style(text: str, style: str) -> str:
    return f"{text}{style if style.startswith((',', ' ', '.')) else (', ' + style if style else '')}"


def _memo_file(plan: Plan) -> Path:
    from .._config import data_dir

    ident = hashlib.sha256(f"{plan.backend.id}|{plan.model.id}|{plan.request_hash}".encode()).hexdigest()
    return data_dir() / "storyboard" / "steps" / f"{ident[:40]}.json"


def _memo_job(plan: Plan) -> Any:
    """The saved job an earlier storyboard run recorded for exactly this step, if still intact."""
    import json

    from ..jobs._store import get_store

    try:
        job_id = json.loads(_memo_file(plan).read_text(encoding="utf-8"))["job_id"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    row = get_store().get(str(job_id))
    if row is None or row.state != "saved" or not row.outputs:
        return None
    for o in row.outputs:  # the files must still be there, at their recorded size
        try:
            if Path(o["path"]).stat().st_size != o.get("size"):
                return None
        except OSError:
            return None
    return row


def _remember(plan: Plan, job_id: str) -> None:
    import json

    from ..jobs._atomic import atomic_write_bytes

    target = _memo_file(plan)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, json.dumps({"job_id": job_id}).encode())


def _done_path(plan: Plan) -> Path | None:
    """The stored output of an earlier run of exactly this step (same request and input content)."""
    from ..jobs._store import get_store
    from ..money._cache import valid_blob

    row = _memo_job(plan)
    if row is not None:
        return Path(row.outputs[0]["path"])
    if plan.cache_key is None:
        return None
    for found in get_store().query("cache_key = ? AND state = 'saved'", (plan.cache_key,), limit=5):
        blobs = [valid_blob(o["sha256"]) for o in found.outputs]
        if blobs and blobs[0] is not None:
            return blobs[0]
    return None


def _publish_memo(video: Path, to: str, meta: Mapping[str, Any]) -> Path:
    import json

    from .._config import data_dir
    from ..jobs._hashing import input_digest

    what = json.dumps(
        {"to": to, "meta": dict(meta), "video": input_digest(str(video))}, sort_keys=True, default=str
    )
    ident = hashlib.sha256(what.encode()).hexdigest()
    return data_dir() / "storyboard" / "publications" / f"{ident[:40]}.json"


def _published(video: Path, to: str, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The publication an earlier run made of exactly this video, target and metadata."""
    import json

    try:
        found = json.loads(_publish_memo(video, to, meta).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) and found.get("state") == "saved" else None


def _publish_once(video: Path, to: str, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Publish ``video``, or return the publication an earlier run already made of it."""
    import json

    from ..jobs._atomic import atomic_write_bytes
    from ..publish._driver import publish

    earlier = _published(video, to, meta)
    if earlier is not None:
        return {**earlier, "cached": True}
    result = publish(video, to=to, **meta)
    if result.get("state") == "saved":
        target = _publish_memo(video, to, meta)
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, json.dumps(result, default=str).encode())
    return result


def last_frame_png(video: Path) -> Path:
    """The last frame of ``video`` as a PNG, content-addressed (the same clip gives the same file)."""
    from .._config import data_dir

    digest = hashlib.sha256(video.read_bytes()).hexdigest()
    target = data_dir() / "storyboard" / "frames" / f"{digest[:32]}.png"
    if target.is_file():
        return target
    import av

    from ..jobs._atomic import temp_path_beside

    last = None
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            last = frame
    if last is None:
        raise GenerationError(f"{video} has no video frames to continue from")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(target)
    last.to_image().save(tmp, format="PNG")  # type: ignore[no-untyped-call]
    import os

    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)
    return target


def content_copy(path: Path) -> Path:
    """``path``'s content under a name made from its digest (the same bytes give the same file).

    A reference image is passed to a model by this name, so a change in the file's content
    changes the step's request: that step and what depends on it are redone, nothing else.
    """
    from .._config import data_dir
    from ..jobs._hashing import input_digest

    try:
        digest = input_digest(str(path)).removeprefix("sha256:")
    except OSError as exc:
        raise InvalidRequestError(f"cannot read reference {path}: {exc.strerror or exc}") from None
    target = data_dir() / "storyboard" / "refs" / f"{digest[:32]}{path.suffix.lower()}"
    if target.is_file() and target.stat().st_size == path.stat().st_size:
        return target
    import os
    import shutil

    from ..jobs._atomic import temp_path_beside

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path_beside(target)
    try:
        shutil.copyfile(path, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


# Options through which models take a style or character reference image, in preference order.
_REFERENCE_OPTIONS = ("subject_reference", "reference_images", "reference_image", "image_prompt")


def _with_reference(kind: str, args: dict[str, Any], reference: Path | None) -> dict[str, Any]:
    """``args`` with the board's reference image in the first reference option the model has."""
    if reference is None:
        return args
    import arthur_gen

    model = arthur_gen.plan(kind, **args).model
    for name in _REFERENCE_OPTIONS:
        spec = model.option(name)
        if spec is not None:
            ref = str(content_copy(reference))
            args["options"] = {**args.get("options", {}), name: [ref] if spec.type is list else ref}
            break
    return args


def _fit_seed(kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """Keep the shot's seed only for models that take one (their requests then repeat exactly)."""
    import arthur_gen

    probe = arthur_gen.plan(kind, **{k: v for k, v in args.items() if k != "seed"})
    if not probe.model.supports_seed:
        args.pop("seed", None)
    return args


def _once(kind: str, args: dict[str, Any], common: Mapping[str, Any]) -> Any:
    """Run one step, or answer it at $0 from the job an earlier run recorded for the same step."""
    import arthur_gen

    plan = arthur_gen.plan(kind, **args)
    row = _memo_job(plan)
    if row is not None:
        return attrs.evolve(arthur_gen.result_of(row.id), cached=True)
    verb = arthur_gen.generate_image if kind == "image" else arthur_gen.generate_video
    result = verb(**args, **common)
    _remember(plan, result.job_id)
    return result


def _edit_once(inputs: Sequence[Any], args: Mapping[str, Any], common: Mapping[str, Any]) -> Any:
    """The edit step: the very file an earlier run made (so a publication of it stays done)."""
    import arthur_gen

    from ..media._edit import edit, plan_edit

    row = _memo_job(plan_edit(inputs, **args))
    if row is not None:
        return attrs.evolve(arthur_gen.result_of(row.id), cached=True)
    result = edit(inputs, **args, **common)
    _remember(plan_edit(inputs, **args), result.job_id)
    return result


class Storyboard:
    """A shot list that becomes one finished video: ``Storyboard.from_file(path).run()``."""

    def __init__(self, board: Board) -> None:
        self.board = board

    @classmethod
    def from_file(cls, path: str | Path) -> Storyboard:
        """Read and validate a storyboard YAML file (errors name the line and the field)."""
        return cls(parse_board(path))

    @classmethod
    def from_text(cls, text: str, base: str | Path = "storyboard.yaml") -> Storyboard:
        """Parse YAML text; relative paths resolve against ``base``'s folder."""
        return cls(parse_board(base, text))

    def __repr__(self) -> str:
        return f"Storyboard({self.board.path.name!r}, shots={[s.id for s in self.board.shots]})"

    # --- requests -------------------------------------------------------------------------
    def _seed(self, shot: Shot) -> int:
        index = [s.id for s in self.board.shots].index(shot.id)
        return shot.seed if shot.seed is not None else self.board.defaults.seed + index

    def _image_args(self, shot: Shot) -> dict[str, Any]:
        assert shot.keyframe_prompt is not None
        backend, model, rest = _stage(self.board.defaults.image)
        args = {
            "prompt": _style(shot.keyframe_prompt, self.board.defaults.style),
            "backend": backend,
            "model": model,
            "seed": self._seed(shot),
            **rest,
        }
        args = _fit_seed("image", {k: v for k, v in args.items() if v is not None})
        return _with_reference("image", args, self.board.defaults.reference)

    def _video_args(self, shot: Shot, first_frame: Any) -> dict[str, Any]:
        backend, model, rest = _stage(self.board.defaults.video)
        prompt = shot.prompt + (f". {shot.motion}" if shot.motion else "")
        args: dict[str, Any] = {
            "prompt": _style(prompt, self.board.defaults.style),
            "backend": backend,
            "model": model,
            "seed": self._seed(shot),
            "first_frame": first_frame,
            "last_frame": shot.last_frame,
            "duration": shot.duration,
            **rest,
        }
        args = _fit_seed("video", {k: v for k, v in args.items() if v is not None})
        return _with_reference("video", args, self.board.defaults.reference)

    def _edit_args(self, output: Any) -> dict[str, Any]:
        from ..media._recipe import Transition

        d, b = self.board.defaults, self.board
        # the default joins everything (cards too); a shot's own transition joins it to the next
        recipe = [Transition(kind=d.transition)] if d.transition != "cut" else []
        for i, shot in enumerate(b.shots[:-1]):
            if shot.transition is not None and shot.transition != d.transition:
                recipe.append(Transition(kind=shot.transition, after=i))
        return {
            "recipe": recipe or None,
            "preset": output.preset,
            "fit": output.fit,
            "logo": b.logo,
            "title": b.title,
            "music": b.soundtrack,
            "brand": d.brand,
        }

    def _cues(self, durations: Sequence[float]) -> list[tuple[float, float, str]] | None:
        cues, t = [], 0.0
        for shot, length in zip(self.board.shots, durations, strict=True):
            if shot.caption:
                cues.append((round(t, 3), round(t + length, 3), shot.caption))
            t += length
        return cues or None

    # --- plan ----------------------------------------------------------------------------
    def plan(self) -> StoryboardPlan:
        """Validate every step, price it, and say what is already done. Sends nothing."""
        import arthur_gen

        steps: list[Step] = []
        clip_paths: list[Path | None] = []
        durations: list[float] = []
        prev_clip: Path | None = None
        for shot in self.board.shots:
            first: Path | None = shot.keyframe_file
            deps: tuple[str, ...] = ()
            if shot.keyframe_prompt is not None:
                p = arthur_gen.plan("image", **self._image_args(shot))
                first = _done_path(p)
                steps.append(self._step(shot.id, "keyframe", p, first is not None))
                deps = (f"{shot.id}.keyframe",)
            elif shot.chain:
                deps = (f"{self.board.shots[self.board.shots.index(shot) - 1].id}.clip",)
                first = last_frame_png(prev_clip) if prev_clip is not None else None
            blocked = first is None and (shot.keyframe_prompt is not None or shot.chain)
            args = self._video_args(shot, None if blocked else first)
            vp = arthur_gen.plan("video", **args)
            clip = None if blocked else _done_path(vp)
            steps.append(self._step(shot.id, "clip", vp, clip is not None, deps))
            clip_paths.append(clip)
            durations.append(float(getattr(vp.request, "duration", None) or shot.duration or 6.0))
            prev_clip = clip
        clips = [f"{s.id}.clip" for s in self.board.shots]
        edited: dict[str, Path | None] = {}
        for output in self.board.outputs:
            done = False
            edited[output.name] = None
            if all(c is not None for c in clip_paths):
                ep = arthur_gen.plan_edit(
                    clip_paths, captions=self._cues(durations), **self._edit_args(output)
                )
                edited[output.name] = _done_path(ep)
                done = edited[output.name] is not None
            steps.append(
                Step(shot=None, stage=f"edit:{output.name}", backend="edit", model=output.preset or "as-is",
                     local=True, estimate_usd=0.0, done=done, depends_on=tuple(clips), output=output.name)
            )  # fmt: skip
        for i, target in enumerate(self.board.publish):
            out = str(target.get("output", self.board.outputs[0].name))
            video = edited.get(out)
            meta = {k: v for k, v in target.items() if k not in ("to", "output")}
            done = video is not None and _published(video, str(target["to"]), meta) is not None
            steps.append(
                Step(shot=None, stage=f"publish:{target['to']}#{i}", backend=str(target["to"]),
                     model="upload", local=False, estimate_usd=0.0, done=done,
                     depends_on=(f"edit:{out}",), output=out)
            )  # fmt: skip
        plan = StoryboardPlan(board=self.board, steps=tuple(steps), budget_problem=None)
        return attrs.evolve(plan, budget_problem=_budget_problem(plan))

    @staticmethod
    def _step(shot: str, stage: str, plan: Plan, done: bool, deps: tuple[str, ...] = ()) -> Step:
        return Step(
            shot=shot,
            stage=stage,
            backend=plan.backend.id,
            model=plan.model.id,
            local=plan.backend.is_local,
            estimate_usd=plan.estimate.usd,
            done=done,
            depends_on=deps,
        )

    # --- run -----------------------------------------------------------------------------
    def run(
        self,
        *,
        yes: bool = False,
        confirm: Callable[[StoryboardPlan], bool] | None = None,
        on_event: Callable[[StoryEvent], None] | None = None,
        out_dir: str | Path | None = None,
        publish: bool = True,
        edits: bool = True,
        cancel_event: threading.Event | None = None,
    ) -> StoryboardRun:
        """Run the graph: keyframes (local ones one at a time), cloud clips in parallel, edits, publish.

        Refuses before anything is paid when the budget cannot cover what is left to pay, and,
        above ``defaults.confirm_above_usd``, unless ``yes`` or ``confirm(plan)`` says so.
        ``edits=False`` stops after the clips; ``publish=False`` after the edits.
        """
        import arthur_gen

        plan = self.plan()
        if plan.budget_problem is not None:
            status = arthur_gen.budget_status()
            limit = next((n for n in ("per_day", "per_month") if status.remaining(n) is not None), "per_day")
            raise BudgetExceededError(
                plan.budget_problem,
                limit=limit,
                limit_usd=float(status.limits.get(limit) or 0.0),
                spent_usd=status.used(limit),
                estimate_usd=plan.to_pay_usd or 0.0,
            )
        to_pay = plan.to_pay_usd
        threshold = self.board.defaults.confirm_above_usd
        if not yes and (to_pay is None or to_pay > threshold):
            if confirm is None or not confirm(plan):
                money = "an unknown amount" if to_pay is None else f"${to_pay:.2f}"
                raise InvalidRequestError(
                    f"this run would cost {money}, above the confirmation threshold ${threshold:.2f} "
                    "(defaults.confirm_above_usd); confirm with yes=True (CLI: --yes)"
                )
        emit = on_event or (lambda event: None)
        local_lock = threading.Lock()
        cancel = cancel_event or threading.Event()
        common: dict[str, Any] = {"out_dir": out_dir, "cancel_event": cancel}
        shots = self.board.shots
        keyframes: dict[str, Path | None] = {}
        images: list[GeneratedImage] = []
        futures: dict[str, concurrent.futures.Future[GeneratedVideo]] = {}

        def step(name: str, call: Callable[[], Any]) -> Any:
            emit(StoryEvent(step=name, state="started"))
            try:
                result = call()
            except BaseException as exc:
                emit(StoryEvent(step=name, state="failed", message=str(exc)))
                raise
            fields = result if isinstance(result, Mapping) else {}  # a publication is a dict
            cost = getattr(result, "cost_usd", fields.get("cost_usd"))
            cached = bool(getattr(result, "cached", fields.get("cached", False)))
            emit(StoryEvent(step=name, state="done", cost_usd=cost, cached=cached))
            return result

        def chain(index: int) -> GeneratedVideo:
            shot = shots[index]
            first: Any = shot.keyframe_file
            if shot.keyframe_prompt is not None:
                args = self._image_args(shot)
                image_plan = arthur_gen.plan("image", **args)

                def make() -> GeneratedImage:
                    return _once("image", args, common)  # type: ignore[no-any-return]

                if image_plan.backend.is_local:
                    with local_lock:  # the MLX worker makes one image at a time
                        first = step(f"{shot.id}.keyframe", make)
                else:
                    first = step(f"{shot.id}.keyframe", make)
                keyframes[shot.id] = first.paths[0]
                images.append(first)
            elif shot.chain:
                previous = futures[shots[index - 1].id].result()
                first = last_frame_png(previous.paths[0])
                keyframes[shot.id] = first
            else:
                keyframes[shot.id] = shot.keyframe_file
            args = self._video_args(shot, first)
            return step(f"{shot.id}.clip", lambda: _once("video", args, common))  # type: ignore[no-any-return]

        workers = max(1, min(self.board.defaults.max_parallel, len(shots)))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="storyboard") as pool:
            for i, shot in enumerate(shots):
                futures[shot.id] = pool.submit(chain, i)
            try:
                concurrent.futures.wait(futures.values())
            except BaseException:  # Ctrl-C: stop waiting; remote jobs go on and a new run attaches
                cancel.set()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        failed = {sid: f.exception() for sid, f in futures.items() if f.exception() is not None}
        if failed:
            first_error = next(iter(failed.values()))
            if isinstance(first_error, KeyboardInterrupt | arthur_gen.JobCanceledError):
                raise first_error
            detail = "; ".join(f"{sid}: {exc}" for sid, exc in failed.items())
            raise GenerationError(
                f"{len(failed)} of {len(shots)} shots failed ({detail}); finished shots are kept: "
                "run the storyboard again to redo only the failed ones"
            ) from first_error
        clips = {sid: f.result() for sid, f in futures.items()}
        durations = [self._duration(clips[s.id], s) for s in shots]
        outputs: dict[str, GeneratedVideo] = {}
        cues = self._cues(durations)
        inputs = [clips[s.id] for s in shots]
        for output in self.board.outputs if edits else ():
            edit_args = {**self._edit_args(output), "captions": cues}
            outputs[output.name] = step(
                f"edit:{output.name}", functools.partial(_edit_once, inputs, edit_args, common)
            )
        publications: list[Mapping[str, Any]] = []
        if publish and edits and self.board.publish:
            for i, target in enumerate(self.board.publish):
                meta = {k: v for k, v in target.items() if k not in ("to", "output")}
                video = outputs[str(target.get("output", self.board.outputs[0].name))].paths[0]
                call = functools.partial(_publish_once, video, str(target["to"]), meta)
                publications.append(step(f"publish:{target['to']}#{i}", call))
        cost = sum((r.cost_usd or 0.0) for r in [*images, *clips.values(), *outputs.values()] if not r.cached)
        return StoryboardRun(
            board=self.board,
            keyframes=keyframes,
            clips=clips,
            outputs=outputs,
            publications=tuple(publications),
            cost_usd=cost,
        )

    @staticmethod
    def _duration(clip: GeneratedVideo, shot: Shot) -> float:
        value = getattr(clip.request, "duration", None) or shot.duration
        return float(value or 6.0)


def _budget_problem(plan: StoryboardPlan) -> str | None:
    """Why the budget cannot cover what is left to pay (None when it can)."""
    import arthur_gen

    status = arthur_gen.budget_status()
    to_pay = plan.to_pay_usd
    per_call = status.limits.get("per_call")
    for s in plan.steps:
        if not s.done and s.estimate_usd is not None and per_call is not None and s.estimate_usd > per_call:
            return (
                f"step {s.name} is estimated at ${s.estimate_usd:.2f}, "
                f"above the per-call budget ${per_call:.2f}"
            )
    for name in ("per_day", "per_month"):
        left = status.remaining(name)
        if left is None:
            continue
        if to_pay is None:
            return f"a price is unknown and a {name} budget is set; price every model or raise the budget"
        if to_pay > left + 1e-9:
            return (
                f"the storyboard needs ${to_pay:.2f} but only ${left:.2f} is left of the {name} budget; "
                f"raise the budget (arthur-gen budget) or remove shots"
            )
    return None
