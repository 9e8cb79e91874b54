"""Embed and read arthur-gen metadata in MP4 files, with no dependencies.

The record is a top-level ``uuid`` box (ISO/IEC 14496-12 §4.2) appended after the other
boxes: players skip it, no sample offset moves (so ``+faststart`` files stay fast-start) and
reading it touches only box headers. A second embed replaces the first.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["UUID", "embed_mp4_metadata", "read_mp4_metadata", "top_level_boxes"]

UUID = bytes.fromhex("6172746875722d67656e2d6d65746131")  # "arthur-gen-meta1"
_MAGIC = b"AGZ1"


def top_level_boxes(path: Path) -> Iterator[tuple[bytes, int, int]]:
    """``(type, offset, size)`` of each top-level box; ValueError if the file is not an MP4."""
    size_total = path.stat().st_size
    with path.open("rb") as fh:
        pos = 0
        while pos < size_total:
            fh.seek(pos)
            header = fh.read(16)
            if len(header) < 8:
                raise ValueError(f"{path.name}: truncated MP4 box at byte {pos}")
            size, kind = struct.unpack(">I4s", header[:8])
            if size == 1:
                if len(header) < 16:
                    raise ValueError(f"{path.name}: truncated MP4 box at byte {pos}")
                (size,) = struct.unpack(">Q", header[8:16])
            elif size == 0:
                size = size_total - pos
            if size < 8 or pos + size > size_total or not kind.isascii():
                raise ValueError(f"{path.name}: not an MP4 file or truncated (box at byte {pos})")
            yield kind, pos, size
            pos += size


def _our_box(path: Path) -> tuple[int, int] | None:
    for kind, offset, size in top_level_boxes(path):
        if kind == b"uuid" and size >= 24:
            with path.open("rb") as fh:
                fh.seek(offset + 8)
                if fh.read(16) == UUID:
                    return offset, size
    return None


def embed_mp4_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Append (or replace) the metadata box of ``path`` (a temporary file being finished)."""
    boxes = list(top_level_boxes(path))
    if not boxes or boxes[0][0] != b"ftyp":
        raise ValueError(f"{path.name} is not an MP4 file (no ftyp box first)")
    text = json.dumps(metadata, sort_keys=True, default=str).encode()
    payload = UUID + _MAGIC + zlib.compress(text, 9)
    found = _our_box(path)
    with path.open("r+b") as fh:
        if found is not None and found[0] + found[1] == path.stat().st_size:
            fh.truncate(found[0])  # it was last: rewrite it in place
        elif found is not None:  # somewhere in the middle: blank it out as a free box
            fh.seek(found[0] + 4)
            fh.write(b"free")
        fh.seek(0, os.SEEK_END)
        fh.write(struct.pack(">I4s", 8 + len(payload), b"uuid") + payload)


def read_mp4_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata arthur-gen embedded in an MP4, or None (ValueError if not an MP4)."""
    found = _our_box(path)
    if found is None:
        return None
    with path.open("rb") as fh:
        fh.seek(found[0] + 24)
        body = fh.read(found[1] - 24)
    if not body.startswith(_MAGIC):
        return None
    value = json.loads(zlib.decompress(body[len(_MAGIC) :]))
    return value if isinstance(value, dict) else None
