"""Fixtures: no network, a private HF cache and arthur-gen home, only this plugin loaded."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTHUR_GEN_MLX_VIDEO_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "arthur-gen-mlx-video")
    monkeypatch.delenv("ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE", raising=False)
    monkeypatch.delenv("ARTHUR_GEN_MLX_VIDEO_IGNORE_MEMORY", raising=False)


@pytest.fixture(autouse=True)
def _plugin_registered() -> Iterator[None]:
    """The plugin's hooks are registered in this process, whatever loaded plugins before.

    Plugins load once per process: when other suites ran first with entry points off, the
    entry point is not read again, so the module is registered here for the test.
    """
    import arthur_gen_mlx_video

    from arthur_gen._plugins import load_plugins, pm
    from arthur_gen.testing import registered

    load_plugins()
    if pm.is_registered(arthur_gen_mlx_video):
        yield
        return
    with registered(arthur_gen_mlx_video, name="arthur-gen-mlx-video-under-test"):
        yield


@pytest.fixture(scope="session")
def tiny_wan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wan 2.1 folder built from mlx_video's own classes (once per session)."""
    from arthur_gen_mlx_video.testing import build_tiny_wan

    return build_tiny_wan(tmp_path_factory.mktemp("tiny") / "Wan2.1-T2V-1.3B")


@pytest.fixture
def umt5(tmp_path: Path) -> Path:
    from arthur_gen_mlx_video.testing import build_umt5_standin

    return build_umt5_standin(tmp_path / "hf-cache")


@pytest.fixture(scope="session")
def tiny_ltx(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny random LTX-2 (unified folder, Gemma 3 folder) from mlx_video's own classes."""
    from arthur_gen_mlx_video.testing_ltx import build_tiny_ltx2

    return build_tiny_ltx2(tmp_path_factory.mktemp("tiny-ltx"))
