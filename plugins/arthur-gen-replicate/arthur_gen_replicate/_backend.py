"""The Replicate backends: one for images, one for videos, both driven by the core.

Nothing heavy is imported here at module level: ``replicate`` and ``httpx`` load inside the
methods that talk to Replicate (through ``._client`` and ``._download``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar
from urllib.parse import quote, urlsplit

import attrs

from arthur_gen._backends import (
    ImageBackend,
    RemoteBackend,
    RemoteContext,
    RemoteOutput,
    RemoteState,
    RemoteStatus,
    VideoBackend,
)
from arthur_gen._models import Availability, ModelInfo, PriceBasis
from arthur_gen._requests import ImageRequest, VideoRequest, is_url
from arthur_gen._secrets import redact
from arthur_gen.errors import (
    ConfigError,
    GenerationError,
    InvalidRequestError,
    NeedsKeyError,
    SubmitUncertainError,
)

from . import _catalog
from ._inputs import (
    DATA_URI_MAX_BYTES,
    FILE_PLACEHOLDER,
    build_input,
    data_uri,
    file_fields,
    replicate_ref,
    split_ref,
)
from ._status import (
    cost_usd,
    next_poll_s,
    output_seconds,
    progress_bounds,
    started_at,
    status_of,
    unit_rate,
)
from ._urls import resolve_base_url

if TYPE_CHECKING:
    from replicate.client import Client

    from arthur_gen import Estimate

    from ._client import ClientPool

__all__ = ["ReplicateImageBackend", "ReplicateVideoBackend"]


class _Log:
    """``logging.getLogger("arthur_gen_replicate")``, imported on first use (fast CLI start)."""

    def __getattr__(self, name: str) -> Any:
        import logging

        return getattr(logging.getLogger("arthur_gen_replicate"), name)


log = _Log()

Request = ImageRequest | VideoRequest

_MODEL_REF = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*(:[0-9a-f]{64})?$")
_MAX_UPLOAD_BYTES = 100 * 1024 * 1024  # Replicate's files API limit
_MAX_DOWNLOAD_ENV = "ARTHUR_GEN_REPLICATE_MAX_DOWNLOAD_BYTES"
_RECONCILE_SLACK_S = 10.0  # clock skew allowed between this machine and Replicate
_RECONCILE_MAX_PAGES = 20
_CREATE_429_TRIES = 5


@attrs.define
class _Track:
    """What this process saw of one prediction (for poll pacing)."""

    first: float
    state: RemoteState
    running_since: float | None = None
    failures: int = 0


_pool_lock = threading.Lock()
_pool: ClientPool | None = None


def _shared_pool() -> ClientPool:
    """One set of warm clients per process, shared by the image and video backends."""
    global _pool
    from ._client import ClientPool

    with _pool_lock:
        if _pool is None:
            _pool = ClientPool()
        return _pool


def _default_max_download() -> int:
    value = os.environ.get(_MAX_DOWNLOAD_ENV, "").strip()
    if not value:
        return 2 * 1024**3
    if not value.isdigit() or int(value) <= 0:
        raise ConfigError(f"{_MAX_DOWNLOAD_ENV}={value!r} must be a positive number of bytes")
    return int(value)


class _ReplicateBackend(RemoteBackend):
    """What the image and video backends share: the client, the job calls, the download."""

    id: ClassVar[str] = "replicate"
    display_name: ClassVar[str] = "Replicate"
    key_name: ClassVar[str | None] = "replicate"
    key_env_var: ClassVar[str | None] = "REPLICATE_API_TOKEN"
    key_help: ClassVar[str] = (
        "create a token at https://replicate.com/account/api-tokens, then `export REPLICATE_API_TOKEN=r8_...`"
    )
    max_concurrency: ClassVar[int] = 64

    _catalog_models: ClassVar[tuple[ModelInfo, ...]]
    _default_model: ClassVar[str]

    #: One poll, cancel or listing never takes longer than this (it also stops at the job's
    #: timeout); a read that cannot finish in time reports "still running, ask again later".
    read_budget_s: float = 20.0

    def __init__(self, *, max_download_bytes: int | None = None, read_budget_s: float | None = None) -> None:
        self._max_download_bytes = max_download_bytes
        if read_budget_s is not None:
            self.read_budget_s = read_budget_s
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, _Track] = OrderedDict()

    @property
    def max_download_bytes(self) -> int:
        """The largest output downloaded: the constructor's value, else
        ``ARTHUR_GEN_REPLICATE_MAX_DOWNLOAD_BYTES`` (read now), else 2 GiB."""
        return self._max_download_bytes or _default_max_download()

    # ----------------------------------------------------------------- catalog

    @property
    def default_model(self) -> str:
        return self._default_model

    def models(self) -> Sequence[ModelInfo]:
        return self._catalog_models

    def resolve_model(self, model_id: str) -> ModelInfo | None:
        """Any ``owner/name`` or ``owner/name:<64-hex version>`` on Replicate."""
        if _MODEL_REF.match(model_id):
            return _catalog.generic_model(model_id, self.kind)
        return None

    def availability(self) -> Availability:
        missing = [m for m in ("replicate", "httpx") if importlib.util.find_spec(m) is None]
        if missing:
            return Availability.no(
                f"the Python package(s) {', '.join(missing)} are not installed",
                "pip install --upgrade arthur-gen-replicate",
            )
        return Availability.yes()

    def model_version(self, model: ModelInfo) -> str:
        return split_ref(replicate_ref(model))[1] or ""

    def validate(self, request: Request, model: ModelInfo) -> None:
        resolve_base_url()  # a bad REPLICATE_BASE_URL fails before anything is planned
        self.max_download_bytes  # noqa: B018 - so does a bad ARTHUR_GEN_REPLICATE_MAX_DOWNLOAD_BYTES
        for field, value in request.input_files().items():
            if not is_url(value) and os.path.getsize(value) > _MAX_UPLOAD_BYTES:
                raise InvalidRequestError(
                    f"{field}={value!r} is larger than the 100 MiB Replicate accepts as an "
                    "upload; pass an https URL to it instead",
                    field=field,
                )
        options = request.options
        for name in model.extra.get("file_options", ()):
            _check_file_option(model, name, options.get(name))
        if isinstance(request, VideoRequest):
            _check_video(request, model)
        if (
            isinstance(request, ImageRequest)
            and model.id == "black-forest-labs/flux-kontext-pro"
            and request.image
            and options.get("safety_tolerance", 2) > 2
        ):
            raise InvalidRequestError(
                f"options.safety_tolerance={options['safety_tolerance']!r} is not accepted by "
                f"{model.id} with an input image: at most 2",
                field="options.safety_tolerance",
            )
        max_guidance = model.extra.get("max_guidance")
        if request.guidance is not None and max_guidance is not None and request.guidance > max_guidance:
            raise InvalidRequestError(
                f"guidance={request.guidance} is not valid for {model.id}: at most {max_guidance}",
                field="guidance",
            )

    def estimate(self, request: Request, model: ModelInfo) -> Estimate | None:
        """Price models whose rate depends on an input (resolution, mode) by that input."""
        if not model.extra.get("rates"):
            return None
        from arthur_gen import Estimate

        inputs = build_input(request, model, lambda path: path)
        usd = cost_usd({"status": "succeeded", "input": inputs}, model, outputs=0)
        rates = model.extra["rates"]
        chosen = inputs.get(rates["field"], rates["default"])
        rate = unit_rate(inputs, model)
        at = f"{rates['field']}={json_value(chosen)}"
        multiplier = model.extra.get("multiplier")
        if multiplier:
            by = inputs.get(multiplier["field"], multiplier["default"])
            at += f", {multiplier['field']}={json_value(by)}"
        detail = f"1 video x ${rate:g} at {at}"
        if model.price.basis is PriceBasis.PER_OUTPUT_SECOND:
            seconds = output_seconds(inputs, model)
            detail = f"{seconds:g} s of output x ${rate:g}/s at {at}"
        return Estimate(usd=usd, basis=model.price.basis, detail=detail)

    def describe_request(self, request: Request, model: ModelInfo) -> Mapping[str, Any]:
        ref = replicate_ref(model)
        name, version = split_ref(ref)

        def planned(path: str) -> str:
            size = os.path.getsize(path)
            how = "inline as a data: URI" if size < DATA_URI_MAX_BYTES else "upload to /v1/files"
            return f"<{path} ({size} bytes): {how}>"

        endpoint = (
            f"POST /v1/predictions (version {version})" if version else f"POST /v1/models/{name}/predictions"
        )
        if model.extra.get("generic") and not version:
            endpoint = (
                f"GET /v1/models/{name}, then POST /v1/models/{name}/predictions if it is an "
                "official model, else POST /v1/predictions with its latest version"
            )
        return {
            "endpoint": endpoint,
            "model": ref,
            "input": build_input(request, model, planned),
            "headers": {"Cancel-After": "the job's timeout"},
        }

    # ----------------------------------------------------------------- plumbing

    def _client(self, ctx: RemoteContext) -> tuple[Client, str]:
        if ctx.key is None or not ctx.key.reveal():
            raise NeedsKeyError(f"Replicate needs an API token: {self.key_help}")
        base_url = resolve_base_url()
        return _shared_pool().get(ctx.key, base_url), base_url

    @staticmethod
    def _job_deadline(ctx: RemoteContext) -> float:
        """The job's deadline (``time.monotonic()``): the context's own when it carries one,
        else the job's timeout from now."""
        deadline = getattr(ctx, "deadline", None)
        if isinstance(deadline, int | float) and not isinstance(deadline, bool):
            return float(deadline)
        return time.monotonic() + max(ctx.timeout_s, 1.0)

    def _budget(self, ctx: RemoteContext, limit: float | None = None) -> float:
        """A deadline (``time.monotonic()``) for one call: its own budget, within the job's."""
        own = time.monotonic() + (self.read_budget_s if limit is None else limit)
        return min(own, max(self._job_deadline(ctx), time.monotonic() + 1.0))

    def _remember(
        self, remote_id: str, status: RemoteStatus, prediction: Mapping[str, Any] | None = None
    ) -> float:
        """Record what a poll saw; return when to poll next (seconds, see ``next_poll_s``),
        spread out further when the account's rate limit runs low."""
        from ._client import rate_limit_floor

        now = time.monotonic()
        with self._lock:
            track = self._seen.pop(remote_id, None) or _Track(first=now, state=status.state)
            track.state = status.state
            track.failures = 0
            if status.state is RemoteState.RUNNING and track.running_since is None:
                track.running_since = now
            if not status.state.terminal:
                self._seen[remote_id] = track
                while len(self._seen) > 4096:
                    self._seen.popitem(last=False)
            active = len(self._seen)
        running_s: float | None = None
        progress_hi: float | None = None
        if prediction is not None and status.state is RemoteState.RUNNING:
            started = started_at(prediction)
            server_running = None if started is None else time.time() - started
            if server_running is not None and 0 < server_running < 86400:
                running_s = server_running
            elif track.running_since is not None:
                running_s = now - track.running_since
            bounds = progress_bounds(prediction.get("logs"))
            progress_hi = bounds[1] if bounds else None
        hint = next_poll_s(
            status.state, waited_s=now - track.first, running_s=running_s, progress_hi=progress_hi
        )
        return max(hint, rate_limit_floor(active))

    def _transient(self, remote_id: str) -> tuple[RemoteState, int]:
        """Note a failed read; return the last state seen and how many reads failed in a row."""
        with self._lock:
            track = self._seen.get(remote_id)
            if track is None:
                return RemoteState.QUEUED, 0
            track.failures += 1
            return track.state, track.failures - 1

    def _upload(self, client: Client, path: str, ctx: RemoteContext) -> str:
        """A local input file as something Replicate accepts: a data: URI or an upload URL."""
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import api_error, call_options, describe_transport_error

        size = os.path.getsize(path)
        if size < DATA_URI_MAX_BYTES:
            return data_uri(path)
        problem = ""
        for attempt in range(3):
            if attempt:
                time.sleep(attempt)
            deadline = time.monotonic() + max(60.0, size / (256 * 1024))
            try:
                with call_options(deadline=deadline):
                    uploaded = client.files.create(path)
                url = str(uploaded.urls["get"])
                log.debug("uploaded %s (%d bytes) for job %s", path, size, ctx.job_id)
                return url
            except ReplicateError as exc:
                if exc.status in (429, 500, 502, 503, 504):
                    problem = f"Replicate answered {exc.status}"
                    continue
                raise api_error(exc, ctx.key, action=f"uploading {path}") from None
            except httpx.TransportError as exc:
                problem = describe_transport_error(exc, ctx.key)
        raise GenerationError(
            f"could not upload {path} to Replicate ({problem}); no prediction was created, so "
            "running the request again is safe"
        )

    # ----------------------------------------------------------------- the job

    def submit(self, request: Request, model: ModelInfo, ctx: RemoteContext) -> str:
        """Create the prediction (never retried); an unknown outcome is SubmitUncertainError."""
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import api_error, describe_transport_error, format_cancel_after

        client, base_url = self._client(ctx)
        ref = replicate_ref(model)
        if model.extra.get("generic") and split_ref(ref)[1] is None:
            ref = self._latest(client, ref, ctx)
        inputs = build_input(request, model, lambda path: self._upload(client, path, ctx))
        cancel_after = format_cancel_after(ctx.timeout_s)
        try:
            prediction = self._create(
                client, ref, inputs, cancel_after, urlsplit(base_url).hostname or "", ctx
            )
        except ReplicateError as exc:
            if (exc.status or 0) >= 500:
                raise SubmitUncertainError(
                    f"Replicate answered {exc.status} to the create of job {ctx.job_id}; the "
                    "prediction may or may not exist. `arthur-gen resume` checks before "
                    "anything is submitted again."
                ) from None
            raise api_error(exc, ctx.key, action=f"creating a prediction of {ref}", model_id=ref) from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise GenerationError(
                f"could not connect to Replicate at {base_url} "
                f"({describe_transport_error(exc, ctx.key)}); nothing was created, so running "
                "the request again is safe"
            ) from None
        except httpx.TransportError as exc:
            raise SubmitUncertainError(
                f"the create of job {ctx.job_id} was sent but no answer came back "
                f"({describe_transport_error(exc, ctx.key)}); the prediction may exist. "
                "`arthur-gen resume` checks Replicate before anything is submitted again."
            ) from None
        except ValueError:  # the client's models or JSON parser rejected a 2xx answer
            raise SubmitUncertainError(
                f"Replicate answered the create of job {ctx.job_id} but the answer could not be "
                "read; `arthur-gen resume` will find the prediction"
            ) from None
        log.info("job %s: created Replicate prediction %s (%s)", ctx.job_id, prediction.id, ref)
        self._remember(str(prediction.id), RemoteStatus(state=RemoteState.QUEUED))
        return str(prediction.id)

    def _latest(self, client: Client, name: str, ctx: RemoteContext) -> str:
        """How to run a model outside the catalog: ``owner/name`` when it is an official model
        (``POST /v1/models/.../predictions``), else ``owner/name:<its latest version>`` (only
        official models run without a version). Read before anything is created."""
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import api_error, call_options, describe_transport_error, raw_json

        try:
            with call_options(deadline=self._budget(ctx)):
                found = raw_json(client, f"/v1/models/{quote(name, safe='/')}")
        except ReplicateError as exc:
            raise api_error(exc, ctx.key, action=f"looking up model {name}", model_id=name) from None
        except (httpx.TransportError, ValueError) as exc:
            problem = (
                describe_transport_error(exc, ctx.key)
                if isinstance(exc, httpx.TransportError)
                else "its answer was not JSON"
            )
            raise GenerationError(
                f"could not look up model {name} on Replicate ({problem}); nothing was created, "
                "so running the request again is safe"
            ) from None
        if not isinstance(found, dict):
            raise GenerationError(f"Replicate returned something unexpected for model {name}")
        if found.get("is_official"):
            return name
        latest = found.get("latest_version")
        version = latest.get("id") if isinstance(latest, dict) else None
        if not isinstance(version, str) or not re.fullmatch(r"[0-9a-f]{64}", version):
            raise InvalidRequestError(
                f"{name} has no published version to run on Replicate; pin one as "
                f"model='{name}:<64-hex version>' (see https://replicate.com/{name}/versions)",
                field="model",
            )
        log.info(
            "job %s: %s is not an official model; running its latest version %s", ctx.job_id, name, version
        )
        return f"{name}:{version}"

    def _create(
        self,
        client: Client,
        ref: str,
        inputs: dict[str, Any],
        cancel_after: str | None,
        host: str,
        ctx: RemoteContext,
    ) -> Any:
        """One create; a 429 created nothing, so it is retried after ``Retry-After`` within the deadline."""
        from replicate.exceptions import ReplicateError

        from ._client import call_options, last_retry_after

        name, version = split_ref(ref)
        attempt = 0
        while True:
            try:
                with call_options(cancel_after=cancel_after):
                    if version:  # "owner/name:version": the API resolves the model from it
                        return client.predictions.create(version=ref, input=inputs)
                    return client.models.predictions.create(model=name, input=inputs)
            except ReplicateError as exc:
                attempt += 1
                if exc.status != 429 or attempt > _CREATE_429_TRIES:
                    raise
                wait = last_retry_after(host)
                wait = min(0.5 * 2 ** (attempt - 1), 8.0) if wait is None else wait
                if time.monotonic() + wait >= self._job_deadline(ctx):
                    raise
                log.info("job %s: Replicate answered 429 to the create; retrying in %.1fs", ctx.job_id, wait)
                time.sleep(wait)

    def _fetch(self, client: Client, remote_id: str) -> dict[str, Any]:
        """The prediction's JSON, read through the official client (its auth, base URL and
        retries) but not through its pydantic model, which rejects ``aborted`` (1.0.7) and
        drops fields such as ``data_removed``."""
        from ._client import raw_json

        data = raw_json(client, f"/v1/predictions/{quote(remote_id, safe='')}")
        if not isinstance(data, dict) or "status" not in data:
            raise GenerationError(f"Replicate returned something unexpected for prediction {remote_id}")
        return data

    def poll(self, remote_id: str, model: ModelInfo, ctx: RemoteContext) -> RemoteStatus:
        """The prediction's status; transient read problems report "ask again later"."""
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import (
            RetryAfterBeyondDeadline,
            api_error,
            call_options,
            describe_transport_error,
        )

        client, _ = self._client(ctx)
        retry_after: float | None = None
        try:
            with call_options(deadline=self._budget(ctx)):
                prediction = self._fetch(client, remote_id)
        except ReplicateError as exc:
            status = exc.status or 0
            if status != 429 and status < 500:
                raise api_error(exc, ctx.key, action=f"reading prediction {remote_id}") from None
            problem = f"Replicate answered {status}"
        except RetryAfterBeyondDeadline as exc:
            problem = f"Replicate answered {exc.status}"
            retry_after = exc.retry_after
        except httpx.TransportError as exc:
            problem = describe_transport_error(exc, ctx.key)
        except ValueError:
            problem = "Replicate's answer was not JSON"
        else:
            current = status_of(prediction, model)
            log.debug("job %s: prediction %s is %s", ctx.job_id, remote_id, prediction.get("status"))
            hint = self._remember(remote_id, current, prediction)
            return current if current.state.terminal else attrs.evolve(current, poll_after_s=hint)
        log.warning(
            "job %s: could not read prediction %s (%s); will ask again",
            ctx.job_id,
            remote_id,
            problem,
        )
        state, failures = self._transient(remote_id)
        backoff = min(10.0, 0.25 * 2**failures)
        return RemoteStatus(
            state=state,
            metrics={"transient_error": problem},
            poll_after_s=min(60.0, retry_after) if retry_after is not None else backoff,
        )

    def cancel(self, remote_id: str, ctx: RemoteContext) -> None:
        """Cancel the prediction (cancelling is idempotent, so it is retried a little)."""
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import VALIDATION_ERRORS, api_error, call_options, describe_transport_error

        client, _ = self._client(ctx)
        path_id = quote(remote_id, safe="")
        problem = ""
        deadline = time.monotonic() + 15.0
        for attempt in range(4):
            if attempt:
                time.sleep(min(0.5 * attempt, max(0.0, deadline - time.monotonic())))
            try:
                with call_options(deadline=deadline):
                    client.predictions.cancel(path_id)
                log.info("job %s: asked Replicate to cancel prediction %s", ctx.job_id, remote_id)
                return
            except VALIDATION_ERRORS:
                return  # it answered with a status client 1.0.7 cannot parse (aborted): done
            except ReplicateError as exc:
                status = exc.status or 0
                if status in (409, 422):
                    return  # already finished
                if status != 429 and status < 500:
                    raise api_error(exc, ctx.key, action=f"cancelling prediction {remote_id}") from None
                problem = f"Replicate answered {status}"
            except httpx.TransportError as exc:
                problem = describe_transport_error(exc, ctx.key)
            if time.monotonic() >= deadline:
                break
        raise GenerationError(
            f"could not cancel Replicate prediction {remote_id} ({problem}); cancel it at "
            f"https://replicate.com/p/{remote_id} so it stops billing"
        )

    def download(self, output: RemoteOutput, dest: BinaryIO, ctx: RemoteContext) -> None:
        from ._download import download

        deadline = self._job_deadline(ctx)
        size, sha256 = download(
            output.url,
            dest,
            key=ctx.key,
            base_url=resolve_base_url(),
            deadline=deadline,
            max_bytes=self.max_download_bytes,
        )
        log.debug("job %s: downloaded %s (%d bytes, sha256 %s)", ctx.job_id, output.name, size, sha256)

    def reconcile(self, request: Request, model: ModelInfo, ctx: RemoteContext, since: float) -> str | None:
        """Find the prediction an uncertain submit created (same model, input within the window).

        None only when a complete listing of the window around the submit holds no candidate;
        anything less certain (a failed or unfinished listing, several candidates, one whose data
        Replicate already removed or that runs under another model name) is SubmitUncertainError
        naming the candidates and the ``arthur-gen settle`` command.
        """
        import httpx
        from replicate.exceptions import ReplicateError

        from ._client import VALIDATION_ERRORS, api_error, call_options, raw_json

        client, _ = self._client(ctx)
        name, version = split_ref(replicate_ref(model))
        expected = build_input(request, model, lambda path: FILE_PLACEHOLDER)
        files = file_fields(model)
        started = ctx.submit_started_at if ctx.submit_started_at is not None else since
        cutoff = started - _RECONCILE_SLACK_S
        until = time.time() + _RECONCILE_SLACK_S
        from datetime import UTC, datetime  # here, not at import: start-up lists backends only

        after = datetime.fromtimestamp(cutoff, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        before = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        cursor: str = f"/v1/predictions?created_after={quote(after)}&created_before={quote(before)}"
        matches: list[tuple[float, str]] = []
        doubtful: list[str] = []
        complete = False
        try:
            with call_options(deadline=self._budget(ctx, 60.0)):
                for _ in range(_RECONCILE_MAX_PAGES):
                    try:
                        page = client.predictions.list(cursor=cursor)
                        results = [dict(p.dict()) for p in page.results]
                        next_cursor = page.next
                    except VALIDATION_ERRORS:
                        raw = raw_json(client, cursor)
                        results = list(raw.get("results") or [])
                        next_cursor = raw.get("next")
                    older = False
                    for item in results:
                        created = _timestamp(item.get("created_at"))
                        if created is not None and created < cutoff:
                            older = True
                            continue
                        if created is not None and created > until:
                            continue
                        pid = str(item.get("id"))
                        if pid in ctx.owned_remote_ids:
                            continue  # another job's prediction is never this one
                        verdict = _match(item, name, version, expected, files)
                        if verdict == "same":
                            matches.append((created or started, pid))
                        elif verdict == "maybe":
                            doubtful.append(pid)
                    if older or not next_cursor:
                        complete = True
                        break
                    cursor = str(next_cursor)
        except ReplicateError as exc:
            if exc.status in (401, 402, 403):
                raise api_error(exc, ctx.key, action="listing recent predictions") from None
            raise SubmitUncertainError(
                f"could not list recent predictions to reconcile job {ctx.job_id} (Replicate "
                f"answered {exc.status}); the job stays uncertain: run `arthur-gen resume` again "
                f"later, or settle it with {_settle_hint(ctx.job_id)}"
            ) from None
        except httpx.TransportError as exc:
            raise SubmitUncertainError(
                f"could not list recent predictions to reconcile job {ctx.job_id} "
                f"({redact(type(exc).__name__ + ': ' + str(exc), ctx.key)}); the job stays "
                f"uncertain: run `arthur-gen resume` again later, or settle it with "
                f"{_settle_hint(ctx.job_id)}"
            ) from None
        candidates = [pid for _, pid in sorted(matches, reverse=True)] + doubtful
        if len(matches) == 1 and not doubtful and complete:
            log.info("job %s: reconciled to prediction %s", ctx.job_id, matches[0][1])
            return matches[0][1]
        if candidates:
            raise SubmitUncertainError(
                f"job {ctx.job_id}: cannot tell which prediction its lost create made (candidates: "
                f"{', '.join(candidates)}); nothing was resent. Check them on replicate.com, then run "
                f"{_settle_hint(ctx.job_id, candidates[0])}"
            )
        if not complete:
            raise SubmitUncertainError(
                f"job {ctx.job_id}: the list of recent predictions did not end after "
                f"{_RECONCILE_MAX_PAGES} pages, so whether the lost create made one is unknown; "
                f"nothing was resent. Settle it with {_settle_hint(ctx.job_id)}"
            )
        log.info("job %s: no prediction since the uncertain submit matches", ctx.job_id)
        return None


def json_value(value: Any) -> str:
    """``true``/``false`` for booleans (as Replicate's schemas write them), else the value."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _check_file_option(model: ModelInfo, name: str, value: Any) -> None:
    """An option that holds files (a path or URL, or a list of them): local files must exist."""
    if value is None:
        return
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if not isinstance(item, str) or not item or is_url(item):
            continue
        if not os.path.isfile(item):
            raise InvalidRequestError(
                f"options.{name}={item!r} is not a file here (nor an https or data: URL); "
                f"give the path of an existing file or a URL for {model.id}",
                field=f"options.{name}",
            )
        if name != "audio":  # every other file option is an image: check it is one
            _check_image(f"options.{name}", item)


def _check_image(field: str, path: str) -> None:
    """A local image option must decode (Pillow, when installed) before it is sent and paid for."""
    problem = "is an empty file" if os.path.getsize(path) == 0 else ""
    if not problem:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - Pillow comes with the edit extra and the emulator
            return
        try:
            with Image.open(path) as image:
                image.verify()
        except Exception as exc:
            problem = f"is not an image Pillow can read ({type(exc).__name__})"
    if problem:
        raise InvalidRequestError(f"{field}={path!r} {problem}; pass a PNG, JPEG or WebP image", field=field)


def _check_video(request: VideoRequest, model: ModelInfo) -> None:
    """The combinations a video model's schema forbids, checked before anything is sent."""
    extra, options = model.extra, request.options
    only_at = extra.get("ten_seconds_only_at")
    resolution = request.resolution or model.default_resolution
    if only_at and request.duration == 10 and resolution != only_at:
        raise InvalidRequestError(
            f"{model.id} makes 10 s videos only at {only_at}, not {resolution}; "
            f"pass resolution='{only_at}' or duration=6",
            field="duration",
        )
    if model.id == "kwaivgi/kling-v2.1" and request.last_frame and options.get("mode", "standard") != "pro":
        raise InvalidRequestError(
            "kwaivgi/kling-v2.1 takes a last frame (end_image) only in mode 'pro'; "
            "pass options={'mode': 'pro'}",
            field="last_frame",
        )
    if extra.get("last_frame_needs_first") and request.last_frame and not request.first_frame:
        raise InvalidRequestError(
            f"{model.id} takes a last frame only together with a first frame; pass first_frame too",
            field="last_frame",
        )
    if model.id == "pixverse/pixverse-v5" and request.last_frame and options.get("effect"):
        raise InvalidRequestError(
            "pixverse/pixverse-v5 applies an effect only without a last frame; drop one of them",
            field="options.effect",
        )
    references = options.get("reference_images")
    if references is None:
        return
    most = 4 if model.id.startswith("bytedance/") else 3
    if not 1 <= len(references) <= most:
        raise InvalidRequestError(
            f"options.reference_images has {len(references)} images; {model.id} takes 1 to {most}",
            field="options.reference_images",
        )
    if model.id.startswith("bytedance/") and (
        resolution == "1080p" or request.first_frame or request.last_frame
    ):
        raise InvalidRequestError(
            f"{model.id} takes reference images only below 1080p and without a first or last "
            "frame; pass resolution='720p' and no frames, or drop reference_images",
            field="options.reference_images",
        )
    if model.id == "google/veo-3.1":
        ratio = request.aspect_ratio or model.default_aspect_ratio
        duration = request.duration or model.default_duration
        if ratio != "16:9" or duration != 8:
            raise InvalidRequestError(
                f"google/veo-3.1 takes reference images only at 16:9 and 8 s, not {ratio} and {duration:g} s",
                field="options.reference_images",
            )


def _settle_hint(job_id: str, prediction: str = "PREDICTION") -> str:
    return f"`arthur-gen settle {job_id} --adopt {prediction}` or `arthur-gen settle {job_id} --resubmit`"


def _timestamp(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _match(
    item: Mapping[str, Any],
    name: str,
    version: str | None,
    expected: Mapping[str, Any],
    files: frozenset[str],
) -> str:
    """ "same", "maybe" (cannot be ruled out: data removed, or served under another name) or "no".

    The expected input must be a subset of the returned one (Replicate adds defaults); file
    fields may come back redacted or missing (data URIs are not echoed back).
    """
    if version is not None and item.get("version") not in (None, version):
        return "no"
    actual = item.get("input")
    removed = bool(item.get("data_removed")) or not isinstance(actual, Mapping) or not actual
    if removed:
        return "maybe" if item.get("model") in (name, None) else "no"
    assert isinstance(actual, Mapping)
    for key, want in expected.items():
        if key in files:
            got = actual.get(key)
            sent_as_is = isinstance(want, str) and want != FILE_PLACEHOLDER and not want.startswith("data:")
            if sent_as_is and got and want != got:
                return "no"  # an http(s) URL given by the user is echoed as-is, so it must match
            continue  # uploads differ every time; data: URIs come back as URLs or not at all
        if key not in actual or actual[key] != want:
            return "no"
    return "same" if item.get("model") == name else "maybe"


class ReplicateVideoBackend(_ReplicateBackend, VideoBackend):
    """Videos on Replicate (MiniMax, Kling, Wan, and any other model by its id)."""

    _catalog_models = _catalog.VIDEO_MODELS
    _default_model = _catalog.DEFAULT_VIDEO_MODEL


class ReplicateImageBackend(_ReplicateBackend, ImageBackend):
    """Images on Replicate (FLUX schnell/dev/1.1-pro, and any other model by its id)."""

    _catalog_models = _catalog.IMAGE_MODELS
    _default_model = _catalog.DEFAULT_IMAGE_MODEL
