"""Draws a Simulation as video frames, with the exact motion field of every pixel.

Shapes are drawn from signed distance fields, so edges are anti-aliased analytically
(coverage = clamp(0.5 - distance, 0, 1) in pixels) and the same per-pixel geometry
gives each pixel's body and its rigid motion to the next frame. Nothing is estimated:
the flow of a pixel on body b is ``map(c' + R(θ') R(θ)^-1 (p - c)) - p``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sorakit.physics.scene import Ball, Box, Scene
from sorakit.physics.simulate import Simulation

TRAIL_LENGTH = 8
OUTLINE_PX = 1.6


@dataclass(frozen=True, eq=False)
class Previz:
    """A rendered simulation.

    Attributes:
        frames: uint8 ``[T, H, W, 3]``.
        flow: float32 ``[T, H, W, 2]``: where each pixel of frame t is in frame t+1,
            minus where it is now, in pixels (x right, y down). 0 on the background.
        body_ids: int16 ``[T, H, W]``: 0 for background and static geometry, i+1 for
            the i-th dynamic body in ``names``.
        names: dynamic body names, in id order.
    """

    frames: np.ndarray
    flow: np.ndarray
    body_ids: np.ndarray
    names: tuple[str, ...]


class View:
    """Maps world metres (y up) to pixel coordinates (y down), keeping the aspect ratio."""

    def __init__(self, scene: Scene, width: int, height: int) -> None:
        x0, y0, x1, y1 = scene.view
        self.scale = min(width / (x1 - x0), height / (y1 - y0))
        self.ox = (width - (x1 - x0) * self.scale) / 2 - x0 * self.scale
        self.oy = (height - (y1 - y0) * self.scale) / 2 + y1 * self.scale

    def to_px(self, x: np.ndarray | float, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.ox + np.asarray(x) * self.scale), np.asarray(self.oy - np.asarray(y) * self.scale)

    def to_world(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (px - self.ox) / self.scale, (self.oy - py) / self.scale


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32) / 255.0


def _blend(canvas: np.ndarray, ys: slice, xs: slice, coverage: np.ndarray, color: np.ndarray) -> None:
    """Alpha-composites ``color`` ([h, w, 3] or [3]) over the canvas window with per-pixel coverage."""
    a = coverage[..., None]
    region = canvas[ys, xs]  # a view: blended in place
    region += (color - region) * a


def _window(cx: float, cy: float, reach: float, width: int, height: int,
            reach_y: float | None = None) -> tuple[slice, slice] | None:
    """The pixels within ``reach`` (``reach_y`` up and down, if given) of a centre, clipped to the frame."""
    ry = reach if reach_y is None else reach_y
    x0, x1 = max(0, int(np.floor(cx - reach))), min(width, int(np.ceil(cx + reach)) + 1)
    y0, y1 = max(0, int(np.floor(cy - ry))), min(height, int(np.ceil(cy + ry)) + 1)
    if x0 >= x1 or y0 >= y1:
        return None
    return slice(y0, y1), slice(x0, x1)


def _segment_sdf(px: np.ndarray, py: np.ndarray, a: tuple[float, float], b: tuple[float, float],
                 radius: float) -> np.ndarray:
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length2 = dx * dx + dy * dy
    t = np.zeros_like(px) if length2 == 0 else np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0, 1)
    return np.hypot(px - ax - t * dx, py - ay - t * dy) - radius


def _box_sdf(lx: np.ndarray, ly: np.ndarray, hw: float, hh: float) -> np.ndarray:
    qx, qy = np.abs(lx) - hw, np.abs(ly) - hh
    outside: np.ndarray = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0))
    inside: np.ndarray = np.minimum(np.maximum(qx, qy), 0)
    sdf: np.ndarray = outside + inside
    return sdf


def _fill(sdf: np.ndarray, fill: np.ndarray, line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coverage and colour of a flat-shaded shape with an outline, both anti-aliased."""
    coverage = np.clip(0.5 - sdf, 0.0, 1.0)
    inner = np.clip(-sdf - OUTLINE_PX + 0.5, 0.0, 1.0)[..., None]
    return coverage, line * (1 - inner) + fill * inner


def _background(scene: Scene, view: View, width: int, height: int) -> np.ndarray:
    top, bottom = _rgb(scene.sky[0]), _rgb(scene.sky[1])
    t = (np.arange(height, dtype=np.float32) + 0.5)[:, None] / height
    canvas = np.broadcast_to((top * (1 - t) + bottom * t)[:, None, :], (height, width, 3)).copy()
    for s in scene.segments:
        (ax, bx), (ay, by) = view.to_px(np.array([s.x1, s.x2]), np.array([s.y1, s.y2]))
        radius = max(s.thickness * view.scale / 2, 0.5)
        # Only the segment's bounding window (coverage is exactly 0 beyond radius + 1 px).
        x0, x1 = max(0, int(np.floor(min(ax, bx) - radius - 2))), min(width, int(np.ceil(max(ax, bx) + radius + 2)))
        y0, y1 = max(0, int(np.floor(min(ay, by) - radius - 2))), min(height, int(np.ceil(max(ay, by) + radius + 2)))
        if x0 >= x1 or y0 >= y1:
            continue
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
        sdf = _segment_sdf(xs, ys, (float(ax), float(ay)), (float(bx), float(by)), radius)
        coverage, color = _fill(sdf, _rgb(s.color), _rgb(s.color) * 0.7)
        _blend(canvas, slice(y0, y1), slice(x0, x1), coverage, color)
    return canvas


# Bytes a render holds per pixel of the clip (uint8 RGB frames, float32 flow, int16 body ids), and per
# pixel of one frame while it is drawn (float64 canvases and masks), plus a fixed allowance.
_BYTES_PER_PIXEL, _BYTES_PER_FRAME_PIXEL, _BASE = 3 + 8 + 2, 96, 300 * 2**20


def memory_needed(frames: int, width: int, height: int) -> int:
    """Bytes of host memory a previz render of this size holds at its peak.

    >>> round(memory_needed(960, 1920, 1920) / 1e9)  # 60 s of 1920x1920 at 16 fps
    47
    """
    return frames * width * height * _BYTES_PER_PIXEL + width * height * _BYTES_PER_FRAME_PIXEL + _BASE


def available_memory() -> int | None:
    """Bytes of memory this machine can still give (Linux's MemAvailable), or None where it cannot say."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(frames: int, width: int, height: int, fps: int, *, available: int | None = None) -> None:
    """Refuses, before anything renders, a previz that would not fit in memory, naming what would.

    Raises:
        OutOfMemory: with the longest clip at this size, and the largest size for this length, that fit.
    """
    from sorakit.errors import OutOfMemory

    free = available_memory() if available is None else available
    need = memory_needed(frames, width, height)
    if free is None or need <= 0.8 * free:
        return
    budget = 0.8 * free - width * height * _BYTES_PER_FRAME_PIXEL - _BASE
    most = max(0, int(budget // (width * height * _BYTES_PER_PIXEL)))
    scale = max(0.0, budget / (frames * width * height * (_BYTES_PER_PIXEL + 1))) ** 0.5
    w, h = max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)
    raise OutOfMemory(f"a {width}x{height} previz of {frames} frames needs about {need / 1e9:.1f} GB of memory and "
                      f"{free / 1e9:.1f} GB is free; render at most {most} frames ({most / fps:.1f} s) at this size, "
                      f"or {w}x{h} for the whole clip")


def render(sim: Simulation, width: int, height: int, *, trail: bool = True,
           on_frame: Callable[[int, int, np.ndarray], bool | None] | None = None) -> Previz:
    """Renders every frame of ``sim`` at ``width`` x ``height`` with its motion field.

    >>> from sorakit.physics import preset, simulate
    >>> pv = render(simulate(preset("basketball"), frames=4, fps=16), 96, 64)
    >>> pv.frames.shape, pv.flow.shape
    ((4, 64, 96, 3), (4, 64, 96, 2))

    Args:
        sim: the simulation to draw.
        width, height: frame size in pixels.
        trail: draw fading copies of each ball's recent positions under the bodies.
        on_frame: called as ``on_frame(index, total, frame)`` after each frame; returning
            False stops the rendering there (the frames drawn so far come back).
    """
    scene = sim.scene
    view = View(scene, width, height)
    background = _background(scene, view, width, height)
    T = sim.frames
    frames = np.empty((T, height, width, 3), np.uint8)
    flow = np.zeros((T, height, width, 2), np.float32)
    ids = np.zeros((T, height, width), np.int16)
    names = scene.dynamic_names
    shapes: list[Ball | Box] = [*scene.balls, *scene.boxes]
    # Only the windows the bodies (and trails) are drawn in change from frame to frame: the float
    # canvas keeps the background elsewhere, each frame starts from the background in uint8, and
    # only those windows are put back (from the float background) and converted again.
    plain = np.clip(background * 255.0 + 0.5, 0, 255).astype(np.uint8)
    row = np.arange(height, dtype=np.float32) + 0.5
    col = np.arange(width, dtype=np.float32) + 0.5
    canvas = background.copy()
    drawn: list[tuple[slice, slice]] = []

    # each body's last drawing: (pose now and next, window, coverage, colour, covered pixels, their motion)
    drawn_as: dict[int, tuple[tuple[float, ...], tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray,
                              np.ndarray]] = {}

    def blend(ys: slice, xs: slice, coverage: np.ndarray, color: np.ndarray) -> None:
        drawn.append((ys, xs))
        _blend(canvas, ys, xs, coverage, color)

    for t in range(T):
        for ys, xs in drawn:  # last frame's windows back to the background
            canvas[ys, xs] = background[ys, xs]
        drawn.clear()
        if trail:
            for ball in scene.balls:
                path = sim.positions[ball.name]
                last, ghosts = path[t], []
                for k in range(1, min(TRAIL_LENGTH, t) + 1):
                    # Only ghosts that stand clear of the ball and of each other: a resting ball has none.
                    if np.hypot(*(path[t - k] - last)) >= 0.4 * ball.radius:
                        last = path[t - k]
                        ghosts.append(k)
                for k in reversed(ghosts):  # oldest first, so newer ghosts lie on top
                    cx, cy = view.to_px(*path[t - k])
                    r = ball.radius * view.scale * (1 - 0.05 * k)
                    win = _window(float(cx), float(cy), r + 2, width, height)
                    if win is None:
                        continue
                    yc, xc = row[win[0]][:, None], col[win[1]][None, :]  # pixel centres, broadcast
                    coverage = np.clip(0.5 - (np.hypot(xc - cx, yc - cy) - r), 0, 1)
                    blend(*win, coverage * 0.28 * (1 - k / (TRAIL_LENGTH + 1)), _rgb(ball.color))
        for index, body in enumerate(shapes, start=1):
            name = body.name
            (wx, wy), angle = sim.positions[name][t], float(sim.angles[name][t])
            (nx, ny), nangle = sim.positions[name][t + 1], float(sim.angles[name][t + 1])
            pose = (float(wx), float(wy), angle, float(nx), float(ny), nangle)
            kept = drawn_as.get(index)
            if kept is not None and kept[0] == pose:  # at rest as in the frame before: the same pixels
                _, win, coverage, color, mine, motion = kept
            else:
                cx, cy = view.to_px(wx, wy)
                if isinstance(body, Ball):
                    reach_x = reach_y = body.radius * view.scale
                else:  # the rotated box's own bounding box (coverage is exactly 0 beyond it + 0.5 px)
                    ca, sa = abs(np.cos(angle)), abs(np.sin(angle))
                    reach_x = 0.5 * (ca * body.width + sa * body.height) * view.scale
                    reach_y = 0.5 * (sa * body.width + ca * body.height) * view.scale
                window = _window(float(cx), float(cy), reach_x + 2, width, height, reach_y + 2)
                if window is None:
                    drawn_as.pop(index, None)
                    continue
                win = window
                yc, xc = row[win[0]][:, None], col[win[1]][None, :]  # pixel centres, broadcast
                # Pixel centre -> body-local metres (undo translation, then rotation).
                qx, qy = view.to_world(xc, yc)
                qx, qy = qx - wx, qy - wy
                c, s = np.cos(angle), np.sin(angle)
                lx, ly = c * qx + s * qy, -s * qx + c * qy
                fill = _rgb(body.color)
                if isinstance(body, Ball):
                    r = body.radius
                    sdf = (np.hypot(lx, ly) - r) * view.scale
                    # Two seams through the centre make the spin visible.
                    seam = np.minimum(np.abs(lx), np.abs(ly)) * view.scale - max(0.6, 0.04 * r * view.scale)
                    seam_cov = np.clip(0.5 - seam, 0, 1)[..., None]
                    fill = fill * (1 - 0.45 * seam_cov)
                    # A soft light from the upper left (fixed in the world) keeps flat shading readable.
                    fill = fill * (1.0 + 0.12 * np.clip((qy - qx) / r, -1, 1)[..., None])
                else:
                    sdf = _box_sdf(lx, ly, body.width / 2, body.height / 2) * view.scale
                coverage, color = _fill(sdf, np.clip(fill, 0, 1), _rgb(body.color) * 0.6)
                # Exact rigid motion of every covered pixel to frame t + 1.
                cn, sn = np.cos(nangle), np.sin(nangle)
                px, py = view.to_px(nx + cn * lx - sn * ly, ny + sn * lx + cn * ly)
                mine = coverage >= 0.5
                motion = np.stack([px - xc, py - yc], axis=-1)[mine]
                drawn_as[index] = (pose, win, coverage, color, mine, motion)
            blend(*win, coverage, color)
            ids[t][win][mine] = index
            flow[t][win][mine] = motion
        frames[t] = plain
        for ys, xs in drawn:
            frames[t, ys, xs] = np.clip(canvas[ys, xs] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        if on_frame is not None and on_frame(t + 1, T, frames[t]) is False:
            return Previz(frames[:t + 1], flow[:t + 1], ids[:t + 1], names)
    return Previz(frames, flow, ids, names)
