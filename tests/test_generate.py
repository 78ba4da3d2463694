"""``generate`` as the conductor: what it hands the runtime and what it makes of what comes back.

The runtime's ``run`` (which loads and calls a diffusers pipeline) is replaced here by one that
records its arguments and returns chosen frames, so each rule of ``generate`` is checked on its
own and in a second: the callbacks and options handed on, the preset a lighter retry used, the
clip's length from the frames made, Foley and events only where the picture follows the
simulation (and a continuation only as far as it keeps the previz), the status of a stopped run,
and the provenance fields the diffusers path fills (backend, model, seed, status, guidance, cameo,
revision, variant, guardrail, dialogue). The real pipelines run in tests/backends (test_families, test_inputs,
test_behaviour) on tiny checkpoints.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import models
from sorakit.backends import _guardrail, _runtime, family
from sorakit.models import CONTINUATION_FRAMES
from sorakit.generate import FILM_SPEECH, placed_speech, speech_note
from sorakit.physics.simulate import simulate

ASTRONAUT = str(Path(__file__).resolve().parent.parent / "assets" / "cameo_astronaut.png")
SCENE = sorakit.preset("bouncing_balls")
# A ball dropped a hand above the floor: its first bounce comes before a continuation's kept frames end.
LOW = sorakit.Scene.room("low").add(sorakit.Ball("ball", 3.0, 0.45, 0.25, "rubber", vx=1.0))
# What Time-to-Move on 4 steps at strength 0.6 says it did (wan2.1-t2v-1.3b's card has it).
TTM_NOTE = "Time-to-Move (t_weak 0, t_strong 1 of 4 steps; strength 0.6; moving bodies held, mask grown 1 latent px)"


class Runtime:
    """Stands in for ``_runtime.run``: records each call, returns ``frames`` grey frames (the Take's count by default)."""

    def __init__(self) -> None:
        self.calls: list[SimpleNamespace] = []
        self.frames: int | None = None
        self.audio: np.ndarray | None = None
        self.stopped, self.steps_done, self.preset = False, 0, "cpu"

    def __call__(self, spec: models.ModelSpec, fam: Any, take: sorakit.Take, cond: Any, **kw: Any) -> _runtime.Run:
        self.calls.append(SimpleNamespace(spec=spec, fam=fam, take=take, cond=cond, kw=kw))
        width, height = take.size
        frames = np.full((self.frames or take.n_frames, height, width, 3), 0.5, np.float32)
        return _runtime.Run(frames=frames, audio=self.audio, sample_rate=24_000, steps_done=self.steps_done,
                            stopped=self.stopped, preset=self.preset)


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch) -> Runtime:
    fake = Runtime()
    monkeypatch.setattr(_runtime, "run", fake)
    return fake


def wan(mode: str = "t2v", frames: int = 9, scene: sorakit.Scene | None = SCENE, **kw: Any) -> sorakit.Take:
    kw.setdefault("steps", 4)
    return sorakit.Take(model="wan2.1-t2v-1.3b", prompt="balls", mode=mode, width=128, height=128, frames=frames,
                        fps=16, physics=sorakit.PhysicsConfig(scene=scene, strength=0.6), **kw)


def test_the_callbacks_and_options_reach_the_runtime(runtime: Runtime) -> None:
    def on_step(step: object) -> None:
        return None

    def stop() -> bool:
        return False

    take = wan()
    sorakit.generate(take, on_step=on_step, should_stop=stop, retry_lighter=True)
    call = runtime.calls[-1]
    assert call.kw == {"on_step": on_step, "should_stop": stop, "progress": False, "retry_lighter": True}
    assert call.take == take.resolved() and call.spec == models.get("wan2.1-t2v-1.3b")
    assert call.fam is family("wan")
    assert call.cond.method == "ttm" and call.cond.notes == (TTM_NOTE,)
    sorakit.generate(take)  # no callback: a progress bar by default
    assert runtime.calls[-1].kw == {"on_step": None, "should_stop": None, "progress": True, "retry_lighter": False}
    sorakit.generate(take, progress=False)
    assert runtime.calls[-1].kw["progress"] is False
    sorakit.generate(take, on_step=on_step, progress=True)
    assert runtime.calls[-1].kw["progress"] is True


@pytest.mark.parametrize("asked, used, recorded", [("a100", "t4", "t4"), ("t4", "t4", "t4"), ("auto", "cpu", "auto"),
                                                   ("auto", "t4", "auto")])
def test_the_preset_a_lighter_retry_used_is_recorded(runtime: Runtime, asked: str, used: str, recorded: str) -> None:
    runtime.preset = used
    assert sorakit.generate(wan(memory=asked)).take.memory == recorded


def test_the_clip_lasts_as_long_as_the_frames_made(runtime: Runtime) -> None:
    runtime.frames = 3  # the runtime returned fewer frames than the Take's 9, ending before the first bounce
    clip = sorakit.generate(wan("v2v", scene=LOW))
    assert clip.frames.shape == (3, 128, 128, 3) and clip.frames.dtype == np.uint8
    assert (clip.frames == 128).all()  # 0.5 of 255, rounded
    assert clip.duration == pytest.approx(3 / 16) and clip.audio.shape[1] == round(3 / 16 * clip.sample_rate)
    sim = simulate(LOW, frames=9, fps=16)
    assert 3 / 16 < sim.events[0].time < 9 / 16  # the bounce the previz has and these frames do not
    assert clip.events == ()


def test_foley_and_events_only_where_the_picture_follows_the_simulation(runtime: Runtime) -> None:
    sim = simulate(LOW, frames=33, fps=16)
    assert sim.events, "the low ball bounces within the clip"
    clip = sorakit.generate(wan("v2v", frames=33, scene=LOW))
    assert clip.events == tuple(sim.events) and len(clip.events) == 9  # all within the clip's 2.06 s
    assert np.abs(clip.stems["foley"]).max() > 0.01
    other = sorakit.generate(wan("t2v", frames=33, scene=LOW))  # Time-to-Move only steers it: no impacts to sound
    assert other.events == () and "foley" not in other.stems and np.abs(other.audio).max() == 0.0


def test_a_continuation_sounds_only_the_previz_frames_it_keeps(runtime: Runtime) -> None:
    take = sorakit.Take(model="cosmos-predict2.5-2b", prompt="a ball", mode="v2v", width=256, height=256, frames=33,
                        fps=16, guardrail=False, physics=sorakit.PhysicsConfig(scene=LOW, strength=0.6))
    sim = simulate(LOW, frames=33, fps=16)
    kept = CONTINUATION_FRAMES / 16
    assert any(e.time < kept for e in sim.events) and any(e.time >= kept for e in sim.events)
    clip = sorakit.generate(take)
    assert clip.events == tuple(e for e in sim.events if e.time < kept)
    first_after = min(e.time for e in sim.events if e.time >= kept)
    after = clip.stems["foley"][:, int((first_after + 0.01) * clip.sample_rate):]
    assert np.abs(after).max() < 0.01 * np.abs(clip.stems["foley"]).max()  # later impacts unsounded: a tail only


def test_a_stopped_run_says_at_which_step(runtime: Runtime) -> None:
    runtime.stopped, runtime.steps_done = True, 1
    take = wan("v2v", steps=10)  # video-to-video at strength 0.6 runs 6 of the 10 steps
    clip = sorakit.generate(take)
    assert family("wan").steps_for(take.resolved()) == 6
    assert clip.provenance.status == "stopped after step 1 of 6"
    runtime.stopped = False
    assert sorakit.generate(take).provenance.status == "complete"


def test_the_provenance_names_the_backend_model_seed_and_conditioning(runtime: Runtime) -> None:
    take = wan(seed=11)
    p = sorakit.generate(take).provenance
    spec = models.get("wan2.1-t2v-1.3b")
    assert (p.backend, p.model_id, p.seed, p.cameo, p.variant, p.loras, p.guardrail, p.dialogue) == (
        "diffusers", spec.model_id, 11, "", "", "", "", "")
    assert p.guidance == TTM_NOTE
    assert p.revision == _runtime.revision(spec)


@pytest.mark.skipif(importlib.util.find_spec("cv2") is None, reason="needs OpenCV: pip install 'sorakit[cameo]'")
def test_a_cameo_is_named_with_consent_and_its_photo_hash(runtime: Runtime) -> None:
    take = sorakit.Take(model="wan2.1-vace-1.3b", prompt="an astronaut", mode="vace", width=128, height=128, frames=9,
                        fps=16, steps=4, physics=sorakit.PhysicsConfig(scene=SCENE, strength=0.6)
                        ).with_cameo(sorakit.Cameo(ASTRONAUT, "Eileen Collins", consent=True))
    p = sorakit.generate(take).provenance
    photo = sorakit.Cameo(ASTRONAUT, "Eileen Collins", consent=True).sha256()
    assert p.cameo == f"Eileen Collins; consent given; photo sha256 {photo}"
    assert p.guidance == ("cameo Eileen Collins as VACE reference image; "
                          "VACE control from the previz (strength 0.6)")  # two notes, joined


def test_the_fast_variant_and_the_guardrail_are_named(runtime: Runtime) -> None:
    fast = models.get("ltx-2").card.fast
    assert fast is not None
    take = sorakit.Take(model="ltx-2", prompt="x", width=256, height=256, frames=9, speed="fast")
    p = sorakit.generate(take).provenance
    assert p.variant == ("fast: 8 steps, guidance 1 (diffusers' LTX-2 docs, distilled checkpoint generation; "
                         "sigmas of Lightricks' ltx-pipelines)")
    assert p.model_id == runtime.calls[-1].spec.model_id == fast.model_id == "rootonchair/LTX-2-19b-distilled"
    assert sorakit.generate(take.replace(speed="quality")).provenance.variant == ""
    cosmos = sorakit.Take(model="cosmos-predict2.5-2b", prompt="x", width=256, height=256, frames=9, guardrail=False)
    assert sorakit.generate(cosmos).provenance.guardrail == _guardrail.note(cosmos) == _guardrail.TURNED_OFF


def test_speech_handed_in_is_what_a_lip_syncing_model_is_given(runtime: Runtime) -> None:
    take = sorakit.Take(model="ltx-2", prompt="x", width=256, height=256, frames=17)
    t = np.arange(24_000) / 24_000
    speech = (np.stack([0.2 * np.sin(2 * np.pi * 220 * t)] * 2).astype(np.float32), 24_000)
    runtime.audio = np.zeros((2, 24_000), np.float32)
    clip = sorakit.generate(take, speech=speech)
    track, rate = runtime.calls[-1].cond.speech
    placed = placed_speech(speech, take.resolved().duration)
    assert rate == 48_000 and track.dtype == np.float32 and np.array_equal(track, placed)
    assert np.abs(track).max() > 0.1
    assert clip.provenance.dialogue == speech_note(placed)
    assert clip.provenance.dialogue.startswith(f"{FILM_SPEECH} (speech sha256 ")
    sorakit.generate(take.replace(model="wan2.1-t2v-1.3b", width=128, height=128), speech=speech)
    assert runtime.calls[-1].cond.speech is None  # a model that cannot lip-sync is not given it


# -- the previz path, Foley and the speech helpers ---------------------------------------------------


def test_the_previz_reports_each_frame_and_stops_within_one() -> None:
    import time

    seen: list[tuple[Any, float]] = []
    start = time.perf_counter()
    take = sorakit.Take(frames=12, fps=16, width=96, height=64, seed=2, physics=sorakit.PhysicsConfig(scene=LOW))
    clip = sorakit.generate(take, on_step=lambda s: seen.append((s, time.perf_counter() - start)),
                            should_stop=lambda: len(seen) >= 5)
    assert [s.step for s, _ in seen] == [1, 2, 3, 4, 5] and {s.total for s, _ in seen} == {12}
    for s, elapsed in seen:  # seconds per frame so far, and what is left at that pace
        assert 0 < s.seconds_per_step * s.step <= elapsed
        assert s.eta == pytest.approx(s.seconds_per_step * (12 - s.step))
        assert s.preview is not None and s.preview.shape == (64, 96, 3)
    assert clip.frames.shape[0] == 5 and clip.provenance.status == "stopped after step 5 of 12"
    assert clip.audio.shape[1] == round(5 / 16 * clip.sample_rate) and clip.sample_rate == 48_000
    sim = simulate(LOW, frames=12, fps=16)
    assert any(e.time >= 5 / 16 for e in sim.events) and any(e.time < 5 / 16 for e in sim.events)
    assert clip.events == tuple(e for e in sim.events if e.time < 5 / 16)


def test_the_previz_is_refused_before_rendering_what_will_not_fit(monkeypatch: pytest.MonkeyPatch) -> None:
    import sorakit.previz as previz

    monkeypatch.setattr(previz, "available_memory", lambda: 3_000_000_000)  # 3 GB free: about half of it fits
    take = sorakit.Take(frames=480, fps=24, width=1280, height=720, physics=sorakit.PhysicsConfig(scene=LOW))
    with pytest.raises(sorakit.OutOfMemory, match=r"render at most (\d+) frames \((\d+\.\d) s\) at this size") as info:
        sorakit.generate(take)
    import re

    most = re.search(r"render at most (\d+) frames \((\d+\.\d) s\)", str(info.value))
    assert most is not None and int(most.group(1)) > 0
    assert float(most.group(2)) == pytest.approx(int(most.group(1)) / 24, abs=0.05)  # at the Take's own rate


def test_foley_is_silence_of_the_takes_length_without_a_simulation() -> None:
    from sorakit.generate import _foley

    take = wan(frames=33).resolved()
    assert _foley(take, None).shape == (2, round(33 / 16 * 48_000))
    sim = simulate(LOW, frames=33, fps=16)
    one, other = _foley(take, sim), _foley(take.replace(seed=take.seed + 1), sim)
    assert one.shape == (2, round(33 / 16 * 48_000)) and np.abs(one).max() > 0.01
    assert not np.array_equal(one, other)  # the impacts are synthesized from the Take's seed
    np.testing.assert_array_equal(one, _foley(take, sim))


def test_speech_handed_in_is_placed_at_its_own_level() -> None:
    at48 = np.stack([np.full(24_000, 0.3), np.full(24_000, 0.1)])  # float64, stereo, 0.5 s
    placed = placed_speech((at48, 48_000), 1.0)
    assert placed.dtype == np.float32 and placed.shape == (48_000,)
    assert placed[:24_000] == pytest.approx(0.2) and not placed[24_000:].any()  # the mean of the channels, padded
    assert placed_speech((at48, 48_000), 0.25).shape == (12_000,)  # cut to the clip
    t = np.arange(16_000) / 16_000
    tone = (0.25 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    resampled = placed_speech((tone, 16_000), 1.5)
    assert resampled.dtype == np.float32 and resampled.shape == (72_000,)
    assert np.abs(resampled[:46_000]).max() == pytest.approx(0.25, abs=0.01)  # not normalised, not ducked
    assert np.sqrt(np.mean(resampled[40_000:46_000] ** 2)) == pytest.approx(0.25 / np.sqrt(2), rel=0.02)  # 1 s long
    assert np.abs(resampled[49_000:]).max() < 1e-3  # silence after the second it lasts


def test_the_speech_note_fingerprints_the_exact_samples_at_48_khz() -> None:
    import re

    samples = np.linspace(-0.5, 0.5, 4800)
    note = speech_note(samples)  # float64 in: hashed as the float32 the model is given
    assert re.fullmatch(re.escape(FILM_SPEECH) + r" \(speech sha256 [0-9a-f]{16}\)", note)
    assert note == speech_note(samples.astype(np.float32)) != speech_note(samples[::-1].copy())


def test_the_dialogue_note_says_how_the_lines_reach_the_clip() -> None:
    from sorakit.generate import _dialogue_note
    from sorakit.take import DialogueLine, SoundConfig

    one = (DialogueLine("Ana", "Look out!", 0.2),)
    two = one + (DialogueLine("Bo", "What?", 0.8),)

    def note(model: str, lines: tuple[DialogueLine, ...], **sound: Any) -> str:
        t = sorakit.Take(model=model, prompt="x", sound=SoundConfig(dialogue=lines, **sound))
        return _dialogue_note(t, models.get(model))

    assert note("wan2.1-t2v-1.3b", one) == ("1 dialogue line overlaid: spoken by VITS voices and laid over the picture "
                                           "(wan2.1-t2v-1.3b makes no sound to animate mouths by)")
    assert note("wan2.1-t2v-1.3b", two).startswith("2 dialogue lines overlaid")
    assert note("ltx-2", two, lip_sync=False).endswith("(sound.lip_sync is off)")
    assert note("cosmos3-nano", one).endswith("(cosmos3-nano cannot be given speech to make its picture to)")
    assert note("ltx-2", two).startswith("2 dialogue lines lip-synced: spoken by VITS voices, encoded with ltx-2's")
    assert note("ltx-2", one, dialogue_source="model") == (
        "1 dialogue line spoken by ltx-2 from its prompt; each line's start measured from its sound")


def test_the_sound_is_built_with_the_callers_callbacks_and_no_models_after_a_stop(runtime: Runtime,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    from sorakit.audio import soundtrack

    calls: list[dict[str, Any]] = []
    real = soundtrack.build

    def build(take: sorakit.Take, duration: float, **kw: Any) -> Any:
        calls.append(kw)
        if kw.get("on_sound") is not None:
            kw["on_sound"]("music", 1, 2)  # a sound model's progress
        return real(take, duration, **{**kw, "models": False})

    monkeypatch.setattr(soundtrack, "build", build)
    heard: list[tuple[str, int, int]] = []

    def stop() -> bool:
        return False

    sorakit.generate(wan(), on_sound=lambda *a: heard.append(a), should_stop=stop)
    assert heard == [("music", 1, 2)] and calls[-1]["should_stop"] is stop
    assert calls[-1]["models"] is True and calls[-1]["spoken"] is None and calls[-1]["joint"] is None
    assert calls[-1]["foley"] is not None and calls[-1]["foley"].shape == (2, round(9 / 16 * 48_000))
    runtime.stopped, runtime.steps_done = True, 1
    sorakit.generate(wan())
    assert calls[-1]["models"] is False  # a stopped video runs no sound model


def test_vace_follows_the_simulation_like_video_to_video(runtime: Runtime) -> None:
    take = sorakit.Take(model="wan2.1-vace-1.3b", prompt="balls", mode="vace", width=128, height=128, frames=33,
                        fps=16, steps=4, physics=sorakit.PhysicsConfig(scene=LOW, strength=0.6))
    clip = sorakit.generate(take)
    assert clip.events == tuple(simulate(LOW, frames=33, fps=16).events) and "foley" in clip.stems


def test_a_fast_variant_with_a_shift_and_no_source_is_named_so(runtime: Runtime, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    base = models.get("wan2.1-t2v-1.3b")
    fast = models.Fast(steps=4, guidance_scale=1.0, shift=5.0)
    spec = models.register(dataclasses.replace(base, name="wan-fast-test",
                                               card=dataclasses.replace(base.card, fast=fast)))
    clip = sorakit.generate(wan(speed="fast").replace(model=spec.name))
    assert clip.provenance.variant == "fast: 4 steps, guidance 1, shift 5"
    assert clip.provenance.model_id == base.model_id  # no checkpoint of its own: the base's
