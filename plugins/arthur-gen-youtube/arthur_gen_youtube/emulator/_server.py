"""The emulator's HTTP server: state in memory, uploads hashed as they stream in (never kept)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import attrs

__all__ = ["Emulator", "Fault"]

_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
_STATUS = re.compile(r"bytes \*/(\d+|\*)")


@attrs.define
class Fault:
    """One injected failure. ``on``: ``insert``, ``chunk``, ``any``; fires ``times`` times.

    ``kind``: ``401`` (token expired), ``quotaExceeded``, ``uploadLimitExceeded``,
    ``5xx-mid-chunk`` (reads half the chunk, keeps it, answers 503), ``expire-session`` (404
    from then on for that session), ``drop`` (close the connection without answering).
    """

    kind: str
    on: str = "chunk"
    times: int = 1
    after_bytes: int = 0


@attrs.define
class _Session:
    id: str
    size: int
    metadata: dict[str, Any]
    received: int = 0
    digest: Any = attrs.field(factory=hashlib.sha256)
    expired: bool = False
    video_id: str | None = None
    bytes_put: int = 0  # every body byte that arrived, re-sent ones included


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sessions: dict[str, _Session] = {}
        self.videos: dict[str, dict[str, Any]] = {}
        self.tokens: set[str] = set()
        self.refresh_tokens: set[str] = set()
        self.faults: list[Fault] = []
        self.inserts = 0
        self.refreshes = 0
        self.auth_codes: dict[str, dict[str, str]] = {}

    def take_fault(self, on: str, received: int = 0) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.on in (on, "any") and received >= fault.after_bytes:
                    fault.times -= 1
                    return fault
        return None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # helpers

    @property
    def state(self) -> _State:
        return self.server.state

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, reason: str, message: str) -> None:
        self._send(
            status,
            {
                "error": {
                    "code": status,
                    "message": message,
                    "errors": [{"reason": reason, "message": message}],
                }
            },
        )

    def _drain(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _authorized(self) -> bool:
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        fault = self.state.take_fault("auth")
        if token not in self.state.tokens or fault is not None:
            if fault is not None:
                self.state.tokens.discard(token)
            self._drain()
            self._send(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request had invalid authentication credentials.",
                        "errors": [{"reason": "authError"}],
                    }
                },
                {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
            return False
        return True

    # routing

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/token":
            return self._token()
        if url.path == "/_emulator/faults":
            data = json.loads(self._drain() or b"{}")
            with self.state.lock:
                self.state.faults.append(Fault(**data))
            return self._send(200, {"ok": True})
        if not self._authorized():
            return None
        if url.path.endswith("/youtube/v3/videos") and query.get("uploadType") == "resumable":
            return self._start_session()
        if url.path.endswith("/youtube/v3/thumbnails/set"):
            body = self._drain()
            video = self.state.videos.get(query.get("videoId", ""))
            if video is None:
                return self._error(404, "videoNotFound", "No such video")
            video["thumbnail_sha256"] = hashlib.sha256(body).hexdigest()
            self.server.emulator.at("thumbnail")
            return self._send(
                200, {"kind": "youtube#thumbnailSetResponse", "items": [{"default": {"url": "x"}}]}
            )
        self._drain()
        return self._error(404, "notFound", f"No route {url.path}")

    def _token(self) -> None:
        form = dict(urllib.parse.parse_qsl(self._drain().decode()))
        with self.state.lock:
            if (
                form.get("grant_type") == "refresh_token"
                and form.get("refresh_token") in self.state.refresh_tokens
            ):
                token = self.server.emulator.new_access_token()
                self.state.refreshes += 1
                return self._send(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
            if form.get("grant_type") == "authorization_code" and form.get("code") in self.state.auth_codes:
                grant = self.state.auth_codes.pop(form["code"])
                verifier = form.get("code_verifier", "")
                import base64

                challenge = (
                    base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                )
                if grant.get("code_challenge") and challenge != grant["code_challenge"]:
                    return self._send(
                        400, {"error": "invalid_grant", "error_description": "PKCE verifier mismatch"}
                    )
                token = self.server.emulator.new_access_token()
                refresh = "1//emu-refresh-" + secrets.token_hex(12)
                self.state.refresh_tokens.add(refresh)
                return self._send(
                    200,
                    {
                        "access_token": token,
                        "refresh_token": refresh,
                        "expires_in": 3599,
                        "token_type": "Bearer",
                        "scope": grant.get("scope", ""),
                    },
                )
        return self._send(400, {"error": "invalid_grant", "error_description": "Bad Request"})

    def _start_session(self) -> None:
        body = self._drain()
        fault = self.state.take_fault("insert")
        if fault is not None and fault.kind in ("quotaExceeded", "uploadLimitExceeded"):
            msg = (
                "The request cannot be completed because you have exceeded your quota."
                if fault.kind == "quotaExceeded"
                else "The user has exceeded the number of videos they may upload."
            )
            return self._error(403, fault.kind, msg)
        size = int(self.headers.get("X-Upload-Content-Length") or 0)
        sid = secrets.token_urlsafe(16)
        with self.state.lock:
            self.state.sessions[sid] = _Session(sid, size, json.loads(body or b"{}"))
        self.server.emulator.at("session")
        location = f"{self.server.emulator.url}/upload/youtube/v3/videos?uploadType=resumable&upload_id={sid}"
        self._send(200, None, {"Location": location, "X-GUploader-UploadID": sid})

    def do_PUT(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        session = self.state.sessions.get(query.get("upload_id", ""))
        length = int(self.headers.get("Content-Length") or 0)
        if session is None or session.expired:
            self.rfile.read(length)
            return self._error(404, "notFound", "The upload session does not exist or has expired.")
        if not self._authorized():
            return None
        content_range = self.headers.get("Content-Range", "")
        status = _STATUS.fullmatch(content_range)
        if status is not None:
            self.rfile.read(length)
            return self._progress(session)
        match = _RANGE.fullmatch(content_range)
        if match is None:
            self.rfile.read(length)
            return self._error(400, "badContent", f"Bad Content-Range {content_range!r}")
        start, end = int(match[1]), int(match[2])
        fault = self.state.take_fault("chunk", session.received)
        if fault is not None and fault.kind == "expire-session":
            session.expired = True
            self.rfile.read(length)
            return self._error(404, "notFound", "The upload session does not exist or has expired.")
        if fault is not None and fault.kind == "drop":
            self.rfile.read(length)
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        limit = length // 2 if fault is not None and fault.kind == "5xx-mid-chunk" else length
        if start > session.received:
            self.rfile.read(length)
            return self._progress(session)
        pos = start
        remaining = limit
        while remaining:
            block = self.rfile.read(min(remaining, 1 << 20))
            if not block:
                break
            remaining -= len(block)
            session.bytes_put += len(block)
            if pos + len(block) > session.received:
                new = block[session.received - pos :] if pos < session.received else block
                session.digest.update(new)
                session.received += len(new)
            pos += len(block)
        if limit < length:
            self.rfile.read(length - limit)
            return self._error(503, "backendError", "Backend Error")
        if fault is not None and fault.kind.isdigit():
            return self._error(int(fault.kind), "backendError", "Injected")
        if self.server.emulator.chunk_delay_s:
            time.sleep(self.server.emulator.chunk_delay_s)
        if session.received >= session.size and end + 1 >= session.size:
            return self._finish(session)
        self.server.emulator.at("chunk")
        self._progress(session)

    def _progress(self, session: _Session) -> None:
        if session.video_id is not None:
            return self._send(200, self.state.videos[session.video_id])
        headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
        self._send(308, None, headers)

    def _finish(self, session: _Session) -> None:
        with self.state.lock:
            if session.video_id is None:
                vid = secrets.token_urlsafe(8)[:11]
                meta = session.metadata
                snippet = dict(meta.get("snippet", {}))
                snippet.setdefault("title", "unknown")
                video = {
                    "kind": "youtube#video",
                    "id": vid,
                    "snippet": snippet,
                    "status": {**meta.get("status", {}), "uploadStatus": "uploaded"},
                    "sha256": session.digest.hexdigest(),
                    "size": session.received,
                }
                self.state.videos[vid] = video
                self.state.inserts += 1
                session.video_id = vid
        self.server.emulator.at("final")
        self._send(200, self.state.videos[session.video_id])

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/_emulator/state":
            return self._send(200, self.server.emulator.snapshot())
        if url.path == "/o/oauth2/auth":
            return self._authorize(query)
        if not self._authorized():
            return None
        if url.path.endswith("/youtube/v3/channels"):
            return self._send(
                200,
                {
                    "items": [
                        {
                            "id": "UCemulator",
                            "contentDetails": {"relatedPlaylists": {"uploads": "UUemulator"}},
                        }
                    ]
                },
            )
        if url.path.endswith("/youtube/v3/playlistItems"):
            items = [
                {
                    "snippet": {
                        "title": v["snippet"].get("title"),
                        "description": v["snippet"].get("description", ""),
                        "resourceId": {"kind": "youtube#video", "videoId": v["id"]},
                    }
                }
                for v in reversed(list(self.state.videos.values()))
            ]
            return self._send(200, {"items": items[:50]})
        if url.path.endswith("/youtube/v3/videos"):
            ids = query.get("id", "").split(",")
            return self._send(200, {"items": [self.state.videos[i] for i in ids if i in self.state.videos]})
        return self._error(404, "notFound", f"No route {url.path}")

    def _authorize(self, query: dict[str, str]) -> None:
        """The consent screen, answered at once: redirect to ``redirect_uri`` with a code."""
        redirect = query.get("redirect_uri", "")
        if not redirect.startswith(("http://127.0.0.1:", "http://localhost:", "http://[::1]:")):
            return self._send(400, {"error": "redirect_uri must be a loopback address"})
        code = "4/emu-" + secrets.token_hex(8)
        with self.state.lock:
            self.state.auth_codes[code] = {
                "code_challenge": query.get("code_challenge", ""),
                "scope": query.get("scope", ""),
            }
        target = (
            redirect
            + ("&" if "?" in redirect else "?")
            + urllib.parse.urlencode(
                {"code": code, "state": query.get("state", ""), "scope": query.get("scope", "")}
            )
        )
        self._send(302, None, {"Location": target})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that was killed (crash tests) or hung up
        super().handle_error(request, client_address)

    state: _State
    emulator: Emulator


class Emulator:
    """Start with ``with Emulator() as emu:``; ``emu.url`` is the API root."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, chunk_delay_s: float = 0.0) -> None:
        self.chunk_delay_s = chunk_delay_s  # sleep before answering each chunk (crash tests)
        self._server = _Server((host, port), _Handler)
        self._server.state = _State()
        self._server.emulator = self
        self._thread: threading.Thread | None = None
        self.refresh_token = "1//emu-refresh-" + secrets.token_hex(12)
        self._server.state.refresh_tokens.add(self.refresh_token)
        self._holds: dict[str, list[Any]] = {}
        self._release = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def state(self) -> _State:
        return self._server.state

    def new_access_token(self) -> str:
        token = "ya29.emu-" + secrets.token_hex(16)
        self._server.state.tokens.add(token)
        return token

    def hold(self, step: str, skip: int = 0) -> threading.Event:
        """Stop answering at ``step`` for crash tests; the returned event is set when it is reached.

        Steps: ``session`` (the resumable session exists), ``chunk`` (a chunk is stored),
        ``final`` (the video exists), ``thumbnail`` (it is set). Only the answer waits, until
        :meth:`release` (or 60 s). ``skip`` lets that many such requests through first.
        """
        arrived = threading.Event()
        with self.state.lock:
            self._release.clear()
            self._holds[step] = [skip, arrived]
        return arrived

    def release(self) -> None:
        """Let every held answer go (to a client that is usually dead by then)."""
        self._release.set()

    def at(self, step: str) -> None:
        with self.state.lock:
            held = self._holds.get(step)
            if held is None:
                return
            if held[0] > 0:
                held[0] -= 1
                return
            del self._holds[step]
        held[1].set()
        self._release.wait(60)

    def expire_tokens(self) -> None:
        self._server.state.tokens.clear()

    def add_fault(self, kind: str, on: str = "chunk", times: int = 1, after_bytes: int = 0) -> None:
        with self.state.lock:
            self.state.faults.append(Fault(kind, on, times, after_bytes))

    def credentials(self) -> dict[str, str]:
        """An authorized-user JSON as google-auth writes it, for this emulator."""
        return {
            "type": "authorized_user",
            "client_id": "emulator.apps.googleusercontent.com",
            "client_secret": "emu-client-secret",
            "refresh_token": self.refresh_token,
            "token_uri": f"{self.url}/token",
        }

    def client_secrets(self) -> dict[str, Any]:
        return {
            "installed": {
                "client_id": "emulator.apps.googleusercontent.com",
                "client_secret": "emu-client-secret",
                "auth_uri": f"{self.url}/o/oauth2/auth",
                "token_uri": f"{self.url}/token",
                "redirect_uris": ["http://localhost"],
            }
        }

    def write_credentials(self, folder: str | Path | None = None) -> Path:
        folder = Path(folder or tempfile.mkdtemp(prefix="yt-emu-"))
        path = folder / "authorized_user.json"
        path.write_text(json.dumps(self.credentials()))
        path.chmod(0o600)
        return path

    def snapshot(self) -> dict[str, Any]:
        with self.state.lock:
            return {
                "videos": list(self.state.videos.values()),
                "inserts": self.state.inserts,
                "refreshes": self.state.refreshes,
                "sessions": {
                    s.id: {
                        "size": s.size,
                        "received": s.received,
                        "bytes_put": s.bytes_put,
                        "video_id": s.video_id,
                    }
                    for s in self.state.sessions.values()
                },
            }

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="youtube-emulator", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
