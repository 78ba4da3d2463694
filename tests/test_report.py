"""The physics report: clean previz clips pass, and every planted fault is found where it was planted.

Faults are planted in the simulation (its positions edited, then drawn again with ``render``), so
the frames are what a video model that got the physics wrong would show, and the Take still names
the scene the clip was meant to follow.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import sorakit
from sorakit import PhysicsConfig, Scene, Take, preset, simulate
from sorakit.clip import Clip, Provenance
from sorakit.physics import Simulation
from sorakit.previz import render
from sorakit.report import PhysicsReport, Problem, Thresholds, plot_report, measure, measure_frames, report_png

FPS, FRAMES, WIDTH, HEIGHT = 16, 80, 320, 192


def clip_of(sim: Simulation, scene: Scene | None = None, *, trail: bool = True,
            size: tuple[int, int] = (WIDTH, HEIGHT)) -> Clip:
    """The simulation drawn by the previz, as a Clip whose Take names ``scene`` (the plan)."""
    scene = scene or sim.scene
    frames = render(sim, *size, trail=trail).frames
    take = Take(frames=sim.frames, fps=sim.fps, width=size[0], height=size[1], physics=PhysicsConfig(scene=scene))
    silence = np.zeros((2, int(round(sim.duration * 8000))), np.float32)
    return Clip(frames, sim.fps, silence, 8000, take, Provenance.now("previz", "previz", 0))


def edited(sim: Simulation, name: str, path: np.ndarray) -> Simulation:
    """``sim`` with body ``name`` moved along ``path`` (``[frames + 1, 2]`` metres)."""
    positions = dict(sim.positions)
    positions[name] = np.asarray(path, np.float64)
    return dataclasses.replace(sim, positions=positions)


def ballistic(p0: np.ndarray, v0: np.ndarray, g: float, frames: int, *, floor: float | None = None,
              gains: tuple[float, ...] = (), restitution: float = 0.4) -> np.ndarray:
    """Positions at each frame of a ball thrown from ``p0`` at ``v0``, bouncing on ``y = floor``.

    The k-th bounce sends the ball up at ``gains[k]`` times its landing speed (then ``restitution``);
    a ball too slow to leave the floor rests on it.
    """
    sub = 64
    dt = 1.0 / (FPS * sub)
    p, v = np.array(p0, np.float64), np.array(v0, np.float64)
    out = np.empty((frames, 2))
    bounces = 0
    for i in range(frames * sub):
        if i % sub == 0:
            out[i // sub] = p
        v[1] += g * dt
        p += v * dt
        if floor is not None and p[1] < floor and v[1] < 0:
            p[1] = floor
            e = gains[bounces] if bounces < len(gains) else restitution
            v[1] = -v[1] * e if -v[1] * e > 0.3 else 0.0
            bounces += 1
    return out


def problems(r: PhysicsReport, kind: str, body: str) -> list[Problem]:
    return [p for p in r.problems if p.kind == kind and p.body == body]


def assert_flagged(r: PhysicsReport, kind: str, body: str, frame: int | None) -> Problem:
    found = problems(r, kind, body)
    assert found, f"no {kind} flagged on {body}: {r.verdict}"
    if frame is None:
        return found[0]
    best = min(found, key=lambda p: abs((p.frame or -99) - frame))
    assert best.frame is not None and abs(best.frame - frame) <= 2, f"{kind} on {body} at {best.frame}, planted {frame}"
    assert not r.passed and kind in r.verdict
    return best


# -- clean clips pass -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean() -> dict[str, PhysicsReport]:
    out = {}
    for name in ("basketball", "bouncing_balls", "dominoes", "ramp"):
        sim = simulate(preset(name), frames=FRAMES, fps=FPS)
        out[name] = measure(clip_of(sim))
    return out


@pytest.mark.parametrize("name", ["basketball", "bouncing_balls", "dominoes", "ramp"])
def test_clean_previz_passes(clean: dict[str, PhysicsReport], name: str) -> None:
    r = clean[name]
    assert r.passed, r.verdict
    assert r.verdict.startswith("physical:")
    for b in r.bodies:
        if b.kind == "ball":
            assert b.found == 1.0
            assert b.trajectory is not None and b.trajectory.mean_pct < 0.2 and b.trajectory.max_px < 2.0
            assert not b.teleports and not b.penetrations


def test_dominoes_ball_is_measured_and_crowded_boxes_are_not_judged(clean: dict[str, PhysicsReport]) -> None:
    r = clean["dominoes"]
    ball = r.body("ball")
    assert ball.judged.all() and ball.trajectory is not None and ball.trajectory.frames == FRAMES
    boxes = [b for b in r.bodies if b.kind == "box"]
    assert len(boxes) == 14 and all(b.found > 0.9 for b in boxes)
    assert not any(b.judged.any() for b in boxes)  # a row of look-alikes, leaning on each other


@pytest.mark.parametrize("name", ["basketball", "bouncing_balls", "ramp"])
def test_clean_gravity_is_measured(clean: dict[str, PhysicsReport], name: str) -> None:
    r = clean[name]
    assert r.units == "m" and r.scene_gravity == -9.81
    assert r.gravity is not None and r.gravity_error is not None
    assert abs(r.gravity_error) < 0.01, r.gravity
    for b in r.bodies:
        if b.kind == "ball":
            assert b.gravity_error is not None and abs(b.gravity_error) < 0.02, (b.name, b.gravity)
            assert all(f.residual_px < 0.5 for f in b.flights)


def test_clean_bounces_lose_energy_at_the_simulated_times(clean: dict[str, PhysicsReport]) -> None:
    ball = clean["basketball"].body("ball")
    judged = [b for b in ball.bounces if b.judged]
    assert [b.against for b in judged][:3] == ["backboard", "floor", "floor"]
    for b in judged:
        assert 0.5 < b.ratio < 0.85
        assert b.sim_frame is not None and abs(b.frame - b.sim_frame) < 0.5


def test_a_clip_made_by_generate_passes() -> None:
    clip = sorakit.generate(Take(frames=FRAMES, width=WIDTH, height=HEIGHT, physics=PhysicsConfig(scene="basketball")))
    r = measure(clip)
    assert r.passed, r.verdict
    assert r.body("ball").found == 1.0


# -- planted faults are found -----------------------------------------------------------------


def test_teleport_in_flight() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    path = sim.positions["ball"].copy()
    path[40:] += (0.0, 1.0)
    r = measure(clip_of(edited(sim, "ball", path), sim.scene))
    p = assert_flagged(r, "teleport", "ball", 40)
    assert p.value > 20  # px: the arcs on either side miss each other by about the shift (35 px)
    assert len(problems(r, "teleport", "ball")) == 1


def test_teleport_of_a_resting_ball_among_others() -> None:
    sim = simulate(preset("bouncing_balls"), frames=FRAMES, fps=FPS)
    path = sim.positions["glass_ball"].copy()
    path[60:] += (-0.6, 0.0)
    r = measure(clip_of(edited(sim, "glass_ball", path), sim.scene))
    assert_flagged(r, "teleport", "glass_ball", 60)
    assert {p.body for p in r.problems} == {"glass_ball"}


@pytest.mark.parametrize("gravity", [-3.0, -14.0])
def test_wrong_gravity(gravity: float) -> None:
    scene = preset("bouncing_balls")
    sim = simulate(dataclasses.replace(scene, gravity=gravity), frames=FRAMES, fps=FPS)
    r = measure(clip_of(sim, scene))
    assert r.gravity is not None and r.gravity == pytest.approx(gravity, rel=0.03)
    for ball in scene.balls:
        p = assert_flagged(r, "gravity", ball.name, None)
        assert p.value == pytest.approx((gravity - scene.gravity) / abs(scene.gravity), abs=0.05)
    assert not r.problems_of("teleport") and not r.problems_of("energy")


def test_energy_added_at_a_bounce() -> None:
    sim = simulate(preset("bouncing_balls"), frames=FRAMES, fps=FPS)
    ball = next(b for b in sim.scene.balls if b.name == "wood_ball")
    # From frame 19 (just before its second landing, at 20.3) it rebounds at 1.3x its landing speed.
    k = 19
    path = sim.positions["wood_ball"].copy()
    path[k:] = ballistic(path[k], sim.velocities["wood_ball"][k], -9.81, FRAMES + 1 - k, floor=ball.radius,
                         gains=(1.3,))
    r = measure(clip_of(edited(sim, "wood_ball", path), sim.scene))
    p = assert_flagged(r, "energy", "wood_ball", 20)
    assert p.value == pytest.approx(1.3, abs=0.1)
    assert [(q.kind, q.body) for q in r.problems] == [("energy", "wood_ball")]


def test_energy_added_on_a_moving_bounce() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    k = 64  # it lands at 65.7 moving right; send it back up 20% faster than it came down
    path = sim.positions["ball"].copy()
    path[k:] = ballistic(path[k], sim.velocities["ball"][k], -9.81, FRAMES + 1 - k, floor=0.12, gains=(1.2,))
    r = measure(clip_of(edited(sim, "ball", path), sim.scene))
    p = assert_flagged(r, "energy", "ball", 65)
    assert p.value == pytest.approx(1.2, abs=0.1)
    assert not r.problems_of("teleport")


def test_ball_falls_through_the_floor() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    k = 27  # the last frame before the first floor contact (27.7): it never bounces
    path = sim.positions["ball"].copy()
    path[k:] = ballistic(path[k], sim.velocities["ball"][k], -9.81, FRAMES + 1 - k)
    r = measure(clip_of(edited(sim, "ball", path), sim.scene))
    p = assert_flagged(r, "penetration", "ball", 28)
    assert r.body("ball").penetrations[0].against == "floor"
    assert p.value > 5
    assert not r.problems_of("teleport")


def test_ball_sinks_into_the_floor_at_rest() -> None:
    sim = simulate(preset("bouncing_balls"), frames=FRAMES, fps=FPS)
    path = sim.positions["metal_ball"].copy()
    path[50:, 1] -= np.arange(FRAMES + 1 - 50) * 1.0 / FPS  # sinks at 1 m/s
    r = measure(clip_of(edited(sim, "metal_ball", path), sim.scene))
    assert_flagged(r, "penetration", "metal_ball", 50)
    assert {p.body for p in r.problems} == {"metal_ball"}


def test_ball_vanishes_for_a_while() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    path = sim.positions["ball"].copy()
    path[30:40] = (4.5, 50.0)  # far above the view: not drawn for ten frames, then back on its path
    r = measure(clip_of(edited(sim, "ball", path), sim.scene))
    p = assert_flagged(r, "missing", "ball", 30)
    assert p.value == 10
    assert not r.problems_of("teleport"), r.verdict  # it comes back where its motion says it should


# -- without a scene, sizes, options, the plot ----------------------------------------------------


def without_scene(clip: Clip) -> Clip:
    return dataclasses.replace(clip, take=clip.take.replace(physics=PhysicsConfig(scene=None)))


def test_without_a_scene_blobs_are_tracked_in_pixels() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    r = measure(without_scene(clip_of(sim)))
    assert r.units == "px" and r.scene_gravity is None and r.gravity_error is None
    assert [b.name for b in r.bodies] == ["blob0"]
    px_per_m = min(WIDTH / 9.0, HEIGHT / 5.2)  # the basketball view is 9 m x 5.2 m
    assert r.gravity is not None and r.gravity / px_per_m == pytest.approx(-9.81, rel=0.02)
    truth = np.stack([px_per_m * sim.positions["ball"][:FRAMES, 0],
                      HEIGHT / 2 + px_per_m * (2.2 - sim.positions["ball"][:FRAMES, 1])], axis=1)
    assert np.nanmax(np.hypot(*(r.bodies[0].track_px - truth).T)) < 1.0
    assert r.passed, r.verdict


def test_teleport_without_a_scene() -> None:
    sim = simulate(preset("basketball"), frames=FRAMES, fps=FPS)
    path = sim.positions["ball"].copy()
    path[40:] += (0.0, 1.0)
    clip = clip_of(edited(sim, "ball", path))
    r = measure(without_scene(clip))
    assert [(p.body, p.frame) for p in r.problems_of("teleport")] == [("blob0", 40)]
    px_per_m = min(WIDTH / 9.0, HEIGHT / 5.2)
    assert r.problems_of("teleport")[0].value == pytest.approx(px_per_m, rel=0.02)  # the 1 m jump, in pixels
    assert r.size == (WIDTH, HEIGHT) and np.array_equal(r.first_frame, clip.frames[0])  # the plot's backdrop


def test_the_plot_backdrop_is_the_first_frame() -> None:
    sim = simulate(preset("ramp"), frames=24, fps=FPS)
    frames = render(sim, WIDTH, HEIGHT).frames
    assert np.array_equal(measure_frames(frames, FPS, scene=sim.scene).first_frame, frames[0])


def test_bodies_in_shades_of_the_floor_and_the_sky_are_tracked() -> None:
    """The floor (from its outline's 0.7 shade to its fill) and the sky gradient are static colours: a
    ball painted a lighter shade of the floor, or a darker one of the sky, is told apart from them."""
    scene = Scene.room("shades").add(sorakit.Ball("dusty", 2.0, 1.0, 0.3, "rubber", vx=1.0, color="#9f9283"),
                                     sorakit.Ball("pale", 5.5, 3.0, 0.3, "rubber", vx=-1.0, color="#c5d2dc"))
    sim = simulate(scene, frames=48, fps=FPS)
    r = measure_frames(render(sim, WIDTH, HEIGHT).frames, FPS, scene=scene)
    assert r.passed, r.verdict
    assert min(b.found for b in r.bodies) > 0.95


def test_bodies_of_one_colour_are_each_followed_by_it() -> None:
    """Two balls in one paint share a palette colour and are each tracked by it (exact on the previz),
    beside a box whose bounding circle and area are its own (1 m by 0.4 m)."""
    scene = Scene.room("twins").add(sorakit.Ball("left", 1.5, 2.0, 0.25, "rubber", vx=1.0, color="#e4572e"),
                                    sorakit.Ball("right", 6.0, 3.0, 0.25, "rubber", vx=-1.0, color="#e4572e"),
                                    sorakit.Box("crate", 4.0, 0.2, 1.0, 0.4, color="#2e86e4"))
    sim = simulate(scene, frames=48, fps=FPS)
    r = measure_frames(render(sim, WIDTH, HEIGHT).frames, FPS, scene=scene)
    assert r.passed, r.verdict
    for b in r.bodies:
        error = np.nanmax(np.hypot(*(b.track - sim.positions[b.name][:48]).T))
        assert b.found > 0.95 and error < 0.02, (b.name, b.found, error)  # metres


def test_a_box_drawn_in_another_colour_is_followed_by_its_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan says blue, the video drew it green: the crate is followed from where the simulation puts
    it, by its appearance, with a seed the size of the box's inner square."""
    import math

    import sorakit.report as report

    def scene(crate: str) -> Scene:
        return Scene.room("recoloured").add(sorakit.Ball("ball", 1.5, 2.0, 0.25, "rubber", vx=1.0),
                                            sorakit.Box("crate", 5.0, 2.5, 1.0, 0.4, vx=-0.5, color=crate))
    seeds: list[object] = []
    look = report.track_appearance

    def recorded(frames: np.ndarray, seeds_: list[tuple[float, float, float]], *a: object) -> object:
        seeds.append(seeds_)
        return look(frames, seeds_, *a)  # type: ignore[arg-type]

    monkeypatch.setattr(report, "track_appearance", recorded)
    drawn = simulate(scene("#3fa34d"), frames=48, fps=FPS)
    r = measure_frames(render(drawn, WIDTH, HEIGHT).frames, FPS, scene=scene("#2e86e4"))
    px_per_m = min(WIDTH / 8.0, HEIGHT / 4.6)  # the room's view: 8 m by 4.6 m
    assert seeds == [[(pytest.approx(200.0), pytest.approx(72.0), pytest.approx(0.5 * math.sqrt(0.4) * px_per_m))]]
    assert r.passed, r.verdict
    crate = r.body("crate")
    error = np.nanmax(np.hypot(*(crate.track - drawn.positions["crate"][:48]).T))
    assert crate.found > 0.9 and error < 0.06, (crate.found, error)


class _Identity:
    """A view whose pixels are its metres, for the previz-likeness rule alone."""

    def to_px(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(x, float), np.asarray(y, float)


@pytest.mark.parametrize("x, y, counted", [
    (50, 50, True), (10, 50, False), (10.5, 50, True), (90, 50, False), (89.5, 50, True), (95, 50, False),
    (50, 10, False), (50, 90, False), (50, 95, False), (-5, 50, False), (50, -5, False)])
def test_the_previz_likeness_counts_only_frames_inside_the_view(x: float, y: float, counted: bool) -> None:
    """A body whose start the colour tracker missed is judged by its look unless it started out of view
    (within its reach of an edge, or beyond it)."""
    from sorakit.report import _looks_like_previz

    path = np.array([[x, y]] * 3, float)
    lost = np.full((3, 2), np.nan)
    assert _looks_like_previz(lost, path, _Identity(), 10.0, 100, 100) is (not counted)  # type: ignore[arg-type]
    assert _looks_like_previz(path.copy(), path, _Identity(), 10.0, 100, 100)  # type: ignore[arg-type]


def test_the_previz_likeness_needs_one_start_frame_found() -> None:
    from sorakit.report import _looks_like_previz

    path = np.array([[50, 50], [50, 50], [95, 70]], float)  # in the third frame it is outside the view
    once = np.array([[np.nan, np.nan], [50, 50], [np.nan, np.nan]])
    assert _looks_like_previz(once, path, _Identity(), 10.0, 100, 100)  # type: ignore[arg-type]
    outside = np.array([[np.nan, np.nan], [np.nan, np.nan], [95, 70]])  # found only where it is out of view
    assert not _looks_like_previz(outside, path, _Identity(), 10.0, 100, 100)  # type: ignore[arg-type]
    assert not _looks_like_previz(np.full((3, 2), np.nan), path, _Identity(), 10.0, 100, 100)  # type: ignore[arg-type]
    half = np.array([[50, np.nan], [np.nan, 50], [np.nan, np.nan]])  # one coordinate is not a position
    assert not _looks_like_previz(half, path, _Identity(), 10.0, 100, 100)  # type: ignore[arg-type]


def test_other_sizes_and_no_trail() -> None:
    sim = simulate(preset("bouncing_balls"), frames=48, fps=FPS)
    r = measure(clip_of(sim, trail=False, size=(416, 240)))
    assert r.passed, r.verdict
    assert r.size == (416, 240) and r.gravity_error is not None and abs(r.gravity_error) < 0.01


def test_thresholds_and_bare_frames() -> None:
    sim = simulate(preset("basketball"), frames=40, fps=FPS)
    frames = render(sim, WIDTH, HEIGHT).frames
    strict = measure_frames(frames, FPS, scene=sim.scene, thresholds=Thresholds(energy=0.5))
    assert {p.kind for p in strict.problems} == {"energy"}  # a real bounce keeps ~0.75 of its speed
    assert measure_frames(frames, FPS, scene=sim.scene).passed
    # measure() hands its thresholds on too
    clip = clip_of(sim, trail=False, size=(WIDTH, HEIGHT))
    assert {p.kind for p in measure(clip, thresholds=Thresholds(energy=0.5)).problems} == {"energy"}
    assert measure(clip).passed
    for bad in (frames.astype(np.float32), frames[..., 0], frames[..., :2], frames[:0]):  # dtype, rank, channels, none
        with pytest.raises(ValueError, match=r"frames must be uint8 \[T, H, W, 3\], got"):
            measure_frames(bad, FPS, scene=sim.scene)
    with pytest.raises(ValueError, match="fps=0: must be a positive frame rate"):
        measure_frames(frames, 0, scene=sim.scene)
    assert measure_frames(frames[:8], 1, scene=sim.scene).size == (WIDTH, HEIGHT)  # 1 fps is a frame rate
    still = measure_frames(frames[:1], FPS, scene=sim.scene)  # one frame is a clip too: where, not how it moves
    assert still.passed and still.body("ball").found == 1.0


def test_plot_and_png(clean: dict[str, PhysicsReport]) -> None:
    from matplotlib.figure import Figure

    fig = plot_report(clean["basketball"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    png = report_png(clean["bouncing_balls"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert clean["ramp"].png()[:4] == b"\x89PNG"


def test_scene_argument_overrides_the_take() -> None:
    sim = simulate(preset("ramp"), frames=32, fps=FPS)
    r = measure(without_scene(clip_of(sim)), scene=sim.scene)
    assert r.units == "m" and [b.name for b in r.bodies] == ["ball", "crate"]
    assert np.isfinite(r.body("ball").track).all()
    with pytest.raises(sorakit.NotFound, match="crate"):
        r.body("domino0")


def test_a_ball_passing_through_a_thin_wall_between_two_frames() -> None:
    """Fast enough that no frame shows it overlapping the glass: only the tunnel check can see it."""
    glass = Scene.room("glass_room").add(sorakit.Segment("glass", 4.0, 0.0, 4.0, 3.0, thickness=0.05),
                                         sorakit.Ball("ball", 1.2, 2.0, 0.1, "rubber", vx=6.0, vy=1.0))
    sim = simulate(glass, frames=FRAMES, fps=FPS)
    path = ballistic(np.array([1.2, 2.0]), np.array([6.0, 1.0]), -9.81, FRAMES + 1, floor=0.1)
    x = path[:, 0]
    crossing = int(np.flatnonzero(x > 4.0)[0])
    assert crossing < 20 and np.all(np.abs(x[:30] - 4.0) > 0.1 + 0.025 + 0.03)  # never touching in any frame
    r = measure(clip_of(edited(sim, "ball", path), glass))
    p = assert_flagged(r, "penetration", "ball", crossing)
    assert r.body("ball").penetrations[0].against == "glass"
    assert not r.problems_of("teleport"), r.verdict  # a smooth flight: the tunnel is the only fault there
    assert p.frame == crossing
