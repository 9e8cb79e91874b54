"""The contracts a backend implements: a local one runs in this process, a remote one is
driven by the core through submit/poll/cancel/download so that every paid job is durable.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, TypeAlias

import attrs

from ._models import Availability, Kind, ModelInfo
from .errors import JobCanceledError

if TYPE_CHECKING:
    from ._requests import ImageRequest, VideoRequest
    from ._secrets import Secret
    from .money._budget import Estimate

__all__ = [
    "Backend",
    "ImageBackend",
    "LocalBackend",
    "LocalContext",
    "LocalOutput",
    "RemoteBackend",
    "RemoteContext",
    "RemoteOutput",
    "RemoteState",
    "RemoteStatus",
    "VideoBackend",
]

Request: TypeAlias = "ImageRequest | VideoRequest"
ProgressFn = Callable[[int, int], None]


class Backend(ABC):
    """A provider of generation. Subclass :class:`LocalBackend` or :class:`RemoteBackend`.

    Class attributes a backend sets:

    - ``id``: short unique name (``"mflux"``, ``"replicate"``)
    - ``kind``: :class:`Kind` (set by :class:`ImageBackend` / :class:`VideoBackend` mixins)
    - ``key_name`` / ``key_env_var`` / ``key_help``: for backends that need an API key
    - ``offline_help``: (remote) how to try it for $0 offline, shown when its key is missing
    - ``max_concurrency``: jobs run at once per process (local backends: usually 1)

    ``availability()`` and ``request_availability()`` also drive routing (``backend="auto"``
    or a preference list): the first backend of the list that says yes runs the request.
    """

    id: ClassVar[str]
    kind: ClassVar[Kind]
    display_name: ClassVar[str] = ""
    key_name: ClassVar[str | None] = None
    key_env_var: ClassVar[str | None] = None
    key_help: ClassVar[str] = ""
    offline_help: ClassVar[str] = ""
    max_concurrency: ClassVar[int] = 1
    is_local: ClassVar[bool]

    @property
    @abstractmethod
    def default_model(self) -> str:
        """The id of the model used when the caller names none."""

    @abstractmethod
    def models(self) -> Sequence[ModelInfo]:
        """The catalog. Must not load weights or call the network."""

    def resolve_model(self, model_id: str) -> ModelInfo | None:
        """A model outside the catalog (e.g. any Replicate id), or None if unknown."""
        return None

    def availability(self) -> Availability:
        """Whether the backend can run here (platform, packages). Must be cheap."""
        return Availability.yes()

    def model_availability(self, model: ModelInfo) -> Availability:
        """Whether this model can run here now (e.g. weights present)."""
        return Availability.yes()

    def request_availability(self, request: Request, model: ModelInfo) -> Availability:
        """Whether this request can run here now; sees options such as a local model path.

        Defaults to :meth:`model_availability`. Called before any job row is written.
        """
        return self.model_availability(model)

    def estimate(self, request: Request, model: ModelInfo) -> Estimate | None:
        """A backend's own estimate when the price depends on more than the model's basis
        (e.g. resolution); None means: estimate from ``model.price``."""
        return None

    def validate(self, request: Request, model: ModelInfo) -> None:
        """Extra checks beyond the model's declared limits; raise InvalidRequestError."""

    def describe_request(self, request: Request, model: ModelInfo) -> Mapping[str, Any]:
        """What would be sent or run, for ``--dry-run``. Never contains keys."""
        return {}

    def model_version(self, model: ModelInfo) -> str:
        """A string that changes when the model's weights change (part of the cache key)."""
        return ""

    def cache_identity(self, request: Request, model: ModelInfo) -> str | None:
        """A stamp of the local files this request uses (e.g. a weights folder, LoRA files),
        folded into the cache key so changed files miss the cache; None when it uses none."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r}>"


class ImageBackend(Backend):
    """Mixin: this backend makes images."""

    kind: ClassVar[Kind] = Kind.IMAGE


class VideoBackend(Backend):
    """Mixin: this backend makes videos."""

    kind: ClassVar[Kind] = Kind.VIDEO


@attrs.define(kw_only=True)
class LocalContext:
    """What the core hands a local backend for one job."""

    job_id: str
    workdir: Path
    cancel_event: threading.Event = attrs.field(factory=threading.Event)
    on_step: ProgressFn | None = None
    #: Called with a phase name after the steps (e.g. ``decoding``, ``saving``).
    on_phase: Callable[[str], None] | None = None

    def progress(self, step: int, total: int) -> None:
        """Report that ``step`` of ``total`` steps is done."""
        if self.on_step is not None:
            self.on_step(step, total)

    def phase(self, name: str) -> None:
        """Report that the job entered ``name`` (a ProgressEvent phase), e.g. ``decoding``."""
        if self.on_phase is not None:
            self.on_phase(name)

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        """Raise :class:`JobCanceledError` if the user asked to stop."""
        if self.cancel_event.is_set():
            raise JobCanceledError(f"job {self.job_id} was cancelled")


@attrs.frozen(kw_only=True)
class LocalOutput:
    """A file a local backend wrote into ``ctx.workdir``; the core moves it into place."""

    path: Path
    seed: int | None = None
    media_type: str = "image/png"
    metadata: Mapping[str, Any] = attrs.field(factory=dict)


class LocalBackend(Backend):
    """A backend that runs in this process (mflux, MLX video)."""

    is_local: ClassVar[bool] = True

    @abstractmethod
    def generate(self, request: Request, model: ModelInfo, ctx: LocalContext) -> Sequence[LocalOutput]:
        """Run the model; call ``ctx.progress`` per step and ``ctx.check_cancelled`` often."""

    def release(self) -> None:
        """Free warm models and memory."""


@attrs.frozen(kw_only=True)
class RemoteContext:
    """What the core hands a remote backend for each call of one job."""

    job_id: str
    key: Secret | None
    timeout_s: float
    deadline: float | None = None  # time.monotonic() by which the whole job must end
    #: Unix time the (uncertain) submit started, stored durably before the create was sent.
    submit_started_at: float | None = None
    #: Remote ids other jobs already own: reconcile must never adopt one of them.
    owned_remote_ids: frozenset[str] = frozenset()


class RemoteState(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (RemoteState.SUCCEEDED, RemoteState.FAILED, RemoteState.CANCELED)


@attrs.frozen(kw_only=True)
class RemoteOutput:
    """One output of a remote job, to be downloaded at once."""

    url: str
    name: str = ""
    media_type: str | None = None
    size: int | None = None
    sha256: str | None = None


@attrs.frozen(kw_only=True)
class RemoteStatus:
    """The provider's view of a job. ``cost_usd`` is the actual cost when the backend knows it."""

    state: RemoteState
    outputs: tuple[RemoteOutput, ...] = ()
    error: str | None = None
    progress: float | None = None
    metrics: Mapping[str, Any] = attrs.field(factory=dict)
    cost_usd: float | None = None
    poll_after_s: float | None = None


class RemoteBackend(Backend):
    """A backend on someone else's computer. The core drives the loop:

    ``submit`` once (never retried), store the id, ``poll`` with backoff until terminal,
    ``download`` every output at once, ``cancel`` on Ctrl-C or deadline.
    """

    is_local: ClassVar[bool] = False
    max_concurrency: ClassVar[int] = 64

    @abstractmethod
    def submit(self, request: Request, model: ModelInfo, ctx: RemoteContext) -> str:
        """Create the job and return its remote id. Must not retry the create call.

        Raise :class:`SubmitUncertainError` when the outcome is unknown (timeout, reset).
        """

    @abstractmethod
    def poll(self, remote_id: str, model: ModelInfo, ctx: RemoteContext) -> RemoteStatus:
        """The job's current status. Transient read errors may be retried here."""

    @abstractmethod
    def cancel(self, remote_id: str, ctx: RemoteContext) -> None:
        """Ask the provider to stop the job (and its billing)."""

    @abstractmethod
    def download(self, output: RemoteOutput, dest: BinaryIO, ctx: RemoteContext) -> None:
        """Stream one output into ``dest`` (constant memory; the core hashes and caps it)."""

    def reconcile(self, request: Request, model: ModelInfo, ctx: RemoteContext, since: float) -> str | None:
        """After an uncertain submit: the remote id of a job created for this request since
        ``since`` (Unix time), or None if the provider has none. Default: cannot tell."""
        from .errors import SubmitUncertainError

        raise SubmitUncertainError(
            f"{self.id} cannot check whether job {ctx.job_id} was created; "
            "check the provider's dashboard before running it again"
        )
