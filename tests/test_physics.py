from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from sorakit import Ball, Scene, Segment, preset, simulate
from sorakit.errors import InvalidInput
from sorakit.physics import PRESETS, Change


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_simulate_deterministically(name: str) -> None:
    a = simulate(preset(name, seed=5), frames=48, fps=16)
    b = simulate(preset(name, seed=5), frames=48, fps=16)
    assert a.events == b.events and len(a.events) > 0
    for body in a.scene.dynamic_names:
        assert a.positions[body].shape == (49, 2)
        assert a.angles[body].shape == (49,)
        np.testing.assert_array_equal(a.positions[body], b.positions[body])
        np.testing.assert_array_equal(a.angles[body], b.angles[body])


def test_seed_changes_the_scene_but_not_its_story() -> None:
    a, b = preset("bouncing_balls", seed=1), preset("bouncing_balls", seed=2)
    assert a != b
    assert a.dynamic_names == b.dynamic_names


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 42])
def test_basketball_misses_off_the_backboard(seed: int) -> None:
    sim = simulate(preset("basketball", seed=seed), frames=81, fps=16)
    first = sim.events[0]
    assert (first.a, first.b) == ("ball", "backboard")
    assert 0.8 < first.time < 1.4
    ball = sim.positions["ball"]
    after = sim.times > first.time + 0.05
    # It rebounds to the left and never drops through the rim into the net.
    assert np.all(np.diff(ball[after, 0])[:5] < 0)
    assert not any(e.b == "rim" for e in sim.events[1:2])
    assert any(e.b == "floor" for e in sim.events)
    x0, y0, x1, y1 = sim.scene.view
    assert np.all((ball[:, 0] > x0) & (ball[:, 0] < x1) & (ball[:, 1] < y1)), "the ball stays in view"


def test_free_flight_follows_gravity() -> None:
    sim = simulate(preset("basketball"), frames=81, fps=16)
    t_hit = sim.events[0].time
    flight = sim.times < t_hit - 0.02
    t, y = sim.times[flight], sim.positions["ball"][flight, 1]
    accel = 2 * np.polyfit(t, y, 2)[0]
    assert accel == pytest.approx(-9.81, rel=0.01)


def test_events_carry_time_bodies_impulse_and_position() -> None:
    sim = simulate(preset("bouncing_balls"), frames=64, fps=16)
    times = [e.time for e in sim.events]
    assert times == sorted(times)
    for e in sim.events:
        assert 0 < e.time <= sim.duration
        assert e.a in sim.scene.dynamic_names
        assert e.impulse > 0 and e.speed >= 0.3
    floor_hits = [e for e in sim.events if e.b == "floor"]
    assert floor_hits and all(abs(e.y) < 0.05 for e in floor_hits)


def test_bouncier_materials_bounce_higher() -> None:
    scene = Scene("drop", balls=(Ball("rubber", 1.0, 2.0, 0.2, "rubber"), Ball("wood", 3.0, 2.0, 0.2, "wood")),
                  segments=(Segment("floor", -1.0, -0.2, 5.0, -0.2, thickness=0.4),), view=(0, -0.4, 4, 2.4))
    sim = simulate(scene, frames=32, fps=16)
    after = sim.times > 0.8  # both have landed once by then
    assert sim.positions["rubber"][after, 1].max() > 2 * sim.positions["wood"][after, 1].max()


def test_scene_json_round_trips_and_decor_does_not_collide() -> None:
    scene = preset("basketball")
    assert Scene.from_json(scene.to_json()) == scene
    net = [s for s in scene.segments if not s.collide]
    assert net, "the basketball net is decoration"
    sim = simulate(scene, frames=81, fps=16)
    assert not any(e.b.startswith("net") for e in sim.events)


def test_a_scene_without_moving_bodies_is_refused() -> None:
    with pytest.raises(ValueError, match="has no moving bodies; add a Ball or a Box"):
        simulate(dataclasses.replace(preset("ramp"), balls=(), boxes=()), frames=4, fps=16)


# -- staged surprises -------------------------------------------------------------------------
def _drop() -> Scene:
    return Scene.room("drop", width=4.0).add(Ball("ball", 2.0, 3.0, 0.2, "rubber", vx=0.5))


def test_gravity_switched_off_and_on_floats_the_ball_exactly_then() -> None:
    fps = 40
    plain = simulate(_drop(), frames=40, fps=fps)
    floaty = simulate(_drop().stage(Change(0.25, "gravity", value=0.0), Change(0.5, "gravity", value=-9.81)),
                      frames=40, fps=fps)
    vy, vy0 = floaty.velocities["ball"][:, 1], plain.velocities["ball"][:, 1]
    np.testing.assert_array_equal(vy[:11], vy0[:11])  # the same fall up to 0.25 s
    assert np.ptp(vy[10:21]) < 1e-9 and vy[10] < -2.0  # then it keeps its speed: no gravity for 0.25 s
    assert vy[24] == pytest.approx(vy[20] - 9.81 * 0.1, abs=1e-6)  # and falls again
    np.testing.assert_allclose(floaty.velocities["ball"][:30, 0], 0.5)  # sideways motion untouched
    assert floaty.scene.gravity_at(0.3) == 0.0 and floaty.scene.gravity_at(0.6) == -9.81


def test_a_push_changes_the_velocity_by_its_amount_at_its_time() -> None:
    pushed = simulate(_drop().stage(Change(0.1, "push", body="ball", vx=2.0, vy=1.0)), frames=10, fps=20)
    plain = simulate(_drop(), frames=10, fps=20)
    dv = pushed.velocities["ball"] - plain.velocities["ball"]
    np.testing.assert_allclose(dv[:3], 0.0)  # the state at 0.1 s is the one the push meets
    np.testing.assert_allclose(dv[3:7], [[2.0, 1.0]] * 4, atol=1e-9)


def test_a_released_body_waits_at_its_start_pose_then_falls() -> None:
    sim = simulate(_drop().stage(Change(0.5, "release", body="ball")), frames=20, fps=20)
    p = sim.positions["ball"]
    np.testing.assert_array_equal(p[:11], [[2.0, 3.0]] * 11)  # held until 0.5 s
    assert p[14, 1] == pytest.approx(3.0 - 0.5 * 9.81 * 0.2**2, abs=0.01)  # then falls from rest
    assert p[14, 0] == 2.0  # its start velocity was held too


@pytest.mark.parametrize("change, message", [
    (Change(0.1, "teleport", body="ball"), r"changes\[0\]: kind 'teleport' is unknown; use one of gravity, push"),
    (Change(0.1, "push", body="bal"), r"push needs the name of a ball or box, not 'bal'; this scene moves ball"),
    (Change(-1.0, "gravity"), r"time=-1.0 must be in \[0, 3600\]"),
    (Change(0.1, "gravity", value=float("nan")), r"value=nan must be a finite number"),
    (Change(0.1, "gravity", value=500.0), r"gravity 500.0 must be within ±100"),
])
def test_a_bad_change_is_refused_with_its_place_and_fix(change: Change, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _drop().stage(change).validate()


def test_staged_changes_round_trip_through_json() -> None:
    scene = _drop().stage(Change(0.2, "push", body="ball", vx=1.0), Change(0.3, "gravity", value=0.0))
    assert Scene.from_json(scene.to_json()) == scene
