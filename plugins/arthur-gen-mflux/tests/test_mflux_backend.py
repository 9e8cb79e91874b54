"""Behaviour of the mflux backend with a test double at the model seam (no mflux, no weights)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._catalog import CATALOG, Entry, entry_for, model_info
from arthur_gen_mflux.testing import FakeLoader, fake_weights, tiny_png

from arthur_gen._backends import LocalContext
from arthur_gen._requests import ImageRequest
from arthur_gen.errors import (
    BackendUnavailableError,
    ConfigError,
    GenerationError,
    InvalidRequestError,
    JobCanceledError,
)

Run = Callable[..., Any]


def _png(path: Path, width: int = 64, height: int = 48) -> str:
    path.write_bytes(tiny_png(width, height))
    return str(path)


def _lora(tmp_path: Path, name: str = "style.safetensors") -> str:
    path = tmp_path / name
    path.write_bytes(b"lora")
    return str(path)


# -- arguments reaching mflux ------------------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_defaults_per_model(entry: Entry, run: Run, loader: FakeLoader, weights: Path) -> None:
    run(entry.id, seed=42, prompt="a lighthouse")
    (key,) = loader.loads
    assert key.model == entry.id
    assert key.constructor_kwargs() == {
        "quantize": None,
        "model_path": None,
        "lora_paths": None,
        "lora_scales": None,
    }
    (call,) = loader.calls
    expected: dict[str, Any] = {
        "seed": 42,
        "prompt": "a lighthouse",
        "num_inference_steps": entry.default_steps,
        "width": 1024,
        "height": 1024,
        "scheduler": entry.scheduler,
    }
    if entry.supports_guidance:
        expected["guidance"] = entry.default_guidance
    assert call == expected


def test_aliases_resolve_to_the_catalog() -> None:
    assert entry_for("flux-schnell") is entry_for("schnell")
    assert entry_for("klein-4b") is entry_for("flux2-klein-4b")
    assert MfluxBackend(loader=FakeLoader()).default_model == "schnell"


def test_quantize_path_and_loras_reach_the_constructor(
    run: Run, loader: FakeLoader, tmp_path: Path, weights: Path
) -> None:
    folder = tmp_path / "saved-schnell"
    folder.mkdir()
    a, b = _lora(tmp_path, "a.safetensors"), _lora(tmp_path, "b.safetensors")
    run(
        "dev",
        options={
            "quantize": 4,
            "model_path": str(folder),
            "lora_paths": [a, b],
            "lora_scales": [0.5, 1],
        },
    )
    (key,) = loader.loads
    assert key.constructor_kwargs() == {
        "quantize": 4,
        "model_path": str(folder),
        "lora_paths": [a, b],
        "lora_scales": [0.5, 1.0],
    }


def test_lora_scales_default_to_one(run: Run, loader: FakeLoader, tmp_path: Path, weights: Path) -> None:
    lora = _lora(tmp_path)
    run("schnell", options={"lora_paths": [lora]})
    assert loader.loads[0].lora_scales == (1.0,)


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_steps_guidance_size(entry: Entry, run: Run, loader: FakeLoader, weights: Path) -> None:
    fields: dict[str, Any] = {"steps": 3, "width": 512, "height": 768}
    if entry.supports_guidance:
        fields["guidance"] = 2.5
    run(entry.id, **fields)
    (call,) = loader.calls
    assert (call["num_inference_steps"], call["width"], call["height"]) == (3, 512, 768)
    assert call.get("guidance") == (2.5 if entry.supports_guidance else None)


def test_aspect_ratio_becomes_a_size(run: Run, loader: FakeLoader, weights: Path) -> None:
    run("schnell", aspect_ratio="16:9")
    call = loader.calls[0]
    assert call["width"] % 16 == 0 and call["height"] % 16 == 0
    assert abs(call["width"] / call["height"] - 16 / 9) < 0.03
    assert 0.9e6 < call["width"] * call["height"] < 1.1e6


def test_image_to_image(run: Run, loader: FakeLoader, tmp_path: Path, weights: Path) -> None:
    image = _png(tmp_path / "in.png", 640, 488)
    run("schnell", image=image, strength=0.75, steps=8)
    call = loader.calls[0]
    assert call["image_path"] == image
    # arthur-gen's strength is how much to change; mflux's image_strength how much to keep
    assert call["image_strength"] == 0.25
    # no size given: the input's, rounded down to a multiple of 16
    assert (call["width"], call["height"]) == (640, 480)


def test_image_to_image_default_strength(run: Run, loader: FakeLoader, tmp_path: Path, weights: Path) -> None:
    run("z-image-turbo", image=_png(tmp_path / "in.png"), width=512, height=512)
    call = loader.calls[0]
    assert call["image_strength"] == pytest.approx(0.4)  # mflux's own default
    assert (call["width"], call["height"]) == (512, 512)


def test_negative_prompt_for_models_that_take_one(run: Run, loader: FakeLoader, weights: Path) -> None:
    run("qwen-image", negative_prompt="blurry")
    run("z-image", negative_prompt="blurry", guidance=3.0)
    assert [c["negative_prompt"] for c in loader.calls] == ["blurry", "blurry"]


# -- bad requests fail before anything loads -----------------------------------------------

BAD: list[tuple[str, dict[str, Any], str]] = [
    ("schnell", {"options": {"quantize": 7}}, "options.quantize"),
    ("schnell", {"options": {"quantize": True}}, "options.quantize"),
    ("schnell", {"options": {"lora_paths": ["/no/such.safetensors"]}}, "options.lora_paths"),
    ("schnell", {"options": {"lora_scales": [0.5]}}, "options.lora_scales"),
    ("schnell", {"options": {"model_path": "./no/such/folder"}}, "options.model_path"),
    ("schnell", {"options": {"no_such_option": 1}}, "options.no_such_option"),
    ("schnell", {"options": {"download": "yes"}}, "options.download"),
    ("schnell", {"guidance": 3.5}, "guidance"),
    ("schnell", {"negative_prompt": "blurry"}, "negative_prompt"),
    ("flux2-klein-4b", {"negative_prompt": "blurry"}, "negative_prompt"),
    ("flux2-klein-9b", {"guidance": 2.0}, "guidance"),
    ("z-image-turbo", {"guidance": 2.0}, "guidance"),
    ("z-image", {"negative_prompt": "blurry", "guidance": 1.0}, "negative_prompt"),
    ("schnell", {"steps": 51}, "steps"),
    ("schnell", {"width": 1000, "height": 1024}, "width"),
    ("schnell", {"width": 4096, "height": 1024}, "width"),
    ("schnell", {"width": 128, "height": 128}, "width"),
    ("schnell", {"aspect_ratio": "5:1"}, "aspect_ratio"),
    ("schnell", {"strength": 0.5}, "strength"),
    ("schnell", {"image": "https://example.com/cat.png"}, "image"),
]


@pytest.mark.parametrize(("model", "fields", "field"), BAD, ids=[f"{m}-{f}" for m, _, f in BAD])
def test_bad_requests_are_rejected_before_loading(
    model: str, fields: dict[str, Any], field: str, run: Run, loader: FakeLoader, weights: Path
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        run(model, **fields)
    assert info.value.field == field
    assert loader.loads == []


def test_lora_checks(run: Run, loader: FakeLoader, tmp_path: Path, weights: Path) -> None:
    lora = _lora(tmp_path)
    not_st = tmp_path / "style.bin"
    not_st.write_bytes(b"x")
    cases = [
        {"lora_paths": [lora], "lora_scales": [1.0, 0.5]},
        {"lora_paths": [lora], "lora_scales": [50.0]},
        {"lora_paths": [str(not_st)]},
    ]
    for options in cases:
        with pytest.raises(InvalidRequestError, match="lora"):
            run("schnell", options=options)
    assert loader.loads == []


def test_strength_that_leaves_no_step_is_rejected(
    run: Run, loader: FakeLoader, tmp_path: Path, weights: Path
) -> None:
    with pytest.raises(InvalidRequestError, match="no denoising step"):
        run("schnell", image=_png(tmp_path / "in.png"), strength=0.0)
    assert loader.loads == []


def test_validate_alone_rejects_what_the_core_would_not_see(backend: MfluxBackend) -> None:
    """backend.validate checks what ModelInfo cannot declare (the core calls it first)."""
    info = model_info(entry_for("z-image"))  # type: ignore[arg-type]
    request = ImageRequest(prompt="x", negative_prompt="blurry", guidance=0.5)
    with pytest.raises(InvalidRequestError, match="guidance above 1"):
        backend.validate(request, info)


# -- warm models ---------------------------------------------------------------------------


def test_ten_calls_load_once(run: Run, loader: FakeLoader, weights: Path) -> None:
    outputs = [run("schnell", seed=s) for s in range(10)]
    assert len(loader.loads) == 1
    assert len(loader.calls) == 10
    assert [o.metadata["warm"] for o in outputs] == [False] + [True] * 9


def test_changing_the_lora_loads_again(run: Run, loader: FakeLoader, tmp_path: Path, weights: Path) -> None:
    a, b = _lora(tmp_path, "a.safetensors"), _lora(tmp_path, "b.safetensors")
    run("schnell", options={"lora_paths": [a]})
    run("schnell", options={"lora_paths": [a]})
    run("schnell", options={"lora_paths": [a], "lora_scales": [0.7]})
    run("schnell", options={"lora_paths": [b]})
    run("schnell", options={"lora_paths": [b], "quantize": 8})
    assert len(loader.loads) == 4
    # a LoRA rewritten in place (same path, new content) is loaded again
    os.utime(b, ns=(1, 1))
    run("schnell", options={"lora_paths": [b], "quantize": 8})
    assert len(loader.loads) == 5


def test_bounded_cache_evicts_least_recently_used(
    loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    backend = MfluxBackend(loader=loader, cache_size=2)
    schnell, dev, krea = (model_info(entry_for(m)) for m in ("schnell", "dev", "krea-dev"))  # type: ignore[arg-type]

    def gen(info: Any) -> None:
        backend.generate(ImageRequest(prompt="x", seed=1), info, ctx_factory())

    for info in (schnell, dev, schnell, krea, schnell, dev):
        gen(info)
    # schnell, dev loaded; schnell warm; krea evicts dev; schnell warm; dev evicts krea
    assert [k.model for k in loader.loads] == ["schnell", "dev", "krea-dev", "dev"]
    assert [k.model for k in backend.warm_models()] == ["schnell", "dev"]


def test_default_cache_holds_one_model(run: Run, loader: FakeLoader, weights: Path) -> None:
    for model in ("schnell", "dev", "schnell"):
        run(model)
    assert [k.model for k in loader.loads] == ["schnell", "dev", "schnell"]


def test_cache_size_from_environment(
    monkeypatch: pytest.MonkeyPatch, run: Run, loader: FakeLoader, weights: Path
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_MFLUX_CACHE_SIZE", "2")
    for model in ("schnell", "dev", "schnell", "dev"):
        run(model)
    assert len(loader.loads) == 2


def test_cache_size_zero_keeps_nothing(
    monkeypatch: pytest.MonkeyPatch,
    run: Run,
    loader: FakeLoader,
    backend: MfluxBackend,
    weights: Path,
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_MFLUX_CACHE_SIZE", "0")
    run("schnell")
    run("schnell")
    assert len(loader.loads) == 2
    assert backend.warm_models() == []


def test_bad_cache_size_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, run: Run, loader: FakeLoader, weights: Path
) -> None:
    monkeypatch.setenv("ARTHUR_GEN_MFLUX_CACHE_SIZE", "lots")
    with pytest.raises(ConfigError, match="ARTHUR_GEN_MFLUX_CACHE_SIZE"):
        run("schnell")


def test_release_frees_warm_models(
    run: Run, loader: FakeLoader, backend: MfluxBackend, weights: Path
) -> None:
    run("schnell")
    assert len(backend.warm_models()) == 1
    backend.release()
    assert backend.warm_models() == []
    run("schnell")
    assert len(loader.loads) == 2


def test_concurrent_calls_share_one_load_and_keep_their_own_progress(
    loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    loader.load_s, loader.step_s = 0.05, 0.002
    backend = MfluxBackend(loader=loader)
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]
    events: dict[int, list[tuple[int, int]]] = {i: [] for i in range(8)}
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        ctx = ctx_factory(on_step=lambda s, t: events[i].append((s, t)))
        try:
            backend.generate(ImageRequest(prompt="x", seed=i), info, ctx)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(loader.loads) == 1
    assert sorted(c["seed"] for c in loader.calls) == list(range(8))
    for seen in events.values():
        assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


# -- progress and cancellation -------------------------------------------------------------


def test_progress_per_step(run: Run, ctx_factory: Callable[..., LocalContext], weights: Path) -> None:
    seen: list[tuple[int, int]] = []
    run("schnell", ctx=ctx_factory(on_step=lambda s, t: seen.append((s, t))))
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_progress_counts_only_the_steps_image_to_image_runs(
    run: Run, ctx_factory: Callable[..., LocalContext], tmp_path: Path, weights: Path
) -> None:
    seen: list[tuple[int, int]] = []
    ctx = ctx_factory(on_step=lambda s, t: seen.append((s, t)))
    run("dev", ctx=ctx, image=_png(tmp_path / "in.png"), strength=0.5, steps=10)
    assert seen == [(i, 5) for i in range(6)]


def test_cancel_between_steps(
    run: Run, loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def on_step(step: int, total: int) -> None:
        seen.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(JobCanceledError):
        run("dev", ctx=ctx_factory(on_step=on_step, cancel_event=cancel))
    assert seen == [0, 1, 2]  # steps 3..25 never ran
    # the model stays warm and the next job is not wired to the cancelled one
    seen.clear()
    run("dev")
    assert len(loader.loads) == 1
    assert seen == []


def test_cancel_before_start_loads_nothing(
    run: Run, loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(JobCanceledError):
        run("schnell", ctx=ctx_factory(cancel_event=cancel))
    assert loader.loads == []


def test_mflux_stop_exception_becomes_job_canceled(run: Run, loader: FakeLoader, weights: Path) -> None:
    class StopImageGenerationException(Exception):
        pass

    run("schnell")

    def stop(**kwargs: Any) -> Any:
        raise StopImageGenerationException("Stopping image generation at step 2/4")

    loader.models[0].generate_image = stop  # type: ignore[method-assign]
    with pytest.raises(JobCanceledError, match="step 2/4"):
        run("schnell")


# -- weights -------------------------------------------------------------------------------


def test_missing_weights_offline_is_a_clear_error(run: Run, loader: FakeLoader) -> None:
    with pytest.raises(BackendUnavailableError) as info:
        run("schnell")
    text = str(info.value)
    assert "'schnell'" in text and "33.7 GB" in text and "HF_HUB_OFFLINE" in text
    assert "hf download black-forest-labs/FLUX.1-schnell --revision 741f7c3" in text
    assert loader.loads == []


def test_gated_models_say_how_to_log_in(run: Run) -> None:
    with pytest.raises(BackendUnavailableError, match="hf auth login"):
        run("dev")


def test_download_option_cannot_beat_offline_mode(run: Run, loader: FakeLoader) -> None:
    with pytest.raises(BackendUnavailableError, match="HF_HUB_OFFLINE"):
        run("schnell", options={"download": True})
    assert loader.loads == []


def test_download_option_lets_mflux_fetch_when_online(
    monkeypatch: pytest.MonkeyPatch, run: Run, loader: FakeLoader
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    with pytest.raises(BackendUnavailableError, match="does not download"):
        run("schnell")
    run("schnell", options={"download": True})
    monkeypatch.setenv("ARTHUR_GEN_MFLUX_DOWNLOAD", "1")
    run("dev")
    assert [k.model for k in loader.loads] == ["schnell", "dev"]


def test_model_availability_reads_the_cache(backend: MfluxBackend, tmp_path: Path) -> None:
    info = model_info(entry_for("flux2-klein-4b"))  # type: ignore[arg-type]
    missing = backend.model_availability(info)
    assert not missing.ok
    assert "16 GB" in missing.reason
    assert missing.fix.startswith("hf download black-forest-labs/FLUX.2-klein-4B --revision")
    fake_weights(["flux2-klein-4b"])
    assert backend.model_availability(info).ok


def test_incomplete_snapshots_do_not_count(backend: MfluxBackend) -> None:
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]
    root = fake_weights(["schnell"])
    snapshot = next((root / "models--black-forest-labs--FLUX.1-schnell" / "snapshots").iterdir())
    weight = snapshot / "transformer" / "model.safetensors"
    weight.unlink()
    weight.symlink_to(root / "blobs-that-are-gone")  # an interrupted download
    assert not backend.model_availability(info).ok
    weight.unlink()
    weight.write_bytes(b"")
    index = {"weight_map": {"a": "model-00001.safetensors", "b": "model-00002.safetensors"}}
    (snapshot / "transformer" / "model.safetensors.index.json").write_text(json.dumps(index))
    (snapshot / "transformer" / "model-00001.safetensors").write_bytes(b"")
    assert not backend.model_availability(info).ok  # shard 2 missing
    (snapshot / "transformer" / "model-00002.safetensors").write_bytes(b"")
    assert backend.model_availability(info).ok


def test_other_revision_does_not_count(backend: MfluxBackend) -> None:
    """mflux loads only the pinned commit; another cached snapshot would be re-downloaded."""
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]
    root = fake_weights(["schnell"])
    snapshots = root / "models--black-forest-labs--FLUX.1-schnell" / "snapshots"
    (snapshots / "741f7c3ce8b383c54771c7003378a50191e9efe9").rename(snapshots / ("0" * 40))
    assert not backend.model_availability(info).ok


def test_model_path_repo_is_checked_too(run: Run, loader: FakeLoader, weights: Path) -> None:
    with pytest.raises(BackendUnavailableError, match="someone/schnell-q4"):
        run("schnell", options={"model_path": "someone/schnell-q4"})
    assert loader.loads == []


def test_local_model_path_needs_no_cache(run: Run, loader: FakeLoader, tmp_path: Path) -> None:
    folder = tmp_path / "schnell-q8"
    folder.mkdir()
    run("schnell", options={"model_path": str(folder)})
    assert loader.loads[0].model_path == str(folder)


def test_warm_model_needs_no_weight_check(run: Run, loader: FakeLoader, weights: Path) -> None:
    run("schnell")
    import shutil

    shutil.rmtree(weights)
    run("schnell")
    assert len(loader.loads) == 1


# -- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected", "match"),
    [
        (ImportError("libcuda.so.1: cannot open shared object file"), BackendUnavailableError, "libcuda"),
        (ConnectionError("offline mode is enabled"), BackendUnavailableError, "hf download"),
        (RuntimeError("out of memory"), GenerationError, "out of memory"),
    ],
)
def test_load_failures(
    error: BaseException,
    expected: type[Exception],
    match: str,
    run: Run,
    loader: FakeLoader,
    backend: MfluxBackend,
    weights: Path,
) -> None:
    loader.fail = error
    with pytest.raises(expected, match=match):
        run("schnell")
    assert backend.warm_models() == []


def test_generation_failure_is_a_generation_error(run: Run, loader: FakeLoader, weights: Path) -> None:
    run("schnell")

    def boom(**kwargs: Any) -> Any:
        raise ValueError("bad latents")

    loader.models[0].generate_image = boom  # type: ignore[method-assign]
    with pytest.raises(GenerationError, match="bad latents"):
        run("schnell")


# -- outputs ---------------------------------------------------------------------------------


def test_output_png_and_metadata(
    run: Run, ctx_factory: Callable[..., LocalContext], tmp_path: Path, weights: Path
) -> None:
    lora = _lora(tmp_path)
    ctx = ctx_factory()
    output = run(
        "dev",
        ctx=ctx,
        seed=7,
        steps=6,
        guidance=3.0,
        width=512,
        height=512,
        options={"quantize": 8, "lora_paths": [lora], "lora_scales": [0.8]},
    )
    assert output.path.parent == ctx.workdir
    assert output.path.read_bytes().startswith(b"\x89PNG")
    assert output.media_type == "image/png"
    assert output.seed == 7
    meta = output.metadata
    json.dumps(meta)
    assert meta["mflux_class"] == "mflux.models.flux.variants.txt2img.flux.Flux1"
    assert meta["mflux_config"] == "dev"
    assert meta["repo"] == "black-forest-labs/FLUX.1-dev"
    assert meta["revision"] == "3de623fc3c33e44ffbe2bad470d0f45bccf2eb21"
    assert meta["quantize"] == 8
    assert meta["lora_paths"] == [lora]
    assert meta["lora_scales"] == [0.8]
    assert meta["scheduler"] == "linear"
    assert (meta["steps"], meta["guidance"], meta["seed"]) == (6, 3.0, 7)
    assert (meta["width"], meta["height"]) == (512, 512)
    assert "mflux_version" in meta and meta["warm"] is False


def test_describe_request_loads_nothing(backend: MfluxBackend, loader: FakeLoader) -> None:
    info = model_info(entry_for("qwen-image"))  # type: ignore[arg-type]
    described = backend.describe_request(ImageRequest(prompt="x", seed=3), info)
    assert described["generate_image"]["num_inference_steps"] == 20
    assert described["model_config"] == "ModelConfig.qwen_image()"
    assert described["weights"].startswith("not cached")
    json.dumps(described)
    assert loader.loads == []


# -- can it run here -------------------------------------------------------------------------


def test_availability_without_mflux(monkeypatch: pytest.MonkeyPatch, backend: MfluxBackend) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    availability = backend.availability()
    assert not availability.ok
    assert "mlx and mflux not installed" in availability.reason
    assert "install" in availability.fix


def test_availability_on_an_intel_mac(monkeypatch: pytest.MonkeyPatch, backend: MfluxBackend) -> None:
    import platform
    import sys

    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert "Apple Silicon" in backend.availability().reason


def test_download_env_makes_models_available_when_online(
    monkeypatch: pytest.MonkeyPatch, backend: MfluxBackend
) -> None:
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]
    monkeypatch.setenv("ARTHUR_GEN_MFLUX_DOWNLOAD", "1")
    assert not backend.model_availability(info).ok  # still offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    availability = backend.model_availability(info)
    assert availability.ok and "33.7 GB" in availability.reason


def test_request_availability_sees_the_options(backend: MfluxBackend, tmp_path: Path, run: Run) -> None:
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]
    folder = tmp_path / "schnell-q8"
    folder.mkdir()
    local = ImageRequest(prompt="x", options={"model_path": str(folder)})
    assert backend.request_availability(local, info).ok
    plain = ImageRequest(prompt="x")
    missing = backend.request_availability(plain, info)
    assert not missing.ok and "hf download" in missing.reason


# -- one MLX thread ----------------------------------------------------------------------------


def test_loads_and_generations_share_one_worker_thread(
    backend: MfluxBackend, loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    """MLX streams are thread-local: a warm model must be used on the thread that loaded it."""
    info = model_info(entry_for("schnell"))  # type: ignore[arg-type]

    def call(seed: int) -> None:
        backend.generate(ImageRequest(prompt="x", seed=seed), info, ctx_factory())

    call(0)
    threads = [threading.Thread(target=call, args=(i,)) for i in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (worker,) = set(loader.threads) | set(loader.models[0].threads)
    assert worker != threading.get_ident()
    assert len(loader.models[0].calls) == 4


def test_ctrl_c_while_waiting_cancels_the_job(
    backend: MfluxBackend, loader: FakeLoader, ctx_factory: Callable[..., LocalContext], weights: Path
) -> None:
    import _thread

    loader.step_s = 0.02
    info = model_info(entry_for("dev"))  # type: ignore[arg-type]
    cancel = threading.Event()
    steps: list[int] = []
    timer = threading.Timer(0.1, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            backend.generate(
                ImageRequest(prompt="x", seed=1),
                info,
                ctx_factory(cancel_event=cancel, on_step=lambda s, t: steps.append(s)),
            )
    finally:
        timer.cancel()
    assert cancel.is_set()
    assert 0 < steps[-1] < 25  # the worker stopped between steps, not at the end


# -- input image sizes -------------------------------------------------------------------


def _jpeg_with_orientation(path: Path, width: int, height: int, orientation: int) -> str:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", (width, height), (10, 20, 30)).save(path, "JPEG", exif=exif.tobytes())
    return str(path)


@pytest.mark.parametrize(("orientation", "expected"), [(1, (640, 480)), (3, (640, 480)), (6, (480, 640))])
def test_input_size_follows_exif_orientation(
    orientation: int, expected: tuple[int, int], run: Run, loader: FakeLoader, tmp_path: Path, weights: Path
) -> None:
    """A phone photo stored 640x480 with 'rotate 90' is planned 480x640, as mflux loads it."""
    image = _jpeg_with_orientation(tmp_path / "phone.jpg", 640, 480, orientation)
    run("dev", image=image, strength=0.6)
    (call,) = loader.calls
    assert (call["width"], call["height"]) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((200, 150), (336, 256)),
        ((150, 200), (256, 336)),
        ((4000, 3000), (2048, 1536)),
        ((512, 512), (512, 512)),
    ],
)
def test_input_size_keeps_its_aspect_when_clamped(
    size: tuple[int, int],
    expected: tuple[int, int],
    run: Run,
    loader: FakeLoader,
    tmp_path: Path,
    weights: Path,
) -> None:
    image = _png(tmp_path / "in.png", *size)
    run("dev", image=image, strength=0.6)
    (call,) = loader.calls
    assert (call["width"], call["height"]) == expected


def test_warm_model_prompt_cache_stays_bounded(run: Run, loader: FakeLoader, weights: Path) -> None:
    """mflux's FLUX.1/Qwen models keep every prompt's embeddings; the plugin trims the oldest."""
    from arthur_gen_mflux._backend import PROMPT_CACHE_LIMIT, bound_prompt_cache

    run("schnell", prompt="p0")
    (model,) = loader.models
    model.prompt_cache = {f"old{i}": object() for i in range(3 * PROMPT_CACHE_LIMIT)}
    run("schnell", prompt="p1")
    assert len(model.prompt_cache) == PROMPT_CACHE_LIMIT - 1
    assert list(model.prompt_cache)[-1] == f"old{3 * PROMPT_CACHE_LIMIT - 1}"  # newest kept
    small = {"a": 1, "b": 2}
    holder = type("M", (), {"prompt_cache": small})()
    bound_prompt_cache(holder)
    assert small == {"a": 1, "b": 2}
    bound_prompt_cache(object())  # models without a cache are left alone


def test_metadata_records_the_bits_mflux_used(run: Run, loader: FakeLoader, tmp_path: Path) -> None:
    """A pre-quantized folder loads with its own bits (mflux sets ``model.bits``), not the asked ones."""
    folder = tmp_path / "saved-q4"
    folder.mkdir()
    first = run("schnell", options={"model_path": str(folder)})
    assert first.metadata["quantize"] is None  # the fake has no ``bits``: the request's value
    (model,) = loader.models
    model.bits = 4
    second = run("schnell", seed=2, options={"model_path": str(folder)})
    assert second.metadata["quantize"] == 4
