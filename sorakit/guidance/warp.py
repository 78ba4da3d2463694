"""Noise warping: initial diffusion noise that moves with the previz bodies.

A video diffusion model turns its starting noise into pixels, and where the same noise moves
from one latent frame to the next the model tends to move the content it draws from it the
same way. Warping the starting noise along the previz motion therefore steers the generated
motion towards the simulated one, at no extra sampling cost. The ideas come from "How I Warped
Your Noise" (Chang et al., ICLR 2024: a latent value is the integral of a much finer white-noise
field over the pixel, so moving the fine field keeps every value exactly Gaussian) and
"Go-with-the-Flow" (Burgert et al., CVPR 2025: warp the noise along the flow frame by frame,
fast, and start sampling from it). This module is an independent, simpler implementation that
uses what the previz gives exactly: a body id per pixel and the rigid motion of every body pixel.

Method:

1. The noise lives on a fine grid, ``upsample`` times the latent size along each axis, of
   i.i.d. N(0, 1) values; each latent value is the sum of its ``n = upsample**2`` fine values
   over ``sqrt(n)``, which is exactly N(0, 1) as long as the fine values of a frame are i.i.d.
2. Each dynamic body carries its own white-noise texture, with texels the size of a fine cell,
   glued to the body: texture coordinates are where a point of the body was when the body came
   into view. The body's motion from video frame t to t+1 is the least-squares rigid fit to the
   flow of its pixels (exact for the previz, whose bodies are rigid), and these motions are
   composed frame by frame, so latent frame k (video frame ``k * temporal``, clamped to the last
   frame) sees each body at the composition of the flows since it appeared, and each fine cell
   on a body takes the texel that point of the body came from. Because the pose is tracked
   exactly and only the final lookup is rounded, no rounding accumulates: slow motion does not
   stall on the grid and spin does not erode the noise. A body that leaves the view (or is
   hidden entirely) and comes back gets a new texture.
3. The lookup must give distinct cells distinct texels, or the fine values of a frame would not
   be independent. Rounding a rotation cell by cell does not (some texels are hit twice, others
   skipped), so the lookup is made an exact bijection of the integer grid: quarter turns are
   exact, and the remaining rotation by at most 45 degrees is done as three shears (Paeth's
   decomposition ``R = X(-tan(a/2)) Y(sin a) X(-tan(a/2))``), each shifting whole rows or columns
   by an integer number of cells, with the sub-cell translation folded into the shifts. The
   result is within about a cell of the exact texel, and no texel is lost or used twice.
4. Fine cells off the bodies (background and static geometry) are fresh for every latent frame.
   Their sum over a latent pixel is drawn directly as ``sqrt(n_fresh) * z`` with one
   ``z ~ N(0, 1)``, which has exactly the distribution of a sum of ``n_fresh`` fresh values, so
   a latent pixel away from every body costs one draw.

So every latent frame is exactly i.i.d. standard normal; the background is independent from
frame to frame, and the value at ``p`` on a body in latent frame k-1 is correlated with the
value at ``p + motion`` in frame k by the share of texels their fine cells have in common.
Dynamic bodies at rest keep their noise (their motion is zero). With non-square fine cells
(different spatial factors along x and y) the turns are made by half turns and the shears are
scaled to the cell aspect, which is still a bijection.

``strength`` ``s`` blends the warped noise ``w`` with independent fresh noise ``e``::

    noise = sqrt(s) * w + sqrt(1 - s) * e

Both are i.i.d. N(0, 1) within a frame, so the result is exactly standard normal for every
``s``; ``s`` is the share of the variance that follows the motion, and the frame-to-frame
correlation along the motion is ``s`` times that of the fully warped noise.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import math

import numpy as np

__all__ = ["warp_noise"]



class _FineGrid:
    """The fine cells (``upsample`` per latent pixel along each axis) sampled from the video frames."""

    def __init__(self, body_ids: np.ndarray, h: int, w: int, u: int) -> None:
        T, H, W = body_ids.shape
        self.body_ids, self.h, self.w, self.u = body_ids, h, w, u
        fy, fx = H // h, W // w
        self.Hf, self.Wf = h * u, w * u
        self.cell_y, self.cell_x = fy / u, fx / u  # fine cell (and texel) size in video pixels
        self.rows, self.cols = _centres(self.Hf, fy, u, H), _centres(self.Wf, fx, u, W)
        self.regular = fy % u == 0 and fx % u == 0
        self.row_slice = slice(fy // u // 2, None, fy // u) if self.regular else slice(None)
        self.col_slice = slice(fx // u // 2, None, fx // u) if self.regular else slice(None)

    def visible(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the fine cells on a body in video frame t, and their body ids."""
        ids = self.body_ids
        grid = ids[t, self.row_slice, self.col_slice] if self.regular else ids[t][self.rows][:, self.cols]
        flat = np.ascontiguousarray(grid).reshape(-1)
        cells = np.flatnonzero(flat)
        return cells, flat[cells].astype(np.intp)


class _Poses:
    """Each body's pose (index = body id): texture coordinates -> screen is rotation by ``phi``, then
    translation by ``(cx, cy)``; ``seg`` is the tracked segment it belongs to (< 0: not tracked)."""

    def __init__(self) -> None:
        self.phi, self.cx, self.cy = np.zeros(0), np.zeros(0), np.zeros(0)
        self.seg = np.zeros(0, np.intp)
        self.segments = 0

    def start_new(self, bodies: np.ndarray) -> None:
        """Bodies seen now that no segment follows start a segment each, at the identity pose."""
        size = int(bodies.max()) + 1 if bodies.size else 0
        self.phi, self.cx, self.cy = _grow(self.phi, size, 0.0), _grow(self.cx, size, 0.0), _grow(self.cy, size, 0.0)
        self.seg = _grow(self.seg, size, -1)
        new = np.unique(bodies)
        new = new[self.seg[new] < 0]
        self.phi[new] = self.cx[new] = self.cy[new] = 0.0
        self.seg[new] = self.segments + np.arange(new.size)
        self.segments += new.size

    def move(self, bid: np.ndarray, x: np.ndarray, y: np.ndarray, ux: np.ndarray, uy: np.ndarray) -> None:
        """Composes each visible body's least-squares rigid motion (cells at ``x, y`` move to ``ux, uy``)."""
        size = self.seg.size
        n = np.bincount(bid, minlength=size).astype(np.float64)
        on = n > 0
        m = np.maximum(n, 1.0)

        def total(v: np.ndarray) -> np.ndarray:
            return np.bincount(bid, weights=v, minlength=size)

        mx, my, mux, muy = total(x) / m, total(y) / m, total(ux) / m, total(uy) / m
        sxx = total(x * ux) - n * mx * mux
        syy = total(y * uy) - n * my * muy
        sxy = total(x * uy) - n * mx * muy
        syx = total(y * ux) - n * my * mux
        theta = np.arctan2(sxy - syx, sxx + syy)
        cos, sin = np.cos(theta), np.sin(theta)
        tx, ty = mux - (cos * mx - sin * my), muy - (sin * mx + cos * my)
        # Compose: pose(t+1) = motion(t) o pose(t).
        cx, cy = self.cx, self.cy
        self.cx, self.cy = np.where(on, cos * cx - sin * cy + tx, cx), np.where(on, sin * cx + cos * cy + ty, cy)
        self.phi = np.where(on, self.phi + theta, self.phi)
        self.seg[~on] = -1


_Record = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _track(flow: np.ndarray, grid: _FineGrid, *, latent_frames: int, temporal: int) -> tuple[list[_Record], int]:
    """Pass 1: follows the bodies from frame to frame, and notes the texel under every body cell of
    every latent frame: ``(latent frame, cells, segments, texel rows, texel columns)``."""
    T = grid.body_ids.shape[0]
    poses = _Poses()
    records: list[_Record] = []
    t = 0
    cells, bid = grid.visible(0)
    poses.start_new(bid)
    for k in range(latent_frames):
        target = min(k * temporal, T - 1)
        while t < target:
            if cells.size:
                r, c = grid.rows[cells // grid.Wf], grid.cols[cells % grid.Wf]
                x, y = c + 0.5, r + 0.5
                motion = flow[t, r, c].astype(np.float64)
                poses.move(bid, x, y, x + motion[:, 0], y + motion[:, 1])
            else:
                poses.seg[:] = -1
            t += 1
            cells, bid = grid.visible(t)
            poses.seg[np.flatnonzero(np.bincount(bid, minlength=poses.seg.size)[:poses.seg.size] == 0)] = -1
            poses.start_new(bid)
        if cells.size:
            ti, tj = _texels(cells // grid.Wf, cells % grid.Wf, poses.phi[bid], poses.cx[bid] / grid.cell_x,
                             poses.cy[bid] / grid.cell_y, grid.cell_y / grid.cell_x)
            records.append((k, cells, poses.seg[bid], ti, tj))
    return records, poses.segments


def _paint(out: np.ndarray, records: list[_Record], segments: int, grid: _FineGrid,
           rng: np.random.Generator) -> None:
    """Pass 2: one noise texture per tracked segment, over the texels it ever shows; each latent
    pixel of ``out`` ([C, F, h*w], fresh noise) gets its body cells' texels, re-Gaussianized."""
    C, u, w, Wf = out.shape[0], grid.u, grid.w, grid.Wf
    all_seg = np.concatenate([rec[2] for rec in records])
    all_ti = np.concatenate([rec[3] for rec in records])
    all_tj = np.concatenate([rec[4] for rec in records])
    lo_i, lo_j = np.zeros(segments, np.int64), np.zeros(segments, np.int64)
    hi_i, hi_j = np.full(segments, -1, np.int64), np.full(segments, -1, np.int64)
    shown = np.unique(all_seg)  # segments that appear in some latent frame
    lo_i[shown], lo_j[shown] = all_ti.max() + 1, all_tj.max() + 1
    hi_i[shown], hi_j[shown] = all_ti.min() - 1, all_tj.min() - 1
    np.minimum.at(lo_i, all_seg, all_ti)
    np.minimum.at(lo_j, all_seg, all_tj)
    np.maximum.at(hi_i, all_seg, all_ti)
    np.maximum.at(hi_j, all_seg, all_tj)
    span_j = hi_j - lo_j + 1  # 0 for segments never shown
    area = (hi_i - lo_i + 1) * span_j
    offset = np.concatenate([[0], np.cumsum(area)[:-1]])
    texture = rng.standard_normal((int(area.sum()), C), dtype=np.float32)
    for k, cells, s, ti, tj in records:
        key = offset[s] + (ti - lo_i[s]) * span_j[s] + (tj - lo_j[s])
        val = texture[key]  # keys are distinct: each texel shows once per frame
        # Sum each latent pixel's body cells; its other cells are fresh background.
        lat = (cells // Wf // u) * w + (cells % Wf) // u
        order = np.argsort(lat, kind="stable")
        lat_sorted = lat[order]
        starts = np.flatnonzero(np.r_[True, lat_sorted[1:] != lat_sorted[:-1]])
        where = lat_sorted[starts]
        n_body = np.diff(np.r_[starts, lat_sorted.size])
        sums = np.add.reduceat(val[order], starts, axis=0).T  # [C, m]
        rest = np.sqrt((u * u - n_body).astype(np.float32))
        out[:, k, where] = (out[:, k, where] * rest + sums) / np.float32(u)

def _centres(fine: int, factor: int, upsample: int, size: int) -> np.ndarray:
    """Index of the video pixel under the centre of each of ``fine`` cells along one axis."""
    idx = np.floor((np.arange(fine) + 0.5) * factor / upsample).astype(np.intp)
    return np.minimum(idx, size - 1)


def _grow(array: np.ndarray, size: int, fill: float) -> np.ndarray:
    if array.size >= size:
        return array
    return np.concatenate([array, np.full(size - array.size, fill, array.dtype)])


def _texels(i: np.ndarray, j: np.ndarray, phi: np.ndarray, cx: np.ndarray, cy: np.ndarray,
            aspect: float) -> tuple[np.ndarray, np.ndarray]:
    """Texel (row, col) under fine cells (i, j), bijectively, for per-cell body poses.

    The exact texture coordinate of a cell is ``R(-phi) (centre - c)`` in cell units (``aspect``
    = cell height / cell width scales the rotation for non-square cells); this rounds it by a
    turn (exact on integers) and three shears, each shifting whole rows or columns by an integer
    number of cells, so cells of one pose never share a texel.
    """
    quarter = aspect == 1.0
    step = np.pi / 2 if quarter else np.pi
    alpha = -phi
    turns = np.round(alpha / step).astype(np.int64)
    psi = alpha - turns * step
    x, y = j.astype(np.int64), i.astype(np.int64)
    vx, vy = 0.5 - cx, 0.5 - cy  # cell centres are at index + 0.5
    if quarter:
        turns %= 4
        for turn in (1, 2, 3):  # quarter turns: (x, y) -> (-y, x)
            m = turns >= turn
            x[m], y[m] = -y[m], x[m].copy()
            vx[m], vy[m] = -vy[m], vx[m].copy()
    else:
        m = turns % 2 == 1  # half turns
        x[m], y[m], vx[m], vy[m] = -x[m], -y[m], -vx[m], -vy[m]
    kx = -np.tan(psi / 2) * aspect
    ky = np.sin(psi) / aspect
    # Shear the point (x + vx, y + vy); after each step keep the cell it is in, whose centre
    # (+ 0.5) stands for it in the next step.
    x1 = x + np.floor(vx + kx * (y + vy)).astype(np.int64)
    y2 = y + np.floor(vy + ky * (x1 + 0.5)).astype(np.int64)
    x3 = x1 + np.floor(0.5 + kx * (y2 + 0.5)).astype(np.int64)
    return y2, x3


def warp_noise(flow: np.ndarray, body_ids: np.ndarray, *, latent_frames: int, latent_height: int,
               latent_width: int, channels: int, temporal: int = 4, seed: int = 0, strength: float = 1.0,
               upsample: int = 4) -> np.ndarray:
    """Standard normal latent noise that follows the motion of the previz bodies.

    Args:
        flow: float ``[T, H, W, 2]``, forward motion in pixels of every pixel from video frame
            t to t+1 (x right, y down), as in :class:`sorakit.previz.Previz`. Each body's flow
            is taken as rigid (its least-squares rigid fit is used).
        body_ids: int ``[T, H, W]``, 0 for background and static geometry, i+1 on dynamic body i.
        latent_frames: number of latent frames F. Latent frame k is video frame
            ``k * temporal``, clamped to the last video frame.
        latent_height, latent_width: latent size h, w. ``H`` and ``W`` must be integer
            multiples of them (the VAE's spatial factor, e.g. 8 or 16).
        channels: latent channels C.
        temporal: video frames per latent frame (the VAE's temporal factor).
        seed: the result is a deterministic function of the inputs and this seed.
        strength: s in [0, 1]; the result is ``sqrt(s) * warped + sqrt(1 - s) * fresh``:
            0 gives plain i.i.d. noise, 1 fully warped noise.
        upsample: fine cells per latent pixel along each axis. Higher follows the motion more
            finely, at a small extra cost.

    Returns:
        float32 ``[C, F, h, w]``, each frame i.i.d. N(0, 1). Add a batch axis for a pipeline's
        ``latents`` ``[B, C, F, h, w]``.

    Raises:
        ValueError: on inconsistent shapes or out-of-range arguments.

    Example:
        A square moving 2 px per video frame, one latent pixel (8 px) per latent frame, carries
        its noise along exactly:

        >>> T, H, W = 9, 64, 64
        >>> flow = np.zeros((T, H, W, 2), np.float32)
        >>> ids = np.zeros((T, H, W), np.int16)
        >>> for t in range(T):
        ...     ids[t, 16:48, 8 + 2 * t:40 + 2 * t] = 1
        ...     flow[t, 16:48, 8 + 2 * t:40 + 2 * t, 0] = 2.0
        >>> noise = warp_noise(flow, ids, latent_frames=3, latent_height=8, latent_width=8, channels=4)
        >>> noise.shape, noise.dtype
        ((4, 3, 8, 8), dtype('float32'))
        >>> bool(np.allclose(noise[:, 1, 3, 3], noise[:, 0, 3, 2]))
        True
    """
    flow = np.asarray(flow)
    body_ids = np.asarray(body_ids)
    if flow.ndim != 4 or flow.shape[-1] != 2 or body_ids.shape != flow.shape[:3]:
        raise InvalidInput(f"flow must be [T, H, W, 2] and body_ids [T, H, W]; got {flow.shape} and {body_ids.shape}")
    T, H, W = body_ids.shape
    if T < 1:
        raise InvalidInput("the previz has no frames")
    if min(latent_frames, latent_height, latent_width, channels, temporal, upsample) < 1:
        raise InvalidInput("latent_frames, latent_height, latent_width, channels, temporal and upsample must be >= 1")
    if H % latent_height or W % latent_width:
        raise InvalidInput(f"video size {W}x{H} is not an integer multiple of latent size {latent_width}x{latent_height}")
    if not 0.0 <= strength <= 1.0:
        raise InvalidInput(f"strength must be in [0, 1], got {strength}")

    C, F, h, w, u = channels, latent_frames, latent_height, latent_width, upsample
    bg_seq, body_seq, blend_seq = np.random.SeedSequence(seed).spawn(3)
    if strength == 0.0:
        return np.random.default_rng(blend_seq).standard_normal((C, F, h, w), dtype=np.float32)

    grid = _FineGrid(body_ids, h, w, u)
    records, segments = _track(flow, grid, latent_frames=F, temporal=temporal)  # pass 1
    out = np.random.default_rng(bg_seq).standard_normal((C, F, h * w), dtype=np.float32)
    if records:
        _paint(out, records, segments, grid, np.random.default_rng(body_seq))  # pass 2
    noise = out.reshape(C, F, h, w)
    if strength < 1.0:
        fresh = np.random.default_rng(blend_seq).standard_normal((C, F, h, w), dtype=np.float32)
        noise *= np.float32(math.sqrt(strength))
        noise += np.float32(math.sqrt(1.0 - strength)) * fresh
    return noise
