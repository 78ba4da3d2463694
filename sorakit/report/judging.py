"""The judgements: contacts, flights, gravity, teleports, bounces, penetration, path error, and
the verdict (steps 2 to 7 of the package's docstring)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from sorakit.physics.scene import Scene
from sorakit.physics.simulate import Event, simulate
from sorakit.report.fitting import (ARC_POINTS, _dipole, _eval, _fit_arc, _joint_gravity, _kinks, _pieces, _runs,
                                    _segment_gaps, _tunnels, _velocity)
from sorakit.report.results import (BodyReport, Bounce, Flight, Penetration, PhysicsReport, Problem, Teleport,
                                    Thresholds, TrajectoryError)

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


# Frames in the sliding window that measures gravity locally (a quadratic fit), and the fewest
# window centres in a row that must disagree with the scene before a stretch is called.
LOCAL_WINDOW, LOCAL_RUN = 7, 4


def _local_gravity(ctx: _Context, b: _Body) -> list[Problem]:
    """Stretches of free flight whose local gravity disagrees with the scene's at that time: the frames
    where the fault is, and which way it goes (falls too slowly, floats, rises, falls too fast).

    Each frame's vertical acceleration comes from a quadratic fit over ``LOCAL_WINDOW`` frames around
    it. The noise of that estimate follows from the local fits' own residuals, so a clip with a
    shaky track needs a larger disagreement (4 standard errors, and at least 35 % of g).
    """
    if ctx.scene is None:
        return []
    h = LOCAL_WINDOW // 2
    tc = np.arange(-h, h + 1, dtype=np.float64)
    A = np.stack([np.ones_like(tc), tc, 0.5 * tc**2], axis=1)
    pinv = np.linalg.pinv(A)
    fps2 = ctx.fps**2
    problems = []
    for fl in b.flights:
        y = b.p[fl.start:fl.end + 1, 1]
        if len(y) < LOCAL_WINDOW + LOCAL_RUN - 1:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(y, LOCAL_WINDOW)
        coef = windows @ pinv.T
        resid = windows - coef @ A.T
        sigma_p = math.sqrt(float(np.median((resid**2).mean(axis=1))) * LOCAL_WINDOW / (LOCAL_WINDOW - 3))
        sigma_a = float(np.sqrt((pinv[2] ** 2).sum())) * sigma_p * fps2
        acc = coef[:, 2] * fps2
        frames = np.arange(fl.start + h, fl.end - h + 1)
        expected = np.array([ctx.scene.gravity_at(k / ctx.fps) for k in frames])
        g0 = abs(ctx.scene.gravity) or 9.81
        off = np.abs(acc - expected) > max(0.35 * g0, 4 * sigma_a)
        for a, z in _runs(off):
            if z - a + 1 < LOCAL_RUN:
                continue
            g_local, g_expected = float(acc[a:z + 1].mean()), float(expected[a:z + 1].mean())
            ratio = g_local / g_expected if g_expected else math.inf
            how = ("rises instead of falling" if ratio < 0 else "floats" if ratio < 0.25
                   else "falls too slowly" if ratio < 1 else "falls too fast")
            err = (g_local - g_expected) / (abs(g_expected) or g0)
            problems.append(Problem(
                "gravity", b.name, int(frames[a]), err, ctx.th.gravity,
                f"gravity off in frames {frames[a]}-{frames[z]} ({b.name} {how}: {g_local:.1f} {ctx.units}/s², "
                f"the scene says {g_expected:.2f})"))
    return problems


def _gravity(ctx: _Context, b: _Body, clip_fit: tuple[float, float] | None) -> list[Problem]:
    """The body's joint gravity, its error against the scene, and the gravity its local arcs use.

    Stretches whose local gravity is off are reported with their frames (``_local_gravity``); the
    joint fit is judged when there are none (a gravity wrong all along) and the scene stages no
    gravity change.
    """
    fps2 = ctx.fps**2
    fit = _joint_gravity(b.runs)
    g_scene = ctx.scene.gravity if ctx.scene is not None else None
    problems: list[Problem] = _local_gravity(ctx, b)
    staged = ctx.scene is not None and any(c.kind == "gravity" for c in ctx.scene.changes)
    if fit is not None:
        b.gravity, b.gravity_sigma = fit[0] * fps2, fit[1] * fps2
        if g_scene and not problems and not staged:
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
        if (span == 1 or lost) and miss_px > limit and jump_px > limit and not _dropped(cl, cr, a_end, b_start, scale,
                                                                                       limit):
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


def _dropped(cl: np.ndarray, cr: np.ndarray, a_end: int, b_start: int, scale: float, limit: float) -> bool:
    """Whether the arcs meet once one frame more is allowed between the two samples: a frame missing
    from the video (dropped in the encoding or by the model) moves everything on by one frame's
    motion at once, which is not a teleport."""
    span = b_start - a_end + 1
    tau = np.linspace(0.0, float(span), 8 * span + 1)
    sep = np.hypot(*(_eval(cl, tau) - _eval(cr, tau - span)).T)
    return float(sep.min() * scale) <= limit


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
        if s <= 2 and not np.isfinite(b.px[:s + 1]).all(axis=1).any():
            break  # never found from the start: the tracker could not read it (its confidence says so), no fault
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
    clock = _time_scale(ctx, bodies) if ctx.scene is not None else None
    if clock is not None:  # the clip runs on another clock: that explains its gravity and its path
        problems = [p for p in problems if p.kind not in ("gravity", "trajectory")] + [clock]
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


# Speeds tried for the clip's clock, as multiples of real time, and how much better than real time
# one must match the simulation to be called a time-scale error.
SPEEDS = np.geomspace(0.4, 2.5, 81)
CLOCK_GAIN = 0.5
# The sideways miss in real time (pixels, mean) below which the motion is too vertical to read a clock from.
SIDEWAYS_PX = 2.0


def _time_scale(ctx: _Context, bodies: list[_Body]) -> Problem | None:
    """A clip played at the wrong speed: the tracks match the simulation on another clock.

    The simulation is run four times finer and read at ``speed * t`` for every speed in
    ``SPEEDS``; when the best speed is more than 10 % from 1 and brings the mean distance from
    the simulation below ``CLOCK_GAIN`` of what real time gives, in full and sideways alone, the
    clip is a time-scale error (slow motion or fast forward), not a gravity or a path fault.
    """
    assert ctx.scene is not None
    tracked = [(b, np.isfinite(b.p).all(axis=1) & b.trust) for b in bodies]
    tracked = [(b, ok) for b, ok in tracked if ok.sum() >= 8]
    if not tracked:
        return None
    fine_fps = 4 * ctx.fps
    horizon = int(math.ceil(ctx.T * SPEEDS[-1] * 4)) + 2
    fine = simulate(ctx.scene, frames=horizon, fps=fine_fps)

    def error(speed: float) -> tuple[float, float]:
        """Mean distance from the simulation read at ``speed``, and its sideways part alone."""
        total, sideways, n = 0.0, 0.0, 0
        for b, ok in tracked:
            k = np.nonzero(ok)[0]
            at = k * speed * 4
            path = fine.positions[b.name]
            x = np.interp(at, np.arange(len(path)), path[:, 0])
            y = np.interp(at, np.arange(len(path)), path[:, 1])
            total += float(np.hypot(b.p[k, 0] - x, b.p[k, 1] - y).sum())
            sideways += float(np.abs(b.p[k, 0] - x).sum())
            n += len(k)
        return total / n, sideways / n

    errors = np.array([error(float(s))[0] for s in SPEEDS])
    best = int(np.argmin(errors))
    speed = float(SPEEDS[best])
    real, real_x = error(1.0)
    if abs(speed - 1) <= 0.1 or errors[best] >= CLOCK_GAIN * real:
        return None
    # A fall alone cannot tell a slow clock from weak gravity (both stretch the same parabola); a
    # clock also slows the sideways motion, gravity does not. Without sideways motion to show it,
    # it is left to the gravity judgement.
    _, best_x = error(speed)
    if real_x * ctx.scale < SIDEWAYS_PX or best_x >= CLOCK_GAIN * real_x:
        return None
    shot = ctx.fps / speed
    return Problem("timescale", "", None, speed, 0.1,
                   f"plays at {speed:.2f}x real speed (as if shot at {shot:.0f} fps and played at {ctx.fps}): "
                   f"its motion matches the simulation on that clock ({errors[best] * ctx.scale:.1f} px against "
                   f"{real * ctx.scale:.1f} px in real time)")


# Below this tracking confidence a body's figures are flagged in the verdict as not to be trusted.
CONFIDENT = 0.5


def _verdict(bodies: tuple[BodyReport, ...], problems: list[Problem], units: str, g: float | None,
             g_err: float | None) -> str:
    if not bodies:
        return "unmeasured: no moving body found"
    doubt = [f"{b.name} {b.confidence:.2f}" for b in bodies if b.confidence < CONFIDENT]
    if doubt:
        return _verdict_of(bodies, problems, units, g, g_err) + (
            f" (tracking confidence low: {', '.join(doubt)}; its figures may not hold)")
    return _verdict_of(bodies, problems, units, g, g_err)


def _verdict_of(bodies: tuple[BodyReport, ...], problems: list[Problem], units: str, g: float | None,
                g_err: float | None) -> str:
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
