"""Planted faults with realistic looks: clips whose physics is known to be wrong (or known to be
right) and that do not look like the flat-coloured previz, to measure the report on what a video
model draws.

A clip here is a simulated throw, drawn by the previz and then *dressed*: textured background
and ball (the ball's texture turns with it), lighting that drifts over the clip with a vignette,
sensor grain, lens blur, and H.264 at a web bit rate. The fault is planted in the physics
(staged changes, a different material, a shifted track, the wrong clock), never in the report's
input format, and the clip is judged against the scene *without* the fault.

Kinds, and what the report must say:

- ``clean``: nothing.
- ``teleport``: the ball jumps 0.7 m sideways at one frame: a teleport at that frame.
- ``float``: gravity switched off for a stretch: a gravity problem in those frames ("falls too slowly").
- ``heavy``: gravity tripled for a stretch: a gravity problem in those frames ("falls too fast").
- ``tunnel``: the floor lets the ball through: a penetration.
- ``energy``: the ball bounces off the floor faster than it hit it: an energy problem.
- ``slow``: the clip plays at two thirds of real speed: a time-scale problem, not a gravity one.
- ``dropped``: one frame is missing from the video: nothing (no teleport).
- ``occluded``: the ball is hidden for one frame: nothing (no teleport).

>>> p = planted("float", seed=1)
>>> p.frames.shape, p.expect, p.window is not None
((48, 192, 320, 3), 'gravity', True)
"""

from __future__ import annotations

import dataclasses
import io
import math
from dataclasses import dataclass

import numpy as np

from sorakit.physics.scene import MATERIALS, Ball, Change, Scene
from sorakit.physics.simulate import Simulation, simulate
from sorakit.previz import View, render

__all__ = ["Looks", "Planted", "planted", "dress", "KINDS", "EXPECT"]

KINDS = ("clean", "teleport", "float", "heavy", "tunnel", "energy", "slow", "dropped", "occluded")
# The problem kind the report must find for each planted fault ("" for none).
EXPECT = {"clean": "", "teleport": "teleport", "float": "gravity", "heavy": "gravity", "tunnel": "penetration",
          "energy": "energy", "slow": "timescale", "dropped": "", "occluded": ""}


@dataclass(frozen=True)
class Looks:
    """How far a clip is dressed away from the flat previz.

    Attributes:
        texture: contrast of the background's and the ball's textures (0 = flat colours).
        light: amplitude of the lighting drift over the clip (0.2 = ±20 % brightness), with a vignette.
        grain: sensor noise, standard deviation in 8-bit levels.
        blur: lens blur, Gaussian sigma in pixels.
        bits_per_pixel: H.264 bit rate per pixel per frame (0.1 at 24 fps is ~150 kbit/s for 320x192,
            a low web rate); 0 skips the codec.
        recolor: the colour the ball is drawn in (a video model draws it its own way, not in the
            previz's colour), or None to keep the scene's.
    """

    texture: float = 1.0
    light: float = 0.2
    grain: float = 5.0
    blur: float = 0.8
    bits_per_pixel: float = 0.1
    recolor: str | None = "#8c5a3c"


@dataclass(frozen=True, eq=False)
class Planted:
    """A dressed clip with its planted fault.

    Attributes:
        kind: one of ``KINDS``.
        frames: uint8 ``[T, H, W, 3]``.
        fps: the rate the clip is labelled with (and played at).
        scene: what the clip should show: judge it against this one.
        expect: the problem kind the report must find ("" for none).
        window: ``(first, last)`` frames where the fault is, or None.
    """

    kind: str
    frames: np.ndarray
    fps: int
    scene: Scene
    expect: str
    window: tuple[int, int] | None


def _throw(seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    ball = Ball("ball", float(rng.uniform(0.8, 1.6)), float(rng.uniform(2.0, 2.8)), float(rng.uniform(0.22, 0.3)),
                "rubber", vx=float(rng.uniform(1.0, 2.2)), vy=float(rng.uniform(0.5, 2.5)),
                spin=float(rng.uniform(-4, 4)), color="#d9622b")
    return Scene.room("throw", width=6.0, height=3.6).add(ball)


def planted(kind: str, *, seed: int = 0, width: int = 320, height: int = 192, fps: int = 24, frames: int = 48,
            looks: Looks | None = None) -> Planted:
    """One clip of ``kind`` (see the module's docstring), deterministic for ``seed``."""
    if kind not in KINDS:
        raise ValueError(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    looks = looks or Looks()
    rng = np.random.default_rng(1000 + seed)
    scene = _throw(seed)
    window: tuple[int, int] | None = None
    drop: int | None = None
    hide: int | None = None
    if kind in ("float", "heavy"):
        a = int(rng.integers(frames // 5, frames // 3))
        b = a + frames // 3
        g = 0.0 if kind == "float" else 3 * scene.gravity
        sim = simulate(scene.stage(Change(a / fps, "gravity", value=g), Change(b / fps, "gravity", value=scene.gravity)),
                       frames=frames, fps=fps)
        window = (a, b)
    elif kind == "tunnel":
        open_floor = dataclasses.replace(scene, segments=tuple(
            dataclasses.replace(s, collide=False) if s.name == "floor" else s for s in scene.segments))
        sim = simulate(open_floor, frames=frames, fps=fps)
    elif kind == "energy":
        rubber = MATERIALS["rubber"]
        bouncy = dataclasses.replace(rubber, elasticity=1.3)
        sim = simulate(dataclasses.replace(scene, materials=(bouncy,)), frames=frames, fps=fps)
    elif kind == "slow":
        sim = simulate(scene, frames=frames, fps=int(round(fps * 1.5)))  # shot at 36 fps, played at 24
        sim = dataclasses.replace(sim, fps=fps)
    elif kind == "dropped":
        sim = simulate(scene, frames=frames + 1, fps=fps)
        drop = int(rng.integers(frames // 3, 2 * frames // 3))
    else:
        sim = simulate(scene, frames=frames, fps=fps)
    if kind == "teleport":
        k = int(rng.integers(frames // 3, 2 * frames // 3))
        shift = np.array([0.7 if rng.random() < 0.5 else -0.7, 0.0])
        positions = {n: np.where((np.arange(len(p)) >= k)[:, None], p + shift, p) for n, p in sim.positions.items()}
        sim = dataclasses.replace(sim, positions=positions)
        window = (k, k)
    if kind == "occluded":
        hide = int(rng.integers(frames // 3, 2 * frames // 3))
    video = dress(sim, width, height, looks, seed=seed)
    if drop is not None:
        video = np.delete(video, drop, axis=0)
    if hide is not None:
        plain = dress(dataclasses.replace(sim, positions={n: p + np.array([100.0, 100.0])
                                                          for n, p in sim.positions.items()}),
                      width, height, dataclasses.replace(looks, bits_per_pixel=0.0), seed=seed)
        video = video.copy()
        video[hide] = plain[hide]  # the background alone, as the ball passes behind something
    return Planted(kind, video, fps, scene, EXPECT[kind], window)


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cell: int) -> np.ndarray:
    """Value noise in [-1, 1]: a coarse random grid, bilinearly upsampled."""
    gh, gw = height // cell + 2, width // cell + 2
    grid = rng.uniform(-1, 1, (gh, gw))
    y = np.arange(height) / cell
    x = np.arange(width) / cell
    y0, x0 = y.astype(int), x.astype(int)
    fy, fx = (y - y0)[:, None], (x - x0)[None, :]
    g = grid
    out: np.ndarray = ((1 - fy) * ((1 - fx) * g[y0][:, x0] + fx * g[y0][:, x0 + 1])
            + fy * ((1 - fx) * g[y0 + 1][:, x0] + fx * g[y0 + 1][:, x0 + 1]))
    return out


def dress(sim: Simulation, width: int, height: int, looks: Looks, *, seed: int = 0) -> np.ndarray:
    """The previz of ``sim`` dressed with ``looks``: uint8 ``[T, H, W, 3]``."""
    import cv2

    pv = render(sim, width, height, trail=False)
    rng = np.random.default_rng(seed)
    video = pv.frames.astype(np.float32)
    T = video.shape[0]
    if looks.recolor is not None:  # the shading kept, the hue the model's own
        target = np.array([int(looks.recolor[i:i + 2], 16) for i in (1, 3, 5)], np.float32)
        for index, name in enumerate(pv.names, start=1):
            own = np.array([int(c, 16) for c in (lambda h: (h[1:3], h[3:5], h[5:7]))(
                next(b.color for b in sim.scene.bodies if b.name == name))], np.float32)
            on = pv.body_ids == index
            video[on] *= target / np.maximum(own, 1.0)
    if looks.texture > 0:
        backdrop = (18 * _smooth_noise(rng, height, width, 24) + 8 * _smooth_noise(rng, height, width, 6)
                    + 6 * np.sin(np.arange(width)[None, :] * 0.9))  # a rough wall with fine stripes
        skin_size = 64
        skin = 30 * _smooth_noise(rng, skin_size, skin_size, 8)  # the ball's own pattern, in its frame
        view = View(sim.scene, width, height)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
        background = pv.body_ids == 0
        video += (looks.texture * backdrop)[None, ..., None] * background[..., None]
        for index, name in enumerate(pv.names, start=1):
            for t in range(T):
                on = pv.body_ids[t] == index
                if not on.any():
                    continue
                cx, cy = view.to_px(*sim.positions[name][t])
                angle = float(sim.angles[name][t])
                dx, dy = xx[on] - float(cx), yy[on] - float(cy)
                c, s = math.cos(angle), math.sin(angle)  # into the ball's frame: the pattern turns with it
                u = (c * dx - s * dy) / view.scale / 0.3 * (skin_size / 2 - 1) + skin_size / 2
                v = (s * dx + c * dy) / view.scale / 0.3 * (skin_size / 2 - 1) + skin_size / 2
                ui = np.clip(u.astype(int), 0, skin_size - 1)
                vi = np.clip(v.astype(int), 0, skin_size - 1)
                video[t][on] += looks.texture * skin[vi, ui][:, None]
    if looks.light > 0:
        phase = rng.uniform(0, 2 * math.pi)
        gain = 1 + looks.light * np.sin(np.linspace(0, 1.3 * math.pi, T) + phase)
        yy, xx = np.mgrid[0:height, 0:width]
        vignette = 1 - 0.35 * (((xx - width / 2) / width) ** 2 + ((yy - height / 2) / height) ** 2) * 2
        video *= gain[:, None, None, None] * vignette[None, ..., None]
    if looks.blur > 0:
        for t in range(T):
            video[t] = cv2.GaussianBlur(video[t], (0, 0), looks.blur)
    if looks.grain > 0:
        video += rng.normal(0, looks.grain, video.shape).astype(np.float32)
    out: np.ndarray = np.clip(video + 0.5, 0, 255).astype(np.uint8)
    if looks.bits_per_pixel > 0:
        out = _through_codec(out, looks.bits_per_pixel)
    return out


def _through_codec(frames: np.ndarray, bits_per_pixel: float) -> np.ndarray:
    """H.264 at ``bits_per_pixel`` per pixel per frame (24 fps nominal), encoded and decoded in memory."""
    import av

    T, H, W, _ = frames.shape
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.bit_rate = int(bits_per_pixel * W * H * 24)
        for i in range(T):
            frame = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode())
    buf.seek(0)
    with av.open(buf, "r") as inp:
        decoded = [f.to_ndarray(format="rgb24") for f in inp.decode(video=0)]
    return np.stack(decoded)[:T]

