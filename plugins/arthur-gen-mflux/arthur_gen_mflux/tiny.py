"""A tiny random FLUX.2 [klein] checkpoint, built from mflux's own classes, for real-pipeline tests.

mflux reads FLUX.2 klein's network sizes from its registry entry
(``AVAILABLE_MODELS["flux2-klein-4b"].transformer_overrides`` and ``text_encoder_overrides``),
so shrinking those two dicts makes the real ``Flux2Klein`` pipeline small: its loader, its
tokenizer with the chat template, its scheduler, callbacks, VAE decode and save all run::

    with tiny_klein():                         # the registry sizes and a narrow VAE, then restored
        folders = build_tiny_klein(tmp_path)   # mflux-save layout, HF layout, pre-quantized (4 bits)
        generate_image("x", backend="mflux", model="flux2-klein-4b",
                       options={"model_path": str(folders.mflux)}, width=256, height=256, steps=2)

The VAE keeps mflux's ``Flux2Encoder``/``Flux2Decoder`` classes at 8/16 channels (one resnet
per block): the full one takes minutes per 256² image with the reference BLAS of the mlx-cpu
wheel. The text encoder keeps 27 layers (the prompt encoder reads hidden states 9, 18 and 27)
at width 64; the transformer has one double and one single block, 2 heads of 64. The tokenizer
is byte-level Qwen2 (256 byte tokens plus Qwen's chat specials) with a Qwen3-style chat
template. Imports mflux, mlx and transformers when called, never at import.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

__all__ = [
    "TINY_CLI_DRIVER",
    "TINY_SEEDVR2_TRANSFORMER",
    "TINY_TEXT_ENCODER",
    "TINY_TRANSFORMER",
    "TinyKlein",
    "build_tiny_klein",
    "build_tiny_seedvr2",
    "tiny_klein",
    "tiny_lora",
    "tiny_seedvr2",
]

CONFIG_KEY = "flux2-klein-4b"
VAE_CHANNELS = (8, 16, 32, 64)  # the last (mid-block attention) quantizes in groups of 64
VAE_GROUPS = 8
TINY_TRANSFORMER: dict[str, Any] = {
    "num_layers": 1,
    "num_single_layers": 1,
    "num_attention_heads": 2,
    "attention_head_dim": 64,
    "axes_dims_rope": (16, 16, 16, 16),
    "joint_attention_dim": 192,  # 3 hidden states x 64
}
_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
# 256 byte tokens + the specials above
TINY_TEXT_ENCODER: dict[str, Any] = {
    "vocab_size": 256 + len(_SPECIALS),
    "hidden_size": 64,
    "num_hidden_layers": 27,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 32,
    "intermediate_size": 128,
}
#: ``python -c TINY_CLI_DRIVER image ...``: the real ``arthur-gen`` CLI with the tiny sizes in effect
TINY_CLI_DRIVER = (
    "import sys\n"
    "from arthur_gen_mflux.tiny import tiny_klein\n"
    "from arthur_gen.cli._main import main\n"
    "with tiny_klein():\n"
    "    code = main(sys.argv[1:])\n"
    "sys.exit(code)\n"
)
# Qwen3's template, reduced to what a one-message user prompt uses (with enable_thinking=False)
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}{%- endif %}{%- endif %}"
)


def _tiny_vae_class() -> type:
    from mflux.models.flux2.model.flux2_vae.decoder.decoder import Flux2Decoder
    from mflux.models.flux2.model.flux2_vae.encoder.encoder import Flux2Encoder
    from mflux.models.flux2.model.flux2_vae.vae import Flux2VAE

    class TinyFlux2VAE(Flux2VAE):  # type: ignore[misc]
        """mflux's FLUX.2 VAE with narrow blocks (same classes, same latent space of 32)."""

        def __init__(self) -> None:
            super().__init__()  # full-size blocks are built lazily and never evaluated
            sizes = {"block_out_channels": VAE_CHANNELS, "layers_per_block": 1, "norm_num_groups": VAE_GROUPS}
            self.encoder = Flux2Encoder(**sizes)
            self.decoder = Flux2Decoder(**sizes)

    return TinyFlux2VAE


@contextlib.contextmanager
def tiny_klein() -> Iterator[None]:
    """Make mflux build FLUX.2 klein 4B tiny in this process (registry sizes, VAE); restore after."""
    from mflux.models.common.config import model_config
    from mflux.models.flux2 import flux2_initializer

    config = model_config.AVAILABLE_MODELS[CONFIG_KEY]
    saved = dict(config.transformer_overrides), dict(config.text_encoder_overrides)
    vae = flux2_initializer.Flux2VAE
    config.transformer_overrides.clear()
    config.transformer_overrides.update(TINY_TRANSFORMER)
    config.text_encoder_overrides.clear()
    config.text_encoder_overrides.update(TINY_TEXT_ENCODER)
    flux2_initializer.Flux2VAE = _tiny_vae_class()
    try:
        yield
    finally:
        flux2_initializer.Flux2VAE = vae
        config.transformer_overrides.clear()
        config.transformer_overrides.update(saved[0])
        config.text_encoder_overrides.clear()
        config.text_encoder_overrides.update(saved[1])


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import Qwen2TokenizerFast  # type: ignore[attr-defined]

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    tokenizer = Qwen2TokenizerFast(
        tokenizer_object=core, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    tokenizer.add_special_tokens({"additional_special_tokens": list(_SPECIALS[1:])})
    tokenizer.chat_template = CHAT_TEMPLATE
    assert len(tokenizer) == TINY_TEXT_ENCODER["vocab_size"], len(tokenizer)
    return tokenizer


@attrs.frozen
class TinyKlein:
    """The folders :func:`build_tiny_klein` wrote."""

    mflux: Path  # mflux-save layout (ModelSaver), full precision
    hf: Path  # Hugging Face layout (diffusers / transformers names), same weights
    q4: Path  # mflux-save layout, pre-quantized to 4 bits (load with quantize=4, save_model)


def _modules(seed: int) -> Any:
    import mlx.core as mx
    from mflux.models.flux2.model.flux2_text_encoder.qwen3_text_encoder import Qwen3TextEncoder
    from mflux.models.flux2.model.flux2_transformer.transformer import Flux2Transformer

    mx.random.seed(seed)
    vae, transformer = _tiny_vae_class()(), Flux2Transformer(**TINY_TRANSFORMER)
    text_encoder = Qwen3TextEncoder(**TINY_TEXT_ENCODER)
    for module in (vae, transformer, text_encoder):
        mx.eval(module.parameters())
    return vae, transformer, text_encoder


def build_tiny_klein(root: Path, *, seed: int = 0) -> TinyKlein:
    """Write the tiny checkpoint under ``root`` in three folders (see :class:`TinyKlein`).

    The random weights are written in the Hugging Face layout (bfloat16, the names of the
    published repo); the other two folders are what ``mflux-save`` makes of it: mflux loads
    that folder and saves it, as is and quantized to 4 bits. Call inside :func:`tiny_klein`.
    """
    from mflux.models.common.config.model_config import ModelConfig
    from mflux.models.flux2.variants.txt2img.flux2_klein import Flux2Klein

    root.mkdir(parents=True, exist_ok=True)
    folders = TinyKlein(mflux=root / "tiny-klein", hf=root / "tiny-klein-hf", q4=root / "tiny-klein-q4")
    vae, transformer, text_encoder = _modules(seed)
    _write_hf_layout(folders.hf, {"vae": vae, "transformer": transformer, "text_encoder": text_encoder})
    with _quiet():
        for quantize, folder in ((None, folders.mflux), (4, folders.q4)):
            model = Flux2Klein(
                quantize=quantize, model_path=str(folders.hf), model_config=ModelConfig.flux2_klein_4b()
            )
            model.save_model(str(folder))
    return folders


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """mflux prints and draws tqdm bars while saving; keep test output readable."""
    import io

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


_PLACEHOLDER = re.compile(r"\{(block|layer|i|res)\}")


def _to_regex(pattern: str) -> re.Pattern[str]:
    out, pos = [], 0
    for match in _PLACEHOLDER.finditer(pattern):
        out.append(re.escape(pattern[pos : match.start()]))
        out.append(f"(?P<{match.group(1)}>\\d+)")
        pos = match.end()
    out.append(re.escape(pattern[pos:]))
    return re.compile("".join(out) + "$")


def hf_names(params: dict[str, Any], mapping: list[Any]) -> dict[str, Any]:
    """mflux parameter names to Hugging Face names through mflux's own weight mapping (inverted).

    Each mflux parameter takes the first source pattern of the target that names it; conv
    weights go back to PyTorch's (out, in, h, w).
    """
    from mflux.models.common.weights.mapping.weight_transforms import WeightTransforms

    targets = [(_to_regex(t.to_pattern), t) for t in mapping]
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name.endswith("rotary_emb.inv_freq"):  # computed from the config, not a checkpoint weight
            continue
        for regex, target in targets:
            match = regex.match(name)
            if match is None:
                continue
            source = target.from_pattern[0]
            for placeholder, index in match.groupdict().items():
                source = source.replace("{" + placeholder + "}", index)
            if target.transform is WeightTransforms.transpose_conv2d_weight and value.ndim == 4:
                value = value.transpose(0, 3, 1, 2)
            out[source] = value
            break
        else:
            raise KeyError(f"no Hugging Face name for mflux parameter {name!r}")
    return out


def _write_hf_layout(path: Path, modules: dict[str, Any]) -> None:
    import mlx.core as mx
    from mflux.models.common.config.model_config import ModelConfig
    from mflux.models.flux2.weights.flux2_weight_mapping import Flux2WeightMapping
    from mlx.utils import tree_flatten

    getters = {
        "vae": Flux2WeightMapping.get_vae_mapping,
        "transformer": Flux2WeightMapping.get_transformer_mapping,
        "text_encoder": Flux2WeightMapping.get_text_encoder_mapping,
    }
    for name, getter in getters.items():
        params = dict(tree_flatten(modules[name].parameters()))
        weights = {k: v.astype(ModelConfig.precision) for k, v in hf_names(params, getter()).items()}
        folder = path / name
        folder.mkdir(parents=True, exist_ok=True)
        mx.save_safetensors(str(folder / "model.safetensors"), weights)
        (folder / "config.json").write_text(json.dumps({"arthur_gen_tiny": True}))
    _tokenizer().save_pretrained(str(path / "tokenizer"))


def tiny_lora(path: Path, *, rank: int = 4, scale: float = 1.0, seed: int = 1) -> Path:
    """A PEFT-style LoRA (``transformer.<module>.lora_A/B.weight``) for the tiny transformer's
    input embedders and first double block's attention; writes ``path`` and returns it."""
    import mlx.core as mx

    inner = TINY_TRANSFORMER["num_attention_heads"] * TINY_TRANSFORMER["attention_head_dim"]
    shapes = {
        "x_embedder": (128, inner),
        "context_embedder": (TINY_TRANSFORMER["joint_attention_dim"], inner),
        "transformer_blocks.0.attn.to_q": (inner, inner),
    }
    key = mx.random.key(seed)
    weights = {}
    for module, (d_in, d_out) in shapes.items():
        key, a, b = mx.random.split(key, 3)
        weights[f"transformer.{module}.lora_A.weight"] = scale * mx.random.normal((rank, d_in), key=a)
        weights[f"transformer.{module}.lora_B.weight"] = scale * mx.random.normal((d_out, rank), key=b)
    path.parent.mkdir(parents=True, exist_ok=True)
    mx.save_safetensors(str(path), weights)
    return path


# -- SeedVR2 ------------------------------------------------------------------------------------

#: SeedVR2 3B's transformer at a tiny size (mflux reads ``transformer_overrides`` of its registry
#: entry in ``SeedVR2Initializer``); the text input stays 5120 wide for the packaged embeddings.
TINY_SEEDVR2_TRANSFORMER: dict[str, Any] = {
    "vid_dim": 64,
    "heads": 1,
    "head_dim": 64,
    "num_layers": 2,
    "mm_layers": 1,
    "rope_dim": 64,
    "expand_ratio": 1,
}


@contextlib.contextmanager
def tiny_seedvr2() -> Iterator[None]:
    """Make mflux build SeedVR2 3B tiny in this process (transformer sizes, a 32-channel VAE of
    mflux's own classes); restored after."""
    from mflux.models.common.config import model_config
    from mflux.models.seedvr2 import seedvr2_initializer

    config = model_config.AVAILABLE_MODELS["seedvr2-3b"]
    saved = config.transformer_overrides
    vae = seedvr2_initializer.SeedVR2VAE

    class TinySeedVR2VAE(vae):  # type: ignore[misc,valid-type]
        def __init__(self) -> None:
            super().__init__(block_out_channels=(32, 32, 32, 32))  # GroupNorm needs 32 groups

    config.transformer_overrides = dict(TINY_SEEDVR2_TRANSFORMER)
    seedvr2_initializer.SeedVR2VAE = TinySeedVR2VAE
    try:
        yield
    finally:
        seedvr2_initializer.SeedVR2VAE = vae
        config.transformer_overrides = saved


def build_tiny_seedvr2(root: Path, *, seed: int = 0) -> Path:
    """Random tiny SeedVR2 3B weights in the ``mflux-save`` layout, written by mflux's own saver
    (call inside :func:`tiny_seedvr2`). Returns the folder to pass as ``model_path``."""
    import mlx.core as mx
    from mflux.models.common.config.model_config import ModelConfig
    from mflux.models.seedvr2 import seedvr2_initializer
    from mflux.models.seedvr2.variants.upscale.seedvr2 import SeedVR2
    from mlx import nn

    mx.random.seed(seed)
    model = SeedVR2.__new__(SeedVR2)
    nn.Module.__init__(model)  # type: ignore[attr-defined]
    config = ModelConfig.seedvr2_3b()
    seedvr2_initializer.SeedVR2Initializer._init_config(model, config)
    seedvr2_initializer.SeedVR2Initializer._init_models(model, config)
    model.bits = None
    mx.eval(model.parameters())
    folder = root / "seedvr2-tiny"
    with _quiet():
        model.save_model(str(folder))
    return folder
