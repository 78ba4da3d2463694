"""Notebook-only helpers (STYLE rule 12): widgets over the plain functions.

``SceneEditor`` is a small scene editor: pick a body, move it, give it a velocity and a
material, add or remove balls and boxes, then simulate and watch the previz with its Foley.
Every control edits a frozen ``Scene``; ``editor.scene`` is the result, ready for a Take.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from sorakit.physics.scene import MATERIALS, Ball, Box, Scene


class SceneEditor(w.VBox):  # type: ignore[misc]
    """A scene editor panel; ``editor.scene`` is the edited Scene.

    >>> from sorakit import preset
    >>> editor = SceneEditor(preset("ramp"))
    >>> editor.x.value = 2.5
    >>> editor.scene.balls[0].x
    2.5
    """

    def __init__(self, scene: Scene, *, seconds: float = 3.0, fps: int = 16, width: int = 480,
                 height: int = 272) -> None:
        self._scene = scene
        self._settings = (seconds, fps, width, height)
        x0, y0, x1, y1 = scene.view
        slider = dict(continuous_update=False, readout_format=".2f", style={"description_width": "70px"})
        self.body = w.Dropdown(description="body", options=self._names())
        self.x = w.FloatSlider(description="x (m)", min=x0, max=x1, step=0.05, **slider)
        self.y = w.FloatSlider(description="y (m)", min=y0, max=y1, step=0.05, **slider)
        self.vx = w.FloatSlider(description="vx (m/s)", min=-12, max=12, step=0.1, **slider)
        self.vy = w.FloatSlider(description="vy (m/s)", min=-12, max=12, step=0.1, **slider)
        self.material = w.Dropdown(description="material", options=sorted(MATERIALS))
        self.add_ball = w.Button(description="add ball", icon="circle")
        self.add_box = w.Button(description="add box", icon="square")
        self.remove = w.Button(description="remove", icon="trash")
        self.simulate = w.Button(description="simulate", icon="play", button_style="primary")
        self.out = w.Output()
        self._loading = False
        self.body.observe(lambda _: self._load(), names="value")
        for control in (self.x, self.y, self.vx, self.vy, self.material):
            control.observe(self._store, names="value")
        self.add_ball.on_click(lambda _: self._add(True))
        self.add_box.on_click(lambda _: self._add(False))
        self.remove.on_click(lambda _: self._remove())
        self.simulate.on_click(lambda _: self._simulate())
        super().__init__([self.body, w.HBox([self.x, self.y]), w.HBox([self.vx, self.vy]), self.material,
                          w.HBox([self.add_ball, self.add_box, self.remove, self.simulate]), self.out])
        self._load()

    @property
    def scene(self) -> Scene:
        return self._scene

    def _names(self) -> list[str]:
        return [b.name for b in self._scene.bodies]

    def _current(self) -> Ball | Box | None:
        for b in self._scene.bodies:
            if b.name == self.body.value:
                return b
        return None

    def _load(self) -> None:
        body = self._current()
        if body is None:
            return
        self._loading = True
        try:
            self.x.value, self.y.value, self.vx.value, self.vy.value = body.x, body.y, body.vx, body.vy
            self.material.value = body.material
        finally:
            self._loading = False

    def _store(self, _change: Any) -> None:
        if self._loading or self._current() is None:
            return
        self._scene = self._scene.edit(self.body.value, x=float(self.x.value), y=float(self.y.value),
                                       vx=float(self.vx.value), vy=float(self.vy.value), material=self.material.value)

    def _add(self, ball: bool) -> None:
        x0, y0, x1, y1 = self._scene.view
        names = set(self._names())
        stem = "ball" if ball else "box"
        name = next(f"{stem}{i}" for i in range(1, 1000) if f"{stem}{i}" not in names)
        cx, cy = (x0 + x1) / 2, y0 + 0.7 * (y1 - y0)
        body = Ball(name, cx, cy, 0.2, "rubber") if ball else Box(name, cx, cy, 0.4, 0.4, material="wood")
        self._scene = self._scene.add(body)
        self.body.options = self._names()
        self.body.value = name

    def _remove(self) -> None:
        if self._current() is None or len(self._names()) == 1:
            return
        self._scene = self._scene.remove(self.body.value)
        self.body.options = self._names()

    def _simulate(self) -> None:
        from sorakit.display import show
        from sorakit.generate import generate
        from sorakit.take import PhysicsConfig, Take

        seconds, fps, width, height = self._settings
        self.out.clear_output()
        with self.out:  # errors land in the panel, not in the log
            try:
                take = Take(frames=max(1, round(seconds * fps)), fps=fps, width=width, height=height,
                            physics=PhysicsConfig(scene=self._scene))
                show(generate(take))
            except ValueError as exc:
                print(f"cannot simulate: {exc}")
