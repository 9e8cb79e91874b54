"""Every emulator fault ends within its deadline with a clear error or a success, and leaves
the store consistent. The real client, real HTTP, no mocks."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen.errors import (
    AuthenticationError,
    BillingError,
    DownloadError,
    GenerationError,
    InvalidRequestError,
    JobCanceledError,
    JobTimeoutError,
    SubmitUncertainError,
    UnknownModelError,
)

Rows = Callable[[], list[dict[str, Any]]]


@contextmanager
def within(seconds: float) -> Iterator[None]:
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took < seconds, f"took {took:.1f}s, more than {seconds}s"


def video(**kwargs: Any) -> arthur_gen.GeneratedVideo:
    kwargs.setdefault("timeout", 20)
    return arthur_gen.generate_video("a fault test", backend="replicate", **kwargs)


def only_row(rows: Rows) -> dict[str, Any]:
    (row,) = rows()
    return row


# --------------------------------------------------------------------- refused creates


def test_401_says_the_token_is_invalid(emu: Emulator, rows: Rows, token: str) -> None:
    emu.configure(tokens=["r8_the_only_good_token"])
    with within(5), pytest.raises(AuthenticationError) as caught:
        video()
    message = str(caught.value)
    assert "invalid" in message and "https://replicate.com/account/api-tokens" in message
    assert token not in message
    assert emu.create_count == 0
    row = only_row(rows)
    assert row["state"] == "failed" and row["cost_usd"] == 0.0 and row["remote_id"] is None


def test_402_says_billing_must_be_set_up(emu: Emulator, rows: Rows) -> None:
    emu.configure(billing_ok=False)
    with within(5), pytest.raises(BillingError, match=r"replicate\.com/account/billing"):
        video()
    assert emu.create_count == 0
    assert only_row(rows)["state"] == "failed"


def test_404_names_the_model(emu: Emulator, rows: Rows) -> None:
    emu.faults.fail("create", 404)
    with within(5), pytest.raises(UnknownModelError, match="minimax/video-01"):
        video()
    assert only_row(rows)["state"] == "failed"


def test_422_passes_replicates_detail_on(emu: Emulator, rows: Rows) -> None:
    # A pinned version is not checked locally; the emulator's kling schema wants start_image.
    model = "kwaivgi/kling-v2.1:" + "d" * 64
    with within(5), pytest.raises(InvalidRequestError, match="start_image"):
        video(model=model, allow_unknown_price=True)
    assert emu.create_count == 0
    assert only_row(rows)["state"] == "failed"


def test_429_on_create_past_the_deadline_is_not_retried(emu: Emulator, rows: Rows) -> None:
    # A 429 created nothing; a Retry-After past the job's deadline is not waited for.
    emu.faults.fail("create", 429, retry_after=30)
    with within(5), pytest.raises(GenerationError, match="rate-limiting"):
        video(timeout=5)
    assert emu.request_counts["create"] == 1 and emu.create_count == 0
    assert only_row(rows)["state"] == "failed" and only_row(rows)["cost_usd"] in (0, None)


# --------------------------------------------------------------------- flaky reads


def test_429_on_get_honours_retry_after(emu: Emulator, rows: Rows) -> None:
    emu.faults.fail("get", 429, retry_after=1, times=2)
    started = time.monotonic()
    with within(10):
        result = video()
    assert time.monotonic() - started >= 2  # waited as asked
    assert result.paths and emu.create_count == 1
    assert only_row(rows)["state"] == "saved"


def test_429_longer_than_the_deadline_ends_at_the_deadline(emu: Emulator, rows: Rows) -> None:
    emu.set_timing(0.05, 60)
    emu.faults.fail("get", 429, retry_after=120, times=None)
    with within(9), pytest.raises(JobTimeoutError):
        video(timeout=4)
    emu.faults.clear()
    row = only_row(rows)
    assert row["state"] == "canceled"
    assert emu.predictions[row["remote_id"]].status == "canceled"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_on_get_is_retried(emu: Emulator, rows: Rows, status: int) -> None:
    emu.faults.fail("get", status, times=3)
    with within(10):
        result = video()
    assert result.paths and emu.create_count == 1
    assert emu.request_counts["get"] >= 4
    assert only_row(rows)["state"] == "saved"


def test_5xx_forever_ends_at_the_deadline(emu: Emulator, rows: Rows) -> None:
    emu.set_timing(0.05, 60)
    emu.faults.fail("get", 500, times=None)
    with within(9), pytest.raises(JobTimeoutError):
        video(timeout=3)
    emu.faults.clear()
    row = only_row(rows)
    assert row["state"] == "canceled"
    assert emu.predictions[row["remote_id"]].status == "canceled"


# --------------------------------------------------------------------- uncertain creates


def test_dropped_create_is_reconciled_without_a_second_create(emu: Emulator, rows: Rows) -> None:
    emu.faults.drop("create", after_effect=True)
    with within(10):
        result = video()
    assert result.paths
    assert emu.create_count == 1 and emu.request_counts["create"] == 1
    assert emu.request_counts["list"] >= 1
    row = only_row(rows)
    assert row["state"] == "saved" and row["submit_count"] == 1
    assert row["remote_id"] == next(iter(emu.predictions))
    assert row["cost_usd"] == 0.5


def test_create_lost_before_it_took_effect_is_resubmitted_once(emu: Emulator, rows: Rows) -> None:
    emu.faults.drop("create", after_effect=False)
    with within(10), pytest.raises(SubmitUncertainError, match="resume"):
        video()
    assert emu.create_count == 0
    assert only_row(rows)["state"] == "uncertain"
    with within(10):
        outcomes = arthur_gen.resume()
    ((job_id, result),) = outcomes
    assert isinstance(result, arthur_gen.GeneratedVideo), result
    assert emu.create_count == 1
    row = only_row(rows)
    assert row["state"] == "saved" and row["id"] == job_id


def test_uncertain_create_with_matching_uploads_is_found(emu: Emulator, rows: Rows, tmp_path: Path) -> None:
    from PIL import Image

    frame = tmp_path / "frame.png"
    Image.new("RGB", (32, 32), "blue").save(frame)
    emu.faults.drop("create", after_effect=True)
    with within(10):
        video(model="hailuo-02", first_frame=frame, duration=10, resolution="768p")
    assert emu.create_count == 1
    assert only_row(rows)["cost_usd"] == pytest.approx(0.45)


def test_reconcile_ignores_other_predictions(emu: Emulator, rows: Rows) -> None:
    # Another prediction of the same model with a different prompt, made just before.
    arthur_gen.generate_video("something else", backend="replicate")
    emu.faults.drop("create", after_effect=True)
    video()
    assert emu.create_count == 2
    first, second = rows()
    assert first["remote_id"] != second["remote_id"]


# --------------------------------------------------------------------- bad outcomes


def test_aborted_prediction_is_not_billed(emu: Emulator, rows: Rows) -> None:
    emu.faults.abort_next()
    with within(5), pytest.raises(JobCanceledError) as caught:
        video()
    assert "before it started" in str(caught.value) and "not billed" in str(caught.value)
    row = only_row(rows)
    assert row["state"] == "canceled" and row["cost_usd"] == 0


def test_failed_prediction_reports_the_models_error(emu: Emulator, rows: Rows) -> None:
    emu.faults.fail_prediction("CUDA out of memory (injected)")
    with within(5), pytest.raises(GenerationError, match="CUDA out of memory"):
        video()
    row = only_row(rows)
    assert row["state"] == "failed" and row["cost_usd"] == 0


def test_output_deleted_before_the_poll_saw_it(emu: Emulator, rows: Rows) -> None:
    emu.configure(ttl_s=0.0)
    with within(5), pytest.raises(GenerationError, match="one hour"):
        video()
    assert only_row(rows)["state"] == "failed"


def test_expired_output_url(emu: Emulator, rows: Rows) -> None:
    emu.faults.fail("download", 404, times=None)
    with within(10), pytest.raises(DownloadError, match="an hour") as caught:
        video()
    assert "is lost" in str(caught.value) and "paid" in str(caught.value)
    emu.faults.clear()
    row = only_row(rows)
    # paid for, output gone after the retries: lost (not in flight forever), cost recorded once
    assert row["state"] == "failed" and row["cost_usd"] == 0.5 and row["outputs"] == "[]"
    assert "is lost" in row["error"]
    assert arthur_gen.resume() == []


def test_slow_download_stops_at_the_deadline(emu: Emulator, rows: Rows) -> None:
    emu.configure(output_size_bytes=4_000_000)
    emu.faults.slow_download(200_000)
    with within(8), pytest.raises(DownloadError, match="deadline"):
        video(timeout=3)
    emu.faults.clear()
    row = only_row(rows)
    assert row["state"] == "completed" and row["outputs"] == "[]"


def test_truncated_download_is_retried(emu: Emulator, rows: Rows) -> None:
    emu.configure(output_size_bytes=2_000_000)
    emu.faults.truncate_download(50_000)
    with within(10):
        result = video()
    (path,) = result.paths
    assert path.stat().st_size >= 2_000_000  # plus the MP4 metadata record
    assert emu.request_counts["download"] == 2
    assert only_row(rows)["state"] == "saved"


def test_always_truncated_download_fails_clearly(emu: Emulator, rows: Rows) -> None:
    emu.configure(output_size_bytes=2_000_000)
    emu.faults.truncate_download(50_000, times=None)
    with within(10), pytest.raises(DownloadError, match=r"broke off|truncated"):
        video()
    emu.faults.clear()
    row = only_row(rows)
    assert row["state"] == "completed" and row["outputs"] == "[]"
    assert not list(Path(row["out_dir"]).rglob("*.mp4"))  # no partial file left behind
    # within the hour, resume fetches it
    ((_, result),) = arthur_gen.resume()
    assert isinstance(result, arthur_gen.GeneratedVideo)
    assert result.paths[0].stat().st_size >= 2_000_000  # plus the MP4 metadata record
    assert emu.create_count == 1 and only_row(rows)["cost_usd"] == 0.5


def test_download_size_cap(emu: Emulator, rows: Rows) -> None:
    from arthur_gen_replicate import ReplicateVideoBackend

    from arthur_gen._backends import RemoteContext, RemoteOutput
    from arthur_gen._secrets import Secret

    emu.configure(output_size_bytes=3_000_000)
    result = video()  # a normal job, then fetch its URL again through a capped backend
    url = emu.predictions[result.remote_id or ""].json["output"]
    backend = ReplicateVideoBackend(max_download_bytes=1_000_000)
    ctx = RemoteContext(job_id="x", key=Secret("r8_x"), timeout_s=10)
    with open(os.devnull, "wb") as sink, pytest.raises(DownloadError, match="cap"):
        backend.download(RemoteOutput(url=str(url)), sink, ctx)
