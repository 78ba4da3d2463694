"""A tiny random LTX-2 checkpoint (video with audio), built from configs with a local tokenizer (no hub).

One folder serves both LTX-2 modes: ``LTX2Pipeline`` and ``LTX2ImageToVideoPipeline`` share the
same components (Gemma 3 text encoder, text connectors, audio-video transformer, video VAE, audio
VAE, vocoder, flow-matching scheduler), so ``build`` saves one ``LTX2Pipeline`` and either class
loads it back with ``from_pretrained``. The video VAE compresses 4x in space and time, so 32x32
pixels and 9 frames make 3 latent frames of 8x8. The vocoder upsamples by the mel hop (160), so
its stereo output really is 16 kHz: about as long as the video (the audio VAE's causal trim drops
3 mel frames). 2 steps run in well under a second on a CPU.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import importlib
import os
from pathlib import Path
from typing import Any

CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789"
SPECIALS = ("<pad>", "<eos>", "<bos>", "<unk>", "<mask>",
            "<start_of_image>", "<end_of_image>", "<image_soft_token>")


def tokenizer() -> object:
    """A small Gemma tokenizer (BPE without merges): the specials, ``▁`` and single characters.

    It is the class ``LTX2Pipeline`` declares (``GemmaTokenizerFast``, one class with
    ``GemmaTokenizer`` in transformers 5), built in memory: ``<pad>`` 0, ``<eos>`` 1, ``<bos>`` 2,
    ``<unk>`` 3, Gemma 3's image tokens 5-7, then one token per character, so any lower-case prompt
    encodes without ``<unk>``; ``<bos>`` starts every prompt, as in Gemma.
    """
    transformers: Any = importlib.import_module("transformers")
    vocab = {token: i for i, token in enumerate(SPECIALS)}
    for piece in ("\u2581", *CHARACTERS):
        vocab[piece] = len(vocab)
    return transformers.GemmaTokenizer(vocab=vocab, merges=[], model_max_length=1024, add_bos_token=True)


def build(folder: str | os.PathLike[str], mode: str = "t2v") -> Path:
    """Builds and saves a tiny LTX-2 pipeline that both LTX-2 mode classes load.

    Args:
        folder: Where to save the pipeline (created if missing).

    Returns:
        The folder, ready for ``LTX2Pipeline.from_pretrained(folder)`` or
        ``LTX2ImageToVideoPipeline.from_pretrained(folder)``.

    >>> import tempfile, diffusers
    >>> path = build(tempfile.mkdtemp())
    >>> type(diffusers.LTX2ImageToVideoPipeline.from_pretrained(path)).__name__
    'LTX2ImageToVideoPipeline'
    """
    if mode != "t2v":
        raise InvalidInput(f"mode={mode!r}: every LTX-2 mode loads the one checkpoint built for 't2v'")
    import torch

    diffusers: Any = importlib.import_module("diffusers")  # untyped: Any keeps strict mypy quiet
    ltx2: Any = importlib.import_module("diffusers.pipelines.ltx2")
    transformers: Any = importlib.import_module("transformers")

    tok = tokenizer()
    text_config = transformers.Gemma3TextConfig(
        vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8, max_position_embeddings=1024,
        sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2)
    vision_config = transformers.SiglipVisionConfig(
        hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=16,
        patch_size=4)
    torch.manual_seed(0)
    text_encoder = transformers.Gemma3ForConditionalGeneration(transformers.Gemma3Config(
        text_config=text_config, vision_config=vision_config, mm_tokens_per_image=4, boi_token_index=5,
        eoi_token_index=6, image_token_index=7))
    layers = text_config.num_hidden_layers + 1  # the pipeline stacks every hidden state, embeddings included

    torch.manual_seed(0)
    transformer = diffusers.LTX2VideoTransformer3DModel(
        in_channels=4, out_channels=4, patch_size=1, patch_size_t=1, num_attention_heads=2, attention_head_dim=8,
        cross_attention_dim=16, vae_scale_factors=(4, 4, 4), audio_in_channels=4, audio_out_channels=4,
        audio_num_attention_heads=2, audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2,
        qk_norm="rms_norm_across_heads", caption_channels=text_config.hidden_size, rope_double_precision=False,
        rope_type="split")
    torch.manual_seed(0)
    connectors = ltx2.LTX2TextConnectors(
        caption_channels=text_config.hidden_size, text_proj_in_factor=layers, video_connector_num_attention_heads=4,
        video_connector_attention_head_dim=8, video_connector_num_layers=1,
        video_connector_num_learnable_registers=None, audio_connector_num_attention_heads=4,
        audio_connector_attention_head_dim=8, audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None, connector_rope_base_seq_len=32, rope_theta=10000.0,
        rope_double_precision=False, causal_temporal_positioning=False, rope_type="split")
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLLTX2Video(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8), layers_per_block=(1, 1), decoder_layers_per_block=(1, 1, 1),
        spatio_temporal_scaling=(True, True), decoder_spatio_temporal_scaling=(True, True),
        decoder_inject_noise=(False, False, False), downsample_type=("spatiotemporal", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal"), upsample_residual=(False, False), upsample_factor=(1, 1),
        timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
        scaling_factor=0.8)
    with torch.no_grad():  # per-channel latent statistics as real checkpoints have, not the identity, so that
        vae.latents_mean.copy_(torch.linspace(-0.3, 0.3, 4))  # latents normalised twice, or not at all,
        vae.latents_std.copy_(torch.linspace(0.6, 1.4, 4))  # show in a test
    torch.manual_seed(0)
    # Two downsampling levels, as LTX-2's (1, 2, 4): the encoder compresses time and mel bins 4x, as the
    # pipelines' fixed audio_vae_temporal/mel_compression_ratio (4) assume when they take audio latents.
    audio_vae = diffusers.AutoencoderKLLTX2Audio(
        base_channels=4, output_channels=2, ch_mult=(1, 2, 4), num_res_blocks=1, attn_resolutions=None, in_channels=2,
        resolution=32, latent_channels=2, norm_type="pixel", causality_axis="height", dropout=0.0,
        mid_block_add_attention=False, sample_rate=16000, mel_hop_length=160, is_causal=True, mel_bins=8)
    with torch.no_grad():  # per-feature statistics that are not the identity, as for the video VAE
        audio_vae.latents_mean.copy_(torch.linspace(-0.2, 0.2, audio_vae.latents_mean.numel()))
        audio_vae.latents_std.copy_(torch.linspace(0.7, 1.3, audio_vae.latents_std.numel()))
    torch.manual_seed(0)
    vocoder = ltx2.LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins, hidden_channels=32,
        out_channels=2, upsample_kernel_sizes=[16, 11, 8], upsample_factors=[8, 5, 4], resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]], leaky_relu_negative_slope=0.1, output_sampling_rate=16000)
    pipe = diffusers.LTX2Pipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae, audio_vae=audio_vae,
        text_encoder=text_encoder, tokenizer=tok, connectors=connectors, transformer=transformer, vocoder=vocoder)
    out = Path(folder)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
