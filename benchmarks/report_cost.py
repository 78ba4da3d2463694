"""Physics report cost: seconds of CPU per second of video, for 5 s of the basketball previz at 832x480.

The baseline, measured in the same run on the same clip, is the previz rendering it (``render``
of the already simulated scene, trail on, as ``generate`` draws it). The report's figure covers
everything ``measure(clip)`` does: colour tracking in every frame, its own ``simulate`` of the scene
for the trajectory error, the fits and the verdict. The scene-less report (moving-blob tracker,
pixels only) is timed as well.

    .venv/bin/python benchmarks/report_cost.py [--scene basketball] [--repeats 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import sorakit
from sorakit import PhysicsConfig, Take, preset, simulate
from sorakit.previz import render
from sorakit.report import measure

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402

SECONDS, FPS, WIDTH, HEIGHT = 5, 16, 832, 480


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", default="basketball")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    take = Take(frames=SECONDS * FPS, fps=FPS, width=WIDTH, height=HEIGHT, physics=PhysicsConfig(scene=args.scene))
    clip = sorakit.generate(take)
    blind = dataclasses.replace(clip, take=take.replace(physics=PhysicsConfig(scene=None)))
    sim = simulate(preset(args.scene, take.seed), frames=take.frames, fps=FPS)

    base = timed(lambda: render(sim, WIDTH, HEIGHT, trail=take.physics.trail), args.repeats)
    ours = timed(lambda: measure(clip), args.repeats)
    blob = timed(lambda: measure(blind), args.repeats)
    verdict = measure(clip).verdict

    print(f"clip: {args.scene}, {SECONDS} s at {WIDTH}x{HEIGHT}, {FPS} fps ({take.frames} frames); "
          f"median of {args.repeats} runs")
    print(f"verdict: {verdict}")
    print(f"baseline previz render: {base:.3f} s = {base / SECONDS:.4f} s per second of video")
    print(f"physics report (scene): {ours:.3f} s = {ours / SECONDS:.4f} s per second of video")
    print(f"physics report (no scene, blob tracker): {blob:.3f} s = {blob / SECONDS:.4f} s per second of video")
    print(f"ratio report / previz render: {ours / base:.2f}")
    print(f"ratio blob report / previz render: {blob / base:.2f}")


if __name__ == "__main__":
    main()
