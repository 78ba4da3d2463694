"""Foley from collision events: modal synthesis, placed at the exact sample of each event.

Each impact excites the modes of both materials (damped sinusoids, the classic model of
struck objects) plus a short broadband click, with loudness from the impulse and a
constant-power pan from the contact's position in the view.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from sorakit.physics.scene import Scene, SoundProfile
from sorakit.physics.simulate import Event

SAMPLE_RATE = 48_000
# The impulse (N·s) of a moderate hit: it plays at 1 - 1/e of full scale.
REFERENCE_IMPULSE = 10.0
PEAK = 10 ** (-1.0 / 20)  # -1 dBFS


def impact_gain(impulse: float) -> float:
    """Loudness of a hit in (0, 1): rises with the impulse everywhere, with a soft knee near full scale."""
    return 1.0 - math.exp(-math.sqrt(max(impulse, 0.0) / REFERENCE_IMPULSE))


def impact(profile_a: SoundProfile, profile_b: SoundProfile, gain: float, sample_rate: int,
           rng: np.random.Generator) -> np.ndarray:
    """One mono impact sound starting at its first sample, ``[n]`` float32."""
    out = _modes(profile_a, profile_b, sample_rate).copy()  # the ringing of both materials, the same each hit
    n = out.size
    click = min(n, int(0.004 * sample_rate))
    envelope = np.exp(-np.arange(click, dtype=np.float64) / sample_rate / 0.0008)
    for profile in (profile_a, profile_b):  # and a broadband click, new each hit
        out[:click] += 0.5 * profile.click * rng.standard_normal(click) * envelope
    peak = np.abs(out).max() or 1.0
    return (out * (gain / peak)).astype(np.float32)


@functools.lru_cache(maxsize=64)
def _modes(profile_a: SoundProfile, profile_b: SoundProfile, sample_rate: int) -> np.ndarray:
    """The modes of both materials summed (damped sinusoids), long enough to decay to -87 dB; read-only."""
    longest = max(d for p in (profile_a, profile_b) for _, d, _ in p.modes)
    n = int(min(longest * 10.0, 3.0) * sample_rate) + 1  # to -87 dB: no audible cut-off
    t = np.arange(n, dtype=np.float64) / sample_rate
    out = np.zeros(n)
    for profile in (profile_a, profile_b):
        total = sum(a for _, _, a in profile.modes) or 1.0
        for freq, decay, amp in profile.modes:
            if freq < sample_rate / 2:
                out += 0.5 * amp / total * np.exp(-t / decay) * np.sin(2 * np.pi * freq * t)
    out.flags.writeable = False
    return out


def synthesize(events: tuple[Event, ...] | list[Event], scene: Scene, duration: float, *,
               sample_rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """Mixes one impact per event into a stereo track ``[2, round(duration * sample_rate)]``.

    The onset of event ``e`` is sample ``round(e.time * sample_rate)`` exactly. The mix is
    scaled down (never up) so its peak stays under -1 dBFS.

    >>> from sorakit.physics import preset, simulate
    >>> sim = simulate(preset("basketball"), frames=48, fps=16)
    >>> synthesize(sim.events, sim.scene, sim.duration).shape
    (2, 144000)
    """
    n = int(round(duration * sample_rate))
    mix = np.zeros((2, n), np.float32)
    x0, _, x1, _ = scene.view
    rng = np.random.default_rng(seed)
    for e in events:
        start = int(round(e.time * sample_rate))
        if not 0 <= start < n:
            continue
        sound = impact(_profile(scene, e.a), _profile(scene, e.b), impact_gain(e.impulse), sample_rate, rng)
        sound = sound[: n - start]
        pan = float(np.clip((e.x - x0) / (x1 - x0), 0.0, 1.0))  # 0 left .. 1 right
        mix[0, start:start + len(sound)] += math.cos(pan * math.pi / 2) * sound
        mix[1, start:start + len(sound)] += math.sin(pan * math.pi / 2) * sound
    peak = float(np.abs(mix).max()) if n else 0.0
    if peak > PEAK:
        mix *= PEAK / peak
    return mix


def _profile(scene: Scene, body: str) -> SoundProfile:
    for group in (scene.balls, scene.boxes, scene.segments):
        for b in group:
            if b.name == body:
                return scene.material(b.material).sound
    raise KeyError(body)
