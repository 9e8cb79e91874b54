"""Reading a Replicate prediction (as a plain dict): its state, outputs and cost. Pure."""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import posixpath
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, unquote_to_bytes, urlsplit

from arthur_gen._backends import RemoteOutput, RemoteState, RemoteStatus
from arthur_gen._models import ModelInfo, PriceBasis

__all__ = ["ABORTED_MESSAGE", "cost_usd", "outputs_of", "status_of"]

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
        ext = mimetypes.guess_extension(media_type or "") or ""
        size, sha256 = _data_digest(url)
        return RemoteOutput(
            url=url, name=f"output-{index}{ext}", media_type=media_type, size=size, sha256=sha256
        )
    name = posixpath.basename(unquote(urlsplit(url).path)) or f"output-{index}"
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
    return len(data), hashlib.sha256(data).hexdigest()


def _progress(prediction: Mapping[str, Any]) -> float | None:
    status = prediction.get("status")
    if status == "succeeded":
        return 1.0
    logs = prediction.get("logs")
    if not isinstance(logs, str):
        return None
    # tqdm lines: " 45%|####      | 9/20 [...]"
    for line in reversed(logs.splitlines()):
        head, sep, _ = line.strip().partition("%|")
        if sep and head.isdigit():
            return min(1.0, int(head) / 100)
    return None


def _output_seconds(inputs: Mapping[str, Any], model: ModelInfo) -> float | None:
    duration = inputs.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool) and duration > 0:
        return float(duration)
    frames = inputs.get("num_frames")
    fps_field = model.extra.get("fields", {}).get("fps")
    fps = inputs.get(fps_field) if fps_field else None
    if frames is None and model.option("num_frames") is not None:
        frames = model.option("num_frames").default  # type: ignore[union-attr]
    if fps is None:
        fps = model.default_fps
    if isinstance(frames, int | float) and isinstance(fps, int | float) and fps > 0:
        return float(frames) / float(fps)
    return model.default_duration


def _requested_outputs(inputs: Mapping[str, Any], model: ModelInfo) -> int:
    """How many images were asked for (when the outputs themselves are gone)."""
    value = inputs.get(model.outputs_option) if model.outputs_option else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def _rate(inputs: Mapping[str, Any], model: ModelInfo) -> float | None:
    rates = model.extra.get("rates")
    if rates:
        value = inputs.get(rates["field"], rates["default"])
        rate = rates["usd"].get(value, rates["usd"].get(rates["default"]))
        return float(rate) if rate is not None else model.price.usd
    return model.price.usd


def cost_usd(prediction: Mapping[str, Any], model: ModelInfo, outputs: int) -> float | None:
    """What this prediction costs, from the catalog price and the prediction's own numbers.

    Predictions that never ran (``aborted``) cost nothing; failed and canceled ones cost
    nothing for per-output prices and their compute time for per-compute-second prices.
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
        if price.usd is None or not isinstance(predict_time, int | float):
            return None
        return round(price.usd * float(predict_time), 6)
    if status != "succeeded":
        return 0.0
    rate = _rate(inputs, model)
    if rate is None or price.basis is PriceBasis.UNKNOWN:
        return None
    if price.basis is PriceBasis.PER_VIDEO:
        return round(rate * max(outputs, 1), 6)
    if price.basis is PriceBasis.PER_IMAGE:
        count = outputs or _requested_outputs(inputs, model)
        return round(rate * count, 6)
    if price.basis is PriceBasis.PER_OUTPUT_SECOND:
        seconds = _output_seconds(inputs, model)
        return None if seconds is None else round(rate * seconds, 6)
    return None  # pragma: no cover - every basis is handled above
