"""``generate(take)``: validates the Take, then hands it to its backend."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from sorakit import models
from sorakit.clip import Clip, Provenance
from sorakit.foley import SAMPLE_RATE, synthesize
from sorakit.physics.simulate import simulate
from sorakit.previz import render
from sorakit.take import Take

# on_step(step, total, preview): step counts from 1; preview is a uint8 [H, W, 3] image or None.
OnStep = Callable[[int, int, "np.ndarray | None"], None]


def generate(take: Take, *, on_step: OnStep | None = None, progress: bool = False) -> Clip:
    """Renders ``take`` into a Clip.

    >>> import sorakit
    >>> clip = sorakit.generate(sorakit.Take(frames=16, width=128, height=80, seed=3))
    >>> clip.frames.shape, clip.audio.shape
    ((16, 80, 128, 3), (2, 48000))

    Args:
        take: every knob; validated first, so a bad value fails before any work.
        on_step: called after each step (each rendered frame for previz) with a preview image.
        progress: show a tqdm progress bar.
    """
    take.validate()
    spec = models.get(take.model)
    if spec.backend != "previz":  # pragma: no cover - only previz is registered in this version
        raise NotImplementedError(f"backend {spec.backend!r} is not installed")
    return _previz(take, on_step=on_step, progress=progress)


def _previz(take: Take, *, on_step: OnStep | None, progress: bool) -> Clip:
    scene = take.scene()
    assert scene is not None  # validate() refuses a previz Take without a scene
    sim = simulate(scene, frames=take.frames, fps=take.fps)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=take.frames, desc=f"previz {scene.name}", unit="frame")

    def on_frame(i: int, total: int, frame: np.ndarray) -> None:
        if bar is not None:
            bar.update(1)
        if on_step is not None:
            on_step(i, total, frame)

    try:
        pv = render(sim, take.width, take.height, trail=take.physics.trail, on_frame=on_frame)
    finally:
        if bar is not None:
            bar.close()
    if take.audio.foley:
        audio = synthesize(sim.events, scene, take.duration, seed=take.seed)
    else:
        audio = np.zeros((2, int(round(take.duration * SAMPLE_RATE))), np.float32)
    events = tuple(e for e in sim.events if e.time < take.duration)
    return Clip(pv.frames, take.fps, audio, SAMPLE_RATE, take,
                Provenance.now("previz", "previz", take.seed), events)
