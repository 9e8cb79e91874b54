"""arthur-gen-linkedin: the ``linkedin`` publisher (REST Videos + Posts APIs over plain httpx).

httpx loads only when an upload or a login runs. The loopback emulator lives in
:mod:`arthur_gen_linkedin.emulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import arthur_gen

from ._publisher import LinkedInPublisher, add_token, login

if TYPE_CHECKING:
    from arthur_gen.publish import RegisterPublisher

__all__ = ["LinkedInPublisher", "add_token", "login", "register_publishers"]


@arthur_gen.hookimpl
def register_publishers(register: RegisterPublisher) -> None:
    register(LinkedInPublisher())
