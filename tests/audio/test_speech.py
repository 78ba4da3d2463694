"""``speech_spans`` on synthetic sound whose levels are set exactly: what counts as voice, and where
it ends. (test_lip_sync.py measures it on spoken lines.)"""

from __future__ import annotations

import numpy as np
import pytest

from sorakit.audio.speech import ABOVE_FLOOR_DB, BELOW_PEAK_DB, speech_spans

RATE = 8000


def tone(seconds: float, db: float, freq: float = 220.0) -> np.ndarray:
    """A sine whose mean square is ``db`` dB (a sine of amplitude A has mean square A² / 2)."""
    t = np.arange(int(round(seconds * RATE))) / RATE
    return np.sqrt(2 * 10 ** (db / 10)) * np.sin(2 * np.pi * freq * t)


def noise(seconds: float, db: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 10 ** (db / 20), int(round(seconds * RATE)))


def test_speech_running_to_the_end_of_the_track_ends_with_it() -> None:
    audio = np.concatenate([noise(0.5, -60), tone(0.5, -20)])  # 1 s: the last window ends on the last sample
    [(start, end)] = speech_spans(audio, RATE)
    assert start == pytest.approx(0.5, abs=0.0015) and end == 1.0


def test_a_sound_just_under_the_floor_margin_is_not_speech_beside_loud_speech() -> None:
    """With loud speech 30 dB over a steady floor, a hum 11 dB over it (under the 12 dB margin) is not
    voice; at 16 dB over it, it is. (Tones of whole periods in a 10 ms frame: every frame's level is exact.)"""
    assert ABOVE_FLOOR_DB == 12.0
    floor = tone(3.0, -60.0, freq=200.0)
    audio = floor.copy()
    audio[int(0.6 * RATE):int(1.0 * RATE)] += tone(0.4, -30.0, freq=100.0)  # speech, 30 dB over the floor
    hum = np.zeros_like(audio)
    hum[int(1.6 * RATE):int(2.0 * RATE)] = tone(0.4, 1.0, freq=400.0)[: int(0.4 * RATE)]
    quiet = audio + hum * np.sqrt(10 ** (-60.0 / 10) * (10 ** 1.1 - 1) / 10 ** 0.1)  # floor + hum: floor + 11 dB
    [(start, end)] = speech_spans(quiet, RATE)
    assert start == pytest.approx(0.6, abs=0.0015) and end == pytest.approx(1.0, abs=0.0015)
    loud = audio + hum * np.sqrt(10 ** (-60.0 / 10) * (10 ** 1.6 - 1) / 10 ** 0.1)  # floor + 16 dB
    assert len(speech_spans(loud, RATE)) == 2


def test_a_click_louder_than_the_voice_does_not_hide_it() -> None:
    """The peak is the 99th percentile of the frames' levels: a 5 ms click 35 dB over the voice, under
    1 % of the frames, does not move the gate (30 dB under the peak) above the voice."""
    assert BELOW_PEAK_DB == 30.0
    audio = np.concatenate([noise(1.0, -70), tone(0.6, -35), noise(1.4, -70, 1)])
    at = int(2.5 * RATE)
    audio[at:at + 40] += tone(0.005, 0.0)
    spans = speech_spans(audio, RATE)
    assert spans and spans[0][0] == pytest.approx(1.0, abs=0.0015) and spans[0][1] == pytest.approx(1.6, abs=0.0015)


def test_a_sound_under_minus_80_db_is_digital_silence() -> None:
    assert speech_spans(tone(1.0, -80.5, freq=200.0), RATE) == []
    assert speech_spans(tone(1.0, -79.5, freq=200.0), RATE) == [(0.0, 1.0)]  # steady: all of it near its peak


@pytest.mark.parametrize("seconds", [1.0, 8019 / RATE, 8001 / RATE])
def test_any_length_of_track_is_read_to_its_end(seconds: float) -> None:
    audio = np.concatenate([noise(0.5, -60.0), tone(seconds - 0.5, -20.0)])
    [(start, end)] = speech_spans(audio, RATE)
    assert start == pytest.approx(0.5, abs=0.0015) and end == round(audio.size / RATE, 4)


def test_edges_are_given_to_a_tenth_of_a_millisecond() -> None:
    """The spans are rounded to 0.1 ms (finer than the detector resolves): an onset half a hop into a
    frame is 0.50125 s before rounding."""
    audio = np.concatenate([noise(0.5, -60.0), tone(1.0, -20.0), noise(0.5, -60.0, 1)])
    spans = speech_spans(audio, RATE)
    assert spans and all(v == round(v, 4) and v != round(v, 3) for span in spans for v in span[:1])
    assert all(v == round(v, 4) for span in spans for v in span)


def test_a_clean_onset_and_offset_are_found_within_half_a_hop_wherever_they_fall_in_one() -> None:
    """The first voiced frame starts less than a frame before the onset, at a hop's grid: the onset is
    taken a frame less half a hop after it, so it is off by half a hop at most (1.25 ms, and 0.05 ms of
    rounding), wherever in a hop it falls; the offset likewise. (Every sample of the voice, ±A, carries
    the same energy, so a frame holding one of them is voiced.) Over a hop's positions the errors
    average out: the frames are a hop apart, not one sample."""
    hop = 0.0025 * RATE
    tol = (hop / 2 + 0.4) / RATE
    errors = []
    for shift in range(int(hop)):
        onset, offset = int(0.5 * RATE) + shift, int(1.0 * RATE) + 3 * shift
        audio = noise(1.5, -60.0)
        audio[onset:offset] = 0.1 * (-1.0) ** np.arange(offset - onset)
        [(start, end)] = speech_spans(audio, RATE)
        assert abs(start - onset / RATE) <= tol and abs(end - offset / RATE) <= tol, shift
        errors.append((start - onset / RATE, end - offset / RATE))
        pcm = np.round(audio * 32767).astype(np.int16)  # 16-bit samples, as a WAV file holds them
        assert speech_spans(pcm, RATE) == [(start, end)]
    assert np.abs(np.mean(errors, axis=0)).max() < 1.5 / RATE  # within a sample and a half, on average
