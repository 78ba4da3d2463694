from __future__ import annotations

import numpy as np
import pytest

from sorakit import preset, simulate
from sorakit.previz import render


@pytest.fixture(scope="module")
def dominoes():
    sim = simulate(preset("dominoes"), frames=40, fps=16)
    return sim, render(sim, 320, 184, trail=False)


def test_shapes_and_types(dominoes) -> None:
    _, pv = dominoes
    assert pv.frames.shape == (40, 184, 320, 3) and pv.frames.dtype == np.uint8
    assert pv.flow.shape == (40, 184, 320, 2) and pv.flow.dtype == np.float32
    assert pv.body_ids.shape == (40, 184, 320)
    assert pv.names[0] == "ball" and len(pv.names) == 15


def test_rendering_is_deterministic() -> None:
    sim = simulate(preset("bouncing_balls", seed=3), frames=6, fps=16)
    a, b = render(sim, 160, 96), render(sim, 160, 96)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.flow, b.flow)


def test_flow_is_zero_on_the_background(dominoes) -> None:
    _, pv = dominoes
    assert np.all(pv.flow[pv.body_ids == 0] == 0)
    assert np.abs(pv.flow[pv.body_ids > 0]).max() > 1


def test_flow_at_a_ball_centre_is_the_centres_displacement() -> None:
    sim = simulate(preset("basketball"), frames=24, fps=16)
    width, height = 450, 260  # 50 px per metre
    pv = render(sim, width, height)
    x0, y0, x1, y1 = sim.scene.view
    scale = width / (x1 - x0)
    for t in (3, 10, 20):
        (wx, wy), (nx, ny) = sim.positions["ball"][t], sim.positions["ball"][t + 1]
        px, py = (wx - x0) * scale, (y1 - wy) * scale
        i, j = int(py), int(px)
        assert pv.body_ids[t, i, j] == 1
        # The pixel centre is within half a pixel of the ball centre; rotation moves it little.
        np.testing.assert_allclose(pv.flow[t, i, j], [(nx - wx) * scale, -(ny - wy) * scale], atol=1.0)


def test_flow_carries_each_body_pixel_onto_the_same_body_next_frame(dominoes) -> None:
    """Forward-warp every body pixel by its flow: it must land on the same body (rigid motion is exact)."""
    _, pv = dominoes
    hits = total = 0
    for t in range(pv.frames.shape[0] - 1):
        ys, xs = np.nonzero(pv.body_ids[t] > 0)
        fx, fy = pv.flow[t, ys, xs, 0], pv.flow[t, ys, xs, 1]
        tx, ty = np.floor(xs + 0.5 + fx).astype(int), np.floor(ys + 0.5 + fy).astype(int)
        ok = (tx >= 0) & (tx < pv.frames.shape[2]) & (ty >= 0) & (ty < pv.frames.shape[1])
        same = pv.body_ids[t + 1, ty[ok], tx[ok]] == pv.body_ids[t, ys[ok], xs[ok]]
        hits += int(same.sum())
        total += int(ok.sum())
    assert total > 10_000
    assert hits / total > 0.97  # the misses are edge pixels and occlusions between dominoes


def test_edges_are_anti_aliased() -> None:
    sim = simulate(preset("bouncing_balls"), frames=1, fps=16)
    pv = render(sim, 640, 368, trail=False)
    frame = pv.frames[0].astype(int)
    ball = sim.scene.balls[0]
    x0, y0, x1, y1 = sim.scene.view
    scale = 640 / (x1 - x0)
    row = int((y1 - ball.y) * scale)
    line = frame[row, :, 0]
    cx, r = (ball.x - x0) * scale, ball.radius * scale
    edge = line[int(cx + r) - 2:int(cx + r) + 3]
    background = line[int(cx + r) + 6]
    # Between the dark outline and the sky there is at least one blended pixel.
    assert any(min(edge) < v < background for v in edge)


def test_trail_draws_behind_moving_balls_only() -> None:
    sim = simulate(preset("basketball"), frames=20, fps=16)
    with_trail, without = render(sim, 225, 130, trail=True), render(sim, 225, 130, trail=False)
    np.testing.assert_array_equal(with_trail.frames[0], without.frames[0])
    assert np.abs(with_trail.frames[15].astype(int) - without.frames[15]).sum() > 0
    np.testing.assert_array_equal(with_trail.flow, without.flow)
