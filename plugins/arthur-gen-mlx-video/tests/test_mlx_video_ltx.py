"""LTX-2 (video with sound) through generate_av: refusals, weights checks, the real pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from arthur_gen_mlx_video import _weights, backend
from arthur_gen_mlx_video.testing_ltx import tiny_ltx2

import arthur_gen
from arthur_gen.errors import BackendUnavailableError, InvalidRequestError, JobCanceledError


def _model() -> Any:
    return next(m for m in backend().models() if m.id == "ltx-2")


def _request(**kw: Any) -> arthur_gen.VideoRequest:
    return arthur_gen.VideoRequest(prompt="waves", **kw)


def _options(tiny: tuple[Path, Path], **extra: Any) -> dict[str, Any]:
    model, gemma = tiny
    return {"model_path": str(model), "text_encoder_path": str(gemma), "tiling": "none", **extra}


def test_catalog_entry() -> None:
    model = _model()
    assert model.can(arthur_gen.Capability.TEXT_TO_VIDEO) and model.can(arthur_gen.Capability.IMAGE_TO_VIDEO)
    assert model.extra["audio"] is True and model.extra["frame_rule"] == "1 + 8k"
    assert model.size_multiple == 64 and model.fps == (24, 25, 30)
    assert model.extra["memory_gb"] == 72 and model.extra["weights_gb"] == 66.0
    assert not model.supports_steps and not model.supports_guidance and not model.supports_negative_prompt
    plan = backend().describe_request(_request(duration=2), model)
    assert plan["function"] == "mlx_video.generate_av.generate_video_with_audio"
    assert plan["kwargs"]["num_frames"] == 49 and plan["audio"] is True  # 2 s at 24 fps -> 8k+1
    assert backend().describe_request(_request(duration=2, fps=30), model)["kwargs"]["num_frames"] == 57


def test_requests_it_cannot_serve_are_refused() -> None:
    with pytest.raises(InvalidRequestError, match=r"1 \+ 8k \(try 9 or 17\)"):
        backend().validate(_request(options={"num_frames": 13}), _model())
    with pytest.raises(InvalidRequestError, match="multiples of 64"):
        backend().validate(_request(width=288, height=256), _model())
    with pytest.raises(InvalidRequestError, match="fixed distilled schedule"):
        backend().validate(_request(steps=20), _model())
    with pytest.raises(InvalidRequestError, match="fixed distilled schedule"):
        backend().validate(_request(negative_prompt="blur"), _model())
    with pytest.raises(InvalidRequestError, match="one of 24, 25, 30"):
        backend().validate(_request(fps=60), _model())
    with pytest.raises(InvalidRequestError, match="download it first"):
        backend().validate(_request(first_frame="https://example.com/a.png"), _model())


def test_missing_weights_say_how_to_get_them(tmp_path: Path, tiny_ltx: tuple[Path, Path]) -> None:
    reason = backend().model_availability(_model()).reason
    assert "hf download notapalindrome/ltx2-mlx-av" in reason and "42 GB" in reason
    assert str(tmp_path / "models" / "ltx2-mlx-av") in reason
    request = _request(options={"model_path": str(tiny_ltx[0])})  # no Gemma folder
    reason = backend().request_availability(request, _model()).reason
    assert "hf download mlx-community/gemma-3-12b-it-bf16" in reason and "24 GB" in reason


def test_partial_unified_file_is_refused_not_run_on_random_weights(
    tmp_path: Path, tiny_ltx: tuple[Path, Path]
) -> None:
    import mlx.core as mx

    folder = tmp_path / "partial"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "AudioVideo"}), encoding="utf-8")
    mx.save_safetensors(
        str(folder / "model.safetensors"),
        {"transformer.x": mx.zeros((1,)), "connector.y": mx.zeros((1,)), "vae_decoder.z": mx.zeros((1,))},
    )
    request = _request(options={"model_path": str(folder), "text_encoder_path": str(tiny_ltx[1])})
    reason = backend().request_availability(request, _model()).reason
    assert "audio_vae, vocoder" in reason and "random weights" in reason
    silent = _request(
        options={"model_path": str(folder), "text_encoder_path": str(tiny_ltx[1]), "audio": False}
    )
    reason = backend().request_availability(silent, _model()).reason
    assert "spatial upsampler" in reason and "hf download Lightricks/LTX-2" in reason
    native = tmp_path / "native"  # the Lightricks layout: the package would fetch Gemma from the Hub
    native.mkdir()
    (native / "config.json").write_text("{}", encoding="utf-8")
    (native / "ltx-2-19b-distilled.safetensors").write_bytes(b"")
    (native / "model.safetensors").write_bytes(b"")
    request = _request(options={"model_path": str(native), "text_encoder_path": str(tiny_ltx[1])})
    assert "not a unified MLX LTX-2 folder" in backend().request_availability(request, _model()).reason


def test_memory_refusal_suggests_dropping_the_warm_cache(
    tiny_ltx: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    request = _request(options=_options(tiny_ltx))
    monkeypatch.setattr(_weights, "total_memory_gb", lambda: 0.0001)
    assert "GB of memory" in backend().request_availability(request, _model()).reason
    with pytest.raises(BackendUnavailableError, match="GB of memory"):
        arthur_gen.generate_video(request, backend="mlx_video", model="ltx-2")
    model, gemma = tiny_ltx
    entry = backend()._entry(_model())
    assert _weights.ltx_memory_need_gb(entry, model, gemma) < 1.0  # from the files, not the 72 GB
    sizes = {model: 42.0, gemma: 24.0}  # the real checkpoints' sizes
    monkeypatch.setattr(_weights, "_folder_gb", lambda folder: sizes[folder])
    warm = _weights.ltx_memory_need_gb(entry, model, gemma)
    cold = _weights.ltx_memory_need_gb(entry, model, gemma, warm=False)
    assert (warm, cold) == (73.1, 46.7)  # both kept loaded / the larger one only
    monkeypatch.setattr(_weights, "total_memory_gb", lambda: 64.0)
    reason = backend().request_availability(request, _model()).reason
    assert "73.1 GB" in reason and "ARTHUR_GEN_MLX_VIDEO_CACHE_SIZE=0" in reason
    monkeypatch.setattr(backend()._cache, "size", 0)
    assert backend().request_availability(request, _model()).ok  # 46.7 GB fits in 64


def _streams(path: Path) -> dict[str, Any]:
    import av

    with av.open(str(path)) as container:
        video = container.streams.video[0]
        out: dict[str, Any] = {"fps": float(video.average_rate or 0), "audio": None}
        if container.streams.audio:
            audio = container.streams.audio[0]
            out["audio"] = (audio.codec_context.name, audio.rate, audio.channels)
            out["audio_s"] = float(audio.duration * audio.time_base) if audio.duration else None
        out["frames"] = sum(1 for _ in container.decode(video=0))
        return out


def test_real_pipeline_video_with_sound_progress_warm_cancel(
    tiny_ltx: tuple[Path, Path], tmp_path: Path
) -> None:
    """The package's real generate_video_with_audio on a tiny random LTX-2, via generate_video."""
    from PIL import Image

    from arthur_gen.media import read_mp4_metadata

    still = tmp_path / "still.png"
    Image.new("RGB", (256, 256), (200, 120, 40)).save(still)

    events: list[Any] = []
    options = _options(tiny_ltx, num_frames=9)
    with tiny_ltx2():
        first = arthur_gen.generate_video(
            "a lighthouse, waves", backend="mlx_video", model="ltx-2", width=256, height=256, seed=3,
            options=options, on_progress=events.append, cache=False,
        )  # fmt: skip
        streams = _streams(first.paths[0])
        assert streams["frames"] == 9 and streams["fps"] == 24.0
        assert streams["audio"] == ("aac", 48000, 2)  # the package's 24 kHz stereo, as AAC-LC 48 kHz
        assert 0.3 <= streams["audio_s"] <= 0.45  # about 9 frames / 24 fps of sound
        meta = read_mp4_metadata(first.paths[0])
        text = json.dumps(meta)
        assert "mlx_video.generate_av.generate_video_with_audio" in text and '"warm": false' in text
        assert '"sample_rate": 24000' in text
        steps = [(e.step, e.total) for e in events if e.phase == "step"]
        assert steps == [(i, 12) for i in range(13)]  # 8 + 3 denoising steps, then the decode

        second = arthur_gen.generate_video(  # image-to-video, 30 fps, no sound, warm
            "a lighthouse, waves", backend="mlx_video", model="ltx-2", width=256, height=256, seed=4,
            fps=30, first_frame=str(still), options={**options, "audio": False, "image_strength": 0.9},
            cache=False,
        )  # fmt: skip
        streams = _streams(second.paths[0])
        assert streams["fps"] == 30.0 and streams["audio"] is None and streams["frames"] == 9
        text = json.dumps(read_mp4_metadata(second.paths[0]))
        assert '"warm": true' in text and str(still) in text and '"image_strength": 0.9' in text
        counts = backend().load_counts()
        assert counts["text_encoder"] == 1 and counts["transformer"] == 1  # loaded once for both
        assert counts["load_vae_encoder"] == 1  # the first frame went through the VAE encoder

        cancel = threading.Event()

        def stop_after_second_step(event: Any) -> None:
            if event.phase == "step" and event.step == 2:
                cancel.set()

        with pytest.raises(JobCanceledError):
            arthur_gen.generate_video(
                "a lighthouse", backend="mlx_video", model="ltx-2", width=256, height=256, seed=5,
                options=options, on_progress=stop_after_second_step, cancel_event=cancel, cache=False,
            )  # fmt: skip
    backend().release()
    assert backend().warm_models() == [] and backend().load_counts() == {}


_DRIVER = (
    "import sys\n"
    "from arthur_gen_mlx_video.testing_ltx import tiny_ltx2\n"
    "from arthur_gen.cli._main import main\n"
    "with tiny_ltx2():\n"
    "    code = main(sys.argv[1:])\n"
    "sys.exit(code)\n"
)


def test_cli_video_with_sound_and_clean_exit(tiny_ltx: tuple[Path, Path]) -> None:
    model, gemma = tiny_ltx
    argv = [
        sys.executable, "-c", _DRIVER, "video", "a lighthouse", "--backend", "mlx_video", "--model", "ltx-2",
        "--size", "256x256", "--seed", "2", "-o", f"model_path={model}", "-o", f"text_encoder_path={gemma}",
        "-o", "num_frames=9", "-o", "tiling=none", "--json", "--no-cache",
    ]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]  # 134 would be MLX's abort at exit
    assert "Traceback" not in proc.stderr
    out = json.loads(proc.stdout)
    path = Path(next(p for p in _paths(out) if p.endswith(".mp4")))
    streams = _streams(path)
    assert streams["frames"] == 9 and streams["fps"] == 24.0 and streams["audio"] == ("aac", 48000, 2)


def _paths(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths(v)]
    if isinstance(value, list):
        return [p for v in value for p in _paths(v)]
    return []
