"""Fixtures for the Replicate plugin's tests: the real client, real HTTP, the loopback emulator.

Every test gets its own arthur-gen home (store, outputs) in a temporary folder, entry points
off, this plugin registered explicitly, and ``REPLICATE_BASE_URL`` / ``REPLICATE_API_TOKEN``
pointing at a fresh emulator (``emu``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import arthur_gen_replicate
import pytest
from arthur_gen_replicate import _backend
from arthur_gen_replicate.emulator import Emulator
from arthur_gen_replicate.emulator.pytest_fixture import replicate_emulator

from arthur_gen._plugins import pm
from arthur_gen.testing import registered

__all__ = ["TOKEN", "jobs", "replicate_emulator"]

#: A token that is easy to find if it leaks anywhere.
TOKEN = "r8_SeCrEtToKeN4TeStS0123456789abcdefXYZ"


def jobs(home: Path) -> list[dict[str, Any]]:
    """Every row of the job store under ``home`` (``ARTHUR_GEN_HOME``), straight from SQLite."""
    db = sqlite3.connect(home / "data" / "jobs.db")
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY created_at")]
    finally:
        db.close()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private arthur-gen home; no entry points; this plugin registered for the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(home))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    for name in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "ARTHUR_GEN_OUTPUT_DIR"):
        monkeypatch.delenv(name, raising=False)
    for name in ("PER_DAY", "PER_MONTH", "PER_CALL"):
        monkeypatch.delenv(f"ARTHUR_GEN_BUDGET_{name}", raising=False)
    _backend._shared_pool().clear()
    if pm.is_registered(arthur_gen_replicate):
        yield home
    else:
        with registered(arthur_gen_replicate, name="replicate"):
            yield home
    _backend._shared_pool().clear()


@pytest.fixture
def home(_isolated: Path) -> Path:
    return _isolated


@pytest.fixture
def token() -> str:
    """The API token the emulator fixture exports (easy to spot if it leaks)."""
    return TOKEN


@pytest.fixture
def rows(home: Path) -> Callable[[], list[dict[str, Any]]]:
    """Read every job row of this test's store, straight from SQLite."""
    return lambda: jobs(home)


@pytest.fixture
def emu(replicate_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator (starting 0.05 s, processing 0.1 s), with the environment pointing at it."""
    monkeypatch.setenv("REPLICATE_BASE_URL", replicate_emulator.url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    return replicate_emulator
