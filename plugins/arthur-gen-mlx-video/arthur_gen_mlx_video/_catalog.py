"""What the backend offers: one :class:`Entry` per model, described as ``arthur_gen.ModelInfo``.

Plain data: building the catalog imports nothing heavy, loads no weights and calls no network.
Wan memory and weight sizes are for the bf16 weights ``convert_wan`` writes (4-bit: about
half); LTX-2's are for the unified MLX checkpoint ``notapalindrome/ltx2-mlx-av`` (~42 GB) plus
its Gemma 3 12B text encoder ``mlx-community/gemma-3-12b-it-bf16`` (~24 GB).
"""

from __future__ import annotations

import attrs

from arthur_gen import Capability, Kind, ModelInfo, OptionSpec, Price

__all__ = ["CATALOG", "DEFAULT_MODEL", "Entry", "entry_for", "frames_for", "model_info"]

_T2V = Capability.TEXT_TO_VIDEO
_I2V = Capability.IMAGE_TO_VIDEO


@attrs.frozen(kw_only=True)
class Entry:
    """One model: what arthur-gen is told about it, and how mlx_video runs it."""

    id: str
    family: str = "wan"  # "wan": generate_wan.generate_video; "ltx2": generate_av (video + audio)
    aliases: tuple[str, ...]
    description: str
    function: str  # "module:function" in mlx_video that renders it
    folder: str  # folder of converted MLX weights under the models root
    source_repo: str  # the original checkpoint on Hugging Face (for the fix message)
    capabilities: frozenset[Capability]
    requires_image: bool = False
    dual: bool = False  # weights split into low- and high-noise experts
    width: int
    height: int
    size_multiple: int  # patch size x VAE stride; mlx_video silently rounds anything else down
    max_area: int | None = None  # mlx_video silently shrinks larger sizes
    aspect_sizes: tuple[tuple[str, int, int], ...]
    fps: int  # Wan writes its own frame rate (no fps argument); LTX-2's default
    fps_choices: tuple[int, ...] = ()  # other frame rates the function takes (LTX-2)
    frame_step: int = 4  # frames must be 1 + frame_step * k (Wan: 4n+1; LTX-2: 8k+1)
    max_frames: int = 241
    durations: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0)
    default_duration: float
    default_steps: int
    default_guidance: float
    default_shift: float = 0.0
    memory_gb: int  # unified memory below which the model is reported unavailable
    weights_gb: float  # size of the converted bf16 weights folder
    text_encoder_folder: str | None = None  # LTX-2: Gemma 3 folder under the models root
    text_encoder_repo: str | None = None
    text_encoder_gb: float = 0.0
    audio: bool = False  # renders a sound track with the video


CATALOG: tuple[Entry, ...] = (
    Entry(
        id="wan2.1-t2v-1.3b",
        aliases=("wan-1.3b",),
        description="Wan 2.1 text-to-video, 1.3B: the small one (480p, 16 fps)",
        function="mlx_video.generate_wan:generate_video",
        folder="Wan2.1-T2V-1.3B",
        source_repo="Wan-AI/Wan2.1-T2V-1.3B",
        capabilities=frozenset({_T2V}),
        width=832,
        height=480,
        size_multiple=16,
        aspect_sizes=(("16:9", 832, 480), ("9:16", 480, 832), ("1:1", 624, 624)),
        fps=16,
        default_duration=5.0,
        default_steps=50,
        default_guidance=5.0,
        default_shift=5.0,
        memory_gb=16,
        weights_gb=17.0,
    ),
    Entry(
        id="wan2.1-t2v-14b",
        aliases=("wan-14b",),
        description="Wan 2.1 text-to-video, 14B (720p, 16 fps)",
        function="mlx_video.generate_wan:generate_video",
        folder="Wan2.1-T2V-14B",
        source_repo="Wan-AI/Wan2.1-T2V-14B",
        capabilities=frozenset({_T2V}),
        width=1280,
        height=720,
        size_multiple=16,
        aspect_sizes=(("16:9", 1280, 720), ("9:16", 720, 1280), ("1:1", 960, 960)),
        fps=16,
        default_duration=5.0,
        default_steps=50,
        default_guidance=5.0,
        default_shift=5.0,
        memory_gb=64,
        weights_gb=40.0,
    ),
    Entry(
        id="wan2.2-ti2v-5b",
        aliases=("wan-5b",),
        description="Wan 2.2 text/image-to-video, 5B (704p, 24 fps)",
        function="mlx_video.generate_wan:generate_video",
        folder="Wan2.2-TI2V-5B",
        source_repo="Wan-AI/Wan2.2-TI2V-5B",
        capabilities=frozenset({_T2V, _I2V}),
        width=1280,
        height=704,
        size_multiple=32,
        max_area=1280 * 704,
        aspect_sizes=(("16:9", 1280, 704), ("9:16", 704, 1280), ("1:1", 928, 928)),
        fps=24,
        default_duration=3.0,
        default_steps=40,
        default_guidance=5.0,
        default_shift=5.0,
        memory_gb=32,
        weights_gb=23.0,
    ),
    Entry(
        id="wan2.2-t2v-a14b",
        aliases=("wan-a14b",),
        description="Wan 2.2 text-to-video, 14B mixture of experts (704p, 16 fps)",
        function="mlx_video.generate_wan:generate_video",
        folder="Wan2.2-T2V-A14B",
        source_repo="Wan-AI/Wan2.2-T2V-A14B",
        capabilities=frozenset({_T2V}),
        dual=True,
        width=1280,
        height=704,
        size_multiple=16,
        max_area=1280 * 704,
        aspect_sizes=(("16:9", 1280, 704), ("9:16", 704, 1280), ("1:1", 944, 944)),
        fps=16,
        default_duration=5.0,
        default_steps=40,
        default_guidance=4.0,
        default_shift=12.0,
        memory_gb=64,
        weights_gb=70.0,
    ),
    Entry(
        id="wan2.2-i2v-a14b",
        aliases=("wan-i2v",),
        description="Wan 2.2 image-to-video, 14B mixture of experts (704p, 16 fps)",
        function="mlx_video.generate_wan:generate_video",
        folder="Wan2.2-I2V-A14B",
        source_repo="Wan-AI/Wan2.2-I2V-A14B",
        capabilities=frozenset({_I2V}),
        requires_image=True,
        dual=True,
        width=1280,
        height=704,
        size_multiple=16,
        max_area=1280 * 704,
        aspect_sizes=(("16:9", 1280, 704), ("9:16", 704, 1280), ("1:1", 944, 944)),
        fps=16,
        default_duration=5.0,
        default_steps=40,
        default_guidance=3.5,
        default_shift=5.0,
        memory_gb=64,
        weights_gb=70.0,
    ),
)

CATALOG += (
    Entry(
        id="ltx-2",
        family="ltx2",
        aliases=("ltx2", "ltx-2-distilled"),
        description="LTX-2 19B distilled: video with a matching sound track, text or image to video "
        "(two stages, 8 + 3 fixed steps, 24 fps)",
        function="mlx_video.generate_av:generate_video_with_audio",
        folder="ltx2-mlx-av",
        source_repo="notapalindrome/ltx2-mlx-av",
        capabilities=frozenset({_T2V, _I2V}),
        width=1024,
        height=576,
        size_multiple=64,  # stage 1 renders at half size on a 32-pixel latent grid
        aspect_sizes=(("16:9", 1024, 576), ("9:16", 576, 1024), ("1:1", 768, 768), ("3:2", 768, 512)),
        fps=24,
        fps_choices=(24, 25, 30),
        frame_step=8,
        max_frames=257,
        durations=(1.0, 2.0, 3.0, 5.0, 8.0, 10.0),
        default_duration=5.0,
        default_steps=11,  # the unified checkpoint's fixed distilled schedule: 8 + 3
        default_guidance=1.0,  # guidance is distilled in; the package ignores cfg_scale here
        memory_gb=72,
        weights_gb=42.0,
        text_encoder_folder="gemma-3-12b-it-bf16",
        text_encoder_repo="mlx-community/gemma-3-12b-it-bf16",
        text_encoder_gb=24.0,
        audio=True,
    ),
)

DEFAULT_MODEL = "wan2.1-t2v-1.3b"

SCHEDULERS = ("unipc", "dpm++", "euler")
TILING = ("auto", "none", "default", "aggressive", "conservative", "spatial", "temporal")


def entry_for(model_id: str) -> Entry | None:
    return next((e for e in CATALOG if model_id == e.id or model_id in e.aliases), None)


def frames_for(seconds: float, fps: int, step: int) -> int:
    """The frame count nearest ``seconds`` of video that the model accepts (1 + step * k)."""
    k = max(1, round((seconds * fps - 1) / step))
    return 1 + step * k


def model_info(entry: Entry) -> ModelInfo:
    """The entry as arthur-gen sees it: the core checks requests against these limits."""
    if entry.family == "ltx2":
        return _ltx2_info(entry)
    return ModelInfo(
        id=entry.id,
        kind=Kind.VIDEO,
        capabilities=entry.capabilities,
        price=Price.free(),
        description=entry.description,
        aliases=entry.aliases,
        supports_size=True,
        default_width=entry.width,
        default_height=entry.height,
        min_size=256,
        max_size=1280,
        size_multiple=entry.size_multiple,
        aspect_ratios=tuple(name for name, _, _ in entry.aspect_sizes),
        default_aspect_ratio="16:9",
        durations=entry.durations,
        default_duration=entry.default_duration,
        fps=(entry.fps,),
        default_fps=entry.fps,
        supports_seed=True,
        supports_negative_prompt=True,
        supports_steps=True,
        default_steps=entry.default_steps,
        max_steps=100,
        supports_guidance=True,
        default_guidance=entry.default_guidance,
        requires_image=entry.requires_image,
        options=(
            OptionSpec(
                name="num_frames",
                type=int,
                min=1 + entry.frame_step,
                max=entry.max_frames,
                help=f"exact frame count, 1 + {entry.frame_step}k (instead of duration)",
            ),
            OptionSpec(
                name="scheduler",
                type=str,
                default="unipc",
                choices=SCHEDULERS,
                help="the sampler",
            ),
            OptionSpec(
                name="shift",
                type=float,
                default=entry.default_shift,
                min=0.5,
                max=20.0,
                help="noise schedule shift",
            ),
            OptionSpec(
                name="tiling",
                type=str,
                default="auto",
                choices=TILING,
                help="VAE decode tiling; 'aggressive' uses the least memory",
            ),
            OptionSpec(
                name="model_path",
                type=str,
                help=f"folder of converted MLX weights to use instead of <models root>/{entry.folder} "
                "(python -m mlx_video.convert_wan writes one)",
            ),
            OptionSpec(
                name="lora_paths",
                type=list,
                items=str,
                help="LoRA .safetensors files merged into the transformer, in order",
            ),
            OptionSpec(
                name="lora_scales",
                type=list,
                items=float,
                help="one strength per LoRA file (default 1.0 each)",
            ),
        ),
        extra={"folder": entry.folder, "memory_gb": entry.memory_gb, "weights_gb": entry.weights_gb},
    )


def _ltx2_info(entry: Entry) -> ModelInfo:
    """LTX-2 through ``generate_video_with_audio``: what it takes, and what it ignores.

    With the unified checkpoint the package runs a fixed distilled schedule (8 + 3 steps) and
    no classifier-free guidance, so steps, guidance and the negative prompt are not inputs.
    """
    folder = entry.text_encoder_folder
    return ModelInfo(
        id=entry.id,
        kind=Kind.VIDEO,
        capabilities=entry.capabilities,
        price=Price.free(),
        description=entry.description,
        aliases=entry.aliases,
        supports_size=True,
        default_width=entry.width,
        default_height=entry.height,
        min_size=256,
        max_size=1536,
        size_multiple=entry.size_multiple,
        aspect_ratios=tuple(name for name, _, _ in entry.aspect_sizes),
        default_aspect_ratio="16:9",
        durations=entry.durations,
        default_duration=entry.default_duration,
        fps=entry.fps_choices or (entry.fps,),
        default_fps=entry.fps,
        supports_seed=True,
        supports_negative_prompt=False,
        supports_steps=False,
        supports_guidance=False,
        options=(
            OptionSpec(
                name="num_frames",
                type=int,
                min=1 + entry.frame_step,
                max=entry.max_frames,
                help=f"exact frame count, 1 + {entry.frame_step}k (instead of duration)",
            ),
            OptionSpec(
                name="audio", type=bool, default=True, help="render the sound track (False: silent MP4)"
            ),
            OptionSpec(
                name="image_strength",
                type=float,
                default=1.0,
                min=0.0,
                max=1.0,
                help="how strongly first_frame holds the first frame (1.0: exactly)",
            ),
            OptionSpec(
                name="tiling",
                type=str,
                default="auto",
                choices=TILING,
                help="VAE decode tiling; 'aggressive' uses the least memory",
            ),
            OptionSpec(
                name="model_path",
                type=str,
                help=f"folder of the unified MLX LTX-2 weights instead of <models root>/{entry.folder}",
            ),
            OptionSpec(
                name="text_encoder_path",
                type=str,
                help=f"folder of the Gemma 3 text encoder instead of <models root>/{folder}",
            ),
        ),
        extra={
            "folder": entry.folder,
            "text_encoder_folder": folder,
            "memory_gb": entry.memory_gb,
            "weights_gb": entry.weights_gb + entry.text_encoder_gb,
            "audio": True,
            "frame_rule": f"1 + {entry.frame_step}k",
        },
    )
