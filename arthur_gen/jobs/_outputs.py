"""Output files: predictable names, atomic placement, sidecars, PNG metadata, digests."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import DownloadError
from ._atomic import atomic_write_bytes, publish_new
from ._pngmeta import embed_png_metadata

__all__ = [
    "HashingWriter",
    "extension_for",
    "file_digest",
    "output_target",
    "place_output",
    "prepare_output",
    "publish_output",
    "sidecar_path",
    "write_sidecar",
]

_EXTENSIONS = {
    "image/png": ".png",
    "image/webp": ".webp",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
}
_MEDIA = {ext: media for media, ext in _EXTENSIONS.items()} | {".jpeg": "image/jpeg"}


def extension_for(media_type: str | None, name: str = "") -> tuple[str, str]:
    """(extension, media type) from a media type or, failing that, a file name."""
    if media_type in _EXTENSIONS:
        return _EXTENSIONS[media_type], media_type
    suffix = Path(name.split("?")[0]).suffix.lower()
    if suffix in _MEDIA:
        return suffix, _MEDIA[suffix]
    return ".bin", media_type or "application/octet-stream"


def _slug(text: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:limit].rstrip("-") or "untitled"


def output_target(
    out_dir: Path, *, prompt: str, model: str, seed: int | None, job_id: str, index: int, ext: str
) -> Path:
    """``OUT/YYYY-MM-DD/HHMMSS_<prompt>_<model>_s<seed>_<job>[_<i>].ext``."""
    now = time.localtime()
    day = time.strftime("%Y-%m-%d", now)
    parts = [time.strftime("%H%M%S", now), _slug(prompt), _slug(model.split("/")[-1], 24)]
    if seed is not None:
        parts.append(f"s{seed}")
    parts.append(job_id[-8:])
    if index:
        parts.append(str(index + 1))
    return out_dir / day / ("_".join(parts) + ext)


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HashingWriter:
    """A write-only file wrapper that hashes, counts and caps what passes through."""

    def __init__(self, fh: BinaryIO, max_bytes: int) -> None:
        self._fh = fh
        self._digest = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.size > self.max_bytes:
            raise DownloadError(
                f"output is larger than the {self.max_bytes} byte cap; "
                "raise it with max_download_bytes=... if that is expected"
            )
        self._digest.update(data)
        return self._fh.write(data)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        self._fh.flush()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def place_output(tmp: Path, target: Path, metadata: dict[str, Any]) -> Path:
    """Embed metadata (PNG), move ``tmp`` to a free name near ``target``, write its sidecar."""
    prepare_output(tmp, target.suffix, metadata)
    return publish_output(tmp, target, metadata)


def prepare_output(tmp: Path, suffix: str, metadata: dict[str, Any]) -> None:
    """Embed ``metadata`` in the file itself (PNG iTXt, MP4 container) and sync its bytes: after
    this the file has the bytes (and digest) it will have once placed."""
    if suffix == ".png":
        try:
            embed_png_metadata(tmp, metadata)
        except ValueError:
            pass  # not really a PNG; the sidecar still carries everything
    elif suffix in (".mp4", ".mov"):
        from ..media._mp4meta import embed_mp4_metadata

        try:
            embed_mp4_metadata(tmp, metadata)
        except ValueError:
            pass  # not really an MP4; the sidecar still carries everything
    with tmp.open("rb") as fh:  # the bytes reach the disk before the name does
        os.fsync(fh.fileno())


def publish_output(tmp: Path, target: Path, metadata: dict[str, Any]) -> Path:
    """Move a prepared ``tmp`` to a free name near ``target`` (never overwriting) and write its
    sidecar; returns the final path."""
    final = publish_new(tmp, target)
    write_sidecar(final, metadata)
    return final


def write_sidecar(final: Path, metadata: dict[str, Any]) -> None:
    """The JSON sidecar of the output ``final`` (atomic)."""
    sidecar = dict(metadata)
    sidecar["path"] = str(final)
    atomic_write_bytes(
        sidecar_path(final), json.dumps(sidecar, indent=2, sort_keys=True, default=str).encode()
    )
