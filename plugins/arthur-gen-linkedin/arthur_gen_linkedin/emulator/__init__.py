"""A loopback emulator of LinkedIn's Videos and Posts REST APIs (and its OAuth endpoints).

Faults on demand: ``401``, ``403`` (permission, on posts), an inactive ``LinkedIn-Version``,
``429``, ``part-500`` (a failing part), ``expire-urls`` (upload URLs expired),
``processing-failed`` and ``post-drop`` (the post is created, the answer is lost).
``python -m arthur_gen_linkedin.emulator`` runs it.
"""

from __future__ import annotations

from ._server import Emulator

__all__ = ["Emulator"]
