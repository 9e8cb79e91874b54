"""The emulator's HTTP server: state in memory, parts hashed (never kept)."""

from __future__ import annotations

import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Emulator"]

PART_BYTES = 4 * 1024 * 1024  # LinkedIn splits uploads in 4 MiB parts


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    @property
    def emu(self) -> Emulator:
        return self.server.emulator

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _rest_checks(self) -> bool:
        if self.headers.get("Authorization") != f"Bearer {self.emu.token}" or self.emu.take("401"):
            self._body()
            self._send(
                401,
                {
                    "status": 401,
                    "serviceErrorCode": 65600,
                    "code": "INVALID_ACCESS_TOKEN",
                    "message": "Invalid access token",
                },
            )
            return False
        version = self.headers.get("LinkedIn-Version", "")
        if version not in self.emu.active_versions:
            self._body()
            self._send(
                426,
                {
                    "status": 426,
                    "code": "NONEXISTENT_VERSION",
                    "message": f"Requested version {version} is not active",
                },
            )
            return False
        if self.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            self._body()
            self._send(400, {"status": 400, "message": "X-Restli-Protocol-Version 2.0.0 required"})
            return False
        if self.emu.take("429"):
            self._body()
            self._send(429, {"status": 429, "message": "Too many requests"}, {"Retry-After": "0"})
            return False
        return True

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/oauth/v2/accessToken":
            form = dict(urllib.parse.parse_qsl(self._body().decode()))
            if form.get("client_secret") != self.emu.client_secret:
                return self._send(401, {"error": "invalid_client"})
            if form.get("grant_type") == "refresh_token":
                if not self.emu.refresh_token or form.get("refresh_token") != self.emu.refresh_token:
                    return self._send(400, {"error": "invalid_request", "error_description": "bad refresh"})
                with self.emu.lock:
                    self.emu.token = "AQV-emu-" + secrets.token_hex(16)
                    self.emu.refreshes += 1
                return self._send(200, self.emu.token_answer())
            if form.get("code") in self.emu.codes:
                self.emu.codes.discard(form["code"])
                return self._send(200, self.emu.token_answer())
            return self._send(400, {"error": "invalid_request"})
        if url.path == "/_emulator/faults":
            self.emu.add_fault(json.loads(self._body())["kind"])
            return self._send(200, {})
        if not self._rest_checks():
            return None
        data = json.loads(self._body() or b"{}")
        if url.path == "/rest/videos" and query.get("action") == "initializeUpload":
            return self._initialize(data["initializeUploadRequest"])
        if url.path == "/rest/videos" and query.get("action") == "finalizeUpload":
            return self._finalize(data["finalizeUploadRequest"])
        if url.path == "/rest/posts":
            return self._create_post(data)
        return self._send(404, {"message": f"no route {url.path}"})

    def _initialize(self, req: dict[str, Any]) -> None:
        size = int(req["fileSizeBytes"])
        vid = f"urn:li:video:C{secrets.token_hex(6)}"
        expired = self.emu.take("expire-urls")
        expires = time.time() - 1 if expired else time.time() + 3600
        parts = []
        for i, first in enumerate(range(0, size, self.emu.part_bytes)):
            last = min(first + self.emu.part_bytes, size) - 1
            parts.append(
                {"uploadUrl": f"{self.emu.url}/upload/{vid}/{i}", "firstByte": first, "lastByte": last}
            )
        with self.emu.lock:
            self.emu.videos[vid] = {
                "size": size,
                "owner": req["owner"],
                "parts": {},
                "status": "WAITING_UPLOAD",
                "expires": expires,
            }
            self.emu.inits += 1
        self.emu.at("initialize")
        self._send(
            200,
            {
                "value": {
                    "uploadUrlsExpireAt": int(expires * 1000),
                    "video": vid,
                    "uploadInstructions": parts,
                    "uploadToken": "",
                }
            },
        )

    def do_PUT(self) -> None:
        parts = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).split("/")
        body = self._body()
        if len(parts) != 4 or parts[1] != "upload" or parts[2] not in self.emu.videos:
            return self._send(404, {"message": "no such upload"})
        video = self.emu.videos[parts[2]]
        self.emu.bytes_put += len(body)
        if video["expires"] < time.time():
            return self._send(403, {"message": "Upload URL expired"})
        if self.emu.take("part-500"):
            return self._send(500, {"message": "Internal error"})
        etag = hashlib.md5(body).hexdigest()
        video["parts"][parts[3]] = etag
        self.emu.at("part")
        self._send(200, None, {"ETag": etag})

    def _finalize(self, req: dict[str, Any]) -> None:
        video = self.emu.videos.get(req["video"])
        if video is None:
            return self._send(404, {"message": "no such video"})
        expected = [video["parts"].get(str(i)) for i in range(len(video["parts"]))]
        if req["uploadedPartIds"] != expected or None in expected:
            return self._send(400, {"message": "uploadedPartIds do not match the parts"})
        video["status"] = "PROCESSING_FAILED" if self.emu.take("processing-failed") else "PROCESSING"
        video["polls"] = 0
        self.emu.at("finalize")
        self._send(200, {})

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path == "/oauth/v2/authorization":
            code = secrets.token_hex(8)
            self.emu.codes.add(code)
            q = urllib.parse.urlencode({"code": code, "state": query.get("state", "")})
            return self._send(302, None, {"Location": f"{query['redirect_uri']}?{q}"})
        if url.path == "/v2/userinfo":
            if self.headers.get("Authorization") != f"Bearer {self.emu.token}":
                return self._send(401, {"message": "Invalid access token"})
            return self._send(200, {"sub": self.emu.member, "name": "Emulated Member"})
        if url.path == "/_emulator/state":
            return self._send(200, self.emu.snapshot())
        if not self._rest_checks():
            return None
        if url.path == "/rest/posts" and query.get("q") == "author":
            return self._find_posts(query)
        if url.path.startswith("/rest/videos/"):
            urn = urllib.parse.unquote(url.path[len("/rest/videos/") :])
            video = self.emu.videos.get(urn)
            if video is None:
                return self._send(404, {"message": "no such video"})
            if video["status"] == "PROCESSING":
                video["polls"] += 1
                if video["polls"] >= self.emu.processing_polls:
                    video["status"] = "AVAILABLE"
            self.emu.at("status")
            return self._send(200, {"id": urn, "status": video["status"]})
        return self._send(404, {"message": f"no route {url.path}"})

    def _find_posts(self, query: dict[str, str]) -> None:
        """The Posts API finder by author: 403 unless ``emu.read_posts`` (most apps may not read)."""
        if not self.emu.read_posts:
            return self._send(
                403,
                {
                    "status": 403,
                    "code": "ACCESS_DENIED",
                    "message": "Not enough permissions to access: partnerApiPostsExternal.FINDER-author",
                },
            )
        with self.emu.lock:
            mine = [p for p in reversed(self.emu.posts) if p.get("author") == query.get("author")]
        count = int(query.get("count") or 10)
        elements = [{"id": p["urn"], **{k: v for k, v in p.items() if k != "urn"}} for p in mine[:count]]
        return self._send(
            200, {"elements": elements, "paging": {"start": 0, "count": count, "total": len(mine)}}
        )

    def _create_post(self, data: dict[str, Any]) -> None:
        if self.emu.take("403"):
            return self._send(
                403, {"status": 403, "code": "ACCESS_DENIED", "message": "Not enough permissions to post"}
            )
        media = data.get("content", {}).get("media", {}).get("id")
        if self.emu.videos.get(media, {}).get("status") != "AVAILABLE":
            return self._send(400, {"message": "the video is not AVAILABLE"})
        urn = f"urn:li:share:{secrets.randbelow(10**18)}"
        with self.emu.lock:
            self.emu.posts.append({"urn": urn, **data})
        if self.emu.take("post-drop"):
            self.close_connection = True
            self.connection.close()
            return None
        self.emu.at("post")
        self._send(201, None, {"x-restli-id": urn})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client that was killed (crash tests) or hung up
        super().handle_error(request, client_address)

    emulator: Emulator


class Emulator:
    """Start with ``with Emulator() as emu:``; ``emu.url`` is the API root, ``emu.token`` a valid token."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, part_bytes: int = PART_BYTES, processing_polls: int = 2
    ) -> None:
        self.part_bytes = part_bytes
        self.processing_polls = processing_polls  # status GETs until a finalised video is AVAILABLE
        self.read_posts = False  # may the app read the author's posts (r_member_social)? most may not
        self._holds: dict[str, list[Any]] = {}
        self._release = threading.Event()
        self.lock = threading.Lock()
        self.token = "AQV-emu-" + secrets.token_hex(16)
        self.client_secret = "emu-li-secret-" + secrets.token_hex(6)
        self.member = "emuMember42"
        self.active_versions = {"202511", "202510", "202601"}
        self.videos: dict[str, dict[str, Any]] = {}
        self.posts: list[dict[str, Any]] = []
        self.faults: list[str] = []
        self.codes: set[str] = set()
        self.refresh_token = ""  # set (emu.issue_refresh_tokens()) for an app approved for refresh
        self.refreshes = 0
        self.inits = 0
        self.bytes_put = 0
        self._server = _Server((host, port), _Handler)
        self._server.emulator = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def issue_refresh_tokens(self) -> None:
        """Act as an app LinkedIn approved for programmatic refresh: sign-ins get a refresh token."""
        self.refresh_token = "AQX-emu-refresh-" + secrets.token_hex(12)

    def expire_token(self) -> None:
        """The access token in use expires: API calls with it get 401 until it is refreshed."""
        with self.lock:
            self.token = "AQV-emu-" + secrets.token_hex(16)

    def token_answer(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"access_token": self.token, "expires_in": 5183999}
        answer["scope"] = "w_member_social"
        if self.refresh_token:
            answer.update(refresh_token=self.refresh_token, refresh_token_expires_in=31535999)
        return answer

    def add_fault(self, kind: str, times: int = 1) -> None:
        with self.lock:
            self.faults.extend([kind] * times)

    def hold(self, step: str, skip: int = 0) -> threading.Event:
        """Stop answering at ``step`` for crash tests; the returned event is set when it is reached.

        Steps: ``initialize``, ``part``, ``finalize``, ``status``, ``post``. The request's effect
        has happened (the video exists, the part is stored, the post is online); only its answer
        waits, until :meth:`release` (or 60 s). ``skip`` lets that many such requests through first.
        """
        arrived = threading.Event()
        with self.lock:
            self._release.clear()
            self._holds[step] = [skip, arrived]
        return arrived

    def release(self) -> None:
        """Let every held answer go (to a client that is usually dead by then)."""
        self._release.set()

    def at(self, step: str) -> None:
        with self.lock:
            held = self._holds.get(step)
            if held is None:
                return
            if held[0] > 0:
                held[0] -= 1
                return
            del self._holds[step]
        held[1].set()
        self._release.wait(60)

    def take(self, kind: str) -> bool:
        with self.lock:
            if kind in self.faults:
                self.faults.remove(kind)
                return True
        return False

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "posts": [dict(p) for p in self.posts],
                "inits": self.inits,
                "bytes_put": self.bytes_put,
                "videos": {
                    k: {"status": v["status"], "parts": len(v["parts"])} for k, v in self.videos.items()
                },
            }

    def start(self) -> Emulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="linkedin-emulator", daemon=True
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
