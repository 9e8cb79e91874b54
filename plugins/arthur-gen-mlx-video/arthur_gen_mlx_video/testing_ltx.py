"""Test helpers: a tiny random LTX-2 (video with audio) built from mlx_video's own classes.

Nothing here downloads. :func:`build_tiny_ltx2` writes the two folders the package's
``generate_video_with_audio`` reads, in the unified MLX layout of ``notapalindrome/ltx2-mlx-av``
(one ``model.safetensors`` with ``transformer.``, ``connector.``, ``upsampler.``,
``vae_decoder.``, ``audio_vae.`` and ``vocoder.`` weights, ``config.json`` and
``embedded_config.json``) and a Gemma 3 text encoder folder (``config.json``, weights and a
word-level stand-in tokenizer)::

    model, gemma = build_tiny_ltx2(tmp_path)
    with tiny_ltx2():     # the transformer, video VAE decoder and audio decoder at a few channels
        arthur_gen.generate_video("x", backend="mlx_video", model="ltx-2",
                                  options={"model_path": str(model), "text_encoder_path": str(gemma)})

The package's loaders run as they are: the Gemma 3 model, its feature extractor and both
embeddings connectors (sized by ``embedded_config.json``), the spatial upsampler (sized by its
weights), the vocoder and the video VAE encoder that image-to-video uses (both sized by
``embedded_config.json``) are the real classes at tiny sizes.

Three sizes are written in the package's code, so :func:`tiny_ltx2` swaps in subclasses of
``LTXModel``, ``LTX2VideoDecoder`` and ``AudioDecoder`` that keep the architecture and shrink
the widths; the weights still come from the file through the package's own loaders.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["GEMMA", "TINY_EMBEDDED_CONFIG", "TRANSFORMER", "build_tiny_ltx2", "tiny_ltx2"]

# the Gemma 3 text model: hidden size 64, 2 layers (the real one: 3840, 48)
GEMMA: dict[str, Any] = {
    "model_type": "gemma3_text",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "intermediate_size": 128,
    "num_attention_heads": 2,
    "head_dim": 32,
    "num_key_value_heads": 1,
    "vocab_size": 512,
    "query_pre_attn_scalar": 32,
    "sliding_window": 1024,
    "sliding_window_pattern": 2,
}
# the transformer widths the package writes in code (48 layers, 32 x 128 video, 32 x 64 audio)
TRANSFORMER: dict[str, int] = {
    "num_layers": 1,
    "num_attention_heads": 2,
    "attention_head_dim": 32,
    "cross_attention_dim": 64,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 32,
    "audio_cross_attention_dim": 64,
}
_TEXT_DIM = GEMMA["hidden_size"]
TINY_EMBEDDED_CONFIG: dict[str, Any] = {
    "transformer": {
        "caption_channels": _TEXT_DIM,
        "audio_caption_channels": _TEXT_DIM,
        "connector_num_layers": 1,
        "connector_num_attention_heads": 2,
        "connector_attention_head_dim": 32,
        "connector_num_learnable_registers": 128,
        "audio_connector_num_attention_heads": 2,
        "audio_connector_attention_head_dim": 32,
    },
    "vae": {  # the encoder (image-to-video) is built from these; 128 channels, 8x time, 8x space
        "encoder_blocks": [
            ["compress_space", {}],
            ["compress_time", {}],
            ["compress_all", {}],
            ["compress_all", {}],
        ]
    },
    "vocoder": {
        "vocoder": {
            "upsample_initial_channel": 64,
            "upsample_rates": [6, 5, 2, 2, 2],
            "upsample_kernel_sizes": [16, 15, 8, 4, 4],
            "resblock_kernel_sizes": [3],
            "resblock_dilation_sizes": [[1]],
        }
    },
}
_UPSAMPLER_MID = 32  # the package reads it from the weights (real: 1024); GroupNorm needs 32k
_VAE_WIDTHS = (64, 32, 16, 8)  # real decoder: 1024 -> 512 -> 256 -> 128
_AUDIO_CH = 16  # real audio decoder: 128


def _tiny_classes() -> dict[str, Any]:
    import mlx.nn as nn
    from mlx_video.models.ltx.audio_vae import AudioDecoder
    from mlx_video.models.ltx.audio_vae.ops import PerChannelStatistics
    from mlx_video.models.ltx.ltx import LTXModel
    from mlx_video.models.ltx.video_vae.convolution import CausalConv3d, PaddingModeType
    from mlx_video.models.ltx.video_vae.decoder import LTX2VideoDecoder, ResBlockGroup
    from mlx_video.models.ltx.video_vae.sampling import DepthToSpaceUpsample

    class TinyLTXModel(LTXModel):  # type: ignore[misc]
        """The LTX-2 audio-video transformer, 1 layer at a few heads."""

        def __init__(self, config: Any) -> None:
            super().__init__(dataclasses.replace(config, **TRANSFORMER))

    class _Conv(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv = CausalConv3d(
                in_channels=cin,
                out_channels=cout,
                kernel_size=3,
                stride=1,
                padding=1,
                spatial_padding_mode=PaddingModeType.REFLECT,
            )

        def __call__(self, x: Any, causal: bool = False) -> Any:
            return self.conv(x, causal=causal)

    class TinyVideoDecoder(LTX2VideoDecoder):  # type: ignore[misc]
        """The LTX-2 video VAE decoder (3 depth-to-space x2 upsamplers, 4x4 unpatchify) narrowed."""

        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(timestep_conditioning=False, decoder_blocks=[["res_x", {"num_layers": 0}]])
            super().__init__(**kwargs)
            first, *rest = _VAE_WIDTHS
            self.conv_in = _Conv(self.in_channels, first)
            blocks: dict[int, Any] = {0: ResBlockGroup(first, 1, PaddingModeType.REFLECT, False)}
            width = first
            for index, narrower in enumerate(rest, start=1):
                blocks[index] = DepthToSpaceUpsample(
                    dims=3,
                    in_channels=width,
                    stride=(2, 2, 2),
                    residual=True,
                    out_channels_reduction_factor=width // narrower,
                    spatial_padding_mode=PaddingModeType.REFLECT,
                )
                width = narrower
            self.up_blocks = blocks
            self.conv_out = _Conv(width, 3 * self.patch_size * self.patch_size)

    class TinyAudioDecoder(AudioDecoder):  # type: ignore[misc]
        """The LTX-2 audio VAE decoder (mel spectrogram out) at a few channels."""

        def __init__(self, **kwargs: Any) -> None:
            kwargs.update(ch=_AUDIO_CH, num_res_blocks=1, attn_resolutions=set())
            super().__init__(**kwargs)
            latent = kwargs.get("z_channels", 8) * 16  # patchified: channels x latent mel bins
            self.per_channel_statistics = PerChannelStatistics(latent_channels=latent)

    return {"LTXModel": TinyLTXModel, "LTX2VideoDecoder": TinyVideoDecoder, "AudioDecoder": TinyAudioDecoder}


@contextlib.contextmanager
def tiny_ltx2() -> Iterator[None]:
    """Swap the tiny transformer, video decoder and audio decoder classes in for the block."""
    import mlx_video.generate_av as av
    import mlx_video.models.ltx.audio_vae as audio_vae
    import mlx_video.models.ltx.video_vae.decoder as decoder

    tiny = _tiny_classes()
    seams = ((av, "LTXModel"), (decoder, "LTX2VideoDecoder"), (audio_vae, "AudioDecoder"))
    originals = [(module, name, getattr(module, name)) for module, name in seams]
    for module, name in seams:
        setattr(module, name, tiny[name])
    try:
        yield
    finally:
        for module, name, value in originals:
            setattr(module, name, value)


def _flat(module: Any, prefix: str) -> dict[str, Any]:
    from mlx.utils import tree_flatten

    flat: Any = tree_flatten(module.parameters())
    return {prefix + k: v for k, v in flat}


def _torch_layout(weights: dict[str, Any]) -> dict[str, Any]:
    """MLX conv kernels back to PyTorch's layout (the upsampler loader transposes them)."""
    import mlx.core as mx

    out = {}
    for key, value in weights.items():
        if "conv" in key and "weight" in key and value.ndim == 5:
            value = mx.transpose(value, (0, 4, 1, 2, 3))
        elif "conv" in key and "weight" in key and value.ndim == 4:
            value = mx.transpose(value, (0, 3, 1, 2))
        out[key] = value
    return out


def _save_tokenizer(folder: Path, vocab: int) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3}
    for i in range(len(words), vocab):
        words[f"w{i}"] = i
    core = Tokenizer(models.WordLevel(vocab=words, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(str(folder))


def build_tiny_ltx2(root: Path, *, seed: int = 0) -> tuple[Path, Path]:
    """Write ``root/ltx2-mlx-av`` (unified LTX-2) and ``root/gemma-3-12b-it-bf16``; return both."""
    import mlx.core as mx
    from mlx_video.generate_av import AUDIO_LATENT_CHANNELS, load_vocoder
    from mlx_video.models.ltx.config import LTXModelConfig, LTXModelType, LTXRopeType
    from mlx_video.models.ltx.text_encoder import (
        Embeddings1DConnector,
        GemmaFeaturesExtractor,
        LanguageModel,
    )
    from mlx_video.models.ltx.upsampler import LatentUpsampler
    from mlx_video.models.ltx.video_vae.video_vae import VideoEncoder
    from mlx_vlm.models.gemma3.config import TextConfig

    mx.random.seed(seed)
    model, gemma = root / "ltx2-mlx-av", root / "gemma-3-12b-it-bf16"
    model.mkdir(parents=True, exist_ok=True)
    gemma.mkdir(parents=True, exist_ok=True)

    # the text encoder folder: Gemma 3 weights under language_model., its config, a tokenizer
    language = LanguageModel(TextConfig.from_dict(GEMMA))  # type: ignore[no-untyped-call]
    mx.save_safetensors(str(gemma / "model.safetensors"), _flat(language, "language_model."))
    (gemma / "config.json").write_text(
        json.dumps({"model_type": "gemma3", "text_config": GEMMA}, indent=1), encoding="utf-8"
    )
    _save_tokenizer(gemma, GEMMA["vocab_size"])

    (model / "config.json").write_text(json.dumps({"model_type": "AudioVideo"}), encoding="utf-8")
    (model / "embedded_config.json").write_text(json.dumps(TINY_EMBEDDED_CONFIG, indent=1), encoding="utf-8")
    tiny = _tiny_classes()
    weights: dict[str, Any] = {}
    config = LTXModelConfig(
        model_type=LTXModelType.AudioVideo,
        caption_channels=_TEXT_DIM,
        audio_caption_channels=_TEXT_DIM,
        audio_in_channels=128,
        audio_out_channels=128,
        rope_type=LTXRopeType.SPLIT,
        double_precision_rope=True,
        positional_embedding_max_pos=[20, 2048, 2048],
        audio_positional_embedding_max_pos=[20],
    )
    weights.update(_flat(tiny["LTXModel"](config), "transformer."))
    connector = TINY_EMBEDDED_CONFIG["transformer"]
    layers = GEMMA["num_hidden_layers"] + 1  # every hidden state, the embeddings included
    extractor = GemmaFeaturesExtractor(input_dim=_TEXT_DIM * layers, output_dim=_TEXT_DIM)
    weights.update(_flat(extractor, "connector.text_embedding_projection."))
    for name in ("video", "audio"):
        heads = connector["connector_num_attention_heads"]
        head_dim = connector["connector_attention_head_dim"]
        if name == "audio":
            heads = connector["audio_connector_num_attention_heads"]
            head_dim = connector["audio_connector_attention_head_dim"]
        block = Embeddings1DConnector(
            dim=heads * head_dim,
            num_heads=heads,
            head_dim=head_dim,
            num_layers=connector["connector_num_layers"],
            num_learnable_registers=connector["connector_num_learnable_registers"],
        )
        weights.update(_flat(block, f"connector.{name}_embeddings_connector."))
    upsampler = LatentUpsampler(in_channels=128, mid_channels=_UPSAMPLER_MID, num_blocks_per_stage=4)
    weights.update(_torch_layout(_flat(upsampler, "upsampler.")))
    decoder = tiny["LTX2VideoDecoder"]()
    weights.update(_flat(decoder, "vae_decoder."))
    blocks = [(name, params) for name, params in TINY_EMBEDDED_CONFIG["vae"]["encoder_blocks"]]
    weights.update(_flat(VideoEncoder(encoder_blocks=blocks), "vae_encoder."))
    weights["vae_decoder.per_channel_statistics.mean"] = mx.zeros((128,))
    weights["vae_decoder.per_channel_statistics.std"] = mx.ones((128,))
    audio = tiny["AudioDecoder"](z_channels=AUDIO_LATENT_CHANNELS, out_ch=2, mel_bins=64)
    weights.update(_flat(audio, "audio_vae."))
    weights.update(_flat(load_vocoder(model, use_unified=False), "vocoder."))  # sized by the config
    mx.save_safetensors(str(model / "model.safetensors"), weights)
    return model, gemma
