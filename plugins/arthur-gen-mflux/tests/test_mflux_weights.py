"""Real generations with real weights. Deselected by default (``-m 'not weights'``).

Run on an Apple Silicon Mac that has the weights in its Hugging Face cache::

    hf download black-forest-labs/FLUX.1-schnell --revision 741f7c3ce8b383c54771c7003378a50191e9efe9
    pytest -m weights plugins/arthur-gen-mflux

Each test skips (never fails) when mflux or the model's weights are missing. These tests use
the real Hugging Face cache, not the isolated one the other tests get.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._catalog import entry_for, model_info

from arthur_gen._backends import LocalContext
from arthur_gen._requests import ImageRequest

pytestmark = pytest.mark.weights

MODELS = [m.strip() for m in os.environ.get("ARTHUR_GEN_MFLUX_TEST_MODELS", "schnell").split(",")]


# read at import, before conftest's autouse fixture points HF_HUB_CACHE at an empty folder
_REAL_HUB_CACHE = os.environ.get("HF_HUB_CACHE")


@pytest.fixture(autouse=True)
def _real_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read the user's real Hugging Face cache (and never download)."""
    if _REAL_HUB_CACHE is None:
        monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    else:
        monkeypatch.setenv("HF_HUB_CACHE", _REAL_HUB_CACHE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def backend() -> MfluxBackend:
    pytest.importorskip("mflux")
    b = MfluxBackend()
    if not b.availability().ok:
        pytest.skip(b.availability().describe())
    return b


@pytest.mark.parametrize("model_id", MODELS)
def test_generates_a_png_and_stays_warm(backend: MfluxBackend, model_id: str, tmp_path: Path) -> None:
    entry = entry_for(model_id)
    assert entry is not None, model_id
    info = model_info(entry)
    availability = backend.model_availability(info)
    if not availability.ok:
        pytest.skip(availability.describe())
    seen: list[tuple[int, int]] = []
    request = ImageRequest(
        prompt="a small red lighthouse", seed=1, width=256, height=256, options={"quantize": 8}
    )
    backend.validate(request, info)
    started = time.perf_counter()
    (first,) = backend.generate(
        request,
        info,
        LocalContext(job_id="w1", workdir=tmp_path / "1", on_step=lambda s, t: seen.append((s, t))),
    )
    cold = time.perf_counter() - started
    assert first.path.read_bytes().startswith(b"\x89PNG")
    assert seen[-1] == (entry.default_steps, entry.default_steps)
    started = time.perf_counter()
    (second,) = backend.generate(request, info, LocalContext(job_id="w2", workdir=tmp_path / "2"))
    warm = time.perf_counter() - started
    assert second.metadata["warm"] is True
    assert warm < cold
    # same seed, same settings: the same picture
    from PIL import Image, ImageChops

    with Image.open(first.path) as a, Image.open(second.path) as b:
        assert ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox() is None
    backend.release()
    assert backend.warm_models() == []
