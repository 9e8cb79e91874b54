"""A new file starts uploading while a thread hashes it; duplicates are still never published.

The digest is held back (a slowed ``sha256_of`` in the digest thread) so each test decides when
it arrives: after bytes went out, after a copy of the file was published meanwhile, or never
(the process dies first). Real clients over real HTTP against the emulators.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_linkedin.emulator import Emulator as LinkedInEmulator
from arthur_gen_youtube.emulator import Emulator as YouTubeEmulator

import arthur_gen
from arthur_gen.errors import InvalidRequestError
from arthur_gen.jobs._store import get_store
from arthur_gen.publish import _digest, publications, publish

from ._publish_kit import CHUNK, Killed, bytes_put, die_after, owner_died
from ._publish_kit import clip as clip
from ._publish_kit import linkedin as linkedin
from ._publish_kit import pristine as pristine
from ._publish_kit import publishers as publishers
from ._publish_kit import youtube as youtube


class _Gate:
    """Holds the digest thread until :meth:`open` (or for good); counts the digests it gave."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = threading.Event()
        self.waiting = threading.Event()
        real = _digest.sha256_of

        def held(path: str) -> str:
            self.waiting.set()
            self.opened.wait(60)
            return real(path)

        monkeypatch.setattr(_digest, "sha256_of", held)

    def open(self) -> None:
        self.opened.set()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Gate]:
    g = _Gate(monkeypatch)
    yield g
    g.open()  # never leave a digest thread waiting


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _row(job_id: str) -> Any:
    row = get_store().get(job_id)
    assert row is not None
    return row


def test_bytes_go_out_before_the_digest_and_the_job_records_it(
    youtube: YouTubeEmulator, clip: Path, gate: _Gate
) -> None:
    def progress(sent: int, total: int) -> None:
        if sent >= 2 * CHUNK:
            gate.open()  # the digest arrives only once two chunks are on the server

    done = publish(clip, to="youtube", title="Overlap", progress=progress)
    row = _row(done["job_id"])
    assert done["state"] == "saved" and youtube.snapshot()["inserts"] == 1
    assert row.metrics["sha256"] == _sha(clip) and not row.request_hash.startswith("pending:")
    with pytest.raises(InvalidRequestError, match="already published"):
        publish(clip, to="youtube", title="Overlap")  # its key is the content's: refused at once
    assert youtube.snapshot()["inserts"] == 1


@contextlib.contextmanager
def _first_held_at_its_last_step(gate: _Gate, clip: Path, **kwargs: Any) -> Iterator[dict[str, str]]:
    """Publish ``clip`` on a thread until the gate holds it; the block runs meanwhile. The box
    gets the first publish's refusal, if any, once the gate is opened and it has ended."""
    box: dict[str, str] = {}

    def first() -> None:
        try:
            publish(clip, **kwargs)
        except InvalidRequestError as exc:
            box["refused"] = str(exc)

    worker = threading.Thread(target=first)
    worker.start()
    try:
        assert gate.waiting.wait(30)
        yield box
    finally:
        gate.open()
        worker.join(60)


def test_a_copy_published_meanwhile_stops_the_upload_before_its_last_chunk(
    youtube: YouTubeEmulator, clip: Path, gate: _Gate, tmp_path: Path
) -> None:
    copy = Path(shutil.copy(clip, tmp_path / "copy.mp4"))
    with _first_held_at_its_last_step(gate, clip, to="youtube", title="Race") as box:
        second = publish(copy, to="youtube", title="Race")  # same size: hashed first, then sent
        live = [p for p in publications() if p["job_id"] != second["job_id"]]
        assert [p["state"] for p in live] == ["running"]  # a live upload is never closed by another
    assert second["state"] == "saved"
    assert "already published" in box["refused"] and second["job_id"] in box["refused"]
    assert "stopped before publishing anything" in box["refused"]
    snap = youtube.snapshot()
    assert snap["inserts"] == 1 and snap["videos"][0]["id"] == second["remote_id"]
    states = sorted(p["state"] for p in publications())
    assert states == ["failed", "saved"]


def test_a_copy_published_meanwhile_stops_linkedin_before_its_finalize(
    linkedin: LinkedInEmulator, clip: Path, gate: _Gate, tmp_path: Path
) -> None:
    copy = Path(shutil.copy(clip, tmp_path / "copy.mp4"))
    with _first_held_at_its_last_step(gate, clip, to="linkedin", text="race") as box:
        second = publish(copy, to="linkedin", text="race")
    snap = linkedin.snapshot()
    assert second["state"] == "saved" and "already published" in box["refused"]
    assert len(snap["posts"]) == 1
    finalized = [v for v in snap["videos"].values() if v["status"] != "WAITING_UPLOAD"]
    assert len(finalized) == 1, snap["videos"]


@pytest.mark.parametrize("how", ["publish again", "resume"])
def test_killed_before_its_digest_resumes_from_the_server_offset(
    youtube: YouTubeEmulator, clip: Path, gate: _Gate, how: str
) -> None:
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Killed early", progress=die_after(4 * CHUNK))
    (killed,) = publications()
    assert _row(killed["job_id"]).request_hash.startswith("pending:")  # died before its digest
    owner_died()
    if how == "resume":
        ((job_id, outcome),) = arthur_gen.resume()
        remote_id = outcome.remote_id  # type: ignore[attr-defined]
    else:
        done = publish(clip, to="youtube", title="Killed early")
        job_id, remote_id = done["job_id"], done["remote_id"]
    snap = youtube.snapshot()
    assert job_id == killed["job_id"] and snap["inserts"] == 1 and snap["videos"][0]["id"] == remote_id
    assert len(snap["sessions"]) == 1 and bytes_put(youtube) - clip.stat().st_size <= CHUNK
    assert _row(job_id).metrics["sha256"] == _sha(clip) and len(publications()) == 1


def test_a_file_changed_after_such_a_kill_is_uploaded_anew_and_the_old_job_says_why(
    youtube: YouTubeEmulator, clip: Path, gate: _Gate
) -> None:
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Changed", progress=die_after(4 * CHUNK))
    (killed,) = publications()
    owner_died()
    data = bytearray(clip.read_bytes())
    data[-1] ^= 0xFF  # same size, other content (inside the padding box)
    clip.write_bytes(bytes(data))
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 1000))
    done = publish(clip, to="youtube", title="Changed")
    old = _row(killed["job_id"])
    assert done["job_id"] != killed["job_id"] and done["state"] == "saved"
    assert old.state == "failed" and "nothing was published" in (old.error or "")
    assert youtube.snapshot()["inserts"] == 1
    assert arthur_gen.resume() == []


def test_resume_refuses_a_file_changed_after_a_kill_before_its_digest(
    youtube: YouTubeEmulator, clip: Path, gate: _Gate
) -> None:
    with pytest.raises(Killed):
        publish(clip, to="youtube", title="Changed", progress=die_after(4 * CHUNK))
    owner_died()
    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 1000))  # touched: it may differ now
    ((_, outcome),) = arthur_gen.resume()
    assert isinstance(outcome, InvalidRequestError) and "gone or changed" in str(outcome)
    assert youtube.snapshot()["inserts"] == 0
