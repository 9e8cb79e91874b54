"""YouTube publishing against the loopback emulator, through googleapiclient over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from arthur_gen_youtube import add_credentials, login
from arthur_gen_youtube.emulator import Emulator

from arthur_gen.errors import ConfigError, GenerationError, InvalidRequestError
from arthur_gen.publish import get_publisher, list_accounts, load_account, publications, publish

from ._publish_kit import make_mp4
from ._publish_kit import publishers as publishers

CHUNK = 256 * 1024


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, publishers: None, tmp_path: Path) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", emulator.url)
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_CHUNK_BYTES", str(CHUNK))
        add_credentials(emulator.write_credentials(tmp_path))
        get_publisher("youtube").chunk_bytes = CHUNK
        get_publisher("youtube")._sleep = lambda s: None  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture
def video(tmp_path: Path) -> Path:
    return make_mp4(tmp_path / "clip.mp4", pad_bytes=5 * CHUNK)


def _session(emu: Emulator) -> dict[str, int]:
    sessions = list(emu.snapshot()["sessions"].values())
    assert len(sessions) == 1
    return sessions[0]


def test_upload_records_video_metadata_and_job(emu: Emulator, video: Path) -> None:
    result = publish(video, to="youtube", title="Hello", tags="a,b", description="d", privacy="unlisted")
    snap = emu.snapshot()
    assert snap["inserts"] == 1
    (remote,) = snap["videos"]
    assert result["remote_id"] == remote["id"] and result["state"] == "saved"
    assert result["url"] == f"https://youtu.be/{remote['id']}"
    assert remote["snippet"]["title"] == "Hello" and remote["snippet"]["tags"][:2] == ["a", "b"]
    assert remote["status"]["privacyStatus"] == "unlisted"
    assert remote["status"]["containsSyntheticMedia"] is True
    import hashlib

    assert remote["sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    (row,) = publications()
    assert row["job_id"] == result["job_id"] and row["state"] == "saved"
    from arthur_gen.jobs._store import get_store

    job = get_store().get(result["job_id"])
    assert job is not None and job.kind == "publish" and job.cost_usd == 0.0
    assert job.metrics["quota_units"] == 1600


def test_same_file_again_is_refused_unless_forced(emu: Emulator, video: Path) -> None:
    publish(video, to="youtube", title="One")
    with pytest.raises(InvalidRequestError, match="already published"):
        publish(video, to="youtube", title="One")
    assert emu.snapshot()["inserts"] == 1
    publish(video, to="youtube", title="One", force=True)
    assert emu.snapshot()["inserts"] == 2


@pytest.mark.parametrize("fault", ["5xx-mid-chunk", "503", "401"])
def test_transient_faults_resume_from_the_server_offset(emu: Emulator, video: Path, fault: str) -> None:
    if fault == "401":
        emu.add_fault("401", on="auth", times=1)
    else:
        emu.add_fault(fault, after_bytes=2 * CHUNK)
    publish(video, to="youtube", title="Faulty")
    session = _session(emu)
    size = video.stat().st_size
    assert emu.snapshot()["inserts"] == 1
    assert session["received"] == size
    assert session["bytes_put"] - size <= CHUNK  # at most one chunk sent again


@pytest.mark.parametrize("reason", ["quotaExceeded", "uploadLimitExceeded"])
def test_quota_refusals_are_clear_and_final(emu: Emulator, video: Path, reason: str) -> None:
    emu.add_fault(reason, on="insert")
    with pytest.raises(GenerationError, match=r"quota|upload limit"):
        publish(video, to="youtube", title="Q")
    assert emu.snapshot()["inserts"] == 0
    assert publications()[0]["state"] == "failed"


def test_expired_session_before_bytes_starts_over_and_after_bytes_looks_up(
    emu: Emulator, video: Path
) -> None:
    emu.add_fault("expire-session", after_bytes=3 * CHUNK)
    publish(video, to="youtube", title="Expire")
    snap = emu.snapshot()
    assert snap["inserts"] == 1 and len(snap["sessions"]) == 2


def test_lost_session_after_the_video_was_made_finds_it_by_marker(emu: Emulator, video: Path) -> None:
    from arthur_gen.jobs._store import get_store

    first = publish(video, to="youtube", title="Marker")
    store = get_store()
    row = store.get(first["job_id"])
    assert row is not None
    # pretend the process died after the last chunk but before saving the answer, and the session expired
    cp = dict(row.metrics["checkpoint"])
    cp.pop("video_id")
    cp.pop("url", None)
    for session in emu.state.sessions.values():
        session.expired = True
    store.set(row.id, state="running", remote_id=None, metrics={**row.metrics, "checkpoint": cp})
    again = publish(video, to="youtube", title="Marker")
    assert again["remote_id"] == first["remote_id"] and again["job_id"] == first["job_id"]
    assert emu.snapshot()["inserts"] == 1


def test_limits_are_checked_before_any_request(emu: Emulator, tmp_path: Path) -> None:
    bad = tmp_path / "clip.gif"
    bad.write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(InvalidRequestError):
        publish(bad, to="youtube", title="x")
    with pytest.raises(InvalidRequestError, match="title"):
        publish(make_mp4(tmp_path / "ok.mp4"), to="youtube")
    assert emu.snapshot()["sessions"] == {}


def test_endpoint_override_must_be_https_or_loopback(
    emu: Emulator, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", "http://example.com")
    with pytest.raises(ConfigError, match="https"):
        publish(video, to="youtube", title="x")


def test_login_loopback_state_pkce_and_one_answer(emu: Emulator, tmp_path: Path) -> None:
    secrets_file = tmp_path / "client.json"
    secrets_file.write_text(json.dumps(emu.client_secrets()))
    seen: list[str] = []

    def browser(url: str) -> None:
        seen.append(url)
        httpx.get(url, follow_redirects=True, timeout=10)

    account = login(secrets_file, name="me", open_url=browser)
    assert "code_challenge=" in seen[0] and "state=" in seen[0]
    assert account.secret("refresh_token") is not None
    assert "refresh" not in repr(account)
    path = tmp_path / "data" / "accounts" / "youtube" / "me.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert [a.name for a in list_accounts() if a.platform == "youtube"] == ["default", "me"]


def test_login_refuses_a_wrong_state(emu: Emulator, tmp_path: Path) -> None:
    from arthur_gen.errors import AuthenticationError

    secrets_file = tmp_path / "client.json"
    secrets_file.write_text(json.dumps(emu.client_secrets()))

    def forged(url: str) -> None:
        import urllib.parse

        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
        httpx.get(q["redirect_uri"] + "?code=x&state=forged", timeout=10)

    with pytest.raises(AuthenticationError, match="state"):
        login(secrets_file, name="evil", open_url=forged)


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arthur_gen", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_cli_killed_mid_upload_resumes_without_a_duplicate(
    emu: Emulator, tmp_path: Path, sig: signal.Signals
) -> None:
    video = make_mp4(tmp_path / "big.mp4", pad_bytes=24 * CHUNK)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    emu.chunk_delay_s = 0.05
    args = ["publish", str(video), "--to", "youtube", "--title", "Crash", "--json"]
    proc = _cli(args, env)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sessions = emu.snapshot()["sessions"]
            if sessions and next(iter(sessions.values()))["received"] >= 4 * CHUNK:
                break
            time.sleep(0.02)
        os.killpg(proc.pid, sig)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    if sig == signal.SIGINT:
        assert proc.returncode == 130
    emu.chunk_delay_s = 0
    done = _cli(args, env)
    out, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    result = json.loads(out)
    snap = emu.snapshot()
    assert snap["inserts"] == 1 and result["remote_id"] == snap["videos"][0]["id"]
    session = _session(emu)
    assert session["bytes_put"] - video.stat().st_size <= CHUNK


def test_token_sweep_store_logs_errors(
    emu: Emulator, video: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    emu.add_fault("401", on="auth", times=1)
    publish(video, to="youtube", title="Sweep")
    emu.add_fault("quotaExceeded", on="insert")
    with pytest.raises(GenerationError) as info:
        publish(video, to="youtube", title="Sweep", force=True)
    account = load_account("youtube")
    secrets = [s.reveal() for s in account.secrets()] + list(emu.state.tokens)
    assert secrets
    haystack = [caplog.text, str(info.value), repr(account)]
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file() and "accounts" not in path.parts:
            haystack.append(path.read_bytes().decode("latin-1"))
    for secret in secrets:
        assert not any(secret in text for text in haystack)
