"""The behaviour matrix: every family x mode x guidance method, on tiny checkpoints.

A green run on a tiny random checkpoint says the code runs, not that the model is conditioned
on what it should be. So, per family and mode, the pipeline's own float output (not rounded
uint8 frames: the tiny checkpoints have small gains) must change when an input that should
matter changes (seed, prompt, first frame, the previz's motion with the same first frame) and
must be identical when nothing changes. And the defects only real weights would show, each
pinned by a test that failed before its fix: dtypes that survive every mode switch, a preview
under an offload hook, CogVideoX 1.5's frame padding, image-to-video with warped noise on LTX
and LTX-2, HunyuanVideo 1.5's size bucket, LTX-2's warped noise reaching the transformer as
made, LTX video-to-video following the previz, and the card's values reaching the call.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime, family  # noqa: E402
from sorakit.backends.contract import Conditioning, Family, conditioning  # noqa: E402
from tests.backends.test_families import CASES, Case, make_take, picture, registered  # noqa: E402,F401


def _run(take: sorakit.Take) -> np.ndarray:
    """The pipeline's float frames for ``take`` (resolved), through the runtime generate uses."""
    take = take.resolved()
    spec = models.get(take.model)
    cond = conditioning(take, None)
    return _runtime.run(spec, family(spec.family), take, cond, progress=False).frames


def _moved(scene: sorakit.Scene) -> sorakit.Scene:
    """The same bodies at the same places (so the same first frame), thrown with other velocities."""
    for ball in scene.balls:
        scene = scene.edit(ball.name, vx=ball.vx + 4.0, vy=3.0)
    return scene


SCENE = sorakit.preset("bouncing_balls")
MOVED = _moved(SCENE)

# (mode, method): which input carries the physics, and at what strength
MATRIX = [(case, mode, method) for case in CASES for mode in case.modes
          for method in ({"t2v": ("none", "warp"), "i2v": ("none", "warp"), "v2v": ("v2v",), "vace": ("vace",)}[mode])]
IDS = [f"{c.family}{c.version}-{m}-{g}" for c, m, g in MATRIX]


def _take(case: Case, names: dict[Case, str], mode: str, method: str, first: str) -> sorakit.Take:
    strength = 0.0 if method == "none" else 0.6
    return make_take(case, names[case], mode, first, physics=sorakit.PhysicsConfig(scene=SCENE, strength=strength))


@pytest.fixture(scope="module")
def second_picture(tmp_path_factory: pytest.TempPathFactory) -> str:
    from PIL import Image

    path = tmp_path_factory.mktemp("pictures2") / "other.png"
    yy, xx = np.mgrid[0:48, 0:64]
    Image.fromarray(np.stack([255 - yy * 5, xx * 3, yy * 2], -1).astype(np.uint8)).save(path)
    return str(path)


def test_two_scenes_share_their_first_frame_but_not_their_motion() -> None:
    from sorakit.physics.simulate import simulate
    from sorakit.previz import render

    a, b = (render(simulate(s, frames=9, fps=16), 32, 32, trail=False) for s in (SCENE, MOVED))
    np.testing.assert_array_equal(a.frames[0], b.frames[0])
    assert np.abs(a.frames[-1].astype(int) - b.frames[-1]).max() > 50


@pytest.mark.parametrize("case, mode, method", MATRIX, ids=IDS)
def test_the_output_follows_every_input_that_matters(registered: dict[Case, str], picture: str,  # noqa: F811
                                                     second_picture: str, case: Case, mode: str,
                                                     method: str) -> None:
    take = _take(case, registered, mode, method, picture)
    base = _run(take)
    np.testing.assert_array_equal(_run(take), base)  # identical on repeat
    changed = {"seed": take.replace(seed=take.seed + 1),
               "prompt": take.replace(prompt="a blue ball in slow motion")}
    if mode == "i2v":
        changed["first frame"] = take.replace(first_frame=second_picture)
    if method != "none":  # the same first frame, another motion: only the physics input differs
        changed["previz motion"] = take.replace(physics=dataclasses.replace(take.physics, scene=MOVED))
    for what, other in changed.items():
        diff = float(np.abs(_run(other) - base).max())
        assert diff > 0, f"{case.family} {mode} ({method}): the output ignores the {what}"


def test_the_recorded_fps_and_size_are_the_models(registered: dict[Case, str], picture: str) -> None:  # noqa: F811
    for case in CASES:
        name = registered[case]
        spec = models.get(name)
        take = sorakit.Take(model=name, prompt="a red ball", memory="cpu", mode=case.modes[0],
                            first_frame=picture if case.modes[0] == "i2v" else None,
                            physics=sorakit.PhysicsConfig(scene=None if case.modes[0] != "vace" else SCENE))
        clip = sorakit.generate(take, progress=False)
        assert clip.fps == spec.card.fps == clip.take.fps, name
        assert clip.frames.shape[:3] == (spec.card.frames, spec.card.height, spec.card.width), name
        assert clip.take == take.resolved() and clip.take.steps == spec.card.steps


# -- dtypes and devices across mode switches ----------------------------------------------------------
SHARED = [case for case in CASES if len(case.modes) > 1]


@pytest.mark.parametrize("case", SHARED, ids=[f"{c.family}{c.version}" for c in SHARED])
def test_no_component_changes_dtype_or_device_when_another_mode_loads(
        registered: dict[Case, str], case: Case, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A bfloat16 load (as under l4 or a100) keeps every component's dtype, and Wan's float32 VAE,
    through every derived mode: diffusers' from_pipe would cast the shared weights to float32."""
    spec = models.get(registered[case])
    fam = family(spec.family)
    bf16 = _runtime.Preset("bf16-cpu", "cpu", "bfloat16", None, False, False, 0.0)
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    base = _runtime.pipeline(spec, fam, fam.base_mode(spec, case.modes[0]), bf16)

    def layout(pipe: Any) -> dict[str, tuple[int, Any, Any]]:
        return {n: (id(c), c.dtype, c.device) for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}

    before = layout(base)
    kept = {"vae", "image_encoder"} if case.family == "wan" else set()  # diffusers' Wan docs: the VAE in float32
    expected = {n: torch.float32 if n in kept else torch.bfloat16 for n in before}
    assert {n: v[1] for n, v in before.items()} == expected
    for mode in case.modes:
        derived = _runtime.pipeline(spec, fam, mode, bf16)
        assert type(derived).__name__ == fam.PIPELINES[mode]
        assert layout(base) == before, f"loading {mode} changed the base pipeline's components"
        for name, (ident, dtype, device) in layout(derived).items():
            assert (ident, dtype, device) == before[name], (mode, name)


# -- the preview under an offload hook ---------------------------------------------------------------
def test_the_live_preview_runs_when_an_offload_hook_moves_the_vae(registered: dict[Case, str],  # noqa: F811
                                                                   picture: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With sequential offload the VAE's weights rest on the meta device and its hook runs it on the
    CPU: inputs must go to the hook's execution device, not to ``vae.device``."""
    from accelerate import cpu_offload

    case = CASES[0]
    spec = models.get(registered[case])
    fam = family(spec.family)
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    monkeypatch.setattr(_runtime, "_PREVIEW", {})
    pipe = _runtime.pipeline(spec, fam, "t2v", _runtime.PRESETS["cpu"])
    cpu_offload(pipe.vae, execution_device=torch.device("cpu"))
    assert pipe.vae.device.type == "meta"  # the stand-in: weights away from where the VAE runs
    steps: list[sorakit.Step] = []
    sorakit.generate(make_take(case, registered[case], "t2v", picture), on_step=steps.append)
    assert [s.step for s in steps] == [1, 2] and all(s.preview is not None for s in steps)


def test_the_preview_fit_has_more_equations_than_unknowns(registered: dict[Case, str]) -> None:  # noqa: F811
    """The latent-to-RGB fit reads the regular (non-causal) latent frame of still clips, with at least
    as many latent pixels as a latent has channels (``test_runtime_parts`` checks the fit itself on a
    linear VAE)."""
    for case in (c for c in CASES if c.build_mode == "t2v" and not c.version):
        spec = models.get(registered[case])
        fam = family(spec.family)
        pipe = _runtime.pipeline(spec, fam, "t2v", _runtime.PRESETS["cpu"])
        seen: list[tuple[int, ...]] = []
        original = fam.encode_video

        def spy(p: Any, video: np.ndarray, original: Any = original) -> np.ndarray:
            seen.append(video.shape)
            out: np.ndarray = original(p, video)
            return out

        _runtime._PREVIEW.pop(spec.model_id, None)
        fam.encode_video = spy  # type: ignore[attr-defined]
        try:
            weights = _runtime.fit_preview(spec.model_id, fam, pipe)
        finally:
            fam.encode_video = original  # type: ignore[attr-defined]
        _, temporal = _runtime._compression(pipe)
        assert all(shape[1] == temporal + 1 for shape in seen), case.family
        channels = weights[0].shape[0]
        latent_side = seen[0][2] // _runtime._compression(pipe)[0]
        assert len(seen) * latent_side**2 > channels + 1, case.family


# -- CogVideoX 1.5, LTX, LTX-2 and HunyuanVideo 1.5 specifics ---------------------------------------------
def test_cogvideox15_runs_16k_plus_1_frames_in_every_mode(registered: dict[Case, str], picture: str) -> None:  # noqa: F811
    """16k+1 frames give an odd latent count: t2v pads one latent frame (warped noise included) and
    v2v holds the first frame longer, then drops it; both return exactly the Take's frames."""
    case = next(c for c in CASES if c.version == "1.5")
    for mode in ("t2v", "v2v"):
        clip = sorakit.generate(make_take(case, registered[case], mode, picture), progress=False)
        assert clip.frames.shape == (17, 16, 16, 3), mode


def test_ltx_video_to_video_starts_from_the_previz_latents(registered: dict[Case, str], picture: str,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c.family == "ltx")
    take = make_take(case, registered[case], "v2v", picture,
                     physics=sorakit.PhysicsConfig(scene=SCENE, strength=0.6)).resolved()
    spec = models.get(take.model)
    fam = family("ltx")
    pipe = _runtime.pipeline(spec, fam, "v2v", _runtime.PRESETS["cpu"])
    calls = _spy(monkeypatch, pipe)
    _run(take)
    args = calls[-1]
    assert "video" not in args and "image" not in args and args["denoise_strength"] == 0.6
    cond = conditioning(take, None)
    assert cond.video is not None
    expected = fam.encode_video(pipe, cond.video[None])
    np.testing.assert_allclose(args["latents"].numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fam_name", ["ltx", "ltx2"])
def test_ltx_image_to_video_with_warped_noise_keeps_the_picture_in_frame_0(
        registered: dict[Case, str], picture: str, fam_name: str) -> None:  # noqa: F811
    case = next(c for c in CASES if c.family == fam_name)
    take = make_take(case, registered[case], "i2v", picture).resolved()
    spec = models.get(take.model)
    fam: Family = family(fam_name)  # type: ignore[assignment]
    pipe = _runtime.pipeline(spec, fam, "i2v", _runtime.PRESETS["cpu"])
    cond = conditioning(take, None)
    assert cond.method == "warp" and cond.image is not None
    noise = _runtime.warped_noise(family(fam_name), pipe, take, cond)
    latents = fam.pack_noise(pipe, noise, take, cond)
    if fam_name == "ltx2":  # the pipeline normalises 5-D latents itself
        vae = pipe.vae
        latents = pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)
    else:
        _, f, h, w, _ = fam.latent_grid(pipe, take)
        latents = pipe._unpack_latents(latents, f, h, w, 1, 1)
    picture_latent = fam.encode_video(pipe, np.asarray(cond.image)[None, None])
    np.testing.assert_allclose(latents[:, :, :1].numpy(), picture_latent, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(latents[0, :, 1:].numpy(), noise[:, 1:], rtol=1e-4, atol=1e-5)


def test_ltx2_warped_noise_reaches_the_transformer_as_made(registered: dict[Case, str], picture: str,  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The first step's latents are the warped noise, not the noise normalised once more as VAE latents."""
    case = next(c for c in CASES if c.family == "ltx2")
    take = make_take(case, registered[case], "t2v", picture).resolved()
    spec = models.get(take.model)
    fam = family("ltx2")
    pipe = _runtime.pipeline(spec, fam, "t2v", _runtime.PRESETS["cpu"])
    cond = conditioning(take, None)
    noise = _runtime.warped_noise(fam, pipe, take, cond)
    seen: list[Any] = []
    original = pipe.transformer.forward

    def forward(*args: Any, **kwargs: Any) -> Any:
        seen.append(kwargs["hidden_states"].detach().clone())
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe.transformer, "forward", forward)
    _run(take)
    _, f, h, w, _ = fam.latent_grid(pipe, take)
    first = pipe._unpack_latents(seen[0][:1], f, h, w, 1, 1)[0].float().numpy()
    np.testing.assert_allclose(first, noise, rtol=1e-4, atol=1e-4)


def test_hunyuan15_i2v_warps_noise_on_the_size_bucket_it_picks(registered: dict[Case, str],  # noqa: F811
                                                               picture: str) -> None:
    case = next(c for c in CASES if c.family == "hunyuan15" and c.build_mode == "i2v")
    take = make_take(case, registered[case], "i2v", picture, width=32, height=16)
    spec = models.get(take.model)
    pipe = _runtime.pipeline(spec, family("hunyuan15"), "i2v", _runtime.PRESETS["cpu"])
    assert family("hunyuan15").working_size(pipe, take) != (32, 16)  # the bucket differs from the Take
    clip = sorakit.generate(take, progress=False)
    assert clip.frames.shape == (9, 16, 32, 3) and clip.provenance.guidance == "warped noise (strength 0.6)"


def _spy(monkeypatch: pytest.MonkeyPatch, pipe: Any) -> list[dict[str, Any]]:
    """Records every call's keyword arguments to ``pipe``'s class, then runs it."""
    calls: list[dict[str, Any]] = []
    original = type(pipe).__call__

    def spy(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(pipe), "__call__", spy)
    return calls


def test_the_card_reaches_the_call(registered: dict[Case, str], picture: str,  # noqa: F811
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """LTX gets the model's frame rate and decode knobs; Wan's scheduler gets the card's shift; the
    card's negative prompt is what the negative embeddings encode."""
    case = next(c for c in CASES if c.family == "ltx")
    name = registered[case]
    card = dataclasses.replace(models.get(name).card, fps=30, negative_prompt="blurry",
                               knobs=(("decode_timestep", 0.05), ("decode_noise_scale", 0.025)))
    monkeypatch.setitem(models.MODELS, name, dataclasses.replace(models.get(name), card=card))
    pipe = _runtime.pipeline(models.get(name), family("ltx"), "t2v", _runtime.PRESETS["cpu"])
    calls = _spy(monkeypatch, pipe)
    clip = sorakit.generate(sorakit.Take(model=name, prompt="a red ball", memory="cpu",
                                         physics=sorakit.PhysicsConfig(scene=None)), progress=False)
    args = calls[-1]
    assert args["frame_rate"] == 30 and clip.fps == 30
    assert (args["decode_timestep"], args["decode_noise_scale"]) == (0.05, 0.025)
    expected = family("ltx").encode_prompt(pipe, "a red ball", "blurry", True)
    torch.testing.assert_close(args["negative_prompt_embeds"], expected["negative_prompt_embeds"])

    wan = next(c for c in CASES if c.family == "wan" and c.build_mode == "t2v")
    wname = registered[wan]
    monkeypatch.setitem(models.MODELS, wname, dataclasses.replace(
        models.get(wname), card=dataclasses.replace(models.get(wname).card, shift=3.0)))
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    pipe = _runtime.pipeline(models.get(wname), family("wan"), "t2v", _runtime.PRESETS["cpu"])
    assert pipe.scheduler.config.shift == 3.0  # the tiny checkpoint ships 7.0


def test_ltx2_runs_ltx2_0s_own_guidance(monkeypatch: pytest.MonkeyPatch) -> None:
    """LTX-2.0's card, not the pipeline's LTX-2.3 defaults: STG block 29, no cross timestep, audio
    guidance 7, and four forward passes a step in the estimate."""
    from sorakit.backends import ltx2

    take = sorakit.Take(model="ltx-2", prompt="a drummer").resolved()
    knobs = ltx2._knobs(take)
    assert knobs["spatio_temporal_guidance_blocks"] == [29] and knobs["use_cross_timestep"] is False
    assert knobs["audio_guidance_scale"] == 7.0 and ltx2.passes_per_step(take) == 4
    assert (take.width, take.height, take.frames, take.fps, take.steps, take.guidance_scale) == (
        768, 512, 121, 24, 40, 3.0)
    spec = models.get("ltx-2")
    a100 = _runtime.PRESETS["a100"]
    four = _runtime.estimate(spec, width=768, height=512, frames=121, steps=40, preset=a100, passes=4)
    two = _runtime.estimate(spec, width=768, height=512, frames=121, steps=40, preset=a100, passes=2)
    assert four.seconds_per_step == pytest.approx(2 * two.seconds_per_step, rel=0.02)


def test_a_preset_with_the_text_encoder_apart_gives_the_same_clip(registered: dict[Case, str],  # noqa: F811
                                                                   picture: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Under t4 the text encoder loads alone, encodes and is freed: the denoising pipeline holds
    none, and the embeddings (so the clip) are the same as with it loaded."""
    case = next(c for c in CASES if c.family == "wan" and c.build_mode == "t2v")
    take = make_take(case, registered[case], "t2v", picture)
    together = sorakit.generate(take, progress=False)
    apart = dataclasses.replace(_runtime.PRESETS["cpu"], text_encoder_apart=True)
    monkeypatch.setitem(_runtime.PRESETS, "cpu", apart)
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    monkeypatch.setattr(_runtime, "_EMBEDS", {})
    alone = sorakit.generate(take, progress=False)
    pipe = next(iter(_runtime._PIPELINES.values()))
    assert pipe.text_encoder is None
    np.testing.assert_array_equal(alone.frames, together.frames)


def test_the_conditioning_names_what_steers_the_model(registered: dict[Case, str], picture: str) -> None:  # noqa: F811
    case = next(c for c in CASES if c.family == "wan" and c.build_mode == "t2v")
    take = make_take(case, registered[case], "t2v", picture).resolved()
    cond = conditioning(take, None)
    assert cond.method == "warp" and cond.motion is not None and cond.video is None
    assert cond.notes == ("warped noise (strength 0.6)",)
    free = conditioning(take.replace(physics=sorakit.PhysicsConfig(scene=SCENE, strength=0.0)), None)
    assert free == Conditioning() or (free.method == "none" and free.motion is None and free.sim is None)
    v2v = conditioning(take.replace(mode="v2v"), None)
    assert v2v.method == "v2v" and v2v.video is not None and v2v.video.shape == (9, 16, 16, 3)


def test_every_family_module_meets_the_contract() -> None:
    import inspect

    from sorakit.backends import FAMILIES
    from sorakit.backends.contract import Family as Protocol

    wanted = {n: inspect.signature(getattr(Protocol, n)) for n in dir(Protocol)
              if not n.startswith("_") and callable(getattr(Protocol, n))}
    for name in FAMILIES:
        module = family(name)
        for attr in ("PIPELINES", "FLOAT32", "MAX_SEQUENCE_LENGTH"):
            assert hasattr(module, attr), (name, attr)
        for fn, sig in wanted.items():
            params = [p for p in sig.parameters if p != "self"]
            got = [p.name for p in inspect.signature(getattr(module, fn)).parameters.values()
                   if p.kind is not p.KEYWORD_ONLY]  # a family may add keyword-only options of its own
            assert got == params, (name, fn)
    assert sorakit.Step is sorakit.callbacks.Step


def test_cards_fill_only_what_a_take_leaves_unset() -> None:
    take = sorakit.Take(model="wan2.1-t2v-1.3b", prompt="a ball", steps=12)
    r = take.resolved()
    assert (r.width, r.height, r.frames, r.fps, r.steps, r.guidance_scale) == (832, 480, 81, 16, 12, 5.0)
    assert r.negative_prompt is not None and r.negative_prompt.startswith("Bright tones")
    assert r.resolved() == r and sorakit.Take.from_json(r.to_json()) == r
    assert sorakit.Take(model="cogvideox-2b", prompt="a ball").duration == pytest.approx(49 / 8)

