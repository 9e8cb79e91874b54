"""arthur-gen-youtube: the ``youtube`` publisher (YouTube Data API v3, resumable uploads).

Importing this module is cheap: googleapiclient and google-auth load only when an upload or a
login runs. The loopback emulator lives in :mod:`arthur_gen_youtube.emulator`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import arthur_gen

from ._publisher import YouTubePublisher, add_credentials, login

if TYPE_CHECKING:
    from arthur_gen.publish import RegisterPublisher

__all__ = ["YouTubePublisher", "add_credentials", "login", "register_publishers"]


@arthur_gen.hookimpl
def register_publishers(register: RegisterPublisher) -> None:
    register(YouTubePublisher())
