"""Guidance from the previz for video diffusion models.

:func:`warp_noise` makes the initial latent noise follow the motion of the simulated bodies
(see :mod:`sorakit.guidance.warp`).
"""

from __future__ import annotations

from sorakit.guidance.warp import warp_noise

__all__ = ["warp_noise"]
