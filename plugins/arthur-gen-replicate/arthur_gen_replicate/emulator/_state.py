"""Records kept by the emulator: settings, predictions, files, rate limits, request log."""

from __future__ import annotations

import base64
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from ._models import Media

TERMINAL = frozenset({"succeeded", "failed", "canceled", "aborted"})
FILE_TTL_S = 24 * 3600.0
_STEPS = 20
_T = TypeVar("_T")


@dataclass
class Config:
    """Live settings; change them through `Emulator.configure` / `set_timing` / `set_outcome`."""

    starting_s: float = 1.0
    processing_s: float = 3.0
    ttl_s: float = 3600.0
    tokens: frozenset[str] | None = None
    billing_ok: bool = True
    page_size: int = 100
    output_mode: Literal["url", "data"] = "url"
    output_size_bytes: int | None = None
    create_rate_per_min: int = 600
    rate_per_min: int = 3000
    timings: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)

    def timing_for(self, model: str) -> tuple[float, float]:
        """(starting_s, processing_s) for `model`: the longest matching prefix wins."""
        starting, processing = _by_prefix(self.timings, model) or (None, None)
        return (
            self.starting_s if starting is None else starting,
            self.processing_s if processing is None else processing,
        )

    def error_for(self, model: str) -> str | None:
        """The failure text predictions of `model` end with, or None for success."""
        return _by_prefix(self.errors, model)


def _by_prefix(table: Mapping[str, _T], model: str) -> _T | None:
    keys = [k for k in table if model.startswith(k)]
    return table[max(keys, key=len)] if keys else None


@dataclass(frozen=True)
class Prediction:
    """One prediction; its status follows from the wall clock and the times set at creation."""

    seq: int
    id: str
    model: str
    version: str
    input: Mapping[str, Any]
    media: tuple[Media, ...]
    array_output: bool
    created: float
    start_at: float
    done_at: float
    end_at: float
    end_status: str
    error: str | None
    cancel_after_s: float | None
    #: the input as the API shows it: ``data:`` URIs replaced by URLs of their stored bytes
    shown_input: Mapping[str, Any] = field(default_factory=dict)
    #: those bytes: name -> (content type, data)
    input_files: Mapping[str, tuple[str, bytes]] = field(default_factory=dict)

    def status(self, now: float) -> str:
        if now >= self.end_at:
            return self.end_status
        return "processing" if now >= self.start_at else "starting"

    def started(self, now: float) -> bool:
        return self.start_at <= min(now, self.end_at)

    def logs(self, now: float) -> str:
        """tqdm-style progress, as Cog models print and the client parses."""
        if not self.started(now):
            return ""
        span = self.done_at - self.start_at
        elapsed = min(now, self.end_at) - self.start_at
        step = _STEPS if span <= 0 else min(_STEPS, int(elapsed / span * _STEPS))
        bar = ("█" * (step // 2)).ljust(_STEPS // 2)
        line = f"{step * 100 // _STEPS:3d}%|{bar}| {step}/{_STEPS}\n"
        done = "Done.\n" if self.status(now) == "succeeded" else ""
        return f"Generating with {self.model}\n{line}{done}"


@dataclass(frozen=True)
class FileRecord:
    """An uploaded file."""

    seq: int
    id: str
    name: str
    content_type: str
    data: bytes
    metadata: Mapping[str, Any]
    created: float
    etag: str
    sha256: str

    def expired(self, now: float) -> bool:
        return now >= self.created + FILE_TTL_S


@dataclass
class RequestRecord:
    """One request as received; `status` is None while running or when the connection dropped."""

    method: str
    path: str
    endpoint: str
    headers: Mapping[str, str]
    time: float
    status: int | None = None


class RateLimiter:
    """Token buckets per (token, kind): `per_min` burst, refilled at `per_min`/60 per second."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}

    def take(self, key: tuple[str, str], per_min: int, now: float) -> tuple[bool, int, int]:
        """Spend one request; returns (allowed, remaining, seconds until reset)."""
        rate = per_min / 60
        tokens, last = self._buckets.get(key, (float(per_min), now))
        tokens = min(float(per_min), tokens + (now - last) * rate)
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
        self._buckets[key] = (tokens, now)
        reset = (per_min - tokens if allowed else 1 - tokens) / rate
        return allowed, int(tokens), math.ceil(reset)


def new_id() -> str:
    """A random 26-character lowercase base32 id, like Replicate's."""
    return base64.b32encode(os.urandom(20)).decode().lower()[:26]


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
