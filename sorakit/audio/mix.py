"""The timeline mixer: tracks with gains, fades and ducking, one output rate, a loudness target.

``mix`` places every Track at its start on one timeline, resampled to the output rate (48 kHz,
the rate the mp4 carries), lowers the tracks marked ``duck`` while dialogue plays, sums them, then
brings the sum to the loudness target (integrated LUFS, BS.1770) under a true-peak ceiling with a
look-ahead limiter. Onsets never move: every gain change is a smooth curve multiplied in place.

>>> import numpy as np
>>> rate = 48_000
>>> click = np.zeros((1, rate // 10), np.float32); click[0, :48] = 0.5
>>> hum = (0.05 * np.sin(2 * np.pi * 110 * np.arange(2 * rate) / rate)).astype(np.float32)[None]
>>> m = mix([Track("foley", click, rate, start=0.5), Track("ambience", hum, rate)], duration=2.0)
>>> m.audio.shape, round(m.info.loudness, 1), m.info.true_peak <= -1.0
((2, 96000), -16.0, True)
>>> int(np.flatnonzero(np.abs(m.stems["foley"][0]) > 0)[0])  # the click starts at 0.5 s exactly
24000
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from sorakit.audio.loudness import integrated_loudness, oversampled, true_peak
from sorakit.errors import InvalidInput

RATE = 48_000
TARGET_LUFS = -16.0
CEILING_DBTP = -1.0
MAX_BOOST_DB = 30.0  # never lift a near-silent mix by more than this: it would only raise noise
MAX_LIMIT_DB = 9.0  # nor limit its loudest peak by more than this to reach the target
DUCK_ATTACK = 0.08  # s: music starts going down this long before a line
DUCK_RELEASE = 0.4  # s: and comes back up over this long after it
LIMIT_ATTACK_DB_PER_S = 10_000.0  # the limiter's look-ahead ramp: 10 dB per millisecond
LIMIT_RELEASE_DB_PER_S = 60.0


@dataclass(frozen=True, eq=False)
class Track:
    """One part of a soundtrack on the timeline.

    Attributes:
        name: ``foley``, ``ambience``, ``music``, ``dialogue`` or ``joint`` (a video model's own sound);
            tracks of the same name share one stem.
        audio: float32 ``[channels, samples]`` (1 or 2 channels) or ``[samples]``.
        rate: its sample rate; resampled to the mix's rate.
        start: where its first sample lands, in seconds from the clip start.
        gain_db: its level in the mix.
        fade_in: seconds of raised-cosine fade at its beginning.
        fade_out: seconds of fade at its end.
        duck: lowered while any ``dialogue`` track plays.
        label: what it is (the spoken line, the prompt), for the sidecar and the plots.
        source: what made it (a model id and library, a voice), for the sidecar.
    """

    name: str
    audio: np.ndarray
    rate: int
    start: float = 0.0
    gain_db: float = 0.0
    fade_in: float = 0.0
    fade_out: float = 0.0
    duck: bool = False
    label: str = ""
    source: str = ""

    @property
    def duration(self) -> float:
        return float(np.shape(self.audio)[-1] / self.rate)


@dataclass(frozen=True)
class TrackInfo:
    """Where a track sits in a finished mix (seconds on the clip's timeline)."""

    name: str
    start: float
    end: float
    gain_db: float
    label: str = ""
    source: str = ""


@dataclass(frozen=True)
class MixInfo:
    """What the mixer did: the tracks, the target and what was reached.

    ``loudness`` (LUFS) and ``true_peak`` (dBTP) are measured on the final mix; None for silence.
    ``gain_db`` is the master gain applied to reach the target; ``limited_db`` the deepest gain
    reduction the limiter made to keep the true peak under ``ceiling``.
    """

    rate: int
    tracks: tuple[TrackInfo, ...]
    target: float | None
    ceiling: float
    loudness: float | None
    true_peak: float | None
    gain_db: float
    limited_db: float


@dataclass(frozen=True, eq=False)
class Mix:
    """A mixed soundtrack: ``audio`` float32 ``[2, samples]`` at ``rate``, its stems and what was done.

    ``stems`` are the tracks of each name as they went into the sum (placed, gained and ducked,
    before the master gain and limiter): play one alone to hear what it adds.
    """

    audio: np.ndarray
    rate: int
    info: MixInfo
    stems: dict[str, np.ndarray] = field(default_factory=dict)


def mix(tracks: list[Track] | tuple[Track, ...], duration: float, *, rate: int = RATE,
        loudness: float | None = TARGET_LUFS, ceiling: float = CEILING_DBTP, ducking: float = 10.0,
        speech: tuple[tuple[float, float], ...] = ()) -> Mix:
    """Mixes ``tracks`` into one stereo soundtrack of exactly ``round(duration * rate)`` samples.

    Args:
        tracks: the parts; anything past ``duration`` is cut, anything before 0 too.
        duration: seconds (the clip's length).
        rate: the output sample rate.
        loudness: the integrated loudness target in LUFS, or None to leave the level alone (the
            ceiling still holds). A mix stays under the target rather than take more than +30 dB of
            gain or more than 9 dB of limiting on its loudest peak (sparse Foley often would).
        ceiling: the true-peak ceiling in dBTP.
        ducking: dB by which ``duck`` tracks drop while dialogue plays.
        speech: more ``(start, end)`` seconds during which someone speaks, for ducking: dialogue
            already inside another track (a storyboard's shots carry their own lines).
    """
    _check(tracks, duration, rate, loudness, ceiling, ducking)
    n = int(round(duration * rate))
    placed: list[tuple[Track, np.ndarray, int]] = []
    speaking = np.zeros(n, bool)
    for i, span in enumerate(speech):
        if not (isinstance(span, tuple) and len(span) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                                    for v in span)):
            raise InvalidInput(f"speech[{i}]={span!r}: must be a (start, end) pair of seconds")
        lo, hi = max(0, int(round(span[0] * rate))), min(n, int(round(span[1] * rate)))
        speaking[lo:max(lo, hi)] = True
    infos = []
    for t in tracks:
        x = _place(t, rate)
        first = int(round(t.start * rate))
        placed.append((t, x, first))
        lo, hi = max(first, 0), min(first + x.shape[1], n)
        if t.name == "dialogue" and hi > lo:
            speaking[lo:hi] |= np.abs(x[:, lo - first:hi - first]).max(axis=0) > 0
        infos.append(TrackInfo(t.name, round(max(t.start, 0.0), 6), round(min(t.start + x.shape[1] / rate, duration), 6),
                               t.gain_db, t.label, t.source))
    duck_gain = _duck_curve(speaking, rate, ducking) if speaking.any() else None
    stems: dict[str, np.ndarray] = {}
    for t, x, first in placed:
        stem = stems.setdefault(t.name, np.zeros((2, n)))
        lo, hi = max(first, 0), min(first + x.shape[1], n)
        if hi <= lo:
            continue
        part = x[:, lo - first:hi - first]
        if t.duck and duck_gain is not None:
            part = part * duck_gain[lo:hi]
        stem[:, lo:hi] += part
    bus = sum(stems.values(), np.zeros((2, n)))
    out, gain_db, limited = _master(bus, rate, loudness, ceiling)
    level = integrated_loudness(out, rate)
    peak = true_peak(out, rate) if n else -math.inf
    info = MixInfo(rate, tuple(infos), loudness, ceiling, _finite(level), _finite(peak), round(gain_db, 3),
                   round(limited, 3))
    return Mix(out.astype(np.float32), rate, info, {k: v.astype(np.float32) for k, v in stems.items()})


def limit(audio: np.ndarray, rate: int, ceiling: float) -> tuple[np.ndarray, float]:
    """A look-ahead true-peak limiter: ``(limited, deepest reduction in dB)``.

    The needed reduction at each sample comes from the oversampled peak; it is held with a
    60 dB/s release and reached ahead of the peak by a 10 dB/ms ramp, so the gain is already down
    when the peak arrives and nothing before the ramp is touched.

    >>> x = np.zeros((2, 4800)); x[:, 2400] = 1.0
    >>> y, reduction = limit(x, 48_000, -6.0)
    >>> bool(np.abs(y).max() <= 10 ** (-6 / 20) + 1e-9), round(reduction, 1), float(y[0, 2000])
    (True, 6.0, 0.0)
    """
    x = np.asarray(audio, np.float64)
    if x.size == 0:
        return x, 0.0
    reduction = _reduction(_peaks_db(x, rate), ceiling, rate)
    return x * 10 ** (-reduction / 20), float(reduction.max())


def _peaks_db(x: np.ndarray, rate: int) -> np.ndarray:
    """Per sample, the largest oversampled magnitude over the channels from it to the next sample, in dB."""
    factor = max(1, math.ceil(192_000 / rate))
    over = np.abs(oversampled(x, rate)).reshape(x.shape[0], x.shape[1], factor).max(axis=(0, 2))
    with np.errstate(divide="ignore"):
        return np.asarray(20 * np.log10(np.maximum(over, np.abs(x).max(axis=0))))


def _reduction(peaks_db: np.ndarray, ceiling: float, rate: int) -> np.ndarray:
    """The limiter's gain reduction in dB per sample for peaks ``peaks_db`` (held, then ramped ahead)."""
    need = np.maximum(peaks_db - ceiling, 0.0)
    if not need.any():
        return need
    idx = np.arange(need.size, dtype=np.float64)
    release = LIMIT_RELEASE_DB_PER_S / rate
    held = np.maximum.accumulate(need + idx * release) - idx * release  # max over m<=n of need[m] - (n-m)*release
    attack = LIMIT_ATTACK_DB_PER_S / rate
    ahead = np.maximum.accumulate((held - idx * attack)[::-1])[::-1] + idx * attack  # max over m>=n
    return np.asarray(np.maximum(ahead, 0.0))


def _master(bus: np.ndarray, rate: int, target: float | None, ceiling: float) -> tuple[np.ndarray, float, float]:
    """Gain towards the target and the limiter under the ceiling, refined until within 0.05 LU.

    The gain stops where the limiter would have to take more than ``MAX_LIMIT_DB`` off the loudest
    peak: sparse sound (a few impacts) then stays under the target rather than being crushed.
    """
    margin = ceiling - 0.3  # the limiter works per sample; this margin covers what falls between samples
    if bus.size == 0:
        return bus, 0.0, 0.0
    peaks = _peaks_db(bus, rate)
    level = integrated_loudness(bus, rate)
    if target is None or not math.isfinite(level):
        gain = 0.0
    else:
        most = min(MAX_BOOST_DB, margin + MAX_LIMIT_DB - float(peaks.max()))
        gain = min(target - level, most)
        for _ in range(8):
            got = integrated_loudness(bus * 10 ** ((gain - _reduction(peaks + gain, margin, rate)) / 20), rate)
            if abs(got - target) <= 0.05 or (got < target and gain >= most):
                break
            gain = min(gain + target - got, most)
    reduction = _reduction(peaks + gain, margin, rate)
    out = bus * 10 ** ((gain - reduction) / 20)
    peak = true_peak(out, rate)
    if peak > ceiling:  # a last safety: never over the ceiling, even if the target then falls short
        out = out * 10 ** ((ceiling - peak) / 20)
    return np.clip(out, -1.0, 1.0), gain, float(reduction.max())


def _place(t: Track, rate: int) -> np.ndarray:
    """The track as float64 stereo at ``rate`` with its gain and fades."""
    from scipy.signal import resample_poly

    x = np.asarray(t.audio, np.float64)
    if x.ndim == 1:
        x = x[None]
    if t.rate != rate and x.shape[1]:
        g = math.gcd(int(t.rate), int(rate))
        x = np.asarray(resample_poly(x, rate // g, t.rate // g, axis=-1))
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    x = x * 10 ** (t.gain_db / 20)
    n = x.shape[1]
    for seconds, at_end in ((t.fade_in, False), (t.fade_out, True)):
        k = min(n, int(round(seconds * rate)))
        if k > 0:
            ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(k) + 0.5) / k)
            if at_end:
                x[:, n - k:] *= ramp[::-1]
            else:
                x[:, :k] *= ramp
    return x


def _duck_curve(speech: np.ndarray, rate: int, ducking: float) -> np.ndarray:
    """Gain over time for ducked tracks: full ``-ducking`` dB while speech plays, with linear ramps in dB."""
    idx = np.arange(speech.size, dtype=np.float64)
    on = speech.astype(np.float64)
    up = 1.0 / max(1.0, DUCK_RELEASE * rate)
    after = np.maximum.accumulate(on + idx * up) - idx * up
    down = 1.0 / max(1.0, DUCK_ATTACK * rate)
    before = np.maximum.accumulate((on - idx * down)[::-1])[::-1] + idx * down
    depth = np.clip(np.maximum(after, before), 0.0, 1.0)
    return np.asarray(10 ** (-ducking * depth / 20))


def _finite(x: float) -> float | None:
    return round(x, 3) if math.isfinite(x) else None


def _check(tracks: list[Track] | tuple[Track, ...], duration: float, rate: int, loudness: float | None,
           ceiling: float, ducking: float) -> None:
    def number(x: object) -> bool:  # a real number, finite; numpy floats count, True does not
        return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x)

    if not (number(duration) and 0 <= duration <= 3600):
        raise InvalidInput(f"duration={duration!r}: must be a number of seconds in [0, 3600]")
    if not (isinstance(rate, int) and 8000 <= rate <= 192_000):
        raise InvalidInput(f"rate={rate!r}: must be an integer sample rate in [8000, 192000]; 48000 suits video")
    if loudness is not None and not (number(loudness) and -70 < loudness <= 0):
        raise InvalidInput(f"loudness={loudness!r}: must be in (-70, 0] LUFS or None; -16 suits web video, "
                           f"-23 broadcast")
    if not (number(ceiling) and -20 <= ceiling <= 0):
        raise InvalidInput(f"ceiling={ceiling!r}: must be in [-20, 0] dBTP; -1 is the usual")
    if not (number(ducking) and 0 <= ducking <= 60):
        raise InvalidInput(f"ducking={ducking!r}: must be in [0, 60] dB; 10 keeps music audible under speech")
    if not isinstance(tracks, (list, tuple)) or not all(isinstance(t, Track) for t in tracks):
        raise InvalidInput(f"tracks: must be a list of Track, got {type(tracks).__name__}; "
                           "write [Track('music', audio, 48000)]")
    for i, t in enumerate(tracks):
        try:
            audio = np.asarray(t.audio)
        except ValueError as exc:  # rows of different lengths
            raise InvalidInput(f"tracks[{i}] ({t.name}): audio is not an array ({exc}); pass float32 "
                               "[channels, samples]") from exc
        shape = audio.shape
        if not (len(shape) == 1 or (len(shape) == 2 and shape[0] in (1, 2))):
            raise InvalidInput(f"tracks[{i}] ({t.name}): audio must be [samples] or [1 or 2 channels, samples], "
                               f"got shape {list(shape)}")
        if audio.dtype.kind not in "fiu":
            raise InvalidInput(f"tracks[{i}] ({t.name}): audio has dtype {audio.dtype}; samples are real numbers: "
                               "convert with np.asarray(audio, np.float32)")
        if not (isinstance(t.rate, int) and 1000 <= t.rate <= 384_000):
            raise InvalidInput(f"tracks[{i}] ({t.name}): rate={t.rate!r} must be an integer in [1000, 384000]")
        for key, rule in (("start", " in [-3600, 3600] s"), ("gain_db", " in [-120, 60] dB; 0 leaves the level"),
                          ("fade_in", ", 0 or more, at most 3600 s"), ("fade_out", ", 0 or more, at most 3600 s")):
            value = getattr(t, key)
            lo, hi = (-120, 60) if key == "gain_db" else (0 if key.startswith("fade") else -3600, 3600)
            if not (number(value) and lo <= value <= hi):
                raise InvalidInput(f"tracks[{i}] ({t.name}): {key}={value!r} must be a finite number{rule}")
        if not np.isfinite(audio).all():
            raise InvalidInput(f"tracks[{i}] ({t.name}): audio has NaN or infinite samples; check the model's output")
