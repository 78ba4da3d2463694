from __future__ import annotations

import pytest

import sorakit
from sorakit import Ball, Box, Scene, Segment, preset, simulate
from sorakit.physics.describe import describe


def test_scene_editing_returns_new_scenes() -> None:
    room = Scene.room("lab")
    scene = room.add(Ball("ball", 2.0, 3.0, 0.25, "glass", vx=1.0), Box("crate", 5.0, 0.3, 0.6, 0.6),
                     Segment("ramp", 0.5, 2.0, 3.0, 0.5, thickness=0.08, material="wood"))
    assert room.balls == () and len(scene.balls) == 1 and scene.boxes[0].name == "crate"
    moved = scene.edit("ball", x=3.0, vx=-2.0, material="metal")
    assert (moved.balls[0].x, moved.balls[0].vx, moved.balls[0].material) == (3.0, -2.0, "metal")
    assert scene.balls[0].x == 2.0
    assert [s.name for s in scene.remove("ramp").segments] == ["floor", "left_wall", "right_wall"]
    with pytest.raises(ValueError, match="lab: no body called 'cat'; it has ball, crate, floor"):
        scene.edit("cat", x=1.0)
    sim = simulate(moved, frames=32, fps=16)  # a built scene simulates like a preset
    assert any(e.a == "ball" for e in sim.events)


def test_describe_says_what_happens() -> None:
    text = describe(preset("basketball"), simulate(preset("basketball"), frames=80, fps=16))
    assert text.startswith("A basketball, a backboard, a rim, a floor and a gym wall.")
    assert "The basketball hits the backboard, then bounces on the floor" in text
    assert "ends up to the left" in text
    dominoes = describe(preset("dominoes"), simulate(preset("dominoes"), frames=80, fps=16))
    assert "14 wooden dominoes" in dominoes and "fall over" in dominoes
    assert describe(preset("ramp")) == "A rubber ball, a wooden crate, a ramp, a floor and a wall."


def test_physics_prompt_adds_the_description_for_the_user_to_edit() -> None:
    take = sorakit.Take(prompt="Cinematic gym footage.", frames=48)
    prompt = sorakit.physics_prompt(take)
    assert prompt.startswith("Cinematic gym footage. A basketball")
    assert "hits the backboard" in prompt
    assert sorakit.physics_prompt(take.replace(physics=sorakit.PhysicsConfig(scene=None))) == take.prompt


def test_scene_editor_edits_a_scene(monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.notebook import SceneEditor

    editor = SceneEditor(preset("basketball"), seconds=1.0, width=160, height=96)
    assert editor.body.options == ("ball",) and editor.x.value == pytest.approx(preset("basketball").balls[0].x)
    editor.vx.value = 3.5
    editor.material.value = "glass"
    assert (editor.scene.balls[0].vx, editor.scene.balls[0].material) == (3.5, "glass")
    editor.add_box.click()
    assert editor.body.value == "box1" and editor.scene.boxes[0].material == "wood"
    editor.y.value = 1.0
    assert editor.scene.boxes[0].y == 1.0 and editor.scene.balls[0].vx == 3.5
    editor.remove.click()
    assert editor.scene.boxes == ()
    shown: list[sorakit.Clip] = []
    monkeypatch.setattr("sorakit.display.show", shown.append)
    editor.simulate.click()
    assert len(shown) == 1 and shown[0].frames.shape == (16, 96, 160, 3)
    assert shown[0].take.physics.scene == editor.scene
