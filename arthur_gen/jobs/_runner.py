"""The durable runner: plan a request, record it, run it once, save its outputs.

The order of writes is the money rule: the job row exists before a paid submit, the remote
id is stored the moment it returns, an uncertain submit is reconciled with the provider
before anything is sent again, and a second caller with the same request attaches to the
job in flight instead of paying for another.
"""

from __future__ import annotations

import logging
import random
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .._backends import (
    Backend,
    LocalBackend,
    LocalContext,
    RemoteBackend,
    RemoteContext,
    RemoteOutput,
    RemoteState,
    RemoteStatus,
)
from .._config import Settings, load_settings, resolve_key
from .._models import Kind, ModelInfo
from .._requests import ImageRequest, VideoRequest, is_url, request_from_dict
from .._routing import Route, route
from .._secrets import Secret, redact
from .._validate import check_request
from ..errors import (
    ArthurGenError,
    BackendUnavailableError,
    DownloadError,
    GenerationError,
    JobCanceledError,
    JobNotFoundError,
    JobTimeoutError,
    SubmitUncertainError,
)
from ..money._budget import Estimate, check_budget, estimate_request
from ..money._cache import blob_path, cached_answer, keep_blob, valid_blob
from ._atomic import temp_path_beside
from ._hashing import input_digest, request_key
from ._outputs import (
    HashingWriter,
    extension_for,
    file_digest,
    output_target,
    prepare_output,
    publish_output,
    sidecar_path,
    write_sidecar,
)
from ._results import GeneratedImage, GeneratedVideo, ProgressEvent
from ._store import ACTIVE_STATES, JobRow, Store, get_store, new_job_id, owner_token

__all__ = ["Plan", "RunOptions", "drive_job", "plan_request", "result_from_row", "run_plan"]

log = logging.getLogger("arthur_gen")

Request = ImageRequest | VideoRequest
Result = GeneratedImage | GeneratedVideo
DEFAULT_TIMEOUT_S = {Kind.IMAGE: 900.0, Kind.VIDEO: 1800.0, Kind.EDIT: 3600.0}
DEFAULT_MAX_DOWNLOAD = 4 * 1024**3
_POLL_FIRST_S, _POLL_FACTOR, _POLL_MAX_S = 0.25, 1.3, 5.0
#: ``cost_source`` of a job the provider never ran: its create was refused or never arrived,
#: or it was cancelled before anything was sent. It costs $0, recorded as such (not unknown).
NOT_STARTED = "not_started"
_FREE_NOT_STARTED: dict[str, Any] = {"cost_usd": 0.0, "cost_source": NOT_STARTED}
#: A local run costs nothing, whether it ends saved, failed or cancelled.
_FREE: dict[str, Any] = {"cost_usd": 0.0, "cost_source": "free"}

_semaphores: dict[tuple[str, str], threading.BoundedSemaphore] = {}
_semaphores_lock = threading.Lock()


def _semaphore(backend: Backend) -> threading.BoundedSemaphore:
    key = (backend.kind.value, backend.id)
    with _semaphores_lock:
        if key not in _semaphores:
            _semaphores[key] = threading.BoundedSemaphore(max(1, backend.max_concurrency))
        return _semaphores[key]


@attrs.frozen(kw_only=True)
class Plan:
    """A validated request bound to a backend and model, with its estimate and keys."""

    request: Request
    backend: Backend
    model: ModelInfo
    estimate: Estimate
    request_hash: str
    cache_key: str | None
    #: The backends tried when the choice was routed (``auto`` or a preference list), else None.
    route: Route | None = None

    def to_dict(self) -> dict[str, Any]:
        """What ``--dry-run`` shows: the estimate and exactly what would be sent."""
        return {
            "backend": self.backend.id,
            "model": self.model.id,
            "kind": self.model.kind.value,
            "estimate": self.estimate.to_dict(),
            "request": self.request.to_dict(),
            "would_send": dict(self.backend.describe_request(self.request, self.model)),
            "cacheable": self.cache_key is not None,
            "cached_by": cached_answer(self.cache_key),  # the saved job that would answer it, if any
            "route": self.route.to_dict() if self.route is not None else None,
        }


@attrs.frozen(kw_only=True)
class RunOptions:
    """How to run a plan (all optional)."""

    key: str | Secret | None = attrs.field(default=None, repr=False)
    out_dir: Path | None = None
    timeout_s: float | None = None
    cache: bool = True
    allow_unknown_price: bool | None = None
    parents: tuple[str, ...] = ()
    on_progress: Callable[[ProgressEvent], None] | None = None
    cancel_event: threading.Event | None = None
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD


def plan_request(
    kind: Kind,
    request: Request,
    backend_id: str | Sequence[str] | None,
    model_id: str | None,
    *,
    allow_uncataloged: bool = False,
    key: str | Secret | None = None,
) -> Plan:
    """Choose backend and model (routed: see :mod:`arthur_gen._routing`), validate, estimate.
    Touches no file and no network."""
    backend, model, chosen = route(
        kind, request, backend_id, model_id, key=key, allow_uncataloged=allow_uncataloged
    )
    check_request(request, model)
    backend.validate(request, model)
    version = backend.model_version(model)
    identity = backend.cache_identity(request, model)
    if identity:
        version = f"{version};files={identity}"
    rhash = request_key(request, backend=backend.id, model=model.id, version=version)
    return Plan(
        request=request,
        backend=backend,
        model=model,
        estimate=backend.estimate(request, model) or estimate_request(request, model),
        request_hash=rhash,
        # Seeded requests repeat; deterministic kinds (an edit) always do.
        cache_key=rhash if request.seed is not None or getattr(request, "deterministic", False) else None,
        route=chosen,
    )


def _emit(opts: RunOptions, job_id: str, phase: str, **fields: Any) -> None:
    if opts.on_progress is not None:
        try:
            opts.on_progress(ProgressEvent(job_id=job_id, phase=phase, **fields))
        except Exception:
            log.exception("progress callback failed")


def _check_available(backend: Backend, model: ModelInfo, request: Request) -> None:
    for availability in (backend.availability(), backend.request_availability(request, model)):
        if not availability.ok:
            fix = f" Fix: {availability.fix}" if availability.fix else ""
            raise BackendUnavailableError(
                f"{backend.id} cannot run {model.id} here: {availability.reason}.{fix}"
            )


def _key_for(backend: Backend, explicit: str | Secret | None) -> Secret | None:
    return resolve_key(backend.key_name, backend.key_env_var, explicit, backend.key_help)


def _lineage(request: Request, explicit: tuple[str, ...], store: Store) -> list[str]:
    parents = list(explicit)
    for value in request.input_files().values():
        if is_url(value):
            continue
        sha = input_digest(value).removeprefix("sha256:")
        for job_id in store.jobs_with_output(sha):
            if job_id not in parents:
                parents.append(job_id)
    return parents


def run_plan(plan: Plan, opts: RunOptions) -> Result:
    """Run a plan durably and return its result (from the cache, a job in flight, or anew)."""
    settings = load_settings()
    store = get_store()
    backend, model, request = plan.backend, plan.model, plan.request
    _check_available(backend, model, request)
    key = None if backend.is_local else _key_for(backend, opts.key)
    if opts.cache and plan.cache_key is not None:
        hit = _from_cache(plan, opts, settings, store)
        if hit is not None:
            return hit
    parents = _lineage(request, opts.parents, store)
    seed = request.seed
    if seed is None and model.supports_seed:
        seed = random.randrange(0, 2**32)
    effective = attrs.evolve(request, seed=seed) if seed != request.seed else request
    owner = owner_token()
    # Absolute, so the job's files are found from any working directory (a notebook elsewhere).
    out_dir = (opts.out_dir or settings.output_dir).absolute()
    timeout = opts.timeout_s or DEFAULT_TIMEOUT_S[model.kind]
    allow_unknown = (
        settings.allow_unknown_price if opts.allow_unknown_price is None else opts.allow_unknown_price
    )
    now = time.time()
    job_id = new_job_id()
    with store.transaction() as db:
        marks = ",".join("?" * len(ACTIVE_STATES))
        cur = db.execute(
            f"SELECT * FROM jobs WHERE request_hash = ? AND state IN ({marks}) ORDER BY created_at LIMIT 1",
            (plan.request_hash, *ACTIVE_STATES),
        )
        found = cur.fetchone()
        existing = store.row_from(cur, found) if found else None
        if existing is None:
            check_budget(
                db,
                plan.estimate,
                settings.budget,
                allow_unknown_price=allow_unknown,
                model_id=model.id,
            )
            store.insert(
                db,
                {
                    "id": job_id,
                    "created_at": now,
                    "updated_at": now,
                    "kind": model.kind.value,
                    "backend": backend.id,
                    "model": model.id,
                    "prompt": request.prompt,
                    "request": effective.to_dict(),
                    "request_hash": plan.request_hash,
                    "cache_key": plan.cache_key,
                    "state": "planned",
                    "seed": seed,
                    "estimate_usd": plan.estimate.usd,
                    "parents": parents,
                    "out_dir": str(out_dir),
                    "timeout_s": timeout,
                    "lease_owner": owner,
                    "lease_until": now + 30,
                },
            )
    if existing is not None:
        _emit(opts, existing.id, "attached", message="same request already in flight")
        return attach(existing.id, backend, model, key, opts)
    try:
        _emit(opts, job_id, "planned", message=plan.estimate.describe())
    except KeyboardInterrupt:
        _cancel_unsent(store, job_id, "free" if backend.is_local else NOT_STARTED)
        raise
    row = store.get(job_id)
    assert row is not None
    return drive_job(row, backend, model, key, opts)


def _cancel_unsent(store: Store, job_id: str, cost_source: str) -> None:
    """Ctrl-C before anything was sent: the job ends cancelled at $0 and is never sent later."""
    fresh = store.get(job_id)
    if fresh is not None and fresh.state == "planned" and fresh.submit_count == 0:
        _fail(
            store,
            fresh,
            "canceled",
            "cancelled by the user before it was sent",
            cost_usd=0.0,
            cost_source=cost_source,
        )


def attach(job_id: str, backend: Backend, model: ModelInfo, key: Secret | None, opts: RunOptions) -> Result:
    """Wait for a job another process drives; take it over if that process dies."""
    store = get_store()
    owner = owner_token()
    while True:
        row = store.get(job_id)
        if row is None:
            raise JobNotFoundError(f"job {job_id} vanished from the store")
        if row.state == "saved":
            return result_from_row(row)
        if row.state in ("failed", "canceled"):
            raise GenerationError(f"job {job_id} ended {row.state}: {row.error or 'no details'}")
        if row.lease_stale():
            claimed = store.claim(job_id, owner)
            if claimed is not None:
                return drive_job(claimed, backend, model, key, opts)
        if opts.cancel_event is not None and opts.cancel_event.wait(0.2):
            raise JobCanceledError(f"stopped waiting for job {job_id} (it keeps running)")
        if opts.cancel_event is None:
            time.sleep(0.2)


def drive_job(
    row: JobRow, backend: Backend, model: ModelInfo, key: Secret | None, opts: RunOptions
) -> Result:
    """Finish a job this process holds the lease for, from whatever state it is in."""
    store = get_store()
    owner = owner_token()
    request = request_from_dict(row.request)
    try:
        with _semaphore(backend):
            if isinstance(backend, LocalBackend):
                row = _drive_local(row, backend, model, request, opts)
            else:
                assert isinstance(backend, RemoteBackend)
                row = _drive_remote(row, backend, model, request, key, opts)
    except BaseException as exc:
        stopped = JobCanceledError | JobTimeoutError | KeyboardInterrupt
        phase = "canceled" if isinstance(exc, stopped) else "failed"
        _emit(opts, row.id, phase, message=redact(str(exc), key))
        clean = _scrubbed(exc, key) if isinstance(exc, Exception) else exc
        if clean is exc:
            raise
        raise clean from None
    finally:
        if row.state != "saved":  # a saved job released its lease as it finished
            store.release(row.id, owner)
    result = result_from_row(row if row.state == "saved" else (store.get(row.id) or row))
    _emit(opts, row.id, "saved", message=", ".join(str(p) for p in result.paths))
    return result


def _scrubbed(exc: Exception, key: Secret | None) -> Exception:
    """``exc`` with the key blanked out of its message (plugins' errors may quote it)."""
    secret = key.reveal() if key is not None else ""
    if not secret or (secret not in str(exc) and secret not in repr(exc)):
        return exc
    if isinstance(exc, ArthurGenError):
        exc.args = tuple(redact(a, key) if isinstance(a, str) else a for a in exc.args)
        return exc
    return GenerationError(redact(f"{type(exc).__name__}: {exc}", key))


def _fail(store: Store, row: JobRow, state: str, error: str, **values: Any) -> None:
    store.set(
        row.id,
        state=state,
        error=error,
        finished_at=time.time(),
        expect_owner=owner_token(),
        **values,
    )


def _workdir(row: JobRow) -> Path:
    base = Path(row.out_dir or load_settings().output_dir)
    work = base / ".work" / row.id
    work.mkdir(parents=True, exist_ok=True)
    return work


def _drive_local(
    row: JobRow, backend: LocalBackend, model: ModelInfo, request: Request, opts: RunOptions
) -> JobRow:
    store = get_store()
    owner = owner_token()
    started = time.time()
    store.set(row.id, state="running", expect_owner=owner)
    _emit(opts, row.id, "running")
    work = _workdir(row)
    cancel = opts.cancel_event or threading.Event()
    last = [0.0]

    def on_step(step: int, total: int) -> None:
        _emit(opts, row.id, "step", step=step, total=total)
        if time.monotonic() - last[0] > 5:  # keep the lease alive without a write per step
            last[0] = time.monotonic()
            store.set(row.id, expect_owner=owner)

    def on_phase(phase: str) -> None:
        _emit(opts, row.id, phase)

    ctx = LocalContext(job_id=row.id, workdir=work, cancel_event=cancel, on_step=on_step, on_phase=on_phase)
    # A local job has a deadline only when the caller gave one (CPU runs can take long).
    timed_out = threading.Event()
    timer = None
    if opts.timeout_s:

        def expire() -> None:
            timed_out.set()
            cancel.set()

        timer = threading.Timer(opts.timeout_s, expire)
        timer.daemon = True
        timer.start()
    try:
        with get_store().lease_kept(row.id, owner_token()):
            outputs = backend.generate(request, model, ctx)
    except (JobCanceledError, KeyboardInterrupt) as exc:
        shutil.rmtree(work, ignore_errors=True)
        if timed_out.is_set() and not isinstance(exc, KeyboardInterrupt):
            _fail(store, row, "canceled", f"deadline of {opts.timeout_s:g} s passed", **_FREE)
            raise JobTimeoutError(
                f"job {row.id} did not finish within {opts.timeout_s:g} s and was stopped "
                "(pass timeout=... for longer jobs)"
            ) from None
        _fail(store, row, "canceled", "cancelled by the user", **_FREE)
        raise
    except ArthurGenError as exc:
        _fail(store, row, "failed", str(exc), **_FREE)
        raise
    except Exception as exc:
        _fail(store, row, "failed", f"{type(exc).__name__}: {exc}", **_FREE)
        raise GenerationError(f"{backend.id}/{model.id} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if timer is not None:
            timer.cancel()
    run_s = time.time() - started
    store.set(
        row.id,
        state="completed",
        cost_usd=0.0,
        cost_source="free",
        expect_owner=owner,
        timings={"run_s": run_s},
    )
    row = store.get(row.id) or row
    for index, output in enumerate(outputs):
        _save_output(row, index, output.path, output.media_type, output.seed, output.metadata)
    shutil.rmtree(work, ignore_errors=True)
    return _finish(row, started)


def _finish(row: JobRow, started: float) -> JobRow:
    store = get_store()
    fresh = store.get(row.id) or row
    timings = dict(fresh.timings)
    timings["total_s"] = time.time() - fresh.created_at
    timings.setdefault("this_run_s", time.time() - started)
    # The lease ends with the job: no separate release afterwards.
    return store.update(
        row.id,
        state="saved",
        finished_at=time.time(),
        timings=timings,
        error=None,
        lease_owner=None,
        lease_until=None,
    )


def _sidecar_metadata(row: JobRow, index: int, extra: Mapping[str, Any]) -> dict[str, Any]:
    from .. import __version__

    return {
        "arthur_gen": __version__,
        "job_id": row.id,
        "kind": row.kind,
        "backend": row.backend,
        "model": row.model,
        "request": row.request,
        "seed": row.seed,
        "remote_id": row.remote_id,
        "cost_usd": row.cost_usd,
        "cost_source": row.cost_source,
        "estimate_usd": row.estimate_usd,
        "timings": row.timings,
        "parents": row.parents,
        "created_at": row.created_at,
        "output_index": index,
        "backend_metadata": dict(extra),
    }


def _save_output(
    row: JobRow,
    index: int,
    tmp: Path,
    media_type: str | None,
    seed: int | None,
    extra: Mapping[str, Any],
    sha256: str | None = None,
) -> None:
    ext, media = extension_for(media_type, tmp.name)
    target = output_target(
        Path(row.out_dir or load_settings().output_dir),
        prompt=row.prompt,
        model=row.model,
        seed=seed if seed is not None else row.seed,
        job_id=row.id,
        index=index,
        ext=ext,
    )
    metadata = _sidecar_metadata(row, index, extra)
    prepare_output(tmp, target.suffix, metadata)
    # The placed file's digest and size, recorded before it is placed: a crash between placing
    # and recording leaves a file that recovery adopts by them instead of making a second one.
    digest, size = file_digest(tmp), tmp.stat().st_size
    _set_pending(
        row.id,
        index,
        {"stage": "placing", "tmp": str(tmp), "target": str(target), "sha256": digest, "size": size}
        | {"media_type": media_type, "seed": seed, "extra": dict(extra)},
    )
    final = publish_output(tmp, target, metadata)
    _record_output(row, index, final, digest, size, media)


def _record_output(row: JobRow, index: int, final: Path, digest: str, size: int, media: str) -> None:
    output = {"path": str(final), "sha256": digest, "size": size, "media_type": media, "index": index}
    if row.cache_key is not None and row.cost_source != "cache":
        keep_blob(final, digest)
    get_store().add_output(row.id, output, owner_token())
    _set_pending(row.id, index, None)


_PENDING = "pending_outputs"


def _set_pending(job_id: str, index: int, entry: Mapping[str, Any] | None) -> None:
    """Record (or with None forget) where output ``index`` of the job is between its download
    and its row: ``downloaded`` (a complete file in ``.work``) or ``placing`` (being moved to
    its name), with the digest and size the file has, so recovery can adopt it."""
    store = get_store()
    fresh = store.get(job_id)
    if fresh is None:
        return
    metrics = dict(fresh.metrics)
    pending = dict(metrics.get(_PENDING) or {})
    if entry is None:
        if str(index) not in pending:
            return
        pending.pop(str(index))
    else:
        pending[str(index)] = dict(entry)
    if pending:
        metrics[_PENDING] = pending
    else:
        metrics.pop(_PENDING, None)
    store.set(job_id, metrics=metrics, expect_owner=owner_token())


def _same_file(path: Path, entry: Mapping[str, Any]) -> bool:
    try:
        return (
            path.is_file() and path.stat().st_size == entry["size"] and file_digest(path) == entry["sha256"]
        )
    except OSError:
        return False


def _recover_outputs(row: JobRow) -> None:
    """After a crash: adopt each output that was placed or fully downloaded (by digest and size)
    instead of fetching it again, and delete the job's leftovers in ``.work``."""
    fresh = get_store().get(row.id) or row
    done = {o.get("index") for o in fresh.outputs}
    for key, entry in dict(fresh.metrics.get(_PENDING) or {}).items():
        index = int(key)
        tmp = Path(entry["tmp"])
        if index in done:
            _set_pending(row.id, index, None)
            continue
        if entry["stage"] == "placing":
            target = Path(entry["target"])
            placed = next(
                (
                    p
                    for p in sorted(target.parent.glob(f"{target.stem}*{target.suffix}"))
                    if _same_file(p, entry)
                ),
                None,
            )
            if placed is None and _same_file(tmp, entry):  # killed before the move
                placed = publish_output(tmp, target, _sidecar_metadata(fresh, index, entry["extra"]))
            if placed is not None:
                log.info("job %s: adopting output %d already placed at %s", row.id, index, placed)
                if not sidecar_path(placed).exists():
                    write_sidecar(placed, _sidecar_metadata(fresh, index, entry["extra"]))
                tmp.unlink(missing_ok=True)  # a hard link of the placed file, if still there
                _, media = extension_for(entry["media_type"], target.name)
                _record_output(fresh, index, placed, entry["sha256"], entry["size"], media)
                continue
        elif entry["stage"] == "downloaded" and _same_file(tmp, entry):
            log.info("job %s: placing output %d downloaded before the crash", row.id, index)
            _save_output(fresh, index, tmp, entry["media_type"], entry["seed"], entry["extra"])
            continue
        tmp.unlink(missing_ok=True)
        _set_pending(row.id, index, None)
    _clean_work(fresh)


def _clean_work(row: JobRow) -> None:
    """Delete this job's temporary files in ``.work`` (partial or unused downloads)."""
    work = Path(row.out_dir or load_settings().output_dir) / ".work"
    for leftover in work.glob(f".{row.id}*"):
        try:
            leftover.unlink()
        except OSError as exc:
            log.warning("job %s: could not remove %s: %s", row.id, leftover, exc)


def _drive_remote(
    row: JobRow,
    backend: RemoteBackend,
    model: ModelInfo,
    request: Request,
    key: Secret | None,
    opts: RunOptions,
) -> JobRow:
    store = get_store()
    started = time.time()
    timeout = row.timeout_s or opts.timeout_s or DEFAULT_TIMEOUT_S[model.kind]
    deadline = time.monotonic() + timeout
    ctx = RemoteContext(job_id=row.id, key=key, timeout_s=timeout, deadline=deadline)
    try:
        with get_store().lease_kept(row.id, owner_token()):
            return _drive_remote_steps(row, backend, model, request, ctx, opts, started, deadline)
    except KeyboardInterrupt:
        _cancel_unsent(store, row.id, NOT_STARTED)
        raise


def _drive_remote_steps(
    row: JobRow,
    backend: RemoteBackend,
    model: ModelInfo,
    request: Request,
    ctx: RemoteContext,
    opts: RunOptions,
    started: float,
    deadline: float,
) -> JobRow:
    store = get_store()
    owner = owner_token()
    if row.state == "planned" and row.submit_count > 0:
        row = store.update(
            row.id,
            state="uncertain",
            expect_owner=owner,
            error="crashed during submit; reconciling with the provider",
        )
    if row.state == "uncertain":
        row = _reconcile(row, backend, model, request, ctx)
    if row.state == "planned":
        row = _submit(row, backend, model, request, ctx, opts)
    if row.state in ("submitted", "running"):
        row = _wait(row, backend, model, ctx, opts, deadline)
    if row.state == "completed":
        try:
            _download_all(row, backend, ctx, opts, deadline)
        except KeyboardInterrupt:
            raise KeyboardInterrupt(
                f"job {row.id} had already finished at {backend.id} and is paid; its output was not "
                "saved yet: run `arthur-gen resume` within the hour to save it"
            ) from None
        return _finish(row, started)
    return row


def _reconcile(
    row: JobRow, backend: RemoteBackend, model: ModelInfo, request: Request, ctx: RemoteContext
) -> JobRow:
    store = get_store()
    owned = frozenset(
        str(r[0])
        for r in store.rows(
            "SELECT remote_id FROM jobs WHERE remote_id IS NOT NULL AND id != ? AND backend = ?",
            (row.id, row.backend),
        )
    )
    started = row.submitted_at if row.submitted_at is not None else row.created_at
    ctx = attrs.evolve(ctx, submit_started_at=started, owned_remote_ids=owned)
    remote_id = backend.reconcile(request, model, ctx, since=started)
    if row.error == CANCEL_INTENT:
        # The user cancelled while the create was in flight: cancel what it made, never complete it.
        if remote_id is not None:
            row = store.update(row.id, remote_id=remote_id, expect_owner=owner_token())
        _cancel_remote(row, backend, ctx, "cancelled by the user while its create was in flight", model)
        raise JobCanceledError(
            f"job {row.id} was cancelled by the user while its create was in flight; "
            + (
                f"prediction {remote_id} was cancelled at the provider"
                if remote_id
                else "no prediction was made"
            )
        )
    if remote_id is not None:
        log.info("job %s: found remote job %s created by the uncertain submit", row.id, remote_id)
        return store.update(
            row.id,
            state="submitted",
            remote_id=remote_id,
            error=None,
            submitted_at=time.time(),
            expect_owner=owner_token(),
        )
    log.info("job %s: the provider has no job for the uncertain submit; submitting", row.id)
    return store.update(row.id, state="planned", error=None, expect_owner=owner_token())


def _submit(
    row: JobRow,
    backend: RemoteBackend,
    model: ModelInfo,
    request: Request,
    ctx: RemoteContext,
    opts: RunOptions,
) -> JobRow:
    store = get_store()
    owner = owner_token()
    # Counted before the call: a crash from here on makes the job "uncertain", never resent.
    store.set(
        row.id, submit_count=row.submit_count + 1, submitted_at=time.time(), expect_owner=owner, durable=True
    )
    row = store.get(row.id) or row
    box, interrupted = _through_interrupt(lambda: backend.submit(request, model, ctx), _CREATE_GRACE_S)
    if interrupted:
        _interrupted_submit(row, box, backend, ctx, model)
    try:
        if "error" in box:
            raise box["error"]
        remote_id = str(box["result"])
    except (SubmitUncertainError, KeyboardInterrupt) as exc:
        store.set(
            row.id,
            state="uncertain",
            expect_owner=owner,
            error=redact(f"submit outcome unknown: {exc}", ctx.key),
        )
        if isinstance(exc, KeyboardInterrupt):
            raise
        time.sleep(1.0)
        row = _reconcile(store.get(row.id) or row, backend, model, request, ctx)
        if row.state != "submitted":
            store.set(row.id, state="uncertain", expect_owner=owner)
            raise SubmitUncertainError(
                f"job {row.id}: could not tell whether {backend.id} accepted the job; nothing "
                "was resent. Run `arthur-gen resume` to reconcile it."
            ) from None
        return row
    except ArthurGenError as exc:
        # A definite refusal (not SubmitUncertainError): nothing was created, nothing is billed.
        _fail(store, row, "failed", redact(str(exc), ctx.key), **_FREE_NOT_STARTED)
        raise
    except Exception as exc:  # a plugin's bug: whether it created something is not known
        message = redact(f"{type(exc).__name__}: {exc}", ctx.key)
        _fail(store, row, "failed", message)
        raise GenerationError(f"{backend.id} refused the job: {message}") from None
    # Store the remote id before anything else runs (the progress callback may raise
    # KeyboardInterrupt); from here on an interrupt cancels the remote job.
    row = store.update(
        row.id, state="submitted", remote_id=remote_id, submitted_at=time.time(), expect_owner=owner
    )
    try:
        _emit(opts, row.id, "submitted", message=remote_id)
    except KeyboardInterrupt:
        _cancel_remote(row, backend, ctx, "interrupted (Ctrl-C)", model, ctrl_c=True)
        raise
    return row


#: How long a create already in flight may go on after Ctrl-C, so its id can be cancelled.
_CREATE_GRACE_S = 8.0
#: The error text of a job the user cancelled while its create was in flight: `resume` cancels it.
CANCEL_INTENT = "cancel requested by the user while the create was in flight"


def _through_interrupt(fn: Callable[[], Any], grace_s: float) -> tuple[dict[str, Any], bool]:
    """Run ``fn`` in a helper thread; after a Ctrl-C (or SIGTERM) let it go on for ``grace_s``
    more, ignoring further interrupts. Returns ({"result": ...} or {"error": ...} or {}, interrupted)."""
    box: dict[str, Any] = {}
    done = threading.Event()  # not Thread.join: an interrupted join can report a live thread as ended

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name="arthur-gen-call", daemon=True).start()
    interrupted = False
    end = float("inf")
    while not done.is_set() and time.monotonic() < end:
        try:
            done.wait(0.05)
        except KeyboardInterrupt:
            if not interrupted:
                interrupted = True
                end = time.monotonic() + grace_s
    return box, interrupted


def _interrupted_submit(
    row: JobRow, box: dict[str, Any], backend: RemoteBackend, ctx: RemoteContext, model: ModelInfo
) -> None:
    """Ctrl-C/SIGTERM while the create was in flight: cancel what it made, record, say the truth."""
    store = get_store()
    owner = owner_token()
    if "result" in box:
        remote_id = str(box["result"])
        row = store.update(
            row.id, state="submitted", remote_id=remote_id, submitted_at=time.time(), expect_owner=owner
        )
        _cancel_remote(
            row, backend, ctx, "interrupted (Ctrl-C) while its create was in flight", model, ctrl_c=True
        )
        final = get_store().get(row.id)
        stopped = final is not None and "cancelling the remote job failed" not in (final.error or "")
        raise KeyboardInterrupt(
            f"job {row.id}: prediction {remote_id} was created and "
            + (
                "cancelled at the provider; recorded as cancelled"
                if stopped
                else "could not be cancelled (see `arthur-gen show`); cancel it on replicate.com"
            )
        )
    error = box.get("error")
    if isinstance(error, ArthurGenError) and not isinstance(error, SubmitUncertainError):
        _fail(store, row, "failed", redact(str(error), ctx.key), **_FREE_NOT_STARTED)
        raise KeyboardInterrupt(
            f"job {row.id}: nothing was created ({redact(str(error), ctx.key)}); not billed"
        )
    log.info("job %s: create interrupted: %s", row.id, redact(repr(error), ctx.key))
    store.set(row.id, state="uncertain", expect_owner=owner, error=CANCEL_INTENT)
    raise KeyboardInterrupt(
        f"job {row.id}: the create was in flight and its outcome is unknown; `arthur-gen resume` "
        "finds the prediction if one was made and cancels it (it is never completed)"
    )


#: How long to read a cancelled job's final state for the price the provider puts on it.
_CANCEL_SETTLE_S = 3.0


def _cancelled_cost(
    row: JobRow, backend: RemoteBackend, model: ModelInfo | None, ctx: RemoteContext
) -> dict[str, Any]:
    """What a cancelled job costs, from the provider's final state of it (read briefly).

    Empty (cost unknown) when the provider does not say in time, or prices it at nothing known.
    """
    if model is None or not row.remote_id:
        return {}
    end = time.monotonic() + _CANCEL_SETTLE_S
    read_ctx = attrs.evolve(ctx, deadline=max(ctx.deadline or 0.0, end + 5.0))
    while True:
        try:
            status = backend.poll(row.remote_id, model, read_ctx)
        except Exception as exc:
            log.info("job %s: could not read the cancelled job's cost: %s", row.id, redact(str(exc), ctx.key))
            return {}
        if status.state.terminal:
            break
        if time.monotonic() >= end:
            return {}
        time.sleep(min(0.25, max(0.0, end - time.monotonic())))
    cost, source = status.cost_usd, "metrics"
    finished = status.state is RemoteState.SUCCEEDED
    if cost is None and finished:
        cost, source = row.estimate_usd, "estimate"  # it finished before the cancel: paid
    metrics = dict(row.metrics)
    metrics.update(status.metrics)
    values: dict[str, Any] = {}
    if finished:  # paid, with outputs to save: the job is completed, not cancelled
        metrics["remote_outputs"] = [attrs.asdict(o) for o in status.outputs]
        values = {"finished": True, "metrics": metrics}
    if cost is not None:
        values.update(cost_usd=cost, cost_source=source, metrics=metrics)
    return values


def _cancel_remote(
    row: JobRow,
    backend: RemoteBackend,
    ctx: RemoteContext,
    why: str,
    model: ModelInfo | None = None,
    *,
    ctrl_c: bool = False,
) -> None:
    """Cancel at the provider and record it (with what the provider bills for it, when it says);
    a second Ctrl-C does not skip either step. A job with no remote id was never made: $0.

    A job that had already finished when the cancel arrived is paid: it is recorded completed
    (``resume`` saves its output) and this raises (KeyboardInterrupt after a Ctrl-C, else
    JobCanceledError) with a message saying so, never "cancelled"."""

    def cancel_and_record() -> bool:
        store = get_store()
        values: dict[str, Any] = {}
        try:
            if row.remote_id:
                backend.cancel(row.remote_id, ctx)
                values = _cancelled_cost(row, backend, model, ctx)
            else:
                values = dict(_FREE_NOT_STARTED)
            note = why
        except Exception as exc:
            note = redact(f"{why}; cancelling the remote job failed: {exc}", ctx.key)
        if values.pop("finished", False):
            store.set(row.id, state="completed", error=None, expect_owner=owner_token(), **values)
            return True
        _fail(store, row, "canceled", note, **values)
        return False

    box, _ = _through_interrupt(cancel_and_record, 10.0)
    if isinstance(box.get("error"), Exception):
        raise box["error"]
    if box.get("result"):
        fresh = get_store().get(row.id) or row
        cost = f"${fresh.cost_usd:.2f}" if fresh.cost_usd is not None else "its price"
        message = (
            f"job {row.id}: prediction {row.remote_id} had already finished at {backend.id} before "
            f"the cancel reached it, so it is paid ({cost}); its output was not saved yet: run "
            "`arthur-gen resume` within the hour to save it"
        )
        raise KeyboardInterrupt(message) if ctrl_c else JobCanceledError(message)


def _wait(
    row: JobRow,
    backend: RemoteBackend,
    model: ModelInfo,
    ctx: RemoteContext,
    opts: RunOptions,
    deadline: float,
) -> JobRow:
    store = get_store()
    owner = owner_token()
    assert row.remote_id is not None
    interval = _POLL_FIRST_S
    cancel = opts.cancel_event or threading.Event()
    status: RemoteStatus | None = None
    last_write = time.monotonic()
    try:
        while True:
            if cancel.is_set():
                _cancel_remote(row, backend, ctx, "cancelled by the user", model)
                raise JobCanceledError(f"job {row.id} was cancelled; the remote job was stopped")
            if time.monotonic() >= deadline:
                _cancel_remote(row, backend, ctx, f"deadline of {ctx.timeout_s:g} s passed", model)
                raise JobTimeoutError(
                    f"job {row.id} did not finish within {ctx.timeout_s:g} s; the remote job "
                    "was cancelled so billing stops (pass timeout=... for longer jobs)"
                )
            try:
                status = backend.poll(row.remote_id, model, ctx)
            except Exception as exc:  # reads are retried until the deadline
                if not _transient(exc):
                    raise
                log.warning("job %s: poll failed (%s); retrying", row.id, redact(str(exc), ctx.key))
                status = None
            if status is not None:
                if status.state.terminal:
                    break
                state = "running" if status.state is RemoteState.RUNNING else "submitted"
                if state != row.state or time.monotonic() - last_write > 5:
                    if state != row.state:
                        _emit(opts, row.id, state)
                    row = store.update(row.id, state=state, expect_owner=owner)  # renews lease
                    last_write = time.monotonic()
                if status.progress is not None:
                    _emit(opts, row.id, "step", step=int(status.progress * 100), total=100)
            pause = status.poll_after_s if status and status.poll_after_s else interval
            pause = min(pause, 10.0, max(0.0, deadline - time.monotonic()))  # lease is 30 s
            interval = min(interval * _POLL_FACTOR, _POLL_MAX_S)
            if cancel.wait(pause):
                continue
    except KeyboardInterrupt:
        _cancel_remote(row, backend, ctx, "interrupted (Ctrl-C)", model, ctrl_c=True)
        raise KeyboardInterrupt(
            f"job {row.id}: prediction {row.remote_id} was cancelled at {backend.id} and recorded as "
            "cancelled (billed only for the time it ran)"
        ) from None
    return _record_terminal(row, status, model, ctx)


def _transient(exc: Exception) -> bool:
    """Whether a failed poll is worth retrying: network trouble is; a backend's own error
    (rejected key, billing, no such job) is not."""
    return not isinstance(exc, ArthurGenError)


def _record_terminal(row: JobRow, status: RemoteStatus, model: ModelInfo, ctx: RemoteContext) -> JobRow:
    store = get_store()
    owner = owner_token()
    cost, source = status.cost_usd, "metrics"
    if cost is None and status.state is RemoteState.SUCCEEDED:
        cost, source = row.estimate_usd, "estimate"
    metrics = dict(status.metrics)
    metrics["remote_outputs"] = [attrs.asdict(o) for o in status.outputs]
    submitted = row.submitted_at or row.created_at
    timings = dict(row.timings)
    timings["remote_s"] = time.time() - submitted
    values: dict[str, Any] = {
        "metrics": metrics,
        "timings": timings,
        "cost_usd": cost,
        "cost_source": source if cost is not None else None,
    }
    if status.state is RemoteState.SUCCEEDED:
        return store.update(row.id, state="completed", expect_owner=owner, **values)
    error = redact(status.error or f"remote job {status.state.value}", ctx.key)
    state = "failed" if status.state is RemoteState.FAILED else "canceled"
    _fail(store, row, state, error, **values)
    if state == "failed":
        raise GenerationError(f"job {row.id} failed at {row.backend}: {error}")
    raise JobCanceledError(f"job {row.id} was cancelled at {row.backend}: {error}")


def _download_all(
    row: JobRow, backend: RemoteBackend, ctx: RemoteContext, opts: RunOptions, deadline: float
) -> None:
    store = get_store()
    fresh = store.get(row.id) or row
    outputs = [RemoteOutput(**o) for o in fresh.metrics.get("remote_outputs", [])]
    if not outputs:
        _fail(store, fresh, "failed", "the provider reported success but returned no output")
        raise GenerationError(f"job {row.id}: the provider returned no output")
    _recover_outputs(fresh)
    fresh = store.get(row.id) or fresh
    done = {o.get("index") for o in fresh.outputs}
    _emit(opts, row.id, "downloading", total=len(outputs))
    download_started = time.time()
    for index, output in enumerate(outputs):
        if index in done:
            continue
        tmp, sha = _download_one(fresh, backend, output, ctx, opts, deadline)
        extra = {"url": _safe_url(output.url)}
        entry = {"stage": "downloaded", "tmp": str(tmp), "sha256": sha, "size": tmp.stat().st_size}
        _set_pending(row.id, index, entry | {"media_type": output.media_type, "seed": None, "extra": extra})
        _save_output(fresh, index, tmp, output.media_type, None, extra)
    _clean_work(fresh)
    timings = dict((store.get(row.id) or fresh).timings)
    timings["download_s"] = time.time() - download_started
    store.set(row.id, timings=timings, expect_owner=owner_token())


def _safe_url(url: str) -> str:
    return url if not url.startswith("data:") else url[:32] + "..."


def _download_one(
    row: JobRow,
    backend: RemoteBackend,
    output: RemoteOutput,
    ctx: RemoteContext,
    opts: RunOptions,
    deadline: float,
) -> tuple[Path, str]:
    ext, _media = extension_for(output.media_type, output.name or output.url)
    base = Path(row.out_dir or load_settings().output_dir) / ".work" / f"{row.id}{ext}"
    last_error: Exception | None = None
    for attempt in range(3):
        if time.monotonic() >= deadline:
            break
        tmp = temp_path_beside(base)
        try:
            with tmp.open("wb") as fh:
                writer = HashingWriter(fh, opts.max_download_bytes)
                backend.download(output, writer, ctx)  # type: ignore[arg-type]
            if output.size is not None and writer.size != output.size:
                raise DownloadError(f"got {writer.size} bytes, expected {output.size}")
            if output.sha256 is not None and writer.sha256 != output.sha256:
                raise DownloadError("the downloaded file does not match its digest")
            if writer.size == 0:
                raise DownloadError("the downloaded file is empty")
            return tmp.rename(tmp.with_suffix(ext)), writer.sha256
        except (DownloadError, OSError) as exc:
            tmp.unlink(missing_ok=True)
            last_error = exc
            log.warning(
                "job %s: download attempt %d failed: %s", row.id, attempt + 1, redact(str(exc), ctx.key)
            )
            time.sleep(min(0.5 * 2**attempt, max(0.0, deadline - time.monotonic())))
        except Exception:
            tmp.unlink(missing_ok=True)
            raise
    if getattr(last_error, "output_gone", False):
        # Gone at the provider after every retry: the job was paid and its output is lost.
        message = redact(
            f"job {row.id} is lost: it was paid for (recorded in `arthur-gen costs`) but its output "
            f"is gone at the provider ({last_error}); nothing more can be saved",
            ctx.key,
        )
        _fail(get_store(), row, "failed", message)
        raise DownloadError(message)
    message = redact(f"could not download output of job {row.id}: {last_error}", ctx.key)
    get_store().update(row.id, error=message, expect_owner=owner_token())
    raise DownloadError(message + " (run `arthur-gen resume` to retry within the hour)")


def _from_cache(plan: Plan, opts: RunOptions, settings: Settings, store: Store) -> Result | None:
    assert plan.cache_key is not None
    for source in store.query(
        "cache_key = ? AND state = 'saved' AND cost_source != 'cache'", (plan.cache_key,), limit=5
    ):
        blobs = [valid_blob(o["sha256"]) for o in source.outputs]
        if not source.outputs or any(b is None for b in blobs):
            for output, blob in zip(source.outputs, blobs, strict=True):
                if blob is None:  # changed on disk: drop it so the fresh run stores a good copy
                    blob_path(output["sha256"]).unlink(missing_ok=True)
            continue
        now = time.time()
        job_id = new_job_id()
        out_dir = (opts.out_dir or settings.output_dir).absolute()
        saved = source.cost_usd if source.cost_usd is not None else (source.estimate_usd or 0.0)
        with store.transaction() as db:
            store.insert(
                db,
                {
                    "id": job_id,
                    "created_at": now,
                    "updated_at": now,
                    "kind": source.kind,
                    "backend": source.backend,
                    "model": source.model,
                    "prompt": source.prompt,
                    "request": source.request,
                    "request_hash": plan.request_hash,
                    "cache_key": plan.cache_key,
                    "state": "completed",
                    "seed": source.seed,
                    "estimate_usd": plan.estimate.usd,
                    "cost_usd": 0.0,
                    "cost_source": "cache",
                    "saved_usd": saved,
                    "cached_from": source.id,
                    "parents": source.parents,
                    "out_dir": str(out_dir),
                    "lease_owner": owner_token(),
                    "lease_until": now + 30,
                },
            )
        row = store.get(job_id)
        assert row is not None
        for output, blob in zip(source.outputs, blobs, strict=True):
            assert blob is not None
            tmp = temp_path_beside(Path(out_dir) / ".work" / f"{job_id}{Path(output['path']).suffix}")
            shutil.copyfile(blob, tmp)
            _save_output(
                row,
                output["index"],
                tmp,
                output["media_type"],
                row.seed,
                {"cached_from": source.id},
                sha256=output["sha256"],
            )
        _emit(opts, job_id, "cached", message=f"from job {source.id}; saved ${saved:.4f}")
        final = _finish(row, now)
        return result_from_row(final)
    return None


def result_from_row(row: JobRow) -> Result:
    """The result object for a saved job."""
    request = request_from_dict(row.request)
    cls = GeneratedVideo if row.kind in (Kind.VIDEO.value, Kind.EDIT.value) else GeneratedImage
    outputs = sorted(row.outputs, key=lambda o: o.get("index", 0))
    return cls(
        paths=tuple(Path(o["path"]) for o in outputs),
        request=request,
        seed=row.seed,
        backend=row.backend,
        model=row.model,
        job_id=row.id,
        cost_usd=row.cost_usd,
        cost_source=row.cost_source,
        estimate_usd=row.estimate_usd,
        timings=row.timings,
        parents=tuple(row.parents),
        remote_id=row.remote_id,
        cached=row.cost_source == "cache",
    )
