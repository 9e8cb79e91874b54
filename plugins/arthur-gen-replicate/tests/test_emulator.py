"""The Replicate API emulator, driven by the real `replicate` client over loopback HTTP."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pydantic.v1
import pytest
from arthur_gen_replicate.emulator import Emulator
from arthur_gen_replicate.emulator._models import version_id
from arthur_gen_replicate.emulator.pytest_fixture import replicate_emulator
from PIL import Image
from replicate.client import Client
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput

__all__ = ["replicate_emulator"]

TOKEN = "r8_test"
#: a community model (not official): created through POST /v1/predictions with its version
ACME = "acme/m:" + version_id("acme/m")
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PLUGIN_ROOT = Path(__file__).resolve().parents[1]


def make_client(emu: Emulator, token: str | None = TOKEN) -> Client:
    client = Client(api_token=token, base_url=emu.url)
    client.poll_interval = 0.02
    return client


@pytest.fixture
def emu(replicate_emulator: Emulator) -> Emulator:
    return replicate_emulator


@pytest.fixture
def client(emu: Emulator) -> Client:
    return make_client(emu)


@pytest.fixture
def http(emu: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers=AUTH) as raw:
        yield raw


def run_model(client: Client, model: str, **inp: Any) -> Any:
    if ":" in model:
        prediction = client.predictions.create(version=model, input=inp)
    else:
        prediction = client.models.predictions.create(model=model, input=inp)
    prediction.wait()
    assert prediction.status == "succeeded", prediction.error
    return prediction.output


# Predictions


def test_create_get_and_lifecycle(emu: Emulator, client: Client) -> None:
    emu.set_timing(starting_s=0.1, processing_s=0.2)
    prediction = client.models.predictions.create(model="minimax/video-01", input={"prompt": "a red fox"})
    assert (prediction.status, prediction.version, prediction.model) == (
        "starting",
        "hidden",
        "minimax/video-01",
    )
    assert len(prediction.id) == 26
    assert prediction.urls is not None and set(prediction.urls) == {"get", "cancel", "stream", "web"}
    assert emu.last_request_headers["authorization"] == f"Bearer {TOKEN}"
    time.sleep(0.15)
    assert client.predictions.get(prediction.id).status == "processing"
    prediction.wait()
    assert prediction.status == "succeeded"
    assert str(prediction.output).startswith(f"{emu.url}/delivery/{prediction.id}/")
    assert prediction.metrics is not None and prediction.metrics["predict_time"] > 0
    assert prediction.completed_at and prediction.started_at
    assert prediction.progress is not None and prediction.progress.percentage == 1.0
    assert emu.create_count == 1
    assert emu.predictions[prediction.id].status == "succeeded"


def test_create_by_version_and_run(client: Client, emu: Emulator) -> None:
    version = "a" * 64
    output = client.run(f"acme/thing:{version}", input={"prompt": "x"}, use_file_output=False)
    assert isinstance(output, str) and output.endswith("/output.png")
    assert emu.request_counts["versions"] == 1
    prediction = client.predictions.create(version="black-forest-labs/flux-schnell", input={"prompt": "x"})
    assert prediction.model == "black-forest-labs/flux-schnell"


def test_cancel(emu: Emulator, client: Client) -> None:
    emu.set_timing(starting_s=0.05, processing_s=30)
    prediction = client.models.predictions.create(model="minimax/hailuo-02", input={"prompt": "x"})
    canceled = client.predictions.cancel(prediction.id)
    assert canceled.status == "canceled" and canceled.output is None
    assert client.predictions.get(prediction.id).status == "canceled"
    assert emu.request_counts["cancel"] == 1


def test_list_pages_newest_first(emu: Emulator, client: Client) -> None:
    emu.configure(page_size=2)
    ids = [client.predictions.create(version=ACME, input={"prompt": str(i)}).id for i in range(5)]
    seen, page = [], client.predictions.list()
    assert page.previous is None
    while True:
        seen += [p.id for p in page.results]
        if page.next is None:
            break
        page = client.predictions.list(page.next)
    assert seen == ids[::-1]
    back = client.predictions.list(page.previous)
    assert [p.id for p in back.results] == ids[::-1][2:4]


def test_list_created_after(emu: Emulator, http: httpx.Client, client: Client) -> None:
    old = client.predictions.create(version=ACME, input={}).id
    new = client.predictions.create(version=ACME, input={}).id
    cutoff = http.get(f"/v1/predictions/{old}").json()["created_at"]
    body = http.get("/v1/predictions", params={"created_after": cutoff}).json()
    assert [p["id"] for p in body["results"]] == [new, old]  # "at or after": inclusive
    newest = http.get(f"/v1/predictions/{new}").json()["created_at"]
    body = http.get("/v1/predictions", params={"created_after": newest}).json()
    assert [p["id"] for p in body["results"]] == [new]
    body = http.get("/v1/predictions", params={"created_before": newest}).json()
    assert [p["id"] for p in body["results"]] == [old]  # created_before is exclusive


def test_prefer_wait(emu: Emulator, client: Client, http: httpx.Client) -> None:
    prediction = client.models.predictions.create(
        model="black-forest-labs/flux-schnell", input={"prompt": "x", "num_outputs": 2}, wait=5
    )
    assert prediction.status == "succeeded"
    assert isinstance(prediction.output, list) and len(prediction.output) == 2
    response = http.post("/v1/predictions", json={"version": ACME, "input": {}}, headers={"Prefer": "wait=5"})
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=5"
    assert response.headers["location"] == response.json()["urls"]["get"]
    emu.set_timing(starting_s=0.05, processing_s=30)
    started = time.monotonic()
    response = http.post("/v1/predictions", json={"version": ACME, "input": {}}, headers={"Prefer": "wait=1"})
    assert 0.9 < time.monotonic() - started < 3
    late = response.json()
    assert late["status"] == "starting" and late["output"] is None  # past its wait: "starting"
    assert http.get(late["urls"]["get"]).json()["status"] == "processing"
    # the client sees "starting" and polls on (it would return None for "processing": #385)
    emu.set_timing(starting_s=0.05, processing_s=1.5)
    output = client.run("minimax/video-01", input={"prompt": "x"}, wait=1, use_file_output=False)
    assert isinstance(output, str) and output.endswith(".mp4")


def test_ratelimit_headers_and_limit(emu: Emulator, http: httpx.Client) -> None:
    emu.configure(create_rate_per_min=2)
    first = http.post("/v1/predictions", json={"version": ACME, "input": {}})
    assert first.headers["ratelimit-remaining"] == "1" and "ratelimit-reset" in first.headers
    http.post("/v1/predictions", json={"version": ACME, "input": {}})
    third = http.post("/v1/predictions", json={"version": ACME, "input": {}})
    assert third.status_code == 429 and int(third.headers["retry-after"]) >= 1
    assert emu.create_count == 2


# Errors


def test_401_without_token(emu: Emulator, monkeypatch: pytest.MonkeyPatch, http: httpx.Client) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(ReplicateError) as info:
        make_client(emu, token=None).predictions.get("x")
    assert info.value.status == 401
    response = httpx.get(f"{emu.url}/v1/predictions")
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "title": "Unauthenticated",
        "detail": "You did not pass a valid authentication token",
        "status": 401,
    }
    emu.configure(tokens={"good"})
    assert http.get("/v1/predictions").status_code == 401
    assert http.get("/v1/predictions", headers={"Authorization": "Token good"}).status_code == 200


def test_402_when_billing_is_off(emu: Emulator, client: Client) -> None:
    emu.configure(billing_ok=False)
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(model="minimax/video-01", input={"prompt": "x"})
    assert info.value.status == 402 and "credit" in (info.value.detail or "")
    assert emu.create_count == 0


@pytest.mark.parametrize(
    ("model", "inp", "field"),
    [
        ("black-forest-labs/flux-schnell", {}, "prompt"),
        ("black-forest-labs/flux-dev", {"prompt": "  "}, "prompt"),
        ("kwaivgi/kling-v2.1", {"prompt": "x"}, "start_image"),
        ("wan-video/wan-2.2-i2v-a14b", {"prompt": "x", "image": "cat.png"}, "image"),
        ("black-forest-labs/flux-schnell", {"prompt": "x", "num_outputs": 9}, "num_outputs"),
    ],
)
def test_422_names_the_field(client: Client, model: str, inp: dict[str, Any], field: str) -> None:
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(model=model, input=inp)
    assert info.value.status == 422 and field in (info.value.detail or "")


def test_429_with_retry_after_then_success_on_get(emu: Emulator, client: Client, http: httpx.Client) -> None:
    prediction = client.predictions.create(version=ACME, input={})
    emu.faults.fail("get", 429, retry_after=1)
    started = time.monotonic()
    assert client.predictions.get(prediction.id).id == prediction.id
    assert time.monotonic() - started >= 0.9
    assert emu.request_counts["get"] == 2
    emu.faults.fail("get", 503, nth=2)
    assert http.get(f"/v1/predictions/{prediction.id}").status_code == 200
    failed = http.get(f"/v1/predictions/{prediction.id}")
    assert failed.status_code == 503
    assert failed.headers["content-type"] == "application/problem+json"
    assert emu.faults.pending == 0


def test_injected_create_failure_is_not_retried(emu: Emulator, client: Client) -> None:
    emu.faults.fail("create", 500)
    with pytest.raises(ReplicateError) as info:
        client.predictions.create(version=ACME, input={})
    assert info.value.status == 500 and emu.create_count == 0


def test_cancel_after_aborts_before_start(emu: Emulator, client: Client) -> None:
    emu.set_timing(starting_s=0.3, processing_s=0.3)
    with httpx.Client(base_url=emu.url, headers=AUTH) as http:
        created = http.post(
            "/v1/predictions", json={"version": ACME, "input": {}}, headers={"Cancel-After": "50ms"}
        ).json()
        late = http.post(
            "/v1/predictions", json={"version": ACME, "input": {}}, headers={"Cancel-After": "0.4"}
        ).json()
        time.sleep(0.7)
        aborted = http.get(f"/v1/predictions/{created['id']}").json()
        canceled = http.get(f"/v1/predictions/{late['id']}").json()
    assert aborted["status"] == "aborted" and aborted["started_at"] is None
    assert canceled["status"] == "canceled" and canceled["started_at"] is not None
    assert emu.predictions[created["id"]].cancel_after_s == pytest.approx(0.05)
    assert emu.requests[0].headers["cancel-after"] == "50ms"
    with pytest.raises(pydantic.v1.ValidationError):
        client.predictions.get(created["id"])


def test_fail_prediction_and_abort_next(emu: Emulator, client: Client, http: httpx.Client) -> None:
    emu.faults.fail_prediction("CUDA out of memory")
    with pytest.raises(ModelError, match="CUDA out of memory"):
        client.run(ACME, input={})
    emu.set_outcome("NSFW content detected", model="minimax/")
    with pytest.raises(ModelError, match="NSFW"):
        client.run("minimax/video-01", input={"prompt": "x"})
    assert client.run(ACME, input={}, use_file_output=False)
    emu.faults.abort_next()
    created = http.post("/v1/predictions", json={"version": ACME, "input": {}}).json()
    time.sleep(0.1)
    assert http.get(f"/v1/predictions/{created['id']}").json()["status"] == "aborted"


def test_dropped_create_still_creates(emu: Emulator, client: Client) -> None:
    emu.faults.drop("create", after_effect=True)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.predictions.create(version=ACME, input={"prompt": "x"})
    assert emu.create_count == 1
    (info,) = emu.predictions.values()
    assert info.model == "acme/m"
    assert [p.id for p in client.predictions.list().results] == [info.id]
    emu.faults.drop("create", after_effect=False)
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        client.predictions.create(version=ACME, input={"prompt": "y"})
    assert emu.create_count == 1 and emu.request_counts["create"] == 2


# Files and outputs


def test_files_api(emu: Emulator, client: Client) -> None:
    upload = io.BytesIO(b"\x89PNG fake image bytes")
    upload.name = "cat.png"
    file = client.files.create(upload, metadata={"purpose": "test"})
    assert (file.name, file.content_type, file.size, file.metadata) == (
        "cat.png",
        "image/png",
        21,
        {"purpose": "test"},
    )
    assert file.urls["get"] == f"{emu.url}/v1/files/{file.id}"
    assert client.files.get(file.id).checksums == file.checksums
    assert [f.id for f in client.files.list()] == [file.id]
    output = run_model(
        client, "wan-video/wan-2.2-i2v-a14b", prompt="walk", image=file.urls["get"], num_frames=81
    )
    assert output.endswith(".mp4")
    assert client.files.delete(file.id)
    with pytest.raises(ReplicateError) as info:
        client.models.predictions.create(
            model="kwaivgi/kling-v2.1", input={"prompt": "x", "start_image": file.urls["get"]}
        )
    assert info.value.status == 422
    data_uri = "data:image/png;base64,iVBORw0KGgo="
    assert run_model(client, "kwaivgi/kling-v2.1", prompt="x", start_image=data_uri)


def test_file_input_uploaded_by_client(emu: Emulator, client: Client) -> None:
    image = io.BytesIO(b"jpeg-ish")
    image.name = "start.jpg"
    output = client.run(
        "kwaivgi/kling-v2.1", input={"prompt": "x", "start_image": image}, use_file_output=False
    )
    assert isinstance(output, str) and output.endswith(".mp4") and emu.request_counts["files"] == 1


def test_outputs_expire(emu: Emulator, client: Client) -> None:
    emu.configure(ttl_s=1.5)  # long enough to fetch it once on a busy machine
    prediction = client.predictions.create(version=ACME, input={"prompt": "x"})
    prediction.wait()
    url = str(prediction.output)
    assert httpx.get(url).status_code == 200
    time.sleep(1.6)
    assert httpx.get(url).status_code == 404
    assert client.predictions.get(prediction.id).output is None
    body = httpx.get(f"{emu.url}/v1/predictions/{prediction.id}", headers=AUTH).json()
    assert body["data_removed"] is True and body["input"] == {}


def test_truncated_download(emu: Emulator, client: Client) -> None:
    url = run_model(client, "minimax/video-01", prompt="x")
    emu.faults.truncate_download(after_bytes=1000)
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url)
    assert len(httpx.get(url).content) > 1000


def test_slow_download(emu: Emulator, client: Client) -> None:
    emu.configure(output_size_bytes=100_000)
    url = run_model(client, ACME, prompt="x")
    emu.faults.slow_download(400_000)
    started = time.monotonic()
    assert len(httpx.get(url).content) == 100_000
    assert time.monotonic() - started >= 0.2


def test_png_and_webp_outputs(client: Client) -> None:
    png = httpx.get(run_model(client, ACME, prompt="a", aspect_ratio="16:9")).content
    assert Image.open(io.BytesIO(png)).size == (512, 288)
    urls = run_model(client, "black-forest-labs/flux-schnell", prompt="a", num_outputs=2, seed=7)
    first, second = (httpx.get(u).content for u in urls)
    image = Image.open(io.BytesIO(first))
    assert (image.format, image.size) == ("WEBP", (512, 512))
    again = run_model(client, "black-forest-labs/flux-schnell", prompt="a", num_outputs=2, seed=7)
    assert httpx.get(again[0]).content == first
    other = run_model(client, "black-forest-labs/flux-schnell", prompt="b", seed=7)
    assert first != second and httpx.get(other[0]).content != first
    jpg = run_model(client, "black-forest-labs/flux-1.1-pro", prompt="a", output_format="jpg")
    assert Image.open(io.BytesIO(httpx.get(jpg).content)).format == "JPEG"


def _video(data: bytes) -> tuple[int, float, tuple[int, int]]:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        frames = len(list(container.decode(video=0)))
        assert stream.duration is not None and stream.time_base is not None
        return frames, float(stream.duration * stream.time_base), (stream.width, stream.height)


def test_mp4_outputs(client: Client) -> None:
    fox = httpx.get(run_model(client, "minimax/video-01", prompt="a fox")).content
    assert _video(fox) == (150, 6.0, (320, 180))
    cat = httpx.get(run_model(client, "minimax/video-01", prompt="a cat")).content
    assert cat != fox
    kling = run_model(client, "kwaivgi/kling-v2.1", prompt="x", start_image="https://example.com/a.png")
    frames, seconds, _ = _video(httpx.get(kling).content)
    assert frames > 1 and seconds == pytest.approx(5.0)


def test_padded_mp4_stays_valid(emu: Emulator, client: Client) -> None:
    emu.configure(output_size_bytes=3 << 20)
    url = run_model(client, "minimax/video-01", prompt="x")
    with httpx.stream("GET", url) as response:
        assert response.headers["content-length"] == str(3 << 20)
        data = b"".join(response.iter_bytes())
    assert len(data) == 3 << 20 and _video(data)[0] == 150


def test_data_uri_outputs(emu: Emulator, client: Client) -> None:
    emu.configure(output_mode="data")
    output = client.run(ACME, input={"prompt": "x"})
    assert isinstance(output, FileOutput)
    assert output.url.startswith("data:image/png;base64,")
    assert output.read().startswith(b"\x89PNG")


# Process and lifecycle


def test_stop_closes_keepalive_connections() -> None:
    before = set(threading.enumerate())
    with Emulator(starting_s=0, processing_s=0) as emu, httpx.Client(headers=AUTH) as http:
        assert http.get(f"{emu.url}/v1/predictions").status_code == 200
    assert set(threading.enumerate()) <= before


def test_cli_subprocess() -> None:
    command = [sys.executable, "-m", "arthur_gen_replicate.emulator", "--port", "0", "--quiet"]
    path = os.pathsep.join(filter(None, [str(PLUGIN_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) as process:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert f"REPLICATE_BASE_URL={url}" in process.stdout.readline() + "".join(
            process.stdout.readline() for _ in range(2)
        )
        response = httpx.post(f"{url}/v1/predictions", json={"version": ACME, "input": {}}, headers=AUTH)
        assert response.status_code == 201
        process.terminate()
        assert process.wait(timeout=10) == 0
