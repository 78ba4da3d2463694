"""The lip-sync measure on synthetic talking faces: a drawn face whose mouth opens with a known
speech envelope at a known lag. It must recover the lag within one frame, and say "no face" or
"no speech" rather than guess."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("cv2")

import sorakit  # noqa: E402
from sorakit.clip import Clip, Provenance  # noqa: E402
from sorakit.lipsync import lipsync  # noqa: E402

FPS, RATE, SIZE = 24, 48_000, 256
_spec = importlib.util.spec_from_file_location("faces", Path(__file__).parent.parent / "assets" / "make_drawn_faces.py")
assert _spec is not None and _spec.loader is not None
faces = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(faces)


def talking(lag_frames: int, *, seed: int = 0, frames: int = 96, face: bool = True, speech: bool = True) -> Clip:
    """A face saying syllables: the mouth opens with the speech envelope, ``lag_frames`` after it."""
    import cv2

    rng = np.random.default_rng(seed)
    env = np.zeros(frames)
    t = 4
    while t < frames - 8:  # syllables of 2 to 6 frames with pauses between
        n = int(rng.integers(2, 7))
        env[t:t + n] = rng.uniform(0.5, 1.0)
        t += n + int(rng.integers(2, 6))
    env = np.convolve(env, np.hanning(5) / np.hanning(5).sum(), mode="same")
    mouth = np.zeros(frames)
    if lag_frames >= 0:
        mouth[lag_frames:] = env[:frames - lag_frames]
    else:
        mouth[:lag_frames] = env[-lag_frames:]
    base = np.asarray(faces.draw(**faces.PEOPLE["cameo_drawn_a.png"], size=SIZE), np.float64)
    if not face:
        base[:] = base.mean(axis=(0, 1))
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(float)
    cx, cy, rx, ry = SIZE / 2, SIZE * 0.48, SIZE * 0.2, SIZE * 0.27
    video = np.empty((frames, SIZE, SIZE, 3), np.uint8)
    light = 1 + 0.08 * np.sin(np.linspace(0, 3, frames))  # light that drifts a little
    for k in range(frames):
        img = base.copy()
        if face:
            inside = ((x - cx) / (rx * 0.3)) ** 2 + ((y - (cy + ry * 0.45)) / (ry * (0.015 + 0.09 * mouth[k]))) ** 2 <= 1
            img[inside] = (40, 12, 12)
        img = cv2.GaussianBlur(img * light[k], (0, 0), 1.5) + rng.normal(0, 2.0, img.shape)
        video[k] = np.clip(img, 0, 255).astype(np.uint8)
    per = RATE // FPS
    voice = rng.standard_normal(frames * per) * np.repeat(env, per) * 0.3  # speech-like: noise shaped by syllables
    audio = np.stack([voice, voice]).astype(np.float32) * (1.0 if speech else 0.0)
    take = sorakit.Take(frames=frames, fps=FPS, width=SIZE, height=SIZE)
    return Clip(video, FPS, audio, RATE, take, Provenance.now("previz", "synthetic", 0, "complete"), ())


@pytest.mark.parametrize("lag", [0, 3, -2, 5])
def test_the_lag_is_recovered_within_one_frame(lag: int) -> None:
    r = lipsync(talking(lag, seed=lag + 10))
    assert r.offset_ms is not None and r.face is not None
    assert abs(r.offset_ms - lag * 1000 / FPS) <= 1000 / FPS, r.verdict
    assert r.confidence > 0.6
    expected = "in sync" if -45 <= lag * 1000 / FPS <= 125 else "out of sync"
    assert r.verdict.startswith(expected), r.verdict


def test_no_face_and_no_speech_are_said_not_guessed() -> None:
    nobody = lipsync(talking(2, face=False))
    assert nobody.offset_ms is None and nobody.verdict.startswith("no face")
    silent = lipsync(talking(2, speech=False))
    assert silent.offset_ms is None and silent.verdict.startswith("no speech") and silent.face is not None


def test_a_mouth_that_does_not_follow_the_speech_is_unclear() -> None:
    clip = talking(0, seed=3)
    other = talking(0, seed=4)  # another utterance's sound under the same face
    swapped = Clip(clip.frames, clip.fps, other.audio, clip.sample_rate, clip.take, clip.provenance, ())
    r = lipsync(swapped)
    assert r.confidence < lipsync(clip).confidence - 0.3
    assert r.png()[:8] == b"\x89PNG\r\n\x1a\n"
