"""A tiny random Wan checkpoint, built from configs with a local tokenizer (no hub).

It exercises the real loading path: ``build`` saves a full pipeline folder with
``save_pretrained`` (safetensors) and a backend loads it back with ``from_pretrained``.
16x16 pixels, 9 frames, 2 steps run in well under a second on a CPU.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import os
from pathlib import Path

WORDS = ("a ball bounces on the floor and hits backboard rim wall basketball dominoes ramp glass metal "
         "wood rubber red blue green slow motion camera shot of in with dance monkey negative blurry").split()


def tokenizer() -> object:
    """A word-level T5-style tokenizer: ``<pad>`` 0, ``</s>`` 1, ``<unk>`` 2, then a small vocabulary."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in WORDS:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                   model_max_length=512)


def build(folder: str | os.PathLike[str], mode: str = "t2v", *, max_side: int = 32, version: str = "2.1") -> Path:
    """Builds and saves a tiny Wan pipeline for ``mode``: ``t2v`` (also serves ``v2v``), ``i2v`` or ``vace``.

    ``max_side`` is the most latent patches along an axis its position embedding covers (32: up
    to 512 pixels; 64 runs 832x480). ``version="2.2"`` builds Wan 2.2 TI2V's layout instead (``t2v``
    only; sorakit derives its image-to-video from it, as from Wan-AI/Wan2.2-TI2V-5B-Diffusers): a
    residual VAE that patches 2x2 pixels before its 8x downsampling (16x in all), and
    ``expand_timesteps``, so image-to-video holds the picture as the first latent frame with
    timestep 0 rather than in extra input channels; the scheduler is UniPC with flow sigmas, as
    that checkpoint ships it.

    >>> import tempfile, diffusers
    >>> path = build(tempfile.mkdtemp())
    >>> type(diffusers.WanPipeline.from_pretrained(path)).__name__
    'WanPipeline'
    """
    import diffusers
    import torch
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, UMT5Config
    from transformers import UMT5EncoderModel

    if version not in ("2.1", "2.2") or (version == "2.2" and mode != "t2v"):
        raise InvalidInput(f"version={version!r}, mode={mode!r}: a tiny Wan is 2.1 (t2v, i2v, vace) or 2.2 (t2v)")
    if version == "2.2":
        return _build_ti2v(Path(folder), max_side)
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                     temperal_downsample=[False, True, True])
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8))
    common = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16, text_dim=32,
                  freq_dim=256, ffn_dim=32, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
                  rope_max_seq_len=max_side)
    parts: dict[str, object] = dict(vae=vae, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=7.0),
                                    text_encoder=text_encoder, tokenizer=tokenizer())
    torch.manual_seed(0)
    if mode == "t2v":
        parts["transformer"] = diffusers.WanTransformer3DModel(in_channels=16, num_layers=2, **common)
        pipe = diffusers.WanPipeline(**parts)
    elif mode == "i2v":
        parts["transformer"] = diffusers.WanTransformer3DModel(in_channels=36, num_layers=2, image_dim=4, **common)
        torch.manual_seed(0)
        parts["image_encoder"] = CLIPVisionModel(CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32,
            intermediate_size=16, patch_size=1))
        parts["image_processor"] = CLIPImageProcessor(crop_size=32, size=32)
        pipe = diffusers.WanImageToVideoPipeline(**parts)
    elif mode == "vace":
        parts["transformer"] = diffusers.WanVACETransformer3DModel(in_channels=16, num_layers=3, vace_layers=[0, 2],
                                                                   vace_in_channels=96, **common)
        pipe = diffusers.WanVACEPipeline(**parts)
    else:
        raise InvalidInput(f"mode={mode!r}: a tiny Wan is built for t2v, i2v or vace")
    out = Path(folder)
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def _build_ti2v(out: Path, max_side: int) -> Path:
    import diffusers
    import torch
    from transformers import UMT5Config, UMT5EncoderModel

    z = 8  # the real VAE has 48 latent channels; the layout, not the width, is what the pipelines read
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(base_dim=4, decoder_base_dim=4, z_dim=z, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                                     temperal_downsample=[False, True, True], is_residual=True, in_channels=12,
                                     out_channels=12, patch_size=2, scale_factor_spatial=16,
                                     latents_mean=[0.0] * z, latents_std=[1.0] * z)
    torch.manual_seed(0)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=37, num_layers=2,
                                               num_heads=4, relative_attention_num_buckets=8))
    torch.manual_seed(0)
    transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=z, out_channels=z, text_dim=32,
        freq_dim=256, ffn_dim=32, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=max_side,
        num_layers=2)
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=5.0)
    pipe = diffusers.WanPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer(), transformer=transformer,
                                 scheduler=scheduler, expand_timesteps=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out


def build_lora(folder: str | os.PathLike[str], *, rank: int = 2, seed: int = 0, std: float = 0.5,
               name: str = "tiny_wan_lora.safetensors", diff: bool = False) -> Path:
    """Saves a random LoRA for the tiny Wan 2.1 transformer in the layout Wan LoRAs are published in
    (``diffusion_model.blocks.N.self_attn.q.lora_down.weight``, ``lora_up``, ``alpha``), which
    diffusers converts on ``load_lora_weights``: self- and cross-attention and the feed-forward of
    both blocks. ``diff=True`` adds a full-weight ``.diff`` key as some published files carry.
    Returns the file's path.

    >>> import tempfile
    >>> build_lora(tempfile.mkdtemp()).name
    'tiny_wan_lora.safetensors'
    """
    import torch
    from safetensors.torch import save_file

    dim, ffn = 24, 32  # the tiny transformer's inner and feed-forward widths (2 heads of 12; ffn_dim 32)
    g = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}

    def pair(key: str, fan_in: int, fan_out: int) -> None:
        tensors[f"diffusion_model.{key}.lora_down.weight"] = torch.randn(rank, fan_in, generator=g) * std
        tensors[f"diffusion_model.{key}.lora_up.weight"] = torch.randn(fan_out, rank, generator=g) * std
        tensors[f"diffusion_model.{key}.alpha"] = torch.tensor(float(rank))

    for block in range(2):
        for attn in ("self_attn", "cross_attn"):
            for proj in ("q", "k", "v", "o"):
                pair(f"blocks.{block}.{attn}.{proj}", dim, dim)
        pair(f"blocks.{block}.ffn.0", dim, ffn)
        pair(f"blocks.{block}.ffn.2", ffn, dim)
    if diff:
        tensors["diffusion_model.blocks.0.ffn.0.diff"] = torch.randn(ffn, dim, generator=g) * std
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out / name))
    return out / name
