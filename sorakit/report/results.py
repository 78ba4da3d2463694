"""The physics report's records: thresholds, problems, and what was measured per body and per clip."""

from __future__ import annotations

from sorakit.errors import NotFound

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Thresholds", "Problem", "Flight", "Bounce", "Teleport", "Penetration", "TrajectoryError", "BodyReport",
           "PhysicsReport"]


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
        kind: ``teleport``, ``gravity``, ``energy``, ``penetration``, ``trajectory``, ``missing`` or
            ``timescale`` (the clip plays at another speed than real time; ``body`` is "").
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
        from sorakit.report.plotting import plot_report

        return plot_report(self)

    def png(self) -> bytes:
        """``plot()`` as PNG bytes."""
        from sorakit.report.plotting import report_png

        return report_png(self)

    def _repr_png_(self) -> bytes:
        return self.png()
