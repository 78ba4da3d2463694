"""Arcs, parabolas and track pieces: the geometry the judgements stand on (steps 2 to 4)."""

from __future__ import annotations

import math
import warnings

import numpy as np

from sorakit.physics.scene import Scene

# Points per side for the local arcs at a gap.
ARC_POINTS = 6


# -- fitting ----------------------------------------------------------------------------------


def _fit_arc(t: np.ndarray, p: np.ndarray, g: float | None) -> np.ndarray:
    """Polynomial coefficients ``[3, 2]`` (constant, velocity, acceleration / 2) of a local arc.

    With ``g`` (units per frame², vertical: the arc is in free flight) y is a parabola of that
    curvature and x a line; without it (rolling, sliding, pushed) both are fitted freely, a
    parabola from three points, a line from two.
    """
    n = len(t)
    coef = np.zeros((3, 2))
    if n == 1:
        coef[0] = p[0]
        return coef
    A2 = np.stack([np.ones(n), t], axis=1)
    if g is not None:
        y = p[:, 1] - 0.5 * g * t**2
        coef[:2, 1] = np.linalg.lstsq(A2, y, rcond=None)[0]
        coef[2, 1] = 0.5 * g
        coef[:2, 0] = np.linalg.lstsq(A2, p[:, 0], rcond=None)[0]
        return coef
    if n >= 3:
        A3 = np.stack([np.ones(n), t, t**2], axis=1)
        coef[:] = np.linalg.lstsq(A3, p, rcond=None)[0]
    else:
        coef[:2] = np.linalg.lstsq(A2, p, rcond=None)[0]
    return coef


def _eval(coef: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The arc at times ``t``: ``[len(t), 2]``."""
    return np.asarray(coef[0] + coef[1] * t[:, None] + coef[2] * t[:, None] ** 2)


def _velocity(coef: np.ndarray, t: float) -> np.ndarray:
    return np.asarray(coef[1] + 2.0 * coef[2] * t)


def _joint_gravity(runs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float] | None:
    """Shared vertical acceleration over several runs (each its own start and velocity), per frame².

    Returns ``(g, standard error)`` or None when the runs cannot determine it.
    """
    n = sum(len(t) for t, _ in runs)
    k = 2 * len(runs) + 1
    if not runs or n <= k:
        return None
    A = np.zeros((n, k))
    b = np.zeros(n)
    row = 0
    for i, (t, y) in enumerate(runs):
        m = len(t)
        tc = t - t.mean()
        A[row:row + m, 2 * i] = 1.0
        A[row:row + m, 2 * i + 1] = tc
        A[row:row + m, -1] = 0.5 * tc**2
        b[row:row + m] = y
        row += m
    sol, *_ = np.linalg.lstsq(A, b, rcond=None)
    resid = b - A @ sol
    dof = n - k
    var = float(resid @ resid) / dof
    cov = np.linalg.pinv(A.T @ A)
    return float(sol[-1]), math.sqrt(max(var, 0.0) * float(cov[-1, -1]))


# -- geometry ---------------------------------------------------------------------------------


def _segment_gaps(p: np.ndarray, scene: Scene, extra: float) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Distance from each centre to each colliding segment's surface, minus ``extra``.

    Returns gaps ``[T, S]`` (metres), names, and the outward unit normals ``[T, S, 2]``.
    """
    segs = [s for s in scene.segments if s.collide]
    if not segs:
        return np.full((len(p), 0), np.inf), [], np.zeros((len(p), 0, 2))
    a = np.array([[s.x1, s.y1] for s in segs])
    d = np.array([[s.x2 - s.x1, s.y2 - s.y1] for s in segs])
    half = np.array([s.thickness / 2 for s in segs])
    rel = p[:, None, :] - a[None]
    n2 = np.maximum((d * d).sum(-1), 1e-12)
    u = np.clip((rel * d[None]).sum(-1) / n2, 0.0, 1.0)
    off = rel - u[..., None] * d[None]
    dist = np.hypot(off[..., 0], off[..., 1])
    normal = off / np.maximum(dist, 1e-9)[..., None]
    return dist - half[None] - extra, [s.name for s in segs], normal


def _tunnels(p: np.ndarray, scene: Scene) -> list[tuple[int, str]]:
    """Frames ``t`` where the centre crossed a colliding segment's centre line between t-1 and t."""
    out: list[tuple[int, str]] = []
    a, b = p[:-1], p[1:]
    ok = np.isfinite(a).all(1) & np.isfinite(b).all(1)
    for s in scene.segments:
        if not s.collide:
            continue
        q = np.array([s.x1, s.y1])
        e = np.array([s.x2 - s.x1, s.y2 - s.y1])
        side_a = e[0] * (a[:, 1] - q[1]) - e[1] * (a[:, 0] - q[0])
        side_b = e[0] * (b[:, 1] - q[1]) - e[1] * (b[:, 0] - q[0])
        cross = ok & (np.sign(side_a) * np.sign(side_b) < 0)
        for t in np.nonzero(cross)[0]:
            f = side_a[t] / (side_a[t] - side_b[t])
            hit = a[t] + f * (b[t] - a[t])
            along = float((hit - q) @ e / max(float(e @ e), 1e-12))
            if 0.0 <= along <= 1.0:
                out.append((int(t) + 1, s.name))
    return out


def _kinks(p: np.ndarray, limit: float) -> np.ndarray:
    """bool ``[T]``: samples whose second difference departs from the local median by > ``limit``."""
    T = len(p)
    kink = np.zeros(T, bool)
    if T < 3:
        return kink
    a2 = np.full((T, 2), np.nan)
    a2[1:-1] = p[2:] - 2 * p[1:-1] + p[:-2]
    pad = np.pad(a2, ((3, 3), (0, 0)), constant_values=np.nan)
    windows = np.stack([pad[i:i + T] for i in range(7)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows next to gaps
        med = np.nanmedian(windows, axis=0)
    dev = np.hypot(*(a2 - med).T)
    kink[np.isfinite(dev)] = dev[np.isfinite(dev)] > limit
    # Next to a gap only half of a jump's there-and-back is seen: split on both sides of the sample.
    valid = np.isfinite(p).all(axis=1)
    undefined = ~np.isfinite(a2).all(axis=1)
    for t in np.nonzero(kink)[0]:
        for n in (t - 1, t + 1):
            if 0 < n < T - 1 and valid[n] and undefined[n]:
                kink[n] = True
    return kink


def _dipole(px: np.ndarray, first: int, last: int) -> tuple[int, float]:
    """The strongest there-and-back in the second differences between samples ``first`` and ``last``.

    A jump by ``D`` between samples ``k - 1`` and ``k`` adds ``+D`` to the second difference at
    ``k - 1`` and ``-D`` at ``k``; a contact changes the velocity once, so its two second
    differences point the same way. Strength is ``min(|a[k-1]|, |a[k]|) - |a[k-1] + a[k]|`` (pixels),
    which stays below zero for any contact and is ``|D|`` minus whatever else happened for a jump.

    Returns ``(k, strength)``, the first frame after the jump and its strength (0 when none).
    """
    best, at = 0.0, last
    for k in range(max(first + 1, 2), min(last, len(px) - 2) + 1):
        w = px[k - 2:k + 2]
        if not np.isfinite(w).all():
            continue
        a1 = w[2] - 2 * w[1] + w[0]
        a2 = w[3] - 2 * w[2] + w[1]
        strength = min(float(np.hypot(*a1)), float(np.hypot(*a2))) - float(np.hypot(*(a1 + a2)))
        if strength > best:
            best, at = strength, k
    return at, best


def _pieces(valid: np.ndarray, kink: np.ndarray) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Smooth pieces ``(first, last)`` and the gaps ``(last of one, first of the next)`` between them."""
    T = len(valid)
    pieces: list[tuple[int, int]] = []
    start: int | None = None
    t = 0
    while t < T:
        if not valid[t]:
            if start is not None:
                pieces.append((start, t - 1))
                start = None
            t += 1
            continue
        if kink[t]:
            run_end = t
            while run_end + 1 < T and kink[run_end + 1] and valid[run_end + 1]:
                run_end += 1
            if start is not None:
                pieces.append((start, t))
            start = run_end
            t = run_end + 1
            continue
        if start is None:
            start = t
        t += 1
    if start is not None:
        pieces.append((start, T - 1))
    pieces = [pc for pc in pieces if pc[1] >= pc[0]]
    gaps = [(pieces[i][1], pieces[i + 1][0]) for i in range(len(pieces) - 1)]
    return pieces, gaps


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` of each run of True."""
    out: list[tuple[int, int]] = []
    start: int | None = None
    for t, f in enumerate(flags):
        if f and start is None:
            start = t
        elif not f and start is not None:
            out.append((start, t - 1))
            start = None
    if start is not None:
        out.append((start, len(flags) - 1))
    return out
