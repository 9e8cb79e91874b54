"""API keys never show up in reprs, the store, sidecars, logs or exception messages."""

from __future__ import annotations

import json
import logging
import pickle
import traceback
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import Secret
from arthur_gen._backends import RemoteContext
from arthur_gen._config import load_settings
from arthur_gen.jobs._runner import RunOptions

SECRET = "r8_S3CRET_f00dfeed0123456789abcdef"


def test_secret_never_shows_its_value() -> None:
    secret = Secret(SECRET)
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        "{}".format(secret),  # noqa: UP032
        json.dumps([secret], default=str),
    ):
        assert SECRET not in text and "****" in text
    assert secret.reveal() == SECRET
    assert secret == Secret(SECRET) and secret != Secret("other")
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    assert SECRET not in repr(RemoteContext(job_id="j", key=secret, timeout_s=1))
    assert SECRET not in repr(RunOptions(key=SECRET))
    assert SECRET not in repr(RunOptions(key=secret))


def test_keys_in_the_config_file_stay_hidden(helpers: Any) -> None:
    arthur_gen._config.set_config_value("keys.fakekey", SECRET)
    settings = load_settings()
    assert settings.keys["fakekey"].reveal() == SECRET
    assert SECRET not in repr(settings)


def _leaks(root: Path, skip: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path.name not in skip and SECRET.encode() in path.read_bytes():
            found.append(str(path.relative_to(root)))
    return found


@pytest.mark.parametrize(
    "fail_with",
    [None, "submit", "submit-auth", "poll-status", "poll-raise", "poll-auth", "poll-flaky", "download-flaky"],
)
def test_key_passed_to_generate_video_never_leaks(
    fail_with: str | None, keyed_factory: Any, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = keyed_factory(fail_with)
    texts: list[str] = []
    timeout = 1.0 if fail_with == "poll-raise" else 20.0  # a failing read is retried until then
    try:
        result = arthur_gen.generate_video("waves", backend="keyed-video", key=SECRET, timeout=timeout)
    except Exception as exc:
        assert fail_with not in (None, "poll-flaky", "download-flaky"), exc
        assert isinstance(exc, arthur_gen.ArthurGenError), f"not an ArthurGenError: {exc!r}"
        texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        rows = arthur_gen.history()
        texts += [json.dumps(r.to_dict(), default=str) for r in rows]
        if fail_with in ("submit", "submit-auth", "poll-status", "poll-auth"):
            assert "********" in str(exc)  # the message is kept, with the key blanked out
    else:
        assert fail_with in (None, "poll-flaky", "download-flaky")
        texts += [repr(result), json.dumps(result.to_dict()), result._repr_html_()]
        assert result.path.exists()
    assert backend.keys_seen == [SECRET]  # the key did reach the backend
    for text in texts:
        assert SECRET not in text
    assert SECRET not in caplog.text
    assert _leaks(home) == []


def test_key_from_the_environment_is_used_and_not_stored(
    keyed_factory: Any, home: Path, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = keyed_factory()
    monkeypatch.setenv(helpers.KEY_ENV, SECRET)
    result = arthur_gen.generate_video("waves", backend="keyed-video")
    assert backend.keys_seen == [SECRET] and result.path.exists()
    assert _leaks(home) == []


def test_key_from_the_config_file_is_only_in_the_config_file(
    keyed_factory: Any, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from arthur_gen.cli._main import main

    backend = keyed_factory()
    assert main(["keys", "set", "fakekey", SECRET]) == 0
    assert main(["video", "waves", "-b", "keyed-video", "--json"]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert backend.keys_seen == [SECRET]
    assert _leaks(home) == ["config.toml"]
