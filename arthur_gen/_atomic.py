"""Atomic file writes: a temporary file in the target folder, fsync, then rename or link."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "publish_new", "temp_path_beside"]


def temp_path_beside(target: Path) -> Path:
    """A fresh hidden temporary path in ``target``'s folder (same filesystem, so rename works)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    return Path(name)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace ``target`` with ``data`` so readers see the old or the new file, never half."""
    tmp = temp_path_beside(target)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            tmp.chmod(mode)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _claim(tmp: Path, candidate: Path) -> None:
    """Give ``tmp`` the name ``candidate`` unless that name is taken (FileExistsError)."""
    try:
        os.link(tmp, candidate)
    except FileExistsError:
        raise
    except OSError:
        # No hard links here (some network or FAT filesystems): reserve the name, then replace.
        os.close(os.open(candidate, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        os.replace(tmp, candidate)
        return
    tmp.unlink()


def publish_new(tmp: Path, target: Path) -> Path:
    """Move a finished temporary file to ``target`` without ever overwriting anything.

    If ``target`` exists, ``name-2.ext``, ``name-3.ext``... are tried. Returns the final path.
    """
    stem, suffix = target.stem, target.suffix
    target.parent.mkdir(parents=True, exist_ok=True)
    candidate = target
    for n in range(2, 10_000):
        try:
            _claim(tmp, candidate)
        except FileExistsError:
            candidate = target.with_name(f"{stem}-{n}{suffix}")
            continue
        return candidate  # the caller's sidecar write syncs this folder
    raise FileExistsError(f"no free file name near {target}")  # pragma: no cover
