"""A physics report for a clip: does what moves in it move like the real thing?

The report measures the video, never the simulation that may have guided it: a video model
copies, bends, slows down or forgets the motion it was given, so every figure here comes from
tracks found in the frames.

Method:

1. **Tracking.** With a scene, each ball and box is found in every frame by its known colour. A
   pixel belongs to a body when it lies close to the body's *shading line* (the colour scaled by
   0.5 to 1.2, which admits the previz's lighting, seams and outline) and no other body colour or
   static colour (sky gradient, segment fill-to-outline) is nearer. The faint trail the previz
   draws behind balls is a blend with the sky and lies far from that line, so only the solid
   current disc counts. Around the predicted position (last position plus last step) the pixel of
   the body's colour nearest the prediction seeds a mean shift over a disc of the body's size,
   which settles on the centre of the blob that pixel belongs to. When the blob is missing or too
   small, a whole-frame density search (integral image) picks it up again wherever it went, so a
   teleported body is found at its new place. Blobs cut by the frame edge are dropped (their
   centroid is biased). Without a scene, moving blobs are found by differencing each frame
   against the per-pixel median, their colours are clustered, and each colour is tracked the
   same way, in pixels.
2. **Pieces and contacts.** Pixel tracks become metres through the previz's view mapping (y up).
   A sample whose second difference departs from the local median acceleration by more than a
   few pixels is a *kink*: a contact, a kick or a jump. Kinks and frames where the body is lost
   split the track into smooth pieces. With a scene, frames where the body touches static
   geometry or another body (by distance) are marked supported; the remaining runs are free
   flight.
3. **Gravity.** Each flight run of four or more frames gets its own parabola (``y = y0 + vt +
   g t^2 / 2``); all runs of a body are then fitted jointly (shared ``g``, their own start and
   velocity) for the body's gravity and its standard error, and all bodies together for the
   clip's. The relative error is taken against the scene's gravity.
4. **Teleports.** At each kink and each gap in the track, local arcs are fitted on both sides
   and extended across the gap; the *miss* is the smallest distance between them over the gap.
   A bounce keeps position continuous, so its arcs meet (miss near zero) however fast the ball
   falls; a jump leaves them apart. A plain jump-size threshold would flag every fast fall. Inside
   a longer run of kinks (several contacts in a row) the samples themselves are real, and a jump
   shows as a there-and-back in the second differences (``+D`` then ``-D``), which no contact makes.
5. **Bounces.** Where the arcs meet is the contact time (a fraction of a frame, measured, never
   assumed: video models compress time). With a scene the normal comes from the static segment
   touched; without one, from the change of velocity. Normal speed after / before above 1 adds
   energy. Bounces off other moving bodies are listed but not judged (momentum moves between
   bodies).
6. **Penetration.** A ball's disc sinking into a colliding segment or another ball deeper than a
   tolerance, or its centre crossing a segment between two frames (tunnelling).
7. **Trajectory error.** With a scene, the tracks are compared with ``simulate(scene)`` drawn in
   the same pixels: mean and max in pixels and in % of the frame diagonal. A body the simulation
   shows in plain view but the frames do not, for three frames or more, is *missing*.

Frames where a body may be hidden in part or swapped with a look-alike (boxes whose bounding
circles overlap, as in a row of dominoes; overlapping balls; a colour seen twice without a scene)
are measured but not judged.

>>> import sorakit
>>> clip = sorakit.generate(sorakit.Take(frames=40, width=320, height=192))
>>> r = measure(clip)
>>> r.passed, r.body("ball").found > 0.9
(True, True)
"""

from __future__ import annotations

from sorakit.errors import InvalidInput, NotFound

import io
import math
import textwrap
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sorakit.physics.scene import Scene
from sorakit.physics.simulate import Event, simulate
from sorakit.previz import _View

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sorakit.clip import Clip

__all__ = ["report", "measure_frames", "plot_report", "report_png", "PhysicsReport", "BodyReport", "Thresholds",
           "Problem", "Flight", "Bounce", "Teleport", "Penetration", "TrajectoryError"]

# Shading factors a body's colour may take in the previz: outline 0.6, seams ~0.55, light ±12 %.
SHADE_LO, SHADE_HI = 0.5, 1.2
# Points per side for the local arcs at a gap.
ARC_POINTS = 6


@dataclass(frozen=True)
class Thresholds:
    """Every tolerance the report judges by; pass your own to ``measure(..., thresholds=)``.

    The defaults were set on clean previz clips (4 presets, seeds 0-5, 320x192 to 832x480, where
    the tracks lie within 0.3 px of the simulation) with a margin, and checked against planted
    faults: the largest miss at a clean contact was 4.8 px (limit 6.6 px for that ball), the
    largest judged clean bounce ratio 0.89, the deepest clean overlap 1.2 px, the largest clean
    gravity error 0.9 %. Pixel limits have a floor in pixels and a part that grows with the body's
    size, so they keep their meaning from 320 to 832 pixels wide.

    Attributes:
        color: RGB distance (0-1 scale) from a body's shading line that still counts as the body.
        kink_px: departure of a second difference from the local median acceleration that splits
            a track (pixels per frame squared).
        teleport_px: smallest unexplained miss that is a teleport, in pixels ...
        teleport_radii: ... or this many body radii, whichever is larger.
        gravity: relative error of the fitted gravity that is a problem (beyond 2 standard errors).
        energy: normal speed ratio after / before a bounce above which energy was added.
        bounce_speed_px: slowest approach (pixels per frame, along the normal) judged for energy ...
        bounce_speed_radii: ... or this many body radii per frame, whichever is larger.
        penetration_px: depth into static geometry that is a problem, in pixels ...
        penetration_radii: ... or this fraction of the radius, whichever is larger.
        trajectory: mean distance from the simulation, % of the frame diagonal, that is a problem.
        contact_px: distance within which a body touches geometry or another body.
    """

    color: float = 0.07
    kink_px: float = 1.5
    teleport_px: float = 4.0
    teleport_radii: float = 0.75
    gravity: float = 0.10
    energy: float = 1.05
    bounce_speed_px: float = 4.0
    bounce_speed_radii: float = 0.5
    penetration_px: float = 2.0
    penetration_radii: float = 0.25
    trajectory: float = 3.0
    contact_px: float = 2.0


@dataclass(frozen=True)
class Problem:
    """One thing that is not physical.

    Attributes:
        kind: ``teleport``, ``gravity``, ``energy``, ``penetration``, ``trajectory`` or ``missing``.
        body: the body's name.
        frame: the frame it happens at (the first frame after a jump, the contact frame of a
            bounce, the first frame of a penetration or of the flight measured); None for none.
        value: the measured figure (miss in px, relative gravity error, speed ratio, depth in px,
            mean error in % of the diagonal, frames missing).
        limit: the threshold it broke.
        text: a short phrase for the verdict, e.g. ``"teleport at frame 41 (ball, 36 px)"``.
    """

    kind: str
    body: str
    frame: int | None
    value: float
    limit: float
    text: str


@dataclass(frozen=True)
class Flight:
    """A free-flight run of one body and its own parabola.

    Attributes:
        start, end: first and last frame (inclusive).
        gravity: fitted vertical acceleration, m/s² (px/s² without a scene; y up, so ~ -9.81).
        sideways: fitted horizontal acceleration, same units (0 in free flight).
        residual_px: RMS distance of the track from the parabola, pixels.
    """

    start: int
    end: int
    gravity: float
    sideways: float
    residual_px: float


@dataclass(frozen=True)
class Bounce:
    """A contact found in the track, and the normal speeds on either side of it.

    Attributes:
        frame: measured contact time in frames (fractional: where the two arcs meet).
        against: the segment or body touched; ``""`` when unknown (no scene).
        before, after: normal speed approaching and leaving, m/s (px/s without a scene).
        ratio: ``after / before``; above 1 the bounce added energy.
        judged: whether the ratio is judged: a static surface, a fast enough approach, and the
            body leaving it (``after > 0``).
        sim_frame: the nearest simulated contact of this body with the same thing, in frames.
    """

    frame: float
    against: str
    before: float
    after: float
    ratio: float
    judged: bool
    sim_frame: float | None = None


@dataclass(frozen=True)
class Teleport:
    """A jump the motion on either side does not explain.

    Attributes:
        frame: the first frame after the jump.
        miss_px: closest approach of the two extended arcs across the gap, pixels; inside a run of
            contacts, the size of the there-and-back in the second differences.
        jump_px: straight distance between the samples either side, pixels.
        limit_px: the miss that would have been allowed.
    """

    frame: int
    miss_px: float
    jump_px: float
    limit_px: float


@dataclass(frozen=True)
class Penetration:
    """A ball inside static geometry or another ball.

    Attributes:
        frame: first frame of the episode.
        end: last frame of the episode.
        against: the segment (or ball) entered.
        depth_px: deepest overlap in the episode, pixels (a tunnel counts as the full radius).
    """

    frame: int
    end: int
    against: str
    depth_px: float


@dataclass(frozen=True)
class TrajectoryError:
    """Distance of a track from the simulated path in the same pixels.

    Attributes:
        mean_px, max_px: over frames where the body was found.
        mean_pct, max_pct: the same as % of the frame diagonal.
        worst_frame: the frame of ``max_px``.
        frames: how many frames were compared (found, and not crowded by look-alikes).
    """

    mean_px: float
    max_px: float
    mean_pct: float
    max_pct: float
    worst_frame: int
    frames: int


@dataclass(frozen=True, eq=False)
class BodyReport:
    """Everything measured about one moving body.

    Attributes:
        name: the scene's body name (``blob0``... without a scene).
        kind: ``ball``, ``box`` or ``blob``.
        track_px: float ``[T, 2]`` centre in pixels (x right, y down); NaN where not found.
        track: float ``[T, 2]`` in the report's units with y up (metres, or pixels without a scene).
        found: fraction of frames where the body was found.
        flights: free-flight runs with their own fitted gravity.
        gravity: joint fit over all flights (units/s²), None when there is too little flight.
        gravity_sigma: its standard error.
        gravity_error: relative error against the scene's gravity, None without either.
        bounces: contacts found, with normal speed ratios.
        teleports: jumps the motion does not explain.
        penetrations: episodes inside static geometry or another ball (balls only).
        trajectory: error against the simulation (None without a scene).
        simulated_px: float ``[T, 2]`` simulated centre in pixels (None without a scene).
        simulated: float ``[T, 2]`` simulated centre in metres, y up (None without a scene).
        contact: bool ``[T]``: touching static geometry or another body (by distance).
        judged: bool ``[T]``: frames whose position is trusted for judging. A box whose bounding
            circle overlaps another box's, or a ball overlapping another ball, may be hidden in
            part or confused with a look-alike (a row of dominoes), so it is measured but not judged.
        confidence: the share of the frames where the body should be seen in full (the simulation
            shows it inside the frame; every frame without a scene) in which it was tracked: how far
            the other figures can be trusted.
    """

    name: str
    kind: str
    track_px: np.ndarray
    track: np.ndarray
    found: float
    flights: tuple[Flight, ...]
    gravity: float | None
    gravity_sigma: float | None
    gravity_error: float | None
    bounces: tuple[Bounce, ...]
    teleports: tuple[Teleport, ...]
    penetrations: tuple[Penetration, ...]
    trajectory: TrajectoryError | None
    simulated_px: np.ndarray | None
    simulated: np.ndarray | None
    contact: np.ndarray
    judged: np.ndarray
    confidence: float = 1.0


@dataclass(frozen=True, eq=False)
class PhysicsReport:
    """The physics report of a clip: per body figures, the problems found and a verdict.

    Attributes:
        bodies: one report per tracked body.
        problems: every flagged problem, in frame order.
        verdict: one line: ``"physical: 1 body tracked, no teleports, no penetration, g within
            0.1% (-9.82 m/s²), ..."`` or ``"2 problems: teleport at frame 40 (ball, 36 px); ..."``.
        passed: True when there is no problem.
        units: ``"m"`` with a scene, ``"px"`` without.
        fps: frames per second of the clip.
        size: ``(width, height)`` of the frames.
        scene_gravity: the scene's gravity (None without a scene).
        gravity: joint fit over every body's flights; gravity_sigma its standard error.
        gravity_error: relative error against the scene's gravity.
        thresholds: the tolerances used.
        first_frame: uint8 ``[H, W, 3]``, the backdrop of the plot.
    """

    bodies: tuple[BodyReport, ...]
    problems: tuple[Problem, ...]
    verdict: str
    passed: bool
    units: str
    fps: int
    size: tuple[int, int]
    scene_gravity: float | None
    gravity: float | None
    gravity_sigma: float | None
    gravity_error: float | None
    thresholds: Thresholds
    first_frame: np.ndarray = field(repr=False)

    def body(self, name: str) -> BodyReport:
        """The report of the body called ``name``."""
        for b in self.bodies:
            if b.name == name:
                return b
        raise NotFound(f"{name!r}: no such body in the report; tracked: {', '.join(b.name for b in self.bodies)}")

    def problems_of(self, kind: str) -> tuple[Problem, ...]:
        """The problems of one kind (``teleport``, ``gravity``, ...)."""
        return tuple(p for p in self.problems if p.kind == kind)

    def plot(self) -> Figure:
        """The tracks over the first frame, and height over time against the simulation."""
        return plot_report(self)

    def png(self) -> bytes:
        """``plot()`` as PNG bytes."""
        return report_png(self)

    def _repr_png_(self) -> bytes:
        return report_png(self)


# -- colours ----------------------------------------------------------------------------------


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32) / 255.0


def _line_distance(pix: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance of each RGB pixel from ``s * c`` for the best shading ``s`` in [SHADE_LO, SHADE_HI]."""
    s = np.clip(pix @ c / float(c @ c), SHADE_LO, SHADE_HI)
    d = pix - s[..., None] * c
    out: np.ndarray = np.sqrt(np.einsum("...k,...k->...", d, d))
    return out


def _segment_distance(pix: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each RGB pixel from the colour segment ``a``-``b``."""
    d = b - a
    n = float(d @ d)
    s = np.zeros(pix.shape[:-1], np.float32) if n == 0 else np.clip((pix - a) @ d / n, 0.0, 1.0)
    e = pix - a - s[..., None] * d
    out: np.ndarray = np.sqrt(np.einsum("...k,...k->...", e, e))
    return out


def _same_hue(a: np.ndarray, c: np.ndarray, tol: float) -> bool:
    """Whether ``a`` is ``c`` scaled by 0.4 to 2.5 (a shade of the same paint), within ``tol``."""
    s = float(a @ c) / max(float(c @ c), 1e-9)
    return 0.4 <= s <= 2.5 and float(np.linalg.norm(a - s * c)) <= tol * max(1.0, s)


class _Palette:
    """Nearest-colour classification: body colours (shading lines) against the static colours."""

    def __init__(self, bodies: list[np.ndarray], static: list[tuple[np.ndarray, np.ndarray]], tol: float) -> None:
        self.bodies = bodies
        self.static = static
        self.tol = tol

    def classify(self, img: np.ndarray) -> np.ndarray:
        """int8 labels of an RGB (0-1) image: the index of the body colour, or -1."""
        pix = img.astype(np.float32)
        d = np.stack([_line_distance(pix, c) for c in self.bodies])
        best = np.argmin(d, axis=0)
        dbest = np.take_along_axis(d, best[None], axis=0)[0]
        ok = dbest <= self.tol
        if self.static and ok.any():  # static colours only matter where a body colour is close
            cand = pix[ok]
            dstat = np.min(np.stack([_segment_distance(cand, a, b) for a, b in self.static]), axis=0)
            ok[ok] = dbest[ok] < dstat
        return np.where(ok, best, -1).astype(np.int8)


# -- tracking ---------------------------------------------------------------------------------


@dataclass
class _Target:
    name: str
    kind: str
    colour: int  # index into the palette's body colours
    reach: float  # px: radius, or half-diagonal for a box
    area: float  # px²: what a fully visible body covers
    start: tuple[float, float] | None  # px


def _blob(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, seed: tuple[float, float], reach: float
          ) -> tuple[float, float, int, bool]:
    """Mean shift over ``mask`` from ``seed`` with a disc of radius ``reach + 1``.

    A seed on the rim of a blob is first pulled in with a wider disc (``1.6 reach + 1``), since the
    body-sized disc only creeps towards the centre from there.

    Returns ``(x, y, count, touches_edge)``; ``ys``/``xs`` are the pixel-centre coordinates of ``mask``.
    """
    cx, cy = seed
    count = 0
    sel = np.zeros_like(mask)
    for i in range(12):
        r2 = (1.6 * reach + 1.0) ** 2 if i < 2 else (reach + 1.0) ** 2
        sel = mask & ((xs - cx) ** 2 + (ys - cy) ** 2 <= r2)
        count = int(sel.sum())
        if count == 0:
            return cx, cy, 0, False
        nx, ny = float(xs[sel].mean()), float(ys[sel].mean())
        moved = abs(nx - cx) + abs(ny - cy)
        cx, cy = nx, ny
        if i >= 2 and moved < 0.02:
            break
    return cx, cy, count, bool(sel[0, :].any() or sel[-1, :].any() or sel[:, 0].any() or sel[:, -1].any())


def _local(img: np.ndarray, palette: _Palette, k: int, pred: tuple[float, float], half: float, reach: float
           ) -> tuple[float, float, int, bool]:
    """The blob of colour ``k`` nearest ``pred`` in the window of half-size ``half`` around it.

    A blob cut by the window (the prediction was off, as at a bounce) is looked at again in a
    window centred on it. Returns ``(x, y, count, cut_by_the_frame_edge)``.
    """
    H, W = img.shape[:2]
    x, y, count = pred[0], pred[1], 0
    for _ in range(2):
        xa, xb = max(0, int(pred[0] - half)), min(W, int(pred[0] + half) + 1)
        ya, yb = max(0, int(pred[1] - half)), min(H, int(pred[1] + half) + 1)
        if xa >= xb or ya >= yb:
            return x, y, 0, False
        mask = palette.classify(img[ya:yb, xa:xb]) == k
        if not mask.any():
            return x, y, 0, False
        ys, xs = np.mgrid[ya:yb, xa:xb].astype(np.float32) + 0.5
        iy, ix = np.nonzero(mask)
        j = int(np.argmin((xs[iy, ix] - pred[0]) ** 2 + (ys[iy, ix] - pred[1]) ** 2))
        x, y, count, edge = _blob(mask, ys, xs, (float(xs[iy[j], ix[j]]), float(ys[iy[j], ix[j]])), reach)
        if not edge:
            return x, y, count, False
        # Only the frame's own border biases a centroid for good; a window's border can be moved.
        if x - reach <= 1.0 or y - reach <= 1.0 or x + reach >= W - 1.0 or y + reach >= H - 1.0:
            return x, y, count, True
        pred, half = (x, y), 2.0 * reach + 4.0
    return x, y, count, True


def _densest(mask: np.ndarray, reach: float) -> tuple[float, float, int]:
    """Centre of the square of side ``2 reach + 1`` holding the most ``mask`` pixels (integral image)."""
    s = max(1, int(round(reach)))
    ii = np.pad(mask.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    H, W = mask.shape
    y0 = np.clip(np.arange(H) - s, 0, H)
    y1 = np.clip(np.arange(H) + s + 1, 0, H)
    x0 = np.clip(np.arange(W) - s, 0, W)
    x1 = np.clip(np.arange(W) + s + 1, 0, W)
    dens = ii[y1][:, x1] - ii[y0][:, x1] - ii[y1][:, x0] + ii[y0][:, x0]
    j = int(np.argmax(dens))
    y, x = divmod(j, W)
    return x + 0.5, y + 0.5, int(dens.flat[j])


def _track_colours(frames: np.ndarray, targets: list[_Target], palette: _Palette) -> np.ndarray:
    """Centre of every target in every frame, pixels, NaN where not found: float ``[N, T, 2]``."""
    T, H, W, _ = frames.shape
    out = np.full((len(targets), T, 2), np.nan)
    gy, gx = np.mgrid[0:H, 0:W].astype(np.float32) + 0.5
    for t in range(T):
        img = frames[t].astype(np.float32) / 255.0
        lost: list[int] = []
        for i, tg in enumerate(targets):
            prev = out[i, t - 1] if t >= 1 else np.array([np.nan, np.nan])
            if t >= 1 and np.isfinite(prev).all():
                before = out[i, t - 2] if t >= 2 else prev
                step = prev - before if np.isfinite(before).all() else np.zeros(2)
                pred = prev + step
                speed = float(np.hypot(*step))
            elif t == 0 and tg.start is not None:
                pred, speed = np.array(tg.start), 0.0
            else:
                lost.append(i)
                continue
            half = 2.0 * tg.reach + speed + 4.0
            x, y, count, edge = _local(img, palette, tg.colour, (float(pred[0]), float(pred[1])), half, tg.reach)
            if count >= 0.3 * tg.area and not edge:
                out[i, t] = (x, y)
            elif count < 0.3 * tg.area:
                lost.append(i)
        if not lost:
            continue
        full = palette.classify(img)
        for i in lost:
            tg = targets[i]
            mask = full == tg.colour
            for j, other in enumerate(targets):  # leave same-coloured bodies already found alone
                if j != i and other.colour == tg.colour and np.isfinite(out[j, t]).all():
                    ox, oy = out[j, t]
                    mask &= (gx - ox) ** 2 + (gy - oy) ** 2 > (other.reach + 1.5) ** 2
            x, y, count = _densest(mask, tg.reach)
            if count < 0.3 * tg.area:
                continue
            x, y, count, edge = _blob(mask, gy, gx, (x, y), tg.reach)
            if count >= 0.3 * tg.area and not edge:
                out[i, t] = (x, y)
    return out


def _track_blobs(frames: np.ndarray, tol: float, *, max_blobs: int = 8
                 ) -> tuple[list[str], np.ndarray, list[float], list[np.ndarray]]:
    """Tracks moving blobs without a scene: median background, frame differencing, colour clusters.

    Colours of pixels that differ from the background are binned; the bins are taken most distinct
    from the background first, and a bin is dropped when it is a shade of a colour already taken
    (an outline, a seam) or a blend of one with the background (a trail, an anti-aliased edge).
    Each colour is then followed as one blob: the densest spot of its pixels, refined by a mean shift.

    Returns names, centres ``[N, T, 2]`` in pixels, each blob's radius in pixels, and per blob
    the frames where a look-alike makes it ambiguous.
    """
    T, H, W, _ = frames.shape
    picks = np.unique(np.linspace(0, T - 1, min(T, 16)).round().astype(int))
    background8 = np.median(frames[picks], axis=0).round().astype(np.int16)
    background = background8.astype(np.float32) / 255.0
    moving = np.zeros((len(picks), H, W), bool)
    for i, t in enumerate(picks):
        ys, xs = _changed(frames[t], background8, 38)
        moving[i, ys, xs] = True
    colours = frames[picks][moving].astype(np.float32) / 255.0
    under = np.broadcast_to(background, (len(picks), H, W, 3))[moving]
    if colours.shape[0] < 20:
        return [], np.zeros((0, T, 2)), [], []
    q = np.clip((colours * 15.0 + 0.5).astype(np.int32), 0, 15)
    key = q[:, 0] * 256 + q[:, 1] * 16 + q[:, 2]
    bins, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(bins), 3))
    np.add.at(sums, inverse, colours)
    bg_sums = np.zeros((len(bins), 3))
    np.add.at(bg_sums, inverse, under)
    big = np.nonzero(counts >= max(12 * len(picks) // 4, 0.01 * colours.shape[0]))[0]
    mean_c = sums[big] / counts[big, None]
    mean_bg = bg_sums[big] / counts[big, None]
    order = np.argsort(-np.linalg.norm(mean_c - mean_bg, axis=1))
    # Colours the background itself shows somewhere (a ball that left its resting place uncovers them).
    scenery = background.reshape(-1, 3)[:: max(1, H * W // 4096)]
    groups: list[list[int]] = []  # bins of one colour: its shades (outline, seams, light)
    for j in order:
        c, b = mean_c[j], mean_bg[j]
        if float(np.min(np.linalg.norm(scenery - c, axis=1))) <= tol:
            continue
        home = next((g for g in groups if _same_hue(c, mean_c[g[0]], tol)), None)
        if home is not None:
            home.append(j)
        elif not any(float(_segment_distance(c[None].astype(np.float32), b.astype(np.float32),
                                              mean_c[m].astype(np.float32))[0]) <= 1.5 * tol
                     for g in groups for m in g):
            groups.append([j])  # not a blend of any shade already taken with the background either
    groups = groups[:max_blobs]
    if not groups:
        return [], np.zeros((0, T, 2)), [], []
    # Each colour is the count-weighted mean of its brighter shades: the fill, not the outline.
    accepted: list[np.ndarray] = []
    for g in groups:
        a = mean_c[g[0]].astype(np.float32)
        scales = colours @ a / float(a @ a)
        shade = (scales >= 0.4) & (scales <= 2.5)
        shade &= np.linalg.norm(colours - scales[:, None] * a, axis=1) <= tol * np.maximum(1.0, scales)
        top = float(np.percentile(scales[shade], 95)) if shade.any() else 1.0
        bright = shade & (scales >= 0.75 * top)
        accepted.append(colours[bright].mean(axis=0) if bright.any() else a)
    palette = _Palette(accepted, [], tol)
    points: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in accepted]
    for t in range(T):
        ys, xs = _changed(frames[t], background8, 25)
        labels = palette.classify(frames[t][ys, xs].astype(np.float32) / 255.0) if len(ys) else np.zeros(0, np.int8)
        for k in range(len(accepted)):
            mine = labels == k
            points[k].append((xs[mine].astype(np.float32) + 0.5, ys[mine].astype(np.float32) + 0.5))
    names: list[str] = []
    tracks: list[np.ndarray] = []
    radii: list[float] = []
    doubts: list[np.ndarray] = []
    for k in range(len(accepted)):  # one blob per colour
        sizes = np.array([len(x) for x, _ in points[k]])
        if (sizes >= 6).sum() < 4:
            continue
        radius = math.sqrt(float(np.median(sizes[sizes >= 6])) / math.pi)
        track, ambiguous = _follow(points[k], radius, W, H)
        if np.isfinite(track[:, 0]).sum() < 4:
            continue
        span = np.nanmax(track, axis=0) - np.nanmin(track, axis=0)
        if float(np.hypot(*span)) < max(3.0, radius):
            continue  # it does not move
        names.append(f"blob{len(names)}")
        tracks.append(track)
        radii.append(radius)
        doubts.append(ambiguous)
    return names, (np.stack(tracks) if tracks else np.zeros((0, T, 2))), radii, doubts


def _changed(frame: np.ndarray, background: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (rows, columns) where a channel differs from ``background`` (int16) by more than ``level``.

    Looked for on every fourth pixel first; only the 4x4 cells around a change are compared in full
    (any blob over about 6 pixels across holds a grid point).
    """
    H, W = frame.shape[:2]
    coarse = (np.abs(frame[::4, ::4].astype(np.int16) - background[::4, ::4]) > level).any(axis=-1)
    if not coarse.any():
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    near = coarse.copy()  # the cells next to a changed grid point
    near[1:] |= coarse[:-1]
    near[:-1] |= coarse[1:]
    near[:, 1:] |= near[:, :-1].copy()
    near[:, :-1] |= near[:, 1:].copy()
    cand = np.repeat(np.repeat(near, 4, axis=0), 4, axis=1)[:H, :W]
    ys, xs = np.nonzero(cand)
    diff = (np.abs(frame[ys, xs].astype(np.int16) - background[ys, xs]) > level).any(axis=-1)
    return ys[diff], xs[diff]


def _follow(points: list[tuple[np.ndarray, np.ndarray]], radius: float, W: int, H: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """One blob through per-frame pixel lists: nearest the prediction, else the densest spot.

    Returns the centres ``[T, 2]`` and bool ``[T]``: frames where as much of the colour again lies
    elsewhere (a look-alike, so the blob may be the wrong one).
    """
    T = len(points)
    reach = radius + 1.0
    need = max(6.0, 0.3 * math.pi * radius**2)
    track = np.full((T, 2), np.nan)
    ambiguous = np.zeros(T, bool)
    for t, (xs, ys) in enumerate(points):
        if len(xs) < need:
            continue
        prev = track[t - 1] if t >= 1 else np.array([np.nan, np.nan])
        seed: tuple[float, float] | None = None
        if np.isfinite(prev).all():
            before = track[t - 2] if t >= 2 and np.isfinite(track[t - 2]).all() else prev
            pred = 2 * prev - before
            d2 = (xs - pred[0]) ** 2 + (ys - pred[1]) ** 2
            j = int(np.argmin(d2))
            if d2[j] <= (2 * reach + float(np.hypot(*(prev - before))) + 4) ** 2:
                seed = (float(xs[j]), float(ys[j]))
        if seed is None:
            cell = max(2.0, reach)
            key = np.floor(xs / cell).astype(np.int64) * 100003 + np.floor(ys / cell).astype(np.int64)
            vals, cnt = np.unique(key, return_counts=True)
            top = key == vals[int(np.argmax(cnt))]
            seed = (float(xs[top].mean()), float(ys[top].mean()))
        cx, cy = seed
        sel = np.zeros(len(xs), bool)
        for i in range(12):  # as in _blob: a wide pull first, then the body-sized disc
            sel = (xs - cx) ** 2 + (ys - cy) ** 2 <= (1.6 * reach if i < 2 else reach) ** 2
            if not sel.any():
                break
            nx, ny = float(xs[sel].mean()), float(ys[sel].mean())
            moved = abs(nx - cx) + abs(ny - cy)
            cx, cy = nx, ny
            if i >= 2 and moved < 0.02:
                break
        if sel.sum() < need:
            continue
        if xs[sel].min() < 1 or ys[sel].min() < 1 or xs[sel].max() > W - 1 or ys[sel].max() > H - 1:
            continue  # cut by the frame edge: the centroid would be biased
        track[t] = (cx, cy)
        ambiguous[t] = int((~((xs - cx) ** 2 + (ys - cy) ** 2 <= (reach + 2.0) ** 2)).sum()) >= need
    return track, ambiguous


# -- fitting ----------------------------------------------------------------------------------


def _fit_arc(t: np.ndarray, p: np.ndarray, g: float | None) -> np.ndarray:
    """Polynomial coefficients ``[3, 2]`` (constant, velocity, acceleration / 2) of a local arc.

    With ``g`` (units per frame², vertical: the arc is in free flight) y is a parabola of that
    curvature and x a line; without it (rolling, sliding, pushed) both are fitted freely, a
    parabola from three points, a line from two.
    """
    n = len(t)
    coef = np.zeros((3, 2))
    if n == 1:
        coef[0] = p[0]
        return coef
    A2 = np.stack([np.ones(n), t], axis=1)
    if g is not None:
        y = p[:, 1] - 0.5 * g * t**2
        coef[:2, 1] = np.linalg.lstsq(A2, y, rcond=None)[0]
        coef[2, 1] = 0.5 * g
        coef[:2, 0] = np.linalg.lstsq(A2, p[:, 0], rcond=None)[0]
        return coef
    if n >= 3:
        A3 = np.stack([np.ones(n), t, t**2], axis=1)
        coef[:] = np.linalg.lstsq(A3, p, rcond=None)[0]
    else:
        coef[:2] = np.linalg.lstsq(A2, p, rcond=None)[0]
    return coef


def _eval(coef: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The arc at times ``t``: ``[len(t), 2]``."""
    return np.asarray(coef[0] + coef[1] * t[:, None] + coef[2] * t[:, None] ** 2)


def _velocity(coef: np.ndarray, t: float) -> np.ndarray:
    return np.asarray(coef[1] + 2.0 * coef[2] * t)


def _joint_gravity(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
    """Shared vertical acceleration over several runs (each its own start and velocity), per frame².

    Returns ``(g, standard error)`` or None when the runs cannot determine it.
    """
    n = sum(len(t) for t, _ in runs)
    k = 2 * len(runs) + 1
    if not runs or n <= k:
        return None
    A = np.zeros((n, k))
    b = np.zeros(n)
    row = 0
    for i, (t, y) in enumerate(runs):
        m = len(t)
        tc = t - t.mean()
        A[row:row + m, 2 * i] = 1.0
        A[row:row + m, 2 * i + 1] = tc
        A[row:row + m, -1] = 0.5 * tc**2
        b[row:row + m] = y
        row += m
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    resid = b - A @ sol
    dof = n - k
    var = float(resid @ resid) / dof
    cov = np.linalg.pinv(A.T @ A)
    return float(sol[-1]), math.sqrt(max(var, 0.0) * float(cov[-1, -1]))


# -- geometry ---------------------------------------------------------------------------------


def _segment_gaps(p: np.ndarray, scene: Scene, extra: float) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Distance from each centre to each colliding segment's surface, minus ``extra``.

    Returns gaps ``[T, S]`` (metres), names, and the outward unit normals ``[T, S, 2]``.
    """
    segs = [s for s in scene.segments if s.collide]
    if not segs:
        return np.full((len(p), 0), np.inf), [], np.zeros((len(p), 0, 2))
    a = np.array([[s.x1, s.y1] for s in segs])
    d = np.array([[s.x2 - s.x1, s.y2 - s.y1] for s in segs])
    half = np.array([s.thickness / 2 for s in segs])
    rel = p[:, None, :] - a[None]
    n2 = np.maximum((d * d).sum(-1), 1e-12)
    u = np.clip((rel * d[None]).sum(-1) / n2, 0.0, 1.0)
    off = rel - u[..., None] * d[None]
    dist = np.hypot(off[..., 0], off[..., 1])
    normal = off / np.maximum(dist, 1e-9)[..., None]
    return dist - half[None] - extra, [s.name for s in segs], normal


def _tunnels(p: np.ndarray, scene: Scene) -> list[tuple[int, str]]:
    """Frames ``t`` where the centre crossed a colliding segment's centre line between t-1 and t."""
    out: list[tuple[int, str]] = []
    a, b = p[:-1], p[1:]
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    for s in scene.segments:
        if not s.collide:
            continue
        q = np.array([s.x1, s.y1])
        e = np.array([s.x2 - s.x1, s.y2 - s.y1])
        side_a = e[0] * (a[:, 1] - q[1]) - e[1] * (a[:, 0] - q[0])
        side_b = e[0] * (b[:, 1] - q[1]) - e[1] * (b[:, 0] - q[0])
        cross = ok & (np.sign(side_a) * np.sign(side_b) < 0)
        for t in np.nonzero(cross)[0]:
            f = side_a[t] / (side_a[t] - side_b[t])
            hit = a[t] + f * (b[t] - a[t])
            along = float((hit - q) @ e / max(float(e @ e), 1e-12))
            if 0.0 <= along <= 1.0:
                out.append((int(t) + 1, s.name))
    return out


# -- analysis of one track --------------------------------------------------------------------


@dataclass(eq=False)
class _Body:
    """One track while it is judged, in the report's units (y up); ``finish`` freezes it."""

    name: str
    kind: str
    px: np.ndarray  # [T, 2] pixels, y down
    p: np.ndarray  # [T, 2] units, y up
    radius: float  # units (half-diagonal for boxes)
    reach_px: float
    doubt: np.ndarray | None = None  # bool [T]: the tracker may hold a look-alike
    sim_px: np.ndarray | None = None
    sim: np.ndarray | None = None
    contact: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    trust: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    pieces: list[tuple[int, int]] = field(default_factory=list)
    gaps: list[tuple[int, int]] = field(default_factory=list)
    flights: list[Flight] = field(default_factory=list)
    runs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    gravity: float | None = None
    gravity_sigma: float | None = None
    gravity_error: float | None = None
    g_ref: float | None = None  # units per frame², for the local arcs
    bounces: list[Bounce] = field(default_factory=list)
    teleports: list[Teleport] = field(default_factory=list)
    penetrations: list[Penetration] = field(default_factory=list)
    trajectory: TrajectoryError | None = None
    confidence: float | None = None  # set by _trajectory where the simulation says when the body is in view

    def finish(self) -> BodyReport:
        found = float(np.isfinite(self.px).all(axis=1).mean())
        return BodyReport(self.name, self.kind, self.px, self.p, found,
                          tuple(self.flights), self.gravity, self.gravity_sigma, self.gravity_error,
                          tuple(self.bounces), tuple(self.teleports), tuple(self.penetrations), self.trajectory,
                          self.sim_px, self.sim, self.contact, self.trust,
                          found if self.confidence is None else self.confidence)


def _kinks(p: np.ndarray, limit: float) -> np.ndarray:
    """bool ``[T]``: samples whose second difference departs from the local median by > ``limit``."""
    T = len(p)
    kink = np.zeros(T, bool)
    if T < 3:
        return kink
    a2 = np.full((T, 2), np.nan)
    a2[1:-1] = p[2:] - 2 * p[1:-1] + p[:-2]
    pad = np.pad(a2, ((3, 3), (0, 0)), constant_values=np.nan)
    windows = np.stack([pad[i:i + T] for i in range(7)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows next to gaps
        med = np.nanmedian(windows, axis=0)
    dev = np.hypot(*(a2 - med).T)
    kink[np.isfinite(dev)] = dev[np.isfinite(dev)] > limit
    # Next to a gap only half of a jump's there-and-back is seen: split on both sides of the sample.
    valid = np.isfinite(p).all(axis=1)
    undefined = ~np.isfinite(a2).all(axis=1)
    for t in np.nonzero(kink)[0]:
        for n in (t - 1, t + 1):
            if 0 < n < T - 1 and valid[n] and undefined[n]:
                kink[n] = True
    return kink


def _dipole(px: np.ndarray, first: int, last: int) -> tuple[int, float]:
    """The strongest there-and-back in the second differences between samples ``first`` and ``last``.

    A jump by ``D`` between samples ``k - 1`` and ``k`` adds ``+D`` to the second difference at
    ``k - 1`` and ``-D`` at ``k``; a contact changes the velocity once, so its two second
    differences point the same way. Strength is ``min(|a[k-1]|, |a[k]|) - |a[k-1] + a[k]|`` (pixels),
    which stays below zero for any contact and is ``|D|`` minus whatever else happened for a jump.

    Returns ``(k, strength)``, the first frame after the jump and its strength (0 when none).
    """
    best, at = 0.0, last
    for k in range(max(first + 1, 2), min(last, len(px) - 2) + 1):
        w = px[k - 2:k + 2]
        if not np.isfinite(w).all():
            continue
        a1 = w[2] - 2 * w[1] + w[0]
        a2 = w[3] - 2 * w[2] + w[1]
        strength = min(float(np.hypot(*a1)), float(np.hypot(*a2))) - float(np.hypot(*(a1 + a2)))
        if strength > best:
            best, at = strength, k
    return at, best


def _pieces(valid: np.ndarray, kink: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Smooth pieces ``(first, last)`` and the gaps ``(last of one, first of the next)`` between them."""
    T = len(valid)
    pieces: list[tuple[int, int]] = []
    start: int | None = None
    t = 0
    while t < T:
        if not valid[t]:
            if start is not None:
                pieces.append((start, t - 1))
                start = None
            t += 1
            continue
        if kink[t]:
            run_end = t
            while run_end + 1 < T and kink[run_end + 1] and valid[run_end + 1]:
                run_end += 1
            if start is not None:
                pieces.append((start, t))
            start = run_end
            t = run_end + 1
            continue
        if start is None:
            start = t
        t += 1
    if start is not None:
        pieces.append((start, T - 1))
    pieces = [pc for pc in pieces if pc[1] >= pc[0]]
    gaps = [(pieces[i][1], pieces[i + 1][0]) for i in range(len(pieces) - 1)]
    return pieces, gaps


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` of each run of True."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for t, f in enumerate(flags):
        if f and start is None:
            start = t
        elif not f and start is not None:
            out.append((start, t - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out


def measure(clip: Clip, *, scene: Scene | None = None, thresholds: Thresholds | None = None) -> PhysicsReport:
    """Measures the physics of ``clip``: teleports, gravity, bounces, penetration, path error.

    >>> import sorakit
    >>> clip = sorakit.generate(sorakit.Take(frames=48, width=320, height=192))
    >>> r = measure(clip)
    >>> r.passed, abs(r.gravity_error) < 0.02
    (True, True)

    Args:
        clip: the clip to measure.
        scene: what the clip should show; defaults to ``clip.take.scene()``. Without one,
            moving blobs are tracked in pixels and gravity is not judged.
        thresholds: the tolerances; ``Thresholds()`` by default.

    Returns:
        A PhysicsReport; ``verdict`` is one line, ``passed`` is True when nothing is flagged.
    """
    if scene is None:
        scene = clip.take.scene()
    return measure_frames(clip.frames, clip.fps, scene=scene, thresholds=thresholds)


def measure_frames(frames: np.ndarray, fps: int, *, scene: Scene | None = None,
                  thresholds: Thresholds | None = None) -> PhysicsReport:
    """``report`` for bare frames, e.g. a video decoded from elsewhere.

    Args:
        frames: uint8 ``[T, H, W, 3]``.
        fps: frames per second.
        scene: what the frames should show (None: track moving blobs in pixels).
        thresholds: the tolerances; ``Thresholds()`` by default.
    """
    th = thresholds or Thresholds()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise InvalidInput(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}; "
                         "convert with np.asarray(video, np.uint8)")
    if fps < 1:
        raise InvalidInput(f"fps={fps}: must be a positive frame rate; previz clips use 16")
    T, H, W, _ = frames.shape
    bodies: list[_Body] = []
    if scene is None:
        names, tracks, radii, doubts = _track_blobs(frames, th.color)
        for name, track, radius, doubt in zip(names, tracks, radii, doubts):
            bodies.append(_Body(name, "blob", track, np.stack([track[:, 0], H - track[:, 1]], axis=1), radius,
                                radius, doubt))
        return _judge(_Context(None, fps, 1.0, th, (), T, W, H, "px"), bodies, frames[0])
    view = _View(scene, W, H)
    scale = float(view.scale)
    colours: list[np.ndarray] = []
    targets: list[_Target] = []
    shapes = [(b.name, "ball", b.x, b.y, b.radius, math.pi * b.radius**2, b.color) for b in scene.balls]
    shapes += [(b.name, "box", b.x, b.y, 0.5 * math.hypot(b.width, b.height), b.width * b.height, b.color)
               for b in scene.boxes]
    for name, kind, x, y, reach, area, colour in shapes:
        c = _rgb(colour)
        k = next((i for i, o in enumerate(colours) if np.array_equal(o, c)), -1)
        if k < 0:
            colours.append(c)
            k = len(colours) - 1
        sx, sy = view.to_px(x, y)
        targets.append(_Target(name, kind, k, reach * scale, area * scale**2, (float(sx), float(sy))))
    # Static colours: the sky gradient, and each segment from its outline (0.7) to its fill.
    static: list[tuple[np.ndarray, np.ndarray]] = [(_rgb(scene.sky[0]), _rgb(scene.sky[1]))]
    for s in scene.segments:
        if not any(np.array_equal(_rgb(s.color), o[1]) for o in static):
            static.append((_rgb(s.color) * 0.7, _rgb(s.color)))
    tracks = _track_colours(frames, targets, _Palette(colours, static, th.color))
    sim = simulate(scene, frames=T, fps=fps)
    for i, tg in enumerate(targets):
        wx, wy = view.to_world(tracks[i, :, 0], tracks[i, :, 1])
        truth = np.array(sim.positions[tg.name][:T])
        sx, sy = view.to_px(truth[:, 0], truth[:, 1])
        bodies.append(_Body(tg.name, tg.kind, tracks[i], np.stack([wx, wy], axis=1), tg.reach / scale, tg.reach,
                            None, np.stack([sx, sy], axis=1), truth))
    return _judge(_Context(scene, fps, scale, th, sim.events, T, W, H, "m"), bodies, frames[0])


@dataclass(frozen=True)
class _Context:
    """What every judgement needs to know about the clip."""

    scene: Scene | None
    fps: int
    scale: float  # pixels per unit
    th: Thresholds
    events: tuple[Event, ...]
    T: int
    W: int
    H: int
    units: str

    @property
    def diag(self) -> float:
        return math.hypot(self.W, self.H)


def _contacts(ctx: _Context, bodies: list[_Body]) -> None:
    """Fills each body's ``contact`` (touching geometry or a body) and ``trust`` (not crowded)."""
    tol = ctx.th.contact_px / ctx.scale
    for b in bodies:
        contact = np.zeros(ctx.T, bool)
        crowded = np.zeros(ctx.T, bool) if b.doubt is None else b.doubt.copy()
        if ctx.scene is not None:
            gaps, _, _ = _segment_gaps(np.nan_to_num(b.p, nan=1e9), ctx.scene, b.radius)
            if gaps.shape[1]:
                contact |= gaps.min(axis=1) <= tol
            for o in bodies:
                if o is b:
                    continue
                d = np.nan_to_num(np.hypot(*(b.p - o.p).T) - b.radius - o.radius, nan=np.inf)
                contact |= d <= tol
                if b.kind == o.kind == "box":
                    crowded |= d < 0  # bounding circles overlap: parts may hide, look-alikes may swap
                elif b.kind == o.kind == "ball":
                    crowded |= d < -tol  # discs overlap: one hides part of the other
        b.contact = contact
        b.trust = np.isfinite(b.p).all(axis=1) & ~crowded


def _flights(ctx: _Context, b: _Body) -> None:
    """Splits the track into pieces and fits a parabola to every free-flight run of 4+ frames."""
    valid = np.isfinite(b.p).all(axis=1)
    b.pieces, b.gaps = _pieces(valid, _kinks(b.p, ctx.th.kink_px / ctx.scale))
    for first, last in b.pieces:
        free = ~b.contact[first:last + 1] & valid[first:last + 1]
        for s, e in _runs(free):
            s, e = s + first, e + first
            if e - s + 1 < 4:
                continue
            t = np.arange(s, e + 1, dtype=np.float64)
            tc = t - t.mean()
            A = np.stack([np.ones_like(tc), tc, tc**2], axis=1)
            coef, *_ = np.linalg.lstsq(A, b.p[s:e + 1], rcond=None)
            resid = b.p[s:e + 1] - A @ coef
            ay, ax = 2 * coef[2, 1], 2 * coef[2, 0]
            if ctx.scene is None and not (ay < -0.3 * ctx.th.kink_px and abs(ax) < 0.3 * abs(ay)):
                continue  # without a scene to say what touches what, only a clearly falling piece is flight
            b.flights.append(Flight(s, e, float(ay * ctx.fps**2), float(ax * ctx.fps**2),
                                    float(np.sqrt((resid**2).sum(axis=1).mean()) * ctx.scale)))
            b.runs.append((t, b.p[s:e + 1, 1]))


def _gravity(ctx: _Context, b: _Body, clip_fit: tuple[float, float] | None) -> list[Problem]:
    """The body's joint gravity, its error against the scene, and the gravity its local arcs use."""
    fps2 = ctx.fps**2
    fit = _joint_gravity(b.runs)
    g_scene = ctx.scene.gravity if ctx.scene is not None else None
    problems: list[Problem] = []
    if fit is not None:
        b.gravity, b.gravity_sigma = fit[0] * fps2, fit[1] * fps2
        if g_scene:
            b.gravity_error = (b.gravity - g_scene) / abs(g_scene)
            if abs(b.gravity_error) > ctx.th.gravity + 2 * b.gravity_sigma / abs(g_scene):
                problems.append(Problem(
                    "gravity", b.name, b.flights[0].start, b.gravity_error, ctx.th.gravity,
                    f"gravity {b.gravity:.2f} {ctx.units}/s², {100 * b.gravity_error:+.0f}% ({b.name})"))
    # Local arcs in flight bend with the body's own gravity when it is well measured, else the scene's.
    for g in (fit, (g_scene / fps2, 0.0) if g_scene else None, clip_fit):
        if g is not None and abs(g[1]) < 0.1 * abs(g[0]):
            b.g_ref = g[0]
            break
    return problems


def _gaps(ctx: _Context, b: _Body, bodies: list[_Body]) -> list[Problem]:
    """At every break in the track: a teleport if nothing explains the jump, else a bounce."""
    th, scale = ctx.th, ctx.scale
    problems: list[Problem] = []
    piece_at = {pc[1]: pc for pc in b.pieces}
    piece_from = {pc[0]: pc for pc in b.pieces}
    for a_end, b_start in b.gaps:
        ls = max(piece_at[a_end][0], a_end - ARC_POINTS + 1)
        re = min(piece_from[b_start][1], b_start + ARC_POINTS - 1)
        gl = b.g_ref if not b.contact[ls:a_end + 1].any() else None
        gr = b.g_ref if not b.contact[b_start:re + 1].any() else None
        cl = _fit_arc(np.arange(ls - a_end, 1, dtype=np.float64), b.p[ls:a_end + 1], gl)
        cr = _fit_arc(np.arange(0, re - b_start + 1, dtype=np.float64), b.p[b_start:re + 1], gr)
        # Extend both arcs across the gap; where they come closest is the contact, if any.
        span = max(b_start - a_end, 1)
        tau = np.linspace(float(a_end), float(a_end + span), 8 * span + 1)
        pl, pr = _eval(cl, tau - a_end), _eval(cr, tau - b_start)
        sep = np.hypot(*(pl - pr).T)
        j = int(np.argmin(sep))
        miss_px = float(sep[j] * scale)
        jump_px = float(np.hypot(*(b.px[b_start] - b.px[a_end])))
        speed_px = max(float(np.hypot(*_velocity(cl, 0.0))), float(np.hypot(*_velocity(cr, 0.0)))) * scale
        base = max(th.teleport_px, th.teleport_radii * b.reach_px)
        limit = base + 0.25 * speed_px * (span - 1)  # extrapolating over a longer gap is looser
        sides = (bool(b.trust[ls:a_end + 1].all()), bool(b.trust[b_start:re + 1].all()))
        # A ball is drawn over everything static, so one clear side will do; boxes need both.
        trusted = any(sides) if b.kind == "ball" else all(sides)
        lost = not np.isfinite(b.px[a_end:b_start + 1, 0]).all()
        at, unexplained = b_start, 0.0
        if (span == 1 or lost) and miss_px > limit and jump_px > limit:
            # Both: the arcs miss each other, and the body did move that far (a short arc extrapolates poorly).
            at, unexplained = (a_end + 1 if lost else b_start), miss_px
        if not unexplained:
            k, dipole = _dipole(b.px, a_end, b_start)  # inside a run of contacts, whose samples are real
            if dipole > base:
                at, unexplained, limit = k, dipole, base
        if unexplained and trusted:
            b.teleports.append(Teleport(at, unexplained, jump_px, float(limit)))
            problems.append(Problem("teleport", b.name, at, unexplained, float(limit),
                                    f"teleport at frame {at} ({b.name}, {unexplained:.0f} px)"))
            continue
        if b.kind == "box" or a_end - ls < 1 or re - b_start < 1:
            continue  # a box's bounce trades energy with its spin; one sample has no velocity
        bounce = _bounce(ctx, b, bodies, float(tau[j]), 0.5 * (pl[j] + pr[j]),
                         _velocity(cl, float(tau[j]) - a_end), _velocity(cr, float(tau[j]) - b_start))
        if bounce is None:
            continue
        b.bounces.append(bounce)
        if bounce.judged and bounce.ratio > th.energy:
            f = int(round(bounce.frame))
            problems.append(Problem("energy", b.name, f, bounce.ratio, th.energy,
                                    f"energy gain x{bounce.ratio:.2f} at frame {f} ({b.name})"))
    return problems


def _bounce(ctx: _Context, b: _Body, bodies: list[_Body], tc: float, at: np.ndarray, v1: np.ndarray,
            v2: np.ndarray) -> Bounce | None:
    """The contact at time ``tc`` (frames) and place ``at``: what was hit, and the normal speeds."""
    against, normal, static = "", None, False
    reach = max(0.5 * b.radius, 3 * ctx.th.contact_px / ctx.scale)
    if ctx.scene is not None:
        gaps, names, normals = _segment_gaps(at[None], ctx.scene, b.radius)
        if gaps.shape[1] and gaps[0].min() <= reach:
            k = int(np.argmin(gaps[0]))
            against, normal, static = names[k], normals[0, k], True
    if not static:  # another body, by the tracks
        t0 = int(round(tc))
        best = math.inf
        for o in bodies:
            if o is b or not 0 <= t0 < ctx.T or not np.isfinite(o.p[t0]).all():
                continue
            off = at - o.p[t0]
            d = float(np.hypot(*off)) - o.radius - b.radius
            if d < best and d <= max(b.radius, reach):
                best, against, normal = d, o.name, off / max(float(np.hypot(*off)), 1e-9)
    if ctx.scene is None and normal is None:
        dv = v2 - v1  # no scene and no body near: what was hit is unknown, the impulse gives the normal
        if float(np.hypot(*dv)) > 0:
            normal, static = dv / float(np.hypot(*dv)), True
    if normal is None:
        return None  # a kink in mid-air with nothing to push on
    before, after = float(-(v1 @ normal)), float(v2 @ normal)
    if before <= 0:
        return None
    slowest = max(ctx.th.bounce_speed_px, ctx.th.bounce_speed_radii * b.reach_px)
    judged = static and after > 0 and before * ctx.scale >= slowest
    sim_frame = None
    if against:
        near = [e.time * ctx.fps for e in ctx.events if {e.a, e.b} == {b.name, against}]
        if near:
            sim_frame = float(min(near, key=lambda f: abs(f - tc)))
    return Bounce(tc, against, before * ctx.fps, after * ctx.fps, after / before, judged, sim_frame)


def _penetrations(ctx: _Context, b: _Body, bodies: list[_Body]) -> list[Problem]:
    """A ball inside a colliding segment, through one between frames, or inside another ball."""
    if ctx.scene is None or b.kind != "ball":
        return []
    valid = np.isfinite(b.p).all(axis=1)
    gaps, names, _ = _segment_gaps(np.nan_to_num(b.p, nan=1e9), ctx.scene, b.radius)
    others = [o for o in bodies if o.kind == "ball" and o is not b]
    for o in others:
        d = np.hypot(*(b.p - o.p).T) - b.radius - o.radius
        gaps = np.concatenate([gaps, np.nan_to_num(d, nan=np.inf)[:, None]], axis=1)
        names = [*names, o.name]
    if not gaps.shape[1]:
        return []
    limit = max(ctx.th.penetration_px / ctx.scale, ctx.th.penetration_radii * b.radius)
    depth = np.where(valid[:, None], -gaps, -np.inf)
    worst, which = depth.max(axis=1), depth.argmax(axis=1)
    deep = worst > limit
    for t, seg in _tunnels(b.p, ctx.scene):  # through a thin segment between two frames
        deep[t], worst[t], which[t] = True, max(worst[t], 2 * b.radius), names.index(seg)
    problems = []
    for s, e in _runs(deep):
        k = s + int(np.argmax(worst[s:e + 1]))
        pen = Penetration(s, e, names[int(which[k])], float(worst[k] * ctx.scale))
        b.penetrations.append(pen)
        problems.append(Problem("penetration", b.name, s, pen.depth_px, limit * ctx.scale,
                                f"penetration at frame {s} ({b.name}, {pen.depth_px:.0f} px into {pen.against})"))
    return problems


def _trajectory(ctx: _Context, b: _Body) -> list[Problem]:
    """Distance from the simulated path, and frames where the body is gone though it should be seen."""
    if b.sim_px is None:
        return []
    problems = []
    err = np.hypot(*(b.px - b.sim_px).T)
    ok = np.isfinite(err) & b.trust
    if ok.any():
        worst = int(np.nanargmax(np.where(ok, err, np.nan)))
        mean, top = float(err[ok].mean()), float(err[ok].max())
        b.trajectory = TrajectoryError(mean, top, 100 * mean / ctx.diag, 100 * top / ctx.diag, worst, int(ok.sum()))
        if b.trajectory.mean_pct > ctx.th.trajectory:
            problems.append(Problem("trajectory", b.name, worst, b.trajectory.mean_pct, ctx.th.trajectory,
                                    f"trajectory off by {b.trajectory.mean_pct:.1f}% of the diagonal ({b.name})"))
    r = b.reach_px + 2
    x, y = b.sim_px[:, 0], b.sim_px[:, 1]
    in_view = (x > r) & (x < ctx.W - r) & (y > r) & (y < ctx.H - r)
    if in_view.any():
        b.confidence = float((in_view & np.isfinite(b.px).all(axis=1)).sum() / in_view.sum())
    for s, e in _runs(in_view & ~np.isfinite(b.px).all(axis=1)):
        if e - s + 1 >= 3:
            problems.append(Problem("missing", b.name, s, float(e - s + 1), 3.0, f"missing from frame {s} ({b.name})"))
            break
    return problems


def _judge(ctx: _Context, bodies: list[_Body], first_frame: np.ndarray) -> PhysicsReport:
    """Every judgement on every body, and the verdict."""
    _contacts(ctx, bodies)
    for b in bodies:
        _flights(ctx, b)
    clip_fit = _joint_gravity([run for b in bodies for run in b.runs])
    problems: list[Problem] = []
    for b in bodies:
        problems += _gravity(ctx, b, clip_fit)
        problems += _gaps(ctx, b, bodies)
        problems += _penetrations(ctx, b, bodies)
        problems += _trajectory(ctx, b)
    problems.sort(key=lambda p: (-1 if p.frame is None else p.frame, p.kind, p.body))
    g_scene = ctx.scene.gravity if ctx.scene is not None else None
    g_all = s_all = g_err = None
    if clip_fit is not None:
        g_all, s_all = clip_fit[0] * ctx.fps**2, clip_fit[1] * ctx.fps**2
        g_err = (g_all - g_scene) / abs(g_scene) if g_scene else None
    out = tuple(b.finish() for b in bodies)
    return PhysicsReport(out, tuple(problems), _verdict(out, problems, ctx.units, g_all, g_err), not problems,
                         ctx.units, ctx.fps, (ctx.W, ctx.H), g_scene, g_all, s_all, g_err, ctx.th,
                         np.array(first_frame))


def _verdict(bodies: tuple[BodyReport, ...], problems: list[Problem], units: str, g: float | None,
             g_err: float | None) -> str:
    if not bodies:
        return "unmeasured: no moving body found"
    if problems:
        shown = "; ".join(p.text for p in problems[:4])
        more = f"; and {len(problems) - 4} more" if len(problems) > 4 else ""
        return f"{len(problems)} problem{'s' if len(problems) > 1 else ''}: {shown}{more}"
    parts = [f"{len(bodies)} bod{'ies' if len(bodies) > 1 else 'y'} tracked", "no teleports"]
    if units == "m":  # penetration needs the scene's geometry
        parts.append("no penetration")
    if g_err is not None and g is not None:
        parts.append(f"g within {100 * abs(g_err):.1f}% ({g:.2f} m/s²)")
    elif g is not None:
        parts.append(f"g {g:.0f} {units}/s² (scale unknown)")
    ratios = [bn.ratio for b in bodies for bn in b.bounces if bn.judged]
    if ratios:
        parts.append(f"bounces keep <= {max(ratios):.2f} of normal speed")
    errs = [b.trajectory.mean_pct for b in bodies if b.trajectory is not None]
    if errs:
        parts.append(f"path within {max(errs):.1f}% of the diagonal")
    return "physical: " + ", ".join(parts)


# -- plots ------------------------------------------------------------------------------------


def plot_report(r: PhysicsReport) -> Figure:
    """The tracks over the first frame, and height over time with the simulated curve.

    >>> import sorakit
    >>> fig = plot_report(measure(sorakit.generate(sorakit.Take(frames=24, width=160, height=96))))
    >>> len(fig.axes)
    2
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.8), dpi=100, layout="constrained")
    ax_img, ax_h = fig.subplots(1, 2, width_ratios=[1.25, 1])
    ax_img.imshow(r.first_frame)
    ax_img.set_axis_off()
    ax_img.set_title("\n".join(textwrap.wrap(r.verdict, 100)[:3]), fontsize=8, loc="left")
    colours = [f"C{i % 10}" for i in range(len(r.bodies))]
    moving = [b for b in r.bodies if b.kind != "box" or _span_px(b) > 5]
    for b, c in zip(r.bodies, colours):
        ax_img.plot(b.track_px[:, 0], b.track_px[:, 1], "-", color=c, lw=1.2)
        if b.simulated_px is not None and b in moving:
            ax_img.plot(b.simulated_px[:, 0], b.simulated_px[:, 1], ":", color=c, lw=0.8)
    marks = {"teleport": "X", "energy": "^", "penetration": "v", "gravity": "o", "trajectory": "s", "missing": "D"}
    for p in r.problems:
        if p.frame is None:
            continue
        b = r.body(p.body)
        x, y = b.track_px[min(p.frame, len(b.track_px) - 1)]
        if np.isfinite(x) and np.isfinite(y):
            ax_img.plot([x], [y], marks.get(p.kind, "o"), color="red", ms=8, mfc="none", mew=1.5)
    t = np.arange(len(r.bodies[0].track) if r.bodies else 0) / r.fps
    for b, c in zip(r.bodies, colours):
        if b.kind == "box" and b not in moving:
            continue
        ax_h.plot(t, b.track[:, 1], "-", color=c, lw=1.2, label=b.name)
        if b.simulated is not None:
            ax_h.plot(t, b.simulated[:, 1], ":", color=c, lw=1)
    for p in r.problems:
        if p.frame is not None:
            ax_h.axvline(p.frame / r.fps, color="red", lw=0.8, alpha=0.6)
    ax_h.set_xlabel("time (s)")
    ax_h.set_ylabel(f"height ({r.units})")
    ax_h.set_title("tracked (solid) and simulated (dotted)", fontsize=8)
    if 0 < len(r.bodies) <= 8:
        ax_h.legend(fontsize=7, loc="upper right")
    return fig


def _span_px(b: BodyReport) -> float:
    """How far the body's track reaches along x or y, pixels (0 when it was never found)."""
    ok = np.isfinite(b.track_px).all(axis=1)
    return float(np.ptp(b.track_px[ok], axis=0).max()) if ok.any() else 0.0


def report_png(r: PhysicsReport) -> bytes:
    """``plot_report(r)`` rendered to PNG bytes with the Agg canvas (no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = plot_report(r)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
