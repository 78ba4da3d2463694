"""Text to speech for dialogue, with VITS voices from transformers (no extra install).

A voice is a VITS checkpoint: Meta's MMS-TTS voices (``facebook/mms-tts-eng`` and about 1,100
other languages, one speaker each, reading plain characters) or a multi-speaker VITS checkpoint
in transformers' format, a speaker picked with ``#speaker_id``. Weights load only from
safetensors and no remote code runs: ``kakao-enterprise/vits-vctk`` (109 speakers) publishes only
a pickled ``pytorch_model.bin``, so it is refused before anything loads, with the MMS voice named
instead (transformers would otherwise fetch a converted copy from a conversion bot's pull request,
which its owners never published; sorakit turns that off). VITS samples noise for timing and
timbre, so a seed makes a line reproducible and another seed gives another reading.

Multi-speaker VITS voices trained on phonemes spell text as phonemes first: they need
``pip install phonemizer`` and the espeak-ng program (``apt install espeak-ng``). MMS-TTS voices
need neither; MMS voices for non-Latin scripts romanize the text with ``pip install uroman``.
"""

from __future__ import annotations

from sorakit._device import pick
from sorakit.errors import InvalidInput, MissingPackage
from sorakit.models import check_safetensors, no_safetensors

import re
from typing import Any

import numpy as np

DEFAULT_VOICE = "facebook/mms-tts-eng"


_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}
_SPEAKER = re.compile(r"[0-9]+")


def _deps() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingPackage("Text to speech requires torch and transformers: pip install 'sorakit[audio]'") from exc
    return torch, transformers


def parse_voice(voice: str) -> tuple[str, int | None]:
    """Splits a voice into a checkpoint and an optional speaker id.

    A voice is a hub id or a local folder of a VITS checkpoint, optionally followed by
    ``#`` and a speaker id for multi-speaker checkpoints; the last ``#`` is the separator, so a
    folder whose name has a ``#`` needs a speaker (``#0``). An empty voice is ``DEFAULT_VOICE``.

    Args:
        voice: ``"model_or_folder"`` or ``"model_or_folder#speaker_id"``.

    Returns:
        ``(model_or_folder, speaker_id)``, where ``speaker_id`` is ``None`` when no ``#`` is given.

    Raises:
        InvalidInput: ``voice`` is not a string, or has an empty checkpoint or a speaker id that is
            not a whole number ``>= 0``.

    >>> parse_voice("")
    ('facebook/mms-tts-eng', None)
    >>> parse_voice("kakao-enterprise/vits-vctk#12")
    ('kakao-enterprise/vits-vctk', 12)
    >>> parse_voice("kakao-enterprise/vits-vctk#p225")
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: voice='kakao-enterprise/vits-vctk#p225': the speaker after '#' must be a whole number >= 0, the speaker's index in the checkpoint; write e.g. 'kakao-enterprise/vits-vctk#0'
    """
    if not isinstance(voice, str):
        raise InvalidInput(f"voice={voice!r}: a voice is a string, 'model_or_folder' or 'model_or_folder#speaker_id'; "
                           f"write e.g. {DEFAULT_VOICE!r}")
    text = voice.strip()
    if not text:
        return DEFAULT_VOICE, None
    if "#" not in text:
        return text, None
    model, _, speaker = text.rpartition("#")
    model, speaker = model.strip(), speaker.strip()
    if not model:
        raise InvalidInput(f"voice={voice!r}: no checkpoint before '#'; write the checkpoint first, "
                           f"e.g. 'kakao-enterprise/vits-vctk{text}'")
    if not _SPEAKER.fullmatch(speaker):
        raise InvalidInput(f"voice={voice!r}: the speaker after '#' must be a whole number >= 0, the speaker's index "
                           f"in the checkpoint; write e.g. '{model}#0'")
    return model, int(speaker)


def load_model(model: str, *, device: str | None = None) -> tuple[Any, Any]:
    """Loads a VITS checkpoint and its tokenizer, once per ``(model, device)``.

    Weights load only from safetensors (``use_safetensors=True``); no remote code runs.

    Args:
        model: a hub id such as ``"facebook/mms-tts-eng"`` or a local folder (no ``#speaker``).
        device: ``"cuda"``, ``"cpu"``, ...; by default CUDA when there is a GPU, else the CPU.

    Returns:
        ``(VitsModel, VitsTokenizer)``, the model in eval mode on ``device``.

    >>> import tempfile
    >>> from sorakit.tiny import tts as tiny_tts
    >>> vits, tokenizer = load_model(str(tiny_tts.build(tempfile.mkdtemp())), device="cpu")
    >>> type(vits).__name__, type(tokenizer).__name__
    ('VitsModel', 'VitsTokenizer')
    """
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"model={model!r}: a VITS checkpoint is a hub id or a folder; write e.g. {DEFAULT_VOICE!r}")
    check_safetensors(model)
    torch, transformers = _deps()
    key = (model, pick(device))
    if key not in _CACHE:
        import os

        saved = os.environ.get("DISABLE_SAFETENSORS_CONVERSION")
        os.environ["DISABLE_SAFETENSORS_CONVERSION"] = "1"  # never a bot's converted copy of a pickle
        try:
            vits = transformers.VitsModel.from_pretrained(model, use_safetensors=True)
        except OSError as exc:
            if "safetensors" in str(exc) or "model.safetensors" in str(exc):
                raise InvalidInput(no_safetensors(model)) from exc
            raise
        finally:
            if saved is None:
                os.environ.pop("DISABLE_SAFETENSORS_CONVERSION", None)
            else:
                os.environ["DISABLE_SAFETENSORS_CONVERSION"] = saved
        tokenizer = transformers.VitsTokenizer.from_pretrained(model)
        _CACHE[key] = (vits.to(key[1]).eval(), tokenizer)
    return _CACHE[key]


def check_line(text: str, voice: str = "") -> None:
    """Checks, from the voice's config and tokenizer alone (no weights load), that ``voice`` has the
    speaker it names and can speak ``text``; ``generate`` runs it for every line before the video.

    Raises:
        InvalidInput: a speaker out of range, text the voice cannot speak, a pickle-only voice, or a
            hub voice that is not in the local cache while working offline.
    """
    import os

    model, speaker = parse_voice(voice)
    check_safetensors(model)
    check_available(model, "config.json")
    if not (os.path.isdir(model) or _cached(model, "config.json")):
        return  # a voice not downloaded yet is checked when it is, by speak(); no network here
    _, transformers = _deps()
    local = {"local_files_only": True}  # what is here already: a folder, or the cache
    speakers = int(transformers.VitsConfig.from_pretrained(model, **local).num_speakers)
    if speaker is not None and not 0 <= speaker < speakers:
        raise InvalidInput(f"voice={voice!r}: speaker {speaker} is out of range: this checkpoint has speakers "
                           f"0-{speakers - 1}; write e.g. '{model}#0'")
    _check_text(text, voice or DEFAULT_VOICE, transformers.VitsTokenizer.from_pretrained(model, **local))


def check_available(model: str, filename: str) -> None:
    """Offline (``HF_HUB_OFFLINE``), a hub model must already be in the local cache: say so now, not
    after the video."""
    import os

    if os.path.isdir(model) or os.environ.get("HF_HUB_OFFLINE", "").lower() not in ("1", "true", "yes"):
        return
    if not _cached(model, filename):
        raise InvalidInput(f"model={model!r}: not in this machine's model cache, and HF_HUB_OFFLINE is set; download "
                           "it while online (huggingface-cli download), or name a local folder")


def _cached(model: str, filename: str) -> bool:
    """Whether the hub cache holds ``filename`` of ``model`` (no network)."""
    import os

    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    cache = os.environ.get("HF_HUB_CACHE")  # read now: the library reads its own at import
    return isinstance(try_to_load_from_cache(model, filename, cache_dir=cache), str)


def _check_text(text: str, voice: str, tokenizer: Any) -> Any:
    """The token ids of ``text`` as a ``[1, T]`` tensor, or InvalidInput when none of it can be spoken."""
    if getattr(tokenizer, "phonemize", False):
        from transformers.utils import is_phonemizer_available

        if not is_phonemizer_available():
            raise MissingPackage(f"The voice {voice!r} spells text as phonemes: pip install phonemizer, and install "
                              "espeak-ng (apt install espeak-ng); MMS-TTS voices such as "
                              f"{DEFAULT_VOICE!r} need neither")
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    spoken = ids[0, 1::2] if getattr(tokenizer, "add_blank", False) else ids[0]
    if spoken.numel() > 0:
        return ids
    vocab = tokenizer.get_vocab()
    blank = tokenizer.convert_ids_to_tokens(0)
    seen = tokenizer.normalize_text(text) if getattr(tokenizer, "normalize", False) else text
    unsupported = "".join(sorted({c for c in seen if c not in vocab and not c.isspace()}))
    speaks = "".join(sorted(t for t in vocab if len(t) == 1 and t != blank and not t.isspace()))
    hint = " (this voice romanizes other scripts with uroman: pip install uroman)" \
        if getattr(tokenizer, "is_uroman", False) else ""
    raise InvalidInput(f"text={text!r}: the voice {voice!r} cannot speak any of it; unsupported characters: "
                       f"{unsupported!r}. It reads {speaks!r}{hint}; write the line in those characters or "
                       "pick a voice for its language (e.g. 'facebook/mms-tts-fra')")


def speak(text: str, *, voice: str = "", seed: int = 0, device: str | None = None) -> tuple[np.ndarray, int]:
    """Speaks one line of dialogue.

    Sample 0 of the result is the first frame the model predicts for the text: VITS gives every
    token (each character and the blank before it) at least one frame, so the voice starts at
    sample 0 plus the short lead-in the model gives the first blank (usually a few tens of ms).
    Nothing is trimmed or padded, so a line placed at time ``t`` starts speaking at ``t``.

    Args:
        text: the line. Characters the voice lacks (often punctuation) are dropped, as the voice's
            tokenizer does; a line with nothing left to speak is refused.
        voice: ``"model_or_folder"`` or ``"model_or_folder#speaker_id"`` (see :func:`parse_voice`);
            empty for ``DEFAULT_VOICE``. A multi-speaker voice with no ``#`` speaks as speaker 0.
        seed: the noise seed; the same seed gives identical audio on the same device.
        device: as in :func:`load`.

    Returns:
        ``(audio, sample_rate)``: float32 mono audio ``[1, N]`` in ``[-1, 1]`` and its rate in Hz
        (16000 for MMS-TTS, 22050 for VCTK).

    Raises:
        InvalidInput: empty text, a bad voice, a speaker id outside the checkpoint's range, or
            text with no character the voice can speak.

    >>> import tempfile
    >>> from sorakit.tiny import tts as tiny_tts
    >>> folder = str(tiny_tts.build(tempfile.mkdtemp(), speakers=2))
    >>> audio, rate = speak("A ball bounces.", voice=folder + "#1", seed=3, device="cpu")
    >>> audio.dtype, audio.shape[0], rate, audio.shape[1] > rate // 10
    (dtype('float32'), 1, 16000, True)
    >>> speak("A ball bounces.", voice=folder + "#2", device="cpu")
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: voice='...#2': speaker 2 is out of range: this checkpoint has speakers 0-1; write e.g. '...#0'
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"text={text!r}: a line to speak needs at least one word; write e.g. 'Watch out!'")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise InvalidInput(f"seed={seed!r}: a seed is a whole number; write e.g. seed=0")
    model, speaker = parse_voice(voice)
    torch, _ = _deps()
    vits, tokenizer = load_model(model, device=device)
    speakers = int(vits.config.num_speakers)
    if speaker is not None and not 0 <= speaker < speakers:
        raise InvalidInput(f"voice={voice!r}: speaker {speaker} is out of range: this checkpoint has speakers "
                           f"0-{speakers - 1}; write e.g. '{model}#0'")
    if speakers == 1:
        speaker = None  # a one-speaker checkpoint has no speaker embedding
    elif speaker is None:
        speaker = 0
    ids = _check_text(text, voice or DEFAULT_VOICE, tokenizer).to(vits.device)
    dev = torch.device(vits.device)
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(seed))
        with torch.inference_mode():
            out = vits(input_ids=ids, attention_mask=torch.ones_like(ids), speaker_id=speaker)
    n = int(out.sequence_lengths[0])
    audio = out.waveform[0, :n].float().cpu().numpy()
    return np.ascontiguousarray(audio[None, :], dtype=np.float32), int(vits.config.sampling_rate)
