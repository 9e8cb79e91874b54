"""Storyboards end to end offline against the Replicate emulator, counting paid submits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("av")
arthur_gen_replicate = pytest.importorskip("arthur_gen_replicate")
from arthur_gen_replicate.emulator import Emulator  # noqa: E402

import arthur_gen  # noqa: E402
from arthur_gen.cli._main import main  # noqa: E402
from arthur_gen.storyboard import Storyboard  # noqa: E402
from arthur_gen.testing import registered  # noqa: E402

VIDEO = "minimax/video-01"
IMAGE = "black-forest-labs/flux-schnell"

BOARD = """\
title: Four shots
defaults:
  style: soft morning light
  seed: 100
  image: {backend: replicate, model: black-forest-labs/flux-schnell, options: {output_format: png}}
  video: {backend: replicate, model: minimax/video-01}
  confirm_above_usd: 5
shots:
  - {id: dawn, prompt: a harbour wakes up, keyframe: a harbour at dawn, caption: Every day}
  - {id: boats, prompt: boats leave the harbour, keyframe: fishing boats, caption: we set out}
  - {id: sea, prompt: the open sea, motion: slow pan, keyframe: the open sea, caption: further}
  - {id: home, prompt: the boats come home, first_frame: previous, caption: and come home}
"""


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    with (
        Emulator(starting_s=0.05, processing_s=0.2) as emu,
        registered(arthur_gen_replicate, name="replicate"),
    ):
        monkeypatch.setenv("REPLICATE_BASE_URL", emu.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test")
        yield emu


def _creates(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for info in emu.predictions.values():
        model = str(getattr(info, "model", ""))
        counts[model] = counts.get(model, 0) + 1
    return counts


def _board(tmp_path: Path, text: str = BOARD) -> Path:
    path = tmp_path / "board.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_four_shots_end_to_end_then_one_changed_shot_redoes_only_it(
    emulator: Emulator, tmp_path: Path
) -> None:
    path = _board(tmp_path)
    plan = Storyboard.from_file(path).plan()
    assert plan.total_usd == pytest.approx(4 * 0.5 + 3 * 0.003)
    assert plan.to_dict()["done"] == 0 and plan.budget_problem is None
    events: list[Any] = []
    run = Storyboard.from_file(path).run(out_dir=tmp_path / "out", on_event=events.append)
    assert emulator.create_count == 7  # 3 keyframes + 4 clips
    assert run.cost_usd == pytest.approx(2.009)
    video = run.outputs["main"]
    assert video.paths[0].read_bytes()[4:8] == b"ftyp"
    assert set(video.parents) == {c.job_id for c in run.clips.values()}  # lineage: the edit's parents
    assert arthur_gen.get_job(run.clips["dawn"].job_id).parents  # the clip's parent is its keyframe
    assert {e.step for e in events if e.state == "done"} >= {"dawn.keyframe", "home.clip", "edit:main"}
    assert all(s.done for s in Storyboard.from_file(path).plan().steps)

    again = Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    assert emulator.create_count == 7 and again.cost_usd == 0
    assert again.outputs["main"].cached and all(c.cached for c in again.clips.values())

    _board(tmp_path, BOARD.replace("prompt: the open sea,", "prompt: a stormy sea,"))
    changed = Storyboard.from_file(path).plan()
    assert [s.name for s in changed.steps if not s.done] == ["sea.clip", "home.clip", "edit:main"]
    third = Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    # the changed clip, and the chained shot after it (its first frame is that clip's last)
    assert emulator.create_count == 9
    assert [sid for sid, c in third.clips.items() if not c.cached] == ["sea", "home"]
    assert not third.outputs["main"].cached


def test_a_changed_keyframe_prompt_redoes_that_shot_and_the_edit(emulator: Emulator, tmp_path: Path) -> None:
    path = _board(tmp_path)
    Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    before = emulator.create_count
    _board(tmp_path, BOARD.replace("keyframe: fishing boats", "keyframe: red fishing boats"))
    run = Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    assert emulator.create_count - before == 2  # boats: its keyframe and its clip, nothing else
    assert [sid for sid, c in run.clips.items() if not c.cached] == ["boats"]
    assert not run.outputs["main"].cached


def test_a_budget_below_the_estimate_refuses_before_anything_is_paid(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "1.50")
    path = _board(tmp_path)
    plan = Storyboard.from_file(path).plan()
    assert plan.budget_problem is not None and "$2.01" in plan.budget_problem
    with pytest.raises(arthur_gen.BudgetExceededError):
        Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    assert emulator.create_count == 0 and not (tmp_path / "out").exists()


def test_confirmation_above_the_threshold(emulator: Emulator, tmp_path: Path) -> None:
    path = _board(tmp_path, BOARD.replace("confirm_above_usd: 5", "confirm_above_usd: 1"))
    with pytest.raises(arthur_gen.InvalidRequestError, match="--yes"):
        Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    asked: list[Any] = []
    with pytest.raises(arthur_gen.InvalidRequestError):
        Storyboard.from_file(path).run(confirm=lambda p: asked.append(p) or False)
    assert len(asked) == 1 and asked[0].to_pay_usd == pytest.approx(2.009)
    assert emulator.create_count == 0


def test_cli_plan_json_and_run(emulator: Emulator, tmp_path: Path, capsys: Any) -> None:
    path = _board(tmp_path)
    assert main(["storyboard", "plan", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in data["steps"]][:2] == ["dawn.keyframe", "dawn.clip"]
    assert data["estimate"]["cloud_usd"] == pytest.approx(2.009) and data["estimate"]["local_usd"] == 0
    assert data["steps"][1]["depends_on"] == ["dawn.keyframe"]
    assert main(["storyboard", "run", str(path), "--out", str(tmp_path / "out"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["outputs"]["main"]["path"]).is_file()
    assert main(["storyboard", "plan", str(path)]) == 0
    assert "to pay now: $0.000" in capsys.readouterr().out
    bad = _board(tmp_path, BOARD.replace("id: sea", "id: dawn"))
    assert main(["storyboard", "plan", str(bad)]) != 0
    assert "board.yaml:11: shots[2].id" in capsys.readouterr().err


def test_sigkill_mid_run_then_run_again_pays_each_shot_once(emulator: Emulator, tmp_path: Path) -> None:
    emulator.set_timing(starting_s=0.05, processing_s=2.5, model=VIDEO)
    path = _board(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTHUR_GEN_LOAD")}
    env["ARTHUR_GEN_LOAD_PLUGINS"] = "arthur-gen-replicate"
    cmd = [
        sys.executable,
        "-m",
        "arthur_gen",
        "storyboard",
        "run",
        str(path),
        "--yes",
        "--out",
        str(tmp_path / "o"),
    ]
    child = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _creates(emulator).get(VIDEO, 0) < 3 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.05)
        assert _creates(emulator).get(VIDEO, 0) >= 3, child.stderr.read() if child.stderr else ""
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    run = Storyboard.from_file(path).run(out_dir=tmp_path / "o")
    counts = _creates(emulator)
    assert counts.get(VIDEO) == 4 and counts.get(IMAGE) == 3  # one submit per shot in total
    assert run.outputs["main"].paths[0].is_file()


def test_notebook_views(emulator: Emulator, tmp_path: Path) -> None:
    path = _board(tmp_path)
    board = Storyboard.from_file(path)
    assert "dawn.keyframe" in board.plan()._repr_html_()
    run = board.run(out_dir=tmp_path / "out")
    view = run._repr_html_()
    assert view.count("<video") == 4 and view.count("data:image/png;base64,") == 4


def test_the_linkedin_example_validates_and_plans(emulator: Emulator) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "storyboard_linkedin.yaml"
    plan = Storyboard.from_file(example).plan()
    assert len(plan.board.shots) == 4 and plan.board.logo is not None and plan.board.soundtrack is not None
    assert plan.board.outputs[0].preset == "linkedin-portrait" and plan.board.title
    assert all(s.caption for s in plan.board.shots)
    assert plan.total_usd == pytest.approx(2.009) and plan.budget_problem is None
    assert [s.name for s in plan.steps][-1] == "edit:linkedin-portrait"
    recipe = Storyboard.from_file(example)._edit_args(plan.board.outputs[0])["recipe"]
    assert [(t.kind, t.after) for t in recipe] == [("crossfade", None), ("cut", 2)]  # render -> share cuts
