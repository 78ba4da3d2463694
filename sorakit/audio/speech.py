"""Where speech is in a soundtrack: spans of voice activity.

A video model that speaks its lines itself (LTX-2 with ``sound.dialogue_source='model'``) says
them when it likes; ``sorakit.audio.soundtrack.measure_lines`` finds from these spans where each
line actually starts and ends in the model's sound, so ``clip.soundtrack.lines`` tells the truth
and the music ducks under them.

The detector is an energy gate on 20 ms frames (10 ms apart): a frame is voiced when its level is
both 12 dB above the track's noise floor (its 10th-percentile frame) and within 30 dB of its
loudest frames (99th percentile); pauses under 0.25 s are closed and bursts under 0.1 s dropped.
It hears speech over quiet ambience; under loud music or noise it hears the noise too, and a line's
measured start is then as good as that track allows.

>>> import numpy as np
>>> rate = 16_000
>>> audio = np.zeros(2 * rate, np.float32)
>>> audio[rate // 2: rate] = 0.3 * np.sin(np.arange(rate // 2) * 0.2)  # a "line" from 0.5 s to 1.0 s
>>> [(round(a, 1), round(b, 1)) for a, b in speech_spans(audio, rate)]  # to a frame (10 ms)
[(0.5, 1.0)]
"""

from __future__ import annotations

import numpy as np

__all__ = ["speech_spans"]

FRAME, HOP = 0.020, 0.010  # seconds
ABOVE_FLOOR_DB, BELOW_PEAK_DB = 12.0, 30.0
MIN_GAP, MIN_SPEECH = 0.25, 0.10  # seconds


def speech_spans(audio: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """The ``(start, end)`` seconds of voice activity in ``audio`` (``[samples]`` or ``[channels, samples]``)."""
    mono = np.asarray(audio, np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    size, hop = max(1, int(round(FRAME * rate))), max(1, int(round(HOP * rate)))
    if mono.size < size:
        return []
    starts = np.arange(0, mono.size - size + 1, hop)
    energy = np.array([np.mean(mono[s:s + size] ** 2) for s in starts])
    level = 10 * np.log10(energy + 1e-12)
    floor, peak = np.percentile(level, 10), np.percentile(level, 99)
    if peak < -80.0:  # digital silence
        return []
    voiced = (level > floor + ABOVE_FLOOR_DB) & (level > peak - BELOW_PEAK_DB)
    spans: list[list[float]] = []
    for i in np.flatnonzero(voiced):
        start, end = starts[i] / rate, (starts[i] + size) / rate
        if spans and start - spans[-1][1] < MIN_GAP:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    # a frame's stretch overhangs the sound by up to one frame on each side: report the hop-centred edges
    trim = (size - hop) / 2 / rate
    return [(round(float(a + trim), 4), round(float(b - trim), 4)) for a, b in spans if b - a >= MIN_SPEECH]
