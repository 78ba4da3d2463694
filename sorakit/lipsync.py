"""How well a clip's mouth moves with its speech: the offset in milliseconds, a confidence, a verdict.

Method:

1. **The face.** OpenCV's frontal-face detector (the one the cameo check uses) runs on every
   sixth frame; the largest face's median box is the speaker. None found: "no face", no guess.
2. **The mouth.** A Haar box runs from the brows to below the mouth; the mouth is the lower
   part of its middle (``MOUTH``). Its openness per frame is how dark that region is against its
   own median over the clip (an open mouth shows the dark inside), after each frame's brightness
   is evened out against the face's, so light that drifts does not read as speech.
3. **The speech.** The dialogue stem when the clip has one (else its whole sound, mono), as the
   RMS envelope over each video frame's stretch of samples. Quieter than ``SILENCE`` (dBFS) all
   along: "no speech", no guess.
4. **The offset.** Both signals are standardised and cross-correlated for lags up to
   ``max_lag_ms``; the best lag, refined to a fraction of a frame by the peak's parabola, is the
   offset: positive when the mouth moves after the sound. The correlation at the peak is the
   confidence. Broadcast practice (ITU-R BT.1359) finds sound more than 45 ms early or 125 ms late
   detectable: within those the verdict is "in sync".

>>> import numpy as np
>>> r = measure_signals(np.r_[np.zeros(5), np.ones(5), np.zeros(20)], np.r_[np.zeros(7), np.ones(5), np.zeros(18)], 25)
>>> round(r[0]), r[1] > 0.9
(80, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sorakit.clip import Clip

__all__ = ["lipsync", "LipSync", "measure_signals"]

# The mouth inside a Haar face box: (left, top, right, bottom) as fractions of its width and height.
MOUTH = (0.28, 0.68, 0.72, 0.98)
SILENCE = -50.0  # dBFS: a speech envelope that never rises above this is no speech
# Detectability thresholds of ITU-R BT.1359: sound leading the picture by more than 45 ms, or lagging
# it by more than 125 ms. Mouth after sound (positive offset) is sound leading.
EARLY_MS, LATE_MS = 45.0, 125.0
CONFIDENT = 0.3  # below this peak correlation the measure says it cannot tell


@dataclass(frozen=True, eq=False)
class LipSync:
    """The lip-sync measure of a clip.

    Attributes:
        offset_ms: how long the mouth's motion follows the sound (negative: it comes first); None
            without a face or speech.
        confidence: the correlation of mouth and speech at that offset (0 to 1).
        verdict: one line: ``"in sync: the mouth follows the sound by 12 ms (confidence 0.81)"``,
            ``"out of sync: ..."``, ``"no face: ..."``, ``"no speech: ..."`` or ``"unclear: ..."``.
        face: ``(x, y, w, h)`` of the speaker's face box, or None.
        mouth: float ``[T]``: the mouth's openness per frame (standardised), or None.
        envelope: float ``[T]``: the speech's RMS per frame (standardised), or None.
        lags_ms, correlation: the cross-correlation the offset was read from.
        fps: the clip's frame rate.
    """

    offset_ms: float | None
    confidence: float
    verdict: str
    face: tuple[int, int, int, int] | None
    mouth: np.ndarray | None = field(default=None, repr=False)
    envelope: np.ndarray | None = field(default=None, repr=False)
    lags_ms: np.ndarray | None = field(default=None, repr=False)
    correlation: np.ndarray | None = field(default=None, repr=False)
    fps: int = 24

    def plot(self) -> Figure:
        """Mouth and speech over time, and the cross-correlation with its peak."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3.2), dpi=100, layout="constrained")
        ax_t, ax_c = fig.subplots(1, 2, width_ratios=[1.6, 1])
        if self.mouth is not None and self.envelope is not None:
            t = np.arange(len(self.mouth)) / self.fps
            ax_t.plot(t, self.envelope, color="#4c72b0", label="speech (RMS)")
            ax_t.plot(t, self.mouth, color="#dd8452", label="mouth openness")
            ax_t.set_xlabel("s")
            ax_t.legend(loc="upper right", fontsize="small")
        if self.lags_ms is not None and self.correlation is not None:
            ax_c.plot(self.lags_ms, self.correlation, color="#55a868")
            if self.offset_ms is not None:
                ax_c.axvline(self.offset_ms, color="#c44e52", linestyle="--")
            ax_c.set_xlabel("mouth after sound, ms")
            ax_c.set_ylabel("correlation")
        fig.suptitle(self.verdict, fontsize="small")
        return fig

    def png(self) -> bytes:
        import io

        buf = io.BytesIO()
        self.plot().savefig(buf, format="png")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.png()


def lipsync(clip: Clip, *, max_lag_ms: float = 500.0) -> LipSync:
    """Measures how the speaking face's mouth moves with the speech in ``clip``.

    Args:
        clip: a clip with a face in view and speech in its sound (its ``dialogue`` stem when it
            has one).
        max_lag_ms: the largest offset looked for either way.

    Returns:
        A ``LipSync``: offset in ms (positive: the mouth moves after the sound), confidence,
        verdict, the signals and a plot. It says "no face" or "no speech" rather than guess.
    """
    frames, fps = clip.frames, int(clip.fps)
    stems = getattr(clip, "stems", None) or {}
    sound = stems.get("dialogue") if isinstance(stems, dict) and "dialogue" in stems else clip.audio
    envelope = speech_envelope(np.asarray(sound, np.float64), int(clip.sample_rate), fps, len(frames))
    face = speaker(frames)
    if face is None:
        return LipSync(None, 0.0, "no face: no frontal face found in the clip; the measure needs one in view", None,
                       fps=fps)
    if envelope.max() <= 10 ** (SILENCE / 20):
        return LipSync(None, 0.0, f"no speech: the sound never rises above {SILENCE:g} dBFS", face, fps=fps)
    mouth = mouth_openness(frames, face)
    offset, confidence, lags, corr = measure_signals(envelope, mouth, fps, max_lag_ms=max_lag_ms)
    return LipSync(offset, confidence, _verdict(offset, confidence), face, _z(mouth), _z(envelope), lags, corr, fps)


def _verdict(offset: float, confidence: float) -> str:
    how = f"confidence {confidence:.2f}"
    if confidence < CONFIDENT:
        return f"unclear: mouth and speech hardly move together ({how}); the offset read is {offset:+.0f} ms"
    if -EARLY_MS <= offset <= LATE_MS:
        side = "after" if offset >= 0 else "before"
        return f"in sync: the mouth moves {abs(offset):.0f} ms {side} the sound ({how})"
    side = "after" if offset > 0 else "before"
    return f"out of sync: the mouth moves {abs(offset):.0f} ms {side} the sound ({how})"


def _z(x: np.ndarray) -> np.ndarray:
    s = float(x.std())
    out: np.ndarray = (x - x.mean()) / s if s > 0 else x - x.mean()
    return out


def measure_signals(envelope: np.ndarray, mouth: np.ndarray, fps: int, *, max_lag_ms: float = 500.0
                    ) -> tuple[float, float, np.ndarray, np.ndarray]:
    """``(offset_ms, confidence, lags_ms, correlation)`` of ``mouth`` against ``envelope`` (per frame).

    The offset is positive when ``mouth`` follows ``envelope``; the confidence is the Pearson
    correlation at the peak (negative peaks count as none).
    """
    a, b = _z(np.asarray(envelope, np.float64)), _z(np.asarray(mouth, np.float64))
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    most = max(1, min(n // 3, int(round(max_lag_ms / 1000 * fps))))
    lags = np.arange(-most, most + 1)
    corr = np.array([_pearson(a[:n - k] if k >= 0 else a[-k:], b[k:] if k >= 0 else b[:n + k]) for k in lags])
    best = int(np.argmax(corr))
    shift = float(lags[best])
    if 0 < best < len(corr) - 1:
        lo, mid, hi = corr[best - 1], corr[best], corr[best + 1]
        d = lo - 2 * mid + hi
        if abs(d) > 1e-12:
            shift += float(np.clip(0.5 * (lo - hi) / d, -0.5, 0.5))
    return shift / fps * 1000.0, max(0.0, float(corr[best])), lags / fps * 1000.0, corr


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 3:
        return 0.0
    x, y = x - x.mean(), y - y.mean()
    d = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / d) if d > 0 else 0.0


def speech_envelope(audio: np.ndarray, rate: int, fps: int, frames: int) -> np.ndarray:
    """The RMS of ``audio`` (mono mix of its channels) over each video frame's stretch of samples."""
    mono = audio.mean(axis=0) if audio.ndim == 2 else audio
    out = np.zeros(frames)
    for t in range(frames):
        part = mono[int(round(t * rate / fps)):int(round((t + 1) * rate / fps))]
        out[t] = math.sqrt(float((part * part).mean())) if len(part) else 0.0
    return out


def speaker(frames: np.ndarray, every: int = 6) -> tuple[int, int, int, int] | None:
    """The largest frontal face's median box over every ``every``-th frame, or None when none is found."""
    from sorakit.cameo import detect_faces

    boxes = []
    for t in range(0, len(frames), every):
        faces = detect_faces(frames[t])
        if faces:
            f = faces[0]
            boxes.append((f.x, f.y, f.w, f.h))
    if not boxes:
        return None
    x, y, w, h = (int(v) for v in np.median(np.array(boxes), axis=0))
    return x, y, w, h


def mouth_openness(frames: np.ndarray, face: tuple[int, int, int, int]) -> np.ndarray:
    """How dark the mouth region is in each frame, against its own median, after evening out each
    frame's brightness against the face's: larger when the mouth is open."""
    x, y, w, h = face
    left, top, right, bottom = MOUTH
    x0, x1 = x + int(left * w), x + max(int(left * w) + 1, int(right * w))
    y0, y1 = y + int(top * h), y + max(int(top * h) + 1, int(bottom * h))
    grey = np.asarray(frames, np.float64).mean(axis=3)
    mouth = grey[:, y0:y1, x0:x1].reshape(len(frames), -1)
    face_light = grey[:, y:y + h, x:x + w].reshape(len(frames), -1).mean(axis=1)
    level = mouth.mean(axis=1) / np.maximum(face_light, 1.0)
    return np.asarray(np.median(level) - level)

