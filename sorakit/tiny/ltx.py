"""A tiny random LTX-Video checkpoint, built from configs with a local tokenizer (no hub).

One folder serves every LTX-Video mode: ``LTXPipeline``, ``LTXImageToVideoPipeline`` and
``LTXConditionPipeline`` share the same components (T5 text encoder, causal video VAE,
transformer, flow-matching scheduler), so ``build`` saves one ``LTXPipeline`` and any of the
three loads it back with ``from_pretrained``. The VAE compresses 4x in space and time, so
32x32 pixels and 9 frames (8k+1) make 3 latent frames of 8x8; 2 steps run in well under a
second on a CPU.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import importlib
import os
from pathlib import Path
from typing import Any

CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
WORDS = "a the of on in and ball robot dance monkey camera slow motion".split()


def tokenizer() -> object:
    """A small T5 (unigram) tokenizer: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, ``▁``, characters, some words.

    It is the class ``LTXPipeline`` declares (``T5TokenizerFast``, one class with ``T5Tokenizer`` in
    transformers 5), built in memory: every word falls back to single characters, and ``</s>`` is
    appended to each prompt.
    """
    transformers: Any = importlib.import_module("transformers")
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    vocab += [(c, -4.0) for c in CHARACTERS] + [("\u2581" + w, -1.0) for w in WORDS]
    return transformers.T5Tokenizer(vocab=vocab, extra_ids=0, model_max_length=128)


def build(folder: str | os.PathLike[str], mode: str = "t2v") -> Path:
    """Builds and saves a tiny LTX-Video pipeline that every LTX-Video mode class loads.

    Args:
        folder: Where to save the pipeline (created if missing).

    Returns:
        The folder, ready for ``LTXPipeline.from_pretrained(folder)``,
        ``LTXImageToVideoPipeline.from_pretrained(folder)`` or
        ``LTXConditionPipeline.from_pretrained(folder)``.

    >>> import tempfile, diffusers
    >>> path = build(tempfile.mkdtemp())
    >>> type(diffusers.LTXConditionPipeline.from_pretrained(path)).__name__
    'LTXConditionPipeline'
    """
    if mode != "t2v":
        raise InvalidInput(f"mode={mode!r}: every LTX-Video mode loads the one checkpoint built for 't2v'")
    import torch

    diffusers: Any = importlib.import_module("diffusers")  # untyped: Any keeps strict mypy quiet
    transformers: Any = importlib.import_module("transformers")

    torch.manual_seed(0)
    transformer = diffusers.LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1), spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False), decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4, upsample_factor=(1,) * 4, timestep_conditioning=False, patch_size=1,
        patch_size_t=1, encoder_causal=True, decoder_causal=False)
    with torch.no_grad():  # per-channel latent statistics as real checkpoints have, not the identity, so that
        vae.latents_mean.copy_(torch.linspace(-0.3, 0.3, 8))  # latents normalised twice, or not at all,
        vae.latents_std.copy_(torch.linspace(0.6, 1.4, 8))  # show in a test
    tok = tokenizer()
    torch.manual_seed(0)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        pad_token_id=0, eos_token_id=1))
    pipe = diffusers.LTXPipeline(transformer=transformer, vae=vae, text_encoder=text_encoder, tokenizer=tok,
                                 scheduler=diffusers.FlowMatchEulerDiscreteScheduler())
    out = Path(folder)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
