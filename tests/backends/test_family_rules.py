"""Each family's own rules, checked against what its pipeline does on a tiny checkpoint: the forward
passes a step (which the memory and time estimates multiply by), the steps a mode denoises, the
latent grid the warped noise is made on, the call's size, frames, steps and guidance, the negative
prompt left unencoded without guidance, which pipelines a mode loads, and Wan's video encoding.

These are the rules the runtime plans with; a family that states one wrongly would mislead the
estimate or shape the noise wrongly while the output still looked like a video.
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
from sorakit.backends.contract import Output  # noqa: E402
from tests.backends.test_families import CASES, RUNS, Case, make_take, picture, registered  # noqa: E402,F401
from tests.backends.conftest import watch_passes  # noqa: E402
from tests.backends.test_inputs import _calls  # noqa: E402

IDS = [f"{c.family}{c.version}-{m}" for c, m in RUNS]
CPU = _runtime.PRESETS["cpu"]


def count_passes(monkeypatch: pytest.MonkeyPatch, fam: Any) -> list[int]:
    """The transformer's forward passes of each pipeline call, as batch rows (one a call for Cosmos 3's
    packed sequence), kept in the list returned."""
    rows: list[int] = []
    watch_passes(monkeypatch, fam, lambda pipe, out, kept: rows.extend(kept),
                 lambda k: 1 if k.get("hidden_states") is None else int(k["hidden_states"].shape[0]))
    return rows


class Seen:
    """Wraps the family's ``call``: keeps what it returned, and the step number and the latents'
    grid (as ``latents_for_preview`` reads them) each step reported."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, fam: Any) -> None:
        self.grids: list[tuple[int, ...]] = []
        self.steps: list[int] = []
        self.outputs: list[Output] = []
        original = fam.call

        def call(pipe: Any, take: Any, cond: Any, embeds: Any, generator: Any, on_step_end: Any,
                 latents: Any) -> Output:
            def step_end(step: int, step_latents: Any) -> Any:
                self.steps.append(step)
                self.grids.append(fam.latents_for_preview(pipe, step_latents, take).shape)
                return on_step_end(step, step_latents)

            out = original(pipe, take, cond, embeds, generator, step_end, latents)
            self.outputs.append(out)
            return out

        monkeypatch.setattr(fam, "call", call)


def _pipe(take: sorakit.Take) -> Any:
    spec = models.get(take.model)
    return _runtime.pipeline(spec, family(spec.family), take.mode, CPU)


@pytest.mark.parametrize("guidance", [1.0, 1.5])
@pytest.mark.parametrize("case, mode", RUNS, ids=IDS)
def test_the_passes_and_steps_are_the_ones_the_pipeline_runs(registered: dict[Case, str], picture: str,  # noqa: F811
                                                             case: Case, mode: str, guidance: float,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Guidance just above 1 runs the unconditional pass; at 1 it does not, and no negative prompt
    is encoded (LTX-2's audio guidance, 7 by its pipeline's default, runs it whatever the video's
    is). Video-to-video from noised previz latents (Wan, CogVideoX, LTX) at strength 0.5 of 3 steps
    denoises one step; every other mode (Cosmos' continuation included) all three."""
    physics = sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.5)
    take = make_take(case, registered[case], mode, picture, guidance_scale=guidance, steps=3,
                     physics=physics).resolved()
    fam = family(case.family)
    rows = count_passes(monkeypatch, fam)
    calls = _calls(monkeypatch, models.get(take.model), mode)
    sorakit.generate(take, progress=False)
    steps = 1 if mode == "v2v" and case.family in ("wan", "cogvideox", "ltx") else 3
    assert fam.steps_for(take) == steps
    assert sum(rows) == fam.passes_per_step(take) * steps, rows
    if case.family == "ltx2":
        assert fam.uses_cfg(take) and fam.passes_per_step(take) == 4  # the pipeline's own defaults: all four
        return
    assert fam.uses_cfg(take) is (guidance > 1.0)
    assert fam.passes_per_step(take) == (2 if guidance > 1.0 else 1)
    negatives = {k: v for k, v in calls[-1].items() if k.startswith("negative_")}
    if case.family == "cosmos3":  # text it tokenizes itself (and reads only with guidance)
        assert negatives == {"negative_prompt": "blurry"}
    elif guidance > 1.0:
        assert negatives and all(v is not None for v in negatives.values())
    else:
        assert all(v is None for v in negatives.values())


# LTX-2's guidance knobs on its card: (knobs, video guidance) → (conditional, unconditional, perturbed,
# modality-isolated) passes, as LTX2Pipeline's do_classifier_free_guidance, do_spatio_temporal_guidance
# and do_modality_isolation_guidance decide them (an audio scale of 0 or None falls back to the video's).
LTX2_KNOBS = [
    ((("audio_guidance_scale", 1.0),), 1.0, 3),
    ((("audio_guidance_scale", 1.5),), 1.0, 4),
    ((("audio_guidance_scale", 1.0),), 1.5, 4),
    ((("audio_guidance_scale", None),), 1.0, 3),
    ((("stg_scale", 0.0),), 1.0, 4),  # the audio's STG (1 by default) still runs the perturbed pass
    ((("stg_scale", 0.0), ("audio_stg_scale", 0.0)), 1.0, 3),
    ((("stg_scale", 1.0), ("audio_stg_scale", 0.0)), 1.0, 4),
    ((("stg_scale", 0.0), ("audio_stg_scale", 0.5)), 1.0, 4),
    ((("modality_scale", 1.0),), 1.0, 4),
    ((("modality_scale", 1.0), ("audio_modality_scale", 1.0)), 1.0, 3),
    ((("modality_scale", 1.0), ("audio_modality_scale", 1.5)), 1.0, 4),
    ((("modality_scale", 1.5), ("audio_modality_scale", 1.0)), 1.0, 4),
    ((("audio_guidance_scale", 1.0), ("stg_scale", 0.0), ("audio_stg_scale", 0.0), ("modality_scale", 1.0),
      ("audio_modality_scale", 1.0)), 1.0, 1),
    ((("stg_scale", 0.5), ("spatio_temporal_guidance_blocks", (0,))), 1.0, 4),
]


@pytest.mark.parametrize("knobs, guidance, passes", LTX2_KNOBS, ids=[str(i) for i in range(len(LTX2_KNOBS))])
def test_ltx2_runs_the_passes_its_knobs_ask_for(registered: dict[Case, str], picture: str,  # noqa: F811
                                                knobs: tuple[tuple[str, Any], ...], guidance: float, passes: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c.family == "ltx2")
    spec = models.get(registered[case])
    card = dataclasses.replace(spec.card, knobs=knobs, guidance_scale=guidance)
    variant = dataclasses.replace(spec, name=f"{spec.name}-knobs", card=card)
    models.register(variant)
    monkeypatch.setitem(models.MODELS, variant.name, variant)  # taken off again after the test
    take = make_take(case, variant.name, "t2v", picture, guidance_scale=guidance, steps=2,
                     physics=sorakit.PhysicsConfig(scene=None)).resolved()
    fam = family("ltx2")
    pipe = _pipe(take)
    rows = count_passes(monkeypatch, fam)
    calls = _calls(monkeypatch, variant, "t2v")
    sorakit.generate(take, progress=False)
    assert fam.passes_per_step(take) == passes
    assert sum(rows) == passes * 2
    expected = fam.scales(take)
    ran = {name: getattr(pipe, name) for name in expected}  # what the pipeline ran with, its own properties
    assert ran == expected
    for key, value in knobs:  # the knobs reach the call, sequences as the lists the pipelines take
        assert calls[-1][key] == (list(value) if isinstance(value, tuple) else value)


@pytest.mark.parametrize("case, mode", RUNS, ids=IDS)
def test_the_call_is_made_at_the_takes_size_frames_steps_and_guidance(registered: dict[Case, str],  # noqa: F811
                                                                      picture: str, case: Case, mode: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    take = make_take(case, registered[case], mode, picture, guidance_scale=4.5, steps=3).resolved()
    fam = family(case.family)
    calls = _calls(monkeypatch, models.get(take.model), mode)
    seen = Seen(monkeypatch, fam)
    sorakit.generate(take, progress=False)
    args = calls[-1]
    assert args["num_inference_steps"] == 3 and args["generator"].initial_seed() == take.seed
    # float frames, not 8-bit pictures (Transfer's latents, and CogVideoX 1.5's padded ones in video-to-video,
    # the family decodes to floats itself)
    decodes = (case.family, mode) == ("cosmos", "vace") or (case.version, mode) == ("1.5", "v2v")
    assert args["output_type"] == ("latent" if decodes else "np")
    if case.family == "hunyuan15":  # its guider carries the scale; it reports steps from the scheduler's step
        assert _pipe(take).guider.guidance_scale == 4.5
        assert "callback_on_step_end" not in args
    else:
        assert args["guidance_scale"] == 4.5
        assert args["callback_on_step_end_tensor_inputs"] == ["latents"]
    if not (case.family == "hunyuan15" and mode == "i2v"):  # that one picks its own size bucket
        assert (args["width"], args["height"]) == take.size
    if not (case.family in ("wan", "cogvideox") and mode == "v2v"):  # these take the video's length
        assert args["num_frames"] == take.n_frames
    rate = {"ltx": "frame_rate", "ltx2": "frame_rate", "cosmos3": "fps"}.get(case.family)
    if rate is not None:
        assert args[rate] == take.rate
    if case.family == "cosmos3":
        assert args["enable_safety_check"] is False  # the guardrail runs around the call, once
        if mode == "v2v":  # it continues from the previz's first frames, not its last
            assert args["condition_video_keep"] == "first"
    assert seen.steps == [1, 2, 3]  # each step reported once, counted from 1
    out = seen.outputs[-1]
    assert out.frames.shape[0] == take.n_frames and out.frames.shape[1:3] == (take.size[1], take.size[0])
    levels = out.frames * 255.0
    assert out.frames.dtype == np.float32 and not np.allclose(levels, np.round(levels), atol=1e-3)  # not 8-bit
    if out.audio is None:
        assert out.sample_rate == 0  # the contract: no sound, no rate
    else:
        assert out.sample_rate > 0 and out.audio.ndim == 2
    # the step latents, as latents_for_preview reads them, are on the grid the warped noise is made on
    if mode in ("t2v", "i2v"):
        pipe = _pipe(take)
        c, f, h, w, _ = fam.latent_grid(pipe, take)
        patch = getattr(pipe.transformer.config, "patch_size_t", None) if case.family == "cogvideox" else None
        if patch:  # CogVideoX 1.5 puts less than one two-frame patch of frames in front, so the patches tile
            f = next(n for n in range(f, f + patch) if n % patch == 0)
        assert seen.grids and all(g == (c, f, h, w) for g in seen.grids), (seen.grids, (c, f, h, w))


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}{c.version}-{c.build_mode}" for c in CASES])
def test_a_mode_loads_its_own_pipeline_and_its_checkpoints_text_to_video_one(registered: dict[Case, str],  # noqa: F811
                                                                            case: Case) -> None:
    """A mode loads the text-to-video pipeline of its checkpoint (if the model makes text-to-video)
    and derives its own from it, sharing the weights; a model with one mode loads that alone."""
    spec = models.get(registered[case])
    fam = family(case.family)
    specs = [spec] + [dataclasses.replace(spec, name=f"{spec.name}-{m}-only", modes=(m,))
                      for m in spec.modes if m != "t2v" and len(spec.modes) > 1]
    for one in specs:
        mode = one.modes[-1]
        _runtime.clear_cache()
        pipe = _runtime.pipeline(one, fam, mode, CPU)
        loaded = {m for (model, m, _) in _runtime._PIPELINES if model == one.model_id}
        assert loaded == {mode} | ({"t2v"} if "t2v" in one.modes else set()), (one.modes, loaded)
        if "t2v" in one.modes and mode != "t2v":
            assert pipe.transformer is _runtime._PIPELINES[(one.model_id, "t2v", CPU.name)].transformer
    _runtime.clear_cache()


def test_wan_encodes_a_video_as_its_own_video_to_video_pipeline_does(registered: dict[Case, str],  # noqa: F811
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """``encode_video`` (Time-to-Move's motion latents, the preview's fit) is the clean latent
    WanVideoToVideoPipeline.prepare_latents starts from: the VAE's mode, less the config's mean, over its std."""
    from PIL import Image

    from sorakit.backends import wan

    case = next(c for c in CASES if c.family == "wan" and "v2v" in c.modes and not c.version)
    spec = models.get(registered[case])
    pipe = _runtime.pipeline(spec, wan, "v2v", CPU)
    mean, std = np.array(pipe.vae.config.latents_mean), np.array(pipe.vae.config.latents_std)
    assert mean.std() > 0.1 and std.std() > 0.1  # Wan 2.1's own per-channel statistics, not 0 and 1
    yy, xx = np.mgrid[0:16, 0:16]
    video = np.stack([np.stack([xx * 16, yy * 16, (xx + yy + 3 * t) * 7 % 256], -1) for t in range(9)])
    video = video.astype(np.uint8)[None]
    ours = wan.encode_video(pipe, video)
    monkeypatch.setattr(pipe.scheduler, "scale_noise", lambda sample, timestep, noise: sample, raising=False)
    monkeypatch.setattr(pipe.scheduler, "add_noise", lambda sample, noise, timestep: sample, raising=False)
    frames = pipe.video_processor.preprocess_video([Image.fromarray(f) for f in video[0]], height=16, width=16)
    with torch.no_grad():
        theirs = pipe.prepare_latents(frames, 1, 16, 16, 16, torch.float32, torch.device("cpu"),
                                      torch.Generator().manual_seed(0), None, torch.tensor([500]))
    assert ours.shape == tuple(theirs.shape) == (1, 16, 3, 2, 2)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_hunyuan15_encodes_a_picture_as_its_image_to_video_pipeline_does(registered: dict[Case, str]  # noqa: F811
                                                                        ) -> None:
    """``encode_video`` (Time-to-Move's motion latents, the preview's fit) of a one-frame video is
    the image latent HunyuanVideo15ImageToVideoPipeline conditions on: the VAE's mode times its scaling factor."""
    from PIL import Image

    from sorakit.backends import hunyuan15

    case = next(c for c in CASES if c.family == "hunyuan15" and c.build_mode == "i2v")
    spec = models.get(registered[case])
    pipe = _runtime.pipeline(spec, hunyuan15, "i2v", CPU)
    assert abs(pipe.vae.config.scaling_factor - 1.0) > 0.01  # the VAE's own factor, not 1
    yy, xx = np.mgrid[0:16, 0:16]
    picture = np.stack([xx * 16, yy * 16, (xx * yy) % 256], -1).astype(np.uint8)
    ours = hunyuan15.encode_video(pipe, picture[None, None])
    with torch.no_grad():
        theirs = pipe._get_image_latents(pipe.vae, pipe.video_processor, Image.fromarray(picture), 16, 16,
                                         torch.device("cpu"))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)
