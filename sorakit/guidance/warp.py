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

    fy, fx = H // h, W // w
    Hf, Wf = h * u, w * u
    cell_y, cell_x = fy / u, fx / u  # fine cell (and texel) size in video pixels
    rows, cols = _centres(Hf, fy, u, H), _centres(Wf, fx, u, W)
    regular = fy % u == 0 and fx % u == 0
    row_slice = slice(fy // u // 2, None, fy // u) if regular else slice(None)
    col_slice = slice(fx // u // 2, None, fx // u) if regular else slice(None)

    def visible(t: int) -> tuple[np.ndarray, np.ndarray]:
        """Flat indices of the fine cells on a body in video frame t, and their body ids."""
        grid = body_ids[t, row_slice, col_slice] if regular else body_ids[t][rows][:, cols]
        flat = np.ascontiguousarray(grid).reshape(-1)
        cells = np.flatnonzero(flat)
        return cells, flat[cells].astype(np.intp)

    # Pose of each body (index = body id): texture coordinates -> screen is rotation by phi,
    # then translation by (cx, cy). seg < 0: not tracked.
    phi = np.zeros(0)
    cx = np.zeros(0)
    cy = np.zeros(0)
    seg = np.zeros(0, np.intp)
    segments = 0

    def start_new(bodies: np.ndarray) -> None:
        nonlocal phi, cx, cy, seg, segments
        size = int(bodies.max()) + 1 if bodies.size else 0
        phi, cx, cy, seg = _grow(phi, size, 0.0), _grow(cx, size, 0.0), _grow(cy, size, 0.0), _grow(seg, size, -1)
        new = np.unique(bodies)
        new = new[seg[new] < 0]
        phi[new] = cx[new] = cy[new] = 0.0
        seg[new] = segments + np.arange(new.size)
        segments += new.size

    # Pass 1: track the bodies, and note the texel under every body cell of every latent frame.
    records: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    t = 0
    cells, bid = visible(0)
    start_new(bid)
    for k in range(F):
        target = min(k * temporal, T - 1)
        while t < target:
            if cells.size:
                # Least-squares rigid motion of each visible body from the flow at its cells.
                r, c = rows[cells // Wf], cols[cells % Wf]
                x, y = c + 0.5, r + 0.5
                motion = flow[t, r, c].astype(np.float64)
                ux, uy = x + motion[:, 0], y + motion[:, 1]
                size = seg.size
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
                cx, cy = np.where(on, cos * cx - sin * cy + tx, cx), np.where(on, sin * cx + cos * cy + ty, cy)
                phi = np.where(on, phi + theta, phi)
                seg[~on] = -1
            else:
                seg[:] = -1
            t += 1
            cells, bid = visible(t)
            seg[np.flatnonzero(np.bincount(bid, minlength=seg.size)[:seg.size] == 0)] = -1
            start_new(bid)
        if cells.size:
            ti, tj = _texels(cells // Wf, cells % Wf, phi[bid], cx[bid] / cell_x, cy[bid] / cell_y,
                             cell_y / cell_x)
            records.append((k, cells, seg[bid], ti, tj))

    out = np.random.default_rng(bg_seq).standard_normal((C, F, h * w), dtype=np.float32)
    if records:
        # Pass 2: one texture per tracked segment, over the texels it ever shows.
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
        body_rng = np.random.default_rng(body_seq)
        texture = body_rng.standard_normal((int(area.sum()), C), dtype=np.float32)
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

    noise = out.reshape(C, F, h, w)
    if strength < 1.0:
        fresh = np.random.default_rng(blend_seq).standard_normal((C, F, h, w), dtype=np.float32)
        noise *= np.float32(math.sqrt(strength))
        noise += np.float32(math.sqrt(1.0 - strength)) * fresh
    return noise
