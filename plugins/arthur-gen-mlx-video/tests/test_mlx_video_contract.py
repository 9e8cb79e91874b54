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
