"""Sound for clips: the timeline mixer, loudness, and the sound models (loaded on first use).

``mix`` and the loudness meters need only numpy and scipy. The models import torch when used:
``audiocraft_gen`` (AudioGen ambience, MusicGen music; install with ``install_audiocraft()``),
``musicgen_hf`` (MusicGen through transformers) and ``tts`` (VITS voices for dialogue).

>>> from sorakit.audio import integrated_loudness, mix, Track
"""

from __future__ import annotations

from sorakit.audio.loudness import integrated_loudness, true_peak
from sorakit.audio.mix import Mix, MixInfo, Track, TrackInfo, mix
from sorakit.audio.soundtrack import SoundtrackInfo, SpokenLine

__all__ = ["mix", "Track", "Mix", "MixInfo", "TrackInfo", "SpokenLine", "SoundtrackInfo", "integrated_loudness",
           "true_peak", "install_audiocraft"]


def install_audiocraft(*, run: bool = True) -> str:
    """Installs audiocraft 1.3.0 without its pins, and what it really imports; never replaces torch.

    See ``sorakit.audio.audiocraft_gen.install_audiocraft``.
    """
    from sorakit.audio import audiocraft_gen

    return audiocraft_gen.install_audiocraft(run=run)
