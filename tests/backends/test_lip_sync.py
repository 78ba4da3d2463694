"""Dialogue the picture speaks, on the tiny LTX-2 through sorakit.generate (issue: lip sync).

Lip-synced lines reach the pipeline as clean audio latents (the ones the transformer sees at every
pass of every step equal the encoded speech, at timestep 0), the picture changes when the speech
changes and nothing else does, and the clip records the lines as ``lip-synced``. A model that
speaks its lines gets them in its prompt and its sound is measured for their starts.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("diffusers")
torch = pytest.importorskip("torch")

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.audio import soundtrack  # noqa: E402
from sorakit.audio.soundtrack import measure_lines  # noqa: E402
from sorakit.audio.speech import speech_spans  # noqa: E402
from sorakit.backends import _runtime, ltx2  # noqa: E402
from sorakit.take import DialogueLine, SoundConfig  # noqa: E402

from .conftest import said_here, watch_passes  # noqa: E402


@pytest.fixture(scope="module")
def names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    from sorakit.tiny import ltx2 as tiny_ltx2
    from sorakit.tiny import tts as tiny_tts
    from sorakit.tiny import wan as tiny_wan

    card = models.Card(width=32, height=32, frames=9, fps=24, steps=2, guidance_scale=3.0)
    joint = models.register(models.ModelSpec(
        name="lips-tiny-ltx2", backend="diffusers", family="ltx2", model_id=str(tiny_ltx2.build(
            tmp_path_factory.mktemp("ltx2"))), modes=("t2v", "i2v"), size_multiple=32, frame_rule=(8, 1),
        max_frames=33, min_size=16, card=card, joint_audio=True, lip_sync=True))
    silent = models.register(models.ModelSpec(
        name="lips-tiny-wan", backend="diffusers", family="wan", model_id=str(tiny_wan.build(
            tmp_path_factory.mktemp("wan"), "t2v")), modes=("t2v",), size_multiple=16, frame_rule=(4, 1),
        max_frames=33, min_size=16, card=models.Card(width=16, height=16, frames=9, fps=16, steps=2,
                                                     guidance_scale=5.0)))
    voice = str(tiny_tts.build(tmp_path_factory.mktemp("voice")))
    yield {"joint": joint.name, "silent": silent.name, "voice": voice}
    for name in (joint.name, silent.name):
        models.MODELS.pop(name, None)
    _runtime.clear_cache()


def take(names: dict[str, str], *lines: tuple[str, float], model: str = "joint", **sound: Any) -> sorakit.Take:
    dialogue = tuple(DialogueLine("Ana", text, start, voice=names["voice"]) for text, start in lines)
    return sorakit.Take(prompt="a woman talks to the camera", negative_prompt="", seed=5, model=names[model],
                        memory="cpu", physics=sorakit.PhysicsConfig(scene=None),
                        sound=SoundConfig(foley=False, dialogue=dialogue, loudness=None, **sound))


def sound(clip: sorakit.Clip) -> soundtrack.SoundtrackInfo:
    assert clip.soundtrack is not None
    return clip.soundtrack


class Spy:
    """Records what the transformer is given on every pass, and the pipeline's float frames."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.audio: list[tuple[Any, Any]] = []
        self.frames: list[np.ndarray] = []
        self.pipes: list[Any] = []

        def after(pipe: Any, out: Any, passes: list[Any]) -> None:
            self.audio.extend(passes)
            self.pipes.append(pipe)
            self.frames.append(out.frames)

        watch_passes(monkeypatch, ltx2, after,
                     lambda k: (k["audio_hidden_states"].detach().clone(), k.get("audio_timestep")))


@pytest.mark.parametrize("mode", ["t2v", "i2v"])
def test_lip_synced_lines_reach_the_model_clean_at_every_step(names: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path, mode: str) -> None:
    spy = Spy(monkeypatch)
    t = take(names, ("hello there", 0.05))
    if mode == "i2v":  # LTX2ImageToVideoPipeline passes its own audio_timestep: it is held at 0 all the same
        from PIL import Image

        Image.new("RGB", (32, 32), (200, 60, 40)).save(tmp_path / "first.png")
        t = t.replace(mode="i2v", first_frame=str(tmp_path / "first.png"))
    assert t.lip_synced
    clip = sorakit.generate(t, progress=False)
    pipe = spy.pipes[0]
    resolved = t.resolved()
    spoken = soundtrack.speak(resolved, resolved.duration)
    speech = soundtrack.speech_track(spoken, resolved.duration, 48_000)
    raw = ltx2.encode_speech(pipe, speech, 48_000, resolved)
    assert raw.shape == (1, 2, ltx2.audio_frames(pipe, resolved), 2)
    held = pipe._normalize_audio_latents(pipe._pack_audio_latents(raw), pipe.audio_vae.latents_mean,
                                         pipe.audio_vae.latents_std)
    # 2 steps, every guidance pass; the conditional and unconditional passes go as one doubled batch
    assert len(spy.audio) == 2 * (ltx2.passes_per_step(resolved) - int(ltx2.uses_cfg(resolved))) == 6
    for given, timestep in spy.audio:  # the batch is doubled for guidance: each half is the speech
        for half in given.split(1):
            torch.testing.assert_close(half, held, rtol=0, atol=0)
        assert timestep is not None and not timestep.any()  # at sigma 0
    # the pipe is left as it was: its own scheduler class, no forward of ours
    import diffusers

    assert type(pipe.scheduler) is diffusers.FlowMatchEulerDiscreteScheduler and "forward" not in vars(pipe.transformer)
    # the clip: the line is lip-synced, and the mix has the voice, not the model's copy of it
    assert [(line.text, line.how) for line in sound(clip).lines] == [("hello there", "lip-synced")]
    assert [tr.name for tr in sound(clip).mix.tracks] == ["dialogue"]
    assert "1 dialogue line lip-synced" in clip.provenance.dialogue
    from sorakit.clip import load

    again = load(clip.save(tmp_path / "talk.mp4"))  # the sidecar keeps how each line was made
    assert again.soundtrack is not None and sound(again).lines == sound(clip).lines


def test_the_picture_changes_with_the_speech_and_with_nothing_else(names: dict[str, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Spy(monkeypatch)
    first = take(names, ("hello there", 0.05))
    sorakit.generate(first, progress=False)
    sorakit.generate(first, progress=False)  # the same speech: the same picture, exactly
    sorakit.generate(take(names, ("good morning to you all", 0.05)), progress=False)  # other words
    sorakit.generate(take(names, ("hello there", 0.15)), progress=False)  # the same words, later
    a, same, other, later = spy.frames
    np.testing.assert_array_equal(same, a)
    assert np.abs(other - a).max() > 1e-4
    assert np.abs(later - a).max() > 1e-4
    # without lip sync the same Take's picture is the model's own: neither of the above
    spy.frames.clear()
    sorakit.generate(dataclasses.replace(first, sound=dataclasses.replace(first.sound, lip_sync=False)), progress=False)
    assert np.abs(spy.frames[0] - a).max() > 1e-4


def test_lip_sync_off_or_a_silent_model_overlays_the_voice(names: dict[str, str]) -> None:
    off = take(names, ("hello there", 0.05), lip_sync=False)
    assert not off.lip_synced
    clip = sorakit.generate(off, progress=False)
    assert [line.how for line in sound(clip).lines] == ["overlaid"]
    assert sorted(tr.name for tr in sound(clip).mix.tracks) == ["dialogue", "joint"]
    assert "overlaid" in clip.provenance.dialogue and "lip_sync is off" in clip.provenance.dialogue
    silent = take(names, ("hello there", 0.05), model="silent", lip_sync=True)
    with pytest.warns(UserWarning, match="cannot animate mouths to the lines; they are laid over the video") as said:
        silent.validate()
    assert said_here({w.filename for w in said}, __file__)  # the notebook's line, not sorakit's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        clip = sorakit.generate(silent, progress=False)
    assert [line.how for line in sound(clip).lines] == ["overlaid"]
    assert "makes no sound to animate mouths by" in clip.provenance.dialogue
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # left to its default, a silent model does not warn
        take(names, ("hello there", 0.05), model="silent").validate()


def test_a_model_that_speaks_gets_the_lines_in_its_prompt_and_their_starts_are_measured(
        names: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    prompts: list[str] = []
    encode = ltx2.encode_prompt

    def spy(pipe: Any, prompt: str, *args: Any, **kw: Any) -> Any:
        prompts.append(prompt)
        return encode(pipe, prompt, *args, **kw)

    monkeypatch.setattr(ltx2, "encode_prompt", spy)
    call = ltx2.call

    def speaking(*args: Any) -> Any:  # the tiny model's sound is noise: here it says a line from 0.12 s to 0.33 s
        out = call(*args)
        return out._replace(audio=np.stack([burst(out.sample_rate, 0.375, [(0.12, 0.33)])] * 2))

    monkeypatch.setattr(ltx2, "call", speaking)
    _runtime.clear_cache()
    t = take(names, ("hello there", 0.05), dialogue_source="model")
    t = t.replace(sound=dataclasses.replace(t.sound, dialogue=(dataclasses.replace(t.sound.dialogue[0], voice="",
                                                                                   style="warmly"),)))
    assert not t.lip_synced
    clip = sorakit.generate(t, progress=False)
    assert prompts == ['a woman talks to the camera Ana says warmly: "hello there"']
    # the model's own sound is the track, and the line is where its speech is
    assert [tr.name for tr in sound(clip).mix.tracks] == ["joint"]
    (line,) = sound(clip).lines
    assert line.how == "spoken by the model" and abs(line.start - 0.12) <= 0.02 and abs(line.end - 0.33) <= 0.02
    assert "spoken by lips-tiny-ltx2 from its prompt" in clip.provenance.dialogue
    with pytest.raises(ValueError, match="makes no sound, so it cannot speak the lines"):
        take(names, ("hello there", 0.05), model="silent", dialogue_source="model").validate()
    with pytest.raises(ValueError, match=r"^sound.dialogue_source='Model': must be one of voice, model; did you mean"):
        take(names, ("hello there", 0.05), dialogue_source="Model").validate()
    long = t.replace(sound=dataclasses.replace(t.sound, dialogue=(dataclasses.replace(t.sound.dialogue[0],
                                                                                      style="x" * 201),)))
    with pytest.raises(ValueError, match=r"sound.dialogue\[0\].style='x{20}\.\.\.': is longer than 200 characters"):
        long.validate()


def burst(rate: int, seconds: float, spans: list[tuple[float, float]], noise: float = 0.0,
          depth: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    audio = noise * rng.standard_normal(t.size)
    for a, b in spans:  # voiced: a 140 Hz buzz with formant-like partials, syllables at 4 Hz
        on = (t >= a) & (t < b)
        syllables = 1.0 - depth + depth * np.sin(2 * np.pi * 4 * (t - a))
        audio += on * 0.2 * syllables * (np.sin(2 * np.pi * 140 * t) + 0.5 * np.sin(2 * np.pi * 700 * t))
    return audio.astype(np.float32)


def near(found: list[tuple[float, float]], truth: list[tuple[float, float]], tol: float) -> bool:
    return len(found) == len(truth) and bool(np.allclose(np.array(found).reshape(-1, 2),
                                                         np.array(truth).reshape(-1, 2), rtol=0, atol=tol))


@pytest.mark.parametrize("offset", np.linspace(0.0, 0.01, 5))
def test_speech_spans_find_each_line_s_edges_within_two_milliseconds(offset: float) -> None:
    rate = 16_000
    truth = [(0.30 + offset, 1.10), (1.60, 2.05 + offset), (2.70 + offset, 2.95 + offset)]
    found = speech_spans(burst(rate, 3.5, truth), rate)
    assert len(found) == len(truth)
    np.testing.assert_allclose(np.array(found), np.array(truth), atol=0.002)
    assert all(isinstance(x, float) for span in found for x in span)
    stereo = np.stack([burst(rate, 3.5, truth), np.zeros(int(3.5 * rate), np.float32)])
    np.testing.assert_allclose(np.array(speech_spans(stereo, rate)), np.array(found), atol=1e-9)
    assert near(speech_spans(burst(8_000, 3.5, truth), 8_000), found, 0.002)  # any rate


def test_speech_is_what_stands_out_from_the_floor_and_reaches_near_the_peak() -> None:
    rate = 16_000
    line = [(0.5, 1.2)]
    # a steady vowel over hiss 23 dB under it: the hiss is within 30 dB of the peak, but not 12 dB over the floor
    hiss = burst(rate, 2.0, line, depth=0.0) + burst(rate, 2.0, [], noise=0.01)
    assert near(speech_spans(hiss, rate), line, 0.003)
    # a faint hum 40 dB under the voice in digital silence: 12 dB over the floor, but not near the peak
    hum = burst(rate, 2.0, line) + (0.002 * np.sin(2 * np.pi * 90 * np.arange(2 * rate) / rate)
                                     * (np.arange(2 * rate) > 1.5 * rate)).astype(np.float32)
    assert near(speech_spans(hum, rate), line, 0.002)
    assert speech_spans(np.full(rate, 1e-5, np.float32), rate) == []  # -100 dBFS: silence
    whole = burst(rate, 1.0, [(0.0, 1.0)])  # speech from the first sample to the last
    assert near(speech_spans(whole, rate), [(0.0, 1.0)], 0.0005)
    assert near(speech_spans(np.concatenate([whole, np.zeros(rate, np.float32)]), rate), [(0.0, 1.0)], 0.002)
    assert speech_spans(burst(rate, 0.009, [(0.0, 0.009)]), rate) == []  # shorter than a frame


def test_a_line_is_at_least_a_tenth_of_a_second_and_a_pause_under_a_quarter_joins_its_halves() -> None:
    rate = 16_000
    assert speech_spans(burst(rate, 1.0, [(0.2, 0.29)]), rate) == []  # a click
    assert near(speech_spans(burst(rate, 1.0, [(0.2, 0.31)]), rate), [(0.2, 0.31)], 0.002)
    joined = speech_spans(burst(rate, 2.0, [(0.2, 0.6), (0.84, 1.2)]), rate)  # a 0.24 s pause
    assert near(joined, [(0.2, 1.2)], 0.002)
    split = speech_spans(burst(rate, 2.0, [(0.2, 0.6), (0.86, 1.2)]), rate)  # a 0.26 s pause
    assert near(split, [(0.2, 0.6), (0.86, 1.2)], 0.002)


def test_measured_lines_take_the_spans_nearest_their_asked_starts() -> None:
    rate = 16_000
    audio = burst(rate, 4.0, [(0.42, 0.9), (1.2, 1.5), (2.9, 3.4)])  # A speaks twice, with a 0.3 s pause
    lines = [DialogueLine("A", "one", 0.3), DialogueLine("B", "two", 2.5), DialogueLine("C", "three", 2.2)]
    a, c, b = measure_lines(lines, (audio, rate), 3.3)  # in the order they start; the clip ends at 3.3 s
    assert (a.speaker, a.text, a.how) == ("A", "one", "spoken by the model")
    assert abs(a.start - 0.42) < 0.002 and abs(a.end - 1.5) < 0.002  # a line said with a pause is one line
    assert (c.speaker, c.how, c.start, c.end) == ("C", "spoken by the model; not found in its sound", 2.2, 2.2)
    assert (b.speaker, b.how) == ("B", "spoken by the model") and abs(b.start - 2.9) < 0.002 and b.end == 3.3
    assert [line.how for line in measure_lines(lines, None, 4.0)] == ["spoken by the model; not found in its sound"] * 3


def test_a_film_line_across_a_cut_is_lip_synced_in_both_shots(names: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from sorakit.audio.mix import RATE
    from sorakit.storyboard import Shot, Storyboard

    given: list[Any] = []
    call = ltx2.call

    def spy(pipe: Any, t: Any, cond: Any, *args: Any) -> Any:
        given.append(cond.speech)
        return call(pipe, t, cond, *args)

    monkeypatch.setattr(ltx2, "call", spy)
    shot = take(names).replace(sound=SoundConfig(foley=False, loudness=None))
    line = DialogueLine("Ana", "hello there my friend", 0.2, voice=names["voice"])
    board = Storyboard((Shot(shot), Shot(shot.replace(seed=6))), dialogue=(line,))
    film = board.render(tmp_path)
    cut = film.starts[1]
    assert cut == pytest.approx(0.375)
    # the film's line spoken once on its timeline; each shot made to its own slice of it
    spoken = soundtrack.speak(board._bed_take(), board.duration)
    assert spoken[0][0].end > cut + 0.05  # the line runs across the cut
    speech = soundtrack.speech_track(spoken, board.duration, RATE)
    n = int(round(cut * RATE))
    assert len(given) == 2 and all(g is not None for g in given)
    np.testing.assert_allclose(given[0][0], speech[:n], atol=1e-6)
    np.testing.assert_allclose(given[1][0], speech[n:2 * n], atol=1e-6)
    for clip in film.shots:
        assert "storyboard's lines over this shot lip-synced (speech sha256 " in clip.provenance.dialogue
        assert clip.soundtrack is not None and [t.name for t in sound(clip).mix.tracks] == []  # the film mixes it
    assert film.soundtrack is not None and [x.how for x in film.soundtrack.lines] == ["lip-synced"]
    # both shots' lip sync is measured over the film's sound (the tiny model draws no face)
    from sorakit.tiny import clip as tiny_clip

    report = film.consistency(model=str(tiny_clip.build(tmp_path / "embedder")))
    measures = report.lip_sync  # one per shot: both have the line over them
    assert len(measures) == 2 and all(m is not None and m.verdict.startswith("no face") for m in measures)
    # rendered again: both shots load; the line moved: both are made again to the new speech
    assert [e.state for e in board.render(tmp_path).log] == ["loaded", "loaded"]
    moved = Storyboard(board.shots, dialogue=(dataclasses.replace(line, start=0.1),))
    assert [e.state for e in moved.render(tmp_path).log] == ["rendering", "rendered"] * 2
    # the line gone: the shots made to it are made again, to no speech
    silent = Storyboard(board.shots).render(tmp_path)
    assert [e.state for e in silent.log] == ["rendering", "rendered"] * 2
    assert all(c.provenance.dialogue == "" for c in silent.shots)


def test_the_speech_track_places_each_line_at_its_start_at_the_reference_level() -> None:
    from sorakit.audio.loudness import integrated_loudness
    from sorakit.audio.soundtrack import REFERENCE_LUFS, SpokenLine, _match

    rate = 16_000
    t = np.arange(rate // 2) / rate
    line = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)  # half a second
    spoken = [(SpokenLine("A", "one", "v", 0.25, 0.75), line, rate), (SpokenLine("B", "two", "v", 1.5, 2.0), line, rate)]
    track = soundtrack.speech_track(spoken, 2.5, rate)
    assert track.shape == (int(2.5 * rate),) and track.dtype == np.float32
    expected = _match(line, rate)[0]
    for start in (0.25, 1.5):
        at = int(start * rate)
        assert not track[at - 50:at].any()  # silence right up to the line
        np.testing.assert_allclose(track[at:at + 7000], expected[:7000], atol=1e-6)  # as matched, no limiting
        tail = track[at + line.size - int(0.01 * rate):at + line.size]  # a 10 ms fade at its end, no longer
        assert np.abs(tail[-20:]).max() < 0.05 * np.abs(expected).max() and np.abs(tail[:20]).max() > 0.5 * np.abs(
            expected[-int(0.01 * rate):][:20]).max()
    assert integrated_loudness(track[int(0.25 * rate):int(0.75 * rate)].astype(np.float64)[None], rate) == \
        pytest.approx(REFERENCE_LUFS, abs=0.3)
    assert soundtrack.speech_track(spoken, 2.5, 48_000).shape == (int(2.5 * 48_000),)  # any rate
