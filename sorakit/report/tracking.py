"""Finding the moving bodies in the frames: by their known colours (the previz), or as moving blobs
(no scene). See the package's docstring, step 1."""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# Shading factors a body's colour may take in the previz: outline 0.6, seams ~0.55, light ±12 %.
SHADE_LO, SHADE_HI = 0.5, 1.2


# -- colours ----------------------------------------------------------------------------------


def _rgb(color: str) -> np.ndarray:
    return np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.float32) / 255.0


def _line_distance(pix: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Distance of each RGB pixel from ``s * c`` for the best shading ``s`` in [SHADE_LO, SHADE_HI]."""
    s = np.clip(pix @ c / float(c @ c), SHADE_LO, SHADE_HI)
    d = pix - s[..., None] * c
    out: np.ndarray = np.sqrt(np.einsum("...k,...k->...", d, d))
    return out


def _segment_distance(pix: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each RGB pixel from the colour segment ``a``-``b``."""
    d = b - a
    n = float(d @ d)
    s = np.zeros(pix.shape[:-1]) if n == 0 else np.clip((pix - a) @ d / n, 0.0, 1.0)
    e = pix - a - s[..., None] * d
    out: np.ndarray = np.sqrt(np.einsum("...k,...k->...", e, e))
    return out


def _same_hue(a: np.ndarray, c: np.ndarray, tol: float) -> bool:
    """Whether ``a`` is ``c`` scaled by 0.4 to 2.5 (a shade of the same paint), within ``tol``."""
    s = float(a @ c) / max(float(c @ c), 1e-9)
    return 0.4 <= s <= 2.5 and float(np.linalg.norm(a - s * c)) <= tol * max(1.0, s)


class _Palette:
    """Nearest-colour classification: body colours (shading lines) against the static colours."""

    def __init__(self, bodies: list[np.ndarray], static: list[tuple[np.ndarray, np.ndarray]], tol: float) -> None:
        self.bodies = bodies
        self.static = static
        self.tol = tol

    def classify(self, img: np.ndarray) -> np.ndarray:
        """int8 labels of an RGB (0-1) image: the index of the body colour, or -1."""
        pix = img.astype(np.float32)
        d = np.stack([_line_distance(pix, c) for c in self.bodies])
        best = np.argmin(d, axis=0)
        dbest = np.take_along_axis(d, best[None], axis=0)[0]
        ok = dbest <= self.tol
        if self.static and ok.any():  # static colours only matter where a body colour is close
            cand = pix[ok]
            dstat = np.min(np.stack([_segment_distance(cand, a, b) for a, b in self.static]), axis=0)
            ok[ok] = dbest[ok] < dstat
        return np.where(ok, best, -1).astype(np.int8)


# -- tracking ---------------------------------------------------------------------------------


@dataclass
class _Target:
    name: str
    kind: str
    colour: int  # index into the palette's body colours
    reach: float  # px: radius, or half-diagonal for a box
    area: float  # px²: what a fully visible body covers
    start: tuple[float, float] | None  # px


def _blob(mask: np.ndarray, ys: np.ndarray, xs: np.ndarray, seed: tuple[float, float], reach: float
          ) -> tuple[float, float, int, bool]:
    """Mean shift over ``mask`` from ``seed`` with a disc of radius ``reach + 1``.

    A seed on the rim of a blob is first pulled in with a wider disc (``1.6 reach + 1``), since the
    body-sized disc only creeps towards the centre from there.

    Returns ``(x, y, count, touches_edge)``; ``ys``/``xs`` are the pixel-centre coordinates of ``mask``.
    """
    cx, cy = seed
    for i in range(12):
        r2 = (1.6 * reach + 1.0) ** 2 if i < 2 else (reach + 1.0) ** 2
        sel = mask & ((xs - cx) ** 2 + (ys - cy) ** 2 <= r2)
        count = int(sel.sum())
        if count == 0:
            return cx, cy, 0, False
        nx, ny = float(xs[sel].mean()), float(ys[sel].mean())
        moved = abs(nx - cx) + abs(ny - cy)
        cx, cy = nx, ny
        if i >= 2 and moved < 0.02:
            break
    return cx, cy, count, bool(sel[0, :].any() or sel[-1, :].any() or sel[:, 0].any() or sel[:, -1].any())


def _local(img: np.ndarray, palette: _Palette, k: int, pred: tuple[float, float], half: float, reach: float
           ) -> tuple[float, float, int, bool]:
    """The blob of colour ``k`` nearest ``pred`` in the window of half-size ``half`` around it.

    A blob cut by the window (the prediction was off, as at a bounce) is looked at again in a
    window centred on it, which only the frame's edge can cut. Returns ``(x, y, count, cut_by_the_frame_edge)``.
    """
    H, W = img.shape[:2]
    x, y, count = pred[0], pred[1], 0
    for _ in range(2):
        xa, xb = max(0, int(pred[0] - half)), min(W, int(pred[0] + half) + 1)
        ya, yb = max(0, int(pred[1] - half)), min(H, int(pred[1] + half) + 1)
        mask = palette.classify(img[ya:yb, xa:xb]) == k
        if not mask.any():
            return x, y, 0, False
        ys, xs = np.mgrid[ya:yb, xa:xb] + 0.5
        iy, ix = np.nonzero(mask)
        j = int(np.argmin((xs[iy, ix] - pred[0]) ** 2 + (ys[iy, ix] - pred[1]) ** 2))
        x, y, count, edge = _blob(mask, ys, xs, (float(xs[iy[j], ix[j]]), float(ys[iy[j], ix[j]])), reach)
        if not edge:
            return x, y, count, False
        pred, half = (x, y), 2.0 * reach + 4.0  # a window's border moves with it; the frame's stays
    return x, y, count, True


def _densest(mask: np.ndarray, reach: float) -> tuple[float, float, int]:
    """Centre of the square of side ``2 reach + 1`` holding the most ``mask`` pixels (integral image)."""
    s = max(1, int(round(reach)))
    H, W = mask.shape
    ii = np.zeros((H + 1, W + 1))  # ii[y, x]: the mask pixels above and left of (x, y)
    ii[1:, 1:] = mask.cumsum(0).cumsum(1)
    y0, y1 = np.maximum(np.arange(H) - s, 0), np.minimum(np.arange(H) + s + 1, H)
    x0, x1 = np.maximum(np.arange(W) - s, 0), np.minimum(np.arange(W) + s + 1, W)
    dens = ii[y1][:, x1] - ii[y0][:, x1] - ii[y1][:, x0] + ii[y0][:, x0]
    j = int(np.argmax(dens))
    y, x = divmod(j, W)
    return x + 0.5, y + 0.5, int(dens.flat[j])


def _track_colours(frames: np.ndarray, targets: list[_Target], palette: _Palette) -> np.ndarray:
    """Centre of every target in every frame, pixels, NaN where not found: float ``[N, T, 2]``."""
    T, H, W, _ = frames.shape
    out = np.full((len(targets), T, 2), np.nan)
    gy, gx = np.mgrid[0:H, 0:W] + 0.5
    for t in range(T):
        img = frames[t].astype(np.float32) / 255.0
        lost: list[int] = []
        for i, tg in enumerate(targets):
            prev = out[i, t - 1] if t >= 1 else np.array([np.nan, np.nan])
            if t >= 1 and np.isfinite(prev).all():
                before = out[i, t - 2] if t >= 2 else prev
                step = prev - before if np.isfinite(before).all() else np.zeros(2)
                pred = prev + step
                speed = float(np.hypot(*step))
            elif t == 0 and tg.start is not None:
                pred, speed = np.array(tg.start), 0.0
            else:
                lost.append(i)
                continue
            half = 2.0 * tg.reach + speed + 4.0
            x, y, count, edge = _local(img, palette, tg.colour, (float(pred[0]), float(pred[1])), half, tg.reach)
            if count >= 0.3 * tg.area and not edge:
                out[i, t] = (x, y)
            elif count < 0.3 * tg.area:
                lost.append(i)
        if not lost:
            continue
        full = palette.classify(img)
        for i in lost:
            tg = targets[i]
            mask = full == tg.colour
            for j, other in enumerate(targets):  # leave same-coloured bodies already found alone
                if j != i and other.colour == tg.colour and np.isfinite(out[j, t]).all():
                    ox, oy = out[j, t]
                    mask &= (gx - ox) ** 2 + (gy - oy) ** 2 > (other.reach + 1.5) ** 2
            x, y, count = _densest(mask, tg.reach)
            if count < 0.3 * tg.area:
                continue
            x, y, count, edge = _blob(mask, gy, gx, (x, y), tg.reach)
            if count >= 0.3 * tg.area and not edge:
                out[i, t] = (x, y)
    return out


def _track_blobs(frames: np.ndarray, tol: float, *, max_blobs: int = 8
                 ) -> tuple[list[str], np.ndarray, list[float], list[np.ndarray]]:
    """Tracks moving blobs without a scene: median background, frame differencing, colour clusters.

    Colours of pixels that differ from the background are binned; the bins are taken most distinct
    from the background first, and a bin is dropped when it is a shade of a colour already taken
    (an outline, a seam) or a blend of one with the background (a trail, an anti-aliased edge).
    Each colour is then followed as one blob: the densest spot of its pixels, refined by a mean shift.

    Returns names, centres ``[N, T, 2]`` in pixels, each blob's radius in pixels, and per blob
    the frames where a look-alike makes it ambiguous.
    """
    T, H, W, _ = frames.shape
    picks = np.unique(np.linspace(0, T - 1, min(T, 16)).round().astype(int))
    background8 = np.median(frames[picks], axis=0).round().astype(np.int16)
    background = background8 / 255.0
    moving = np.zeros((len(picks), H, W), bool)
    for i, t in enumerate(picks):
        ys, xs = _changed(frames[t], background8, 38)
        moving[i, ys, xs] = True
    colours = frames[picks][moving] / 255.0
    under = np.broadcast_to(background, (len(picks), H, W, 3))[moving]
    if colours.shape[0] < 20:
        return [], np.zeros((0, T, 2)), [], []
    q = (colours * 15.0 + 0.5).astype(np.int32)  # 16 levels a channel
    bins, inverse, counts = np.unique(q, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(bins), 3))
    np.add.at(sums, inverse, colours)
    bg_sums = np.zeros((len(bins), 3))
    np.add.at(bg_sums, inverse, under)
    big = np.nonzero(counts >= max(3 * len(picks), 0.01 * colours.shape[0]))[0]  # 12 pixels a quarter of the picks
    mean_c = sums[big] / counts[big, None]
    mean_bg = bg_sums[big] / counts[big, None]
    order = np.argsort(-np.linalg.norm(mean_c - mean_bg, axis=1))
    # Colours the background itself shows somewhere (a ball that left its resting place uncovers them).
    scenery = background.reshape(-1, 3)[:: max(1, H * W // 4096)]
    groups: list[list[int]] = []  # bins of one colour: its shades (outline, seams, light)
    for j in order:
        c, b = mean_c[j], mean_bg[j]
        if float(np.min(np.linalg.norm(scenery - c, axis=1))) <= tol:
            continue
        home = next((g for g in groups if _same_hue(c, mean_c[g[0]], tol)), None)
        if home is not None:
            home.append(j)
        elif not any(float(_segment_distance(c[None], b, mean_c[m])[0]) <= 1.5 * tol
                     for g in groups for m in g):
            groups.append([j])  # not a blend of any shade already taken with the background either
    groups = groups[:max_blobs]
    if not groups:
        return [], np.zeros((0, T, 2)), [], []
    # Each colour is the count-weighted mean of its brighter shades: the fill, not the outline.
    accepted: list[np.ndarray] = []
    for g in groups:
        a = mean_c[g[0]]
        scales = colours @ a / float(a @ a)
        shade = (scales >= 0.4) & (scales <= 2.5)
        shade &= np.linalg.norm(colours - scales[:, None] * a, axis=1) <= tol * np.maximum(1.0, scales)
        top = float(np.percentile(scales[shade], 95))  # (the bin of ``a`` itself is a shade of it)
        accepted.append(colours[shade & (scales >= 0.75 * top)].mean(axis=0))
    palette = _Palette(accepted, [], tol)
    points: list[list[tuple[np.ndarray, np.ndarray]]] = [[] for _ in accepted]
    for t in range(T):
        ys, xs = _changed(frames[t], background8, 25)
        labels = palette.classify(frames[t][ys, xs] / 255.0)
        for k in range(len(accepted)):
            mine = labels == k
            points[k].append((xs[mine] + 0.5, ys[mine] + 0.5))
    names: list[str] = []
    tracks: list[np.ndarray] = []
    radii: list[float] = []
    doubts: list[np.ndarray] = []
    for k in range(len(accepted)):  # one blob per colour
        sizes = np.array([len(x) for x, _ in points[k]])
        if (sizes >= 6).sum() < 4:
            continue
        radius = math.sqrt(float(np.median(sizes[sizes >= 6])) / math.pi)
        track, ambiguous = _follow(points[k], radius, W, H)
        if np.isfinite(track[:, 0]).sum() < 4:
            continue
        span = np.nanmax(track, axis=0) - np.nanmin(track, axis=0)
        if float(np.hypot(*span)) < max(3.0, radius):
            continue  # it does not move
        names.append(f"blob{len(names)}")
        tracks.append(track)
        radii.append(radius)
        doubts.append(ambiguous)
    return names, (np.stack(tracks) if tracks else np.zeros((0, T, 2))), radii, doubts


def _changed(frame: np.ndarray, background: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (rows, columns) where a channel differs from ``background`` (int16) by more than ``level``.

    Looked for on every fourth pixel first; only the 4x4 cells around a change are compared in full
    (any blob over about 6 pixels across holds a grid point).
    """
    H, W = frame.shape[:2]
    coarse = (np.abs(frame[::4, ::4] - background[::4, ::4]) > level).any(axis=2)  # uint8 less int16: int16
    if not coarse.any():
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    near = coarse.copy()  # the cells next to a changed grid point
    near[1:] |= coarse[:-1]
    near[:-1] |= coarse[1:]
    near[:, 1:] |= near[:, :-1].copy()
    near[:, :-1] |= near[:, 1:].copy()
    cand = np.repeat(np.repeat(near, 4, axis=0), 4, axis=1)[:H, :W]
    ys, xs = np.nonzero(cand)
    diff = (np.abs(frame[ys, xs] - background[ys, xs]) > level).any(axis=1)
    return ys[diff], xs[diff]


def _follow(points: list[tuple[np.ndarray, np.ndarray]], radius: float, W: int, H: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """One blob through per-frame pixel lists: nearest the prediction, else the densest spot.

    Returns the centres ``[T, 2]`` and bool ``[T]``: frames where as much of the colour again lies
    elsewhere (a look-alike, so the blob may be the wrong one).
    """
    T = len(points)
    reach = radius + 1.0
    need = max(6.0, 0.3 * math.pi * radius**2)
    track = np.full((T, 2), np.nan)
    ambiguous = np.zeros(T, bool)
    for t, (xs, ys) in enumerate(points):
        if len(xs) < need:
            continue
        prev = track[t - 1]  # at t = 0, the last row: not found yet, NaN
        seed: tuple[float, float] | None = None
        if np.isfinite(prev).all():
            before = track[t - 2] if np.isfinite(track[t - 2]).all() else prev  # t = 1: the last row, NaN
            pred = 2 * prev - before
            d2 = (xs - pred[0]) ** 2 + (ys - pred[1]) ** 2
            j = int(np.argmin(d2))
            if d2[j] <= (2 * reach + float(np.hypot(*(prev - before))) + 4) ** 2:
                seed = (float(xs[j]), float(ys[j]))
        if seed is None:
            cells = np.floor(np.stack([xs, ys], axis=1) / max(2.0, reach))
            _, inverse, cnt = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
            top = inverse.ravel() == int(np.argmax(cnt))
            seed = (float(xs[top].mean()), float(ys[top].mean()))
        cx, cy = seed
        for i in range(12):  # as in _blob: a wide pull first, then the body-sized disc
            sel = (xs - cx) ** 2 + (ys - cy) ** 2 <= (1.6 * reach if i < 2 else reach) ** 2
            if not sel.any():
                break
            nx, ny = float(xs[sel].mean()), float(ys[sel].mean())
            moved = abs(nx - cx) + abs(ny - cy)
            cx, cy = nx, ny
            if i >= 2 and moved < 0.02:
                break
        if sel.sum() < need:
            continue
        if 0.5 in (xs[sel].min(), ys[sel].min()) or xs[sel].max() == W - 0.5 or ys[sel].max() == H - 0.5:
            continue  # in the frame's first or last row or column: cut by its edge, the centroid would be biased
        track[t] = (cx, cy)
        ambiguous[t] = int((~((xs - cx) ** 2 + (ys - cy) ** 2 <= (reach + 2.0) ** 2)).sum()) >= need
    return track, ambiguous


# -- appearance and optical flow (what a video model draws) -----------------------------------

# Normalised cross-correlation a match needs: near the flow's prediction, and anywhere in the
# frame (a body that jumped), and the share of a new match blended into the running template.
LOCAL_MATCH, GLOBAL_MATCH, TEMPLATE_RATE = 0.55, 0.7, 0.3
# Grey-level spread (blurred) below which the first frame shows nothing to follow where a body should be.
FLAT = 3.0
# How far (L1, in chromaticity r, g, b that sum to 1) a match's mean colour may stray from the body's
# in the first frame: light and grain move it little, a patch of background a lot.
CHROMA = 0.08


def track_appearance(frames: np.ndarray, seeds: list[tuple[float, float, float]], starts: list[int] | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Follows bodies by how they look, from where they are in the first frame.

    For bodies a video model drew in its own colours and textures, under its own light, through
    grain, blur and compression: the previz's flat colours cannot find them, but the first frame
    says where they start (image-to-video shares it with the previz; the simulation gives it
    otherwise). Each body's appearance is the square around its disc there, blurred to a fifth of
    its radius so that its outline and shading (which do not turn with it) outweigh a texture
    that does. From frame to
    frame, dense optical flow (OpenCV's DIS) moves the body by the median flow over its disc; a
    normalised cross-correlation of its running template in a window around that prediction
    settles where it is (sub-pixel, from the peak's parabola). When the window holds no good
    match, a window where the body's last velocity puts it is tried (a body too fast for the
    flow), then the whole frame is searched (a body that jumped away is found where it went); a match
    must also keep the body's mean chromaticity, so the background never passes for it. When
    nothing matches, the body is lost for that frame (NaN) and it is looked for along its last
    velocity: first where that velocity puts it, then in a window that grows with every frame it
    stays lost.

    Args:
        frames: uint8 ``[T, H, W, 3]``.
        seeds: ``(x, y, radius)`` in pixels per body, in the first frame (or in its frame of ``starts``).
        starts: the frame each seed is in (0 for all by default); a body is followed from there on.

    Returns:
        ``tracks`` float ``[N, T, 2]`` (NaN where lost) and ``scores`` float ``[N, T]``: the
        match's correlation, the tracking confidence per frame (0 where lost).
    """
    cv2: Any = importlib.import_module("cv2")  # Any: its stubs lack DIS

    T, H, W, _ = frames.shape
    gray = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    flows = [dis.calc(gray[t - 1], gray[t], None) for t in range(1, T)]
    tracks = np.full((len(seeds), T, 2), np.nan)
    scores = np.zeros((len(seeds), T))
    yy, xx = np.mgrid[0:H, 0:W] + 0.5  # pixel centres: pixel (i, j) covers [j, j + 1) x [i, i + 1)
    for n, (x0, y0, radius) in enumerate(seeds):
        t0 = 0 if starts is None else starts[n]
        # Matched on frames blurred to a fifth of the radius: the body's outline and shading, which do
        # not turn with it, outweigh a texture that does.
        sigma = max(1.0, radius / 5)
        g = np.stack([cv2.GaussianBlur(f.astype(np.float32), (0, 0), sigma) for f in gray])
        half, inner = max(3, int(radius + 2)), max(2, int(radius / math.sqrt(2)))
        reach = int(radius + 6)  # the match window's reach around a prediction
        first = _patch(g[t0], x0, y0, half)
        if first is None or float(first.std()) < FLAT:
            continue  # out of the frame, or nothing there to follow
        chroma = _chroma(frames[t0], x0, y0, inner)
        template, original = first.copy(), first
        tracks[n, t0], scores[n, t0] = (x0, y0), 1.0
        px, py, vx, vy, seen = x0, y0, 0.0, 0.0, t0  # seen: the last frame it was found in
        for t in range(t0 + 1, T):
            lost = t - 1 - seen  # frames it has been lost for
            if lost:  # along the last velocity: the flow here is the background's
                px, py = px + vx, py + vy
            else:
                disc = (xx - px) ** 2 + (yy - py) ** 2 <= (0.7 * radius) ** 2
                if disc.any():
                    f = flows[t - 1][disc]
                    px, py = px + float(np.median(f[:, 0])), py + float(np.median(f[:, 1]))

            def looks_like(m: tuple[float, float, float] | None, least: float) -> bool:
                return (m is not None and m[2] >= least
                        and _chroma_distance(frames[t], m[0], m[1], inner, chroma) <= CHROMA)

            found = _match(g[t], template, (px, py), reach)
            if not lost and not looks_like(found, LOCAL_MATCH):  # the flow missed it (too fast for the flow,
                # or the flow followed something else): where its last velocity puts it
                found = _match(g[t], template, (tracks[n, t - 1, 0] + vx, tracks[n, t - 1, 1] + vy), reach)
            if lost and not looks_like(found, LOCAL_MATCH):  # not where its last velocity puts it: a window grown
                # with each frame lost (a bounce while hidden), looked at only then, so that a look-alike in
                # that wider window is not taken for a body that came back where it was headed
                found = _match(g[t], template, (px, py), int(radius + 6 + 2 * lost * math.hypot(vx, vy)))
            if not looks_like(found, LOCAL_MATCH):
                anywhere = [m for m in (_match(g[t], original), _match(g[t], template))
                            if m is not None and looks_like(m, GLOBAL_MATCH)]
                found = max(anywhere, key=lambda m: m[2], default=None)
            if found is None:
                continue  # lost here
            nx, ny, score = found
            vx, vy = (nx - tracks[n, seen, 0]) / (t - seen), (ny - tracks[n, seen, 1]) / (t - seen)
            px, py, seen = nx, ny, t
            tracks[n, t], scores[n, t] = (px, py), score
            patch = _patch(g[t], px, py, half)
            if patch is not None:
                template = (1 - TEMPLATE_RATE) * template + TEMPLATE_RATE * patch
    return tracks, scores


def _chroma(frame: np.ndarray, x: float, y: float, half: int) -> np.ndarray:
    """Mean chromaticity (r, g, b summing to 1) of the square around the pixel holding ``(x, y)``."""
    xi, yi = math.floor(x), math.floor(y)
    block = frame[max(0, yi - half):yi + half + 1, max(0, xi - half):xi + half + 1].reshape(-1, 3).astype(np.float64)
    mean = block.mean(axis=0) if len(block) else np.ones(3)
    return mean / max(float(mean.sum()), 1e-6)


def _chroma_distance(frame: np.ndarray, x: float, y: float, half: int, chroma: np.ndarray) -> float:
    return float(np.abs(_chroma(frame, x, y, half) - chroma).sum())


def _patch(img: np.ndarray, x: float, y: float, half: int) -> np.ndarray | None:
    """The square of side ``2 half + 1`` around the pixel holding ``(x, y)``; None where it leaves the image."""
    xi, yi = math.floor(x), math.floor(y)
    if xi - half < 0 or yi - half < 0 or xi + half + 1 > img.shape[1] or yi + half + 1 > img.shape[0]:
        return None
    return img[yi - half:yi + half + 1, xi - half:xi + half + 1].copy()


def _match(img: np.ndarray, template: np.ndarray, near: tuple[float, float] | None = None, reach: int = 0, *,
           recentre: bool = True) -> tuple[float, float, float] | None:
    """The template's best normalised correlation within ``reach`` of ``near = (x, y)``, or anywhere
    without ``near``: ``(x, y, score)`` with the centre refined to a fraction of a pixel (pixel
    ``(i, j)``'s centre is at ``(j + 0.5, i + 0.5)``, as the previz draws).

    A best match on the border of the window (not the image's) may be the slope of a peak beyond
    it, as when a fast body is predicted short: the window is moved there and searched once more."""
    import cv2

    half = template.shape[0] // 2
    H, W = img.shape
    if near is None:
        x0, y0, x1, y1 = 0, 0, W, H
    else:  # centres up to reach + 1 pixels either side of the guess's pixel: a peak at reach has neighbours
        x0, y0 = max(0, int(near[0]) - reach - half - 1), max(0, int(near[1]) - reach - half - 1)
        x1, y1 = min(W, int(near[0]) + reach + half + 2), min(H, int(near[1]) + reach + half + 2)
    region = img[y0:y1, x0:x1]
    if region.shape[0] < template.shape[0] or region.shape[1] < template.shape[1]:
        return None
    if float(template.std()) < 1e-3:
        return None
    res = cv2.matchTemplate(region, template.astype(np.float32), cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(res)
    # (the whole image's window has no such border)
    if recentre and ((bx == 0 < x0) or (by == 0 < y0) or (bx == res.shape[1] - 1 and x1 < W)
                     or (by == res.shape[0] - 1 and y1 < H)):
        return _match(img, template, (x0 + bx + half + 0.5, y0 + by + half + 0.5), reach, recentre=False)

    def refine(c: int, lo: float, mid: float, hi: float) -> float:
        d = lo - 2 * mid + hi
        return c + (0.5 * (lo - hi) / d if abs(d) > 1e-9 else 0.0)

    fx = refine(bx, *res[by, bx - 1:bx + 2]) if 0 < bx < res.shape[1] - 1 else float(bx)
    fy = refine(by, *res[by - 1:by + 2, bx]) if 0 < by < res.shape[0] - 1 else float(by)
    return x0 + fx + half + 0.5, y0 + fy + half + 0.5, float(best)


def detect_moving(frames: np.ndarray, *, max_bodies: int = 8, min_area: int = 30
                  ) -> list[tuple[int, float, float, float]]:
    """Moving bodies where there is no scene to say where they are: ``(frame, x, y, radius)`` each.

    Each frame (grey, blurred) is compared with the per-pixel median over the clip, which is the
    background wherever things move, after each frame's brightness is brought to the clip's (light
    that drifts); a pixel differs when it is beyond six times the typical difference (and 12 grey
    levels). The first frame in which compact regions of at least ``min_area`` pixels differ,
    clear of the frame's edge, seeds one body per region (two regions closer than three radii are
    one body).
    """
    cv2: Any = importlib.import_module("cv2")
    T, H, W, _ = frames.shape
    gray = np.stack([cv2.GaussianBlur(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32), (0, 0), 2.0)
                     for f in frames])
    gray *= (np.median(gray) / np.maximum(np.median(gray, axis=(1, 2)), 1.0))[:, None, None]  # light that drifts
    diff = np.abs(gray - np.median(gray, axis=0))
    level = max(12.0, 6.0 * float(np.median(diff)))
    found: list[tuple[int, float, float, float]] = []
    for t in range(T):
        _, _, stats, centres = cv2.connectedComponentsWithStats((diff[t] > level).astype(np.uint8))
        for row, centre in zip(stats[1:], centres[1:]):  # 0 is the background
            x, y, w, h, area = (int(v) for v in row)
            if area < min_area or x == 0 or y == 0 or x + w >= W or y + h >= H or area < 0.5 * w * h:
                continue  # too small, cut by the edge, or not compact (a shadow's or a light's edge)
            cx, cy = (float(c) + 0.5 for c in centre)  # pixel centres, as the previz draws
            radius = math.sqrt(area / math.pi)
            if any(math.hypot(cx - fx, cy - fy) < 3 * fr for _, fx, fy, fr in found):
                continue  # part of a body already seeded
            found.append((t, cx, cy, radius))
            if len(found) >= max_bodies:
                return found
        if found:
            return found  # the bodies of the first frame where any moves
    return found
