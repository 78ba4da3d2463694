"""A tiny random MusicGen checkpoint for transformers, built from configs with a local tokenizer (no hub).

It exercises the real loading path of :mod:`sorakit.audio.musicgen_hf`: ``build`` saves a
``MusicgenForConditionalGeneration`` (safetensors), an ``EncodecFeatureExtractor`` and a
word-level T5-style tokenizer with ``save_pretrained``, the same files ``facebook/musicgen-small``
has, and ``musicgen_hf.load`` reads them back with ``from_pretrained`` (``AutoProcessor`` joins
the last two into a ``MusicgenProcessor``). The codec runs at 2 kHz with a hop of 80 samples
(25 frames a second, 2 codebooks of 64 codes), so a second of noise takes about 30 decoder
steps, a few tens of ms on a CPU.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import math
import os
from pathlib import Path
from typing import Any

from sorakit.tiny.wan import tokenizer

SAMPLING_RATE = 2000
HOP = 80  # 5 * 4 * 4, the codec's upsampling ratios
CODEBOOKS = 2
CODES = 64


def build(folder: str | os.PathLike[str], *, max_duration: float = 1.0) -> Path:
    """Builds and saves a tiny random MusicGen whose window is ``max_duration`` seconds.

    The window is what one ``generate`` call may produce: ``generation_config.max_length`` is
    set to the window's frames plus the codebook delay, as ``facebook/musicgen-small`` sets
    1500 for 30 s (50 frames a second, 4 codebooks). Longer music continues window by window.

    Args:
        folder: where to save the checkpoint (created if missing).
        max_duration: the window in seconds, at least one frame (0.04 s).

    Returns:
        ``folder`` as a ``Path``.

    >>> import tempfile, transformers
    >>> path = build(tempfile.mkdtemp(), max_duration=2.0)
    >>> transformers.GenerationConfig.from_pretrained(path).max_length
    52
    """
    if (isinstance(max_duration, bool) or not isinstance(max_duration, (int, float)) or not math.isfinite(max_duration)
            or round(max_duration * SAMPLING_RATE / HOP) < 1):
        raise InvalidInput(f"max_duration={max_duration!r}: the window must hold at least one frame "
                           f"({HOP / SAMPLING_RATE} s); use e.g. max_duration=1.0")
    frames = round(max_duration * SAMPLING_RATE / HOP)
    import torch
    from transformers import EncodecConfig, EncodecFeatureExtractor, MusicgenConfig, MusicgenDecoderConfig
    from transformers import MusicgenForConditionalGeneration, T5Config
    from transformers.utils import logging

    audio = EncodecConfig(
        sampling_rate=SAMPLING_RATE, upsampling_ratios=[5, 4, 4], codebook_size=CODES, hidden_size=16, num_filters=4,
        num_lstm_layers=1, num_residual_layers=1, chunk_length_s=None, overlap=None, normalize=False,
        # the smallest bandwidth picks the codebooks: CODEBOOKS * 25 frames/s * log2(CODES) bits
        target_bandwidths=[CODEBOOKS * SAMPLING_RATE / HOP * math.log2(CODES) / 1000])
    text = T5Config(vocab_size=64, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2,
                    relative_attention_num_buckets=8)
    decoder = MusicgenDecoderConfig(
        vocab_size=CODES, pad_token_id=CODES, bos_token_id=CODES, num_codebooks=CODEBOOKS, hidden_size=16,
        ffn_dim=32, num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=frames + CODEBOOKS)
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # MusicGen's pad/bos id is vocab_size by design; transformers warns about it
    try:
        config = MusicgenConfig(text_encoder=text, audio_encoder=audio, decoder=decoder)
        torch.manual_seed(0)
        model = MusicgenForConditionalGeneration(config).eval()
    finally:
        logging.set_verbosity(verbosity)
    # Trained codebooks come from k-means, and random init leaves them all zero: every code would
    # decode to one sound. Wide random codebooks make the codes audible (std about 0.1).
    with torch.no_grad():
        for layer in model.audio_encoder.quantizer.layers:
            layer.codebook.embed.copy_(torch.randn_like(layer.codebook.embed) * 50)
            layer.codebook.embed_avg.copy_(layer.codebook.embed)
    generation = model.generation_config
    generation.max_length = frames + CODEBOOKS
    generation.decoder_start_token_id = CODES
    generation.do_sample = True
    generation.guidance_scale = 3.0
    generation.top_k = 250
    out = Path(folder)
    model.save_pretrained(out, safe_serialization=True)
    # Saved apart, as on the hub (preprocessor_config.json and tokenizer files, no
    # processor_config.json): AutoProcessor puts them together as a MusicgenProcessor.
    EncodecFeatureExtractor(feature_size=1, sampling_rate=SAMPLING_RATE).save_pretrained(out)
    text_tokenizer: Any = tokenizer()
    text_tokenizer.save_pretrained(out)
    return out
