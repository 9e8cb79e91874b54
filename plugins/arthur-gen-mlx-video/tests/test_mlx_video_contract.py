"""Every function, argument and module of mlx-video-with-audio the plugin uses, as installed."""

from __future__ import annotations

import importlib.metadata
import inspect

import pytest
from arthur_gen_mlx_video._backend import TESTED
from arthur_gen_mlx_video._bridge import CACHED_LOADERS
from arthur_gen_mlx_video.testing import TINY_CONFIG


def test_installed_version_is_tested() -> None:
    assert importlib.metadata.version("mlx-video-with-audio") in TESTED
    assert importlib.metadata.version("mlx-vlm") == "0.7.6"


def test_generate_video_signature() -> None:
    from mlx_video import generate_wan

    params = inspect.signature(generate_wan.generate_video).parameters
    for name in (
        "model_dir", "prompt", "negative_prompt", "image", "width", "height", "num_frames", "steps",
        "guide_scale", "shift", "seed", "output_path", "scheduler", "loras", "tiling",
    ):  # fmt: skip
        assert name in params, name


def test_module_globals_the_bridge_rebinds() -> None:
    from mlx_video import generate_wan
    from mlx_video.models.wan import loading, postprocess

    source = inspect.getsource(generate_wan.generate_video)
    assert "tqdm(range(steps)" in source  # progress comes only from here
    assert "save_video(video, output_path, fps=config.sample_fps)" in source
    assert 'AutoTokenizer.from_pretrained("google/umt5-xxl")' in source
    assert generate_wan.save_video is postprocess.save_video
    for name in CACHED_LOADERS:
        assert getattr(generate_wan, name) is getattr(loading, name), name
    assert list(inspect.signature(loading.load_wan_model).parameters) == [
        "model_path", "config", "quantization", "loras"
    ]  # fmt: skip
    assert list(inspect.signature(loading.load_vae_decoder).parameters) == ["model_path", "config"]
    assert list(inspect.signature(postprocess.save_video).parameters) == ["frames", "output_path", "fps"]


def test_classes_the_tiny_model_is_built_from() -> None:
    from mlx_video.models.wan.config import WanModelConfig
    from mlx_video.models.wan.text_encoder import T5Encoder
    from mlx_video.models.wan.vae import Decoder3d, WanVAE

    assert set(TINY_CONFIG) <= set(WanModelConfig.__dataclass_fields__)
    assert {"vocab_size", "dim", "num_layers", "shared_pos"} <= set(inspect.signature(T5Encoder).parameters)
    assert "z_dim" in inspect.signature(WanVAE).parameters
    assert "dim" in inspect.signature(Decoder3d).parameters


@pytest.mark.parametrize("name", ["clear_streams", "new_stream", "clear_cache", "synchronize"])
def test_mlx_functions(name: str) -> None:
    import mlx.core as mx

    assert callable(getattr(mx, name))


def test_convert_wan_is_a_module() -> None:
    import importlib.util

    assert importlib.util.find_spec("mlx_video.convert_wan") is not None


def test_generate_video_with_audio_signature() -> None:
    from mlx_video import generate_av

    params = inspect.signature(generate_av.generate_video_with_audio).parameters
    for name in (
        "model_repo", "text_encoder_repo", "prompt", "height", "width", "num_frames", "seed", "fps",
        "output_path", "image", "image_strength", "image_frame_idx", "tiling", "no_audio", "verbose",
    ):  # fmt: skip
        assert name in params, name


def test_generate_av_globals_the_ltx_bridge_rebinds() -> None:
    from arthur_gen_mlx_video._backend import LTX2_STEPS
    from arthur_gen_mlx_video._bridge_ltx import LTX_CACHED_LOADERS
    from mlx_video import generate_av, utils
    from mlx_video.models.ltx import text_encoder, upsampler
    from mlx_video.models.ltx.video_vae import decoder, encoder

    source = inspect.getsource(generate_av.generate_video_with_audio)
    for needle in (
        "from mlx_video.models.ltx.text_encoder import LTX2TextEncoder",
        "text_encoder = LTX2TextEncoder()",
        'sanitized = load_unified_weights(model_path, "transformer.")',
        "transformer = LTXModel(config)",
        "save_audio(audio_np, audio_path, audio_sample_rate)",
        "mux_video_audio(temp_video_path, audio_path, output_path)",
        'temp_video_path = output_path.with_suffix(".temp.mp4")',
        "return video_np, audio_np",
        "stage1_sigmas = list(DEFAULT_STAGE_1_SIGMAS)",  # the unified checkpoint's fixed schedule
    ):
        assert needle in source, needle
    assert "tqdm(range(total_steps)" in inspect.getsource(generate_av.denoise_av)
    stages = len(generate_av.DEFAULT_STAGE_1_SIGMAS) - 1 + len(generate_av.DEFAULT_STAGE_2_SIGMAS) - 1
    assert stages == LTX2_STEPS
    for name in ("tqdm", "save_audio", "mux_video_audio", "get_model_path", "validate_text_encoder_config"):
        assert callable(getattr(generate_av, name)), name
    assert generate_av.get_model_path is utils.get_model_path
    assert generate_av.load_upsampler is upsampler.load_upsampler
    assert generate_av.load_vae_decoder is decoder.load_vae_decoder
    assert generate_av.load_vae_encoder is encoder.load_vae_encoder
    assert set(LTX_CACHED_LOADERS) <= set(vars(generate_av))
    params = {
        "load_upsampler": ["weights_path", "use_unified", "fallback_candidates"],
        "load_vae_decoder": ["model_path", "timestep_conditioning", "use_unified"],
        "load_audio_decoder": ["model_path", "use_unified"],
        "load_vocoder": ["model_path", "use_unified"],
        "save_audio": ["audio", "path", "sample_rate"],
        "mux_video_audio": ["video_path", "audio_path", "output_path"],
        "load_unified_weights": ["model_path", "prefix"],
    }
    for name, expected in params.items():
        assert list(inspect.signature(getattr(generate_av, name)).parameters) == expected, name
    load = inspect.signature(text_encoder.LTX2TextEncoder.load).parameters
    assert list(load) == ["self", "model_path", "text_encoder_path", "use_unified"]


def test_classes_the_tiny_ltx2_is_built_from() -> None:
    from arthur_gen_mlx_video.testing_ltx import GEMMA, TINY_EMBEDDED_CONFIG, TRANSFORMER
    from mlx_video.models.ltx.audio_vae import AudioDecoder
    from mlx_video.models.ltx.config import LTXModelConfig
    from mlx_video.models.ltx.text_encoder import Embeddings1DConnector, GemmaFeaturesExtractor
    from mlx_video.models.ltx.upsampler import LatentUpsampler
    from mlx_video.models.ltx.video_vae.decoder import LTX2VideoDecoder
    from mlx_vlm.models.gemma3.config import TextConfig

    assert set(TRANSFORMER) <= set(LTXModelConfig.__dataclass_fields__)
    assert set(GEMMA) <= set(TextConfig.__dataclass_fields__)
    assert {"decoder_blocks", "timestep_conditioning"} <= set(inspect.signature(LTX2VideoDecoder).parameters)
    assert {"ch", "num_res_blocks", "attn_resolutions", "z_channels"} <= set(
        inspect.signature(AudioDecoder).parameters
    )
    assert {"dim", "num_heads", "head_dim", "num_layers"} <= set(
        inspect.signature(Embeddings1DConnector).parameters
    )
    assert {"input_dim", "output_dim"} <= set(inspect.signature(GemmaFeaturesExtractor).parameters)
    assert "mid_channels" in inspect.signature(LatentUpsampler).parameters
    from mlx_video import generate_av
    from mlx_video.models.ltx import text_encoder

    # the embedded_config.json keys the package reads, which size the tiny connectors and vocoder
    loader = inspect.getsource(text_encoder.LTX2TextEncoder.load) + inspect.getsource(generate_av)
    for key in (*TINY_EMBEDDED_CONFIG["transformer"], *TINY_EMBEDDED_CONFIG["vocoder"]["vocoder"]):
        assert f'"{key}"' in loader, key


def test_ltx_convert_is_a_module() -> None:
    import importlib.util

    assert importlib.util.find_spec("mlx_video.convert") is not None
