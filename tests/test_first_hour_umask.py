"""Outputs are created with the user's umask; secrets stay owner-only whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import arthur_gen
from arthur_gen._config import config_path, set_config_value
from arthur_gen.jobs._atomic import current_umask
from arthur_gen.jobs._outputs import sidecar_path
from arthur_gen.publish._accounts import Account, save_account
from arthur_gen.testing import FakeImageBackend


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_current_umask_reads_without_changing_it(umask_022: None) -> None:
    assert current_umask() == 0o022
    os.umask(0o027)
    assert current_umask() == 0o027
    assert os.umask(0o022) == 0o027  # still what the user set


def test_outputs_and_sidecars_follow_the_umask(umask_022: None, image_backend: FakeImageBackend) -> None:
    result = arthur_gen.generate_image("a red fox", seed=1)
    assert _mode(result.path) == 0o644
    assert _mode(sidecar_path(result.path)) == 0o644
    os.umask(0o077)
    private = arthur_gen.generate_image("a red fox", seed=2)
    assert _mode(private.path) == 0o600


def test_secrets_stay_owner_only_under_a_permissive_umask(umask_022: None, home: Path) -> None:
    set_config_value("keys.replicate", "r8_not_a_real_token")
    assert _mode(config_path()) == 0o600
    path = save_account(Account("youtube", "me", {"access_token": "ya29.secret", "channel": "c"}))
    assert _mode(path) == 0o600


def test_downloads_and_cache_answers_follow_the_umask(umask_022: None, tmp_path: Path) -> None:
    from arthur_gen.testing import FakePlugin, FakeProvider, FakeVideoBackend, registered

    backend = FakeVideoBackend(FakeProvider(tmp_path / "provider", latency_s=0.05), seeded=True)
    with registered(FakePlugin(backend), name="test-umask-video"):
        video = arthur_gen.generate_video("waves", seed=5, backend="fake-video")
        again = arthur_gen.generate_video("waves", seed=5, backend="fake-video")
    assert again.cached and again.path != video.path
    for path in (video.path, sidecar_path(video.path), again.path, sidecar_path(again.path)):
        assert _mode(path) == 0o644, path
