"""The video's content digest, and its fingerprint for telling the same unchanged file again."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError
from ..jobs._hashing import input_digest

__all__ = ["BackgroundDigest", "fingerprint", "sha256_of"]


def sha256_of(path: str) -> str:
    """The hex SHA-256 of a file's content (memoised per path, inode, size and times)."""
    return input_digest(path).removeprefix("sha256:")


def fingerprint(path: str) -> dict[str, Any]:
    """Where the file is and its size, inode and mtime: equal only for the same unchanged file."""
    stat = os.stat(path)
    return {
        "path": str(Path(path).resolve()),
        "size": stat.st_size,
        "inode": stat.st_ino,
        "mtime_ns": stat.st_mtime_ns,
    }


class BackgroundDigest:
    """:func:`sha256_of` on a helper thread, so the upload starts while the file is hashed.

    hashlib releases the GIL on large blocks, so the hash costs the upload little wall time.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._value: str | None = None
        self._error: OSError | None = None
        self._done = threading.Event()
        threading.Thread(target=self._run, name="arthur-gen-digest", daemon=True).start()

    def _run(self) -> None:
        try:
            self._value = sha256_of(self.path)
        except OSError as exc:
            self._error = exc
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def result(self) -> str:
        """The digest (waits for it); a clear error when the file could not be read."""
        self._done.wait()
        if self._error is not None:
            raise InvalidRequestError(
                f"Could not read {self.path} while uploading it ({self._error.strerror or self._error}); "
                "check the file is still there and run the same publish again."
            )
        assert self._value is not None
        return self._value
