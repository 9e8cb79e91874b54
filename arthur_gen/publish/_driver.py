"""The durable publish job: a store row before any upload, checkpoints after every step.

A publish is a job of kind ``publish`` in the same store as generations: $0 in the ledger,
lineage to the job that made the video, the API quota it used in ``metrics``. Running the same
file to the same account and target again resumes an unfinished job (so does ``arthur-gen
resume``, through :func:`resume_job`), and is refused after a finished one unless ``force=True``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from .._secrets import redact
from ..errors import ArthurGenError, InvalidRequestError, JobNotFoundError, SubmitUncertainError
from ..jobs._results import ProgressEvent
from ..jobs._store import JobRow, get_store, new_job_id, owner_token
from ._accounts import Account, load_account
from ._digest import BackgroundDigest, fingerprint, sha256_of
from ._limits import check_limits, probe_video
from ._publisher import Outcome, PublishContext, Publisher, get_publisher
from ._request import PublishRequest

__all__ = ["Publication", "confirm", "publications", "publish", "resume_job"]

log = logging.getLogger("arthur_gen.publish")


def _key(to: str, target: str, sha: str) -> str:
    """The duplicate key: the same content to the same platform and target."""
    return hashlib.sha256(f"publish\0{to}\0{target}\0{sha}".encode()).hexdigest()


def _summary(row: Any) -> dict[str, Any]:
    checkpoint = row.metrics.get("checkpoint", {})
    return {
        "job_id": row.id,
        "platform": row.backend,
        "account": row.model,
        "remote_id": row.remote_id,
        "url": checkpoint.get("url"),
        "state": "needs confirmation" if row.state == "uncertain" else row.state,
        "title": row.prompt,
        "video": row.request.get("video"),
        "error": row.error,
        "created_at": row.created_at,
    }


_PREVIOUS = (
    "SELECT id, state FROM jobs WHERE kind = 'publish' AND request_hash = ? "
    "AND state NOT IN ('failed', 'canceled') ORDER BY created_at DESC"
)
# Jobs that may hold the same file: same platform and target, and the same size (or unknown).
_SAME_SIZE = (
    "SELECT id, state, request_hash FROM jobs WHERE kind = 'publish' AND backend = ? "
    "AND state NOT IN ('failed', 'canceled') AND json_extract(metrics, '$.target') = ? "
    "AND coalesce(json_extract(metrics, '$.fingerprint.size'), ?) = ?"
)
# The request_hash of a job whose digest was still being computed: it has published nothing yet.
_PENDING = "pending:"


def _unfinished(previous: list[Any], to: str, target: str, force: bool) -> str | None:
    """The unfinished job of this key to go on with; refuses a duplicate or a post in doubt."""
    job_id: str | None = None
    for prev_id, state in previous:
        if state == "uncertain":
            raise SubmitUncertainError(
                f"Job {prev_id} may already have posted this video and needs confirmation: run "
                f"`arthur-gen publications confirm {prev_id} --posted URN` or `... --not-posted`."
            )
        if state == "saved" and not force:
            raise InvalidRequestError(
                f"This file is already published to {to} ({target}) by job {prev_id}; "
                "pass --force to upload it again."
            )
        if state != "saved" and job_id is None:
            job_id = prev_id  # an unfinished upload: resume it
    return job_id


def publish(
    video: str | Path,
    *,
    to: str,
    account: str = "default",
    force: bool = False,
    dry_run: bool = False,
    preset: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **metadata: Any,
) -> dict[str, Any]:
    """Upload ``video`` to platform ``to``; returns ``job_id, platform, remote_id, url, state``.

    Everything that can be checked locally (request, account, platform limits) is checked
    before a byte is sent, and duplicates before anything is published: a file of a size this
    account and target already has (or had in flight) is hashed first and refused or resumed
    before the upload; any other file starts uploading at once while a helper thread hashes
    it, and the duplicate check runs before the step that publishes (YouTube's last chunk,
    LinkedIn's finalize). ``preset`` first edits the video to that platform preset
    (``arthur-gen presets``) and publishes the edit, whose job becomes this one's parent.
    """
    if preset is not None and not dry_run:
        from ..media._edit import edit

        PublishRequest(video=str(video), to=to, account=account, force=force, **metadata)  # fail early
        load_account(to, account)
        video = edit(video, preset=preset).path
    request = PublishRequest(video=str(video), to=to, account=account, force=force, **metadata)
    publisher = get_publisher(to)
    publisher.validate(request)
    check_limits(probe_video(request.video), publisher.limits, to)
    acct = load_account(to, account)
    target = publisher.target(request, acct)
    print_ = fingerprint(request.video)
    store = get_store()
    size = print_["size"]
    same_size = store.rows(_SAME_SIZE, (to, target, size, size))
    maybe_duplicate = [r for r in same_size if not (force and r[1] == "saved")]
    owner = owner_token()
    if publisher.hashes_during_upload and not dry_run and not maybe_duplicate:
        return _publish_while_hashing(request, publisher, acct, target, print_, owner, progress)
    sha = sha256_of(request.video)
    key = _key(to, target, sha)
    if dry_run:
        job_id = _unfinished(store.rows(_PREVIOUS, (key,)), to, target, force)
        return {"job_id": job_id, "platform": to, "remote_id": None, "url": None, "state": "dry run"}
    for prev_id, state in store.rows(_PREVIOUS, (key,)):  # a post in doubt: is it online by now?
        claimed = store.claim(prev_id, owner) if state == "uncertain" else None
        if claimed is not None:
            try:
                found = _find_published(claimed)
            finally:
                store.release(prev_id, owner)
            if found is not None and not force:
                return found
    parents = store.jobs_with_output(sha)
    pending = [r[0] for r in same_size if str(r[2]).startswith(_PENDING)]
    with store.transaction() as db:  # look and insert in one write transaction: one job per key
        job_id = _unfinished(db.execute(_PREVIOUS, (key,)).fetchall(), to, target, force)
        if job_id is None:
            job_id = _take_over_pending(db, pending, print_, key, sha, parents)
        if job_id is None:
            job_id = _insert(db, request, key, target, print_, owner, sha=sha, parents=parents)
    row = store.claim(job_id, owner)
    if row is None:
        raise ArthurGenError(f"Job {job_id} is being uploaded by another process; wait for it to finish.")
    return _drive(row, publisher, request, acct, owner, progress)


def _insert(
    db: Any,
    request: PublishRequest,
    key: str,
    target: str,
    print_: dict[str, Any],
    owner: str,
    *,
    sha: str | None,
    parents: list[str],
    job_id: str | None = None,
) -> str:
    """A new publish job row (leased to ``owner``) inside the caller's transaction."""
    job_id = job_id or new_job_id()
    now = time.time()
    get_store().insert(
        db,
        {
            "id": job_id,
            "created_at": now,
            "updated_at": now,
            "kind": "publish",
            "backend": request.to,
            "model": request.account,
            "prompt": request.title or Path(request.video).name,
            "request": request.to_dict(),
            "request_hash": key,
            "state": "planned",
            "estimate_usd": 0.0,
            "cost_usd": 0.0,
            "cost_source": "free",
            "parents": parents,
            "metrics": {"sha256": sha, "target": target, "fingerprint": print_, "checkpoint": {}},
            "lease_owner": owner,
            "lease_until": now + 30,
        },
    )
    return job_id


def _publish_while_hashing(
    request: PublishRequest,
    publisher: Publisher,
    acct: Account,
    target: str,
    print_: dict[str, Any],
    owner: str,
    progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """A file no job of this account and target has had: upload while a thread hashes it."""
    store = get_store()
    job_id = new_job_id()
    with store.transaction() as db:  # first the row, so a publish of a same-size file hashes first
        _insert(db, request, _PENDING + job_id, target, print_, owner, sha=None, parents=[], job_id=job_id)
    digest = BackgroundDigest(request.video)
    row = store.get(job_id)
    assert row is not None
    return _drive(row, publisher, request, acct, owner, progress, digest)


def _take_over_pending(
    db: Any, pending: list[str], print_: dict[str, Any], key: str, sha: str, parents: list[str]
) -> str | None:
    """Stopped jobs that were still hashing this size: go on with the one of this very file.

    Such a job never reached its duplicate check, so it published nothing. The one whose file
    is this one unchanged (path, size, inode, mtime) takes this digest and resumes; others are
    closed as failed, saying so. Jobs whose owner is alive are left to settle themselves.
    """
    store = get_store()
    adopted: str | None = None
    for job_id in pending:
        cur = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
        values = cur.fetchone()
        if values is None:
            continue
        row = store.row_from(cur, values)
        if not row.active or not row.request_hash.startswith(_PENDING):
            continue
        with _driving_lock:
            live_here = job_id in _driving
        if live_here or (row.lease_owner not in (None, owner_token()) and not row.lease_stale()):
            continue
        if adopted is None and row.metrics.get("fingerprint") == print_:
            metrics = {**row.metrics, "sha256": sha}
            store.update_in(db, job_id, request_hash=key, metrics=metrics, parents=parents)
            adopted = job_id
        else:
            store.update_in(
                db,
                job_id,
                state="failed",
                error="stopped before its duplicate check, so nothing was published; its file changed since",
                finished_at=time.time(),
                lease_owner=None,
                lease_until=None,
            )
    return adopted


def _late_refusal(others: list[Any], job_id: str, to: str, target: str, force: bool) -> str | None:
    """Why a job that hashed while uploading must stop before publishing, if it must."""
    stopped = f"this upload (job {job_id}) stopped before publishing anything."
    for other, state in others:
        if other == job_id:
            continue
        if state == "uncertain":
            return (
                f"Job {other} may already have posted this video and needs confirmation (`arthur-gen "
                f"publications confirm {other} --posted URN` or `... --not-posted`); {stopped}"
            )
        if state == "saved" and not force:
            return (
                f"This file is already published to {to} ({target}) by job {other}; {stopped} "
                "Pass --force to upload it again."
            )
        if state != "saved":
            return f"Job {other} is uploading the same file to {to} ({target}); {stopped}"
    return None


_driving: set[str] = set()  # publish jobs this process is uploading right now
_driving_lock = threading.Lock()


def _drive(
    row: JobRow,
    publisher: Publisher,
    request: PublishRequest,
    acct: Account,
    owner: str,
    progress: Callable[[int, int], None] | None,
    digest: BackgroundDigest | None = None,
) -> dict[str, Any]:
    """Run (or go on with) the upload of a job this process holds the lease of."""
    job_id = row.id
    with _driving_lock:  # two calls in one process share its lease owner: keep them apart here
        if job_id in _driving:
            raise ArthurGenError(f"Job {job_id} is being uploaded by another call; wait for it to finish.")
        _driving.add(job_id)
    try:
        return _drive_held(row, publisher, request, acct, owner, progress, digest)
    finally:
        with _driving_lock:
            _driving.discard(job_id)


def _drive_held(
    row: JobRow,
    publisher: Publisher,
    request: PublishRequest,
    acct: Account,
    owner: str,
    progress: Callable[[int, int], None] | None,
    digest: BackgroundDigest | None,
) -> dict[str, Any]:
    store = get_store()
    job_id = row.id
    metrics = dict(row.metrics)
    pending = row.request_hash.startswith(_PENDING)

    def settle_digest(strict: bool = True) -> None:
        """The duplicate check of a job that started before its digest was known."""
        nonlocal pending
        if not pending:
            return
        sha = digest.result() if digest is not None else sha256_of(request.video)
        key = _key(request.to, str(metrics["target"]), sha)
        parents = store.jobs_with_output(sha)
        with store.transaction() as db:
            others = db.execute(_PREVIOUS, (key,)).fetchall()
            refusal = _late_refusal(others, job_id, request.to, str(metrics["target"]), request.force)
            if refusal is None or not strict:
                metrics["sha256"] = sha
                store.update_in(db, job_id, request_hash=key, metrics=metrics, parents=parents)
        if refusal is not None and strict:
            raise InvalidRequestError(refusal)
        if refusal is not None:
            log.warning("job %s published before its duplicate check: %s", job_id, refusal)
        pending = False

    def save(checkpoint: dict[str, Any], durable: bool = True) -> None:
        metrics["checkpoint"] = checkpoint
        store.set(job_id, expect_owner=owner, state="running", metrics=metrics, durable=durable)
        if pending and digest is not None and digest.done():
            settle_digest()  # as soon as the digest is there: a crash after this resumes as usual

    ctx = PublishContext(
        request, acct, job_id, metrics.get("checkpoint", {}), save, progress, before_publish=settle_digest
    )
    store.set(job_id, expect_owner=owner, state="running", submitted_at=row.submitted_at or time.time())
    try:
        if pending and (digest is None or not publisher.hashes_during_upload):
            settle_digest()  # resumed, or a publisher that never calls before_publish: check first
        # The lease is renewed while a step takes long (a slow chunk, LinkedIn processing), so
        # `resume` elsewhere never takes over a live upload and posts a second time.
        with store.lease_kept(job_id, owner):
            outcome = publisher.upload(ctx)
        settle_digest(strict=False)  # a publisher that never called before_publish
    except SubmitUncertainError as exc:
        message = redact(str(exc), *acct.secrets(), *ctx.account.secrets())
        store.set(job_id, state="uncertain", error=message, lease_owner=None, lease_until=None)
        raise SubmitUncertainError(message) from None
    except (KeyboardInterrupt, SystemExit):
        store.release(job_id, owner)  # stays 'running': the next publish (or resume) goes on with it
        raise
    except ArthurGenError as exc:
        message = redact(str(exc), *acct.secrets(), *ctx.account.secrets())
        retryable = bool(getattr(exc, "retryable", False))
        store.set(
            job_id,
            state="running" if retryable else "failed",
            error=message,
            lease_owner=None,
            lease_until=None,
            finished_at=None if retryable else time.time(),
        )
        raise type(exc)(message) from None
    except Exception as exc:
        message = redact(f"{type(exc).__name__}: {exc}", *acct.secrets(), *ctx.account.secrets())
        store.set(job_id, state="running", error=message, lease_owner=None, lease_until=None)
        raise ArthurGenError(
            f"The upload of job {job_id} stopped ({message}); run the same publish again to resume it."
        ) from None
    return _saved(job_id, request.to, metrics, ctx, outcome)


def _saved(
    job_id: str, platform: str, metrics: dict[str, Any], ctx: PublishContext, outcome: Outcome
) -> dict[str, Any]:
    metrics["checkpoint"] = {**ctx.checkpoint, "url": outcome.url}
    metrics["quota_units"] = outcome.quota_units
    get_store().set(
        job_id,
        state="saved",
        remote_id=outcome.remote_id,
        metrics=metrics,
        error=None,
        finished_at=time.time(),
        lease_owner=None,
        lease_until=None,
    )
    log.info("published job %s to %s as %s", job_id, platform, outcome.remote_id)
    return {
        "job_id": job_id,
        "platform": platform,
        "remote_id": outcome.remote_id,
        "url": outcome.url,
        "state": "saved",
    }


def _find_published(row: JobRow) -> dict[str, Any] | None:
    """A job in doubt: ask its platform whether it is online (only lookups, never an upload)."""
    store = get_store()
    request = PublishRequest.from_dict(row.request)
    publisher = get_publisher(request.to)
    acct = load_account(request.to, request.account)
    metrics = dict(row.metrics)

    def save(checkpoint: dict[str, Any], durable: bool = True) -> None:
        metrics["checkpoint"] = checkpoint
        store.set(row.id, expect_owner=owner_token(), metrics=metrics, durable=durable)

    ctx = PublishContext(request, acct, row.id, metrics.get("checkpoint", {}), save)
    try:
        outcome = publisher.find_published(ctx)
    except ArthurGenError as exc:
        log.info("could not look up job %s: %s", row.id, redact(str(exc), *acct.secrets()))
        return None
    return None if outcome is None else _saved(row.id, request.to, metrics, ctx, outcome)


@attrs.frozen(kw_only=True)
class Publication:
    """A publish job that :func:`arthur_gen.resume` finished: where the video is online."""

    job_id: str
    platform: str
    remote_id: str
    url: str
    state: str = "saved"

    @property
    def paths(self) -> tuple[Path, ...]:
        """No file is written by a publish (the uploaded video is its parent's output)."""
        return ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


def resume_job(row: JobRow, on_progress: Callable[[ProgressEvent], None] | None = None) -> Publication:
    """Go on with an unfinished publish job from its checkpoint, as running the same publish does.

    What ``arthur-gen resume`` runs for publish jobs; the caller holds the job's lease. A job
    waiting for confirmation is never sent again: its platform is asked whether it is online
    (``Publisher.find_published``), and if it cannot tell, ``SubmitUncertainError`` names the
    command that settles it.
    """
    if row.state == "uncertain":
        found = _find_published(row)
        if found is None:
            raise SubmitUncertainError(f"needs confirmation: {row.error or 'see `arthur-gen publications`'}")
        return Publication(
            job_id=row.id, platform=found["platform"], remote_id=found["remote_id"], url=found["url"]
        )
    request = PublishRequest.from_dict(row.request)
    video = Path(request.video)
    if row.request_hash.startswith(_PENDING):  # stopped while hashing: the same unchanged file?
        same = video.is_file() and fingerprint(str(video)) == row.metrics.get("fingerprint")
    else:
        same = video.is_file() and sha256_of(str(video)) == row.metrics.get("sha256")
    if not same:
        raise InvalidRequestError(
            f"The video of publish job {row.id} is gone or changed since its upload began ({video}); "
            "put the original file back and run `arthur-gen resume` again, or publish the new file."
        )
    publisher = get_publisher(request.to)
    acct = load_account(request.to, request.account)

    def progress(sent: int, total: int) -> None:
        if on_progress is not None:
            message = f"{sent / 2**20:,.1f}/{total / 2**20:,.1f} MiB"
            on_progress(ProgressEvent(job_id=row.id, phase="uploading", message=message))

    try:
        done = _drive(row, publisher, request, acct, owner_token(), progress)
    except SubmitUncertainError as exc:
        raise SubmitUncertainError(f"needs confirmation: {exc}") from None
    return Publication(
        job_id=done["job_id"], platform=done["platform"], remote_id=done["remote_id"], url=done["url"]
    )


def publications(limit: int = 50) -> list[dict[str, Any]]:
    """Publish jobs, newest first: platform, account, remote id, link, state."""
    store = get_store()
    ids = store.rows("SELECT id FROM jobs WHERE kind = 'publish' ORDER BY created_at DESC LIMIT ?", (limit,))
    rows = [store.get(i) for (i,) in ids]
    return [_summary(r) for r in rows if r is not None]


def confirm(job_id: str, *, posted: str | None = None, not_posted: bool = False) -> dict[str, Any]:
    """Settle a ``needs confirmation`` job from what you saw on the platform."""
    if (posted is None) == (not not_posted):
        raise InvalidRequestError("Say either --posted URN (it is online) or --not-posted (it is not).")
    store = get_store()
    matches = store.find(job_id)
    rows = [r for r in matches if r.kind == "publish"]
    if len(rows) != 1:
        raise JobNotFoundError(f"No single publish job matches {job_id!r}; see `arthur-gen publications`.")
    row = rows[0]
    if row.state != "uncertain":
        raise InvalidRequestError(f"Job {row.id} is {row.state}, not waiting for confirmation.")
    if posted is not None:
        publisher = get_publisher(row.backend)
        metrics = dict(row.metrics)
        metrics["checkpoint"] = {**metrics.get("checkpoint", {}), "url": publisher.url_for(posted)}
        store.set(
            row.id, state="saved", remote_id=posted, metrics=metrics, error=None, finished_at=time.time()
        )
    else:
        store.set(row.id, state="failed", error="not posted (confirmed by the user)", finished_at=time.time())
    updated = store.get(row.id)
    assert updated is not None
    return _summary(updated)
