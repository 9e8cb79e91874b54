"""The API's behaviour, independent of HTTP: predictions, files, listing and JSON shapes."""

from __future__ import annotations

import base64
import hashlib
import mimetypes
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_to_bytes, urlencode, urlsplit

from ._faults import Faults
from ._media import MediaCache
from ._models import MODELS, Media, openapi_schema, plan_outputs, spec_for, validate, version_id
from ._state import (
    FILE_TTL_S,
    TERMINAL,
    Config,
    FileRecord,
    Prediction,
    RateLimiter,
    RequestRecord,
    iso,
    new_id,
)

_TITLES = {
    400: "Bad Request",
    401: "Unauthenticated",
    402: "Payment Required",
    404: "Not found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    422: "Input validation failed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_LOG_SIZE = 10_000


class ApiError(Exception):
    """An error answered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.headers = dict(headers or {})
        self.body = {
            "title": _TITLES.get(status, "Error"),
            "detail": detail,
            "status": status,
            **(extra or {}),
        }


class App:
    """All emulator state behind one condition variable."""

    def __init__(self, config: Config, faults: Faults, log: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.faults = faults
        self.log_line = log or _quiet
        self.base_url = ""
        self.cond = threading.Condition()
        self.stopping = False
        self.limiter = RateLimiter()
        self.media = MediaCache()
        self.create_count = 0
        self.counts: dict[str, int] = {}
        self.log: deque[RequestRecord] = deque(maxlen=_LOG_SIZE)
        self._predictions: dict[str, Prediction] = {}
        self._files: dict[str, FileRecord] = {}
        self.versions: dict[str, str] = {}
        self._seq = 0

    def record(self, method: str, path: str, endpoint: str, headers: Mapping[str, str]) -> RequestRecord:
        entry = RequestRecord(method, path, endpoint, dict(headers), time.time())
        with self.cond:
            self.counts[endpoint] = self.counts.get(endpoint, 0) + 1
            self.log.append(entry)
        return entry

    # Predictions

    def create(
        self, model: str, version: str, inp: Any, cancel_after_s: float | None, hosts: set[str]
    ) -> Prediction:
        """Validate and start a prediction (raises ApiError 402/422)."""
        if not self.config.billing_ok:
            raise ApiError(
                402,
                "You have insufficient credit to run this model. Go to "
                "https://replicate.com/account/billing#billing to purchase credit. "
                "Once you purchase credit, please wait a few minutes before trying again.",
            )
        if not isinstance(inp, dict):
            raise _invalid([("input", "required", "input is required and must be an object")])
        spec = spec_for(model)
        errors = validate(spec, inp, lambda url: self._check_url(url, hosts))
        if errors:
            raise _invalid([(f"input.{e.field}", e.type, e.description) for e in errors])
        with self.cond:
            config, now = self.config, time.time()
            starting, processing = config.timing_for(model)
            start_at = now + starting
            done_at = start_at + processing
            end_at, end_status, error = done_at, "succeeded", config.error_for(model)
            if error is not None:
                end_status = "failed"
            outcome = self.faults.take_outcome()
            if outcome is not None:
                end_status, error = outcome.status, outcome.error
                end_at = start_at if outcome.status == "aborted" else done_at
            if cancel_after_s is not None and now + cancel_after_s < end_at:
                end_at = now + cancel_after_s
                end_status, error = ("aborted" if end_at < start_at else "canceled"), None
            self._seq += 1
            prediction_id = new_id()
            shown, stored = _store_data_uris(inp, f"{self.base_url}/delivery/{prediction_id}/inputs")
            prediction = Prediction(
                seq=self._seq,
                id=prediction_id,
                model=model,
                version=version,
                input=inp,
                media=plan_outputs(model, spec, inp),
                array_output=spec.array_output,
                created=now,
                start_at=start_at,
                done_at=done_at,
                end_at=end_at,
                end_status=end_status,
                error=error,
                cancel_after_s=cancel_after_s,
                shown_input=shown,
                input_files=stored,
            )
            self._predictions[prediction.id] = prediction
            self.create_count += 1
            self.cond.notify_all()
        return prediction

    def get(self, prediction_id: str) -> Prediction:
        with self.cond:
            prediction = self._predictions.get(prediction_id)
        if prediction is None:
            raise ApiError(404, "Not found.")
        return prediction

    def cancel(self, prediction_id: str) -> Prediction:
        with self.cond:
            prediction, now = self.get(prediction_id), time.time()
            if prediction.status(now) not in TERMINAL:
                prediction = replace(prediction, end_at=now, end_status="canceled", error=None)
                self._predictions[prediction_id] = prediction
                self.cond.notify_all()
        return prediction

    def wait(self, prediction_id: str, seconds: float) -> Prediction:
        """Block until the prediction is terminal, `seconds` pass or the emulator stops."""
        deadline = time.time() + seconds
        with self.cond:
            while True:
                prediction, now = self.get(prediction_id), time.time()
                if self.stopping or now >= min(prediction.end_at, deadline):
                    return prediction
                self.cond.wait(min(prediction.end_at, deadline) - now)

    def page(
        self, cursor: str | None, after: str | None, before: str | None
    ) -> tuple[list[Prediction], str | None, str | None]:
        """One page, newest first, and the (next, previous) cursors; `after` and `before`
        are timestamps formatted like `created_at`."""
        with self.cond:
            items = [
                p
                for p in reversed(self._predictions.values())
                # created_after is inclusive ("at or after"), created_before exclusive
                if (after is None or iso(p.created) >= after) and (before is None or iso(p.created) < before)
            ]
        size = max(1, self.config.page_size)
        start = 0
        if cursor is not None:
            kind, anchor = _decode_cursor(cursor)
            if kind == "b":
                start = sum(1 for p in items if p.seq >= anchor)
            else:
                start = max(0, sum(1 for p in items if p.seq > anchor) - size)
        page = items[start : start + size]
        following = _cursor("b", page[-1].seq) if page and start + size < len(items) else None
        preceding = _cursor("a", page[0].seq) if page and start > 0 else None
        return page, following, preceding

    def snapshot(self) -> list[Prediction]:
        with self.cond:
            return list(self._predictions.values())

    def prediction_json(self, prediction: Prediction) -> dict[str, Any]:
        """The prediction as the API returns it at this moment."""
        p, now = prediction, time.time()
        status = p.status(now)
        terminal = status in TERMINAL
        removed = terminal and now >= p.end_at + self.config.ttl_s
        started = p.started(now)
        get_url = f"{self.base_url}/v1/predictions/{p.id}"
        body: dict[str, Any] = {
            "id": p.id,
            "model": p.model,
            "version": p.version,
            "input": {} if removed else dict(p.shown_input),
            "logs": "" if removed else p.logs(now),
            "output": None,
            "error": p.error if status == "failed" else None,
            "status": status,
            "created_at": iso(p.created),
            "started_at": iso(p.start_at) if started else None,
            "completed_at": iso(p.end_at) if terminal else None,
            "data_removed": removed,
            "source": "api",
            "urls": {
                "get": get_url,
                "cancel": f"{get_url}/cancel",
                "stream": f"{self.base_url}/stream/{p.id}",
                "web": f"https://replicate.com/p/{p.id}",
            },
        }
        if p.cancel_after_s is not None:
            body["deadline"] = iso(p.created + p.cancel_after_s)
        if terminal:
            body["metrics"] = {
                "predict_time": round(p.end_at - p.start_at, 6) if started else 0.0,
                "total_time": round(p.end_at - p.created, 6),
            }
        if status == "succeeded" and not removed:
            outputs = [self._output_value(p, m) for m in p.media]
            body["output"] = outputs if p.array_output else outputs[0]
        return body

    def _output_value(self, prediction: Prediction, media: Media) -> str:
        if self.config.output_mode == "data":
            encoded = base64.b64encode(self.media.get(media)).decode()
            return f"data:{media.content_type};base64,{encoded}"
        return f"{self.base_url}/delivery/{prediction.id}/{media.name}"

    def output(self, prediction_id: str, name: str) -> Media:
        """The served output file `name`, or ApiError 404 if unknown or expired."""
        with self.cond:
            prediction = self._predictions.get(prediction_id)
        now = time.time()
        if (
            prediction is not None
            and prediction.status(now) == "succeeded"
            and now < prediction.end_at + self.config.ttl_s
        ):
            for media in prediction.media:
                if media.name == name:
                    return media
        raise ApiError(404, "Not found.")

    def input_file(self, prediction_id: str, name: str) -> tuple[str, bytes]:
        """A ``data:`` input of a prediction, as stored (ApiError 404 once its data is removed)."""
        with self.cond:
            prediction = self._predictions.get(prediction_id)
        now = time.time()
        if prediction is not None and name in prediction.input_files:
            status = prediction.status(now)
            if status not in TERMINAL or now < prediction.end_at + self.config.ttl_s:
                return prediction.input_files[name]
        raise ApiError(404, "Not found.")

    # Models

    def model_json(self, model: str) -> dict[str, Any]:
        """``GET /v1/models/{owner}/{name}``: the model with its latest version."""
        spec = spec_for(model)
        owner, _, name = model.partition("/")
        version = version_id(model)
        with self.cond:
            self.versions[version] = model
        return {
            "url": f"https://replicate.com/{model}",
            "owner": owner,
            "name": name,
            "description": f"{model} (emulated)",
            "visibility": "public",
            "github_url": None,
            "paper_url": None,
            "license_url": None,
            "run_count": sum(1 for p in self.snapshot() if p.model == model),
            "cover_image_url": None,
            "default_example": None,
            "is_official": spec.official,
            "latest_version": self.version_json(model, version),
        }

    def version_json(self, model: str, version: str) -> dict[str, Any]:
        return {
            "id": version,
            "created_at": "2025-01-01T00:00:00.000000Z",
            "cog_version": "0.14.0",
            "openapi_schema": openapi_schema(spec_for(model)),
        }

    def model_of_version(self, version: str) -> str | None:
        """The model a version id belongs to: one served by the models endpoint, or a catalog model."""
        with self.cond:
            known = self.versions.get(version)
        if known is not None:
            return known
        return next((m for m in MODELS if version_id(m) == version), None)

    # Files

    def add_file(self, name: str, content_type: str, data: bytes, metadata: Mapping[str, Any]) -> FileRecord:
        with self.cond:
            self._seq += 1
            record = FileRecord(
                seq=self._seq,
                id=new_id(),
                name=name,
                content_type=content_type,
                data=data,
                metadata=metadata,
                created=time.time(),
                etag=hashlib.md5(data).hexdigest(),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            self._files[record.id] = record
        return record

    def get_file(self, file_id: str) -> FileRecord:
        with self.cond:
            record = self._files.get(file_id)
        if record is None or record.expired(time.time()):
            raise ApiError(404, "Not found.")
        return record

    def delete_file(self, file_id: str) -> None:
        with self.cond:
            self.get_file(file_id)
            del self._files[file_id]

    def files(self) -> list[FileRecord]:
        now = time.time()
        with self.cond:
            return [f for f in reversed(self._files.values()) if not f.expired(now)]

    def file_json(self, record: FileRecord) -> dict[str, Any]:
        return {
            "id": record.id,
            "name": record.name,
            "content_type": record.content_type,
            "size": len(record.data),
            "etag": record.etag,
            "checksums": {"sha256": record.sha256, "md5": record.etag},
            "metadata": dict(record.metadata),
            "created_at": iso(record.created),
            "expires_at": iso(record.created + FILE_TTL_S),
            "urls": {"get": f"{self.base_url}/v1/files/{record.id}"},
        }

    def _check_url(self, url: str, hosts: set[str]) -> str | None:
        """Inputs may point at uploaded files; other http(s) URLs are taken on trust."""
        parts = urlsplit(url)
        prefix = "/v1/files/"
        if parts.netloc not in hosts or not parts.path.startswith(prefix):
            return None
        file_id = parts.path[len(prefix) :].split("/")[0]
        try:
            self.get_file(file_id)
        except ApiError:
            return f"File {file_id} does not exist or has expired"
        return None

    def list_url(self, cursor: str, query: Mapping[str, str]) -> str:
        params = {k: v for k, v in query.items() if k in ("created_after", "created_before")}
        return f"{self.base_url}/v1/predictions?{urlencode({'cursor': cursor, **params})}"


def _store_data_uris(
    inp: Mapping[str, Any], base: str
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """The input as the API shows it, and the bytes of its ``data:`` URIs: Replicate does not
    echo data URIs back; it shows a URL of the stored file instead."""
    stored: dict[str, tuple[str, bytes]] = {}

    def replace_value(key: str, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("data:"):
            decoded = _decode_data_uri(value)
            if decoded is None:
                return value
            content_type, data = decoded
            ext = mimetypes.guess_extension(content_type) or ""
            name = f"{key}{ext}"
            stored[name] = (content_type, data)
            return f"{base}/{name}"
        if isinstance(value, list):
            return [replace_value(f"{key}-{i}", item) for i, item in enumerate(value)]
        return value

    shown = {key: replace_value(key, value) for key, value in inp.items()}
    return shown, stored


def _decode_data_uri(uri: str) -> tuple[str, bytes] | None:
    header, sep, payload = uri.partition(",")
    if not sep:
        return None
    content_type = header[5:].split(";", 1)[0] or "application/octet-stream"
    try:
        data = base64.b64decode(payload) if header.endswith(";base64") else unquote_to_bytes(payload)
    except ValueError:
        return None
    return content_type, data


def _quiet(line: str) -> None:
    """The default request logger: silent."""


def _invalid(fields: list[tuple[str, str, str]]) -> ApiError:
    detail = "".join(f"- {name}: {description}\n" for name, _, description in fields)
    invalid = [{"type": t, "field": name, "description": d} for name, t, d in fields]
    return ApiError(422, detail, extra={"invalid_fields": invalid})


def _cursor(kind: str, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, seq = raw[0], int(raw[1:])
    except (ValueError, IndexError) as exc:
        raise ApiError(400, "Invalid cursor.") from exc
    if kind not in "ab":
        raise ApiError(400, "Invalid cursor.")
    return kind, seq
