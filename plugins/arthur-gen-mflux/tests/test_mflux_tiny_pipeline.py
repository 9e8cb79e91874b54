"""mflux's real FLUX.2 klein pipeline, end to end through arthur-gen, on a tiny random checkpoint.

The checkpoint is built once per session from mflux's own classes (``arthur_gen_mflux.tiny``)
and loaded by mflux's own loader from the folder given as ``model_path``: its tokenizer with the
chat template, its scheduler, its callbacks, its VAE decode and its save all run. Not skipped in
CI: the suite sets ARTHUR_GEN_REQUIRE_MFLUX=1 on Linux, where mflux is installed.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

if os.environ.get("ARTHUR_GEN_REQUIRE_MFLUX") != "1":
    pytest.importorskip("mflux", reason="mflux is not installed (install-linux-cpu.sh)")

import numpy as np
from arthur_gen_mflux import MfluxBackend, _loader
from arthur_gen_mflux.tiny import TinyKlein, tiny_lora
from PIL import Image

import arthur_gen
from arthur_gen.testing import FakePlugin, registered

MODEL = "flux2-klein-4b"


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every real mflux load (the backends below are built after this patch)."""
    seen: list[Any] = []
    real = _loader.load_mflux_model

    def counting(entry: Any, key: Any) -> Any:
        seen.append(key)
        return real(entry, key)

    monkeypatch.setattr(_loader, "load_mflux_model", counting)
    return seen


@pytest.fixture
def backend(loads: list[Any], tiny: TinyKlein) -> Iterator[MfluxBackend]:
    """A real backend (mflux's loader, MLX worker with its own stream), plugged into arthur-gen."""
    b = MfluxBackend()
    with registered(FakePlugin(b)):
        yield b
    b.release()


def _gen(folder: Path, out: Path, **kwargs: Any) -> arthur_gen.GeneratedImage:
    options = {"model_path": str(folder), **kwargs.pop("options", {})}
    kwargs.setdefault("seed", 1)
    kwargs.setdefault("steps", 2)
    return arthur_gen.generate_image(
        kwargs.pop("prompt", "a red lighthouse"),
        backend="mflux",
        model=MODEL,
        width=256,
        height=256,
        options=options,
        out_dir=out,
        cache=False,
        **kwargs,
    )


def _pixels(result: arthur_gen.GeneratedImage) -> np.ndarray:
    with Image.open(result.path) as image:
        assert image.format == "PNG" and image.size == (256, 256)
        return np.asarray(image.convert("RGB"), dtype=np.float64)


def _meta(result: arthur_gen.GeneratedImage) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(result.sidecars[0].read_text())["backend_metadata"]
    return meta


def test_text_to_image_warm_reuse_progress_and_metadata(
    backend: MfluxBackend, loads: list[Any], tiny: TinyKlein, tmp_path: Path
) -> None:
    events: list[Any] = []
    first = _gen(tiny.mflux, tmp_path, seed=1, on_progress=events.append)
    second = _gen(tiny.mflux, tmp_path, seed=2)
    again = _gen(tiny.mflux, tmp_path, seed=1)
    assert len(loads) == 1  # one load for three calls
    assert [_meta(r)["warm"] for r in (first, second, again)] == [False, True, True]
    a, b, c = _pixels(first), _pixels(second), _pixels(again)
    assert (np.abs(a - b) <= 2).mean() < 0.5, np.abs(a - b).mean()  # another seed, another picture
    assert np.array_equal(a, c)  # the same seed, the same picture
    assert a.std() > 1.0  # not a blank image
    phases = [(e.phase, e.step, e.total) for e in events if e.phase in ("step", "decoding", "saving")]
    assert phases == [
        ("step", 0, 2),
        ("step", 1, 2),
        ("step", 2, 2),
        ("decoding", None, None),
        ("saving", None, None),
    ]
    assert events[-1].phase == "saved"
    meta = _meta(first)
    assert meta["mflux_class"] == "mflux.models.flux2.variants.txt2img.flux2_klein.Flux2Klein"
    assert meta["model_path"] == str(tiny.mflux) and meta["quantize"] is None
    assert (meta["width"], meta["height"], meta["steps"], meta["seed"]) == (256, 256, 2, 1)
    with Image.open(first.path) as image:  # mflux's own metadata, as mflux-info reads it
        assert "a red lighthouse" in json.dumps({k: str(v) for k, v in image.info.items()})


def test_hugging_face_layout_loads_the_same_weights(
    backend: MfluxBackend, tiny: TinyKlein, tmp_path: Path
) -> None:
    saved = _pixels(_gen(tiny.mflux, tmp_path / "a"))
    hf = _pixels(_gen(tiny.hf, tmp_path / "b"))
    # the same tensors under diffusers/transformers names: a wrong mapping gives another picture
    assert np.array_equal(saved, hf)


def test_cancel_between_steps_keeps_the_model_warm(
    backend: MfluxBackend, tiny: TinyKlein, tmp_path: Path
) -> None:
    cancel = threading.Event()
    steps: list[int] = []

    def on_progress(event: Any) -> None:
        if event.phase == "step":
            steps.append(event.step)
            if event.step == 1:
                cancel.set()

    with pytest.raises(arthur_gen.JobCanceledError):
        _gen(tiny.mflux, tmp_path, steps=4, on_progress=on_progress, cancel_event=cancel)
    assert steps == [0, 1]  # stopped before step 2 was computed
    assert not list(tmp_path.rglob("*.png"))
    assert len(backend.warm_models()) == 1


def test_image_to_image_runs_only_its_steps(backend: MfluxBackend, tiny: TinyKlein, tmp_path: Path) -> None:
    source = tmp_path / "in.png"
    ramp = np.linspace(0, 255, 256, dtype=np.uint8)
    Image.fromarray(np.stack([np.tile(ramp, (256, 1))] * 3, axis=-1)).save(source)
    events: list[Any] = []
    result = _gen(tiny.mflux, tmp_path, image=str(source), strength=0.5, steps=2, on_progress=events.append)
    assert [(e.step, e.total) for e in events if e.phase == "step"] == [(0, 1), (1, 1)]
    meta = _meta(result)
    assert meta["image_path"] == str(source) and meta["image_strength"] == 0.5
    plain = _pixels(_gen(tiny.mflux, tmp_path, steps=2))
    assert np.abs(_pixels(result) - plain).mean() > 1.0  # the input image changed the output


def test_quantize_on_load_equals_the_prequantized_folder(
    backend: MfluxBackend, loads: list[Any], tiny: TinyKlein, tmp_path: Path
) -> None:
    on_load = _gen(tiny.mflux, tmp_path / "a", steps=1, options={"quantize": 4})
    folder = _gen(tiny.q4, tmp_path / "b", steps=1)
    assert [k.quantize for k in loads] == [4, None]
    # the bits mflux actually used: the folder's own, though none were asked for
    assert _meta(on_load)["quantize"] == 4 and _meta(folder)["quantize"] == 4
    assert np.array_equal(_pixels(on_load), _pixels(folder))


def test_lora_paths_and_scales(backend: MfluxBackend, tiny: TinyKlein, tmp_path: Path) -> None:
    lora = tiny_lora(tmp_path / "style.safetensors")
    base = _pixels(_gen(tiny.mflux, tmp_path / "a", steps=1))
    styled = _gen(
        tiny.mflux, tmp_path / "b", steps=1, options={"lora_paths": [str(lora)], "lora_scales": [1.5]}
    )
    assert np.abs(_pixels(styled) - base).mean() > 1.0
    meta = _meta(styled)
    assert meta["lora_paths"] == [str(lora)] and meta["lora_scales"] == [1.5]


def test_release_frees_mlx_memory(backend: MfluxBackend, tiny: TinyKlein, tmp_path: Path) -> None:
    import mlx.core as mx

    mx.clear_cache()
    before = mx.get_active_memory()
    _gen(tiny.mflux, tmp_path, steps=1)
    loaded = mx.get_active_memory()
    weights = sum(f.stat().st_size for f in tiny.mflux.rglob("*.safetensors"))
    assert loaded - before >= weights * 0.5  # the warm model's weights are held
    backend.release()
    assert backend.warm_models() == []
    assert mx.get_active_memory() - before < weights * 0.1
    assert mx.get_cache_memory() < weights * 0.1  # and MLX returned its cached buffers


@pytest.fixture
def run_cli(tiny: TinyKlein, tmp_path: Path) -> Callable[..., Any]:
    import subprocess
    import sys

    from arthur_gen_mflux.tiny import TINY_CLI_DRIVER

    env = dict(os.environ, ARTHUR_GEN_LOAD_PLUGINS="arthur-gen-mflux", MLX_DISABLE_COMPILE="1")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", TINY_CLI_DRIVER, "image", "a red lighthouse", "--backend", "mflux"]
        argv += ["--model", MODEL, "--size", "256x256", "--steps", "1", "--json", "--no-cache"]
        argv += ["-o", f"model_path={tiny.mflux}", "--out", str(tmp_path / "out"), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600, check=False)

    return run


CLI_RUNS = 3


def test_cli_child_processes_all_exit_zero_with_several_seeds(run_cli: Callable[..., Any]) -> None:
    procs = [run_cli("--seed", str(n), "--seed", str(n + 10)) for n in range(CLI_RUNS)]
    codes = [p.returncode for p in procs]
    assert codes == [0] * CLI_RUNS, (codes, [p.stderr[-2000:] for p in procs])  # 134: MLX abort at exit
    for proc in procs:
        assert "Traceback" not in proc.stderr
        results = json.loads(proc.stdout)
        assert len(results) == 2  # two seeds in one call
        metas = [json.loads(Path(r["paths"][0] + ".json").read_text())["backend_metadata"] for r in results]
        assert [m["warm"] for m in metas] == [False, True]  # loaded once for both
        for result in results:
            with Image.open(result["paths"][0]) as image:
                assert image.size == (256, 256)
