"""A loopback emulator of YouTube's Data API upload surface (for tests and offline tries).

Resumable sessions (308 + ``Range``, status queries, the final video resource), OAuth token
refresh, ``channels``/``playlistItems``/``videos`` lists, thumbnails, and faults on demand:
401 (expired token), 403 ``quotaExceeded`` / ``uploadLimitExceeded``, a 5xx in the middle
of a chunk, 404 for an expired session. ``python -m arthur_gen_youtube.emulator`` runs it.
"""

from __future__ import annotations

from ._server import Emulator, Fault

__all__ = ["Emulator", "Fault"]
