"""The report's geometry on hand-made tracks whose answers are known (``sorakit.report.fitting``):
runs, pieces and their gaps, kinks, arcs and their velocity, distances to segments, the jump test.
Written from the surviving mutants of ``tests/mutation.py sorakit/report/fitting.py``."""

from __future__ import annotations

import numpy as np
import pytest

from sorakit.physics.scene import Scene, Segment
from sorakit.report.fitting import (_dipole, _eval, _fit_arc, _joint_gravity, _kinks, _pieces, _runs, _segment_gaps,
                                    _tunnels, _velocity)


def test_runs_of_true_including_one_that_reaches_the_end() -> None:
    assert _runs(np.array([0, 1, 1, 0, 1, 1], bool)) == [(1, 2), (4, 5)]
    assert _runs(np.array([1, 0, 1], bool)) == [(0, 0), (2, 2)]
    assert _runs(np.zeros(3, bool)) == []


def test_pieces_split_at_gaps_and_at_kinks_which_belong_to_both_sides() -> None:
    valid = np.array([1, 1, 1, 0, 1, 1, 1, 1, 1, 1], bool)
    kink = np.zeros(10, bool)
    kink[6] = True  # a contact at 6: the piece before ends there, the next starts there
    pieces, gaps = _pieces(valid, kink)
    assert pieces == [(0, 2), (4, 6), (6, 9)]
    assert gaps == [(2, 4), (6, 6)]
    kink[6:8] = True  # a run of kinks: the next piece starts at its last
    assert _pieces(valid, kink)[0] == [(0, 2), (4, 6), (7, 9)]
    starts_lost = np.array([0, 1, 1, 1], bool)
    assert _pieces(starts_lost, np.zeros(4, bool)) == ([(1, 3)], [])


def test_a_corner_is_a_kink_a_parabola_is_not_and_a_gap_s_neighbour_splits() -> None:
    t = np.arange(12, dtype=float)
    parabola = np.stack([t, 0.3 * t**2], axis=1)
    assert not _kinks(parabola, 0.5).any()
    corner = np.stack([t, np.where(t < 6, t, 12 - t)], axis=1)  # up then down: a bounce at 6
    k = _kinks(corner, 0.5)
    assert k[6] and k.sum() == 1
    jump = np.stack([t, np.zeros(12)], axis=1)
    jump[7:, 1] += 5.0  # a jump between 6 and 7, with sample 8 missing
    jump[8] = np.nan
    k = _kinks(jump, 0.5)
    assert k[6] and k[7]  # both sides of the jump; 7 has no second difference of its own (8 is gone)
    assert not _kinks(np.zeros((2, 2)), 0.1).any() and _kinks(np.zeros((3, 2)), 0.1).dtype == bool


def test_an_arc_and_its_velocity() -> None:
    t = np.arange(-3, 1, dtype=float)
    p = np.stack([2 + 0.5 * t, 1 + 3 * t - 0.4 * t**2], axis=1)
    coef = _fit_arc(t, p, None)
    np.testing.assert_allclose(_eval(coef, t), p, atol=1e-9)
    np.testing.assert_allclose(_velocity(coef, -2.0), [0.5, 3 - 0.8 * -2.0], atol=1e-9)
    held = _fit_arc(t, p, -0.8)  # the curvature given: y = a + b t - 0.4 t², x a line
    np.testing.assert_allclose(held[2], [0.0, -0.4], atol=1e-12)
    np.testing.assert_allclose(_eval(held, t), p, atol=1e-9)
    np.testing.assert_allclose(_fit_arc(t[:1], p[:1], None)[0], p[0])


def test_the_gap_to_a_segment_is_to_its_nearest_point_within_its_ends() -> None:
    scene = Scene("s", segments=(Segment("floor", 0.0, 0.0, 2.0, 0.0, thickness=0.2),
                                 Segment("net", 0.0, 1.0, 2.0, 1.0, collide=False)))
    p = np.array([[1.0, 0.5], [3.0, 0.0], [-1.0, 1.0]])
    gaps, names, normals = _segment_gaps(p, scene, extra=0.1)
    assert names == ["floor"]
    np.testing.assert_allclose(gaps[:, 0], [0.5 - 0.1 - 0.1, 1.0 - 0.2, np.hypot(1, 1) - 0.2], atol=1e-12)
    np.testing.assert_allclose(normals[0, 0], [0.0, 1.0])
    np.testing.assert_allclose(normals[1, 0], [1.0, 0.0])


def test_a_jump_is_a_there_and_back_a_contact_is_not() -> None:
    t = np.arange(10, dtype=float)
    px = np.stack([t * 3, np.zeros(10)], axis=1)
    px[5:, 1] += 20.0  # a jump by 20 px between 4 and 5
    at, strength = _dipole(px, 1, 8)
    assert at == 5 and strength == pytest.approx(20.0)
    bounce = np.stack([t * 3, -np.abs(t - 5) * 4], axis=1)  # one change of velocity at 5
    assert _dipole(bounce, 1, 8)[1] <= 0.0


def test_pieces_at_the_last_frame_and_next_to_lost_frames() -> None:
    ones, kink = np.ones(6, bool), np.zeros(6, bool)
    kink[4:] = True  # kinks running to the last frame: a one-frame piece there
    assert _pieces(ones, kink) == ([(0, 4), (5, 5)], [(4, 5)])
    assert _pieces(np.array([1, 0, 1, 1], bool), np.zeros(4, bool)) == ([(0, 0), (2, 3)], [(0, 2)])
    lost = ones.copy()
    lost[3] = False
    kink[:] = False
    kink[2] = True  # a kink just before a lost frame
    assert _pieces(lost, kink) == ([(0, 2), (2, 2), (4, 5)], [(2, 2), (2, 4)])
    kink[3] = True  # a run of kinks stops at the lost frame
    assert _pieces(lost, kink)[0] == [(0, 2), (2, 2), (4, 5)]


# A ramp from (1, 0.5) to (3, 1.5); every crossing below is exact in binary floating point.
# A net above it that the first path crosses does not count, and does not hide the ramp behind it.
RAMP = Scene("ramp", segments=(Segment("net", 1.0, 1.0, 3.0, 2.0, collide=False), Segment("ramp", 1.0, 0.5, 3.0, 1.5)))


@pytest.mark.parametrize(("path", "expected"), [
    ([(2.0, 2.0), (2.5, 1.5), (3.0, 0.0)], [(2, "ramp")]),  # through the middle, between frames 1 and 2
    ([(0.5, 1.0), (1.5, 0.0)], [(1, "ramp")]),  # through its first end exactly
    ([(2.5, 2.0), (3.5, 1.0)], [(1, "ramp")]),  # through its last end exactly
    ([(3.5, 3.0), (4.5, 2.0)], []),  # across its line two thirds of a length past the end
    ([(-0.5, 0.0), (0.5, -1.0)], []),  # across its line before the start
    ([(2.0, 2.0), (2.0, 1.0), (2.0, 2.0)], []),  # down onto it and back: touching is not passing through
    ([(1.5, 2.0), (2.5, 2.5), (2.0, 1.5)], []),  # moving on one side
    ([(2.0, 2.0), (np.nan, np.nan), (2.0, 0.0)], []),  # lost in between: nothing is claimed
])
def test_a_pass_through_is_a_crossing_of_a_colliding_segment_between_its_ends(
        path: list[tuple[float, float]], expected: list[tuple[int, str]]) -> None:
    assert _tunnels(np.array(path), RAMP) == expected


def test_the_shared_gravity_and_an_honest_standard_error() -> None:
    # Two throws with their own starts and velocities and one gravity, measured with noise: the fit
    # finds g, and its standard error matches the spread of g over many noise draws.
    rng = np.random.default_rng(0)
    t1, t2 = np.arange(12.0), np.arange(5.0, 14.0)
    g = -0.4
    fits = []
    for _ in range(400):
        y1 = 3.0 + 2.0 * t1 + 0.5 * g * t1**2 + rng.normal(0, 0.3, t1.size)
        y2 = -1.0 - 1.0 * t2 + 0.5 * g * t2**2 + rng.normal(0, 0.3, t2.size)
        fit = _joint_gravity([(t1, y1), (t2, y2)])
        assert fit is not None
        fits.append(fit)
    estimates, errors = np.array(fits).T
    assert estimates.mean() == pytest.approx(g, abs=0.005)
    assert np.median(errors) == pytest.approx(estimates.std(), rel=0.15)
    exact = [(t1, 3.0 + 2.0 * t1 + 0.5 * g * t1**2)]
    assert _joint_gravity(exact) == pytest.approx((g, 0.0), abs=1e-9)
    assert _joint_gravity([(t1[:3], exact[0][1][:3])]) is None  # 3 points, 3 unknowns: no error to give
    assert _joint_gravity([]) is None
