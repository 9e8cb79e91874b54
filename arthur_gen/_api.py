"""The public verbs: generate images and videos, estimate, list, look back, resume."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ._backends import Backend
from ._models import Kind, ModelInfo
from ._registry import backends, find_model, plugin_of
from ._registry import get_backend as _get_backend
from .errors import ArthurGenError, InvalidRequestError, JobNotFoundError

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

    from ._requests import ImageRequest, VideoRequest
    from ._secrets import Secret
    from .jobs._results import GeneratedImage, GeneratedVideo, ProgressEvent
    from .jobs._runner import Plan
    from .jobs._store import JobRow
    from .money._budget import Estimate
    from .publish._driver import Publication

__all__ = [
    "agenerate_image",
    "agenerate_video",
    "estimate",
    "gather",
    "generate_image",
    "generate_images",
    "generate_video",
    "generate_videos",
    "get_backend",
    "get_job",
    "history",
    "list_backends",
    "list_models",
    "plan",
    "result_of",
    "resume",
]

T = TypeVar("T")
#: ``backend=``: an id, ``"auto"``, a preference list, or None (the config's, else auto).
BackendChoice = str | Sequence[str] | None
_executor: concurrent.futures.ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _kind(value: str | Kind) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise InvalidRequestError(f"kind={value!r} is not valid: 'image' or 'video'") from None


def _build_request(
    kind: Kind, prompt: str | ImageRequest | VideoRequest, fields: dict[str, Any]
) -> ImageRequest | VideoRequest:
    from ._requests import ImageRequest, VideoRequest

    cls: type[ImageRequest] | type[VideoRequest] = ImageRequest if kind is Kind.IMAGE else VideoRequest
    if isinstance(prompt, ImageRequest | VideoRequest):
        if not isinstance(prompt, cls):
            raise InvalidRequestError(f"expected a {cls.__name__}, got {type(prompt).__name__}")
        given = {k: v for k, v in fields.items() if v is not None}
        return prompt.with_changes(**given) if given else prompt
    try:
        return cls(prompt=prompt, **{k: v for k, v in fields.items() if v is not None})
    except TypeError as exc:
        raise InvalidRequestError(str(exc)) from None


def _parents_of(*inputs: Any) -> tuple[str, ...]:
    return tuple(i.job_id for i in inputs if isinstance(getattr(i, "job_id", None), str))


def plan(
    kind: str | Kind,
    prompt: str | ImageRequest | VideoRequest,
    *,
    backend: BackendChoice = None,
    model: str | None = None,
    allow_unknown_price: bool = False,
    key: str | Secret | None = None,
    **fields: Any,
) -> Plan:
    """Validate and price a request without running it (what ``--dry-run`` shows).

    ``backend``: an id, ``"auto"``, or a preference list such as ``["mlx_video", "replicate"]``
    (default: the config's, else ``"auto"``). When routed, ``plan(...).route`` lists every
    backend considered with its model, cost and why it runs or was skipped.
    """
    from .jobs._runner import plan_request

    k = _kind(kind)
    request = _build_request(k, prompt, fields)
    return plan_request(k, request, backend, model, allow_uncataloged=allow_unknown_price, key=key)


def estimate(
    kind: str | Kind,
    prompt: str | ImageRequest | VideoRequest,
    *,
    backend: BackendChoice = None,
    model: str | None = None,
    **fields: Any,
) -> Estimate:
    """What a request would cost, from the model's price basis. Sends nothing.

    The cost on the backend that would run it (none can: the first whose model accepts the
    request). Routed (``auto``, the default, or a preference list), ``.options`` lists every
    backend considered with its cost and whether it runs here, local and cloud side by side.
    """
    import attrs

    the_plan = plan(kind, prompt, backend=backend, model=model, **fields)
    if the_plan.route is None:
        return the_plan.estimate
    return attrs.evolve(the_plan.estimate, options=the_plan.route.options)


def _run(
    kind: Kind,
    prompt: str | ImageRequest | VideoRequest,
    backend: BackendChoice,
    model: str | None,
    fields: dict[str, Any],
    run: dict[str, Any],
) -> GeneratedImage | GeneratedVideo:
    from .jobs._preflight import check_input_images, check_prompt, check_run_arguments
    from .jobs._runner import RunOptions, plan_request, run_plan

    check_prompt(prompt)
    check_run_arguments(run)
    check_input_images(fields)
    parents = _parents_of(fields.get("image"), fields.get("first_frame"), fields.get("last_frame"))
    request = _build_request(kind, prompt, fields)
    the_plan = plan_request(
        kind,
        request,
        backend,
        model,
        allow_uncataloged=bool(run.get("allow_unknown_price")),
        key=run.get("key"),
    )
    if the_plan.route is not None:  # routed: nothing can run -> every option, its cost and fix
        if not the_plan.route.runs:
            raise the_plan.route.error()
        if the_plan.route.skipped():
            import logging

            logging.getLogger("arthur_gen.routing").info("%s", the_plan.route.note())
    elif not the_plan.backend.is_local:  # one backend named: a missing key also says how to try it offline
        from ._routing import check_key

        check_key(the_plan.backend, run.get("key"))
    opts = RunOptions(
        key=run.get("key"),
        out_dir=Path(run["out_dir"]).expanduser() if run.get("out_dir") else None,
        timeout_s=run.get("timeout"),
        cache=run.get("cache", True),
        allow_unknown_price=run.get("allow_unknown_price"),
        parents=tuple(run.get("parents") or ()) + parents,
        on_progress=run.get("on_progress") or _auto_progress(),
        cancel_event=run.get("cancel_event"),
    )
    return run_plan(the_plan, opts)


def _auto_progress() -> Callable[[ProgressEvent], None] | None:
    """A progress bar of its own in a Jupyter kernel, when the caller gave no ``on_progress``."""
    import sys

    if "ipykernel" not in sys.modules:  # the common case costs no import
        return None
    from ._progress import auto_progress

    return auto_progress()


_RUN_ARGUMENTS = (
    "key",
    "out_dir",
    "timeout",
    "cache",
    "allow_unknown_price",
    "parents",
    "on_progress",
    "cancel_event",
)


def _verb(kind: Kind, arguments: dict[str, Any]) -> GeneratedImage | GeneratedVideo:
    """Split a verb's arguments into request fields and run options, then run it."""
    prompt, backend, model = (arguments.pop(k) for k in ("prompt", "backend", "model"))
    run = {k: arguments.pop(k) for k in _RUN_ARGUMENTS}
    return _run(kind, prompt, backend, model, arguments, run)


def generate_image(
    prompt: str | ImageRequest,
    *,
    backend: BackendChoice = None,
    model: str | None = None,
    negative_prompt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    image: str | Path | GeneratedImage | None = None,
    strength: float | None = None,
    options: Mapping[str, Any] | None = None,
    key: str | Secret | None = None,
    out_dir: str | Path | None = None,
    timeout: float | None = None,
    cache: bool = True,
    allow_unknown_price: bool | None = None,
    parents: Sequence[str] = (),
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel_event: threading.Event | None = None,
) -> GeneratedImage:
    """Generate an image. Returns once the file is on disk; see :class:`GeneratedImage`.

    ``backend``: an id, ``"auto"`` or a preference list (default: the config's, else auto:
    the first installed backend whose model can run it here, local ones first).
    """
    arguments = dict(locals())  # first: only the parameters
    from .jobs._results import GeneratedImage

    result = _verb(Kind.IMAGE, arguments)
    assert isinstance(result, GeneratedImage)
    return result


def generate_video(
    prompt: str | VideoRequest,
    *,
    backend: BackendChoice = None,
    model: str | None = None,
    negative_prompt: str | None = None,
    width: int | None = None,
    height: int | None = None,
    aspect_ratio: str | None = None,
    resolution: str | None = None,
    duration: float | None = None,
    fps: int | None = None,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    first_frame: str | Path | GeneratedImage | None = None,
    last_frame: str | Path | GeneratedImage | None = None,
    strength: float | None = None,
    options: Mapping[str, Any] | None = None,
    key: str | Secret | None = None,
    out_dir: str | Path | None = None,
    timeout: float | None = None,
    cache: bool = True,
    allow_unknown_price: bool | None = None,
    parents: Sequence[str] = (),
    on_progress: Callable[[ProgressEvent], None] | None = None,
    cancel_event: threading.Event | None = None,
) -> GeneratedVideo:
    """Generate a video (text-to-video, or image-to-video with ``first_frame``).

    ``backend``: an id, ``"auto"`` or a preference list such as ``["mlx_video", "replicate"]``
    (default: the config's, else auto). Nothing can run here: an error listing each option.
    """
    arguments = dict(locals())  # first: only the parameters
    from .jobs._results import GeneratedVideo

    result = _verb(Kind.VIDEO, arguments)
    assert isinstance(result, GeneratedVideo)
    return result


def _pool() -> concurrent.futures.ThreadPoolExecutor:
    import concurrent.futures

    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = concurrent.futures.ThreadPoolExecutor(
                max_workers=128, thread_name_prefix="arthur-gen"
            )
        return _executor


async def _in_thread(fn: Callable[..., T], **kwargs: Any) -> T:
    """Run a blocking verb in the worker pool; cancelling the task cancels the job."""
    import asyncio

    cancel = kwargs.get("cancel_event") or threading.Event()
    kwargs["cancel_event"] = cancel
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_pool(), functools.partial(fn, **kwargs))
    # A cancelled task stops waiting, but the job ends later (JobCanceledError once the remote
    # job is stopped): retrieve that outcome, or asyncio prints "Future exception was never
    # retrieved" with a traceback when the future is collected.
    future.add_done_callback(_retrieved)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancel.set()
        raise


def _retrieved(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


async def agenerate_image(prompt: str | ImageRequest, **kwargs: Any) -> GeneratedImage:
    """Async twin of :func:`generate_image` (same arguments)."""
    return await _in_thread(generate_image, prompt=prompt, **kwargs)


async def agenerate_video(prompt: str | VideoRequest, **kwargs: Any) -> GeneratedVideo:
    """Async twin of :func:`generate_video` (same arguments)."""
    return await _in_thread(generate_video, prompt=prompt, **kwargs)


def gather(calls: Iterable[Callable[[], T]], *, max_concurrency: int = 16) -> list[T | BaseException]:
    """Run several generations at once from sync code (bounded); errors are returned in place.

    ``arthur_gen.gather([lambda: generate_video(p) for p in prompts])``
    """
    import concurrent.futures

    items = list(calls)
    results: list[T | BaseException] = [None] * len(items)  # type: ignore[list-item]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        futures = {pool.submit(call): i for i, call in enumerate(items)}
        for future in concurrent.futures.as_completed(futures):
            index = futures[future]
            try:
                results[index] = future.result()
            except BaseException as exc:
                results[index] = exc
    return results


def generate_images(
    prompt: str | ImageRequest, *, seeds: Sequence[int], max_concurrency: int = 8, **kwargs: Any
) -> list[GeneratedImage]:
    """:func:`generate_image` once per seed, each its own job; on a remote backend they run at
    once (at most ``max_concurrency``), on a local one in turn. Results in the order of ``seeds``.

    Every request is checked (and priced) before the first is sent. If one fails, the others
    still finish and are saved; then its error is raised. Seeded results are cached, so calling
    again answers the saved ones at $0 and runs only the rest.
    """
    return run_seeds(generate_image, "image", prompt, seeds, kwargs, max_concurrency=max_concurrency)


def generate_videos(
    prompt: str | VideoRequest, *, seeds: Sequence[int], max_concurrency: int = 8, **kwargs: Any
) -> list[GeneratedVideo]:
    """:func:`generate_video` once per seed, concurrently on a remote backend (see
    :func:`generate_images`)."""
    return run_seeds(generate_video, "video", prompt, seeds, kwargs, max_concurrency=max_concurrency)


def run_seeds(
    verb: Callable[..., T],
    kind: str,
    prompt: Any,
    seeds: Sequence[int | None],
    kwargs: dict[str, Any],
    *,
    max_concurrency: int = 8,
    progress_for: Callable[[str], Callable[[ProgressEvent], None]] | None = None,
    return_exceptions: bool = False,
) -> list[T]:
    """Run ``verb`` once per seed, each its own job: concurrently when the backend is remote.

    All requests are planned first (bad input fails before anything is sent). Ctrl-C (or
    SIGTERM, which the CLI turns into one) cancels every job and waits until each is cancelled
    and recorded, then raises ``KeyboardInterrupt`` saying what became of each. With
    ``return_exceptions`` a failed job's exception takes its place in the list.
    """
    if isinstance(seeds, int | str) or not seeds:
        raise InvalidRequestError("seeds must be a non-empty list of seeds, e.g. seeds=[1, 2, 3]")
    if "seed" in kwargs:
        raise InvalidRequestError("give seeds=[...] or seed=..., not both")
    from .jobs._preflight import check_input_images, check_prompt, check_run_arguments

    plan_fields = {k: v for k, v in kwargs.items() if k not in _RUN_ARGUMENTS}
    check_prompt(prompt)  # once, before any job: the same checks each call makes again
    check_run_arguments({k: kwargs.get(k) for k in _RUN_ARGUMENTS} | {"cache": kwargs.get("cache", True)})
    check_input_images(plan_fields)
    plans = [
        plan(
            kind,
            prompt,
            seed=s,
            allow_unknown_price=bool(kwargs.get("allow_unknown_price")),
            key=kwargs.get("key"),
            **plan_fields,
        )
        for s in seeds
    ]
    if progress_for is None and kwargs.get("on_progress") is None and len(seeds) > 1:
        from ._progress import auto_progress

        shared = auto_progress()  # one notebook table for all the seeds
        progress_for = shared.callback if shared is not None else None

    def call(seed: int | None, cancel: threading.Event | None) -> T:
        extra: dict[str, Any] = {"seed": seed}
        if progress_for is not None:
            extra["on_progress"] = progress_for(f"seed {seed}" if seed is not None else "")
        if cancel is not None:
            extra["cancel_event"] = cancel
        return verb(prompt, **kwargs, **extra)

    if len(seeds) == 1 or plans[0].backend.is_local:  # local: one at a time anyway, in this thread
        outcomes: list[T | BaseException] = []
        for s in seeds:
            try:
                outcomes.append(call(s, None))
            except Exception as exc:
                if not return_exceptions:
                    raise
                outcomes.append(exc)
        return outcomes  # type: ignore[return-value]
    return _concurrently(call, seeds, kwargs.get("cancel_event"), max_concurrency, return_exceptions)


def _concurrently(
    call: Callable[[int | None, threading.Event | None], T],
    seeds: Sequence[int | None],
    user_cancel: threading.Event | None,
    max_concurrency: int,
    return_exceptions: bool,
) -> list[T]:
    import concurrent.futures

    cancel = user_cancel or threading.Event()
    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=max(1, min(max_concurrency, len(seeds))), thread_name_prefix="arthur-gen-seed"
    )

    def guarded(seed: int | None) -> T:
        if cancel.is_set():  # cancelled before this one started: nothing is sent
            from .errors import JobCanceledError

            raise JobCanceledError(f"seed {seed}: cancelled before it started; nothing was sent")
        return call(seed, cancel)

    futures = [pool.submit(guarded, s) for s in seeds]
    interrupted = False
    pending = set(futures)
    while pending:
        try:
            _done, pending = concurrent.futures.wait(pending, timeout=0.1)
        except KeyboardInterrupt:  # every job is cancelled and recorded; a second one waits too
            interrupted = True
            cancel.set()
    pool.shutdown()
    outcomes: list[T | BaseException] = []
    for future in futures:
        error = future.exception()
        outcomes.append(future.result() if error is None else error)
    if interrupted:
        lines = [
            f"  seed {s}: " + (str(o) if isinstance(o, BaseException) else f"saved {getattr(o, 'path', o)}")
            for s, o in zip(seeds, outcomes, strict=True)
        ]
        raise KeyboardInterrupt("every job was stopped or had finished:\n" + "\n".join(lines))
    if not return_exceptions:
        for o in outcomes:
            if isinstance(o, BaseException):
                raise o
    return outcomes  # type: ignore[return-value]


def _backend_info(backend: Backend, default: str | None) -> dict[str, Any]:
    from ._routing import backend_status

    status = backend_status(backend)  # packages, platform and (remote) the API key: as doctor
    model = find_model(backend, None)
    ready = backend.model_availability(model) if status.ok else status
    return {
        "id": backend.id,
        "kind": backend.kind.value,
        "local": backend.is_local,
        "plugin": plugin_of(backend),
        "default_model": backend.default_model,
        "models": len(backend.models()),
        "available": status.ok,
        "reason": status.reason,
        "fix": status.fix,
        "needs_key": backend.key_env_var,
        "default_model_ready": ready.ok,
        "default_model_reason": ready.reason,
        "default": backend.id == default,
    }


def list_backends(kind: str | Kind | None = None) -> list[dict[str, Any]]:
    """Installed backends: whether each can run here (packages, platform, key; its default
    model's weights) and which one a request with no ``backend=`` goes to (``default``).
    Loads no weights and calls no network."""
    from ._routing import default_route

    kinds = [_kind(kind)] if kind else [Kind.IMAGE, Kind.VIDEO]
    rows = []
    for k in kinds:
        found = sorted(backends(k).items())
        default = default_route(k)[0] if found else None
        rows += [_backend_info(b, default) for _, b in found]
    return rows


def get_backend(backend_id: str, kind: str | Kind = Kind.IMAGE) -> Backend:
    """The backend object with that id."""
    return _get_backend(backend_id, _kind(kind))


def list_models(kind: str | Kind | None = None, backend: str | None = None) -> list[tuple[str, ModelInfo]]:
    """(backend id, model) pairs; describing a model loads no weights."""
    kinds = [_kind(kind)] if kind else [Kind.IMAGE, Kind.VIDEO]
    pairs: list[tuple[str, ModelInfo]] = []
    for k in kinds:
        for bid, b in sorted(backends(k).items()):
            if backend is None or backend == bid:
                pairs.extend((bid, m) for m in b.models())
    return pairs


def get_job(job: str) -> JobRow:
    """A job by id (or unique id prefix)."""
    from .jobs._store import get_store

    found = get_store().find(job)
    if len(found) == 1 or (found and found[0].id == job):
        return found[0]
    if not found:
        raise JobNotFoundError(f"no job {job!r}; `arthur-gen history` lists jobs")
    raise JobNotFoundError(f"{job!r} matches several jobs; give more of the id")


def history(
    *,
    limit: int | None = 50,
    backend: str | None = None,
    model: str | None = None,
    kind: str | None = None,
    text: str | None = None,
    state: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[JobRow]:
    """Jobs, newest first, filtered."""
    from .jobs._store import get_store

    where: list[str] = ["1"]
    params: list[Any] = []
    for column, value in (("backend", backend), ("model", model), ("kind", kind), ("state", state)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if text:
        where.append("prompt LIKE ? ESCAPE '\\'")
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params.append(f"%{escaped}%")
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if until is not None:
        where.append("created_at < ?")
        params.append(until)
    return get_store().query(" AND ".join(where), params, limit=limit)


def resume(
    *,
    key: str | Secret | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> list[tuple[str, GeneratedImage | GeneratedVideo | Publication | ArthurGenError]]:
    """Finish every unfinished job no live process is driving; never submits a paid job twice.

    Publish jobs go on from their checkpoint exactly as running the same ``publish`` again does
    (never a second post); their outcome is a :class:`~arthur_gen.publish.Publication`.
    """
    from .jobs._runner import RunOptions, _key_for, drive_job
    from .jobs._store import get_store, owner_token

    store = get_store()
    owner = owner_token()
    outcomes: list[tuple[str, GeneratedImage | GeneratedVideo | Publication | ArthurGenError]] = []
    for row in store.active_jobs():
        if not row.lease_stale():
            continue
        claimed = store.claim(row.id, owner)
        if claimed is None:
            continue
        try:
            if row.kind == "publish":  # uploads: their own checkpointed driver
                from .publish._driver import resume_job

                outcomes.append((row.id, resume_job(claimed, on_progress)))
                continue
            b = _get_backend(row.backend, _kind(row.kind))
            m = find_model(b, row.model)
            secret = None if b.is_local else _key_for(b, key)
            opts = RunOptions(key=secret, on_progress=on_progress)
            outcomes.append((row.id, drive_job(claimed, b, m, secret, opts)))
        except ArthurGenError as exc:
            store.release(row.id, owner)
            outcomes.append((row.id, exc))
        except Exception as exc:  # one broken job never stops resume for the jobs after it
            from ._secrets import redact
            from .errors import GenerationError

            reason = redact(f"{type(exc).__name__}: {exc}", None)
            try:
                store.set(row.id, error=f"resume failed: {reason}", expect_owner=owner)
            finally:
                store.release(row.id, owner)
            outcomes.append((row.id, GenerationError(f"job {row.id}: resume failed ({reason})")))
    return outcomes


def result_of(job: str) -> GeneratedImage | GeneratedVideo:
    """The result object of a saved job."""
    row = get_job(job)
    if row.state != "saved":
        raise JobNotFoundError(f"job {row.id} is {row.state}, not saved")
    from .jobs._runner import result_from_row

    return result_from_row(row)
