"""The publish CLI in-process: accounts, dry run, --json, thumbnails, publications, clear errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from arthur_gen_youtube.emulator import Emulator

from arthur_gen.cli._main import main
from arthur_gen.publish import get_publisher

from ._publish_kit import make_mp4
from ._publish_kit import publishers as publishers


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch, publishers: None) -> Iterator[Emulator]:
    with Emulator() as emulator:
        monkeypatch.setenv("ARTHUR_GEN_YOUTUBE_ROOT_URL", emulator.url)
        yield emulator


def test_accounts_publish_json_and_history(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = emu.write_credentials(tmp_path)
    assert main(["accounts", "add", "youtube", "--credentials", str(creds)]) == 0
    assert main(["accounts", "list"]) == 0
    assert "youtube/default" in capsys.readouterr().out
    video = make_mp4(tmp_path / "v.mp4")
    thumb = tmp_path / "t.png"
    from arthur_gen.testing import png_bytes

    thumb.write_bytes(png_bytes(64, 36))
    assert main(["publish", str(video), "--to", "youtube", "--title", "T", "--dry-run"]) == 0
    assert emu.snapshot()["inserts"] == 0
    capsys.readouterr()
    args = ["publish", str(video), "--to", "youtube", "--title", "T", "--thumbnail", str(thumb), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"job_id", "platform", "remote_id", "url", "state"} and out["state"] == "saved"
    assert emu.snapshot()["videos"][0].get("thumbnail_sha256")
    assert get_publisher("youtube")
    assert main(["publish", str(video), "--to", "youtube", "--title", "T"]) == 2  # already published
    assert "--force" in capsys.readouterr().err
    assert main(["publications"]) == 0
    assert out["url"] in capsys.readouterr().out
    assert main(["accounts", "remove", "youtube"]) == 0
    assert main(["publish", str(video), "--to", "youtube", "--title", "T", "--force"]) == 1
    err = capsys.readouterr().err
    assert "accounts login youtube" in err and "Traceback" not in err


def test_bad_input_is_a_clear_usage_error(
    emu: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", str(tmp_path / "none.mp4"), "--to", "youtube", "--title", "T"]) == 2
    assert "No video file" in capsys.readouterr().err
    assert main(["publications", "confirm", "nojob", "--not-posted"]) == 1
    assert main(["accounts", "add", "linkedin", "--token-env", "NOPE_UNSET"]) == 2
    assert "NOPE_UNSET" in capsys.readouterr().err


def test_preset_edits_then_publishes_in_one_command(
    publishers: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from arthur_gen_linkedin import add_token
    from arthur_gen_linkedin.emulator import Emulator as LinkedInEmulator

    import arthur_gen
    from arthur_gen.publish import probe_video

    wide = make_mp4(tmp_path / "wide.mp4", seconds=3.2, size=(960, 160))  # 6:1, LinkedIn takes <= 2.4:1
    with LinkedInEmulator(processing_polls=1) as li:
        monkeypatch.setenv("ARTHUR_GEN_LINKEDIN_API_URL", li.url)
        add_token(li.token)
        base = ["publish", str(wide), "--to", "linkedin", "--text", "square", "--json"]
        assert main(base) == 2
        assert "aspect" in capsys.readouterr().err and li.snapshot()["inits"] == 0
        assert main([*base, "--preset", "no-such-preset"]) == 2
        assert "no-such-preset" in capsys.readouterr().err and not arthur_gen.history(kind="edit")
        assert main([*base, "--preset", "linkedin-square"]) == 0
        out = json.loads(capsys.readouterr().out)
        snap = li.snapshot()
    assert out["state"] == "saved" and [p["urn"] for p in snap["posts"]] == [out["remote_id"]]
    (edit,) = arthur_gen.history(kind="edit")
    edited = Path(edit.outputs[0]["path"])
    info = probe_video(str(edited))
    assert (info.width, info.height) == (1080, 1080)
    assert snap["bytes_put"] == edited.stat().st_size  # the edit went up, not the original
    (job,) = arthur_gen.history(kind="publish")
    assert job.parents == [edit.id] and job.request["video"] == str(edited)
