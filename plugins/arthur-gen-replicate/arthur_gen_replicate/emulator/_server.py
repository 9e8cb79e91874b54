"""HTTP layer: routing, auth, rate limits, fault injection and streaming responses."""

from __future__ import annotations

import contextlib
import hashlib
import json
import mimetypes
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import _multipart
from ._app import ApiError, App
from ._faults import Rule
from ._media import padded
from ._models import spec_for
from ._state import TERMINAL

_JSON = "application/json; charset=UTF-8"
_PROBLEM = "application/problem+json"
_MAX_BODY = 100 << 20
_UNAUTHENTICATED = "You did not pass a valid authentication token"
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_HEX_VERSION = re.compile(r"[0-9a-f]{64}")
_NO_VERSION = "- version: Invalid version or not permitted\n"


@dataclass
class Response:
    """What to send back; `chunks` with `length` streams the body."""

    status: int
    body: bytes = b""
    content_type: str = _JSON
    headers: dict[str, str] = field(default_factory=dict)
    chunks: Iterator[bytes] | None = None
    length: int = 0


@dataclass(frozen=True)
class Request:
    """A parsed request, as route handlers see it."""

    params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    hosts: set[str]


class _Dropped(Exception):
    """Close the connection without (the rest of) a response."""


Handler = Callable[[App, Request], Response]


def _json(status: int, obj: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), headers=dict(headers or {}))


def _body_json(req: Request) -> dict[str, Any]:
    try:
        obj = json.loads(req.body or b"{}")
    except ValueError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return obj


def _seconds(value: str) -> float:
    """A Cancel-After value: plain seconds or Go-style durations like 1m30s or 500ms."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        if not text or _DURATION.sub("", text):
            raise ApiError(400, f"Invalid Cancel-After header: {value!r}") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
    if seconds < 0:
        raise ApiError(400, f"Invalid Cancel-After header: {value!r}")
    return seconds


def _prefer_wait(value: str | None) -> float | None:
    for token in (value or "").split(","):
        name, _, arg = token.strip().partition("=")
        if name.strip().lower() == "wait":
            try:
                return max(0.0, min(60.0, float(arg))) if arg.strip() else 60.0
            except ValueError:
                raise ApiError(400, f"Invalid Prefer header: {value!r}") from None
    return None


def _create(app: App, req: Request, model: str, version: str, body: dict[str, Any]) -> Response:
    cancel_after = req.headers.get("cancel-after")
    deadline = None if cancel_after is None else _seconds(cancel_after)
    wait = _prefer_wait(req.headers.get("prefer"))
    prediction = app.create(model, version, body.get("input"), deadline, req.hosts)
    headers = {}
    body = app.prediction_json(prediction)
    if wait is not None:
        prediction = app.wait(prediction.id, wait)
        headers["Preference-Applied"] = f"wait={wait:g}"
        headers["Location"] = f"{app.base_url}/v1/predictions/{prediction.id}"
        body = app.prediction_json(prediction)
        if body["status"] not in TERMINAL:
            # past its wait the API answers with the prediction as "starting" (fetch it again
            # through Location or urls.get for its real state)
            body.update(status="starting", started_at=None, logs="", output=None)
    return _json(201, body, headers)


def _create_for_model(app: App, req: Request) -> Response:
    model = f"{req.params['owner']}/{req.params['name']}"
    if not spec_for(model).official:
        raise ApiError(
            404,
            f"{model} is not an official model: POST /v1/models/{{owner}}/{{name}}/predictions "
            "runs official models only; create its predictions with POST /v1/predictions and "
            "a version (GET /v1/models/{owner}/{name} gives its latest_version)",
        )
    return _create(app, req, model, "hidden", _body_json(req))


def _create_for_deployment(app: App, req: Request) -> Response:
    model = f"{req.params['owner']}/{req.params['name']}"
    version = "dp-" + hashlib.sha256(model.encode()).hexdigest()[:32]
    return _create(app, req, model, version, _body_json(req))


def _create_for_version(app: App, req: Request) -> Response:
    body = _body_json(req)
    ref = body.get("version")
    if not isinstance(ref, str) or not ref:
        raise ApiError(422, "- version: version is required\n")
    model, _, version = ref.partition(":")
    if _HEX_VERSION.fullmatch(ref):
        # a version served by GET /v1/models/{owner}/{name}, or any other 64-hex id, which
        # the emulator takes as a version of some community model (it cannot know its name)
        model, version = app.model_of_version(ref) or "emulator/generic", ref
    elif model.count("/") != 1 or "" in model.split("/"):
        raise ApiError(422, _NO_VERSION)
    elif not version and not spec_for(model).official:
        raise ApiError(422, _NO_VERSION)  # "owner/name" alone runs official models only
    return _create(app, req, model, version or "hidden", body)


def _model(app: App, req: Request) -> Response:
    return _json(200, app.model_json(f"{req.params['owner']}/{req.params['name']}"))


def _stream(app: App, req: Request) -> Response:
    """``urls.stream``: server-sent events: ``output`` per output, ``error``, then ``done``."""
    prediction = app.get(req.params["id"])

    def events() -> Iterator[bytes]:
        final = app.wait(prediction.id, 3600.0)
        body = app.prediction_json(final)
        outputs = body["output"] if isinstance(body["output"], list) else [body["output"]]
        if body["status"] == "succeeded":
            for output in outputs:
                yield f"event: output\nid: {final.id}\ndata: {output}\n\n".encode()
        elif body["status"] == "failed":
            detail = json.dumps({"detail": body["error"]})
            yield f"event: error\nid: {final.id}\ndata: {detail}\n\n".encode()
        reason = {} if body["status"] == "succeeded" else {"reason": body["status"]}
        yield f"event: done\nid: {final.id}\ndata: {json.dumps(reason)}\n\n".encode()

    return Response(200, content_type="text/event-stream", chunks=events(), length=-1)


def _download_input(app: App, req: Request) -> Response:
    content_type, data = app.input_file(req.params["id"], req.params["name"])
    return Response(200, data, content_type=content_type)


def _get(app: App, req: Request) -> Response:
    return _json(200, app.prediction_json(app.get(req.params["id"])))


def _cancel(app: App, req: Request) -> Response:
    return _json(200, app.prediction_json(app.cancel(req.params["id"])))


def _timestamp(value: str | None) -> str | None:
    """A query timestamp in the canonical form of `created_at`, so strings compare exactly."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ApiError(400, f"Invalid timestamp: {value!r}") from exc
    parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _list(app: App, req: Request) -> Response:
    page, following, preceding = app.page(
        req.query.get("cursor"),
        _timestamp(req.query.get("created_after")),
        _timestamp(req.query.get("created_before")),
    )
    return _json(
        200,
        {
            "next": following and app.list_url(following, req.query),
            "previous": preceding and app.list_url(preceding, req.query),
            "results": [app.prediction_json(p) for p in page],
        },
    )


def _upload(app: App, req: Request) -> Response:
    try:
        fields = _multipart.parse(req.body, req.headers.get("content-type", ""))
    except ValueError as exc:
        raise ApiError(400, f"Invalid multipart body: {exc}") from exc
    content = fields.get("content")
    if content is None:
        raise ApiError(422, "- content: content is required\n")
    metadata: Any = {}
    if "metadata" in fields:
        try:
            metadata = json.loads(fields["metadata"].data)
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            raise ApiError(422, "- metadata: metadata must be a JSON object\n")
    name = fields["filename"].data.decode() if "filename" in fields else content.filename
    name = name or "file"
    content_type = (
        (fields["type"].data.decode() if "type" in fields else None)
        or content.content_type
        or mimetypes.guess_type(name)[0]
        or "application/octet-stream"
    )
    record = app.add_file(name, content_type, content.data, metadata)
    return _json(201, app.file_json(record))


def _files(app: App, req: Request) -> Response:
    results = [app.file_json(f) for f in app.files()]
    return _json(200, {"next": None, "previous": None, "results": results})


def _file(app: App, req: Request) -> Response:
    return _json(200, app.file_json(app.get_file(req.params["id"])))


def _file_content(app: App, req: Request) -> Response:
    record = app.get_file(req.params["id"])
    return Response(200, record.data, content_type=record.content_type)


def _delete_file(app: App, req: Request) -> Response:
    app.delete_file(req.params["id"])
    return Response(204)


def _version(app: App, req: Request) -> Response:
    model = f"{req.params['owner']}/{req.params['name']}"
    return _json(200, app.version_json(model, req.params["id"]))


def _download(app: App, req: Request) -> Response:
    media = app.output(req.params["id"], req.params["name"])
    length, chunks = padded(app.media.get(media), media.fmt, app.config.output_size_bytes)
    return Response(200, content_type=media.content_type, chunks=chunks, length=length)


_SEGMENT = "[^/]+"
_ROUTES: list[tuple[str, re.Pattern[str], str, Handler]] = [
    (method, re.compile(pattern.replace("{", "(?P<").replace("}", f">{_SEGMENT})")), ep, fn)
    for method, pattern, ep, fn in [
        ("POST", "/v1/models/{owner}/{name}/predictions", "create", _create_for_model),
        ("POST", "/v1/deployments/{owner}/{name}/predictions", "create", _create_for_deployment),
        ("POST", "/v1/predictions", "create", _create_for_version),
        ("GET", "/v1/predictions", "list", _list),
        ("GET", "/v1/predictions/{id}", "get", _get),
        ("POST", "/v1/predictions/{id}/cancel", "cancel", _cancel),
        ("POST", "/v1/files", "files", _upload),
        ("GET", "/v1/files", "files", _files),
        ("GET", "/v1/files/{id}", "files", _file),
        ("DELETE", "/v1/files/{id}", "files", _delete_file),
        ("GET", "/v1/files/{id}/download", "files", _file_content),
        ("GET", "/v1/models/{owner}/{name}", "models", _model),
        ("GET", "/v1/models/{owner}/{name}/versions/{id}", "versions", _version),
        ("GET", "/delivery/{id}/{name}", "download", _download),
        ("GET", "/delivery/{id}/inputs/{name}", "download", _download_input),
        ("GET", "/stream/{id}", "stream", _stream),
    ]
]


def _no_route(app: App, req: Request) -> Response:
    raise ApiError(404, "Not found.")


def _not_allowed(app: App, req: Request) -> Response:
    raise ApiError(405, "Method not allowed.")


def _route(method: str, path: str) -> tuple[str, Handler, dict[str, str]]:
    """(endpoint, handler, path parameters) for a request."""
    allowed = False
    for route_method, pattern, endpoint, handler in _ROUTES:
        match = pattern.fullmatch(path.rstrip("/") or "/")
        if match and route_method == method:
            return endpoint, handler, match.groupdict()
        allowed |= bool(match)
    return "other", _not_allowed if allowed else _no_route, {}


def _token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").strip().partition(" ")
    return (token.strip() or None) if scheme.lower() in ("bearer", "token") else None


def _injected(rule: Rule) -> ApiError:
    detail = rule.detail or {
        401: _UNAUTHENTICATED,
        402: "You have insufficient credit to run this model (injected).",
        404: "Not found.",
        422: "- input: Input validation failed (injected)\n",
        429: f"Request was throttled. Your rate limit resets in ~{rule.retry_after}s.",
    }.get(rule.status, f"Injected error {rule.status}.")
    headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
    return ApiError(rule.status, detail, headers=headers)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arthur-gen-replicate-emulator"
    server: Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: requests are logged by `_handle` through the emulator's `log`."""

    def _handle(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        endpoint, handler, params = _route(self.command, split.path)
        entry = app.record(self.command, self.path, endpoint, headers)
        hosts = {headers.get("host", ""), urlsplit(app.base_url).netloc}
        extra: dict[str, str] = {}
        rule = None
        try:
            body = self._read_body()
            if endpoint != "download":
                extra = self._authorize_and_limit(app, endpoint, headers)
            rule = app.faults.take(endpoint)
            if rule and rule.action == "fail":
                raise _injected(rule)
            if rule and rule.action == "drop" and not rule.after_effect:
                raise _Dropped
            query = dict(parse_qsl(split.query))
            response = handler(app, Request(params, query, headers, body, hosts))
            if rule and rule.action == "drop":
                raise _Dropped
            if rule and rule.action == "delay":
                time.sleep(rule.delay_s)
        except _Dropped:
            self._drop()
            app.log_line(f"{self.command} {self.path} dropped")
            return
        except Exception as exc:
            err = exc if isinstance(exc, ApiError) else ApiError(500, f"Emulator error: {exc!r}")
            response = Response(err.status, json.dumps(err.body).encode(), _PROBLEM, err.headers)
        response.headers.update(extra)
        entry.status = response.status
        truncate = rule.after_bytes if rule and rule.action == "truncate" else None
        try:
            self._send(response, truncate)
        except (_Dropped, OSError):
            self._drop()
        app.log_line(f"{self.command} {self.path} {response.status}")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts, total = [], 0
            while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
                total += size
                if total > _MAX_BODY:
                    self.close_connection = True
                    raise ApiError(413, "Request body is larger than 100 MiB.")
                parts.append(self.rfile.read(size))
                self.rfile.readline(1024)
            while self.rfile.readline(1024).strip():
                pass
            return b"".join(parts)
        length = int(self.headers.get("content-length") or 0)
        if length > _MAX_BODY:
            self.close_connection = True
            raise ApiError(413, "Request body is larger than 100 MiB.")
        return self.rfile.read(length)

    def _authorize_and_limit(self, app: App, endpoint: str, headers: Mapping[str, str]) -> dict[str, str]:
        config, token = app.config, _token(headers.get("authorization"))
        if token is None or (config.tokens is not None and token not in config.tokens):
            raise ApiError(401, _UNAUTHENTICATED)
        kind = "create" if endpoint == "create" else "other"
        per_min = config.create_rate_per_min if kind == "create" else config.rate_per_min
        with app.cond:
            allowed, remaining, reset = app.limiter.take((token, kind), per_min, time.time())
        headers = {"ratelimit-remaining": str(remaining), "ratelimit-reset": str(reset)}
        if not allowed:
            detail = f"Request was throttled. Your rate limit resets in ~{reset}s."
            raise ApiError(429, detail, headers={**headers, "Retry-After": str(reset)})
        return headers

    def _send(self, response: Response, truncate: int | None) -> None:
        self.send_response(response.status)
        chunked = response.chunks is not None and response.length < 0
        if response.status != 204:
            length = response.length if response.chunks is not None else len(response.body)
            self.send_header("Content-Type", response.content_type)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.send_header("Cache-Control", "no-cache")
            else:
                self.send_header("Content-Length", str(length))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if response.chunks is None:
            self.wfile.write(response.body)
            return
        if chunked:
            for chunk in response.chunks:
                self._write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self._write(b"0\r\n\r\n")
            return
        sent = 0
        for chunk in response.chunks:
            if truncate is not None and sent + len(chunk) >= truncate:
                self._write(chunk[: truncate - sent])
                raise _Dropped
            self._write(chunk)
            sent += len(chunk)

    def _write(self, chunk: bytes) -> None:
        app = self.server.app
        view = memoryview(chunk)
        while view:
            rate = app.faults.bytes_per_s
            piece = view if not rate else view[: max(1, int(rate / 20))]
            if app.stopping:
                raise _Dropped
            self.wfile.write(piece)
            if rate:
                time.sleep(len(piece) / rate)
            view = view[len(piece) :]

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its keep-alive connections and join them."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._active: dict[threading.Thread, socket.socket] = {}
        self._active_lock = threading.Lock()

    def process_request(
        self, request: socket.socket | tuple[bytes, socket.socket], client_address: Any
    ) -> None:
        assert isinstance(request, socket.socket)
        thread = threading.Thread(target=self._serve_connection, args=(request, client_address), daemon=True)
        with self._active_lock:
            self._active[thread] = request
        thread.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._active_lock:
                self._active.pop(threading.current_thread(), None)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Shut every open connection down and wait for its thread."""
        with self._active_lock:
            active = dict(self._active)
        for sock in active.values():
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in active:
            thread.join(timeout)
