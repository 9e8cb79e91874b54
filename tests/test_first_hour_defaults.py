"""The first hour on a fresh machine, with the real plugins: the default backend for a kind is
one whose default model can run here; else the error lists what could run and what it would
cost, with ``--backend replicate`` and the offline emulator. ``backends`` and ``doctor`` agree.
The worked example backend is never installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import arthur_gen
from arthur_gen import NeedsKeyError
from arthur_gen.cli._main import main
from arthur_gen.testing import registered

arthur_gen_mflux = pytest.importorskip("arthur_gen_mflux")
arthur_gen_replicate = pytest.importorskip("arthur_gen_replicate")
arthur_gen_mlx_video = pytest.importorskip("arthur_gen_mlx_video")


@pytest.fixture
def real_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """mflux, mlx_video and replicate registered in-process, on an empty weights cache."""
    hub = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.setenv("ARTHUR_GEN_MLX_VIDEO_MODELS", str(tmp_path / "mlx-video-models"))
    monkeypatch.delenv("REPLICATE_BASE_URL", raising=False)
    with (
        registered(arthur_gen_mflux, name="first-hour-mflux"),
        registered(arthur_gen_replicate, name="first-hour-replicate"),
        registered(arthur_gen_mlx_video, name="first-hour-mlx-video"),
    ):
        availability = arthur_gen.get_backend("mflux", "image").availability()
        if not availability.ok:
            if os.environ.get("ARTHUR_GEN_REQUIRE_MFLUX") == "1":  # CI installs it: fail, never skip
                pytest.fail(f"ARTHUR_GEN_REQUIRE_MFLUX=1 but mflux cannot run: {availability.describe()}")
            pytest.skip("mflux cannot run on this machine at all")
        yield hub


def test_fresh_machine_errors_list_what_could_run_and_its_cost(real_plugins: Path, capsys: Any) -> None:
    with pytest.raises(arthur_gen.BackendUnavailableError) as info:
        arthur_gen.generate_image("a lighthouse at dusk, oil painting", seed=7)
    message = str(info.value)
    assert "mflux (local, schnell, free): mflux model 'schnell' needs the weights" in message
    assert "replicate (remote, black-forest-labs/flux-schnell, $0.0030): missing API key" in message
    assert (
        "`--backend replicate` (backend='replicate') for $0.0030 once REPLICATE_API_TOKEN is set" in message
    )
    assert "`python -m arthur_gen_replicate.emulator`" in message
    with pytest.raises(arthur_gen.BackendUnavailableError) as info:
        arthur_gen.generate_video("waves roll in")
    message = str(info.value)
    assert "mlx_video (local, wan2.1-t2v-1.3b, free)" in message
    assert "replicate (remote, minimax/video-01, $0.5000): missing API key" in message
    assert arthur_gen.history() == []
    assert main(["image", "a lighthouse at dusk"]) == 1
    err = capsys.readouterr().err
    assert "--backend replicate" in err and "emulator" in err and "Traceback" not in err


def test_a_missing_key_always_mentions_the_emulator(real_plugins: Path, capsys: Any) -> None:
    expected = r"REPLICATE_API_TOKEN.*arthur_gen_replicate\.emulator"
    with pytest.raises(NeedsKeyError, match=expected):  # the only listed backend with that model
        arthur_gen.generate_image("x", backend="replicate,mflux", model="black-forest-labs/flux-schnell")
    with pytest.raises(NeedsKeyError, match=expected):  # one backend named
        arthur_gen.generate_video("x", backend="replicate")
    assert main(["video", "x", "--backend", "replicate"]) == 1
    assert "python -m arthur_gen_replicate.emulator" in capsys.readouterr().err
    assert arthur_gen.history() == []


def test_with_a_key_the_cloud_is_the_default_and_mflux_says_why_not(
    real_plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_not_used")
    plan = arthur_gen.plan("image", "a lighthouse", seed=7)
    assert (plan.backend.id, plan.model.id) == ("replicate", "black-forest-labs/flux-schnell")
    assert plan.route is not None
    (skipped,) = plan.route.skipped()
    assert skipped.backend == "mflux" and "not in the Hugging Face cache" in skipped.reason
    assert arthur_gen.plan("video", "waves").backend.id == "replicate"


def test_with_weights_present_the_local_model_is_the_default(
    real_plugins: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from arthur_gen_mflux.testing import fake_weights

    fake_weights(["schnell"], cache=real_plugins)
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_not_used")
    plan = arthur_gen.plan("image", "a lighthouse", seed=7)
    assert (plan.backend.id, plan.model.id, plan.estimate.usd) == ("mflux", "schnell", 0.0)
    assert plan.route is not None
    options = {o.backend: o for o in plan.route.options}
    assert options["mflux"].chosen and options["replicate"].runs and options["replicate"].usd == 0.003


def test_backends_and_doctor_agree_on_replicate(
    real_plugins: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for token in (None, "r8_not_used"):
        if token:
            monkeypatch.setenv("REPLICATE_API_TOKEN", token)
        assert main(["backends", "--json"]) == 0
        rows = {(r["id"], r["kind"]): r for r in json.loads(capsys.readouterr().out)}
        assert main(["doctor", "--json"]) == 0
        doctor = {(b["id"], b["kind"]): b for b in json.loads(capsys.readouterr().out)["backends"]}
        assert set(rows) == set(doctor)
        for key, row in rows.items():
            assert row["available"] == doctor[key]["available"], key
        assert rows[("replicate", "image")]["available"] is bool(token)
        assert rows[("replicate", "video")]["default"] is bool(token)
        assert main(["models", "--json"]) == 0
        ready = {(m["backend"], m["id"]): m["ready"] for m in json.loads(capsys.readouterr().out)}
        assert ready[("mflux", "schnell")] is False
        assert ready[("replicate", "minimax/video-01")] is bool(token)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "image requests with no --backend (auto): run on replicate" in out
    assert "mflux (schnell, free): skipped: mflux model 'schnell' needs the weights" in out


def test_the_example_backend_is_not_installed(tmp_path: Path) -> None:
    """examples/writing_a_backend is a teaching package: setup never installs it."""
    names = {ep.name for ep in metadata.entry_points(group="arthur_gen")}
    assert "mlx_video_example" not in names
    distributions = {d.metadata["Name"] for d in metadata.distributions()}
    assert "arthur-gen-mlx-video-example" not in distributions
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARTHUR_GEN_")}
    env["ARTHUR_GEN_HOME"] = str(tmp_path)
    cli = str(Path(sys.executable).parent / "arthur-gen")
    done = subprocess.run([cli, "models", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    backends = {m["backend"] for m in json.loads(done.stdout)}
    assert "mlx-video" not in backends and {"mflux", "replicate", "mlx_video"} <= backends
