"""A tiny random Cosmos 3 omni pipeline for offline tests, with its sound: built from configs, no
hub, no download.

The real layout, shrunk: a two-layer ``Cosmos3OmniTransformer`` (the prompt's token ids, the
picture's latent patches and the sound's latent frames in one sequence, with fps-modulated 3-D
mRoPE), trained-for-sound (``sound_gen``); a Wan 2.2 ``AutoencoderKLWan`` (16x in space with its
2x2 pixel patches, 4x in time, as the real one); a ``Cosmos3AVAEAudioTokenizer`` at 8 kHz stereo
with a 320-sample hop (25 latent frames a second, as the real 48 kHz one with its 1920 hop); and
the flow-prediction UniPC scheduler of diffusers' Cosmos 3 conversion script. The tokenizer is
the byte-level one of ``sorakit.tiny.cosmos`` with ``<|vision_start|>``, which the pipeline reads.
"""

from __future__ import annotations

import importlib
import os
import pathlib
from typing import Any

__all__ = ["build", "scheduler", "SAMPLE_RATE"]

SAMPLE_RATE = 8000
"""The tiny sound tokenizer's rate (the real one's is 48 kHz)."""


def scheduler() -> Any:
    """The flow-prediction UniPC scheduler of diffusers' scripts/convert_cosmos3_to_diffusers.py."""
    diffusers: Any = importlib.import_module("diffusers")
    return diffusers.UniPCMultistepScheduler(use_karras_sigmas=True, use_flow_sigmas=True,
                                             prediction_type="flow_prediction", sigma_max=200.0, sigma_min=0.147)


def build(folder: str | os.PathLike[str], mode: str = "t2v", *, sound: bool = True) -> pathlib.Path:
    """Builds the tiny random Cosmos 3 omni pipeline and saves it to ``folder``.

    Deterministic (every component seeded with ``torch.manual_seed(0)``); two steps at 32 x 32 x 9
    frames with sound take well under a second on a CPU.

    Args:
        folder: where to save the pipeline (created if missing).
        mode: ignored beyond ``"t2v"``: one pipeline runs text-, image- and video-to-world.
        sound: with the sound tokenizer and a transformer trained for sound (as Nano and Super), or without.

    Returns:
        The folder, as a ``pathlib.Path``; ``from_pretrained`` must be handed a safety checker
        (``sorakit.backends.cosmos3.load_parts``), as for the real checkpoints without NVIDIA's guardrail.
    """
    import torch

    from sorakit.backends import _guardrail
    from sorakit.tiny.cosmos import qwen_tokenizer

    diffusers: Any = importlib.import_module("diffusers")
    from diffusers.models.autoencoders.autoencoder_cosmos3_audio import Cosmos3AVAEAudioTokenizer

    tokenizer = qwen_tokenizer(("<|vision_start|>",))
    sound_dim = 8
    torch.manual_seed(0)
    transformer = diffusers.Cosmos3OmniTransformer(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=16, rope_axes_dim=[4, 2, 2],  # sums to head_dim / 2
        hidden_act="silu", qk_norm_for_text=True, latent_channel=16, latent_patch_size=2,
        patch_latent_dim=64,  # 2 * 2 * 16
        vocab_size=len(tokenizer) + 8, base_fps=24, enable_fps_modulation=True,
        unified_3d_mrope_temporal_modality_margin=15000, rms_norm_eps=1e-6,
        **(dict(sound_gen=True, sound_dim=sound_dim, sound_latent_fps=25.0) if sound else {}),
    ).eval()
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(
        base_dim=4, decoder_base_dim=4, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
        temperal_downsample=[False, True, True], is_residual=True, patch_size=2,
        in_channels=12, out_channels=12,  # 3 colours x the 2 x 2 pixel patch
        scale_factor_spatial=16, scale_factor_temporal=4,
    ).eval()
    components: dict[str, Any] = dict(transformer=transformer, text_tokenizer=tokenizer, vae=vae,
                                      safety_checker=_guardrail.OFF, scheduler=scheduler())
    if sound:
        torch.manual_seed(0)
        components["sound_tokenizer"] = Cosmos3AVAEAudioTokenizer(
            sampling_rate=SAMPLE_RATE, vocoder_input_dim=sound_dim, dec_dim=4, dec_c_mults=[1, 2, 4],
            dec_strides=[4, 8, 10],  # a hop of 320 samples: 25 latent frames a second
            dec_out_channels=2, stereo=True, enc_dim=4, enc_num_blocks=1, enc_n_fft=16, enc_hop_length=8,
            enc_latent_dim=2 * sound_dim, enc_c_mults=[1, 2], enc_strides=[4, 10],
        ).eval()
    pipe = diffusers.Cosmos3OmniPipeline(**components)
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
