"""Notebook display that travels: absolute paths, large videos linked (not embedded) by a path
relative to the notebook, and a saved notebook that stays small."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import pytest

import arthur_gen
from arthur_gen.jobs._results import INLINE_VIDEO_BYTES, GeneratedVideo, linked_src, notebook_dir
from arthur_gen.testing import FakeImageBackend, FakeProvider, FakeVideoBackend


def _src(html: str) -> str:
    return html.split('src="', 1)[1].split('"', 1)[0]


def test_a_relative_output_folder_is_recorded_absolute(
    image_backend: FakeImageBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made_in, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    made_in.mkdir()
    elsewhere.mkdir()
    monkeypatch.chdir(made_in)
    result = arthur_gen.generate_image("a fox", seed=1, out_dir="out")
    assert result.path.is_absolute() and result.path.is_relative_to(made_in / "out")
    assert json.loads(result.sidecars[0].read_text())["path"] == str(result.path)
    monkeypatch.chdir(elsewhere)
    again = arthur_gen.result_of(result.job_id)
    assert again.path == result.path and again.path.is_file()
    html = again._repr_html_()
    assert "data:image/png;base64," in html and "missing" not in html
    assert arthur_gen.get_job(result.job_id).out_dir == str(made_in / "out")


def test_a_relative_config_output_folder_is_recorded_absolute(
    image_backend: FakeImageBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ARTHUR_GEN_OUTPUT_DIR", "renders")
    result = arthur_gen.generate_image("a fox", seed=2)
    assert result.path.is_absolute() and result.path.is_relative_to(tmp_path / "renders")


def _big_video(tmp_path: Path, provider: FakeProvider, size: int) -> GeneratedVideo:
    result = arthur_gen.generate_video("waves", backend="fake-video")
    with result.path.open("ab") as fh:  # as large as a 6 s MiniMax clip
        fh.write(os.urandom(size))
    return result


def test_a_large_video_is_linked_not_embedded(
    video_backend: FakeVideoBackend, provider: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = _big_video(tmp_path, provider, 1_500_000)
    notebooks = tmp_path / "notebooks" / "drafts"
    notebooks.mkdir(parents=True)
    monkeypatch.chdir(notebooks)
    bundle = video._repr_mimebundle_()
    size = len(json.dumps(bundle))
    assert size < 4000, size  # what the saved notebook keeps (today it was 2 MB of base64)
    html = bundle["text/html"]
    assert "base64" not in html and "file://" not in html and "<video" in html
    src = _src(html)
    assert not src.startswith("/")  # relative: Jupyter serves it from the notebook's folder
    assert (notebooks / urllib.parse.unquote(src)).resolve() == video.path.resolve()
    assert str(video.path) in html and "1.4 MB, linked" in html  # for a viewer without the file
    assert video.caption() in bundle["text/plain"] and str(video.path) in bundle["text/plain"]


def test_links_are_relative_to_the_notebook_jupyter_names(
    video_backend: FakeVideoBackend, provider: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = _big_video(tmp_path, provider, INLINE_VIDEO_BYTES + 1)
    book = tmp_path / "books" / "demo.ipynb"
    book.parent.mkdir()
    monkeypatch.setenv("JPY_SESSION_NAME", str(book))  # the kernel may run elsewhere
    monkeypatch.chdir(tmp_path)
    assert notebook_dir() == book.parent
    src = _src(video._repr_html_())
    assert src == linked_src(video.path, book.parent)
    assert (book.parent / urllib.parse.unquote(src)).resolve() == video.path.resolve()


def test_a_small_video_still_plays_anywhere(video_backend: FakeVideoBackend) -> None:
    video = arthur_gen.generate_video("waves", backend="fake-video")
    assert video.path.stat().st_size <= INLINE_VIDEO_BYTES
    assert _src(video._repr_html_()).startswith("data:video/mp4;base64,")


def test_a_missing_file_says_so(video_backend: FakeVideoBackend) -> None:
    video = arthur_gen.generate_video("waves", backend="fake-video")
    video.path.unlink()
    html = video._repr_html_()
    assert "missing" in html and str(video.path) in html


def test_media_src_embeds_small_files_and_links_large_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen.jobs._results import INLINE_IMAGE_BYTES, media_src

    monkeypatch.chdir(tmp_path)
    small, large, clip = tmp_path / "a.png", tmp_path / "sub" / "b.png", tmp_path / "c d.mp4"
    large.parent.mkdir()
    small.write_bytes(b"\x89PNG" + b"0" * 100)
    large.write_bytes(b"\x89PNG" + b"0" * (INLINE_IMAGE_BYTES + 1))
    clip.write_bytes(b"0" * (INLINE_VIDEO_BYTES + 1))
    assert media_src(small).startswith("data:image/png;base64,")
    assert media_src(large) == "sub/b.png" and media_src(clip) == "c%20d.mp4"
    assert media_src(small, limit=10) == "a.png"  # a storyboard's thumbnails: a lower limit
