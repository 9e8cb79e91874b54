"""Reading a Replicate prediction (as a plain dict): its state, outputs and cost. Pure."""

from __future__ import annotations

import base64
import binascii
import posixpath
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from arthur_gen._backends import RemoteOutput, RemoteState, RemoteStatus
from arthur_gen._models import ModelInfo, PriceBasis

__all__ = [
    "ABORTED_MESSAGE",
    "cost_usd",
    "next_poll_s",
    "outputs_of",
    "progress_bounds",
    "started_at",
    "status_of",
    "unit_rate",
]

_STATES: Mapping[str, RemoteState] = {
    "starting": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "succeeded": RemoteState.SUCCEEDED,
    "failed": RemoteState.FAILED,
    "canceled": RemoteState.CANCELED,
    "aborted": RemoteState.CANCELED,
}

ABORTED_MESSAGE = (
    "Replicate aborted the prediction: its deadline (Cancel-After, set from the job's timeout) "
    "passed before it started, so it never ran and was not billed; run it again with a longer "
    "timeout"
)
_EXPIRED_MESSAGE = (
    "the prediction succeeded but Replicate has already deleted its output (outputs of API "
    "predictions are kept for one hour); run the request again"
)


def status_of(
    prediction: Mapping[str, Any], model: ModelInfo, *, poll_after_s: float | None = None
) -> RemoteStatus:
    """The core's view of one prediction."""
    status = str(prediction.get("status") or "")
    state = _STATES.get(status, RemoteState.RUNNING)
    outputs = outputs_of(prediction.get("output"))
    error: str | None = None
    if status == "failed":
        error = str(prediction.get("error") or "the prediction failed without an error message")
    elif status == "aborted":
        error = ABORTED_MESSAGE
    elif status == "canceled":
        error = "the prediction was canceled (by a cancel request or its Cancel-After deadline)"
    elif status == "succeeded" and not outputs:
        state = RemoteState.FAILED
        error = (
            _EXPIRED_MESSAGE
            if prediction.get("data_removed")
            else "the prediction succeeded but returned no output"
        )
    metrics = dict(prediction.get("metrics") or {})
    metrics["replicate_status"] = status
    return RemoteStatus(
        state=state,
        outputs=outputs if state is RemoteState.SUCCEEDED else (),
        error=error,
        progress=_progress(prediction),
        metrics=metrics,
        cost_usd=cost_usd(prediction, model, len(outputs)),
        poll_after_s=None if state.terminal else poll_after_s,
    )


def outputs_of(output: Any) -> tuple[RemoteOutput, ...]:
    """File outputs: a URL, a list of URLs, or a dict of them (other values are ignored)."""
    urls: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            if value.startswith(("http://", "https://", "data:")):
                urls.append(value)
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, Sequence):
            for item in value:
                walk(item)

    walk(output)
    return tuple(_output(url, index, len(urls)) for index, url in enumerate(urls))


def _output(url: str, index: int, count: int) -> RemoteOutput:
    if url.startswith("data:"):
        media_type = url[5:].split(";", 1)[0].split(",", 1)[0] or None
        import mimetypes

        ext = mimetypes.guess_extension(media_type or "") or ""
        size, sha256 = _data_digest(url)
        return RemoteOutput(
            url=url, name=f"output-{index}{ext}", media_type=media_type, size=size, sha256=sha256
        )
    name = posixpath.basename(unquote(urlsplit(url).path)) or f"output-{index}"
    import mimetypes

    media_type = mimetypes.guess_type(name)[0]
    return RemoteOutput(url=url, name=name, media_type=media_type)


def _data_digest(url: str) -> tuple[int | None, str | None]:
    """Size and sha256 of a ``data:`` URI's bytes (None if it does not decode)."""
    header, _, payload = url.partition(",")
    try:
        if header.endswith(";base64"):
            data = base64.b64decode("".join(payload.split()), validate=True)
        else:
            data = unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        return None, None
    import hashlib

    return len(data), hashlib.sha256(data).hexdigest()


def _progress(prediction: Mapping[str, Any]) -> float | None:
    if prediction.get("status") == "succeeded":
        return 1.0
    bounds = progress_bounds(prediction.get("logs"))
    return bounds[0] if bounds else None


_TQDM = re.compile(r"^\s*(\d{1,3})%\|[^|]*\|\s*(\d+)/(\d+)")
_PERCENT = re.compile(r"^\s*(\d{1,3})%\|")


def progress_bounds(logs: Any) -> tuple[float, float] | None:
    """How far the model got, from its last tqdm line: (at least, at most) as fractions.

    ``" 45%|####      | 9/20 [...]"`` means step 9 of 20 is done and the 10th is running,
    so the prediction is between 9/20 and 10/20 of the way.
    """
    if not isinstance(logs, str) or not logs:
        return None
    for line in reversed(logs.splitlines()[-20:]):
        match = _TQDM.match(line)
        if match:
            done, total = int(match[2]), int(match[3])
            if total > 0 and done <= total:
                return done / total, min(1.0, (done + 1) / total)
        match = _PERCENT.match(line)
        if match:
            percent = min(100, int(match[1]))
            return percent / 100, min(1.0, (percent + 1) / 100)
    return None


def started_at(prediction: Mapping[str, Any]) -> float | None:
    """When the prediction started running (Unix time, the service's clock), if it did."""
    value = prediction.get("started_at")
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def output_seconds(inputs: Mapping[str, Any], model: ModelInfo) -> float | None:
    """Seconds of output Replicate bills: the ``duration`` input, else frames / fps (at the
    model's billing frame rate when it has one: wan-2.2 bills "duration at 16 fps")."""
    duration = inputs.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
        return float(duration)
    frames = inputs.get("num_frames")
    fps_field = model.extra.get("fields", {}).get("fps")
    fps = inputs.get(fps_field) if fps_field else None
    if frames is None and model.option("num_frames") is not None:
        frames = model.option("num_frames").default  # type: ignore[union-attr]
    if model.extra.get("billing_fps"):
        fps = model.extra["billing_fps"]
    if fps is None:
        fps = model.default_fps
    if isinstance(frames, int | float) and isinstance(fps, int | float) and fps > 0:
        return float(frames) / float(fps)
    return model.default_duration


def _requested_outputs(inputs: Mapping[str, Any], model: ModelInfo) -> int:
    """How many images were asked for (when the outputs themselves are gone)."""
    value = inputs.get(model.outputs_option) if model.outputs_option else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def unit_rate(inputs: Mapping[str, Any], model: ModelInfo) -> float | None:
    """The price per unit for these inputs: by one input (``rates``), times a factor by
    another (``multiplier``: PixVerse bills 8 s at twice 5 s)."""
    rate: float | None = model.price.usd
    rates = model.extra.get("rates")
    if rates:
        value = inputs.get(rates["field"], rates["default"])
        found = rates["usd"].get(value, rates["usd"].get(rates["default"]))
        rate = float(found) if found is not None else model.price.usd
    multiplier = model.extra.get("multiplier")
    if multiplier and rate is not None:
        value = inputs.get(multiplier["field"], multiplier["default"])
        rate = rate * float(multiplier["factors"].get(value, 1.0))
    return rate


def cost_usd(prediction: Mapping[str, Any], model: ModelInfo, outputs: int) -> float | None:
    """What this prediction costs, from the catalog price and the prediction's own numbers.

    Predictions that never ran (``aborted``, or failed/canceled with no ``started_at``) cost
    nothing; failed and canceled ones cost nothing for per-output prices and their compute time
    for per-compute-second prices.
    ``None`` while the prediction runs, or when the price is unknown.
    """
    status = prediction.get("status")
    if status not in ("succeeded", "failed", "canceled", "aborted"):
        return None
    if status == "aborted":
        return 0.0
    price = model.price
    if price.basis is PriceBasis.FREE:
        return 0.0
    inputs: Mapping[str, Any] = prediction.get("input") or {}
    metrics: Mapping[str, Any] = prediction.get("metrics") or {}
    predict_time = metrics.get("predict_time")
    if price.basis is PriceBasis.PER_COMPUTE_SECOND:
        if status != "succeeded" and predict_time is None and not prediction.get("started_at"):
            return 0.0  # cancelled or failed before it ever started: no compute, nothing billed
        if price.usd is None or not isinstance(predict_time, int | float):
            return None
        return round(price.usd * float(predict_time), 6)
    if status != "succeeded":
        return 0.0
    rate = unit_rate(inputs, model)
    if rate is None or price.basis is PriceBasis.UNKNOWN:
        return None
    if price.basis is PriceBasis.PER_VIDEO:
        return round(rate * max(outputs, 1), 6)
    if price.basis is PriceBasis.PER_IMAGE:
        count = outputs or _requested_outputs(inputs, model)
        return round(rate * count, 6)
    if price.basis is PriceBasis.PER_OUTPUT_SECOND:
        seconds = output_seconds(inputs, model)
        return None if seconds is None else round(rate * seconds, 6)
    return None  # pragma: no cover - every basis is handled above


def next_poll_s(
    state: RemoteState, *, waited_s: float, running_s: float | None, progress_hi: float | None
) -> float:
    """Seconds until the next poll of a prediction that is not finished.

    Queued: a quarter of the time waited so far (0.25-5 s). Running: when its progress
    (``progress_hi``: the most it can have done, from tqdm) says it may be done, at the earliest;
    without progress, a tenth of its running time (0.1-5 s). Never more than 5 s apart.
    """
    if state is RemoteState.QUEUED:
        return min(5.0, max(0.25, 0.25 * waited_s))
    running = running_s if running_s is not None and running_s > 0 else waited_s
    if progress_hi is not None and progress_hi > 0 and running > 0:
        # close to the end, poll at 1% of the running time (20 ms to 1 s apart)
        floor = min(1.0, max(0.02, 0.01 * running))
        eta = running * (1.0 - progress_hi) / progress_hi
        return min(5.0, max(floor, eta))
    return min(5.0, max(0.1, 0.1 * running))
