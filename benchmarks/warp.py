"""Noise-warp speed at a realistic latent size: 16 x 60 x 104, 33 latent frames.

That is the latent of 129 frames of 832x480 video for a VAE with 8x spatial and 4x temporal
compression (Wan 2.1). The previz (basketball by default) is rendered once, untimed. Prints the
throughput of ``warp_noise`` in latent frames per second, and as a ratio against a baseline
measured in the same run: plain fresh noise of the same shape from numpy
(``Generator.standard_normal``, float32), which is what a pipeline draws without warping, so the
ratio is what warping costs.

    .venv/bin/python benchmarks/warp.py [--scene basketball] [--repeats 7]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402

import argparse
from collections.abc import Callable

import numpy as np

from sorakit import preset, simulate
from sorakit.guidance import warp_noise
from sorakit.previz import render

CHANNELS, LATENT_FRAMES, LATENT_H, LATENT_W, TEMPORAL, FACTOR, FPS = 16, 33, 60, 104, 4, 8, 16


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", default="basketball")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    video_frames = (LATENT_FRAMES - 1) * TEMPORAL + 1
    pv = render(simulate(preset(args.scene), frames=video_frames, fps=FPS), LATENT_W * FACTOR, LATENT_H * FACTOR,
                trail=False)
    shape = (CHANNELS, LATENT_FRAMES, LATENT_H, LATENT_W)

    def warped(strength: float) -> Callable[[], object]:
        return lambda: warp_noise(pv.flow, pv.body_ids, latent_frames=LATENT_FRAMES, latent_height=LATENT_H,
                                  latent_width=LATENT_W, channels=CHANNELS, temporal=TEMPORAL, seed=0,
                                  strength=strength)

    def fresh() -> object:
        return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)

    base = timed(fresh, args.repeats)
    full = timed(warped(1.0), args.repeats)
    half = timed(warped(0.5), args.repeats)
    on_bodies = float((pv.body_ids[::TEMPORAL] > 0).mean())

    print(f"scene {args.scene}: {video_frames} video frames at {LATENT_W * FACTOR}x{LATENT_H * FACTOR} -> latent "
          f"{CHANNELS}x{LATENT_FRAMES}x{LATENT_H}x{LATENT_W} (C x F x h x w); {on_bodies:.2%} of pixels on bodies")
    print(f"baseline, numpy fresh noise:  {base * 1e3:7.1f} ms  {LATENT_FRAMES / base:8.0f} latent frames/s")
    print(f"warp_noise, strength 1.0:     {full * 1e3:7.1f} ms  {LATENT_FRAMES / full:8.0f} latent frames/s  "
          f"({full / base:.1f}x the baseline's time)")
    print(f"warp_noise, strength 0.5:     {half * 1e3:7.1f} ms  {LATENT_FRAMES / half:8.0f} latent frames/s  "
          f"({half / base:.1f}x the baseline's time)")
    print(f"median of {args.repeats} runs each, after one warm-up")


if __name__ == "__main__":
    main()
