"""Fault injection: scripted HTTP errors, dropped connections, bad downloads and outcomes."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

ENDPOINTS = frozenset(
    {"create", "get", "cancel", "list", "files", "models", "versions", "download", "stream"}
)
Action = Literal["fail", "drop", "truncate", "delay"]


@dataclass
class Rule:
    """One scripted fault; fires on the `nth` matching request, `times` times (None: always)."""

    endpoint: str
    action: Action
    nth: int = 1
    times: int | None = 1
    status: int = 500
    retry_after: int | None = None
    detail: str | None = None
    after_effect: bool = True
    after_bytes: int = 0
    delay_s: float = 0.0
    seen: int = 0
    fired: int = 0

    @property
    def spent(self) -> bool:
        return self.times is not None and self.fired >= self.times


@dataclass(frozen=True)
class Outcome:
    """How the next created prediction ends instead of succeeding."""

    status: Literal["failed", "aborted"]
    error: str | None = None


class Faults:
    """Thread-safe fault script of one `Emulator`, reachable as `emu.faults`.

    `nth` counts requests to the endpoint made after the call (1 = the next one) and
    `times` is how many consecutive matching requests are hit (None: until `clear()`).
    Endpoints: create, get, cancel, list, files, models, versions, download, stream.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._outcomes: list[Outcome] = []
        self._bytes_per_s: float | None = None

    def fail(
        self,
        endpoint: str,
        status: int = 500,
        *,
        nth: int = 1,
        times: int | None = 1,
        retry_after: int | None = None,
        detail: str | None = None,
    ) -> None:
        """Answer with a problem+json error; `Retry-After` (seconds) is sent when given and
        defaults to 1 for 429."""
        if status == 429 and retry_after is None:
            retry_after = 1
        self._add(Rule(endpoint, "fail", nth, times, status, retry_after, detail))

    def drop(self, endpoint: str, *, nth: int = 1, times: int | None = 1, after_effect: bool = True) -> None:
        """Close the connection without a response, after the request took effect or before."""
        self._add(Rule(endpoint, "drop", nth, times, after_effect=after_effect))

    def delay(self, endpoint: str, seconds: float, *, nth: int = 1, times: int | None = 1) -> None:
        """Answer `seconds` late (the request takes effect at once): a slow create, a slow read."""
        self._add(Rule(endpoint, "delay", nth, times, delay_s=seconds))

    def truncate_download(self, after_bytes: int, *, nth: int = 1, times: int | None = 1) -> None:
        """Send the full Content-Length but close after `after_bytes` bytes of body."""
        self._add(Rule("download", "truncate", nth, times, after_bytes=after_bytes))

    def slow_download(self, bytes_per_s: float | None) -> None:
        """Throttle every download to `bytes_per_s` (None: full speed again)."""
        with self._lock:
            self._bytes_per_s = bytes_per_s

    def fail_prediction(self, error: str = "Prediction failed (injected)", times: int = 1) -> None:
        """Make the next `times` created predictions end as failed with `error`."""
        with self._lock:
            self._outcomes += [Outcome("failed", error)] * times

    def abort_next(self, times: int = 1) -> None:
        """Make the next `times` created predictions end as aborted (deadline before start)."""
        with self._lock:
            self._outcomes += [Outcome("aborted")] * times

    def clear(self) -> None:
        """Forget every scripted fault and the download throttle."""
        with self._lock:
            self._rules.clear()
            self._outcomes.clear()
            self._bytes_per_s = None

    @property
    def pending(self) -> int:
        """Scripted faults and outcomes that have not fired yet."""
        with self._lock:
            return len(self._rules) + len(self._outcomes)

    @property
    def bytes_per_s(self) -> float | None:
        return self._bytes_per_s

    def _add(self, rule: Rule) -> None:
        if rule.endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {rule.endpoint!r}; use one of {sorted(ENDPOINTS)}")
        if rule.nth < 1:
            raise ValueError("nth counts from 1")
        with self._lock:
            self._rules.append(rule)

    def take(self, endpoint: str) -> Rule | None:
        """Count a request to `endpoint` and return the rule that fires on it, if any."""
        with self._lock:
            hit = None
            for rule in self._rules:
                if rule.endpoint != endpoint:
                    continue
                rule.seen += 1
                if hit is None and rule.seen >= rule.nth:
                    rule.fired += 1
                    hit = rule
            self._rules = [r for r in self._rules if not r.spent]
            return hit

    def take_outcome(self) -> Outcome | None:
        """The scripted outcome for a prediction being created, if any."""
        with self._lock:
            return self._outcomes.pop(0) if self._outcomes else None
