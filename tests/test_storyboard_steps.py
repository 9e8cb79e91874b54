"""Storyboard steps: publishing to the YouTube emulator, a transition per shot, reference images."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("av")
arthur_gen_replicate = pytest.importorskip("arthur_gen_replicate")
arthur_gen_youtube = pytest.importorskip("arthur_gen_youtube")
from arthur_gen_replicate.emulator import Emulator  # noqa: E402
from arthur_gen_youtube.emulator import Emulator as YouTube  # noqa: E402

import arthur_gen  # noqa: E402
from arthur_gen.cli._main import main  # noqa: E402
from arthur_gen.publish import get_publisher  # noqa: E402
from arthur_gen.storyboard import Storyboard  # noqa: E402
from arthur_gen.testing import registered  # noqa: E402

from ._publish_kit import publishers as publishers  # noqa: E402

BOARD = """\
title: Three shots
defaults:
  seed: 7
  video: {backend: replicate, model: minimax/video-01}
  transition: crossfade
  confirm_above_usd: 5
shots:
  - {id: one, prompt: a lighthouse at night, caption: Light, transition: fade}
  - {id: two, prompt: waves on the rocks, caption: Sea, transition: cut}
  - {id: three, prompt: a ship passes, caption: Ship}
"""

PUBLISH = """\
publish:
  - {to: youtube, title: Three shots, privacy: unlisted}
"""


@pytest.fixture
def youtube(monkeypatch: pytest.MonkeyPatch, publishers: None, tmp_path: Path) -> Iterator[YouTube]:
    with YouTube() as emu:
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", emu.url)
        arthur_gen_youtube.add_credentials(emu.write_credentials(tmp_path))
        get_publisher("youtube")._sleep = lambda s: None  # type: ignore[attr-defined]
        yield emu


@pytest.fixture
def replicate(monkeypatch: pytest.MonkeyPatch, youtube: YouTube) -> Iterator[Emulator]:
    with (
        Emulator(starting_s=0.02, processing_s=0.05) as emu,
        registered(arthur_gen_replicate, name="replicate"),
    ):
        monkeypatch.setenv("REPLICATE_BASE_URL", emu.url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_test")
        yield emu


def _board(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "board.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_publish_step_uploads_the_edit_once_with_each_shots_transition(
    replicate: Emulator, youtube: YouTube, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _board(tmp_path, BOARD + PUBLISH)
    plan = Storyboard.from_file(path).plan()
    assert [s.name for s in plan.steps][-2:] == ["edit:main", "publish:youtube#0"]
    run = Storyboard.from_file(path).run(out_dir=tmp_path / "out")
    video = run.outputs["main"].paths[0]
    snap = youtube.snapshot()
    assert snap["inserts"] == 1 and replicate.create_count == 3
    (remote,) = snap["videos"]
    assert remote["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()  # the edit, whole
    assert remote["snippet"]["title"] == "Three shots" and remote["status"]["privacyStatus"] == "unlisted"
    (publication,) = run.publications
    assert publication["state"] == "saved" and publication["remote_id"] == remote["id"]
    job = arthur_gen.get_job(publication["job_id"])
    assert run.outputs["main"].job_id in job.parents  # lineage: the publication's parent is the edit
    # each shot's own transition, the default for the rest: one -> two fades, two -> three cuts
    recipe = arthur_gen.get_job(run.outputs["main"].job_id).request["recipe"]["operations"]
    joins = {t.get("after"): t["kind"] for t in recipe if t["op"] == "transition"}
    assert joins == {None: "crossfade", 0: "fade", 1: "cut"}

    # the whole storyboard again: everything is done, nothing is paid or uploaded twice
    assert all(s.done for s in Storyboard.from_file(path).plan().steps)
    events: list[arthur_gen.storyboard.StoryEvent] = []
    again = Storyboard.from_file(path).run(out_dir=tmp_path / "out", on_event=events.append)
    assert youtube.snapshot()["inserts"] == 1 and replicate.create_count == 3
    assert again.publications[0]["remote_id"] == remote["id"] and again.publications[0]["cached"]
    assert any(e.step == "publish:youtube#0" and e.state == "done" and e.cached for e in events)
    assert main(["storyboard", "resume", str(path), "--json"]) == 0  # the CLI's name after a crash
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["publications"][0]["remote_id"] == remote["id"] and resumed["cost_usd"] == 0
    assert youtube.snapshot()["inserts"] == 1 and replicate.create_count == 3


def test_a_changed_reference_image_counts_as_a_change(replicate: Emulator, tmp_path: Path) -> None:
    from PIL import Image

    ref = tmp_path / "face.png"
    Image.new("RGB", (64, 64), (200, 150, 120)).save(ref)
    text = BOARD.replace("  seed: 7\n", "  seed: 7\n  reference: face.png\n")
    path = _board(tmp_path, text)
    first = Storyboard.from_file(path).run(out_dir=tmp_path / "out", edits=False)
    assert replicate.create_count == 3
    sent = [p.sent_input.get("subject_reference") for p in replicate.predictions.values()]
    assert all(sent), "the reference goes to every video-01 clip"
    assert first.clips["one"].request.options["subject_reference"] != str(ref)  # a content-named copy

    ref.write_bytes(ref.read_bytes())  # rewritten, same content: nothing to redo
    assert all(s.done for s in Storyboard.from_file(path).plan().steps if s.stage == "clip")
    Image.new("RGB", (64, 64), (20, 150, 220)).save(ref)  # same name, new content: every clip redone
    assert not any(s.done for s in Storyboard.from_file(path).plan().steps if s.stage == "clip")
    Storyboard.from_file(path).run(out_dir=tmp_path / "out", edits=False)
    assert replicate.create_count == 6


def test_klein_keyframes_get_the_reference_images(replicate: Emulator, tmp_path: Path) -> None:
    """FLUX.2 klein (mflux) takes reference images: every keyframe gets the board's reference."""
    arthur_gen_mflux = pytest.importorskip("arthur_gen_mflux")
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 150, 120)).save(tmp_path / "face.png")
    text = BOARD.replace(
        "  seed: 7\n", "  seed: 7\n  reference: face.png\n  image: {backend: mflux, model: flux2-klein-4b}\n"
    )
    text = text.replace("caption: Light,", "keyframe: a lighthouse, caption: Light,")
    with registered(arthur_gen_mflux, name="mflux"):
        board = Storyboard.from_file(_board(tmp_path, text))
        args = board._image_args(board.board.shots[0])
        (ref,) = args["options"]["reference_images"]
        assert (
            Path(ref).read_bytes() == (tmp_path / "face.png").read_bytes() and Path(ref).parent.name == "refs"
        )
        plan = board.plan()
    first = plan.steps[0]
    assert (first.name, first.backend, first.local) == ("one.keyframe", "mflux", True)
