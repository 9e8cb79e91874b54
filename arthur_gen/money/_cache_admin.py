"""Look after the result cache: how big it is, what it saved, and pruning it.

The cache keeps the outputs of seeded requests as blobs named by their SHA-256 under
``cache_dir()/blobs``. A blob's *last use* is the newest job that produced or was answered
with it (from the store), else its file time, so pruning by age or size drops what was used
least recently. Deleting blobs never loses a generation: the outputs in the output folder are
separate files; a pruned request simply runs (and is paid for) again.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import attrs

from .._config import cache_dir
from ..errors import InvalidRequestError
from ..jobs._store import get_store

__all__ = ["CacheInfo", "PruneResult", "cache_info", "parse_bytes", "prune_cache"]

_HEX = re.compile(r"^[0-9a-f]{64}$")
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def _blob_root() -> Path:
    return cache_dir() / "blobs"


@attrs.frozen
class _Blob:
    path: Path
    sha256: str
    size: int
    mtime: float


def _blobs() -> list[_Blob]:
    root = _blob_root()
    found: list[_Blob] = []
    if not root.is_dir():
        return found
    for shard in root.iterdir():
        if not shard.is_dir():
            continue
        for entry in os.scandir(shard):
            if not _HEX.match(entry.name):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            found.append(_Blob(Path(entry.path), entry.name, stat.st_size, stat.st_mtime))
    return found


def _last_used() -> dict[str, float]:
    rows = get_store().rows(
        "SELECT o.sha256, MAX(j.created_at) FROM outputs o JOIN jobs j ON j.id = o.job_id GROUP BY o.sha256"
    )
    return {str(sha): float(when) for sha, when in rows if when is not None}


@attrs.frozen(kw_only=True)
class CacheInfo:
    """The result cache at a glance."""

    path: str
    entries: int
    bytes: int
    hits: int
    saved_usd: float
    oldest_use: float | None
    newest_use: float | None

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def cache_info() -> CacheInfo:
    """Entries and bytes in the cache, how often it answered, and the money it saved."""
    blobs = _blobs()
    used = _last_used()
    uses = [max(used.get(b.sha256, 0.0), b.mtime) for b in blobs]
    hits, saved = get_store().rows(
        "SELECT COUNT(*), COALESCE(SUM(saved_usd), 0) FROM jobs WHERE cost_source = 'cache'"
    )[0]
    return CacheInfo(
        path=str(_blob_root()),
        entries=len(blobs),
        bytes=sum(b.size for b in blobs),
        hits=int(hits),
        saved_usd=round(float(saved), 6),
        oldest_use=min(uses) if uses else None,
        newest_use=max(uses) if uses else None,
    )


@attrs.frozen(kw_only=True)
class PruneResult:
    """What :func:`prune_cache` removed and what is left."""

    removed: int
    freed_bytes: int
    entries: int
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def parse_bytes(text: str | int) -> int:
    """``1500``, ``500M``, ``2G``, ``1.5GB`` -> bytes (binary units)."""
    if isinstance(text, int) and not isinstance(text, bool):
        if text < 0:
            raise InvalidRequestError(f"max_bytes={text} must not be negative", field="max_bytes")
        return text
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text).lower())
    if not match:
        raise InvalidRequestError(f"size {text!r} must look like 500000, 500M or 2G", field="max_bytes")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def prune_cache(
    *,
    older_than_days: float | None = None,
    max_bytes: int | str | None = None,
    all: bool = False,
) -> PruneResult:
    """Remove cached blobs: all of them, those unused for ``older_than_days``, and then the
    least recently used until the cache is at most ``max_bytes``. Give at least one."""
    if not all and older_than_days is None and max_bytes is None:
        raise InvalidRequestError(
            "say what to prune: older_than_days=..., max_bytes=... or all=True "
            "(CLI: --older-than DAYS, --max-bytes N, --all)"
        )
    if older_than_days is not None and older_than_days < 0:
        raise InvalidRequestError(f"older_than_days={older_than_days} must not be negative")
    limit = parse_bytes(max_bytes) if max_bytes is not None else None
    blobs = _blobs()
    used = _last_used()
    by_use = sorted(blobs, key=lambda b: (max(used.get(b.sha256, 0.0), b.mtime), b.sha256))
    doomed: list[_Blob] = []
    keep: list[_Blob] = []
    cutoff = time.time() - older_than_days * 86400 if older_than_days is not None else None
    for blob in by_use:
        last = max(used.get(blob.sha256, 0.0), blob.mtime)
        if all or (cutoff is not None and last < cutoff):
            doomed.append(blob)
        else:
            keep.append(blob)
    if limit is not None:
        total = sum(b.size for b in keep)
        while keep and total > limit:
            blob = keep.pop(0)  # least recently used first
            total -= blob.size
            doomed.append(blob)
    freed = removed = 0
    for blob in doomed:
        try:
            blob.path.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        freed += blob.size
    _remove_leftovers()
    return PruneResult(
        removed=removed,
        freed_bytes=freed,
        entries=len(keep),
        bytes=sum(b.size for b in keep),
    )


def _remove_leftovers() -> None:
    """Drop partial copies left by a crash (older than an hour) and empty shard folders."""
    root = _blob_root()
    if not root.is_dir():
        return
    old = time.time() - 3600
    for shard in root.iterdir():
        if not shard.is_dir():
            continue
        for entry in os.scandir(shard):
            if entry.name.endswith(".part"):
                try:
                    if entry.stat().st_mtime < old:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    pass
        try:
            shard.rmdir()
        except OSError:
            pass
