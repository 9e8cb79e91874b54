"""Refusals before anything loads, weights/memory checks, and the real pipeline on a tiny Wan."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mlx_video import _weights, backend
from arthur_gen_mlx_video.testing import tiny_vae

import arthur_gen
from arthur_gen.errors import BackendUnavailableError, InvalidRequestError, JobCanceledError


def _model(model_id: str = "wan2.1-t2v-1.3b") -> Any:
    return next(m for m in backend().models() if m.id == model_id)


def _request(**kw: Any) -> arthur_gen.VideoRequest:
    return arthur_gen.VideoRequest(prompt="waves", **kw)


def test_catalog_has_every_model() -> None:
    ids = {m.id for m in backend().models()}
    assert {
        "wan2.1-t2v-1.3b",
        "wan2.1-t2v-14b",
        "wan2.2-ti2v-5b",
        "wan2.2-t2v-a14b",
        "wan2.2-i2v-a14b",
    } <= ids


def test_frame_rule_and_sizes_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"1 \+ 4k \(try 5 or 9\)"):
        backend().validate(_request(options={"num_frames": 6}), _model())
    with pytest.raises(InvalidRequestError, match="multiples of 32"):
        backend().validate(_request(width=272, height=256), _model("wan2.2-ti2v-5b"))
    with pytest.raises(InvalidRequestError, match="first_frame"):
        backend().validate(_request(), _model("wan2.2-i2v-a14b"))
    with pytest.raises(InvalidRequestError, match="16 fps only"):
        backend().validate(_request(fps=24), _model())


def test_missing_weights_say_how_to_make_them(tmp_path: Path) -> None:
    availability = backend().model_availability(_model())
    assert not availability.ok
    assert "python -m mlx_video.convert_wan" in availability.reason
    assert "17 GB" in availability.reason
    assert str(tmp_path / "models" / "Wan2.1-T2V-1.3B") in availability.reason


def test_missing_tokenizer_says_how_to_fetch_it(tiny_wan: Path) -> None:
    availability = backend().request_availability(_request(options={"model_path": str(tiny_wan)}), _model())
    assert not availability.ok
    assert "hf download google/umt5-xxl" in availability.reason


def test_memory_refusal_before_loading(tiny_wan: Path, umt5: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_weights, "total_memory_gb", lambda: 0.1)
    request = _request(options={"model_path": str(tiny_wan)})
    availability = backend().request_availability(request, _model())
    assert not availability.ok and "GB of memory" in availability.reason
    with pytest.raises(BackendUnavailableError, match="GB of memory"):
        arthur_gen.generate_video(request, backend="mlx_video")
    monkeypatch.setenv("ARTHUR_GEN_MLX_VIDEO_IGNORE_MEMORY", "1")
    assert backend().request_availability(request, _model()).ok


def test_memory_need_from_files(tiny_wan: Path) -> None:
    from arthur_gen_mlx_video._catalog import entry_for

    entry = entry_for("wan2.1-t2v-1.3b")
    assert entry is not None
    need = _weights.memory_need_gb(entry, tiny_wan)
    assert 0.5 <= need < 1.0  # a tiny folder needs little; the catalog's 16 GB is for real weights
    assert _weights.memory_need_gb(entry, tiny_wan.parent / "absent") == entry.memory_gb


def _frames(path: Path) -> tuple[int, float]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, float(stream.average_rate or 0)


def test_real_pipeline_mp4_progress_warm_and_cancel(
    tiny_wan: Path, umt5: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The package's real generate_video on a tiny random Wan 2.1, through generate_video."""
    import mlx_video.generate_wan as gw

    from arthur_gen.media import read_mp4_metadata

    t5_loads: list[str] = []
    real_load_t5 = gw.load_t5_encoder

    def counting_load_t5(model_path: Any, config: Any) -> Any:
        t5_loads.append(str(model_path))
        return real_load_t5(model_path, config)

    monkeypatch.setattr(gw, "load_t5_encoder", counting_load_t5)
    events: list[Any] = []
    options = {"model_path": str(tiny_wan), "num_frames": 5, "tiling": "none"}
    with tiny_vae():
        first = arthur_gen.generate_video(
            "a lighthouse", backend="mlx_video", width=256, height=256, seed=3, steps=2,
            options=options, on_progress=events.append, cache=False,
        )  # fmt: skip
        path = first.paths[0]
        assert path.suffix == ".mp4"
        assert _frames(path) == (5, 16.0)  # trimmed to the request, at the model's fps
        meta = read_mp4_metadata(path)
        assert meta is not None
        text = repr(meta)
        assert "mlx_video.generate_wan.generate_video" in text and "'warm': False" in text
        steps = [(e.step, e.total) for e in events if e.phase == "step"]
        assert steps == [(0, 3), (1, 3), (2, 3), (3, 3)]  # 2 denoising steps + the decode
        assert backend().warm_models()  # the transformer and VAE stay loaded

        second = arthur_gen.generate_video(
            "a lighthouse", backend="mlx_video", width=256, height=256, seed=4, steps=1,
            options=options, cache=False,
        )  # fmt: skip
        assert "'warm': True" in repr(read_mp4_metadata(second.paths[0]))

        cancel = threading.Event()

        def stop_after_first_step(event: Any) -> None:
            if event.phase == "step" and event.step == 1:
                cancel.set()

        with pytest.raises(JobCanceledError):
            arthur_gen.generate_video(
                "a lighthouse", backend="mlx_video", width=256, height=256, seed=5, steps=3,
                options=options, on_progress=stop_after_first_step, cancel_event=cancel, cache=False,
            )  # fmt: skip
        assert len(t5_loads) == 1  # the T5 encoder stayed warm for the 2nd and 3rd calls
        assert backend().load_counts()["load_t5_encoder"] == 1
    backend().release()
    assert backend().warm_models() == [] and backend().load_counts() == {}  # T5 freed with the rest


def test_real_wan_vae_architecture_end_to_end(tmp_path: Path, umt5: Path) -> None:
    """The full-size Wan 2.1 VAE architecture (random weights) through the backend's own path
    (bridge, loaders, trim, MP4 with metadata): 5 frames asked, 8 decoded (4 per latent
    frame), 5 in the MP4.

    At 32x32, below the 256 the catalog declares (so the backend is called directly, not
    through ``generate_video``): every layer and both latent frames' caches are the same at
    any size. 6 s here with OpenBLAS (``scripts/mlx-cpu-env.sh``), 54 s on the reference BLAS
    of MLX's CPU wheel; at 256x256, 143 s and about 50 minutes.
    """
    from arthur_gen_mlx_video.testing import build_tiny_wan

    from arthur_gen.media import read_mp4_metadata

    folder = build_tiny_wan(tmp_path / "Wan2.1-T2V-1.3B", vae="real")
    options = {"model_path": str(folder), "num_frames": 5, "tiling": "none"}
    request = _request(width=32, height=32, seed=1, steps=1, options=options)
    ctx = arthur_gen.LocalContext(job_id="real-vae", workdir=tmp_path / "work")
    (output,) = backend().generate(request, _model(), ctx)
    assert _frames(output.path) == (5, 16.0)
    assert output.metadata["frames_decoded"] == 8 and output.metadata["frames"] == 5  # trimmed
    meta = read_mp4_metadata(output.path)
    assert meta is not None and "'frames_decoded': 8" in repr(meta)
    backend().release()
