"""The backend through arthur-gen's public API, with the fake model at the seam."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux.testing import FakeLoader, fake_weights

import arthur_gen
from arthur_gen.testing import BackendConformance, FakePlugin, registered


@pytest.fixture
def plugged(backend: MfluxBackend) -> Iterator[MfluxBackend]:
    with registered(FakePlugin(backend)):
        yield backend


def test_generate_image_end_to_end(
    plugged: MfluxBackend, loader: FakeLoader, weights: Path, tmp_path: Path
) -> None:
    events: list[Any] = []
    result = arthur_gen.generate_image(
        "a lighthouse at dawn",
        backend="mflux",
        model="flux-schnell",
        seed=5,
        width=512,
        height=512,
        options={"quantize": 8},
        out_dir=tmp_path / "out",
        on_progress=events.append,
    )
    assert result.path.is_file() and result.path.read_bytes().startswith(b"\x89PNG")
    assert (result.backend, result.model, result.seed) == ("mflux", "schnell", 5)
    assert result.cost_usd == 0.0
    sidecar = json.loads(result.sidecars[0].read_text())
    assert "mflux_config" in json.dumps(sidecar)
    steps = [(e.step, e.total) for e in events if e.phase == "step"]
    assert steps == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]
    assert loader.calls[0]["num_inference_steps"] == 4
    assert loader.loads[0].quantize == 8


def test_a_seed_series_loads_once(
    plugged: MfluxBackend, loader: FakeLoader, weights: Path, tmp_path: Path
) -> None:
    results = [
        arthur_gen.generate_image(
            "a red fox", backend="mflux", seed=seed, width=256, height=256, out_dir=tmp_path
        )
        for seed in range(10)
    ]
    assert len({r.path for r in results}) == 10
    assert len(loader.loads) == 1
    assert [c["seed"] for c in loader.calls] == list(range(10))


def test_bad_request_fails_before_any_job(plugged: MfluxBackend, loader: FakeLoader) -> None:
    with pytest.raises(arthur_gen.InvalidRequestError, match="negative_prompt"):
        arthur_gen.generate_image("x", backend="mflux", model="schnell", negative_prompt="blur")
    with pytest.raises(arthur_gen.InvalidRequestError, match="quantize"):
        arthur_gen.generate_image("x", backend="mflux", options={"quantize": 2})
    assert loader.loads == []


def test_missing_weights_through_the_api(plugged: MfluxBackend, loader: FakeLoader) -> None:
    with pytest.raises(arthur_gen.BackendUnavailableError) as info:
        arthur_gen.generate_image("x", backend="mflux", model="z-image-turbo", seed=1)
    text = str(info.value)
    assert "z-image-turbo" in text and "31 GB" in text
    assert "hf download Tongyi-MAI/Z-Image-Turbo" in text
    assert loader.loads == []


def test_cancel_through_the_api(
    plugged: MfluxBackend, loader: FakeLoader, weights: Path, tmp_path: Path
) -> None:
    cancel = threading.Event()

    def on_progress(event: Any) -> None:
        if event.phase == "step" and event.step == 2:
            cancel.set()

    with pytest.raises(arthur_gen.JobCanceledError):
        arthur_gen.generate_image(
            "x",
            backend="mflux",
            model="dev",
            seed=1,
            width=256,
            height=256,
            out_dir=tmp_path,
            on_progress=on_progress,
            cancel_event=cancel,
        )
    assert len(loader.calls) == 1


class TestConformance(BackendConformance):
    """arthur-gen's own contract checks for backends, end to end with the fake model."""

    backend_factory = staticmethod(lambda: MfluxBackend(loader=FakeLoader()))
    run_generation = True

    @pytest.fixture(autouse=True)
    def _weights(self) -> None:
        fake_weights(["schnell"])


def test_local_model_path_through_the_api(plugged: MfluxBackend, loader: FakeLoader, tmp_path: Path) -> None:
    folder = tmp_path / "schnell-q8"
    folder.mkdir()
    arthur_gen.generate_image(
        "x",
        backend="mflux",
        seed=1,
        width=256,
        height=256,
        out_dir=tmp_path,
        options={"model_path": str(folder)},
    )
    assert loader.loads[0].model_path == str(folder)


def _gen(tmp_path: Path, **options: Any) -> Any:
    return arthur_gen.generate_image(
        "a red fox", backend="mflux", seed=3, width=256, height=256, options=options, out_dir=tmp_path / "out"
    )


def test_changed_local_weights_miss_the_cache(
    plugged: MfluxBackend, loader: FakeLoader, tmp_path: Path
) -> None:
    """A rewritten model folder file or LoRA file is a new request for the result cache."""
    folder = tmp_path / "saved"
    (folder / "transformer").mkdir(parents=True)
    weights_file = folder / "transformer" / "0.safetensors"
    weights_file.write_bytes(b"a" * 1000)
    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"lora-1")
    first = _gen(tmp_path, model_path=str(folder), lora_paths=[str(lora)])
    again = _gen(tmp_path, model_path=str(folder), lora_paths=[str(lora)])
    assert again.cached and len(loader.calls) == 1

    weights_file.write_bytes(b"b" * 1000)  # same size; content and mtime change
    os.utime(weights_file, ns=(weights_file.stat().st_atime_ns, weights_file.stat().st_mtime_ns + 10**9))
    changed_model = _gen(tmp_path, model_path=str(folder), lora_paths=[str(lora)])
    assert not changed_model.cached and len(loader.calls) == 2

    lora.write_bytes(b"lora-2")
    changed_lora = _gen(tmp_path, model_path=str(folder), lora_paths=[str(lora)])
    assert not changed_lora.cached and len(loader.calls) == 3
    (folder / "transformer" / "1.safetensors").write_bytes(b"extra shard")
    assert not _gen(tmp_path, model_path=str(folder), lora_paths=[str(lora)]).cached
    assert first.path.is_file()


def test_same_size_same_mtime_rewrite_is_caught_by_the_digest(tmp_path: Path) -> None:
    from arthur_gen_mflux._weights import files_stamp

    f = tmp_path / "w.safetensors"
    f.write_bytes(b"x" * 200_000)
    st = f.stat()
    before = files_stamp([str(f)])
    f.write_bytes(b"y" * 200_000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert files_stamp([str(f)]) != before
    assert files_stamp(["org/not-a-local-path"]) is None


def test_progress_reports_steps_when_done_then_decoding_then_saving(
    plugged: MfluxBackend, loader: FakeLoader, weights: Path, tmp_path: Path
) -> None:
    events: list[Any] = []
    arthur_gen.generate_image(
        "a fox", backend="mflux", seed=2, width=256, height=256, out_dir=tmp_path, on_progress=events.append
    )
    tail = [(e.phase, e.step) for e in events if e.phase in ("step", "decoding", "saving", "saved")]
    assert tail == [("step", 0), ("step", 1), ("step", 2), ("step", 3), ("step", 4), ("decoding", None),
                    ("saving", None), ("saved", None)]  # fmt: skip


def test_a_step_is_reported_only_after_mflux_computed_it() -> None:
    """mflux calls in_loop(t) before mx.eval computes step t: at that call only t steps are done."""
    from types import SimpleNamespace

    from arthur_gen_mflux._progress import StepBridge

    seen: list[Any] = []
    ctx = arthur_gen.LocalContext(
        job_id="j", workdir=Path("."), on_step=lambda s, t: seen.append((s, t)), on_phase=seen.append
    )
    bridge = StepBridge()
    bridge.attach(ctx)
    config = SimpleNamespace(num_inference_steps=4, init_time_step=1)  # image-to-image: 3 steps run
    bridge.call_before_loop(config=config)
    for t in (1, 2, 3):
        bridge.call_in_loop(t, config=config)
    assert seen == [(0, 3), (1, 3), (2, 3)]
    bridge.call_after_loop(config=config)
    assert seen[-2:] == [(3, 3), "decoding"]
