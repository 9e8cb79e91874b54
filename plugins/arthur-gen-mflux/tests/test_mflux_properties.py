"""Properties of request planning (hypothesis): sizes, strengths and LoRA scales."""

from __future__ import annotations

import math

import pytest
from arthur_gen_mflux._backend import plan_request
from arthur_gen_mflux._catalog import (
    ASPECT_RATIOS,
    CATALOG,
    MAX_SIZE,
    MIN_SIZE,
    SIZE_MULTIPLE,
    Entry,
)
from hypothesis import given
from hypothesis import strategies as st

from arthur_gen._requests import ImageRequest
from arthur_gen.errors import InvalidRequestError

entries = st.sampled_from(CATALOG)
sides = st.integers(MIN_SIZE // SIZE_MULTIPLE, MAX_SIZE // SIZE_MULTIPLE).map(lambda n: n * SIZE_MULTIPLE)


@given(entry=entries, width=sides, height=sides, seed=st.integers(0, 2**63 - 1))
def test_valid_sizes_pass_through_unchanged(entry: Entry, width: int, height: int, seed: int) -> None:
    kwargs = plan_request(
        entry, ImageRequest(prompt="p", width=width, height=height, seed=seed)
    ).generate_kwargs
    assert (kwargs["width"], kwargs["height"], kwargs["seed"]) == (width, height, seed)


@given(entry=entries, aspect=st.sampled_from(ASPECT_RATIOS))
def test_aspect_ratios_give_valid_sizes(entry: Entry, aspect: str) -> None:
    kwargs = plan_request(entry, ImageRequest(prompt="p", aspect_ratio=aspect)).generate_kwargs
    w, h = kwargs["width"], kwargs["height"]
    assert w % SIZE_MULTIPLE == 0 and h % SIZE_MULTIPLE == 0
    assert MIN_SIZE <= w <= MAX_SIZE and MIN_SIZE <= h <= MAX_SIZE
    a, b = (int(x) for x in aspect.split(":"))
    assert math.isclose(w / h, a / b, rel_tol=0.05)


@given(
    entry=entries,
    strength=st.floats(0.0, 1.0, allow_nan=False),
    steps=st.integers(1, 50),
)
def test_strength_either_runs_a_step_or_is_rejected(
    tmp_path_factory: pytest.TempPathFactory, entry: Entry, strength: float, steps: int
) -> None:
    from arthur_gen_mflux.testing import tiny_png

    image = tmp_path_factory.mktemp("img") / "in.png"
    image.write_bytes(tiny_png(32, 32))
    request = ImageRequest(prompt="p", image=str(image), strength=strength, steps=steps, seed=1)
    try:
        kwargs = plan_request(entry, request).generate_kwargs
    except InvalidRequestError as exc:
        assert exc.field == "strength"
        return
    keep = kwargs["image_strength"]
    assert math.isclose(keep, 1 - strength, abs_tol=1e-6)
    # mflux's Config.init_time_step: the loop runs range(start, steps)
    start = max(1, int(steps * keep)) if keep > 0 else 0
    assert steps - start >= 1


@given(scales=st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3))
def test_lora_scales_are_bounded_and_finite(
    tmp_path_factory: pytest.TempPathFactory, scales: list[float]
) -> None:
    folder = tmp_path_factory.mktemp("lora")
    paths = []
    for i in range(len(scales)):
        path = folder / f"l{i}.safetensors"
        path.write_bytes(b"x")
        paths.append(str(path))
    request = ImageRequest(prompt="p", options={"lora_paths": paths, "lora_scales": scales})
    ok = all(math.isfinite(s) and abs(s) <= 10 for s in scales)
    try:
        plan = plan_request(CATALOG[0], request)
    except InvalidRequestError as exc:
        assert not ok and exc.field == "options.lora_scales"
    else:
        assert ok and plan.key.lora_scales == tuple(float(s) for s in scales)
