"""The result cache: what is in the key, when it answers, when it is bypassed, and its upkeep."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import arthur_gen
from arthur_gen._requests import ImageRequest, VideoRequest, request_from_dict
from arthur_gen.cli import _main as _cli
from arthur_gen.jobs._hashing import request_key
from arthur_gen.jobs._store import get_store
from arthur_gen.money._cache import blob_path
from arthur_gen.testing import (
    FakeImageBackend,
    FakePlugin,
    FakeProvider,
    FakeVideoBackend,
    png_bytes,
    registered,
)

# -- the key ------------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), min_size=1, max_size=40
).filter(lambda s: s.strip() != "")
_seeds = st.integers(min_value=0, max_value=2**63 - 1)
_option_values = st.one_of(st.booleans(), st.integers(-1000, 1000), st.text(max_size=8))
_options = st.dictionaries(st.sampled_from(["style", "fps", "loop", "quality"]), _option_values, max_size=4)
_models = st.sampled_from(["flux-schnell", "flux-dev", "minimax/video-01", "kling-v2"])


def _key(request: ImageRequest | VideoRequest, model: str, backend: str = "b") -> str:
    return request_key(request, backend=backend, model=model)


@settings(max_examples=150, deadline=None)
@given(prompt=_text, seed=_seeds, steps=st.none() | st.integers(1, 50), options=_options, model=_models)
def test_equal_requests_hash_equal(
    prompt: str, seed: int, steps: int | None, options: dict[str, Any], model: str
) -> None:
    a = ImageRequest(prompt=prompt, seed=seed, steps=steps, options=options)
    b = ImageRequest(prompt=prompt, seed=seed, steps=steps, options=dict(reversed(list(options.items()))))
    assert _key(a, model) == _key(b, model)
    assert _key(request_from_dict(json.loads(json.dumps(a.to_dict()))), model) == _key(a, model)


@settings(max_examples=150, deadline=None)
@given(
    prompt=_text,
    other_prompt=_text,
    seed=_seeds,
    other_seed=_seeds,
    options=_options,
    other_options=_options,
    model=_models,
    other_model=_models,
)
def test_any_change_that_matters_changes_the_key(
    prompt: str,
    other_prompt: str,
    seed: int,
    other_seed: int,
    options: dict[str, Any],
    other_options: dict[str, Any],
    model: str,
    other_model: str,
) -> None:
    base = VideoRequest(prompt=prompt, seed=seed, options=options)
    key = _key(base, model)
    if other_prompt != prompt:
        assert _key(base.with_changes(prompt=other_prompt), model) != key
    if other_seed != seed:
        assert _key(base.with_changes(seed=other_seed), model) != key
    if other_options != options:
        assert _key(base.with_changes(options=other_options), model) != key
    if other_model != model:
        assert _key(base, other_model) != key
    assert _key(base, model, backend="another-backend") != key
    assert _key(base.with_changes(seed=None), model) != key


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(min_size=1, max_size=256), other=st.binary(min_size=1, max_size=256), seed=_seeds)
def test_input_images_count_by_content_not_by_path(content: bytes, other: bytes, seed: int) -> None:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        first, same, different = Path(one, "in.png"), Path(two, "in.png"), Path(two, "other.png")
        first.write_bytes(content)
        same.write_bytes(content)
        different.write_bytes(other)
        key = _key(ImageRequest(prompt="p", seed=seed, image=str(first), strength=0.5), "m")
        assert _key(ImageRequest(prompt="p", seed=seed, image=str(same), strength=0.5), "m") == key
        changed = _key(ImageRequest(prompt="p", seed=seed, image=str(different), strength=0.5), "m")
        assert (changed == key) == (content == other)
        assume(content != other)
        video = VideoRequest(prompt="p", seed=seed, first_frame=str(first))
        assert _key(video, "m") != _key(video.with_changes(first_frame=str(different)), "m")


# -- the cache in use -----------------------------------------------------------------------


@pytest.fixture
def fakes(home: Path, tmp_path: Path) -> Iterator[SimpleNamespace]:
    provider = FakeProvider(tmp_path / "provider", latency_s=0.0)
    ns = SimpleNamespace(
        provider=provider, video=FakeVideoBackend(provider, seeded=True), image=FakeImageBackend()
    )
    with registered(FakePlugin(ns.video, ns.image)):
        yield ns


def _cli_run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = _cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_seeded_repeat_is_answered_from_the_cache_at_no_cost(
    fakes: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = arthur_gen.generate_video("waves", seed=7)
    monkeypatch.setenv("ARTHUR_GEN_BUDGET_PER_DAY", "0.5")  # all spent: only the cache can answer
    second = arthur_gen.generate_video("waves", seed=7, out_dir=fakes.provider.root / "elsewhere")
    assert fakes.provider.submits == 1
    assert second.cached and second.cost_usd == 0 and second.cost_source == "cache"
    assert second.path != first.path and second.path.read_bytes() == first.path.read_bytes()
    row = arthur_gen.get_job(second.job_id)
    assert row.cached_from == first.job_id and row.saved_usd == 0.5 and row.cost_source == "cache"
    assert json.loads(second.sidecars[0].read_text())["cost_source"] == "cache"
    assert arthur_gen.cost_report()["totals"]["cache_saved_usd"] == 0.5
    with pytest.raises(arthur_gen.BudgetExceededError):
        arthur_gen.generate_video("waves", seed=8)  # another seed is another request
    monkeypatch.delenv("ARTHUR_GEN_BUDGET_PER_DAY")
    arthur_gen.generate_video("waves")
    arthur_gen.generate_video("waves")  # without an explicit seed: never cached
    assert fakes.provider.submits == 3


def test_cache_false_and_no_cache_bypass_it(
    fakes: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    arthur_gen.generate_video("rain", seed=1)
    again = arthur_gen.generate_video("rain", seed=1, cache=False)
    assert not again.cached and again.cost_usd == 0.5 and fakes.provider.submits == 2
    code, out, _ = _cli_run(capsys, "video", "rain", "--seed", "1", "--no-cache", "--json")
    assert code == 0 and json.loads(out)["cached"] is False and fakes.provider.submits == 3
    code, out, _ = _cli_run(capsys, "video", "rain", "--seed", "1", "--json")
    assert code == 0 and json.loads(out)["cached"] is True and fakes.provider.submits == 3


def _blob_of(result: arthur_gen.GeneratedVideo) -> Path:
    (output,) = arthur_gen.get_job(result.job_id).outputs
    return blob_path(output["sha256"])


def test_a_deleted_blob_is_not_served(fakes: SimpleNamespace) -> None:
    first = arthur_gen.generate_video("snow", seed=3)
    _blob_of(first).unlink()
    again = arthur_gen.generate_video("snow", seed=3)
    assert not again.cached and fakes.provider.submits == 2
    assert _blob_of(again).exists()
    assert arthur_gen.generate_video("snow", seed=3).cached and fakes.provider.submits == 2


def test_a_changed_blob_is_not_served_and_is_replaced(fakes: SimpleNamespace) -> None:
    first = arthur_gen.generate_video("fog", seed=4)
    good = first.path.read_bytes()
    blob = _blob_of(first)
    blob.write_bytes(b"X" * len(good))  # same size, other content
    again = arthur_gen.generate_video("fog", seed=4)
    assert not again.cached and fakes.provider.submits == 2
    assert again.path.read_bytes() == good
    assert blob.read_bytes() == good  # the bad copy was replaced by the fresh result
    third = arthur_gen.generate_video("fog", seed=4)
    assert third.cached and third.path.read_bytes() == good and fakes.provider.submits == 2


def test_image_inputs_are_part_of_the_key_by_content(fakes: SimpleNamespace, tmp_path: Path) -> None:
    init = tmp_path / "init.png"
    init.write_bytes(png_bytes(32, 32, seed=1))
    arthur_gen.generate_video("pan", seed=5, first_frame=init)
    assert arthur_gen.generate_video("pan", seed=5, first_frame=init).cached
    init.write_bytes(png_bytes(32, 32, seed=2))
    os.utime(init, (time.time() + 5, time.time() + 5))
    assert not arthur_gen.generate_video("pan", seed=5, first_frame=init).cached
    assert fakes.provider.submits == 2


def test_cache_info_and_prune(fakes: SimpleNamespace, capsys: pytest.CaptureFixture[str]) -> None:
    info = arthur_gen.cache_info()
    assert (info.entries, info.bytes, info.hits, info.saved_usd) == (0, 0, 0, 0)
    results = [arthur_gen.generate_video(f"clip {i}", seed=i) for i in range(4)]
    arthur_gen.generate_video("clip 0", seed=0)
    arthur_gen.generate_video("clip 1", seed=1)
    arthur_gen.generate_image("a free one", seed=9)
    info = arthur_gen.cache_info()
    sizes = {_blob_of(r): _blob_of(r).stat().st_size for r in results}
    assert info.entries == 5 and info.hits == 2 and info.saved_usd == 1.0
    assert (
        info.bytes
        == sum(sizes.values())
        + blob_path(arthur_gen.history(backend="fake-image")[0].outputs[0]["sha256"]).stat().st_size
    )

    code, out, _ = _cli_run(capsys, "cache", "info")
    assert code == 0 and "entries: 5" in out and "hits: 2" in out and "saved: $1.00" in out
    code, out, _ = _cli_run(capsys, "cache", "--json")
    assert json.loads(out)["entries"] == 5

    code, _, err = _cli_run(capsys, "cache", "prune")
    assert code == 2 and "--older-than DAYS, --max-bytes N, --all" in err

    # age: the last use of each blob is the newest job that made or used it
    old = time.time() - 30 * 86400
    store = get_store()
    with store.transaction() as db:
        db.execute(
            "UPDATE jobs SET created_at = ? WHERE prompt IN ('clip 2', 'clip 3')",
            (old,),
        )
    for r in results[2:]:
        os.utime(_blob_of(r), (old, old))
    assert arthur_gen.prune_cache(older_than_days=10).removed == 2
    assert not _blob_of(results[2]).exists() and _blob_of(results[0]).exists()

    # size: least recently used first
    with store.transaction() as db:
        db.execute("UPDATE jobs SET created_at = ? WHERE prompt = 'clip 1'", (old,))
    for r in results[:2]:
        os.utime(_blob_of(r), (old, old))
    largest = max(sizes.values())
    pruned = arthur_gen.prune_cache(max_bytes=arthur_gen.cache_info().bytes - 1)
    assert pruned.removed == 1 and not _blob_of(results[1]).exists() and _blob_of(results[0]).exists()
    assert pruned.entries == 2 and pruned.bytes <= arthur_gen.cache_info().bytes + largest

    code, out, _ = _cli_run(capsys, "cache", "prune", "--all", "--json")
    assert json.loads(out)["removed"] == 2 and arthur_gen.cache_info().entries == 0
    # a pruned request just runs (and is paid for) again
    assert not arthur_gen.generate_video("clip 0", seed=0).cached
    code, out, _ = _cli_run(capsys, "cache", "prune", "--max-bytes", "1K")
    assert code == 0 and "Removed 0 cached output(s)" in out
    code, _, err = _cli_run(capsys, "cache", "prune", "--max-bytes", "lots")
    assert code == 2 and "500M" in err
