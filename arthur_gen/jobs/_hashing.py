"""Canonical hashes of requests: what makes two requests "the same"."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

from .._requests import ImageRequest, VideoRequest, is_url

__all__ = ["canonical_request", "input_digest", "request_key"]

Request = ImageRequest | VideoRequest
_digests: dict[tuple[str, int, int, int, int], str] = {}
_lock = threading.Lock()


def input_digest(path: str) -> str:
    """``sha256:<hex>`` of a local file's content (memoised by path, inode, size, times)."""
    stat = Path(path).stat()
    key = (path, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    with _lock:
        cached = _digests.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = f"sha256:{digest.hexdigest()}"
    with _lock:
        _digests[key] = value
    return value


def canonical_request(request: Request) -> dict[str, Any]:
    """The request as data, with local input files replaced by their content digests."""
    own = getattr(request, "canonical_dict", None)  # a job kind that keys on contents itself (edit)
    if own is not None:
        return own(input_digest)  # type: ignore[no-any-return]
    data = request.to_dict()
    for field, value in request.input_files().items():
        if not is_url(value):
            data[field] = input_digest(value)
    return data


def request_key(request: Request, *, backend: str, model: str, version: str = "") -> str:
    """A stable hex key: equal for equal requests, different if anything that matters differs."""
    payload = {
        "backend": backend,
        "model": model,
        "version": version,
        "request": canonical_request(request),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
