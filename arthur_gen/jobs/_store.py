"""The durable job store: one SQLite file in WAL mode, short transactions, many processes.

A job row is written *before* a paid submit and updated at every step, so a crash at any
point leaves enough behind to finish the job without paying twice. A lease (owner, expiry)
says which process drives a job; a job whose owner died can be taken over.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

from .._config import data_dir
from ..errors import StoreError

__all__ = ["ACTIVE_STATES", "JobRow", "Store", "get_store", "new_job_id", "owner_token"]

ACTIVE_STATES = ("planned", "submitted", "running", "completed", "uncertain")
FINAL_STATES = ("saved", "failed", "canceled")
LEASE_S = 30.0
_log = logging.getLogger("arthur_gen")
#: How long a write waits for another process's write lock before it gives up (seconds).
LOCK_WAIT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    kind TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    request TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    cache_key TEXT,
    state TEXT NOT NULL,
    remote_id TEXT,
    seed INTEGER,
    estimate_usd REAL,
    cost_usd REAL,
    cost_source TEXT,
    saved_usd REAL NOT NULL DEFAULT 0,
    cached_from TEXT,
    parents TEXT NOT NULL DEFAULT '[]',
    outputs TEXT NOT NULL DEFAULT '[]',
    timings TEXT NOT NULL DEFAULT '{}',
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    out_dir TEXT,
    timeout_s REAL,
    submit_count INTEGER NOT NULL DEFAULT 0,
    submitted_at REAL,
    finished_at REAL,
    lease_owner TEXT,
    lease_until REAL
);
CREATE INDEX IF NOT EXISTS jobs_hash_state ON jobs (request_hash, state);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state);
CREATE INDEX IF NOT EXISTS jobs_created ON jobs (created_at);
CREATE INDEX IF NOT EXISTS jobs_cache ON jobs (cache_key) WHERE cache_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_ledger_time ON jobs
    (created_at, state, cost_source, cost_usd, estimate_usd, saved_usd, submit_count);
CREATE INDEX IF NOT EXISTS jobs_ledger_model ON jobs
    (backend, model, kind, created_at, state, cost_source, cost_usd, estimate_usd, saved_usd, submit_count);
CREATE TABLE IF NOT EXISTS outputs (
    sha256 TEXT NOT NULL,
    job_id TEXT NOT NULL,
    path TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS outputs_sha ON outputs (sha256);
"""

_JSON_FIELDS = ("request", "parents", "outputs", "timings", "metrics")


def new_job_id() -> str:
    """A sortable, unique job id: time-ordered hex (like a ULID, shorter)."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:10]}"


_OWNER = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_token() -> str:
    """This process's lease owner token (host:pid:random)."""
    return _OWNER if _OWNER.split(":")[1] == str(os.getpid()) else _refresh_owner()


def _refresh_owner() -> str:  # after fork
    global _OWNER
    _OWNER = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    return _OWNER


def _owner_alive(owner: str | None) -> bool:
    if not owner:
        return False
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != os.uname().nodename:
        return True  # cannot tell; rely on the lease expiry
    if owner == owner_token():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


@attrs.frozen(kw_only=True)
class JobRow:
    """One job as stored."""

    id: str
    created_at: float
    updated_at: float
    kind: str
    backend: str
    model: str
    prompt: str
    request: dict[str, Any]
    request_hash: str
    cache_key: str | None
    state: str
    remote_id: str | None
    seed: int | None
    estimate_usd: float | None
    cost_usd: float | None
    cost_source: str | None
    saved_usd: float
    cached_from: str | None
    parents: list[str]
    outputs: list[dict[str, Any]]
    timings: dict[str, float]
    metrics: dict[str, Any]
    error: str | None
    out_dir: str | None
    timeout_s: float | None
    submit_count: int
    submitted_at: float | None
    finished_at: float | None
    lease_owner: str | None
    lease_until: float | None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def lease_stale(self, now: float | None = None) -> bool:
        """True when no live process drives this job."""
        now = time.time() if now is None else now
        if self.lease_owner is None or self.lease_until is None or self.lease_until < now:
            return True
        return not _owner_alive(self.lease_owner)

    def to_dict(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.pop("lease_owner")
        data.pop("lease_until")
        return data


def _row(cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> JobRow:
    data = {col[0]: value for col, value in zip(cursor.description, values, strict=True)}
    for name in _JSON_FIELDS:
        data[name] = json.loads(data[name])
    return JobRow(**data)


class Store:
    """Jobs in SQLite. One connection per thread; every write is one short transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        #: True when the store can only be read (a read-only file, folder or mount): history,
        #: costs and show work; anything that would record a job raises StoreError.
        self.read_only = False
        self._local = threading.local()
        _make_folder(path)
        with self._errors():
            self._init_schema()

    def _init_schema(self) -> None:
        db = self._db()
        if self.read_only:
            return
        db.execute("PRAGMA journal_mode=WAL")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._retry(lambda s=statement: db.execute(s))

    def _retry(self, fn: Any) -> Any:
        end = time.monotonic() + LOCK_WAIT_S
        attempt = 0
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= end:
                    raise
                attempt += 1
                time.sleep(min(0.01 * attempt, 0.2))

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or getattr(self._local, "pid", None) != os.getpid():
            db = self._connect()
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    def _connect(self) -> sqlite3.Connection:
        if not self.read_only:
            db = sqlite3.connect(
                self.path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False
            )
            try:
                db.execute(f"PRAGMA busy_timeout={int(LOCK_WAIT_S * 1000)}")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.Error as exc:
                db.close()
                if not self.path.is_file() or not _cannot_write(exc, self.path):
                    raise
                self.read_only = True
        # Read-only: through SQLite's read-only mode, else (no WAL index can be made beside a
        # cleanly closed store) as an immutable file.
        last: sqlite3.Error | None = None
        for query in ("mode=ro", "immutable=1"):
            db = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?{query}",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
                return db
            except sqlite3.Error as exc:
                db.close()
                last = exc
        assert last is not None
        raise last

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """SQLite's and the file system's errors as one clear StoreError naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            if type(exc) not in (sqlite3.OperationalError, sqlite3.DatabaseError):
                raise  # a programming error (integrity, interface), not a broken store
            raise StoreError(_problem(self.path, exc, self.read_only)) from None

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction taken at once (BEGIN IMMEDIATE), so read-then-write is atomic."""
        if self.read_only:
            raise StoreError(_problem(self.path, None, True))
        with self._errors():
            db = self._db()
            self._retry(lambda: db.execute("BEGIN IMMEDIATE"))
        try:
            yield db
        except BaseException as exc:
            try:
                db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # the failed statement already ended the transaction
            if isinstance(exc, sqlite3.Error):
                with self._errors():
                    raise
            raise
        else:
            with self._errors():
                self._retry(lambda: db.execute("COMMIT"))

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # reads

    def get(self, job_id: str) -> JobRow | None:
        with self._errors():
            cur = self._db().execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
            values = cur.fetchone()
        return _row(cur, values) if values else None

    def find(self, prefix: str) -> list[JobRow]:
        """Jobs whose id starts with ``prefix`` (ids can be abbreviated like git hashes)."""
        with self._errors():
            cur = self._db().execute(
                "SELECT * FROM jobs WHERE id >= ? AND id < ? ORDER BY id LIMIT 5",
                (prefix, prefix + "\uffff"),
            )
            values = cur.fetchall()
        return [_row(cur, v) for v in values]

    def query(
        self,
        sql_where: str = "1",
        params: Sequence[Any] = (),
        *,
        limit: int | None = None,
        order: str = "created_at DESC",
    ) -> list[JobRow]:
        sql = f"SELECT * FROM jobs WHERE {sql_where} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._errors():
            cur = self._db().execute(sql, tuple(params))
            values = cur.fetchall()
        return [_row(cur, v) for v in values]

    def active_jobs(self) -> list[JobRow]:
        marks = ",".join("?" * len(ACTIVE_STATES))
        return self.query(f"state IN ({marks})", ACTIVE_STATES, order="created_at")

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self._errors():
            row = self._db().execute(sql, tuple(params)).fetchone()
        return row[0] if row else None

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._errors():
            return self._db().execute(sql, tuple(params)).fetchall()

    def jobs_with_output(self, sha256: str) -> list[str]:
        return [r[0] for r in self.rows("SELECT DISTINCT job_id FROM outputs WHERE sha256 = ?", (sha256,))]

    # writes

    def insert(self, db: sqlite3.Connection, values: Mapping[str, Any]) -> None:
        data = dict(values)
        for name in _JSON_FIELDS:
            if name in data and not isinstance(data[name], str):
                data[name] = json.dumps(data[name], sort_keys=True)
        cols = ", ".join(data)
        marks = ", ".join("?" * len(data))
        db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", tuple(data.values()))

    def update(self, job_id: str, *, expect_owner: str | None = None, **values: Any) -> JobRow:
        """Change fields of one job (and renew the lease when ``expect_owner`` holds it)."""
        self.set(job_id, expect_owner=expect_owner, **values)
        row = self.get(job_id)
        assert row is not None
        return row

    def set(
        self, job_id: str, *, expect_owner: str | None = None, durable: bool = False, **values: Any
    ) -> None:
        """Like :meth:`update`, without reading the row back.

        ``durable=True`` syncs this commit (and every earlier one) to disk before returning,
        so it survives a power cut: used for the write that must precede a paid submit.
        Other commits are safe against a crash of the process, which is what WAL mode with
        ``synchronous=NORMAL`` gives cheaply.
        """
        if durable and not self.read_only:
            with self._errors():
                self._db().execute("PRAGMA synchronous=FULL")
        try:
            with self._write() as tx:
                self._update(tx, job_id, expect_owner=expect_owner, **values)
        finally:
            if durable and not self.read_only:
                with self._errors():
                    self._db().execute("PRAGMA synchronous=NORMAL")

    def update_in(self, db: sqlite3.Connection, job_id: str, **values: Any) -> None:
        """Change fields of one job inside the caller's :meth:`transaction`."""
        self._update(db, job_id, **values)

    def _update(
        self, db: sqlite3.Connection, job_id: str, *, expect_owner: str | None = None, **values: Any
    ) -> None:
        data = dict(values)
        for name in _JSON_FIELDS:
            if name in data and not isinstance(data[name], str):
                data[name] = json.dumps(data[name], sort_keys=True)
        data["updated_at"] = time.time()
        if expect_owner is not None and "lease_until" not in data:
            data["lease_until"] = data["updated_at"] + LEASE_S
        sets = ", ".join(f"{k} = ?" for k in data)
        db.execute(f"UPDATE jobs SET {sets} WHERE id = ?", (*data.values(), job_id))

    def add_output(self, job_id: str, output: Mapping[str, Any], owner: str) -> JobRow:
        """Append one saved output to the job (and index its digest for lineage)."""
        with self._write() as db:
            current = db.execute("SELECT outputs FROM jobs WHERE id = ?", (job_id,)).fetchone()
            outputs = json.loads(current[0]) if current else []
            outputs.append(dict(output))
            self._update(db, job_id, expect_owner=owner, outputs=outputs)
            db.execute(
                "INSERT INTO outputs (sha256, job_id, path) VALUES (?, ?, ?)",
                (output["sha256"], job_id, output["path"]),
            )
        row = self.get(job_id)
        assert row is not None
        return row

    def claim(self, job_id: str, owner: str) -> JobRow | None:
        """Take over a job whose lease is stale; None if someone alive holds it."""
        with self._write() as db:
            cur = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,))
            values = cur.fetchone()
            if values is None:
                return None
            row = _row(cur, values)
            if not row.active or (row.lease_owner != owner and not row.lease_stale()):
                return None
            self._update(db, job_id, lease_owner=owner, lease_until=time.time() + LEASE_S)
        return self.get(job_id)

    def renew(self, job_id: str, owner: str) -> bool:
        """Extend ``owner``'s lease on an unfinished job; False once the job is no longer its own."""
        marks = ",".join("?" * len(ACTIVE_STATES))
        with self._write() as db:
            cur = db.execute(
                f"UPDATE jobs SET lease_until = ? WHERE id = ? AND lease_owner = ? AND state IN ({marks})",
                (time.time() + LEASE_S, job_id, owner, *ACTIVE_STATES),
            )
            return cur.rowcount > 0

    @contextmanager
    def lease_kept(self, job_id: str, owner: str) -> Iterator[None]:
        """Renew ``owner``'s lease from a helper thread while the body works (a long download, a
        local generation with slow steps), so no other process takes a live owner's job over."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(LEASE_S / 3):
                try:
                    if not self.renew(job_id, owner):
                        return  # finished, or no longer ours
                except Exception as exc:  # a busy store: try again at the next beat
                    _log.warning("job %s: could not renew its lease: %s", job_id, exc)

        threading.Thread(target=beat, name=f"arthur-gen-lease-{job_id}", daemon=True).start()
        try:
            yield
        finally:
            stop.set()

    def release(self, job_id: str, owner: str) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE jobs SET lease_owner = NULL, lease_until = NULL WHERE id = ? AND lease_owner = ?",
                (job_id, owner),
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction for callers that must read and write atomically."""
        with self._write() as db:
            yield db

    def row_from(self, cursor: sqlite3.Cursor, values: tuple[Any, ...]) -> JobRow:
        return _row(cursor, values)


def _make_folder(path: Path) -> None:
    """The store's folder, made if missing; a clear StoreError when it cannot be."""
    if path.is_dir():
        raise StoreError(
            f"the job store {path} is a folder, not a file; move it away (arthur-gen starts a new "
            "store) or set ARTHUR_GEN_HOME to another folder"
        )
    probe = path.parent
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise StoreError(
            f"the data folder {path.parent} cannot be made: {probe} is a file; move that file away "
            "or set ARTHUR_GEN_HOME to another folder"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"the data folder {path.parent} cannot be made ({exc.strerror or exc}); make {probe} "
            "writable or set ARTHUR_GEN_HOME to a folder you can write"
        ) from None


def _cannot_write(exc: sqlite3.Error, path: Path) -> bool:
    """Whether an open failed because the store (or its folder) cannot be written."""
    text = str(exc).lower()
    if "readonly" in text or "read-only" in text:
        return True
    return "unable to open" in text and not (
        os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
    )


def _problem(path: Path, exc: sqlite3.Error | None, read_only: bool) -> str:
    """One line: which file, what is wrong with it, how to fix it."""
    text = str(exc).lower() if exc is not None else ""
    if exc is None or "readonly" in text:
        return (
            f"the job store {path} is read-only, so no job can be recorded (history, costs and show "
            f"still work); make it writable (chmod u+w {path} {path.parent}) or set ARTHUR_GEN_HOME "
            "to a folder you can write"
        )
    if "not a database" in text or "malformed" in text or "corrupt" in text:
        return (
            f"the job store {path} is damaged ({exc}); arthur-gen left it untouched: move it aside "
            f"(mv {path} {path}.broken) to start a new store, or restore it from a backup"
        )
    if "locked" in text or "busy" in text:
        return (
            f"the job store {path} is locked by another process (waited {LOCK_WAIT_S:g} s); try again "
            "when that process is done"
        )
    if "no such table" in text:
        return f"{path} is not an arthur-gen job store ({exc}); move it aside or set ARTHUR_GEN_HOME"
    if "full" in text:
        return f"the disk holding the job store {path} is full; free some space and run again"
    if "unable to open" in text:
        return (
            f"the job store {path} cannot be opened{' read-only' if read_only else ''} ({exc}); check "
            f"the permissions of {path.parent} or set ARTHUR_GEN_HOME to a folder you can write"
        )
    return f"the job store {path} cannot be used ({exc}); check the file and its folder"


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


_by_home: dict[str | None, Store] = {}


def get_store() -> Store:
    """The store for the current ``ARTHUR_GEN_HOME`` / user data dir."""
    home = os.environ.get("ARTHUR_GEN_HOME")
    store = _by_home.get(home)
    if store is not None and _stores.get(store.path) is store:
        return store
    path = data_dir() / "jobs.db"
    with _stores_lock:
        store = _stores.get(path)
        if store is None:
            store = _stores[path] = Store(path)
        _by_home[home] = store
        return store
