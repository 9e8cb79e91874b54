"""What an input is (video or still), its size, frame rate, duration and audio, checked early."""

from __future__ import annotations

from pathlib import Path

import attrs

from ..errors import InvalidRequestError

__all__ = ["IMAGE_SUFFIXES", "Probe", "probe"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
AUDIO_SUFFIXES = (".mp3", ".wav", ".m4a", ".aac", ".flac", ".ogg", ".opus")


@attrs.frozen(kw_only=True)
class Probe:
    path: str
    is_image: bool
    width: int
    height: int
    fps: float = 0.0
    duration: float = 0.0
    has_audio: bool = False
    codec: str = ""


def _bad(path: str, why: str) -> InvalidRequestError:
    return InvalidRequestError(f"{path}: {why}", field="inputs")


def probe(path: str) -> Probe:
    """Probe ``path``; InvalidRequestError if it is missing, truncated, or not a video/image."""
    if not Path(path).is_file():
        raise _bad(path, "no such file")
    if Path(path).suffix.lower() in IMAGE_SUFFIXES:
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as image:
                image.load()
                return Probe(path=path, is_image=True, width=image.width, height=image.height)
        except (OSError, UnidentifiedImageError) as exc:
            raise _bad(path, f"not a readable image ({exc})") from None
    import av

    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise _bad(path, f"not a readable video, or truncated ({exc}); give an MP4/MOV/WebM file") from None
    with container:
        if not container.streams.video:
            raise _bad(path, "has no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name if stream.codec_context else ""
        if not codec:
            raise _bad(path, "uses a video codec this PyAV build cannot decode")
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise _bad(
                path, f"video cannot be decoded ({exc}): damaged or unsupported codec {codec}"
            ) from None
        if first is None:
            raise _bad(path, "has no decodable video frames (truncated?)")
        rate = stream.average_rate or stream.guessed_rate or 30
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = 0.0
        if duration <= 0:
            raise _bad(path, "reports no duration (truncated?)")
        return Probe(
            path=path,
            is_image=False,
            width=first.width,
            height=first.height,
            fps=float(rate),
            duration=duration,
            has_audio=bool(container.streams.audio),
            codec=codec,
        )
