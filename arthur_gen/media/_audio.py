"""Audio as whole (2, n) float32 arrays at 48 kHz: decode, resample, fades, mixing, loudness.

Loudness is ITU-R BS.1770-4 integrated loudness (K-weighting, 400 ms blocks, absolute and
relative gates), in LUFS. A minute of stereo audio is 23 MB, so tracks are held whole.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError

if TYPE_CHECKING:
    import numpy as np

__all__ = ["decode_audio", "fade", "fit_length", "integrated_loudness", "normalize", "resample"]

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


def fit_length(data: np.ndarray, n: int, *, loop: bool) -> np.ndarray:
    """``data`` cut or extended (looped, or padded with silence) to ``n`` samples."""
    import numpy as np

    if data.shape[1] >= n:
        return data[:, :n]
    if loop and data.shape[1] > 0:
        reps = math.ceil(n / data.shape[1])
        return np.tile(data, (1, reps))[:, :n]
    return np.pad(data, ((0, 0), (0, n - data.shape[1])))


def fade(data: np.ndarray, *, fade_in: float = 0.0, fade_out: float = 0.0) -> np.ndarray:
    """Linear fade in/out (seconds), in place; returns ``data``."""
    import numpy as np

    n = data.shape[1]
    a = min(n, int(fade_in * RATE))
    if a:
        data[:, :a] *= np.linspace(0.0, 1.0, a, dtype=np.float32)
    b = min(n, int(fade_out * RATE))
    if b:
        data[:, n - b :] *= np.linspace(1.0, 0.0, b, dtype=np.float32)
    return data


def duck_envelope(voice: np.ndarray, *, depth_db: float, window_s: float = 0.1) -> np.ndarray:
    """A gain curve that is ``depth_db`` down wherever ``voice`` is not silent (smoothed)."""
    import numpy as np

    n = voice.shape[1]
    win = max(1, int(window_s * RATE))
    blocks = math.ceil(n / win)
    power = np.pad(np.mean(voice**2, axis=0), (0, blocks * win - n)).reshape(blocks, win).mean(axis=1)
    active = (10 * np.log10(power + 1e-12)) > -45.0
    held = active | np.roll(active, 1) | np.roll(active, -1)  # hold one block either side
    gains = np.where(held, np.float32(10 ** (-abs(depth_db) / 20)), np.float32(1.0))
    curve = np.repeat(gains, win)[:n]
    kernel = np.ones(win, dtype=np.float32) / win  # smooth the steps: no clicks
    return np.convolve(np.pad(curve, (win, win), mode="edge"), kernel, mode="same")[win:-win].astype(
        np.float32
    )


def _k_weighted(data: np.ndarray, rate: int) -> np.ndarray:
    """The BS.1770 K-weighting (shelf + RLB high-pass) at 48 kHz, applied by its exact response."""
    import numpy as np

    if rate != RATE:
        data = resample(data, rate, RATE)
    n = data.shape[1]
    # The (smooth) magnitude on a fine fixed grid, interpolated: no complex temporaries of
    # the track's length, so a long track's loudness costs little memory.
    grid = np.linspace(0.0, RATE / 2, 1 << 16)
    z = np.exp(-1j * np.pi * grid / (RATE / 2))
    response = np.ones_like(z)
    for b, a in (
        ((1.53512485958697, -2.69169618940638, 1.19839281085285), (1.0, -1.69065929318241, 0.73248077421585)),
        ((1.0, -2.0, 1.0), (1.0, -1.99004745483398, 0.99007225036621)),
    ):
        response *= (b[0] + b[1] * z + b[2] * z**2) / (a[0] + a[1] * z + a[2] * z**2)
    spectrum = np.fft.rfft(data, axis=1)
    spectrum *= np.interp(np.fft.rfftfreq(n, 1 / RATE), grid, np.abs(response))
    return np.fft.irfft(spectrum, n=n, axis=1)


def integrated_loudness(data: np.ndarray, rate: int = RATE) -> float:
    """Integrated loudness in LUFS (``-inf`` for silence or less than 400 ms of audio)."""
    import numpy as np

    block, hop = int(0.4 * rate), int(0.1 * rate)
    if data.shape[1] < block:
        return -math.inf
    starts = np.arange(0, data.shape[1] - block + 1, hop)
    power = np.zeros(len(starts))
    for channel in data:  # one channel at a time: a long track's FFT stays small
        weighted = _k_weighted(channel[None, :].astype(np.float64), rate)[0]
        squares = np.concatenate(([0.0], np.cumsum(weighted**2)))
        del weighted
        power += (squares[starts + block] - squares[starts]) / block
        del squares
    loud = -0.691 + 10 * np.log10(power + 1e-20)
    gated = loud > -70.0
    if not gated.any():
        return -math.inf
    relative = -0.691 + 10 * np.log10(np.mean(power[gated])) - 10.0
    final = gated & (loud > relative)
    return float(-0.691 + 10 * np.log10(np.mean(power[final])))


def normalize(data: np.ndarray, target_lufs: float = -14.0, peak: float = 0.95) -> np.ndarray:
    """``data`` scaled to ``target_lufs`` integrated loudness, peaks softly limited at ``peak``."""
    import numpy as np

    measured = integrated_loudness(data)
    if not math.isfinite(measured):
        return data
    out = data * np.float32(10 ** ((target_lufs - measured) / 20))
    over = np.abs(out) > peak
    if over.any():  # soft knee above the ceiling instead of clipping
        excess = np.abs(out[over]) - peak
        out[over] = np.sign(out[over]) * (peak + (1 - peak) * np.tanh(excess / (1 - peak)))
    return out.astype(np.float32)
