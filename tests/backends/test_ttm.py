"""Time-to-Move on tiny Wan, CogVideoX, LTX and HunyuanVideo 1.5 checkpoints: the mechanics, read at the
transformer's input.

The transformer's ``hidden_states`` at each step are the latents the loop carries (with the image
condition's channels after them for image-to-video), so what TTM does to the loop is checked
there: the first step starts from the reference noised to ``t_weak`` everywhere; after each step
below ``t_strong`` the masked region is the reference noised to the next step's level and the rest
is the scheduler's own update; from ``t_strong`` on nothing is overwritten; the loop runs
``steps - t_weak`` steps. The expected levels are computed here from the scheduler's schedule by
the papers' formulas, not through ``sorakit.backends._ttm``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime, family  # noqa: E402
from sorakit.guidance.ttm import indices, latent_mask, motion_video  # noqa: E402
from sorakit.physics import Ball, Scene  # noqa: E402
from sorakit.physics.simulate import simulate  # noqa: E402
from sorakit.previz import render  # noqa: E402

RUNS = [("wan", "t2v"), ("wan", "i2v"), ("cogvideox", "t2v"), ("cogvideox", "i2v"), ("ltx", "t2v"), ("ltx", "i2v"),
        ("ltx2", "t2v"), ("ltx2", "i2v"), ("hunyuan15", "t2v"), ("hunyuan15", "i2v")]
# Wan's real checkpoints ship UniPC (flow prediction, flow sigmas), not the tiny builder's Euler: one more run
# with it; and Wan 2.2 TI2V's layout (a 16x VAE, the picture as latent frame 0 with timestep 0), both modes.
UNIPC = ("wan-unipc", "t2v")
TI2V = [("wan22", "t2v"), ("wan22", "i2v")]
SIZE = 64
STEPS = 4


def _scene(vx: float) -> Scene:
    """A big ball in a small room, thrown sideways at ``vx`` m/s: the first frame does not depend on ``vx``."""
    return Scene.room("throw", width=4.0, height=4.4).add(Ball("ball", 2.0, 2.0, 0.35, "rubber", vx=vx))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[tuple[str, str], str]]:
    names = {}
    for fam, mode in [*RUNS, UNIPC, *TI2V]:
        real = fam
        fam = "wan" if fam == "wan22" else fam.removesuffix("-unipc")
        builder = importlib.import_module(f"sorakit.tiny.{fam}")
        build_mode = "t2v" if fam in ("ltx", "ltx2") else mode  # one LTX (LTX-2) checkpoint runs both
        if real == "wan22":
            build_mode = "t2v"  # its image-to-video is derived from the one checkpoint, as for the real one
        folder = builder.build(tmp_path_factory.mktemp(f"ttm-{real}-{mode}"), build_mode,
                               **({"side": SIZE} if fam == "cogvideox" else {"version": "2.2"} if real == "wan22"
                                  else {}))
        if real == "wan-unipc":  # the scheduler Wan-AI/Wan2.1-T2V-1.3B-Diffusers ships (its scheduler_config.json)
            import json

            import diffusers

            diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0,
                                              num_train_timesteps=1000).save_pretrained(folder / "scheduler")
            index = json.loads((folder / "model_index.json").read_text())
            index["scheduler"] = ["diffusers", "UniPCMultistepScheduler"]
            (folder / "model_index.json").write_text(json.dumps(index))
        # ttm=(6, 25) at 50 steps: strength 1 on 4 steps gives (1, 4), strength 0.5 gives (0, 2)
        card = models.Card(width=SIZE, height=SIZE, frames=9, fps=8, steps=STEPS, guidance_scale=5.0, ttm=(6, 25))
        spec = models.ModelSpec(name=f"ttm-{real}-{mode}", backend="diffusers", family=fam, model_id=str(folder),
                                modes=("t2v", "i2v") if real == "wan22" else (mode,),
                                size_multiple=32 if fam in ("ltx", "ltx2") or real == "wan22" else 16,
                                frame_rule=(8, 1) if fam in ("cogvideox", "ltx", "ltx2") else (4, 1),
                                joint_audio=fam == "ltx2",
                                sizes=((SIZE, SIZE),) if (fam, mode) == ("cogvideox", "i2v") else (),
                                max_frames=33, min_size=16, card=card)
        models.register(spec)
        names[(real, mode)] = spec.name
    yield names
    for name in names.values():
        models.MODELS.pop(name, None)
    _runtime.clear_cache()


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> str:
    from PIL import Image

    path = tmp_path_factory.mktemp("ttm-picture") / "first.png"
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    Image.fromarray(np.stack([xx * 3, yy * 3, 255 - xx * 2], -1).astype(np.uint8)).save(path)
    return str(path)


def _take(name: str, mode: str, picture: str, **kw: Any) -> sorakit.Take:
    physics = kw.pop("physics", sorakit.PhysicsConfig(scene=_scene(3.0), strength=1.0, method="ttm"))
    return sorakit.Take(model=name, mode=mode, prompt="a ball flies across the room", seed=11, memory="cpu",
                        first_frame=picture if mode == "i2v" else None, physics=physics, **kw)


class _Spy:
    """The loop's latents at each transformer call (one per step: CFG's second pass is dropped) and
    the scheduler's own output of each step, both as ``[C, F, h, w]``."""

    def __init__(self, pipe: Any, fam: str, take: sorakit.Take) -> None:
        self.pipe, self.fam, self.take, self.inputs, self.stepped = pipe, fam, take, [], []
        self.channels = family(fam).latent_grid(pipe, take)[0]
        seen_t: list[Any] = []

        def pre_hook(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
            t = kwargs["timestep"].flatten().max().item()
            if seen_t and seen_t[-1] == t:  # Wan's unconditional pass at the same step
                return
            seen_t.append(t)
            self.inputs.append(self._canonical(kwargs["hidden_states"]))

        self.handle = pipe.transformer.register_forward_pre_hook(pre_hook, with_kwargs=True)
        video = pipe.scheduler
        self.base = base = type(video)

        def step(scheduler: Any, *args: Any, **kwargs: Any) -> Any:
            out = base.step(scheduler, *args, **kwargs)
            if scheduler is video:  # not LTX-2's audio scheduler, a deep copy made inside the call
                self.stepped.append(self._canonical(out[0] if isinstance(out, tuple) else out.prev_sample))
            return out

        # A subclass, not an instance attribute: a deep copy keeps its own state, and HunyuanVideo 1.5's call
        # sets and deletes an instance ``step`` of its own.
        video.__class__ = type(base.__name__, (base,), {"step": step})

    def close(self) -> None:
        self.handle.remove()
        self.pipe.scheduler.__class__ = self.base

    def _canonical(self, x: Any) -> np.ndarray:
        x = x[:1].detach().float()
        if self.fam == "cogvideox":  # [B, F, C (+ image), h, w]
            return x[0, :, : self.channels].permute(1, 0, 2, 3).numpy()
        if self.fam in ("ltx", "ltx2") and x.ndim == 3:  # packed tokens [B, F·h·w, C]
            return family("ltx").latents_for_preview(self.pipe, x, self.take)
        return x[0, : self.channels].numpy()  # [B, C (+ condition), F, h, w]


def _expected(pipe: Any, fam: str, take: sorakit.Take) -> tuple[Any, Any, np.ndarray, Any]:
    """The reference latents, the fixed noise, the latent mask and a function from step index to level."""
    from sorakit.cameo import load_image

    take = take.resolved()
    scene = take.scene()
    assert scene is not None
    size = family(fam).working_size(pipe, take)  # HunyuanVideo 1.5 image-to-video picks a bucket
    previz = render(simulate(scene, frames=take.n_frames, fps=take.rate), *size, trail=False)
    image = None
    if take.first_frame:
        image = np.asarray(load_image(take.first_frame, *take.size).convert("RGB").resize(size))
    video = motion_video(previz.frames, previz.body_ids, image)
    z = torch.from_numpy(family(fam).encode_video(pipe, video[None])[0])
    c, f, h, w = z.shape
    noise = torch.randn((c, f, h, w), generator=torch.Generator().manual_seed(take.seed))
    mask = latent_mask(previz.body_ids, latent_frames=f, latent_height=h, latent_width=w,
                       temporal=family(fam).latent_grid(pipe, take)[4])
    scheduler = type(pipe.scheduler).from_config(pipe.scheduler.config)
    scheduler.set_timesteps(**family(fam).schedule(pipe, take))
    if fam != "cogvideox":  # flow matching: x = (1 - sigma) z + sigma e
        sigmas = scheduler.sigmas.float()

        def level(j: int) -> np.ndarray:
            return ((1 - sigmas[j]) * z + sigmas[j] * noise).numpy()
    else:  # DDPM: x = sqrt(abar_t) z + sqrt(1 - abar_t) e, at the timestep the DDIM step lands on
        abar, ts = scheduler.alphas_cumprod, scheduler.timesteps
        ratio = scheduler.config.num_train_timesteps // STEPS

        def level(j: int) -> np.ndarray:
            t = int(ts[0]) if j == 0 else int(ts[j - 1]) - ratio
            if t < 0:
                return z.numpy()
            return (abar[t].sqrt() * z + (1 - abar[t]).sqrt() * noise).numpy()
    return z, noise, mask, level


@pytest.mark.parametrize("fam, mode", [*RUNS, UNIPC, *TI2V], ids=[f"{f}-{m}" for f, m in [*RUNS, UNIPC, *TI2V]])
@pytest.mark.parametrize("strength, pair", [(1.0, (1, 4)), (0.5, (0, 2))], ids=["hold-to-end", "release-at-2"])
def test_the_masked_region_follows_the_reference_until_t_strong(tiny: dict[tuple[str, str], str], picture: str,
                                                                 fam: str, mode: str, strength: float,
                                                                 pair: tuple[int, int]) -> None:
    take = _take(tiny[(fam, mode)], mode, picture,
                 physics=sorakit.PhysicsConfig(scene=_scene(3.0), strength=strength, method="ttm"))
    assert take.ttm == pair
    t_weak, t_strong = pair
    ti2v = fam == "wan22"
    fam = "wan" if ti2v else fam.removesuffix("-unipc")
    spec = models.get(take.model)
    pipe = _runtime.pipeline(spec, family(fam), mode, _runtime.PRESETS["cpu"])
    spy = _Spy(pipe, fam, take.resolved())
    steps: list[tuple[int, int]] = []
    try:
        clip = sorakit.generate(take, on_step=lambda s: steps.append((s.step, s.total)))
    finally:
        spy.close()
    z, noise, mask, level = _expected(pipe, fam, take)
    assert 0 < mask.sum() < mask.size  # the ball, not the whole frame nor nothing
    assert steps == [(k, STEPS - t_weak) for k in range(1, STEPS - t_weak + 1)]  # t_weak steps skipped
    assert len(spy.inputs) == STEPS - t_weak
    # LTX's (and LTX-2's) image-to-video keeps latent frame 0 clean (the picture) and steps only the frames after it
    # and Wan 2.2 TI2V's feeds the picture's latent as frame 0 with timestep 0
    first = 1 if (fam in ("ltx", "ltx2") or ti2v) and mode == "i2v" else 0
    inputs = [x[:, first:] for x in spy.inputs]
    stepped = [x if x.shape == spy.inputs[0].shape else np.concatenate([spy.inputs[0][:, :1], x], 1)
               for x in spy.stepped]
    stepped = [x[:, first:] for x in stepped]
    m = np.broadcast_to(mask[None, first:], inputs[0].shape)

    def at(j: int) -> np.ndarray:
        return level(j)[:, first:]

    np.testing.assert_allclose(inputs[0], at(t_weak), rtol=1e-5, atol=1e-5)  # starts weakly, everywhere
    for k in range(1, len(inputs)):
        index = t_weak + k - 1  # the full schedule's step that was just taken
        own = stepped[k - 1]
        np.testing.assert_allclose(inputs[k][~m], own[~m], rtol=1e-5, atol=1e-5)  # outside: the model's own
        if index < t_strong:
            np.testing.assert_allclose(inputs[k][m], at(index + 1)[m], rtol=1e-5, atol=1e-5)
            assert np.abs(own[m] - at(index + 1)[m]).max() > 1e-3  # the overwrite changed something
        else:
            np.testing.assert_allclose(inputs[k][m], own[m], rtol=1e-5, atol=1e-5)  # free from t_strong
    assert f"Time-to-Move (t_weak {t_weak}, t_strong {t_strong} of {STEPS} steps" in clip.provenance.guidance


@pytest.mark.parametrize("fam, mode", [("wan", "i2v"), ("cogvideox", "i2v"), ("ltx", "i2v"), ("ltx2", "i2v"),
                                       ("hunyuan15", "i2v")], ids=["wan", "cogvideox", "ltx", "ltx2", "hunyuan15"])
def test_the_output_follows_the_previz_motion_from_the_same_first_frame(tiny: dict[tuple[str, str], str],
                                                                         picture: str, fam: str, mode: str) -> None:
    name = tiny[(fam, mode)]
    left, right = (_take(name, mode, picture, physics=sorakit.PhysicsConfig(scene=_scene(vx), strength=1.0,
                                                                            method="ttm")) for vx in (-2.0, 2.0))
    a, b = (render(simulate(t.scene(), frames=9, fps=8), SIZE, SIZE, trail=False) for t in (left, right))  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.frames[0], b.frames[0])  # one first frame, two motions
    assert np.abs(a.frames[-1].astype(int) - b.frames[-1]).max() > 50
    one, other = sorakit.generate(left, progress=False), sorakit.generate(right, progress=False)
    np.testing.assert_array_equal(sorakit.generate(left, progress=False).frames, one.frames)  # a rerun repeats
    assert np.abs(one.frames.astype(int) - other.frames).max() >= 8


def test_auto_picks_ttm_where_the_card_has_it_and_warp_elsewhere(tiny: dict[tuple[str, str], str]) -> None:
    on = sorakit.PhysicsConfig(scene=_scene(3.0), strength=0.5)
    assert sorakit.Take(model="wan2.1-t2v-1.3b", physics=on).method == "ttm"
    assert sorakit.Take(model="cogvideox-5b-i2v", mode="i2v", physics=on).method == "ttm"
    assert sorakit.Take(model="cogvideox1.5-5b", physics=on).method == "warp"  # no TTM for 1.5's padded latents
    assert sorakit.Take(model="ltx-video", mode="i2v", physics=on).method == "ttm"
    assert sorakit.Take(model="hunyuanvideo1.5-480p-i2v", mode="i2v", physics=on).method == "ttm"
    assert sorakit.Take(model="ltx-2", mode="i2v", physics=on).method == "ttm"
    assert sorakit.Take(model="wan2.1-t2v-1.3b", mode="v2v", physics=on).method == "v2v"
    assert sorakit.Take(model="wan2.1-t2v-1.3b", physics=sorakit.PhysicsConfig(strength=0.0)).method == "none"
    assert sorakit.Take(model="wan2.1-i2v-14b-480p", mode="i2v",
                        physics=sorakit.PhysicsConfig(strength=0.5, method="first_frame")).method == "first_frame"
    # the paper's defaults at 50 steps come back at strength 0.5; the step count scales them
    assert sorakit.Take(model="wan2.1-t2v-1.3b", steps=50, physics=on).ttm == (3, 7)
    assert sorakit.Take(model="cogvideox-5b-i2v", mode="i2v", steps=50, physics=on).ttm == (4, 9)
    assert sorakit.Take(model="wan2.1-t2v-1.3b", steps=30, physics=on).ttm == (2, 4)
    assert sorakit.Take(model="wan2.1-t2v-1.3b", physics=on.__class__(scene="basketball", strength=0.5,
                                                                      method="warp")).ttm is None


@pytest.mark.parametrize("physics, mode, model, message", [
    (dict(method="tmm"), "t2v", "wan2.1-t2v-1.3b", r"physics.method='tmm': must be one of .*did you mean 'ttm'"),
    (dict(method="ttm"), "t2v", "cogvideox1.5-5b", r"cogvideox1.5-5b has no Time-to-Move; use method='warp'"),
    (dict(method="ttm", strength=0.0), "t2v", "wan2.1-t2v-1.3b", r"needs physics.strength above 0"),
    (dict(method="v2v"), "t2v", "wan2.1-t2v-1.3b", r"runs only with mode='v2v'; set mode='v2v'"),
    (dict(method="warp"), "v2v", "wan2.1-t2v-1.3b", r"steers text- and image-to-video"),
    (dict(method="first_frame"), "t2v", "wan2.1-t2v-1.3b", r"needs mode='i2v' and no first_frame picture"),
])
def test_a_method_that_cannot_run_is_refused_with_the_fix(physics: dict[str, Any], mode: str, model: str,
                                                          message: str) -> None:
    cfg = sorakit.PhysicsConfig(**{"scene": "basketball", "strength": 0.5, **physics})
    with pytest.raises(sorakit.InvalidInput, match=message):
        sorakit.Take(model=model, mode=mode, prompt="a ball", physics=cfg).validate()


def test_latent_mask_covers_every_frame_of_its_group_and_grows() -> None:
    ids = np.zeros((9, 32, 32), np.int16)
    ids[3, 8:10, 16:18] = 1  # a body only in video frame 3: latent frame 1 (frames 1..4)
    ids[0, 0:2, 0:2] = 2  # and one in frame 0 alone: latent frame 0
    mask = latent_mask(ids, latent_frames=3, latent_height=4, latent_width=4, temporal=4, dilate=0)
    assert mask[1, 1, 2] and mask[0, 0, 0] and mask.sum() == 2 and not mask[2].any()
    grown = latent_mask(ids, latent_frames=3, latent_height=4, latent_width=4, temporal=4, dilate=1)
    assert grown[1, 0:3, 1:4].all() and grown[1].sum() == 9 and grown[0].sum() == 4


def test_motion_video_pastes_the_bodies_over_the_picture() -> None:
    frames = np.full((3, 4, 4, 3), 200, np.uint8)
    ids = np.zeros((3, 4, 4), np.int16)
    ids[:, 1, 1] = 1
    frames[:, 1, 1] = (255, 0, 0)
    picture = np.zeros((4, 4, 3), np.uint8)
    out = motion_video(frames, ids, picture)
    np.testing.assert_array_equal(out[0], picture)  # the first frame is the picture itself
    assert (out[1:, 1, 1] == (255, 0, 0)).all() and (out[1:, 0, 0] == 0).all()
    np.testing.assert_array_equal(motion_video(frames, ids, None), frames)
    with pytest.raises(ValueError, match="the picture is 2x4, the previz 4x4"):
        motion_video(frames, ids, np.zeros((4, 2, 3), np.uint8))


def test_indices_scale_with_strength_and_steps() -> None:
    assert indices(0.5, 50, (3, 7)) == (3, 7) and indices(1.0, 50, (3, 7)) == (6, 14)
    assert indices(0.05, 50, (3, 7)) == (0, 1)  # always at least one held step
    assert indices(1.0, 4, (6, 25)) == (1, 4)  # t_strong may reach the end; one step always runs
    assert indices(1.0, 2, (50, 50)) == (1, 2)
    with pytest.raises(ValueError):
        indices(0.0, 50, (3, 7))


# -- the edges, found by mutation testing (tests/mutation.py) ------------------------------------------------
def test_indices_edges() -> None:
    assert indices(1.0, 100, (12, 25)) == (48, 100)  # the pair is per 50 steps
    assert indices(0.5, 50, (9, 4)) == (4, 4)  # the loop never starts after the hold ends
    with pytest.raises(ValueError, match=r"strength 1.5 is not in \(0, 1\]"):
        indices(1.5, 50, (3, 7))


def test_latent_frames_cover_exactly_their_video_frames() -> None:
    """Latent 0 is video frame 0 alone; latent k covers frames 4k-3 .. 4k; past the video the last frame stands."""

    def only(frame: int, count: int = 9, latent: int = 3) -> np.ndarray:
        ids = np.zeros((count, 8, 8), np.int16)
        ids[frame, 2:4, 2:4] = 1
        return latent_mask(ids, latent_frames=latent, latent_height=8, latent_width=8, temporal=4, dilate=0).any(
            axis=(1, 2))

    assert only(0).tolist() == [True, False, False]
    assert only(1).tolist() == [False, True, False]
    assert only(4).tolist() == [False, True, False]
    assert only(5).tolist() == [False, False, True]
    assert only(4, count=5).tolist() == [False, True, True]  # latent 2 is past a 5-frame video: frame 4 again
    assert only(3, count=5).tolist() == [False, True, False]


def test_motion_video_takes_any_array_and_drops_alpha() -> None:
    frames = np.full((2, 4, 6, 3), 200.0)  # float input
    ids = np.zeros((2, 4, 6), np.int16)
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 3] = 255
    out = motion_video(frames, ids, rgba)
    assert out.dtype == np.uint8 and out.shape == (2, 4, 6, 3) and (out == 0).all()
    assert motion_video(frames, ids, None).dtype == np.uint8
    with pytest.raises(ValueError, match="the picture is 4x4, the previz 6x4"):
        motion_video(frames, ids, np.zeros((4, 4, 3), np.uint8))


def test_which_schedulers_mix_by_sigmas() -> None:
    import diffusers

    from sorakit.backends._ttm import _is_flow

    assert _is_flow(diffusers.FlowMatchEulerDiscreteScheduler())
    assert _is_flow(diffusers.UniPCMultistepScheduler(use_flow_sigmas=True, prediction_type="epsilon"))
    assert _is_flow(diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction"))
    assert not _is_flow(diffusers.UniPCMultistepScheduler())
    assert not _is_flow(diffusers.CogVideoXDDIMScheduler())


def test_a_scheduler_that_scales_its_start_is_refused(tiny: dict[tuple[str, str], str], picture: str) -> None:
    import diffusers

    from sorakit.backends import _ttm
    from sorakit.backends.contract import conditioning

    take = _take(tiny[("wan", "t2v")], "t2v", picture).resolved()
    pipe = _runtime.pipeline(models.get(take.model), family("wan"), "t2v", _runtime.PRESETS["cpu"])
    own = pipe.scheduler
    pipe.scheduler = diffusers.EulerDiscreteScheduler()  # init_noise_sigma is its largest sigma, not 1
    try:
        with pytest.raises(RuntimeError, match="EulerDiscreteScheduler scales its initial latents"):
            _ttm.prepare(family("wan"), pipe, take, conditioning(take, None))
    finally:
        pipe.scheduler = own
