"""Re-run: rebuild a request from a job id, a sidecar or a PNG's embedded metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

import arthur_gen
from arthur_gen import InvalidRequestError, JobNotFoundError, Kind
from arthur_gen.cli import _main as _cli
from arthur_gen.jobs._pngmeta import read_png_metadata
from arthur_gen.testing import (
    FakeImageBackend,
    FakePlugin,
    FakeProvider,
    FakeVideoBackend,
    png_bytes,
    registered,
)


@pytest.fixture
def fakes(home: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    provider = FakeProvider(tmp_path / "provider", latency_s=0.0)
    ns = SimpleNamespace(
        provider=provider,
        image=FakeImageBackend(),
        other=FakeImageBackend(backend_id="other-image"),
        video=FakeVideoBackend(provider, seeded=True),
    )
    arthur_gen._config.set_config_value("defaults.image_backend", "fake-image")
    with registered(FakePlugin(ns.image, ns.other, ns.video)):
        yield ns


def _cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_rerun_from_png_metadata_sidecar_and_job_id_gives_an_equal_request(fakes: SimpleNamespace) -> None:
    image = arthur_gen.generate_image(
        "a lighthouse at dusk", seed=11, steps=6, width=96, height=64, options={"style": "noisy"}
    )
    expected = (Kind.IMAGE, "fake-image", "fake-sketch", image.request)
    assert image.request.seed == 11 and image.request.options == {"style": "noisy"}
    sidecar = image.sidecars[0]
    assert arthur_gen.request_from(sidecar) == expected
    assert arthur_gen.request_from(str(sidecar)) == expected
    assert arthur_gen.request_from(image.job_id) == expected
    assert arthur_gen.request_from(image.job_id[:-3]) == expected  # an abbreviated id
    assert arthur_gen.request_from(image) == expected
    assert arthur_gen.request_from(arthur_gen.get_job(image.job_id)) == expected
    sidecar.unlink()  # from here on only the PNG itself carries the request
    assert read_png_metadata(image.path) is not None
    assert arthur_gen.request_from(image.path) == expected
    assert arthur_gen.request_from(str(image.path)) == expected


def test_an_unseeded_generation_reruns_with_the_seed_it_used(fakes: SimpleNamespace) -> None:
    image = arthur_gen.generate_image("no seed given")
    _, _, _, request = arthur_gen.request_from(image.path)
    assert request.seed is not None and request.seed == image.seed
    again = arthur_gen.rerun(image.path, cache=False)
    assert again.seed == image.seed and again.request == image.request
    assert len(fakes.image.calls) == 2 and fakes.image.calls[0] == fakes.image.calls[1]


def test_rerun_runs_with_overrides(fakes: SimpleNamespace, tmp_path: Path) -> None:
    image = arthur_gen.generate_image("a red barn", seed=3, steps=4)
    same = arthur_gen.rerun(image.path)
    assert same.cached and same.request == image.request  # same seed and model: the cache answers
    fresh = arthur_gen.rerun(image.path, cache=False, out_dir=tmp_path / "again")
    assert not fresh.cached and fresh.path.parent.parent == tmp_path / "again"
    reseeded = arthur_gen.rerun(image.job_id, seed=4)
    assert reseeded.seed == 4 and reseeded.request == image.request.with_changes(seed=4)
    reprompted = arthur_gen.rerun(image.sidecars[0], prompt="a blue barn", steps=8)
    assert reprompted.request.prompt == "a blue barn" and reprompted.request.steps == 8
    assert reprompted.request.seed == 3
    by_alias = arthur_gen.rerun(image.job_id, model="sketch", seed=5)
    assert by_alias.model == "fake-sketch"
    moved = arthur_gen.rerun(image.job_id, backend="other-image")
    assert moved.backend == "other-image" and moved.model == "fake-sketch"
    assert len(fakes.other.calls) == 1
    with pytest.raises(InvalidRequestError, match="no_such_field"):
        arthur_gen.rerun(image.job_id, no_such_field=1)
    with pytest.raises(InvalidRequestError, match="steps=5000"):
        arthur_gen.rerun(image.job_id, steps=5000)


def test_rerun_of_a_video_from_its_sidecar(fakes: SimpleNamespace) -> None:
    video = arthur_gen.generate_video("surf", seed=9, duration=3.0)
    expected = (Kind.VIDEO, "fake-video", "fake-clip", video.request)
    assert arthur_gen.request_from(video.path) == expected  # an .mp4: the sidecar beside it
    assert arthur_gen.request_from(video.sidecars[0]) == expected
    assert arthur_gen.rerun(video.path).cached and fakes.provider.submits == 1
    assert not arthur_gen.rerun(video.path, seed=10).cached and fakes.provider.submits == 2


def test_rerun_errors_say_what_is_wrong(fakes: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(JobNotFoundError, match="no such file"):
        arthur_gen.request_from(tmp_path / "missing.png")
    with pytest.raises(JobNotFoundError, match="no such file"):
        arthur_gen.request_from("./missing.png")
    with pytest.raises(JobNotFoundError, match="no job 'deadbeef'"):
        arthur_gen.request_from("deadbeef")
    bare = tmp_path / "bare.png"
    bare.write_bytes(png_bytes(16, 16))
    with pytest.raises(JobNotFoundError, match="no arthur-gen metadata embedded, and no sidecar"):
        arthur_gen.request_from(bare)
    junk = tmp_path / "junk.json"
    junk.write_text('{"hello": 1}')
    with pytest.raises(JobNotFoundError, match="holds no arthur-gen request"):
        arthur_gen.request_from(junk)
    init = tmp_path / "init.png"
    init.write_bytes(png_bytes(32, 32, seed=4))
    derived = arthur_gen.generate_image("from an init image", seed=1, image=init, strength=0.5)
    init.unlink()
    with pytest.raises(InvalidRequestError, match=r"cannot rebuild the request .* no such file"):
        arthur_gen.request_from(derived.path)


def test_rerun_cli(fakes: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    image = arthur_gen.generate_image("a windmill", seed=21)
    code, out, _ = _cli_run(capsys, "rerun", str(image.path), "--dry-run", "--json")
    plan = json.loads(out)
    assert code == 0 and plan["request"] == image.request.to_dict() and plan["cacheable"] is True
    code, out, _ = _cli_run(capsys, "rerun", image.job_id, "--dry-run")
    assert code == 0 and "estimate: free" in out and "nothing was sent" in out
    code, out, _ = _cli_run(capsys, "rerun", image.job_id, "--json")
    assert code == 0 and json.loads(out)["cached"] is True
    code, out, _ = _cli_run(capsys, "rerun", image.job_id, "--seed", "22", "--prompt", "a mill", "--json")
    data = json.loads(out)
    assert data["seed"] == 22 and data["request"]["prompt"] == "a mill" and data["cached"] is False
    code, out, _ = _cli_run(capsys, "rerun", str(image.sidecars[0]), "-o", "style=noisy", "--no-cache")
    assert code == 0 and Path(out.strip()).is_file()
    assert fakes.image.calls[-1].options == {"style": "noisy"}
    code, _, err = _cli_run(capsys, "rerun", "nope-no-job")
    assert code == 1 and "no job 'nope-no-job'" in err

    video = arthur_gen.generate_video("surf", seed=2)
    code, out, _ = _cli_run(capsys, "rerun", video.job_id, "--seed", "3", "--dry-run")
    assert code == 0 and "$0.5000" in out and '"seed": 3' in out
