"""The examples run end to end offline: the README's main job is one of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from arthur_gen_replicate.emulator import OFFLINE_NOTICE, replicate_or_emulator

ROOT = Path(__file__).resolve().parents[3]


def _run(script: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTHUR_GEN_", "REPLICATE_"))}
    env["ARTHUR_GEN_HOME"] = str(tmp_path / "home")
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--out", str(tmp_path / "out"), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_hybrid_pipeline_runs_offline_with_lineage(tmp_path: Path) -> None:
    done = _run("hybrid_pipeline.py", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == OFFLINE_NOTICE
    every = list((tmp_path / "out").rglob("*.mp4"))
    videos = [v for v in every if "linkedin-portrait" not in v.name]  # the example also cuts one
    images = list((tmp_path / "out").rglob("*.png"))
    assert len(videos) == 1 and len(images) == 1 and len(every) <= 2
    sidecar = json.loads(Path(f"{videos[0]}.json").read_text())
    image_sidecar = json.loads(Path(f"{images[0]}.json").read_text())
    assert sidecar["parents"] == [image_sidecar["job_id"]]
    assert sidecar["cost_usd"] == pytest.approx(0.5)
    assert videos[0].read_bytes()[4:8] == b"ftyp"


def test_text_to_video_example_runs_offline(tmp_path: Path) -> None:
    done = _run("replicate_text_to_video.py", tmp_path, "a red fox in snow")
    assert done.returncode == 0, done.stderr
    assert OFFLINE_NOTICE in done.stdout
    assert len(list((tmp_path / "out").rglob("*.mp4"))) == 1


def test_offline_switch_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    monkeypatch.delenv("REPLICATE_BASE_URL", raising=False)
    before = os.environ.get("ARTHUR_GEN_HOME")
    with replicate_or_emulator(starting_s=0.01, processing_s=0.01) as offline:
        assert offline
        assert os.environ["REPLICATE_BASE_URL"].startswith("http://127.0.0.1:")
    assert "REPLICATE_BASE_URL" not in os.environ and "REPLICATE_API_TOKEN" not in os.environ
    assert os.environ.get("ARTHUR_GEN_HOME") == before


def test_offline_switch_stays_out_of_the_way_with_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_real")
    with replicate_or_emulator() as offline:
        assert not offline
        assert os.environ["REPLICATE_API_TOKEN"] == "r8_real"
