"""Issue 8 item 9: Replicate as it is. The published schemas in the catalog, the documented API
in the emulator, and the backend handling each: the real `replicate` client over real HTTP."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from arthur_gen_replicate._catalog import VIDEO_MODELS
from arthur_gen_replicate._status import cost_usd, output_seconds
from arthur_gen_replicate.emulator import Emulator
from arthur_gen_replicate.emulator._models import version_id
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ReplicateError

import arthur_gen
from arthur_gen.errors import InvalidRequestError

Rows = Callable[[], list[dict[str, Any]]]
TOKEN = "r8_fidelity"  # the emulator takes any token
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(emu: Emulator) -> Client:
    made = Client(api_token=TOKEN, base_url=emu.url)
    made.poll_interval = 0.02
    return made


def creates(emu: Emulator) -> list[Any]:
    return [r for r in emu.requests if r.endpoint == "create"]


def small_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 18), (10, 120, 200)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# flux-1.1-pro: no 21:9 or 9:21


@pytest.mark.parametrize("ratio", ["21:9", "9:21"])
def test_flux_pro_takes_no_21_9(emu: Emulator, client: Client, ratio: str) -> None:
    with pytest.raises(InvalidRequestError, match="aspect_ratio"):
        arthur_gen.generate_image("x", backend="replicate", model="flux-1.1-pro", aspect_ratio=ratio)
    assert emu.create_count == 0  # refused before anything was sent
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(
            model="black-forest-labs/flux-1.1-pro", input={"prompt": "x", "aspect_ratio": ratio}
        )
    assert info.value.status == 422 and "aspect_ratio" in (info.value.detail or "")


def test_flux_pro_takes_portrait(emu: Emulator) -> None:
    result = arthur_gen.generate_image("x", backend="replicate", model="flux-1.1-pro", aspect_ratio="9:16")
    with Image.open(result.path) as image:
        assert image.size == (288, 512)


# wan-2.2-i2v-a14b: sample_steps 1-50, billed by duration at 16 fps


def test_wan_sample_steps_go_to_50(emu: Emulator) -> None:
    frame = small_png()
    ok = arthur_gen.plan(
        "video", "walk", backend="replicate", model="wan", first_frame=frame, options={"sample_steps": 50}
    )
    assert ok.to_dict()["would_send"]["input"]["sample_steps"] == 50
    with pytest.raises(InvalidRequestError, match="at most 50"):
        arthur_gen.plan(
            "video", "walk", backend="replicate", model="wan", first_frame=frame, options={"sample_steps": 51}
        )
    with httpx.Client(base_url=emu.url, headers=AUTH) as http:
        base = {"prompt": "x", "image": frame}
        good = http.post(
            "/v1/models/wan-video/wan-2.2-i2v-a14b/predictions", json={"input": {**base, "sample_steps": 50}}
        )
        bad = http.post(
            "/v1/models/wan-video/wan-2.2-i2v-a14b/predictions", json={"input": {**base, "sample_steps": 51}}
        )
    assert good.status_code == 201 and bad.status_code == 422


def test_wan_is_billed_at_16_fps_whatever_fps_is_asked() -> None:
    wan = next(m for m in VIDEO_MODELS if m.id == "wan-video/wan-2.2-i2v-a14b")
    assert output_seconds({"num_frames": 81, "frames_per_second": 24}, wan) == pytest.approx(81 / 16)
    assert output_seconds({"num_frames": 96, "frames_per_second": 8}, wan) == pytest.approx(6.0)
    assert output_seconds({}, wan) == pytest.approx(81 / 16)
    # a known rate would be applied to those seconds (the real rate is not known, so it is None)
    priced = wan.__class__(**{**_fields(wan), "price": wan.price.__class__(basis=wan.price.basis, usd=0.1)})
    done = {"status": "succeeded", "input": {"num_frames": 96, "frames_per_second": 24}}
    assert cost_usd(done, priced, 1) == pytest.approx(0.6)
    assert cost_usd(done, wan, 1) is None


def _fields(model: Any) -> dict[str, Any]:
    import attrs

    return {a.name: getattr(model, a.name) for a in attrs.fields(type(model))}


# Models outside the catalog: the models endpoint serves official models only


def test_community_model_runs_its_latest_version_through_v1_predictions(emu: Emulator) -> None:
    result = arthur_gen.generate_image(
        "a painting", backend="replicate", model="acme/painter", allow_unknown_price=True
    )
    assert result.path.exists()
    looked_up = [r for r in emu.requests if r.endpoint == "models"]
    assert [r.path for r in looked_up] == ["/v1/models/acme/painter"]
    (create,) = creates(emu)
    assert create.path == "/v1/predictions"  # not /v1/models/acme/painter/predictions
    (prediction,) = emu.predictions.values()
    assert prediction.model == "acme/painter"
    assert prediction.json["version"] == version_id("acme/painter")


def test_official_model_outside_the_catalog_uses_the_models_endpoint(emu: Emulator) -> None:
    arthur_gen.generate_image(
        "a banana", backend="replicate", model="google/nano-banana", allow_unknown_price=True
    )
    (create,) = creates(emu)
    assert create.path == "/v1/models/google/nano-banana/predictions"
    (prediction,) = emu.predictions.values()
    assert prediction.json["version"] == "hidden"


@pytest.mark.parametrize(
    ("status", "error"), [(404, arthur_gen.UnknownModelError), (500, arthur_gen.GenerationError)]
)
def test_a_failed_model_lookup_creates_nothing(emu: Emulator, rows: Rows, status: int, error: type) -> None:
    emu.faults.fail("models", status)
    with pytest.raises(error) as caught:
        arthur_gen.generate_image("x", backend="replicate", model="acme/painter", allow_unknown_price=True)
    assert "acme/painter" in str(caught.value)
    assert emu.create_count == 0
    (row,) = rows() or [None]
    assert row is None or row["state"] != "uncertain"  # nothing can have been created


def test_dry_run_of_a_community_model_says_how_it_will_be_sent(emu: Emulator) -> None:
    plan = arthur_gen.plan("image", "x", backend="replicate", model="acme/painter", allow_unknown_price=True)
    endpoint = plan.to_dict()["would_send"]["endpoint"]
    assert "GET /v1/models/acme/painter" in endpoint and "POST /v1/predictions" in endpoint
    assert emu.request_counts == {}


def test_models_endpoint_refuses_community_models(emu: Emulator, client: Client) -> None:
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(model="acme/painter", input={"prompt": "x"})
    assert info.value.status == 404 and "official" in (info.value.detail or "")
    with pytest.raises(ReplicateError) as info:
        client.predictions.create(version="acme/painter", input={"prompt": "x"})
    assert info.value.status == 422  # "owner/name" without a version: official models only
    assert emu.create_count == 0


def test_get_model_answers_with_the_latest_version(client: Client) -> None:
    community = client.models.get("acme/painter")
    assert (community.owner, community.name) == ("acme", "painter")
    assert community.latest_version is not None
    assert community.latest_version.id == version_id("acme/painter")
    schema = community.latest_version.openapi_schema
    assert "Input" in schema["components"]["schemas"]
    official = client.models.get("minimax/video-01-live")
    assert official.latest_version is not None
    required = official.latest_version.openapi_schema["components"]["schemas"]["Input"]["required"]
    assert "first_frame_image" in required
    raw = httpx.get(f"{client._base_url}/v1/models/minimax/video-01", headers=AUTH).json()
    assert raw["is_official"] is True
    prediction = client.predictions.create(version=community.latest_version.id, input={"prompt": "x"})
    assert prediction.model == "acme/painter"


# Prefer: wait past its timeout answers "starting"


def test_prefer_wait_past_its_timeout_answers_starting(emu: Emulator, client: Client) -> None:
    emu.set_timing(starting_s=0.05, processing_s=20)
    prediction = client.models.predictions.create(model="minimax/video-01", input={"prompt": "x"}, wait=1)
    assert prediction.status == "starting"
    assert client.predictions.get(prediction.id).status == "processing"
    client.predictions.cancel(prediction.id)


def test_backend_never_blocks_on_prefer_wait(emu: Emulator) -> None:
    arthur_gen.generate_video("x", backend="replicate", timeout=20)
    (create,) = creates(emu)
    assert "prefer" not in create.headers


# created_after is inclusive


def test_created_after_is_inclusive(emu: Emulator, client: Client) -> None:
    first = client.models.predictions.create(model="minimax/video-01", input={"prompt": "a"})
    page = client.predictions.list()
    created_at = next(p.created_at for p in page.results if p.id == first.id)
    with httpx.Client(base_url=emu.url, headers=AUTH) as http:
        listed = http.get("/v1/predictions", params={"created_after": created_at}).json()
    assert [p["id"] for p in listed["results"]] == [first.id]


# deadline and urls.stream


def test_predictions_carry_deadline_and_stream_url(emu: Emulator, client: Client) -> None:
    emu.set_timing(starting_s=0.05, processing_s=0.2)
    with httpx.Client(base_url=emu.url, headers=AUTH) as http:
        body = http.post(
            "/v1/models/minimax/video-01/predictions",
            json={"input": {"prompt": "x"}},
            headers={"Cancel-After": "90s"},
        ).json()
    created = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    deadline = datetime.fromisoformat(body["deadline"].replace("Z", "+00:00"))
    assert (deadline - created).total_seconds() == pytest.approx(90)
    assert body["urls"]["stream"].startswith(emu.url)
    prediction = client.predictions.get(body["id"])
    events = [(str(event.event.value), event.data) for event in prediction.stream()]
    assert [name for name, _ in events] == ["output", "done"]
    assert events[0][1].endswith("/output.mp4")
    assert emu.request_counts["stream"] == 1


def test_backend_reads_predictions_with_deadline_and_stream(emu: Emulator, rows: Rows) -> None:
    result = arthur_gen.generate_video("x", backend="replicate", timeout=30)
    (prediction,) = emu.predictions.values()
    assert "deadline" in prediction.json and "stream" in prediction.json["urls"]
    assert result.cost_usd == 0.5 and rows()[0]["state"] == "saved"


# data URIs are not echoed back in input


def test_data_uri_inputs_come_back_as_urls(emu: Emulator, client: Client) -> None:
    frame = small_png()
    prediction = client.models.predictions.create(
        model="minimax/video-01", input={"prompt": "x", "first_frame_image": frame}
    )
    shown = prediction.input["first_frame_image"]
    assert not shown.startswith("data:") and shown.startswith(emu.url)
    assert httpx.get(shown).content == base64.b64decode(frame.split(",", 1)[1])


def test_lost_create_with_a_data_uri_frame_is_still_found(emu: Emulator, rows: Rows) -> None:
    emu.faults.drop("create", after_effect=True)
    result = arthur_gen.generate_video("x", backend="replicate", first_frame=small_png(), timeout=20)
    assert emu.create_count == 1  # reconciled onto the prediction the lost create made
    (row,) = rows()
    (prediction,) = emu.predictions.values()
    assert row["remote_id"] == prediction.id and row["state"] == "saved"
    assert result.path.exists()


# video-01-live requires its first frame


def test_video_01_live_requires_a_first_frame(emu: Emulator, client: Client) -> None:
    with pytest.raises(InvalidRequestError, match="first_frame"):
        arthur_gen.generate_video("x", backend="replicate", model="video-01-live")
    assert emu.create_count == 0
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(model="minimax/video-01-live", input={"prompt": "x"})
    assert info.value.status == 422 and "first_frame_image" in (info.value.detail or "")
    result = arthur_gen.generate_video(
        "x", backend="replicate", model="video-01-live", first_frame=small_png()
    )
    assert result.path.exists()


def test_emulator_stream_ends_for_a_failed_prediction(emu: Emulator, client: Client) -> None:
    emu.faults.fail_prediction("out of memory")
    prediction = client.models.predictions.create(model="minimax/video-01", input={"prompt": "x"})
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="out of memory"):  # the client raises on "error"
        list(prediction.stream())
    assert time.monotonic() - started < 10


# Replicate's own OpenAPI-generated client as the judge of the emulator's answers

STAINLESS = os.environ.get("ARTHUR_GEN_REPLICATE_STAINLESS", "/tmp/stainless")
PLUGIN_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(
    not (Path(STAINLESS) / "replicate" / "_client.py").is_file(),
    reason="replicate-stainless is not installed (pip install --target /tmp/stainless "
    "replicate-stainless==0.6.0, or set ARTHUR_GEN_REPLICATE_STAINLESS)",
)
def test_replicate_stainless_accepts_every_answer() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([STAINLESS, str(PLUGIN_ROOT)])}
    script = PLUGIN_ROOT / "scripts" / "stainless_check.py"
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 of the emulator's answers failed" in done.stdout
    assert "models.get (community)" in done.stdout
