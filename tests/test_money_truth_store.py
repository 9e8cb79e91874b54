"""Issue 8 item 8: no traceback from a broken store or config. The real CLI in a child process:
one line naming the file, what is wrong and how to fix it, and the file left untouched. A
read-only store still answers `history`, `costs` and `show`; only recording a job is refused."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.errors import StoreError
from arthur_gen.jobs import _store
from arthur_gen.testing import FakeImageBackend, FakePlugin, record_job, registered

CLI = str(Path(sys.executable).parent / "arthur-gen")

# Root ignores file modes; dropping its DAC capabilities makes permissions bite as for a user.
_AS_USER: list[str] = []
if os.geteuid() == 0:
    setpriv = shutil.which("setpriv")
    _AS_USER = [setpriv, "--bounding-set=-dac_override,-dac_read_search"] if setpriv else []
needs_permissions = pytest.mark.skipif(
    os.geteuid() == 0 and not _AS_USER, reason="running as root without setpriv: modes do not apply"
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of its own (nothing else of the test lives in it, so it can be snapshotted)."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(folder))
    return folder


@pytest.fixture
def env(home: Path, child_env: dict[str, str]) -> dict[str, str]:
    """The child's environment: this home, the fake image backend only."""
    # The children import the tree this test imported (a mutated copy too, see scripts/mutate.py).
    tree = str(Path(arthur_gen.__file__).resolve().parent.parent)
    values = dict(child_env, ARTHUR_GEN_HOME=str(home))
    values["PYTHONPATH"] = os.pathsep.join([tree, child_env["PYTHONPATH"]])
    values.pop("ARTHUR_GEN_FAKE_PROVIDER", None)
    return values


def _cli(children: Any, env: Mapping[str, str], *args: str) -> tuple[int, str, str]:
    done = children.run([*_AS_USER, CLI, *args], env, timeout=60)
    return done.returncode, done.stdout, done.stderr


def _one_clear_line(err: str, *named: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("arthur-gen: "), err
    for text in named:
        assert text in lines[0], (text, err)


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its digest (what 'left untouched' is checked against)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _store_with_a_job(home: Path) -> str:
    job_id = record_job(created_at=time.time(), cost_usd=0.5, prompt="a stored job")
    _store.get_store().close()
    with _store._stores_lock:
        _store._stores.clear()
    _store._by_home.clear()
    # a cleanly closed WAL store: no -wal or -shm file beside it
    con = sqlite3.connect(home / "data" / "jobs.db")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return job_id


def _damage(kind: str, home: Path) -> Path:
    """Break the home in one way; return the file or folder the message must name."""
    db = home / "data" / "jobs.db"
    if kind == "corrupt":
        _store_with_a_job(home)
        db.write_bytes(b"this is not SQLite at all\n" * 200)
        return db
    if kind == "truncated":
        _store_with_a_job(home)
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 3])
        return db
    if kind == "db_is_a_folder":
        db.mkdir(parents=True)
        return db
    if kind == "data_is_a_file":
        (home / "data").write_text("not a folder")
        return home / "data"
    if kind == "binary_config":
        (home / "config.toml").write_bytes(bytes(range(256)) * 4)
        return home / "config.toml"
    if kind == "config_is_a_folder":
        (home / "config.toml").mkdir()
        return home / "config.toml"
    if kind == "unreadable_config":
        (home / "config.toml").write_text('output_dir = "x"\n')
        (home / "config.toml").chmod(0)
        return home / "config.toml"
    if kind == "unwritable_home":
        home.chmod(0o555)
        return home / "data"
    raise AssertionError(kind)


_STORE_KINDS = ["corrupt", "truncated", "db_is_a_folder", "data_is_a_file"]
_CONFIG_KINDS = [
    "binary_config",
    "config_is_a_folder",
    pytest.param("unreadable_config", marks=needs_permissions),
]


@pytest.mark.parametrize("kind", [*_STORE_KINDS, pytest.param("unwritable_home", marks=needs_permissions)])
@pytest.mark.parametrize("command", [["history"], ["image", "a cat", "-b", "fake-image"]])
def test_a_broken_store_is_one_clear_line(
    kind: str, command: list[str], home: Path, children: Any, env: dict[str, str], tmp_path: Path
) -> None:
    named = _damage(kind, home)
    before = _snapshot(home)
    try:
        code, _, err = _cli(
            children, env, *command, *(["--out", str(tmp_path / "o")] if len(command) > 1 else [])
        )
    finally:
        home.chmod(0o755)
    assert code != 0
    _one_clear_line(err, str(named))
    assert _snapshot(home) == before


@pytest.mark.parametrize("kind", _CONFIG_KINDS)
@pytest.mark.parametrize(
    "command", [["image", "a cat", "-b", "fake-image"], ["budget", "set", "per_day", "5"]]
)
def test_a_broken_config_is_one_clear_line(
    kind: str, command: list[str], home: Path, children: Any, env: dict[str, str]
) -> None:
    named = _damage(kind, home)
    before = _snapshot(home)
    code, _, err = _cli(children, env, *command)
    assert code != 0
    _one_clear_line(err, str(named))
    assert _snapshot(home) == before


@needs_permissions
def test_a_read_only_store_still_answers_history_costs_and_show(
    home: Path, children: Any, env: dict[str, str], tmp_path: Path
) -> None:
    job_id = _store_with_a_job(home)
    data = home / "data"
    for path in data.iterdir():
        path.chmod(0o444)
    data.chmod(0o555)
    before = _snapshot(home)
    try:
        code, out, err = _cli(children, env, "history")
        assert code == 0 and job_id in out and "$0.5000" in out, err
        code, out, err = _cli(children, env, "costs")
        assert code == 0 and "Spent $0.50" in out, err
        code, out, err = _cli(children, env, "show", job_id)
        assert code == 0 and "a stored job" in out, err
        code, out, err = _cli(
            children, env, "image", "a cat", "-b", "fake-image", "--out", str(tmp_path / "o")
        )
        assert code != 0
        _one_clear_line(err, str(data / "jobs.db"), "read-only")
        assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())
    finally:
        data.chmod(0o755)
    assert _snapshot(home) == before


def test_a_locked_store_says_so_and_reads_go_on(
    home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job_id = _store_with_a_job(home)
    monkeypatch.setattr(_store, "LOCK_WAIT_S", 0.3)
    holder = sqlite3.connect(home / "data" / "jobs.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert [r.id for r in arthur_gen.history()] == [job_id]  # WAL: reads are not blocked
        with (
            registered(FakePlugin(FakeImageBackend()), "test-locked-store"),
            pytest.raises(StoreError, match="locked by another process"),
        ):
            arthur_gen.generate_image("a cat", backend="fake-image", out_dir=tmp_path / "o")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r.id for r in arthur_gen.history()] == [job_id]


def test_store_error_is_an_arthur_gen_error_and_an_os_error() -> None:
    assert issubclass(StoreError, arthur_gen.ArthurGenError) and issubclass(StoreError, OSError)
    assert arthur_gen.StoreError is StoreError
