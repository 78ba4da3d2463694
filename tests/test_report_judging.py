"""The report's judgements on tracks given exactly, without rendering or tracking a video: a body's
pixel track is the simulation's (or an edited one), built as ``measure_frames`` builds it, and
``_judge`` says what it finds. Fast, so each rule can be pinned at its edges."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sorakit import preset, simulate
from sorakit.physics import Scene, Simulation
from sorakit.previz import View
from sorakit.report import PhysicsReport, Thresholds
from sorakit.report.fitting import ARC_POINTS
from sorakit.report.judging import (SPEEDS, _Body, _bounce, _contacts, _Context, _dropped, _flights, _gravity, _judge,
                                     _penetrations, _time_scale, _trajectory, _verdict_of)

FPS, W, H = 16, 320, 192


def bodies_of(scene: Scene, sim: Simulation, tracks: dict[str, np.ndarray] | None = None, *,
              view: View | None = None, doubt: dict[str, np.ndarray] | None = None) -> tuple[_Context, list[_Body]]:
    """The context and bodies ``measure_frames`` would judge for ``scene`` in a clip of ``sim.frames``
    frames (``simulate(scene, frames=T)``), each body tracked at ``tracks[name]`` (pixels, y down; the
    simulation's own path where not given), in doubt (the tracker may hold a look-alike) where
    ``doubt[name]`` says."""
    view = view or View(scene, W, H)
    scale = float(view.scale)
    T = len(next(iter(sim.positions.values()))) - 1  # simulate gives the start and T frames after it
    bodies = []
    for b in [*scene.balls, *scene.boxes]:
        truth = np.array(sim.positions[b.name][:T])
        sx, sy = view.to_px(truth[:, 0], truth[:, 1])
        sim_px = np.stack([sx, sy], axis=1)
        px = np.asarray(tracks[b.name], float) if tracks and b.name in tracks else sim_px.copy()
        wx, wy = view.to_world(px[:, 0], px[:, 1])
        reach = b.radius if hasattr(b, "radius") else 0.5 * math.hypot(b.width, b.height)
        bodies.append(_Body(b.name, "ball" if b in scene.balls else "box", px, np.stack([wx, wy], axis=1), reach,
                            reach * scale, (doubt or {}).get(b.name), sim_px, truth))
    ctx = _Context(scene, sim.fps, scale, Thresholds(), sim.events, T, W, H, "m")
    _contacts(ctx, bodies)  # each body's contact and trust, as _judge starts
    return ctx, bodies


def judged(scene: Scene, sim: Simulation, tracks: dict[str, np.ndarray] | None = None) -> PhysicsReport:
    ctx, bodies = bodies_of(scene, sim, tracks)
    return _judge(ctx, bodies, np.zeros((H, W, 3), np.uint8))


def on_clock(scene: Scene, frames: int, speed: float) -> dict[str, np.ndarray]:
    """Every body's pixel track as a clip playing at ``speed`` times real time shows it: frame k is
    the simulation at time ``k * speed / FPS``, read from a run 8 times finer."""
    fine = simulate(scene, frames=int(math.ceil(frames * speed * 8)) + 8, fps=FPS * 8)
    view = View(scene, W, H)
    out = {}
    for name, path in fine.positions.items():
        at = np.arange(frames) * speed * 8
        x = np.interp(at, np.arange(len(path)), np.asarray(path)[:, 0])
        y = np.interp(at, np.arange(len(path)), np.asarray(path)[:, 1])
        sx, sy = view.to_px(x, y)
        out[name] = np.stack([sx, sy], axis=1)
    return out


# -- the clock -----------------------------------------------------------------------------------------
def test_a_clip_played_slow_is_a_time_scale_error_named_with_its_speed_and_frame_rates() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim, on_clock(scene, 48, 0.6))
    clock = _time_scale(ctx, bodies)
    assert clock is not None and clock.kind == "timescale" and clock.body == "" and clock.frame is None
    assert clock.value == pytest.approx(0.6, abs=0.02) and clock.limit == 0.1
    shot = FPS / clock.value
    assert clock.text.startswith(f"plays at {clock.value:.2f}x real speed (as if shot at {shot:.0f} fps and "
                                 f"played at {FPS}): its motion matches the simulation on that clock (")
    near, far = (float(s.split(" px")[0]) for s in clock.text.split("clock (")[1].split(" against "))
    assert near < 0.5 * far and far > 5  # pixels: scaled from the report's units by the view's scale
    real = np.concatenate([np.hypot(*(b.px - b.sim_px).T)[np.isfinite(b.px).all(axis=1) & b.trust] for b in bodies])
    assert far == pytest.approx(float(real.mean()), rel=0.03)  # the mean distance from real time's simulation
    r = judged(scene, sim, on_clock(scene, 48, 0.6))
    assert [p.kind for p in r.problems if p.kind in ("timescale", "gravity", "trajectory")] == ["timescale"]


@pytest.mark.parametrize("speed", [1.6, 2.4])
def test_fast_forward_is_found_up_to_the_fastest_clock_tried(speed: float) -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=40, fps=FPS)
    clock = _time_scale(*bodies_of(scene, sim, on_clock(scene, 40, speed)))
    assert clock is not None and clock.value == pytest.approx(speed, rel=0.03)
    assert f"as if shot at {FPS / clock.value:.0f} fps" in clock.text
    assert SPEEDS[-1] == pytest.approx(2.5)


@pytest.mark.parametrize("speed", [1.0, 1.06, 0.94, 1.08, 0.92])
def test_within_a_tenth_of_real_time_is_no_time_scale_error(speed: float) -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    assert _time_scale(*bodies_of(scene, sim, on_clock(scene, 48, speed))) is None
    # One ball thrown sideways at 1 m/s: 8 % off real time is then seen (the clock fits far better, sideways
    # too, and 10 px from real time), and still not said.
    thrown = dataclasses.replace(scene, balls=(dataclasses.replace(scene.balls[0], vx=1.0, spin=0.0),))
    sim = simulate(thrown, frames=48, fps=FPS)
    assert _time_scale(*bodies_of(thrown, sim, on_clock(thrown, 48, speed))) is None


def test_a_clock_is_read_from_every_body_together() -> None:
    """One body on a slow clock among others in real time: the clip's clock is real time."""
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    slow = on_clock(scene, 48, 0.6)
    names = [b.name for b in scene.balls]
    assert len(names) >= 2
    one = {names[0]: slow[names[0]]}
    assert _time_scale(*bodies_of(scene, sim, one)) is None
    assert _time_scale(*bodies_of(scene, sim, {n: slow[n] for n in names})) is not None


def test_a_fall_with_no_sideways_motion_is_left_to_gravity() -> None:
    """A straight drop on a slow clock looks the same as weaker gravity: no time-scale verdict. Nor
    with a drift whose sideways mismatch in real time averages under 2 px; a faster one shows the clock."""
    scene = preset("bouncing_balls")
    for vx, found in ((0.0, False), (0.05, False), (0.1, False), (0.2, True)):  # 0.1 m/s: 1.7 px; 0.2: 3.3 px
        drop = dataclasses.replace(scene, balls=(dataclasses.replace(scene.balls[0], vx=vx, spin=0.0),))
        sim = simulate(drop, frames=48, fps=FPS)
        clock = _time_scale(*bodies_of(drop, sim, on_clock(drop, 48, 0.6)))
        assert (clock is not None) == found, vx
        assert clock is None or clock.value == pytest.approx(0.6, abs=0.02)


def test_a_body_seen_in_fewer_than_8_frames_gives_no_clock() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=24, fps=FPS)
    fast = on_clock(scene, 24, 2.0)
    for seen, found in ((8, True), (7, False)):
        tracks = {}
        for name, path in fast.items():
            cut = np.full_like(path, np.nan)
            cut[8:8 + seen] = path[8:8 + seen]  # seen in frames 8 to 8 + seen only
            tracks[name] = cut
        clock = _time_scale(*bodies_of(scene, sim, tracks))
        assert (clock is not None) == found, seen
        assert clock is None or clock.value == pytest.approx(2.0, rel=0.03)


def test_frames_the_tracker_doubts_are_not_read_for_the_clock() -> None:
    """Tracks on a slow clock, trusted only in their first 10 frames (where they are still real
    time's): the clock is read from those alone, so there is none to report."""
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    slow, real = on_clock(scene, 48, 0.6), on_clock(scene, 48, 1.0)
    tracks = {n: np.concatenate([real[n][:10], slow[n][10:]]) for n in slow}
    doubted = np.arange(48) >= 10
    assert _time_scale(*bodies_of(scene, sim, tracks)) is not None  # trusted throughout: slow
    assert _time_scale(*bodies_of(scene, sim, tracks, doubt={n: doubted for n in slow})) is None


# -- a dropped frame ---------------------------------------------------------------------------------
def test_two_arcs_meet_once_a_frame_more_is_allowed_between_them() -> None:
    """Arcs as ``_fit_arc`` gives them (rows: position, velocity, half the acceleration; columns x, y),
    each in frames from its own piece's end or start. The piece after the gap runs one frame ahead
    of the one before it: a frame is missing from the video, not a teleport."""
    p0, v, a = np.array([0.0, 10.0]), np.array([2.0, 1.0]), np.array([0.0, -0.1])
    left = np.stack([p0, v, a])  # frames from a_end
    a_end, b_start = 10, 13
    u = b_start - a_end + 1  # the right piece at its start shows the left one a frame later
    right = np.stack([p0 + v * u + a * u**2, v + 2 * a * u, a])
    off = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])  # moved sideways by one unit
    assert _dropped(left, right, a_end, b_start, 1.0, 0.5)
    assert not _dropped(left, right + 3.0 * off, a_end, b_start, 1.0, 0.5)  # 3 units from it
    assert _dropped(left, right + 0.4 * off, a_end, b_start, 1.0, 0.5)  # within the limit
    assert _dropped(left, right + 0.5 * off, a_end, b_start, 1.0, 0.5)  # at the limit itself
    assert not _dropped(left, right + 0.4 * off, a_end, b_start, 2.0, 0.5)  # 0.8 px at 2 px a unit
    on_time = np.stack([p0 + v * (u - 1) + a * (u - 1) ** 2, v + 2 * a * (u - 1), a])  # no frame missing:
    assert not _dropped(left, on_time + 3.0 * off, a_end, b_start, 1.0, 0.5)  # ... and a jump is a jump


# -- a bounce ------------------------------------------------------------------------------------------
def _wood(frames: int = 48) -> tuple[_Context, list[_Body], _Body, float]:
    scene = preset("bouncing_balls")
    ctx, bodies = bodies_of(scene, simulate(scene, frames=frames, fps=FPS))
    wood = next(b for b in bodies if b.name == "wood_ball")
    return ctx, bodies, wood, wood.radius


def test_a_floor_bounce_is_named_timed_measured_and_judged() -> None:
    ctx, bodies, wood, r = _wood()
    down, up = np.array([0.01, -0.2]), np.array([0.01, 0.12])  # units a frame
    hit = _bounce(ctx, wood, bodies, 20.0, np.array([3.0, r]), down, up)
    assert hit is not None and hit.frame == 20.0 and hit.against == "floor"
    assert hit.before == pytest.approx(0.2 * FPS) and hit.after == pytest.approx(0.12 * FPS)
    assert hit.ratio == pytest.approx(0.6) and hit.judged
    floor = sorted(e.time * FPS for e in ctx.events if {e.a, e.b} == {"wood_ball", "floor"})
    assert len(floor) >= 3 and hit.sim_frame == pytest.approx(min(floor, key=lambda f: abs(f - 20.0)))
    assert hit.sim_frame != floor[0]  # the nearest one, not the first
    later = _bounce(ctx, wood, bodies, floor[-1] + 0.2, np.array([3.0, r]), down, up)
    assert later is not None and later.sim_frame == pytest.approx(floor[-1])


def test_a_bounce_is_judged_only_from_a_fast_enough_approach_and_a_real_rebound() -> None:
    ctx, bodies, wood, r = _wood()
    at = np.array([3.0, r])
    wood.reach_px = 10.0  # the slowest judged approach: max(4 px, half the body's 10 px reach) = 5 px a frame
    assert ctx.th.bounce_speed_px == 4.0 and ctx.th.bounce_speed_radii == 0.5 and ctx.scale == 40.0
    edge = _bounce(ctx, wood, bodies, 20.0, at, np.array([0.0, -0.125]), np.array([0.0, 0.1]))  # 5 px a frame
    slow = _bounce(ctx, wood, bodies, 20.0, at, np.array([0.0, -0.1125]), np.array([0.0, 0.1]))  # 4.5
    stuck = _bounce(ctx, wood, bodies, 20.0, at, np.array([0.0, -0.2]), np.array([0.0, 0.0]))  # no rebound
    assert edge is not None and edge.judged
    assert slow is not None and not slow.judged
    assert stuck is not None and not stuck.judged and stuck.after == 0.0
    assert _bounce(ctx, wood, bodies, 20.0, at, np.array([0.3, 0.0]), np.array([0.3, 0.1])) is None  # not approaching
    assert _bounce(ctx, wood, bodies, 20.0, at, np.array([0.0, 0.1]), np.array([0.0, 0.2])) is None  # leaving


def test_the_floor_is_touched_within_its_reach_of_the_ball() -> None:
    ctx, bodies, wood, r = _wood()
    reach = max(0.5 * r, 3 * ctx.th.contact_px / ctx.scale)
    assert reach == pytest.approx(0.15)  # 3 contact pixels at 40 px a unit, above half the wood ball's radius
    down, up = np.array([0.0, -0.2]), np.array([0.0, 0.12])
    near = _bounce(ctx, wood, bodies, 5.0, np.array([3.0, r + 0.14]), down, up)
    assert near is not None and near.against == "floor"
    assert _bounce(ctx, wood, bodies, 5.0, np.array([3.0, r + 0.17]), down, up) is None  # a kink in mid-air


def test_a_bounce_off_another_body_is_found_from_its_track_and_not_judged() -> None:
    ctx, bodies, _, _ = _wood()
    basket = next(b for b in bodies if b.name == "basketball_ball")
    plastic = next(b for b in bodies if b.name == "plastic_ball")
    assert bodies.index(basket) < bodies.index(plastic)  # the one bouncing comes first in the list
    n = np.array([0.6, 0.8])
    t0 = 5
    at = plastic.p[t0] + (plastic.radius + basket.radius + 0.05) * n  # in mid-air, beside the plastic ball
    hit = _bounce(ctx, basket, bodies, t0 + 0.3, at, -0.2 * n, 0.1 * n)
    assert hit is not None and hit.against == "plastic_ball" and not hit.judged  # a moving body: not judged
    assert hit.before == pytest.approx(0.2 * FPS) and hit.after == pytest.approx(0.1 * FPS)
    pair = [e.time * FPS for e in ctx.events if {e.a, e.b} == {"basketball_ball", "plastic_ball"}]
    assert pair and hit.sim_frame == pytest.approx(min(pair, key=lambda f: abs(f - t0 - 0.3)))
    far = plastic.p[t0] + (plastic.radius + 2 * basket.radius + 0.05) * n  # further than its radius away
    assert _bounce(ctx, basket, bodies, t0 + 0.3, far, -0.2 * n, 0.1 * n) is None
    first = plastic.p[0] + (plastic.radius + basket.radius + 0.05) * n
    assert _bounce(ctx, basket, bodies, 0.2, first, -0.2 * n, 0.1 * n) is not None  # frame 0 counts
    assert _bounce(ctx, basket, bodies, ctx.T - 0.4, first, -0.2 * n, 0.1 * n) is None  # past the clip: none


def test_without_a_scene_the_kick_gives_the_normal_and_nothing_is_named() -> None:
    th = Thresholds()
    ctx = _Context(None, FPS, 1.0, th, (), 24, W, H, "px")
    track = np.tile([100.0, 50.0], (24, 1))
    blob = _Body("blob0", "blob", track, track.copy(), 6.0, 6.0)
    hit = _bounce(ctx, blob, [blob], 10.0, np.array([100.0, 50.0]), np.array([0.0, -0.3]), np.array([0.0, 0.2]))
    assert hit is not None and hit.against == "" and hit.sim_frame is None
    assert hit.before == pytest.approx(0.3 * FPS) and hit.ratio == pytest.approx(0.2 / 0.3)
    kick = _bounce(ctx, blob, [blob], 10.0, np.array([100.0, 50.0]), np.array([0.0, -6.0]), np.array([0.0, 4.0]))
    assert kick is not None and kick.judged  # a static unknown, approached at 6 px a frame, left at 4
    assert _bounce(ctx, blob, [blob], 10.0, np.array([100.0, 50.0]), np.array([1.0, 0.0]), np.array([1.0, 0.0])) is None


def test_arcs_that_meet_at_one_instant_are_sampled_finely_enough_to_meet() -> None:
    """The arcs cross at one instant only, half a frame after the first piece ends: the search over
    the gap samples every eighth of a frame from its start, so it finds them meeting there."""
    p0, v, a = np.array([0.0, 10.0]), np.array([2.0, 1.0]), np.array([0.0, -0.1])
    left = np.stack([p0, v, a])
    a_end, b_start = 10, 13
    span = b_start - a_end + 1
    d = np.array([2.0, 0.0])  # left(tau) - right(tau - span) = (tau - 0.5) d: zero at tau = 0.5 only
    right = np.stack([p0 + v * span + a * span**2 - (span - 0.5) * d, v + 2 * a * span - d, a])
    assert _dropped(left, right, a_end, b_start, 1.0, 0.01)
    assert not _dropped(left, right + np.array([[0.0, 0.1], [0, 0], [0, 0]]), a_end, b_start, 1.0, 0.01)


def test_a_wall_is_named_when_it_is_the_nearest_surface() -> None:
    ctx, bodies, wood, r = _wood()
    hit = _bounce(ctx, wood, bodies, 6.0, np.array([r + 0.05, 3.0]), np.array([-0.2, 0.0]), np.array([0.12, 0.0]))
    assert hit is not None and hit.against == "left_wall" and hit.judged


# -- what the report keeps of each body ---------------------------------------------------------------
def test_each_body_s_report_carries_what_was_judged_of_it() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    wood = next(b for b in bodies if b.name == "wood_ball")
    jumped = wood.px.copy()
    jumped[30:] += np.array([40.0, 0.0])  # 1 unit sideways from frame 30 on: a teleport
    ctx, bodies = bodies_of(scene, sim, {"wood_ball": jumped})
    r = _judge(ctx, bodies, np.zeros((H, W, 3), np.uint8))
    body = next(b for b in r.bodies if b.name == "wood_ball")
    given = next(b for b in bodies if b.name == "wood_ball")
    assert body.kind == "ball" and body.found == 1.0
    assert isinstance(body.flights, tuple) and body.flights and body.flights == tuple(given.flights)
    assert body.gravity == given.gravity and body.gravity is not None and body.gravity < 0
    assert body.gravity_sigma == given.gravity_sigma and body.gravity_sigma is not None and body.gravity_sigma > 0
    assert body.gravity_error == given.gravity_error and body.gravity_error is not None
    assert isinstance(body.teleports, tuple) and [t.frame for t in body.teleports] == [30]
    assert [p.frame for p in r.problems if p.kind == "teleport"] == [30]
    np.testing.assert_array_equal(body.simulated_px, given.sim_px)
    np.testing.assert_array_equal(body.track_px, jumped)
    np.testing.assert_array_equal(body.track, given.p)
    np.testing.assert_array_equal(body.simulated, given.sim)
    np.testing.assert_array_equal(body.contact, given.contact)
    np.testing.assert_array_equal(body.judged, given.trust)
    assert isinstance(body.penetrations, tuple) and isinstance(body.bounces, tuple)


# -- free flight ---------------------------------------------------------------------------------------
def test_free_flight_is_fitted_on_every_run_of_four_frames_or_more() -> None:
    scene = preset("bouncing_balls")
    ctx, bodies = bodies_of(scene, simulate(scene, frames=48, fps=FPS))
    b = bodies[0]
    t = np.arange(48) / FPS
    b.p = np.stack([2.0 + 0.5 * t, 40.0 + 1.0 * t - 0.5 * 9.81 * t**2], axis=1)  # one parabola, in metres
    b.contact = np.ones(48, bool)  # touching something except in three runs: 4 frames, 3 frames, 11 frames
    for first, last in ((5, 8), (20, 22), (30, 40)):
        b.contact[first:last + 1] = False
    b.p[12] = np.nan  # lost at frame 12: the track is two pieces, the flights numbered in the clip's frames
    _flights(ctx, b)
    assert [(f.start, f.end) for f in b.flights] == [(5, 8), (30, 40)]  # the 3-frame run is too short to fit
    for f in b.flights:
        assert f.gravity == pytest.approx(-9.81, abs=1e-6) and f.sideways == pytest.approx(0.0, abs=1e-6)
        assert f.residual_px == pytest.approx(0.0, abs=1e-6)
    assert [run[0][0] for run in b.runs] == [5.0, 30.0]  # each run's frames and heights, for the joint fit
    np.testing.assert_array_equal(b.runs[1][1], b.p[30:41, 1])
    b.p[30:41, 1] += 0.005 * (-1.0) ** np.arange(11)  # ±5 mm frame to frame, which no parabola follows (no kink)
    b.flights, b.runs = [], []
    _flights(ctx, b)
    assert b.flights[0].residual_px == pytest.approx(0.0, abs=1e-6)
    assert b.flights[1].residual_px == pytest.approx(0.005 * ctx.scale, rel=0.15)  # pixels: metres times the scale


# -- the path against the simulation -----------------------------------------------------------------
def test_the_path_error_is_the_mean_and_worst_distance_from_the_simulation() -> None:
    ctx, _, b, _ = _wood()
    diag = math.hypot(W, H)
    b.px = b.sim_px + np.array([3.0, 4.0])  # 5 px off everywhere...
    b.px[17] = b.sim_px[17] + np.array([0.0, 25.0])  # ... and 25 px at frame 17
    assert _trajectory(ctx, b) == []  # (5 * 47 + 25) / 48 px is under 3 % of the diagonal
    tr = b.trajectory
    assert tr is not None and tr.worst_frame == 17 and tr.frames == 48
    assert tr.mean_px == pytest.approx((5 * 47 + 25) / 48) and tr.max_px == pytest.approx(25.0)
    assert tr.mean_pct == pytest.approx(100 * tr.mean_px / diag) and tr.max_pct == pytest.approx(100 * 25 / diag)
    b.trust[17] = False  # a frame the tracker doubts is not counted
    _trajectory(ctx, b)
    assert b.trajectory is not None and b.trajectory.frames == 47 and b.trajectory.max_px == pytest.approx(5.0)
    far = 0.031 * diag  # 3.1 % of the diagonal, all along
    b.px = b.sim_px + np.array([far, 0.0])
    b.trust[:] = True
    [p] = _trajectory(ctx, b)
    assert (p.kind, p.body, p.frame, p.limit) == ("trajectory", "wood_ball", 0, 3.0)
    assert p.value == pytest.approx(3.1) and p.text == "trajectory off by 3.1% of the diagonal (wood_ball)"


def test_a_body_gone_for_three_frames_in_view_is_missing() -> None:
    ctx, _, b, _ = _wood()
    assert np.all((b.sim_px[:, 0] > b.reach_px + 2) & (b.sim_px[:, 1] > b.reach_px + 2))  # in view throughout
    b.px[20:23] = np.nan  # 3 frames
    [p] = _trajectory(ctx, b)
    assert (p.kind, p.body, p.frame, p.value, p.limit) == ("missing", "wood_ball", 20, 3.0, 3.0)
    assert p.text == "missing from frame 20 (wood_ball)"
    assert b.confidence == pytest.approx(45 / 48)
    b.px = b.sim_px.copy()
    b.px[20:22] = np.nan  # 2 frames: a blink, not a fault
    assert _trajectory(ctx, b) == [] and b.confidence == pytest.approx(46 / 48)
    b.px = b.sim_px.copy()
    b.px[:6] = np.nan  # never found at the start: the tracker could not read it, not a fault
    assert [p.kind for p in _trajectory(ctx, b)] == []
    b.px = b.sim_px.copy()
    b.px[1:5] = np.nan  # found at frame 0, then gone for 4 frames: missing from frame 1
    assert [(p.kind, p.frame) for p in _trajectory(ctx, b)] == [("missing", 1)]
    b.px[30:34] = np.nan  # gone again later: the first time is the one reported
    assert [(p.kind, p.frame) for p in _trajectory(ctx, b)] == [("missing", 1)]
    b.px = b.sim_px.copy()
    b.px[:6] = np.nan
    b.px[30:34] = np.nan  # never read from the start: its later gaps are no fault either
    assert _trajectory(ctx, b) == []
    b.sim_px = b.sim_px.copy()
    b.sim_px[:2] = np.array([-50.0, 50.0])  # out of view in frames 0 and 1, then not found until frame 6
    b.px = b.sim_px.copy()
    b.px[:6] = np.nan
    assert _trajectory(ctx, b) == []


def test_a_body_out_of_view_is_not_missing_and_not_counted_in_its_confidence() -> None:
    ctx, _, b, _ = _wood()
    b.sim_px = b.sim_px.copy()
    b.sim_px[30:] = np.array([-50.0, 50.0])  # the simulation puts it off the left edge from frame 30
    b.px[30:] = np.nan
    assert _trajectory(ctx, b) == [] and b.confidence == 1.0
    assert (b.finish().found, b.finish().confidence) == (30 / 48, 1.0)  # found in 30 frames, all it was in view
    edge = b.reach_px + 2  # within its reach and 2 px of an edge is not in view either
    b.sim_px[30:] = np.array([edge, 50.0])
    assert _trajectory(ctx, b) == [] and b.confidence == 1.0
    b.sim_px[30:] = np.array([edge + 0.5, 50.0])
    assert [p.kind for p in _trajectory(ctx, b)] == ["missing"] and b.confidence == pytest.approx(30 / 48)
    for x, y, seen in ((W - edge, 50.0, False), (W - edge - 0.5, 50.0, True), (100.0, edge, False),
                       (100.0, H - edge, False), (100.0, H - edge - 0.5, True)):
        b.sim_px[30:] = np.array([x, y])
        assert bool(_trajectory(ctx, b)) == seen, (x, y)


def test_a_body_not_found_after_frame_2_of_its_view_is_missing() -> None:
    ctx, _, b, _ = _wood()
    b.sim_px = b.sim_px.copy()
    b.sim_px[:3] = np.array([-50.0, 50.0])  # out of view in frames 0 to 2
    b.px = b.sim_px.copy()
    b.px[:6] = np.nan  # and not found in frames 3 to 5 where it should be seen
    assert [(p.kind, p.frame) for p in _trajectory(ctx, b)] == [("missing", 3)]


# -- penetration -------------------------------------------------------------------------------------
def _placed(b: _Body, ctx: _Context, frames: slice, world: np.ndarray, view: View) -> None:
    """Puts body ``b`` at ``world`` (metres) in ``frames``, in both its unit and pixel tracks."""
    b.p[frames] = world
    x, y = view.to_px(world[0], world[1])
    b.px[frames] = np.array([x, y])


def test_a_ball_inside_the_floor_is_a_penetration_as_deep_as_it_goes() -> None:
    scene = preset("bouncing_balls")
    view = View(scene, W, H)
    ctx, bodies = bodies_of(scene, simulate(scene, frames=48, fps=FPS), view=view)
    b = next(o for o in bodies if o.name == "wood_ball")
    limit = max(ctx.th.penetration_px / ctx.scale, ctx.th.penetration_radii * b.radius)
    assert limit == pytest.approx(0.25 * b.radius)  # a quarter of the radius: 2.3 px, over the 2 px floor
    _placed(b, ctx, slice(30, 34), np.array([4.46, b.radius - 0.1]), view)  # 0.1 m (4 px) into the floor
    _placed(b, ctx, slice(32, 33), np.array([4.46, b.radius - 0.2]), view)  # 8 px at its deepest
    [p] = _penetrations(ctx, b, bodies)
    assert (p.kind, p.body, p.frame) == ("penetration", "wood_ball", 30)
    assert p.value == pytest.approx(8.0) and p.limit == pytest.approx(limit * ctx.scale)
    assert p.text == "penetration at frame 30 (wood_ball, 8 px into floor)"
    [pen] = b.penetrations
    assert (pen.frame, pen.end, pen.against) == (30, 33, "floor") and pen.depth_px == pytest.approx(8.0)
    b.penetrations = []
    _placed(b, ctx, slice(30, 34), np.array([4.46, b.radius - 0.05]), view)  # 2 px in: under the limit
    assert _penetrations(ctx, b, bodies) == []


def test_a_ball_inside_another_ball_is_a_penetration_into_it() -> None:
    scene = preset("bouncing_balls")
    view = View(scene, W, H)
    ctx, bodies = bodies_of(scene, simulate(scene, frames=48, fps=FPS), view=view)
    a = next(o for o in bodies if o.name == "wood_ball")
    o = next(o for o in bodies if o.name == "metal_ball")
    centre = o.p[10] + np.array([a.radius + o.radius - 0.15, 0.0])  # 0.15 m (6 px) into it, in mid-air
    _placed(a, ctx, slice(10, 11), centre, view)
    [p] = _penetrations(ctx, a, bodies)
    assert p.frame == 10 and p.text == "penetration at frame 10 (wood_ball, 6 px into metal_ball)"
    assert _penetrations(ctx, o, [o]) == []  # alone, nothing to be inside


# -- the verdict -------------------------------------------------------------------------------------
def test_a_clean_clip_s_verdict_lists_what_was_checked() -> None:
    scene = preset("bouncing_balls")
    r = judged(scene, simulate(scene, frames=48, fps=FPS))
    assert r.passed and r.problems == ()
    judged_ratios = [bn.ratio for b in r.bodies for bn in b.bounces if bn.judged]
    paths = [b.trajectory.mean_pct for b in r.bodies if b.trajectory is not None]
    assert judged_ratios and paths and r.gravity_error is not None and r.gravity is not None
    assert (r.units, r.fps, r.size, r.scene_gravity) == ("m", FPS, (W, H), scene.gravity)
    assert r.gravity == pytest.approx(scene.gravity, rel=0.02) and r.gravity_error == pytest.approx(
        (r.gravity - scene.gravity) / abs(scene.gravity))
    assert r.gravity_sigma is not None and 0 < r.gravity_sigma < 0.02 * abs(scene.gravity)
    assert r.thresholds == Thresholds() and r.first_frame.shape == (H, W, 3)
    assert r.verdict == (f"physical: 6 bodies tracked, no teleports, no penetration, "
                         f"g within {100 * abs(r.gravity_error):.1f}% ({r.gravity:.2f} m/s²), "
                         f"bounces keep <= {max(judged_ratios):.2f} of normal speed, "
                         f"path within {max(paths):.1f}% of the diagonal")


def test_the_verdict_names_up_to_four_problems_and_counts_the_rest() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    tracks = {}
    for k, b in enumerate(bodies):  # every ball jumps sideways at its own frame
        px = b.sim_px.copy()
        px[20 + 2 * k:] += np.array([40.0, 0.0])
        tracks[b.name] = px
    r = judged(scene, sim, tracks)
    jumps = r.problems_of("teleport")
    assert len(jumps) == 6 and not r.passed
    n = len(r.problems)
    assert r.verdict == f"{n} problems: " + "; ".join(p.text for p in r.problems[:4]) + f"; and {n - 4} more"
    lifted = bodies[0].sim_px - np.array([0.0, 0.035 * math.hypot(W, H)])  # 3.5 % of the diagonal higher all along
    one = judged(scene, sim, {bodies[0].name: lifted})
    assert [p.kind for p in one.problems] == ["trajectory"]
    assert one.verdict == f"1 problem: {one.problems[0].text}"
    two = bodies[0].sim_px.copy()
    two[20:30] += np.array([40.0, 0.0])  # there and back
    back = judged(scene, sim, {bodies[0].name: two})
    assert [p.kind for p in back.problems] == ["teleport", "teleport"]
    assert back.verdict == "2 problems: " + "; ".join(p.text for p in back.problems)
    other = bodies[5].sim_px.copy()
    other[20:30] += np.array([0.0, -40.0])  # up a unit and back down
    four = judged(scene, sim, {bodies[0].name: two, bodies[5].name: other})
    assert [p.kind for p in four.problems] == ["teleport"] * 4
    assert four.verdict == "4 problems: " + "; ".join(p.text for p in four.problems)  # all four, nothing more
    lifted5 = bodies[1].sim_px - np.array([0.0, 0.035 * math.hypot(W, H)])
    five = judged(scene, sim, {bodies[0].name: two, bodies[5].name: other, bodies[1].name: lifted5})
    assert len(five.problems) == 5
    assert five.verdict == "5 problems: " + "; ".join(p.text for p in five.problems[:4]) + "; and 1 more"
    pair = dataclasses.replace(scene, balls=scene.balls[:2])
    assert judged(pair, simulate(pair, frames=48, fps=FPS)).verdict.startswith("physical: 2 bodies tracked, ")
    solo = dataclasses.replace(scene, balls=scene.balls[:1])
    assert judged(solo, simulate(solo, frames=48, fps=FPS)).verdict.startswith("physical: 1 body tracked, ")


def test_a_clean_verdict_gives_the_gravity_error_to_a_tenth_of_a_percent() -> None:
    scene = preset("bouncing_balls")
    r = judged(scene, simulate(scene, frames=48, fps=FPS))
    verdict = _verdict_of(r.bodies, [], "m", -10.5, (-10.5 + 9.81) / 9.81)
    assert verdict.startswith("physical: 6 bodies tracked, no teleports, no penetration, "
                              "g within 7.0% (-10.50 m/s²), ")  # 7.03 %
    assert "g -10 px/s² (scale unknown)" in _verdict_of(r.bodies, [], "px", -10.5, None)
    assert "no penetration" not in _verdict_of(r.bodies, [], "px", -10.5, None)


def test_a_body_tracked_with_low_confidence_is_flagged_in_the_verdict() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    px = bodies[0].sim_px.copy()
    px[:26] = np.nan  # found in 22 of 48 frames it should be seen in: 0.46
    r = judged(scene, sim, {bodies[0].name: px})
    low = r.bodies[0]
    assert low.confidence == pytest.approx(22 / 48) and low.found == pytest.approx(22 / 48)
    assert r.verdict.startswith("physical: 6 bodies tracked, no teleports, no penetration, g within ")
    assert r.verdict.endswith(f" (tracking confidence low: {low.name} 0.46; its figures may not hold)")
    other = bodies[1].sim_px.copy()
    other[:30] = np.nan
    two = judged(scene, sim, {bodies[0].name: px, bodies[1].name: other})
    assert two.verdict.endswith(f" (tracking confidence low: {bodies[0].name} 0.46, {bodies[1].name} 0.38; "
                                "its figures may not hold)")
    from sorakit.report.judging import _verdict
    from sorakit.report.results import Problem

    jump = Problem("teleport", low.name, 30, 40.0, 4.0, f"teleport at frame 30 ({low.name}, 40 px)")
    assert _verdict(r.bodies, [jump], "m", None, None) == (f"1 problem: teleport at frame 30 ({low.name}, 40 px) "
                                                           f"(tracking confidence low: {low.name} 0.46; its figures "
                                                           "may not hold)")  # the problems, then the doubt
    px[:24] = np.nan
    px[24:26] = bodies[0].sim_px[24:26]  # 24 of 48: 0.5 is confident enough
    assert "tracking confidence low" not in judged(scene, sim, {bodies[0].name: px}).verdict


def test_without_a_scene_gravity_is_in_pixels_and_nothing_is_said_of_penetration() -> None:
    th = Thresholds()
    ctx = _Context(None, FPS, 1.0, th, (), 24, W, H, "px")
    t = np.arange(24) / FPS
    track = np.stack([40 + 30 * t, 20 + 10 * t + 0.5 * 400.0 * t**2], axis=1)  # falling at 400 px/s², y down
    blob = _Body("blob0", "blob", track, np.stack([track[:, 0], H - track[:, 1]], axis=1), 6.0, 6.0)
    r = _judge(ctx, [blob], np.zeros((H, W, 3), np.uint8))
    assert r.passed and r.gravity == pytest.approx(-400.0, rel=1e-6)
    assert r.verdict == "physical: 1 body tracked, no teleports, g -400 px/s² (scale unknown)"
    nobody = _judge(ctx, [], np.zeros((H, W, 3), np.uint8))
    assert nobody.verdict == "unmeasured: no moving body found"


@pytest.mark.parametrize("ay, ax, flight", [(-1.0, 0.0, True), (-0.4, 0.0, False), (1.0, 0.0, False),
                                            (-1.0, 0.25, True), (-1.0, 0.35, False), (-1.0, -0.35, False),
                                            (-2.0, 0.5, True)])
def test_without_a_scene_only_a_clearly_falling_piece_is_flight(ay: float, ax: float, flight: bool) -> None:
    """No scene says what touches what: a piece is flight only when it falls faster than 0.3 kink
    (0.45 px a frame², y up) and sideways pull stays under 0.3 of that."""
    ctx = _Context(None, FPS, 1.0, Thresholds(), (), 20, W, H, "px")
    t = np.arange(20, dtype=np.float64)
    p = np.stack([100 + 2 * t + 0.5 * ax * t**2, 150 + 3 * t + 0.5 * ay * t**2], axis=1)  # px, y up
    b = _Body("blob0", "blob", np.stack([p[:, 0], H - p[:, 1]], axis=1), p, 6.0, 6.0)
    _contacts(ctx, [b])
    _flights(ctx, b)
    assert [(f.start, f.end) for f in b.flights] == ([(0, 19)] if flight else [])
    if flight:
        f = b.flights[0]
        assert f.gravity == pytest.approx(ay * FPS**2) and f.sideways == pytest.approx(ax * FPS**2)


# -- gravity -----------------------------------------------------------------------------------------
def _falling(g_after: float, change_at: int = 20, frames: int = 48, g_before: float = -9.81) -> tuple[_Context, _Body]:
    """A ball in free flight all clip long (nothing touched), its gravity ``g_before`` and, from frame
    ``change_at`` on, ``g_after`` (m/s², y up): position and speed carry on across the change."""
    scene = preset("bouncing_balls")
    ctx, bodies = bodies_of(scene, simulate(scene, frames=frames, fps=FPS))
    b = bodies[0]
    t = np.arange(frames) / FPS
    tc = change_at / FPS
    y0, vy = 60.0, 2.0
    y_c, v_c = y0 + vy * tc + 0.5 * g_before * tc**2, vy + g_before * tc  # where and how fast at the change
    y = np.where(t < tc, y0 + vy * t + 0.5 * g_before * t**2, y_c + v_c * (t - tc) + 0.5 * g_after * (t - tc) ** 2)
    b.p = np.stack([3.0 + 0.5 * t, y], axis=1)
    b.contact = np.zeros(frames, bool)
    b.trust = np.ones(frames, bool)
    _flights(ctx, b)
    return ctx, b


@pytest.mark.parametrize("g, how", [(-4.0, "falls too slowly"), (-5.5, "falls too slowly"), (-1.0, "floats"),
                                    (3.0, "rises instead of falling"), (-15.0, "falls too fast"),
                                    (-20.0, "falls too fast")])
def test_a_stretch_of_flight_under_other_gravity_is_named_with_its_frames_and_which_way(g: float, how: str) -> None:
    ctx, b = _falling(g)
    assert [(f.start, f.end) for f in b.flights] == [(0, 47)]
    [p] = _gravity(ctx, b, None)
    assert (p.kind, p.body, p.limit) == ("gravity", b.name, ctx.th.gravity)
    first, last = (int(x) for x in p.text.split("gravity off in frames ")[1].split(" ")[0].split("-"))
    assert p.frame == first and 17 <= first <= 23 and last == 47 - 3  # from the change (give or take half a window) to the last window
    measured = float(p.text.split(": ")[1].split(" m/s²")[0])
    assert p.text == (f"gravity off in frames {first}-{last} ({b.name} {how}: {measured:.1f} m/s², "
                      "the scene says -9.81)")
    assert measured == pytest.approx(g, abs=0.35 * 9.81) and p.value == pytest.approx((measured + 9.81) / 9.81, abs=0.02)
    assert b.gravity_error is None  # the joint fit is not judged beside a stretch that is off


def test_gravity_wrong_all_along_is_judged_from_the_joint_fit() -> None:
    ctx, b = _falling(-11.5, change_at=0)  # 17 % too strong: over the 10 %, under the local stretches' 35 %
    [p] = _gravity(ctx, b, None)
    assert b.gravity == pytest.approx(-11.5, rel=1e-6) and b.gravity_error == pytest.approx((-11.5 + 9.81) / 9.81)
    assert (p.kind, p.body, p.frame, p.value, p.limit) == ("gravity", b.name, 0, b.gravity_error, ctx.th.gravity)
    assert p.text == f"gravity -11.50 m/s², -17% ({b.name})"  # stronger pull: a more negative figure
    ctx, b = _falling(-9.81 * 1.174, change_at=0)  # 17.4 % too strong: said in whole percent
    [p] = _gravity(ctx, b, None)
    assert p.text == f"gravity -11.52 m/s², -17% ({b.name})" and p.value == pytest.approx(-0.174)
    ctx, b = _falling(-10.5, change_at=0)  # 7 % off: within the 10 %
    assert _gravity(ctx, b, None) == [] and b.gravity_error == pytest.approx((-10.5 + 9.81) / 9.81)
    assert b.g_ref == pytest.approx(-10.5 / FPS**2)  # its own, well measured, bends its arcs


def test_the_joint_fit_is_judged_past_its_threshold_by_twice_its_standard_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The joint fit's error is a problem once it is over the threshold by more than twice the fit's
    standard error (in the scene's gravity): figures in powers of two, so the edges are exact."""
    from sorakit.report import judging

    ctx, b = _falling(-10.0, change_at=0)
    assert ctx.scene is not None
    ctx = dataclasses.replace(ctx, scene=dataclasses.replace(ctx.scene, gravity=-8.0), th=Thresholds(gravity=0.25))

    def judged_at(g: float, sigma: float) -> list[str]:  # m/s² the joint fit gives, and its standard error
        monkeypatch.setattr(judging, "_joint_gravity", lambda runs: (g / FPS**2, sigma / FPS**2))
        return [p.kind for p in _gravity(ctx, b, None)]

    assert judged_at(-10.0, 0.0) == [] and b.gravity_error == -0.25  # at the threshold exactly: within it
    assert judged_at(-10.0625, 0.0) == ["gravity"]
    assert judged_at(-10.75, 0.25) == ["gravity"]  # 0.34375 off: over 0.25 + 2 * 0.25 / 8
    assert judged_at(-10.5, 0.25) == []  # 0.3125 off: exactly 0.25 + 2 * 0.25 / 8
    assert judged_at(-6.0, 0.0) == [] and judged_at(-5.5, 0.0) == ["gravity"]  # too weak, the same


# -- teleports ---------------------------------------------------------------------------------------
def _jumping(offset: np.ndarray, at: int = 20, lost: int = 0, doubt: dict[str, np.ndarray] | None = None
             ) -> tuple[PhysicsReport, _Body]:
    """The wood ball's simulated track, moved by ``offset`` px from frame ``at`` on, with ``lost``
    frames not found before it."""
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    wood = next(b for b in bodies if b.name == "wood_ball")
    px = wood.sim_px.copy()
    px[at:] += offset
    px[at - lost:at] = np.nan
    ctx, bodies = bodies_of(scene, sim, {"wood_ball": px}, doubt=doubt)
    r = _judge(ctx, bodies, np.zeros((H, W, 3), np.uint8))
    return r, next(b for b in bodies if b.name == "wood_ball")


def test_a_jump_in_flight_is_a_teleport_with_its_miss_jump_and_limit() -> None:
    r, b = _jumping(np.array([0.0, -40.0]), at=16)  # a unit straight up at frame 16, between bounces
    [tp] = b.teleports
    assert tp.frame == 16 and tp.jump_px == pytest.approx(float(np.hypot(*(b.px[16] - b.px[15]))))
    assert tp.miss_px == pytest.approx(40.0, abs=0.05)  # the two arcs, each exact, run 40 px apart
    assert tp.limit_px == pytest.approx(max(4.0, 0.75 * b.reach_px))
    [p] = [q for q in r.problems if q.kind == "teleport"]
    assert (p.body, p.frame, p.value, p.limit) == ("wood_ball", 16, tp.miss_px, tp.limit_px)
    assert p.text == "teleport at frame 16 (wood_ball, 40 px)"
    small, _ = _jumping(np.array([0.0, -0.5 * max(4.0, 0.75 * b.reach_px)]))  # half the limit: no teleport
    assert not small.problems_of("teleport")


def test_a_jump_across_frames_the_tracker_lost_is_placed_where_it_lost_the_body() -> None:
    r, b = _jumping(np.array([0.0, -60.0]), at=20, lost=2)  # not found in frames 18 and 19
    [tp] = b.teleports
    assert tp.frame == 18  # the first frame not found
    # over a longer gap the arcs are extrapolated further: the limit grows with the body's speed
    assert tp.limit_px > max(4.0, 0.75 * b.reach_px)


def test_a_jump_seen_only_while_the_tracker_doubts_the_ball_is_not_a_teleport() -> None:
    doubted = np.zeros(48, bool)
    doubted[14:27] = True  # a look-alike may be held on both sides of the jump
    r, _ = _jumping(np.array([0.0, -40.0]), doubt={"wood_ball": doubted})
    assert not r.problems_of("teleport")
    one_side = np.zeros(48, bool)
    one_side[20:27] = True  # clear before it: a ball is drawn over everything, one clear side will do
    r, b = _jumping(np.array([0.0, -40.0]), doubt={"wood_ball": one_side})
    assert [p.frame for p in r.problems_of("teleport")] == [20]
    (a_end, b_start), = [g for g in b.gaps if g[0] < 20 <= g[1]]
    re = min(next(e for s, e in b.pieces if s == b_start), b_start + ARC_POINTS - 1)  # the arc after it ends here
    last = np.zeros(48, bool)
    last[14:a_end + 1] = True  # doubted before it, and after it only in the last frame of the arc fitted there
    last[re] = True
    r, _ = _jumping(np.array([0.0, -40.0]), doubt={"wood_ball": last})
    assert not r.problems_of("teleport")


# -- contacts and trust ------------------------------------------------------------------------------
def test_contact_is_touching_within_two_pixels_and_overlapping_balls_are_not_trusted() -> None:
    scene = preset("bouncing_balls")
    ctx, bodies = bodies_of(scene, simulate(scene, frames=48, fps=FPS))
    a, o = bodies[3], bodies[4]  # the wood and metal balls
    tol = ctx.th.contact_px / ctx.scale
    for b in bodies:  # everyone far apart, high up, apart from what each test puts where
        b.p[:] = np.array([1.0 + bodies.index(b), 4.0])
    a.p[5] = np.array([3.0, a.radius + 0.9 * tol])  # over the floor, within 2 px of it
    a.p[6] = np.array([3.0, a.radius + 1.1 * tol])  # just beyond
    o.p[7] = a.p[7] + np.array([a.radius + o.radius + 0.9 * tol, 0.0])  # touching the metal ball
    o.p[8] = a.p[8] + np.array([a.radius + o.radius - 0.9 * tol, 0.0])  # overlapping it, within 2 px
    o.p[9] = a.p[9] + np.array([a.radius + o.radius - 1.1 * tol, 0.0])  # overlapping it by more
    o.p[10] = a.p[10] + np.array([a.radius + o.radius + 1.5 * tol, 0.0])  # 3 px apart: not touching
    a.doubt = np.zeros(48, bool)
    a.doubt[12] = True  # the tracker's own doubt
    a.p[14] = np.nan  # not found
    _contacts(ctx, bodies)
    assert list(np.flatnonzero(a.contact)) == [5, 7, 8, 9]
    assert list(np.flatnonzero(~a.trust)) == [9, 12, 14]  # discs overlapping: one hides part of the other
    assert list(np.flatnonzero(~o.trust)) == [9]


def test_the_clock_comes_first_among_the_problems_then_frame_order() -> None:
    scene = preset("bouncing_balls")
    sim = simulate(scene, frames=48, fps=FPS)
    tracks = on_clock(scene, 48, 0.6)
    name = scene.balls[2].name
    tracks[name] = tracks[name].copy()
    tracks[name][30:] += np.array([0.0, -40.0])  # and one ball jumps a unit up at frame 30
    r = judged(scene, sim, tracks)
    kinds = [p.kind for p in r.problems]
    assert kinds[0] == "timescale" and "teleport" in kinds  # the clock has no frame: it comes first
    framed = [p.frame for p in r.problems[1:]]
    assert framed == sorted(framed)  # ... the rest by frame


def test_with_one_body_the_clip_s_gravity_is_that_body_s_fit_with_its_standard_error() -> None:
    scene = dataclasses.replace(preset("bouncing_balls"), balls=preset("bouncing_balls").balls[3:4])
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    noisy = bodies[0].sim_px + np.random.default_rng(0).normal(0.0, 0.3, (48, 2))  # a tracker's 0.3 px jitter
    r = judged(scene, sim, {bodies[0].name: noisy})
    b = r.bodies[0]
    assert b.gravity_sigma is not None and b.gravity_sigma > 1e-3  # the jitter shows in the fit's spread
    assert r.gravity == pytest.approx(b.gravity) and r.gravity_sigma == pytest.approx(b.gravity_sigma)


def test_a_staged_gravity_change_is_not_judged_as_a_wrong_gravity() -> None:
    """The scene switches gravity to a third of Earth's at 0.3 s: the joint fit over the clip is off
    Earth's, but the scene says so; only the local judgement, against the scene's schedule, applies."""
    base = dataclasses.replace(preset("bouncing_balls"), balls=preset("bouncing_balls").balls[3:4])
    from sorakit.physics.scene import Change

    staged = dataclasses.replace(base, changes=(Change(0.3, "gravity", value=-3.3),))
    sim = simulate(staged, frames=48, fps=FPS)
    r = judged(staged, sim)
    assert not r.problems_of("gravity"), r.verdict
    plain = dataclasses.replace(staged, changes=())  # the same track, judged against a scene without the change
    ctx, bodies = bodies_of(plain, sim)
    for b in bodies:
        _flights(ctx, b)
    problems = [p for b in bodies for p in _gravity(ctx, b, None) if p.kind == "gravity"]
    assert problems  # ... which would be a gravity problem


def test_a_box_s_impacts_are_not_judged_as_bounces() -> None:
    """A box trades energy with its spin at an impact: its kinks are teleport-checked, never bounces."""
    scene = preset("dominoes")
    sim = simulate(scene, frames=48, fps=FPS)
    ctx, bodies = bodies_of(scene, sim)
    r = _judge(ctx, bodies, np.zeros((H, W, 3), np.uint8))
    boxes = [b for b in bodies if b.kind == "box"]
    assert boxes and any(b.gaps for b in boxes)  # their tracks do break at impacts...
    assert all(b.bounces == [] for b in boxes)  # ... and no bounce is measured there
    assert any(b.bounces for b in bodies if b.kind == "ball")  # the ball's are
    assert not r.problems_of("energy")


def test_local_gravity_is_read_on_flights_of_ten_frames_or_more_each() -> None:
    """Seven-frame windows, four of them in a row: a flight needs 10 frames to be read locally."""
    for first, last, read in ((0, 9, True), (0, 8, False)):
        ctx, b = _falling(-1.0, change_at=0)  # floating all along
        b.contact[:] = True
        b.contact[first:last + 1] = False
        b.flights, b.runs = [], []
        _flights(ctx, b)
        local = [p for p in _gravity(ctx, b, None) if p.text.startswith("gravity off in frames")]
        assert bool(local) == read, (first, last)
    ctx, b = _falling(-1.0, change_at=0)
    b.contact[:] = True
    b.contact[0:6] = False  # a short flight first (6 frames), then a long one
    b.contact[20:41] = False
    b.flights, b.runs = [], []
    _flights(ctx, b)
    assert [(f.start, f.end) for f in b.flights] == [(0, 5), (20, 40)]
    local = [p for p in _gravity(ctx, b, None) if p.text.startswith("gravity off in frames")]
    assert [p.frame for p in local] == [23]  # the long one is read, from its first full window


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_shaky_track_needs_a_stretch_off_by_four_standard_errors_of_its_local_fits(seed: int) -> None:
    """Under a weak gravity (1 m/s², so the 35 % floor is 0.35) a fall at 0.4 from frame 20 is off by
    0.6: found on a clean track. A shake of 4 mm (0.16 px, far under a kink) makes each seven-frame
    fit's acceleration uncertain by about 0.22 m/s², and four of those are more than 0.6: not called."""
    from sorakit.report.judging import _local_gravity

    def stretches(shake: float) -> list[int | None]:
        ctx, b = _falling(-0.4, g_before=-1.0)
        assert ctx.scene is not None
        ctx = dataclasses.replace(ctx, scene=dataclasses.replace(ctx.scene, gravity=-1.0))
        b.p[:, 1] += np.random.default_rng(seed).normal(0.0, shake, len(b.p))
        b.flights, b.runs = [], []
        _flights(ctx, b)
        assert [(f.start, f.end) for f in b.flights] == [(0, 47)]
        return [p.frame for p in _local_gravity(ctx, b)]

    assert stretches(0.0) == [21]
    assert stretches(0.004) == []


def test_only_balls_found_in_a_frame_are_judged_for_penetration() -> None:
    scene = preset("dominoes")
    view = View(scene, W, H)
    ctx, bodies = bodies_of(scene, simulate(scene, frames=48, fps=FPS), view=view)
    box = next(b for b in bodies if b.kind == "box")
    _placed(box, ctx, slice(10, 14), np.array([box.p[10, 0], -0.2]), view)  # its centre below the floor's top
    assert _penetrations(ctx, box, bodies) == []  # a box's outline is not a disc: not judged
    ball = next(b for b in bodies if b.kind == "ball")
    ball.p[20:24] = np.nan  # not found: nothing is known of where it is
    ball.px[20:24] = np.nan
    assert all(p.frame not in range(20, 24) for p in _penetrations(ctx, ball, bodies))
