"""The ``mlx_video`` video backend: Wan 2.x and LTX-2 on MLX through mlx-video-with-audio.

One package function per family does the work::

    mlx_video.generate_wan.generate_video(model_dir, prompt, negative_prompt, image, width,
        height, num_frames, steps, guide_scale, shift, seed, output_path, scheduler, loras,
        tiling, ...)
    mlx_video.generate_av.generate_video_with_audio(model_repo, text_encoder_repo, prompt,
        height, width, num_frames, seed, fps, output_path, image, image_strength, tiling,
        no_audio, ...)                                            # LTX-2: video and sound

It runs on the backend's one MLX worker thread with its globals rebound (``_bridge``,
``_bridge_ltx``): progress and cancel per denoising step, warm models, downloads off, and the
frames (and LTX-2's sound) handed back instead of saved. The backend checks them against the
request (count, fps), trims, and writes the MP4 with ``arthur_gen.media.write_video`` (PyAV:
H.264, AAC sound, metadata embedded). Nothing heavy is imported at module level.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import platform
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs

from arthur_gen import (
    Availability,
    ImageRequest,
    LocalBackend,
    LocalContext,
    LocalOutput,
    MlxWorker,
    ModelInfo,
    VideoBackend,
    VideoRequest,
)
from arthur_gen.errors import (
    BackendUnavailableError,
    ConfigError,
    GenerationError,
    InvalidRequestError,
    JobCanceledError,
    UnknownModelError,
)

from . import _weights
from ._bridge import Capture, Slot, Steps, WarmCache, bridged
from ._bridge_ltx import TEXT_ENCODER_MODULE, AudioCapture, StagedSteps, bridged_ltx
from ._catalog import CATALOG, DEFAULT_MODEL, Entry, entry_for, frames_for, model_info

__all__ = [
    "CACHE_SIZE_ENV",
    "DISTRIBUTION",
    "LINUX_INSTALL",
    "MAC_INSTALL",
    "MlxVideoBackend",
    "Plan",
    "plan_request",
]

DISTRIBUTION = "mlx-video-with-audio"
TESTED = ("0.1.37",)  # versions whose functions the contract tests check
MAC_INSTALL = "pip install 'arthur-gen-mlx-video' (pulls mlx-video-with-audio 0.1.37 and MLX)"
LINUX_INSTALL = (
    "bash plugins/arthur-gen-mlx-video/install-linux-cpu.sh $(command -v python) "
    "(from an arthur-gen checkout; see docs/mlx-video.md)"
)
CACHE_SIZE_ENV = "ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE"
MAX_SEED = 2**32 - 1  # mlx_video seeds numpy too, which takes 32-bit seeds
MAX_LORA_SCALE = 4.0
LTX2_STEPS = 11  # the unified LTX-2 checkpoint's fixed schedule: 8 steps at half size + 3 at full
_URL = re.compile(r"^(https?://|data:)", re.IGNORECASE)

Request = ImageRequest | VideoRequest


@functools.cache
def _installed_version(dist: str) -> str | None:
    """The installed version of ``dist`` from its ``*.dist-info`` folder (cheaper than metadata)."""
    wanted = re.sub(r"[-_.]+", "_", dist).lower()
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[: -len(".dist-info")].partition("-")
                if re.sub(r"[-_.]+", "_", project).lower() == wanted:
                    return version
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as metadata_version

    try:
        return metadata_version(dist)
    except PackageNotFoundError:
        return None


def cache_size_from_env() -> int:
    raw = os.environ.get(CACHE_SIZE_ENV, "").strip()
    if not raw:
        return 1
    try:
        size = int(raw)
    except ValueError:
        size = -1
    if size < 0:
        raise ConfigError(f"{CACHE_SIZE_ENV}={raw!r} must be a whole number of models, 0 or more")
    return size


def _bad(entry: Entry, field: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field}={value!r} is not accepted by mlx_video/{entry.id}: {allowed}", field=field
    )


@attrs.frozen(kw_only=True)
class Plan:
    """What one request becomes: the weights folder and the ``generate_video`` arguments."""

    entry: Entry
    folder: Path
    model_path: str | None
    kwargs: Mapping[str, Any]  # the function's, except the weights folders and output_path
    text_folder: Path | None = None  # LTX-2: the Gemma 3 text encoder folder

    @property
    def fps(self) -> int:
        return int(self.kwargs.get("fps", self.entry.fps))

    @property
    def audio(self) -> bool:
        return self.entry.audio and not self.kwargs.get("no_audio", False)

    @property
    def num_frames(self) -> int:
        return int(self.kwargs["num_frames"])

    @property
    def cache_key(self) -> tuple[Any, ...]:
        if self.text_folder is not None:
            return (str(self.folder), str(self.text_folder))
        return (str(self.folder), repr(self.kwargs.get("loras")))

    def metadata(self) -> dict[str, Any]:
        """JSON-ready: enough to re-create the video with mlx_video directly."""
        kw = dict(self.kwargs)
        kw.pop("prompt", None)
        kw["loras"] = [list(pair) for pair in kw.get("loras") or []] or None
        folders: dict[str, Any] = {"model_dir": str(self.folder), "model_path": self.model_path}
        if self.text_folder is not None:
            folders = {"model_repo": str(self.folder), "text_encoder_repo": str(self.text_folder)}
        return {
            "mlx_video_function": self.entry.function.replace(":", "."),
            "mlx_video_version": _installed_version(DISTRIBUTION),
            "mlx_version": _installed_version("mlx"),
            **folders,
            **kw,
            "fps": self.fps,
        }


def _model_path(entry: Entry, value: Any, field: str = "options.model_path") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(entry, field, value, "must be a folder of converted weights")
    path = Path(value).expanduser()
    if not path.is_dir():
        if entry.family == "ltx2":
            fix = (
                _weights.ltx_model_command(path)
                if field == "options.model_path"
                else _weights.ltx_text_encoder_command(entry, path)
            )
        else:
            fix = _weights.conversion_command(entry, path)
        raise _bad(entry, field, value, f"no such folder; make one with {fix}")
    return str(path.absolute())


def _loras(entry: Entry, options: Mapping[str, Any]) -> list[tuple[str, float]] | None:
    paths = options.get("lora_paths")
    scales = options.get("lora_scales")
    if paths is None:
        if scales is not None:
            raise _bad(entry, "options.lora_scales", scales, "give lora_paths with it")
        return None
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list | tuple) or not paths or not all(isinstance(p, str) for p in paths):
        raise _bad(entry, "options.lora_paths", paths, "must be a list of .safetensors files")
    resolved = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_file() or path.suffix != ".safetensors":
            raise _bad(entry, "options.lora_paths", raw, "must be an existing .safetensors LoRA file")
        resolved.append(str(path.absolute()))
    if scales is None:
        scales = [1.0] * len(resolved)
    if isinstance(scales, int | float) and not isinstance(scales, bool):
        scales = [scales]
    if (
        not isinstance(scales, list | tuple)
        or len(scales) != len(resolved)
        or not all(isinstance(s, int | float) and not isinstance(s, bool) for s in scales)
    ):
        raise _bad(entry, "options.lora_scales", scales, f"give {len(resolved)} number(s), one per file")
    for scale in scales:
        if not math.isfinite(scale) or abs(scale) > MAX_LORA_SCALE:
            raise _bad(
                entry,
                "options.lora_scales",
                list(scales),
                f"each from -{MAX_LORA_SCALE:g} to {MAX_LORA_SCALE:g}",
            )
    return [(p, float(s)) for p, s in zip(resolved, scales, strict=True)]


def plan_request(entry: Entry, request: VideoRequest) -> Plan:
    """Check what the model's declaration cannot say, and work out the call. Loads nothing.

    The core has already checked the declared limits (sizes, durations, option types); these
    are the rules that need arithmetic or the file system.
    """
    options = request.options
    if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
        raise _bad(entry, "seed", request.seed, f"from 0 to {MAX_SEED}")
    if entry.family == "ltx2" and (request.negative_prompt or request.steps is not None):
        field = "negative_prompt" if request.negative_prompt else "steps"
        raise _bad(
            entry,
            field,
            request.negative_prompt or request.steps,
            "the unified LTX-2 checkpoint runs a fixed distilled schedule (8 + 3 steps) without guidance",
        )
    image = request.first_frame
    if image is not None:
        if _URL.match(image):
            raise _bad(entry, "first_frame", image[:60], "mlx_video reads a local file; download it first")
        if not Path(image).expanduser().is_file():
            raise _bad(entry, "first_frame", image, "no such image file")
        image = str(Path(image).expanduser().absolute())
    if entry.requires_image and image is None:
        raise _bad(entry, "first_frame", None, "this model animates an image: pass first_frame=PATH")

    if request.width is not None and request.height is not None:
        width, height = request.width, request.height
    elif request.aspect_ratio is not None:
        width, height = next((w, h) for name, w, h in entry.aspect_sizes if name == request.aspect_ratio)
    else:
        width, height = entry.width, entry.height
    if width % entry.size_multiple or height % entry.size_multiple:
        raise _bad(
            entry,
            "width",
            f"{width}x{height}",
            f"both sides must be multiples of {entry.size_multiple} (mlx_video would round them down)",
        )
    if entry.max_area is not None and width * height > entry.max_area:
        raise _bad(
            entry,
            "width",
            f"{width}x{height}",
            f"more than the {entry.max_area:,} pixels this model renders (mlx_video would shrink it); "
            f"try {entry.width}x{entry.height}",
        )

    num_frames = options.get("num_frames")
    if num_frames is not None:
        if request.duration is not None:
            raise _bad(entry, "options.num_frames", num_frames, "give num_frames or duration, not both")
        if (num_frames - 1) % entry.frame_step:
            below = num_frames - (num_frames - 1) % entry.frame_step
            raise _bad(
                entry,
                "options.num_frames",
                num_frames,
                f"must be 1 + {entry.frame_step}k (try {below} or {below + entry.frame_step})",
            )
    else:
        seconds = request.duration if request.duration is not None else entry.default_duration
        num_frames = frames_for(seconds, request.fps or entry.fps, entry.frame_step)
    fps_allowed = entry.fps_choices or (entry.fps,)
    if request.fps is not None and request.fps not in fps_allowed:
        if len(fps_allowed) == 1:
            raise _bad(entry, "fps", request.fps, f"this model renders {entry.fps} fps only")
        raise _bad(entry, "fps", request.fps, f"one of {', '.join(map(str, fps_allowed))}")
    if num_frames > entry.max_frames:
        raise _bad(entry, "duration", request.duration, f"at most {entry.max_frames} frames")

    model_path = _model_path(entry, options.get("model_path"))
    if entry.family == "ltx2":
        fps = request.fps if request.fps is not None else entry.fps
        text_path = _model_path(entry, options.get("text_encoder_path"), "options.text_encoder_path")
        ltx_kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "height": height,
            "width": width,
            "num_frames": num_frames,
            "seed": request.seed if request.seed is not None else 0,
            "fps": fps,
            "image": image,  # None: text-to-video
            "image_strength": float(options.get("image_strength", 1.0)),
            "image_frame_idx": 0,
            "tiling": options.get("tiling", "auto"),
            "no_audio": not options.get("audio", True),
            "verbose": False,
        }
        return Plan(
            entry=entry,
            folder=_weights.folder_for(entry, model_path),
            model_path=model_path,
            kwargs=ltx_kwargs,
            text_folder=_weights.text_encoder_folder_for(entry, text_path),
        )
    kwargs: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,  # None: the model's own negative prompt
        "image": image,  # None: text-to-video
        "width": width,
        "height": height,
        "num_frames": num_frames,
        "steps": request.steps if request.steps is not None else entry.default_steps,
        "guide_scale": request.guidance if request.guidance is not None else entry.default_guidance,
        "shift": options.get("shift", entry.default_shift),
        "seed": request.seed if request.seed is not None else 0,
        "scheduler": options.get("scheduler", "unipc"),
        "loras": _loras(entry, options),
        "tiling": options.get("tiling", "auto"),
    }
    return Plan(
        entry=entry, folder=_weights.folder_for(entry, model_path), model_path=model_path, kwargs=kwargs
    )


def _trimmed(frames: Any, plan: Plan) -> Any:
    """The frames the request asked for: the Wan 2.1 VAE path may decode more (4·T instead of
    1+4·(T-1)); fewer than asked is an error, not a shorter video."""
    count = int(frames.shape[0])
    if count < plan.num_frames:
        raise GenerationError(
            f"mlx_video returned {count} frames for a {plan.num_frames}-frame request "
            f"({plan.entry.id}); no video was written"
        )
    return frames[: plan.num_frames]


class MlxVideoBackend(LocalBackend, VideoBackend):
    """Wan 2.x and LTX-2 videos on MLX in this process: warm models, progress, cancel, one MLX thread.

    ``cache_size`` is how many weight folders to keep loaded (default:
    ``ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE``, else 1; 0 frees everything after each call).
    """

    id: ClassVar[str] = "mlx_video"
    display_name: ClassVar[str] = "mlx-video (Wan, LTX-2 with sound; MLX, local)"
    max_concurrency: ClassVar[int] = 1  # one video fills the machine's memory

    def __init__(self, *, cache_size: int | None = None) -> None:
        self._cache = WarmCache(cache_size if cache_size is not None else cache_size_from_env())
        self._worker = MlxWorker(name="mlx-video", use_mlx_stream=True)
        self._infos = tuple(model_info(entry) for entry in CATALOG)
        self._available: Availability | None = None

    @property
    def default_model(self) -> str:
        return DEFAULT_MODEL

    def models(self) -> Sequence[ModelInfo]:
        return self._infos

    def _entry(self, model: ModelInfo) -> Entry:
        entry = entry_for(model.id)
        if entry is None:
            known = ", ".join(e.id for e in CATALOG)
            raise UnknownModelError(f"mlx_video has no model {model.id!r}; its models: {known}")
        return entry

    # -- can it run here? (cheap: no import of mlx or mlx_video) --------------------------

    def availability(self) -> Availability:
        if self._available is not None:  # a positive answer is kept: packages do not vanish
            return self._available
        availability = self._check_availability()
        if availability.ok:
            self._available = availability
        return availability

    def _check_availability(self) -> Availability:
        system, machine = sys.platform, platform.machine().lower()
        if system == "darwin" and machine not in ("arm64", "aarch64"):
            return Availability.no(
                "MLX needs an Apple Silicon Mac (this one has an Intel CPU)", "use backend='replicate'"
            )
        if system not in ("darwin", "linux"):
            return Availability.no(f"MLX does not run on {system}", "use backend='replicate'")
        fix = MAC_INSTALL if system == "darwin" else LINUX_INSTALL
        missing = [m for m in ("mlx", "mlx_video") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(f"{' and '.join(missing)} not installed", fix)
        version = _installed_version(DISTRIBUTION)
        if version is None:
            return Availability.no(
                "the installed mlx_video module is not mlx-video-with-audio's (PyPI's "
                "'mlx-video' or 'mlx-gen' install a module of the same name)",
                f"pip uninstall -y mlx-video && {fix}",
            )
        if version not in TESTED:
            return Availability.no(
                f"mlx-video-with-audio {version} is installed; this plugin is tested with "
                f"{', '.join(TESTED)}",
                fix,
            )
        if system == "linux":
            return Availability(True, "runs on MLX's CPU backend here: works, but hours per real video")
        return Availability.yes()

    def _missing(self, plan: Plan) -> BackendUnavailableError | None:
        if plan.text_folder is not None:
            return _weights.ltx_missing_error(
                plan.entry,
                plan.folder,
                plan.text_folder,
                audio=plan.audio,
                image=bool(plan.kwargs.get("image")),
            )
        return _weights.missing_weights_error(plan.entry, plan.folder)

    def _memory_need(self, plan: Plan) -> float:
        if plan.text_folder is not None:
            return _weights.ltx_memory_need_gb(
                plan.entry, plan.folder, plan.text_folder, warm=self._cache.size > 0
            )
        return _weights.memory_need_gb(plan.entry, plan.folder)

    def _plan_availability(self, plan: Plan) -> Availability:
        if plan.cache_key in self._cache.loaded():
            return Availability.yes()  # warm: its models are loaded
        error = self._missing(plan)
        if error is not None:
            return Availability.no(str(error))
        if plan.text_folder is not None:
            refusal = _weights.ltx_memory_refusal(
                plan.entry, plan.folder, plan.text_folder, warm=self._cache.size > 0
            )
        else:
            refusal = _weights.memory_refusal(plan.entry, plan.folder)
        if refusal is not None:
            return Availability.no(refusal)
        return Availability.yes()

    def _default_plan(self, entry: Entry) -> Plan:
        text = _weights.text_encoder_folder_for(entry, None) if entry.family == "ltx2" else None
        return Plan(
            entry=entry, folder=_weights.folder_for(entry, None), model_path=None, kwargs={}, text_folder=text
        )

    def model_availability(self, model: ModelInfo) -> Availability:
        """Weights present (converted, tokenizer cached; LTX-2: text encoder too), memory enough."""
        return self._plan_availability(self._default_plan(self._entry(model)))

    def request_availability(self, request: Request, model: ModelInfo) -> Availability:
        """Like :meth:`model_availability` for this request's weights folders (``model_path``)."""
        return self._plan_availability(self._plan(request, model))

    def model_version(self, model: ModelInfo) -> str:
        entry = self._entry(model)
        return f"{DISTRIBUTION}=={_installed_version(DISTRIBUTION)};{entry.source_repo}"

    # -- requests -------------------------------------------------------------------------

    def _plan(self, request: Request, model: ModelInfo) -> Plan:
        if not isinstance(request, VideoRequest):
            raise InvalidRequestError("mlx_video makes videos, not images", field="model")
        return plan_request(self._entry(model), request)

    def validate(self, request: Request, model: ModelInfo) -> None:
        self._plan(request, model)

    def describe_request(self, request: Request, model: ModelInfo) -> Mapping[str, Any]:
        plan = self._plan(request, model)
        missing = self._missing(plan)
        folders = {"model_dir": str(plan.folder)}
        if plan.text_folder is not None:
            folders = {"model_repo": str(plan.folder), "text_encoder_repo": str(plan.text_folder)}
        return {
            "function": plan.entry.function.replace(":", "."),
            "kwargs": {**plan.kwargs, **folders},
            "seconds": round(plan.num_frames / plan.fps, 3),
            "audio": plan.audio,
            "memory_gb": self._memory_need(plan),
            "warm": plan.cache_key in self._cache.loaded(),
            "weights": "present" if missing is None else str(missing),
        }

    # -- running --------------------------------------------------------------------------

    def generate(self, request: Request, model: ModelInfo, ctx: LocalContext) -> Sequence[LocalOutput]:
        plan = self._plan(request, model)
        ctx.check_cancelled()
        available = self._plan_availability(plan)
        if not available.ok:  # before anything loads: no download, no kernel-killed process
            raise BackendUnavailableError(available.reason)
        if plan.text_folder is not None:
            return self._generate_ltx2(plan, ctx)
        started = time.perf_counter()
        capture, warm, steps = self._worker.run(
            lambda: self._run_on_worker(plan, ctx), cancel=ctx.cancel_event
        )
        generate_s = time.perf_counter() - started
        frames = _trimmed(capture.frames, plan)
        if capture.fps is not None and float(capture.fps) != float(plan.entry.fps):
            raise GenerationError(
                f"mlx_video rendered at {capture.fps} fps where {plan.entry.id} declares {plan.entry.fps}; "
                "the weights folder's config.json does not match the model"
            )
        metadata = plan.metadata()
        metadata.update(
            {
                "frames": int(frames.shape[0]),
                "frames_decoded": int(capture.frames.shape[0]),
                "warm": warm,
                "steps_run": steps.done,
                "generate_s": round(generate_s, 3),
            }
        )
        from arthur_gen.media import write_video

        ctx.workdir.mkdir(parents=True, exist_ok=True)
        path = ctx.workdir / f"mlx_video-{plan.entry.id}-{plan.kwargs['seed']}.mp4"
        write_video(iter(frames), path, fps=plan.entry.fps, metadata=metadata)
        return [LocalOutput(path=path, seed=plan.kwargs["seed"], media_type="video/mp4", metadata=metadata)]

    def _run_on_worker(self, plan: Plan, ctx: LocalContext) -> tuple[Capture, bool, Steps]:
        """Import, run generate_video with its globals bridged, hand back the frames."""
        try:
            module = importlib.import_module("mlx_video.generate_wan")  # imports mlx: the heavy part
        except ImportError as exc:
            fix = MAC_INSTALL if sys.platform == "darwin" else LINUX_INSTALL
            raise BackendUnavailableError(
                f"mlx_video cannot be imported here ({exc}); install it: {fix}"
            ) from exc
        slot, warm = self._cache.slot(plan.cache_key)
        ctx.check_cancelled()
        try:
            with bridged(module, ctx, slot) as (steps, capture):
                module.generate_video(model_dir=str(plan.folder), output_path=os.devnull, **plan.kwargs)
        except (JobCanceledError, KeyboardInterrupt):
            raise
        except OSError as exc:
            if "offline" in str(exc).lower() or "huggingface" in str(exc).lower():
                raise BackendUnavailableError(
                    f"mlx_video wanted to download a file ({exc}); downloads are off. "
                    f"Fetch the tokenizer with: {_weights.tokenizer_command()}"
                ) from exc
            raise GenerationError(
                f"mlx_video failed on {plan.entry.id}: {type(exc).__name__}: {exc}"
            ) from exc
        except Exception as exc:
            hint = ""
            if isinstance(exc, MemoryError) or "malloc" in str(exc).lower():
                hint = (
                    " (out of memory: try a smaller size, fewer frames or options={'tiling': 'aggressive'})"
                )
            raise GenerationError(
                f"mlx_video failed on {plan.entry.id}: {type(exc).__name__}: {exc}{hint}"
            ) from exc
        finally:
            if self._cache.peek(plan.cache_key) is None:  # cache size 0: free now
                _release_slot(slot)
        if capture.calls != 1 or capture.frames is None:
            raise GenerationError(f"mlx_video returned no frames for {plan.entry.id}")
        ctx.progress(steps.total, steps.total)  # decoded
        return capture, warm, steps

    def _generate_ltx2(self, plan: Plan, ctx: LocalContext) -> Sequence[LocalOutput]:
        """LTX-2: frames and sound from the package, one MP4 (H.264 + AAC) from write_video."""
        started = time.perf_counter()
        frames, audio, warm, steps = self._worker.run(
            lambda: self._run_ltx2_on_worker(plan, ctx), cancel=ctx.cancel_event
        )
        generate_s = time.perf_counter() - started
        decoded = int(frames.shape[0])
        frames = _trimmed(frames, plan)
        metadata = plan.metadata()
        metadata.update(
            {
                "frames": int(frames.shape[0]),
                "frames_decoded": decoded,
                "warm": warm,
                "steps_run": steps.done,
                "generate_s": round(generate_s, 3),
                "audio": None,
            }
        )
        track = None
        if plan.audio:
            if audio.samples is None or audio.sample_rate is None:
                raise GenerationError(f"mlx_video returned no sound track for {plan.entry.id}")
            track = (audio.samples, audio.sample_rate)
            metadata["audio"] = {
                "sample_rate": audio.sample_rate,
                "channels": int(audio.samples.shape[0]) if audio.samples.ndim == 2 else 1,
                "seconds": round(int(audio.samples.shape[-1]) / audio.sample_rate, 3),
            }
        from arthur_gen.media import write_video

        ctx.workdir.mkdir(parents=True, exist_ok=True)
        path = ctx.workdir / f"mlx_video-{plan.entry.id}-{plan.kwargs['seed']}.mp4"
        write_video(iter(frames), path, fps=plan.fps, metadata=metadata, audio=track)
        return [LocalOutput(path=path, seed=plan.kwargs["seed"], media_type="video/mp4", metadata=metadata)]

    def _run_ltx2_on_worker(
        self, plan: Plan, ctx: LocalContext
    ) -> tuple[Any, AudioCapture, bool, StagedSteps]:
        import shutil
        import tempfile

        try:
            module = importlib.import_module("mlx_video.generate_av")  # imports mlx: the heavy part
            importlib.import_module(TEXT_ENCODER_MODULE)
        except ImportError as exc:
            fix = MAC_INSTALL if sys.platform == "darwin" else LINUX_INSTALL
            raise BackendUnavailableError(
                f"mlx_video cannot be imported here ({exc}); install it: {fix}"
            ) from exc
        assert plan.text_folder is not None
        slot, warm = self._cache.slot(plan.cache_key)
        ctx.check_cancelled()
        # the package writes a throwaway silent MP4 with OpenCV before handing the frames back
        scratch = Path(
            tempfile.mkdtemp(prefix=".mlx-video-", dir=ctx.workdir if ctx.workdir.is_dir() else None)
        )
        output = scratch / "package.mp4"
        output.with_suffix(".temp.mp4").touch()  # so its rename/unlink works when OpenCV writes nothing
        try:
            with bridged_ltx(module, ctx, slot, planned_steps=LTX2_STEPS, model_dir=plan.folder) as (
                steps,
                audio,
            ):
                frames, _ = module.generate_video_with_audio(
                    model_repo=str(plan.folder),
                    text_encoder_repo=str(plan.text_folder),
                    output_path=str(output),
                    **plan.kwargs,
                )
        except (JobCanceledError, KeyboardInterrupt, BackendUnavailableError):
            raise
        except Exception as exc:
            hint = ""
            if isinstance(exc, MemoryError) or "malloc" in str(exc).lower():
                hint = (
                    " (out of memory: try a smaller size, fewer frames or options={'tiling': 'aggressive'})"
                )
            raise GenerationError(
                f"mlx_video failed on {plan.entry.id}: {type(exc).__name__}: {exc}{hint}"
            ) from exc
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
            if self._cache.peek(plan.cache_key) is None:  # cache size 0: free now
                _release_slot(slot)
        if frames is None:
            raise GenerationError(
                f"mlx_video returned no frames for {plan.entry.id} (its OpenCV video writer failed)"
            )
        ctx.progress(steps.total, steps.total)  # decoded
        return frames, audio, warm, steps

    def load_counts(self) -> dict[str, int]:
        """How many times each part was really loaded, over the warm slots (for tests, bench)."""
        counts: dict[str, int] = {}
        for key in self._cache.loaded():
            slot = self._cache.peek(key)
            for name, count in slot.loads_by_name.items() if slot is not None else ():
                counts[name] = counts.get(name, 0) + count
        return counts

    # -- memory ---------------------------------------------------------------------------

    def warm_models(self) -> list[tuple[Any, ...]]:
        """Keys (folder, LoRAs) of the loaded weights, least recently used first."""
        return self._cache.loaded()

    def release(self) -> None:
        """Drop every warm model, return MLX's cached memory and end the worker thread cleanly."""
        self._worker.run(self._clear)
        self._worker.close()

    def _clear(self) -> None:
        self._cache.clear()
        _release_slot(None)


def _release_slot(slot: Slot | None) -> None:
    import gc

    if slot is not None:
        slot.parts.clear()
    gc.collect()
    mx = sys.modules.get("mlx.core")
    clear = getattr(mx, "clear_cache", None)
    if clear is not None:
        clear()
