"""The models this plugin offers, as data: arthur-gen ids mapped to mflux 0.24's classes,
configs, Hugging Face repos and defaults.

Everything the plugin needs to know about mflux lives here, so the contract tests can walk
the same tables and check each name against the installed mflux (a renamed class, config or
argument fails a test instead of a user's run). Nothing here imports mflux.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from arthur_gen import Capability, Kind, ModelInfo, OptionSpec, Price

__all__ = [
    "ASPECT_RATIOS",
    "CATALOG",
    "DEFAULT_MODEL",
    "DEFAULT_UPSCALE",
    "FAMILIES",
    "FILL_FAMILIES",
    "FILL_MODELS",
    "LOW_RAM_CACHE_LIMIT_GB",
    "MAX_LORA_SCALE",
    "MAX_REFERENCE_IMAGES",
    "MAX_SIZE",
    "MAX_UPSCALE",
    "MAX_UPSCALE_LONG_SIDE",
    "MAX_UPSCALE_SHORT_SIDE",
    "MIN_SIZE",
    "MIN_TILE_SIZE",
    "MODELS",
    "OUTPAINT_ASPECTS",
    "QUANTIZE_CHOICES",
    "SIZE_MULTIPLE",
    "UPSCALERS",
    "UPSCALE_FAMILIES",
    "Entry",
    "Family",
    "entry_for",
    "model_info",
]

QUANTIZE_CHOICES = (3, 4, 5, 6, 8)  # mflux.cli.defaults.defaults.QUANTIZE_CHOICES
SIZE_MULTIPLE = 16  # mflux.cli.defaults.defaults.DIMENSION_STEP_PIXELS; Config rounds down to it
MIN_SIZE = 256
MAX_SIZE = 2048
MAX_LORA_SCALE = 10.0
ASPECT_RATIOS = ("1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16", "21:9", "9:21")
MAX_REFERENCE_IMAGES = 4
OUTPAINT_ASPECTS = ("16:9", "9:16", "1:1", "4:5", "5:4", "4:3", "3:4", "3:2", "2:3", "21:9", "9:21")
MIN_TILE_SIZE = 128  # mflux.cli.parser.parsers.vae_tile_size: at least 128, a multiple of 16
LOW_RAM_CACHE_LIMIT_GB = 1.0  # mflux's --low-ram MLX cache limit (MemorySaver: 1000**3 bytes)
# SeedVR2 upscaling: a factor of the shortest side (mflux's ScaleFactor) or a target in pixels
DEFAULT_UPSCALE = 2.0
MAX_UPSCALE = 8.0
MAX_UPSCALE_SHORT_SIDE = 4320  # 8K UHD's short side; a 4K frame (3840x2160) is 2160
MAX_UPSCALE_LONG_SIDE = 8192
DEFAULT_STRENGTH = 0.6  # arthur-gen strength; mflux's own default image_strength is 0.4 (= 1 - 0.6)


@attrs.frozen(kw_only=True)
class Family:
    """One mflux model class and the arguments its ``generate_image`` takes."""

    name: str
    module: str
    class_name: str
    # the weight definition mflux loads this family with (its download patterns)
    weights_module: str
    weights_class: str
    # subfolders of the repo that must hold *.safetensors (from get_download_patterns())
    weight_dirs: tuple[str, ...]
    # subfolders the tokenizers load from (TokenizerLoader, same repo)
    tokenizer_dirs: tuple[str, ...]
    # what mflux fetches: the weight definition's download patterns plus its tokenizers'
    download_patterns: tuple[str, ...]
    # whether generate_image has a negative_prompt parameter at all
    has_negative_prompt_arg: bool
    # the edit class that loads the same weights and takes reference images (None: no edit)
    edit_module: str | None = None
    edit_class_name: str | None = None
    # weight files at the repo root (SeedVR2 keeps its transformer and VAE there)
    root_weight_files: tuple[str, ...] = ()
    # an upscaler: generate_image(seed, image_path, resolution, softness), no prompt, no LoRA
    upscaler: bool = False
    # a masked fill: generate_image(..., image_path, masked_image_path), image and mask required
    fill: bool = False

    @property
    def class_path(self) -> str:
        return f"{self.module}.{self.class_name}"

    @property
    def edit_class_path(self) -> str | None:
        return f"{self.edit_module}.{self.edit_class_name}" if self.edit_class_name else None


def _weight_patterns(*dirs: str) -> tuple[str, ...]:
    return tuple(f"{d}/*.{ext}" for d in dirs for ext in ("safetensors", "json"))


FLUX1 = Family(
    name="flux1",
    module="mflux.models.flux.variants.txt2img.flux",
    class_name="Flux1",
    weights_module="mflux.models.flux.weights.flux_weight_definition",
    weights_class="FluxWeightDefinition",
    weight_dirs=("text_encoder", "text_encoder_2", "transformer", "vae"),
    tokenizer_dirs=("tokenizer", "tokenizer_2"),
    download_patterns=(
        *_weight_patterns("text_encoder", "text_encoder_2", "transformer", "vae"),
        "tokenizer/**",
        "tokenizer_2/**",
    ),
    has_negative_prompt_arg=True,  # accepted and ignored: FLUX.1 has no negative branch
)
Z_IMAGE = Family(
    name="z_image",
    module="mflux.models.z_image.variants.z_image",
    class_name="ZImage",
    weights_module="mflux.models.z_image.weights.z_image_weight_definition",
    weights_class="ZImageWeightDefinition",
    weight_dirs=("text_encoder", "transformer", "vae"),
    tokenizer_dirs=("tokenizer",),
    download_patterns=(
        *_weight_patterns("text_encoder", "transformer", "vae"),
        "tokenizer/*",
    ),
    has_negative_prompt_arg=True,  # used only by CFG models with guidance > 1
)
FLUX2 = Family(
    name="flux2",
    module="mflux.models.flux2.variants.txt2img.flux2_klein",
    class_name="Flux2Klein",
    weights_module="mflux.models.flux2.weights.flux2_weight_definition",
    weights_class="Flux2KleinWeightDefinition",
    weight_dirs=("text_encoder", "transformer", "vae"),
    tokenizer_dirs=("tokenizer",),
    download_patterns=(
        *_weight_patterns("text_encoder", "transformer", "vae"),
        "tokenizer/**",
        "added_tokens.json",
        "chat_template.jinja",
    ),
    has_negative_prompt_arg=False,
    edit_module="mflux.models.flux2.variants.edit.flux2_klein_edit",
    edit_class_name="Flux2KleinEdit",
)
QWEN = Family(
    name="qwen",
    module="mflux.models.qwen.variants.txt2img.qwen_image",
    class_name="QwenImage",
    weights_module="mflux.models.qwen.weights.qwen_weight_definition",
    weights_class="QwenWeightDefinition",
    weight_dirs=("text_encoder", "transformer", "vae"),
    tokenizer_dirs=("tokenizer",),
    download_patterns=(
        *_weight_patterns("text_encoder", "transformer", "vae"),
        "tokenizer/**",
        "added_tokens.json",
        "chat_template.jinja",
    ),
    has_negative_prompt_arg=True,
)
_SEEDVR2_VAE = "ema_vae_fp16.safetensors"
SEEDVR2_3B = Family(
    name="seedvr2_3b",
    module="mflux.models.seedvr2.variants.upscale.seedvr2",
    class_name="SeedVR2",
    weights_module="mflux.models.seedvr2.weights.seedvr2_weight_definition",
    weights_class="SeedVR2WeightDefinition3B",
    weight_dirs=(),
    tokenizer_dirs=(),
    download_patterns=("seedvr2_ema_3b_fp16.safetensors", _SEEDVR2_VAE),
    has_negative_prompt_arg=False,
    root_weight_files=("seedvr2_ema_3b_fp16.safetensors", _SEEDVR2_VAE),
    upscaler=True,
)
SEEDVR2_7B = attrs.evolve(
    SEEDVR2_3B,
    name="seedvr2_7b",
    weights_class="SeedVR2WeightDefinition7B",
    download_patterns=("seedvr2_ema_7b_fp16.safetensors", _SEEDVR2_VAE),
    root_weight_files=("seedvr2_ema_7b_fp16.safetensors", _SEEDVR2_VAE),
)
FLUX1_FILL = attrs.evolve(
    FLUX1,
    name="flux1_fill",
    module="mflux.models.flux.variants.fill.flux_fill",
    class_name="Flux1Fill",
    has_negative_prompt_arg=False,
    fill=True,
)
FAMILIES = (FLUX1, Z_IMAGE, FLUX2, QWEN)  # the generators
FILL_FAMILIES = (FLUX1_FILL,)
UPSCALE_FAMILIES = (SEEDVR2_3B, SEEDVR2_7B)


@attrs.frozen(kw_only=True)
class Entry:
    """One model: an arthur-gen id, the mflux config that builds it, and its limits."""

    id: str
    aliases: tuple[str, ...]
    title: str
    family: Family
    config_key: str  # key of mflux's AVAILABLE_MODELS (also the name mflux's metadata uses)
    config_factory: str  # ModelConfig.<factory>() returns that config
    repo: str  # Hugging Face repo the weights come from (ModelConfig.model_name)
    revision: str | None  # the commit mflux pins (ModelRevisions.PINNED), None if unpinned
    download_gb: float  # approximate size of the unquantized download
    gated: bool = False  # the repo asks users to accept a license and log in
    license: str = ""
    default_steps: int
    max_steps: int = 100
    default_guidance: float | None = None  # None: the model takes no guidance
    negative_prompt: bool = False
    scheduler: str  # the scheduler passed to generate_image (mflux's default for this model)
    notes: str = ""

    @property
    def supports_guidance(self) -> bool:
        return self.default_guidance is not None


CATALOG: tuple[Entry, ...] = (
    Entry(
        id="schnell",
        aliases=("flux-schnell", "flux1-schnell", "flux.1-schnell"),
        title="FLUX.1 [schnell]: fast 12B text-to-image, 1-4 steps",
        family=FLUX1,
        config_key="schnell",
        config_factory="schnell",
        repo="black-forest-labs/FLUX.1-schnell",
        revision="741f7c3ce8b383c54771c7003378a50191e9efe9",
        download_gb=33.7,
        license="Apache-2.0",
        default_steps=4,
        max_steps=50,
        scheduler="linear",
    ),
    Entry(
        id="dev",
        aliases=("flux-dev", "flux1-dev", "flux.1-dev"),
        title="FLUX.1 [dev]: 12B guidance-distilled text-to-image",
        family=FLUX1,
        config_key="dev",
        config_factory="dev",
        repo="black-forest-labs/FLUX.1-dev",
        revision="3de623fc3c33e44ffbe2bad470d0f45bccf2eb21",
        download_gb=33.7,
        gated=True,
        license="FLUX.1 [dev] non-commercial",
        default_steps=25,
        default_guidance=3.5,
        scheduler="linear",
    ),
    Entry(
        id="krea-dev",
        aliases=("flux-krea-dev", "krea", "dev-krea"),
        title="FLUX.1 Krea [dev]: FLUX.1 dev tuned for photographic aesthetics",
        family=FLUX1,
        config_key="krea-dev",
        config_factory="krea_dev",
        repo="black-forest-labs/FLUX.1-Krea-dev",
        revision="8162a9c7b05a641be098422bf2fcf335615c2f28",
        download_gb=33.7,
        gated=True,
        license="FLUX.1 [dev] non-commercial",
        default_steps=25,
        default_guidance=4.5,
        scheduler="linear",
        notes="guidance 4.5 is Krea's recommendation (mflux's CLI uses 3.5)",
    ),
    Entry(
        id="z-image-turbo",
        aliases=("zimage-turbo", "z-turbo"),
        title="Z-Image Turbo: 6B distilled text-to-image, 8-9 steps",
        family=Z_IMAGE,
        config_key="z-image-turbo",
        config_factory="z_image_turbo",
        repo="Tongyi-MAI/Z-Image-Turbo",
        revision="f332072aa78be7aecdf3ee76d5c247082da564a6",
        download_gb=31.0,  # mflux 0.24 README (z_image): "Z-Image weights are large (~31GB)"
        license="Apache-2.0",
        default_steps=9,
        max_steps=50,
        scheduler="linear",
    ),
    Entry(
        id="z-image",
        aliases=("zimage",),
        title="Z-Image: 6B base text-to-image with CFG and negative prompts",
        family=Z_IMAGE,
        config_key="z-image",
        config_factory="z_image",
        repo="Tongyi-MAI/Z-Image",
        revision="04cc4abb7c5069926f75c9bfde9ef43d49423021",
        download_gb=31.0,
        license="Apache-2.0",
        default_steps=50,
        max_steps=150,
        default_guidance=4.0,
        negative_prompt=True,
        scheduler="flow_match_euler_discrete",
    ),
    Entry(
        id="flux2-klein-4b",
        aliases=("klein-4b", "flux2-klein"),
        title="FLUX.2 [klein] 4B: small distilled text-to-image, 4 steps",
        family=FLUX2,
        config_key="flux2-klein-4b",
        config_factory="flux2_klein_4b",
        repo="black-forest-labs/FLUX.2-klein-4B",
        revision="e7b7dc27f91deacad38e78976d1f2b499d76a294",
        download_gb=16.0,
        license="Apache-2.0",
        default_steps=4,
        max_steps=50,
        scheduler="flow_match_euler_discrete",
        notes="distilled: guidance is fixed at 1.0 and there is no negative prompt",
    ),
    Entry(
        id="flux2-klein-9b",
        aliases=("klein-9b",),
        title="FLUX.2 [klein] 9B: distilled text-to-image, 4 steps",
        family=FLUX2,
        config_key="flux2-klein-9b",
        config_factory="flux2_klein_9b",
        repo="black-forest-labs/FLUX.2-klein-9B",
        revision="92196c8e11f7b6cf2b7493e037d8c5345c559216",
        download_gb=34.5,
        gated=True,
        license="FLUX non-commercial",
        default_steps=4,
        max_steps=50,
        scheduler="flow_match_euler_discrete",
        notes="distilled: guidance is fixed at 1.0 and there is no negative prompt",
    ),
    Entry(
        id="qwen-image",
        aliases=("qwen", "qwen-image-2512"),
        title="Qwen-Image 2512: 20B text-to-image, strong at text in images",
        family=QWEN,
        config_key="qwen-image",
        config_factory="qwen_image",
        repo="Qwen/Qwen-Image-2512",
        revision="25468b98e3276ca6700de15c6628e51b7de54a26",
        download_gb=57.7,
        license="Apache-2.0",
        default_steps=20,
        default_guidance=4.0,
        negative_prompt=True,
        scheduler="linear",
    ),
)

#: Masked fill: an image and a mask in (white: paint, black: keep), the image with the mask filled.
FILL_MODELS: tuple[Entry, ...] = (
    Entry(
        id="dev-fill",
        aliases=("flux-fill", "flux1-fill-dev", "fill"),
        title="FLUX.1 Fill [dev]: paints the white part of a mask into an image, guided by the prompt",
        family=FLUX1_FILL,
        config_key="dev-fill",
        config_factory="dev_fill",
        repo="black-forest-labs/FLUX.1-Fill-dev",
        revision="358293da0354175698b67ec8299acf928313a78a",
        download_gb=33.7,  # FLUX.1 dev's layout (FluxWeightDefinition); not measured on a download
        gated=True,
        license="FLUX.1 [dev] non-commercial",
        default_steps=25,
        default_guidance=30.0,  # mflux.cli.defaults.defaults.DEFAULT_DEV_FILL_GUIDANCE
        scheduler="linear",
        notes="needs image=PATH and options.mask",
    ),
)

#: Upscalers: an input image in, the same image at a higher resolution out (no prompt).
UPSCALERS: tuple[Entry, ...] = (
    Entry(
        id="seedvr2-3b",
        aliases=("seedvr2",),
        title="SeedVR2 3B: one-step diffusion upscaler, faithful to the input (no prompt)",
        family=SEEDVR2_3B,
        config_key="seedvr2-3b",
        config_factory="seedvr2_3b",
        repo="numz/SeedVR2_comfyUI",
        revision="09ced71023636e9bc8cdf9cdecfb2625d1e691e8",
        # fp16 parameters of mflux's own SeedVR2Transformer (3.97e9) and SeedVR2VAE (2.5e8)
        download_gb=8.4,
        default_steps=1,
        max_steps=1,
        scheduler="seedvr2_euler",
        notes="upscales image=PATH; the prompt is not used",
    ),
    Entry(
        id="seedvr2-7b",
        aliases=(),
        title="SeedVR2 7B: the larger one-step diffusion upscaler (no prompt)",
        family=SEEDVR2_7B,
        config_key="seedvr2-7b",
        config_factory="seedvr2_7b",
        repo="numz/SeedVR2_comfyUI",
        revision="09ced71023636e9bc8cdf9cdecfb2625d1e691e8",
        download_gb=17.0,  # 8.24e9 transformer + 2.5e8 VAE parameters at fp16
        default_steps=1,
        max_steps=1,
        scheduler="seedvr2_euler",
        notes="upscales image=PATH; the prompt is not used",
    ),
)

#: Every model the backend offers: the generators, the masked fill, the upscalers.
MODELS: tuple[Entry, ...] = CATALOG + FILL_MODELS + UPSCALERS

DEFAULT_MODEL = "schnell"

_BY_NAME: Mapping[str, Entry] = {name: entry for entry in MODELS for name in (entry.id, *entry.aliases)}


def entry_for(model_id: str) -> Entry | None:
    """The catalog entry for an id or alias."""
    return _BY_NAME.get(model_id)


def _upscale_options(entry: Entry) -> tuple[OptionSpec, ...]:
    return (
        OptionSpec(
            name="scale",
            type=float,
            min=1.0,
            max=MAX_UPSCALE,
            help="upscale by this factor of the shortest side (mflux's --resolution 2x); "
            f"default {DEFAULT_UPSCALE:g}",
        ),
        OptionSpec(
            name="resolution",
            type=int,
            min=MIN_SIZE,
            max=MAX_UPSCALE_SHORT_SIDE,
            help="the shortest side of the result in pixels, keeping the aspect ratio (mflux's "
            "--resolution 2160: a 1920x1080 frame becomes 3840x2160); instead of scale",
        ),
        OptionSpec(
            name="softness",
            type=float,
            min=0.0,
            max=1.0,
            default=0.0,
            help="pre-soften the input before upscaling, 0 (off) to 1 (mflux's --softness; 0.5 is "
            "a good start for noisy or over-sharp images)",
        ),
        OptionSpec(
            name="quantize",
            type=int,
            choices=QUANTIZE_CHOICES,
            help="quantize the transformer to this many bits when loading; default: full precision",
        ),
        OptionSpec(
            name="model_path",
            type=str,
            help="load the weights from this local folder (e.g. one written by mflux-save) "
            f"instead of {entry.repo}",
        ),
        OptionSpec(
            name="download",
            type=bool,
            default=False,
            help=f"let mflux download missing weights (~{entry.download_gb:g} GB) from Hugging Face; "
            "off by default (also: ARTHUR_GEN_MFLUX_DOWNLOAD=1)",
        ),
        *_memory_options(entry),
    )


def _fill_options(entry: Entry) -> tuple[OptionSpec, ...]:
    if not entry.family.fill:
        return ()
    return (
        OptionSpec(
            name="mask",
            type=str,
            help="required: a local mask image of the input's shape, white where to paint and black "
            "where to keep (mflux's --masked-image-path); the prompt says what to paint",
        ),
    )


def _options(entry: Entry) -> tuple[OptionSpec, ...]:
    if entry.family.upscaler:
        return _upscale_options(entry)
    return (
        *_fill_options(entry),
        OptionSpec(
            name="quantize",
            type=int,
            choices=QUANTIZE_CHOICES,
            help="quantize the weights to this many bits when loading (8 halves memory, "
            "4 quarters it); default: full precision",
        ),
        OptionSpec(
            name="model_path",
            type=str,
            help="load the weights from this local folder (e.g. one written by mflux-save) "
            f"or Hugging Face repo instead of {entry.repo}",
        ),
        OptionSpec(
            name="lora_paths",
            type=list,
            items=str,
            help="LoRA .safetensors files to apply, in order",
        ),
        OptionSpec(
            name="lora_scales",
            type=list,
            items=float,
            help=f"one scale per LoRA file (default 1.0 each), from -{MAX_LORA_SCALE:g} "
            f"to {MAX_LORA_SCALE:g}",
        ),
        OptionSpec(
            name="download",
            type=bool,
            default=False,
            help=f"let mflux download missing weights (~{entry.download_gb:g} GB) from "
            "Hugging Face; off by default, so a missing model is an error that says how to "
            "fetch it (also: ARTHUR_GEN_MFLUX_DOWNLOAD=1)",
        ),
        *_edit_options(entry),
        *_memory_options(entry),
    )


def _edit_options(entry: Entry) -> tuple[OptionSpec, ...]:
    if entry.family.edit_class_name is None:
        return ()
    return (
        OptionSpec(
            name="reference_images",
            type=list,
            items=str,
            help=f"edit with 1-{MAX_REFERENCE_IMAGES} local reference images (mflux's "
            f"{entry.family.edit_class_name}, same weights): keeps a character or product consistent "
            "across keyframes; the first image sets the size unless you give one",
        ),
        OptionSpec(
            name="outpaint",
            type=str,
            choices=OUTPAINT_ASPECTS,
            help="reframe the input image (image=PATH) to this aspect ratio: the original is kept "
            f"pixel for pixel and {entry.family.edit_class_name} paints the new borders",
        ),
    )


def _memory_options(entry: Entry) -> tuple[OptionSpec, ...]:
    if entry.family.upscaler:
        tiling = "SeedVR2 tiles its VAE in 512 px tiles already; vae_tile_size changes the tile size"
    elif entry.family is FLUX2:
        tiling = (
            "FLUX.2 decodes in row strips already, so this tiles only the encode of an input or "
            "reference image"
        )
    else:
        tiling = "tiles the VAE decode (and the encode of an input image)"
    return (
        OptionSpec(
            name="low_ram",
            type=bool,
            default=False,
            help=f"mflux's low-RAM mode for this call: MLX cache limit {LOW_RAM_CACHE_LIMIT_GB:g} GB, "
            "VAE tiling where the model allows it, and the model is freed after the call "
            "instead of kept warm",
        ),
        OptionSpec(
            name="mlx_cache_limit_gb",
            type=float,
            min=0.1,
            max=1024.0,
            help="cap MLX's buffer cache at this many GB during the call (mflux's "
            "--mlx-cache-limit-gb); restored afterwards",
        ),
        OptionSpec(
            name="vae_tiling",
            type=bool,
            default=False,
            help=f"decode in overlapping 512 px tiles to lower peak memory; {tiling}",
        ),
        OptionSpec(
            name="vae_tile_size",
            type=int,
            min=MIN_TILE_SIZE,
            max=MAX_SIZE,
            help="tile size in pixels (a multiple of 16; implies vae_tiling)",
        ),
    )


def model_info(entry: Entry) -> ModelInfo:
    """The arthur-gen description of one catalog entry (no weights, no network)."""
    notes = f" ({entry.notes})" if entry.notes else ""
    if entry.family.upscaler:
        return _upscaler_info(entry, notes)
    # typed as Any: mypy's attrs plugin cannot solve ModelInfo's generic frozenset converter
    capabilities: Any = (
        (Capability.IMAGE_TO_IMAGE,)
        if entry.family.fill
        else (Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE)
    )
    return ModelInfo(
        id=entry.id,
        kind=Kind.IMAGE,
        capabilities=capabilities,
        price=Price.free(),
        description=f"{entry.title}; ~{entry.download_gb:g} GB download{notes}",
        aliases=entry.aliases,
        supports_size=True,
        default_width=1024,
        default_height=1024,
        min_size=MIN_SIZE,
        max_size=MAX_SIZE,
        size_multiple=SIZE_MULTIPLE,
        aspect_ratios=ASPECT_RATIOS,
        supports_seed=True,
        supports_negative_prompt=entry.negative_prompt,
        supports_steps=True,
        default_steps=entry.default_steps,
        max_steps=entry.max_steps,
        supports_guidance=entry.supports_guidance,
        default_guidance=entry.default_guidance,
        supports_strength=not entry.family.fill,  # mflux's fill CLI passes no image_strength
        requires_image=entry.family.fill,
        options=_options(entry),
        extra={
            "mflux_class": entry.family.class_path,
            "mflux_config": entry.config_key,
            "repo": entry.repo,
            "revision": entry.revision,
            "download_gb": entry.download_gb,
            "gated": entry.gated,
            "license": entry.license,
            "scheduler": entry.scheduler,
        },
    )


def _upscaler_info(entry: Entry, notes: str) -> ModelInfo:
    capabilities: Any = (Capability.IMAGE_TO_IMAGE,)
    return ModelInfo(
        id=entry.id,
        kind=Kind.IMAGE,
        capabilities=capabilities,
        price=Price.free(),
        description=f"{entry.title}; ~{entry.download_gb:g} GB download{notes}",
        aliases=entry.aliases,
        supports_size=False,  # the size comes from the image and scale/resolution
        supports_seed=True,
        supports_steps=False,  # one step, always
        requires_image=True,
        options=_options(entry),
        extra={
            "mflux_class": entry.family.class_path,
            "mflux_config": entry.config_key,
            "repo": entry.repo,
            "revision": entry.revision,
            "download_gb": entry.download_gb,
            "license": entry.license,
            "scheduler": entry.scheduler,
            "tool": "upscale",
        },
    )
