"""Test helpers: a tiny random Wan 2.1 model built from mlx_video's own classes, and stand-ins.

Nothing here downloads. The weights are random, so the videos are noise; the point is that the
package's real ``generate_video`` runs end to end (T5, transformer, scheduler, VAE) in seconds
on a CPU::

    folder = build_tiny_wan(tmp_path / "tiny-wan")      # config.json + 3 safetensors
    build_umt5_standin(tmp_path / "hub")                # HF_HUB_CACHE with google/umt5-xxl
    with tiny_vae():                                    # Wan VAE decoder at 8 channels
        arthur_gen.generate_video("x", backend="mlx_video", options={"model_path": str(folder)}, ...)

``build_tiny_wan(..., vae="real")`` writes the real-size Wan 2.1 VAE instead: on a Linux CPU a
5-frame decode takes 6 s at 32x32 and 2.5 minutes at 256x256 with OpenBLAS
(``scripts/mlx-cpu-env.sh``), 9 to 20 times as long on the reference BLAS of MLX's CPU wheel.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "TINY_CONFIG",
    "TINY_VAE_DIM",
    "build_tiny_wan",
    "build_umt5_standin",
    "load_tiny_vae",
    "tiny_vae",
]

TINY_CONFIG: dict[str, Any] = {
    "model_type": "t2v",
    "model_version": "2.1",
    "patch_size": [1, 2, 2],
    "text_len": 32,
    "in_dim": 16,
    "dim": 64,
    "ffn_dim": 128,
    "freq_dim": 256,
    "text_dim": 32,
    "out_dim": 16,
    "num_heads": 2,
    "num_layers": 1,
    "vae_stride": [4, 8, 8],
    "vae_z_dim": 16,
    "dual_model": False,
    "boundary": 0.0,
    "sample_shift": 5.0,
    "sample_steps": 4,
    "sample_guide_scale": 5.0,
    "sample_fps": 16,
    "t5_vocab_size": 512,
    "t5_dim": 32,
    "t5_dim_attn": 32,
    "t5_dim_ffn": 64,
    "t5_num_heads": 2,
    "t5_num_layers": 1,
    "t5_num_buckets": 32,
}
TINY_VAE_DIM = 8  # the real Wan 2.1 VAE decoder has 96 base channels


def _save(module: Any, path: Path) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    mx.save_safetensors(str(path), dict(tree_flatten(module.parameters())))


def _tiny_vae_class() -> Any:
    from mlx_video.models.wan.vae import Decoder3d, WanVAE

    class TinyWanVAE(WanVAE):  # type: ignore[misc]
        """The Wan 2.1 VAE with the real decoder architecture at a few channels."""

        def __init__(self, z_dim: int = 16) -> None:
            super().__init__(z_dim=z_dim)
            self.decoder = Decoder3d(dim=TINY_VAE_DIM, z_dim=z_dim)

    return TinyWanVAE


def load_tiny_vae(model_path: Any, config: Any = None) -> Any:
    """Stands in for ``generate_wan.load_vae_decoder``: the tiny VAE, weights from the file."""
    import mlx.core as mx

    vae = _tiny_vae_class()(z_dim=16)
    weights: Any = mx.load(str(model_path))
    vae.load_weights(list(weights.items()), strict=False)
    mx.eval(vae.parameters())
    return vae


@contextlib.contextmanager
def tiny_vae() -> Iterator[None]:
    """Rebind ``generate_wan.load_vae_decoder`` to :func:`load_tiny_vae` for the block."""
    import mlx_video.generate_wan as gw

    original = gw.load_vae_decoder
    gw.load_vae_decoder = load_tiny_vae
    try:
        yield
    finally:
        gw.load_vae_decoder = original


def build_tiny_wan(folder: Path, *, seed: int = 0, vae: str = "tiny") -> Path:
    """Write a tiny random Wan 2.1 folder in the layout ``convert_wan`` produces."""
    import mlx.core as mx
    from mlx_video.models.wan.config import WanModelConfig
    from mlx_video.models.wan.model import WanModel
    from mlx_video.models.wan.text_encoder import T5Encoder
    from mlx_video.models.wan.vae import WanVAE

    folder.mkdir(parents=True, exist_ok=True)
    mx.random.seed(seed)
    config_dict = dict(TINY_CONFIG)
    (folder / "config.json").write_text(json.dumps(config_dict, indent=1), encoding="utf-8")
    fields = {k: tuple(v) if isinstance(v, list) else v for k, v in config_dict.items()}
    config = WanModelConfig(**fields)
    _save(WanModel(config), folder / "model.safetensors")
    encoder = T5Encoder(
        vocab_size=config.t5_vocab_size,
        dim=config.t5_dim,
        dim_attn=config.t5_dim_attn,
        dim_ffn=config.t5_dim_ffn,
        num_heads=config.t5_num_heads,
        num_layers=config.t5_num_layers,
        num_buckets=config.t5_num_buckets,
        shared_pos=False,
    )
    _save(encoder, folder / "t5_encoder.safetensors")
    _save(WanVAE(z_dim=16) if vae == "real" else _tiny_vae_class()(z_dim=16), folder / "vae.safetensors")
    return folder


def build_umt5_standin(hub_cache: Path, *, vocab: int = 512) -> Path:
    """Put a word-level stand-in for google/umt5-xxl's tokenizer into a Hugging Face cache.

    Same layout as ``hf download`` makes (``refs/main`` and a snapshot), so the package's own
    ``AutoTokenizer.from_pretrained("google/umt5-xxl")`` finds it with downloads off. Point
    ``HF_HUB_CACHE`` at ``hub_cache`` before the call.
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for i in range(len(words), vocab):
        words[f"w{i}"] = i
    core = Tokenizer(models.WordLevel(vocab=words, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    revision = "0" * 40
    repo = hub_cache / "models--google--umt5-xxl"
    snapshot = repo / "snapshots" / revision
    tokenizer.save_pretrained(str(snapshot))
    # AutoTokenizer reads the model's config.json too (the real repo has one)
    (snapshot / "config.json").write_text(json.dumps({"model_type": "umt5"}), encoding="utf-8")
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    return snapshot
