from __future__ import annotations

import dataclasses
import json
import re

import pytest

from sorakit import models
from sorakit.errors import InvalidInput
from sorakit import SoundConfig, Ball, DialogueLine, PhysicsConfig, Scene, Segment, Take, preset


def rich_take() -> Take:
    scene = Scene("custom", balls=(Ball("b", 1.0, 2.0, 0.25, "glass", vx=0.5),),
                  segments=(Segment("floor", -1.0, -0.1, 9.0, -0.1, thickness=0.2),))
    return Take(prompt="a glass ball drops", negative_prompt="blurry", seed=123456, steps=40,
                guidance_scale=6.5, frames=49, fps=8, width=480, height=320,
                physics=PhysicsConfig(scene=scene, strength=0.6, trail=False),
                sound=SoundConfig(foley=False, dialogue=(DialogueLine("Ana", "Watch this!", 0.5, "warm"),)),
                cameo=None)


@pytest.mark.parametrize("take", [Take(), rich_take()], ids=["default", "rich"])
def test_json_round_trips_exactly(take: Take) -> None:
    text = take.to_json()
    back = Take.from_json(text)
    assert back == take
    assert back.to_json() == text
    assert isinstance(back.physics.scene, (str, Scene))


def test_take_is_frozen_and_replace_returns_a_new_take() -> None:
    take = Take()
    with pytest.raises(dataclasses.FrozenInstanceError):
        take.seed = 3  # type: ignore[misc]
    assert take.replace(seed=3).seed == 3 and take.seed == 0


@pytest.mark.parametrize("data, message", [
    ({"seeed": 1}, "seeed: unknown key for Take"),
    ({"physics": {"strenght": 0.5}}, "physics.strenght: unknown key for PhysicsConfig"),
    ({"seed": "7"}, "seed: expected an integer, got '7' (str)"),
    ({"seed": True}, "seed: expected an integer, got True (bool)"),
    ({"frames": 8.5}, "frames: expected an integer"),
    ({"guidance_scale": "high"}, "guidance_scale: expected a number"),
    ({"physics": {"scene": 5}}, "physics.scene: expected a string or an object (Scene) or null"),
    ({"physics": {"scene": {"name": "s", "balls": [{"name": "b", "x": 0, "y": 0}]}}},
     "physics.scene.balls[0].radius: missing required key for Ball"),
    ({"sound": {"dialogue": [{"speaker": "A", "text": "hi", "start": "soon"}]}},
     "sound.dialogue[0].start: expected a number"),
    ([1, 2], "Take: expected an object (Take), got [1, 2] (list)"),
])
def test_bad_json_is_refused_naming_the_key(data: object, message: str) -> None:
    with pytest.raises(ValueError) as err:
        Take.from_json(json.dumps(data))
    assert message in str(err.value)


def test_unparsable_json_says_so() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        Take.from_json("{seed: 1")


@pytest.mark.parametrize("changes, message", [
    (dict(seed=-1), "seed=-1: must be in [0, 4294967295]; pick any seed"),
    (dict(steps=0), "steps=0: must be in [1, 200]"),
    (dict(guidance_scale=45.0), "guidance_scale=45.0: must be in [0, 30]"),
    (dict(width=833), "width=833: must be a multiple of 2 for previz; use 832 or 834"),
    (dict(height=4000), "height=4000: must be in [32, 1920] for previz"),
    (dict(frames=0), "frames=0: must be in [1, 960] for previz"),
    (dict(fps=0), "fps=0: must be in [1, 120]"),
    (dict(model="sora-2"), "model='sora-2' is not known; use one of cogvideox-2b, cogvideox-5b"),
    (dict(physics=PhysicsConfig(strength=1.5)), "physics.strength=1.5: must be in [0, 1]"),
    (dict(physics=PhysicsConfig(scene="pinball")), "physics.scene='pinball': is not a preset"),
    (dict(physics=PhysicsConfig(scene=None)), "physics.scene=None: the previz backend draws a physics scene"),
    (dict(sound=SoundConfig(music_model="http://x.example/m.bin")), "sound.music_model='http://x.example/m.bin': "
     "must be a hub id like 'facebook/musicgen-small' or an existing local folder"),
    (dict(sound=SoundConfig(backend="torch")), "sound.backend='torch': must be one of auto, audiocraft, transformers"),
    (dict(sound=SoundConfig(loudness=3.0)), "sound.loudness=3.0: must be in [-40, -5] LUFS or null"),
    (dict(sound=SoundConfig(music_gain=float("nan"))), "sound.music_gain=nan: must be in [-60, 20] dB"),
    (dict(sound=SoundConfig(dialogue=(DialogueLine("Ana", "hi", 0.5, "facebook/mms-tts-eng#x"),))),
     "sound.dialogue[0].voice='facebook/mms-tts-eng#x': a speaker is chosen as '#' and a number"),
    (dict(cameo="me.png"), "cameo='me.png': a cameo puts a real person into generated video, so it needs their "
     "consent; make it with take.with_cameo(sorakit.Cameo(photo, name, consent=True))"),
    (dict(cameo="me.gif", cameo_consent=True), "cameo='me.gif': must be a .png, .jpg or .webp image"),
    (dict(cameo="/nonexistent/me.png", cameo_consent=True), "cameo='/nonexistent/me.png': no such file"),
    (dict(seed=1.5), "seed: expected an integer, got 1.5"),
])
def test_validate_names_value_rule_and_fix(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as err:
        Take(**changes).validate()  # type: ignore[arg-type]
    assert message in str(err.value)


def test_validate_checks_a_custom_scene() -> None:
    scene = dataclasses.replace(preset("ramp"), balls=(Ball("ball", 1.0, 1.0, -0.2),))
    with pytest.raises(ValueError,
                       match=r"physics.scene.balls\[0\] \('ball'\): radius=-0.2 must be between 0.001 and 1000 metres"):
        Take(physics=PhysicsConfig(scene=scene)).validate()
    unknown = dataclasses.replace(preset("ramp"), balls=(Ball("ball", 1.0, 1.0, 0.2, "cheese"),))
    with pytest.raises(ValueError, match="material 'cheese' is unknown; use one of acrylic"):
        Take(physics=PhysicsConfig(scene=unknown)).validate()


def test_model_rules_come_from_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered family's rules (4k+1 frames, size multiple) and the dialogue timing are enforced by validate()."""
    spec = models.ModelSpec(name="family-x", backend="diffusers", size_multiple=16, frame_rule=(4, 1),
                            max_frames=81)
    monkeypatch.setitem(models.MODELS, spec.name, spec)
    take = Take(model="family-x", prompt="a ball", frames=33, fps=16)
    take.validate()
    with pytest.raises(ValueError, match=r"frames=32: family-x needs 4n\+1 frames; use 29 or 33"):
        take.replace(frames=32).validate()
    with pytest.raises(ValueError, match="width=840: must be a multiple of 16 for family-x; use 832 or 848"):
        take.replace(width=840).validate()
    with pytest.raises(ValueError, match="prompt='': family-x needs a prompt"):
        take.replace(prompt="").validate()
    late = SoundConfig(dialogue=(DialogueLine("Ana", "late line", 2.5),))  # the clip is 33/16 s
    with pytest.raises(ValueError, match=r"sound.dialogue\[0\].start=2.5: must lie within the clip"):
        take.replace(sound=late).validate()
    take.replace(sound=SoundConfig(dialogue=(DialogueLine("Ana", "in time", 1.0),))).validate()


def test_the_default_take_is_valid() -> None:
    Take().validate()
    assert Take().duration == pytest.approx(81 / 16)


@pytest.mark.parametrize("changes, message", [
    (dict(mode="t2V"), "mode='t2V': previz runs t2v; did you mean 't2v'?"),
    (dict(memory="T4"), "memory='T4': must be one of auto, cpu, t4, l4, a100; did you mean 't4'?"),
    (dict(model="wan2.1-t2v-1.3B", prompt="x"), "model='wan2.1-t2v-1.3B' is not known; did you mean 'wan2.1-t2v-1.3b'?"),
    (dict(physics=PhysicsConfig(scene="basketbal")), "did you mean 'basketball'?"),
    (dict(negative_prompt="x" * 4001), "negative_prompt='xxxxxxxxxxxxxxxxxxxx...': is 4001 characters, over 4000"),
])
def test_near_misses_are_named_and_each_message_names_its_own_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        Take(frames=16, **changes).validate()  # type: ignore[arg-type]
    assert message in str(err.value)


def test_a_mode_the_model_lacks_is_not_taken_for_a_typo() -> None:
    with pytest.raises(InvalidInput) as err:
        Take(model="cosmos-transfer2.5-2b-edge", prompt="x", mode="t2v").validate()
    said = str(err.value)
    assert "mode='t2v': cosmos-transfer2.5-2b-edge runs vace" in said and "did you mean" not in said
    assert "pick one of those modes, or a model that has this one (" in said


@pytest.mark.parametrize("data, says", [
    ({"steps": "30"}, "steps: expected an integer or null, got '30' (str); write 30 without quotes"),
    ({"guidance_scale": "high"}, "write a number such as 5.0 or null"),
    ({"watermark": "yes"}, "write true or false (no quotes)"),
])
def test_a_type_error_says_what_to_type_instead(data: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(says)):
        Take.from_dict(data)
