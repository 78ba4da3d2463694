"""A physics scene as plain, frozen data: bodies, static geometry and materials.

The scene knows nothing of pymunk or of drawing (STYLE rule 9): ``simulate`` builds
the pymunk space from it, ``sorakit.previz`` draws the result. Units are metres,
kilograms and seconds, with y pointing up.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import dataclasses
import json
import math
import re
from dataclasses import dataclass
from typing import Any

from sorakit import _serde


@dataclass(frozen=True)
class SoundProfile:
    """How a material rings when struck: damped sinusoids plus a contact click.

    Attributes:
        modes: ``(frequency Hz, decay time s, relative amplitude)`` per mode.
        click: amplitude of the broadband contact transient (0 for none).
    """

    modes: tuple[tuple[float, float, float], ...]
    click: float = 0.2


@dataclass(frozen=True)
class Material:
    """Surface and bulk properties of a body (pymunk multiplies elasticities)."""

    name: str
    elasticity: float
    friction: float
    density: float  # kg per square metre (the world is 2D)
    sound: SoundProfile


MATERIALS: dict[str, Material] = {
    m.name: m
    for m in (
        Material("rubber", 0.85, 0.9, 20.0,
                 SoundProfile(((210.0, 0.05, 1.0), (530.0, 0.025, 0.35), (1150.0, 0.012, 0.15)), 0.25)),
        Material("basketball", 0.82, 0.8, 14.0,
                 SoundProfile(((165.0, 0.07, 1.0), (410.0, 0.035, 0.45), (960.0, 0.015, 0.2)), 0.35)),
        Material("wood", 0.45, 0.6, 600.0,
                 SoundProfile(((820.0, 0.045, 1.0), (1870.0, 0.025, 0.5), (3150.0, 0.012, 0.3)), 0.3)),
        Material("metal", 0.6, 0.4, 2500.0,
                 SoundProfile(((520.0, 0.6, 1.0), (1340.0, 0.4, 0.6), (2710.0, 0.25, 0.4), (4420.0, 0.15, 0.2)), 0.08)),
        Material("glass", 0.7, 0.3, 1000.0,
                 SoundProfile(((1480.0, 0.45, 1.0), (3830.0, 0.3, 0.5), (6240.0, 0.2, 0.25)), 0.05)),
        Material("plastic", 0.65, 0.5, 300.0,
                 SoundProfile(((610.0, 0.08, 1.0), (1530.0, 0.05, 0.4), (2900.0, 0.02, 0.2)), 0.25)),
        Material("acrylic", 0.8, 0.5, 400.0,
                 SoundProfile(((290.0, 0.09, 1.0), (760.0, 0.05, 0.5), (1820.0, 0.03, 0.3)), 0.3)),
        Material("concrete", 0.9, 0.8, 2400.0,
                 SoundProfile(((85.0, 0.05, 1.0), (230.0, 0.03, 0.45), (610.0, 0.015, 0.2)), 0.5)),
    )
}

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Limits that keep pymunk's masses positive and finite (it aborts the process otherwise).
MIN_SIZE, MAX_SIZE, MAX_COORDINATE = 1e-3, 1e3, 1e5


@dataclass(frozen=True)
class Ball:
    """A dynamic disc. ``spin`` is the initial angular velocity in rad/s."""

    name: str
    x: float
    y: float
    radius: float
    material: str = "rubber"
    vx: float = 0.0
    vy: float = 0.0
    spin: float = 0.0
    color: str = "#e4572e"


@dataclass(frozen=True)
class Box:
    """A dynamic rectangle centred on ``(x, y)``, turned by ``angle`` radians."""

    name: str
    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    material: str = "wood"
    vx: float = 0.0
    vy: float = 0.0
    spin: float = 0.0
    color: str = "#c8963e"


@dataclass(frozen=True)
class Segment:
    """Static geometry: floor, wall, ramp, backboard, rim. ``collide=False`` is decoration (a net)."""

    name: str
    x1: float
    y1: float
    x2: float
    y2: float
    thickness: float = 0.05
    material: str = "concrete"
    color: str = "#5b6770"
    collide: bool = True


CHANGE_KINDS = ("gravity", "push", "release")


@dataclass(frozen=True)
class Change:
    """Something that happens to a scene at ``time`` seconds: a staged surprise.

    ``gravity`` sets the scene's gravity to ``value`` m/s² from then on (0 makes things float,
    -9.81 brings Earth back); ``push`` adds ``(vx, vy)`` m/s to ``body``'s velocity; ``release``
    lets go of ``body``, which is held still at its start pose until then. The simulation applies
    a change at the first physics substep at or after its time (substeps are 1/480 s or finer).

    >>> Change(0.5, "gravity", value=0.0)
    Change(time=0.5, kind='gravity', body='', value=0.0, vx=0.0, vy=0.0)
    """

    time: float
    kind: str
    body: str = ""
    value: float = 0.0
    vx: float = 0.0
    vy: float = 0.0


@dataclass(frozen=True)
class Scene:
    """Everything a simulation needs, as JSON-ready frozen data.

    >>> scene = Scene("drop", balls=(Ball("ball", 1.0, 2.0, 0.2),),
    ...               segments=(Segment("floor", -1.0, 0.0, 5.0, 0.0),), view=(0.0, 0.0, 4.0, 3.0))
    >>> scene.validate()
    >>> Scene.from_json(scene.to_json()) == scene
    True

    Attributes:
        view: the visible rectangle ``(x0, y0, x1, y1)`` in metres.
        sky: top and bottom colours of the background gradient.
        materials: extra or overriding materials, by name.
        changes: staged surprises (``Change``): gravity switched, a push, a body released.
    """

    name: str
    balls: tuple[Ball, ...] = ()
    boxes: tuple[Box, ...] = ()
    segments: tuple[Segment, ...] = ()
    gravity: float = -9.81
    view: tuple[float, float, float, float] = (0.0, 0.0, 8.0, 4.6)
    sky: tuple[str, str] = ("#dbe9f4", "#f7f3ea")
    materials: tuple[Material, ...] = ()
    description: str = ""
    changes: tuple[Change, ...] = ()

    # -- editing: each returns a new Scene (scenes are frozen) --------------------------------
    @classmethod
    def room(cls, name: str = "room", *, width: float = 8.0, height: float = 4.6, walls: bool = True) -> Scene:
        """An empty room to build in: a concrete floor (top at y = 0) and, optionally, two walls.

        >>> scene = Scene.room().add(Ball("ball", 2.0, 3.0, 0.25, "rubber", vx=1.5))
        >>> scene.edit("ball", material="glass").balls[0].material
        'glass'
        """
        segments = [Segment("floor", -1.0, -0.4, width + 1.0, -0.4, thickness=0.8, color="#8a7f72")]
        if walls:
            segments += [Segment("left_wall", 0.0, 0.0, 0.0, height + 1.5, thickness=0.1, color="#9aa5ad"),
                         Segment("right_wall", width, 0.0, width, height + 1.5, thickness=0.1, color="#9aa5ad")]
        return cls(name, segments=tuple(segments), view=(0.0, -0.4, width, height - 0.4))

    def add(self, *bodies: Ball | Box | Segment) -> Scene:
        """This scene with more balls, boxes or static segments (walls, ramps, a backboard)."""
        return dataclasses.replace(self, balls=(*self.balls, *(b for b in bodies if isinstance(b, Ball))),
                                   boxes=(*self.boxes, *(b for b in bodies if isinstance(b, Box))),
                                   segments=(*self.segments, *(b for b in bodies if isinstance(b, Segment))))

    def remove(self, name: str) -> Scene:
        """This scene without the body or segment called ``name``."""
        self._find(name)
        return dataclasses.replace(self, balls=tuple(b for b in self.balls if b.name != name),
                                   boxes=tuple(b for b in self.boxes if b.name != name),
                                   segments=tuple(s for s in self.segments if s.name != name))

    def edit(self, name: str, **changes: object) -> Scene:
        """This scene with one body changed: ``scene.edit("ball", vx=3.0, material="glass")``."""
        old = self._find(name)
        new = dataclasses.replace(old, **changes)  # type: ignore[arg-type]

        def swap(items: tuple[Any, ...]) -> tuple[Any, ...]:
            return tuple(new if item is old else item for item in items)

        return dataclasses.replace(self, balls=swap(self.balls), boxes=swap(self.boxes), segments=swap(self.segments))

    def _find(self, name: str) -> Ball | Box | Segment:
        for body in self.parts:
            if body.name == name:
                return body
        names = ", ".join(b.name for b in self.parts)
        raise InvalidInput(f"{self.name}: no body called {name!r}; it has {names}")

    def material(self, name: str) -> Material:
        for m in self.materials:
            if m.name == name:
                return m
        return MATERIALS[name]

    @property
    def bodies(self) -> tuple[Ball | Box, ...]:
        """Every moving body: the balls, then the boxes."""
        return (*self.balls, *self.boxes)

    @property
    def parts(self) -> tuple[Ball | Box | Segment, ...]:
        """Every body and static segment."""
        return (*self.balls, *self.boxes, *self.segments)

    @property
    def dynamic_names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self.balls) + tuple(b.name for b in self.boxes)

    def stage(self, *changes: Change) -> Scene:
        """This scene with more staged changes.

        >>> from sorakit.physics import preset
        >>> floaty = preset("basketball").stage(Change(0.4, "gravity", value=0.0), Change(0.8, "gravity", value=-9.81))
        >>> floaty.gravity_at(0.5), floaty.gravity_at(1.0)
        (0.0, -9.81)
        """
        return dataclasses.replace(self, changes=(*self.changes, *changes))

    def gravity_at(self, t: float) -> float:
        """The gravity in effect at ``t`` seconds, after every gravity change up to then."""
        g = self.gravity
        for c in sorted(self.changes, key=lambda c: c.time):
            if c.kind == "gravity" and c.time <= t:
                g = c.value
        return g

    def to_dict(self) -> dict[str, object]:
        return _serde.to_dict(self)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: object, *, path: str = "") -> Scene:
        return _serde.from_dict(cls, data, path=path)

    @classmethod
    def from_json(cls, text: str) -> Scene:
        return cls.from_dict(json.loads(text))

    def validate(self, *, path: str = "scene") -> None:
        """Raises ``ValueError`` naming the body, the value, the rule and the fix."""
        known = set(MATERIALS) | {m.name for m in self.materials}
        for m in self.materials:
            if not (0 < m.density < 1e6 and 0 <= m.elasticity <= 1.5 and 0 <= m.friction <= 10):
                raise InvalidInput(f"{path}.materials ({m.name!r}): density {m.density} must be in (0, 1e6) kg/m², "
                                   f"elasticity {m.elasticity} in [0, 1.5], friction {m.friction} in [0, 10]")
            for i, (freq, decay, amp) in enumerate(m.sound.modes):
                if not (0 < freq < 24_000 and 0 < decay <= 10 and 0 <= amp <= 10):
                    raise InvalidInput(f"{path}.materials ({m.name!r}).sound.modes[{i}]: ({freq}, {decay}, {amp}) "
                                       "needs 0 < Hz < 24000, 0 < decay <= 10 s, 0 <= amplitude <= 10")
        names: set[str] = set()
        x0, y0, x1, y1 = self.view
        if not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in self.view) or min(
                x1 - x0, y1 - y0) < MIN_SIZE:
            raise InvalidInput(f"{path}.view={self.view}: must be finite, within ±{MAX_COORDINATE:g} and at least "
                               f"{MIN_SIZE:g} m wide and tall; give (left, bottom, right, top) in metres")
        if not (x1 > x0 and y1 > y0):
            raise InvalidInput(f"{path}.view={self.view}: x1 must exceed x0 and y1 must exceed y0; "
                             "give (left, bottom, right, top) in metres")
        if not math.isfinite(self.gravity) or abs(self.gravity) > 100:
            raise InvalidInput(f"{path}.gravity={self.gravity}: must be finite and within ±100 m/s²; "
                             "Earth is -9.81")
        for c in self.sky:
            if not _COLOR.match(c):
                raise InvalidInput(f"{path}.sky: {c!r} is not a colour like '#dbe9f4'")
        groups: list[tuple[str, tuple[Ball | Box | Segment, ...]]] = [
            ("balls", self.balls), ("boxes", self.boxes), ("segments", self.segments)]
        for group, items in groups:
            for i, body in enumerate(items):
                where = f"{path}.{group}[{i}] ({body.name!r})"
                if body.name in names:
                    raise InvalidInput(f"{where}: the name is used twice; give every body its own name")
                names.add(body.name)
                if body.material not in known:
                    raise InvalidInput(f"{where}: material {body.material!r} is unknown; "
                                     f"use one of {', '.join(sorted(known))} or add it to scene.materials")
                if not _COLOR.match(body.color):
                    raise InvalidInput(f"{where}: colour {body.color!r} must look like '#e4572e'")
                sizes = {"balls": ("radius",), "boxes": ("width", "height"), "segments": ("thickness",)}[group]
                for f in dataclasses.fields(body):
                    v = getattr(body, f.name)
                    if isinstance(v, (int, float)) and not isinstance(v, bool) and not (
                            math.isfinite(v) and abs(v) <= MAX_COORDINATE):
                        raise InvalidInput(f"{where}: {f.name}={v} must be a finite number within "
                                           f"±{MAX_COORDINATE:g}; scenes are metres and seconds")
                for s in sizes:
                    v = getattr(body, s)
                    if not MIN_SIZE <= v <= MAX_SIZE:
                        raise InvalidInput(f"{where}: {s}={v} must be between {MIN_SIZE:g} and {MAX_SIZE:g} metres")
        if not self.balls and not self.boxes:
            raise InvalidInput(f"{path}: has no moving bodies; add a Ball or a Box")
        moving = set(self.dynamic_names)
        for i, change in enumerate(self.changes):
            where = f"{path}.changes[{i}]"
            if change.kind not in CHANGE_KINDS:
                raise InvalidInput(f"{where}: kind {change.kind!r} is unknown; use one of {', '.join(CHANGE_KINDS)}")
            for name in ("time", "value", "vx", "vy"):
                v = getattr(change, name)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise InvalidInput(f"{where}: {name}={v!r} must be a finite number")
            if not 0 <= change.time <= 3600:
                raise InvalidInput(f"{where}: time={change.time} must be in [0, 3600] seconds from the start")
            if change.kind == "gravity" and abs(change.value) > 100:
                raise InvalidInput(f"{where}: gravity {change.value} must be within ±100 m/s²; Earth is -9.81, 0 floats")
            if change.kind in ("push", "release") and change.body not in moving:
                raise InvalidInput(f"{where}: {change.kind} needs the name of a ball or box, not {change.body!r}; "
                                   f"this scene moves {', '.join(sorted(moving))}")
            if change.kind == "push" and max(abs(change.vx), abs(change.vy)) > 1000:
                raise InvalidInput(f"{where}: a push of ({change.vx}, {change.vy}) m/s is beyond ±1000 m/s")

