"""The lip-sync measure's error on synthetic talking faces (``tests/test_lipsync.py``'s drawn face,
its mouth opening with a known speech envelope at a known lag), over lags of -125 to +250 ms.

The baseline, in the same run, is what the lag would be read as from the frame grid alone (one
frame, 1000 / fps ms): the figure is the mean and largest error as a share of a frame.

    .venv/bin/python benchmarks/lipsync.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from test_lipsync import FPS, talking  # noqa: E402

from sorakit.lipsync import lipsync  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    errors = []
    for lag in range(-3, 7):
        for seed in range(args.seeds):
            r = lipsync(talking(lag, seed=seed * 31 + lag + 50))
            errors.append(float("inf") if r.offset_ms is None else r.offset_ms - lag * 1000 / FPS)
    e = np.abs(np.array(errors))
    frame = 1000 / FPS
    print(f"{len(e)} clips at {FPS} fps, lags -125..+250 ms: mean error {e.mean():.1f} ms, largest {e.max():.1f} ms "
          f"({e.mean() / frame:.3f} and {e.max() / frame:.3f} of a frame)")


if __name__ == "__main__":
    main()
