"""arthur-gen-youtube: the ``youtube`` publisher (YouTube Data API v3, resumable uploads).

Importing this module is cheap: googleapiclient and google-auth load only when an upload or a
login runs. The loopback emulator lives in :mod:`arthur_gen_youtube.emulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arthur_gen

if TYPE_CHECKING:
    from arthur_gen.publish import RegisterPublisher

    from ._publisher import YouTubePublisher, add_credentials, login

__all__ = ["YouTubePublisher", "add_credentials", "login", "register_publishers"]


def __getattr__(name: str) -> Any:
    """The publisher module loads on first use: listing backends never needs it (start-up)."""
    if name in ("YouTubePublisher", "add_credentials", "login"):
        from . import _publisher

        return getattr(_publisher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@arthur_gen.hookimpl
def register_publishers(register: RegisterPublisher) -> None:
    from ._publisher import YouTubePublisher

    register(YouTubePublisher())
