"""The callback types a generation accepts (STYLE rule 6): widgets and scripts only supply them.

>>> from sorakit.callbacks import Step
>>> Step(step=3, total=30, seconds_per_step=1.5, eta=40.5, preview=None).eta
40.5
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

__all__ = ["Step", "OnStep", "ShouldStop", "OnSound"]


class Step(NamedTuple):
    """One step of a generation, as ``on_step`` receives it.

    ``preview`` is a small uint8 ``[h, w, 3]`` image decoded from the latents without the VAE
    (None where the step has no picture yet).
    """

    step: int
    total: int
    seconds_per_step: float
    eta: float
    preview: np.ndarray | None


OnStep = Callable[[Step], None]
"""Called after each denoising step (for the previz: each rendered frame)."""

ShouldStop = Callable[[], bool]
"""Polled after each step; True ends the run within one step, keeping what was made."""

OnSound = Callable[[str, int, int], None]
"""Progress of a sound model after the video: ``(track, done, total)``."""
