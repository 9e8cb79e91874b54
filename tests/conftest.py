"""Fixtures for the core tests.

Every test gets its own ``ARTHUR_GEN_HOME`` (``tmp_path``) and runs with entry points off
(``ARTHUR_GEN_LOAD_PLUGINS=""``); backends come from :mod:`arthur_gen.testing`, registered
explicitly. Tests of plugin loading itself install real dummy distributions with
:func:`make_dist` and reset the plugin manager around them.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from arthur_gen import _plugins
from arthur_gen._backends import RemoteContext
from arthur_gen._models import ModelInfo
from arthur_gen.jobs import _store
from arthur_gen.testing import FakeImageBackend, FakePlugin, FakeProvider, FakeVideoBackend, registered

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "arthur-gen")
KEY_ENV = "ARTHUR_GEN_TEST_FAKE_TOKEN"

# Variables the user's shell might carry that would change what a test sees.
_FOREIGN_ENV = ("REPLICATE_API_TOKEN", KEY_ENV, "PYTHONPATH")


def _close_stores() -> None:
    with _store._stores_lock:
        for store in _store._stores.values():
            store.close()
        _store._stores.clear()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private home, entry points off, no stray configuration from the environment."""
    for name in list(os.environ):
        if name.startswith("ARTHUR_GEN_") or name in _FOREIGN_ENV:
            monkeypatch.delenv(name)
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(tmp_path))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    yield tmp_path
    _close_stores()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """The test's ``ARTHUR_GEN_HOME``."""
    return tmp_path


@pytest.fixture
def out_dir(home: Path) -> Path:
    """Where outputs land by default (``<home>/data/outputs``)."""
    return home / "data" / "outputs"


@pytest.fixture
def image_backend() -> Iterator[FakeImageBackend]:
    """A local fake image backend ``fake-image``, registered for the test."""
    backend = FakeImageBackend()
    with registered(FakePlugin(backend), name="test-fake-image"):
        yield backend


@pytest.fixture
def provider(tmp_path: Path) -> FakeProvider:
    """A pretend cloud provider (0.2 s per job) whose jobs live under ``tmp_path``."""
    return FakeProvider(tmp_path / "provider", latency_s=0.2)


@pytest.fixture
def video_backend(provider: FakeProvider) -> Iterator[FakeVideoBackend]:
    """A remote fake video backend ``fake-video`` over ``provider``, registered for the test."""
    backend = FakeVideoBackend(provider)
    with registered(FakePlugin(backend), name="test-fake-video"):
        yield backend


class KeyedVideoBackend(FakeVideoBackend):
    """A fake remote backend that needs an API key (``ARTHUR_GEN_TEST_FAKE_TOKEN``).

    ``fail_with`` makes a stage fail with a message that contains the key, as careless
    provider clients do: ``"submit"``, ``"submit-auth"``, ``"poll-status"``, ``"poll-raise"``,
    ``"poll-auth"``, ``"poll-flaky"`` (once, then fine), ``"download-flaky"`` (once).
    """

    id: ClassVar[str] = "keyed-video"
    key_name: ClassVar[str | None] = "fakekey"
    key_env_var: ClassVar[str | None] = KEY_ENV
    key_help: ClassVar[str] = "Get one from the fake provider's dashboard."

    def __init__(self, provider: FakeProvider, fail_with: str | None = None) -> None:
        super().__init__(provider)
        self.fail_with = fail_with
        self.submit_calls = 0
        self.download_failures = 0
        self.keys_seen: list[str] = []

    def submit(self, request: Any, model: ModelInfo, ctx: RemoteContext) -> str:
        from arthur_gen.errors import AuthenticationError

        self.submit_calls += 1
        assert ctx.key is not None
        self.keys_seen.append(ctx.key.reveal())
        if self.fail_with == "submit":
            raise RuntimeError(f"HTTP 401: token {ctx.key.reveal()} is not valid")
        if self.fail_with == "submit-auth":
            raise AuthenticationError(f"the provider rejected token {ctx.key.reveal()}")
        return super().submit(request, model, ctx)

    def poll(self, remote_id: str, model: ModelInfo, ctx: RemoteContext) -> Any:
        from arthur_gen._backends import RemoteState, RemoteStatus
        from arthur_gen.errors import AuthenticationError

        assert ctx.key is not None
        secret = ctx.key.reveal()
        if self.fail_with == "poll-status":
            return RemoteStatus(state=RemoteState.FAILED, error=f"bad input (token={secret})")
        if self.fail_with == "poll-raise":
            raise RuntimeError(f"connection to https://user:{secret}@fake.invalid reset")
        if self.fail_with == "poll-auth":
            raise AuthenticationError(f"token {secret} was revoked")
        if self.fail_with == "poll-flaky" and not self.polls:
            self.polls += 1
            raise OSError(f"reset talking to https://{secret}@fake.invalid")
        return super().poll(remote_id, model, ctx)

    def download(self, output: Any, dest: Any, ctx: RemoteContext) -> None:
        from arthur_gen.errors import DownloadError

        assert ctx.key is not None
        if self.fail_with == "download-flaky" and not self.download_failures:
            self.download_failures += 1
            raise DownloadError(f"GET ?token={ctx.key.reveal()} returned 502")
        super().download(output, dest, ctx)


@pytest.fixture
def keyed_factory(provider: FakeProvider) -> Iterator[Callable[..., KeyedVideoBackend]]:
    """Register a :class:`KeyedVideoBackend` (one per test) failing as asked."""
    names: list[str] = []

    def make(fail_with: str | None = None) -> KeyedVideoBackend:
        backend = KeyedVideoBackend(provider, fail_with)
        name = f"test-keyed-{len(names)}"
        _plugins.pm.register(FakePlugin(backend), name=name)
        names.append(name)
        return backend

    yield make
    for name in names:
        _plugins.pm.unregister(name=name)


# --- real distributions on a private site dir -------------------------------------------


@pytest.fixture
def site_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder on ``sys.path`` for dummy distributions; plugins are reset around the test."""
    site = tmp_path / "site"
    site.mkdir()
    before = set(sys.modules)
    _plugins._reset_for_tests()
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        for name in set(sys.modules) - before:
            if name.startswith("arthur_gen_dummy") or name.startswith("arthur_gen_broken"):
                del sys.modules[name]
        importlib.invalidate_caches()
        _plugins._reset_for_tests()


def make_dist(site: Path, dist: str, entry_points: Mapping[str, str], modules: Mapping[str, str]) -> None:
    """Install distribution ``dist`` (e.g. ``arthur-gen-dummy``) into ``site``.

    ``entry_points`` maps entry-point names to values in the ``arthur_gen`` group;
    ``modules`` maps module names to their source.
    """
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = ["[arthur_gen]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")
    importlib.invalidate_caches()


@pytest.fixture
def fakes_site(tmp_path: Path) -> Path:
    """A site dir holding ``arthur-gen-fakes``, whose entry point is the env-configured fakes.

    Child processes put it on ``PYTHONPATH`` and get ``fake-image`` and, when
    ``ARTHUR_GEN_FAKE_PROVIDER`` is set, ``fake-video`` over that provider folder.
    """
    site = tmp_path / "fakes-site"
    site.mkdir()
    make_dist(site, "arthur-gen-fakes", {"fakes": "arthur_gen.testing:env_plugin"}, {})
    return site


@pytest.fixture
def child_env(home: Path, fakes_site: Path, tmp_path: Path) -> dict[str, str]:
    """Environment for child processes: same home, only the fakes plugin, a provider folder."""
    env = dict(os.environ)
    env.update(
        ARTHUR_GEN_HOME=str(home),
        ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-fakes",
        ARTHUR_GEN_FAKE_PROVIDER=str(tmp_path / "provider"),
        ARTHUR_GEN_FAKE_LATENCY="0.2",
        PYTHONPATH=str(fakes_site),
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


class Children:
    """Child processes started by a test; every one is killed and reaped at the end."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, args: list[str], env: Mapping[str, str], **kwargs: Any) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            args,
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.procs.append(proc)
        return proc

    def python(self, code: str, env: Mapping[str, str]) -> subprocess.Popen[str]:
        return self.start([sys.executable, "-c", code], env)

    def run(
        self, args: list[str], env: Mapping[str, str], timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        proc = self.start(args, env)
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(args, proc.returncode, out, err)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.communicate(timeout=10)
            except (subprocess.TimeoutExpired, ValueError):
                pass


@pytest.fixture
def children() -> Iterator[Children]:
    kids = Children()
    try:
        yield kids
    finally:
        kids.kill_all()


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (never a timed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Helpers:
    """Helpers for test modules (``--import-mode=importlib`` keeps conftest un-importable)."""

    make_dist = staticmethod(make_dist)
    wait_for = staticmethod(wait_for)
    KeyedVideoBackend = KeyedVideoBackend
    CLI = CLI
    KEY_ENV = KEY_ENV


@pytest.fixture
def helpers() -> type[Helpers]:
    return Helpers
