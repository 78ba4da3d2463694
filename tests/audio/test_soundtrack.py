"""A whole soundtrack on tiny models: Foley, AudioGen ambience, MusicGen music and two spoken lines,
mixed, saved in the mp4, decoded again and measured."""

from __future__ import annotations

import dataclasses
import json

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import _media
from sorakit.audio import integrated_loudness, true_peak
from sorakit.audio import soundtrack
from sorakit.audio.soundtrack import music_backend, preflight

RATE = 48_000
TOLERANCE = int(0.005 * RATE)  # 5 ms


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from sorakit.tiny import audiocraft as tiny_audiocraft, musicgen as tiny_musicgen_hf, tts as tiny_tts

    root = tmp_path_factory.mktemp("tiny-audio")
    return {"audiogen": str(tiny_audiocraft.build(root / "audiogen", "audiogen")),
            "musicgen": str(tiny_musicgen_hf.build(root / "musicgen", max_duration=2.0)),
            "voices": str(tiny_tts.build(root / "voices", speakers=2))}


def full_take(tiny: dict[str, str]) -> sorakit.Take:
    lines = (sorakit.DialogueLine("coach", "again", 1.3, tiny["voices"] + "#0"),
             sorakit.DialogueLine("player", "a ball bounces off the rim", 3.1, tiny["voices"] + "#1"))
    return sorakit.Take(frames=80, fps=16, width=128, height=80, seed=4,
                        sound=sorakit.SoundConfig(ambience="a busy gym", ambience_model=tiny["audiogen"],
                                                  music="upbeat funk", music_model=tiny["musicgen"],
                                                  backend="transformers", dialogue=lines))


def lag_of(template: np.ndarray, signal: np.ndarray, at: int, *, search: int = 960) -> int:
    """The shift (samples) at which ``template`` (starting at ``at`` - 240) best matches ``signal``."""
    start = at - 240
    seg = signal[start - search:start + template.size + search]
    scores = np.correlate(seg, template, mode="valid")
    return int(np.argmax(scores)) - search


@pytest.fixture(scope="module")
def rendered(tiny: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[sorakit.Clip, Path]:
    clip = sorakit.generate(full_take(tiny))
    return clip, clip.save(tmp_path_factory.mktemp("out") / "full.mp4")


def test_every_track_is_in_the_mix(rendered: tuple[sorakit.Clip, Path]) -> None:
    clip, _ = rendered
    assert clip.soundtrack is not None
    names = [t.name for t in clip.soundtrack.mix.tracks]
    assert names == ["foley", "ambience", "music", "dialogue", "dialogue"]
    sources = [t.source for t in clip.soundtrack.mix.tracks]
    assert sources[:3] == ["sorakit.foley", f"{clip.take.sound.ambience_model} (audiocraft)",
                           f"{clip.take.sound.music_model} (transformers)"]
    assert sources[3:] == [line.voice for line in clip.take.sound.dialogue]
    assert set(clip.stems) == {"foley", "ambience", "music", "dialogue"}
    assert all(np.abs(s).max() > 0 for s in clip.stems.values())
    assert clip.audio.shape == (2, 5 * RATE) and clip.sample_rate == RATE


def test_foley_onsets_and_dialogue_starts_are_within_5ms_in_the_decoded_mp4(
        rendered: tuple[sorakit.Clip, Path]) -> None:
    clip, path = rendered
    _, _, decoded, rate = _media.read_mp4(path)
    assert decoded is not None and rate == RATE
    mono = decoded.mean(axis=0)
    assert clip.events and clip.soundtrack is not None
    for e in clip.events:
        at = round(e.time * RATE)
        template = clip.stems["foley"].mean(axis=0)[at - 240:at + 2400]
        assert abs(lag_of(template, mono, at)) <= TOLERANCE, e
    for line in clip.soundtrack.lines:
        at = round(line.start * RATE)
        template = clip.stems["dialogue"].mean(axis=0)[at - 240:at + 4800]
        assert abs(lag_of(template, mono, at)) <= TOLERANCE, line
        first = int(np.flatnonzero(np.abs(clip.stems["dialogue"][0, at - 240:]) > 0)[0]) + at - 240
        assert abs(first - at) <= 1  # the stem itself starts on the line's sample


def test_the_decoded_mix_is_at_the_loudness_target_without_clipping(rendered: tuple[sorakit.Clip, Path]) -> None:
    clip, path = rendered
    _, _, decoded, _ = _media.read_mp4(path)
    assert decoded is not None
    assert true_peak(clip.audio, RATE) <= -1.0 + 1e-6  # the mix before encoding
    # what plays: under the ceiling too (AAC adds to the tiny models' noise-like sound, so the file is
    # brought down for it, a little under the target), and the sidecar says what it delivers
    delivered = json.loads(path.with_suffix(".json").read_text())["audio"]
    assert true_peak(decoded, RATE) <= -1.0 and np.abs(decoded).max() < 1.0
    assert integrated_loudness(decoded, RATE) == pytest.approx(-16.0 + delivered["encoded_gain_db"], abs=0.3)
    assert integrated_loudness(decoded, RATE) == pytest.approx(delivered["delivered_loudness_lufs"], abs=0.05)
    assert -2.0 < delivered["encoded_gain_db"] <= 0.0


def test_music_is_ducked_while_someone_speaks(rendered: tuple[sorakit.Clip, Path]) -> None:
    clip, _ = rendered
    assert clip.soundtrack is not None
    line = clip.soundtrack.lines[0]
    music = clip.stems["music"].mean(axis=0)
    speaking = music[int((line.start + 0.1) * RATE):int(min(line.end, line.start + 0.6) * RATE)]
    before = music[int(0.4 * RATE):int(1.0 * RATE)]

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))

    assert 20 * np.log10(rms(speaking) / rms(before)) < -6  # 10 dB of ducking over model noise


def test_the_lines_and_the_mix_round_trip_through_the_sidecar(rendered: tuple[sorakit.Clip, Path]) -> None:
    clip, path = rendered
    assert clip.soundtrack is not None
    starts = [(line.speaker, line.start) for line in clip.soundtrack.lines]
    assert starts == [("coach", 1.3), ("player", 3.1)]
    assert clip.soundtrack.lines[0].end < 3.1  # the first line is over before the second starts
    assert all(line.end > line.start for line in clip.soundtrack.lines)
    again = sorakit.load(path)
    assert again.soundtrack == clip.soundtrack
    assert sorakit.verify(path).ok


def test_the_same_take_gives_the_same_soundtrack(tiny: dict[str, str]) -> None:
    take = full_take(tiny).replace(frames=56)  # same threads for both runs: floats depend on them
    assert np.array_equal(sorakit.generate(take).audio, sorakit.generate(take).audio)


def test_music_backend_follows_the_folder_and_the_setting(tiny: dict[str, str]) -> None:
    sound = sorakit.SoundConfig(music="x", music_model=tiny["musicgen"])
    assert music_backend(sorakit.Take(sound=sound)) == "transformers"  # a config.json folder
    sound = sorakit.SoundConfig(music="x", music_model=tiny["audiogen"])
    assert music_backend(sorakit.Take(sound=sound)) == "audiocraft"  # a state_dict.bin folder


def test_a_missing_library_is_named_before_the_video_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.audio import soundtrack

    monkeypatch.setattr(soundtrack, "_installed", lambda name: name != "audiocraft")
    take = sorakit.Take(frames=16, sound=sorakit.SoundConfig(ambience="rain"))
    with pytest.raises(sorakit.MissingPackage, match=r"pip install --no-deps audiocraft==1.3.0"):
        preflight(take)
    with pytest.raises(sorakit.MissingPackage, match="AudioGen, which needs audiocraft"):
        sorakit.generate(take)


def test_a_failing_sound_model_keeps_the_video(tiny: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    from sorakit.audio import musicgen_hf

    def broken(*args: object, **kwargs: object) -> tuple[np.ndarray, int]:
        raise RuntimeError("CUDA error: device-side assert triggered")

    monkeypatch.setattr(musicgen_hf, "generate", broken)
    take = sorakit.Take(frames=32, width=64, height=48,
                        sound=sorakit.SoundConfig(music="funk", music_model=tiny["musicgen"], backend="transformers"))
    with pytest.raises(sorakit.SoundtrackFailed, match="the video was made, but its sound failed: RuntimeError") as err:
        sorakit.generate(take)
    kept = err.value.clip
    assert isinstance(kept, sorakit.Clip) and kept.frames.shape[0] == 32
    assert kept.soundtrack is not None and [t.name for t in kept.soundtrack.mix.tracks] == ["foley"]
    assert sorakit.verify(kept.save(tmp_path / "kept.mp4")).ok


def test_stopping_while_the_music_renders_keeps_the_video_and_its_foley(tiny: dict[str, str]) -> None:
    asked: list[tuple[str, int, int]] = []
    take = sorakit.Take(frames=48, width=64, height=48,
                        sound=sorakit.SoundConfig(music="funk", music_model=tiny["musicgen"], backend="transformers"))
    clip = sorakit.generate(take, on_sound=lambda *a: asked.append(a), should_stop=lambda: len(asked) > 3)
    assert clip.frames.shape[0] == 48  # the video was complete before the music began
    assert clip.provenance.status.startswith("video complete; sound MusicGen stopped after step")
    assert clip.soundtrack is not None and [t.name for t in clip.soundtrack.mix.tracks] == ["foley"]
    assert asked[0][0] == "music" and asked[-1][1] < asked[-1][2]


def test_sound_models_leave_the_gpu_after_their_track(tiny: dict[str, str]) -> None:
    """After each track, a sound model cached on a GPU is dropped (the next video model needs the GPU);
    one on the CPU stays cached. A GPU entry is planted in each cache, as a model loaded there would be."""
    from sorakit.audio import audiocraft_gen, musicgen_hf, tts

    planted = object()
    caches = (audiocraft_gen._MODELS, musicgen_hf._CACHE, tts._CACHE)
    for cache in caches:
        cache[("planted", "cuda:0")] = planted  # type: ignore[index]
    soundtrack.tracks(full_take(tiny), 5.0, device="cpu")
    for cache in caches:
        assert ("planted", "cuda:0") not in cache
        assert any(key[1] == "cpu" for key in cache)  # what ran on the CPU is still cached


@pytest.mark.parametrize("line, says", [
    (lambda v: sorakit.DialogueLine("a", "hello there", 0.2, v + "#7"), "sound.dialogue[0]: voice='VOICE#7': speaker 7"),
    (lambda v: sorakit.DialogueLine("a", "你好", 0.2, v + "#0"), "sound.dialogue[0]: text='你好': the voice"),
])
def test_a_line_no_voice_can_speak_is_refused_before_the_video(tiny: dict[str, str], monkeypatch: pytest.MonkeyPatch,
                                                                line: Any, says: str) -> None:
    gen = importlib.import_module("sorakit.generate")

    monkeypatch.setattr(gen, "render", lambda *a, **k: pytest.fail("the video rendered first"))
    take = sorakit.Take(frames=16, sound=sorakit.SoundConfig(dialogue=(line(tiny["voices"]),)))
    with pytest.raises(sorakit.InvalidInput) as err:
        sorakit.generate(take)
    assert says.replace("VOICE", tiny["voices"]) in str(err.value)


def test_offline_a_sound_model_not_in_the_cache_is_refused_before_the_video(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    gen = importlib.import_module("sorakit.generate")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(gen, "render", lambda *a, **k: pytest.fail("the video rendered first"))
    take = sorakit.Take(frames=16, sound=sorakit.SoundConfig(music="funk", music_model="facebook/musicgen-small",
                                                             backend="transformers"))
    with pytest.raises(sorakit.InvalidInput, match="not in this machine's model cache, and HF_HUB_OFFLINE is set"):
        sorakit.generate(take)


def test_a_sound_model_s_invalid_input_after_the_video_keeps_the_video(tiny: dict[str, str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.audio import tts

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise sorakit.InvalidInput("the voice changed under us")

    monkeypatch.setattr(tts, "speak", refuse)
    take = sorakit.Take(frames=16, sound=sorakit.SoundConfig(dialogue=(
        sorakit.DialogueLine("a", "hello", 0.2, tiny["voices"] + "#0"),)))
    with pytest.raises(sorakit.SoundtrackFailed) as err:
        sorakit.generate(take)
    assert err.value.clip.frames.shape[0] == 16 and "the voice changed under us" in str(err.value)


# -- the edges, found by mutation testing (tests/mutation.py sorakit/audio/soundtrack.py) ----------------------
def test_each_track_is_made_as_the_take_asks(tiny: dict[str, str]) -> None:
    take = full_take(tiny)
    knock = np.zeros((2, 5 * RATE), np.float32)
    knock[:, RATE:RATE + 48] = 0.5
    joint = (0.1 * np.sin(np.arange(5 * 16_000) * 0.3).astype(np.float32)[None], 16_000)
    heard: list[tuple[str, int, int]] = []
    parts, lines = soundtrack.tracks(take, 5.0, foley=knock, joint=joint,
                                     on_sound=lambda track, done, total: heard.append((track, done, total)))
    table = [(t.name, t.start, t.gain_db, t.fade_in, t.fade_out, t.duck, t.label, t.source) for t in parts]
    au = take.sound
    assert table == [
        ("foley", 0.0, 0.0, 0.0, 0.0, False, "physics", "sorakit.foley"),
        ("joint", 0.0, 0.0, 0.0, 0.0, False, take.model, take.model),
        ("ambience", 0.0, -10.0, 0.3, 0.5, False, "a busy gym", f"{au.ambience_model} (audiocraft)"),
        ("music", 0.0, -8.0, 0.2, 1.0, True, "upbeat funk", f"{au.music_model} (transformers)"),
        ("dialogue", 1.3, 0.0, 0.0, 0.01, False, "coach: again", au.dialogue[0].voice),
        ("dialogue", 3.1, 0.0, 0.0, 0.01, False, "player: a ball bounces off the rim", au.dialogue[1].voice)]
    assert [t.rate for t in parts[:2]] == [RATE, 16_000]
    for t in parts:  # every track at the reference loudness before the Take's gains
        assert integrated_loudness(np.asarray(t.audio, np.float64), t.rate) == pytest.approx(-23.0, abs=0.3), t.name
    assert [(x.speaker, x.start, x.how) for x in lines] == [("coach", 1.3, "overlaid"), ("player", 3.1, "overlaid")]
    from sorakit.audio import tts
    from sorakit.audio.soundtrack import _match

    for i, line in enumerate(au.dialogue):  # each line in its own voice, seeded by the Take's seed and its place
        spoken, rate = tts.speak(line.text, voice=line.voice, seed=take.seed + i)
        np.testing.assert_array_equal(parts[4 + i].audio, _match(spoken, rate))
    ends = [min(x.start + parts[4 + i].audio.shape[-1] / parts[4 + i].rate, 5.0) for i, x in enumerate(lines)]
    assert [x.end for x in lines] == pytest.approx(ends, abs=1e-6) and lines[1].end == 5.0  # cut at the clip's end
    tracks_heard = [h[0] for h in heard]
    assert set(tracks_heard) == {"ambience", "music", "dialogue"}
    assert [h for h in heard if h[0] == "dialogue"] == [("dialogue", 1, 2), ("dialogue", 2, 2)]
    # short clips fade over a quarter of their length; without dialogue the music is not ducked
    short = take.replace(frames=13, sound=dataclasses.replace(take.sound, dialogue=()))
    parts, lines = soundtrack.tracks(short, 0.8)
    assert [(t.name, t.fade_in, t.fade_out, t.duck) for t in parts] == [
        ("ambience", 0.2, 0.2, False), ("music", 0.2, 0.2, False)] and lines == ()
    # no sound models: Foley only, whatever the Take asks
    parts, lines = soundtrack.tracks(take, 5.0, foley=knock, models=False)
    assert [t.name for t in parts] == ["foley"] and lines == ()
    silent = np.zeros((2, 5 * RATE), np.float32)
    assert soundtrack.tracks(take.replace(sound=dataclasses.replace(take.sound, ambience="", music="", dialogue=())),
                             5.0, foley=silent, joint=(silent, RATE))[0] == []  # silence is no track
    no_foley = take.replace(sound=dataclasses.replace(take.sound, foley=False, ambience="", music="", dialogue=()))
    assert soundtrack.tracks(no_foley, 5.0, foley=knock)[0] == []


def test_a_track_is_brought_to_the_reference_loudness_within_30_db() -> None:
    from sorakit.audio.soundtrack import MAX_MATCH_DB, REFERENCE_LUFS, _match

    t = np.arange(RATE) / RATE
    tone = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    matched = _match(tone, RATE)
    assert matched.shape == (1, RATE) and matched.dtype == np.float32
    assert integrated_loudness(matched.astype(np.float64), RATE) == pytest.approx(REFERENCE_LUFS, abs=0.05)
    stereo = _match(np.stack([tone, tone]), RATE)
    assert stereo.shape == (2, RATE)
    assert integrated_loudness(stereo.astype(np.float64), RATE) == pytest.approx(REFERENCE_LUFS, abs=0.05)
    quiet = tone * 0.02  # at about -66 LUFS (above the -70 gate) it needs more than +30 dB: it gets +30
    np.testing.assert_allclose(_match(quiet, RATE)[0], quiet * 10 ** (MAX_MATCH_DB / 20), rtol=1e-5)
    loud = tone * 1e3  # needs more than -30 dB: it gets -30
    np.testing.assert_allclose(_match(loud, RATE)[0], loud * 10 ** (-MAX_MATCH_DB / 20), rtol=1e-5)
    blip = tone[:RATE // 5]  # shorter than one 400 ms block: measured as if padded with silence
    padded = np.pad(_match(blip, RATE), ((0, 0), (0, int(0.4 * RATE) - blip.size)))
    assert integrated_loudness(padded.astype(np.float64), RATE) == pytest.approx(REFERENCE_LUFS, abs=0.05)
    np.testing.assert_array_equal(_match(np.zeros(RATE, np.float32), RATE), np.zeros((1, RATE), np.float32))


def test_build_mixes_at_the_take_s_loudness_and_ducks_under_lines_the_model_spoke(tiny: dict[str, str]) -> None:
    take = full_take(tiny)
    music_only = take.replace(sound=dataclasses.replace(take.sound, ambience="", loudness=-20.0, ducking=12.0))
    built = soundtrack.build(music_only, 5.0)  # the sound models run unless told not to
    assert built.info.mix.target == -20.0 and [x.how for x in built.info.lines] == ["overlaid", "overlaid"]
    assert built.info.mix.loudness == pytest.approx(-20.0, abs=0.5)
    # the model speaks the lines: they are measured in its sound and the music ducks under them
    rate = 16_000
    t = np.arange(5 * rate) / rate
    said = ((t > 1.5) & (t < 2.5)) * 0.3 * np.sin(2 * np.pi * 150 * t)
    by_model = music_only.replace(sound=dataclasses.replace(music_only.sound, dialogue_source="model",
                                                            dialogue=(sorakit.DialogueLine("coach", "again", 1.3),)))
    built = soundtrack.build(by_model, 5.0, joint=(said.astype(np.float32)[None], rate))
    (line,) = built.info.lines
    assert line.how == "spoken by the model" and abs(line.start - 1.5) < 0.01 and abs(line.end - 2.5) < 0.01
    music = built.mix.stems["music"].mean(axis=0)
    during, before = music[int(1.7 * RATE):int(2.3 * RATE)], music[int(0.5 * RATE):int(1.1 * RATE)]
    assert 20 * np.log10(np.sqrt(np.mean(during ** 2)) / np.sqrt(np.mean(before ** 2))) < -8


@pytest.mark.parametrize("missing, sound, says", [
    ({"audiocraft"}, dict(music="funk", backend="audiocraft"),
     "sound.music with backend 'audiocraft' needs audiocraft: pip install 'sorakit[audiocraft]' then pip install "
     "--no-deps audiocraft==1.3.0"),
    ({"transformers"}, dict(music="funk", backend="transformers"),
     "sound.music with backend 'transformers' needs transformers: pip install 'sorakit[audio]'"),
    ({"torch"}, dict(music="funk", backend="transformers"), "needs transformers: pip install 'sorakit[audio]'"),
    ({"torch"}, dict(music="funk", backend="audiocraft"), "needs audiocraft: pip install 'sorakit[audiocraft]'"),
    ({"transformers"}, dict(dialogue=(sorakit.DialogueLine("a", "hi", 0.1),)),
     "sound.dialogue is spoken by a VITS voice through transformers: pip install 'sorakit[audio]'"),
    ({"torch"}, dict(dialogue=(sorakit.DialogueLine("a", "hi", 0.1),)), "spoken by a VITS voice"),
])
def test_each_missing_library_is_named(monkeypatch: pytest.MonkeyPatch, missing: set[str], sound: dict[str, Any],
                                       says: str) -> None:
    monkeypatch.setattr(soundtrack, "_installed", lambda name: name not in missing)
    with pytest.raises(sorakit.MissingPackage) as err:
        preflight(sorakit.Take(frames=16, sound=sorakit.SoundConfig(**sound)))
    assert says in str(err.value)


def test_preflight_checks_each_model_s_own_file_and_leaves_a_model_s_lines_to_it(
        monkeypatch: pytest.MonkeyPatch, tiny: dict[str, str]) -> None:
    from sorakit.audio import tts

    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(tts, "check_available", lambda model, filename: asked.append((model, filename)))
    monkeypatch.setattr(tts, "check_line", lambda text, voice="": (_ for _ in ()).throw(sorakit.InvalidInput("no")))
    monkeypatch.setattr(soundtrack, "_installed", lambda name: name != "transformers")  # no VITS voices here
    by_model = sorakit.SoundConfig(ambience="rain", ambience_model="a/gen", music="funk", music_model="a/music",
                                   backend="audiocraft", dialogue=(sorakit.DialogueLine("a", "hi", 0.1),),
                                   dialogue_source="model")
    preflight(sorakit.Take(frames=16, sound=by_model))  # the model speaks: no voice, no VITS library needed
    assert asked == [("a/gen", "state_dict.bin"), ("a/music", "state_dict.bin")]
    asked.clear()
    monkeypatch.setattr(soundtrack, "_installed", lambda name: True)
    transformers_music = dataclasses.replace(by_model, ambience="", music_model=tiny["musicgen"], backend="auto")
    preflight(sorakit.Take(frames=16, sound=transformers_music))
    assert asked == [(tiny["musicgen"], "config.json")]  # transformers' MusicGen folder: its config
    with pytest.raises(sorakit.InvalidInput, match=r"^sound.dialogue\[0\]: no$"):
        preflight(sorakit.Take(frames=16, sound=dataclasses.replace(transformers_music, dialogue_source="voice")))
