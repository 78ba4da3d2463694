"""Every family and mode end to end through sorakit.generate, on tiny random checkpoints.

Each checkpoint is built from configs, saved with ``save_pretrained`` into a temporary folder,
registered under a short name and loaded back by the same ``from_pretrained`` path a hub id
takes. Checked per mode: frame count and size, seed reproducibility, ``on_step`` once per step
with a preview image, ``should_stop`` honoured within one step, and a rule refused with its message.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("diffusers")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime  # noqa: E402


@dataclass(frozen=True)
class Case:
    family: str
    build_mode: str
    modes: tuple[str, ...]
    width: int = 16
    height: int = 16
    frames: int = 9
    frame_rule: tuple[int, int] = (4, 1)
    size_multiple: int = 16
    sizes: tuple[tuple[int, int], ...] = ()
    fps: int = 16
    joint_audio: bool = False
    version: str = ""  # a tiny builder's layout variant ("1.5": CogVideoX 1.5's two-frame temporal patches)
    control: str = ""  # the control a control-video model reads (Cosmos-Transfer2.5)


CASES = [
    Case("wan", "t2v", ("t2v", "v2v")),
    Case("wan", "i2v", ("i2v",)),
    Case("wan", "vace", ("vace",)),
    Case("wan", "t2v", ("t2v", "i2v", "v2v"), width=32, height=32, size_multiple=32, version="2.2"),  # TI2V layout
    Case("cogvideox", "t2v", ("t2v", "v2v"), frame_rule=(8, 1), fps=8),
    Case("cogvideox", "i2v", ("i2v",), frame_rule=(8, 1), sizes=((16, 16),), fps=8),
    Case("cogvideox", "t2v", ("t2v", "v2v"), frames=17, frame_rule=(16, 1), fps=16, version="1.5"),
    Case("hunyuan15", "t2v", ("t2v",)),
    Case("hunyuan15", "i2v", ("i2v",)),
    Case("ltx", "t2v", ("t2v", "i2v", "v2v"), width=32, height=32, frame_rule=(8, 1), size_multiple=32, fps=25),
    Case("ltx2", "t2v", ("t2v", "i2v"), width=32, height=32, frame_rule=(8, 1), size_multiple=32, fps=24,
         joint_audio=True),
    Case("cosmos", "t2v", ("t2v", "i2v", "v2v"), width=32, height=32),
    Case("cosmos", "vace", ("vace",), width=32, height=32, control="edge"),
    Case("cosmos3", "t2v", ("t2v", "i2v", "v2v"), width=32, height=32, fps=24, joint_audio=True),
]
RUNS = [(case, mode) for case in CASES for mode in case.modes]
IDS = [f"{c.family}{c.version}-{m}" for c, m in RUNS]


def _name(case: Case) -> str:
    return f"tiny-{case.family}{case.version}-{case.build_mode}"


class Registered(dict):  # type: ignore[type-arg]
    """Case → registered model name, each tiny checkpoint built, saved and registered the first time
    a test asks for it (a test of one family builds only that family's)."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        super().__init__()
        self.tmp_path_factory = tmp_path_factory

    def __missing__(self, case: Case) -> str:
        tiny = importlib.import_module(f"sorakit.tiny.{case.family}")
        folder = tiny.build(self.tmp_path_factory.mktemp(_name(case)), case.build_mode,
                            **({"version": case.version} if case.version else {}))
        card = models.Card(width=case.width, height=case.height, frames=case.frames, fps=case.fps, steps=2,
                           guidance_scale=5.0)
        spec = models.ModelSpec(name=_name(case), backend="diffusers", family=case.family, model_id=str(folder),
                                modes=case.modes, size_multiple=case.size_multiple, sizes=case.sizes,
                                frame_rule=case.frame_rule, max_frames=33, min_size=16, card=card,
                                joint_audio=case.joint_audio, lip_sync=case.family == "ltx2", control=case.control)
        models.register(spec)
        self[case] = spec.name
        return spec.name


@pytest.fixture(scope="module")
def registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Case, str]]:
    names = Registered(tmp_path_factory)
    yield names
    for name in names.values():
        models.MODELS.pop(name, None)
    _runtime.clear_cache()


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("pictures") / "first.png"
    yy, xx = np.mgrid[0:48, 0:64]
    Image.fromarray(np.stack([xx * 4, yy * 5, 255 - xx * 4], -1).astype(np.uint8)).save(path)
    return str(path)


def make_take(case: Case, name: str, mode: str, picture: str, **kw: object) -> sorakit.Take:
    base: dict[str, object] = dict(
        prompt="a red ball bounces on the floor", negative_prompt="blurry", seed=3, steps=2, guidance_scale=5.0,
        frames=case.frames, fps=case.fps, width=case.width, height=case.height, model=name, mode=mode, memory="cpu",
        physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=1.0 if mode == "v2v" else 0.6))
    if mode == "i2v":
        base["first_frame"] = picture
    base.update(kw)
    return sorakit.Take(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("case, mode", RUNS, ids=IDS)
def test_mode_end_to_end(registered: dict[Case, str], picture: str, case: Case, mode: str) -> None:
    take = make_take(case, registered[case], mode, picture)
    steps: list[_runtime.Step] = []
    clip = sorakit.generate(take, on_step=steps.append)
    assert clip.frames.shape == (case.frames, case.height, case.width, 3) and clip.frames.dtype == np.uint8
    assert clip.audio.ndim == 2 and clip.audio.shape[1] == round(case.frames / case.fps * clip.sample_rate)
    assert [s.step for s in steps] == [1, 2] and steps[-1].total == 2
    for s in steps:
        assert s.preview is not None and s.preview.dtype == np.uint8 and s.preview.ndim == 3
    assert clip.provenance.status == "complete" and clip.provenance.backend == "diffusers"
    again = sorakit.generate(take, progress=False)
    np.testing.assert_array_equal(again.frames, clip.frames)
    np.testing.assert_array_equal(again.audio, clip.audio)


@pytest.mark.parametrize("case", CASES[::1], ids=[f"{c.family}{c.version}-{c.build_mode}" for c in CASES])
def test_should_stop_within_one_step(registered: dict[Case, str], picture: str, case: Case) -> None:
    mode = case.modes[0]
    seen: list[int] = []
    take = make_take(case, registered[case], mode, picture, steps=5)
    clip = sorakit.generate(take, on_step=lambda s: seen.append(s.step), should_stop=lambda: len(seen) >= 2)
    assert seen == [1, 2]
    assert clip.provenance.status == "stopped after step 2 of 5"
    assert clip.frames.shape[0] == case.frames  # what was made so far is decoded and returned
    assert sorakit.generate(take, progress=False).provenance.status == "complete"  # still reusable


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}{c.version}-{c.build_mode}" for c in CASES])
def test_family_rule_refused_before_loading(registered: dict[Case, str], picture: str, case: Case,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    take = make_take(case, registered[case], case.modes[0], picture)
    loads: list[object] = []
    monkeypatch.setattr(_runtime, "pipeline", lambda *a, **k: loads.append(a))
    monkeypatch.setattr(_runtime, "prompt_embeddings", lambda *a, **k: loads.append(a))
    k, r = case.frame_rule
    with pytest.raises(ValueError, match=rf"frames={case.frames + 1}: {registered[case]} needs {k}n\+{r} frames"):
        sorakit.generate(take.replace(frames=case.frames + 1))
    with pytest.raises(ValueError, match="mode='identity'"):
        sorakit.generate(take.replace(mode="identity"))
    assert loads == []  # refused before anything loaded


V2V = [case for case in CASES if "v2v" in case.modes and case.family not in models.CONTINUES]


@pytest.mark.parametrize("case", V2V, ids=[c.family + c.version for c in V2V])
def test_v2v_from_the_previz_runs_strength_of_the_steps_and_keeps_foley(registered: dict[Case, str], picture: str,
                                                                        case: Case) -> None:
    take = make_take(case, registered[case], "v2v", picture, steps=4, frames=33,
                     physics=sorakit.PhysicsConfig(scene="basketball", strength=0.5))
    seen: list[int] = []
    clip = sorakit.generate(take, on_step=lambda s: seen.append(s.step))
    assert seen == [1, 2]  # strength 0.5 of 4 steps
    assert clip.frames.shape[0] == take.frames
    assert clip.events and clip.events[0].b == "backboard"
    assert np.abs(clip.audio).max() > 0.05  # the video follows the previz, so the previz's Foley is kept


def test_pipeline_and_prompt_embeddings_are_cached(registered: dict[Case, str], picture: str) -> None:
    case = CASES[0]
    take = make_take(case, registered[case], "t2v", picture)
    sorakit.generate(take, progress=False)
    key = next(k for k in _runtime._PIPELINES if k[0] == models.get(registered[case]).model_id and k[1] == "t2v")
    pipe, embeds = _runtime._PIPELINES[key], dict(_runtime._EMBEDS)
    sorakit.generate(take.replace(seed=99), progress=False)
    assert _runtime._PIPELINES[key] is pipe
    assert _runtime._EMBEDS == embeds  # same prompt: nothing encoded again
    sorakit.generate(take.replace(prompt="a blue ball"), progress=False)
    assert len(_runtime._EMBEDS) == len(embeds) + 1


def test_ltx2_joint_audio_reaches_the_clip_and_the_mp4(registered: dict[Case, str], picture: str,
                                                        tmp_path: Path) -> None:
    from sorakit import _media

    case = next(c for c in CASES if c.family == "ltx2")
    clip = sorakit.generate(make_take(case, registered[case], "t2v", picture), progress=False)
    # The tiny vocoder speaks at 16 kHz; its sound becomes the mix's "joint" track at 48 kHz.
    assert clip.sample_rate == 48_000 and clip.soundtrack is not None
    assert [t.name for t in clip.soundtrack.mix.tracks] == ["joint"]
    assert clip.audio.shape == (2, round(clip.duration * 48_000)) and np.abs(clip.stems["joint"]).max() > 0
    frames, _, audio, rate = _media.read_mp4(clip.save(tmp_path / "ltx2.mp4"))
    assert frames.shape[0] == case.frames and rate == 48_000
    assert audio is not None and abs(audio.shape[1] / rate - clip.duration) < 0.07


@pytest.mark.parametrize("name", sorted(n for n, s in models.MODELS.items() if s.backend == "diffusers"))
def test_every_registered_model_has_its_pipelines_and_rules(name: str, picture: str) -> None:
    import diffusers

    from sorakit.backends import family

    spec = models.get(name)
    fam = family(spec.family)
    assert spec.model_id and spec.arch is not None
    k, r = spec.frame_rule
    for mode in spec.modes:
        assert hasattr(diffusers, fam.PIPELINES[mode]), (name, mode)
        take = sorakit.Take(model=name, prompt="a ball", mode=mode, first_frame=picture if mode == "i2v" else None,
                            physics=sorakit.PhysicsConfig(scene="ramp", strength=0.6),
                            guardrail=False)  # NVIDIA's Cosmos guardrail is not installed here
        take.validate()  # the card's own size, frames and fps meet the model's rules
        card = take.resolved()
        assert (card.width, card.height, card.frames, card.fps) == (
            spec.card.width, spec.card.height, spec.card.frames, spec.card.fps)
        assert card.steps == spec.card.steps and card.negative_prompt == spec.card.negative_prompt
        if k > 1:
            with pytest.raises(ValueError, match=rf"frames={4 * k + r + 1}: {name} needs {k}n\+{r} frames"):
                take.replace(frames=4 * k + r + 1).validate()


GUIDED = [(case, mode) for case, mode in RUNS if mode in ("t2v", "i2v")]


@pytest.mark.parametrize("case, mode", GUIDED, ids=[f"{c.family}{c.version}-{m}" for c, m in GUIDED])
def test_physics_strength_warps_the_initial_noise(registered: dict[Case, str], picture: str, case: Case,
                                                  mode: str) -> None:
    """strength > 0 on a text- or image-to-video mode starts from noise carried along the previz's motion."""
    take = make_take(case, registered[case], mode, picture,
                     physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.0))
    free = sorakit.generate(take, progress=False)
    guided = sorakit.generate(take.replace(physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.8)),
                              progress=False)
    assert free.provenance.guidance == "" and guided.provenance.guidance == "warped noise (strength 0.8)"
    assert guided.frames.shape == free.frames.shape
    assert not np.array_equal(guided.frames, free.frames)
    again = sorakit.generate(guided.take, progress=False)
    np.testing.assert_array_equal(again.frames, guided.frames)


I2V = [case for case in CASES if "i2v" in case.modes]


@pytest.mark.parametrize("case", I2V, ids=[c.family for c in I2V])
def test_i2v_without_a_picture_starts_from_the_previz(registered: dict[Case, str], picture: str, case: Case) -> None:
    take = make_take(case, registered[case], "i2v", picture, first_frame=None)
    clip = sorakit.generate(take, progress=False)
    assert clip.provenance.guidance == "previz first frame; warped noise (strength 0.6)"
    assert clip.frames.shape == (case.frames, case.height, case.width, 3)


ASSETS = Path(__file__).parent.parent.parent / "assets"
DRAWN = sorakit.Cameo(str(ASSETS / "cameo_drawn_a.png"), "Drawn A", consent=True)


def test_i2v_with_a_cameo_and_a_scene_composites_the_cameo_into_the_previz(registered: dict[Case, str],
                                                                            picture: str) -> None:
    case = next(c for c in CASES if c.family == "wan" and c.build_mode == "i2v")
    take = make_take(case, registered[case], "i2v", picture, first_frame=None,
                     physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.0)).with_cameo(DRAWN)
    clip = sorakit.generate(take, progress=False)
    assert clip.provenance.guidance == "cameo composited into the previz first frame"
    alone = sorakit.generate(take.replace(physics=sorakit.PhysicsConfig(scene=None)), progress=False)
    assert alone.provenance.guidance == "" and not np.array_equal(alone.frames, clip.frames)


CAMEO_RUNS = [(c, "i2v") for c in CASES if "i2v" in c.modes] + [(c, "vace") for c in CASES
                                                                 if "vace" in c.modes and not c.control]


@pytest.mark.parametrize("case, mode", CAMEO_RUNS, ids=[f"{c.family}-{m}" for c, m in CAMEO_RUNS])
def test_the_prepared_cameo_reaches_the_pipeline(registered: dict[Case, str], picture: str, case: Case, mode: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Image-to-video: the cameo, cropped and padded around the face to the Take's size, is the
    pipeline's first frame; Wan VACE: it is the reference image. The consent is in the provenance."""
    from sorakit.backends import family

    fam = family(case.family)
    seen: dict[str, object] = {}
    original = fam.call

    def spy(pipe: object, take: object, cond: object, *args: object) -> object:
        seen.update(image=cond.image, reference_images=cond.reference_images)  # type: ignore[attr-defined]
        return original(pipe, take, cond, *args)

    monkeypatch.setattr(fam, "call", spy)
    take = make_take(case, registered[case], mode, picture, first_frame=None,
                     physics=sorakit.PhysicsConfig(scene=None if mode == "i2v" else "bouncing_balls",
                                                   strength=0.0 if mode == "i2v" else 0.6)).with_cameo(DRAWN)
    clip = sorakit.generate(take, progress=False)
    expected = np.asarray(DRAWN.prepare(case.width, case.height))
    got = seen["image"] if mode == "i2v" else seen["reference_images"][0]  # type: ignore[index]
    np.testing.assert_array_equal(np.asarray(got), expected)
    assert clip.provenance.cameo == f"Drawn A; consent given; photo sha256 {DRAWN.sha256()}"
    # and the model uses it: another person (i2v), or none at all (VACE: the tiny random model's
    # output barely depends on the reference's colours, but having one changes it)
    other = (take.with_cameo(sorakit.Cameo(str(ASSETS / "cameo_drawn_b.png"), "Drawn B", consent=True))
             if mode == "i2v" else take.replace(cameo=None, cameo_name="", cameo_consent=False))
    assert not np.array_equal(sorakit.generate(other, progress=False).frames, clip.frames)


def test_a_cameo_without_a_face_is_refused_before_the_model_loads(registered: dict[Case, str], picture: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    case = next(c for c in CASES if c.family == "wan" and c.build_mode == "i2v")
    monkeypatch.setattr(_runtime, "clear_cache", lambda: None)
    loads: list[object] = []
    monkeypatch.setattr(_runtime, "pipeline", lambda *a, **k: loads.append(a))
    nobody = sorakit.Cameo(str(ASSETS / "cameo_noface.png"), "Nobody", consent=True)
    take = make_take(case, registered[case], "i2v", picture, first_frame=None,
                     physics=sorakit.PhysicsConfig(scene=None, strength=0.0)).with_cameo(nobody)
    with pytest.raises(sorakit.InvalidInput, match="no face"):
        sorakit.generate(take, progress=False)
    assert loads == []
    with pytest.raises(sorakit.InvalidInput, match="needs their consent"):
        sorakit.generate(take.replace(cameo_consent=False), progress=False)
