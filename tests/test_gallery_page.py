"""``arthur-gen gallery --html``: what the page shows, how it links files, and the commands it gives."""

from __future__ import annotations

import html
import re
import shlex
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import pytest

import arthur_gen
from arthur_gen.cli import _main as _cli
from arthur_gen.gallery import load
from arthur_gen.gallery._data import generate_command
from arthur_gen.testing import FakeImageBackend, FakeVideoBackend, png_bytes, record_job


def _cards(page: str) -> list[str]:
    return re.findall(r'<article class="card" id="job-([0-9a-f]+)"', page)


def _card(page: str, job: str) -> str:
    start = page.index(f'id="job-{job}"')
    return page[start : page.index("</article>", start)]


def _links(page: str) -> list[str]:
    return [html.unescape(u) for u in re.findall(r'(?:src|href|poster)="([^"#][^"]*)"', page)]


def test_every_image_and_video_newest_first_with_lineage(
    image_backend: FakeImageBackend, video_backend: FakeVideoBackend, tmp_path: Path
) -> None:
    image = arthur_gen.generate_image("a lighthouse at dusk", seed=7, backend="fake-image")
    video = arthur_gen.generate_video("waves roll in", first_frame=image, backend="fake-video")
    again = arthur_gen.generate_image("a lighthouse at dusk", seed=7, backend="fake-image")  # cached
    publish = record_job(created_at=time.time(), kind="publish", backend="youtube", parents=[video.job_id])
    page = arthur_gen.write_gallery(tmp_path / "gallery.html").read_text()
    assert _cards(page) == [again.job_id, video.job_id, image.job_id]  # newest first; no publish card
    first = _card(page, image.job_id)
    for fact in ("fake-image", "fake-sketch", "<dd>7</dd>", "$0", "saved", "a lighthouse at dusk"):
        assert fact in first, fact
    assert f'href="#job-{video.job_id}"' in first  # its child, linked within the page
    clip = _card(page, video.job_id)
    assert f'href="#job-{image.job_id}"' in clip  # its parent
    assert f"{publish[-8:]} (publish · youtube · saved)" in clip  # a child not shown as a card
    assert "$0.5000" in clip or "$0.50" in clip
    assert 'data-kind="video"' in clip and "<video " in clip and 'preload="none"' in clip
    assert "$0 (from the cache)" in _card(page, again.job_id)
    assert f"arthur-gen rerun {image.job_id}" in first


def test_files_are_linked_by_relative_path_and_the_pair_of_folders_can_move(
    image_backend: FakeImageBackend, home: Path, tmp_path: Path
) -> None:
    arthur_gen.generate_image("one", seed=1, backend="fake-image")
    arthur_gen.generate_image("two", seed=2, backend="fake-image")
    page = arthur_gen.write_gallery(home / "site" / "deep" / "gallery.html")
    text = page.read_text()
    links = _links(text)
    assert len(links) == 8  # per image: the thumbnail and its link, the file link, the sidecar
    for link in links:
        assert not urlsplit(link).scheme and not link.startswith("/"), link
        target = Path(unquote(urlsplit(urljoin(page.as_uri(), link)).path))
        assert target.is_file(), link
    # Both folders moved together (a copy elsewhere): every link still finds its file.
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    shutil.copytree(home, moved)
    try:
        copy = moved / "site" / "deep" / "gallery.html"
        for link in links:
            assert Path(unquote(urlsplit(urljoin(copy.as_uri(), link)).path)).is_file()
    finally:
        shutil.rmtree(moved)


def test_the_page_is_one_self_contained_file_and_escapes_what_it_shows(home: Path, tmp_path: Path) -> None:
    record_job(created_at=time.time(), prompt='<script>alert("x")</script> & "quotes"', model="m<b>")
    page = arthur_gen.write_gallery(tmp_path / "g.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<script") == 1 and "<link" not in page and "@import" not in page
    assert not re.findall(r"https?://", page)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert "m&lt;b&gt;" in page and "m<b>" not in page


def test_an_edit_shows_its_poster_and_missing_files_are_said(out_dir: Path, tmp_path: Path) -> None:
    day = out_dir / "2026-12-01"
    day.mkdir(parents=True)
    (day / "cut.mp4").write_bytes(b"not really a video")
    (day / "poster.jpg").write_bytes(png_bytes(8, 8))
    (day / "clip.gif").write_bytes(b"GIF89a")
    now = time.time()
    edit = record_job(
        created_at=now - 3,
        kind="edit",
        backend="edit",
        model="pyav",
        prompt="linkedin-portrait cut",
        outputs=[
            {"path": str(day / "cut.mp4"), "media_type": "video/mp4", "index": 0},
            {"path": str(day / "poster.jpg"), "media_type": "image/jpeg", "index": 1},
            {"path": str(day / "clip.gif"), "media_type": "image/gif", "index": 2},
        ],
    )
    gone = record_job(
        created_at=now - 2,
        kind="image",
        outputs=[{"path": str(day / "deleted.png"), "media_type": "image/png", "index": 0}],
    )
    planned = record_job(created_at=now - 1, state="submitted", cost_usd=None, cost_source=None)
    failed = record_job(created_at=now, state="failed", error="the provider said no", cost_usd=None)
    page = arthur_gen.write_gallery(tmp_path / "g.html").read_text()
    cut = _card(page, edit)
    assert (
        'poster="data/outputs/2026-12-01/poster.jpg"' in cut
        and 'data-src="data/outputs/2026-12-01/cut.mp4"' in cut
    )
    assert ">gif</a>" in cut and ">poster</a>" in cut
    assert "arthur-gen rerun " + edit in cut
    assert "file missing" in _card(page, gone)
    assert "no file yet" in _card(page, planned) and "~$0.50 (estimate)" in _card(page, planned)
    assert "the provider said no" in _card(page, failed)


def test_an_empty_store_and_the_cli(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "empty.html"
    assert _cli.main(["gallery", "--html", str(target)]) == 0
    assert capsys.readouterr().out.strip() == f"Wrote the gallery (0 images, 0 videos) to {target}"
    assert "Nothing made yet" in target.read_text()
    record_job(created_at=time.time(), kind="image")
    record_job(created_at=time.time(), kind="edit", backend="edit", model="pyav")
    record_job(created_at=time.time())
    assert _cli.main(["gallery", "--html", str(target)]) == 0
    assert "(1 image, 2 videos)" in capsys.readouterr().out and "1 image, 2 videos" in target.read_text()
    assert _cli.main(["gallery", "--html", str(tmp_path)]) != 0  # a folder: a clear error, no traceback
    assert "is a folder; give the HTML file to write" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert _cli.main(["gallery", "--html", str(blocker / "sub" / "g.html")]) != 0
    assert f"{blocker} is a file, not a folder" in capsys.readouterr().err
    assert _cli.main(["gallery", "--html", str(target), "--port", "9000"]) != 0
    assert "--port and --open go with --serve" in capsys.readouterr().err


def _parse(command: str) -> Any:
    words = shlex.split(command)
    assert words[0] == "arthur-gen"
    return _cli.build_parser().parse_args(words[1:])


@pytest.mark.parametrize(
    ("kind", "request_fields"),
    [
        (
            "image",
            {
                "prompt": "a 'quoted' prompt; with $HOME and `ticks`",
                "negative_prompt": "blur",
                "width": 768,
                "height": 512,
                "seed": 42,
                "steps": 8,
                "guidance": 3.5,
                "strength": 0.6,
                "image": "/tmp/in put.png",
                "options": {"style": "flat", "flag": True, "n": 3, "looks_like_json": "true", "lst": [1, 2]},
            },
        ),
        (
            "video",
            {
                "prompt": "waves",
                "aspect_ratio": "9:16",
                "seed": 0,
                "duration": 6.0,
                "fps": 24,
                "resolution": "720p",
                "first_frame": "/tmp/a.png",
                "last_frame": "/tmp/b.png",
                "options": {"prompt_optimizer": False},
            },
        ),
    ],
)
def test_the_generate_command_asks_for_the_same_request(kind: str, request_fields: dict[str, Any]) -> None:
    command = generate_command(kind, "replicate", "some/model", {"kind": kind, **request_fields})
    assert command is not None
    args = _parse(command)
    assert (args.command, args.prompt, args.backend, args.model) == (
        kind, request_fields["prompt"], "replicate", "some/model",
    )  # fmt: skip
    assert args.seed == [request_fields["seed"]]
    assert _cli._parse_options(args.option) == request_fields["options"]
    if "width" in request_fields:
        assert _cli._size(args.size) == (request_fields["width"], request_fields["height"])
    for field in ("negative_prompt", "aspect_ratio", "steps", "guidance", "strength", "image", "duration",
                  "fps", "resolution", "first_frame", "last_frame"):  # fmt: skip
        if field in request_fields:
            assert getattr(args, field) == request_fields[field], field


def test_the_rerun_command_plans_the_same_request(image_backend: FakeImageBackend) -> None:
    image = arthur_gen.generate_image(
        "a fox", seed=5, steps=3, backend="fake-image", options={"style": "noisy"}
    )
    (entry,) = load().entries
    rerun, generate = entry.commands
    args = _parse(rerun)
    assert args.command == "rerun" and args.source == image.job_id
    from arthur_gen.jobs._rerun import plan_rerun

    assert plan_rerun(args.source).request == image.request
    parsed = _parse(generate)
    plan = arthur_gen.plan(
        "image",
        parsed.prompt,
        backend=parsed.backend,
        model=parsed.model,
        seed=parsed.seed[0],
        steps=parsed.steps,
        options=_cli._parse_options(parsed.option),
    )
    assert plan.request == image.request
