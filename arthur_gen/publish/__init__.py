"""Publishing videos to platforms (YouTube, LinkedIn) as durable, checkpointed jobs.

Platforms come from plugins through the ``register_publishers`` hook; this package holds what
they share: the request, the ``Publisher`` contract, accounts and their tokens, limit checks
and the driver that records every step in the job store.
"""

from __future__ import annotations

import importlib as _importlib
import sys as _sys
import types as _types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._accounts import Account, list_accounts, load_account, remove_account, save_account
    from ._driver import Publication, confirm, publications, publish, resume_job
    from ._limits import Limits, VideoInfo, check_limits, probe_video
    from ._loopback import check_endpoint, is_loopback_host, receive_redirect
    from ._publisher import (
        Outcome,
        PublishContext,
        Publisher,
        RegisterPublisher,
        UploadInterruptedError,
        get_publisher,
        publisher_names,
    )
    from ._request import PublishRequest

# Loaded on first use (PEP 562): a publisher plugin needs only the contract at start-up, not
# the driver, the job store or the loopback server, so `arthur-gen --help` stays fast.
_WHERE = {
    **dict.fromkeys(
        ("Account", "list_accounts", "load_account", "remove_account", "save_account"), "_accounts"
    ),
    **dict.fromkeys(("Publication", "confirm", "publications", "publish", "resume_job"), "_driver"),
    **dict.fromkeys(("Limits", "VideoInfo", "check_limits", "probe_video"), "_limits"),
    **dict.fromkeys(("check_endpoint", "is_loopback_host", "receive_redirect"), "_loopback"),
    **dict.fromkeys(
        (
            "Outcome",
            "PublishContext",
            "Publisher",
            "RegisterPublisher",
            "UploadInterruptedError",
            "get_publisher",
            "publisher_names",
        ),
        "_publisher",
    ),
    "PublishRequest": "_request",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Account",
    "Limits",
    "Outcome",
    "Publication",
    "PublishContext",
    "PublishRequest",
    "Publisher",
    "RegisterPublisher",
    "UploadInterruptedError",
    "VideoInfo",
    "check_endpoint",
    "check_limits",
    "confirm",
    "get_publisher",
    "is_loopback_host",
    "list_accounts",
    "load_account",
    "probe_video",
    "publications",
    "publish",
    "publisher_names",
    "receive_redirect",
    "remove_account",
    "resume_job",
    "save_account",
]


class _CallablePackage(_types.ModuleType):
    """``arthur_gen.publish(video, to=...)`` works whether this package was imported or not."""

    def __call__(self, video: Any, **options: Any) -> dict[str, Any]:
        from ._driver import publish

        return publish(video, **options)


_sys.modules[__name__].__class__ = _CallablePackage
