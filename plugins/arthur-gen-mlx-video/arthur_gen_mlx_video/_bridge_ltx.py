"""The seams into ``mlx_video.generate_av.generate_video_with_audio`` (LTX-2) for one call.

The function has no callback, loads and frees every model inside each call, downloads what it
cannot find, and ends by writing the frames with OpenCV and muxing the sound with the
``ffmpeg`` CLI (falling back to a silent video when either is missing). Like the Wan bridge,
:func:`bridged_ltx` rebinds the module's globals for the length of one call, always on the one
MLX worker thread:

- ``tqdm``: :class:`StagedSteps` counts the denoising steps of both stages as one bar and stops
  between steps when the job is cancelled;
- ``get_model_path`` / ``validate_text_encoder_config``: local folders only, never a download
  (the second would re-download the Gemma encoder when its config looks wrong);
- the text encoder (``LTX2TextEncoder`` in its module), the transformer (``LTXModel`` and its
  ``load_unified_weights``), and ``load_upsampler`` / ``load_vae_decoder`` /
  ``load_vae_encoder`` / ``load_audio_decoder`` / ``load_vocoder``: served from a warm
  :class:`~._bridge.Slot` when the same files (size, mtime) were loaded before;
- ``save_audio`` / ``mux_video_audio``: :class:`AudioCapture` keeps the waveform (peak-normalised
  as the package's WAV would be) and its sample rate; nothing is muxed. The frames come back
  as the function's return value; the backend writes the MP4 with PyAV.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from arthur_gen import LocalContext
from arthur_gen.errors import BackendUnavailableError, GenerationError

from ._bridge import Slot, offline_hub

__all__ = ["LTX_CACHED_LOADERS", "AudioCapture", "StagedSteps", "bridged_ltx"]

LTX_CACHED_LOADERS = (
    "load_upsampler",
    "load_vae_decoder",
    "load_vae_encoder",
    "load_audio_decoder",
    "load_vocoder",
)
TEXT_ENCODER_MODULE = "mlx_video.models.ltx.text_encoder"


class StagedSteps:
    """Stands in for ``tqdm``: both stages' denoising steps are one run of ``total`` steps.

    ``total`` is the planned step count plus one for the decode, reported by the backend once
    the frames and the sound are back.
    """

    def __init__(self, ctx: LocalContext, planned: int) -> None:
        self.ctx = ctx
        self.total = planned + 1
        self.done = 0
        ctx.progress(0, self.total)

    def __call__(self, iterable: Iterable[Any] | None = None, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable if iterable is not None else range(int(kwargs.get("total") or 0)))
        return self._run(items)

    def _run(self, items: list[Any]) -> Iterator[Any]:
        for item in items:
            self.ctx.check_cancelled()
            yield item
            self.done += 1
            self.total = max(self.total, self.done + 1)  # a schedule longer than planned
            self.ctx.progress(self.done, self.total)
        self.ctx.check_cancelled()  # between the stages, and before the decode


@attrs.define
class AudioCapture:
    """Stands in for ``save_audio`` and ``mux_video_audio``: keeps the sound, writes nothing."""

    samples: Any = None  # numpy float32 [channels, n], peak-normalised to 0.95 like the WAV
    sample_rate: int | None = None
    calls: int = 0

    def save_audio(self, audio: Any, path: Any = None, sample_rate: int = 24000) -> None:
        import numpy as np

        samples = np.asarray(audio, dtype=np.float32)
        if samples.ndim == 2 and samples.shape[0] > samples.shape[1]:
            samples = samples.T  # (n, channels) -> (channels, n)
        peak = float(np.max(np.abs(samples))) if samples.size else 0.0
        if peak > 1e-6:  # what the package does before writing its WAV
            samples = samples * (0.95 / peak)
        self.samples = np.clip(samples, -1.0, 1.0)
        self.sample_rate = int(sample_rate)
        self.calls += 1

    def mux(self, video_path: Any, audio_path: Any, output_path: Any) -> bool:
        Path(video_path).touch()  # the package removes its temporary video next
        return True


def _stamp_deep(path: Any) -> tuple[Any, ...]:
    """Size and mtime of a file, or of every .safetensors/.json file in a folder."""
    try:
        p = Path(str(path))
        if p.is_dir():
            files = sorted(f for f in p.iterdir() if f.suffix in (".safetensors", ".json"))
            return tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
        st = p.stat()
        return ((p.name, st.st_size, st.st_mtime_ns),)
    except (OSError, TypeError):
        return ()


def _cached_any(slot: Slot, name: str, load: Callable[..., Any]) -> Callable[..., Any]:
    """``load`` served from ``slot`` for the same arguments and files (any signature)."""

    def cached(*args: Any, **kwargs: Any) -> Any:
        first = args[0] if args else next(iter(kwargs.values()), None)
        key = (name, repr(args), repr(sorted(kwargs.items())), _stamp_deep(first))
        found = slot.parts.get(key)
        if found is not None:
            slot.hits += 1
            return found
        model = load(*args, **kwargs)
        slot.loads += 1
        slot.loads_by_name[name] = slot.loads_by_name.get(name, 0) + 1
        slot.parts[key] = model
        return model

    return cached


class _WarmTextEncoder:
    """Stands in for ``LTX2TextEncoder()``: ``load()`` reuses a loaded encoder for the same files."""

    def __init__(self, cls: Any, slot: Slot) -> None:
        self._cls = cls
        self._slot = slot
        self._inner: Any = None

    def load(self, model_path: Any = None, text_encoder_path: Any = None, use_unified: bool = False) -> None:
        key = (
            "text_encoder",
            str(model_path),
            str(text_encoder_path),
            use_unified,
            _stamp_deep(text_encoder_path),
            _stamp_deep(model_path),
        )
        found = self._slot.parts.get(key)
        if found is None:
            found = self._cls()
            found.load(model_path=model_path, text_encoder_path=text_encoder_path, use_unified=use_unified)
            self._slot.loads += 1
            self._slot.loads_by_name["text_encoder"] = self._slot.loads_by_name.get("text_encoder", 0) + 1
            self._slot.parts[key] = found
        else:
            self._slot.hits += 1
        self._inner = found

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._inner(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:  # parameters(), enhance_t2v(), ...
        return getattr(self._inner, name)


class _WarmTransformer:
    """``load_unified_weights`` and ``LTXModel`` together: a warm transformer skips both."""

    def __init__(self, slot: Slot, model_cls: Any, load_weights: Callable[..., Any], stamp: Any) -> None:
        self.slot = slot
        self.model_cls = model_cls
        self.real_load_weights = load_weights
        self.stamp = stamp
        self.skipped = False

    def _warm(self) -> tuple[tuple[Any, ...], Any] | None:
        for key, model in self.slot.parts.items():
            if key[0] == "transformer" and key[2] == self.stamp:
                return key, model
        return None

    def load_unified_weights(self, model_path: Any, prefix: str) -> Any:
        if prefix == "transformer." and self._warm() is not None:
            self.skipped = True
            return {}  # the warm transformer already holds them
        return self.real_load_weights(model_path, prefix)

    def ltx_model(self, config: Any) -> Any:
        warm = self._warm()
        if warm is not None and self.skipped:
            key, model = warm
            if key[1] != repr(config):
                raise GenerationError("the LTX-2 transformer config changed between calls; call release()")
            self.slot.hits += 1
            return model
        model = self.model_cls(config)
        self.slot.loads += 1
        self.slot.loads_by_name["transformer"] = self.slot.loads_by_name.get("transformer", 0) + 1
        self.slot.parts[("transformer", repr(config), self.stamp)] = model
        return model


def _local_only(original_validate: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    def get_model_path(model_repo: str) -> Path:
        path = Path(model_repo).expanduser()
        if path.is_dir():
            return path
        raise BackendUnavailableError(
            f"mlx_video asked for {model_repo!r}, which is not a local folder; downloads are off"
        )

    def validate_text_encoder_config(text_encoder_path: Path) -> None:
        from ._weights import _looks_like_text_config

        if not _looks_like_text_config(Path(text_encoder_path)):
            raise BackendUnavailableError(
                f"{text_encoder_path}/config.json is not a Gemma 3 text encoder config; mlx_video would "
                "download one again. Fetch the folder with: hf download mlx-community/gemma-3-12b-it-bf16"
            )
        original_validate(text_encoder_path)

    return get_model_path, validate_text_encoder_config


@contextlib.contextmanager
def bridged_ltx(
    module: ModuleType, ctx: LocalContext, slot: Slot, *, planned_steps: int, model_dir: Path
) -> Iterator[tuple[StagedSteps, AudioCapture]]:
    """Rebind ``generate_av``'s globals (and the text encoder class) for one call; restore them."""
    text_module = sys.modules[TEXT_ENCODER_MODULE]
    steps, audio = StagedSteps(ctx, planned_steps), AudioCapture()
    g = vars(module)
    names = (
        "tqdm",
        "save_audio",
        "mux_video_audio",
        "get_model_path",
        "validate_text_encoder_config",
        "LTXModel",
        "load_unified_weights",
        *LTX_CACHED_LOADERS,
    )
    originals = {name: g[name] for name in names}
    original_encoder = getattr(text_module, "LTX2TextEncoder")  # noqa: B009 (mypy: no stubs)
    transformer = _WarmTransformer(
        slot, originals["LTXModel"], originals["load_unified_weights"], _stamp_deep(model_dir)
    )
    get_model_path, validate = _local_only(originals["validate_text_encoder_config"])
    replacements: dict[str, Any] = {
        "tqdm": steps,
        "save_audio": audio.save_audio,
        "mux_video_audio": audio.mux,
        "get_model_path": get_model_path,
        "validate_text_encoder_config": validate,
        "LTXModel": transformer.ltx_model,
        "load_unified_weights": transformer.load_unified_weights,
    }
    for name in LTX_CACHED_LOADERS:
        replacements[name] = _cached_any(slot, name, originals[name])
    g.update(replacements)
    setattr(text_module, "LTX2TextEncoder", lambda *a, **k: _WarmTextEncoder(original_encoder, slot))  # noqa: B010
    try:
        with offline_hub(), contextlib.redirect_stdout(sys.stderr):
            yield steps, audio
    finally:
        g.update(originals)
        setattr(text_module, "LTX2TextEncoder", original_encoder)  # noqa: B010
