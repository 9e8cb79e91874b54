"""Issue 8 item 3 (the part left): a malformed ``ARTHUR_GEN_REPLICATE_MAX_DOWNLOAD_BYTES`` is
refused before anything is planned, stored or paid for, from Python and from the real CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen.errors import ConfigError

replicate_plugin = pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate import _backend  # noqa: E402
from arthur_gen_replicate.emulator import Emulator  # noqa: E402

from arthur_gen.testing import registered  # noqa: E402

VARIABLE = "ARTHUR_GEN_REPLICATE_MAX_DOWNLOAD_BYTES"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    _backend._shared_pool().clear()
    with Emulator(starting_s=0.05, processing_s=0.1) as emulator, registered(replicate_plugin, "replicate"):
        monkeypatch.setenv("REPLICATE_BASE_URL", emulator.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_DownloadLimitTestToken0123456789")
        yield emulator
    _backend._shared_pool().clear()


def _no_job_left(home: Path) -> None:
    assert arthur_gen.history() == [] and arthur_gen.resume() == []


@pytest.mark.parametrize("value", ["abc", "-5", "0", "1.5e9", "10 MB"])
def test_a_bad_download_limit_is_refused_before_any_payment(
    emu: Emulator, home: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ConfigError, match=VARIABLE):
        arthur_gen.generate_video("a limit test", backend="replicate", timeout=30)
    assert emu.create_count == 0
    _no_job_left(home)


def test_a_good_download_limit_still_runs(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VARIABLE, str(50 * 1024**2))
    result = arthur_gen.generate_video("a limit test", backend="replicate", timeout=30)
    assert result.paths[0].is_file() and emu.create_count == 1


def test_the_cli_says_so_without_a_traceback(emu: Emulator, home: Path, children: Any) -> None:
    env = dict(os.environ, ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-replicate", **{VARIABLE: "abc"})
    # the child imports the trees this test imported (a mutated copy too, see scripts/mutate.py)
    trees = {Path(m.__file__ or "").resolve().parent.parent for m in (arthur_gen, replicate_plugin)}
    env["PYTHONPATH"] = os.pathsep.join(sorted(map(str, trees)))
    cli = str(Path(sys.executable).parent / "arthur-gen")
    done = children.run([cli, "video", "a limit test", "-b", "replicate"], env)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert f"{VARIABLE}='abc'" in done.stderr and "positive number of bytes" in done.stderr
    assert emu.create_count == 0
    _no_job_left(home)
