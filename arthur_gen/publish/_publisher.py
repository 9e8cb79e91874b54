"""The ``Publisher`` contract platforms implement, and the registry the hook fills."""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..errors import ArthurGenError, PluginError, UnknownModelError
from ._limits import Limits

if TYPE_CHECKING:
    from ._accounts import Account
    from ._request import PublishRequest

__all__ = [
    "Outcome",
    "PublishContext",
    "Publisher",
    "RegisterPublisher",
    "UploadInterruptedError",
    "get_publisher",
    "publisher_names",
]


class UploadInterruptedError(ArthurGenError):
    """The upload stopped on a transient failure; the same publish again resumes it."""

    retryable = True


@attrs.frozen(kw_only=True)
class Outcome:
    """The end of an upload: the platform's id and link, and the API quota it used."""

    remote_id: str
    url: str
    quota_units: int = 0


class PublishContext:
    """What a publisher gets: the request, the account, and durable checkpoints.

    ``checkpoint`` is the last saved state of this job's protocol (empty on a first run);
    call :meth:`save` after every step *before* the next side effect, so a crash resumes
    from there. Never put a token in a checkpoint.
    """

    def __init__(
        self,
        request: PublishRequest,
        account: Account,
        job_id: str,
        checkpoint: dict[str, Any],
        save: Callable[[dict[str, Any], bool], None],
        progress: Callable[[int, int], None] | None = None,
        before_publish: Callable[[], None] | None = None,
    ) -> None:
        self.request = request
        self.account = account
        self.job_id = job_id
        self.checkpoint = dict(checkpoint)
        self._save = save
        self._progress = progress
        self._before_publish = before_publish

    @property
    def marker(self) -> str:
        """A tag that identifies this job's upload on the platform (for lookups after a lost session)."""
        return f"arthur-gen-{self.job_id}"

    def save(self, *, durable: bool = True, **changes: Any) -> None:
        """Record ``changes``; ``durable=False`` for advisory progress (skips the disk sync)."""
        self.checkpoint.update(changes)
        self._save(dict(self.checkpoint), durable)

    def progress(self, sent: int, total: int) -> None:
        if self._progress is not None:
            self._progress(sent, total)

    def before_publish(self) -> None:
        """Call right before the request that makes the upload a published item.

        For a publisher with ``hashes_during_upload``, this waits for the file's digest and runs
        the duplicate check; it raises (and the job stops, having published nothing) when the
        same file is already published or in flight. A no-op once done, and for other publishers.
        """
        if self._before_publish is not None:
            self._before_publish()


class Publisher(abc.ABC):
    """A platform. Subclasses set ``name`` and ``limits`` and implement :meth:`upload`."""

    name: ClassVar[str] = ""
    limits: ClassVar[Limits] = Limits()
    #: True when :meth:`upload` calls ``ctx.before_publish()`` before the request that publishes
    #: (and publishes nothing before it): the upload then starts while the file is hashed.
    hashes_during_upload: ClassVar[bool] = False

    def validate(self, request: PublishRequest) -> None:
        """Refuse a request this platform cannot take (raise ``InvalidRequestError``)."""

    def target(self, request: PublishRequest, account: Account) -> str:
        """Where on the account it goes (a channel, an organisation); part of the duplicate key."""
        return str(account.get("target") or account.name)

    @abc.abstractmethod
    def upload(self, ctx: PublishContext) -> Outcome:
        """Run (or resume from ``ctx.checkpoint``) the upload; return the published item."""

    def url_for(self, remote_id: str) -> str:
        return remote_id

    def find_published(self, ctx: PublishContext) -> Outcome | None:
        """For a job in doubt (an answer lost): what it already published, if the platform can tell.

        ``None`` means "cannot tell", never "not published": the job stays ``needs
        confirmation``. Called by ``resume``; it must not publish anything.
        """
        return None


RegisterPublisher = Callable[[Publisher], None]

_publishers: dict[str, Publisher] | None = None


def _collect() -> dict[str, Publisher]:
    global _publishers
    if _publishers is None:
        from .._plugins import load_plugins, pm

        load_plugins()
        found: dict[str, Publisher] = {}

        def register(publisher: Publisher) -> None:
            if not isinstance(publisher, Publisher) or not publisher.name:
                raise PluginError(f"{publisher!r} is not a named arthur_gen.publish.Publisher")
            if publisher.name in found:
                raise PluginError(f"Two plugins register the publisher {publisher.name!r}; uninstall one.")
            found[publisher.name] = publisher

        pm.hook.register_publishers(register=register)
        _publishers = found
    return _publishers


def publisher_names() -> list[str]:
    return sorted(_collect())


def get_publisher(name: str) -> Publisher:
    found = _collect()
    if name not in found:
        known = ", ".join(sorted(found)) or "none (install arthur-gen-youtube or arthur-gen-linkedin)"
        raise UnknownModelError(f"No publisher {name!r}; installed: {known}.")
    return found[name]


def _reset_for_tests() -> None:
    global _publishers
    _publishers = None
