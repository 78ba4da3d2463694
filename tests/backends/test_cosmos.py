"""NVIDIA Cosmos beyond the behaviour matrix (which runs every Cosmos mode with the other families):
Transfer2.5's control video made from the previz pixel for pixel, video-to-world as a continuation,
Cosmos 3's own sound as the clip's ``joint`` track at the right time, the picture's latent kept in
image-to-world warped noise, the card's scheduler, the guardrail (on, off, refusing, blocking,
missing) recorded in the provenance, and the presets Cosmos 3 cannot run under.
"""

from __future__ import annotations

import dataclasses
import importlib.machinery
import sys
import types
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _guardrail, _runtime, cosmos, cosmos3, family  # noqa: E402
from sorakit.backends.contract import conditioning  # noqa: E402
from sorakit.models import CONTINUATION_FRAMES  # noqa: E402
from sorakit.guidance import controls  # noqa: E402
from sorakit.physics.simulate import simulate  # noqa: E402
from sorakit.previz import render  # noqa: E402
from tests.backends.conftest import watch_passes  # noqa: E402
from tests.backends.test_families import CASES, Case, make_take, picture, registered  # noqa: E402,F401

PREDICT = next(c for c in CASES if c.family == "cosmos" and c.build_mode == "t2v")
TRANSFER = next(c for c in CASES if c.family == "cosmos" and c.control)
OMNI = next(c for c in CASES if c.family == "cosmos3")


def _floats(take: sorakit.Take) -> Any:
    """The run's float frames and sound, through the runtime generate uses."""
    take = take.resolved()
    spec = models.get(take.model)
    return _runtime.run(spec, family(spec.family), take, conditioning(take, None), progress=False)


def _previz(take: sorakit.Take) -> Any:
    take = take.resolved()
    scene = take.scene()
    assert scene is not None
    return render(simulate(scene, frames=take.n_frames, fps=take.rate), *take.size, trail=False)


@pytest.fixture(scope="module")
def transfers(registered: dict[Case, str]) -> dict[str, str]:  # noqa: F811
    """The tiny Transfer checkpoint registered once per control (the same weights read another control)."""
    spec = models.get(registered[TRANSFER])
    names = {}
    for control in controls.CONTROLS:
        names[control] = models.register(dataclasses.replace(spec, name=f"{spec.name}-{control}", control=control)).name
    yield names
    for name in names.values():
        models.MODELS.pop(name, None)


# -- Transfer2.5: the previz as its control ------------------------------------------------------------
def test_the_segmentation_control_paints_each_body_in_its_own_colour() -> None:
    take = sorakit.Take(model="previz", frames=9, fps=16, width=64, height=48, physics=sorakit.PhysicsConfig(
        scene="bouncing_balls"))
    previz = _previz(take)
    seg = controls.segmentation(previz)
    assert seg.shape == previz.frames.shape and seg.dtype == np.uint8
    ids = np.unique(previz.body_ids)
    assert len(ids) > 2
    for i in ids:
        np.testing.assert_array_equal(seg[previz.body_ids == i], np.broadcast_to(controls.color(int(i)), (
            int((previz.body_ids == i).sum()), 3)))
    assert controls.color(0) == (0, 0, 0)  # background and static geometry are black, as the reference's
    assert len({controls.color(int(i)) for i in ids}) == len(ids)  # every body its own colour
    np.testing.assert_array_equal(controls.segmentation(_previz(take.replace(seed=9)))[0][previz.body_ids[0] == 1],
                                  seg[0][previz.body_ids[0] == 1])  # body 1 is body 1's colour in every shot


def test_the_edge_and_blur_controls_are_the_references_filters() -> None:
    import cv2

    take = sorakit.Take(model="previz", frames=5, fps=16, width=64, height=48)
    previz = _previz(take)
    edge = controls.edges(previz)
    for f, e in zip(previz.frames, edge):
        expected = cv2.Canny(f, 100, 200)
        for c in range(3):
            np.testing.assert_array_equal(e[..., c], expected)
    assert (edge > 0).mean() > 0.01  # the bodies' outlines are there
    blurred = controls.blur(previz)
    assert blurred.shape == previz.frames.shape and blurred.dtype == np.uint8
    # the reference's "medium" recipe, step by step: area down by 2, bilateral (30, 150, 100), linear back up,
    # bicubic down by 10 and back up
    from PIL import Image

    def medium(f: np.ndarray) -> np.ndarray:
        h, w = f.shape[:2]
        small = cv2.resize(f, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
        full = Image.fromarray(cv2.resize(cv2.bilateralFilter(small, 30, 150.0, 100.0), (w, h),
                                          interpolation=cv2.INTER_LINEAR))
        tiny = full.resize((max(1, w // 10), max(1, h // 10)), Image.Resampling.BICUBIC)
        return np.asarray(tiny.resize((w, h), Image.Resampling.BICUBIC))

    for f, b in zip(previz.frames, blurred):
        np.testing.assert_array_equal(b, medium(f))
    # sizes that do not halve evenly (area and linear downscaling differ there), and under ten pixels
    rng = np.random.default_rng(0)
    for h, w in ((47, 65), (3, 3), (7, 9)):
        odd = rng.integers(0, 256, (2, h, w, 3), dtype=np.uint8)
        got = controls.blur(types.SimpleNamespace(frames=odd))
        assert got.shape == odd.shape and got.dtype == np.uint8
        for f, b in zip(odd, got):
            np.testing.assert_array_equal(b, medium(f))
    assert (got == got[:, :1, :1]).all()  # a frame under ten pixels goes down to one pixel: its colour
    # a blur: much smoother than the previz (its mean gradient drops), with the same overall colour
    grad = lambda v: np.abs(np.diff(v.astype(float), axis=2)).mean()  # noqa: E731
    assert grad(blurred) < 0.5 * grad(previz.frames)
    assert abs(blurred.astype(float).mean() - previz.frames.astype(float).mean()) < 12
    with pytest.raises(sorakit.InvalidInput, match="control='depth'.*use one of edge, seg, blur$"):
        controls.make("depth", previz)


def test_the_segmentation_colours_are_drawn_as_the_reference_draws_them() -> None:
    """Hue U(0, 1), saturation U(0.1, 1), value U(0.2, 1), from a generator seeded with the body id:
    the same body has the same colour in every shot and every release (a saved film's controls stay
    reproducible)."""
    import colorsys

    assert [controls.color(i) for i in (1, 2, 3)] == [(4, 75, 80), (172, 217, 137), (214, 182, 147)]
    hsv = np.array([colorsys.rgb_to_hsv(*(np.array(controls.color(i)) / 255)) for i in range(1, 2001)])
    for k, (lo, hi) in enumerate([(0.0, 1.0), (0.1, 1.0), (0.2, 1.0)]):
        assert hsv[:, k].min() >= lo - 0.01 and hsv[:, k].max() <= hi + 1e-9
        assert hsv[:, k].min() < lo + 0.02 and hsv[:, k].max() > hi - 0.02  # the whole range is drawn from
        assert abs(np.median(hsv[:, k]) - (lo + hi) / 2) < 0.05  # uniformly


@pytest.mark.parametrize("control", controls.CONTROLS)
def test_transfer_reads_the_previz_made_into_its_control(registered: dict[Case, str], picture: str,  # noqa: F811
                                                         transfers: dict[str, str], control: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import diffusers

    cls = diffusers.Cosmos2_5_TransferPipeline
    seen: list[dict[str, Any]] = []
    original = cls.__call__
    monkeypatch.setattr(cls, "__call__", lambda self, **kw: seen.append(kw) or original(self, **kw))
    take = make_take(TRANSFER, transfers[control], "vace", picture, frames=33,
                     physics=sorakit.PhysicsConfig(scene="basketball", strength=0.8))
    clip = sorakit.generate(take, progress=False)
    got = np.stack([np.asarray(f) for f in seen[-1]["controls"]])
    np.testing.assert_array_equal(got, controls.make(control, _previz(take)))
    assert seen[-1]["controls_conditioning_scale"] == 0.8
    assert clip.provenance.guidance == f"Cosmos-Transfer2.5 {control} control made from the previz (control weight 0.8)"
    assert clip.events and np.abs(clip.audio).max() > 0.05  # it follows the simulation's timing: Foley kept


def test_the_control_and_its_weight_change_the_picture(registered: dict[Case, str], picture: str,  # noqa: F811
                                                       transfers: dict[str, str]) -> None:
    base = make_take(TRANSFER, transfers["edge"], "vace", picture,
                     physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.8))
    edge = _floats(base).frames
    np.testing.assert_array_equal(_floats(base).frames, edge)
    seg = _floats(base.replace(model=transfers["seg"])).frames
    weaker = _floats(base.replace(physics=dataclasses.replace(base.physics, strength=0.3))).frames
    assert np.abs(seg - edge).max() > 0 and np.abs(weaker - edge).max() > 0


def test_transfer_refuses_a_cameo_it_cannot_read(registered: dict[Case, str], picture: str) -> None:  # noqa: F811
    from pathlib import Path

    cameo = sorakit.Cameo(str(Path(__file__).parent.parent.parent / "assets" / "cameo_drawn_a.png"), "A", consent=True)
    take = make_take(TRANSFER, registered[TRANSFER], "vace", picture).with_cameo(cameo)
    with pytest.raises(sorakit.InvalidInput, match="reads only the edge control"):
        take.validate()


# -- video-to-world continues the previz ----------------------------------------------------------------
@pytest.mark.parametrize("case", [PREDICT, OMNI], ids=["predict", "cosmos3"])
def test_video_to_world_continues_the_previz(registered: dict[Case, str], picture: str,  # noqa: F811
                                            case: Case) -> None:
    take = make_take(case, registered[case], "v2v", picture, frames=33,
                     physics=sorakit.PhysicsConfig(scene="basketball", strength=0.5))
    run = _floats(take)
    a, b = run.frames, _floats(take.replace(seed=take.seed + 1)).frames
    first, last = np.abs(a[0] - b[0]).max(), np.abs(a[-1] - b[-1]).max()
    assert last > 0.05 and first < 0.2 * last  # the kept start hardly depends on the seed; the rest is made
    assert a.shape[0] == 33 and run.steps_done == 2  # every step runs: nothing is skipped by strength
    clip = sorakit.generate(take, progress=False)
    assert clip.provenance.guidance == ("video-to-world continuation of the previz: its first 5 frames kept clean, "
                                        "the rest generated")
    kept = CONTINUATION_FRAMES / take.resolved().rate
    sim = simulate(take.resolved().scene(), frames=33, fps=take.resolved().rate)  # type: ignore[arg-type]
    assert sim.events and all(e.time >= kept for e in sim.events)  # the scene's impacts come after the kept start
    assert clip.events == ()  # ... so none is the clip's: the picture does not follow the simulation there
    if not case.joint_audio:  # and no Foley is laid for them (Cosmos 3 has its own sound)
        assert np.abs(clip.audio).max() == 0
    with pytest.raises(sorakit.InvalidInput, match="needs at least 9 frames: a continuation keeps"):
        take.replace(frames=5).validate()


def test_cosmos3_continuation_lays_the_kept_frames_foley_over_its_own_sound(registered: dict[Case, str],  # noqa: F811
                                                                           picture: str) -> None:
    import importlib

    from tests.conftest import onset

    generate_module = importlib.import_module("sorakit.generate")  # the module, not the function it exports

    # at 8 fps the 5 kept frames are the first 0.625 s, where the dominoes' first impacts fall
    take = make_take(OMNI, registered[OMNI], "v2v", picture, frames=33, fps=8,
                     physics=sorakit.PhysicsConfig(scene="dominoes", strength=0.5))
    clip = sorakit.generate(take, progress=False)
    kept = CONTINUATION_FRAMES / 8
    sim = simulate(take.resolved().scene(), frames=33, fps=8)  # type: ignore[arg-type]
    inside = [e for e in sim.events if e.time < kept]
    assert inside and len(inside) < len(sim.events)
    assert clip.events == tuple(inside)  # the impacts the picture shows...
    assert [t.name for t in clip.soundtrack.mix.tracks] == ["foley", "joint"]  # ... heard over the model's sound

    def heard(audio: np.ndarray, t: float) -> bool:
        try:
            return onset(audio, 48_000, t, window=0.005) >= 0
        except AssertionError:  # no onset there
            return False

    foley = clip.stems["foley"]
    assert heard(foley, inside[0].time)
    whole = generate_module._foley(take.resolved(), sim)  # what every impact would sound like
    later = [e for e in sim.events if e.time >= kept + 0.05 and heard(whole, e.time)]
    assert later and not any(heard(foley, e.time) for e in later)  # none after the kept frames...
    assert np.abs(clip.stems["joint"]).max() > 0  # ... where the model's own sound goes on
    bare = sorakit.generate(take.replace(sound=dataclasses.replace(take.sound, foley=False)), progress=False)
    assert [t.name for t in bare.soundtrack.mix.tracks] == ["joint"]  # Foley off: the model's sound alone


# -- Cosmos 3's own sound ----------------------------------------------------------------------------------
def test_cosmos3_sound_is_the_joint_track_at_the_clips_start(registered: dict[Case, str], picture: str,  # noqa: F811
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from scipy.signal import resample_poly

    fam = family("cosmos3")
    made: list[Any] = []
    call = fam.call
    monkeypatch.setattr(fam, "call", lambda *a: made.append(call(*a)) or made[-1])
    take = make_take(OMNI, registered[OMNI], "t2v", picture, frames=17,
                     physics=sorakit.PhysicsConfig(scene=None))
    clip = sorakit.generate(take, progress=False)
    out = made[-1]
    assert out.sample_rate == 8000 and out.audio.shape[0] == 2  # the tiny tokenizer's stereo at 8 kHz
    assert [t.name for t in clip.soundtrack.mix.tracks] == ["joint"] and clip.sample_rate == 48_000
    joint = clip.stems["joint"].mean(axis=0)
    assert joint.shape[0] == round(clip.duration * 48_000) and np.abs(joint).max() > 0
    model = resample_poly(out.audio.mean(axis=0), 6, 1)[: joint.shape[0]]
    lags = range(-240, 241)  # +-5 ms
    n = joint.shape[0] - 480
    corr = [float(np.dot(joint[240 + k: 240 + k + n], model[240: 240 + n])) for k in lags]
    assert list(lags)[int(np.argmax(corr))] == 0  # the model's sound starts with the picture, not later or earlier
    other = sorakit.generate(take.replace(prompt="rain on a tin roof"), progress=False)
    assert np.abs(other.stems["joint"] - clip.stems["joint"]).max() > 0  # the prompt reaches the sound


def test_image_to_world_warped_noise_keeps_the_pictures_latent(registered: dict[Case, str],  # noqa: F811
                                                               picture: str) -> None:
    """Cosmos 3 keeps given latents as they are: the picture's own latent goes in frame 0 of the warped
    noise, so the first frame is the picture's, whatever the noise."""
    still = make_take(OMNI, registered[OMNI], "i2v", picture, physics=sorakit.PhysicsConfig(scene="bouncing_balls",
                                                                                                 strength=0.0))
    warped = still.replace(physics=sorakit.PhysicsConfig(scene="bouncing_balls", strength=0.8))
    a, b = _floats(still).frames, _floats(warped).frames
    np.testing.assert_allclose(a[0], b[0], atol=1e-5)
    assert np.abs(a[-1] - b[-1]).max() > 0.01


def test_the_cosmos3_card_sets_its_scheduler(registered: dict[Case, str], picture: str) -> None:  # noqa: F811
    spec = models.get(registered[OMNI])
    card = dataclasses.replace(spec.card, shift=cosmos3._CARD.shift, scheduler=cosmos3._CARD.scheduler)
    named = models.register(dataclasses.replace(spec, name=spec.name + "-card", card=card))
    try:
        sorakit.generate(make_take(OMNI, named.name, "t2v", picture), progress=False)
        pipe = _runtime.pipeline(named, family("cosmos3"), "t2v", _runtime.PRESETS["cpu"])
        assert pipe.scheduler.config.flow_shift == 10.0 and pipe.scheduler.config.use_karras_sigmas is False
    finally:
        models.MODELS.pop(named.name, None)


# -- the guardrail -----------------------------------------------------------------------------------------
@pytest.fixture
def guarded(registered: dict[Case, str]) -> Any:  # noqa: F811
    """The tiny Predict and Cosmos 3 checkpoints registered as needing the guardrail, and a stand-in
    ``cosmos_guardrail`` package whose checker records what it is shown."""
    names = {}
    for case in (PREDICT, OMNI):
        spec = models.get(registered[case])
        names[case.family] = models.register(dataclasses.replace(spec, name=spec.name + "-guarded", guardrail=True)).name
    seen: dict[str, Any] = {"text": [], "video": [], "built": 0, "unsafe": set(), "block": False, "blur": False}

    class Checker:
        def __init__(self) -> None:
            seen["built"] += 1

        def check_text_safety(self, prompt: str) -> bool:
            seen["text"].append(prompt)
            return prompt not in seen["unsafe"]

        def to(self, device: Any) -> Checker:
            seen.setdefault("devices", []).append(str(device))
            return self

        def check_video_safety(self, frames: np.ndarray) -> np.ndarray | None:
            seen["video"].append(frames.copy())
            if seen["block"]:
                return None
            if seen["blur"]:
                frames = frames.copy()
                frames[:, :4, :4] = 0  # a face pixelated
            return frames

    module = types.ModuleType("cosmos_guardrail")
    module.__spec__ = importlib.machinery.ModuleSpec("cosmos_guardrail", None)  # installed, as far as find_spec knows
    module.CosmosSafetyChecker = Checker  # type: ignore[attr-defined]
    _guardrail._CHECKER.clear()
    sys.modules["cosmos_guardrail"] = module
    try:
        yield names, seen
    finally:
        del sys.modules["cosmos_guardrail"]
        _guardrail._CHECKER.clear()
        for name in names.values():
            models.MODELS.pop(name, None)


@pytest.mark.parametrize("fam", ["cosmos", "cosmos3"])
def test_the_guardrail_checks_the_prompt_and_the_video_and_says_so(guarded: Any, picture: str, fam: str) -> None:
    names, seen = guarded
    case = PREDICT if fam == "cosmos" else OMNI
    take = make_take(case, names[fam], "t2v", picture, physics=sorakit.PhysicsConfig(scene=None))
    clip = sorakit.generate(take, progress=False)
    assert seen["built"] == 1 and seen["text"] == [take.prompt]
    np.testing.assert_array_equal(seen["video"][-1], clip.frames)  # the video it saw is the clip's
    assert seen["devices"] == ["cpu", "cpu"] * 2  # onto the model's device for each check, then back
    assert clip.provenance.guardrail == _guardrail.ON
    seen["blur"] = True  # what the checker changes (a blurred face) is what the clip keeps
    blurred = sorakit.generate(take, progress=False)
    assert blurred.frames[:, :4, :4].max() == 0 and blurred.frames[:, 4:, 4:].max() > 0
    assert seen["built"] == 1  # loaded once


def test_an_unsafe_prompt_is_refused_before_anything_denoises(guarded: Any, picture: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    names, seen = guarded
    take = make_take(PREDICT, names["cosmos"], "t2v", picture, physics=sorakit.PhysicsConfig(scene=None))
    seen["unsafe"].add(take.prompt)
    passes: list[Any] = []
    watch_passes(monkeypatch, family("cosmos"), lambda *a: None, passes.append)
    with pytest.raises(sorakit.InvalidInput, match="Cosmos guardrail found it unsafe"):
        sorakit.generate(take, progress=False)
    assert passes == []


def test_a_blocked_video_is_an_error_not_a_clip(guarded: Any, picture: str) -> None:
    names, seen = guarded
    seen["block"] = True
    take = make_take(OMNI, names["cosmos3"], "t2v", picture, physics=sorakit.PhysicsConfig(scene=None))
    with pytest.raises(sorakit.InvalidInput, match="blocked the generated video"):
        sorakit.generate(take, progress=False)


def test_turned_off_the_guardrail_never_loads_and_the_provenance_says_so(guarded: Any, picture: str) -> None:
    names, seen = guarded
    take = make_take(PREDICT, names["cosmos"], "t2v", picture, guardrail=False, physics=sorakit.PhysicsConfig(scene=None))
    clip = sorakit.generate(take, progress=False)
    assert seen["built"] == 0 and seen["text"] == [] and seen["video"] == []
    assert clip.provenance.guardrail == _guardrail.TURNED_OFF == ("NVIDIA Cosmos guardrail off: turned off by the "
                                                                  "Take (guardrail=False)")
    plain = sorakit.generate(take.replace(model=take.model.removesuffix("-guarded")), progress=False)
    assert plain.provenance.guardrail == (f"NVIDIA Cosmos guardrail off: {plain.take.model} is registered without "
                                          "it (ModelSpec.guardrail=False)")  # a Cosmos model registered without
    assert sorakit.generate(sorakit.Take(frames=8, width=96, height=64)).provenance.guardrail == ""  # not Cosmos


def test_a_missing_guardrail_is_said_before_anything_loads(guarded: Any, picture: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    names, _ = guarded
    del sys.modules["cosmos_guardrail"]
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    loads: list[Any] = []
    monkeypatch.setattr(_runtime, "pipeline", lambda *a, **k: loads.append(a))
    take = make_take(PREDICT, names["cosmos"], "t2v", picture, physics=sorakit.PhysicsConfig(scene=None))
    with pytest.raises(sorakit.MissingPackage, match=r"pip install cosmos-guardrail.*guardrail=False"):
        sorakit.generate(take, progress=False)
    assert loads == []
    sys.modules["cosmos_guardrail"] = types.ModuleType("cosmos_guardrail")  # for the fixture to remove


@pytest.mark.parametrize("family", ["cosmos", "cosmos3"])
def test_a_guardrail_whose_models_cannot_load_is_said_before_the_model_loads(
        guarded: Any, picture: str, monkeypatch: pytest.MonkeyPatch, family: str) -> None:
    names, _ = guarded

    class Offline:
        def __init__(self) -> None:
            raise OSError("We couldn't connect to the hub")

    sys.modules["cosmos_guardrail"].CosmosSafetyChecker = Offline  # type: ignore[attr-defined]
    with pytest.raises(sorakit.MissingPackage, match=r"could not load \(OSError: We couldn't connect.*guardrail=False"):
        _guardrail.checker()
    loads: list[Any] = []
    monkeypatch.setattr(_runtime, "pipeline", lambda *a, **k: loads.append(a))
    take = make_take(PREDICT if family == "cosmos" else OMNI, names[family], "t2v", picture,
                     physics=sorakit.PhysicsConfig(scene=None))
    with pytest.raises(sorakit.MissingPackage, match=r"could not load \(OSError: We couldn't connect"):
        sorakit.generate(take, progress=False)
    assert loads == []


def test_the_guardrails_state_is_signed(tmp_path: Any) -> None:
    import json

    clip = sorakit.generate(sorakit.Take(seed=5, frames=8, width=96, height=64))
    clip = dataclasses.replace(clip, provenance=dataclasses.replace(clip.provenance, guardrail=_guardrail.TURNED_OFF))
    path = clip.save(tmp_path / "shot.mp4")
    assert sorakit.verify(path).ok
    side = json.loads(path.with_suffix(".json").read_text())
    side["provenance"]["guardrail"] = _guardrail.ON  # a run without the guardrail passed off as checked
    path.with_suffix(".json").write_text(json.dumps(side))
    assert "the sidecar's provenance guardrail=" in " ".join(sorakit.verify(path).problems)


# -- presets -------------------------------------------------------------------------------------------------
def test_cosmos3_refuses_a_gpu_it_cannot_fit_before_loading(registered: dict[Case, str], picture: str,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    nano, fp8 = models.get("cosmos3-nano"), models.get("cosmos3-nano-fp8")
    take = sorakit.Take(model="cosmos3-nano", guardrail=False)
    with pytest.raises(sorakit.InvalidInput, match=r"memory='l4': cosmos3-nano's weights alone are about 32 GB in bfloat16"):
        cosmos3.preflight(nano, take, _runtime.PRESETS["l4"])
    with pytest.raises(sorakit.InvalidInput, match=r"about 17 GB in float8, more than the 15 GB GPU preset 't4'.*cosmos-predict2.5-2b"):
        cosmos3.preflight(fp8, take, _runtime.PRESETS["t4"])
    cosmos3.preflight(fp8, take, _runtime.PRESETS["l4"])  # 16 GB of float8 weights fit a 22 GB L4
    cosmos3.preflight(nano, take, _runtime.PRESETS["a100"])
    # and through generate, before anything loads
    spec = models.get(registered[OMNI])
    big = models.register(dataclasses.replace(spec, name="tiny-cosmos3-big", arch=nano.arch))
    loads: list[Any] = []
    monkeypatch.setattr(_runtime, "choose_preset", lambda requested: _runtime.PRESETS["t4"])
    monkeypatch.setattr(_runtime, "pipeline", lambda *a, **k: loads.append(a))
    try:
        with pytest.raises(sorakit.InvalidInput, match="memory='t4'"):
            sorakit.generate(make_take(OMNI, big.name, "t2v", picture), progress=False)
    finally:
        models.MODELS.pop(big.name, None)
    assert loads == []


def test_cosmos3_super_is_refused_where_its_weights_cannot_fit_and_told_what_does() -> None:
    import re

    sup, fp8 = models.get("cosmos3-super"), models.get("cosmos3-super-fp8")
    a100 = _runtime.PRESETS["a100"]  # planned for 40 GB; memory='auto' plans for the whole GPU it finds
    h100, h200 = dataclasses.replace(a100, budget_gb=79.6), dataclasses.replace(a100, budget_gb=139.8)
    with pytest.raises(sorakit.InvalidInput, match=re.escape(
            "memory='a100': cosmos3-super's weights alone are about 129 GB in bfloat16, more than the 40 GB GPU "
            "preset 'a100' plans for; use 'cosmos3-super-fp8' (about 65 GB in float8) on a GPU of more than 65 GB, "
            "or a GPU of more than 129 GB (memory='auto' there plans for all of it), or 'cosmos-predict2.5-2b', "
            "whose 2 B transformer is about 4 GB in bfloat16")):
        cosmos3.preflight(sup, None, a100)
    with pytest.raises(sorakit.InvalidInput, match=r"use 'cosmos3-super-fp8' \(about 65 GB in float8\) here"):
        cosmos3.preflight(sup, None, h100)
    cosmos3.preflight(fp8, None, h100)  # 65 GB of float8 weights on an 80 GB GPU
    cosmos3.preflight(sup, None, h200)
    cosmos3.preflight(sup, None, _runtime.PRESETS["cpu"])  # a CPU run is slow, not refused


def test_the_estimate_counts_the_fp8_revision_in_float8_and_advises_no_refused_preset() -> None:
    take = sorakit.Take(model="cosmos3-nano", prompt="a ball").resolved()
    size = dict(width=take.size[0], height=take.size[1], frames=take.n_frames, steps=take.steps)
    for preset in ("a100", "l4", "t4"):
        bf16 = _runtime.estimate(models.get("cosmos3-nano"), preset=_runtime.PRESETS[preset], **size)
        f8 = _runtime.estimate(models.get("cosmos3-nano-fp8"), preset=_runtime.PRESETS[preset], **size)
        if preset != "t4":  # t4 casts every transformer to float8 itself
            assert bf16.peak_gb - f8.peak_gb == pytest.approx(15.2, abs=0.1)  # one byte a parameter less
    for name in ("cosmos3-nano", "cosmos3-nano-fp8", "cosmos3-super", "cosmos3-super-fp8"):
        spec = models.get(name)
        for preset in ("a100", "l4"):
            advice = _runtime.estimate(spec, preset=_runtime.PRESETS[preset], **size).advice
            named = [p for p in _runtime.PRESETS if f"memory='{p}'" in advice]
            for p in named:  # advice the user follows is not then refused
                cosmos3.preflight(spec, None, _runtime.PRESETS[p])
    nano = _runtime.estimate(models.get("cosmos3-nano"), preset=_runtime.PRESETS["a100"], **size)
    assert nano.advice == "frames=93 should fit in 40 GB"  # not memory='t4', which refuses its 32 GB


def test_transfer_loads_every_part_in_the_presets_dtype(registered: dict[Case, str],  # noqa: F811
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The controlnet too: it comes from its own revision on the hub (``load_parts``), from the folder here."""
    import torch

    spec = models.get(registered[TRANSFER])
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    bf16 = _runtime.Preset("bf16-cpu", "cpu", "bfloat16", None, False, False, 0.0)
    pipe = _runtime.pipeline(spec, family("cosmos"), "vace", bf16)
    parts = {n: {p.dtype for p in c.parameters()} for n, c in pipe.components.items() if isinstance(c, torch.nn.Module)}
    assert parts == {n: {torch.bfloat16} for n in ("vae", "text_encoder", "transformer", "controlnet")}


def test_a_cosmos3_checkpoint_without_its_sound_tokenizer_gets_foley_not_a_joint_track(
        tmp_path: Any, picture: str) -> None:  # noqa: F811
    from sorakit.tiny import cosmos3 as tiny_cosmos3

    folder = tiny_cosmos3.build(tmp_path / "silent", sound=False)
    spec = models.register(models.ModelSpec(name="tiny-cosmos3-silent", backend="diffusers", family="cosmos3",
                                            model_id=str(folder), modes=("t2v", "i2v", "v2v"), frame_rule=(4, 1),
                                            min_size=16, joint_audio=True))
    try:
        take = make_take(OMNI, spec.name, "v2v", picture, frames=33, fps=8,
                         physics=sorakit.PhysicsConfig(scene="dominoes", strength=0.5))
        clip = sorakit.generate(take, progress=False)
    finally:
        models.MODELS.pop(spec.name, None)
    assert [t.name for t in clip.soundtrack.mix.tracks] == ["foley"]  # the kept frames' impacts, as physics
    assert clip.soundtrack.mix.tracks[0].label == "physics"


def test_the_estimate_counts_the_whole_chunk_transfer_denoises(registered: dict[Case, str], picture: str,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    real = _runtime.estimate
    monkeypatch.setattr(_runtime, "estimate", lambda spec, **kw: asked.append(kw["frames"]) or real(spec, **kw))
    sorakit.generate(make_take(TRANSFER, registered[TRANSFER], "vace", picture, frames=9), progress=False)
    sorakit.generate(make_take(PREDICT, registered[PREDICT], "t2v", picture, frames=9), progress=False)
    assert asked == [cosmos.CHUNK, 9] and cosmos.CHUNK == 93  # a 9-frame Transfer clip costs its 93-frame chunk


def test_cosmos3_fits_a_gpu_whose_budget_just_holds_its_weights_and_cuda_context() -> None:
    nano, fp8 = models.get("cosmos3-nano"), models.get("cosmos3-nano-fp8")

    def gpu(budget: float) -> _runtime.Preset:
        return dataclasses.replace(_runtime.PRESETS["a100"], name="gpu", budget_gb=budget)

    need = cosmos3._weights_gb(nano) + cosmos3._CONTEXT_GB
    cosmos3.preflight(nano, None, gpu(need))  # exactly enough
    fp8_need = cosmos3._weights_gb(fp8) + cosmos3._CONTEXT_GB
    with pytest.raises(sorakit.InvalidInput, match=r"use 'cosmos3-nano-fp8' \(about \d+ GB in float8\) here, "):
        cosmos3.preflight(nano, None, gpu(need - 0.01))
    with pytest.raises(sorakit.InvalidInput, match=r"use 'cosmos3-nano-fp8' \(about \d+ GB in float8\) here, "):
        cosmos3.preflight(nano, None, gpu(fp8_need))
    with pytest.raises(sorakit.InvalidInput, match=r"\(about \d+ GB in float8\) on a GPU of more than \d+ GB, "):
        cosmos3.preflight(nano, None, gpu(fp8_need - 0.01))


@pytest.mark.parametrize("max_size, patch, chunk", [
    (None, None, 93),  # no position table limit: the 93 frames Transfer was trained on
    ((128, 240, 240), (1, 2, 2), 93),  # the real checkpoints' table reaches further than 93
    ((30, 40, 40), (1, 2, 2), 29),  # a short table: the largest 4n + 1 frames it reaches
    ((33, 40, 40), (1, 2, 2), 33),
    ((36, 40, 40), (2, 2, 2), 17),  # 36 // 2 = 18 patches: 17 frames
    ((8, 80, 80), (1, 8, 8), 9),  # 10 spatial patches reach further than 8 temporal ones
])
def test_transfer_chunks_are_the_longest_4n_plus_1_its_position_table_reaches(max_size: Any, patch: Any,
                                                                              chunk: int) -> None:
    from types import SimpleNamespace

    pipe = SimpleNamespace(transformer=SimpleNamespace(config=SimpleNamespace(max_size=max_size, patch_size=patch)),
                           vae_scale_factor_temporal=4)
    assert cosmos.chunk(pipe, SimpleNamespace(n_frames=9)) == chunk
    assert cosmos.chunk(pipe, SimpleNamespace(n_frames=97)) == 97  # never fewer than the clip's own frames


def test_transfer_decodes_its_latents_as_its_own_pipeline_does(registered: dict[Case, str],  # noqa: F811
                                                                picture: str) -> None:
    """Transfer's latents, decoded by the family to floats, are the frames the pipeline decodes itself
    (which it floors to 8 bits for its safety checker), to that 8-bit step."""
    from PIL import Image

    take = make_take(TRANSFER, registered[TRANSFER], "vace", picture, frames=9).resolved()
    spec = models.get(take.model)
    pipe = _runtime.pipeline(spec, cosmos, "vace", _runtime.PRESETS["cpu"])
    stats = np.array(pipe.vae.config.latents_mean), np.array(pipe.vae.config.latents_std)
    assert np.abs(stats[0]).max() > 0.1 and np.abs(stats[1] - 1).max() > 0.1  # not the identity
    frames = controls.make(spec.control, _previz(take))
    args = dict(prompt="a ball", height=32, width=32, num_frames=9, num_inference_steps=2,
                controls=[Image.fromarray(f) for f in frames],
                num_frames_per_chunk=cosmos.chunk(pipe, take))
    latents = pipe(**args, output_type="latent", generator=torch.Generator().manual_seed(1)).frames
    own = pipe(**args, output_type="np", generator=torch.Generator().manual_seed(1)).frames[0]
    ours = cosmos._decode(pipe, latents)
    assert ours.shape == own.shape == (9, 32, 32, 3)
    np.testing.assert_allclose(ours, own, atol=1.01 / 255)
    assert not np.allclose(ours * 255, np.round(ours * 255))  # floats, not the 8-bit copy


def test_predict_encodes_a_video_as_its_own_conditioning_latents(registered: dict[Case, str]) -> None:  # noqa: F811
    """``encode_video`` (Time-to-Move's motion latents, the preview's fit) is what Predict2.5's
    prepare_latents makes of a conditioning video: the VAE's mode, less the config's mean, over its std."""
    from PIL import Image

    spec = models.get(registered[PREDICT])
    pipe = _runtime.pipeline(spec, cosmos, "v2v", _runtime.PRESETS["cpu"])
    yy, xx = np.mgrid[0:32, 0:32]
    video = np.stack([np.stack([xx * 8, yy * 8, (xx + yy + 5 * t) * 3 % 256], -1) for t in range(9)]).astype(np.uint8)
    ours = cosmos.encode_video(pipe, video[None])
    with torch.no_grad():
        _, theirs, _, _ = pipe.prepare_latents([Image.fromarray(f) for f in video], 1, ours.shape[1], 32, 32, 9, 9,
                                               dtype=torch.float32, device=torch.device("cpu"),
                                               generator=torch.Generator().manual_seed(0))
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


def test_transfer_from_the_hub_loads_its_controls_controlnet_and_predict_none(monkeypatch: pytest.MonkeyPatch) -> None:
    import diffusers

    asked: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(diffusers.CosmosControlNetModel, "from_pretrained",
                        classmethod(lambda cls, where, **kw: asked.append((where, kw)) or "controlnet"))
    transfer = models.get("cosmos-transfer2.5-2b-edge")
    parts = cosmos.load_parts(transfer, "vace", torch.bfloat16)
    assert parts == {"safety_checker": _guardrail.OFF, "controlnet": "controlnet"}
    assert asked == [(transfer.model_id, {"revision": cosmos.CONTROLNETS["edge"], "dtype": torch.bfloat16,
                                          "use_safetensors": True})]
    for mode in ("t2v", "i2v", "v2v"):  # Predict from the hub: only the pass-through checker
        assert cosmos.load_parts(models.get("cosmos-predict2.5-2b"), mode, torch.bfloat16) == {
            "safety_checker": _guardrail.OFF}
    assert len(asked) == 1


def test_transfer_decodes_in_its_vaes_own_dtype(registered: dict[Case, str], picture: str,  # noqa: F811
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Under a bfloat16 preset the float32 latents and the statistics go to the VAE's dtype."""
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    bf16 = _runtime.Preset("bf16-cpu", "cpu", "bfloat16", None, False, False, 0.0)
    spec = models.get(registered[TRANSFER])
    pipe = _runtime.pipeline(spec, cosmos, "vace", bf16)
    assert pipe.vae.dtype == torch.bfloat16
    latents = torch.randn(1, pipe.vae.config.z_dim, 3, 4, 4, generator=torch.Generator().manual_seed(2))
    frames = cosmos._decode(pipe, latents)
    assert frames.shape == (9, 32, 32, 3) and frames.dtype == np.float32
    monkeypatch.setattr(_runtime, "_PIPELINES", {})
    full = cosmos._decode(_runtime.pipeline(spec, cosmos, "vace", _runtime.PRESETS["cpu"]), latents)
    assert np.abs(frames - full).max() < 0.15 and np.abs(frames - full).mean() < 0.01  # to bfloat16's precision
