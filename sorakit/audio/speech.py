"""Where speech is in a soundtrack: spans of voice activity.

A video model that speaks its lines itself (LTX-2 with ``sound.dialogue_source='model'``) says
them when it likes; ``sorakit.audio.soundtrack.measure_lines`` finds from these spans where each
line actually starts and ends in the model's sound, so ``clip.soundtrack.lines`` tells the truth
and the music ducks under them.

The detector is an energy gate on 10 ms frames (2.5 ms apart): a frame is voiced when its level is
within 30 dB of the track's loudest frames (its 99th percentile) and either 12 dB above its noise
floor (its 10th-percentile frame) or within 6 dB of the loudest (a track that is speech throughout
has no floor below it); pauses under 0.25 s are closed and bursts under 0.1 s dropped. Edges are
found to within about 1.5 ms on a clean onset.
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

FRAME, HOP = 0.010, 0.0025  # seconds
ABOVE_FLOOR_DB, BELOW_PEAK_DB, NEAR_PEAK_DB = 12.0, 30.0, 6.0
MIN_GAP, MIN_SPEECH = 0.25, 0.10  # seconds


def speech_spans(audio: np.ndarray, rate: int) -> list[tuple[float, float]]:
    """The ``(start, end)`` seconds of voice activity in ``audio`` (``[samples]`` or ``[channels, samples]``)."""
    mono = np.asarray(audio, np.float64)
    mono = mono.mean(axis=0) if mono.ndim == 2 else mono
    size, hop = max(1, int(round(FRAME * rate))), max(1, int(round(HOP * rate)))
    if mono.size < size:
        return []
    sums = np.concatenate([[0.0], np.cumsum(mono * mono)])
    starts = np.arange(0, mono.size - size + 1, hop)
    energy = (sums[starts + size] - sums[starts]) / size
    level = 10 * np.log10(np.maximum(energy, 0.0) + 1e-12)
    floor, peak = np.percentile(level, 10), np.percentile(level, 99)
    if peak < -80.0:  # digital silence
        return []
    # A track that is speech throughout has no floor below it: then a frame within NEAR_PEAK_DB of
    # the loudest is speech.
    voiced = (level > min(floor + ABOVE_FLOOR_DB, peak - NEAR_PEAK_DB)) & (level > peak - BELOW_PEAK_DB)
    # A frame is voiced as soon as it reaches into the sound (its gate is 30 dB down), so the first
    # voiced frame starts up to a frame before the onset, less up to a hop: the onset is a frame
    # less half a hop after its start (within half a hop), the offset as far before the last one's end.
    trim = (size - hop / 2) / rate
    spans: list[list[float]] = []
    last = starts[-1]
    for i in np.flatnonzero(voiced):
        # the first and last frames cannot overhang the track: speech there starts or ends with it
        start = 0.0 if starts[i] == 0 else starts[i] / rate + trim
        end = mono.size / rate if starts[i] == last else (starts[i] + size) / rate - trim
        if spans and start - spans[-1][1] < MIN_GAP:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [(round(float(a), 4), round(float(b), 4)) for a, b in spans if b - a >= MIN_SPEECH]
