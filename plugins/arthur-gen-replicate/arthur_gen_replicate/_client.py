"""The official ``replicate`` client, set up for durable jobs.

This module imports ``httpx`` and ``replicate``; the backend imports it only inside the methods
that talk to Replicate, so that listing backends and models stays cheap.

Two things the 1.0.7 client cannot do per call are done by :class:`GuardTransport`, the
transport under the client's own ``RetryTransport``, from settings put in a context variable
by :func:`call_options` for the length of one backend call:

- the ``Cancel-After`` header on prediction creates (the client takes extra headers only as
  ``httpx.Client`` kwargs, fixed per client);
- a deadline: no request starts after it, each request's timeouts are cut to what is left,
  and a 429/503/504 whose ``Retry-After`` would sleep past it is not waited for
  (:class:`RetryAfterBeyondDeadline` is raised instead). The client's ``RetryTransport``
  still does the retrying of reads, honouring ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import contextvars
import email.utils
import hashlib
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from replicate.client import Client
from replicate.exceptions import ReplicateError

try:  # replicate 1.0.7 parses responses with pydantic's v1 API
    from pydantic.v1 import ValidationError as _V1ValidationError
except ImportError:  # pragma: no cover - pydantic 1 installed
    from pydantic import ValidationError as _V1ValidationError  # type: ignore[assignment]

from arthur_gen._secrets import Secret, redact
from arthur_gen.errors import (
    ArthurGenError,
    AuthenticationError,
    BillingError,
    GenerationError,
    InvalidRequestError,
    UnknownModelError,
)

from ._urls import DEFAULT_BASE_URL, is_loopback_host, resolve_base_url

__all__ = [
    "DEFAULT_BASE_URL",
    "VALIDATION_ERRORS",
    "ClientPool",
    "DeadlineExceeded",
    "GuardTransport",
    "RetryAfterBeyondDeadline",
    "api_error",
    "call_options",
    "format_cancel_after",
    "is_loopback_host",
    "rate_limit_floor",
    "resolve_base_url",
]

log = logging.getLogger("arthur_gen_replicate")

BILLING_URL = "https://replicate.com/account/billing"
TOKENS_URL = "https://replicate.com/account/api-tokens"

#: What the client raises when a response does not fit its models (e.g. status "aborted").
VALIDATION_ERRORS: tuple[type[Exception], ...] = (_V1ValidationError,)

_RETRY_STATUSES = frozenset({429, 503, 504})
_RETRY_METHODS = frozenset({"HEAD", "GET", "PUT", "DELETE", "OPTIONS", "TRACE"})


@dataclass(frozen=True)
class _Call:
    deadline: float | None  # time.monotonic()
    cancel_after: str | None


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "arthur_gen_replicate_call", default=None
)


@contextlib.contextmanager
def call_options(*, deadline: float | None = None, cancel_after: str | None = None) -> Iterator[None]:
    """Apply a deadline (``time.monotonic()``) and/or a ``Cancel-After`` to requests made inside."""
    token = _call.set(_Call(deadline, cancel_after))
    try:
        yield
    finally:
        _call.reset(token)


class DeadlineExceeded(httpx.TimeoutException):
    """The call's deadline passed before a request could start."""


class RetryAfterBeyondDeadline(httpx.TimeoutException):
    """Replicate asked us to wait (429/503/504) longer than the call's deadline allows."""

    def __init__(self, message: str, *, request: httpx.Request, status: int, retry_after: float):
        super().__init__(message, request=request)
        self.status = status
        self.retry_after = retry_after


def format_cancel_after(seconds: float) -> str:
    """A ``Cancel-After`` value: whole seconds as a duration (``"90s"``), at least 5 s."""
    return f"{max(5, math.ceil(seconds))}s"


def _retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number, an ISO-8601 time or an HTTP date."""
    value = (value or "").strip()
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    when: datetime | None = None
    with contextlib.suppress(ValueError):
        when = datetime.fromisoformat(value)
    if when is None:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            when = email.utils.parsedate_to_datetime(value)
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class GuardTransport(httpx.BaseTransport):
    """Adds ``Cancel-After`` to creates and keeps every request inside the call's deadline."""

    def __init__(self, wrapped: httpx.BaseTransport) -> None:
        self._wrapped = wrapped

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        call = _call.get()
        if call is None:
            response = self._wrapped.handle_request(request)
            _note_rate_limit(request, response)
            return response
        if call.cancel_after and request.method == "POST" and _is_create(request.url.path):
            request.headers["Cancel-After"] = call.cancel_after
        if call.deadline is None:
            response = self._wrapped.handle_request(request)
            _note_rate_limit(request, response)
            return response
        remaining = call.deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded(
                f"the deadline passed before {request.method} {request.url.path}", request=request
            )
        timeouts: dict[str, float | None] = dict(request.extensions.get("timeout") or {})
        for name in ("connect", "read", "write", "pool"):
            value = timeouts.get(name)
            timeouts[name] = remaining if value is None else min(float(value), remaining)
        request.extensions["timeout"] = timeouts
        response = self._wrapped.handle_request(request)
        _note_rate_limit(request, response)
        if response.status_code in _RETRY_STATUSES and request.method in _RETRY_METHODS:
            self._bound_retry(request, response, call.deadline)
        return response

    def _bound_retry(self, request: httpx.Request, response: httpx.Response, deadline: float) -> None:
        """Make the client's RetryTransport sleep no later than the deadline, or stop now."""
        attempt = int(request.extensions.get("arthur_gen_attempt", 0)) + 1
        request.extensions["arthur_gen_attempt"] = attempt
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        if wait is None:
            wait = min(0.25 * 2 ** (attempt - 1), 8.0)
        remaining = deadline - time.monotonic()
        if wait >= remaining:
            response.close()
            raise RetryAfterBeyondDeadline(
                f"Replicate answered {response.status_code} and asked to retry after "
                f"{wait:.1f}s, past this call's deadline",
                request=request,
                status=response.status_code,
                retry_after=wait,
            )
        # An exact time the client's RetryTransport understands (it uses a number verbatim,
        # parses ISO-8601, and ignores HTTP dates).
        when = datetime.now(UTC) + timedelta(seconds=wait)
        response.headers["Retry-After"] = when.isoformat()

    def close(self) -> None:
        self._wrapped.close()


_rate_lock = threading.Lock()
_rate_remaining: dict[str, int] = {}
_throttled_for: dict[str, float] = {}  # host -> Retry-After of its last 429


def _note_rate_limit(request: httpx.Request, response: httpx.Response) -> None:
    if response.status_code == 429:
        wait = _retry_after_seconds(response.headers.get("Retry-After"))
        with _rate_lock:
            _throttled_for[request.url.host] = 1.0 if wait is None else max(0.0, wait)
    value = response.headers.get("ratelimit-remaining", "")
    if value.isdigit():
        with _rate_lock:
            _rate_remaining[request.url.host] = int(value)


def last_retry_after(host: str) -> float | None:
    """The ``Retry-After`` (seconds) of the last 429 from ``host``, consumed by this call."""
    with _rate_lock:
        return _throttled_for.pop(host, None)


def rate_limit_floor(active_jobs: int) -> float:
    """Seconds between polls of one job so that ``active_jobs`` stay under the read limit.

    Replicate allows 3000 reads a minute (50/s); while the last answer said plenty are left
    there is no floor, once fewer than 500 remain polls spread out to about 40/s in total.
    """
    with _rate_lock:
        remaining = min(_rate_remaining.values(), default=None)
    if remaining is None or remaining >= 500:
        return 0.0
    return min(10.0, max(1, active_jobs) / 40.0)


def _is_create(path: str) -> bool:
    return path == "/v1/predictions" or (
        path.startswith(("/v1/models/", "/v1/deployments/")) and path.endswith("/predictions")
    )


class ClientPool:
    """``Client`` objects by (token, base URL), a few kept warm (thread-safe)."""

    def __init__(self, max_clients: int = 8) -> None:
        self._max = max_clients
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str], Client] = OrderedDict()

    def get(self, key: Secret | None, base_url: str) -> Client:
        token = key.reveal() if key is not None else ""
        ident = (hashlib.sha256(token.encode()).hexdigest(), base_url)
        with self._lock:
            client = self._clients.get(ident)
            if client is not None:
                self._clients.move_to_end(ident)
                return client
            client = Client(
                api_token=token or None,
                base_url=base_url,
                timeout=httpx.Timeout(10.0, connect=5.0, read=30.0, write=30.0, pool=10.0),
                transport=GuardTransport(
                    httpx.HTTPTransport(
                        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64)
                    )
                ),
            )
            client._client  # noqa: B018 - build the httpx client once, here, under the lock
            self._clients[ident] = client
            while len(self._clients) > self._max:
                self._clients.popitem(last=False)
            return client

    def clear(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                client._client.close()


def _detail(exc: ReplicateError, key: Secret | None) -> str:
    text = exc.detail or exc.title or ""
    return redact(str(text), key).strip()


def api_error(
    exc: ReplicateError, key: Secret | None, *, action: str, model_id: str | None = None
) -> ArthurGenError:
    """The arthur-gen error for an API error response (the token never appears in it)."""
    status = exc.status or 0
    detail = _detail(exc, key)
    said = f" Replicate said: {detail}" if detail else ""
    if status == 401:
        return AuthenticationError(
            f"Replicate rejected the API token while {action} (401 Unauthenticated): the token "
            f"is invalid or was revoked. Create a token at {TOKENS_URL} and "
            "`export REPLICATE_API_TOKEN=r8_...` (or pass key=...)."
        )
    if status == 402:
        return BillingError(
            f"Replicate refused the request while {action} (402 Payment Required): billing must "
            f"be set up, or credit added, at {BILLING_URL} before models can run.{said}"
        )
    if status == 403:
        return AuthenticationError(
            f"Replicate refused the request while {action} (403 Forbidden): the token is valid "
            f"but may not do this.{said}"
        )
    if status == 404 and model_id is not None:
        return UnknownModelError(
            f"Replicate has no model {model_id!r} (404 while {action}); check the spelling on "
            f"https://replicate.com/{model_id.split(':', 1)[0]}.{said}"
        )
    if status == 422:
        return InvalidRequestError(
            f"Replicate rejected the input while {action} (422): {detail or 'invalid input'}. "
            "Nothing was run or billed; fix the request (see `arthur-gen models --json` for the "
            "model's options)."
        )
    if status == 429:
        return GenerationError(
            f"Replicate is rate-limiting this account (429 while {action}); wait a minute and "
            f"try again.{said}"
        )
    return GenerationError(f"Replicate answered {status} while {action}.{said}")


def describe_transport_error(exc: BaseException, key: Secret | None) -> str:
    """A one-line description of a network error, token redacted."""
    text = str(exc) or type(exc).__name__
    return redact(f"{type(exc).__name__}: {text}", key)


def raw_json(client: Client, path: str) -> Any:
    """GET ``path`` through the client (its auth, retries and base URL) and return the JSON."""
    return client._request("GET", path).json()
