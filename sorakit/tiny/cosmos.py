"""Tiny random Cosmos 2.5 pipelines for offline tests: Predict2.5 (text-, image- and video-to-world)
and Transfer2.5 (a controlnet over a control video), built from configs, no hub, no download.

The layout is the real 2.5 one, shrunk: a two-layer ``CosmosTransformer3DModel`` with the
cross-attention projection of Qwen2.5-VL's concatenated hidden states, 2x2 patches and the
condition-mask input channel; a Wan 2.1 ``AutoencoderKLWan`` that compresses time 4x and space 8x
like the real one; a two-layer ``Qwen2_5_VLForConditionalGeneration`` text encoder; and the
flow-prediction UniPC scheduler of diffusers' Cosmos conversion script. Transfer adds a two-block
``CosmosControlNetModel`` and the image-context input its transformer takes. The tokenizer is a
byte-level ``Qwen2Tokenizer`` (one token per byte, no merges) with a ChatML template.

Nothing here runs NVIDIA's guardrail: the pipelines are built with sorakit's pass-through checker,
which ``save_pretrained`` does not save, so ``from_pretrained`` must be handed one again
(``sorakit.backends.cosmos.load_parts`` does).
"""

from __future__ import annotations

import importlib
import os
import pathlib
from typing import Any

from sorakit.errors import InvalidInput

__all__ = ["build", "qwen_tokenizer", "text_encoder", "scheduler", "MODES"]

MODES = ("t2v", "vace")  # Predict2.5 (t2v, i2v and v2v are one pipeline) and Transfer2.5

# ChatML, with a message's content either text or a list of {"type": "text", "text": ...} parts
# (Cosmos 2.5 sends the list form; Cosmos 3 the text form).
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{ '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

_Z = 16  # latent channels (the Wan 2.1 VAE's)
_TEXT_WIDTH, _TEXT_LAYERS = 16, 2  # Qwen2.5-VL: the transformer reads all its layers' states concatenated
_HEADS, _HEAD_DIM = 2, 16
_IMAGE_CONTEXT = 24  # Transfer's image-context input width


def qwen_tokenizer(specials: tuple[str, ...] = ()) -> Any:
    """A byte-level Qwen2 tokenizer: the 256 byte symbols, then ``<|endoftext|>`` (padding),
    ``<|im_start|>``, ``<|im_end|>`` (end) and ``specials``, each one token; no merges."""
    from tokenizers import AddedToken, pre_tokenizers

    transformers: Any = importlib.import_module("transformers")  # Any: not strictly typed

    names = ("<|endoftext|>", "<|im_start|>", "<|im_end|>", *specials)
    vocab = {symbol: i for i, symbol in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for name in names:
        vocab[name] = len(vocab)
    tok = transformers.Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, eos_token="<|im_end|>",
                                      pad_token="<|endoftext|>", chat_template=_CHAT_TEMPLATE, model_max_length=4096)
    tok.add_tokens([AddedToken(name, special=True) for name in names])  # whole tokens, not their bytes
    return tok


def text_encoder(tokenizer: Any, width: int = _TEXT_WIDTH, layers: int = _TEXT_LAYERS, heads: int = 2,
                 kv_heads: int = 1, mlp: int = 32, mrope: tuple[int, int, int] = (1, 1, 2)) -> Any:
    """A random ``Qwen2_5_VLForConditionalGeneration`` over ``tokenizer``'s vocabulary: the tiny one by
    default; ``benchmarks/gpu_matrix.py`` builds it at Qwen2.5-VL-7B's width and depth (3584 x 28, 28
    heads, 4 key-value heads, mRoPE sections 16/24/24) with a thin MLP, since Cosmos 2.5 reads every
    layer's states. Its vision tower is always tiny (no prompt here holds an image)."""
    transformers: Any = importlib.import_module("transformers")
    vocab = len(tokenizer)
    config = transformers.Qwen2_5_VLConfig(
        text_config=dict(vocab_size=vocab, hidden_size=width, intermediate_size=mlp, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv_heads, max_position_embeddings=1024,
                         rope_scaling={"rope_type": "default", "mrope_section": list(mrope)}, rope_theta=1000000.0,
                         bos_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        vision_config=dict(depth=2, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=width,
                           fullatt_block_indexes=[1], window_size=28),
        # the image and video token ids lie outside the tiny vocabulary: no prompt here holds one
        image_token_id=vocab + 10, video_token_id=vocab + 11, vision_start_token_id=vocab + 12,
        vision_end_token_id=vocab + 13,
    )
    return transformers.Qwen2_5_VLForConditionalGeneration(config).eval()


def scheduler() -> Any:
    """The flow-prediction UniPC scheduler of the real 2.5 checkpoints."""
    diffusers: Any = importlib.import_module("diffusers")
    # diffusers' scripts/convert_cosmos_to_diffusers.py for 2.5: flow-prediction UniPC on Karras flow sigmas
    return diffusers.UniPCMultistepScheduler(use_karras_sigmas=True, use_flow_sigmas=True,
                                             prediction_type="flow_prediction", sigma_max=200.0, sigma_min=0.01)


def build(folder: str | os.PathLike[str], mode: str = "t2v") -> pathlib.Path:
    """Builds one tiny random Cosmos 2.5 pipeline and saves it to ``folder``.

    Deterministic: every component is seeded with ``torch.manual_seed(0)``. It runs two steps at
    32 x 32 x 9 frames on a CPU in well under a second; its RoPE covers 36 latent frames and 32
    latent pixels a side (256 x 256 pixels).

    Args:
        folder: where to save the pipeline (created if missing).
        mode: ``"t2v"`` for Predict2.5 (which also runs ``i2v`` and ``v2v``) or ``"vace"`` for Transfer2.5.

    Returns:
        The folder, as a ``pathlib.Path``.

    >>> import tempfile, diffusers
    >>> from sorakit.backends.cosmos import load_parts
    >>> path = build(tempfile.mkdtemp())
    >>> type(diffusers.Cosmos2_5_PredictBasePipeline.from_pretrained(path, use_safetensors=True,
    ...      safety_checker=load_parts(None, "t2v", None)["safety_checker"])).__name__
    'Cosmos2_5_PredictBasePipeline'
    """
    if mode not in MODES:
        raise InvalidInput(f"mode {mode!r} is unknown; use one of {', '.join(MODES)}")

    import torch

    from sorakit.backends import _guardrail

    diffusers: Any = importlib.import_module("diffusers")
    transfer = mode == "vace"
    width = _HEADS * _HEAD_DIM
    tokenizer = qwen_tokenizer()
    torch.manual_seed(0)
    encoder = text_encoder(tokenizer)
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLWan(
        base_dim=3, z_dim=_Z, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
        temperal_downsample=[False, True, True],  # 4x in time, 2**3 = 8x in space, as the real one
        latents_mean=[round(0.1 * (i - _Z / 2), 3) for i in range(_Z)],  # not the identity: the
        latents_std=[round(1.0 + 0.1 * i, 3) for i in range(_Z)],  # normalisation is exercised
    ).eval()
    with torch.no_grad():  # a posterior as narrow as a trained VAE's: Transfer samples its control latents, and
        vae.quant_conv.bias[_Z:] = -20.0  # a random one (std ~1) would drown the control in sampling noise
    shared = dict(patch_size=(1, 2, 2), max_size=(36, 32, 32), rope_scale=(1.0, 3.0, 3.0), extra_pos_embed_type=None,
                  use_crossattn_projection=True, crossattn_proj_in_channels=_TEXT_WIDTH * _TEXT_LAYERS,
                  encoder_hidden_states_channels=16, text_embed_dim=16, adaln_lora_dim=4, mlp_ratio=2.0,
                  num_attention_heads=_HEADS, attention_head_dim=_HEAD_DIM)
    image_context = dict(img_context_dim_in=_IMAGE_CONTEXT, img_context_dim_out=width)
    torch.manual_seed(0)
    transformer = diffusers.CosmosTransformer3DModel(
        in_channels=_Z + 1, out_channels=_Z, num_layers=2, concat_padding_mask=True,  # + the condition mask
        **shared, **({**image_context, "controlnet_block_every_n": 1, "img_context_num_tokens": 4} if transfer else {}),
    ).eval()
    components: dict[str, Any] = dict(text_encoder=encoder, tokenizer=tokenizer, transformer=transformer, vae=vae,
                                      scheduler=scheduler(), safety_checker=_guardrail.OFF)
    if transfer:
        torch.manual_seed(0)
        components["controlnet"] = diffusers.CosmosControlNetModel(
            n_controlnet_blocks=2,  # one per transformer layer (controlnet_block_every_n=1)
            in_channels=2 * _Z + 2,  # control latents, zero-padded as the real 130-channel input
            latent_channels=_Z + 2,  # latents + condition mask + padding mask
            model_channels=width, **shared, **image_context,
        ).eval()
    pipe = getattr(diffusers, "Cosmos2_5_TransferPipeline" if transfer else "Cosmos2_5_PredictBasePipeline")(**components)
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
