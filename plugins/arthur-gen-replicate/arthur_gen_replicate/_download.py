"""Streaming an output to a file: constant memory, size-capped, deadline-bound.

Imports ``httpx``; the backend imports this module only when it downloads.

Rules:

- ``data:`` URIs are decoded locally, in chunks.
- Only ``https`` URLs are fetched, except loopback addresses when the API's own base URL is
  loopback (the local emulator).
- The API token goes only to Replicate's hosts (``api.replicate.com``, ``replicate.delivery``
  and its subdomains) or to the emulator's own host and port. Redirects are followed by hand
  (at most five) so every hop passes the same checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
import time
from typing import BinaryIO
from urllib.parse import unquote_to_bytes, urljoin, urlsplit

import httpx

from arthur_gen._secrets import Secret, redact
from arthur_gen.errors import DownloadError

from ._urls import is_loopback_host

__all__ = ["DEFAULT_MAX_BYTES", "download"]

DEFAULT_MAX_BYTES = 2 * 1024**3
_REPLICATE_HOSTS = ("api.replicate.com", "replicate.delivery")
_MAX_REDIRECTS = 5
_lock = threading.Lock()
_http: httpx.Client | None = None


def _client() -> httpx.Client:
    """One pooled client for downloads (no default auth; redirects followed by hand)."""
    global _http
    with _lock:
        if _http is None:
            _http = httpx.Client(
                timeout=httpx.Timeout(30.0, connect=10.0),
                follow_redirects=False,
                trust_env=False,
                limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
            )
        return _http


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def _trusted(url: str, base_url: str) -> bool:
    """Whether the token may be sent to ``url``."""
    scheme, host, port = _origin(url)
    if scheme == "https" and any(host == name or host.endswith("." + name) for name in _REPLICATE_HOSTS):
        return True
    return (scheme, host, port) == _origin(base_url)


def _allowed(url: str, base_url: str) -> str | None:
    """None if ``url`` may be fetched, else why not."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        if is_loopback_host(parts.hostname) and not is_loopback_host(urlsplit(base_url).hostname):
            return "it points at this machine but the API is not the local emulator"
        return None
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        if is_loopback_host(urlsplit(base_url).hostname):
            return None
        return "plain http is only fetched from the local emulator"
    return "only https URLs are fetched"


def _short(url: str) -> str:
    return url if len(url) <= 120 else url[:117] + "..."


def download(
    url: str,
    dest: BinaryIO,
    *,
    key: Secret | None,
    base_url: str,
    deadline: float,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[int, str]:
    """Write the output at ``url`` into ``dest``; return (bytes written, sha256 hex)."""
    if url.startswith("data:"):
        return _data_uri(url, dest, max_bytes)
    digest = hashlib.sha256()
    written = 0
    current = url
    http = _client()
    for _ in range(_MAX_REDIRECTS + 1):
        problem = _allowed(current, base_url)
        if problem:
            raise DownloadError(f"refusing to download {_short(current)}: {problem}")
        headers = {"Accept-Encoding": "identity"}
        if key is not None and key.reveal() and _trusted(current, base_url):
            headers["Authorization"] = f"Bearer {key.reveal()}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DownloadError(f"no time left to download {_short(url)} (deadline passed)")
        request = http.build_request("GET", current, headers=headers)
        request.extensions["timeout"] = httpx.Timeout(
            min(30.0, remaining), connect=min(10.0, remaining)
        ).as_dict()
        try:
            response = http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise DownloadError(
                f"could not download {_short(url)}: {redact(f'{type(exc).__name__}: {exc}', key)}"
            ) from None
        try:
            if response.is_redirect:
                location = response.headers.get("Location", "")
                current = urljoin(current, location)
                continue
            _check_status(response, url)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            if expected is not None and expected > max_bytes:
                raise DownloadError(
                    f"{_short(url)} is {expected} bytes, more than the {max_bytes}-byte cap "
                    "(raise max_download_bytes to accept it)"
                )
            try:
                for chunk in response.iter_bytes():
                    written += len(chunk)
                    if written > max_bytes:
                        raise DownloadError(
                            f"{_short(url)} is larger than the {max_bytes}-byte cap (raise "
                            "max_download_bytes to accept it)"
                        )
                    digest.update(chunk)
                    dest.write(chunk)
                    if time.monotonic() > deadline:
                        raise DownloadError(
                            f"download of {_short(url)} did not finish before the job's "
                            f"deadline ({written} bytes received)"
                        )
            except httpx.HTTPError as exc:
                detail = redact(f"{type(exc).__name__}: {exc}", key)
                raise DownloadError(
                    f"download of {_short(url)} broke off after {written} bytes: {detail}"
                ) from None
            received = response.num_bytes_downloaded
            if expected is not None and received != expected:
                raise DownloadError(
                    f"download of {_short(url)} was truncated: got {received} of {expected} bytes"
                )
            return written, digest.hexdigest()
        finally:
            response.close()
    raise DownloadError(f"too many redirects downloading {_short(url)}")


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status < 400:
        return
    if status in (404, 410):
        gone = DownloadError(
            f"{_short(url)} is gone ({status}): Replicate deletes outputs an hour after a "
            "prediction finishes; run the request again"
        )
        gone.output_gone = True  # type: ignore[attr-defined]  # read by the core: the job is lost
        raise gone
    if status in (401, 403):
        raise DownloadError(f"{_short(url)} refused the download ({status})")
    raise DownloadError(f"{_short(url)} answered {status}; the download can be retried")


def _data_uri(url: str, dest: BinaryIO, max_bytes: int) -> tuple[int, str]:
    header, sep, payload = url.partition(",")
    if not sep:
        raise DownloadError("malformed data: URI output (no comma)")
    digest = hashlib.sha256()
    written = 0
    if header.endswith(";base64"):
        compact = "".join(payload.split())
        step = 4 * 256 * 1024  # whole base64 quanta: 1 MiB of text -> 768 KiB of bytes
        for start in range(0, len(compact), step):
            try:
                chunk = base64.b64decode(compact[start : start + step], validate=True)
            except (binascii.Error, ValueError):
                raise DownloadError("malformed base64 in a data: URI output") from None
            written += len(chunk)
            if written > max_bytes:
                raise DownloadError(f"a data: URI output is larger than the {max_bytes}-byte cap")
            digest.update(chunk)
            dest.write(chunk)
    else:
        data = unquote_to_bytes(payload)
        if len(data) > max_bytes:
            raise DownloadError(f"a data: URI output is larger than the {max_bytes}-byte cap")
        digest.update(data)
        dest.write(data)
        written = len(data)
    return written, digest.hexdigest()
