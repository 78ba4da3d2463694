"""The report's plot: tracks over the first frame, and height over time against the simulation."""

from __future__ import annotations

import io
import textwrap
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from sorakit.report.results import BodyReport, PhysicsReport

# -- plots ------------------------------------------------------------------------------------


def plot_report(r: PhysicsReport) -> Figure:
    """The tracks over the first frame, and height over time with the simulated curve.

    >>> import sorakit
    >>> fig = plot_report(sorakit.report.measure(sorakit.generate(sorakit.Take(frames=24, width=160, height=96))))
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
