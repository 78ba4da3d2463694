"""``conditioning``: what a resolved Take conditions its model on, without loading a model.

Each case checks the inputs themselves (the previz's frames, the picture, the cameo pasted into
the previz's first frame, the reference image) and the provenance notes, word for word. What the
pipelines do with these is the business of test_inputs.py and test_behaviour.py; this file is fast,
so a broken ``conditioning`` is found before any tiny pipeline runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sorakit
from sorakit.backends.contract import conditioning
from sorakit.models import CONTINUATION_FRAMES
from sorakit.cameo import load_image
from sorakit.physics.simulate import simulate
from sorakit.previz import render

ASTRONAUT = str(Path(__file__).resolve().parents[2] / "assets" / "cameo_astronaut.png")
SCENE = sorakit.preset("bouncing_balls")
W, H, FRAMES = 64, 48, 9
needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None,
                               reason="needs OpenCV: pip install 'sorakit[cameo]'")


def take(model: str, mode: str, strength: float = 0.6, method: str = "auto", scene: sorakit.Scene | None = SCENE,
         **kw: object) -> sorakit.Take:
    return sorakit.Take(model=model, mode=mode, width=W, height=H, frames=FRAMES, fps=16, steps=20,
                        physics=sorakit.PhysicsConfig(scene=scene, strength=strength, method=method),
                        **kw).resolved()  # type: ignore[arg-type]


def previz_of(t: sorakit.Take) -> np.ndarray:
    frames: np.ndarray = render(simulate(SCENE, frames=t.n_frames, fps=t.rate), W, H, trail=False).frames
    return frames


def test_text_to_video_with_nothing_to_follow_renders_nothing() -> None:
    cond = conditioning(take("wan2.1-t2v-1.3b", "t2v", strength=0.0), None)
    assert (cond.image, cond.video, cond.motion, cond.sim, cond.method, cond.notes, cond.ttm, cond.reference_images) == (
        None, None, None, None, "none", (), None, ())
    cond = conditioning(take("wan2.1-t2v-1.3b", "t2v", scene=None), None)  # a strength, but no scene
    assert (cond.method, cond.motion, cond.sim, cond.ttm, cond.notes) == ("none", None, None, None, ())


def test_video_to_video_is_given_the_previz_at_the_takes_strength() -> None:
    t = take("wan2.1-t2v-1.3b", "v2v", strength=0.45)
    cond = conditioning(t, None)
    assert cond.method == "v2v" and cond.strength == 0.45 and cond.image is None and cond.motion is None
    assert cond.video is not None and np.array_equal(cond.video, previz_of(t))
    assert cond.sim is not None and cond.sim.frames == t.n_frames
    assert cond.notes == ("video-to-video from the previz (strength 0.45)",)


def test_warped_noise_follows_the_previz_and_time_to_move_its_steps() -> None:
    t = take("wan2.1-t2v-1.3b", "t2v", strength=0.6, method="warp")
    cond = conditioning(t, None)
    assert cond.method == "warp" and cond.video is None and cond.ttm is None
    assert cond.motion is not None and np.array_equal(cond.motion.frames, previz_of(t))
    assert cond.notes == ("warped noise (strength 0.6)",)
    t = take("wan2.1-t2v-1.3b", "t2v", strength=0.6)  # auto: the card has Time-to-Move
    cond = conditioning(t, None)
    assert cond.method == "ttm" and t.ttm == cond.ttm == (1, 3)
    assert cond.motion is not None and np.array_equal(cond.motion.frames, previz_of(t))
    assert cond.notes == (("Time-to-Move (t_weak 1, t_strong 3 of 20 steps; strength 0.6; moving bodies held, "
                           "mask grown 1 latent px)"),)


def test_image_to_video_starts_from_the_picture_or_the_previz() -> None:
    t = take("ltx-video", "i2v", strength=0.0)
    cond = conditioning(t, None)
    assert cond.method == "first_frame" and cond.notes == ("previz first frame",)
    assert isinstance(cond.image, Image.Image) and np.array_equal(np.asarray(cond.image), previz_of(t)[0])
    cond = conditioning(take("ltx-video", "i2v", strength=0.0, first_frame=ASTRONAUT), None)
    assert cond.notes == () and cond.sim is None  # the picture is given: no previz is needed
    assert np.array_equal(np.asarray(cond.image), np.asarray(load_image(ASTRONAUT, W, H)))


@needs_cv2
def test_a_cameo_is_pasted_into_the_previz_or_framed_for_identity_and_vace() -> None:
    person = sorakit.Cameo(ASTRONAUT, "Eileen Collins", consent=True)
    t = take("ltx-video", "i2v", strength=0.0)
    cond = conditioning(t, person)
    bare = previz_of(t)[0]
    assert cond.notes == ("cameo composited into the previz first frame",)
    pasted = np.asarray(cond.image)
    assert pasted.shape == bare.shape and np.abs(pasted.astype(int) - bare).mean() > 5  # she is in it
    t = take("wan2.1-vace-1.3b", "vace")
    cond = conditioning(t, person)
    framed = np.asarray(person.prepare(W, H))
    assert len(cond.reference_images) == 1 and np.array_equal(np.asarray(cond.reference_images[0]), framed)
    assert cond.video is not None and np.array_equal(cond.video, previz_of(t)) and cond.image is None
    assert cond.notes == ("cameo Eileen Collins as VACE reference image", "VACE control from the previz (strength 0.6)")


def test_cosmos_notes_say_continuation_and_control() -> None:
    t = take("cosmos-predict2.5-2b", "v2v")
    cond = conditioning(t, None)
    assert cond.video is not None and np.array_equal(cond.video, previz_of(t))
    assert cond.notes == ((f"video-to-world continuation of the previz: its first {CONTINUATION_FRAMES} frames kept "
                          "clean, the rest generated"),)
    cond = conditioning(take("cosmos-transfer2.5-2b-edge", "vace", strength=0.8), None)
    assert cond.notes == ("Cosmos-Transfer2.5 edge control made from the previz (control weight 0.8)",)
