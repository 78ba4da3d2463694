"""A tiny random MusicGen or AudioGen, built offline through audiocraft's own builders (no T5, no hub).

It exercises the real loading path: ``build`` saves the model in audiocraft's export format
(``state_dict.bin`` and ``compression_state_dict.bin``, each a dict with ``best_state``,
``xp.cfg`` as YAML, ``version`` and ``exported``, as ``audiocraft.utils.export`` writes them), and
``MusicGen.get_pretrained(folder)`` / ``AudioGen.get_pretrained(folder)`` load it back.

The models: an EnCodec with 2 base filters, a 16-dim latent and 4 codebooks of 256 codes at
10 frames/s (MusicGen, 8 kHz) or 20 frames/s (AudioGen, 16 kHz), about 29 k parameters; a
2-layer, 32-wide causal transformer LM with the delay pattern and cross-attention to a lookup-table
text conditioner (the whole prompt hashed to one of 64 rows), about 0.1 M parameters. Building
takes a few hundredths of a second, loading about as long, and a few seconds of audio well under
a second on one CPU thread.

audiocraft 1.3.0 builds a model only if its window (``dataset.segment_duration``) is longer than
its class's default ``extend_stride`` (18 s for MusicGen, 2 s for AudioGen): the constructors set
that default and assert it. The tiny windows are therefore 20 s and 3 s.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from sorakit.errors import InvalidInput

__all__ = ["build", "WINDOW"]

# The default window per kind: the shortest round number audiocraft 1.3.0 accepts (see above).
WINDOW = {"musicgen": 20.0, "audiogen": 3.0}
_RATE = {"musicgen": 8000, "audiogen": 16000}
_RATIOS = [8, 5, 5, 4]  # a hop of 800 samples: 10 frames/s at 8 kHz, 20 at 16 kHz
_CARD = 256


def _configs(kind: str, window: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compression model's and the LM's configs, with the keys audiocraft's builders read."""
    rate = _RATE[kind]
    codec = {
        "solver": "compression", "device": "cpu", "dtype": "float32", "sample_rate": rate, "channels": 1,
        "compression_model": "encodec",
        "encodec": {"autoencoder": "seanet", "quantizer": "rvq", "sample_rate": rate, "channels": 1,
                    "causal": False, "renormalize": False},
        "seanet": {"dimension": 16, "channels": 1, "causal": False, "n_filters": 2, "n_residual_layers": 1,
                   "ratios": _RATIOS, "activation": "ELU", "activation_params": {"alpha": 1.0}, "norm": "weight_norm",
                   "norm_params": {}, "kernel_size": 7, "last_kernel_size": 7, "residual_kernel_size": 3,
                   "dilation_base": 2, "pad_mode": "constant", "true_skip": True, "compress": 2, "lstm": 0,
                   "disable_norm_outer_blocks": 0, "encoder": {}, "decoder": {"trim_right_ratio": 1.0}},
        "rvq": {"n_q": 4, "q_dropout": False, "bins": _CARD, "decay": 0.99, "kmeans_init": False, "kmeans_iters": 1,
                "threshold_ema_dead_code": 2, "orthogonal_reg_weight": 0.0,
                "orthogonal_reg_active_codes_only": False},
    }
    lm = {
        "solver": kind, "device": "cpu", "dtype": "float32", "sample_rate": rate, "channels": 1,
        "compression_model_checkpoint": "compression_state_dict.bin",
        "lm_model": "transformer_lm",
        "transformer_lm": {"dim": 32, "num_heads": 2, "num_layers": 2, "hidden_scale": 2, "n_q": 4, "card": _CARD,
                           "dropout": 0.0, "emb_lr": None, "activation": "gelu", "norm_first": True,
                           "bias_ff": False, "bias_attn": False, "bias_proj": False, "past_context": None,
                           "causal": True, "custom": False, "memory_efficient": True,
                           "attention_as_float32": False, "layer_scale": None, "positional_embedding": "sin",
                           "xpos": False, "checkpointing": "none", "weight_init": "gaussian",
                           "depthwise_init": "current", "zero_bias_init": True, "norm": "layer_norm",
                           "cross_attention": False, "qk_layer_norm": False, "qk_layer_norm_cross": False,
                           "attention_dropout": None, "kv_repeat": 1, "two_step_cfg": False},
        "codebooks_pattern": {"modeling": "delay", "delay": {"delays": [0, 1, 2, 3], "flatten_first": 0,
                                                             "empty_initial": 0}},
        "attribute_dropout": {},
        "classifier_free_guidance": {"training_dropout": 0.0, "inference_coef": 3.0},
        "fuser": {"cross_attention_pos_emb": False, "cross_attention_pos_emb_scale": 1, "sum": [], "prepend": [],
                  "cross": ["description"], "input_interpolate": []},
        "conditioners": {"description": {"model": "lut", "lut": {"n_bins": 64, "dim": 16, "tokenizer": "noop"}}},
        "dataset": {"segment_duration": window},
    }
    return codec, lm


def build(folder: str | os.PathLike[str], kind: str = "musicgen", *, max_duration: float | None = None,
          seed: int = 0) -> Path:
    """Builds a tiny random ``musicgen`` or ``audiogen`` and saves it as an audiocraft export in ``folder``.

    >>> import tempfile
    >>> from sorakit.audio import audiocraft_gen
    >>> folder = build(tempfile.mkdtemp(), "audiogen")
    >>> sorted(p.name for p in folder.iterdir())
    ['compression_state_dict.bin', 'state_dict.bin']
    >>> gen = audiocraft_gen.load_model(str(folder), device="cpu")
    >>> type(gen).__name__, gen.sample_rate, int(gen.frame_rate), gen.max_duration
    ('AudioGen', 16000, 20, 3.0)

    Args:
        folder: where to write the two files (created if missing).
        kind: ``musicgen`` or ``audiogen``; the exported config's ``solver`` says which.
        max_duration: the model's window in seconds (``dataset.segment_duration``); None gives
            ``WINDOW[kind]``. It must be longer than the class's default ``extend_stride``
            (MusicGen 18 s, AudioGen 2 s), or audiocraft 1.3.0 cannot build the model.
        seed: seeds the random weights (the global torch generator is left as it was).
    """
    if kind not in WINDOW:
        raise InvalidInput(f"kind={kind!r}: a tiny audiocraft model is 'musicgen' or 'audiogen'")
    from sorakit.audio import audiocraft_gen

    models = audiocraft_gen.import_audiocraft()
    cls = models.MusicGen if kind == "musicgen" else models.AudioGen
    stride = audiocraft_gen._stride(cls)
    window = WINDOW[kind] if max_duration is None else max_duration
    if isinstance(window, bool) or not isinstance(window, (int, float)) or not window > stride:
        raise InvalidInput(f"max_duration={max_duration!r}: a {kind} window must be longer than audiocraft's "
                           f"extend_stride of {stride:g} s, which its constructor asserts; use e.g. "
                           f"{WINDOW[kind]:g} (or None)")
    import audiocraft
    import torch
    from omegaconf import OmegaConf

    codec_cfg, lm_cfg = (OmegaConf.create(c) for c in _configs(kind, float(window)))
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*weight_norm` is deprecated", category=FutureWarning)
        torch.manual_seed(seed)
        codec = models.builders.get_compression_model(codec_cfg)
        lm = models.builders.get_lm_model(lm_cfg)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, model, cfg in (("state_dict.bin", lm, lm_cfg), ("compression_state_dict.bin", codec, codec_cfg)):
        torch.save({"best_state": model.state_dict(), "xp.cfg": OmegaConf.to_yaml(cfg),
                    "version": audiocraft.__version__, "exported": True}, out / name)
    return out
