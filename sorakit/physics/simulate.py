"""Runs a Scene in pymunk and returns plain arrays: trajectories and collision events."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pymunk

from sorakit.physics.scene import Scene

# Approach speeds below this (m/s) are resting contact, not an impact worth a sound.
MIN_IMPACT_SPEED = 0.3
# Two contacts of the same pair closer than this (s) are one impact (a box's corners landing).
MERGE_WINDOW = 0.03


@dataclass(frozen=True)
class Event:
    """One impact: when, between which bodies, how hard and where.

    Attributes:
        time: seconds from the start of the clip.
        a, b: body names (``b`` may be a static segment such as ``"floor"``).
        impulse: magnitude of the contact impulse, N·s.
        speed: change of relative normal speed the impulse caused, m/s.
        x, y: contact point in metres.
    """

    time: float
    a: str
    b: str
    impulse: float
    speed: float
    x: float
    y: float


@dataclass(frozen=True, eq=False)
class Simulation:
    """Per-frame states of every dynamic body, and every collision event.

    ``positions[name]`` is ``[frames + 1, 2]`` (one state past the last frame, so
    the motion of the last frame is defined), ``angles[name]`` is ``[frames + 1]``.
    """

    scene: Scene
    fps: int
    frames: int
    times: np.ndarray
    positions: dict[str, np.ndarray]
    angles: dict[str, np.ndarray]
    velocities: dict[str, np.ndarray]
    events: tuple[Event, ...]

    @property
    def duration(self) -> float:
        return self.frames / self.fps


def _substeps(fps: int, rate: float = 480.0) -> int:
    return max(1, math.ceil(rate / fps))


def simulate(scene: Scene, *, frames: int, fps: int) -> Simulation:
    """Simulates ``frames / fps`` seconds of ``scene``; deterministic for the same input.

    >>> from sorakit.physics import preset
    >>> sim = simulate(preset("basketball"), frames=32, fps=16)
    >>> sim.positions["ball"].shape
    (33, 2)
    """
    scene.validate()
    space = pymunk.Space()
    space.gravity = (0.0, scene.gravity)
    space.iterations = 30
    names: dict[pymunk.Shape, str] = {}
    bodies: dict[str, pymunk.Body] = {}

    def add_shape(shape: pymunk.Shape, name: str, material: str) -> None:
        m = scene.material(material)
        shape.elasticity = m.elasticity
        shape.friction = m.friction
        names[shape] = name
        space.add(shape)

    for s in scene.segments:
        if not s.collide:
            continue
        seg = pymunk.Segment(space.static_body, (s.x1, s.y1), (s.x2, s.y2), s.thickness / 2)
        add_shape(seg, s.name, s.material)
    for ball in scene.balls:
        mass = scene.material(ball.material).density * math.pi * ball.radius**2
        body = pymunk.Body(mass, pymunk.moment_for_circle(mass, 0, ball.radius))
        body.position = (ball.x, ball.y)
        body.velocity = (ball.vx, ball.vy)
        body.angular_velocity = ball.spin
        space.add(body)
        add_shape(pymunk.Circle(body, ball.radius), ball.name, ball.material)
        bodies[ball.name] = body
    for box in scene.boxes:
        mass = scene.material(box.material).density * box.width * box.height
        body = pymunk.Body(mass, pymunk.moment_for_box(mass, (box.width, box.height)))
        body.position = (box.x, box.y)
        body.angle = box.angle
        body.velocity = (box.vx, box.vy)
        body.angular_velocity = box.spin
        space.add(body)
        add_shape(pymunk.Poly.create_box(body, (box.width, box.height), radius=0.002), box.name, box.material)
        bodies[box.name] = body

    n_sub = _substeps(fps)
    dt = 1.0 / (fps * n_sub)
    clock = {"t": 0.0}
    # Staged changes in time order; a body to be released is held at its start pose until then.
    pending = sorted(scene.changes, key=lambda c: c.time)
    held = {c.body: (bodies[c.body].position, bodies[c.body].angle) for c in pending if c.kind == "release"}

    def apply_changes(t: float) -> None:
        while pending and pending[0].time <= t + 1e-9:
            c = pending.pop(0)
            if c.kind == "gravity":
                space.gravity = (0.0, c.value)
            elif c.kind == "push":
                vx, vy = bodies[c.body].velocity
                bodies[c.body].velocity = (vx + c.vx, vy + c.vy)
            else:  # release
                held.pop(c.body, None)

    def hold() -> None:
        for name, (position, angle) in held.items():
            body = bodies[name]
            body.position, body.angle = position, angle
            body.velocity, body.angular_velocity = (0.0, 0.0), 0.0
    raw: list[Event] = []

    def post_solve(arbiter: pymunk.Arbiter, _space: pymunk.Space, _data: object) -> None:
        if not arbiter.is_first_contact:
            return
        sa, sb = arbiter.shapes
        ba, bb = sa.body, sb.body
        assert ba is not None and bb is not None  # every shape here is attached to a body
        inv = sum((1.0 / b.mass for b in (ba, bb) if b.body_type == pymunk.Body.DYNAMIC), 0.0)
        impulse = float(abs(arbiter.total_impulse))
        speed = impulse * inv
        if speed < MIN_IMPACT_SPEED:
            return
        a, b = names[sa], names[sb]
        if a not in bodies:  # keep the moving body first
            a, b = b, a
        points = arbiter.contact_point_set.points
        px, py = points[0].point_a if points else ba.position
        raw.append(Event(round(clock["t"] + dt, 9), a, b, impulse, speed, float(px), float(py)))

    space.on_collision(post_solve=post_solve)

    total = frames + 1
    times = np.arange(total, dtype=np.float64) / fps
    pos = {n: np.zeros((total, 2)) for n in bodies}
    ang = {n: np.zeros(total) for n in bodies}
    vel = {n: np.zeros((total, 2)) for n in bodies}
    apply_changes(0.0)
    hold()
    for i in range(total):
        for n, body in bodies.items():
            pos[n][i] = tuple(body.position)
            ang[n][i] = body.angle
            vel[n][i] = tuple(body.velocity)
        if i == total - 1:
            break
        for k in range(n_sub):
            clock["t"] = (i * n_sub + k) * dt
            if pending:
                apply_changes(clock["t"])
            space.step(dt)
            if held:
                hold()
    return Simulation(scene, fps, frames, times, pos, ang, vel, _merge(raw))


def _merge(events: list[Event]) -> tuple[Event, ...]:
    """Folds contacts of the same pair within ``MERGE_WINDOW`` into the first, keeping the largest impulse."""
    out: list[Event] = []
    last: dict[tuple[str, str], int] = {}
    for e in events:
        key = (e.a, e.b) if e.a < e.b else (e.b, e.a)
        j = last.get(key)
        if j is not None and e.time - out[j].time < MERGE_WINDOW:
            if e.impulse > out[j].impulse:
                first = out[j]
                out[j] = Event(first.time, first.a, first.b, e.impulse, e.speed, first.x, first.y)
            continue
        last[key] = len(out)
        out.append(e)
    return tuple(out)
