"""Small, real, deterministic media files and their streamed padding.

Pixels are diagonal gradients whose colours come from `Media.digest`, so each prompt and
seed gives its own picture and the same ones give identical bytes. PNG is written with zlib
and struct; WebP/JPEG need Pillow and MP4 (H.264) needs PyAV, both imported lazily.
"""

from __future__ import annotations

import io
import struct
import threading
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction

from ._models import Media

CHUNK = 1 << 16
_ZEROS = bytes(CHUNK)
_PNG_MAX_CHUNK = (1 << 31) - 1


class MediaCache:
    """Rendered files by `Media`, least recently used dropped first."""

    def __init__(self, max_items: int = 64) -> None:
        self._items: OrderedDict[Media, bytes] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def get(self, media: Media) -> bytes:
        with self._lock:
            if media in self._items:
                self._items.move_to_end(media)
                return self._items[media]
        data = render(media)
        with self._lock:
            self._items[media] = data
            while len(self._items) > self._max:
                self._items.popitem(last=False)
        return data


def render(media: Media) -> bytes:
    """Encode `media` as a complete file."""
    if media.fmt == "mp4":
        return _mp4(media)
    d, w, h = media.digest, media.width, media.height
    rows = _rows(_gradient(d[0:3], d[3:6], 64 + d[6]), 3, w, h, 1 + d[7] % 4, d[8])
    if media.fmt == "png":
        return _png(w, h, rows)
    from PIL import Image

    buf = io.BytesIO()
    image = Image.frombytes("RGB", (w, h), b"".join(rows))
    image.save(buf, "WEBP" if media.fmt == "webp" else "JPEG", quality=80)
    return buf.getvalue()


def _gradient(a: bytes, b: bytes, period: int) -> bytes:
    """One period of a triangle wave a→b→a, `len(a)` bytes per pixel."""
    half = period / 2
    out = bytearray()
    for i in range(period):
        t = 1 - abs(i - half) / half
        out += bytes(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return bytes(out)


def _rows(pattern: bytes, channels: int, width: int, height: int, slope: int, shift: int) -> list[bytes]:
    """Rows cut from a repeating `pattern`, each row offset by `slope` more pixels."""
    period = len(pattern) // channels
    tiled = pattern * (width // period + 2)
    offsets = ((shift + y * slope) % period * channels for y in range(height))
    return [tiled[o : o + width * channels] for o in offsets]


def _png(width: int, height: int, rows: list[bytes]) -> bytes:
    raw = b"".join(b"\0" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(raw, 6))
        + _png_chunk(b"IEND", b"")
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _mp4(media: Media) -> bytes:
    import av

    d, w, h = media.digest, media.width, media.height
    luma = _gradient(bytes([16 + d[0] % 96]), bytes([128 + d[1] % 108]), 48 + d[2] % 64)
    chroma = (
        _gradient(d[3:4], d[4:5], 32 + d[5] % 32),
        _gradient(d[6:7], d[7:8], 32 + d[8] % 32),
    )
    speed, slope = 2 + d[9] % 5, 1 + d[10] % 3
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=media.fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for k in range(media.frames):
            frame = av.VideoFrame(w, h, "yuv420p")
            patterns = (luma, *chroma)
            sizes = ((w, h), (w // 2, h // 2), (w // 2, h // 2))
            for plane, pattern, (pw, ph) in zip(frame.planes, patterns, sizes, strict=True):
                rows = _rows(pattern, 1, pw, ph, slope, k * speed)
                plane.update(b"".join(r.ljust(plane.line_size, b"\0") for r in rows))
            frame.pts, frame.time_base = k, Fraction(1, media.fps)
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    return buf.getvalue()


def padded(data: bytes, fmt: str, size: int | None) -> tuple[int, Iterator[bytes]]:
    """Stream `data` grown to `size` bytes with padding that keeps the file valid.

    MP4 gets a top-level `free` box, PNG private `paDd` chunks before IEND, WebP a RIFF
    `JUNK` chunk (even sizes only) and JPEG trailing zeros. Padding is generated on the fly.
    Returns the total length and the chunks; without room for the padding, `data` as is.
    """
    extra = (size or 0) - len(data)
    if fmt == "webp":
        extra -= extra % 2
        if struct.unpack("<I", data[4:8])[0] + extra > 0xFFFFFFFF:
            extra = 0
    overhead = {"mp4": 16 if extra > 0xFFFFFFFF else 8, "png": 12, "webp": 8, "jpg": 0}[fmt]
    if extra < max(overhead, 1):
        return len(data), _slices(data)
    return len(data) + extra, _padded_chunks(data, fmt, extra)


def _padded_chunks(data: bytes, fmt: str, extra: int) -> Iterator[bytes]:
    if fmt == "png":
        yield from _slices(data[:-12])
        remaining = extra
        while remaining:
            n = min(remaining - 12, _PNG_MAX_CHUNK)
            if 0 < remaining - n - 12 < 12:
                n -= 12
            crc = zlib.crc32(b"paDd")
            yield struct.pack(">I", n) + b"paDd"
            for chunk in _zeros(n):
                crc = zlib.crc32(chunk, crc)
                yield chunk
            yield struct.pack(">I", crc)
            remaining -= n + 12
        yield data[-12:]
        return
    if fmt == "webp":
        riff = struct.unpack("<I", data[4:8])[0] + extra
        yield data[:4] + struct.pack("<I", riff)
        yield from _slices(data[8:])
        yield b"JUNK" + struct.pack("<I", extra - 8)
        yield from _zeros(extra - 8)
        return
    yield from _slices(data)
    if fmt == "mp4":
        box = (
            struct.pack(">I4s", extra, b"free")
            if extra <= 0xFFFFFFFF
            else struct.pack(">I4sQ", 1, b"free", extra)
        )
        yield box
        extra -= len(box)
    yield from _zeros(extra)


def _slices(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


def _zeros(n: int) -> Iterator[bytes]:
    full, rest = divmod(n, CHUNK)
    for _ in range(full):
        yield _ZEROS
    if rest:
        yield _ZEROS[:rest]
