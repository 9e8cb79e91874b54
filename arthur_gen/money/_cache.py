"""The content-addressed result cache: outputs of seeded requests kept by SHA-256."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .._config import cache_dir
from ..jobs._outputs import file_digest

__all__ = ["blob_path", "cached_answer", "keep_blob", "valid_blob"]


def blob_path(sha256: str) -> Path:
    return cache_dir() / "blobs" / sha256[:2] / sha256


def keep_blob(path: Path, sha256: str) -> None:
    """Keep ``path``'s content in the blob store (a hard link when possible, else a copy)."""
    target = blob_path(sha256)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        try:
            os.link(path, tmp)  # lookups re-hash, so a later edit of the output is caught
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def valid_blob(sha256: str) -> Path | None:
    """The blob for ``sha256`` if it exists and its content still has that digest."""
    path = blob_path(sha256)
    try:
        if file_digest(path) == sha256:
            return path
    except OSError:
        return None
    return None


def cached_answer(cache_key: str | None) -> str | None:
    """The saved job whose outputs would answer a request with ``cache_key`` now, else None.

    Read-only (what ``--dry-run`` reports): no store is created where none exists.
    """
    if cache_key is None:
        return None
    from .._config import data_dir

    if not (data_dir() / "jobs.db").exists():
        return None
    from ..jobs._store import get_store

    where = "cache_key = ? AND state = 'saved' AND cost_source != 'cache'"
    for row in get_store().query(where, (cache_key,), limit=5):
        if row.outputs and all(valid_blob(o["sha256"]) is not None for o in row.outputs):
            return row.id
    return None
