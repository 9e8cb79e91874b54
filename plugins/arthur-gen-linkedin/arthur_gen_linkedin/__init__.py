"""arthur-gen-linkedin: the ``linkedin`` publisher (REST Videos + Posts APIs over plain httpx).

httpx loads only when an upload or a login runs. The loopback emulator lives in
:mod:`arthur_gen_linkedin.emulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import arthur_gen

if TYPE_CHECKING:
    from arthur_gen.publish import RegisterPublisher

    from ._publisher import LinkedInPublisher, add_token, login

__all__ = ["LinkedInPublisher", "add_token", "login", "register_publishers"]


def __getattr__(name: str) -> Any:
    """The publisher module loads on first use: listing backends never needs it (start-up)."""
    if name in ("LinkedInPublisher", "add_token", "login"):
        from . import _publisher

        return getattr(_publisher, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@arthur_gen.hookimpl
def register_publishers(register: RegisterPublisher) -> None:
    from ._publisher import LinkedInPublisher

    register(LinkedInPublisher())
