"""FLUX.1 Fill (``dev-fill``): an image and a mask in, the white part painted from the prompt.

FLUX.1 is built at full size in mflux's code (no registry overrides), so no tiny checkpoint runs
it here: the run goes through :class:`FakeLoader` at the ``loader=`` seam, and the contract test
binds the exact call to the installed ``Flux1Fill``.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._backend import plan_request
from arthur_gen_mflux._catalog import FILL_MODELS, entry_for, model_info
from arthur_gen_mflux.testing import FakeLoader, tiny_png

from arthur_gen._requests import ImageRequest
from arthur_gen.errors import InvalidRequestError
from arthur_gen.testing import FakePlugin, registered


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    made = {
        "IMAGE": ("image.png", tiny_png(640, 480)),
        "MASK": ("mask.png", tiny_png(640, 480, (255, 255, 255))),
        "BLACK": ("black.png", tiny_png(640, 480, (0, 0, 0))),
        "SQUARE": ("square.png", tiny_png(480, 480, (255, 255, 255))),
        "TEXT": ("notes.png", b"not an image"),
    }
    out = {}
    for key, (name, data) in made.items():
        (tmp_path / name).write_bytes(data)
        out[key] = str(tmp_path / name)
    return out


def test_plan_passes_what_mflux_generate_fill_passes(files: dict[str, str]) -> None:
    entry = entry_for("fill")
    assert entry is not None and entry.id == "dev-fill"
    request = ImageRequest(prompt="a red door", seed=2, image=files["IMAGE"], options={"mask": files["MASK"]})
    plan = plan_request(entry, request)
    assert plan.generate_kwargs == {
        "seed": 2,
        "prompt": "a red door",
        "num_inference_steps": 25,
        "width": 640,
        "height": 480,
        "scheduler": "linear",
        "guidance": 30.0,
        "image_path": files["IMAGE"],
        "masked_image_path": files["MASK"],
    }
    assert plan.class_path == "mflux.models.flux.variants.fill.flux_fill.Flux1Fill"
    assert plan.metadata()["mask_path"] == files["MASK"] and plan.metadata()["strength"] is None


def test_a_mask_of_the_image_size_is_accepted_whatever_the_rounding(tmp_path: Path) -> None:
    entry = entry_for("dev-fill")
    assert entry is not None
    image, mask = tmp_path / "frame.png", tmp_path / "mask.png"
    image.write_bytes(tiny_png(1920, 1080))  # planned at 1920x1072 (multiples of 16)
    mask.write_bytes(tiny_png(1920, 1080, (255, 255, 255)))
    request = ImageRequest(prompt="p", seed=1, image=str(image), options={"mask": str(mask)})
    plan = plan_request(entry, request)
    assert (plan.generate_kwargs["width"], plan.generate_kwargs["height"]) == (1920, 1072)


@pytest.mark.parametrize(
    ("model", "fields", "match"),
    [
        ("dev-fill", {"options": {"mask": "MASK"}}, "needs an input image"),
        ("dev-fill", {"image": "IMAGE"}, "give the mask"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "/no/such.png"}}, "no such file"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "https://x/m.png"}}, "local image"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "TEXT"}}, "cannot be read"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "BLACK"}}, "all black"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "SQUARE"}}, "image's shape"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "MASK"}, "strength": 0.5}, "strength"),
        ("dev-fill", {"image": "IMAGE", "options": {"mask": "MASK"}, "negative_prompt": "x"}, "negative"),
        ("schnell", {"image": "IMAGE", "options": {"mask": "MASK"}}, "unknown option"),
    ],
)
def test_fill_is_refused_before_loading(
    run: Callable[..., Any],
    loader: FakeLoader,
    weights: Path,
    files: dict[str, str],
    model: str,
    fields: dict[str, Any],
    match: str,
) -> None:
    if "image" in fields:
        fields["image"] = files[fields["image"]]
    options = fields.get("options", {})
    if "mask" in options:
        options["mask"] = files.get(options["mask"], options["mask"])
    with pytest.raises(InvalidRequestError, match=match):
        run(model, **fields)
    assert loader.loads == []


def test_fill_runs_at_the_seam(
    run: Callable[..., Any], backend: MfluxBackend, loader: FakeLoader, weights: Path, files: dict[str, str]
) -> None:
    output = run(
        "dev-fill",
        prompt="a red door",
        image=files["IMAGE"],
        steps=3,
        guidance=20.0,
        options={"mask": files["MASK"], "quantize": 8},
    )
    (call,) = loader.calls
    assert call["masked_image_path"] == files["MASK"] and "image_strength" not in call
    assert (call["num_inference_steps"], call["guidance"]) == (3, 20.0)
    assert loader.loads[0].quantize == 8
    meta = output.metadata
    assert meta["mflux_class"].endswith("Flux1Fill") and meta["mflux_config"] == "dev-fill"
    assert meta["mask_path"] == files["MASK"] and meta["revision"] == FILL_MODELS[0].revision


def test_the_mask_is_part_of_the_cache_identity(backend: MfluxBackend, files: dict[str, str]) -> None:
    info = model_info(FILL_MODELS[0])
    request = ImageRequest(prompt="p", seed=1, image=files["IMAGE"], options={"mask": files["MASK"]})
    before = backend.cache_identity(request, info)
    Path(files["MASK"]).write_bytes(tiny_png(640, 480, (250, 250, 250)))  # another mask, same path
    assert before is not None and backend.cache_identity(request, info) != before


def test_models_options_lists_the_fill(capsys: pytest.CaptureFixture[str]) -> None:
    from arthur_gen.cli._main import main

    with registered(FakePlugin(MfluxBackend(loader=FakeLoader()))):
        assert main(["models", "--backend", "mflux", "--options"]) == 0
    out = capsys.readouterr().out
    block = out.split("mflux dev-fill:")[1].split("\nmflux ")[0]
    assert "mask (str" in block and "lora_paths" in block and "reference_images" not in block
    assert "mask (str" not in out.split("mflux schnell:")[1].split("\nmflux ")[0]
    info = model_info(FILL_MODELS[0])
    assert info.requires_image and not info.supports_strength and info.default_guidance == 30.0


def test_contract_with_the_installed_mflux(files: dict[str, str]) -> None:
    pytest.importorskip("mflux")
    entry = FILL_MODELS[0]
    family = entry.family
    cls = getattr(importlib.import_module(family.module), family.class_name)
    from arthur_gen_mflux._loader import LoadKey

    key = LoadKey(
        model=entry.id, quantize=8, model_path="/m", lora_paths=("/a.safetensors",), lora_scales=(0.5,)
    )
    inspect.signature(cls.__init__).bind(None, model_config=object(), **key.constructor_kwargs())
    signature = inspect.signature(cls.generate_image)
    assert "negative_prompt" not in signature.parameters
    for request in (
        ImageRequest(prompt="p", seed=1, image=files["IMAGE"], options={"mask": files["MASK"]}),
        ImageRequest(
            prompt="p",
            seed=1,
            image=files["IMAGE"],
            steps=4,
            guidance=10.0,
            width=512,
            height=384,
            options={"mask": files["MASK"]},
        ),
    ):
        signature.bind(None, **plan_request(entry, request).generate_kwargs)
    config_module = importlib.import_module("mflux.models.common.config.model_config")
    config = getattr(config_module.ModelConfig, entry.config_factory)()
    assert config_module.AVAILABLE_MODELS[entry.config_key] is config and config.model_name == entry.repo
    assert config.supports_guidance
    revisions = importlib.import_module("mflux.models.common.resolution.model_revisions")
    assert revisions.ModelRevisions.get(entry.repo) == entry.revision
    defaults = importlib.import_module("mflux.cli.defaults.defaults")
    assert entry.default_steps == defaults.MODEL_INFERENCE_STEPS[entry.config_key]
    assert entry.default_guidance == defaults.DEFAULT_DEV_FILL_GUIDANCE
    assert signature.parameters["scheduler"].default == entry.scheduler
    # the fill loads FLUX.1's weight layout: the same download patterns and cache check
    initializer = inspect.getsource(
        importlib.import_module("mflux.models.flux.flux_initializer").FluxInitializer.init
    )
    assert "FluxWeightDefinition" in initializer or "_load_weights" in initializer
    definition = getattr(importlib.import_module(family.weights_module), family.weights_class)
    tokens = [p for t in definition.get_tokenizers() for p in (t.download_patterns or [])]
    assert set(family.download_patterns) == set(definition.get_download_patterns()) | set(tokens)


def test_real_loader_builds_flux1_fill_up_to_the_weights(tmp_path: Path) -> None:
    pytest.importorskip("mflux")
    from arthur_gen_mflux._loader import LoadKey, load_mflux_model

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_mflux_model(FILL_MODELS[0], LoadKey(model="dev-fill", quantize=8, model_path=str(empty)))
