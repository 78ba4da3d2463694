"""Ready scenes. Each is a function of a seed; the seed only nudges initial conditions."""

from __future__ import annotations

from sorakit.errors import InvalidInput

import math
from collections.abc import Callable

import numpy as np

from sorakit.physics.scene import Ball, Box, Scene, Segment

FLOOR = "#8a7f72"
WALL = "#9aa5ad"


def _floor(x0: float, x1: float) -> Segment:
    return Segment("floor", x0, -0.4, x1, -0.4, thickness=0.8, material="concrete", color=FLOOR)


def basketball(seed: int = 0) -> Scene:
    """A missed shot: the ball strikes the backboard above the rim and rebounds to the floor."""
    rng = np.random.default_rng(seed)
    jitter = 1.0 + rng.uniform(-0.004, 0.004, size=2)
    rim_y, board_x = 3.05, 8.0
    net = tuple(
        Segment(f"net{i}", 7.57 + 0.095 * i, rim_y, 7.62 + 0.07 * i, rim_y - 0.42,
                thickness=0.012, material="plastic", color="#f4f4f4", collide=False)
        for i in range(5)
    )
    return Scene(
        name="basketball",
        balls=(Ball("ball", 1.6, 2.1, 0.12, "basketball", vx=5.6 * jitter[0], vy=6.9 * jitter[1],
                    spin=2.0, color="#e0782f"),),
        segments=(
            _floor(-1.0, 10.0),
            Segment("gym_wall", 0.0, 0.0, 0.0, 6.0, thickness=0.1, color=WALL),
            Segment("backboard", board_x, 2.85, board_x, 3.95, thickness=0.06, material="acrylic",
                    color="#eef3f7"),
            Segment("pole", board_x + 0.35, 0.0, board_x + 0.35, 3.3, thickness=0.12, material="metal",
                    color="#4d5358"),
            Segment("bracket", board_x + 0.03, 3.2, board_x + 0.35, 3.2, thickness=0.06, material="metal",
                    color="#4d5358"),
            Segment("rim", 7.55, rim_y, board_x - 0.03, rim_y, thickness=0.035, material="metal",
                    color="#d1401f"),
            *net,
        ),
        view=(0.0, -0.4, 9.0, 4.8),
        description="A basketball is thrown at the hoop, strikes the backboard above the rim, "
                    "misses, and rebounds to the left: it bounces on the floor and off the gym wall.",
    )


def bouncing_balls(seed: int = 0) -> Scene:
    """Balls of different materials dropped side by side: each bounces to its own height."""
    rng = np.random.default_rng(seed)
    specs = [("rubber", "#e4572e"), ("basketball", "#e0782f"), ("plastic", "#4c9f70"),
             ("wood", "#c8963e"), ("metal", "#7d8a96"), ("glass", "#7fc8e8")]
    balls = tuple(
        Ball(f"{material}_ball", 0.9 + 1.25 * i + float(rng.uniform(-0.15, 0.15)),
             float(rng.uniform(2.6, 3.9)), float(rng.uniform(0.16, 0.26)), material,
             vx=float(rng.uniform(-0.3, 0.3)), color=color)
        for i, (material, color) in enumerate(specs)
    )
    return Scene(
        name="bouncing_balls",
        balls=balls,
        segments=(
            _floor(-1.0, 9.0),
            Segment("left_wall", 0.0, 0.0, 0.0, 6.0, thickness=0.1, color=WALL),
            Segment("right_wall", 8.0, 0.0, 8.0, 6.0, thickness=0.1, color=WALL),
        ),
        view=(0.0, -0.4, 8.0, 4.2),
        description="Six balls of rubber, leather, plastic, wood, metal and glass drop to a concrete "
                    "floor together; the rubber ball bounces highest, the wooden one barely.",
    )


def dominoes(seed: int = 0) -> Scene:
    """A row of wooden dominoes toppled by a rolling ball."""
    rng = np.random.default_rng(seed)
    w, h = 0.08, 0.5
    boxes = tuple(
        Box(f"domino{i}", 2.2 + 0.36 * i + float(rng.uniform(-0.01, 0.01)), h / 2, w, h,
            material="wood", color="#c8963e" if i % 2 else "#b5773a")
        for i in range(14)
    )
    return Scene(
        name="dominoes",
        balls=(Ball("ball", 0.5, 0.4, 0.16, "metal", vx=3.2, spin=-20.0, color="#7d8a96"),),
        boxes=boxes,
        segments=(_floor(-1.0, 9.0), Segment("right_wall", 7.9, 0.0, 7.9, 3.0, thickness=0.1, color=WALL)),
        view=(0.0, -0.4, 8.0, 4.2),
        description="A steel ball rolls into a row of fourteen wooden dominoes, which topple one "
                    "after another from left to right.",
    )


def ramp(seed: int = 0) -> Scene:
    """A ball and a box released on a ramp; they slide and roll into a wall."""
    rng = np.random.default_rng(seed)
    angle = math.radians(24.0 + float(rng.uniform(-1.0, 1.0)))
    x0, y0, x1 = 0.3, 3.0, 5.0
    y1 = y0 - (x1 - x0) * math.tan(angle)
    nx, ny = math.sin(angle), math.cos(angle)  # surface normal, pointing up the slope's side
    r, bw, bh = 0.22, 0.45, 0.3
    return Scene(
        name="ramp",
        balls=(Ball("ball", x0 + 1.4 + nx * (r + 0.03), y0 - 1.4 * math.tan(angle) + ny * (r + 0.03), r,
                    "rubber", color="#e4572e"),),
        boxes=(Box("crate", x0 + 0.5 + nx * (bh / 2 + 0.03), y0 - 0.5 * math.tan(angle) + ny * (bh / 2 + 0.03),
                   bw, bh, angle=-angle, material="wood", color="#c8963e"),),
        segments=(
            _floor(-1.0, 9.0),
            Segment("ramp", x0, y0, x1, y1, thickness=0.08, material="wood", color="#8c6a4a"),
            Segment("ramp_leg", x0, 0.0, x0, y0, thickness=0.08, material="wood", color="#8c6a4a"),
            Segment("right_wall", 7.9, 0.0, 7.9, 3.0, thickness=0.1, color=WALL),
        ),
        view=(0.0, -0.4, 8.0, 4.2),
        description="A rubber ball rolls and a wooden crate slides down a wooden ramp, cross the floor "
                    "and strike the wall on the right.",
    )


PRESETS: dict[str, Callable[[int], Scene]] = {
    "basketball": basketball,
    "bouncing_balls": bouncing_balls,
    "dominoes": dominoes,
    "ramp": ramp,
}


def preset(name: str, seed: int = 0) -> Scene:
    """Builds a preset scene by name.

    >>> preset("dominoes").name
    'dominoes'
    """
    if name not in PRESETS:
        raise InvalidInput(f"scene {name!r} is not a preset; use one of {', '.join(PRESETS)} "
                         "or pass a sorakit.Scene")
    return PRESETS[name](seed)
