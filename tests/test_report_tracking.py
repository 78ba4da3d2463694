"""The report's trackers on small frames drawn here, where every body's true centre is known: the
previz's colour tracker, the moving-blob tracker for frames without a scene, the appearance tracker
for what a video model drew, and the pieces each is made of. Fast, so each rule can be pinned at its
edges (``tests/test_report.py`` runs the same trackers on rendered clips)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sorakit.report.tracking import (GLOBAL_MATCH, LOCAL_MATCH, SHADE_HI, SHADE_LO, _blob, _changed, _chroma, _densest,
                                     _follow, _line_distance, _local, _match, _Palette, _patch, _rgb, _same_hue,
                                     _segment_distance, _Target, _track_blobs, _track_colours, detect_moving,
                                     track_appearance)

H, W = 48, 64
GREY = (128, 128, 128)
RED = (200, 40, 40)
BLUE = (40, 60, 200)
TOL = 0.07  # Thresholds().color


def frames_of(T: int, h: int = H, w: int = W, colour: tuple[int, int, int] = GREY) -> np.ndarray:
    out = np.empty((T, h, w, 3), np.uint8)
    out[:] = colour
    return out


def disc(img: np.ndarray, x: float, y: float, r: float, colour: tuple[int, ...] | np.ndarray) -> int:
    """Paints the pixels whose centres lie within ``r`` of ``(x, y)``; returns how many."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    inside = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    img[inside] = colour
    return int(inside.sum())


def grid(h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    return ys, xs


def rgb(colour: tuple[int, int, int]) -> np.ndarray:
    return np.array(colour, np.float32) / 255.0


# -- colours --------------------------------------------------------------------------------------
def test_a_hex_colour_is_read_channel_by_channel_to_0_1() -> None:
    c = _rgb("#ff8012")
    assert c.dtype == np.float32
    assert c.tolist() == pytest.approx([1.0, 128 / 255, 18 / 255])


def test_a_shade_of_a_body_colour_is_at_no_distance_within_the_shading_range() -> None:
    c = np.array([0.6, 0.3, 0.1], np.float32)
    norm = float(np.linalg.norm(c))
    assert (SHADE_LO, SHADE_HI) == (0.5, 1.2)
    pix = np.stack([s * c for s in (0.5, 0.8, 1.0, 1.2, 0.3, 1.5)]).reshape(2, 3, 3)
    d = _line_distance(pix, c)
    assert d.shape == (2, 3)
    assert d.reshape(-1).tolist() == pytest.approx([0, 0, 0, 0, 0.2 * norm, 0.3 * norm], abs=1e-6)
    side = np.array([0.1, -0.2, 0.0], np.float32)  # at right angles to c
    side *= 0.05 / np.linalg.norm(side)
    assert float(_line_distance(0.9 * c + side, c)) == pytest.approx(0.05, abs=1e-6)


def test_the_distance_to_a_colour_segment_is_to_its_nearest_point() -> None:
    a, b = np.array([0.0, 0.0, 0.2], np.float32), np.array([0.6, 0.0, 0.2], np.float32)
    pix = np.array([[0.0, 0.0, 0.2], [0.3, 0.1, 0.2], [0.9, 0.0, 0.2], [-0.2, 0.0, 0.2], [0.6, 0.0, 0.6]],
                   np.float32)
    assert _segment_distance(pix, a, b).tolist() == pytest.approx([0.0, 0.1, 0.3, 0.2, 0.4], abs=1e-6)
    assert _segment_distance(pix.reshape(5, 1, 3), a, b).shape == (5, 1)
    same = _segment_distance(pix.reshape(5, 1, 3), a, a)  # a segment of one colour: the distance to that colour
    assert same.shape == (5, 1)
    assert same[:, 0].tolist() == pytest.approx(np.linalg.norm(pix - a, axis=1).tolist(), abs=1e-6)


def test_a_shade_of_the_same_paint_is_0_4_to_2_5_times_it_within_the_tolerance_scaled_up() -> None:
    c = np.array([0.3, 0.15, 0.05])
    for s, same in ((0.41, True), (0.39, False), (1.0, True), (2.49, True), (2.51, False)):
        assert _same_hue(s * c, c, 0.01) is same, s
    exact = np.array([0.25, 0.125, 0.0625])  # powers of two: the scale comes out at exactly 2.5
    assert _same_hue(2.5 * exact, exact, 0.01) and not _same_hue(2.5 * exact + 0.0625 * exact, exact, 0.01)
    side = np.array([0.1, -0.2, 0.0])  # at right angles to c
    side *= 0.05 / np.linalg.norm(side)
    assert _same_hue(c + side, c, 0.06) and not _same_hue(c + side, c, 0.04)
    assert _same_hue(0.5 * c + side, c, 0.06) and not _same_hue(0.5 * c + side, c, 0.04)  # not scaled down
    assert _same_hue(2 * c + 2 * side, c, 0.06) and not _same_hue(2 * c + 2 * side, c, 0.04)  # scaled up
    assert not _same_hue(c, np.zeros(3), 0.06)  # black is no paint: no division by zero


def test_the_palette_labels_body_colours_and_leaves_what_a_static_colour_explains() -> None:
    red, blue = np.array([0.8, 0.2, 0.2], np.float32), np.array([0.1, 0.2, 0.9], np.float32)
    near_wall = np.array([0.62, 0.28, 0.28], np.float32)  # within tolerance of red's shades, nearer the wall
    img = np.stack([red, 0.7 * red, blue, np.full(3, 0.45, np.float32), near_wall]).reshape(1, 5, 3)
    plain = _Palette([red, blue], [], 0.2).classify(img)
    assert plain.dtype == np.int8 and plain.shape == (1, 5)
    assert plain.tolist() == [[0, 0, 1, -1, 0]]
    wall = np.array([0.6, 0.3, 0.3], np.float32)
    walled = _Palette([red, blue], [(wall, wall)], 0.2).classify(img)
    assert walled.tolist() == [[0, 0, 1, -1, -1]]
    assert _Palette([red, blue], [(wall, wall)], 0.01).classify(img).tolist() == [[0, 0, 1, -1, -1]]
    sky = np.array([0.05, 0.2, 0.8], np.float32)  # within tolerance of blue's shades
    pair = np.stack([red, sky, near_wall, blue]).reshape(2, 2, 3)
    assert _Palette([red, blue], [(wall, wall)], 0.2).classify(pair).tolist() == [[0, 1], [-1, 1]]
    both = _Palette([red, blue], [(wall, wall), (sky, sky)], 0.2).classify(pair)
    assert both.tolist() == [[0, -1], [-1, 1]]  # each pixel against its own nearest static colour


# -- a blob's centre ---------------------------------------------------------------------------------
def test_a_blob_s_centre_is_its_centroid_from_a_seed_anywhere_on_it() -> None:
    mask = np.zeros((H, W), bool)
    ys, xs = grid()
    area = int(((xs - 30.5) ** 2 + (ys - 20.5) ** 2 <= 25).sum())
    mask[(xs - 30.5) ** 2 + (ys - 20.5) ** 2 <= 25] = True
    mask[20, 37] = True  # a stray pixel 6.5 px from the centre, beyond the body-sized disc
    for seed in ((30.5, 20.5), (35.5, 20.5), (30.5, 16.0), (26.0, 23.0)):
        x, y, count, edge = _blob(mask, ys, xs, seed, 5.0)
        assert (x, y) == pytest.approx((30.5, 20.5), abs=0.02), seed
        assert count == area and not edge
    mask[26, 30] = True  # exactly 6 px below the centre: on the disc's rim, so counted
    x, y, count, _ = _blob(mask, ys, xs, (30.5, 20.5), 5.0)
    assert count == area + 1 and y > 20.5
    rimmed = (xs - 30.5) ** 2 + (ys - 20.5) ** 2 <= 25
    for row, col in ((14, 30), (26, 30), (20, 24), (20, 36)):  # exactly 6 px from the centre on every side
        rimmed[row, col] = True
    for seed in ((30.5, 20.5), (33.0, 22.0)):
        assert _blob(rimmed, ys, xs, seed, 5.0) == (pytest.approx(30.5), pytest.approx(20.5), area + 4, False)


def test_a_seed_with_nothing_near_gives_no_blob() -> None:
    mask = np.zeros((H, W), bool)
    ys, xs = grid()
    mask[(xs - 30.5) ** 2 + (ys - 20.5) ** 2 <= 25] = True
    assert _blob(mask, ys, xs, (5.0, 5.0), 5.0) == (5.0, 5.0, 0, False)
    assert _blob(mask, ys, xs, (30.5, 20.5 + 1.6 * 5 + 1 + 5 + 0.6), 5.0)[2] == 0  # just out of the wide pull
    assert _blob(mask, ys, xs, (30.5, 20.5 + 1.6 * 5 + 1 + 5 - 0.6), 5.0)[2] > 0


@pytest.mark.parametrize("at", [(3.5, 20.5), (60.5, 20.5), (30.5, 3.5), (30.5, 44.5)])
def test_a_blob_touching_any_edge_of_the_frame_says_so(at: tuple[float, float]) -> None:
    mask = np.zeros((H, W), bool)
    ys, xs = grid()
    mask[(xs - at[0]) ** 2 + (ys - at[1]) ** 2 <= 16] = True
    assert _blob(mask, ys, xs, at, 4.0)[3] is True
    inner = np.zeros((H, W), bool)
    inner[(xs - at[0] - np.sign(32 - at[0]) * 2) ** 2 + (ys - at[1] - np.sign(24 - at[1]) * 2) ** 2 <= 16] = True
    assert _blob(inner, ys, xs, at, 4.0)[3] is False  # two pixels in: clear of it


def test_the_densest_square_is_found_and_counted_to_the_frame_s_edges() -> None:
    mask = np.zeros((H, W), bool)
    mask[10:15, 20:25] = True
    mask[30, 5] = mask[40, 50] = mask[2, 60] = mask[1, 1] = True  # strays, one above and left of the block
    assert _densest(mask, 2.0) == (22.5, 12.5, 25)
    assert _densest(mask, 2.4) == (22.5, 12.5, 25)  # the side rounds to 5
    x, y, n = _densest(mask, 2.6)  # side 7: the block fits several squares, the first is taken
    assert (x, y, n) == (21.5, 11.5, 25)
    corner = np.zeros((H, W), bool)
    corner[-3:, -3:] = True
    assert _densest(corner, 1.0) == (W - 1.5, H - 1.5, 9)
    assert _densest(corner, 2.0) == (W - 2.5, H - 2.5, 9)
    top = np.zeros((H, W), bool)
    top[:3, :3] = True
    assert _densest(top, 2.0) == (0.5, 0.5, 9)
    one = np.zeros((H, W), bool)
    one[20:23, 30:33] = True
    assert _densest(one, 0.2) == (31.5, 21.5, 9)  # the square is at least 3 px across


# -- the previz's colours ------------------------------------------------------------------------------
def palette(*colours: tuple[int, int, int]) -> _Palette:
    return _Palette([rgb(c) for c in colours], [(rgb(GREY), rgb(GREY))], TOL)


def test_a_body_is_found_near_its_prediction_and_a_window_that_cuts_it_is_moved() -> None:
    img = frames_of(1)[0]
    area = disc(img, 30.5, 20.5, 4, RED)
    f = img.astype(np.float32) / 255
    pal = palette(RED)
    x, y, count, edge = _local(f, pal, 0, (31.0, 21.0), 12.0, 4.0)
    assert (x, y, count, edge) == (pytest.approx(30.5), pytest.approx(20.5), area, False)
    x, y, count, edge = _local(f, pal, 0, (44.5, 20.5), 12.0, 4.0)  # the window holds the disc's left rim only
    assert (x, y, count, edge) == (pytest.approx(30.5), pytest.approx(20.5), area, False)
    x, y, count, edge = _local(f, pal, 0, (30.5, 34.5), 12.0, 4.0)  # its top rim only
    assert (x, y, count, edge) == (pytest.approx(30.5), pytest.approx(20.5), area, False)
    assert _local(f, pal, 0, (55.0, 40.0), 8.0, 4.0) == (55.0, 40.0, 0, False)  # nothing in the window
    assert _local(f, pal, 0, (-50.0, -50.0), 12.0, 4.0) == (-50.0, -50.0, 0, False)  # the window is off the frame
    assert _local(f, pal, 0, (120.0, 20.0), 12.0, 4.0)[2] == 0


@pytest.mark.parametrize(("a", "b", "near_a", "near_b"), [((20.5, 20.5), (40.5, 20.5), (24.0, 20.5), (37.0, 20.5)),
                                                       ((30.5, 10.5), (30.5, 36.5), (30.5, 16.0), (30.5, 31.0))])
def test_of_two_blobs_the_one_nearest_the_prediction_is_taken(a: tuple[float, float], b: tuple[float, float],
                                                               near_a: tuple[float, float],
                                                               near_b: tuple[float, float]) -> None:
    """Side by side, or one above the other."""
    img = frames_of(1)[0]
    disc(img, *a, 4, RED)
    disc(img, *b, 4, RED)
    f = img.astype(np.float32) / 255
    assert _local(f, palette(RED), 0, near_b, 30.0, 4.0)[:2] == (pytest.approx(b[0]), pytest.approx(b[1]))
    assert _local(f, palette(RED), 0, near_a, 30.0, 4.0)[:2] == (pytest.approx(a[0]), pytest.approx(a[1]))


@pytest.mark.parametrize("at", [(3.5, 20.5), (60.5, 20.5), (30.5, 3.5), (30.5, 44.5)])
def test_a_body_cut_by_the_frame_s_edge_is_said_to_be(at: tuple[float, float]) -> None:
    img = frames_of(1)[0]
    disc(img, *at, 4, RED)
    edge = _local(img.astype(np.float32) / 255, palette(RED), 0, at, 12.0, 4.0)[3]
    assert edge is True


def ball(x: float, y: float, r: float = 4.0, colour: int = 0, *, start: bool = True, name: str = "ball") -> _Target:
    return _Target(name, "ball", colour, r, math.pi * r * r, (x, y) if start else None)


def moving(T: int, starts: list[tuple[float, float]], steps: list[tuple[float, float]], colours: list[tuple[int, int, int]],
           r: float = 4.0, hidden: dict[int, set[int]] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frames of discs moving in straight lines, and their true centres ``[N, T, 2]``."""
    frames = frames_of(T)
    truth = np.zeros((len(starts), T, 2))
    for t in range(T):
        for i, ((x, y), (dx, dy), c) in enumerate(zip(starts, steps, colours)):
            truth[i, t] = (x + dx * t, y + dy * t)
            if t not in (hidden or {}).get(i, set()):
                disc(frames[t], x + dx * t, y + dy * t, r, c)
    return frames, truth


def test_the_colour_tracker_follows_a_body_to_its_exact_centre_and_finds_it_again_after_a_gap() -> None:
    frames, truth = moving(10, [(10.5, 20.5)], [(4.0, 1.0)], [RED], hidden={0: {4, 5}})
    out = _track_colours(frames, [ball(10.5, 20.5)], palette(RED))
    assert out.shape == (1, 10, 2)
    seen = [t for t in range(10) if t not in (4, 5)]
    assert np.isnan(out[0, [4, 5]]).all()
    assert out[0, seen] == pytest.approx(truth[0, seen], abs=1e-4)
    unseeded = _track_colours(frames, [ball(0, 0, start=False)], palette(RED))  # found in the whole frame
    assert np.array_equal(unseeded, out, equal_nan=True)


def test_a_fast_body_is_followed_along_its_velocity_not_swapped_for_the_one_behind() -> None:
    """A train of same-coloured balls 20 px apart, each moving 10 px a frame: predicted from the last
    step, each keeps to its own ball; the ball behind is where a wrong prediction would land."""
    frames, truth = moving(5, [(26.5, 24.5), (6.5, 24.5)], [(8.0, 0.0), (8.0, 0.0)], [RED, RED])
    out = _track_colours(frames, [ball(26.5, 24.5), ball(6.5, 24.5, name="b2")], palette(RED))
    ok = ~np.isnan(out).any(axis=2)
    assert ok[:, :4].all()
    assert out[:, :4] == pytest.approx(truth[:, :4], abs=1e-4)


def test_two_bodies_of_one_colour_lost_at_once_are_each_found_in_their_own_place() -> None:
    frames, truth = moving(4, [(12.5, 12.5), (48.5, 36.5)], [(2.0, 0.0), (-2.0, 0.0)], [RED, RED])
    out = _track_colours(frames, [ball(0, 0, start=False), ball(0, 0, start=False, name="b2")], palette(RED))
    assert out[0] == pytest.approx(truth[0], abs=1e-4) and out[1] == pytest.approx(truth[1], abs=1e-4)


def test_a_body_of_another_colour_is_not_taken_for_it() -> None:
    frames, truth = moving(4, [(12.5, 12.5), (40.5, 30.5)], [(2.0, 1.0), (-2.0, 0.0)], [RED, BLUE])
    out = _track_colours(frames, [ball(40.5, 30.5, colour=1, name="blue"), ball(12.5, 12.5)], palette(RED, BLUE))
    assert out[0] == pytest.approx(truth[1], abs=1e-4) and out[1] == pytest.approx(truth[0], abs=1e-4)


def test_a_speck_of_its_colour_where_it_was_predicted_does_not_stop_the_search_of_the_whole_frame() -> None:
    """The ball jumps away at frame 3, leaving two pixels of its colour where it was headed: too little
    to be it (under 0.3 of its disc), so it is looked for in the whole frame and found where it went."""
    frames, truth = moving(6, [(10.5, 12.5)], [(3.0, 0.0)], [RED], hidden={0: {3, 4, 5}})
    for t in (3, 4, 5):
        disc(frames[t], 48.5, 36.5, 4.0, RED)
        frames[t, 12, 19:21] = RED  # the speck, by the prediction
    out = _track_colours(frames, [ball(10.5, 12.5)], palette(RED))
    assert out[0, :3] == pytest.approx(truth[0, :3], abs=1e-4)
    assert out[0, 3:] == pytest.approx(np.array([(48.5, 36.5)] * 3), abs=1e-4)


def test_a_body_less_than_three_tenths_seen_or_cut_by_the_edge_is_not_placed() -> None:
    frames, truth = moving(6, [(20.5, 24.5)], [(3.0, 0.0)], [RED])
    frames[2, :, 26:] = GREY  # frame 2: 40 % of the disc shows (its left part)
    frames[3, :, 28:] = GREY  # frame 3: 12 %
    out = _track_colours(frames, [ball(20.5, 24.5)], palette(RED))
    assert np.isfinite(out[0, 2]).all() and out[0, 2, 0] < truth[0, 2, 0] - 1  # placed, if off centre
    assert np.isnan(out[0, 3]).all()
    assert out[0, [0, 1, 4, 5]] == pytest.approx(truth[0, [0, 1, 4, 5]], abs=1e-4)
    off, _ = moving(5, [(48.5, 24.5)], [(4.0, 0.0)], [RED])  # leaves to the right
    out = _track_colours(off, [ball(48.5, 24.5)], palette(RED))
    assert np.isfinite(out[0, :3]).all() and np.isnan(out[0, 3:]).all()  # 60.5 + 4 touches the right edge


# -- frames without a scene -------------------------------------------------------------------------------
def brute_changed(frame: np.ndarray, background: np.ndarray, level: int) -> set[tuple[int, int]]:
    diff = (np.abs(frame.astype(np.int16) - background) > level).any(axis=-1)
    return set(zip(*(v.tolist() for v in np.nonzero(diff))))


def test_changed_pixels_are_all_found_around_the_coarse_grid_s_hits() -> None:
    bg = np.full((30, 42, 3), 100, np.int16)
    frame = bg.astype(np.uint8).copy()
    frame[5:9, 5:9] = (100, 100, 160)  # holds grid point (8, 8) at its corner: its other cells are up and left
    frame[12:18, 20:26, 0] = 170  # one channel is enough
    frame[26:30, 38:42] = 20  # the bottom-right corner of a frame that is not a multiple of 4
    frame[1, 2] = 250  # a single pixel off the grid is below what the grid can see
    got = _changed(frame, bg, 38)
    assert got[0].dtype == np.intp and len(got[0]) == len(got[1])
    want = brute_changed(frame, bg, 38) - {(1, 2)}
    assert set(zip(got[0].tolist(), got[1].tolist())) == want
    assert len(want) == 16 + 36 + 16
    edge = bg.astype(np.uint8).copy()
    edge[8:12, 8:12] = 138  # exactly the level: not changed
    assert len(_changed(edge, bg, 38)[0]) == 0
    edge[8:12, 8:12] = 139
    assert len(_changed(edge, bg, 38)[0]) == 16
    edge[8, 9] = 138  # beside a change the grid found: still not over the level
    assert len(_changed(edge, bg, 38)[0]) == 15
    quiet = bg.astype(np.uint8).copy()
    quiet[8, 8], quiet[9, 9] = 138, 139  # a grid point at exactly the level opens no cell around it
    assert len(_changed(quiet, bg, 38)[0]) == 0
    assert [len(v) for v in _changed(bg.astype(np.uint8), bg, 38)] == [0, 0]


def follow_points(centres: list[tuple[float, float] | None], r: float = 4.0, w: int = W, h: int = H,
                  extra: list[tuple[float, float, float]] = ()) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per frame, the pixel centres of a disc at each centre (None: none) and of the ``extra`` discs."""
    ys, xs = grid(h, w)
    out = []
    for c in centres:
        sel = np.zeros((h, w), bool)
        if c is not None:
            sel |= (xs - c[0]) ** 2 + (ys - c[1]) ** 2 <= r * r
        for ex, ey, er in extra:
            sel |= (xs - ex) ** 2 + (ys - ey) ** 2 <= er * er
        out.append((xs[sel], ys[sel]))
    return out


def test_one_blob_is_followed_through_its_pixels_frame_by_frame() -> None:
    centres = [(10.5 + 5 * t, 20.5 + t) for t in range(8)]
    track, ambiguous = _follow(follow_points(centres), 4.0, W, H)
    assert track == pytest.approx(np.array(centres), abs=1e-4) and not ambiguous.any()
    gaps = [None if t in (3, 4) else c for t, c in enumerate(centres)]
    track, _ = _follow(follow_points(gaps), 4.0, W, H)
    assert np.isnan(track[[3, 4]]).all() and track[5:] == pytest.approx(np.array(centres[5:]), abs=1e-4)
    few = follow_points(centres)
    few[2] = (few[2][0][:5], few[2][1][:5])  # fewer pixels than a blob needs (6, or 0.3 of its disc)
    assert np.isnan(_follow(few, 4.0, W, H)[0][2]).all()
    for kept, placed in ((14, False), (16, True)):  # 0.3 of a disc of radius 4 is 15.1 pixels
        part = follow_points(centres)
        part[2] = (part[2][0][:kept], part[2][1][:kept])
        assert np.isfinite(_follow(part, 4.0, W, H)[0][2]).all() == placed, kept
    jump = centres[:4] + [(50.5, 10.5)] + [(50.5, 10.5 + 2 * t) for t in range(1, 4)]
    track, _ = _follow(follow_points(jump), 4.0, W, H)  # far from any prediction: the densest spot
    assert track == pytest.approx(np.array(jump), abs=1e-4)


def test_a_blob_follows_its_prediction_past_a_bigger_look_alike_and_is_in_doubt_there() -> None:
    centres = [(8.5 + 4 * t, 30.5) for t in range(8)]
    look_alike = [(50.5, 12.5, 6.0)]  # bigger: the densest spot when nothing is predicted
    pts = follow_points(centres[:2]) + follow_points(centres[2:], extra=look_alike)  # there from frame 2
    track, ambiguous = _follow(pts, 4.0, W, H)
    assert track == pytest.approx(np.array(centres), abs=1e-4)
    assert ambiguous.tolist() == [False] * 2 + [True] * 6
    first = _follow(follow_points(centres, extra=look_alike), 4.0, W, H)[0]
    assert first[0] == pytest.approx((50.5, 12.5), abs=1e-4)  # a first frame predicts nothing: the densest spot
    alone = _follow(follow_points(centres, extra=[(50.5, 12.5, 1.0)]), 4.0, W, H)[1]
    assert not alone.any()  # a few stray pixels are no look-alike
    early = follow_points(centres[:1]) + follow_points(centres[1:], extra=look_alike)  # there from frame 1
    assert _follow(early, 4.0, W, H)[0] == pytest.approx(np.array(centres), abs=1e-4)  # frame 0 predicts frame 1
    back = [(W - x, y) for x, y in centres]  # moving left, a look-alike ahead of it on its row
    track, ambiguous = _follow(follow_points(back[:2]) + follow_points(back[2:], extra=[(W - 56.5, 30.5, 6.0)]),
                               4.0, W, H)
    assert track == pytest.approx(np.array(back), abs=1e-4) and ambiguous.tolist() == [False] * 2 + [True] * 6


def test_a_fast_blob_is_predicted_by_its_velocity_past_a_look_alike_by_where_it_was() -> None:
    """12 px a frame; from frame 1 a look-alike sits 10 px below the blob's place in frame 1. In frame
    2 the blob is predicted at its place plus its velocity, where it is: the look-alike is nearer where
    it was, and nearer a prediction that mixed up x and y."""
    centres = [(10.5 + 12 * t, 20.5) for t in range(5)]
    pts = follow_points(centres[:1], r=3.0) + follow_points(centres[1:], r=3.0, extra=[(22.5, 30.5, 3.0)])
    track, ambiguous = _follow(pts, 3.0, W, H)
    assert track == pytest.approx(np.array(centres), abs=1e-4)
    assert ambiguous.tolist() == [False] + [True] * 4


def test_a_blob_that_jumped_past_its_prediction_s_reach_is_taken_at_the_densest_spot() -> None:
    """At 2 px a frame, a blob of radius 4 (reach 5) is looked for within 2 x 5 + 2 + 4 = 16 px of its
    prediction. When it jumps away, a smaller look-alike whose nearest pixel is 17 px from the
    prediction is not it: the densest spot is."""
    centres = [(10.5 + 2 * t, 20.5) for t in range(4)] + [(50.5, 36.5)] * 2
    pts = follow_points(centres[:4]) + follow_points(centres[4:], extra=[(40.5, 20.5, 2.5)])
    track, ambiguous = _follow(pts, 4.0, W, H)
    assert track == pytest.approx(np.array(centres), abs=1e-4)
    assert ambiguous.tolist() == [False] * 4 + [True] * 2


@pytest.mark.parametrize("at", [(3.0, 20.5), (61.0, 20.5), (30.5, 3.0), (30.5, 45.0)])
def test_a_blob_cut_by_the_frame_s_edge_is_not_placed(at: tuple[float, float]) -> None:
    inward = (np.sign(32 - at[0]) * 1.0 if at[0] != 30.5 else 0.0, np.sign(24 - at[1]) * 1.0 if at[1] != 20.5 else 0.0)
    centres = [(at[0] + inward[0] * (8 - t), at[1] + inward[1] * (8 - t)) for t in range(9)]
    track, _ = _follow(follow_points(centres, r=3.0), 3.0, W, H)
    assert np.isfinite(track[:5]).all() and np.isnan(track[8]).all()


def outlined(img: np.ndarray, x: float, y: float, r: float, colour: tuple[int, int, int]) -> None:
    """A previz-like body: a dark outline (0.6 of its colour) around its fill."""
    disc(img, x, y, r, tuple(int(0.6 * v) for v in colour))
    disc(img, x, y, r - 1.2, colour)


def blobs_clip(T: int, bodies: list[tuple[tuple[float, float], tuple[float, float], tuple[int, int, int]]],
               r: float = 5.0) -> tuple[np.ndarray, np.ndarray]:
    frames = frames_of(T)
    truth = np.zeros((len(bodies), T, 2))
    for t in range(T):
        for i, ((x, y), (dx, dy), c) in enumerate(bodies):
            truth[i, t] = (x + dx * t, y + dy * t)
            outlined(frames[t], x + dx * t, y + dy * t, r, c)
    return frames, truth


def test_a_moving_blob_is_found_by_its_fill_and_followed_without_a_scene() -> None:
    frames, truth = blobs_clip(12, [((8.5, 24.5), (4.0, 0.0), RED)])
    names, tracks, radii, doubts = _track_blobs(frames, TOL)
    assert names == ["blob0"] and tracks.shape == (1, 12, 2)
    assert tracks[0] == pytest.approx(truth[0], abs=1e-4)
    assert radii[0] == pytest.approx(5.0, abs=0.3)  # the outline is a shade of the fill: one body
    assert not doubts[0].any()


def test_two_colours_are_two_blobs_most_distinct_from_the_background_first() -> None:
    frames, truth = blobs_clip(10, [((12.5, 12.5), (3.0, 1.0), BLUE), ((50.5, 34.5), (-3.0, 0.0), RED)])
    names, tracks, radii, _ = _track_blobs(frames, TOL)
    assert names == ["blob0", "blob1"]
    assert tracks[0] == pytest.approx(truth[1], abs=1e-4) and tracks[1] == pytest.approx(truth[0], abs=1e-4)
    one = _track_blobs(frames, TOL, max_blobs=1)
    assert one[0] == ["blob0"] and one[1][0] == pytest.approx(truth[1], abs=1e-4)
    two = _track_blobs(frames, TOL, max_blobs=2)  # each outline is a shade of its fill: it takes no blob's place
    assert two[0] == ["blob0", "blob1"] and two[1][1] == pytest.approx(truth[0], abs=1e-4)


def test_a_body_three_times_as_bright_as_another_is_a_body_of_its_own_not_its_light_side() -> None:
    """A colour's fill is taken from its shades up to 2.5 times as bright (the light side of its ball);
    a body in the same hue at three times, another body, is not mistaken for the first one's fill."""
    frames, truth = moving(12, [(8.5, 14.5), (50.5, 34.5)], [(4.0, 0.0), (-3.0, 0.0)],
                           [(40, 12, 12), (120, 36, 36)], r=5.0)
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert names == ["blob0", "blob1"]
    assert tracks[0] == pytest.approx(truth[0], abs=1e-4) and tracks[1] == pytest.approx(truth[1], abs=1e-4)


def test_a_trail_behind_a_blob_is_not_a_blob_of_its_own() -> None:
    """A blend of the body's colour with the background (a motion trail, an anti-aliased rim) is no
    second colour."""
    half = tuple((np.array(RED) + np.array(GREY)) // 2)
    frames, truth = blobs_clip(10, [((10.5, 24.5), (4.0, 0.0), RED)])
    for t in range(1, 10):
        trail = frames[t].copy()
        disc(trail, truth[0, t, 0] - 7, 24.5, 3, half)  # where the ball was, under the ball
        outlined(trail, *truth[0, t], 5, RED)
        frames[t] = trail
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert names == ["blob0"]
    assert tracks[0, 1:9] == pytest.approx(truth[0, 1:9], abs=1e-4)


def test_what_does_not_move_or_shows_too_little_is_no_blob() -> None:
    blink = frames_of(12)
    for t in (2, 5, 8, 11):  # in four frames: tracked, but it stays where it is
        outlined(blink[t], 30.5, 24.5, 5, RED)
    assert _track_blobs(blink, TOL)[0] == []
    tiny, _ = blobs_clip(12, [((8.5, 24.5), (4.0, 0.0), RED)], r=1.0)  # under 20 changed pixels over the picks
    names, tracks, radii, doubts = _track_blobs(tiny, TOL)
    assert (names, tracks.shape, radii, doubts) == ([], (0, 12, 2), [], [])
    three, _ = blobs_clip(12, [((8.5, 24.5), (4.0, 0.0), RED)])
    three[3:] = GREY  # seen in three frames only
    assert _track_blobs(three, TOL)[0] == []
    four, truth = blobs_clip(12, [((8.5, 24.5), (4.0, 0.0), RED)])
    four[4:] = GREY
    names, tracks, _, _ = _track_blobs(four, TOL)
    assert names == ["blob0"] and tracks[0, :4] == pytest.approx(truth[0, :4]) and np.isnan(tracks[0, 4:]).all()
    cut, _ = blobs_clip(12, [((4.5, 24.5), (4.0, 0.0), RED)])
    cut[4:] = GREY  # four frames, but the first is cut by the frame's edge: three centres
    assert _track_blobs(cut, TOL)[0] == []
    for still in (blink, cut):  # each, before a blue ball (red is the more distinct): it does not hide the ball
        both, truth = blobs_clip(12, [((8.5, 40.5), (4.0, 0.0), BLUE)])
        shown = (still != GREY).any(axis=-1)
        both[shown] = still[shown]
        names, tracks, _, _ = _track_blobs(both, TOL)
        assert names == ["blob0"] and tracks[0] == pytest.approx(truth[0], abs=1e-4)


def test_a_colour_the_background_shows_is_not_taken_for_a_body() -> None:
    """A ball that rolls off the spot of its own colour: that colour is the scenery's too."""
    frames, _ = moving(12, [(8.5, 24.5)], [(4.0, 0.0)], [RED], r=5.0)
    frames[:, 40:44, 4:8] = RED
    names, tracks, radii, doubts = _track_blobs(frames, TOL)
    assert (names, tracks.shape, radii, doubts) == ([], (0, 12, 2), [], [])
    frames[:, 40:44, 4:8] = BLUE
    assert _track_blobs(frames, TOL)[0] == ["blob0"]


def test_a_colour_off_the_blend_of_another_with_the_background_by_twice_the_tolerance_is_a_blob() -> None:
    """Blends lie within 1.5 tolerances of the segment from the background to a colour taken; an
    orange 2 tolerances off the grey-to-red segment is a colour of its own."""
    grey, red = rgb(GREY), rgb(RED)
    across = np.array([0.0, 1.0, -1.0]) / math.sqrt(2)  # at right angles to red - grey, whose green and blue agree
    orange = tuple(int(v) for v in np.round(255 * ((grey + red) / 2 + 2 * TOL * across)))
    assert _segment_distance(rgb(orange)[None], grey, red)[0] == pytest.approx(2 * TOL, abs=0.005)
    frames, truth = moving(12, [(8.5, 12.5), (50.5, 34.5)], [(4.0, 0.0), (-3.0, 0.0)], [RED, orange], r=5.0)
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert names == ["blob0", "blob1"]
    assert tracks[0] == pytest.approx(truth[0], abs=1e-4) and tracks[1] == pytest.approx(truth[1], abs=1e-4)


def test_a_colour_too_little_seen_to_be_a_blob_does_not_stop_the_next_one() -> None:
    """Red, the most distinct from the grey, shows in three frames only; blue, in all of them, is still
    a blob."""
    frames, truth = moving(12, [(8.5, 12.5), (50.5, 34.5)], [(4.0, 0.0), (-3.0, 0.0)], [RED, BLUE], r=5.0,
                           hidden={0: set(range(3, 12))})
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert names == ["blob0"] and tracks[0] == pytest.approx(truth[1], abs=1e-4)


@pytest.mark.parametrize("shown, blob", [(5, False), (6, True)])
def test_a_colour_needs_twelve_pixels_a_quarter_of_the_picked_frames(shown: int, blob: bool) -> None:
    """A 9-pixel body over 16 picked frames: 45 pixels of its colour are under 12 x 16 / 4 = 48 and no
    blob; 54 are one."""
    frames = frames_of(16)
    for t in range(shown):
        assert disc(frames[t], 12.5 + 4 * t, 20.5, 1.45, RED) == 9  # on a grid point: changes that are looked at
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert names == (["blob0"] if blob else [])
    if blob:
        assert tracks[0, :shown] == pytest.approx(np.array([(12.5 + 4 * t, 20.5) for t in range(shown)]), abs=1e-4)


@pytest.mark.parametrize("shown, blobs", [(12, 1), (15, 2)])
def test_a_colour_needs_a_hundredth_of_what_moves(shown: int, blobs: int) -> None:
    """Beside a big red ball (about 12,900 changed pixels over the 16 frames), a 9-pixel blue body
    needs 129 of its own: 108 over twelve frames are too few, 135 over fifteen are enough."""
    frames = frames_of(16, 96, 128)
    for t in range(16):
        disc(frames[t], 18.5 + 5 * t, 30.5, 16, RED)
    for t in range(shown):
        disc(frames[t], 12.5 + 4 * t, 80.5, 1.45, BLUE)
    names, tracks, _, _ = _track_blobs(frames, TOL)
    assert len(names) == blobs
    assert tracks[0, :, 0] == pytest.approx(18.5 + 5 * np.arange(16), abs=1e-3)
    if blobs == 2:
        assert tracks[1, :shown, 0] == pytest.approx(12.5 + 4 * np.arange(shown), abs=1e-4)


def test_a_body_of_six_pixels_is_a_blob_as_wide_as_a_six_pixel_disc() -> None:
    """Six pixels in a frame are the least a blob is followed by, and they count towards its size."""
    frames = frames_of(12)
    for t in range(12):
        frames[t, 20:22, 7 + 4 * t:10 + 4 * t] = RED  # 2 x 3 pixels, over a grid point in every frame
    names, tracks, radii, _ = _track_blobs(frames, TOL)
    assert names == ["blob0"] and radii == [pytest.approx(math.sqrt(6 / math.pi))]
    assert tracks[0] == pytest.approx(np.array([(8.5 + 4 * t, 21.0) for t in range(12)]), abs=1e-4)


def test_two_bodies_of_one_colour_are_one_blob_in_doubt() -> None:
    frames, truth = blobs_clip(10, [((10.5, 12.5), (4.0, 0.0), RED), ((50.5, 34.5), (-4.0, 0.0), RED)])
    names, tracks, _, doubts = _track_blobs(frames, TOL)
    assert names == ["blob0"]
    found = np.isfinite(tracks[0, :, 0])
    assert found.sum() >= 8 and doubts[0][found].all()


# -- what a video model draws: appearance ----------------------------------------------------------------
AH, AW = 72, 96
_noise = np.random.default_rng(0).normal(0, 6, (AH, AW, 1))
TEXTURE = (_noise + np.array([90, 110, 100])).clip(0, 255).astype(np.uint8)  # a grainy backdrop
BRICK = (210, 70, 50)


def textured(img: np.ndarray, x: float, y: float, r: float, colour: tuple[int, int, int] = BRICK,
             turn: float = 0.0) -> None:
    """A ball with a dark cross on it (turned by ``turn`` radians): something to match, as a drawn
    ball's shading is."""
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]] + 0.5
    inside = (xx - x) ** 2 + (yy - y) ** 2 <= r * r
    u = (xx - x) * math.cos(turn) + (yy - y) * math.sin(turn)
    v = (yy - y) * math.cos(turn) - (xx - x) * math.sin(turn)
    img[inside] = colour
    img[inside & ((np.abs(u) < r / 4) | (np.abs(v) < r / 4))] = tuple(int(0.35 * c) for c in colour)


def drawn(path: list[tuple[float, float] | None], r: float = 8.0, colour: tuple[int, int, int] = BRICK,
          backdrop: np.ndarray = TEXTURE) -> np.ndarray:
    frames = np.stack([backdrop.copy() for _ in path])
    for t, p in enumerate(path):
        if p is not None:
            textured(frames[t], *p, r, colour)
    return frames


def test_a_drawn_ball_is_followed_by_its_look_to_its_centre_on_the_previz_s_pixel_grid() -> None:
    """Centres as the previz draws them (pixel ``(i, j)`` at ``(j + 0.5, i + 0.5)``), to a tenth of a
    pixel: the colour tracker's frame, so that the two can be judged alike."""
    path = [(20.5 + 3 * t, 30.5 + t) for t in range(10)]
    tracks, scores = track_appearance(drawn(path), [(20.5, 30.5, 8.0)])
    assert tracks.shape == (1, 10, 2) and scores.shape == (1, 10)
    assert tracks[0] == pytest.approx(np.array(path), abs=0.1)
    assert scores[0, 0] == 1.0 and (scores[0, 1:] > 0.95).all()


def test_two_balls_are_each_followed_from_their_own_seed() -> None:
    a = [(16.5 + 3 * t, 20.5) for t in range(8)]
    b = [(70.5 - 2 * t, 50.5 - t) for t in range(8)]
    frames = drawn(a)
    for t, p in enumerate(b):
        textured(frames[t], *p, 7.0, (60, 90, 220))
    tracks, _ = track_appearance(frames, [(16.5, 20.5, 8.0), (70.5, 50.5, 7.0)])
    assert tracks[0] == pytest.approx(np.array(a), abs=0.1) and tracks[1] == pytest.approx(np.array(b), abs=0.1)


def test_nothing_to_follow_at_the_seed_gives_no_track() -> None:
    flat = np.full((AH, AW, 3), 100, np.uint8)
    path = [(20.5 + 3 * t, 30.5) for t in range(6)]
    frames = drawn(path, backdrop=flat)
    tracks, scores = track_appearance(frames, [(70.5, 50.5, 8.0), (2.5, 30.5, 8.0), (20.5, 30.5, 8.0)])
    assert np.isnan(tracks[:2]).all() and (scores[:2] == 0).all()  # a flat backdrop; a square off the frame
    assert tracks[2] == pytest.approx(np.array(path), abs=0.1)


def test_a_ball_hidden_for_some_frames_is_lost_there_and_found_again_along_its_way() -> None:
    path = [(14.5 + 5 * t, 36.5) for t in range(12)]
    shown = [None if t in (5, 6) else p for t, p in enumerate(path)]
    tracks, scores = track_appearance(drawn(shown), [(14.5, 36.5, 8.0)])
    assert np.isnan(tracks[0, [5, 6]]).all() and (scores[0, [5, 6]] == 0).all()
    seen = [t for t in range(12) if t not in (5, 6)]
    assert tracks[0, seen] == pytest.approx(np.array(path)[seen], abs=0.1)


def test_a_ball_that_bounces_back_is_followed_by_the_flow_past_a_look_alike_where_it_was_headed() -> None:
    """10 px a frame to the right, then back from frame 5 (turned a little: it spins at the bounce). A
    look-alike appears in frame 5 just beyond where the ball was headed. The median flow over the
    ball's disc says it came back, and it is found there; its place in frame 4, or its old velocity,
    would both have taken the look-alike."""
    xs = [20.5 + 10 * t for t in range(5)]
    path = [(x, 36.5) for x in xs + [xs[-1] - 10 * t for t in range(1, 4)]]
    frames = np.stack([TEXTURE.copy() for _ in path])
    for t, p in enumerate(path):
        textured(frames[t], *p, 8.0, turn=0.3 if t >= 5 else 0.0)
    for t in range(5, 8):
        textured(frames[t], xs[-1] + 12, 36.5, 8.0)
    tracks, _ = track_appearance(frames, [(20.5, 36.5, 8.0)])
    assert tracks[0] == pytest.approx(np.array(path), abs=0.1)


def test_a_ball_that_jumps_is_found_where_it_went() -> None:
    path = [(14.5 + 2 * t, 20.5) for t in range(5)] + [(60.5 + 2 * t, 52.5) for t in range(5)]
    tracks, scores = track_appearance(drawn(path), [(14.5, 20.5, 8.0)])
    assert tracks[0] == pytest.approx(np.array(path), abs=0.1)
    assert scores[0, 5] > GLOBAL_MATCH


def test_a_twin_in_another_colour_is_not_taken_for_the_ball_but_one_in_its_colour_is() -> None:
    path = [(14.5 + 3 * t, 20.5) for t in range(5)] + [None] * 3
    frames = drawn(path)
    other = frames.copy()
    for t in range(5, 8):
        textured(frames[t], 60.5, 50.5, 8.0, (50, 200, 70))  # as bright, with the same cross: another colour
        textured(other[t], 60.5, 50.5, 8.0)
    tracks, scores = track_appearance(frames, [(14.5, 20.5, 8.0)])
    assert np.isnan(tracks[0, 5:]).all() and (scores[0, 5:] == 0).all()
    assert track_appearance(other, [(14.5, 20.5, 8.0)])[0][0, 5:] == pytest.approx(np.array([(60.5, 50.5)] * 3),
                                                                                  abs=0.1)


def test_a_ball_is_followed_from_the_frame_it_is_seeded_in() -> None:
    path = [None] * 3 + [(20.5 + 3 * t, 30.5) for t in range(6)]
    tracks, scores = track_appearance(drawn(path), [(20.5, 30.5, 8.0)], [3])
    assert np.isnan(tracks[0, :3]).all() and (scores[0, :3] == 0).all()
    assert tracks[0, 3:] == pytest.approx(np.array(path[3:]), abs=0.1)


def test_a_ball_found_after_a_gap_is_looked_for_along_the_velocity_measured_across_the_gap() -> None:
    """4 px a frame, hidden in frames 5, 7 and 8. Back in frame 6, its velocity is what it went over
    the two frames since frame 4, not the whole way; in frame 9 a look-alike appears where four times
    that velocity would put it, and the ball is taken where it is."""
    path = [(14.5 + 4 * t, 36.5) for t in range(10)]
    frames = drawn([None if t in (5, 7, 8) else p for t, p in enumerate(path)])
    textured(frames[9], 78.5, 36.5, 8.0)
    tracks, scores = track_appearance(frames, [(14.5, 36.5, 8.0)])
    assert np.isnan(tracks[0, [5, 7, 8]]).all() and (scores[0, [5, 7, 8]] == 0).all()
    seen = [0, 1, 2, 3, 4, 6, 9]
    assert tracks[0, seen] == pytest.approx(np.array(path)[seen], abs=0.1)


def test_a_ball_back_off_its_line_and_turned_is_looked_for_in_a_window_grown_with_its_speed() -> None:
    """Hidden for three frames at 4 px a frame, it comes back 22 px below where it was headed, its
    cross turned by 0.6 radians: a match under what the whole frame's search takes, found in
    the window grown by twice its speed for each frame lost, and not the better look-alike that
    appears beyond that window at the same time."""
    wide = np.concatenate([TEXTURE, TEXTURE[:, ::-1]], axis=1)  # 192 px: room beyond the grown window
    path = [(14.5 + 4 * t, 36.5) for t in range(5)]
    frames = drawn(path + [None] * 5, backdrop=wide)
    textured(frames[8], 42.5, 58.5, 8.0, turn=0.6)
    textured(frames[9], 46.5, 58.5, 8.0, turn=0.6)
    tracks, scores = track_appearance(frames, [(14.5, 36.5, 8.0)])
    assert np.isnan(tracks[0, 5:8]).all()
    assert tracks[0, 8] == pytest.approx((42.5, 58.5), abs=0.3) and LOCAL_MATCH <= scores[0, 8] < GLOBAL_MATCH
    assert tracks[0, 9] == pytest.approx((46.5, 58.5), abs=0.3)
    for t in (8, 9):
        textured(frames[t], 170.5, 20.5, 8.0)  # unturned: a better match than the ball
    again, _ = track_appearance(frames, [(14.5, 36.5, 8.0)])
    assert again[0] == pytest.approx(tracks[0], abs=1e-6, nan_ok=True)


def test_a_square_s_chromaticity_and_patch_are_read_around_the_pixel_holding_the_point() -> None:
    img = np.zeros((10, 12, 3), np.uint8)
    img[:, :] = (30, 30, 30)
    img[2:5, 3:6] = (100, 50, 50)
    assert _chroma(img, 4.5, 3.5, 1).tolist() == pytest.approx([0.5, 0.25, 0.25])
    assert _chroma(img, 4.99, 3.01, 1).tolist() == pytest.approx([0.5, 0.25, 0.25])  # still pixel (3, 4)
    assert _chroma(img, 5.0, 3.5, 1).tolist() != pytest.approx([0.5, 0.25, 0.25])
    img[3, 4] = (60, 20, 40)  # the square's middle pixel: each of the nine counts
    assert _chroma(img, 4.5, 3.5, 1).tolist() == pytest.approx(np.array([860, 420, 440]) / 1720)
    assert _chroma(img, 0.5, 0.5, 1).tolist() == pytest.approx([1 / 3] * 3)  # clipped at the corner
    img[0, 0] = (90, 0, 0)  # the corner's own row and column count
    assert _chroma(img, 0.5, 0.5, 1).tolist() == pytest.approx(np.array([180, 90, 90]) / 360)
    faint = np.zeros((4, 4, 3), np.uint8)
    faint[1, 1] = (1, 0, 0)  # nearly black: still red
    assert _chroma(faint, 1.5, 1.5, 1).tolist() == pytest.approx([1.0, 0.0, 0.0])
    assert _chroma(img, -50.0, -50.0, 1).tolist() == pytest.approx([1 / 3] * 3)  # nothing there
    assert _chroma(np.zeros((4, 4, 3), np.uint8), 2.0, 2.0, 1).tolist() == [0.0, 0.0, 0.0]  # black: no division by 0
    grey = np.arange(120, dtype=np.float32).reshape(10, 12)
    assert _patch(grey, 4.5, 3.5, 1).tolist() == grey[2:5, 3:6].tolist()
    assert _patch(grey, 1.9, 1.2, 1).shape == (3, 3) and _patch(grey, 0.9, 1.2, 1) is None
    assert _patch(grey, 1.5, 0.9, 1) is None
    assert _patch(grey, 10.9, 8.9, 1).shape == (3, 3) and _patch(grey, 11.0, 8.5, 1) is None
    assert _patch(grey, 10.5, 9.0, 1) is None


def blob_image(x: float, y: float, h: int = 40, w: int = 56, sigma: float = 2.5) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    grain = np.random.default_rng(1).normal(0, 2, (h, w))  # a flat region correlates with anything
    return (200 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma**2)) + grain).astype(np.float32)


def test_a_match_is_refined_to_a_fraction_of_a_pixel_near_its_guess_or_anywhere() -> None:
    template = _patch(blob_image(20.5, 20.5), 20.5, 20.5, 5)
    img = blob_image(30.3, 15.8)
    for near in ((31.0, 16.0), None):
        x, y, score = _match(img, template, near, 4)
        assert (x, y) == pytest.approx((30.3, 15.8), abs=0.08) and score > 0.95
    twin = np.maximum(img, blob_image(8.6, 30.4))
    x, y, _ = _match(twin, template, (9.0, 31.0), 3)  # the one within reach of the guess, of two alike
    assert (x, y) == pytest.approx((8.6, 30.4), abs=0.08)
    x, y, _ = _match(twin, template, (29.0, 14.0), 3)
    assert (x, y) == pytest.approx((30.3, 15.8), abs=0.08)
    x, y, _ = _match(img, template, (24.0, 15.0), 3)  # the window reaches 28.5: its best is on its border
    assert (x, y) == pytest.approx((30.3, 15.8), abs=0.08)  # so it is moved there and the peak found
    for guess in ((36.0, 15.0), (30.0, 9.0), (30.0, 22.0)):  # the other three borders
        assert _match(img, template, guess, 3)[:2] == pytest.approx((30.3, 15.8), abs=0.08)
    assert _match(img, np.full((11, 11), 7.0, np.float32)) is None  # nothing to match
    assert _match(img[:10], template) is None  # smaller than the template
    assert _match(img, template, (2.0, 2.0), 0) is None  # the window at the corner is cut to less


# -- what moves, without a scene ---------------------------------------------------------------------
DARK = np.full((AH, AW, 3), 60, np.uint8)


def bright(path: list[tuple[float, float] | None], r: float = 6.0, *, more: list[list[tuple[float, float]]] = ()
           ) -> np.ndarray:
    frames = np.stack([DARK.copy() for _ in path])
    for t, p in enumerate(path):
        for q in [p, *(m[t] for m in more)]:
            if q is not None:
                disc(frames[t], *q, r, (230, 230, 230))
    return frames


def test_what_moves_is_found_where_it_first_shows_with_its_size() -> None:
    """A ball that moves on over 16 frames, so that the median of each pixel is the backdrop."""
    path = [(20.5 + 4 * t, 30.5) for t in range(16)]
    found = detect_moving(bright(path))
    assert len(found) == 1
    t, x, y, r = found[0]
    assert (t, x, y) == (0, pytest.approx(20.5, abs=0.05), pytest.approx(30.5, abs=0.05))
    assert 6.0 < r < 9.5  # the blurred disc's region is a little wider
    late = detect_moving(bright([None] * 3 + path[3:]))
    assert late[0][:3] == (3, pytest.approx(32.5, abs=0.05), pytest.approx(30.5, abs=0.05))
    assert detect_moving(bright([None] * 16)) == []
    two = bright(path)
    right = two[:, :, AW // 2:]
    right[right == 60] = 140  # a backdrop in two greys: each pixel is compared with its own median
    assert [f[:3] for f in detect_moving(two)] == [(0, pytest.approx(20.5, abs=0.05), pytest.approx(30.5, abs=0.05))]


def test_a_region_cut_by_the_frame_s_edge_or_too_small_or_not_compact_seeds_nothing() -> None:
    for start in ((3.5, 30.5), (AW - 3.5, 30.5), (40.5, 3.5), (40.5, AH - 3.5)):
        step = np.sign(np.array([AW / 2, AH / 2]) - start) * 8 * (np.abs(np.array([AW / 2, AH / 2]) - start) > 10)
        path = [(start[0] + step[0] * t, start[1] + step[1] * t) for t in range(6)]
        assert detect_moving(bright(path))[0][0] == 1, start  # frame 0 touches the edge
    path = [(20.5 + 4 * t, 30.5) for t in range(16)]
    area = round(math.pi * detect_moving(bright(path))[0][3] ** 2)
    assert detect_moving(bright(path), min_area=area) != [] and detect_moving(bright(path), min_area=area + 1) == []
    frames = np.stack([DARK.copy() for _ in range(8)])
    for t in range(8):  # a thin diagonal line: its bounding box is mostly empty
        for k in range(30):
            frames[t, 10 + k, 10 + k + 3 * t] = 230
    assert detect_moving(frames) == []


def test_each_moving_body_seeds_one_and_at_most_as_many_as_asked() -> None:
    a = [(20.5 + 4 * t, 20.5) for t in range(16)]
    b = [(76.5 - 4 * t, 52.5) for t in range(16)]
    found = detect_moving(bright(a, more=[b]))
    assert [(t, round(x, 1), round(y, 1)) for t, x, y, _ in found] == [(0, 20.5, 20.5), (0, 76.5, 52.5)]
    assert [f[1:3] for f in detect_moving(bright(a, more=[b]), max_bodies=1)] == [found[0][1:3]]
    near = [(20.5 + 4 * t, 20.5 + 14) for t in range(16)]  # 14 px apart: closer than three radii
    assert len(detect_moving(bright(a, more=[near]))) == 1
    edge = [(3.5 + 8 * t, 20.5) for t in range(16)]  # cut by the frame's edge in frame 0, and found first there
    first = detect_moving(bright(edge, more=[b]))[0]
    assert (first[0], round(first[1], 1), round(first[2], 1)) == (0, 76.5, 52.5)


# -- edges and look-alikes -------------------------------------------------------------------------------
@pytest.mark.parametrize("side", ["left", "top", "right", "bottom"])
def test_a_body_a_pixel_clear_of_the_frame_s_edge_but_cut_by_the_window_is_looked_at_again(side: str) -> None:
    """Only the frame's own edge settles a cut blob: one a window cut (a prediction that was off)
    is looked at again in a window around it, and found whole."""
    at = {"left": (5.5, 24.5), "top": (32.5, 5.5), "right": (W - 5.5, 24.5), "bottom": (32.5, H - 5.5)}[side]
    img = frames_of(1)[0]
    area = disc(img, *at, 4, RED)
    off = {"left": (0.0, 9.0), "top": (9.0, 0.0), "right": (0.0, -9.0), "bottom": (-9.0, 0.0)}[side]
    pred = (at[0] + off[0], at[1] + off[1])  # the window (half 8) holds part of the disc only
    x, y, count, edge = _local(img.astype(np.float32) / 255, palette(RED), 0, pred, 8.0, 4.0)
    assert (x, y, count, edge) == (pytest.approx(at[0]), pytest.approx(at[1]), area, False)


def test_a_body_touching_the_frame_s_first_row_and_column_is_counted_whole() -> None:
    img = frames_of(1)[0]
    area = disc(img, 2.5, 2.5, 4, RED)
    x, y, count, edge = _local(img.astype(np.float32) / 255, palette(RED), 0, (3.0, 3.0), 12.0, 4.0)
    assert count == area and edge


@pytest.mark.parametrize("arrangement", ["above", "left", "beside"])
def test_a_body_found_first_is_left_out_of_the_search_for_one_of_its_colour(arrangement: str) -> None:
    """One body follows its start; the other, lost, is looked for in the whole frame without the
    first (above it or left of it, the search must still leave the first out and find the second).
    Only what lies within the first's reach and a pixel and a half is left out: beside it, 10 px
    from centre to centre, the second's nearest pixels (6 px from the first's centre) are its own."""
    second, step = {"above": ((30.5, 10.5), (0.0, 1.0)), "left": ((10.5, 30.5), (0.0, 1.0)),
                    "beside": ((40.5, 30.5), (1.0, 0.0))}[arrangement]
    frames, truth = moving(3, [(30.5, 30.5), second], [(1.0, 0.0), step], [RED, RED])
    out = _track_colours(frames, [ball(30.5, 30.5), ball(0, 0, start=False, name="b2")], palette(RED))
    assert out[0] == pytest.approx(truth[0], abs=1e-4) and out[1] == pytest.approx(truth[1], abs=1e-4)


def test_a_lost_body_not_in_the_frame_does_not_stop_the_search_for_the_next() -> None:
    frames, truth = moving(3, [(30.5, 20.5)], [(2.0, 0.0)], [BLUE])
    out = _track_colours(frames, [ball(0, 0, start=False), ball(0, 0, colour=1, start=False, name="blue")],
                         palette(RED, BLUE))
    assert np.isnan(out[0]).all() and out[1] == pytest.approx(truth[0], abs=1e-4)


def test_a_body_is_predicted_from_its_last_step_past_the_one_following_close_behind() -> None:
    """Balls 16 px apart moving 10 px a frame: without the last step, the ball behind would be the
    nearer; the one behind shows from frame 2, when the first has a step to go by."""
    frames, truth = moving(6, [(6.5, 24.5), (-9.5, 24.5)], [(10.0, 0.0), (10.0, 0.0)], [RED, RED],
                           hidden={1: {0, 1}})
    out = _track_colours(frames, [ball(6.5, 24.5), ball(0, 0, start=False, name="b2")], palette(RED))
    assert out[0] == pytest.approx(truth[0], abs=1e-4)
    assert out[1, 2:] == pytest.approx(truth[1, 2:], abs=1e-4)


def test_a_match_at_any_place_of_the_search_is_refined_or_kept_whole_at_its_ends() -> None:
    template = _patch(blob_image(20.5, 20.5), 20.5, 20.5, 5)  # 11 px: centres from 5.5 to W - 5.5 can match
    h, w = 40, 56
    for x, y in ((5.5, 20.5), (6.8, 20.5), (w - 6.8, 20.5), (w - 5.5, 20.5), (30.5, 5.5), (30.5, 6.8),
                 (30.5, h - 6.8), (30.5, h - 5.5)):
        mx, my, _ = _match(blob_image(x, y), template)
        assert (mx, my) == pytest.approx((x, y), abs=0.08), (x, y)
        mx, my, _ = _match(blob_image(x, y), template, (x + 0.7, y - 0.7), 3)  # a window cut by the image's edge
        assert (mx, my) == pytest.approx((x, y), abs=0.08), (x, y)
    exact = template.copy()
    assert _match(exact, template) == (5.5, 5.5, pytest.approx(1.0))  # a region just its size
    faint = template * 0.002  # a low-contrast picture matches as well: correlation ignores scale
    assert _match(blob_image(30.3, 15.8), faint)[:2] == pytest.approx((30.3, 15.8), abs=0.08)


def test_colours_that_differ_in_one_channel_only_are_two_blobs() -> None:
    for a, b in (((220, 40, 40), (40, 40, 40)), ((40, 220, 40), (40, 40, 40)), ((40, 40, 220), (40, 40, 40)),
                 ((220, 220, 40), (220, 40, 40))):
        frames, truth = blobs_clip(10, [((10.5, 12.5), (4.0, 0.0), a), ((50.5, 34.5), (-4.0, 0.0), b)])
        names, tracks, _, _ = _track_blobs(frames, TOL)
        assert len(names) == 2, (a, b)
        got = sorted(tuple(np.round(t[5]).tolist()) for t in tracks)
        assert got == sorted(tuple(np.round(t[5]).tolist()) for t in truth), (a, b)


def test_two_balls_that_look_alike_keep_their_own_tracks_through_a_gap() -> None:
    a = [(14.5 + 5 * t, 18.5) for t in range(12)]
    b = [(80.5 - 5 * t, 52.5) for t in range(12)]
    frames = drawn([None if t in (5, 6) else p for t, p in enumerate(a)])
    for t, p in enumerate(b):
        if t not in (5, 6):
            textured(frames[t], *p, 8.0)
    tracks, _ = track_appearance(frames, [(14.5, 18.5, 8.0), (80.5, 52.5, 8.0)])
    seen = [t for t in range(12) if t not in (5, 6)]
    assert tracks[0, seen] == pytest.approx(np.array(a)[seen], abs=0.1)
    assert tracks[1, seen] == pytest.approx(np.array(b)[seen], abs=0.1)


def test_regions_within_three_radii_are_one_body_and_farther_ones_two() -> None:
    across = [(20.5 + 4 * t, 14.5) for t in range(16)]  # a pair one above the other moves across
    down = [(14.5, 14.5 + 3 * t) for t in range(16)]  # a pair side by side moves down
    r = detect_moving(bright(across))[0][3]

    def count(path: list[tuple[float, float]], dx: float, dy: float) -> int:
        return len(detect_moving(bright(path, more=[[(x + dx, y + dy) for x, y in path]])))

    assert count(across, 0, 2.6 * r) == 1  # two regions (the gap is wider than the blur) merged as one body
    assert count(across, 0, 3.4 * r) == 2
    assert count(down, 3.4 * r, 0) == 2
    assert count(across, 0.8 * r, 3.2 * r) == 2  # near in x, not in all
    assert count(down, 3.2 * r, 0.8 * r) == 2


def test_a_small_region_before_a_body_does_not_hide_it() -> None:
    path = [(40.5 + 3 * t, 40.5) for t in range(16)]
    frames = bright(path)
    for t in range(16):
        frames[t, 6 + t % 2, 20:23] = 230  # a flicker of three pixels, above (so before) the body
    found = detect_moving(frames)
    assert [f[:3] for f in found] == [(0, pytest.approx(40.5, abs=0.05), pytest.approx(40.5, abs=0.05))]


def test_a_faint_body_is_found_in_light_that_drifts() -> None:
    path = [(20.5 + 4 * t, 30.5) for t in range(16)]
    frames = np.stack([DARK.copy() for _ in path])
    for t, p in enumerate(path):
        disc(frames[t], *p, 6.0, (100, 100, 100))
    light = np.linspace(0.75, 1.25, 16)[:, None, None, None]
    drifting = (frames * light).round().clip(0, 255).astype(np.uint8)
    found = detect_moving(drifting)
    assert len(found) == 1 and found[0][:3] == (0, pytest.approx(20.5, abs=0.3), pytest.approx(30.5, abs=0.3))


@pytest.mark.parametrize("grey, seen", [(72, False), (73, True)])
def test_on_a_still_backdrop_a_body_must_differ_by_more_than_12_grey_levels(grey: int, seen: bool) -> None:
    """Where nothing else changes, six times the typical difference is 0: the floor of 12 levels
    decides. A wide disc 12 levels above the backdrop is not seen; 13 levels above, it is."""
    path = [(20.5 + 4 * t, 30.5) for t in range(16)]
    frames = np.stack([DARK.copy() for _ in path])
    for t, p in enumerate(path):
        disc(frames[t], *p, 10.0, (grey,) * 3)
    start = (0, pytest.approx(20.5, abs=0.05), pytest.approx(30.5, abs=0.05))
    assert [f[:3] for f in detect_moving(frames)] == ([start] if seen else [])


def test_at_most_eight_bodies_are_seeded_unless_asked() -> None:
    paths = [[(10.5 + 24 * (k % 4), 14.5 + 40 * (k // 4) + t) for t in range(16)] for k in range(9)]
    frames = np.stack([np.full((2 * AH, AW, 3), 60, np.uint8) for _ in range(16)])
    for t in range(16):
        for p in paths:
            if p[t][1] < 2 * AH - 8:
                disc(frames[t], *p[t], 4.0, (230, 230, 230))
    assert len(detect_moving(frames)) == 8 and len(detect_moving(frames, max_bodies=9)) == 9


@pytest.mark.parametrize(("offset", "where"), [(15.0, "body"), (26.0, "look-alike")])
def test_a_blob_far_from_its_prediction_is_taken_at_the_densest_spot_of_its_colour(offset: float, where: str) -> None:
    """A blob (radius 4, so reach 5) moving 4 px a frame is looked for within 2 reach + its speed + 4
    = 18 px of where it should be; beyond that, at the densest spot of its colour: here a bigger
    look-alike that shows from the same frame."""
    centres: list[tuple[float, float]] = [(8.5 + 4 * t, 30.5) for t in range(5)] + [(28.5 + offset, 30.5)]
    pts = follow_points(centres[:5]) + follow_points(centres[5:], extra=[(16.5, 10.5, 6.0)])
    track, _ = _follow(pts, 4.0, W, H)
    assert track[5] == pytest.approx(centres[5] if where == "body" else (16.5, 10.5), abs=1e-4)


def test_the_pixel_nearest_the_prediction_seeds_the_blob_above_or_below_it() -> None:
    centres = [(30.5, 20.5 + 3 * t) for t in range(6)]
    pts = follow_points(centres[:2]) + follow_points(centres[2:], extra=[(30.5, 5.5, 4.5)])  # above, from frame 2
    track, _ = _follow(pts, 4.0, W, H)
    assert track == pytest.approx(np.array(centres), abs=1e-4)


def test_a_ball_faster_than_its_search_window_is_followed_by_the_flow_past_a_twin() -> None:
    """16 px a frame is beyond the match's reach (radius + 6) around the last place: the optical
    flow's prediction keeps the match on the ball, not on an identical ball standing elsewhere."""
    path = [(12.5 + 16 * t, 20.5) for t in range(5)]
    frames = drawn(path)
    for f in frames:
        textured(f, 48.5, 54.5, 8.0)
    tracks, _ = track_appearance(frames, [(12.5, 20.5, 8.0), (48.5, 54.5, 8.0)])
    assert tracks[0] == pytest.approx(np.array(path), abs=0.15)
    assert tracks[1] == pytest.approx(np.array([(48.5, 54.5)] * 5), abs=0.1)
