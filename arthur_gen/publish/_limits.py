"""Platform limits on the uploaded file, checked before any byte is sent."""

from __future__ import annotations

from pathlib import Path

import attrs

from ..errors import InvalidRequestError

__all__ = ["Limits", "VideoInfo", "check_limits", "probe_video"]


@attrs.frozen(kw_only=True)
class Limits:
    """What a platform accepts. ``None`` means no limit."""

    containers: tuple[str, ...] = ("mp4", "mov", "webm")
    video_codecs: tuple[str, ...] | None = None
    audio_codecs: tuple[str, ...] | None = None
    max_bytes: int | None = None
    min_bytes: int = 1
    min_duration_s: float | None = None
    max_duration_s: float | None = None
    max_width: int | None = None
    max_height: int | None = None
    min_aspect: float | None = None  # width / height
    max_aspect: float | None = None
    max_fps: float | None = None


@attrs.frozen(kw_only=True)
class VideoInfo:
    container: str
    size: int
    video_codec: str | None = None
    audio_codec: str | None = None
    duration_s: float | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None


def probe_video(path: str | Path) -> VideoInfo:
    """Read container, codecs, duration, dimensions and fps (PyAV, loaded here only)."""
    path = Path(path)
    size = path.stat().st_size
    container = path.suffix.lower().lstrip(".")
    try:
        import av
    except ImportError:  # pragma: no cover - av ships with the core
        return VideoInfo(container=container, size=size)
    try:
        with av.open(str(path)) as media:
            video = next(iter(media.streams.video), None)
            audio = next(iter(media.streams.audio), None)
            duration = media.duration / 1_000_000 if media.duration else None
            fps = float(video.average_rate) if video is not None and video.average_rate else None
            return VideoInfo(
                container=container,
                size=size,
                video_codec=video.codec_context.name if video is not None else None,
                audio_codec=audio.codec_context.name if audio is not None else None,
                duration_s=duration,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
                fps=fps,
            )
    except av.error.FFmpegError as exc:
        raise InvalidRequestError(f"{path} is not a readable video ({exc}).") from None


def check_limits(info: VideoInfo, limits: Limits, platform: str) -> None:
    """Raise :class:`InvalidRequestError` naming every limit the video breaks."""
    problems: list[str] = []
    if info.container not in limits.containers:
        problems.append(f"container .{info.container} (use {', '.join(limits.containers)})")
    if limits.video_codecs and info.video_codec is None:
        problems.append("no video stream")
    elif limits.video_codecs and info.video_codec not in limits.video_codecs:
        problems.append(f"video codec {info.video_codec} (use {', '.join(limits.video_codecs)})")
    if limits.audio_codecs and info.audio_codec is not None and info.audio_codec not in limits.audio_codecs:
        problems.append(f"audio codec {info.audio_codec} (use {', '.join(limits.audio_codecs)})")
    if limits.max_bytes is not None and info.size > limits.max_bytes:
        problems.append(f"size {info.size:,} bytes (at most {limits.max_bytes:,})")
    if info.size < limits.min_bytes:
        problems.append(f"size {info.size:,} bytes (at least {limits.min_bytes:,})")
    d = info.duration_s
    if d is not None and limits.min_duration_s is not None and d < limits.min_duration_s:
        problems.append(f"duration {d:.1f} s (at least {limits.min_duration_s:g} s)")
    if d is not None and limits.max_duration_s is not None and d > limits.max_duration_s:
        problems.append(f"duration {d:.1f} s (at most {limits.max_duration_s:g} s)")
    if info.width and info.height:
        if (limits.max_width and info.width > limits.max_width) or (
            limits.max_height and info.height > limits.max_height
        ):
            problems.append(
                f"dimensions {info.width}x{info.height} (at most {limits.max_width}x{limits.max_height})"
            )
        aspect = info.width / info.height
        if (limits.min_aspect and aspect < limits.min_aspect) or (
            limits.max_aspect and aspect > limits.max_aspect
        ):
            problems.append(
                f"aspect {aspect:.2f} (between {limits.min_aspect:.2f} and {limits.max_aspect:.2f})"
            )
    if info.fps is not None and limits.max_fps is not None and info.fps > limits.max_fps + 0.01:
        problems.append(f"{info.fps:g} fps (at most {limits.max_fps:g})")
    if problems:
        raise InvalidRequestError(
            f"{platform} does not accept this video: {'; '.join(problems)}. "
            "Fix it with an edit first (arthur-gen publish ... --preset NAME)."
        )
