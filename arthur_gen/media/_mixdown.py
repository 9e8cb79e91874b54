"""The edit's sound, streamed: clips' audio on the timeline, music looped and ducked, loudness.

Nothing is held whole. Each source is decoded in chunks (speed changes go through libavfilter's
``atempo``, so the pitch is kept), placed on the timeline with its fades and crossfades, and
mixed 100 ms at a time. Loudness normalisation needs the whole mix's level before the first
sample is written, so the mix is made twice: once to measure (and, with ducking, once before
that to find where the clips speak), then to encode, interleaved with the video frames.
"""

from __future__ import annotations

import fractions
import itertools
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    import numpy as np

    from ._recipe import EditRequest
    from ._render import RenderPlan

__all__ = ["Mixdown", "read_span", "tempo_filters"]

RATE = 48_000
WINDOW = 4_800  # 100 ms: the loudness hop and the ducking window


def tempo_filters(factor: float) -> list[float]:
    """``atempo`` stages whose product is ``factor``, each within 0.5..2 (its best quality)."""
    stages = []
    while factor > 2.0:
        stages.append(2.0)
        factor /= 2.0
    while factor < 0.5:
        stages.append(0.5)
        factor /= 0.5
    return [*stages, factor]


class _Tempo:
    """A libavfilter graph changing the tempo of (2, n) float32 chunks without changing pitch."""

    def __init__(self, factor: float) -> None:
        import av.filter

        self.graph = av.filter.Graph()
        node: Any = self.graph.add_abuffer(
            format="fltp", sample_rate=RATE, layout="stereo", time_base=fractions.Fraction(1, RATE)
        )
        for stage in tempo_filters(factor):
            nxt = self.graph.add("atempo", f"{stage:.6f}")
            node.link_to(nxt)
            node = nxt
        fmt = self.graph.add("aformat", f"sample_fmts=fltp:channel_layouts=stereo:sample_rates={RATE}")
        sink = self.graph.add("abuffersink")
        node.link_to(fmt)
        fmt.link_to(sink)
        self.graph.configure()
        self.pts = 0

    def run(self, chunk: np.ndarray | None) -> Iterator[np.ndarray]:
        """Push ``chunk`` (None: the end) and yield what comes out."""
        import av

        if chunk is None:
            self.graph.push(None)
        else:
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = RATE
            frame.pts = self.pts
            frame.time_base = fractions.Fraction(1, RATE)
            self.pts += chunk.shape[1]
            self.graph.push(frame)
        while True:
            try:
                out = self.graph.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            yield out.to_ndarray()


def read_span(
    path: str, start: float = 0.0, end: float | None = None, tempo: float = 1.0
) -> Iterator[np.ndarray]:
    """``path``'s first audio stream from ``start`` to ``end`` s, as (2, k) float32 chunks at
    48 kHz, played ``tempo`` times as fast at the same pitch (nothing if it has no audio)."""
    import av
    import numpy as np

    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError) as exc:
        raise InvalidRequestError(f"{path}: cannot read audio ({exc})") from None
    try:
        if not container.streams.audio:
            return
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=RATE)
        shift = _Tempo(tempo) if tempo != 1.0 else None
        lo, hi = round(start * RATE), None if end is None else round(end * RATE)
        seen = 0

        def decoded() -> Iterator[Any]:
            try:
                for frame in container.decode(stream):
                    yield from resampler.resample(frame)
                yield from resampler.resample(None)
            except av.error.FFmpegError as exc:
                raise InvalidRequestError(f"{path}: audio is damaged or truncated ({exc})") from None

        for out in decoded():
            data = out.to_ndarray()
            a, seen = seen, seen + data.shape[1]
            s0, s1 = max(lo - a, 0), data.shape[1] if hi is None else min(data.shape[1], hi - a)
            if s1 > s0:
                piece = np.ascontiguousarray(data[:, s0:s1], dtype=np.float32)
                if shift is None:
                    yield piece
                else:
                    yield from shift.run(piece)
            if hi is not None and seen >= hi:
                break
        if shift is not None:
            yield from shift.run(None)
    finally:
        container.close()


def _ramp(start: int, k: int, n: int, fade_in: int, fade_out: int) -> np.ndarray | None:
    """Gains of samples ``start..start+k`` of an ``n``-sample piece with linear fades (or None)."""
    import numpy as np

    if start >= fade_in and start + k <= n - fade_out:
        return None
    idx = np.arange(start, start + k, dtype=np.float64)
    gain = np.ones(k, dtype=np.float64)
    if fade_in:
        gain = np.minimum(gain, idx / max(1, fade_in - 1))
    if fade_out:
        gain = np.minimum(gain, (n - 1 - idx) / max(1, fade_out - 1))
    return np.clip(gain, 0.0, 1.0).astype(np.float32)


class _Piece:
    """Exactly ``n`` samples of a chunk stream (cut, or padded with silence), with its fades."""

    def __init__(self, chunks: Iterator[np.ndarray], n: int, fade_in: int = 0, fade_out: int = 0) -> None:
        self.chunks, self.n = chunks, n
        self.fade_in, self.fade_out = min(fade_in, n), min(fade_out, n)
        self.pos = 0
        self.buffer: list[np.ndarray] = []
        self.buffered = 0

    def read(self, k: int) -> np.ndarray:
        import numpy as np

        k = min(k, self.n - self.pos)
        while self.buffered < k:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer.append(chunk)
            self.buffered += chunk.shape[1]
        data = np.concatenate(self.buffer, axis=1) if len(self.buffer) > 1 else (
            self.buffer[0] if self.buffer else np.zeros((2, 0), np.float32)
        )  # fmt: skip
        out, rest = data[:, :k], data[:, k:]
        self.buffer, self.buffered = ([rest] if rest.shape[1] else []), rest.shape[1]
        out = np.pad(out, ((0, 0), (0, k - out.shape[1]))) if out.shape[1] < k else out.copy()
        gain = _ramp(self.pos, k, self.n, self.fade_in, self.fade_out)
        if gain is not None:
            out *= gain
        self.pos += k
        return out

    def close(self) -> None:
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class Mixdown:
    """The edit's audio as a stream of (2, k) float32 chunks, exactly the video's length."""

    def __init__(self, request: EditRequest, plan: RenderPlan) -> None:
        from ._recipe import Loudness, Music

        self.plan = plan
        self.total = round(plan.duration * RATE)
        self.music: Music | None = request.recipe.first(Music)
        loudness: Loudness = request.recipe.first(Loudness) or Loudness()
        self.target = loudness.target
        self.gain = 1.0
        self.duck: np.ndarray | None = None  # per-window gains for the music
        ov = [round(o / plan.fps * RATE) for o in plan.overlaps]
        fd = [round(f / plan.fps * RATE) for f in plan.fades]
        self.placements: list[tuple[int, int, Callable[[], _Piece]]] = []
        pos = 0
        for i, seg in enumerate(plan.segments):
            n = round(plan.frame_counts[i] / plan.fps * RATE)
            if seg.source is not None and seg.source.has_audio and seg.still is None:
                edge_in = max(ov[i - 1], fd[i - 1]) if i > 0 else 0
                edge_out = max(ov[i], fd[i]) if i < len(ov) else 0
                src, start, end, speed = seg.source.path, seg.start, seg.end, seg.speed

                def piece(
                    src: str = src, start: float = start, end: float = end, speed: float = speed,
                    n: int = n, edge_in: int = edge_in, edge_out: int = edge_out,
                ) -> _Piece:  # fmt: skip
                    return _Piece(read_span(src, start, end, speed), n, edge_in, edge_out)

                self.placements.append((pos, n, piece))
            pos += n - (ov[i] if i < len(ov) else 0)

    # --- the two parts of the mix -------------------------------------------------------------
    def _clips(self) -> Iterator[np.ndarray]:
        """The clips' own sound on the timeline, WINDOW samples at a time."""
        import numpy as np

        open_: dict[int, _Piece] = {}
        try:
            for b0 in range(0, self.total, WINDOW):
                b1 = min(self.total, b0 + WINDOW)
                out = np.zeros((2, b1 - b0), dtype=np.float32)
                for i, (pos, n, make) in enumerate(self.placements):
                    lo, hi = max(b0, pos), min(b1, pos + n)
                    if hi <= lo:
                        continue
                    if i not in open_:
                        open_[i] = make()
                    out[:, lo - b0 : hi - b0] += open_[i].read(hi - lo)
                    if pos + n <= b1:
                        open_.pop(i).close()
                yield out
        finally:
            for p in open_.values():
                p.close()

    def _music(self) -> Iterator[np.ndarray] | None:
        if self.music is None:
            return None
        m = self.music
        if m.loop:
            chunks: Iterator[np.ndarray] = itertools.chain.from_iterable(
                read_span(m.path, m.start, m.end) for _ in itertools.count()
            )
        else:
            chunks = read_span(m.path, m.start, m.end)
        track = _Piece(chunks, self.total, int(m.fade_in * RATE), int(m.fade_out * RATE))
        volume = 10 ** (m.volume_db / 20)

        def blocks() -> Iterator[np.ndarray]:
            try:
                for b0 in range(0, self.total, WINDOW):
                    block = track.read(min(WINDOW, self.total - b0))
                    block *= volume
                    yield block
            finally:
                track.close()

        return blocks()

    def _duck_curve(self, b0: int, k: int) -> np.ndarray:
        """The music's gain for samples ``b0..b0+k``: per-window gains, smoothed over a window."""
        import numpy as np

        assert self.duck is not None
        half = WINDOW // 2
        idx = np.clip(np.arange(b0 - half, b0 + k + half), 0, self.total - 1) // WINDOW
        sums = np.concatenate(([0.0], np.cumsum(self.duck[idx], dtype=np.float64)))
        return ((sums[WINDOW:] - sums[:-WINDOW]) / WINDOW).astype(np.float32)[:k]

    def _mix(self) -> Iterator[np.ndarray]:
        music = self._music()
        for b0, clips in zip(range(0, self.total, WINDOW), self._clips(), strict=True):
            if music is not None:
                track = next(music)
                if self.duck is not None:
                    track *= self._duck_curve(b0, clips.shape[1])
                clips += track
            yield clips

    # --- passes --------------------------------------------------------------------------------
    def measure(self) -> None:
        """Check the music and find the ducking and the loudness gain (before any output exists)."""
        import numpy as np

        from ._audio import LoudnessMeter

        if self.music is not None:
            first = next(read_span(self.music.path, self.music.start, self.music.end), None)
            if first is None:
                raise InvalidRequestError(f"music={self.music.path!r} has no audio stream", field="music")
            if self.music.duck_db > 0 and self.placements:
                powers, loudest = [], 0.0
                for block in self._clips():
                    powers.append(float(np.mean(block.astype(np.float64) ** 2)))
                    loudest = max(loudest, float(np.abs(block).max(initial=0.0)))
                if loudest > 1e-4:
                    active = 10 * np.log10(np.asarray(powers) + 1e-12) > -45.0
                    held = active.copy()  # hold one window either side
                    held[1:] |= active[:-1]
                    held[:-1] |= active[1:]
                    depth = np.float32(10 ** (-abs(self.music.duck_db) / 20))
                    self.duck = np.where(held, depth, np.float32(1.0)).astype(np.float32)
        meter = LoudnessMeter()
        for block in self._mix():
            meter.add(block)
        measured = meter.result()
        self.gain = 10 ** ((self.target - measured) / 20) if math.isfinite(measured) else 1.0

    def blocks(self) -> Iterator[np.ndarray]:
        """The final mix at the measured gain, peaks softly limited: WINDOW samples at a time."""
        from ._audio import limit

        for block in self._mix():
            yield limit(block, self.gain)
