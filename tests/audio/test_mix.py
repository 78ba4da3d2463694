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


def test_the_duck_goes_down_over_its_attack_and_comes_back_over_its_release() -> None:
    """The ducking gain in dB is a straight ramp: halfway down half an attack before the line,
    halfway back half a release after it, untouched beyond both."""
    from sorakit.audio.mix import DUCK_ATTACK, DUCK_RELEASE, _duck_curve

    rate = 1000
    speech = np.zeros(5000, bool)
    speech[2000:3000] = True
    db = 20 * np.log10(_duck_curve(speech, rate, 12.0))
    attack, release = int(DUCK_ATTACK * rate), int(DUCK_RELEASE * rate)
    np.testing.assert_allclose(db[2000:3000], -12.0, atol=1e-9)
    assert db[2000 - attack // 2] == pytest.approx(-6.0, abs=0.2)
    assert db[2999 + release // 2] == pytest.approx(-6.0, abs=0.2)
    np.testing.assert_allclose(db[:2000 - attack], 0.0, atol=1e-9)
    np.testing.assert_allclose(db[3000 + release:], 0.0, atol=1e-9)
    assert (np.diff(db[2000 - attack:2001]) <= 1e-9).all() and (np.diff(db[2999:3000 + release]) >= -1e-9).all()


def test_a_fade_out_mirrors_the_fade_in() -> None:
    m = mix([Track("music", np.ones((1, RATE * 2), np.float32) * 0.1, RATE, fade_in=0.25, fade_out=0.5)], 2.0,
            loudness=None)
    stem = m.stems["music"][0]
    assert stem[-RATE // 4] == pytest.approx(0.05, abs=0.002)  # halfway through the 0.5 s fade out
    assert stem[RATE // 8] == pytest.approx(0.05, abs=0.002)  # halfway through the 0.25 s fade in
    assert stem[-RATE // 2 - 10] == pytest.approx(0.1, abs=1e-6)  # before the fade out starts


# -- the edges of every rule, and what the mix records (found by mutation testing: tests/mutation.py) --------
def _one(**kw: object) -> Track:
    return Track(**{"name": "music", "audio": np.zeros(480, np.float32), "rate": RATE, **kw})  # type: ignore[arg-type]


def _mix(args: dict[str, object]) -> None:
    """``mix`` of a short silent clip with ``args`` in place of its defaults."""
    kw: dict[str, object] = dict(tracks=[], duration=0.01, loudness=None)
    kw.update(args)
    tracks, duration = kw.pop("tracks"), kw.pop("duration")
    mix(tracks, duration, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("args", [
    dict(duration=0.0), dict(rate=8000), dict(rate=192_000), dict(loudness=0.0),
    dict(loudness=-69.9), dict(ceiling=-20.0), dict(ceiling=0.0), dict(ducking=0.0), dict(ducking=60.0),
    dict(tracks=[_one(rate=1000)]), dict(tracks=[_one(rate=384_000)]), dict(tracks=[_one(gain_db=-120.0)]),
    dict(tracks=[_one(gain_db=60.0)]), dict(tracks=[_one(start=-3600.0)]), dict(tracks=[_one(start=3600.0)]),
    dict(tracks=[_one(fade_in=0.0, fade_out=3600.0)]), dict(tracks=[_one(audio=np.zeros(480, np.int16))]),
])
def test_the_edges_of_each_rule_are_allowed(args: dict[str, object]) -> None:
    _mix(args)


@pytest.mark.parametrize("args, message", [
    (dict(duration=3600.5), "duration=3600.5: must be a number of seconds in [0, 3600]"),
    (dict(duration=True), "duration=True: must be a number"),
    (dict(rate=7999), "rate=7999: must be an integer sample rate in [8000, 192000]"),
    (dict(rate=192_001), "rate=192001"), (dict(rate=48_000.0), "rate=48000.0"),
    (dict(loudness=-70.0), "loudness=-70.0: must be in (-70, 0]"), (dict(loudness=0.5), "loudness=0.5"),
    (dict(ceiling=-20.5), "ceiling=-20.5: must be in [-20, 0] dBTP"), (dict(ceiling=0.5), "ceiling=0.5"),
    (dict(ceiling=float("inf")), "ceiling=inf"),
    (dict(ducking=60.5), "ducking=60.5: must be in [0, 60] dB"),
    (dict(tracks=(np.zeros(4),)), "tracks: must be a list of Track, got tuple"),
    (dict(tracks="music"), "tracks: must be a list of Track, got str"),
    (dict(tracks=[_one(rate=999)]), "tracks[0] (music): rate=999 must be an integer in [1000, 384000]"),
    (dict(tracks=[_one(rate=384_001)]), "rate=384001 must be an integer in [1000, 384000]"),
    (dict(tracks=[_one(gain_db=60.5)]), "tracks[0] (music): gain_db=60.5 must be a finite number in [-120, 60] dB"),
    (dict(tracks=[_one(gain_db=-120.5)]), "gain_db=-120.5 must be a finite number in [-120, 60] dB"),
    (dict(tracks=[_one(start=3600.5)]), "tracks[0] (music): start=3600.5 must be a finite number in [-3600, 3600] s"),
    (dict(tracks=[_one(start=-3600.5)]), "start=-3600.5 must be a finite number in [-3600, 3600] s"),
    (dict(tracks=[_one(fade_out=3600.5)]), "fade_out=3600.5 must be a finite number, 0 or more, at most 3600 s"),
    (dict(tracks=[_one(audio=np.zeros(4, complex))]), "tracks[0] (music): audio has dtype complex128"),
])
def test_just_beyond_each_rule_is_refused(args: dict[str, object], message: str) -> None:
    with pytest.raises(sorakit.InvalidInput) as err:
        _mix(args)
    assert message in str(err.value)


def test_gain_scales_a_track_by_its_decibels_and_the_mix_records_each_track() -> None:
    tone = sine(440, 1.0, 0.2)
    m = mix([Track("music", tone, RATE, gain_db=-6.0, label="a bed", source="musicgen"),
             Track("foley", tone, RATE, start=0.5, gain_db=6.0)], 2.0, loudness=None)
    np.testing.assert_allclose(m.stems["music"][0, :RATE], tone * 10 ** (-6 / 20), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(m.stems["foley"][1, RATE // 2:RATE // 2 + RATE], tone * 10 ** (6 / 20), rtol=1e-5,
                               atol=1e-7)
    music, foley = m.info.tracks
    assert (music.name, music.start, music.end, music.gain_db, music.label, music.source) == (
        "music", 0.0, 1.0, -6.0, "a bed", "musicgen")
    assert (foley.name, foley.start, foley.end) == ("foley", 0.5, 1.5)
    assert m.info.rate == RATE and m.info.target is None and m.info.ceiling == -1.0 and m.info.gain_db == 0.0
    assert m.stems["music"].dtype == np.float32 and m.audio.dtype == np.float32


def test_without_a_target_the_levels_are_left_alone() -> None:
    tone = sine(440, 1.0, 0.2)
    m = mix([Track("music", tone, RATE)], 1.0, loudness=None)
    np.testing.assert_allclose(m.audio[0], tone, rtol=1e-5, atol=1e-7)  # no master gain, nothing limited
    assert m.info.limited_db == 0.0 and m.info.loudness == round(integrated_loudness(m.audio, RATE), 3)


def test_tracks_of_one_name_add_up_and_only_ducked_tracks_duck() -> None:
    one = np.full(RATE, 0.1, np.float32)
    speech = sine(800, 0.5, 0.2)
    m = mix([Track("foley", one, RATE), Track("foley", one, RATE, start=0.5), Track("music", one, RATE, duck=True),
             Track("dialogue", speech, RATE, start=0.25), Track("dialogue", speech, RATE, start=1.0)], 2.0,
            loudness=None, ducking=12.0)
    foley, music = m.stems["foley"][0], m.stems["music"][0]
    assert foley[0] == pytest.approx(0.1) and foley[int(0.75 * RATE)] == pytest.approx(0.2)  # the two overlap
    assert foley[int(0.3 * RATE)] == pytest.approx(0.1)  # foley is not ducked under the line
    assert music[int(0.5 * RATE)] == pytest.approx(0.1 * 10 ** (-12 / 20), rel=1e-3)  # music is, under each line
    assert m.stems["dialogue"][0, int(1.25 * RATE)] != 0.0  # the second line is there too


def test_the_limiter_brings_a_peak_to_the_ceiling_not_below() -> None:
    x = np.zeros((2, 4800))
    x[:, 2400] = 1.0
    y, reduction = limit(x, RATE, -6.0)
    assert 20 * np.log10(np.abs(y).max()) == pytest.approx(-6.0, abs=0.05) and reduction == pytest.approx(6.0, abs=0.05)
    assert y[0, 2000] == 0.0 and y[0, 2399] == 0.0
    quiet = x * 0.1  # -20 dBFS: nothing to do
    z, none = limit(quiet, RATE, -6.0)
    np.testing.assert_array_equal(z, quiet)
    assert none == 0.0


def test_a_peaky_programme_reaches_its_target_through_the_limiter() -> None:
    rng = np.random.default_rng(3)
    bed = (rng.standard_normal((2, RATE * 4)) * 0.05).astype(np.float32)
    for k in range(1, 8):
        bed[:, k * RATE // 2:k * RATE // 2 + 48] += 0.9  # hits far above the bed
    m = mix([Track("foley", bed, RATE)], 4.0, loudness=-16.0)
    assert m.info.limited_db > 3.0  # the limiter had to work
    assert m.info.loudness == pytest.approx(-16.0, abs=0.1)
    assert true_peak(m.audio, RATE) <= -1.0 + 1e-6
