"""The one MP4 encoder every video goes through: H.264 High yuv420p BT.709, AAC-LC 48 kHz.

Closed GOPs of half the frame rate and ``+faststart`` (YouTube's recommended upload encoding);
on macOS ``h264_videotoolbox`` when present, else libx264.
"""

from __future__ import annotations

import fractions
import platform
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    import av.container
    import numpy as np

__all__ = ["AUDIO_RATE", "Mp4Encoder", "write_video"]

AUDIO_RATE = 48_000
_AUDIO_CHUNK = 1024  # AAC frame size


def _video_codec() -> str:
    import av

    if platform.system() == "Darwin" and "h264_videotoolbox" in av.codecs_available:
        return "h264_videotoolbox"
    return "libx264"


class Mp4Encoder:
    """Streams RGB frames (and, at the end, an audio track) into one MP4 file."""

    def __init__(
        self,
        path: Path,
        *,
        width: int,
        height: int,
        fps: float,
        bitrate: int | None = None,
        audio: bool = False,
        metadata: dict[str, str] | None = None,
        x264_preset: str = "veryfast",
    ) -> None:
        import av

        if width % 2 or height % 2:
            raise InvalidRequestError(f"{width}x{height}: H.264 yuv420p needs even width and height")
        self.path = path
        self.fps = fractions.Fraction(fps).limit_denominator(1001)
        self.container: av.container.OutputContainer = av.open(
            str(path), "w", format="mp4", options={"movflags": "+faststart"}
        )
        for key, value in (metadata or {}).items():
            self.container.metadata[key] = value
        x264 = {"preset": x264_preset, "x264-params": "open-gop=0:scenecut=0"}
        if bitrate is None:
            x264["crf"] = "18"
        self.codec = _video_codec()
        try:
            self.video: Any = self.container.add_stream(
                self.codec, rate=self.fps, options=x264 if self.codec == "libx264" else {}
            )
        except Exception:  # videotoolbox refused (no hardware): the same software encoding
            self.codec = "libx264"
            self.video = self.container.add_stream(self.codec, rate=self.fps, options=x264)
        ctx = self.video.codec_context
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        ctx.profile = "High"
        ctx.gop_size = max(1, round(float(self.fps) / 2))
        ctx.color_primaries = 1  # BT.709
        ctx.color_trc = 1
        ctx.colorspace = 1
        ctx.color_range = 1  # limited (tv)
        if bitrate is not None:
            ctx.bit_rate = bitrate
            ctx.options = dict(ctx.options, maxrate=str(bitrate * 3 // 2), bufsize=str(bitrate * 2))
        self.audio: Any = None
        if audio:
            self.audio = self.container.add_stream("aac", rate=AUDIO_RATE)
            self.audio.codec_context.layout = "stereo"
            self.audio.codec_context.bit_rate = 192_000
        self.frames = 0
        self.audio_samples = 0
        self.width, self.height = width, height

    def add(self, rgb: np.ndarray) -> None:
        """Encode one HxWx3 uint8 frame."""
        import av

        if rgb.shape != (self.height, self.width, 3):
            raise InvalidRequestError(
                f"frame {self.frames} is {rgb.shape}, expected ({self.height}, {self.width}, 3) uint8"
            )
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.colorspace = 1
        frame.color_range = 1
        frame = frame.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
        frame.pts = self.frames
        frame.time_base = fractions.Fraction(1) / self.fps
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def add_audio(self, samples: np.ndarray) -> None:
        """Encode (2, n) float32 samples at 48 kHz, following what was added before (so a track
        can be given whole or in pieces, interleaved with the frames)."""
        import av
        import numpy as np

        assert self.audio is not None
        samples = np.ascontiguousarray(samples, dtype=np.float32)
        for start in range(0, samples.shape[1], _AUDIO_CHUNK * 16):
            chunk = np.ascontiguousarray(samples[:, start : start + _AUDIO_CHUNK * 16])
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = AUDIO_RATE
            frame.pts = self.audio_samples
            self.audio_samples += chunk.shape[1]
            for packet in self.audio.encode(frame):
                self.container.mux(packet)

    def close(self) -> None:
        for packet in self.video.encode(None):
            self.container.mux(packet)
        if self.audio is not None:
            for packet in self.audio.encode(None):
                self.container.mux(packet)
        self.container.close()

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:
            pass


def _stereo(samples: Any, sample_rate: int) -> np.ndarray:
    import numpy as np

    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.shape[0] not in (1, 2):
        raise InvalidRequestError(
            f"audio samples have shape {data.shape}; give (n,), (1, n) or (2, n) float32"
        )
    if data.shape[0] == 1:
        data = np.repeat(data, 2, axis=0)
    if sample_rate != AUDIO_RATE:
        from ._audio import resample

        data = resample(data, sample_rate, AUDIO_RATE)
    return data


def write_video(
    frames: Iterable[np.ndarray],
    path: str | Path,
    *,
    fps: float,
    metadata: dict[str, Any] | None = None,
    audio: tuple[Any, int] | None = None,
) -> Path:
    """Write HxWx3 uint8 frames (streamed) to an MP4 at ``path``, atomically.

    H.264 High yuv420p BT.709, ``+faststart``, AAC-LC 48 kHz when ``audio`` is
    ``(samples, sample_rate)`` (``samples`` float32 of shape ``(n,)`` or ``(channels, n)``).
    ``metadata`` (a JSON-ready dict) is embedded so ``arthur-gen show FILE.mp4`` reads it.
    """
    import os

    from ..jobs._atomic import temp_path_beside
    from ._mp4meta import embed_mp4_metadata

    if not (isinstance(fps, int | float) and 0 < fps <= 240):
        raise InvalidRequestError(f"fps={fps!r} is not valid: must be a number above 0 up to 240")
    target = Path(path)
    track = _stereo(*audio) if audio is not None else None
    tmp = temp_path_beside(target)
    encoder: Mp4Encoder | None = None
    try:
        for rgb in frames:
            if encoder is None:
                if getattr(rgb, "ndim", 0) != 3 or rgb.shape[2] != 3 or str(rgb.dtype) != "uint8":
                    raise InvalidRequestError(
                        f"frames must be HxWx3 uint8 arrays, got {getattr(rgb, 'shape', rgb)!r}"
                    )
                encoder = Mp4Encoder(
                    tmp, width=rgb.shape[1], height=rgb.shape[0], fps=fps, audio=track is not None
                )
            encoder.add(rgb)
        if encoder is None:
            raise InvalidRequestError("no frames to write: give at least one frame")
        if track is not None:
            encoder.add_audio(track)
        encoder.close()
        if metadata:
            embed_mp4_metadata(tmp, metadata)
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if encoder is not None:
            encoder.abort()
        tmp.unlink(missing_ok=True)
        raise
    return target
