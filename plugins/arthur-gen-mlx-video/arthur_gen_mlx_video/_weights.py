"""Are a model's weights (and its tokenizer / text encoder) on disk, and does memory suffice?

Answered from the file system only: no mlx, mlx_video or huggingface_hub import, no network.
A Wan folder is what ``python -m mlx_video.convert_wan`` writes: ``config.json``,
``t5_encoder.safetensors``, ``vae.safetensors`` and ``model.safetensors`` (or the two experts
``low_noise_model.safetensors`` / ``high_noise_model.safetensors`` of the 2.2 A14B models).
The tokenizer is not in that folder: ``generate_wan`` loads ``google/umt5-xxl`` with
``transformers.AutoTokenizer``, which the backend only lets read the Hugging Face cache.
LTX-2 needs a unified MLX folder (``notapalindrome/ltx2-mlx-av``: ``config.json`` and one
``model.safetensors`` holding every part, or one ``<part>.safetensors`` per part) and a Gemma 3
text encoder folder; the parts are read from the safetensors header, not loaded.
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
    "ltx_memory_need_gb",
    "ltx_memory_refusal",
    "ltx_missing_error",
    "ltx_model_command",
    "ltx_parts",
    "ltx_text_encoder_command",
    "memory_need_gb",
    "memory_refusal",
    "missing_files",
    "missing_weights_error",
    "models_root",
    "required_files",
    "safetensors_prefixes",
    "text_encoder_folder_for",
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


# -- LTX-2 (generate_av): a unified MLX folder and a Gemma 3 text encoder folder --------------

LTX_UPSAMPLER_REPO = "Lightricks/LTX-2"
LTX_UPSAMPLER_FILE = "ltx-2-spatial-upscaler-x2-1.0.safetensors"
LTX_UPSAMPLER_GB = 1.0
_LTX_PARTS = ("transformer", "connector", "vae_decoder", "vae_encoder", "audio_vae", "vocoder", "upsampler")


def text_encoder_folder_for(entry: Entry, text_encoder_path: str | None) -> Path:
    """The Gemma folder of one LTX-2 call: the ``text_encoder_path`` option, else the catalog's."""
    if text_encoder_path is not None:
        return Path(text_encoder_path)
    return models_root() / (entry.text_encoder_folder or "gemma-3-12b-it-bf16")


def safetensors_prefixes(path: Path) -> set[str]:
    """The first dotted component of every tensor name in a .safetensors file (header only)."""
    import json
    import struct

    try:
        with open(path, "rb") as f:
            (size,) = struct.unpack("<Q", f.read(8))
            if size > 256 * 1024 * 1024:
                return set()
            header = json.loads(f.read(size))
    except (OSError, ValueError, struct.error):
        return set()
    return {name.split(".", 1)[0] for name in header if name != "__metadata__"}


def ltx_parts(folder: Path) -> set[str]:
    """Which LTX-2 parts a unified folder holds (single ``model.safetensors`` or split files)."""
    single = folder / "model.safetensors"
    if single.is_file():
        found = safetensors_prefixes(single)
        if "text_embedding_projection" in found:  # connector weights stored without the prefix
            found.add("connector")
        return found & set(_LTX_PARTS)
    return {part for part in _LTX_PARTS if (folder / f"{part}.safetensors").is_file()}


_LTX_NATIVE = (
    "ltx-2-19b-distilled.safetensors",
    "ltx-2-19b-dev.safetensors",
    "ltx-2.3-22b-distilled.safetensors",
    "ltx-2.3-22b-dev.safetensors",
)


def _split_unified(folder: Path) -> bool:
    """The split layout the package takes as unified (``is_unified_mlx_model``)."""
    import json

    try:
        if json.loads((folder / "split_model.json").read_text(encoding="utf-8")).get("format") == "split":
            return True
    except (OSError, ValueError, AttributeError):
        pass
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("model_type") == "AudioVideo"


def ltx_upsampler_cached() -> bool:
    repo = hf_hub_cache() / f"models--{LTX_UPSAMPLER_REPO.replace('/', '--')}"
    try:
        revision = (repo / "refs" / "main").read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return (repo / "snapshots" / revision / LTX_UPSAMPLER_FILE).is_file()


def _looks_like_text_config(folder: Path) -> bool:
    import json

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict):
        return False
    if isinstance(config.get("text_config"), dict) or str(config.get("model_type", "")).startswith("gemma"):
        return True
    return {"hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads"} <= set(config)


def ltx_model_command(folder: Path) -> str:
    return (
        f"hf download notapalindrome/ltx2-mlx-av --local-dir {shlex.quote(str(folder))} "
        f"(or convert the original: python -m mlx_video.convert --hf-path Lightricks/LTX-2 "
        f"--mlx-path {shlex.quote(str(folder))})"
    )


def ltx_text_encoder_command(entry: Entry, folder: Path) -> str:
    return f"hf download {entry.text_encoder_repo} --local-dir {shlex.quote(str(folder))}"


def ltx_missing_error(
    entry: Entry, folder: Path, text_folder: Path, *, audio: bool = True, image: bool = False
) -> BackendUnavailableError | None:
    """Why this LTX-2 call would need the network (or would run on random weights), or None.

    The package downloads whatever it cannot find (the model, the Gemma encoder, the spatial
    upsampler) and silently leaves a part random when its weights are absent from a unified
    file (the audio decoder, the vocoder, the text connectors): both are refused here.
    """
    fix = (
        f"or pass options={{'model_path': 'FOLDER'}} (CLI: -o model_path=FOLDER), or set {MODELS_ENV} "
        f"to the folder holding {entry.folder}/."
    )
    if not (folder / "config.json").is_file() or not (
        (folder / "model.safetensors").is_file() or (folder / "transformer.safetensors").is_file()
    ):
        return BackendUnavailableError(
            f"mlx_video model {entry.id!r} needs the unified MLX LTX-2 weights in {folder} "
            f"(config.json and model.safetensors; about {entry.weights_gb:g} GB). arthur-gen never "
            f"lets mlx_video download them. Fetch them with: {ltx_model_command(folder)}; {fix}"
        )
    native = [n for n in _LTX_NATIVE if (folder / n).is_file()]
    if native or (not (folder / "model.safetensors").is_file() and not _split_unified(folder)):
        why = ", ".join(native) or "no model.safetensors, and config.json is not model_type AudioVideo"
        return BackendUnavailableError(
            f"{folder} is not a unified MLX LTX-2 folder ({why}): mlx_video would then load the "
            f"Lightricks layout and fetch parts from the Hub. Use: {ltx_model_command(folder)}"
        )
    parts = ltx_parts(folder)
    needed = {"transformer", "connector", "vae_decoder"} | ({"audio_vae", "vocoder"} if audio else set())
    if image:  # image-to-video encodes the first frame
        needed.add("vae_encoder")
    absent = sorted(needed - parts)
    if absent:
        return BackendUnavailableError(
            f"the LTX-2 weights in {folder} lack {', '.join(absent)}: mlx_video would run those "
            f"parts on random weights. Use the full unified checkpoint: {ltx_model_command(folder)}"
        )
    if "upsampler" not in parts and not ltx_upsampler_cached():
        return BackendUnavailableError(
            f"the LTX-2 weights in {folder} have no spatial upsampler and mlx_video would download "
            f"it (about {LTX_UPSAMPLER_GB:g} GB); downloads are off. Fetch it once with: "
            f"hf download {LTX_UPSAMPLER_REPO} {LTX_UPSAMPLER_FILE}"
        )
    command = ltx_text_encoder_command(entry, text_folder)
    if not _looks_like_text_config(text_folder) or not any(text_folder.glob("*.safetensors")):
        return BackendUnavailableError(
            f"mlx_video model {entry.id!r} needs its Gemma 3 text encoder in {text_folder} "
            f"(config.json and *.safetensors; about {entry.text_encoder_gb:g} GB). Fetch it with: "
            f"{command}; or pass options={{'text_encoder_path': 'FOLDER'}}."
        )
    tokenizer_files = ("tokenizer.json", "tokenizer.model", "tokenizer_config.json")
    if not (folder / "tokenizer").is_dir() and not any((text_folder / n).is_file() for n in tokenizer_files):
        return BackendUnavailableError(
            f"the Gemma 3 folder {text_folder} has no tokenizer (tokenizer.json or tokenizer.model). "
            f"Fetch the full folder with: {command}"
        )
    return None


def _folder_gb(folder: Path) -> float:
    return sum(_size_gb(p) for p in folder.glob("*.safetensors"))


def ltx_memory_need_gb(entry: Entry, folder: Path, text_folder: Path, *, warm: bool = True) -> float:
    """Peak memory of one LTX-2 call, from the weight files when present, else the catalog's.

    The package loads the text encoder, frees it, then loads the transformer, upsampler and
    decoders. Kept warm (the default), both stay loaded: the peak is their sum; with the warm
    cache off (``ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE=0``) it is the larger one. Plus a margin for
    activations.
    """
    model_gb = _folder_gb(folder) if (folder / "config.json").is_file() else 0.0
    text_gb = _folder_gb(text_folder) if (text_folder / "config.json").is_file() else 0.0
    if model_gb <= 0 or text_gb <= 0:
        if warm:
            return float(entry.memory_gb)
        return round(max(entry.weights_gb, entry.text_encoder_gb) * 1.1 + 2.0, 2)
    peak = model_gb + text_gb if warm else max(model_gb, text_gb)
    return round(peak * 1.1 + 0.5, 2)


def ltx_memory_refusal(entry: Entry, folder: Path, text_folder: Path, *, warm: bool = True) -> str | None:
    """Why this machine cannot hold the LTX-2 call, or None (also when memory cannot be told)."""
    if os.environ.get(IGNORE_MEMORY_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return None
    memory = total_memory_gb()
    need = ltx_memory_need_gb(entry, folder, text_folder, warm=warm)
    if memory is None or memory >= need:
        return None
    hint = ""
    if warm:
        cold = ltx_memory_need_gb(entry, folder, text_folder, warm=False)
        if memory >= cold:
            hint = (
                f" Without keeping models warm it needs about {cold:g} GB: set "
                "ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE=0."
            )
    return (
        f"{entry.id} needs about {need:g} GB of memory (model and text encoder kept loaded) and this "
        f"machine has {memory:.1f} GB: MLX would be killed by the system.{hint} Or use the cloud "
        f"(backend='replicate'), or set {IGNORE_MEMORY_ENV}=1 to try anyway"
    )
