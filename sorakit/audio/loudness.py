"""Loudness (ITU-R BS.1770-4, LUFS) and true peak (dBTP), measured the way broadcast meters do.

Integrated loudness: K-weighting (a high shelf for the head's effect, then a high-pass), the mean
square per 400 ms block with 75 % overlap, an absolute gate at -70 LUFS and a relative gate 10 LU
under the gated mean. True peak: the largest magnitude of the signal oversampled to at least
192 kHz, so peaks between samples count.

>>> import numpy as np
>>> rate = 48_000
>>> t = np.arange(rate * 3) / rate
>>> tone = (0.1 * np.sin(2 * np.pi * 997 * t)).astype(np.float32)
>>> round(integrated_loudness(np.stack([tone, tone]), rate), 1)  # -20 dBFS sine, two channels
-20.0
"""

from __future__ import annotations

import math

import numpy as np

from sorakit.errors import InvalidInput

BLOCK = 0.4
OVERLAP = 0.75
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0


def _biquad(gain_db: float, q: float, f0: float, rate: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear-transform biquad for BS.1770's two K-weighting stages at any sample rate."""
    k = math.tan(math.pi * f0 / rate)
    if kind == "shelf":  # stage 1: +4 dB above ~1.5 kHz
        vh = 10 ** (gain_db / 20)
        vb = vh ** 0.4996667741545416
        a0 = 1 + k / q + k * k
        b = np.array([vh + vb * k / q + k * k, 2 * (k * k - vh), vh - vb * k / q + k * k]) / a0
        a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    else:  # stage 2: second-order high-pass at ~38 Hz
        a0 = 1 + k / q + k * k
        b = np.array([1.0, -2.0, 1.0])
        a = np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0])
    return b, a


def k_weighted(audio: np.ndarray, rate: int) -> np.ndarray:
    """The K-weighted signal, ``[channels, samples]`` float64.

    The filters are defined up to about 2 kHz, so audio at a rate under 8 kHz is measured at 48 kHz
    (its blocks then count samples at 48 kHz too; ``block_loudness`` asks for the rate it used).
    """
    from scipy.signal import lfilter

    x, rate = _measurable(np.asarray(audio, np.float64), rate)
    b1, a1 = _biquad(3.999843853973347, 0.7071752369554196, 1681.974450955533, rate, "shelf")
    b2, a2 = _biquad(0.0, 0.5003270373238773, 38.13547087602444, rate, "highpass")
    return np.asarray(lfilter(b2, a2, lfilter(b1, a1, x, axis=-1), axis=-1))


def block_loudness(audio: np.ndarray, rate: int) -> np.ndarray:
    """Loudness (LUFS) of each 400 ms block, hopped by 100 ms; empty when the audio is shorter than a block."""
    x, rate = _measurable(_channels(audio).astype(np.float64), rate)
    y = k_weighted(x, rate)
    size, hop = int(round(BLOCK * rate)), int(round(BLOCK * (1 - OVERLAP) * rate))
    if y.shape[1] < size:
        return np.zeros(0)
    power = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y * y, axis=1)], axis=1)
    starts = np.arange(0, y.shape[1] - size + 1, hop)
    mean_square = (power[:, starts + size] - power[:, starts]) / size  # [channels, blocks]
    total = mean_square.sum(axis=0)  # left and right weigh 1.0 each (no surround channels here)
    with np.errstate(divide="ignore"):
        return np.asarray(-0.691 + 10 * np.log10(total))


def integrated_loudness(audio: np.ndarray, rate: int) -> float:
    """Integrated loudness in LUFS; ``-inf`` for silence or audio shorter than one 400 ms block.

    Args:
        audio: ``[channels, samples]`` (or ``[samples]`` for mono), linear full scale 1.0.
        rate: samples per second.
    """
    blocks = block_loudness(audio, rate)
    kept = blocks[blocks > ABSOLUTE_GATE]
    if kept.size == 0:
        return -math.inf
    relative = _mean_loudness(kept) + RELATIVE_GATE
    kept = kept[kept > relative]
    return _mean_loudness(kept) if kept.size else -math.inf


def true_peak(audio: np.ndarray, rate: int) -> float:
    """The true peak in dBTP: the largest magnitude after oversampling to at least 192 kHz.

    >>> import numpy as np
    >>> # a sine at a quarter of the rate, sampled off its crests: samples reach 0.707, the wave 1.0
    >>> x = np.sin(np.pi / 2 * np.arange(4800) + np.pi / 4).astype(np.float32)
    >>> round(float(20 * np.log10(np.abs(x).max())), 1), abs(true_peak(x, 48_000)) < 0.2
    (-3.0, True)
    """
    peak = float(np.abs(oversampled(audio, rate)).max()) if np.size(audio) else 0.0
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def oversampled(audio: np.ndarray, rate: int) -> np.ndarray:
    """The signal oversampled (polyphase, windowed sinc) to at least 192 kHz, ``[channels, samples * factor]``."""
    from scipy.signal import resample_poly

    factor = max(1, math.ceil(192_000 / rate))
    x = _channels(audio).astype(np.float64)
    return x if factor == 1 else np.asarray(resample_poly(x, factor, 1, axis=-1))


def _measurable(x: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
    """Audio at a rate the K-weighting filters are defined for (8 kHz or more)."""
    if rate >= 8000:
        return x, rate
    from scipy.signal import resample_poly

    g = math.gcd(rate, 48_000)
    return np.asarray(resample_poly(x, 48_000 // g, rate // g, axis=-1)), 48_000


def _mean_loudness(blocks: np.ndarray) -> float:
    return float(-0.691 + 10 * np.log10(np.mean(10 ** ((blocks + 0.691) / 10))))


def _channels(audio: np.ndarray) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise InvalidInput(f"audio: expected [channels, samples] or [samples], got shape {list(x.shape)}")
    return x
