"""Are a model's converted weights (and the umt5 tokenizer) on disk, and does memory suffice?

Answered from the file system only: no mlx, mlx_video or huggingface_hub import, no network.
A Wan folder is what ``python -m mlx_video.convert_wan`` writes: ``config.json``,
``t5_encoder.safetensors``, ``vae.safetensors`` and ``model.safetensors`` (or the two experts
``low_noise_model.safetensors`` / ``high_noise_model.safetensors`` of the 2.2 A14B models).
The tokenizer is not in that folder: ``generate_wan`` loads ``google/umt5-xxl`` with
``transformers.AutoTokenizer``, which the backend only lets read the Hugging Face cache.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from arthur_gen.errors import BackendUnavailableError

from ._catalog import Entry

__all__ = [
    "IGNORE_MEMORY_ENV",
    "MODELS_ENV",
    "TOKENIZER_REPO",
    "conversion_command",
    "folder_for",
    "hf_hub_cache",
    "memory_need_gb",
    "memory_refusal",
    "missing_files",
    "missing_weights_error",
    "models_root",
    "required_files",
    "tokenizer_command",
    "tokenizer_snapshot",
    "total_memory_gb",
]

MODELS_ENV = "ARTHUR_GEN_MLX_VIDEO_MODELS"
IGNORE_MEMORY_ENV = "ARTHUR_GEN_MLX_VIDEO_IGNORE_MEMORY"
TOKENIZER_REPO = "google/umt5-xxl"
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")  # either one lets AutoTokenizer load
TOKENIZER_MB = 21
_GB = 1024**3


def models_root() -> Path:
    """Where converted weights live: ``$ARTHUR_GEN_MLX_VIDEO_MODELS``, else ~/models/mlx-video."""
    return Path(os.environ.get(MODELS_ENV) or "~/models/mlx-video").expanduser()


def folder_for(entry: Entry, model_path: str | None) -> Path:
    """The weights folder of one call: the ``model_path`` option, else the catalog's folder."""
    return Path(model_path) if model_path is not None else models_root() / entry.folder


def required_files(entry: Entry) -> tuple[str, ...]:
    experts = (
        ("low_noise_model.safetensors", "high_noise_model.safetensors")
        if entry.dual
        else ("model.safetensors",)
    )
    return ("config.json", "t5_encoder.safetensors", "vae.safetensors", *experts)


def missing_files(entry: Entry, folder: Path) -> list[str]:
    return [name for name in required_files(entry) if not (folder / name).is_file()]


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, resolved like ``huggingface_hub.constants``."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        hf_home = os.path.join(xdg, "huggingface")
    return Path(hf_home).expanduser() / "hub"


def tokenizer_snapshot() -> Path | None:
    """The cached snapshot of google/umt5-xxl that holds a tokenizer, or None."""
    repo = hf_hub_cache() / f"models--{TOKENIZER_REPO.replace('/', '--')}"
    ref = repo / "refs" / "main"
    try:
        revision = ref.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    snapshot = repo / "snapshots" / revision
    # AutoTokenizer reads the model's config.json as well as a tokenizer file
    if os.path.exists(snapshot / "config.json") and any(
        os.path.exists(snapshot / n) for n in TOKENIZER_FILES
    ):
        return snapshot
    return None


def tokenizer_command() -> str:
    return shlex.join(
        [
            "hf",
            "download",
            TOKENIZER_REPO,
            "--include",
            "config.json",
            "--include",
            "tokenizer.json",
            "--include",
            "tokenizer_config.json",
            "--include",
            "special_tokens_map.json",
            "--include",
            "spiece.model",
        ]
    )


def conversion_command(entry: Entry, folder: Path) -> str:
    """Download the original checkpoint, then convert it to the MLX layout mlx_video reads."""
    source = f"~/models/src/{entry.folder}"
    return (
        f"hf download {entry.source_repo} --local-dir {source} && "
        f"python -m mlx_video.convert_wan --checkpoint-dir {source} --output-dir {shlex.quote(str(folder))}"
        " (add --quantize --bits 4 to halve the memory)"
    )


def missing_weights_error(entry: Entry, folder: Path) -> BackendUnavailableError | None:
    """Why this call cannot load its weights without the network, or None if it can."""
    missing = missing_files(entry, folder)
    if missing:
        return BackendUnavailableError(
            f"mlx_video model {entry.id!r} needs converted weights in {folder} (missing: "
            f"{', '.join(missing)}; about {entry.weights_gb:g} GB in bf16). arthur-gen never lets "
            f"mlx_video download them. Make them with: {conversion_command(entry, folder)}; "
            f"or pass options={{'model_path': 'FOLDER'}} (CLI: -o model_path=FOLDER), or set "
            f"{MODELS_ENV} to the folder holding {entry.folder}/."
        )
    if tokenizer_snapshot() is None:
        return BackendUnavailableError(
            f"mlx_video model {entry.id!r} needs the {TOKENIZER_REPO} tokenizer (about "
            f"{TOKENIZER_MB} MB) in the Hugging Face cache ({hf_hub_cache()}); arthur-gen runs "
            f"mlx_video with downloads off. Fetch it once with: {tokenizer_command()}"
        )
    return None


def total_memory_gb() -> float | None:
    """Physical (on Apple Silicon: unified) memory, or None if it cannot be told."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / _GB
    except (ValueError, OSError, AttributeError):
        return None


def _size_gb(path: Path) -> float:
    try:
        return path.stat().st_size / _GB
    except OSError:
        return 0.0


def memory_need_gb(entry: Entry, folder: Path) -> float:
    """Peak memory of one call, from the weight files when present, else the catalog's figure.

    mlx_video upcasts the T5 encoder and the VAE to float32 (twice their bf16 size), and the
    backend keeps the transformer(s), the T5 encoder and the VAE warm together: the peak is
    the transformer(s), plus T5 and VAE in float32, plus a margin for activations.
    """
    if missing_files(entry, folder):
        return float(entry.memory_gb)
    experts = sum(_size_gb(folder / name) for name in required_files(entry)[3:])
    t5 = _size_gb(folder / "t5_encoder.safetensors")
    vae = _size_gb(folder / "vae.safetensors")
    return round((experts + 2 * t5 + 2 * vae) * 1.1 + 0.5, 2)


def memory_refusal(entry: Entry, folder: Path) -> str | None:
    """Why this machine cannot hold the call, or None (also when memory cannot be told)."""
    if os.environ.get(IGNORE_MEMORY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    memory = total_memory_gb()
    need = memory_need_gb(entry, folder)
    if memory is None or memory >= need:
        return None
    return (
        f"{entry.id} needs about {need:g} GB of memory and this machine has {memory:.1f} GB: "
        f"MLX would be killed by the system. Use 4-bit weights (convert_wan --quantize --bits 4), "
        f"a smaller model (wan2.1-t2v-1.3b), the cloud (backend='replicate'), or set "
        f"{IGNORE_MEMORY_ENV}=1 to try anyway"
    )
