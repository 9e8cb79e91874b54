"""Contract tests against the INSTALLED mflux: every class, config, argument and callback the
plugin uses exists with the shape the plugin expects.

The checks walk the plugin's own catalog and the arguments ``plan_request`` builds, so a name
renamed in a new mflux fails here rather than in a user's run. No weights are needed.
Skipped only when mflux is not installed; set ARTHUR_GEN_REQUIRE_MFLUX=1 (CI does) to make
that a failure instead.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mflux import MfluxBackend
from arthur_gen_mflux._catalog import (
    CATALOG,
    FAMILIES,
    QUANTIZE_CHOICES,
    SIZE_MULTIPLE,
    Entry,
    Family,
    model_info,
)
from arthur_gen_mflux._loader import LoadKey, load_mflux_model
from arthur_gen_mflux._progress import StepBridge
from arthur_gen_mflux._weights import hf_hub_cache, snapshot_dir
from arthur_gen_mflux.testing import fake_weights, tiny_png

from arthur_gen._backends import LocalContext
from arthur_gen._requests import ImageRequest
from arthur_gen.errors import GenerationError, JobCanceledError

if os.environ.get("ARTHUR_GEN_REQUIRE_MFLUX") == "1":
    import mflux  # noqa: F401  (fail loudly: CI installs it)
else:
    pytest.importorskip("mflux", reason="mflux is not installed (install-linux-cpu.sh)")


def _cls(family: Family) -> Any:
    return getattr(importlib.import_module(family.module), family.class_name)


def _params(func: Any) -> dict[str, inspect.Parameter]:
    return dict(inspect.signature(func).parameters)


def _model_config() -> Any:
    return importlib.import_module("mflux.models.common.config.model_config")


def test_installed_mflux_is_the_supported_range() -> None:
    version = importlib.metadata.version("mflux")
    assert version.startswith("0.24."), version


# -- classes, constructors, generate_image -----------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_constructor_takes_what_the_loader_passes(family: Family) -> None:
    cls = _cls(family)
    key = LoadKey(model="x", quantize=8, model_path="/m", lora_paths=("/a.safetensors",), lora_scales=(0.5,))
    # bind() raises TypeError for a renamed or removed argument
    inspect.signature(cls.__init__).bind(None, model_config=object(), **key.constructor_kwargs())
    params = _params(cls.__init__)
    assert params["quantize"].default is None
    assert params["lora_paths"].default is None


def _requests(entry: Entry, image: str) -> list[ImageRequest]:
    options = {"quantize": 8}
    requests = [
        ImageRequest(prompt="p", seed=1),
        ImageRequest(prompt="p", seed=1, steps=3, width=512, height=768, options=options),
        ImageRequest(prompt="p", seed=1, image=image, strength=0.7),
        ImageRequest(prompt="p", seed=1, aspect_ratio="16:9"),
    ]
    if entry.supports_guidance:
        requests.append(ImageRequest(prompt="p", seed=1, guidance=2.0))
    if entry.negative_prompt:
        requests.append(ImageRequest(prompt="p", seed=1, negative_prompt="blurry", guidance=3.0))
    return requests


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_generate_image_takes_what_the_plugin_passes(entry: Entry, tmp_path: Path) -> None:
    from arthur_gen_mflux._backend import plan_request

    image = tmp_path / "in.png"
    image.write_bytes(tiny_png(64, 64))
    method = _cls(entry.family).generate_image
    signature = inspect.signature(method)
    for request in _requests(entry, str(image)):
        kwargs = plan_request(entry, request).generate_kwargs
        signature.bind(None, **kwargs)
        assert {"seed", "prompt", "num_inference_steps", "width", "height"} <= set(kwargs)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_negative_prompt_argument(family: Family) -> None:
    params = _params(_cls(family).generate_image)
    assert ("negative_prompt" in params) is family.has_negative_prompt_arg
    for entry in CATALOG:
        if entry.family is family and entry.negative_prompt:
            assert "negative_prompt" in params, entry.id
    for name in ("image_path", "image_strength", "scheduler", "guidance"):
        assert name in params, name


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_scheduler_defaults(family: Family) -> None:
    schedulers = importlib.import_module("mflux.models.common.schedulers")
    default = _params(_cls(family).generate_image)["scheduler"].default
    for entry in CATALOG:
        if entry.family is not family:
            continue
        assert entry.scheduler in schedulers.SCHEDULER_REGISTRY
        config = getattr(_model_config().ModelConfig, entry.config_factory)()
        if default is None:  # ZImage picks one by whether the config uses guidance
            expected = "flow_match_euler_discrete" if config.supports_guidance else "linear"
        else:
            expected = default
        assert entry.scheduler == expected, entry.id


# -- configs, repos, pinned revisions, defaults ------------------------------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_model_config(entry: Entry) -> None:
    module = _model_config()
    config = getattr(module.ModelConfig, entry.config_factory)()
    assert module.AVAILABLE_MODELS[entry.config_key] is config
    assert config.model_name == entry.repo
    assert module.ModelConfig.from_name(entry.config_key) is config
    revisions = importlib.import_module("mflux.models.common.resolution.model_revisions")
    assert revisions.ModelRevisions.get(entry.repo) == entry.revision
    if entry.family.name == "qwen":  # QwenImage always runs true CFG with config.guidance
        assert "compute_guided_noise" in inspect.getsource(_cls(entry.family).generate_image)
    elif entry.supports_guidance:
        assert config.supports_guidance, f"{entry.id}: mflux builds no guidance path"
    elif entry.family.name != "flux2":  # Klein is guidance-capable but distilled to 1.0
        assert not config.supports_guidance, f"{entry.id}: mflux would use guidance"


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_default_steps_match_mflux(entry: Entry) -> None:
    defaults = importlib.import_module("mflux.cli.defaults.defaults")
    assert entry.default_steps == defaults.MODEL_INFERENCE_STEPS[entry.config_key]


def test_quantize_and_size_step_match_mflux() -> None:
    defaults = importlib.import_module("mflux.cli.defaults.defaults")
    assert set(defaults.QUANTIZE_CHOICES) == set(QUANTIZE_CHOICES)
    assert defaults.DIMENSION_STEP_PIXELS == SIZE_MULTIPLE


def test_aliases_do_not_shadow_other_mflux_models() -> None:
    """An alias that is another mflux model's name would mislead users."""
    module = _model_config()
    for entry in CATALOG:
        for alias in entry.aliases:
            other = module.AVAILABLE_MODELS.get(alias)
            assert other is None or other.model_name == entry.repo, alias


# -- weights: patterns and cache check ------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_download_patterns_match_the_weight_definition(family: Family) -> None:
    definition = getattr(importlib.import_module(family.weights_module), family.weights_class)
    weights = list(definition.get_download_patterns())
    tokenizers = definition.get_tokenizers()
    token_patterns = [p for t in tokenizers for p in (t.download_patterns or [])]
    assert set(family.download_patterns) == set(weights + token_patterns)
    dirs = {p.split("/")[0] for p in weights if p.endswith("/*.safetensors")}
    assert set(family.weight_dirs) == dirs
    assert set(family.tokenizer_dirs) == {t.hf_subdir for t in tokenizers}


def _mflux_finds(repo: str, family: Family, cache: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    resolution = importlib.import_module("mflux.models.common.resolution.path_resolution")
    definition = getattr(importlib.import_module(family.weights_module), family.weights_class)
    monkeypatch.setattr(resolution, "HF_HUB_CACHE", str(cache))
    found = resolution.PathResolution._find_complete_cached_snapshot(
        repo, list(definition.get_download_patterns())
    )
    return found is not None


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_cache_check_agrees_with_mflux(entry: Entry, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = hf_hub_cache()

    def both() -> tuple[bool, bool]:
        ours = snapshot_dir(entry.repo, entry.revision, entry.family) is not None
        return ours, _mflux_finds(entry.repo, entry.family, cache, monkeypatch)

    assert both() == (False, False)
    fake_weights([entry.id])
    assert both() == (True, True)
    snapshot = cache / f"models--{entry.repo.replace('/', '--')}" / "snapshots" / str(entry.revision)
    transformer = snapshot / "transformer" / "model.safetensors"
    index = {"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}
    (snapshot / "transformer" / "model.safetensors.index.json").write_text(json.dumps(index))
    assert both() == (False, False)  # a shard the index names is missing
    (snapshot / "transformer" / "model-1.safetensors").write_bytes(b"")
    (snapshot / "transformer" / "model-2.safetensors").write_bytes(b"")
    assert both() == (True, True)
    for f in (snapshot / "transformer").iterdir():
        f.unlink()
    transformer.symlink_to(cache / "gone")  # an interrupted download
    assert both() == (False, False)


def test_hub_cache_folder_matches_huggingface_hub(tmp_path: Path) -> None:
    code = (
        "import json, huggingface_hub.constants as c; "
        "from arthur_gen_mflux._weights import hf_hub_cache; "
        "print(json.dumps([str(hf_hub_cache()), c.HF_HUB_CACHE]))"
    )
    cases: list[dict[str, str]] = [
        {},
        {"HF_HOME": str(tmp_path / "home")},
        {"HF_HUB_CACHE": str(tmp_path / "hub")},
        {"XDG_CACHE_HOME": str(tmp_path / "xdg")},
        {"HF_HOME": str(tmp_path / "home"), "HF_HUB_CACHE": str(tmp_path / "hub2")},
    ]
    for extra in cases:
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME")
        }
        env.update(extra)
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
        ours, theirs = json.loads(out)
        assert Path(ours) == Path(theirs), extra


# -- callbacks: the real registry and loop context drive our bridge ---------------------------


def _config(steps: int, image: str | None = None, image_strength: float | None = None) -> Any:
    config_module = importlib.import_module("mflux.models.common.config.config")
    return config_module.Config(
        model_config=_model_config().ModelConfig.schnell(),
        num_inference_steps=steps,
        width=256,
        height=256,
        guidance=3.5,
        scheduler="linear",
        image_path=image,
        image_strength=image_strength,
    )


def _drive(config: Any, ctx: LocalContext) -> None:
    """Run mflux's GenerationContext like a model's denoising loop does."""
    import mlx.core as mx

    registry_module = importlib.import_module("mflux.callbacks.callback_registry")
    registry = registry_module.CallbackRegistry()
    bridge = StepBridge()
    registry.register(bridge)
    assert bridge in registry.before_loop_callbacks()
    assert bridge in registry.in_loop_callbacks()
    bridge.attach(ctx)
    loop = registry.start(seed=1, prompt="p", config=config)
    latents = mx.zeros((1, 4))
    loop.before_loop(latents)
    for t in config.time_steps:
        loop.in_loop(t, latents)
    loop.after_loop(latents)


def test_callbacks_report_progress(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    ctx = LocalContext(job_id="j", workdir=tmp_path, on_step=lambda s, t: seen.append((s, t)))
    _drive(_config(4), ctx)
    assert seen == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_callbacks_count_image_to_image_steps(tmp_path: Path) -> None:
    image = tmp_path / "in.png"
    image.write_bytes(tiny_png(64, 64))
    seen: list[tuple[int, int]] = []
    ctx = LocalContext(job_id="j", workdir=tmp_path, on_step=lambda s, t: seen.append((s, t)))
    _drive(_config(10, str(image), 0.3), ctx)  # mflux skips int(10 * 0.3) = 3 steps
    assert seen == [(i, 7) for i in range(8)]


def test_cancel_escapes_the_loop_context(tmp_path: Path) -> None:
    cancel = threading.Event()

    def on_step(step: int, total: int) -> None:
        if step == 2:
            cancel.set()

    ctx = LocalContext(job_id="j", workdir=tmp_path, cancel_event=cancel, on_step=on_step)
    with pytest.raises(JobCanceledError):
        _drive(_config(4), ctx)


def test_bridge_does_not_ask_for_denoised_latents() -> None:
    """Declaring ``denoised`` would make mflux compute it for every step."""
    context = importlib.import_module("mflux.callbacks.generation_context")
    assert context.GenerationContext._accepts_denoised(StepBridge()) is False
    protocol = importlib.import_module("mflux.callbacks.callback")
    in_loop = _params(protocol.InLoopCallback.call_in_loop)
    assert {"t", "config"} <= set(in_loop)


def test_config_fields_the_bridge_reads() -> None:
    config = _config(6)
    assert config.num_inference_steps == 6
    assert config.init_time_step == 0


def test_stop_exception_name() -> None:
    exceptions = importlib.import_module("mflux.utils.exceptions")
    assert exceptions.StopImageGenerationException.__name__ == "StopImageGenerationException"


def test_generated_image_save() -> None:
    generated = importlib.import_module("mflux.utils.generated_image")
    params = _params(generated.GeneratedImage.save)
    assert {"path", "export_json_metadata", "overwrite"} <= set(params)


def test_mlx_cache_clearing() -> None:
    import mlx.core as mx

    assert callable(mx.clear_cache)


# -- the real loader, up to the point where weights would be read -----------------------------


@pytest.mark.parametrize("entry", CATALOG, ids=lambda e: e.id)
def test_real_loader_reaches_weight_loading(entry: Entry, tmp_path: Path) -> None:
    """Constructor arguments and the config factory are accepted at run time: mflux gets as
    far as looking for safetensors in the (empty) model folder."""
    empty = tmp_path / "empty-model"
    empty.mkdir()
    key = LoadKey(model=entry.id, quantize=8, model_path=str(empty))
    with pytest.raises(FileNotFoundError, match="safetensors"):
        load_mflux_model(entry, key)


def test_real_backend_turns_load_failures_into_generation_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty-model"
    empty.mkdir()
    backend = MfluxBackend()
    info = model_info(CATALOG[0])
    request = ImageRequest(prompt="p", seed=1, options={"model_path": str(empty)})
    backend.validate(request, info)
    ctx = LocalContext(job_id="j", workdir=tmp_path / "work")
    with pytest.raises(GenerationError, match="No safetensors"):
        backend.generate(request, info, ctx)
    assert backend.warm_models() == []


def test_mlx_worker_keeps_models_on_one_thread_and_stream() -> None:
    """Weights made on the worker are used on the worker, under its own stream, whichever
    thread asks (MLX streams are thread-local since 0.31.2)."""
    import mlx.core as mx

    from arthur_gen import MlxWorker

    nn: Any = importlib.import_module("mlx.nn")
    worker = MlxWorker(use_mlx_stream=True)
    layer = worker.run(lambda: nn.Linear(4, 2))
    worker.run(lambda: mx.eval(layer.parameters()))
    streams: list[Any] = []
    results: list[Any] = []

    def use() -> None:
        def forward() -> Any:
            streams.append(mx.default_stream(mx.default_device()))
            out = layer(mx.ones((1, 4)))
            mx.eval(out)
            return out.shape

        results.append(worker.run(forward))

    callers = [threading.Thread(target=use) for _ in range(3)]
    for t in callers:
        t.start()
    for t in callers:
        t.join()
    assert results == [(1, 2)] * 3
    assert len(worker.thread_ids) == 1
    assert len({str(s) for s in streams}) == 1
    assert streams[0] != mx.default_stream(mx.default_device())  # not the caller's stream


def test_z_image_size_matches_mflux_readme() -> None:
    """The download size the plugin states is the one mflux's Z-Image README states."""
    import mflux
    from arthur_gen_mflux._catalog import entry_for

    readme = Path(mflux.__file__).parent / "models" / "z_image" / "README.md"
    assert "(~31GB)" in readme.read_text()
    for model_id in ("z-image", "z-image-turbo"):
        entry = entry_for(model_id)
        assert entry is not None and entry.download_gb == 31.0
