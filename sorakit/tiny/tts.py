"""A tiny random VITS voice, built from a config with a local character vocabulary (no hub).

It exercises the real loading path of :mod:`sorakit.audio.tts`: ``build`` saves a ``VitsModel``
(safetensors) and a ``VitsTokenizer`` with ``save_pretrained``, and ``tts.load`` reads them back
with ``from_pretrained``. The voice has about 30k parameters, speaks 16 kHz noise, and a short
sentence takes about 10 ms on a CPU.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import json
import os
from pathlib import Path

#: The voice's alphabet, in id order: ``_`` (id 0) is the blank VITS puts between characters,
#: as in Meta's MMS-TTS vocabularies, which also speak lower-case letters, space, ``'`` and ``-``.
CHARACTERS = ("_", " ", "'", "-", *"abcdefghijklmnopqrstuvwxyz", "<unk>")


def build(folder: str | os.PathLike[str], *, speakers: int = 1) -> Path:
    """Builds and saves a tiny random VITS voice with ``speakers`` speakers (ids ``0 .. speakers - 1``).

    The voice reads lower-case letters, space, ``'`` and ``-``; its tokenizer lower-cases the
    text and drops other characters, as MMS-TTS does. The hop is 256 samples at 16 kHz (16 ms),
    as in MMS-TTS, and every token (a character or a blank) lasts at least one hop, so "a ball
    bounces" (29 tokens) lasts 0.9 to 2.4 s, depending on the seed.

    Args:
        folder: where to save ``config.json``, ``model.safetensors``, ``vocab.json`` and
            ``tokenizer_config.json`` (created if missing).
        speakers: how many speakers; more than one gives a speaker embedding, as in VCTK voices.

    Returns:
        ``folder`` as a ``Path``.

    >>> import tempfile, transformers
    >>> path = build(tempfile.mkdtemp(), speakers=2)
    >>> transformers.VitsConfig.from_pretrained(path).num_speakers
    2
    """
    if isinstance(speakers, bool) or not isinstance(speakers, int) or speakers < 1:
        raise InvalidInput(f"speakers={speakers!r}: a voice has a whole number of speakers, at least 1; "
                           "use speakers=1 for one voice or speakers=2 to test speaker ids")
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {c: i for i, c in enumerate(CHARACTERS)}
    (out / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tokenizer = VitsTokenizer(str(out / "vocab.json"), pad_token="_", unk_token="<unk>", add_blank=True,
                              normalize=True, phonemize=False, is_uroman=False)
    config = VitsConfig(
        vocab_size=len(vocab), pad_token_id=0, sampling_rate=16000,
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, window_size=2, ffn_dim=16, flow_size=8,
        spectrogram_bins=9, upsample_initial_channel=16, upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], depth_separable_num_layers=2,
        duration_predictor_filter_channels=16, duration_predictor_num_flows=2, prior_encoder_num_flows=2,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        num_speakers=speakers, speaker_embedding_size=8 if speakers > 1 else 0)
    torch.manual_seed(0)
    model = VitsModel(config).eval()
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    return out
