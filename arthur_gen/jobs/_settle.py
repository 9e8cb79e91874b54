"""Settle a job whose create was lost and could not be reconciled: adopt a prediction or resubmit.

``arthur-gen settle JOB --adopt PREDICTION`` attaches the job to a prediction the user checked on
the provider's dashboard; ``--resubmit`` declares that none was created and submits it again.
Both are explicit user decisions: reconcile never makes either one on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..errors import InvalidRequestError, JobNotFoundError

if TYPE_CHECKING:
    from ._results import GeneratedImage, GeneratedVideo, ProgressEvent

__all__ = ["settle"]


def settle(
    job: str,
    *,
    adopt: str | None = None,
    resubmit: bool = False,
    key: str | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> GeneratedImage | GeneratedVideo:
    """Settle the uncertain job ``job`` (an id or unique prefix) and finish it."""
    from .._api import _kind
    from .._registry import find_model, get_backend
    from ._runner import RunOptions, _key_for, drive_job
    from ._store import get_store, owner_token

    if (adopt is None) == (not resubmit):
        raise InvalidRequestError("settle needs exactly one of adopt=PREDICTION or resubmit=True")
    if adopt is not None and (not isinstance(adopt, str) or not adopt.strip() or adopt != adopt.strip()):
        raise InvalidRequestError(f"adopt={adopt!r} is not a prediction id; copy it from the job's message")
    store = get_store()
    found = store.find(job)
    if not found:
        raise JobNotFoundError(f"no job matches {job!r}; `arthur-gen history` lists them")
    if len(found) > 1:
        raise InvalidRequestError(f"{job!r} matches {len(found)} jobs; give more of the id")
    (row,) = found
    if row.state != "uncertain":
        raise InvalidRequestError(
            f"job {row.id} is {row.state}, not uncertain: only a job whose create was lost needs settling"
        )
    if adopt is not None:
        owners = store.rows("SELECT id FROM jobs WHERE remote_id = ? AND id != ?", (adopt, row.id))
        if owners:
            raise InvalidRequestError(
                f"prediction {adopt} already belongs to job {owners[0][0]}; a prediction is paid once "
                "and saved by one job. Pick another candidate, or --resubmit"
            )
    owner = owner_token()
    claimed = store.claim(row.id, owner)
    if claimed is None:
        raise InvalidRequestError(f"job {row.id} is being driven by another live process; try again later")
    if adopt is not None:
        claimed = store.update(
            row.id,
            state="submitted",
            remote_id=adopt,
            error=None,
            submitted_at=time.time(),
            expect_owner=owner,
        )
    else:
        # The user checked: nothing was created. Counted afresh, so the next create is the one.
        claimed = store.update(row.id, state="planned", submit_count=0, error=None, expect_owner=owner)
    backend = get_backend(row.backend, _kind(row.kind))
    model = find_model(backend, row.model)
    secret = None if backend.is_local else _key_for(backend, key)
    return drive_job(claimed, backend, model, secret, RunOptions(key=secret, on_progress=on_progress))
