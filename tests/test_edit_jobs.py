"""Edits as jobs: store rows, cache hits, lineage, metadata in the file, bad input, CLI, plugins."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import arthur_gen as ag
from arthur_gen.cli._main import main
from arthur_gen.errors import InvalidRequestError, JobCanceledError
from arthur_gen.media import read_mp4_metadata
from arthur_gen.media._recipe import Custom, EditRecipe, Reformat
from arthur_gen.testing import check_postprocessor, registered

from ._edit_media import make_media


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_media(tmp_path_factory.mktemp("media"))


def small(**extra: Any) -> EditRecipe:
    return EditRecipe([Reformat(width=160, height=200, mode="fill"), *extra.get("ops", ())])


def files_in(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and ".work" not in p.parts] if folder.exists() else []


def test_edit_is_a_job_with_lineage_cache_and_metadata(media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = ag.edit([media["red"]], small(), title="One", out_dir=out)
    row = ag.get_job(first.job_id)
    assert row.kind == "edit" and row.state == "saved" and row.cost_usd == 0.0
    assert first.path.suffix == ".mp4" and first.sidecars[0].is_file()
    # an edit of that edit: lineage to the first job, by content
    second = ag.edit([first.path], small(), logo=media["logo"], out_dir=out)
    assert first.job_id in second.parents
    # the record is in the file itself: show and rerun need nothing else
    meta = read_mp4_metadata(second.path)
    assert meta is not None and meta["job_id"] == second.job_id and first.job_id in meta["parents"]
    assert meta["request"]["recipe"]["operations"][1]["op"] == "logo"
    second.sidecars[0].unlink()
    kind, backend, model, request = ag.request_from(second.path)
    assert (kind, backend, model) == (ag.Kind.EDIT, "edit", "pyav") and request == second.request
    # the same inputs and recipe again: the cache answers, $0, same bytes
    again = ag.edit([first.path], small(), logo=media["logo"], out_dir=out)
    assert again.cached and again.job_id != second.job_id
    assert again.path.read_bytes()[:1000] == second.path.read_bytes()[:1000]
    rerun = ag.rerun(second.path)
    assert rerun.cached


def test_changed_input_content_is_a_cache_miss(media: dict[str, Path], tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(media["red"].read_bytes())
    a = ag.edit([clip], small(), out_dir=tmp_path / "o")
    clip.write_bytes(media["blue"].read_bytes())
    b = ag.edit([clip], small(), out_dir=tmp_path / "o")
    assert not b.cached and a.job_id != b.job_id


def test_the_cache_keys_on_contents_not_paths(media: dict[str, Path], tmp_path: Path) -> None:
    """The same clip and logo under other names and folders: a hit; another logo content: a miss."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b" / "deeper"
    for folder in (a_dir, b_dir):
        folder.mkdir(parents=True)
    clip_a, logo_a = a_dir / "clip.mp4", a_dir / "logo.png"
    clip_b, logo_b = b_dir / "renamed take 2.mp4", b_dir / "brand.png"
    for src, dst in (
        (media["red"], clip_a),
        (media["red"], clip_b),
        (media["logo"], logo_a),
        (media["logo"], logo_b),
    ):
        dst.write_bytes(src.read_bytes())
    first = ag.edit([clip_a], small(), logo=logo_a, out_dir=tmp_path / "o")
    moved = ag.edit([clip_b], small(), logo=logo_b, out_dir=tmp_path / "o")
    assert not first.cached and moved.cached and ag.get_job(moved.job_id).cached_from == first.job_id
    from PIL import Image

    Image.new("RGBA", (40, 40), (255, 0, 255, 255)).save(logo_b)  # same path, new content
    changed = ag.edit([clip_b], small(), logo=logo_b, out_dir=tmp_path / "o")
    assert not changed.cached


def test_show_an_mp4_from_the_file_alone(media: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    base = ag.edit([media["red"]], small(), out_dir=tmp_path / "o")
    child = ag.edit([base.path], small(), title="x", out_dir=tmp_path / "o")
    child.sidecars[0].unlink()
    assert main(["show", str(child.path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job_id"] == child.job_id and shown["parents"] == [base.job_id]


def test_linkedin_portrait_preset_output(media: dict[str, Path], tmp_path: Path) -> None:
    result = ag.edit([media["red"], media["still"]], preset="linkedin-portrait", out_dir=tmp_path / "o")
    with av.open(str(result.path)) as c:
        v = c.streams.video[0]
        assert (v.codec_context.width, v.codec_context.height) == (1080, 1350)
        assert c.duration / 1e6 == pytest.approx(5.0, abs=0.05)  # 2 s clip + 3 s still


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda m, t: [t / "missing.mp4"], "no such file"),
        (
            lambda m, t: [_write(t / "trunc.mp4", m["red"].read_bytes()[:3000])],
            "truncated|not a readable|cannot be decoded",
        ),
        (lambda m, t: [_write(t / "text.mp4", b"hello, not a video")], "not a readable video"),
    ],
)
def test_bad_inputs_fail_before_any_output(
    media: dict[str, Path], tmp_path: Path, make: Any, message: str
) -> None:
    out = tmp_path / "out"
    with pytest.raises(InvalidRequestError, match=message):
        ag.edit(make(media, tmp_path), small(), out_dir=out)
    assert files_in(out) == []


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_captions_logo_font_and_preset_limits(media: dict[str, Path], tmp_path: Path) -> None:
    srt = tmp_path / "bad.srt"
    srt.write_text("1\n00:00:02,000 --> 00:00:01,000\nbackwards\n")
    with pytest.raises(InvalidRequestError, match=r"line 2.*ends"):
        ag.edit([media["red"]], captions=srt, out_dir=tmp_path)
    fake_logo = _write(tmp_path / "logo.png", b"not an image")
    with pytest.raises(InvalidRequestError, match="logo"):
        ag.edit([media["red"]], small(), logo=fake_logo, out_dir=tmp_path / "o")
    fake_font = _write(tmp_path / "font.ttf", b"not a font")
    from arthur_gen.media._recipe import Title

    with pytest.raises(InvalidRequestError, match="font"):
        ag.edit([media["red"]], small(ops=[Title(text="x", font=str(fake_font))]), out_dir=tmp_path / "o")
    with pytest.raises(InvalidRequestError, match="linkedin-square needs at least 3 s"):
        ag.edit([media["red"]], preset="linkedin-square", out_dir=tmp_path / "o")
    with pytest.raises(InvalidRequestError, match="preset='tiktok'"):
        ag.edit([media["red"]], preset="tiktok")
    assert files_in(tmp_path / "o") == []


def test_interrupted_render_leaves_no_file_and_can_run_again(media: dict[str, Path], tmp_path: Path) -> None:
    stop = threading.Event()

    def on_progress(event: Any) -> None:
        if event.phase == "step":
            stop.set()

    out = tmp_path / "o"
    with pytest.raises(JobCanceledError):
        ag.edit(
            [media["red"], media["red"]], small(), out_dir=out, on_progress=on_progress, cancel_event=stop
        )
    assert files_in(out) == []
    assert ag.history(kind="edit")[0].state == "canceled"
    result = ag.edit([media["red"], media["red"]], small(), out_dir=out)
    assert result.path.is_file() and not result.cached


def test_cli_edit_json_dry_run_and_presets(media: dict[str, Path], tmp_path: Path, capsys: Any) -> None:
    assert main(["presets", "--json"]) == 0
    names = {p["name"] for p in json.loads(capsys.readouterr().out)}
    assert {"linkedin-square", "linkedin-portrait", "youtube", "youtube-shorts", "reels"} <= names
    assert main(["edit", str(media["red"]), "--preset", "youtube", "--dry-run"]) == 0
    assert "1920x1080" in capsys.readouterr().out
    out = tmp_path / "o"
    args = ["edit", str(media["red"]), str(media["still"]), "--preset", "linkedin-portrait"]
    args += ["--logo", str(media["logo"]), "--title", "Hi", "--poster", "--out", str(out), "--json"]
    code = main(args)
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) >= {"job_id", "paths", "parents", "preset", "width", "height", "duration_s"}
    assert (data["preset"], data["width"], data["height"]) == ("linkedin-portrait", 1080, 1350)
    assert data["paths"][1].endswith(".jpg")
    assert main(["edit", str(tmp_path / "nope.mp4")]) == 2
    assert "no such file" in capsys.readouterr().err


class Invert(ag.Postprocessor):
    name = "invert"

    def validate(self, params: Any) -> None:
        if set(params) - {"amount"}:
            raise InvalidRequestError("invert takes only 'amount'")

    def process(self, frame: np.ndarray, t: float, params: Any) -> np.ndarray:
        return 255 - frame


class InvertPlugin:
    @ag.hookimpl
    def register_postprocessors(self, register: Any) -> None:
        register(Invert())


def test_plugin_postprocessor(media: dict[str, Path], tmp_path: Path) -> None:
    check_postprocessor(Invert())
    with pytest.raises(InvalidRequestError, match="no post-processor 'invert'"):
        Custom(name="invert")
    with registered(InvertPlugin()):
        with pytest.raises(InvalidRequestError, match="only 'amount'"):
            Custom(name="invert", params={"x": 1})
        result = ag.edit([media["red"]], small(ops=[Custom(name="invert")]), out_dir=tmp_path)
    with av.open(str(result.path)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    assert frame[..., 0].mean() < 80 and frame[..., 1].mean() > 200  # red (200,20,20) inverted


def test_result_edit_and_brand_kit(media: dict[str, Path], tmp_path: Path, home: Path) -> None:
    config = ag.config_path()
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[brands.acme]\nlogo = "{media["logo"]}"\noutro = "ACME"\n')
    base = ag.edit([media["red"]], small(), out_dir=tmp_path)
    branded = base.edit(small(), brand="acme", out_dir=tmp_path)
    assert base.job_id in branded.parents
    ops = [op.op for op in branded.request.recipe.operations]
    assert ops == ["reformat", "card", "logo"]
    with av.open(str(branded.path)) as c:
        assert c.duration / 1e6 == pytest.approx(4.0, abs=0.05)  # 2 s + a 2 s outro card
    with pytest.raises(InvalidRequestError, match="brand='nope'"):
        base.edit(brand="nope")
