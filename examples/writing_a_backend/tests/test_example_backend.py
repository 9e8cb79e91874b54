"""Tests of the worked example backend, with a test double at the mlx_video seam.

mlx_video is not installed where these run (it needs Apple Silicon), so a fixture puts a stub
``mlx_video.generate_wan`` module in ``sys.modules`` and the tests monkeypatch its
``generate_video``, the one function the backend calls. Everything else is real: the catalog,
the core's validation, durable jobs, outputs and sidecars, progress and cancellation.
"""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.metadata
import json
import os
import subprocess
import sys
import threading
import tomllib
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import arthur_gen_mlx_video_example as plugin
import pytest
from arthur_gen_mlx_video_example import _backend
from arthur_gen_mlx_video_example._catalog import CATALOG, entry_for, frames_for

import arthur_gen
from arthur_gen.testing import BackendConformance, FakeImageBackend, FakePlugin, registered

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent
DOC = PACKAGE_ROOT.parent.parent / "docs" / "writing-a-backend.md"
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private arthur-gen home, no entry-point plugins, converted weights for every model."""
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    monkeypatch.delenv("ARTHUR_GEN_OUTPUT_DIR", raising=False)
    monkeypatch.delenv(_backend.IGNORE_MEMORY_ENV, raising=False)
    models = tmp_path / "models"
    for entry in CATALOG:
        folder = models / entry.folder
        folder.mkdir(parents=True)
        for name in _backend._required_files(entry):
            (folder / name).write_bytes(b"{}")
    monkeypatch.setenv(_backend.MODELS_ENV, str(models))
    monkeypatch.setattr(_backend, "total_memory_gb", lambda: 128.0)


class Recorder:
    """The test double of ``mlx_video.generate_wan.generate_video``: records, renders, writes."""

    def __init__(self, module: types.ModuleType) -> None:
        self.module = module
        self.calls: list[dict[str, Any]] = []
        self.fail: Exception | None = None
        self.on_step: Callable[[int], None] | None = None

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)
        print("Wan generation (stub)")  # mlx_video prints as it goes
        # mlx_video looks tqdm up in its module's globals at call time, as this does
        for step in self.module.tqdm(range(kwargs["steps"]), desc="Diffusion"):
            if self.on_step is not None:
                self.on_step(step)
        if self.fail is not None:
            raise self.fail
        Path(kwargs["output_path"]).write_bytes(MP4)


@pytest.fixture
def fake_mlx_video(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    """A stub ``mlx_video`` package whose ``generate_wan.generate_video`` is a Recorder."""
    package = types.ModuleType("mlx_video")
    package.__spec__ = importlib.machinery.ModuleSpec("mlx_video", None, is_package=True)
    package.__path__ = []
    module = types.ModuleType("mlx_video.generate_wan")
    module.__spec__ = importlib.machinery.ModuleSpec("mlx_video.generate_wan", None)
    module.tqdm = lambda iterable, **kwargs: iterable  # type: ignore[attr-defined]
    package.generate_wan = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlx_video", package)
    monkeypatch.setitem(sys.modules, "mlx_video.generate_wan", module)
    monkeypatch.setattr(_backend, "installed_version", lambda: "0.1.37")
    recorder = Recorder(module)
    monkeypatch.setattr(module, "generate_video", recorder, raising=False)
    yield recorder


@pytest.fixture
def backend(fake_mlx_video: Recorder) -> Iterator[_backend.MlxVideoBackend]:
    b = _backend.MlxVideoBackend()
    with registered(FakePlugin(b)):
        yield b
    b.release()


# -- the contract -----------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_mlx_video")
class TestConformance(BackendConformance):
    backend_factory = staticmethod(lambda: _backend.MlxVideoBackend())
    sample_prompt = "waves rolling in at dusk"
    run_generation = True


def test_entry_point_is_declared() -> None:
    data = tomllib.loads((PACKAGE_ROOT / "pyproject.toml").read_text())
    assert data["project"]["entry-points"]["arthur_gen"] == {
        "mlx_video_example": "arthur_gen_mlx_video_example"
    }
    assert callable(plugin.register_video_backends)
    try:
        (ep,) = importlib.metadata.entry_points(group="arthur_gen", name="mlx_video_example")
    except ValueError:
        pytest.skip("the example is not pip-installed here")
    assert ep.value == "arthur_gen_mlx_video_example"


def test_the_hook_registers_one_shared_backend() -> None:
    with registered(plugin):
        (info,) = [b for b in arthur_gen.list_backends("video") if b["id"] == "mlx-video"]
        assert arthur_gen.get_backend("mlx-video", "video") is plugin.backend()
    assert info["local"] is True


def test_importing_and_listing_import_nothing_heavy() -> None:
    code = (
        "import sys, arthur_gen_mlx_video_example as p\n"
        "b = p.backend(); b.availability(); [b.model_availability(m) for m in b.models()]\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('mlx', 'mlx_video', 'numpy', 'torch')]\n"
        "assert not heavy, heavy\n"
    )
    # not installed by setup: the child imports it from its folder, as conftest.py does here
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# -- can it run here? -------------------------------------------------------------------------


def test_unavailable_without_mlx_video_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "mlx_video", raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(_backend.platform, "machine", lambda: "arm64")
    monkeypatch.setattr(_backend.importlib.util, "find_spec", lambda name: None)
    availability = _backend.MlxVideoBackend().availability()
    assert not availability.ok
    assert "mlx_video is not installed" in availability.reason
    assert availability.fix == _backend.INSTALL


def test_unavailable_on_an_intel_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.setattr(_backend.platform, "machine", lambda: "x86_64")
    assert "Apple Silicon" in _backend.MlxVideoBackend().availability().reason


def test_another_mlx_video_package_is_detected(
    fake_mlx_video: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_backend, "installed_version", lambda: None)
    availability = _backend.MlxVideoBackend().availability()
    assert not availability.ok and "pip uninstall mlx-video" in availability.fix


def test_missing_weights_are_reported_with_the_commands(
    backend: _backend.MlxVideoBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(_backend.MODELS_ENV, str(tmp_path / "empty"))
    model = backend.models()[0]
    availability = backend.model_availability(model)
    assert not availability.ok and "t5_encoder.safetensors" in availability.reason
    assert "python -m mlx_video.convert_wan" in availability.fix
    with pytest.raises(arthur_gen.BackendUnavailableError, match=r"hf download Wan-AI/Wan2\.1-T2V-1\.3B"):
        arthur_gen.generate_video("waves", backend="mlx-video")


def test_too_little_memory(backend: _backend.MlxVideoBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backend, "total_memory_gb", lambda: 24.0)
    ready = {m.id: backend.model_availability(m).ok for m in backend.models()}
    assert ready == {"wan2.1-t2v-1.3b": True, "wan2.2-ti2v-5b": False, "wan2.2-i2v-a14b": False}
    monkeypatch.setenv(_backend.IGNORE_MEMORY_ENV, "1")
    assert all(backend.model_availability(m).ok for m in backend.models())


# -- requests -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "fps", "step", "frames"), [(5, 16, 4, 81), (2, 16, 4, 33), (3, 24, 4, 73), (1, 24, 8, 25)]
)
def test_frames_for(seconds: float, fps: int, step: int, frames: int) -> None:
    assert frames_for(seconds, fps, step) == frames
    assert (frames - 1) % step == 0


def test_frames_must_be_4n_plus_1(backend: _backend.MlxVideoBackend) -> None:
    with pytest.raises(arthur_gen.InvalidRequestError, match=r"1 \+ 4k \(try 77 or 81\)") as info:
        arthur_gen.generate_video("waves", backend="mlx-video", options={"num_frames": 80})
    assert info.value.field == "options.num_frames"
    assert arthur_gen.history() == []  # rejected before any job was written


def test_declared_limits_are_checked_by_the_core(backend: _backend.MlxVideoBackend) -> None:
    with pytest.raises(arthur_gen.InvalidRequestError, match="multiple of 16"):
        arthur_gen.generate_video("waves", backend="mlx-video", width=830, height=480)
    with pytest.raises(arthur_gen.InvalidRequestError, match="duration"):
        arthur_gen.generate_video("waves", backend="mlx-video", duration=4)
    with pytest.raises(arthur_gen.InvalidRequestError, match="needs an input image"):
        arthur_gen.generate_video("waves", backend="mlx-video", model="wan2.2-i2v-a14b")


def test_rules_that_need_arithmetic(backend: _backend.MlxVideoBackend, tmp_path: Path) -> None:
    with pytest.raises(arthur_gen.InvalidRequestError, match="901,120 pixels"):
        arthur_gen.generate_video("waves", backend="mlx-video", model="wan-5b", width=1280, height=1280)
    with pytest.raises(arthur_gen.InvalidRequestError, match="at most 4294967295"):
        arthur_gen.generate_video("waves", backend="mlx-video", seed=2**40)
    with pytest.raises(arthur_gen.InvalidRequestError, match="not both"):
        arthur_gen.generate_video("waves", backend="mlx-video", duration=2, options={"num_frames": 33})
    with pytest.raises(arthur_gen.InvalidRequestError, match="local file"):
        arthur_gen.generate_video(
            "waves", backend="mlx-video", model="wan-5b", first_frame="https://example.com/a.png"
        )


def test_dry_run_describes_the_call(backend: _backend.MlxVideoBackend) -> None:
    plan = arthur_gen.plan("video", "waves", backend="mlx-video", duration=2, seed=5).to_dict()
    assert plan["estimate"]["usd"] == 0.0
    sent = plan["would_send"]
    assert sent["function"] == "mlx_video.generate_wan.generate_video"
    assert sent["kwargs"]["num_frames"] == 33 and sent["kwargs"]["seed"] == 5
    assert sent["seconds"] == pytest.approx(33 / 16, abs=1e-3)


# -- running ----------------------------------------------------------------------------------


def test_text_to_video_end_to_end(backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder) -> None:
    video = arthur_gen.generate_video("waves at dusk", backend="mlx-video", duration=2, seed=9, steps=4)
    (call,) = fake_mlx_video.calls
    assert call["num_frames"] == 33 and call["width"] == 832 and call["height"] == 480
    assert call["seed"] == 9 and call["steps"] == 4 and call["image"] is None
    assert call["model_dir"].endswith("Wan2.1-T2V-1.3B")
    # the core embeds its metadata box into MP4 outputs: the file starts as the library wrote it
    assert video.path.suffix == ".mp4" and video.path.read_bytes()[:24] == MP4[:24]
    assert video.cost_usd == 0.0 and video.backend == "mlx-video" and video.model == "wan2.1-t2v-1.3b"
    sidecar = json.loads(video.sidecars[0].read_text())
    assert sidecar["backend_metadata"]["num_frames"] == 33
    assert sidecar["backend_metadata"]["mlx_video_function"] == "mlx_video.generate_wan.generate_video"
    assert arthur_gen.get_job(video.job_id).state == "saved"


def test_image_to_video_keeps_lineage(backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder) -> None:
    with registered(FakePlugin(FakeImageBackend())):
        image = arthur_gen.generate_image("a lighthouse", backend="fake-image", seed=1)
        video = arthur_gen.generate_video(
            "the light turns", backend="mlx-video", model="wan2.2-ti2v-5b", first_frame=image, seed=2
        )
    assert fake_mlx_video.calls[0]["image"] == str(image.path)
    assert video.parents == (image.job_id,)


def test_progress_reaches_the_caller(backend: _backend.MlxVideoBackend) -> None:
    events: list[arthur_gen.ProgressEvent] = []
    arthur_gen.generate_video("waves", backend="mlx-video", steps=3, seed=1, on_progress=events.append)
    steps = [(e.step, e.total) for e in events if e.phase == "step"]
    assert steps == [(0, 3), (1, 3), (2, 3), (3, 3)]


def test_cancel_stops_between_steps(backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder) -> None:
    cancel = threading.Event()
    seen: list[int] = []

    def on_step(step: int) -> None:
        seen.append(step)
        if step == 1:
            cancel.set()

    fake_mlx_video.on_step = on_step
    with pytest.raises(arthur_gen.JobCanceledError):
        arthur_gen.generate_video("waves", backend="mlx-video", steps=10, seed=1, cancel_event=cancel)
    assert seen == [0, 1]
    (job,) = arthur_gen.history()
    assert job.state == "canceled" and job.outputs == []
    assert fake_mlx_video.module.tqdm is not None and not isinstance(
        fake_mlx_video.module.tqdm, _backend._Steps
    )


def test_library_errors_become_generation_errors(
    backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder
) -> None:
    fake_mlx_video.fail = RuntimeError("[metal::malloc] Attempting to allocate 90000000000 bytes")
    with pytest.raises(arthur_gen.GenerationError, match=r"tiling.*aggressive"):
        arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=1)
    assert arthur_gen.history()[0].state == "failed"


def test_no_file_written_is_an_error(
    backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_mlx_video.module, "generate_video", lambda **kwargs: None)
    with pytest.raises(arthur_gen.GenerationError, match="wrote no video"):
        arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=1)


def test_library_prints_go_to_stderr(
    backend: _backend.MlxVideoBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=1)
    out, err = capsys.readouterr()
    assert "Wan generation" not in out and "Wan generation" in err


def test_warm_pipeline_is_reused_until_released(
    backend: _backend.MlxVideoBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real_load = backend._load

    def counting_load(entry: Any) -> Any:
        loads.append(entry.id)
        return real_load(entry)

    monkeypatch.setattr(backend, "_load", counting_load)
    for seed in (1, 2):
        arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=seed)
    assert len(loads) == 1 and backend.warm_models() == ["mlx_video.generate_wan:generate_video"]
    backend.release()
    assert backend.warm_models() == []
    arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=3)
    assert len(loads) == 2


def test_same_seeded_request_is_answered_from_the_cache(
    backend: _backend.MlxVideoBackend, fake_mlx_video: Recorder
) -> None:
    first = arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=4)
    again = arthur_gen.generate_video("waves", backend="mlx-video", steps=1, seed=4)
    assert len(fake_mlx_video.calls) == 1 and again.cached and again.path != first.path


# -- the docs ---------------------------------------------------------------------------------


def test_every_python_block_of_the_guide_parses() -> None:
    if not DOC.is_file():
        pytest.skip("docs/writing-a-backend.md is not beside this example")
    text = DOC.read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    assert len(blocks) >= 10
    for block in blocks:
        ast.parse(block)


# -- the real thing ---------------------------------------------------------------------------


@pytest.mark.weights
def test_real_wan_video(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Renders 17 frames with the real mlx_video and converted Wan 2.1 1.3B weights."""
    monkeypatch.undo()  # real platform, memory, models root, plugins off
    monkeypatch.setenv("ARTHUR_GEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ARTHUR_GEN_LOAD_PLUGINS", "")
    b = _backend.MlxVideoBackend()
    if not b.availability().ok:
        pytest.skip(f"mlx-video {b.availability().describe()}")
    entry = entry_for("wan2.1-t2v-1.3b")
    assert entry is not None
    ready = b.model_availability(next(m for m in b.models() if m.id == entry.id))
    if not ready.ok:
        pytest.skip(f"{entry.id} {ready.describe()}")
    with registered(FakePlugin(b)):
        video = arthur_gen.generate_video(
            "a red ball rolling on grass",
            backend="mlx-video",
            width=480,
            height=272,
            steps=8,
            seed=1,
            options={"num_frames": 17},
        )
    assert video.path.stat().st_size > 1000
    b.release()
