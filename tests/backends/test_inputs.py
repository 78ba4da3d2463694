"""What reaches the model, checked at the pipeline's own call (its ``__call__`` wrapped), for every
family and mode on tiny checkpoints: the video is the previz at the Take's strength, the image is
the picture (or the previz's first frame, or the cameo composited into it), the latents are
exactly ``warp_noise`` for that scene and seed, the prompt and negative embeddings are what the
pipeline's own ``encode_prompt`` gives for those strings at the model's sequence length, and the
generator is seeded with the Take's seed.

Output comparisons cannot see these on tiny random checkpoints (they barely respond to most
inputs), so the inputs themselves are compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime, family  # noqa: E402
from sorakit.models import CONTINUATION_FRAMES  # noqa: E402
from sorakit.cameo import composite, load_image  # noqa: E402
from sorakit.guidance.warp import warp_noise  # noqa: E402
from sorakit.physics.simulate import simulate  # noqa: E402
from sorakit.previz import render  # noqa: E402
from tests.backends.test_families import CASES, RUNS, Case, make_take, picture, registered  # noqa: E402,F401

SCENE = "bouncing_balls"


def _calls(monkeypatch: pytest.MonkeyPatch, spec: models.ModelSpec, mode: str) -> list[dict[str, Any]]:
    """Wraps the pipeline class's ``__call__`` for ``mode`` so every call's keyword arguments are kept."""
    import diffusers

    cls = getattr(diffusers, family(spec.family).PIPELINES[mode])
    calls: list[dict[str, Any]] = []
    original = cls.__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "__call__", spy)
    return calls


def _previz(take: sorakit.Take) -> Any:
    scene = take.scene()
    assert scene is not None
    return render(simulate(scene, frames=take.n_frames, fps=take.rate), *take.size, trail=False)


def _own_embeddings(fam_name: str, pipe: Any, prompt: str, negative: str, mode: str) -> dict[str, Any]:
    """The pipeline's own encode_prompt for these strings, at the length its ``__call__`` uses."""
    if fam_name in ("wan", "cogvideox"):
        length = 512 if fam_name == "wan" else 226
        pe, ne = pipe.encode_prompt(prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=True,
                                    max_sequence_length=length)
        return {"prompt_embeds": pe, "negative_prompt_embeds": ne}
    if fam_name in ("ltx", "ltx2"):
        length = 1024 if fam_name == "ltx2" else 256 if mode == "v2v" else 128  # LTXConditionPipeline: 256
        pe, pm, ne, nm = pipe.encode_prompt(prompt, negative_prompt=negative, do_classifier_free_guidance=True,
                                            max_sequence_length=length)
        return {"prompt_embeds": pe, "prompt_attention_mask": pm, "negative_prompt_embeds": ne,
                "negative_prompt_attention_mask": nm}
    if fam_name == "cosmos":  # Qwen2.5-VL's normalised hidden states of every layer, at 512 tokens
        pe, ne = pipe.encode_prompt(prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=True,
                                    max_sequence_length=512)
        return {"prompt_embeds": pe, "negative_prompt_embeds": ne}
    if fam_name == "cosmos3":  # no text encoder: the pipeline tokenizes the strings themselves
        return {"prompt": prompt, "negative_prompt": negative}
    names = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")
    out = dict(zip(names, pipe.encode_prompt(prompt=prompt)))
    out.update({f"negative_{n}": v for n, v in zip(names, pipe.encode_prompt(prompt=negative))})
    return out


@pytest.mark.parametrize("case, mode", RUNS, ids=[f"{c.family}{c.version}-{m}" for c, m in RUNS])
def test_the_prompt_the_negative_and_the_seed_reach_the_model(registered: dict[Case, str], picture: str,  # noqa: F811
                                                               case: Case, mode: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    take = make_take(case, registered[case], mode, picture, seed=1234, negative_prompt="blurry wall")
    spec = models.get(take.model)
    calls = _calls(monkeypatch, spec, mode)
    sorakit.generate(take, progress=False)
    args = calls[-1]
    assert args["generator"].initial_seed() == 1234
    pipe = _runtime.pipeline(spec, family(spec.family), mode, _runtime.PRESETS["cpu"])
    expected = _own_embeddings(case.family, pipe, take.prompt, "blurry wall", mode)
    for key, value in expected.items():
        if isinstance(value, str):
            assert args[key] == value, key
        else:
            torch.testing.assert_close(args[key], value, msg=lambda m, key=key: f"{key}: {m}")
    if case.family == "cosmos3":
        assert (args["prompt"], args["negative_prompt"]) == (take.prompt, "blurry wall")  # a swap would show
        return
    assert not torch.equal(args["prompt_embeds"], args["negative_prompt_embeds"])  # a swap would show
    if case.family == "wan":
        assert args["prompt_embeds"].shape[1] == 512  # the length Wan's __call__ encodes to


VIDEO_RUNS = [(c, m) for c, m in RUNS if m in ("v2v", "vace")]


@pytest.mark.parametrize("case, mode", VIDEO_RUNS, ids=[f"{c.family}{c.version}-{m}" for c, m in VIDEO_RUNS])
def test_the_previz_reaches_video_to_video_at_the_takes_strength(registered: dict[Case, str],  # noqa: F811
                                                                 picture: str, case: Case, mode: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    take = make_take(case, registered[case], mode, picture,
                     physics=sorakit.PhysicsConfig(scene=SCENE, strength=0.55)).resolved()
    spec = models.get(take.model)
    calls = _calls(monkeypatch, spec, mode)
    sorakit.generate(take, progress=False)
    args = calls[-1]
    previz = _previz(take).frames
    if case.family == "ltx":  # SDEdit from the previz's own latents
        pipe = _runtime.pipeline(spec, family("ltx"), mode, _runtime.PRESETS["cpu"])
        np.testing.assert_allclose(args["latents"].numpy(), family("ltx").encode_video(pipe, previz[None]),
                                   rtol=1e-5, atol=1e-6)
        assert args["denoise_strength"] == 0.55
        return
    if case.control:  # Cosmos-Transfer2.5: the previz made into its control, at the Take's strength as its weight
        from sorakit.guidance import controls

        got = np.stack([np.asarray(f) for f in args["controls"]])
        np.testing.assert_array_equal(got, controls.make(case.control, _previz(take)))
        assert args["controls_conditioning_scale"] == 0.55
        return
    video = np.stack([np.asarray(f) for f in args["video"]])
    if case.family in models.CONTINUES:  # video-to-world continues the previz's first frames
        previz = previz[:CONTINUATION_FRAMES]
        key = "num_latent_conditional_frames" if case.family == "cosmos" else "condition_frame_indexes_vision"
        assert args[key] == (2 if case.family == "cosmos" else [0, 1])
        np.testing.assert_array_equal(video[:CONTINUATION_FRAMES], previz)
        assert np.abs(previz.astype(int) - previz[:1]).max() > 50
        return
    if case.version == "1.5":  # the first frame held for one more latent frame in front
        video = video[len(video) - len(previz):]
    np.testing.assert_array_equal(video, previz)
    assert np.abs(previz.astype(int) - previz[:1]).max() > 50  # the previz moves: not a still or a black clip
    if mode == "v2v":
        assert args["strength"] == 0.55
    else:
        assert args["conditioning_scale"] == 0.55


I2V_CASES = [c for c in CASES if "i2v" in c.modes]


@pytest.mark.parametrize("case", I2V_CASES, ids=[c.family for c in I2V_CASES])
def test_the_first_frame_reaches_image_to_video(registered: dict[Case, str], picture: str, case: Case,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's picture; without one, the previz's first frame; with a cameo and a scene, the cameo
    composited into that frame (which differs from the bare frame)."""
    from pathlib import Path

    spec = models.get(registered[case])
    calls = _calls(monkeypatch, spec, "i2v")
    still = sorakit.PhysicsConfig(scene=SCENE, strength=0.0)
    take = make_take(case, registered[case], "i2v", picture, physics=still).resolved()
    def image(args: dict[str, Any]) -> np.ndarray:
        if case.family == "cosmos":  # image-to-world as a one-frame video, one latent frame conditioned
            assert len(args["video"]) == 1 and args["num_latent_conditional_frames"] == 1
            return np.asarray(args["video"][0])
        return np.asarray(args["image"])

    sorakit.generate(take, progress=False)
    np.testing.assert_array_equal(image(calls[-1]), np.asarray(load_image(picture, *take.size)))

    bare = take.replace(first_frame=None)
    sorakit.generate(bare, progress=False)
    first = _previz(bare).frames[0]
    np.testing.assert_array_equal(image(calls[-1]), first)

    cameo = sorakit.Cameo(str(Path(__file__).parent.parent.parent / "assets" / "cameo_drawn_a.png"), "A", consent=True)
    sorakit.generate(bare.with_cameo(cameo), progress=False)
    pasted = image(calls[-1])
    np.testing.assert_array_equal(pasted, np.asarray(composite(first, cameo.image)))
    assert np.abs(pasted.astype(int) - first).max() > 50


WARP_RUNS = [(c, m) for c, m in RUNS if m in ("t2v", "i2v")]


@pytest.mark.parametrize("case, mode", WARP_RUNS, ids=[f"{c.family}{c.version}-{m}" for c, m in WARP_RUNS])
def test_the_latents_are_the_warped_noise_of_that_scene_and_seed(registered: dict[Case, str],  # noqa: F811
                                                                 picture: str, case: Case, mode: str,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    take = make_take(case, registered[case], mode, picture, seed=77,
                     physics=sorakit.PhysicsConfig(scene=SCENE, strength=0.7)).resolved()
    spec = models.get(take.model)
    fam = family(spec.family)
    calls = _calls(monkeypatch, spec, mode)
    sorakit.generate(take, progress=False)
    pipe = _runtime.pipeline(spec, fam, mode, _runtime.PRESETS["cpu"])
    c, f, h, w, temporal = fam.latent_grid(pipe, take)
    previz = _previz(take)
    if fam.working_size(pipe, take) != take.size:  # HunyuanVideo 1.5 i2v: its own size bucket
        scene = take.scene()
        assert scene is not None
        previz = render(simulate(scene, frames=take.n_frames, fps=take.rate), *fam.working_size(pipe, take),
                        trail=False)
    noise = warp_noise(previz.flow, previz.body_ids, latent_frames=f, latent_height=h, latent_width=w, channels=c,
                       temporal=temporal, seed=77, strength=0.7)
    from sorakit.backends.contract import conditioning

    expected = fam.pack_noise(pipe, noise, take, conditioning(take, None))
    torch.testing.assert_close(calls[-1]["latents"], expected)
    other = warp_noise(previz.flow, previz.body_ids, latent_frames=f, latent_height=h, latent_width=w, channels=c,
                       temporal=temporal, seed=78, strength=0.7)
    assert not np.allclose(noise, other)  # the seed is in it
