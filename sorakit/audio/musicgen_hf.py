"""MusicGen through transformers, for users without audiocraft.

``generate`` makes music of any length from a text prompt with a MusicGen checkpoint from the
hub (``facebook/musicgen-small``, ``-medium``, ``-large``, ``-stereo-*``) or a local folder.
Weights load only from safetensors, and no remote code runs.

One ``generate`` call of the model makes at most one *window* of audio, the length MusicGen was
trained on: ``generation_config.max_length`` decoder steps (1500 for the real checkpoints, 30 s
at 50 frames a second, less the codebook delay), capped by the decoder's
``max_position_embeddings``. Longer music continues window by window, as audiocraft does: the
last ``PROMPT_FRACTION`` of what is made so far (12 s of a 30 s window) prompts the next window as
audio, and the new window's decoding of that prompt crossfades into the music over the last
``CROSSFADE`` seconds before the new part, so the joins are continuous.
"""

from __future__ import annotations

from sorakit._device import pick
from sorakit.errors import InvalidInput, MissingPackage, Stopped

import math
from collections.abc import Callable
from typing import Any

import numpy as np

#: How much of a window, at its end, prompts the next window when music is longer than a window.
PROMPT_FRACTION = 0.4
#: Seconds over which a continued window's decoding of its prompt takes over from the audio so far.
CROSSFADE = 0.05

_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}


def _deps() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingPackage("MusicGen on transformers requires torch and transformers: pip install 'sorakit[audio]'") \
            from exc
    return torch, transformers


def load_model(model: str, *, device: str | None = None) -> tuple[Any, Any]:
    """Loads a MusicGen checkpoint and its processor, once per ``(model, device)``.

    Weights load only from safetensors (``use_safetensors=True``); no remote code runs. The
    processor is the checkpoint's ``MusicgenProcessor`` (tokenizer and feature extractor), or
    its tokenizer alone when the folder has no feature extractor; ``generate`` needs only the
    tokenizer.

    Args:
        model: a hub id such as ``"facebook/musicgen-small"`` or a local folder.
        device: ``"cuda"``, ``"cpu"``, ...; by default CUDA when there is a GPU, else the CPU.

    Returns:
        ``(MusicgenForConditionalGeneration, processor_or_tokenizer)``, the model in eval mode
        on ``device``.

    >>> import tempfile
    >>> from sorakit.tiny import musicgen as tiny_musicgen_hf
    >>> musicgen, processor = load_model(str(tiny_musicgen_hf.build(tempfile.mkdtemp())), device="cpu")
    >>> type(musicgen).__name__, type(processor).__name__
    ('MusicgenForConditionalGeneration', 'MusicgenProcessor')
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"model={model!r}: a MusicGen checkpoint is a hub id or a folder; "
                           "write e.g. 'facebook/musicgen-small'")
    torch, transformers = _deps()
    key = (model, pick(device))
    if key not in _CACHE:
        musicgen = transformers.MusicgenForConditionalGeneration.from_pretrained(model, use_safetensors=True)
        try:
            processor = transformers.AutoProcessor.from_pretrained(model)
        except (OSError, ValueError, KeyError, TypeError):
            processor = transformers.AutoTokenizer.from_pretrained(model)
        _CACHE[key] = (musicgen.to(key[1]).eval(), processor)
    return _CACHE[key]


def _delay(musicgen: Any) -> int:
    """Steps between the first codebook's first frame and the last codebook's (one per codebook)."""
    decoder = musicgen.config.decoder
    return int(decoder.num_codebooks) // int(decoder.audio_channels)


def _window_frames(musicgen: Any) -> int:
    """The most audio frames one ``generate`` call makes: the step limit less the codebook delay."""
    positions = int(musicgen.config.decoder.max_position_embeddings)
    steps = musicgen.generation_config.max_length
    limit = min(int(steps), positions) if steps else positions
    return max(1, limit - _delay(musicgen))


def _plan(total: int, window: int, prompt: int) -> list[int]:
    """The new frames each window makes: a full first window, then ``window - prompt`` at most per window."""
    sizes = [min(total, window)]
    while sum(sizes) < total:
        sizes.append(min(total - sum(sizes), window - prompt))
    return sizes


def _step_hook(transformers: Any, torch: Any, step: Callable[[], None]) -> Any:
    """A stopping criterion that never stops but calls ``step()`` once per decoder step."""

    class StepHook(transformers.StoppingCriteria):  # type: ignore[misc]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            step()
            return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)

    return StepHook()


def generate(model: str, prompt: str, duration: float, *, seed: int, device: str | None = None,
             on_progress: Callable[[int, int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> tuple[np.ndarray, int]:
    """Makes ``duration`` seconds of music for a text prompt.

    Sampling follows the checkpoint's generation config (for the real checkpoints: top-k 250
    sampling with classifier-free guidance 3). Music longer than the model's window continues
    window by window (see the module docstring). The cost is one decoder step per new frame
    plus the codebook delay once per window, so it grows in step with ``duration``; each
    continued window also encodes its prompt, which is cheap.

    Args:
        model: a hub id such as ``"facebook/musicgen-small"`` or a local folder.
        prompt: what the music sounds like, e.g. ``"tense strings, slow"``; may be empty.
        duration: seconds of audio, more than 0.
        seed: the sampling seed; the same seed gives identical audio on the same device. The
            global torch RNG is restored afterwards.
        device: as in :func:`load`.
        on_progress: called as ``on_progress(steps_done, steps_total)`` after every decoder
            step, over all windows (each window takes its new frames plus the codebook delay,
            less one, in steps), and once with ``(0, steps_total)`` before the first step.
        should_stop: polled before each window and after every decoder step; when it returns
            True the generation stops there and raises :class:`Stopped` (nothing is returned).

    Returns:
        ``(audio, sample_rate)``: float32 audio ``[channels, N]`` with ``N == round(duration *
        sample_rate)`` exactly (1 channel, or 2 for stereo checkpoints), and the rate in Hz
        (32000 for the real checkpoints).

    Raises:
        InvalidInput: a bad prompt, duration or seed (checked before any weights load).
        Stopped: ``should_stop()`` returned True.

    >>> import tempfile
    >>> from sorakit.tiny import musicgen as tiny_musicgen_hf
    >>> folder = str(tiny_musicgen_hf.build(tempfile.mkdtemp(), max_duration=1.0))
    >>> audio, rate = generate(folder, "slow strings", 0.5, seed=0, device="cpu")
    >>> audio.dtype, audio.shape, rate
    (dtype('float32'), (1, 1000), 2000)
    """
    if not isinstance(prompt, str):
        raise InvalidInput(f"prompt={prompt!r}: a prompt is a string; write e.g. 'tense strings, slow'")
    if (isinstance(duration, bool) or not isinstance(duration, (int, float)) or not math.isfinite(duration)
            or duration <= 0):
        raise InvalidInput(f"duration={duration!r}: the music lasts a number of seconds above 0; write e.g. 8.0")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInput(f"seed={seed!r}: a seed is a whole number; write e.g. seed=0")
    torch, transformers = _deps()
    musicgen, processor = load_model(model, device=device)
    rate = int(musicgen.config.audio_encoder.sampling_rate)
    hop = int(np.prod(musicgen.config.audio_encoder.upsampling_ratios))
    samples = round(duration * rate)
    if samples < 1:
        raise InvalidInput(f"duration={duration!r}: shorter than one sample at {rate} Hz; ask for at least {1 / rate} s")
    delay = _delay(musicgen)
    window = _window_frames(musicgen)
    prompt_frames = min(round(window * PROMPT_FRACTION), window - 1)
    sizes = _plan(math.ceil(samples / hop), window, prompt_frames)
    steps = [max(new, delay) + delay - 1 for new in sizes]
    total, done = sum(steps), 0
    limit = 0  # the progress count may not pass the end of the current window

    def step() -> None:
        nonlocal done
        done = min(done + 1, limit)
        if on_progress is not None:
            on_progress(done, total)
        if should_stop is not None and should_stop():
            raise Stopped("MusicGen", done, total)

    tokenizer = getattr(processor, "tokenizer", processor)
    dev = torch.device(musicgen.device)
    text = {k: v.to(dev) for k, v in tokenizer([prompt], return_tensors="pt", padding=True).items()
            if k in ("input_ids", "attention_mask")}
    hooks = transformers.StoppingCriteriaList([_step_hook(transformers, torch, step)])
    crossfade = min(prompt_frames * hop, round(CROSSFADE * rate))
    audio = np.zeros((int(musicgen.config.decoder.audio_channels), 0), dtype=np.float32)
    if on_progress is not None:
        on_progress(0, total)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(seed))
        for new, n_steps in zip(sizes, steps):
            if should_stop is not None and should_stop():
                raise Stopped("MusicGen", done, total)
            limit += n_steps
            extra: dict[str, Any] = {}
            keep = 0  # samples of this window that decode the prompt
            if audio.shape[1] and prompt_frames > 0:
                keep = prompt_frames * hop
                extra["input_values"] = torch.from_numpy(np.ascontiguousarray(audio[None, :, -keep:])).to(dev)
            with torch.inference_mode():
                values = musicgen.generate(**text, **extra, max_new_tokens=n_steps, do_sample=True,
                                           stopping_criteria=hooks)
            part = values[0, :, :keep + new * hop].float().cpu().numpy()
            done = limit
            if not audio.shape[1]:
                audio = part
            elif crossfade == 0:
                audio = np.concatenate([audio, part[:, keep:]], axis=1)
            else:
                ramp = np.linspace(0.0, 1.0, crossfade + 2, dtype=np.float32)[1:-1]
                mixed = audio[:, -crossfade:] * (1 - ramp) + part[:, keep - crossfade:keep] * ramp
                audio = np.concatenate([audio[:, :-crossfade], mixed, part[:, keep:]], axis=1)
    return np.ascontiguousarray(audio[:, :samples], dtype=np.float32), rate
