"""Wan through sorakit.generate, on tiny random checkpoints saved to disk and loaded back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import sorakit
from sorakit import models
from sorakit.backends import _runtime, tiny_wan

pytest.importorskip("diffusers")

RULES = dict(backend="diffusers", family="wan", size_multiple=16, frame_rule=(4, 1), max_frames=33, min_size=16,
             default_fps=16)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Registers tiny-wan (t2v + v2v), tiny-wan-i2v and tiny-wan-vace from folders built here."""
    names = {}
    for mode, modes in (("t2v", ("t2v", "v2v")), ("i2v", ("i2v",)), ("vace", ("vace",))):
        folder = tiny_wan.build(tmp_path_factory.mktemp(f"wan-{mode}"), mode)
        name = "tiny-wan" if mode == "t2v" else f"tiny-wan-{mode}"
        models.register(models.ModelSpec(name=name, model_id=str(folder), modes=modes, **RULES))  # type: ignore[arg-type]
        names[mode] = name
    yield names
    for name in names.values():
        models.MODELS.pop(name, None)
    _runtime.clear_cache()


def take(model: str, **kw: object) -> sorakit.Take:
    base = dict(prompt="a red ball bounces", negative_prompt="blurry", seed=7, steps=2, guidance_scale=5.0,
                frames=9, fps=16, width=16, height=16, model=model, memory="cpu",
                physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.0))
    base.update(kw)
    return sorakit.Take(**base)  # type: ignore[arg-type]


def test_t2v_shapes_seed_and_progress(tiny: dict[str, str]) -> None:
    steps: list[_runtime.Step] = []
    clip = sorakit.generate(take(tiny["t2v"]), on_step=steps.append)
    assert clip.frames.shape == (9, 16, 16, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.shape == (2, round(9 / 16 * 48_000)) and not clip.audio.any()  # no scene followed: silence
    assert [s.step for s in steps] == [1, 2] and all(s.total == 2 for s in steps)
    assert all(s.preview is not None and s.preview.dtype == np.uint8 and s.preview.shape[2] == 3 for s in steps)
    assert steps[-1].eta == 0 and steps[0].seconds_per_step > 0
    assert clip.provenance.backend == "diffusers" and clip.provenance.status == "complete"
    again = sorakit.generate(take(tiny["t2v"]), progress=False)
    np.testing.assert_array_equal(again.frames, clip.frames)
    other = sorakit.generate(take(tiny["t2v"], seed=8), progress=False)
    assert not np.array_equal(other.frames, clip.frames)


def test_pipeline_and_prompt_embeddings_are_cached(tiny: dict[str, str]) -> None:
    sorakit.generate(take(tiny["t2v"]), progress=False)
    keys = [k for k in _runtime._PIPELINES if k[1] == "t2v" and "wan-t2v" in k[0]]
    pipe = _runtime._PIPELINES[keys[0]]
    embeds = dict(_runtime._EMBEDS)
    sorakit.generate(take(tiny["t2v"], seed=99), progress=False)
    assert _runtime._PIPELINES[keys[0]] is pipe
    assert _runtime._EMBEDS == embeds  # same prompt: nothing encoded again


def test_should_stop_ends_within_one_step(tiny: dict[str, str]) -> None:
    steps: list[int] = []
    clip = sorakit.generate(take(tiny["t2v"], steps=6), on_step=lambda s: steps.append(s.step),
                            should_stop=lambda: len(steps) >= 2)
    assert steps == [1, 2]
    assert clip.provenance.status == "stopped after step 2 of 6"
    assert clip.frames.shape == (9, 16, 16, 3)  # the partly denoised latents are still decoded
    full = sorakit.generate(take(tiny["t2v"], steps=6), progress=False)  # the pipeline is reusable
    assert full.provenance.status == "complete"


def test_i2v_from_a_first_frame(tiny: dict[str, str], tmp_path: Path) -> None:
    picture = tmp_path / "first.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], (30, 1, 3))).save(picture)
    clip = sorakit.generate(take(tiny["i2v"], mode="i2v", first_frame=str(picture)), progress=False)
    assert clip.frames.shape == (9, 16, 16, 3)
    with pytest.raises(ValueError, match="first_frame=None: image-to-video needs a first frame"):
        sorakit.generate(take(tiny["i2v"], mode="i2v"))


def test_v2v_from_the_previz_keeps_foley(tiny: dict[str, str]) -> None:
    t = take(tiny["t2v"], mode="v2v", steps=4, frames=33, physics=sorakit.PhysicsConfig(scene="basketball",
                                                                                          strength=0.5))
    steps: list[int] = []
    clip = sorakit.generate(t, on_step=lambda s: steps.append(s.step))
    assert clip.frames.shape == (33, 16, 16, 3)
    assert steps == [1, 2]  # strength 0.5 of 4 steps
    assert clip.events and clip.events[0].b == "backboard"
    assert np.abs(clip.audio).max() > 0.05  # the video follows the previz, so its Foley is kept


def test_vace_with_the_previz_as_control(tiny: dict[str, str]) -> None:
    t = take(tiny["vace"], mode="vace", physics=sorakit.PhysicsConfig(scene="ramp", strength=0.8))
    assert sorakit.generate(t, progress=False).frames.shape == (9, 16, 16, 3)


def test_family_rules_are_refused_before_loading(tiny: dict[str, str]) -> None:
    _runtime.clear_cache()
    with pytest.raises(ValueError, match=r"frames=10: tiny-wan needs 4n\+1 frames; use 9 or 13"):
        sorakit.generate(take(tiny["t2v"], frames=10))
    with pytest.raises(ValueError, match="width=24: must be a multiple of 16 for tiny-wan; use 16 or 32"):
        sorakit.generate(take(tiny["t2v"], width=24))
    with pytest.raises(ValueError, match="mode='i2v': tiny-wan runs t2v, v2v"):
        sorakit.generate(take(tiny["t2v"], mode="i2v"))
    assert not _runtime._PIPELINES


def test_registered_wan_models_know_their_rules() -> None:
    spec = models.get("wan2.1-t2v-1.3b")
    assert spec.model_id == "Wan-AI/Wan2.1-T2V-1.3B-Diffusers" and spec.frame_rule == (4, 1)
    with pytest.raises(ValueError, match=r"frames=80: wan2.1-t2v-1.3b needs 4n\+1 frames; use 77 or 81"):
        sorakit.Take(model="wan2.1-t2v-1.3b", prompt="x", frames=80).validate()
