"""Run a script against Replicate when a token is set, else against the emulator."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator

__all__ = ["OFFLINE_NOTICE", "replicate_or_emulator"]

OFFLINE_NOTICE = (
    "OFFLINE: no REPLICATE_API_TOKEN set; running against the local Replicate emulator (no money spent)"
)
_NAMES = ("REPLICATE_BASE_URL", "REPLICATE_API_TOKEN", "ARTHUR_GEN_HOME")


@contextlib.contextmanager
def replicate_or_emulator(*, starting_s: float = 0.5, processing_s: float = 2.0) -> Iterator[bool]:
    """Yield False when ``REPLICATE_API_TOKEN`` is set (the real service is used).

    Otherwise print :data:`OFFLINE_NOTICE`, start an :class:`Emulator` and point the client at
    it for the block (``REPLICATE_BASE_URL`` and a dummy token), and yield True. Emulated
    costs go to a throwaway arthur-gen home unless ``ARTHUR_GEN_HOME`` is already set, so
    they never mix with a real ledger. The environment is restored afterwards.
    """
    if os.environ.get("REPLICATE_API_TOKEN"):
        yield False
        return
    from . import Emulator

    print(OFFLINE_NOTICE, flush=True)
    saved = {name: os.environ.get(name) for name in _NAMES}
    with (
        Emulator(starting_s=starting_s, processing_s=processing_s) as emulator,
        tempfile.TemporaryDirectory(prefix="arthur-gen-offline-") as home,
    ):
        os.environ["REPLICATE_BASE_URL"] = emulator.url
        os.environ["REPLICATE_API_TOKEN"] = "r8_offline_emulator"
        os.environ["ARTHUR_GEN_HOME"] = saved["ARTHUR_GEN_HOME"] or home
        try:
            yield True
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
