"""A Take's soundtrack: Foley, ambience, music, dialogue and a video model's own sound, mixed.

``build`` makes each track the Take asks for, brings every generated track to one reference
loudness (so the Take's gains mean the same whatever a model's output level), places dialogue
lines at their start times, and mixes it all with ``sorakit.audio.mix``.

>>> import numpy as np, sorakit
>>> take = sorakit.Take(frames=32, fps=16)
>>> knock = np.zeros((2, 96_000), np.float32); knock[:, 24_000:24_048] = 0.5
>>> st = build(take, 2.0, foley=knock)
>>> st.mix.audio.shape, [t.name for t in st.info.mix.tracks]
((2, 96000), ['foley'])
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sorakit.audio.loudness import integrated_loudness
from sorakit.audio.mix import RATE, Mix, MixInfo, Track, mix
from sorakit.callbacks import OnSound
from sorakit.errors import InvalidInput, MissingPackage
from sorakit.take import Take

REFERENCE_LUFS = -23.0  # every generated track is brought here before the Take's gains apply
MAX_MATCH_DB = 30.0

"""``on_sound(track, done, total)``: progress of the sound models (tokens for music and ambience)."""


# How a line reached the clip (``SpokenLine.how``).
OVERLAID = "overlaid"  # a VITS voice mixed over the picture
LIP_SYNCED = "lip-synced"  # a VITS voice the joint-audio video model made the picture to
BY_MODEL = "spoken by the model"  # the video model spoke it; its start is measured from the model's sound
NOT_HEARD = "spoken by the model; not found in its sound"  # no speech near the line: the asked start is kept


@dataclass(frozen=True)
class SpokenLine:
    """A dialogue line as placed in the clip: seconds on the clip's timeline (``end`` after any cut),
    and ``how`` it got there: ``overlaid``, ``lip-synced``, ``spoken by the model`` (start and end
    measured from the model's sound), or that the model's sound has no speech for it."""

    speaker: str
    text: str
    voice: str
    start: float
    end: float
    how: str = OVERLAID


@dataclass(frozen=True)
class SoundtrackInfo:
    """What went into a clip's sound: the mix (tracks, loudness) and the spoken lines with their times."""

    mix: MixInfo
    lines: tuple[SpokenLine, ...] = ()


@dataclass(frozen=True, eq=False)
class Soundtrack:
    """A built soundtrack: the mixed audio with its stems, and its ``info`` for the sidecar."""

    mix: Mix
    info: SoundtrackInfo


def music_backend(take: Take) -> str:
    """Which library makes the Take's music: ``audiocraft`` or ``transformers``.

    A local folder decides by its files (audiocraft's export has ``state_dict.bin``, transformers'
    a ``config.json``); ``auto`` with a hub id takes audiocraft when it is installed.

    >>> music_backend(Take().replace(sound=Take().sound.__class__(backend="transformers")))
    'transformers'
    """
    au = take.sound
    if au.backend != "auto":
        return au.backend
    ref = au.music_model
    if os.path.isdir(ref):
        if os.path.isfile(os.path.join(ref, "state_dict.bin")):
            return "audiocraft"
        if os.path.isfile(os.path.join(ref, "config.json")):
            return "transformers"
        raise InvalidInput(f"sound.music_model={ref!r}: the folder has neither audiocraft's state_dict.bin nor "
                           "transformers' config.json; point it at a MusicGen checkpoint folder")
    return "audiocraft" if _installed("audiocraft") else "transformers"


def preflight(take: Take) -> None:
    """Checks, before any model loads, that the libraries the Take's sound needs are installed, that its
    sound models are at hand (a local folder, or cached when working offline), and that every line's
    voice has its speaker and can speak its words (from the voice's config and tokenizer only).

    Raises:
        MissingPackage: naming the install command for what is missing.
        InvalidInput: naming the line or model, and what to change.
    """
    au = take.sound
    if au.ambience and not _installed("audiocraft"):
        raise MissingPackage("sound.ambience uses AudioGen, which needs audiocraft: pip install 'sorakit[audiocraft]' "
                          "then pip install --no-deps audiocraft==1.3.0 (or run sorakit.audio.install_audiocraft())")
    if au.music:
        backend = music_backend(take)
        need = "audiocraft" if backend == "audiocraft" else "transformers"
        if not _installed(need) or not _installed("torch"):
            how = ("pip install 'sorakit[audiocraft]' then pip install --no-deps audiocraft==1.3.0"
                   if need == "audiocraft" else "pip install 'sorakit[audio]'")
            raise MissingPackage(f"sound.music with backend {backend!r} needs {need}: {how}")
    voiced = au.dialogue if au.dialogue_source == "voice" else ()  # the model speaks the others itself
    if voiced and not (_installed("transformers") and _installed("torch")):
        raise MissingPackage("sound.dialogue is spoken by a VITS voice through transformers: pip install 'sorakit[audio]'")
    if take.lip_synced and not _installed("torchaudio"):
        raise MissingPackage("lip-synced dialogue is encoded with torchaudio's mel front end for the video model's "
                             "audio VAE: pip install torchaudio (the build that matches your torch), or set "
                             "SoundConfig(lip_sync=False) to lay the voices over the picture")
    from sorakit.audio.tts import check_available, check_line

    if au.ambience:
        check_available(au.ambience_model, "state_dict.bin")
    if au.music:
        check_available(au.music_model, "state_dict.bin" if music_backend(take) == "audiocraft" else "config.json")
    for i, line in enumerate(voiced):  # the voice has the speaker, and can speak the words
        try:
            check_line(line.text, line.voice)
        except InvalidInput as exc:
            raise InvalidInput(f"sound.dialogue[{i}]: {exc}") from exc


def build(take: Take, duration: float, *, foley: np.ndarray | None = None, foley_rate: int = RATE,
          joint: tuple[np.ndarray, int] | None = None, on_sound: OnSound | None = None,
          should_stop: Callable[[], bool] | None = None, device: str | None = None,
          models: bool = True, spoken: Spoken | None = None) -> Soundtrack:
    """Makes and mixes the Take's soundtrack for a clip of ``duration`` seconds.

    The arguments are those of ``tracks``; the mix follows ``take.sound``'s loudness and ducking.
    """
    parts, lines = tracks(take, duration, foley=foley, foley_rate=foley_rate, joint=joint, on_sound=on_sound,
                          should_stop=should_stop, device=device, models=models, spoken=spoken)
    said = tuple((line.start, line.end) for line in lines if line.how == BY_MODEL)  # inside the joint track
    mixed = mix(parts, duration, loudness=take.sound.loudness, ducking=take.sound.ducking, speech=said)
    return Soundtrack(mixed, SoundtrackInfo(mixed.info, lines))


def tracks(take: Take, duration: float, *, foley: np.ndarray | None = None, foley_rate: int = RATE,
           joint: tuple[np.ndarray, int] | None = None, on_sound: OnSound | None = None,
           should_stop: Callable[[], bool] | None = None, device: str | None = None,
           models: bool = True, spoken: Spoken | None = None) -> tuple[list[Track], tuple[SpokenLine, ...]]:
    """The Take's tracks for a clip of ``duration`` seconds, unmixed, and its spoken lines.

    Args:
        take: its ``audio`` settings say which tracks, which models and the mix.
        duration: the clip's length in seconds; the mix has exactly ``round(duration * 48000)`` samples.
        foley: the Foley track (from the physics events), ``[channels, samples]`` at ``foley_rate``.
        joint: a video model's own sound ``(audio, rate)`` (LTX-2), mixed as the ``joint`` track.
        on_sound: progress of the sound models, ``(track, done, total)``.
        should_stop: polled by the sound models between tokens.
        device: where the sound models run (default: CUDA when there is a GPU, else the CPU).
        models: False leaves out the tracks that need a sound model (ambience, music, dialogue),
            as for a render the user stopped.
        spoken: the lines already spoken (``speak``), as for a lip-synced clip whose picture was
            made to them: used as they are, not spoken again.

    With ``sound.dialogue_source='model'`` the lines are in the ``joint`` track: no voice speaks
    them, and each line's start and end are measured there (``sorakit.audio.speech``).
    """
    by_model = take.sound.dialogue_source == "model"
    keep = () if by_model or not models else take.sound.dialogue
    au = dataclasses.replace(take.sound, dialogue=keep) if models else dataclasses.replace(
        take.sound, ambience="", music="", dialogue=())
    parts: list[Track] = []
    lines: list[SpokenLine] = []
    if foley is not None and au.foley and np.any(foley):
        parts.append(Track("foley", _match(foley, foley_rate), foley_rate, gain_db=au.foley_gain, label="physics",
                           source="sorakit.foley"))
    if joint is not None and np.any(joint[0]):
        parts.append(Track("joint", _match(joint[0], joint[1]), joint[1], label=take.model, source=take.model))
    progress = _progress(on_sound)
    if au.ambience:
        from sorakit.audio import audiocraft_gen

        audio, rate = audiocraft_gen.generate(au.ambience_model, au.ambience, duration, seed=take.seed,
                                              device=device, on_progress=progress("ambience"),
                                              should_stop=should_stop)
        _leave_gpu(audiocraft_gen._MODELS)
        parts.append(Track("ambience", _match(audio, rate), rate, gain_db=au.ambience_gain,
                            fade_in=min(0.3, duration / 4), fade_out=min(0.5, duration / 4), label=au.ambience,
                           source=f"{au.ambience_model} (audiocraft)"))
    if au.music:
        backend = music_backend(take)
        if backend == "audiocraft":
            from sorakit.audio import audiocraft_gen as music
        else:
            from sorakit.audio import musicgen_hf as music  # type: ignore[no-redef]
        audio, rate = music.generate(au.music_model, au.music, duration, seed=take.seed, device=device,
                                     on_progress=progress("music"), should_stop=should_stop)
        _leave_gpu(music._MODELS if backend == "audiocraft" else music._CACHE)  # type: ignore[attr-defined]
        parts.append(Track("music", _match(audio, rate), rate, gain_db=au.music_gain,
                           duck=bool(take.sound.dialogue),
                            fade_in=min(0.2, duration / 4), fade_out=min(1.0, duration / 4), label=au.music,
                           source=f"{au.music_model} ({backend})"))
    if au.dialogue:
        if spoken is None:
            spoken = speak(take, duration, device=device, should_stop=should_stop, on_sound=on_sound)
        for line, audio, rate in spoken:
            lines.append(line)
            parts.append(Track("dialogue", _match(audio, rate), rate, start=line.start, gain_db=au.dialogue_gain,
                               fade_out=0.01, label=f"{line.speaker}: {line.text}", source=line.voice))
    if by_model and models and take.sound.dialogue:
        lines.extend(measure_lines(take.sound.dialogue, joint, duration))
    return parts, tuple(lines)


Spoken = list[tuple[SpokenLine, np.ndarray, int]]


def speak(take: Take, duration: float, *, device: str | None = None, should_stop: Callable[[], bool] | None = None,
          on_sound: OnSound | None = None) -> Spoken:
    """Each of the Take's dialogue lines spoken by its VITS voice: ``(line as placed, audio, rate)``.

    A line's ``how`` is ``lip-synced`` when the Take is (``Take.lip_synced``), else ``overlaid``;
    its end is cut at the clip's end.
    """
    from sorakit.audio import tts

    how = LIP_SYNCED if take.lip_synced else OVERLAID
    out: Spoken = []
    for i, line in enumerate(take.sound.dialogue):
        if should_stop is not None and should_stop():
            break
        audio, rate = tts.speak(line.text, voice=line.voice, seed=take.seed + i, device=device)
        end = min(line.start + audio.shape[-1] / rate, duration)
        out.append((SpokenLine(line.speaker, line.text, line.voice or tts.DEFAULT_VOICE, line.start, round(end, 6),
                               how), audio, rate))
        if on_sound is not None:
            on_sound("dialogue", i + 1, len(take.sound.dialogue))
    _leave_gpu(tts._CACHE)
    return out


def speech_track(spoken: Spoken, duration: float, rate: int) -> np.ndarray:
    """The spoken lines on the clip's timeline, mono at ``rate``: each brought to the reference
    loudness and placed at its start, as the mix places them (what a lip-syncing model is given)."""
    parts = [Track("dialogue", _match(audio, r), r, start=line.start, fade_out=0.01) for line, audio, r in spoken]
    placed = mix(parts, duration, rate=rate, loudness=None, ducking=0.0)
    return np.asarray(placed.audio.mean(axis=0), np.float32)


def _leave_gpu(cache: dict[tuple[str, str], Any]) -> None:
    """Drops the sound models a track loaded onto a GPU (cache keys are ``(model, device)``), so the
    next video model gets the whole GPU; a model on the CPU stays cached."""
    gone = [key for key in cache if not str(key[1]).startswith("cpu")]
    for key in gone:
        del cache[key]
    if gone:
        import gc

        import torch

        gc.collect()
        torch.cuda.empty_cache()


def _match(audio: np.ndarray, rate: int) -> np.ndarray:
    """``audio`` brought to the reference loudness (at most ±30 dB; silence stays silence)."""
    x = np.asarray(audio, np.float32)
    if x.ndim == 1:
        x = x[None]
    short = int(0.4 * rate) - x.shape[1]  # measure a line shorter than one loudness block as if padded
    level = integrated_loudness(np.pad(x, ((0, 0), (0, max(0, short)))), rate)
    if not math.isfinite(level):
        return x
    gain = float(np.clip(REFERENCE_LUFS - level, -MAX_MATCH_DB, MAX_MATCH_DB))
    return (x * 10 ** (gain / 20)).astype(np.float32)


def _progress(on_sound: OnSound | None) -> Callable[[str], Callable[[int, int], None] | None]:
    def for_track(name: str) -> Callable[[int, int], None] | None:
        if on_sound is None:
            return None
        report = on_sound
        return lambda done, total: report(name, done, total)
    return for_track


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def measure_lines(lines: Sequence[Any], joint: tuple[np.ndarray, int] | None, duration: float) -> list[SpokenLine]:
    """The ``DialogueLine``s a model spoke, placed where its sound ``joint = (audio, rate)`` has them.

    Each span of speech goes to the line whose asked start is nearest; a line takes the start of
    its first span and the end of its last (a line said with a pause is one line). A line no span
    went to keeps its asked start, and its ``how`` says it was not found.
    """
    from sorakit.audio.speech import speech_spans

    ordered = sorted(lines, key=lambda line: line.start)
    spans = speech_spans(joint[0], joint[1]) if joint is not None else []
    mine: dict[int, list[tuple[float, float]]] = {}
    for span in spans:
        nearest = min(range(len(ordered)), key=lambda i: abs(ordered[i].start - span[0]))
        mine.setdefault(nearest, []).append(span)
    out = []
    for i, line in enumerate(ordered):
        heard = mine.get(i)
        if heard:
            out.append(SpokenLine(line.speaker, line.text, "", heard[0][0], min(heard[-1][1], duration), BY_MODEL))
        else:
            out.append(SpokenLine(line.speaker, line.text, "", line.start, line.start, NOT_HEARD))
    return out
