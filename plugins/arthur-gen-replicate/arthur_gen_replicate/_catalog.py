"""The Replicate model catalog, kept as data.

Each entry is a :class:`~arthur_gen.ModelInfo`. What only this plugin reads lives in
``ModelInfo.extra``:

- ``replicate_id``: the model on Replicate (``owner/name`` or ``owner/name:version``)
- ``fields``: which Replicate input field takes each request field (``None`` = not an input)
- ``file_options``: options whose value is an image (a local path is uploaded)
- ``custom_aspect_ratio``: the aspect ratio to send with an explicit width/height
- ``rates``: for per-second prices that depend on one input (``{"field", "default", "usd"}``)
- ``typical_s``: how long a prediction usually takes (a hint for the first poll)
- ``billing_fps``: Replicate bills ``num_frames / billing_fps`` seconds (whatever fps is asked)
- ``multiplier``: a factor on the price by one input (``{"field", "default", "factors"}``)
- ``last_frame_needs_first``: a last frame only together with a first frame
- ``ten_seconds_only_at``: 10 s videos only at this resolution
- ``as_list``: input fields sent as a list of one (a schema that takes several images)

Prices: Replicate publishes a price per model on its model page ("Pricing") and on
https://replicate.com/pricing. ``Price.source`` says where each number here comes from and
when it was read; numbers that could not be checked against Replicate itself say so.
Listing this catalog imports nothing and calls no API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from arthur_gen._models import Capability, Kind, ModelInfo, OptionSpec, Price, PriceBasis

__all__ = [
    "DEFAULT_IMAGE_MODEL",
    "DEFAULT_VIDEO_MODEL",
    "IMAGE_MODELS",
    "VIDEO_MODELS",
    "generic_model",
]

DEFAULT_VIDEO_MODEL = "minimax/video-01"
DEFAULT_IMAGE_MODEL = "black-forest-labs/flux-schnell"

_PRICING_COPY = (
    "replicate.com/pricing as copied by https://oauth.openai-hk.com/docs/en/lab/replicate.html (read 2025)"
)

# Request field -> Replicate input field. Every model starts from this and overrides.
_BASE_FIELDS: Mapping[str, str | None] = {
    "prompt": "prompt",
    "negative_prompt": None,
    "seed": None,
    "steps": None,
    "guidance": None,
    "strength": None,
    "aspect_ratio": None,
    "width": None,
    "height": None,
    "duration": None,
    "fps": None,
    "resolution": None,
    "first_frame": None,
    "last_frame": None,
    "image": None,
}


def _fields(**overrides: str | None) -> dict[str, str | None]:
    unknown = set(overrides) - set(_BASE_FIELDS)
    if unknown:  # pragma: no cover - a typo in the catalog
        raise ValueError(f"unknown request fields in catalog: {sorted(unknown)}")
    return {**_BASE_FIELDS, **overrides}


def _extra(replicate_id: str, fields: Mapping[str, str | None], **more: Any) -> dict[str, Any]:
    return {"replicate_id": replicate_id, "fields": dict(fields), **more}


_PROMPT_OPTIMIZER = OptionSpec(
    name="prompt_optimizer",
    type=bool,
    default=True,
    help="let MiniMax rewrite the prompt for better results",
)

# ------------------------------------------------------------------ today's video models
#
# Inputs checked against each model's published schema (Replicate version pages, read
# December 2026: kling-v2.5-turbo-pro 18f41b, seedance-1-lite f22bbc, seedance-1-pro a5fd55,
# hailuo-2.3 23a026, veo-3.1 ed5b17, pixverse-v5 f8890e; wan-2.5-i2v from its API listing).
# Prices of these could not be read from replicate.com here: each says where it comes from
# and is marked approximate.

_UNVERIFIED = "approximate, not read from replicate.com"


def _seedance(name: str, *, lite: bool) -> ModelInfo:
    default = "720p" if lite else "1080p"
    rates = (
        {"480p": 0.018, "720p": 0.036, "1080p": 0.072}
        if lite
        else {"480p": 0.03, "720p": 0.06, "1080p": 0.15}
    )
    options = [
        OptionSpec(name="camera_fixed", type=bool, default=False, help="keep the camera still"),
    ]
    if lite:
        options.append(
            OptionSpec(
                name="reference_images",
                type=list,
                items=str,
                help=(
                    "1-4 images (paths or URLs) of characters, clothing or places to keep; "
                    "not with 1080p or a first/last frame"
                ),
            )
        )
    return ModelInfo(
        id=f"bytedance/{name}",
        kind=Kind.VIDEO,
        aliases=(name,),
        description=(
            f"ByteDance Seedance 1 {'Lite' if lite else 'Pro'}: 2-12 s at 480p, 720p or 1080p "
            f"(default {default}), 24 fps, from text or a first frame (and a last frame), with a seed"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=rates[default],
            source=(
                f"{_UNVERIFIED}: per second of output by resolution ("
                + ", ".join(f"{k} ${v}/s" for k, v in rates.items())
                + f"); the estimate uses the chosen resolution; check https://replicate.com/bytedance/{name}"
            ),
        ),
        aspect_ratios=("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"),
        default_aspect_ratio="16:9",
        resolutions=("480p", "720p", "1080p"),
        default_resolution=default,
        durations=tuple(float(s) for s in range(2, 13)),
        default_duration=5.0,
        fps=(24,),
        default_fps=24,
        supports_seed=True,
        supports_last_frame=True,
        options=tuple(options),
        extra=_extra(
            f"bytedance/{name}",
            _fields(
                first_frame="image",
                last_frame="last_frame_image",
                aspect_ratio="aspect_ratio",
                duration="duration",
                resolution="resolution",
                fps="fps",
                seed="seed",
            ),
            file_options=("reference_images",) if lite else (),
            rates={"field": "resolution", "default": default, "usd": rates},
            last_frame_needs_first=True,
            typical_s=90.0,
        ),
    )


_TODAY_VIDEO_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="kwaivgi/kling-v2.5-turbo-pro",
        kind=Kind.VIDEO,
        aliases=("kling-v2.5-turbo-pro", "kling-2.5"),
        description=(
            "Kling v2.5 Turbo Pro: 5 or 10 s at 1080p, 24 fps, from text (16:9, 9:16 or 1:1) "
            "or a start image (and an end image)"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.07,
            source=(
                f"{_UNVERIFIED}: about $0.35 per 5 s (third-party listings); check "
                "https://replicate.com/kwaivgi/kling-v2.5-turbo-pro"
            ),
        ),
        aspect_ratios=("16:9", "9:16", "1:1"),
        default_aspect_ratio="16:9",
        durations=(5.0, 10.0),
        default_duration=5.0,
        fps=(24,),
        default_fps=24,
        supports_seed=False,
        supports_negative_prompt=True,
        supports_last_frame=True,
        extra=_extra(
            "kwaivgi/kling-v2.5-turbo-pro",
            _fields(
                first_frame="start_image",
                last_frame="end_image",
                aspect_ratio="aspect_ratio",  # ignored by the model when a start image is given
                duration="duration",
                negative_prompt="negative_prompt",
            ),
            last_frame_needs_first=True,
            typical_s=120.0,
        ),
    ),
    _seedance("seedance-1-lite", lite=True),
    _seedance("seedance-1-pro", lite=False),
    ModelInfo(
        id="minimax/hailuo-2.3",
        kind=Kind.VIDEO,
        aliases=("hailuo-2.3",),
        description=(
            "MiniMax Hailuo 2.3: 6 or 10 s at 768p (default) or 1080p (6 s only), from text or a first frame"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.045,
            source=(
                f"{_UNVERIFIED}: taken to be Hailuo-02's approximate rates (768p $0.045/s, "
                "1080p $0.09/s); check https://replicate.com/minimax/hailuo-2.3"
            ),
        ),
        resolutions=("768p", "1080p"),
        default_resolution="768p",
        durations=(6.0, 10.0),
        default_duration=6.0,
        fps=(25,),
        default_fps=25,
        supports_seed=False,
        options=(_PROMPT_OPTIMIZER,),
        extra=_extra(
            "minimax/hailuo-2.3",
            _fields(first_frame="first_frame_image", duration="duration", resolution="resolution"),
            rates={"field": "resolution", "default": "768p", "usd": {"768p": 0.045, "1080p": 0.09}},
            ten_seconds_only_at="768p",
            typical_s=240.0,
        ),
    ),
    ModelInfo(
        id="google/veo-3.1",
        kind=Kind.VIDEO,
        aliases=("veo-3.1", "veo"),
        description=(
            "Google Veo 3.1: 4, 6 or 8 s at 720p or 1080p, 16:9 or 9:16, with generated audio; "
            "from text or a first frame (and a last frame), with a seed"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.40,
            source=(
                f"{_UNVERIFIED}: $0.40/s with audio, $0.20/s without (Google's Veo 3.1 list "
                "price; Vercel's AI Gateway lists $0.20/s as its lowest configuration); check "
                "https://replicate.com/google/veo-3.1"
            ),
        ),
        aspect_ratios=("16:9", "9:16"),
        default_aspect_ratio="16:9",
        resolutions=("720p", "1080p"),
        default_resolution="1080p",
        durations=(4.0, 6.0, 8.0),
        default_duration=8.0,
        fps=(24,),
        default_fps=24,
        supports_seed=True,
        supports_negative_prompt=True,
        supports_last_frame=True,
        options=(
            OptionSpec(name="generate_audio", type=bool, default=True, help="generate a soundtrack"),
            OptionSpec(
                name="reference_images",
                type=list,
                items=str,
                help="1-3 images (paths or URLs) of the subject; only 16:9 and 8 s",
            ),
        ),
        extra=_extra(
            "google/veo-3.1",
            _fields(
                first_frame="image",
                last_frame="last_frame",
                aspect_ratio="aspect_ratio",
                duration="duration",
                resolution="resolution",
                negative_prompt="negative_prompt",
                seed="seed",
            ),
            file_options=("reference_images",),
            rates={"field": "generate_audio", "default": True, "usd": {True: 0.40, False: 0.20}},
            typical_s=120.0,
        ),
    ),
    ModelInfo(
        id="wan-video/wan-2.5-i2v",
        kind=Kind.VIDEO,
        aliases=("wan-2.5-i2v", "wan-2.5"),
        description=(
            "Wan 2.5 image-to-video: 5 or 10 s at 480p, 720p (default) or 1080p with sound "
            "(give an audio file to follow it), with a seed"
        ),
        capabilities=frozenset({Capability.IMAGE_TO_VIDEO}),
        requires_image=True,
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.10,
            source=(
                f"{_UNVERIFIED}: Alibaba's Wan 2.5 list price per second of output (480p $0.05, "
                "720p $0.10, 1080p $0.15); check https://replicate.com/wan-video/wan-2.5-i2v"
            ),
        ),
        resolutions=("480p", "720p", "1080p"),
        default_resolution="720p",
        durations=(5.0, 10.0),
        default_duration=5.0,
        fps=(24,),
        default_fps=24,
        supports_seed=True,
        supports_negative_prompt=True,
        options=(
            OptionSpec(
                name="audio",
                type=str,
                help="a wav or mp3 (path or URL, 3-30 s, up to 15 MB) for the voice or music to follow",
            ),
            OptionSpec(
                name="enable_prompt_expansion",
                type=bool,
                default=True,
                help="let the model expand the prompt",
            ),
        ),
        extra=_extra(
            "wan-video/wan-2.5-i2v",
            _fields(
                first_frame="image",
                duration="duration",
                resolution="resolution",
                negative_prompt="negative_prompt",
                seed="seed",
            ),
            file_options=("audio",),
            rates={
                "field": "resolution",
                "default": "720p",
                "usd": {"480p": 0.05, "720p": 0.10, "1080p": 0.15},
            },
            typical_s=150.0,
        ),
    ),
    ModelInfo(
        id="pixverse/pixverse-v5",
        kind=Kind.VIDEO,
        aliases=("pixverse-v5", "pixverse"),
        description=(
            "PixVerse v5: 5 or 8 s at 360p-1080p (default 540p), 16:9, 9:16 or 1:1, from text "
            "or a first frame (and a last frame), with a seed and optional effects"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        # "360p and 540p cost the same, but 720p and 1080p cost more"; "8 second videos cost
        # twice as much as 5 second videos" (its schema): a price per video by quality, x2 for 8 s
        price=Price(
            basis=PriceBasis.PER_VIDEO,
            usd=0.30,
            source=(
                f"{_UNVERIFIED}: per 5 s video 360p/540p $0.30, 720p $0.40, 1080p $0.80 "
                "(third-party listings), twice that for 8 s (the model's schema says so); check "
                "https://replicate.com/pixverse/pixverse-v5"
            ),
        ),
        aspect_ratios=("16:9", "9:16", "1:1"),
        default_aspect_ratio="16:9",
        resolutions=("360p", "540p", "720p", "1080p"),
        default_resolution="540p",
        durations=(5.0, 8.0),
        default_duration=5.0,
        supports_seed=True,
        supports_negative_prompt=True,
        supports_last_frame=True,
        options=(
            OptionSpec(
                name="effect",
                type=str,
                help="a PixVerse special effect by name (not with a last frame)",
            ),
        ),
        extra=_extra(
            "pixverse/pixverse-v5",
            _fields(
                first_frame="image",
                last_frame="last_frame_image",
                aspect_ratio="aspect_ratio",
                duration="duration",
                resolution="quality",
                negative_prompt="negative_prompt",
                seed="seed",
            ),
            rates={
                "field": "quality",
                "default": "540p",
                "usd": {"360p": 0.30, "540p": 0.30, "720p": 0.40, "1080p": 0.80},
            },
            multiplier={"field": "duration", "default": 5, "factors": {8: 2.0}},
            last_frame_needs_first=True,
            typical_s=60.0,
        ),
    ),
)

# --------------------------------------------------------------------------------- video

VIDEO_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="minimax/video-01",
        kind=Kind.VIDEO,
        aliases=("video-01", "hailuo"),
        description="MiniMax Hailuo video-01: 6 s of 720p at 25 fps from text or a first frame",
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        price=Price(basis=PriceBasis.PER_VIDEO, usd=0.50, source=_PRICING_COPY),
        resolutions=("720p",),
        default_resolution="720p",
        durations=(6.0,),
        default_duration=6.0,
        fps=(25,),
        default_fps=25,
        supports_seed=False,
        options=(
            _PROMPT_OPTIMIZER,
            OptionSpec(
                name="subject_reference",
                type=str,
                help="an image of a character to keep consistent (path or URL)",
            ),
        ),
        extra=_extra(
            "minimax/video-01",
            _fields(first_frame="first_frame_image"),
            file_options=("subject_reference",),
            typical_s=180.0,
        ),
    ),
    ModelInfo(
        id="minimax/video-01-live",
        kind=Kind.VIDEO,
        aliases=("video-01-live",),
        description="MiniMax video-01-live: animates a still image (Live2D and general animation)",
        capabilities=frozenset({Capability.IMAGE_TO_VIDEO}),
        requires_image=True,
        price=Price(basis=PriceBasis.PER_VIDEO, usd=0.50, source=_PRICING_COPY),
        resolutions=("720p",),
        default_resolution="720p",
        durations=(6.0,),
        default_duration=6.0,
        fps=(25,),
        default_fps=25,
        supports_seed=False,
        options=(_PROMPT_OPTIMIZER,),
        extra=_extra(
            "minimax/video-01-live",
            _fields(first_frame="first_frame_image"),
            typical_s=180.0,
        ),
    ),
    ModelInfo(
        id="minimax/hailuo-02",
        kind=Kind.VIDEO,
        aliases=("hailuo-02",),
        description=(
            "MiniMax Hailuo-02: 6 or 10 s at 512p, 768p or 1080p (10 s only at 768p), "
            "optional first and last frame"
        ),
        capabilities=frozenset({Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}),
        # The estimate uses the 1080p rate (the model's default and dearest resolution); the
        # recorded cost uses the rate of the resolution that actually ran (see "rates").
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.09,
            source=(
                "approximate, not read from replicate.com: krea.ai's resale table for "
                "hailuo-02 divided by its 5% margin (512p $0.0167/s, 768p $0.045/s, "
                "1080p $0.09/s; read 2025); check https://replicate.com/minimax/hailuo-02"
            ),
        ),
        resolutions=("512p", "768p", "1080p"),
        default_resolution="1080p",
        durations=(6.0, 10.0),
        default_duration=6.0,
        fps=(25,),
        default_fps=25,
        supports_seed=False,
        supports_last_frame=True,
        options=(_PROMPT_OPTIMIZER,),
        extra=_extra(
            "minimax/hailuo-02",
            _fields(
                first_frame="first_frame_image",
                last_frame="last_frame_image",
                duration="duration",
                resolution="resolution",
            ),
            rates={
                "field": "resolution",
                "default": "1080p",
                "usd": {"512p": 0.0167, "768p": 0.045, "1080p": 0.09},
            },
            ten_seconds_only_at="768p",
            typical_s=240.0,
        ),
    ),
    ModelInfo(
        id="kwaivgi/kling-v2.1",
        kind=Kind.VIDEO,
        aliases=("kling-v2.1", "kling"),
        description=(
            "Kling v2.1: animates a start image for 5 or 10 s; mode 'standard' (720p) or "
            "'pro' (1080p, which also takes an end image); 24 fps"
        ),
        capabilities=frozenset({Capability.IMAGE_TO_VIDEO}),
        requires_image=True,
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            usd=0.09,
            source=(
                "approximate, not read from replicate.com: standard $0.05/s (third-party "
                "resellers list $0.28 per 5 s), pro $0.09/s (runpod lists $0.45 per 5 s); the "
                "estimate uses the pro rate; check https://replicate.com/kwaivgi/kling-v2.1"
            ),
        ),
        durations=(5.0, 10.0),
        default_duration=5.0,
        fps=(24,),
        default_fps=24,
        supports_seed=False,
        supports_negative_prompt=True,
        supports_last_frame=True,
        options=(
            OptionSpec(
                name="mode",
                type=str,
                default="standard",
                choices=("standard", "pro"),
                help="standard is 720p, pro is 1080p (pro is needed for an end image)",
            ),
        ),
        extra=_extra(
            "kwaivgi/kling-v2.1",
            _fields(
                first_frame="start_image",
                last_frame="end_image",
                duration="duration",
                negative_prompt="negative_prompt",
            ),
            rates={"field": "mode", "default": "standard", "usd": {"standard": 0.05, "pro": 0.09}},
            typical_s=300.0,
        ),
    ),
    ModelInfo(
        id="wan-video/wan-2.2-i2v-a14b",
        kind=Kind.VIDEO,
        aliases=("wan-2.2-i2v", "wan"),
        description=("Wan 2.2 image-to-video (A14B): 81-100 frames at 5-24 fps, 480p or 720p, with a seed"),
        capabilities=frozenset({Capability.IMAGE_TO_VIDEO}),
        requires_image=True,
        price=Price(
            basis=PriceBasis.PER_OUTPUT_SECOND,
            source=(
                "Replicate bills this model by seconds of output ('pricing based on duration "
                "at 16 fps', model schema); the rate was not verified, see "
                "https://replicate.com/wan-video/wan-2.2-i2v-a14b"
            ),
        ),
        resolutions=("480p", "720p"),
        default_resolution="480p",
        fps=tuple(range(5, 25)),
        default_fps=16,
        supports_seed=True,
        options=(
            OptionSpec(
                name="num_frames",
                type=int,
                default=81,
                min=81,
                max=100,
                help="frames to generate (duration = num_frames / fps)",
            ),
            OptionSpec(name="sample_steps", type=int, default=30, min=1, max=50),
            OptionSpec(name="sample_shift", type=float, default=5.0, min=1.0, max=20.0),
        ),
        extra=_extra(
            "wan-video/wan-2.2-i2v-a14b",
            _fields(
                first_frame="image",
                resolution="resolution",
                fps="frames_per_second",
                seed="seed",
            ),
            # "pricing based on duration at 16 fps" (its schema): num_frames / 16 seconds are
            # billed whatever frames_per_second says
            billing_fps=16,
            typical_s=120.0,
        ),
    ),
    *_TODAY_VIDEO_MODELS,
)

# --------------------------------------------------------------------------------- image

_FLUX_ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
# flux-1.1-pro's published schema (version 96ccd0): no 21:9 or 9:21 (plus "custom", for width/height)
_FLUX_PRO_ASPECTS = ("1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3")

_OUTPUT_FORMAT = OptionSpec(name="output_format", type=str, default="webp", choices=("webp", "jpg", "png"))
_OUTPUT_QUALITY = OptionSpec(
    name="output_quality",
    type=int,
    default=80,
    min=0,
    max=100,
    help="compression quality for jpg/webp (ignored for png)",
)
_NUM_OUTPUTS = OptionSpec(
    name="num_outputs", type=int, default=1, min=1, max=4, help="images to make (each is billed)"
)
_GO_FAST = OptionSpec(
    name="go_fast", type=bool, default=True, help="faster fp8 inference (slightly lower quality)"
)
_MEGAPIXELS = OptionSpec(name="megapixels", type=str, default="1", choices=("1", "0.25"), help="image size")
_NO_SAFETY = OptionSpec(name="disable_safety_checker", type=bool, default=False)

IMAGE_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        id="black-forest-labs/flux-schnell",
        kind=Kind.IMAGE,
        aliases=("flux-schnell", "schnell"),
        description="FLUX.1 [schnell]: fast text-to-image in 1-4 steps, up to 4 images a run",
        capabilities=frozenset({Capability.TEXT_TO_IMAGE}),
        price=Price(basis=PriceBasis.PER_IMAGE, usd=0.003, source=_PRICING_COPY),
        aspect_ratios=_FLUX_ASPECTS,
        default_aspect_ratio="1:1",
        supports_seed=True,
        supports_steps=True,
        default_steps=4,
        max_steps=4,
        options=(_NUM_OUTPUTS, _OUTPUT_FORMAT, _OUTPUT_QUALITY, _GO_FAST, _MEGAPIXELS, _NO_SAFETY),
        outputs_option="num_outputs",
        extra=_extra(
            "black-forest-labs/flux-schnell",
            _fields(aspect_ratio="aspect_ratio", seed="seed", steps="num_inference_steps"),
            typical_s=2.0,
        ),
    ),
    ModelInfo(
        id="black-forest-labs/flux-dev",
        kind=Kind.IMAGE,
        aliases=("flux-dev",),
        description="FLUX.1 [dev]: text-to-image and image-to-image, up to 4 images a run",
        capabilities=frozenset({Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE}),
        price=Price(basis=PriceBasis.PER_IMAGE, usd=0.025, source=_PRICING_COPY),
        aspect_ratios=_FLUX_ASPECTS,
        default_aspect_ratio="1:1",
        supports_seed=True,
        supports_steps=True,
        default_steps=28,
        max_steps=50,
        supports_guidance=True,
        default_guidance=3.0,
        supports_strength=True,
        options=(_NUM_OUTPUTS, _OUTPUT_FORMAT, _OUTPUT_QUALITY, _GO_FAST, _MEGAPIXELS, _NO_SAFETY),
        outputs_option="num_outputs",
        extra=_extra(
            "black-forest-labs/flux-dev",
            _fields(
                aspect_ratio="aspect_ratio",
                seed="seed",
                steps="num_inference_steps",
                guidance="guidance",
                strength="prompt_strength",
                image="image",
            ),
            max_guidance=10.0,
            typical_s=8.0,
        ),
    ),
    ModelInfo(
        id="black-forest-labs/flux-1.1-pro",
        kind=Kind.IMAGE,
        aliases=("flux-1.1-pro", "flux-pro"),
        description="FLUX1.1 [pro]: high-quality text-to-image; an aspect ratio or width/height",
        capabilities=frozenset({Capability.TEXT_TO_IMAGE}),
        price=Price(basis=PriceBasis.PER_IMAGE, usd=0.04, source=_PRICING_COPY),
        supports_size=True,
        min_size=256,
        max_size=1440,
        size_multiple=32,
        aspect_ratios=_FLUX_PRO_ASPECTS,
        default_aspect_ratio="1:1",
        supports_seed=True,
        options=(
            OptionSpec(
                name="safety_tolerance",
                type=int,
                default=2,
                min=1,
                max=6,
                help="1 is the strictest, 6 the most permissive",
            ),
            OptionSpec(
                name="prompt_upsampling",
                type=bool,
                default=False,
                help="let the model expand the prompt",
            ),
            OptionSpec(
                name="image_prompt",
                type=str,
                help="an image (path or URL) that guides composition (Flux Redux)",
            ),
            _OUTPUT_FORMAT,
            _OUTPUT_QUALITY,
        ),
        extra=_extra(
            "black-forest-labs/flux-1.1-pro",
            _fields(aspect_ratio="aspect_ratio", seed="seed", width="width", height="height"),
            # width/height need aspect_ratio="custom"
            custom_aspect_ratio="custom",
            file_options=("image_prompt",),
            typical_s=6.0,
        ),
    ),
    ModelInfo(
        id="black-forest-labs/flux-kontext-pro",
        kind=Kind.IMAGE,
        aliases=("flux-kontext-pro", "kontext"),
        description=(
            "FLUX.1 Kontext [pro]: edits an image by instruction ('make it snow'), or makes one "
            "from text; keeps the input's aspect ratio unless given one"
        ),
        capabilities=frozenset({Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE}),
        price=Price(
            basis=PriceBasis.PER_IMAGE,
            usd=0.04,
            source=(
                "approximate, not read from replicate.com: Black Forest Labs' and fal.ai's $0.04 "
                "per image (as copied by https://oauth.openai-hk.com/docs/en/lab/fal-ai.html); check "
                "https://replicate.com/black-forest-labs/flux-kontext-pro"
            ),
        ),
        # default: "match_input_image" (the input's ratio), or 1:1 without an input image
        aspect_ratios=(
            "1:1",
            "16:9",
            "9:16",
            "4:3",
            "3:4",
            "3:2",
            "2:3",
            "4:5",
            "5:4",
            "21:9",
            "9:21",
            "2:1",
            "1:2",
        ),
        supports_seed=True,
        options=(
            OptionSpec(
                name="safety_tolerance",
                type=int,
                default=2,
                min=0,
                max=6,
                help="0 is the strictest, 6 the most permissive (at most 2 with an input image)",
            ),
            OptionSpec(
                name="prompt_upsampling", type=bool, default=False, help="let the model expand the prompt"
            ),
            OptionSpec(name="output_format", type=str, default="png", choices=("png", "jpg")),
        ),
        extra=_extra(
            "black-forest-labs/flux-kontext-pro",
            _fields(aspect_ratio="aspect_ratio", seed="seed", image="input_image"),
            typical_s=8.0,
        ),
    ),
    ModelInfo(
        id="bytedance/seedream-4",
        kind=Kind.IMAGE,
        aliases=("seedream-4", "seedream"),
        description=(
            "ByteDance Seedream 4: text-to-image and editing by instruction at 1K, 2K or 4K; "
            "keeps the input's aspect ratio unless given one"
        ),
        capabilities=frozenset({Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE}),
        price=Price(
            basis=PriceBasis.PER_IMAGE,
            usd=0.03,
            source=(
                "approximate, not read from replicate.com: $0.03 per image (third-party "
                "listings); each image made is billed; check https://replicate.com/bytedance/seedream-4"
            ),
        ),
        # default: "match_input_image"; schema version e6cff2 / 3ee3b7
        aspect_ratios=("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9"),
        supports_seed=False,
        options=(
            OptionSpec(
                name="size",
                type=str,
                default="2K",
                choices=("1K", "2K", "4K"),
                help="long side 1024, 2048 or 4096 px",
            ),
            OptionSpec(
                name="sequential_image_generation",
                type=str,
                default="disabled",
                choices=("disabled", "auto"),
                help="'auto' lets the model make a series of related images (up to max_images)",
            ),
            OptionSpec(
                name="max_images",
                type=int,
                default=1,
                min=1,
                max=15,
                help="most images made with sequential_image_generation='auto' (each is billed)",
            ),
            OptionSpec(
                name="enhance_prompt", type=bool, default=True, help="let the model expand the prompt"
            ),
        ),
        outputs_option="max_images",
        extra=_extra(
            "bytedance/seedream-4",
            _fields(aspect_ratio="aspect_ratio", image="image_input"),
            as_list=("image_input",),  # the schema takes a list of 1-10 input images
            typical_s=15.0,
        ),
    ),
)


def generic_model(model_id: str, kind: Kind) -> ModelInfo:
    """Any other Replicate model: raw inputs (``options``) pass through unchecked.

    Its price is unknown to arthur-gen, so the core runs it only with
    ``allow_unknown_price=True``; the prompt goes to ``prompt`` and a first frame or init image
    to ``image``; every other input (seed, duration, ...) is given in ``options`` by its
    Replicate name, and local file paths in options are sent as they are (give URLs).
    """
    video = kind is Kind.VIDEO
    return ModelInfo(
        id=model_id,
        kind=kind,
        description=f"{model_id} on Replicate (not in arthur-gen's catalog; inputs unchecked)",
        capabilities=frozenset(
            {Capability.TEXT_TO_VIDEO, Capability.IMAGE_TO_VIDEO}
            if video
            else {Capability.TEXT_TO_IMAGE, Capability.IMAGE_TO_IMAGE}
        ),
        price=Price.unknown(
            source=f"not in arthur-gen's catalog; see https://replicate.com/{_page(model_id)}"
        ),
        # Its schema is unknown here, so nothing is sent that the user did not give: a seed
        # goes in options (options={"seed": 7}), as does any other input.
        supports_seed=False,
        accepts_any_options=True,
        extra=_extra(
            model_id,
            _fields(first_frame="image", image="image"),
            generic=True,
        ),
    )


def _page(model_id: str) -> str:
    return model_id.split(":", 1)[0]
