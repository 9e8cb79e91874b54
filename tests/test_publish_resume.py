"""Publish jobs in ``resume``: an interrupted upload goes on from its checkpoint, never posts twice.

In-process (``arthur_gen.resume()``) and with the real CLI killed by SIGKILL, including exactly
at LinkedIn's post step (the emulator has created the post and holds its answer back).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_linkedin.emulator import Emulator as LinkedInEmulator
from arthur_gen_youtube.emulator import Emulator as YouTubeEmulator

import arthur_gen
from arthur_gen.errors import InvalidRequestError, SubmitUncertainError
from arthur_gen.publish import Publication, confirm, publications, publish

from ._publish_kit import CHUNK, PART, Killed, bytes_put, die_after, owner_died
from ._publish_kit import clip as clip
from ._publish_kit import linkedin as linkedin
from ._publish_kit import pristine as pristine
from ._publish_kit import publishers as publishers
from ._publish_kit import youtube as youtube


def test_resume_finishes_an_interrupted_youtube_upload_from_the_server_offset(
    youtube: YouTubeEmulator, clip: Path
) -> None:
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Resumed", progress=die_after(4 * CHUNK))
    owner_died()
    assert youtube.snapshot()["inserts"] == 0 and publications()[0]["state"] == "running"
    ((job_id, outcome),) = arthur_gen.resume()
    assert isinstance(outcome, Publication), outcome
    snap = youtube.snapshot()
    assert snap["inserts"] == 1 and outcome.remote_id == snap["videos"][0]["id"]
    assert len(snap["sessions"]) == 1  # the saved session, not a new one
    assert bytes_put(youtube) - clip.stat().st_size <= CHUNK
    assert publications()[0] == {**publications()[0], "job_id": job_id, "state": "saved"}
    assert arthur_gen.resume() == []  # nothing left, nothing sent again
    assert youtube.snapshot()["inserts"] == 1


def test_resume_and_publish_again_agree(youtube: YouTubeEmulator, clip: Path) -> None:
    """After resume finished it, the same publish is refused as a duplicate (same job, same key)."""
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Twice", progress=die_after(2 * CHUNK))
    owner_died()
    arthur_gen.resume()
    with pytest.raises(InvalidRequestError, match="--force"):
        publish(clip, to="youtube", title="Twice")
    assert youtube.snapshot()["inserts"] == 1


def test_resume_finishes_linkedin_parts_with_one_post(linkedin: LinkedInEmulator, clip: Path) -> None:
    with pytest.raises(Killed):
        publish(clip, to="linkedin", text="parts", progress=die_after(3 * PART))
    owner_died()
    ((_, outcome),) = arthur_gen.resume()
    assert isinstance(outcome, Publication), outcome
    snap = linkedin.snapshot()
    assert snap["inits"] == 1 and [p["urn"] for p in snap["posts"]] == [outcome.remote_id]
    assert snap["bytes_put"] == clip.stat().st_size  # parts with an ETag are never sent again


def test_resume_after_the_post_left_needs_confirmation_never_posts(
    linkedin: LinkedInEmulator, clip: Path
) -> None:
    linkedin.add_fault("post-drop")
    with pytest.raises(SubmitUncertainError):
        publish(clip, to="linkedin", text="once")
    for _ in range(2):  # every resume says so again; none posts
        ((job_id, outcome),) = arthur_gen.resume()
        assert isinstance(outcome, SubmitUncertainError)
        assert str(outcome).startswith("needs confirmation") and f"confirm {job_id} --posted" in str(outcome)
    assert len(linkedin.snapshot()["posts"]) == 1
    confirm(job_id, posted=linkedin.snapshot()["posts"][0]["urn"])
    assert arthur_gen.resume() == []
    assert len(linkedin.snapshot()["posts"]) == 1


def test_resume_refuses_a_video_that_changed_since_the_upload_began(
    youtube: YouTubeEmulator, clip: Path
) -> None:
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Changed", progress=die_after(2 * CHUNK))
    owner_died()
    with clip.open("r+b") as fh:  # same size, other bytes: a resumed session would mix two files
        fh.seek(-10, os.SEEK_END)
        fh.write(b"X" * 10)
    ((_, outcome),) = arthur_gen.resume()
    assert isinstance(outcome, InvalidRequestError) and "gone or changed" in str(outcome)
    assert youtube.snapshot()["inserts"] == 0 and publications()[0]["state"] == "running"


# The real CLI as a child process, killed with SIGKILL.


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


def _cli(args: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arthur_gen", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def _kill_when(proc: subprocess.Popen[str], reached: Callable[[], bool], what: str) -> None:
    try:
        deadline = time.monotonic() + 60
        while not reached():
            if proc.poll() is not None or time.monotonic() > deadline:
                _out, err = proc.communicate()
                pytest.fail(f"the child never reached {what} (exit {proc.returncode}): {err[-2000:]}")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == -signal.SIGKILL


def _resume_json(*secrets: str) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [sys.executable, "-m", "arthur_gen", "resume", "--json"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Traceback" not in done.stderr
    assert not any(s in done.stdout + done.stderr for s in secrets)  # token sweep of what resume prints
    return done.returncode, json.loads(done.stdout)


def test_cli_resume_after_sigkill_mid_youtube_upload(youtube: YouTubeEmulator, clip: Path) -> None:
    held = youtube.hold("chunk", skip=3)
    proc = _cli(["publish", str(clip), "--to", "youtube", "--title", "Killed", "--json"])
    _kill_when(proc, held.is_set, "the fourth chunk")
    youtube.release()
    code, outcomes = _resume_json()
    assert code == 0, outcomes
    ((outcome,),) = [outcomes]
    snap = youtube.snapshot()
    assert outcome["ok"] and outcome["result"]["remote_id"] == snap["videos"][0]["id"]
    assert snap["inserts"] == 1 and len(snap["sessions"]) == 1
    assert bytes_put(youtube) - clip.stat().st_size <= CHUNK


def test_cli_sigkill_exactly_at_the_linkedin_post_then_resume(linkedin: LinkedInEmulator, clip: Path) -> None:
    held = linkedin.hold("post")  # the post is created; its answer never reaches the child
    proc = _cli(["publish", str(clip), "--to", "linkedin", "--text", "exactly once", "--json"])
    _kill_when(proc, held.is_set, "the post request")
    linkedin.release()
    ((urn,),) = [[p["urn"] for p in linkedin.snapshot()["posts"]]]
    code, outcomes = _resume_json(linkedin.token)
    ((outcome,),) = [outcomes]
    assert code == 1 and not outcome["ok"]
    assert outcome["error"].startswith("needs confirmation")
    job_id = outcome["job_id"]
    assert f"publications confirm {job_id} --posted URN" in outcome["error"]
    assert len(linkedin.snapshot()["posts"]) == 1
    settled = subprocess.run(
        [sys.executable, "-m", "arthur_gen", "publications", "confirm", job_id, "--posted", urn],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert settled.returncode == 0 and "saved" in settled.stdout, settled.stderr
    assert _resume_json() == (0, [])
    assert len(linkedin.snapshot()["posts"]) == 1


def test_resume_leaves_an_upload_a_live_process_is_running(youtube: YouTubeEmulator, clip: Path) -> None:
    held = youtube.hold("chunk", skip=1)
    proc = _cli(["publish", str(clip), "--to", "youtube", "--title", "Busy", "--json"])
    try:
        assert held.wait(60), proc.stderr
        assert arthur_gen.resume() == []  # its owner is alive: not taken over, nothing sent
        assert len(youtube.snapshot()["sessions"]) == 1
        youtube.release()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err
    assert json.loads(out)["state"] == "saved" and youtube.snapshot()["inserts"] == 1


# LinkedIn apps that may read the author's posts (r_member_social / r_organization_social).


def test_lost_post_answer_is_found_among_the_authors_posts(
    linkedin: LinkedInEmulator, clip: Path, tmp_path: Path
) -> None:
    linkedin.read_posts = True
    other = publish(_other(clip, tmp_path), to="linkedin", text="an earlier post")  # not to be adopted
    linkedin.add_fault("post-drop")
    result = publish(clip, to="linkedin", text="found")
    posts = linkedin.snapshot()["posts"]
    assert len(posts) == 2 and result["state"] == "saved"
    assert result["remote_id"] == posts[1]["urn"] != other["remote_id"]


def test_resume_finds_the_post_of_a_job_in_doubt(
    linkedin: LinkedInEmulator, clip: Path, tmp_path: Path
) -> None:
    linkedin.add_fault("post-drop")
    with pytest.raises(SubmitUncertainError):
        publish(clip, to="linkedin", text="in doubt")  # this app cannot read posts (403)
    publish(_other(clip, tmp_path), to="linkedin", text="a newer post")  # not to be adopted
    linkedin.read_posts = True  # the app got the permission later
    outcomes = dict(arthur_gen.resume())
    ours, newer = linkedin.snapshot()["posts"]
    (outcome,) = outcomes.values()
    assert isinstance(outcome, Publication) and outcome.remote_id == ours["urn"] != newer["urn"]
    assert {p["state"] for p in publications()} == {"saved"} and arthur_gen.resume() == []


def _other(clip: Path, folder: Path) -> Path:
    other = Path(shutil.copy(clip, folder / "other.mp4"))
    with other.open("ab") as fh:
        fh.write((16).to_bytes(4, "big") + b"free" + b"otherbyt")
    return other


def test_resume_never_takes_over_a_live_upload_stuck_in_one_step(
    linkedin: LinkedInEmulator, clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step longer than a lease (LinkedIn still processing) keeps the job its owner's."""
    import threading

    from arthur_gen.jobs import _store

    monkeypatch.setattr(_store, "LEASE_S", 0.3)
    held = linkedin.hold("status")
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(done=publish(clip, to="linkedin", text="slow")))
    worker.start()
    try:
        assert held.wait(60)
        time.sleep(1.5)  # five leases long
        assert arthur_gen.resume() == []
    finally:
        linkedin.release()
        worker.join(60)
    assert box["done"]["state"] == "saved" and len(linkedin.snapshot()["posts"]) == 1


def test_the_same_publish_twice_at_once_uploads_once(youtube: YouTubeEmulator, clip: Path) -> None:
    """A second call while the first uploads (one process, one lease owner) is refused, not run."""
    import threading

    from arthur_gen.errors import ArthurGenError

    held = youtube.hold("chunk", skip=1)
    box: dict[str, Any] = {}
    first = threading.Thread(target=lambda: box.update(done=publish(clip, to="youtube", title="Once")))
    first.start()
    try:
        assert held.wait(60)
        with pytest.raises(ArthurGenError, match="being uploaded"):
            publish(clip, to="youtube", title="Once")
    finally:
        youtube.release()
        first.join(60)
    snap = youtube.snapshot()
    assert box["done"]["state"] == "saved" and snap["inserts"] == 1 and len(snap["sessions"]) == 1


def test_publishing_again_finds_the_post_of_a_job_in_doubt(linkedin: LinkedInEmulator, clip: Path) -> None:
    """The same publish does what resume does: it looks for the post before saying 'needs confirmation'."""
    linkedin.add_fault("post-drop")
    with pytest.raises(SubmitUncertainError):
        publish(clip, to="linkedin", text="in doubt")
    with pytest.raises(SubmitUncertainError, match="needs confirmation"):
        publish(clip, to="linkedin", text="in doubt")  # still cannot read posts
    linkedin.read_posts = True
    again = publish(clip, to="linkedin", text="in doubt")
    (post,) = linkedin.snapshot()["posts"]
    assert again["state"] == "saved" and again["remote_id"] == post["urn"]
    assert again["job_id"] == publications()[0]["job_id"] and len(publications()) == 1
