"""The ``mlx-video`` backend: Wan 2.x text/image-to-video on MLX, in this process.

It wraps one function of the ``mlx-video-with-audio`` package::

    mlx_video.generate_wan.generate_video(model_dir, prompt, negative_prompt, image, width,
        height, num_frames, steps, guide_scale, shift, seed, output_path, scheduler, tiling, ...)

Nothing heavy is imported at module level: ``mlx`` and ``mlx_video`` are imported inside
:meth:`MlxVideoBackend.generate`, the first time a video is made.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import importlib
import importlib.util
import os
import platform
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import attrs

from arthur_gen import (
    Availability,
    GenerationError,
    ImageRequest,
    InvalidRequestError,
    JobCanceledError,
    LocalBackend,
    LocalContext,
    LocalOutput,
    ModelInfo,
    UnknownModelError,
    VideoBackend,
    VideoRequest,
)

from ._catalog import CATALOG, DEFAULT_MODEL, Entry, entry_for, frames_for, model_info

__all__ = [
    "DISTRIBUTION",
    "INSTALL",
    "MODELS_ENV",
    "Call",
    "MlxVideoBackend",
    "installed_version",
    "models_root",
    "plan_call",
    "total_memory_gb",
]

DISTRIBUTION = "mlx-video-with-audio"
INSTALL = "pip install 'mlx-video-with-audio>=0.1.37,<0.2'"
MODELS_ENV = "ARTHUR_GEN_MLX_VIDEO_MODELS"
IGNORE_MEMORY_ENV = "ARTHUR_GEN_MLX_VIDEO_IGNORE_MEMORY"
MAX_SEED = 2**32 - 1  # mlx_video seeds numpy too, which takes 32-bit seeds
_URL_PREFIXES = ("http://", "https://", "data:")

Request = ImageRequest | VideoRequest


# -- cheap facts about this machine (module-level functions: tests monkeypatch them) ----------


@functools.cache
def installed_version() -> str | None:
    """The installed version of mlx-video-with-audio, without importing it."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return None


def total_memory_gb() -> float | None:
    """Physical (on Apple Silicon: unified) memory, or None if it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    except (ValueError, OSError, AttributeError):
        return None


def models_root() -> Path:
    """Where converted weights live: ``$ARTHUR_GEN_MLX_VIDEO_MODELS``, else ~/models/mlx-video."""
    return Path(os.environ.get(MODELS_ENV) or "~/models/mlx-video").expanduser()


def _required_files(entry: Entry) -> tuple[str, ...]:
    experts = (
        ("low_noise_model.safetensors", "high_noise_model.safetensors")
        if entry.dual
        else ("model.safetensors",)
    )
    return ("config.json", "t5_encoder.safetensors", "vae.safetensors", *experts)


def _weights_fix(entry: Entry, folder: Path) -> str:
    return (
        f"hf download {entry.source_repo} --local-dir ~/models/src/{entry.folder} && "
        f"python -m mlx_video.convert_wan --checkpoint-dir ~/models/src/{entry.folder} "
        f"--output-dir {folder} (add --quantize --bits 4 to save memory)"
    )


# -- what one request becomes --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Call:
    """One call of an mlx_video function: which one, and its keyword arguments."""

    entry: Entry
    kwargs: Mapping[str, Any]  # everything except output_path

    @property
    def num_frames(self) -> int:
        return int(self.kwargs["num_frames"])

    def metadata(self) -> dict[str, Any]:
        """JSON-ready: enough to re-create the video with mlx_video directly."""
        return {
            "mlx_video_function": self.entry.function.replace(":", "."),
            "mlx_video_version": installed_version(),
            **{k: v for k, v in self.kwargs.items() if k != "prompt"},
            "fps": self.entry.fps,
        }


def _bad(entry: Entry, field: str, value: Any, allowed: str) -> InvalidRequestError:
    return InvalidRequestError(
        f"{field}={value!r} is not accepted by mlx-video/{entry.id}: {allowed}", field=field
    )


def plan_call(entry: Entry, request: VideoRequest) -> Call:
    """Check what the model's declaration cannot say, and work out the call. Loads nothing.

    The core has already checked the declared limits (sizes, durations, options and their
    types); this adds the rules that need arithmetic.
    """
    options = request.options
    if request.seed is not None and request.seed > MAX_SEED:
        raise _bad(entry, "seed", request.seed, f"at most {MAX_SEED}")
    if request.first_frame is not None and request.first_frame.lower().startswith(_URL_PREFIXES):
        raise _bad(
            entry,
            "first_frame",
            request.first_frame[:60],
            "mlx_video reads a local file; download the image and pass its path",
        )

    if request.width is not None and request.height is not None:
        width, height = request.width, request.height
    elif request.aspect_ratio is not None:
        width, height = next((w, h) for name, w, h in entry.aspect_sizes if name == request.aspect_ratio)
    else:
        width, height = entry.width, entry.height
    if entry.max_area is not None and width * height > entry.max_area:
        raise _bad(
            entry,
            "width",
            width,
            f"{width}x{height} is larger than the {entry.max_area:,} pixels this model renders; "
            f"try {entry.width}x{entry.height} or {entry.height}x{entry.width}",
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
        num_frames = frames_for(seconds, entry.fps, entry.frame_step)

    kwargs: dict[str, Any] = {
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,  # None: the model's own negative prompt
        "image": request.first_frame,  # None: text-to-video
        "width": width,
        "height": height,
        "num_frames": num_frames,
        "steps": request.steps if request.steps is not None else entry.default_steps,
        "guide_scale": request.guidance,  # None: the model's own
        "shift": options.get("shift"),
        "seed": request.seed if request.seed is not None else -1,
        "scheduler": options.get("scheduler", "unipc"),
        "tiling": options.get("tiling", "auto"),
    }
    return Call(entry=entry, kwargs=kwargs)


# -- progress and cancellation, bridged into the library's loop ---------------------------------


class _Steps:
    """Stands in for ``tqdm`` inside mlx_video while one call runs.

    mlx_video reports progress only through ``tqdm(range(steps))``. Iterating through this
    instead reports each finished step to the job and stops between two steps when the job is
    cancelled (JobCanceledError leaves mlx_video's loop as it is).
    """

    def __init__(self, ctx: LocalContext) -> None:
        self.ctx = ctx

    def __call__(self, iterable: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable if iterable is not None else range(int(kwargs.get("total") or 0)))
        return self._run(items)

    def _run(self, items: list[Any]) -> Iterator[Any]:
        total = len(items)
        self.ctx.progress(0, total)
        for step, item in enumerate(items, start=1):
            self.ctx.check_cancelled()
            yield item
            self.ctx.progress(step, total)


_call_lock = threading.Lock()  # one generation at a time: the patch below is process-wide


@contextlib.contextmanager
def _bridged(module: ModuleType, ctx: LocalContext) -> Iterator[None]:
    """Route the module's tqdm to the job, and its prints to stderr, for one call."""
    with _call_lock:
        had = hasattr(module, "tqdm")
        original = getattr(module, "tqdm", None)
        if had:
            vars(module)["tqdm"] = _Steps(ctx)
        try:
            # mlx_video prints as it goes; keep stdout for what the CLI prints (the paths)
            with contextlib.redirect_stdout(sys.stderr):
                yield
        finally:
            if had:
                vars(module)["tqdm"] = original


# -- the warm cache -------------------------------------------------------------------------------


@attrs.define
class _Pipeline:
    """What stays loaded between calls for one model."""

    module: ModuleType
    function: Callable[..., Any]
    uses: int = 0


class _WarmCache:
    """At most ``size`` pipelines, least recently used dropped first. Thread-safe.

    mlx_video's ``generate_video`` loads and frees the weights inside each call, so what is
    kept here is the imported pipeline (mlx, mlx_video, transformers: seconds to import). A
    library that splits loading from generating (as mflux does) keeps its loaded model here.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[str, _Pipeline] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, load: Callable[[], _Pipeline]) -> _Pipeline:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            pipeline = load()
            if self.size > 0:
                self._items[key] = pipeline
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
            return pipeline

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def _clear_mlx_cache() -> None:
    """Hand MLX's cached buffers back to the system, if MLX was ever imported."""
    mx = sys.modules.get("mlx.core")
    clear = getattr(mx, "clear_cache", None)
    if clear is not None:
        clear()


# -- the backend ----------------------------------------------------------------------------


class MlxVideoBackend(LocalBackend, VideoBackend):
    """Wan 2.x videos on MLX through mlx_video, in this process, one at a time."""

    id: ClassVar[str] = "mlx-video"
    display_name: ClassVar[str] = "mlx-video (Wan on MLX, local)"
    max_concurrency: ClassVar[int] = 1  # one video fills the machine's memory

    def __init__(self, *, cache_size: int = 1) -> None:
        self._warm = _WarmCache(cache_size)
        self._infos = tuple(model_info(entry) for entry in CATALOG)

    @property
    def default_model(self) -> str:
        return DEFAULT_MODEL

    def models(self) -> Sequence[ModelInfo]:
        return self._infos

    def _entry(self, model: ModelInfo) -> Entry:
        entry = entry_for(model.id)
        if entry is None:
            raise UnknownModelError(f"mlx-video has no model {model.id!r}")
        return entry

    # -- can it run here? (cheap: no import of mlx or mlx_video) --

    def availability(self) -> Availability:
        system, machine = sys.platform, platform.machine().lower()
        if system == "darwin" and machine not in ("arm64", "aarch64"):
            return Availability.no("MLX needs an Apple Silicon Mac", "use another backend, e.g. replicate")
        if system not in ("darwin", "linux"):
            return Availability.no(f"MLX does not run on {system}", "use another backend, e.g. replicate")
        if importlib.util.find_spec("mlx_video") is None:
            return Availability.no("mlx_video is not installed", INSTALL)
        if installed_version() is None:
            return Availability.no(
                "the installed mlx_video is not the one from mlx-video-with-audio (another "
                "package installs a module of the same name)",
                f"pip uninstall mlx-video && {INSTALL}",
            )
        if system == "linux":
            return Availability(True, "runs on MLX's CPU backend here: works, but hours per video")
        return Availability.yes()

    def model_availability(self, model: ModelInfo) -> Availability:
        entry = self._entry(model)
        memory = total_memory_gb()
        if memory is not None and memory < entry.memory_gb * 0.9 and not os.environ.get(IGNORE_MEMORY_ENV):
            return Availability.no(
                f"{entry.id} needs about {entry.memory_gb} GB of memory; this machine has {memory:.0f} GB",
                f"use a smaller model (wan2.1-t2v-1.3b) or set {IGNORE_MEMORY_ENV}=1 to try anyway",
            )
        folder = models_root() / entry.folder
        missing = [name for name in _required_files(entry) if not (folder / name).is_file()]
        if missing:
            return Availability.no(
                f"converted weights of {entry.id} not found in {folder} (missing {', '.join(missing)})",
                _weights_fix(entry, folder),
            )
        return Availability.yes()

    def model_version(self, model: ModelInfo) -> str:
        entry = self._entry(model)
        return f"{DISTRIBUTION}=={installed_version()};{entry.folder}"

    # -- requests --

    def _call(self, request: Request, model: ModelInfo) -> Call:
        if not isinstance(request, VideoRequest):
            raise InvalidRequestError("mlx-video makes videos, not images", field="model")
        return plan_call(self._entry(model), request)

    def validate(self, request: Request, model: ModelInfo) -> None:
        self._call(request, model)

    def describe_request(self, request: Request, model: ModelInfo) -> Mapping[str, Any]:
        call = self._call(request, model)
        return {
            "function": call.entry.function.replace(":", "."),
            "kwargs": {**call.kwargs, "model_dir": str(models_root() / call.entry.folder)},
            "seconds": round(call.num_frames / call.entry.fps, 3),
            "warm": call.entry.function in self._warm,
        }

    # -- running --

    def _load(self, entry: Entry) -> _Pipeline:
        module_name, _, function_name = entry.function.partition(":")
        try:
            module = importlib.import_module(module_name)  # imports mlx: the heavy part
        except ImportError as exc:
            raise GenerationError(f"mlx_video cannot be imported here ({exc}); {INSTALL}") from exc
        return _Pipeline(module=module, function=getattr(module, function_name))

    def generate(self, request: Request, model: ModelInfo, ctx: LocalContext) -> Sequence[LocalOutput]:
        call = self._call(request, model)
        ctx.check_cancelled()
        pipeline = self._warm.get(call.entry.function, lambda: self._load(call.entry))
        ctx.workdir.mkdir(parents=True, exist_ok=True)
        output = ctx.workdir / f"{call.entry.id}-{call.kwargs['seed']}.mp4"
        folder = models_root() / call.entry.folder
        started = time.perf_counter()
        try:
            with _bridged(pipeline.module, ctx):
                pipeline.function(model_dir=str(folder), output_path=str(output), **call.kwargs)
        except (JobCanceledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            hint = ""
            if isinstance(exc, MemoryError) or "malloc" in str(exc):
                hint = (
                    f" (out of memory at {call.kwargs['width']}x{call.kwargs['height']}, "
                    f"{call.num_frames} frames: try a smaller size, a shorter duration or "
                    "options={'tiling': 'aggressive'})"
                )
            raise GenerationError(
                f"mlx_video failed on {call.entry.id}: {type(exc).__name__}: {exc}{hint}"
            ) from exc
        finally:
            pipeline.uses += 1
        if not output.is_file() or output.stat().st_size == 0:
            raise GenerationError(
                f"mlx_video reported success but wrote no video at {output} (is imageio or "
                "opencv-python installed?)"
            )
        metadata = call.metadata()
        metadata["model_dir"] = str(folder)
        metadata["generate_s"] = round(time.perf_counter() - started, 3)
        return [LocalOutput(path=output, seed=request.seed, media_type="video/mp4", metadata=metadata)]

    # -- memory --

    def warm_models(self) -> list[str]:
        return self._warm.keys()

    def release(self) -> None:
        """Forget the warm pipelines and return MLX's cached memory to the system."""
        self._warm.clear()
        gc.collect()
        _clear_mlx_cache()
