"""SeedVR2 upscaling: options refused before loading, the plan, the weights check, a run at the
library seam (the test double), the contract with the installed mflux, and mflux's real SeedVR2
pipeline on a tiny random checkpoint (``arthur_gen_mflux.tiny.tiny_seedvr2``).
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._backend import plan_request
from arthur_gen_mflux._catalog import UPSCALERS, entry_for, model_info
from arthur_gen_mflux._loader import LoadKey
from arthur_gen_mflux._weights import download_command, snapshot_dir
from arthur_gen_mflux.testing import FakeLoader, fake_weights, tiny_png

from arthur_gen._requests import ImageRequest
from arthur_gen.errors import BackendUnavailableError, InvalidRequestError
from arthur_gen.testing import FakePlugin, registered


@pytest.fixture
def png(tmp_path: Path) -> Callable[..., str]:
    def make(name: str = "frame.png", width: int = 320, height: int = 256) -> str:
        path = tmp_path / name
        path.write_bytes(tiny_png(width, height))
        return str(path)

    return make


def _plan(png: str, **options: Any) -> Any:
    entry = entry_for("seedvr2")
    assert entry is not None and entry.id == "seedvr2-3b"
    return plan_request(entry, ImageRequest(prompt="upscale", seed=1, image=png, options=options))


@pytest.mark.parametrize(
    ("size", "options", "resolution", "out"),
    [
        ((1920, 1080), {"resolution": 2160}, 2160, (3840, 2160)),  # 1080p -> 4K
        # default 2x; mflux's ScaleFactor rounds the short side down to 16: 1080 -> 1072
        ((960, 540), {}, "2x", (1904, 1072)),
        ((640, 480), {"scale": 1.5}, "1.5x", (960, 720)),
        ((1080, 1920), {"resolution": 2160}, 2160, (2160, 3840)),  # 9:16
    ],
)
def test_plan_sizes_the_result_as_mflux_does(
    png: Callable[..., str],
    size: tuple[int, int],
    options: dict[str, Any],
    resolution: Any,
    out: tuple[int, int],
) -> None:
    plan = _plan(png("f.png", *size), **options)
    kw = plan.generate_kwargs
    assert set(kw) == {"seed", "image_path", "resolution", "softness"}
    assert kw["resolution"] == resolution and kw["softness"] == 0.0
    assert plan.upscale is not None and plan.upscale.size == out
    assert plan.class_path == "mflux.models.seedvr2.variants.upscale.seedvr2.SeedVR2"
    meta = plan.metadata()
    assert (meta["width"], meta["height"]) == out and meta["upscale"]["input_size"] == list(size)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({}, "needs an input image"),
        ({"image": "FRAME", "options": {"scale": 0.5}}, "scale"),
        ({"image": "FRAME", "options": {"scale": 9}}, "scale"),
        ({"image": "FRAME", "options": {"resolution": 128}}, "resolution"),
        ({"image": "FRAME", "options": {"resolution": 200.5}}, "resolution"),
        ({"image": "FRAME", "options": {"resolution": 300}}, "below the image's 1080 px"),
        ({"image": "FRAME", "options": {"resolution": 4320}}, "at most"),
        ({"image": "FRAME", "options": {"scale": 2, "resolution": 2160}}, "not both"),
        ({"image": "FRAME", "options": {"softness": 1.5}}, "softness"),
        ({"image": "FRAME", "options": {"lora_paths": ["x.safetensors"]}}, "unknown option"),
        ({"image": "FRAME", "width": 512, "height": 512}, "width"),
        ({"image": "FRAME", "steps": 2}, "steps"),
        ({"image": "FRAME", "strength": 0.5}, "strength"),
        ({"image": "TEXT"}, "cannot be read"),
        ({"image": "https://example.com/x.png"}, "local file"),
    ],
)
def test_upscale_is_refused_before_loading(
    run: Callable[..., Any],
    loader: FakeLoader,
    weights: Path,
    tmp_path: Path,
    fields: dict[str, Any],
    match: str,
) -> None:
    frame = tmp_path / "frame.png"
    frame.write_bytes(tiny_png(1920, 1080))
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    if "image" in fields:
        fields["image"] = {"FRAME": str(frame), "TEXT": str(text)}.get(fields["image"], fields["image"])
    if fields.get("options", {}).get("resolution") == 4320:  # 4320 short side of 16:9 is 7680: fits
        fields["image"] = str(tmp_path / "wide.png")
        Path(fields["image"]).write_bytes(tiny_png(1000, 400))  # 4320 short -> 10800 long: too big
    with pytest.raises(InvalidRequestError, match=match):
        run("seedvr2-3b", **fields)
    assert loader.loads == []


def test_upscale_runs_at_the_seam_with_metadata(
    run: Callable[..., Any], loader: FakeLoader, weights: Path, png: Callable[..., str]
) -> None:
    frame = png("key.png", 960, 540)
    output = run("seedvr2-3b", image=frame, options={"softness": 0.5, "vae_tile_size": 256})
    (key,) = loader.loads
    assert key == LoadKey(model="seedvr2-3b")  # no LoRA, no variant
    (call,) = loader.calls
    assert set(call) == {"seed", "image_path", "resolution", "softness"}
    # the factor goes to mflux as its own ScaleFactor, as `mflux-upscale-seedvr2 --resolution 2x`
    assert type(call["resolution"]).__name__ == "ScaleFactor" and call["resolution"].value == 2
    assert call["image_path"] == frame and call["softness"] == 0.5
    meta = output.metadata
    assert meta["mflux_class"].endswith("seedvr2.SeedVR2") and meta["mflux_config"] == "seedvr2-3b"
    assert meta["upscale"] == {
        "scale": 2.0,
        "resolution": None,
        "softness": 0.5,
        "input_size": [960, 540],
        "size": [1904, 1072],
    }
    assert (meta["width"], meta["height"], meta["steps"]) == (1904, 1072, 1)
    assert meta["vae_tile_size"] == 256 and meta["repo"] == "numz/SeedVR2_comfyUI"
    run("seedvr2-3b", image=frame, options={"resolution": 1080})
    assert len(loader.loads) == 1 and loader.calls[1]["resolution"] == 1080  # warm: one load


def test_generate_image_through_the_core(tmp_path: Path) -> None:
    import arthur_gen

    fake_weights(["seedvr2-3b"])
    frame = tmp_path / "frame.png"
    frame.write_bytes(tiny_png(480, 270))
    loader = FakeLoader()
    backend = MfluxBackend(loader=loader)
    with registered(FakePlugin(backend)):
        result = arthur_gen.generate_image(
            "upscale", backend="mflux", model="seedvr2", seed=5, image=str(frame),
            options={"resolution": 540}, out_dir=tmp_path / "out",
        )  # fmt: skip
    backend.release()
    meta = json.loads(result.sidecars[0].read_text())["backend_metadata"]
    assert meta["upscale"]["size"] == [960, 540] and meta["image_path"] == str(frame)
    assert loader.calls[0]["resolution"] == 540


def test_missing_weights_name_the_exact_download(run: Callable[..., Any], png: Callable[..., str]) -> None:
    entry = entry_for("seedvr2-7b")
    assert entry is not None
    with pytest.raises(BackendUnavailableError) as excinfo:
        run("seedvr2-7b", image=png())
    message = str(excinfo.value)
    assert "about 17 GB" in message
    assert (
        "hf download numz/SeedVR2_comfyUI --revision 09ced71023636e9bc8cdf9cdecfb2625d1e691e8 "
        "--include seedvr2_ema_7b_fp16.safetensors --include ema_vae_fp16.safetensors"
    ) in message
    assert download_command(entry.repo, entry.revision, entry.family) in message


def test_weights_check_reads_the_root_files() -> None:
    three, seven = UPSCALERS
    assert snapshot_dir(three.repo, three.revision, three.family) is None
    root = fake_weights(["seedvr2-3b"])
    found = snapshot_dir(three.repo, three.revision, three.family)
    assert found is not None
    assert snapshot_dir(seven.repo, seven.revision, seven.family) is None  # same repo, other file
    (found / "ema_vae_fp16.safetensors").unlink()
    assert snapshot_dir(three.repo, three.revision, three.family) is None
    assert root.is_dir()


def test_models_options_lists_the_upscaler(capsys: pytest.CaptureFixture[str]) -> None:
    from arthur_gen.cli._main import main

    with registered(FakePlugin(MfluxBackend(loader=FakeLoader()))):
        assert main(["models", "--backend", "mflux", "--options"]) == 0
    out = capsys.readouterr().out
    block = out.split("mflux seedvr2-3b:")[1].split("\nmflux ")[0]
    for name in ("scale (float in [1.0, 8.0]", "resolution (int in [256, 4320]", "softness", "low_ram"):
        assert name in block, name
    assert "lora_paths" not in block and "reference_images" not in block
    info = model_info(UPSCALERS[0])
    assert info.requires_image and not info.supports_size and not info.supports_steps


# -- against the installed mflux ------------------------------------------------------------------


@pytest.mark.parametrize("entry", UPSCALERS, ids=lambda e: e.id)
def test_contract_with_the_installed_mflux(
    entry: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("mflux")
    family = entry.family
    cls = getattr(importlib.import_module(family.module), family.class_name)
    init = inspect.signature(cls.__init__)
    init.bind(None, model_config=object(), quantize=8, model_path="/m")
    assert "lora_paths" not in init.parameters
    config_module = importlib.import_module("mflux.models.common.config.model_config")
    config = getattr(config_module.ModelConfig, entry.config_factory)()
    assert config_module.AVAILABLE_MODELS[entry.config_key] is config and config.model_name == entry.repo
    revisions = importlib.import_module("mflux.models.common.resolution.model_revisions")
    assert revisions.ModelRevisions.get(entry.repo) == entry.revision
    # the weight files mflux downloads for this size, and its cache check agrees with ours
    weights_module = importlib.import_module(family.weights_module)
    definition = getattr(weights_module, family.weights_class)
    assert definition is weights_module.SeedVR2WeightDefinition.resolve(config)
    patterns = set(definition.get_download_patterns())
    assert patterns == set(family.download_patterns) == set(family.root_weight_files)
    resolution = importlib.import_module("mflux.models.common.resolution.path_resolution")
    from arthur_gen_mflux._weights import hf_hub_cache

    monkeypatch.setattr(resolution, "HF_HUB_CACHE", str(hf_hub_cache()))

    def both() -> tuple[bool, bool]:
        ours = snapshot_dir(entry.repo, entry.revision, family) is not None
        theirs = resolution.PathResolution._find_complete_cached_snapshot(
            entry.repo, list(definition.get_download_patterns())
        )
        return ours, theirs is not None

    assert both() == (False, False)
    fake_weights([entry.id])
    assert both() == (True, True)
    # the exact call the plugin makes, bound to generate_image, with mflux's own ScaleFactor
    image = tmp_path / "in.png"
    image.write_bytes(tiny_png(320, 240))
    for options in ({}, {"resolution": 480, "softness": 0.3}, {"scale": 2.5}):
        plan = plan_request(entry, ImageRequest(prompt="p", seed=1, image=str(image), options=options))
        kwargs = dict(plan.generate_kwargs, resolution=plan.upscale.mflux_resolution())
        inspect.signature(cls.generate_image).bind(None, **kwargs)
        # the planned size is what mflux's SeedVR2Util computes from the same arguments
        util = importlib.import_module("mflux.models.seedvr2.variants.upscale.seedvr2_util").SeedVR2Util
        _, true_h, true_w = util.preprocess_image(str(image), kwargs["resolution"], kwargs["softness"])
        assert plan.upscale.size == (true_w, true_h), options
    # mflux's CLI parses "2x" to the same ScaleFactor the plugin passes
    parsers = importlib.import_module("mflux.cli.parser.parsers")
    assert (
        parsers.int_or_special_value("2x")
        == plan_request(entry, ImageRequest(prompt="p", seed=1, image=str(image))).upscale.mflux_resolution()
    )


def test_real_loader_passes_only_what_seedvr2_takes(tmp_path: Path) -> None:
    pytest.importorskip("mflux")
    from arthur_gen_mflux._loader import load_mflux_model

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_mflux_model(UPSCALERS[0], LoadKey(model="seedvr2-3b", quantize=8, model_path=str(empty)))


def test_the_mlx_crash_behind_the_cumsum_guard_is_still_there() -> None:
    """MLX's Linux CPU backend dies with SIGFPE on ``mx.cumsum`` of an empty array, which mflux's
    SeedVR2 computes for every image; the backend guards it (``_empty_cumsum_guard``). When this
    stops crashing, the guard can go."""
    import signal
    import subprocess
    import sys

    if sys.platform != "linux":
        pytest.skip("the crash is on MLX's Linux CPU backend")
    pytest.importorskip("mlx.core")
    crash = subprocess.run(
        [sys.executable, "-c", "import mlx.core as mx; mx.eval(mx.cumsum(mx.array([])))"],
        capture_output=True,
        timeout=60,
    )
    assert crash.returncode == -signal.SIGFPE


def test_seedvr2_on_the_real_pipeline(tmp_path: Path) -> None:
    """mflux's real SeedVR2 (its loader, transformer, VAE, scheduler, callbacks, color
    correction, save) on a tiny random checkpoint, from arthur_gen.generate_image."""
    pytest.importorskip("mflux")
    import mlx.core as mx
    import numpy as np
    from arthur_gen_mflux.tiny import build_tiny_seedvr2, tiny_seedvr2
    from PIL import Image

    import arthur_gen

    source = tmp_path / "small.png"
    ramp = np.linspace(0, 255, 64, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(ramp, (48, 1))] * 3, axis=-1)).save(source)
    mx.disable_compile()
    backend = MfluxBackend()
    events: list[Any] = []
    try:
        with tiny_seedvr2(), registered(FakePlugin(backend)):
            folder = build_tiny_seedvr2(tmp_path)
            result = arthur_gen.generate_image(
                "upscale", backend="mflux", model="seedvr2", seed=2, image=str(source),
                options={"model_path": str(folder), "scale": 2},
                out_dir=tmp_path / "out", on_progress=events.append, cache=False,
            )  # fmt: skip
    finally:
        backend.release()
        mx.enable_compile()
    with Image.open(result.path) as image:
        assert image.size == (128, 96)  # 64x48 at 2x
        assert np.asarray(image.convert("RGB")).std() > 1.0
    assert [(e.step, e.total) for e in events if e.phase == "step"][-1] == (1, 1)
    assert "decoding" in [e.phase for e in events]
    meta = json.loads(result.sidecars[0].read_text())["backend_metadata"]
    assert meta["upscale"]["size"] == [128, 96] and meta["mflux_class"].endswith("SeedVR2")
    assert meta["model_path"] == str(folder)
