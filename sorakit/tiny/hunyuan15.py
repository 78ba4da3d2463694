"""Tiny random HunyuanVideo 1.5 pipelines for offline tests: built from configs, no hub, no download.

The sizes follow diffusers' fast test (``tests/pipelines/hunyuan_video1_5``): a one-layer
transformer, a two-layer Qwen2.5-VL text model, a T5 encoder for the glyph (ByT5) branch and
a small VAE. Unlike that test, the VAE compresses time 4x like the real one (so frame counts
follow the real ``4k + 1`` rule) and the guider is the real checkpoints' classifier-free
guidance at scale 6. Text- and image-to-video are separate checkpoints, as on the hub: the
image-to-video one adds a SigLIP image encoder and its processor.

The tokenizers are built here: a byte-level ``Qwen2Tokenizer`` (one token per byte, no
merges) with a ChatML template, and the vocabulary-free ``ByT5Tokenizer``.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import importlib
import os
import pathlib
from typing import Any

from sorakit.backends.hunyuan15 import PIPELINES

TARGET_SIZE = 16
"""The transformer's ``target_size``: image-to-video output is about this many pixels square."""

_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _qwen_tokenizer() -> Any:
    """A byte-level Qwen2 tokenizer: the 256 byte symbols and the three ChatML specials, no merges."""
    from tokenizers import pre_tokenizers

    transformers: Any = importlib.import_module("transformers")  # Any: not strictly typed

    vocab = {"<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2}
    for symbol in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    return transformers.Qwen2Tokenizer(vocab=vocab, merges=[], chat_template=_CHAT_TEMPLATE,
                          extra_special_tokens=["<|im_start|>", "<|im_end|>"])


def build(folder: str | os.PathLike[str], mode: str = "t2v") -> pathlib.Path:
    """Builds one tiny random HunyuanVideo 1.5 pipeline and saves it to ``folder``.

    Deterministic: every component is seeded with ``torch.manual_seed(0)``. The folder loads
    back offline with ``PIPELINES[mode]`` and ``from_pretrained(folder, use_safetensors=True)``
    and runs two steps at 16 x 16 x 9 frames on a CPU in about a second.

    Args:
        folder: where to save the pipeline (created if missing).
        mode: ``"t2v"`` or ``"i2v"``.

    Returns:
        The folder, as a ``pathlib.Path``.

    Raises:
        ValueError: for an unknown mode.

    >>> import tempfile, diffusers
    >>> path = build(tempfile.mkdtemp())
    >>> type(diffusers.HunyuanVideo15Pipeline.from_pretrained(path, use_safetensors=True)).__name__
    'HunyuanVideo15Pipeline'
    """
    if mode not in PIPELINES:
        raise InvalidInput(f"mode {mode!r} is unknown; use one of {', '.join(PIPELINES)}")

    import torch

    diffusers: Any = importlib.import_module("diffusers")  # Any: diffusers and transformers are not
    transformers: Any = importlib.import_module("transformers")  # strictly typed

    image_dim = 12
    torch.manual_seed(0)
    transformer = diffusers.HunyuanVideo15Transformer3DModel(
        in_channels=9,  # latents (4) + condition latents (4) + mask (1)
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=1,
        num_refiner_layers=1,
        mlp_ratio=2.0,
        patch_size=1,
        patch_size_t=1,
        text_embed_dim=16,  # the Qwen width
        text_embed_2_dim=32,  # the T5 width
        image_embed_dim=image_dim,  # the SigLIP width
        rope_axes_dim=(2, 2, 4),
        target_size=TARGET_SIZE,
        task_type=mode,
    )
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLHunyuanVideo15(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(16, 16, 16),
        layers_per_block=1,
        spatial_compression_ratio=4,
        temporal_compression_ratio=4,
        downsample_match_channel=False,
        upsample_match_channel=False,
    )
    scheduler = diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0)
    torch.manual_seed(0)
    text_encoder = transformers.Qwen2_5_VLTextModel(transformers.Qwen2_5_VLTextConfig(
        vocab_size=259, hidden_size=16, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, rope_theta=1000000.0, bos_token_id=0, eos_token_id=2, pad_token_id=0,
        rope_scaling={"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
    ))
    torch.manual_seed(0)
    text_encoder_2 = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=384, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    ))
    components: dict[str, Any] = dict(
        transformer=transformer.eval(), vae=vae.eval(), scheduler=scheduler,
        text_encoder=text_encoder.eval(), tokenizer=_qwen_tokenizer(),
        text_encoder_2=text_encoder_2.eval(), tokenizer_2=transformers.ByT5Tokenizer(),
        guider=diffusers.ClassifierFreeGuidance(guidance_scale=6.0),
    )
    if mode == "i2v":
        torch.manual_seed(0)
        components["image_encoder"] = transformers.SiglipVisionModel(transformers.SiglipVisionConfig(
            hidden_size=image_dim, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
            image_size=16, patch_size=4,  # 16 image tokens (the real encoder gives 729)
        )).eval()
        # the PIL processor is what SiglipImageProcessor falls back to without torchvision; named, it
        # stays the same class (and numbers) with or without torchvision
        processor = getattr(transformers, "SiglipImageProcessorPil", None) or transformers.SiglipImageProcessor
        components["feature_extractor"] = processor(size={"height": 16, "width": 16})
    pipe = getattr(diffusers, PIPELINES[mode])(**components)
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
