"""Noise warping on real previz: unit normal frames, fresh background, noise that follows the bodies.

The warps are at a realistic latent size: 16 channels x 60 x 104 (a VAE with 8x spatial and 4x
temporal compression on 832x480 video, like Wan 2.1), 33 latent frames from 129 video frames.

Correlation along the motion compares latent frame k-1 at p with latent frame k at p + motion,
where p is a latent pixel lying wholly on a body and moving by at least half a latent pixel.
A latent pixel's 64 video pixels move with the exact previz flow and spread over several latent
pixels (translation by a fraction of a pixel, rotation: the basketball spins about 3 rad per
latent frame), so "frame k at p + motion" is the mean of frame k over where those 64 pixels
land. At this size the ball is about 3 latent pixels across, which leaves ~60 such pairs per
16-channel draw: the correlations pool several seeds so that the estimate is tight.
"""

from __future__ import annotations

import numpy as np
import pytest

from sorakit import preset, simulate
from sorakit.guidance import warp_noise
from sorakit.guidance.warp import _FineGrid, _texels
from sorakit.previz import Previz, render

C, F, LH, LW, TEMPORAL, FACTOR = 16, 33, 60, 104, 4, 8
VIDEO_FRAMES = (F - 1) * TEMPORAL + 1
SEEDS = range(8)

Pairs = list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]


def warp(pv: Previz, *, seed: int = 0, strength: float = 1.0, upsample: int = 4) -> np.ndarray:
    return warp_noise(pv.flow, pv.body_ids, latent_frames=F, latent_height=LH, latent_width=LW, channels=C,
                      temporal=TEMPORAL, seed=seed, strength=strength, upsample=upsample)


def _blocks(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max body id over each latent pixel's FACTOR x FACTOR video pixels."""
    b = ids.reshape(LH, FACTOR, LW, FACTOR)
    return b.min(axis=(1, 3)), b.max(axis=(1, 3))


def body_pairs(pv: Previz) -> Pairs:
    """(k, p rows, p cols, rows [n, 64], cols [n, 64] of the latent pixels where p's pixels land)."""
    pairs: Pairs = []
    T, H, W = pv.body_ids.shape
    oy, ox = (a.ravel() + 0.5 for a in np.mgrid[0:FACTOR, 0:FACTOR])
    for k in range(1, F):
        t0, t1 = min((k - 1) * TEMPORAL, T - 1), min(k * TEMPORAL, T - 1)
        lo, hi = _blocks(pv.body_ids[t0])
        pi, pj = np.nonzero((lo == hi) & (lo > 0))
        y, x = pi[:, None] * FACTOR + oy, pj[:, None] * FACTOR + ox
        y_start, x_start = y.mean(1), x.mean(1)
        for t in range(t0, t1):
            motion = pv.flow[t, np.clip(y.astype(int), 0, H - 1), np.clip(x.astype(int), 0, W - 1)]
            x, y = x + motion[..., 0], y + motion[..., 1]
        qi, qj = np.floor(y / FACTOR).astype(int), np.floor(x / FACTOR).astype(int)
        moving = np.hypot(y.mean(1) - y_start, x.mean(1) - x_start) >= 0.5 * FACTOR
        inside = ((qi >= 0) & (qi < LH) & (qj >= 0) & (qj < LW)).all(1)
        keep = moving & inside
        pairs.append((k, pi[keep], pj[keep], qi[keep], qj[keep]))
    return pairs


def still_masks(pv: Previz) -> list[np.ndarray]:
    """For k >= 1: latent pixels wholly on background/static geometry in latent frames k-1 and k."""
    T = pv.body_ids.shape[0]
    return [(_blocks(pv.body_ids[min((k - 1) * TEMPORAL, T - 1)])[1] == 0)
            & (_blocks(pv.body_ids[min(k * TEMPORAL, T - 1)])[1] == 0) for k in range(1, F)]


def motion_samples(noise: np.ndarray, pairs: Pairs) -> tuple[np.ndarray, np.ndarray]:
    before = [noise[:, k - 1, pi, pj] for k, pi, pj, _, _ in pairs]
    after = [noise[:, k][:, qi, qj].mean(-1) for k, _, _, qi, qj in pairs]
    return np.concatenate(before, 1).ravel(), np.concatenate(after, 1).ravel()


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


@pytest.fixture(scope="module", params=["basketball", "dominoes"])
def scene(request: pytest.FixtureRequest) -> tuple[Previz, Pairs, list[np.ndarray]]:
    pv = render(simulate(preset(request.param), frames=VIDEO_FRAMES, fps=16), 832, 480, trail=False)
    return pv, body_pairs(pv), still_masks(pv)


@pytest.fixture(scope="module")
def motion(scene: tuple[Previz, Pairs, list[np.ndarray]]) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Samples along the motion at strength 1 and 0, pooled over SEEDS: {strength: (before, after)}."""
    pv, pairs, _ = scene
    pooled = {}
    for strength in (1.0, 0.0):
        samples = [motion_samples(warp(pv, seed=seed, strength=strength), pairs) for seed in SEEDS]
        pooled[strength] = np.concatenate([a for a, _ in samples]), np.concatenate([b for _, b in samples])
    return pooled


def assert_unit_normal_frames(noise: np.ndarray) -> None:
    assert noise.shape == (C, F, LH, LW) and noise.dtype == np.float32
    mean, std = noise.mean(axis=(0, 2, 3)), noise.std(axis=(0, 2, 3))
    assert np.abs(mean).max() < 0.02, mean
    assert np.abs(std - 1).max() < 0.02, std


@pytest.mark.parametrize(("strength", "upsample"), [(1.0, 4), (0.5, 4), (0.0, 4), (1.0, 3)])
def test_every_frame_is_standard_normal(scene: tuple[Previz, Pairs, list[np.ndarray]], strength: float,
                                        upsample: int) -> None:
    pv, _, _ = scene
    assert_unit_normal_frames(warp(pv, strength=strength, upsample=upsample))


def test_still_regions_get_fresh_noise(scene: tuple[Previz, Pairs, list[np.ndarray]]) -> None:
    pv, _, still = scene
    noise = warp(pv)
    a = np.concatenate([noise[:, k - 1][:, m] for k, m in enumerate(still, start=1)], 1).ravel()
    b = np.concatenate([noise[:, k][:, m] for k, m in enumerate(still, start=1)], 1).ravel()
    assert a.size > 1_000_000
    assert abs(corr(a, b)) < 0.05


def test_noise_follows_the_bodies(scene: tuple[Previz, Pairs, list[np.ndarray]],
                                  motion: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
    pv, pairs, _ = scene
    assert sum(pi.size for _, pi, _, _, _ in pairs) >= 40
    r = corr(*motion[1.0])
    assert r > 0.5, r
    # At the same place instead, the moving bodies' noise is gone (it moved on).
    noise = warp(pv)
    a = np.concatenate([noise[:, k - 1, pi, pj] for k, pi, pj, _, _ in pairs], 1).ravel()
    b = np.concatenate([noise[:, k, pi, pj] for k, pi, pj, _, _ in pairs], 1).ravel()
    assert corr(a, b) < r - 0.2


def test_strength(scene: tuple[Previz, Pairs, list[np.ndarray]],
                  motion: dict[float, tuple[np.ndarray, np.ndarray]]) -> None:
    pv, _, _ = scene
    zero = corr(*motion[0.0])
    assert abs(zero) < 0.05, zero  # strength 0: independent noise, even on the bodies
    # Any other strength is the documented unit-variance blend of those two ...
    s = 0.3
    blend = np.sqrt(s) * warp(pv, seed=5) + np.sqrt(1 - s) * warp(pv, seed=5, strength=0.0)
    np.testing.assert_allclose(warp(pv, seed=5, strength=s), blend, atol=1e-5)
    # ... whose correlation along the motion is s times the full one.
    (a1, b1), (a0, b0) = motion[1.0], motion[0.0]
    mixed = corr(np.sqrt(s) * a1 + np.sqrt(1 - s) * a0, np.sqrt(s) * b1 + np.sqrt(1 - s) * b0)
    assert abs(mixed - s * corr(a1, b1)) < 0.05, (mixed, corr(a1, b1))


def test_seeded() -> None:
    pv = render(simulate(preset("basketball"), frames=17, fps=16), 208, 120, trail=False)

    def draw(seed: int) -> np.ndarray:
        return warp_noise(pv.flow, pv.body_ids, latent_frames=5, latent_height=15, latent_width=26, channels=4,
                          seed=seed)

    first = draw(3)
    assert np.array_equal(first, draw(3))
    assert not np.allclose(first, draw(4))


@pytest.mark.parametrize(("width", "upsample"), [(64, 4), (64, 3), (128, 4)])
def test_short_video_clamps_to_its_last_frame(width: int, upsample: int) -> None:
    # A square moving one latent pixel per latent frame carries its noise exactly, also with
    # fine cells of a fractional pixel size (upsample 3) and non-square ones (x factor 16, y 8).
    # 9 video frames at temporal 4 reach latent frame 2; frames 3-5 repeat video frame 8, so the
    # square keeps its noise there while the background is fresh.
    T, H, W, f = 9, 64, width, width // 8
    step = f // 4  # px per video frame
    flow = np.zeros((T, H, W, 2), np.float32)
    ids = np.zeros((T, H, W), np.int16)
    for t in range(T):
        ids[t, 16:48, f + step * t:5 * f + step * t] = 1
        flow[t, 16:48, f + step * t:5 * f + step * t, 0] = step
    noise = warp_noise(flow, ids, latent_frames=6, latent_height=8, latent_width=8, channels=4, upsample=upsample)
    assert noise.shape == (4, 6, 8, 8)
    np.testing.assert_allclose(noise[:, 1, 2:6, 2:6], noise[:, 0, 2:6, 1:5], atol=1e-6)  # moved 1 latent px
    np.testing.assert_allclose(noise[:, 5, 2:6, 3:7], noise[:, 2, 2:6, 3:7], atol=1e-6)  # clamped: still
    assert not np.allclose(noise[:, 5, 0], noise[:, 4, 0])  # background row: fresh


def test_rejects_bad_arguments() -> None:
    flow, ids = np.zeros((2, 64, 64, 2), np.float32), np.zeros((2, 64, 64), np.int16)
    with pytest.raises(ValueError, match="multiple"):
        warp_noise(flow, ids, latent_frames=1, latent_height=6, latent_width=8, channels=1)
    with pytest.raises(ValueError, match="strength"):
        warp_noise(flow, ids, latent_frames=1, latent_height=8, latent_width=8, channels=1, strength=1.5)
    with pytest.raises(ValueError, match="body_ids"):
        warp_noise(flow, ids[:, :32], latent_frames=1, latent_height=8, latent_width=8, channels=1)


# -- the edges, found by mutation testing (tests/mutation.py) ------------------------------------------------
@pytest.mark.parametrize("zero", ["latent_frames", "latent_height", "latent_width", "channels", "temporal",
                                  "upsample"])
def test_every_size_must_be_at_least_one(zero: str) -> None:
    flow, ids = np.zeros((2, 64, 64, 2), np.float32), np.zeros((2, 64, 64), np.int16)
    args = dict(latent_frames=1, latent_height=8, latent_width=8, channels=1, temporal=4, upsample=4)
    args[zero] = 0
    with pytest.raises(ValueError, match="^latent_frames, latent_height, latent_width, channels, temporal and "
                       "upsample must be >= 1$"):
        warp_noise(flow, ids, **args)  # type: ignore[arg-type]


def test_the_flow_must_have_two_components_and_a_single_frame_will_do() -> None:
    with pytest.raises(ValueError, match=r"flow must be \[T, H, W, 2\]"):
        warp_noise(np.zeros((2, 64, 64, 3), np.float32), np.zeros((2, 64, 64), np.int16), latent_frames=1,
                   latent_height=8, latent_width=8, channels=1)
    with pytest.raises(ValueError, match="^the previz has no frames$"):
        warp_noise(np.zeros((0, 64, 64, 2), np.float32), np.zeros((0, 64, 64), np.int16), latent_frames=1,
                   latent_height=8, latent_width=8, channels=1)
    one = warp_noise(np.zeros((1, 64, 64, 2), np.float32), np.zeros((1, 64, 64), np.int16), latent_frames=2,
                     latent_height=8, latent_width=8, channels=2)
    assert one.shape == (2, 2, 8, 8) and np.isfinite(one).all()


def test_the_defaults_are_seed_0_and_a_4x_fine_grid() -> None:
    pv = render(simulate(preset("basketball"), frames=9, fps=16), 128, 64, trail=False)
    args = dict(latent_frames=3, latent_height=8, latent_width=16, channels=2)
    np.testing.assert_array_equal(warp_noise(pv.flow, pv.body_ids, **args),  # type: ignore[arg-type]
                                  warp_noise(pv.flow, pv.body_ids, seed=0, upsample=4, strength=1.0, **args))  # type: ignore[arg-type]


def test_the_same_previz_and_seed_give_the_same_noise_as_ever() -> None:
    """A saved Take reruns exactly: the warped noise of a fixed previz and seed is pinned (its sum, its
    energy, and a position-weighted sum that any reshuffle of texels would move). A change here
    changes every rerun of a saved guided clip: make it on purpose, and say so in the release."""
    pv = render(simulate(preset("basketball", 2), frames=17, fps=16), 208, 120, trail=False)
    n = warp_noise(pv.flow, pv.body_ids, latent_frames=5, latent_height=15, latent_width=26, channels=4, seed=7)
    weights = np.arange(n.size).reshape(n.shape) % 7
    assert float(n.sum()) == pytest.approx(-128.34535, rel=1e-5)
    assert float((n * n).sum()) == pytest.approx(7820.578, rel=1e-5)
    assert float((n * weights).sum()) == pytest.approx(-413.84339, rel=1e-5)
    boxes = render(simulate(preset("dominoes", 1), frames=13, fps=16), 128, 64, trail=False)  # turning boxes
    m = warp_noise(boxes.flow, boxes.body_ids, latent_frames=4, latent_height=8, latent_width=16, channels=2, seed=3,
                   upsample=3)
    assert float(m.sum()) == pytest.approx(9.671566, rel=1e-5)
    assert float((m * m).sum()) == pytest.approx(999.6935, rel=1e-5)


@pytest.mark.parametrize("aspect", [1.0, 0.5, 2.0, 0.75])
def test_a_cell_lands_on_the_texel_its_pose_rotates_it_to(aspect: float) -> None:
    # The texel under a cell is R(-phi) (centre - c) in cell units, rounded by shears: within 1.6
    # cells of the exact point for any angle (half and quarter turns included) and any cell shape.
    rng = np.random.default_rng(0)
    n = 20000
    i, j = rng.integers(-40, 40, n), rng.integers(-40, 40, n)
    phi = np.concatenate([rng.uniform(-7, 7, n - 4), [np.pi, -np.pi, np.pi / 2, 3 * np.pi / 2]])
    cx, cy = rng.uniform(-3, 3, n), rng.uniform(-3, 3, n)
    ti, tj = _texels(i, j, phi, cx, cy, aspect)
    a, x, y = -phi, j + 0.5 - cx, i + 0.5 - cy
    exact_x = x * np.cos(a) - y * aspect * np.sin(a)  # in physical units, back to cells of width 1 : aspect
    exact_y = x * np.sin(a) / aspect + y * np.cos(a)
    assert np.abs(tj + 0.5 - exact_x).max() < 1.6
    assert np.abs(ti + 0.5 - exact_y).max() < 1.6


@pytest.mark.parametrize("phi", [0.3, 2.0, np.pi, -2.5])
def test_the_cells_of_one_pose_never_share_a_texel(phi: float) -> None:
    i, j = (a.ravel() for a in np.mgrid[0:40, 0:40])
    for aspect in (1.0, 0.5):
        ti, tj = _texels(i, j, np.full(i.size, phi), np.full(i.size, 20.3), np.full(i.size, 19.6), aspect)
        assert np.unique(ti * 10_000 + tj).size == i.size


@pytest.mark.parametrize(("H", "W", "h", "w", "u"), [(64, 64, 8, 8, 4), (64, 48, 8, 8, 4), (48, 64, 8, 8, 4),
                                                     (64, 64, 8, 8, 3), (64, 128, 8, 8, 4)])
def test_a_fine_cell_takes_the_body_under_its_centre(H: int, W: int, h: int, w: int, u: int) -> None:
    # Cells whose size is a whole number of pixels on both axes read a strided view, the others
    # index the centre rows and columns: both give the body under each cell's centre.
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 4, (2, H, W)).astype(np.int16)
    grid = _FineGrid(ids, h, w, u)
    ch, cw = H / (h * u), W / (w * u)
    rows = np.floor((np.arange(h * u) + 0.5) * ch).astype(int)
    cols = np.floor((np.arange(w * u) + 0.5) * cw).astype(int)
    for t in range(2):
        under = ids[t][rows][:, cols].reshape(-1)
        cells, bodies = grid.visible(t)
        np.testing.assert_array_equal(cells, np.flatnonzero(under))
        np.testing.assert_array_equal(bodies, under[cells])
