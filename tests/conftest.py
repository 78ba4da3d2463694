from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import sorakit

# Keys and the local signing authority go to a folder of the run's own, not the user's config folder
# (notebook kernels and subprocesses inherit it).
os.environ.setdefault("SORAKIT_CONFIG_DIR", tempfile.mkdtemp(prefix="sorakit-config-"))


@pytest.fixture(scope="session")
def basketball_clip() -> sorakit.Clip:
    """Five seconds of the basketball preset at a small size, with Foley."""
    return sorakit.generate(sorakit.Take(frames=80, fps=16, width=320, height=192, seed=0))


def onset(audio: np.ndarray, sample_rate: int, near: float, *, window: float = 0.025, jump: float = 2.5) -> int:
    """The first sample within ``near ± window`` s where the level jumps above what came just before.

    The sample must exceed ``jump`` times the peak over the 10 ms to 1 ms before it, so an onset
    is found even while an earlier sound still rings.
    """
    mono = np.abs(audio).sum(axis=0)
    before, gap = int(0.010 * sample_rate), int(0.001 * sample_rate)
    lo = max(before, int((near - window) * sample_rate))
    hi = min(mono.size, int((near + window) * sample_rate))
    for n in range(lo, hi):
        level = mono[n]
        if level > 0.01 and level > jump * mono[n - before:n - gap].max():
            return n
    raise AssertionError(f"no onset within {window * 1000:.0f} ms of {near:.4f} s")
