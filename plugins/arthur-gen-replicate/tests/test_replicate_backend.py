"""Jobs through the core API, the real `replicate` client and real HTTP to the emulator."""

from __future__ import annotations

import asyncio
import io
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from arthur_gen_replicate.emulator import Emulator
from PIL import Image

import arthur_gen
from arthur_gen.errors import JobCanceledError, JobTimeoutError, UnknownPriceError

Rows = Callable[[], list[dict[str, Any]]]


def png(path: Path, size: tuple[int, int] = (64, 48), noise: bool = False) -> Path:
    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)) if noise else None
    (image or Image.new("RGB", size, (200, 80, 20))).save(path, format="PNG")
    return path


def creates(emu: Emulator) -> list[Any]:
    return [p.json for p in emu.predictions.values()]


def test_text_to_video_with_the_default_model(emu: Emulator, rows: Rows, token: str) -> None:
    result = arthur_gen.generate_video("a cat surfing a wave", backend="replicate", timeout=30)
    (path,) = result.paths
    assert path.read_bytes()[4:8] == b"ftyp"  # an MP4
    assert result.model == "minimax/video-01"
    assert result.cost_usd == 0.5 and result.cost_source == "metrics"
    assert emu.create_count == 1
    (create,) = [r for r in emu.requests if r.endpoint == "create"]
    assert create.path == "/v1/models/minimax/video-01/predictions"
    assert create.headers["cancel-after"] == "30s"
    assert create.headers["authorization"] == f"Bearer {token}"
    (prediction,) = creates(emu)
    assert prediction["input"] == {"prompt": "a cat surfing a wave"}
    (row,) = rows()
    assert row["state"] == "saved" and row["remote_id"] == prediction["id"]
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["remote_id"] == prediction["id"] and sidecar["cost_usd"] == 0.5


def test_small_first_frame_goes_inline_large_one_is_uploaded(emu: Emulator, tmp_path: Path) -> None:
    small = png(tmp_path / "small.png")
    big = png(tmp_path / "big.png", (400, 300), noise=True)
    assert small.stat().st_size < 256 * 1024 < big.stat().st_size
    arthur_gen.generate_video("zoom in", backend="replicate", first_frame=small)
    arthur_gen.generate_video("zoom out", backend="replicate", first_frame=big)
    first, second = creates(emu)
    (sent, _) = [p.sent_input for p in emu.predictions.values()]
    assert str(sent["first_frame_image"]).startswith("data:image/png;base64,")
    shown = str(first["input"]["first_frame_image"])  # data URIs are not echoed back
    assert shown.startswith(f"{emu.url}/delivery/{first['id']}/inputs/")
    assert httpx.get(shown, headers={"Authorization": "Bearer x"}).content == small.read_bytes()
    uploaded = str(second["input"]["first_frame_image"])
    assert uploaded.startswith(f"{emu.url}/v1/files/")
    assert emu.request_counts["files"] == 1


def test_urls_pass_through(emu: Emulator) -> None:
    url = "https://example.com/frame.png"
    arthur_gen.generate_video("pan", backend="replicate", model="kling", first_frame=url)
    (prediction,) = creates(emu)
    assert prediction["input"] == {"prompt": "pan", "start_image": url}
    assert prediction["model"] == "kwaivgi/kling-v2.1"
    assert "files" not in emu.request_counts


def test_image_then_video_keeps_lineage(emu: Emulator) -> None:
    image = arthur_gen.generate_image("a lighthouse", backend="replicate", seed=7, options={"num_outputs": 3})
    assert len(image.paths) == 3 and image.cost_usd == pytest.approx(0.009)
    assert len({p.read_bytes() for p in image.paths}) == 3
    video = arthur_gen.generate_video(
        "waves roll in", backend="replicate", model="kwaivgi/kling-v2.1", first_frame=image
    )
    assert image.job_id in video.parents
    assert video.cost_usd == pytest.approx(0.25)  # 5 s standard
    flux, _kling = creates(emu)
    assert flux["input"] == {"prompt": "a lighthouse", "seed": 7, "num_outputs": 3}


def test_custom_size_and_pinned_version(emu: Emulator) -> None:
    arthur_gen.generate_image("a poster", backend="replicate", model="flux-1.1-pro", width=1024, height=768)
    version = "c" * 64
    arthur_gen.generate_image(
        "generic",
        backend="replicate",
        model=f"acme/painter:{version}",
        options={"steps": 3},
        allow_unknown_price=True,
    )
    pro, pinned = creates(emu)
    assert pro["input"]["aspect_ratio"] == "custom"
    assert pinned["model"] == "acme/painter" and pinned["version"] == version
    assert pinned["input"] == {"prompt": "generic", "steps": 3}
    paths = [r.path for r in emu.requests if r.endpoint == "create"]
    assert paths[-1] == "/v1/predictions"


def test_unknown_price_is_refused_before_anything_is_sent(emu: Emulator) -> None:
    with pytest.raises(UnknownPriceError):
        arthur_gen.generate_video("x", backend="replicate", model="acme/new-video")
    assert emu.create_count == 0
    result = arthur_gen.generate_video(
        "x", backend="replicate", model="acme/new-video", allow_unknown_price=True
    )
    assert result.cost_usd is None or result.cost_source == "estimate"


def test_data_uri_outputs_are_decoded(emu: Emulator) -> None:
    emu.configure(output_mode="data")
    result = arthur_gen.generate_image("dots", backend="replicate", seed=1)
    (path,) = result.paths
    assert path.suffix == ".webp" and path.read_bytes()[:4] == b"RIFF"
    assert "download" not in emu.request_counts


def test_dry_run_shows_what_would_be_sent(emu: Emulator, tmp_path: Path, token: str) -> None:
    frame = png(tmp_path / "f.png")
    plan = arthur_gen.plan("video", "hello", backend="replicate", model="hailuo-02", first_frame=frame)
    shown = plan.to_dict()
    sent = shown["would_send"]
    assert sent["endpoint"] == "POST /v1/models/minimax/hailuo-02/predictions"
    assert sent["input"]["prompt"] == "hello"
    assert "data: URI" in sent["input"]["first_frame_image"]
    assert shown["estimate"]["usd"] == pytest.approx(0.54)
    assert token not in json.dumps(shown)
    assert emu.create_count == 0


def test_many_jobs_at_once_through_the_async_api(emu: Emulator, rows: Rows) -> None:
    emu.set_timing(0.05, 0.3)

    async def main() -> list[arthur_gen.GeneratedVideo]:
        return await asyncio.gather(
            *(arthur_gen.agenerate_video(f"clip {i}", backend="replicate", timeout=30) for i in range(12))
        )

    results = asyncio.run(main())
    assert len({r.job_id for r in results}) == 12
    assert emu.create_count == 12
    assert all(row["state"] == "saved" for row in rows())


def test_cancel_event_cancels_the_prediction(emu: Emulator, rows: Rows) -> None:
    emu.set_timing(0.05, 30)
    cancel = threading.Event()
    timer = threading.Timer(0.5, cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(JobCanceledError):
        arthur_gen.generate_video("long", backend="replicate", cancel_event=cancel)
    timer.join()
    assert time.monotonic() - started < 10
    (prediction,) = emu.predictions.values()
    assert prediction.status == "canceled"
    assert emu.request_counts["cancel"] == 1
    (row,) = rows()
    assert row["state"] == "canceled"


def test_deadline_cancels_the_prediction(emu: Emulator, rows: Rows) -> None:
    emu.set_timing(0.05, 60)
    started = time.monotonic()
    with pytest.raises(JobTimeoutError):
        arthur_gen.generate_video("too long", backend="replicate", timeout=2)
    assert time.monotonic() - started < 6
    (prediction,) = emu.predictions.values()
    assert prediction.status == "canceled"
    assert prediction.cancel_after_s == 5  # Cancel-After is at least 5 s
    (row,) = rows()
    assert row["state"] == "canceled" and "deadline" in row["error"]


def test_progress_events_are_reported(emu: Emulator) -> None:
    emu.set_timing(0.05, 1.0)
    seen: list[str] = []
    arthur_gen.generate_video(
        "steps", backend="replicate", on_progress=lambda event: seen.append(event.phase)
    )
    assert "submitted" in seen and "step" in seen and "downloading" in seen


def test_image_bytes_are_real_images(emu: Emulator) -> None:
    result = arthur_gen.generate_image(
        "a red square", backend="replicate", model="flux-dev", options={"output_format": "png"}
    )
    (path,) = result.paths
    with Image.open(io.BytesIO(path.read_bytes())) as image:
        assert image.format == "PNG"
