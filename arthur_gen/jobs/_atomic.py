"""Atomic file writes: a temporary file in the target folder, fsync, then rename or link."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write_bytes", "current_umask", "publish_new", "temp_path_beside"]


_UMASK: int | None = None


def current_umask() -> int:
    """The process umask, read without changing it where the system allows (Linux)."""
    global _UMASK
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    if _UMASK is None:  # elsewhere: set and restore once (umask has no read-only call)
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def temp_path_beside(target: Path, *, mode: int | None = None) -> Path:
    """A fresh hidden temporary path in ``target``'s folder (same filesystem, so rename works).

    The file gets ``mode`` at once, before a byte is written, or else the permissions of a file
    the user creates (0666 less their umask): outputs are shared as the user's other files are,
    while a secret (``mode=0o600``) is never readable by others, not even for a moment.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        os.fchmod(fd, (0o666 & ~current_umask()) if mode is None else mode)
    finally:
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
    tmp = temp_path_beside(target, mode=mode)
    try:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
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
