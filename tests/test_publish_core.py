"""The publish core: hook registration, conformance of both publishers, request checks, accounts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arthur_gen.errors import ConfigError, InvalidRequestError
from arthur_gen.publish import (
    Account,
    PublishRequest,
    get_publisher,
    load_account,
    publisher_names,
    save_account,
)
from arthur_gen.testing import check_publisher

from ._publish_kit import make_mp4
from ._publish_kit import publishers as publishers


def test_both_publishers_register_through_the_hook(publishers: None) -> None:
    assert publisher_names() == ["linkedin", "youtube"]
    for name in publisher_names():
        check_publisher(get_publisher(name))


def test_youtube_conformance_against_its_emulator(
    publishers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen_youtube import add_credentials
    from arthur_gen_youtube.emulator import Emulator

    with Emulator() as emu:
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", emu.url)
        account = add_credentials(emu.write_credentials(tmp_path))
        check_publisher(get_publisher("youtube"), make_mp4(tmp_path / "v.mp4"), account, title="T")
        assert emu.snapshot()["inserts"] == 1


def test_linkedin_conformance_against_its_emulator(
    publishers: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen_linkedin import add_token
    from arthur_gen_linkedin.emulator import Emulator

    with Emulator() as emu:
        monkeypatch.setenv("ARTHUR_GEN_LINKEDIN_API_URL", emu.url)
        get_publisher("linkedin").poll_s = 0  # type: ignore[attr-defined]
        account = add_token(emu.token)
        video = make_mp4(tmp_path / "v.mp4", seconds=3.2, pad_bytes=80_000)
        check_publisher(get_publisher("linkedin"), video, account, text="t")
        assert len(emu.snapshot()["posts"]) == 1


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"privacy": "secret"}, "privacy"),
        ({"title": "x" * 101}, "100"),
        ({"publish_at": "tomorrow"}, "ISO"),
        ({"publish_at": "2030-01-01T00:00:00"}, "time zone"),
        ({"publish_at": "2030-01-01T00:00:00Z", "privacy": "public"}, "private"),
        ({"tags": ["t" * 300, "u" * 300]}, "500"),
        ({"thumbnail": "/no/such.png"}, "thumbnail"),
        ({"video": "/no/such.mp4"}, "No video"),
    ],
)
def test_bad_requests_say_what_to_fix(tmp_path: Path, changes: dict[str, object], match: str) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x")
    with pytest.raises(InvalidRequestError, match=match):
        PublishRequest(**{"video": str(video), "to": "youtube", **changes})  # type: ignore[arg-type]


def test_account_file_is_0600_and_reprs_hide_tokens(tmp_path: Path) -> None:
    account = Account("youtube", "me", {"refresh_token": "SECRET-R", "token": "SECRET-A", "client_id": "cid"})
    path = save_account(account)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    loaded = load_account("youtube", "me")
    assert "SECRET" not in repr(loaded) and "SECRET" not in str(loaded.public())
    assert loaded.secret("token") is not None and loaded.secret("token").reveal() == "SECRET-A"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="accounts login youtube"):
        load_account("youtube", "nobody")
    with pytest.raises(InvalidRequestError):
        Account("youtube", "../escape", {})


def test_endpoint_overrides_need_https_except_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from arthur_gen.publish import check_endpoint

    monkeypatch.setenv("X_URL", "http://10.0.0.1:8080")
    with pytest.raises(ConfigError):
        check_endpoint("X_URL", "https://a")
    monkeypatch.setenv("X_URL", "http://127.0.0.1:8080/")
    assert check_endpoint("X_URL", "https://a") == "http://127.0.0.1:8080"
    monkeypatch.setenv("X_URL", "https://api.example.com")
    assert check_endpoint("X_URL", "https://a") == "https://api.example.com"
    assert os.environ["X_URL"]


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = (
        "import arthur_gen.publish, arthur_gen_youtube, arthur_gen_linkedin, sys; "
        "print(sorted(m for m in ('httpx','googleapiclient','av','google.oauth2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
