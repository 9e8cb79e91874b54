"""Issue 14 item 5: today's video models and an image editing model, checked against their
published schemas, priced with a source, known to the emulator (real client, real HTTP)."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import av
import pytest
from arthur_gen_replicate import ReplicateImageBackend, ReplicateVideoBackend
from arthur_gen_replicate._catalog import DEFAULT_VIDEO_MODEL, IMAGE_MODELS, VIDEO_MODELS
from arthur_gen_replicate._inputs import build_input
from arthur_gen_replicate.emulator import Emulator
from PIL import Image
from replicate.client import Client

import arthur_gen
from arthur_gen._models import ModelInfo
from arthur_gen._requests import ImageRequest, VideoRequest
from arthur_gen.errors import InvalidRequestError

TODAY_VIDEO = (
    "kwaivgi/kling-v2.5-turbo-pro",
    "bytedance/seedance-1-lite",
    "bytedance/seedance-1-pro",
    "minimax/hailuo-2.3",
    "google/veo-3.1",
    "wan-video/wan-2.5-i2v",
    "pixverse/pixverse-v5",
)
EDIT = "black-forest-labs/flux-kontext-pro"
EDITS = (EDIT, "bytedance/seedream-4")
CATALOG = {m.id: m for m in VIDEO_MODELS + IMAGE_MODELS}


def frame(width: int = 64, height: int = 36) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (240, 180, 20)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_catalog_has_todays_models_and_keeps_video_01_the_default() -> None:
    assert set(TODAY_VIDEO) <= {m.id for m in VIDEO_MODELS}
    assert set(EDITS) <= {m.id for m in IMAGE_MODELS}
    assert DEFAULT_VIDEO_MODEL == ReplicateVideoBackend().default_model == "minimax/video-01"
    assert ReplicateImageBackend().default_model == "black-forest-labs/flux-schnell"


@pytest.mark.parametrize("model_id", [*TODAY_VIDEO, *EDITS])
def test_each_price_says_where_it_comes_from_and_that_it_is_approximate(model_id: str) -> None:
    price = CATALOG[model_id].price
    assert price.usd is not None and price.usd > 0
    assert "approximate" in price.source and f"https://replicate.com/{model_id}" in price.source


def _request(m: ModelInfo) -> VideoRequest | ImageRequest:
    if m.kind.value == "image":
        return ImageRequest(prompt="make it snow", image=frame())
    first = frame() if m.requires_image else None
    return VideoRequest(prompt="a paper boat drifts", first_frame=first)


@pytest.mark.parametrize("model_id", [*TODAY_VIDEO, *EDITS])
def test_the_emulator_knows_each_model_and_accepts_what_the_catalog_sends(
    emu: Emulator, model_id: str
) -> None:
    m = CATALOG[model_id]
    inputs = build_input(_request(m), m, lambda path: path)
    client = Client(api_token="r8_x", base_url=emu.url)
    prediction = client.models.predictions.create(model=model_id, input=inputs)
    assert prediction.model == model_id and prediction.version == "hidden"
    client.predictions.cancel(prediction.id)
    schema = client.models.get(model_id).latest_version
    assert schema is not None
    properties = schema.openapi_schema["components"]["schemas"]["Input"]["properties"]
    assert set(inputs) - {"prompt"} <= set(properties), "every input the catalog sends is in the schema"


@pytest.mark.parametrize(
    ("model_id", "ratio"),
    [
        ("kwaivgi/kling-v2.5-turbo-pro", "9:16"),
        ("kwaivgi/kling-v2.5-turbo-pro", "1:1"),
        ("bytedance/seedance-1-lite", "9:16"),
        ("bytedance/seedance-1-pro", "1:1"),
        ("google/veo-3.1", "9:16"),
        ("pixverse/pixverse-v5", "9:16"),
        ("pixverse/pixverse-v5", "1:1"),
    ],
)
def test_portrait_and_square_from_aspect_ratio(emu: Emulator, model_id: str, ratio: str) -> None:
    plan = arthur_gen.plan("video", "x", backend="replicate", model=model_id, aspect_ratio=ratio)
    assert plan.to_dict()["would_send"]["input"]["aspect_ratio"] == ratio


@pytest.mark.parametrize("model_id", ["minimax/hailuo-2.3", "wan-video/wan-2.5-i2v"])
def test_models_without_an_aspect_ratio_say_so(model_id: str) -> None:
    kwargs: dict[str, Any] = {"first_frame": frame()} if "wan" in model_id else {}
    with pytest.raises(InvalidRequestError, match="takes no aspect ratio"):
        arthur_gen.plan("video", "x", backend="replicate", model=model_id, aspect_ratio="9:16", **kwargs)


def test_veo_takes_no_square_video() -> None:
    with pytest.raises(InvalidRequestError, match="'16:9', '9:16'"):
        arthur_gen.plan("video", "x", backend="replicate", model="veo-3.1", aspect_ratio="1:1")


@pytest.mark.parametrize(
    ("model_id", "fields", "usd", "shown"),
    [
        ("kwaivgi/kling-v2.5-turbo-pro", {"duration": 10}, 0.70, "10 s of output x $0.07/s"),
        ("bytedance/seedance-1-lite", {}, 0.18, "5 s of output x $0.036/s at resolution=720p"),
        ("bytedance/seedance-1-lite", {"duration": 12, "resolution": "480p"}, 0.216, "480p"),
        ("bytedance/seedance-1-pro", {}, 0.75, "5 s of output x $0.15/s at resolution=1080p"),
        ("minimax/hailuo-2.3", {"duration": 10}, 0.45, "10 s of output x $0.045/s"),
        ("minimax/hailuo-2.3", {"resolution": "1080p"}, 0.54, "$0.09/s"),
        ("google/veo-3.1", {}, 3.20, "8 s of output x $0.4/s at generate_audio=true"),
        ("google/veo-3.1", {"options": {"generate_audio": False}, "duration": 4}, 0.80, "false"),
        ("wan-video/wan-2.5-i2v", {"duration": 10, "resolution": "1080p"}, 1.50, "$0.15/s"),
        ("pixverse/pixverse-v5", {}, 0.30, "1 video x $0.3 at quality=540p, duration=5"),
        ("pixverse/pixverse-v5", {"duration": 8, "resolution": "1080p"}, 1.60, "quality=1080p, duration=8"),
    ],
)
def test_estimates_follow_the_inputs_that_set_the_price(
    model_id: str, fields: dict[str, Any], usd: float, shown: str
) -> None:
    if CATALOG[model_id].requires_image:
        fields = {**fields, "first_frame": frame()}
    estimate = arthur_gen.estimate("video", "x", model=model_id, **fields)
    assert estimate.usd == pytest.approx(usd)
    assert shown in estimate.describe()


@pytest.mark.parametrize(
    ("model_id", "fields", "message"),
    [
        ("minimax/hailuo-2.3", {"duration": 10, "resolution": "1080p"}, "10 s videos only at 768p"),
        ("kwaivgi/kling-v2.5-turbo-pro", {"last_frame": "LAST"}, "only together with a first frame"),
        ("pixverse/pixverse-v5", {"last_frame": "LAST"}, "only together with a first frame"),
        (
            "pixverse/pixverse-v5",
            {"first_frame": "FIRST", "last_frame": "LAST", "options": {"effect": "x"}},
            "effect only without a last frame",
        ),
        (
            "bytedance/seedance-1-lite",
            {"resolution": "1080p", "options": {"reference_images": ["REF"]}},
            "reference images only below 1080p",
        ),
        (
            "bytedance/seedance-1-lite",
            {"options": {"reference_images": ["REF"] * 5}},
            "takes 1 to 4",
        ),
        (
            "google/veo-3.1",
            {"aspect_ratio": "9:16", "options": {"reference_images": ["REF"]}},
            "only at 16:9 and 8 s",
        ),
        ("google/veo-3.1", {"options": {"reference_images": ["/no/such/file.png"]}}, "is not a file"),
        (
            "wan-video/wan-2.5-i2v",
            {"first_frame": "FIRST", "options": {"audio": "/no/such.mp3"}},
            "not a file",
        ),
        ("wan-video/wan-2.5-i2v", {}, "needs an input image"),
    ],
)
def test_what_a_schema_forbids_fails_before_anything_is_sent(
    emu: Emulator, model_id: str, fields: dict[str, Any], message: str
) -> None:
    replace = {"FIRST": frame(), "LAST": frame(), "REF": frame()}
    fields = {k: replace.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
    if "options" in fields:
        options = dict(fields["options"])
        if "reference_images" in options:
            options["reference_images"] = [replace.get(v, v) for v in options["reference_images"]]
        fields["options"] = options
    with pytest.raises(InvalidRequestError, match=message):
        arthur_gen.generate_video("x", backend="replicate", model=model_id, **fields)
    assert emu.create_count == 0


def test_kontext_refuses_a_lax_safety_tolerance_with_an_input_image(emu: Emulator) -> None:
    with pytest.raises(InvalidRequestError, match="at most 2"):
        arthur_gen.generate_image(
            "x", backend="replicate", model=EDIT, image=frame(), options={"safety_tolerance": 4}
        )
    assert emu.create_count == 0


def test_kontext_edits_an_image_and_keeps_the_lineage(emu: Emulator, tmp_path: Path) -> None:
    original = arthur_gen.generate_image("a street", backend="replicate", seed=3)
    edited = arthur_gen.generate_image("make it snow", backend="replicate", model="kontext", image=original)
    assert original.job_id in edited.parents
    assert edited.cost_usd == pytest.approx(0.04)
    (_, prediction) = emu.predictions.values()
    assert prediction.model == EDIT
    assert str(prediction.sent_input["input_image"]).startswith("data:image/webp;base64,")
    with Image.open(edited.path) as image:
        assert image.format == "PNG"  # the model's default output format


@pytest.mark.parametrize(("content", "message"), [(b"", "empty file"), (b"not an image", "not an image")])
def test_an_image_option_that_is_not_an_image_is_refused_before_sending(
    emu: Emulator, tmp_path: Path, content: bytes, message: str
) -> None:
    fake = tmp_path / "fake.png"
    fake.write_bytes(content)
    with pytest.raises(InvalidRequestError, match=message):
        arthur_gen.generate_video(
            "x", backend="replicate", model="veo-3.1", options={"reference_images": [str(fake)]}
        )
    with pytest.raises(InvalidRequestError, match=message):
        arthur_gen.generate_video("x", backend="replicate", options={"subject_reference": str(fake)})
    assert emu.create_count == 0


def test_seedream_edits_with_its_input_image_in_a_list(emu: Emulator) -> None:
    original = arthur_gen.generate_image("a street", backend="replicate", seed=3)
    edited = arthur_gen.generate_image(
        "make it night", backend="replicate", model="seedream-4", image=original, aspect_ratio="9:16"
    )
    assert original.job_id in edited.parents and edited.cost_usd == pytest.approx(0.03)
    (_, prediction) = emu.predictions.values()
    sent = prediction.sent_input
    assert sent["aspect_ratio"] == "9:16" and len(sent["image_input"]) == 1
    assert str(sent["image_input"][0]).startswith("data:image/webp;base64,")
    series = arthur_gen.generate_image(
        "a comic strip",
        backend="replicate",
        model="seedream",
        options={"sequential_image_generation": "auto", "max_images": 3},
    )
    assert len(series.paths) == 3 and series.cost_usd == pytest.approx(0.09)  # each image billed


def test_reference_images_are_uploaded_or_inlined(emu: Emulator, tmp_path: Path) -> None:
    ref = tmp_path / "hero.png"
    Image.new("RGB", (40, 40), (1, 2, 3)).save(ref)
    arthur_gen.generate_video(
        "the hero walks",
        backend="replicate",
        model="seedance-1-lite",
        resolution="480p",
        duration=2,
        options={"reference_images": [str(ref), "https://example.com/b.png"]},
    )
    (prediction,) = emu.predictions.values()
    sent = prediction.sent_input["reference_images"]
    assert sent[0].startswith("data:image/png;base64,") and sent[1] == "https://example.com/b.png"


def test_recorded_cost_follows_the_inputs_that_ran(emu: Emulator) -> None:
    result = arthur_gen.generate_video(
        "x", backend="replicate", model="pixverse", duration=8, resolution="720p", timeout=30
    )
    assert result.cost_usd == pytest.approx(0.80)  # $0.40 per 5 s at 720p, twice for 8 s
    veo = arthur_gen.generate_video(
        "x", backend="replicate", model="veo", duration=4, options={"generate_audio": False}
    )
    assert veo.cost_usd == pytest.approx(0.80)


def test_cli_makes_a_portrait_kling_video(emu: Emulator, home: Path, token: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ARTHUR_GEN_HOME": str(home),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
        "REPLICATE_BASE_URL": emu.url,
        "REPLICATE_API_TOKEN": token,
    }
    out = tmp_path / "out"
    command = [
        sys.executable,
        "-m",
        "arthur_gen",
        "video",
        "a paper boat",
        "-b",
        "replicate",
        "-m",
        "kling-v2.5-turbo-pro",
        "--aspect-ratio",
        "9:16",
        "--out",
        str(out),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (video,) = out.rglob("*.mp4")
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height) == (180, 320)
    (prediction,) = emu.predictions.values()
    assert prediction.sent_input == {"prompt": "a paper boat", "aspect_ratio": "9:16"}
