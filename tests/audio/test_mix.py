"""The loudness meter and the timeline mixer, on signals whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

import sorakit
from sorakit.audio import integrated_loudness, mix, true_peak, Track
from sorakit.audio.mix import limit

RATE = 48_000


def sine(freq: float, seconds: float, amp: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_a_1khz_sine_at_minus_23_dbfs_in_both_channels_reads_minus_23_lufs() -> None:
    """EBU Tech 3341's first case: stereo 1 kHz at -23 dBFS is -23.0 LUFS (±0.1)."""
    tone = sine(1000, 20, 10 ** (-23 / 20))
    assert integrated_loudness(np.stack([tone, tone]), RATE) == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize("rate", [16_000, 32_000, 44_100, 48_000])
def test_loudness_agrees_with_an_independent_meter(rate: int) -> None:
    """pyloudnorm (another BS.1770 implementation) reads the same gated programme within 0.15 LU."""
    pyln = pytest.importorskip("pyloudnorm")
    rng = np.random.default_rng(rate)
    x = rng.standard_normal((2, rate * 6)) * 0.05
    x[:, : rate * 2] *= 0.02  # a quiet stretch the relative gate must drop
    assert integrated_loudness(x, rate) == pytest.approx(pyln.Meter(rate).integrated_loudness(x.T), abs=0.15)


def test_silence_and_short_audio_have_no_loudness() -> None:
    assert integrated_loudness(np.zeros((2, RATE)), RATE) == -math.inf
    assert integrated_loudness(np.ones((2, 100)) * 0.1, RATE) == -math.inf  # shorter than one 400 ms block


def test_true_peak_sees_the_peak_between_samples() -> None:
    x = np.sin(np.pi / 2 * np.arange(4800) + np.pi / 4)  # samples at ±0.707, the wave reaches 1.0
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    assert true_peak(x, RATE) == pytest.approx(0.0, abs=0.2)


def test_the_limiter_holds_the_ceiling_and_leaves_what_comes_before_the_ramp() -> None:
    x = np.zeros((2, RATE))
    x[:, 24_000:24_480] = sine(2000, 0.01, 1.0)
    y, reduction = limit(x, RATE, -6.0)
    assert true_peak(y, RATE) <= -6.0 + 0.05
    assert reduction == pytest.approx(6.0, abs=0.3)
    assert np.array_equal(y[:, :23_000], x[:, :23_000])


def test_a_track_lands_on_its_sample_at_any_input_rate() -> None:
    """A click at 0.75 s from a 16 kHz track starts at sample 36000 of the 48 kHz mix (±1 ms)."""
    click = np.zeros(1600, np.float32)
    click[:16] = 0.8
    m = mix([Track("foley", click, 16_000, start=0.75)], 2.0, loudness=None)
    onset = int(np.flatnonzero(np.abs(m.stems["foley"][0]) > 0.05)[0])
    assert abs(onset - 36_000) <= 48
    assert m.audio.shape == (2, 96_000) and m.rate == RATE


def test_a_dense_mix_reaches_the_target_under_the_ceiling() -> None:
    rng = np.random.default_rng(0)
    noise = (rng.standard_normal((2, RATE * 4)) * 0.01).astype(np.float32)
    m = mix([Track("ambience", noise, RATE), Track("music", sine(220, 4, 0.05), RATE, gain_db=-3)], 4.0,
            loudness=-16.0)
    assert m.info.loudness == pytest.approx(-16.0, abs=0.1)
    assert integrated_loudness(m.audio, RATE) == pytest.approx(-16.0, abs=0.1)
    assert true_peak(m.audio, RATE) <= -1.0 + 1e-6 and np.abs(m.audio).max() < 1.0
    assert m.info.tracks[1].gain_db == -3 and m.info.tracks[0].end == 4.0


def test_sparse_foley_stays_under_the_target_rather_than_be_crushed() -> None:
    clip = sorakit.generate(sorakit.Take(frames=64, width=64, height=48))
    info = clip.soundtrack
    assert info is not None and info.mix.loudness is not None
    assert info.mix.limited_db <= 9.0 + 1e-6
    assert info.mix.loudness < -16.0 and info.mix.true_peak is not None and info.mix.true_peak <= -1.0


def test_music_ducks_under_dialogue_and_comes_back() -> None:
    music = sine(330, 6, 0.1)
    speech = sine(800, 1.0, 0.2)
    m = mix([Track("music", music, RATE, duck=True), Track("dialogue", speech, RATE, start=2.0)], 6.0,
            loudness=None, ducking=12.0)
    stem = m.stems["music"][0]

    def level(a: float, b: float) -> float:
        part = stem[int(a * RATE):int(b * RATE)]
        return float(20 * np.log10(np.sqrt(np.mean(part ** 2))))

    assert level(2.2, 2.8) - level(0.5, 1.5) == pytest.approx(-12.0, abs=0.2)  # down while the line plays
    assert level(4.5, 5.5) == pytest.approx(level(0.5, 1.5), abs=0.1)  # back up after the release
    assert level(1.95, 2.0) < level(0.5, 1.5) - 3  # already going down before the first word


def test_fades_shape_the_ends_of_a_track() -> None:
    m = mix([Track("music", np.ones((1, RATE * 2), np.float32) * 0.1, RATE, fade_in=0.5, fade_out=0.5)], 2.0,
            loudness=None)
    stem = m.stems["music"][0]
    assert stem[0] < 0.001 and stem[RATE] == pytest.approx(0.1, abs=1e-6) and stem[-1] < 0.001
    assert stem[RATE // 4] == pytest.approx(0.05, abs=0.002)  # a raised cosine is halfway at half the fade


def test_anything_past_the_clip_is_cut_and_negative_starts_are_trimmed() -> None:
    tone = sine(440, 3, 0.1)
    m = mix([Track("music", tone, RATE, start=-1.0), Track("dialogue", tone, RATE, start=1.5)], 2.0, loudness=None)
    assert m.audio.shape == (2, 2 * RATE)
    assert m.info.tracks[0].start == 0.0 and m.info.tracks[1].end == 2.0
    assert np.allclose(m.stems["music"][0, :100], tone[RATE:RATE + 100], atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(loudness=5.0), "loudness=5.0: must be in (-70, 0] LUFS or None"),
    (dict(ducking=-3.0), "ducking=-3.0: must be in [0, 60] dB"),
    (dict(duration=float("nan")), "duration=nan: must be a number of seconds"),
    (dict(tracks=[Track("music", np.zeros((3, 10), np.float32), RATE)]),
     "tracks[0] (music): audio must be [samples] or [1 or 2 channels, samples], got shape [3, 10]"),
    (dict(tracks=[Track("music", np.full(10, np.nan, np.float32), RATE)]),
     "tracks[0] (music): audio has NaN or infinite samples"),
    (dict(tracks=[Track("music", np.zeros(10, np.float32), RATE, fade_in=-1)]),
     "tracks[0] (music): fade_in=-1 must be a finite number, 0 or more"),
])
def test_bad_mixes_are_refused_with_the_rule(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = dict(tracks=[], duration=1.0)
    args.update(kwargs)
    tracks, duration = args.pop("tracks"), args.pop("duration")
    with pytest.raises(sorakit.InvalidInput) as err:
        mix(tracks, duration, **args)  # type: ignore[arg-type]
    assert message in str(err.value)


def test_speech_inside_another_track_ducks_the_music_too() -> None:
    """A storyboard's shots carry their own lines inside the mixed shot sound: their times duck the bed."""
    music = sine(330, 6, 0.1)
    m = mix([Track("music", music, RATE, duck=True)], 6.0, loudness=None, ducking=12.0, speech=((2.0, 3.0),))
    stem = m.stems["music"][0]
    during, before = stem[int(2.2 * RATE):int(2.8 * RATE)], stem[int(0.5 * RATE):int(1.5 * RATE)]
    assert 20 * np.log10(np.sqrt(np.mean(during ** 2)) / np.sqrt(np.mean(before ** 2))) == pytest.approx(-12.0, abs=0.2)
    with pytest.raises(sorakit.InvalidInput, match=r"speech\[0\]=\(2.0,\): must be a \(start, end\) pair"):
        mix([Track("music", music, RATE)], 6.0, speech=((2.0,),))  # type: ignore[arg-type]
