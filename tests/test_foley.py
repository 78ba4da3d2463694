from __future__ import annotations

import numpy as np
import pytest

from sorakit import preset, simulate
from sorakit.foley import SAMPLE_RATE, impact_gain, synthesize
from sorakit.physics import MATERIALS, Event

from .conftest import onset


def test_each_onset_is_at_the_exact_sample_of_its_event() -> None:
    sim = simulate(preset("basketball"), frames=80, fps=16)
    audio = synthesize(sim.events, sim.scene, sim.duration)
    assert audio.shape == (2, 5 * SAMPLE_RATE) and audio.dtype == np.float32
    for e in sim.events:
        start = round(e.time * SAMPLE_RATE)
        alone = synthesize([e], sim.scene, sim.duration)
        assert not alone[:, :start].any() and alone[:, start].any()
        assert np.abs(audio[:, start:start + 48]).max() > 0.05
        assert onset(audio, SAMPLE_RATE, e.time) - start in range(0, 3)


def test_loudness_follows_the_impulse() -> None:
    gains = [impact_gain(j) for j in (0.1, 1, 5, 20, 100, 1000)]
    assert gains == sorted(gains) and 0 < gains[0] and gains[-1] < 1
    scene = preset("bouncing_balls")
    soft = synthesize([Event(0.1, "rubber_ball", "floor", 1.0, 1.0, 4.0, 0.0)], scene, 0.5)
    hard = synthesize([Event(0.1, "rubber_ball", "floor", 30.0, 5.0, 4.0, 0.0)], scene, 0.5)
    assert np.abs(hard).max() > 2 * np.abs(soft).max()


def dominant_frequency(x: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(x.mean(axis=0)))
    return float(np.fft.rfftfreq(x.shape[1], 1 / SAMPLE_RATE)[np.argmax(spectrum)])


def test_timbre_follows_the_materials() -> None:
    scene = preset("bouncing_balls")
    for name in ("basketball", "wood", "glass"):
        hit = synthesize([Event(0.0, f"{name}_ball", f"{name}_ball", 10, 3, 4, 0)], scene, 0.5)
        assert dominant_frequency(hit) == pytest.approx(MATERIALS[name].sound.modes[0][0], abs=4)
    # Metal rings: most of its energy comes after the first 100 ms, unlike wood.
    metal = synthesize([Event(0.0, "metal_ball", "metal_ball", 10, 3, 4, 0)], scene, 1.0)
    wood = synthesize([Event(0.0, "wood_ball", "wood_ball", 10, 3, 4, 0)], scene, 1.0)

    def tail(x: np.ndarray) -> float:
        return float((x[:, 4800:] ** 2).sum() / (x ** 2).sum())

    assert tail(metal) > 0.5 > tail(wood)


def test_pan_follows_the_contact_position() -> None:
    scene = preset("bouncing_balls")  # view spans x in [0, 8]
    left = synthesize([Event(0.0, "rubber_ball", "floor", 10, 3, 0.5, 0)], scene, 0.3)
    right = synthesize([Event(0.0, "rubber_ball", "floor", 10, 3, 7.5, 0)], scene, 0.3)
    assert np.abs(left[0]).sum() > 3 * np.abs(left[1]).sum()
    assert np.abs(right[1]).sum() > 3 * np.abs(right[0]).sum()


@pytest.mark.parametrize("name", ["dominoes", "bouncing_balls"])
def test_busy_scenes_never_clip(name: str) -> None:
    sim = simulate(preset(name), frames=80, fps=16)
    audio = synthesize(sim.events, sim.scene, sim.duration)
    assert np.abs(audio).max() <= 10 ** (-1 / 20) + 1e-6


def test_synthesis_is_seeded() -> None:
    sim = simulate(preset("dominoes"), frames=32, fps=16)
    a = synthesize(sim.events, sim.scene, sim.duration, seed=1)
    np.testing.assert_array_equal(a, synthesize(sim.events, sim.scene, sim.duration, seed=1))
    assert not np.array_equal(a, synthesize(sim.events, sim.scene, sim.duration, seed=2))
