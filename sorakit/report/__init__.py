"""A physics report for a clip: does what moves in it move like the real thing?

The report measures the video, never the simulation that may have guided it: a video model
copies, bends, slows down or forgets the motion it was given, so every figure here comes from
tracks found in the frames.

Method:

1. **Tracking.** With a scene, each ball and box is found in every frame by its known colour. A
   pixel belongs to a body when it lies close to the body's *shading line* (the colour scaled by
   0.5 to 1.2, which admits the previz's lighting, seams and outline) and no other body colour or
   static colour (sky gradient, segment fill-to-outline) is nearer. The faint trail the previz
   draws behind balls is a blend with the sky and lies far from that line, so only the solid
   current disc counts. Around the predicted position (last position plus last step) the pixel of
   the body's colour nearest the prediction seeds a mean shift over a disc of the body's size,
   which settles on the centre of the blob that pixel belongs to. When the blob is missing or too
   small, a whole-frame density search (integral image) picks it up again wherever it went, so a
   teleported body is found at its new place. Blobs cut by the frame edge are dropped (their
   centroid is biased). Without a scene, moving blobs are found by differencing each frame
   against the per-pixel median, their colours are clustered, and each colour is tracked the
   same way, in pixels.
   **What a video model draws** (its own colours and textures, light, grain, blur, compression)
   the colours do not find. A body the colour tracker misses in the first frames it should be
   seen in is followed by its appearance instead (``tracking.track_appearance``): seeded where
   the simulation puts it in frame 0 (image-to-video shares that frame with the previz), moved
   along DIS optical flow (or its last velocity, where the flow misses a fast body), settled by
   normalised cross-correlation of a blurred template, checked by its chromaticity, searched for
   in the whole frame after a jump. Without a scene and without
   flat-coloured blobs, what moves against the median frame is seeded and followed the same way
   (``tracking.detect_moving``). Each body gets a ``confidence``: the share of the frames it should
   be seen in where it was found.
2. **Pieces and contacts.** Pixel tracks become metres through the previz's view mapping (y up).
   A sample whose second difference departs from the local median acceleration by more than a
   few pixels is a *kink*: a contact, a kick or a jump. Kinks and frames where the body is lost
   split the track into smooth pieces. With a scene, frames where the body touches static
   geometry or another body (by distance) are marked supported; the remaining runs are free
   flight.
3. **Gravity.** A sliding seven-frame fit reads each flight frame's own acceleration; a stretch of
   four or more that disagrees with the scene's gravity at that time (beyond its noise) is named
   with its frames and direction (floats, falls too slowly, falls too fast, rises). Each flight
   run of four or more frames gets its own parabola (``y = y0 + vt +
   g t^2 / 2``); all runs of a body are then fitted jointly (shared ``g``, their own start and
   velocity) for the body's gravity and its standard error, and all bodies together for the
   clip's. The relative error is taken against the scene's gravity.
4. **Teleports.** At each kink and each gap in the track, local arcs are fitted on both sides
   and extended across the gap; the *miss* is the smallest distance between them over the gap.
   A bounce keeps position continuous, so its arcs meet (miss near zero) however fast the ball
   falls; a jump leaves them apart. A plain jump-size threshold would flag every fast fall. Inside
   a longer run of kinks (several contacts in a row) the samples themselves are real, and a jump
   shows as a there-and-back in the second differences (``+D`` then ``-D``), which no contact makes.
5. **Bounces.** Where the arcs meet is the contact time (a fraction of a frame, measured, never
   assumed: video models compress time). With a scene the normal comes from the static segment
   touched; without one, from the change of velocity. Normal speed after / before above 1 adds
   energy. Bounces off other moving bodies are listed but not judged (momentum moves between
   bodies).
6. **Penetration.** A ball's disc sinking into a colliding segment or another ball deeper than a
   tolerance, or its centre crossing a segment between two frames (tunnelling).
7. **Trajectory error.** With a scene, the tracks are compared with ``simulate(scene)`` drawn in
   the same pixels: mean and max in pixels and in % of the frame diagonal. A body the simulation
   shows in plain view but the frames do not, for three frames or more, is *missing* (but not a
   body never found from the start: that is a tracking failure, which its confidence shows).
8. **The clock.** The simulation, run four times finer, is read at ``speed * t`` for speeds from
   0.4 to 2.5; when another speed fits the tracks far better than real time, sideways motion
   included, the clip plays at the wrong speed: one ``timescale`` problem instead of gravity and
   path faults. A gap that closes once one more frame is allowed between its samples is a dropped
   frame, not a teleport.

Frames where a body may be hidden in part or swapped with a look-alike (boxes whose bounding
circles overlap, as in a row of dominoes; overlapping balls; a colour seen twice without a scene)
are measured but not judged.

>>> import sorakit
>>> clip = sorakit.generate(sorakit.Take(frames=40, width=320, height=192))
>>> r = measure(clip)
>>> r.passed, r.body("ball").found > 0.9
(True, True)
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import math
from typing import TYPE_CHECKING

import numpy as np

from sorakit.physics.scene import Scene
from sorakit.physics.simulate import simulate
from sorakit.previz import View
from sorakit.report.judging import _Body, _Context, _judge
from sorakit.report.plotting import plot_report, report_png
from sorakit.report.results import (BodyReport, Bounce, Flight, Penetration, PhysicsReport, Problem, Teleport,
                                    Thresholds, TrajectoryError)
from sorakit.report.tracking import (_Palette, _rgb, _Target, _track_blobs, _track_colours, detect_moving,
                                    track_appearance)

if TYPE_CHECKING:
    from sorakit.clip import Clip

__all__ = ["measure", "measure_frames", "plot_report", "report_png", "PhysicsReport", "BodyReport", "Thresholds",
           "Problem", "Flight", "Bounce", "Teleport", "Penetration", "TrajectoryError"]


# Frames at the start in which the previz's colours must find a body for its colour track to be used.
START = 3


def _looks_like_previz(track: np.ndarray, path: np.ndarray, view: View, reach: float, W: int, H: int) -> bool:
    """Whether the colour tracker found the body in the first frames it should be seen in (or it starts
    out of view): the clip draws it in the previz's colours, so the colour track (exact on the
    previz) is the one to judge."""
    x, y = view.to_px(path[:START, 0], path[:START, 1])
    seen = (x > reach) & (x < W - reach) & (y > reach) & (y < H - reach)
    return bool(not seen.any() or np.isfinite(track[:START][seen]).all(axis=1).any())


def measure(clip: Clip, *, scene: Scene | None = None, thresholds: Thresholds | None = None) -> PhysicsReport:
    """Measures the physics of ``clip``: teleports, gravity, bounces, penetration, path error.

    >>> import sorakit
    >>> clip = sorakit.generate(sorakit.Take(frames=48, width=320, height=192))
    >>> r = measure(clip)
    >>> r.passed, abs(r.gravity_error) < 0.02
    (True, True)

    Args:
        clip: the clip to measure.
        scene: what the clip should show; defaults to ``clip.take.scene()``. Without one,
            moving blobs are tracked in pixels and gravity is not judged.
        thresholds: the tolerances; ``Thresholds()`` by default.

    Returns:
        A PhysicsReport; ``verdict`` is one line, ``passed`` is True when nothing is flagged.
    """
    if scene is None:
        scene = clip.take.scene()
    return measure_frames(clip.frames, clip.fps, scene=scene, thresholds=thresholds)


def measure_frames(frames: np.ndarray, fps: int, *, scene: Scene | None = None,
                  thresholds: Thresholds | None = None) -> PhysicsReport:
    """``report`` for bare frames, e.g. a video decoded from elsewhere.

    Args:
        frames: uint8 ``[T, H, W, 3]``.
        fps: frames per second.
        scene: what the frames should show (None: track moving blobs in pixels).
        thresholds: the tolerances; ``Thresholds()`` by default.
    """
    th = thresholds or Thresholds()
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[0] < 1:
        raise InvalidInput(f"frames must be uint8 [T, H, W, 3], got {frames.dtype} {list(frames.shape)}; "
                         "convert with np.asarray(video, np.uint8)")
    if fps < 1:
        raise InvalidInput(f"fps={fps}: must be a positive frame rate; previz clips use 16")
    T, H, W, _ = frames.shape
    bodies: list[_Body] = []
    if scene is None:
        names, tracks, radii, doubts = _track_blobs(frames, th.color)
        blobs: list[tuple[str, np.ndarray, float, np.ndarray | None]] = list(zip(names, tracks, radii, doubts))
        if not blobs:  # no flat-coloured blobs: what moves, followed by its appearance
            moving = detect_moving(frames)
            looked, _ = track_appearance(frames, [(x, y, r) for _, x, y, r in moving], [t for t, *_ in moving])
            blobs = [(f"blob{k}", looked[k], r, None) for k, (*_, r) in enumerate(moving)]
        for name, track, radius, doubt in blobs:
            bodies.append(_Body(name, "blob", track, np.stack([track[:, 0], H - track[:, 1]], axis=1), radius,
                                radius, doubt))
        return _judge(_Context(None, fps, 1.0, th, (), T, W, H, "px"), bodies, frames[0])
    view = View(scene, W, H)
    scale = float(view.scale)
    colours: list[np.ndarray] = []
    targets: list[_Target] = []
    shapes = [(b.name, "ball", b.x, b.y, b.radius, math.pi * b.radius**2, b.color) for b in scene.balls]
    shapes += [(b.name, "box", b.x, b.y, 0.5 * math.hypot(b.width, b.height), b.width * b.height, b.color)
               for b in scene.boxes]
    for name, kind, x, y, reach, area, colour in shapes:
        c = _rgb(colour)
        k = next((i for i, o in enumerate(colours) if np.array_equal(o, c)), -1)
        if k < 0:
            colours.append(c)
            k = len(colours) - 1
        sx, sy = view.to_px(x, y)
        targets.append(_Target(name, kind, k, reach * scale, area * scale**2, (float(sx), float(sy))))
    # Static colours: the sky gradient, and each segment from its outline (0.7) to its fill.
    static: list[tuple[np.ndarray, np.ndarray]] = [(_rgb(scene.sky[0]), _rgb(scene.sky[1]))]
    for s in scene.segments:
        if not any(np.array_equal(_rgb(s.color), o[1]) for o in static):
            static.append((_rgb(s.color) * 0.7, _rgb(s.color)))
    tracks = _track_colours(frames, targets, _Palette(colours, static, th.color))
    sim = simulate(scene, frames=T, fps=fps)
    # Bodies the previz's colours do not find at the start (a video model drew them its own way) are
    # followed by their appearance from where the simulation puts them in the first frame.
    unseen = [i for i, tg in enumerate(targets) if not _looks_like_previz(tracks[i], sim.positions[tg.name][:T],
                                                                           view, tg.reach, W, H)]
    if unseen:
        seeds = []
        for i in unseen:
            tg = targets[i]
            x0, y0 = view.to_px(*sim.positions[tg.name][0])
            inner = tg.reach if tg.kind == "ball" else 0.5 * math.sqrt(tg.area)
            seeds.append((float(x0), float(y0), float(inner)))
        looked, _ = track_appearance(frames, seeds)
        for k, i in enumerate(unseen):
            tracks[i] = looked[k]
    for i, tg in enumerate(targets):
        wx, wy = view.to_world(tracks[i, :, 0], tracks[i, :, 1])
        truth = np.array(sim.positions[tg.name][:T])
        sx, sy = view.to_px(truth[:, 0], truth[:, 1])
        bodies.append(_Body(tg.name, tg.kind, tracks[i], np.stack([wx, wy], axis=1), tg.reach / scale, tg.reach,
                            None, np.stack([sx, sy], axis=1), truth))
    return _judge(_Context(scene, fps, scale, th, sim.events, T, W, H, "m"), bodies, frames[0])
