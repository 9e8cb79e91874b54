"""Audio helpers at 48 kHz: decode a file whole (for tests and short clips), resample, and
loudness: ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks, absolute and
relative gates) in LUFS, measured in chunks. The edit's own mix is streamed (``_mixdown``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["LoudnessMeter", "decode_audio", "integrated_loudness", "limit", "resample"]

RATE = 48_000


def decode_audio(path: str | Path, *, start: float = 0.0, end: float | None = None) -> np.ndarray:
    """The first audio stream of ``path`` as (2, n) float32 at 48 kHz (empty if it has none)."""
    import av
    import numpy as np

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise InvalidRequestError(f"{path}: cannot read audio ({exc})") from None
    chunks = []
    with container:
        if not container.streams.audio:
            return np.zeros((2, 0), dtype=np.float32)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray())
        except av.error.FFmpegError as exc:
            raise InvalidRequestError(f"{path}: audio is damaged or truncated ({exc})") from None
    data = np.concatenate(chunks, axis=1) if chunks else np.zeros((2, 0), dtype=np.float32)
    lo = round(start * RATE)
    hi = None if end is None else round(end * RATE)
    return np.ascontiguousarray(data[:, lo:hi], dtype=np.float32)


def resample(data: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Linear-interpolation resampling of (channels, n) audio."""
    import numpy as np

    if rate_in <= 0:
        raise InvalidRequestError(f"sample_rate={rate_in!r} is not valid: must be above 0")
    if rate_in == rate_out or data.shape[1] == 0:
        return data.astype(np.float32)
    n_out = round(data.shape[1] * rate_out / rate_in)
    x_out = np.arange(n_out) * (rate_in / rate_out)
    x_in = np.arange(data.shape[1])
    return np.stack([np.interp(x_out, x_in, ch) for ch in data]).astype(np.float32)


class LoudnessMeter:
    """BS.1770-4 integrated loudness of 48 kHz stereo fed in chunks of any size.

    K-weighting runs as the standard's two biquads in libavfilter (double precision, with
    state across chunks); squares are summed per 100 ms, so memory does not grow with length.
    """

    _STAGES = (
        ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585)),
        ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621)),
    )
    _HOP = RATE // 10

    def __init__(self) -> None:
        import fractions

        import av.filter

        self.graph = av.filter.Graph()
        node: Any = self.graph.add_abuffer(
            format="fltp", sample_rate=RATE, layout="stereo", time_base=fractions.Fraction(1, RATE)
        )
        for b, a in self._STAGES:
            coeffs = ":".join(f"{n}={v!r}" for n, v in zip(("b0", "b1", "b2"), b, strict=True))
            coeffs += ":" + ":".join(f"{n}={v!r}" for n, v in zip(("a0", "a1", "a2"), a, strict=True))
            stage = self.graph.add("biquad", f"{coeffs}:precision=f64")
            node.link_to(stage)
            node = stage
        fmt = self.graph.add("aformat", "sample_fmts=dblp:channel_layouts=stereo")
        sink = self.graph.add("abuffersink")
        node.link_to(fmt)
        fmt.link_to(sink)
        self.graph.configure()
        self.pts = 0
        self.sums: list[float] = []  # K-weighted sum of squares (both channels) per 100 ms
        self._part, self._part_n = 0.0, 0
        self._ended = False

    def add(self, chunk: np.ndarray) -> None:
        """Measure (2, n) float32 samples at 48 kHz (mono (1, n) counts as both channels)."""
        import av
        import numpy as np

        data = np.ascontiguousarray(np.broadcast_to(chunk, (2, chunk.shape[1])), dtype=np.float32)
        if data.shape[1] == 0:
            return
        frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
        frame.sample_rate = RATE
        frame.pts = self.pts
        self.pts += data.shape[1]
        self.graph.push(frame)
        self._pull()

    def _pull(self) -> None:
        import av
        import numpy as np

        while True:
            try:
                out = self.graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            squares = np.square(out.to_ndarray()).sum(axis=0)
            pos = 0
            while pos < squares.shape[0]:
                take = min(self._HOP - self._part_n, squares.shape[0] - pos)
                self._part += float(squares[pos : pos + take].sum())
                self._part_n += take
                pos += take
                if self._part_n == self._HOP:
                    self.sums.append(self._part)
                    self._part, self._part_n = 0.0, 0

    def result(self) -> float:
        """Integrated loudness in LUFS (``-inf`` for silence or less than 400 ms of audio)."""
        import numpy as np

        if not self._ended:
            self._ended = True
            self.graph.push(None)
            self._pull()
        if len(self.sums) < 4:
            return -math.inf
        sums = np.asarray(self.sums)
        power = (sums[:-3] + sums[1:-2] + sums[2:-1] + sums[3:]) / (4 * self._HOP)
        loud = -0.691 + 10 * np.log10(power + 1e-20)
        gated = loud > -70.0
        if not gated.any():
            return -math.inf
        relative = -0.691 + 10 * np.log10(np.mean(power[gated])) - 10.0
        final = gated & (loud > relative)
        return float(-0.691 + 10 * np.log10(np.mean(power[final])))


def integrated_loudness(data: np.ndarray, rate: int = RATE) -> float:
    """Integrated loudness in LUFS of (channels, n) audio (``-inf`` for silence or < 400 ms)."""
    if rate != RATE:
        data = resample(data, rate, RATE)
    meter = LoudnessMeter()
    for start in range(0, data.shape[1], RATE):
        meter.add(data[:, start : start + RATE])
    return meter.result()


def limit(data: np.ndarray, gain: float = 1.0, peak: float = 0.95) -> np.ndarray:
    """``data`` times ``gain``, peaks above ``peak`` softly limited (a knee, not clipping)."""
    import numpy as np

    out = (data * np.float32(gain)).astype(np.float32)
    over = np.abs(out) > peak
    if over.any():
        excess = np.abs(out[over]) - peak
        out[over] = np.sign(out[over]) * (peak + (1 - peak) * np.tanh(excess / (1 - peak)))
    return out
