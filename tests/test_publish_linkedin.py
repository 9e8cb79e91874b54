"""LinkedIn publishing against the loopback emulator, over real HTTP with httpx."""

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
from arthur_gen_linkedin import add_token, login
from arthur_gen_linkedin.emulator import Emulator

from arthur_gen.errors import AuthenticationError, ConfigError, GenerationError, SubmitUncertainError
from arthur_gen.publish import confirm, get_publisher, load_account, publications, publish

from ._publish_kit import make_mp4
from ._publish_kit import publishers as publishers

PART = 256 * 1024


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, publishers: None) -> Iterator[Emulator]:
    with Emulator(part_bytes=PART) as emulator:
        monkeypatch.setenv("ARTHUR_GEN_LINKEDIN_API_URL", emulator.url)
        add_token(emulator.token)
        pub = get_publisher("linkedin")
        pub._sleep = lambda s: None  # type: ignore[attr-defined]
        pub.poll_s = 0  # type: ignore[attr-defined]
        yield emulator


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mp4(tmp_path_factory.mktemp("li") / "clip.mp4", seconds=3.2, pad_bytes=3 * PART)


def test_post_goes_through_every_step(emu: Emulator, video: Path) -> None:
    result = publish(video, to="linkedin", text="Made with arthur-gen", title="Clip")
    snap = emu.snapshot()
    (post,) = snap["posts"]
    assert result["remote_id"] == post["urn"] and result["state"] == "saved"
    assert post["author"] == "urn:li:person:emuMember42" and post["commentary"] == "Made with arthur-gen"
    assert post["visibility"] == "PUBLIC"
    (v,) = snap["videos"].values()
    assert v["status"] == "AVAILABLE" and v["parts"] >= 4
    assert snap["bytes_put"] == video.stat().st_size


@pytest.mark.parametrize("fault", ["429", "part-500", "expire-urls"])
def test_transient_faults_are_retried(emu: Emulator, video: Path, fault: str) -> None:
    emu.add_fault(fault)
    publish(video, to="linkedin", text="x")
    assert len(emu.snapshot()["posts"]) == 1


@pytest.mark.parametrize(
    ("fault", "error", "match"),
    [
        ("401", AuthenticationError, "accounts login linkedin"),
        ("403", AuthenticationError, "permission"),
        ("processing-failed", GenerationError, "PROCESSING_FAILED"),
    ],
)
def test_final_refusals_are_clear(emu: Emulator, video: Path, fault: str, error: type, match: str) -> None:
    emu.add_fault(fault)
    with pytest.raises(error, match=match):
        publish(video, to="linkedin", text="x")
    assert emu.snapshot()["posts"] == []


def test_inactive_version_says_how_to_fix(
    emu: Emulator, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_LINKEDIN_VERSION", "202001")
    with pytest.raises(ConfigError, match="ARTHUR_GEN_LINKEDIN_VERSION"):
        publish(video, to="linkedin", text="x")


def test_lost_post_answer_needs_confirmation_never_a_second_post(emu: Emulator, video: Path) -> None:
    emu.add_fault("post-drop")
    with pytest.raises(SubmitUncertainError, match="publications confirm") as info:
        publish(video, to="linkedin", text="x")
    job = publications()[0]
    assert job["state"] == "needs confirmation" and f"confirm {job['job_id']} --posted" in str(info.value)
    with pytest.raises(SubmitUncertainError, match="needs confirmation"):
        publish(video, to="linkedin", text="x", force=True)
    assert len(emu.snapshot()["posts"]) == 1
    urn = emu.snapshot()["posts"][0]["urn"]
    settled = confirm(job["job_id"], posted=urn)
    assert settled["state"] == "saved" and settled["remote_id"] == urn
    assert len(emu.snapshot()["posts"]) == 1


def test_killed_after_the_post_left_resumes_to_needs_confirmation(
    emu: Emulator, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that dies once the post request left (answer never read) never posts again."""
    real_post = httpx.Client.post

    def post_then_die(self: httpx.Client, url: str, *args: object, **kwargs: object) -> httpx.Response:
        response = real_post(self, url, *args, **kwargs)  # type: ignore[arg-type]
        if str(url).endswith("/rest/posts"):
            raise SystemExit("killed between sending the post and reading its answer")
        return response

    monkeypatch.setattr(httpx.Client, "post", post_then_die)
    with pytest.raises(SystemExit):
        publish(video, to="linkedin", text="x")
    monkeypatch.setattr(httpx.Client, "post", real_post)
    assert publications()[0]["state"] == "running"  # left for the next publish to resume
    with pytest.raises(SubmitUncertainError, match="publications confirm"):
        publish(video, to="linkedin", text="x")  # the resume must not post a second time
    assert len(emu.snapshot()["posts"]) == 1
    assert publications()[0]["state"] == "needs confirmation"


def test_confirm_not_posted_allows_a_new_upload(emu: Emulator, video: Path) -> None:
    emu.add_fault("post-drop")
    with pytest.raises(SubmitUncertainError):
        publish(video, to="linkedin", text="x")
    job_id = publications()[0]["job_id"]
    assert confirm(job_id, not_posted=True)["state"] == "failed"
    publish(video, to="linkedin", text="x")
    assert len(emu.snapshot()["posts"]) == 2  # the user said the first one is not online


def test_limits_refuse_a_too_short_video(emu: Emulator, tmp_path: Path) -> None:
    from arthur_gen.errors import InvalidRequestError

    short = make_mp4(tmp_path / "short.mp4", seconds=1, pad_bytes=100_000)
    with pytest.raises(InvalidRequestError, match="duration"):
        publish(short, to="linkedin", text="x")
    assert emu.snapshot()["inits"] == 0


def test_login_loopback_checks_state(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LI_SECRET", emu.client_secret)
    seen: list[str] = []

    def browser(url: str) -> None:
        seen.append(url)
        httpx.get(url, follow_redirects=True, timeout=10)

    account = login(name="me", client_id="abc", client_secret_env="LI_SECRET", open_url=browser)
    assert "state=" in seen[0]
    assert account.get("author") == "urn:li:person:emuMember42"
    assert emu.token not in repr(account)


def test_cli_sigkill_during_parts_resumes_with_one_post(emu: Emulator, video: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    big = make_mp4(tmp_path / "big.mp4", seconds=3.2, pad_bytes=40 * PART)
    args = [
        sys.executable,
        "-m",
        "arthur_gen",
        "publish",
        str(big),
        "--to",
        "linkedin",
        "--text",
        "k",
        "--json",
    ]
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and emu.snapshot()["bytes_put"] < 4 * PART:
            time.sleep(0.005)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"] == "saved"
    snap = emu.snapshot()
    assert len(snap["posts"]) == 1 and snap["inits"] == 1
    assert snap["bytes_put"] - big.stat().st_size <= PART


def test_token_never_in_store_or_errors(
    emu: Emulator, video: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    publish(video, to="linkedin", text="x")
    emu.add_fault("401")
    with pytest.raises(AuthenticationError) as info:
        publish(video, to="linkedin", text="x", force=True)
    assert load_account("linkedin").secret("token") is not None
    texts = [caplog.text, str(info.value)]
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file() and "accounts" not in path.parts:
            texts.append(path.read_bytes().decode("latin-1"))
    assert not any(emu.token in t for t in texts)


def _login_with_refresh(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emu.issue_refresh_tokens()
    monkeypatch.setenv("LI_SECRET", emu.client_secret)
    login(
        client_id="abc",
        client_secret_env="LI_SECRET",
        open_url=lambda u: httpx.get(u, follow_redirects=True),
    )


def test_an_expired_token_is_refreshed_mid_upload_and_saved(
    emu: Emulator, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An app approved for refresh: a 401 mid-upload refreshes once, goes on from the checkpoint."""
    _login_with_refresh(emu, monkeypatch)
    account = load_account("linkedin", "default")
    assert account.secret("refresh_token") is not None and "refresh" not in repr(account)
    parts_seen = 0

    def progress(sent: int, total: int) -> None:
        nonlocal parts_seen
        parts_seen += 1
        if parts_seen == 2:
            emu.expire_token()  # the token in use stops working half-way

    done = publish(video, to="linkedin", text="refreshed", progress=progress)
    snap = emu.snapshot()
    assert done["state"] == "saved" and len(snap["posts"]) == 1 and emu.refreshes == 1
    assert snap["inits"] == 1 and snap["bytes_put"] == video.stat().st_size  # no part sent again
    saved = load_account("linkedin", "default").secret("token")
    assert saved is not None and saved.reveal() == emu.token  # the new token is kept for next time
    dumped = json.dumps([p for p in publications()], default=str)
    assert emu.token not in dumped and emu.refresh_token not in dumped


def test_a_token_near_its_expiry_is_refreshed_before_the_upload(
    emu: Emulator, video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen.publish import save_account

    _login_with_refresh(emu, monkeypatch)
    account = load_account("linkedin", "default")
    save_account(account.updated(expires_at=time.time() + 60))
    publish(video, to="linkedin", text="early")
    assert emu.refreshes == 1 and len(emu.snapshot()["posts"]) == 1


def test_without_a_refresh_token_a_401_says_sign_in_again(emu: Emulator, video: Path) -> None:
    emu.expire_token()
    with pytest.raises(AuthenticationError, match="accounts login linkedin"):
        publish(video, to="linkedin", text="x")
    assert emu.refreshes == 0 and emu.snapshot()["posts"] == []
