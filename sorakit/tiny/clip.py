"""A tiny random CLIP image encoder for tests, built from a config (no hub, no download).

``build`` saves a ``CLIPVisionModelWithProjection`` (32x32 pixels, patch 8, hidden size 32, two
layers, 16-d embeddings) and a ``CLIPImageProcessor`` that resizes and centre-crops to 32 pixels,
both with ``save_pretrained`` (safetensors), so ``sorakit.consistency.embed(..., model=folder)``
loads it back through the same ``from_pretrained`` path as ``openai/clip-vit-base-patch32``.
Its weights are random: similarities from it only mean "same pixels, same embedding".
"""

from __future__ import annotations

import os
from pathlib import Path

IMAGE_SIZE = 32
PROJECTION_DIM = 16


def build(folder: str | os.PathLike[str]) -> Path:
    """Builds and saves the tiny encoder in ``folder``; the same weights every time.

    The global torch RNG is left as it was (the seed is set inside ``fork_rng``).

    >>> import tempfile, transformers
    >>> path = build(tempfile.mkdtemp())
    >>> m = transformers.CLIPVisionModelWithProjection.from_pretrained(path, use_safetensors=True)
    >>> m.config.image_size, m.config.projection_dim
    (32, 16)

    Returns:
        ``folder`` as a Path.
    """
    import torch
    import transformers

    config = transformers.CLIPVisionConfig(
        image_size=IMAGE_SIZE, patch_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, projection_dim=PROJECTION_DIM)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = transformers.CLIPVisionModelWithProjection(config).eval()
    # the PIL processor is what CLIPImageProcessor falls back to without torchvision; named, it is the
    # same class (and numbers) with or without torchvision, and saves as "CLIPImageProcessor"
    processor_cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    processor = processor_cls(size={"shortest_edge": IMAGE_SIZE},
                              crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    return out
