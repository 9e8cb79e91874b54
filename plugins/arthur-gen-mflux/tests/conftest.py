"""Fixtures for the mflux plugin's tests: no network, no real weights, a private store."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._catalog import entry_for, model_info
from arthur_gen_mflux.testing import FakeLoader, fake_weights

from arthur_gen._backends import LocalContext
from arthur_gen._requests import ImageRequest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Offline Hugging Face with an empty cache of our own; arthur-gen's home in tmp."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    monkeypatch.delenv("ARTHUR_GEN_MFLUX_CACHE_SIZE", raising=False)
    monkeypatch.delenv("ARTHUR_GEN_MFLUX_DOWNLOAD", raising=False)


@pytest.fixture
def weights() -> Path:
    """(Empty) weight files for every catalog model in the test's HF cache."""
    return fake_weights()


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def backend(loader: FakeLoader) -> Iterator[MfluxBackend]:
    b = MfluxBackend(loader=loader)
    yield b
    b.release()


@pytest.fixture
def ctx_factory(tmp_path: Path) -> Callable[..., LocalContext]:
    counter = iter(range(1_000_000))

    def make(**kwargs: Any) -> LocalContext:
        n = next(counter)
        return LocalContext(job_id=f"job{n}", workdir=tmp_path / "work" / f"job{n}", **kwargs)

    return make


@pytest.fixture
def run(backend: MfluxBackend, ctx_factory: Callable[..., LocalContext]) -> Callable[..., Any]:
    """Validate like the core (declared limits, then backend.validate), then generate."""
    from arthur_gen._validate import check_request

    def go(model: str = "schnell", ctx: LocalContext | None = None, **fields: Any) -> Any:
        entry = entry_for(model)
        assert entry is not None
        info = model_info(entry)
        fields.setdefault("seed", 1)
        request = ImageRequest(prompt=fields.pop("prompt", "a red square"), **fields)
        check_request(request, info)
        backend.validate(request, info)
        (output,) = backend.generate(request, info, ctx or ctx_factory())
        return output

    return go


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny random FLUX.2 klein checkpoint in three layouts, built once per session."""
    from arthur_gen_mflux.tiny import build_tiny_klein, tiny_klein

    with tiny_klein():
        return build_tiny_klein(tmp_path_factory.mktemp("tiny-klein"))


@pytest.fixture
def tiny(tiny_folders: Any) -> Iterator[Any]:
    """The tiny checkpoint, with mflux building klein at its sizes and MLX's compile off.

    ``mx.compile`` on the CPU backend compiles its kernels with the C++ compiler on first use
    (about a minute here), which would dwarf a tiny model's run.
    """
    import mlx.core as mx
    from arthur_gen_mflux.tiny import tiny_klein

    mx.disable_compile()
    try:
        with tiny_klein():
            yield tiny_folders
    finally:
        mx.enable_compile()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """With ``ARTHUR_GEN_REQUIRE_MFLUX=1`` (CI on Linux, where the setup installs mflux), a test
    that skips because mflux or MLX does not import fails instead: the one rule for every
    ``importorskip`` in these tests."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("ARTHUR_GEN_REQUIRE_MFLUX") != "1" or call.excinfo is None:
        return
    reason = str(call.excinfo.value)
    if "could not import 'mflux" in reason or "could not import 'mlx" in reason:
        report.outcome = "failed"
        report.longrepr = f"ARTHUR_GEN_REQUIRE_MFLUX=1, but this test skipped: {reason}"
