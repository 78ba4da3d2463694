"""Tiny random CogVideoX pipelines for offline tests: built from configs, no hub, no download.

The sizes follow diffusers' own fast tests (``tests/pipelines/cogvideo``): a 4-block VAE with
8x spatial and 4x temporal compression, a one-layer transformer and a two-layer T5 encoder
over a word-level tokenizer built here. Text-to-video and video-to-video share one
checkpoint (same transformer, ``in_channels == latent_channels``); image-to-video needs its
own (``in_channels == 2 * latent_channels``, RoPE and learned positional embeddings like
``CogVideoX-5b-I2V``, so it only runs at the 16 x 16 it was built for). ConsisID is not built
here: its pipeline imports opencv, which this environment lacks.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import importlib
import os
import pathlib
from typing import Any

from sorakit.backends.cogvideox import PIPELINES

TEXT_LENGTH = 226
"""Prompt tokens, as in the real models, so calls need no ``max_sequence_length``."""

_WORDS = (
    "a an the of and in on at to with from by over under into near is are was be it its this that "
    "dance monkey cat dog bird fish horse person man woman child people ball basketball bounce "
    "bounces rolls falls jumps runs walks flies swims spins floor court street grass water sky "
    "sun light shadow red green blue yellow white black bright dark slow fast camera shot close "
    "wide view scene video cinematic realistic painting squirrel eating burger blurry low quality"
).split()


def _tokenizer(length: int) -> Any:
    """A word-level T5-style tokenizer: ``<pad>`` = 0, ``</s>`` = 1, ``<unk>`` = 2, ``</s>`` appended."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    transformers: Any = importlib.import_module("transformers")  # Any: not strictly typed

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in _WORDS:
        vocab.setdefault(word, len(vocab))
    tok = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", 1)])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                                unk_token="<unk>", model_max_length=length)


def build(folder: str | os.PathLike[str], mode: str = "t2v", *, version: str = "1.0", side: int = 16) -> pathlib.Path:
    """Builds one tiny random CogVideoX pipeline and saves it to ``folder``.

    Deterministic: every component is seeded with ``torch.manual_seed(0)``. The folder loads
    back offline with ``PIPELINES[mode]`` and ``from_pretrained(folder, use_safetensors=True)``
    and runs two steps at 16 x 16 x 9 frames on a CPU in well under a second.

    Args:
        folder: where to save the pipeline (created if missing).
        mode: ``"t2v"``, ``"i2v"`` or ``"v2v"``; ``"v2v"`` saves the same weights as ``"t2v"``.
        version: ``"1.0"``, or ``"1.5"`` for CogVideoX 1.5's layout: two latent frames per temporal
            patch (``patch_size_t=2``) and rotary position embeddings, as in THUDM/CogVideoX1.5-5B.
        side: the frame size in pixels the transformer's sample size is set to (a multiple of 16;
            image-to-video's learned position embeddings run only at that size, like the real 720x480).

    Returns:
        The folder, as a ``pathlib.Path``.

    Raises:
        ValueError: for an unknown mode (``"identity"``, ConsisID, is not available here).

    >>> import tempfile, diffusers
    >>> path = build(tempfile.mkdtemp(), "i2v")
    >>> type(diffusers.CogVideoXImageToVideoPipeline.from_pretrained(path, use_safetensors=True)).__name__
    'CogVideoXImageToVideoPipeline'
    """
    if mode not in PIPELINES:
        raise InvalidInput(f"mode {mode!r} is unknown; use one of {', '.join(PIPELINES)}")

    import torch

    diffusers: Any = importlib.import_module("diffusers")  # Any: diffusers and transformers are not
    transformers: Any = importlib.import_module("transformers")  # strictly typed

    i2v = mode == "i2v"
    v15 = version == "1.5"
    if side < 16 or side % 16:
        raise InvalidInput(f"side={side!r}: a tiny CogVideoX is built for a multiple of 16 pixels")
    if version not in ("1.0", "1.5"):
        raise InvalidInput(f"version={version!r}: a tiny CogVideoX is built as '1.0' or '1.5'")
    torch.manual_seed(0)
    transformer = diffusers.CogVideoXTransformer3DModel(
        # heads * head_dim = 32 = the T5 width; RoPE needs head_dim % 16 == 0
        num_attention_heads=2 if i2v or v15 else 4,
        attention_head_dim=16 if i2v or v15 else 8,
        in_channels=8 if i2v else 4,  # i2v concatenates the image latents on channels
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=32,
        num_layers=1,
        sample_width=side // 8,  # latent 2 -> 16 pixels
        sample_height=side // 8,
        sample_frames=9,  # latent (9 - 1) / 4 + 1 = 3
        patch_size=2,
        patch_size_t=2 if v15 else None,
        temporal_compression_ratio=4,
        max_text_seq_length=TEXT_LENGTH,
        use_rotary_positional_embeddings=i2v or v15,
        use_learned_positional_embeddings=i2v,
    )
    torch.manual_seed(0)
    vae = diffusers.AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
        scaling_factor=0.7 if i2v else 1.15258426,  # CogVideoX-5b(-I2V) use 0.7, CogVideoX-2b 1.15258426
    )
    torch.manual_seed(0)
    text_encoder = transformers.T5EncoderModel(transformers.T5Config(
        vocab_size=128, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
        decoder_start_token_id=0,
    )).eval()
    scheduler = diffusers.CogVideoXDDIMScheduler(  # the real checkpoints' scheduler config
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
        prediction_type="v_prediction", rescale_betas_zero_snr=True, set_alpha_to_one=True,
        snr_shift_scale=1.0, steps_offset=0, timestep_spacing="trailing",
    )
    pipe = getattr(diffusers, PIPELINES[mode])(
        tokenizer=_tokenizer(TEXT_LENGTH), text_encoder=text_encoder, vae=vae.eval(),
        transformer=transformer.eval(), scheduler=scheduler,
    )
    out = pathlib.Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(out, safe_serialization=True)
    return out
