"""The client set-up and the download path: deadlines, Retry-After, where the token goes."""

from __future__ import annotations

import base64
import hashlib
import io
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from arthur_gen_replicate import _backend
from arthur_gen_replicate._client import (
    RetryAfterBeyondDeadline,
    _retry_after_seconds,
    call_options,
    format_cancel_after,
)
from arthur_gen_replicate._download import _allowed, _trusted, download
from arthur_gen_replicate._urls import is_loopback_host, resolve_base_url
from arthur_gen_replicate.emulator import Emulator

import arthur_gen
from arthur_gen._secrets import Secret
from arthur_gen.errors import ConfigError, DownloadError


def test_cancel_after_format() -> None:
    assert format_cancel_after(1800) == "1800s"
    assert format_cancel_after(0.2) == "5s"
    assert format_cancel_after(90.1) == "91s"


def test_retry_after_forms() -> None:
    assert _retry_after_seconds("3") == 3.0
    assert _retry_after_seconds("") is None and _retry_after_seconds("soon") is None
    later = datetime.now(UTC) + timedelta(seconds=30)
    iso = _retry_after_seconds(later.isoformat())
    http_date = _retry_after_seconds(format_datetime(later, usegmt=True))
    assert iso is not None and 28 < iso <= 30
    assert http_date is not None and 27 < http_date <= 30


def test_loopback_hosts() -> None:
    for host in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"):
        assert is_loopback_host(host)
    for other in ("10.0.0.1", "example.com", "replicate.com", "", None):
        assert not is_loopback_host(other)


def test_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_BASE_URL", raising=False)
    assert resolve_base_url() == "https://api.replicate.com"
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://127.0.0.1:8787/v1/")
    assert resolve_base_url() == "http://127.0.0.1:8787"
    monkeypatch.setenv("REPLICATE_BASE_URL", "http://api.example.com")
    with pytest.raises(ConfigError):
        resolve_base_url()


def test_where_downloads_go_and_where_the_token_goes() -> None:
    real, emu = "https://api.replicate.com", "http://127.0.0.1:8787"
    assert _allowed("https://replicate.delivery/x/out.mp4", real) is None
    assert _allowed("http://replicate.delivery/x/out.mp4", real)  # plain http refused
    assert _allowed("ftp://replicate.delivery/x", real)
    assert _allowed("http://127.0.0.1:8787/delivery/a/b", real)  # loopback only for emulator
    assert _allowed("https://127.0.0.1/x", real)
    assert _allowed("http://127.0.0.1:8787/delivery/a/b", emu) is None
    assert _allowed("http://localhost:9/x", emu) is None
    assert _trusted("https://replicate.delivery/x", real)
    assert _trusted("https://pbxt.replicate.delivery/x", real)
    assert _trusted("https://api.replicate.com/v1/files/x", real)
    assert not _trusted("https://evilreplicate.delivery/x", real)
    assert not _trusted("https://cdn.example.com/x", real)
    assert _trusted("http://127.0.0.1:8787/delivery/x", emu)
    assert not _trusted("http://127.0.0.1:9999/delivery/x", emu)  # another port


class _Recorder(BaseHTTPRequestHandler):
    """A loopback server that records headers; /redirect sends the client to `target`."""

    seen: list[dict[str, str]] = []
    target = ""

    def do_GET(self) -> None:
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", type(self).target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"x" * 1000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_token_is_not_sent_to_other_hosts(emu: Emulator, recorder: str, token: str) -> None:
    key = Secret(token)
    sink = io.BytesIO()
    size, digest = download(
        f"{recorder}/file", sink, key=key, base_url=emu.url, deadline=time.monotonic() + 5
    )
    assert size == 1000 and digest == hashlib.sha256(b"x" * 1000).hexdigest()
    assert "authorization" not in _Recorder.seen[-1]
    # a redirect from a host that gets the token to one that does not
    emu.set_timing(0.01, 0.01)
    result = arthur_gen.generate_image("r", backend="replicate", seed=2)
    url = emu.predictions[result.remote_id or ""].json["output"][0]
    _Recorder.target = url
    sink = io.BytesIO()
    download(f"{recorder}/redirect", sink, key=key, base_url=emu.url, deadline=time.monotonic() + 5)
    assert sink.getvalue() == result.paths[0].read_bytes()
    assert all("authorization" not in h for h in _Recorder.seen)
    delivered = [r for r in emu.requests if r.endpoint == "download"]
    assert delivered[-1].headers["authorization"] == f"Bearer {token}"


def test_refuses_plain_http_elsewhere(token: str) -> None:
    with pytest.raises(DownloadError, match="only https"):
        download(
            "http://example.com/x.mp4",
            io.BytesIO(),
            key=Secret(token),
            base_url="https://api.replicate.com",
            deadline=time.monotonic() + 5,
        )


def test_data_uri_download_streams_and_caps() -> None:
    payload = b"\x00\x01" * 70_000
    uri = "data:video/mp4;base64," + base64.b64encode(payload).decode()
    sink = io.BytesIO()
    size, digest = download(uri, sink, key=None, base_url="", deadline=time.monotonic() + 5)
    assert sink.getvalue() == payload and size == len(payload)
    assert digest == hashlib.sha256(payload).hexdigest()
    with pytest.raises(DownloadError, match="cap"):
        download(uri, io.BytesIO(), key=None, base_url="", deadline=0, max_bytes=1000)


def test_read_never_outlives_its_deadline(emu: Emulator, token: str) -> None:
    """A Retry-After past the deadline is not slept through; the call ends at once."""
    client = _backend._shared_pool().get(Secret(token), emu.url)
    emu.faults.fail("get", 429, retry_after=60, times=None)
    started = time.monotonic()
    with call_options(deadline=time.monotonic() + 2), pytest.raises(RetryAfterBeyondDeadline):
        client._request("GET", "/v1/predictions/nope")
    assert time.monotonic() - started < 1
    emu.faults.clear()
    emu.faults.fail("get", 503, times=None)  # no Retry-After: backoff, cut at the deadline
    started = time.monotonic()
    with (
        call_options(deadline=time.monotonic() + 1.5),
        pytest.raises((RetryAfterBeyondDeadline, httpx.TimeoutException)),
    ):
        client._request("GET", "/v1/predictions/nope")
    assert time.monotonic() - started < 2
    emu.faults.clear()
