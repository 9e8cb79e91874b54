"""The catalog, the request-to-input mapping, statuses and costs: no network involved."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_replicate import ReplicateImageBackend, ReplicateVideoBackend
from arthur_gen_replicate._catalog import IMAGE_MODELS, VIDEO_MODELS
from arthur_gen_replicate._inputs import FILE_PLACEHOLDER, build_input, file_fields
from arthur_gen_replicate._status import (
    ABORTED_MESSAGE,
    cost_usd,
    next_poll_s,
    outputs_of,
    progress_bounds,
    status_of,
)
from hypothesis import given, settings
from hypothesis import strategies as st

import arthur_gen
from arthur_gen._backends import RemoteState
from arthur_gen._models import Capability, Kind, ModelInfo, PriceBasis
from arthur_gen._requests import ImageRequest, VideoRequest
from arthur_gen._validate import check_request
from arthur_gen.errors import InvalidRequestError

VIDEO = ReplicateVideoBackend()
IMAGE = ReplicateImageBackend()


def model(backend: ReplicateVideoBackend | ReplicateImageBackend, model_id: str) -> ModelInfo:
    found: ModelInfo | None = {m.id: m for m in backend.models()}.get(model_id)
    found = found or backend.resolve_model(model_id)
    assert found is not None
    return found


def test_entry_point_names_the_module() -> None:
    (ep,) = importlib.metadata.entry_points(group="arthur_gen", name="replicate")
    assert ep.value == "arthur_gen_replicate"
    assert ep.dist is not None and ep.dist.name == "arthur-gen-replicate"


def test_backend_ids_and_keys() -> None:
    for backend in (VIDEO, IMAGE):
        assert backend.id == "replicate"
        assert backend.key_name == "replicate"
        assert backend.key_env_var == "REPLICATE_API_TOKEN"
        assert "https://replicate.com/account/api-tokens" in backend.key_help
        assert backend.availability().ok
        assert not backend.is_local
    assert VIDEO.kind is Kind.VIDEO and IMAGE.kind is Kind.IMAGE


def test_default_video_model_is_minimax_video_01() -> None:
    m = model(VIDEO, VIDEO.default_model)
    assert m.id == "minimax/video-01"
    assert m.durations == (6.0,) and m.resolutions == ("720p",)
    assert m.price.basis is PriceBasis.PER_VIDEO and m.price.usd == 0.50
    assert m.extra["fields"]["first_frame"] == "first_frame_image"
    assert m.option("prompt_optimizer") is not None


def test_catalog_covers_the_required_models() -> None:
    ids = {m.id for m in VIDEO.models()}
    assert {
        "minimax/video-01",
        "minimax/video-01-live",
        "minimax/hailuo-02",
        "kwaivgi/kling-v2.1",
        "wan-video/wan-2.2-i2v-a14b",
    } <= ids
    assert {m.id for m in IMAGE.models()} == {
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-dev",
        "black-forest-labs/flux-1.1-pro",
        "black-forest-labs/flux-kontext-pro",
        "bytedance/seedream-4",
    }
    kling = model(VIDEO, "kwaivgi/kling-v2.1")
    assert kling.requires_image and kling.extra["fields"]["first_frame"] == "start_image"
    assert kling.extra["fields"]["last_frame"] == "end_image"
    assert model(VIDEO, "wan-video/wan-2.2-i2v-a14b").extra["fields"]["first_frame"] == "image"
    assert model(VIDEO, "minimax/hailuo-02").extra["fields"]["last_frame"] == "last_frame_image"


@pytest.mark.parametrize(
    ("model_id", "usd"),
    [
        ("black-forest-labs/flux-schnell", 0.003),
        ("black-forest-labs/flux-dev", 0.025),
        ("black-forest-labs/flux-1.1-pro", 0.04),
    ],
)
def test_image_prices(model_id: str, usd: float) -> None:
    m = model(IMAGE, model_id)
    assert m.price.basis is PriceBasis.PER_IMAGE and m.price.usd == usd
    assert m.outputs_option == ("num_outputs" if m.option("num_outputs") else None)


@pytest.mark.parametrize("m", VIDEO_MODELS + IMAGE_MODELS, ids=lambda m: m.id)
def test_catalog_entries_are_consistent(m: ModelInfo) -> None:
    assert m.price.source, "every price says where it comes from"
    assert m.extra["replicate_id"] == m.id
    fields = m.extra["fields"]
    assert fields["prompt"] == "prompt"
    if m.kind is Kind.VIDEO:
        assert m.can(Capability.IMAGE_TO_VIDEO) == bool(fields["first_frame"])
        assert m.supports_last_frame == bool(fields["last_frame"])
    else:
        assert m.can(Capability.IMAGE_TO_IMAGE) == bool(fields["image"])
    assert m.supports_seed == bool(fields["seed"])
    assert m.supports_steps == bool(fields["steps"])
    assert m.supports_negative_prompt == bool(fields["negative_prompt"])
    assert bool(m.durations) == bool(fields["duration"]) or len(m.durations) == 1
    for option in m.options:
        if option.default is not None:
            assert isinstance(option.default, option.type)
            assert not option.choices or option.default in option.choices
            value: Any = option.default
            assert option.min is None or value >= option.min
            assert option.max is None or value <= option.max
    json.dumps(m.to_dict())


def test_any_replicate_id_resolves_to_a_generic_model() -> None:
    for model_id in ("acme/cool-video", "acme/cool-video:" + "a" * 64):
        m = VIDEO.resolve_model(model_id)
        assert m is not None and m.id == model_id
        assert not m.price.known and m.accepts_any_options
        assert m.can(Capability.IMAGE_TO_VIDEO)
    assert VIDEO.model_version(model(VIDEO, "acme/x:" + "b" * 64)) == "b" * 64
    for bad in ("not-a-model", "a/b/c", "a/b:notahexversion", ""):
        assert VIDEO.resolve_model(bad) is None
    # raw inputs pass the core's option checks unchanged
    request = VideoRequest(prompt="x", options={"anything": [1, 2], "seed": 3})
    check_request(request, model(VIDEO, "acme/cool-video"))
    assert build_input(request, model(VIDEO, "acme/cool-video"), str) == {
        "prompt": "x",
        "anything": [1, 2],
        "seed": 3,
    }


def test_request_fields_map_to_replicate_inputs(tmp_path: Path) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(b"png")
    request = VideoRequest(
        prompt="a fox",
        duration=10,
        resolution="768p",
        first_frame=str(frame),
        last_frame="https://example.com/last.png",
        options={"prompt_optimizer": False},
    )
    uploaded: list[str] = []

    def upload(path: str) -> str:
        uploaded.append(path)
        return "https://uploaded/1"

    inputs = build_input(request, model(VIDEO, "minimax/hailuo-02"), upload)
    assert inputs == {
        "prompt": "a fox",
        "duration": 10,
        "resolution": "768p",
        "first_frame_image": "https://uploaded/1",
        "last_frame_image": "https://example.com/last.png",
        "prompt_optimizer": False,
    }
    assert isinstance(inputs["duration"], int)
    assert uploaded == [str(frame)]
    assert file_fields(model(VIDEO, "minimax/hailuo-02")) == {
        "first_frame_image",
        "last_frame_image",
    }


def test_custom_size_sets_aspect_ratio_custom() -> None:
    m = model(IMAGE, "black-forest-labs/flux-1.1-pro")
    request = ImageRequest(prompt="p", width=1024, height=768, seed=5)
    check_request(request, m)
    assert build_input(request, m, str) == {
        "prompt": "p",
        "width": 1024,
        "height": 768,
        "aspect_ratio": "custom",
        "seed": 5,
    }


_flux_dev = model(IMAGE, "black-forest-labs/flux-dev")


@settings(max_examples=60, deadline=None)
@given(
    prompt=st.text(min_size=1, max_size=40).filter(lambda s: s.strip() and "\x00" not in s),
    seed=st.none() | st.integers(0, 2**32),
    steps=st.none() | st.integers(1, 50),
    guidance=st.none() | st.floats(0, 10),
    aspect=st.none() | st.sampled_from(_flux_dev.aspect_ratios),
    outputs=st.none() | st.integers(1, 4),
)
def test_flux_dev_inputs_are_exactly_what_was_asked(
    prompt: str,
    seed: int | None,
    steps: int | None,
    guidance: float | None,
    aspect: str | None,
    outputs: int | None,
) -> None:
    options = {} if outputs is None else {"num_outputs": outputs}
    request = ImageRequest(
        prompt=prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        aspect_ratio=aspect,
        options=options,
    )
    check_request(request, _flux_dev)
    inputs = build_input(request, _flux_dev, lambda path: FILE_PLACEHOLDER)
    expected: dict[str, Any] = {"prompt": prompt}
    for name, value in (
        ("seed", seed),
        ("num_inference_steps", steps),
        ("guidance", guidance),
        ("aspect_ratio", aspect),
        ("num_outputs", outputs),
    ):
        if value is not None:
            expected[name] = value
    assert inputs == expected
    assert json.loads(json.dumps(inputs)) == inputs


def test_model_specific_rules() -> None:
    hailuo = model(VIDEO, "minimax/hailuo-02")
    with pytest.raises(InvalidRequestError, match="768p"):
        VIDEO.validate(VideoRequest(prompt="x", duration=10), hailuo)
    VIDEO.validate(VideoRequest(prompt="x", duration=10, resolution="768p"), hailuo)
    kling = model(VIDEO, "kwaivgi/kling-v2.1")
    both = VideoRequest(prompt="x", first_frame="https://e/a.png", last_frame="https://e/b.png")
    with pytest.raises(InvalidRequestError, match="pro"):
        VIDEO.validate(both, kling)
    VIDEO.validate(both.with_changes(options={"mode": "pro"}), kling)
    with pytest.raises(InvalidRequestError, match="needs an input image"):
        check_request(VideoRequest(prompt="x"), kling)
    with pytest.raises(InvalidRequestError, match="guidance"):
        IMAGE.validate(ImageRequest(prompt="x", guidance=20), _flux_dev)


def _prediction(status: str, **more: Any) -> dict[str, Any]:
    return {"id": "p1", "model": "m/n", "version": "hidden", "status": status, **more}


def test_statuses_map_to_remote_states() -> None:
    m = model(VIDEO, "minimax/video-01")
    assert status_of(_prediction("starting"), m).state.value == "queued"
    assert status_of(_prediction("processing"), m).state.value == "running"
    done = status_of(_prediction("succeeded", output="https://replicate.delivery/x/out.mp4", metrics={}), m)
    assert done.state.value == "succeeded" and done.cost_usd == 0.5
    assert done.outputs[0].name == "out.mp4" and done.outputs[0].media_type == "video/mp4"
    failed = status_of(_prediction("failed", error="NSFW"), m)
    assert failed.state.value == "failed" and failed.error == "NSFW" and failed.cost_usd == 0
    aborted = status_of(_prediction("aborted"), m)
    assert aborted.state.value == "canceled" and aborted.error == ABORTED_MESSAGE
    assert "not billed" in ABORTED_MESSAGE and "before it started" in ABORTED_MESSAGE
    assert aborted.cost_usd == 0
    gone = status_of(_prediction("succeeded", output=None, data_removed=True), m)
    assert gone.state.value == "failed" and "one hour" in (gone.error or "")


def test_progress_comes_from_tqdm_logs() -> None:
    m = model(VIDEO, "minimax/video-01")
    logs = "Generating\n 45%|####      | 9/20\n"
    assert status_of(_prediction("processing", logs=logs), m).progress == 0.45


@pytest.mark.parametrize(
    ("model_id", "inputs", "outputs", "expected"),
    [
        ("minimax/hailuo-02", {"duration": 10, "resolution": "768p"}, 1, 0.45),
        ("minimax/hailuo-02", {}, 1, 0.54),  # 6 s at the default 1080p
        ("kwaivgi/kling-v2.1", {"duration": 10, "mode": "pro"}, 1, 0.9),
        ("kwaivgi/kling-v2.1", {}, 1, 0.25),
        ("wan-video/wan-2.2-i2v-a14b", {}, 1, None),  # rate unknown
        ("black-forest-labs/flux-schnell", {"num_outputs": 3}, 3, 0.009),
        ("black-forest-labs/flux-1.1-pro", {}, 1, 0.04),
        ("acme/anything", {}, 1, None),
    ],
)
def test_cost_from_catalog_and_prediction(
    model_id: str, inputs: dict[str, Any], outputs: int, expected: float | None
) -> None:
    backend = IMAGE if model_id.startswith("black-forest-labs") else VIDEO
    m = model(backend, model_id)
    got = cost_usd(_prediction("succeeded", input=inputs, metrics={"predict_time": 12}), m, outputs)
    assert got == (pytest.approx(expected) if expected is not None else None)


def test_outputs_accept_lists_dicts_and_data_uris() -> None:
    outs = outputs_of(["https://a/1.webp", {"x": "https://a/2.png"}, "not a url", 3])
    assert [o.url for o in outs] == ["https://a/1.webp", "https://a/2.png"]
    (data,) = outputs_of("data:image/png;base64,aGVsbG8=")
    assert data.size == 5 and data.media_type == "image/png" and data.sha256


def test_listing_imports_neither_replicate_nor_httpx(tmp_path: Path) -> None:
    """A fresh interpreter lists backends and models (CLI too) without the heavy modules."""
    code = """
import json, sys
import arthur_gen
backends = arthur_gen.list_backends()
models = arthur_gen.list_models()
assert any(b["id"] == "replicate" for b in backends), backends
assert any(m.id == "minimax/video-01" for _, m in models)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("replicate", "httpx"))))
"""
    env = {
        **os.environ,
        "ARTHUR_GEN_HOME": str(tmp_path),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
    }
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_arthur_gen_models_lists_the_catalog(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "ARTHUR_GEN_HOME": str(tmp_path),
        "ARTHUR_GEN_LOAD_PLUGINS": "arthur-gen-replicate",
    }
    out = subprocess.run(
        [sys.executable, "-m", "arthur_gen", "models", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "minimax/video-01" in out.stdout and "flux-schnell" in out.stdout


def test_public_hookimpl_is_used() -> None:
    import arthur_gen_replicate

    assert arthur_gen.hookimpl is not None
    for name in ("register_image_backends", "register_video_backends"):
        assert hasattr(getattr(arthur_gen_replicate, name), "arthur_gen_impl")


def test_progress_bounds_from_tqdm() -> None:
    assert progress_bounds(" 45%|####      | 9/20 [00:03<00:04]\n") == (0.45, 0.5)
    assert progress_bounds("loading\n 99%|#########9| 99/100\n") == (0.99, 1.0)
    assert progress_bounds("37%|###7") == (0.37, 0.38)
    assert progress_bounds("no progress here") is None
    assert progress_bounds(None) is None


def test_poll_pacing() -> None:
    queued, running = RemoteState.QUEUED, RemoteState.RUNNING
    assert next_poll_s(queued, waited_s=0, running_s=None, progress_hi=None) == 0.25
    assert next_poll_s(queued, waited_s=600, running_s=None, progress_hi=None) == 5.0
    # no progress: a tenth of the running time, 0.1-5 s
    assert next_poll_s(running, waited_s=1, running_s=3, progress_hi=None) == pytest.approx(0.3)
    assert next_poll_s(running, waited_s=1, running_s=300, progress_hi=None) == 5.0
    # progress: poll when it may be done at the earliest, never more than 5 s apart
    assert next_poll_s(running, waited_s=9, running_s=1.0, progress_hi=0.5) == pytest.approx(1.0)
    assert next_poll_s(running, waited_s=9, running_s=10, progress_hi=0.1) == 5.0
    # in the last step: 1% of the running time, 20 ms to 1 s
    assert next_poll_s(running, waited_s=2, running_s=1.5, progress_hi=1.0) == 0.02
    assert next_poll_s(running, waited_s=200, running_s=180, progress_hi=1.0) == 1.0


@pytest.mark.parametrize(
    ("resolution", "usd"),
    [("512p", 6 * 0.0167), ("768p", 6 * 0.045), ("1080p", 6 * 0.09)],
)
def test_estimates_follow_the_rate_of_the_chosen_resolution(resolution: str, usd: float) -> None:
    backend = ReplicateVideoBackend()
    model = next(m for m in backend.models() if m.id == "minimax/hailuo-02")
    request = VideoRequest(prompt="waves", resolution=resolution, duration=6)
    estimate = backend.estimate(request, model)
    assert estimate is not None and estimate.usd == pytest.approx(usd)
    assert f"resolution={resolution}" in estimate.detail


def test_flat_priced_models_use_the_core_estimate() -> None:
    backend = ReplicateVideoBackend()
    model = next(m for m in backend.models() if m.id == "minimax/video-01")
    assert backend.estimate(VideoRequest(prompt="waves"), model) is None


def test_a_compute_second_model_stopped_before_it_started_costs_nothing() -> None:
    import attrs

    from arthur_gen import Price

    m = attrs.evolve(
        model(VIDEO, "minimax/video-01"), price=Price(basis=PriceBasis.PER_COMPUTE_SECOND, usd=0.001)
    )
    assert cost_usd(_prediction("canceled", started_at=None, metrics={}), m, 0) == 0.0
    assert cost_usd(_prediction("failed", metrics={}), m, 0) == 0.0
    # It ran but reported no compute time: not sure, so not $0.
    assert cost_usd(_prediction("canceled", started_at="2026-12-02T18:00:00Z", metrics={}), m, 0) is None
    assert cost_usd(_prediction("canceled", metrics={"predict_time": 20}), m, 0) == pytest.approx(0.02)
