"""Prompt help: a short physical description of a scene and what happens in it.

The text comes from the scene (objects and materials) and from the simulation (what each
ball hits, in order, and where it ends up), so a video model's prompt can say what the physics
will show. The user sees it and edits it: nothing is added to a prompt behind their back.
"""

from __future__ import annotations

import math

from sorakit.physics.scene import Ball, Box, Scene
from sorakit.physics.simulate import Simulation

_ADJECTIVE = {"basketball": "leather", "rubber": "rubber", "wood": "wooden", "metal": "steel", "glass": "glass",
              "plastic": "plastic", "acrylic": "acrylic", "concrete": "concrete"}


def _noun(body: Ball | Box) -> str:
    if isinstance(body, Ball):
        return "basketball" if body.material == "basketball" else f"{_ADJECTIVE.get(body.material, body.material)} ball"
    kind = "domino" if body.name.startswith("domino") else "crate" if body.width >= body.height else "block"
    return f"{_ADJECTIVE.get(body.material, body.material)} {kind}"


def _article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith("o") else "s")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def describe(scene: Scene, sim: Simulation | None = None, *, bodies: int = 2, contacts: int = 3) -> str:
    """One or two sentences on the scene's objects and, with a simulation, what happens.

    >>> from sorakit import preset, simulate
    >>> describe(preset("basketball"), simulate(preset("basketball"), frames=48, fps=16))
    'A basketball, a backboard, a rim, a floor and a gym wall. The basketball hits the backboard, then bounces on the floor, and ends up to the left.'
    """
    nouns: dict[str, int] = {}
    for body in scene.bodies:
        nouns[_noun(body)] = nouns.get(_noun(body), 0) + 1
    things = [f"{n} {_plural(k)}" if n > 1 else _article(k) for k, n in nouns.items()]
    order = ("backboard", "rim", "ramp", "floor", "gym_wall", "left_wall", "right_wall")
    statics = sorted((s.name for s in scene.segments if s.collide and s.name in order), key=order.index)
    things += [_article(s.replace("_", " ").replace("left ", "").replace("right ", "")) for s in statics]
    text = _join(list(dict.fromkeys(things)))
    text = text[:1].upper() + text[1:] + "."
    if sim is None:
        return text
    named = {b.name: b for b in scene.bodies}
    stories = []
    for ball in scene.balls[:bodies]:
        hits: list[str] = []
        for e in sim.events:
            if ball.name not in (e.a, e.b):
                continue
            other = e.b if e.a == ball.name else e.a
            what = _noun(named[other]) if other in named else other.replace("_", " ")
            phrase = "bounces on the floor" if other == "floor" else f"hits the {what}"
            if not hits or hits[-1] != phrase:
                hits.append(phrase)
        if not hits:
            continue
        story = f"the {_noun(ball)} " + ", then ".join(hits[:contacts])
        pos = sim.positions[ball.name]
        first = next(e for e in sim.events if ball.name in (e.a, e.b))
        dx = pos[-1, 0] - pos[min(len(pos) - 1, int(first.time * sim.fps)), 0]
        if abs(dx) > 0.3:
            story += f", and ends up to the {'left' if dx < 0 else 'right'}"
        stories.append(story[:1].upper() + story[1:] + ".")
    toppled = [b for b in scene.boxes if abs(math.remainder(float(sim.angles[b.name][-1]) - b.angle, math.pi)) > 0.6]
    if toppled:
        noun = _noun(toppled[0])
        stories.append(f"{len(toppled)} {_plural(noun)} fall over." if len(toppled) > 1 else f"The {noun} falls over.")
    return " ".join([text, *stories])
