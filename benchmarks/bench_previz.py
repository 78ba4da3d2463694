"""Previz speed: simulate + render (with motion field) + Foley for 5 s at 832x480, 16 fps.

Prints the figure as a multiple of real time, and as a ratio against a baseline measured in
the same run: the same simulation drawn the plain way (PIL ImageDraw shapes, no anti-aliasing,
no motion field, no sound), which is what a notebook would otherwise do.

    .venv/bin/python benchmarks/bench_previz.py [--scene basketball] [--repeats 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402

import argparse
import math

import numpy as np
from PIL import Image, ImageDraw

from sorakit import preset, simulate
from sorakit.foley import _modes, synthesize
from sorakit.physics import Simulation
from sorakit.previz import render

SECONDS, FPS, WIDTH, HEIGHT = 5, 16, 832, 480


def sorakit_previz(scene_name: str) -> None:
    _modes.cache_clear()  # each run starts cold, as a demo does
    sim = simulate(preset(scene_name), frames=SECONDS * FPS, fps=FPS)
    render(sim, WIDTH, HEIGHT, trail=True)
    synthesize(sim.events, sim.scene, sim.duration)


def plain_pil(scene_name: str) -> None:
    sim: Simulation = simulate(preset(scene_name), frames=SECONDS * FPS, fps=FPS)
    scene = sim.scene
    x0, y0, x1, y1 = scene.view
    s = min(WIDTH / (x1 - x0), HEIGHT / (y1 - y0))

    def px(x: float, y: float) -> tuple[float, float]:
        return (x - x0) * s, (y1 - y) * s

    frames = np.empty((sim.frames, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(sim.frames):
        im = Image.new("RGB", (WIDTH, HEIGHT), scene.sky[1])
        d = ImageDraw.Draw(im)
        for seg in scene.segments:
            d.line([px(seg.x1, seg.y1), px(seg.x2, seg.y2)], fill=seg.color, width=max(1, int(seg.thickness * s)))
        for b in scene.balls:
            cx, cy = px(*sim.positions[b.name][t])
            r = b.radius * s
            d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=b.color, outline="#333333")
        for box in scene.boxes:
            (wx, wy), a = sim.positions[box.name][t], sim.angles[box.name][t]
            corners = [(sx * box.width / 2, sy * box.height / 2) for sx, sy in ((-1, -1), (1, -1), (1, 1), (-1, 1))]
            d.polygon([px(wx + math.cos(a) * u - math.sin(a) * v, wy + math.sin(a) * u + math.cos(a) * v)
                       for u, v in corners], fill=box.color, outline="#333333")
        frames[t] = np.asarray(im)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scene", default="basketball")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    ours = timed(lambda: sorakit_previz(args.scene), args.repeats)
    base = timed(lambda: plain_pil(args.scene), args.repeats)
    print(f"scene={args.scene} {SECONDS} s at {WIDTH}x{HEIGHT}, {FPS} fps; median of {args.repeats}")
    print(f"sorakit previz (simulate + AA render + motion field + Foley): {ours:.3f} s "
          f"= {SECONDS / ours:.1f}x real time")
    print(f"baseline plain PIL drawing (simulate + draw, no AA/flow/sound): {base:.3f} s "
          f"= {SECONDS / base:.1f}x real time")
    print(f"ratio sorakit / baseline time: {ours / base:.2f}")


if __name__ == "__main__":
    main()
