"""Embed and read arthur-gen metadata in PNG files (an ``iTXt`` chunk), with no dependencies."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

__all__ = ["KEYWORD", "embed_png_metadata", "read_png_metadata"]

KEYWORD = b"arthur-gen"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    if not data.startswith(_SIGNATURE):
        raise ValueError("not a PNG file")
    chunks, pos = [], len(_SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ValueError("truncated PNG chunk")
        chunks.append((ctype, body))
        pos += 12 + length
        if ctype == b"IEND":
            break
    return chunks


def _chunk(ctype: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(ctype + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", crc)


def embed_png_metadata(path: Path, metadata: dict[str, Any]) -> None:
    """Rewrite ``path`` (a temporary file) with ``metadata`` as a compressed iTXt chunk."""
    data = path.read_bytes()
    text = json.dumps(metadata, sort_keys=True, default=str).encode()
    # keyword, NUL, compression flag 1, method 0, empty language, NUL, empty translated, NUL
    body = KEYWORD + b"\x00\x01\x00\x00\x00" + zlib.compress(text, 9)
    out = [_SIGNATURE]
    for ctype, chunk_body in _chunks(data):
        if ctype == b"iTXt" and chunk_body.startswith(KEYWORD + b"\x00"):
            continue
        if ctype == b"IEND":
            out.append(_chunk(b"iTXt", body))
        out.append(_chunk(ctype, chunk_body))
    path.write_bytes(b"".join(out))


def read_png_metadata(path: Path) -> dict[str, Any] | None:
    """The metadata arthur-gen embedded in a PNG, or None."""
    for ctype, body in _chunks(path.read_bytes()):
        if ctype != b"iTXt" or not body.startswith(KEYWORD + b"\x00"):
            continue
        rest = body[len(KEYWORD) + 1 :]
        compressed = rest[0] == 1
        rest = rest[2:]
        _lang, _, rest = rest.partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        raw = zlib.decompress(text) if compressed else text
        value = json.loads(raw)
        return value if isinstance(value, dict) else None
    return None
