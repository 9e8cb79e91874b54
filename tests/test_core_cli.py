"""The ``arthur-gen`` command line, mostly in-process through ``arthur_gen.cli._main.main``."""

from __future__ import annotations

import io
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import NeedsKeyError
from arthur_gen._config import config_path, resolve_key
from arthur_gen.cli._main import main
from arthur_gen.testing import FakeImageBackend, FakeProvider, FakeVideoBackend

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Run:
    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(argv))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        return code, out, err

    return run


def _job_count(home: Path) -> int:
    db = home / "data" / "jobs.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])


RESULT_KEYS = {"job_id", "paths", "backend", "model", "seed", "cost_usd"}


def test_image_json(cli: Run, image_backend: FakeImageBackend) -> None:
    code, out, _ = cli("image", "a red fox", "--json", "--seed", "9", "--size", "32x48", "-o", "style=noisy")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= RESULT_KEYS
    assert data["backend"] == "fake-image" and data["model"] == "fake-sketch"
    assert data["seed"] == 9 and data["cost_usd"] == 0.0
    assert Path(data["paths"][0]).exists()
    assert data["request"]["width"] == 32 and data["request"]["options"] == {"style": "noisy"}


def test_image_plain_prints_paths_and_caption(cli: Run, image_backend: FakeImageBackend) -> None:
    code, out, err = cli("image", "a red fox", "--seed", "1")
    assert code == 0
    (line,) = out.splitlines()
    assert Path(line).exists()
    assert "fake-image/fake-sketch" in err and "seed 1" in err


def test_several_seeds_make_several_jobs(cli: Run, image_backend: FakeImageBackend) -> None:
    code, out, _ = cli("image", "foxes", "--seed", "1", "--seed", "2", "--json")
    assert code == 0
    data = json.loads(out)
    assert [d["seed"] for d in data] == [1, 2] and len({d["job_id"] for d in data}) == 2


def test_video_json(cli: Run, video_backend: FakeVideoBackend, provider: FakeProvider) -> None:
    code, out, _ = cli("video", "waves", "--json", "--duration", "6", "--aspect-ratio", "1:1")
    assert code == 0
    data = json.loads(out)
    assert set(data) >= RESULT_KEYS
    assert data["backend"] == "fake-video" and data["cost_usd"] == 0.5 and data["seed"] is None
    assert data["paths"][0].endswith(".mp4") and provider.submits == 1


def test_dry_run_sends_and_writes_nothing(
    cli: Run, video_backend: FakeVideoBackend, provider: FakeProvider, home: Path
) -> None:
    code, out, _ = cli("video", "waves", "--dry-run", "-o", "prompt_optimizer=false")
    assert code == 0
    assert "fake-video" in out and "fake-clip" in out
    assert "1 video x $0.5 = $0.5000" in out
    assert '"prompt_optimizer": false' in out
    assert "nothing was sent, nothing was written" in out
    code, out, _ = cli("video", "waves", "--dry-run", "--json")
    plan = json.loads(out)
    assert plan["estimate"]["usd"] == 0.5 and plan["would_send"]["input"]["prompt"] == "waves"
    assert provider.submits == 0 and video_backend.polls == 0
    assert _job_count(home) == 0 and not (home / "data" / "outputs").exists()


@pytest.mark.parametrize(
    ("argv", "message", "code"),
    [
        (["image", ""], "prompt='' is not valid: must not be empty", 2),
        (["image", "x", "--size", "12x"], "--size '12x' must look like 1024x768", 2),
        (["image", "x", "-o", "style"], "must look like NAME=VALUE", 2),
        (["image", "x", "--size", "100x64"], "multiple of 16", 2),
        (["image", "x", "--image", "/no/such.png"], "no such file", 2),
        (["video", "x", "--duration", "4.5"], "one of 3, 6 seconds", 2),
        (["image", "x", "--backend", "nope"], "no image backend 'nope'; installed: fake-image", 1),
        (["image", "x", "--model", "nope"], "has no model 'nope'", 1),
        (["history", "--since", "yesterday"], "must look like 2026-11-25", 2),
        (["show", "ffffffffff"], "no job 'ffffffffff'", 1),
    ],
)
def test_bad_input_exits_nonzero_with_the_message(
    cli: Run,
    image_backend: FakeImageBackend,
    video_backend: FakeVideoBackend,
    argv: list[str],
    message: str,
    code: int,
    home: Path,
) -> None:
    got, _, err = cli(*argv)
    assert got == code
    assert err.startswith("arthur-gen: ") and message in err
    assert image_backend.calls == [] and _job_count(home) == 0


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["image", "x", "--steps", "many"])
    assert info.value.code == 2
    assert "invalid int value" in capsys.readouterr().err
    assert main([]) == 2


def test_version(cli: Run) -> None:
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == arthur_gen.__version__


def test_backends_and_models(
    cli: Run, image_backend: FakeImageBackend, video_backend: FakeVideoBackend
) -> None:
    code, out, _ = cli("backends")
    assert code == 0 and "fake-image" in out and "remote" in out
    code, out, _ = cli("backends", "--json", "--kind", "video")
    (row,) = json.loads(out)
    assert row["id"] == "fake-video" and row["local"] is False and row["available"] is True

    code, out, _ = cli("models", "--json", "--options")
    assert code == 0
    models = {m["id"]: m for m in json.loads(out)}
    assert models["fake-sketch"]["backend"] == "fake-image"
    (style,) = models["fake-sketch"]["options"]
    assert style["name"] == "style" and style["choices"] == ["flat", "noisy"]
    assert models["fake-clip"]["price"]["usd"] == 0.5
    code, out, _ = cli("models", "--options", "--backend", "fake-image")
    assert "style (str one of 'flat', 'noisy', default 'flat')" in out and "fake-clip" not in out


def test_no_backends_says_how_to_install(cli: Run) -> None:
    code, out, _ = cli("backends")
    assert code == 0 and "pip install arthur-gen-replicate" in out


def test_history_show_and_filters(
    cli: Run, image_backend: FakeImageBackend, video_backend: FakeVideoBackend
) -> None:
    fox = arthur_gen.generate_image("a red fox", seed=1)
    arthur_gen.generate_image("an owl", seed=2)
    waves = arthur_gen.generate_video("waves")

    def history(*args: str) -> list[dict[str, Any]]:
        code, out, _ = cli("history", "--json", *args)
        assert code == 0
        return list(json.loads(out))

    assert [r["prompt"] for r in history()] == ["waves", "an owl", "a red fox"]
    assert [r["prompt"] for r in history("--kind", "image")] == ["an owl", "a red fox"]
    assert [r["job_id"] for r in history("--text", "fox")] == [fox.job_id]
    assert history("--text", "%") == []  # LIKE wildcards are literal
    assert [r["job_id"] for r in history("--backend", "fake-video")] == [waves.job_id]
    assert len(history("--model", "fake-sketch", "--state", "saved")) == 2
    assert len(history("--limit", "1")) == 1
    assert len(history("--since", "2000-01-01")) == 3
    assert history("--until", "2000-01-01T00:00") == []
    assert history("--state", "failed") == []
    row = history("--text", "fox")[0]
    assert row["cost_usd"] == 0.0 and row["paths"] == [str(fox.path)]

    code, out, _ = cli("history")
    assert "a red fox" in out and "$0.5000" in out

    code, out, _ = cli("show", fox.job_id[:12], "--json")
    shown = json.loads(out)
    assert shown["id"] == fox.job_id and shown["state"] == "saved" and "lease_owner" not in shown
    code, out, _ = cli("show", waves.job_id)
    assert code == 0 and "remote_id" in out and "saved" in out


def test_resume_with_nothing_to_do(cli: Run) -> None:
    code, out, _ = cli("resume")
    assert code == 0 and "Nothing to resume" in out
    code, out, _ = cli("resume", "--json")
    assert code == 0 and json.loads(out) == []


def test_doctor_reports_each_backend(
    cli: Run,
    image_backend: FakeImageBackend,
    keyed_factory: Any,
    helpers: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyed_factory()
    code, out, _ = cli("doctor", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["data"] == str(arthur_gen.data_dir())
    entries = {b["id"]: b for b in report["backends"]}
    assert entries["fake-image"]["installed"] is True and entries["fake-image"]["available"] is True
    assert "key" not in entries["fake-image"]
    keyed = entries["keyed-video"]
    assert keyed["installed"] is True and keyed["available"] is False and keyed["key"] == "missing"
    assert keyed["reason"] == "missing API key" and helpers.KEY_ENV in keyed["fix"]
    assert keyed["models"] == [{"id": "fake-clip", "ready": True, "reason": "", "fix": ""}]

    monkeypatch.setenv(helpers.KEY_ENV, "tok-from-env")
    code, out, _ = cli("doctor", "--json")
    keyed = {b["id"]: b for b in json.loads(out)["backends"]}["keyed-video"]
    assert keyed["key"] == "found" and keyed["available"] is True
    assert "tok-from-env" not in out

    code, out, _ = cli("doctor")
    assert code == 0 and "keyed-video (video): available" in out


def test_keys_set_then_resolved_but_never_shown(
    cli: Run, helpers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-test-5f1e2d3c4b5a"
    code, out, err = cli("keys", "set", "fakekey", secret)
    assert code == 0 and secret not in out + err and "Saved the fakekey key" in out
    assert config_path().stat().st_mode & 0o777 == 0o600
    key = resolve_key("fakekey", helpers.KEY_ENV, None)
    assert key is not None and key.reveal() == secret
    code, out, err = cli("config", "show")
    assert code == 0 and secret not in out + err
    assert json.loads(out)["keys"] == {"fakekey": "********"}

    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin\n"))
    code, out, err = cli("keys", "set", "other")
    assert code == 0 and "from-stdin" not in out + err
    assert resolve_key("other", None, None).reveal() == "from-stdin"  # type: ignore[union-attr]

    # the environment wins over the file, an argument over both
    monkeypatch.setenv(helpers.KEY_ENV, "from-env")
    assert resolve_key("fakekey", helpers.KEY_ENV, None).reveal() == "from-env"  # type: ignore[union-attr]
    assert resolve_key("fakekey", helpers.KEY_ENV, "explicit").reveal() == "explicit"  # type: ignore[union-attr]

    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    code, _, err = cli("keys", "set", "empty")
    assert code == 2 and "nothing changed" in err


def test_config_set_and_path(cli: Run, tmp_path: Path) -> None:
    code, out, _ = cli("config", "path")
    assert out.strip() == str(config_path())
    code, _, _ = cli("config", "set", "output_dir", str(tmp_path / "pics"))
    assert code == 0
    code, out, _ = cli("config", "show")
    assert json.loads(out)["output_dir"] == str(tmp_path / "pics")
    code, _, err = cli("config", "set", "keys.fakekey", "abc")
    assert code == 2 and "keys set" in err


def test_missing_key_fails_before_any_backend_call(
    cli: Run, keyed_factory: Any, provider: FakeProvider, helpers: Any, home: Path
) -> None:
    backend = keyed_factory()
    with pytest.raises(NeedsKeyError) as info:
        arthur_gen.generate_video("waves", backend="keyed-video")
    message = str(info.value)
    assert helpers.KEY_ENV in message and "arthur-gen keys set fakekey" in message
    assert "key=" in message
    code, _, err = cli("video", "waves", "-b", "keyed-video")
    assert code == 1 and helpers.KEY_ENV in err
    assert backend.submit_calls == 0 and provider.submits == 0 and backend.polls == 0
    assert _job_count(home) == 0


def test_plugins_command(cli: Run, image_backend: FakeImageBackend) -> None:
    _, out, _ = cli("plugins", "--json")
    (plugin,) = json.loads(out)
    assert plugin["name"] == "test-fake-image" and "register_image_backends" in plugin["hooks"]


# --- real processes ----------------------------------------------------------------------


def test_cli_subprocess_image_json_and_bad_input(
    children: Any, helpers: Any, child_env: dict[str, str]
) -> None:
    done = children.run([helpers.CLI, "image", "a cat", "--json", "--seed", "3"], child_env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data) >= RESULT_KEYS and data["backend"] == "fake-image" and data["seed"] == 3

    bad = children.run([helpers.CLI, "image", "   "], child_env)
    assert bad.returncode == 2
    assert "must not be empty" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_subprocess_video_via_python_m(children: Any, helpers: Any, child_env: dict[str, str]) -> None:
    import sys

    done = children.run(
        [sys.executable, "-m", "arthur_gen", "video", "waves", "--json", "-b", "fake-video"], child_env
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["cost_usd"] == 0.5
    assert FakeProvider(child_env["ARTHUR_GEN_FAKE_PROVIDER"]).submits == 1
    assert os.path.exists(data["paths"][0])
