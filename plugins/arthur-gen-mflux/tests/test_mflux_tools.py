"""The image tools: FLUX.2 klein edit with reference images and the memory options.

Refusals run against the fake model (nothing may load); the edit and the memory options run on
mflux's real klein pipeline with the tiny checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._backend import Memory, _memory_settings
from arthur_gen_mflux._catalog import entry_for, model_info
from arthur_gen_mflux.testing import FakeLoader, tiny_png

import arthur_gen
from arthur_gen.errors import InvalidRequestError
from arthur_gen.testing import FakePlugin, registered


@pytest.fixture
def png(tmp_path: Path) -> Callable[[str, int, int], str]:
    def make(name: str, width: int = 320, height: int = 256) -> str:
        path = tmp_path / name
        path.write_bytes(tiny_png(width, height))
        return str(path)

    return make


def _options(model: str) -> dict[str, Any]:
    entry = entry_for(model)
    assert entry is not None
    return {o.name: o for o in model_info(entry).options}


def test_which_models_take_which_tools() -> None:
    memory = {"low_ram", "mlx_cache_limit_gb", "vae_tiling", "vae_tile_size"}
    for model in ("schnell", "z-image-turbo", "qwen-image"):
        names = set(_options(model))
        assert memory <= names and "reference_images" not in names
    for model in ("flux2-klein-4b", "flux2-klein-9b"):
        assert memory | {"reference_images"} <= set(_options(model))
    assert "row strips" in _options("flux2-klein-4b")["vae_tiling"].help


def test_models_options_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    from arthur_gen.cli._main import main

    with registered(FakePlugin(MfluxBackend(loader=FakeLoader()))):
        assert main(["models", "--backend", "mflux", "--options"]) == 0
    out = capsys.readouterr().out
    klein = out.split("mflux flux2-klein-4b:")[1].split("\nmflux ")[0]
    assert "reference_images (list" in klein and "Flux2KleinEdit" in klein
    assert "outpaint (str one of '16:9', '9:16', '1:1', '4:5'" in klein
    assert "mlx_cache_limit_gb (float in [0.1, 1024.0]" in out
    assert "reference_images" not in out.split("mflux schnell:")[1].split("\nmflux ")[0]


@pytest.mark.parametrize(
    ("model", "fields", "match"),
    [
        ("schnell", {"options": {"reference_images": ["A"]}}, "unknown option"),
        ("flux2-klein-4b", {"options": {"reference_images": []}}, "1 to 4"),
        ("flux2-klein-4b", {"options": {"reference_images": ["A"] * 5}}, "1 to 4"),
        ("flux2-klein-4b", {"options": {"reference_images": ["/no/such.png"]}}, "no such file"),
        ("flux2-klein-4b", {"options": {"reference_images": ["https://x/y.png"]}}, "local files"),
        ("flux2-klein-4b", {"options": {"reference_images": ["A"]}, "image": "A"}, "not both"),
        ("flux2-klein-4b", {"options": {"reference_images": ["A"]}, "strength": 0.5}, "strength"),
        ("flux2-klein-4b", {"options": {"reference_images": ["TEXT"]}}, "cannot be read"),
        ("schnell", {"options": {"vae_tile_size": 200}}, "multiple of 16"),
        ("schnell", {"options": {"vae_tile_size": 256, "vae_tiling": False}}, "implies vae_tiling"),
        ("schnell", {"options": {"mlx_cache_limit_gb": float("nan")}}, "mlx_cache_limit_gb"),
    ],
)
def test_tool_options_are_refused_before_loading(
    run: Callable[..., Any],
    loader: FakeLoader,
    weights: Path,
    png: Callable[..., str],
    tmp_path: Path,
    model: str,
    fields: dict[str, Any],
    match: str,
) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    real = {"A": png("a.png"), "TEXT": str(text)}
    options = fields.get("options", {})
    if "reference_images" in options:
        options["reference_images"] = [real.get(r, r) for r in options["reference_images"]]
    if "image" in fields:
        fields["image"] = real[fields["image"]]
    with pytest.raises(InvalidRequestError, match=match):
        run(model, **fields)
    assert loader.loads == []


def test_core_bounds_of_the_memory_options(
    run: Callable[..., Any], loader: FakeLoader, weights: Path
) -> None:
    for options in ({"vae_tile_size": 64}, {"mlx_cache_limit_gb": 0}, {"low_ram": "yes"}):
        with pytest.raises(InvalidRequestError):
            run("schnell", options=options)
    assert loader.loads == []


def test_edit_plan_with_fakes(
    run: Callable[..., Any], loader: FakeLoader, weights: Path, png: Callable[..., str]
) -> None:
    refs = [png("hero.png", 320, 256), png("product.png", 256, 256)]
    output = run("flux2-klein-4b", options={"reference_images": refs})
    call = loader.calls[0]
    assert call["image_paths"] == refs and "image_path" not in call
    assert (call["width"], call["height"]) == (320, 256)  # the first reference sets the size
    assert loader.loads[0].variant == "edit"
    assert output.metadata["mflux_class"].endswith("flux2_klein_edit.Flux2KleinEdit")
    assert output.metadata["reference_images"] == refs
    run("flux2-klein-4b")  # text-to-image: the txt2img class, another load
    assert [k.variant for k in loader.loads] == ["edit", ""]


def test_low_ram_frees_the_model_after_the_call(
    run: Callable[..., Any], backend: MfluxBackend, loader: FakeLoader, weights: Path
) -> None:
    output = run("schnell", options={"low_ram": True})
    assert backend.warm_models() == []
    assert output.metadata["low_ram"] is True and output.metadata["mlx_cache_limit_gb"] == 1.0
    run("schnell")
    run("schnell")
    assert len(loader.loads) == 2  # a normal call keeps its model warm again


def test_memory_settings_apply_for_the_call_and_are_restored() -> None:
    mx = pytest.importorskip("mlx.core")
    pytest.importorskip("mflux")

    class Model:
        tiling_config = None

    original = mx.set_cache_limit(123_000_000)
    try:
        model = Model()
        with _memory_settings(model, Memory(cache_limit_gb=0.5, tile_size=256)):
            assert mx.set_cache_limit(456) == 500_000_000
            assert model.tiling_config is not None and model.tiling_config.vae_decode_tile_size == 256
            assert model.tiling_config.vae_encode_tile_size == 256
        assert model.tiling_config is None
        assert mx.set_cache_limit(123_000_000) == 123_000_000  # the limit before the call is back
        with _memory_settings(model, Memory(low_ram=True)):
            assert mx.set_cache_limit(1_000_000_000) == 1_000_000_000
            assert model.tiling_config is not None  # mflux's default tiling, as its MemorySaver
    finally:
        mx.set_cache_limit(original)


# -- on the real pipeline ---------------------------------------------------------------------


@pytest.fixture
def real_backend(tiny: Any) -> Iterator[MfluxBackend]:
    b = MfluxBackend()
    with registered(FakePlugin(b)):
        yield b
    b.release()


@pytest.mark.skipif(
    os.environ.get("ARTHUR_GEN_REQUIRE_MFLUX") != "1" and not __import__("importlib").util.find_spec("mflux"),
    reason="mflux is not installed",
)
def test_klein_edit_with_reference_images_on_the_real_pipeline(
    real_backend: MfluxBackend, tiny: Any, tmp_path: Path
) -> None:
    import numpy as np
    from PIL import Image

    refs = []
    for name, colour in (("hero.png", (200, 40, 40)), ("product.png", (30, 160, 60))):
        Image.new("RGB", (128, 128), colour).save(tmp_path / name)  # encoded at their own size
        refs.append(str(tmp_path / name))
    events: list[Any] = []
    common: dict[str, Any] = dict(backend="mflux", model="flux2-klein-4b", seed=3, steps=1, cache=False)
    edited = arthur_gen.generate_image(
        "the hero holds the product",
        options={
            "model_path": str(tiny.mflux),
            "reference_images": refs,
            "vae_tile_size": 128,
            "low_ram": True,
        },
        width=256,
        height=256,
        out_dir=tmp_path / "edit",
        on_progress=events.append,
        **common,
    )
    assert [(e.step, e.total) for e in events if e.phase == "step"] == [(0, 1), (1, 1)]
    meta = json.loads(edited.sidecars[0].read_text())["backend_metadata"]
    assert meta["mflux_class"] == "mflux.models.flux2.variants.edit.flux2_klein_edit.Flux2KleinEdit"
    assert meta["reference_images"] == refs
    assert (meta["vae_tile_size"], meta["low_ram"], meta["mlx_cache_limit_gb"]) == (128, True, 1.0)
    assert real_backend.warm_models() == []  # low-RAM: freed after the call
    plain = arthur_gen.generate_image(
        "the hero holds the product",
        options={"model_path": str(tiny.mflux)},
        width=256,
        height=256,
        out_dir=tmp_path / "plain",
        **common,
    )

    def pixels(path: Path) -> Any:
        with Image.open(path) as image:
            assert image.size == (256, 256)
            return np.asarray(image.convert("RGB"), dtype=np.float64)

    # the reference images condition the result
    assert np.abs(pixels(edited.path) - pixels(plain.path)).mean() > 1.0


# -- outpaint -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "aspect", "canvas", "box"),
    [
        ((1024, 1024), "16:9", (1808, 1024), (392, 0, 1024, 1024)),
        ((1024, 1024), "9:16", (1024, 1808), (0, 392, 1024, 1024)),
        ((1920, 1080), "1:1", (1920, 1920), (0, 420, 1920, 1080)),
        ((1920, 1080), "4:5", (1632, 2048), (0, 565, 1632, 918)),  # scaled into 2048
        ((300, 200), "16:9", (448, 256), (32, 0, 384, 256)),  # scaled up to the 256 minimum
    ],
)
def test_outpaint_plans_the_canvas(
    size: tuple[int, int],
    aspect: str,
    canvas: tuple[int, int],
    box: tuple[int, int, int, int],
    tmp_path: Path,
) -> None:
    from arthur_gen_mflux._backend import plan_request

    from arthur_gen._requests import ImageRequest

    entry = entry_for("flux2-klein-4b")
    assert entry is not None
    source = tmp_path / "key.png"
    source.write_bytes(tiny_png(*size))
    plan = plan_request(
        entry, ImageRequest(prompt="x", seed=1, image=str(source), options={"outpaint": aspect})
    )
    assert plan.outpaint is not None
    assert (plan.outpaint.canvas, plan.outpaint.box) == (canvas, box)
    kw = plan.generate_kwargs
    assert (kw["width"], kw["height"]) == canvas and "image_path" not in kw
    assert plan.key.variant == "edit"


@pytest.mark.parametrize(
    ("model", "fields", "match"),
    [
        ("schnell", {"options": {"outpaint": "16:9"}, "image": True}, "unknown option"),
        ("flux2-klein-4b", {"options": {"outpaint": "16:9"}}, "give the image"),
        ("flux2-klein-4b", {"options": {"outpaint": "1:1"}, "image": True}, "already 1:1"),
        ("flux2-klein-4b", {"options": {"outpaint": "7:3"}, "image": True}, "outpaint"),
        (
            "flux2-klein-4b",
            {"options": {"outpaint": "16:9"}, "image": True, "width": 512, "height": 256},
            "size",
        ),
        ("flux2-klein-4b", {"options": {"outpaint": "16:9"}, "image": True, "strength": 0.5}, "strength"),
    ],
)
def test_outpaint_is_refused_before_loading(
    run: Callable[..., Any],
    loader: FakeLoader,
    weights: Path,
    png: Callable[..., str],
    model: str,
    fields: dict[str, Any],
    match: str,
) -> None:
    if fields.pop("image", False):
        fields["image"] = png("square.png", 256, 256)
    with pytest.raises(InvalidRequestError, match=match):
        run(model, **fields)
    assert loader.loads == []


def test_outpaint_on_the_real_pipeline_keeps_the_original(
    real_backend: MfluxBackend, tiny: Any, tmp_path: Path
) -> None:
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 255, 256, dtype=np.uint8)
    source = tmp_path / "keyframe.png"
    Image.fromarray(
        np.stack(
            [np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), np.full((256, 256), 90, np.uint8)],
            axis=-1,
        )
    ).save(source)
    result = arthur_gen.generate_image(
        "extend the scene",
        backend="mflux",
        model="flux2-klein-4b",
        seed=4,
        steps=1,
        image=str(source),
        options={"model_path": str(tiny.mflux), "outpaint": "16:9"},
        out_dir=tmp_path / "out",
        cache=False,
    )
    meta = json.loads(result.sidecars[0].read_text())["backend_metadata"]
    assert meta["outpaint"] == {"aspect": "16:9", "canvas": [448, 256], "box": [96, 0, 256, 256]}
    assert meta["mflux_class"].endswith("Flux2KleinEdit")
    with Image.open(result.path) as image:
        assert image.size == (448, 256)
        pixels = np.asarray(image.convert("RGB"))
    with Image.open(source) as original:
        assert np.array_equal(pixels[:, 96:352], np.asarray(original.convert("RGB")))  # kept exactly
    assert pixels[:, :96].std() > 1.0  # painted borders, not empty


def test_contract_with_the_installed_mflux() -> None:
    """The names the tools rely on exist in mflux 0.24 with the arguments the plugin passes."""
    import importlib
    import inspect

    pytest.importorskip("mflux")
    entry = entry_for("flux2-klein-4b")
    assert entry is not None and entry.family.edit_module and entry.family.edit_class_name
    edit = getattr(importlib.import_module(entry.family.edit_module), entry.family.edit_class_name)
    params = inspect.signature(edit.generate_image).parameters
    assert {"image_paths", "seed", "prompt", "num_inference_steps", "width", "height"} <= set(params)
    assert "image_path" not in params
    from mflux.models.common.vae.tiling_config import TilingConfig

    fields = inspect.signature(TilingConfig).parameters
    assert {"vae_decode_tile_size", "vae_encode_tile_size"} <= set(fields)
    assert hasattr(TilingConfig, "may_tile_implicitly")
    from mflux.callbacks.instances.memory_saver import MemorySaver

    # the low-RAM cache limit mirrors MemorySaver's default (1000**3 bytes)
    assert inspect.signature(MemorySaver).parameters["cache_limit_bytes"].default == 1000**3
