"""Outputs: atomic, never overwritten, with sidecars, embedded PNG metadata and lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import arthur_gen
from arthur_gen._requests import request_from_dict
from arthur_gen.jobs._atomic import atomic_write_bytes, publish_new, temp_path_beside
from arthur_gen.jobs._outputs import output_target, place_output, sidecar_path
from arthur_gen.jobs._pngmeta import embed_png_metadata, read_png_metadata
from arthur_gen.testing import FakeImageBackend, FakeProvider, FakeVideoBackend, png_bytes


def _tmp_with(folder: Path, data: bytes) -> Path:
    tmp = temp_path_beside(folder / "x")
    tmp.write_bytes(data)
    return tmp


def test_publish_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / "day" / "same-name.png"
    first = publish_new(_tmp_with(target.parent, b"one"), target)
    second = publish_new(_tmp_with(target.parent, b"two"), target)
    third = publish_new(_tmp_with(target.parent, b"three"), target)
    assert first == target
    assert second.name == "same-name-2.png" and third.name == "same-name-3.png"
    assert [p.read_bytes() for p in (first, second, third)] == [b"one", b"two", b"three"]
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "same-name-2.png",
        "same-name-3.png",
        "same-name.png",
    ]  # no temporary files left behind


def test_place_output_twice_gives_two_files_and_two_sidecars(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    paths = [
        place_output(_tmp_with(tmp_path, png_bytes(4, 4, n)), target, {"job_id": f"j{n}"}) for n in (1, 2)
    ]
    assert paths[0] != paths[1]
    for n, path in enumerate(paths, start=1):
        sidecar = json.loads(sidecar_path(path).read_text())
        assert sidecar == {"job_id": f"j{n}", "path": str(path)}
        assert read_png_metadata(path) == {"job_id": f"j{n}"}


def test_atomic_write_replaces_whole_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "config.toml"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_output_names_are_predictable(tmp_path: Path) -> None:
    path = output_target(
        tmp_path,
        prompt="A Lighthouse, at dusk!",
        model="black-forest-labs/flux-schnell",
        seed=7,
        job_id="0123456789abcdef",
        index=1,
        ext=".png",
    )
    day, name = path.parent.name, path.name
    assert len(day) == 10 and day[4] == "-"
    assert name.endswith("_a-lighthouse-at-dusk_flux-schnell_s7_89abcdef_2.png")


json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**53), 2**53), st.floats(allow_nan=False), st.text()
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(metadata=st.dictionaries(st.text(max_size=10), json_values, max_size=5), seed=st.integers(0, 255))
def test_png_metadata_round_trips(tmp_path_factory: Any, metadata: dict[str, Any], seed: int) -> None:
    path = tmp_path_factory.mktemp("png") / "a.png"
    path.write_bytes(png_bytes(3, 2, seed))
    embed_png_metadata(path, metadata)
    embed_png_metadata(path, metadata)  # embedding again replaces, never duplicates
    assert read_png_metadata(path) == json.loads(json.dumps(metadata))
    assert path.read_bytes().count(b"iTXtarthur-gen") == 1


def test_png_without_metadata_reads_none(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    path.write_bytes(png_bytes(2, 2))
    assert read_png_metadata(path) is None


def test_image_sidecar_png_metadata_and_lineage(image_backend: FakeImageBackend, out_dir: Path) -> None:
    first = arthur_gen.generate_image("a red fox", seed=11, width=32, height=48)
    assert first.path.is_relative_to(out_dir)
    sidecar = json.loads(first.sidecars[0].read_text())
    for key in ("request", "backend", "model", "seed", "cost_usd", "job_id", "parents", "timings"):
        assert key in sidecar
    assert sidecar["backend"] == "fake-image" and sidecar["model"] == "fake-sketch"
    assert sidecar["seed"] == 11 and sidecar["cost_usd"] == 0.0 and sidecar["job_id"] == first.job_id
    assert sidecar["parents"] == [] and sidecar["path"] == str(first.path)
    embedded = read_png_metadata(first.path)
    assert embedded is not None and embedded["request"] == sidecar["request"]
    assert request_from_dict(embedded["request"]) == first.request

    second = arthur_gen.generate_image("the fox, sketched", image=first, strength=0.5, seed=12)
    assert second.parents == (first.job_id,)
    assert json.loads(second.sidecars[0].read_text())["parents"] == [first.job_id]

    # lineage also from a plain path to an earlier output (by content digest)
    third = arthur_gen.generate_image("fox again", image=str(first.path), strength=0.3, seed=13)
    assert third.parents == (first.job_id,)


def test_random_seed_is_recorded(image_backend: FakeImageBackend) -> None:
    result = arthur_gen.generate_image("no seed given")
    assert isinstance(result.seed, int)
    assert result.request.seed == result.seed  # the request as run, so it can be repeated
    sidecar = json.loads(result.sidecars[0].read_text())
    assert sidecar["seed"] == result.seed and sidecar["request"]["seed"] == result.seed


def test_seeded_request_is_answered_from_the_cache(image_backend: FakeImageBackend, tmp_path: Path) -> None:
    first = arthur_gen.generate_image("cache me", seed=5)
    again = arthur_gen.generate_image("cache me", seed=5, out_dir=tmp_path / "elsewhere")
    assert len(image_backend.calls) == 1
    assert again.cached and again.cost_usd == 0.0 and again.job_id != first.job_id
    assert again.path != first.path and _pixels(again.path) == _pixels(first.path)
    embedded = read_png_metadata(again.path)
    assert embedded is not None and embedded["job_id"] == again.job_id
    assert embedded["backend_metadata"] == {"cached_from": first.job_id}
    fresh = arthur_gen.generate_image("cache me", seed=5, cache=False)
    assert len(image_backend.calls) == 2 and not fresh.cached


def _pixels(path: Path) -> list[tuple[bytes, bytes]]:
    from arthur_gen.jobs._pngmeta import _chunks

    return [c for c in _chunks(path.read_bytes()) if c[0] != b"iTXt"]


def test_out_dir_per_call_and_from_config(image_backend: FakeImageBackend, tmp_path: Path) -> None:
    per_call = arthur_gen.generate_image("here", seed=1, out_dir=tmp_path / "mine")
    assert per_call.path.is_relative_to(tmp_path / "mine")
    arthur_gen._config.set_config_value("output_dir", str(tmp_path / "configured"))
    configured = arthur_gen.generate_image("there", seed=2)
    assert configured.path.is_relative_to(tmp_path / "configured")


def test_repr_html_of_image_and_video(
    image_backend: FakeImageBackend, video_backend: FakeVideoBackend, provider: FakeProvider
) -> None:
    image = arthur_gen.generate_image("a tiny square", seed=3)
    html = image._repr_html_()
    assert "<img" in html and "data:image/png;base64," in html
    assert "fake-sketch" in html and "seed 3" in html and "$0.0000" in html
    assert image.job_id in html

    video = arthur_gen.generate_video("a tiny clip", first_frame=image)
    html = video._repr_html_()
    assert "<video" in html and "fake-clip" in html and "$0.5000" in html
    assert "no seed" in html
    assert video.parents == (image.job_id,)


def test_result_of_and_get_job(image_backend: FakeImageBackend) -> None:
    result = arthur_gen.generate_image("look me up", seed=4)
    again = arthur_gen.result_of(result.job_id[:12])
    assert again.paths == result.paths and again.request == result.request
    row = arthur_gen.get_job(result.job_id)
    assert row.state == "saved" and row.outputs[0]["path"] == str(result.path)
    assert row.outputs[0]["sha256"] and row.outputs[0]["size"] == result.path.stat().st_size
