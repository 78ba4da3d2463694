"""The storyboard's parts, each on its own and fast: the join's exact blend, the film-wide sound's
Take, how each film line is said to be heard, the lip-sync and consistency measures over the film,
and a 'continue' shot's start frame. test_storyboard.py renders whole films end to end."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit.audio.soundtrack import LIP_SYNCED, OVERLAID, SpokenLine
from sorakit.clip import Clip, Provenance
from sorakit.generate import FILM_SPEECH
from sorakit.storyboard import Character, Film, Shot, Storyboard, _start_frame
from sorakit.take import DialogueLine

W, H, FPS, RATE = 48, 32, 16, 48_000


def take(frames: int, seed: int = 0) -> sorakit.Take:
    return sorakit.Take(frames=frames, fps=FPS, width=W, height=H, seed=seed,
                        physics=sorakit.PhysicsConfig(scene="bouncing_balls"))


def flat(frames: int, level: int, *, tone: float = 0.0, dialogue: str = "") -> Clip:
    """A clip of ``frames`` frames all at grey ``level``, with a steady tone (amplitude ``tone``)."""
    pictures = np.full((frames, H, W, 3), level, np.uint8)
    n = int(round(frames / FPS * RATE))
    audio = np.full((2, n), tone, np.float32)
    provenance = dataclasses.replace(Provenance.now("previz", "previz", 0), dialogue=dialogue)
    return Clip(pictures, FPS, audio, RATE, take(frames), provenance)


def line(start: float, end: float) -> SpokenLine:
    return SpokenLine("Ana", "Look out!", "", start, end)


# -- the join ---------------------------------------------------------------------------------------


def test_a_crossfade_blends_frame_by_frame_and_a_cut_does_not() -> None:
    board = Storyboard((Shot(take(12)), Shot(take(12), join="crossfade"), Shot(take(8))), crossfade=0.25,
                       loudness=None)  # 4 frames of dissolve, then a cut
    film = board._join([flat(12, 0), flat(12, 200), flat(8, 50)], "complete", ())
    assert film.starts == (0.0, 0.5, 1.25) and film.frames.shape == (12 + 12 - 4 + 8, H, W, 3)
    levels = film.frames[:, 0, 0, 0].tolist()
    # the incoming shot weighs 1/5, 2/5, 3/5, 4/5 across the four overlapping frames, the outgoing the rest
    assert levels == [0] * 8 + [40, 80, 120, 160] + [200] * 8 + [50] * 8
    assert (film.frames == film.frames[:, :1, :1]).all()  # every pixel as its frame's first
    cut = Storyboard((Shot(take(12)), Shot(take(12))), loudness=None)._join([flat(12, 0), flat(12, 200)], "complete", ())
    assert cut.frames[:, 0, 0, 0].tolist() == [0] * 12 + [200] * 12 and cut.starts == (0.0, 0.75)


def test_a_shot_between_two_crossfades_fades_in_and_out() -> None:
    board = Storyboard((Shot(take(8)), Shot(take(12), join="crossfade"), Shot(take(8), join="crossfade")),
                       crossfade=0.125, loudness=None)  # 2-frame dissolves
    film = board._join([flat(8, 0), flat(12, 150), flat(8, 0)], "complete", ())
    assert film.frames[:, 0, 0, 0].tolist() == [0] * 6 + [50, 100] + [150] * 8 + [100, 50] + [0] * 6


def test_the_shots_sound_runs_on_the_films_timeline() -> None:
    board = Storyboard((Shot(take(16)), Shot(take(16))), loudness=None)
    film = board._join([flat(16, 0, tone=0.1), flat(16, 0, tone=-0.2)], "complete", ())
    assert film.audio.shape == (2, 2 * RATE) and film.sample_rate == RATE
    assert film.audio[0, RATE // 2] == pytest.approx(0.1, abs=1e-4)
    assert film.audio[0, RATE + RATE // 2] == pytest.approx(-0.2, abs=1e-4)


def test_no_shots_make_an_empty_film_that_says_why() -> None:
    from sorakit.storyboard import ShotEvent

    board = Storyboard((Shot(take(8)),))
    log = (ShotEvent(0, 1, "rendering", "shot_01.mp4"), ShotEvent(0, 1, "stopped", ""))
    film = board._join([], "stopped in shot 1 of 1", log)
    assert film.frames.shape == (0, H, W, 3) and film.frames.dtype == np.uint8
    assert film.audio.shape == (2, 0) and film.audio.dtype == np.float32
    assert (film.fps, film.sample_rate, film.shots, film.starts, film.soundtrack, film.status, film.log) == (
        FPS, RATE, (), (), None, "stopped in shot 1 of 1", log)


def test_the_sound_crossfades_where_the_picture_does_and_fades_briefly_at_a_cut() -> None:
    board = Storyboard((Shot(take(16)), Shot(take(16), join="crossfade"), Shot(take(16))), crossfade=0.25,
                       loudness=None)
    film = board._join([flat(16, 0, tone=0.1), flat(16, 0, tone=0.3), flat(16, 0, tone=0.2)], "complete", ())
    mono = film.audio.mean(axis=0)
    assert mono[0] == pytest.approx(0.1, abs=1e-3) and mono[-1] == pytest.approx(0.2, abs=1e-3)  # no fade at the ends
    start, end = int(0.75 * RATE), int(1.0 * RATE)  # the quarter-second dissolve
    assert mono[start + 10] == pytest.approx(0.1, abs=0.01) and mono[end - 10] == pytest.approx(0.3, abs=0.01)
    assert mono[(start + end) // 2] == pytest.approx(0.2, abs=0.01)  # half of each: one going out, one coming in
    cut = int(1.75 * RATE)  # shot 3 starts; a 5 ms fade each side, no dissolve
    assert mono[cut - int(0.05 * RATE)] == pytest.approx(0.3, abs=1e-3)
    assert mono[cut + int(0.05 * RATE)] == pytest.approx(0.2, abs=1e-3)
    assert np.abs(mono[cut - 48:cut + 48]).min() < 0.05  # dipped at the cut itself
    stems = film.soundtrack.mix.tracks if film.soundtrack is not None else ()
    assert [t.label for t in stems if t.name == "shots"] == ["shot 1", "shot 2", "shot 3"]


def test_lines_spoken_inside_a_shot_are_on_the_films_timeline() -> None:
    board = Storyboard((Shot(take(16)), Shot(take(16))), loudness=None)
    plain = board._join([flat(16, 0), flat(16, 0)], "complete", ())
    assert plain.soundtrack is not None and plain.soundtrack.lines == ()
    said = SpokenLine("Ana", "Hi.", "p225", 0.2, 0.4)
    speaking = dataclasses.replace(flat(16, 0), soundtrack=dataclasses.replace(plain.soundtrack, lines=(said,)))
    film = board._join([flat(16, 0), speaking], "complete", ())
    assert film.soundtrack is not None and film.soundtrack.lines == (dataclasses.replace(said, start=1.2, end=1.4),)


# -- the film-wide sound ----------------------------------------------------------------------------


def test_the_film_wide_sound_is_carried_by_a_take_of_the_films_length() -> None:
    cast = (Character("Ana", voice="p225"), Character("Bo"))
    lines = (DialogueLine("Ana", "Look out!", 0.2), DialogueLine("Bo", "What?", 1.0),
             DialogueLine("Cy", "Here.", 1.4, voice="p230"), DialogueLine("Dee", "Hm.", 1.6))
    board = Storyboard((Shot(take(12, seed=7)), Shot(take(20, seed=8), join="crossfade")), cast=cast,
                       music="a warm pad", music_model="some/music", music_backend="transformers", dialogue=lines,
                       crossfade=0.25, loudness=-20.0)
    bed = board._bed_take()
    assert board.duration == pytest.approx(28 / FPS)
    assert (bed.frames, bed.fps, bed.size, bed.seed) == (28, FPS, (W, H), 7)  # the first shot's seed and size
    assert bed.physics == sorakit.PhysicsConfig() and bed.model == "previz"
    s = bed.sound
    assert (s.foley, s.music, s.music_model, s.backend, s.loudness) == (False, "a warm pad", "some/music",
                                                                      "transformers", -20.0)
    # the cast member's voice; a cast member without one; the line's own; someone not in the cast
    assert [x.voice for x in s.dialogue] == ["p225", "", "p230", ""]
    assert [x.text for x in s.dialogue] == ["Look out!", "What?", "Here.", "Hm."]


# -- how each film line is heard -------------------------------------------------------------------


def test_a_film_line_is_lip_synced_only_where_every_shot_under_it_was_made_to_it() -> None:
    board = Storyboard((Shot(take(16)), Shot(take(16))))
    made = flat(16, 0, dialogue=f"{FILM_SPEECH} (speech sha256 0123)")
    plain = flat(16, 0)
    starts = [0.0, 1.0]
    assert board._how(line(0.2, 0.8), [made, plain], starts).how == LIP_SYNCED  # over the first shot only
    assert board._how(line(1.2, 1.8), [made, plain], starts).how == OVERLAID  # over the second only
    assert board._how(line(0.8, 1.3), [made, plain], starts).how == OVERLAID  # across the cut: one was not
    assert board._how(line(0.8, 1.3), [made, made], starts).how == LIP_SYNCED
    assert board._how(line(1.0, 1.5), [made, plain], starts).how == OVERLAID  # starts at the cut: the second's
    assert board._how(line(0.5, 1.0), [made, plain], starts).how == LIP_SYNCED  # ends at the cut: the first's
    assert board._how(line(2.5, 3.0), [made, made], starts).how == OVERLAID  # after the film: over no shot


# -- measures over the film ------------------------------------------------------------------------


def test_lip_sync_is_measured_where_lines_are_heard_over_the_films_sound(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    lipsync_module = importlib.import_module("sorakit.lipsync")  # sorakit.lipsync is also the function
    board = Storyboard((Shot(take(16)), Shot(take(16)), Shot(take(16))), loudness=None)
    film = board._join([flat(16, 0, tone=0.1), flat(16, 0, tone=0.2), flat(16, 0, tone=0.3)], "complete", ())
    assert film.lip_sync() == (None, None, None)  # no lines: nothing to measure
    assert film.soundtrack is not None
    spoken = dataclasses.replace(film, soundtrack=dataclasses.replace(film.soundtrack, lines=(line(1.2, 1.5),)))
    heard: list[Clip] = []
    monkeypatch.setattr(lipsync_module, "lipsync", lambda clip: heard.append(clip) or "measured")
    assert spoken.lip_sync() == (None, "measured", None)
    [clip] = heard
    assert clip.sample_rate == RATE and clip.stems == {} and clip.frames is spoken.shots[1].frames
    np.testing.assert_array_equal(clip.audio, spoken.audio[:, RATE:2 * RATE])  # the film's sound over shot 2
    without = dataclasses.replace(film, soundtrack=None)
    assert without.lip_sync() == (None, None, None)


def test_consistency_hands_on_the_cast_model_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    import sorakit.consistency

    @dataclasses.dataclass(frozen=True)
    class Report:
        lip_sync: Any = None

    asked: list[dict[str, Any]] = []

    def measure(shots: Any, **kw: Any) -> Report:
        asked.append({"shots": shots, **kw})
        return Report()

    monkeypatch.setattr(sorakit.consistency, "measure", measure)
    film = Storyboard((Shot(take(8)),), loudness=None)._join([flat(8, 0)], "complete", ())
    film = dataclasses.replace(film, cast=(Character("Ana", reference="ana.png"), Character("Bo")))
    report = film.consistency(model="some/clip", device="cpu")
    assert asked[-1] == {"shots": film.shots, "cast": {"Ana": "ana.png"}, "model": "some/clip", "device": "cpu"}
    assert report.lip_sync == (None,)
    film.consistency()
    assert asked[-1]["model"] == sorakit.consistency.DEFAULT_EMBEDDER and asked[-1]["device"] is None
    dataclasses.replace(film, cast=(Character("Bo"),)).consistency()
    assert asked[-1]["cast"] is None  # nobody to look for


# -- a 'continue' shot's start ----------------------------------------------------------------------


def test_a_continue_shots_start_is_the_last_frame_named_by_the_shot_before(tmp_path: Path) -> None:
    from PIL import Image

    before = flat(8, 90)
    before = dataclasses.replace(before, frames=np.concatenate([before.frames[:-1], np.full((1, H, W, 3), 33, np.uint8)]))
    (tmp_path / "shot_01.json").write_text(json.dumps({"mp4_sha256": "abcdef0123456789ff"}))
    stale = tmp_path / "shot_02_start_000000000000.png"
    stale.write_bytes(b"old")
    other = tmp_path / "shot_03_start_000000000000.png"
    other.write_bytes(b"another shot's")
    still = _start_frame(tmp_path, 1, before)
    assert still == tmp_path / "shot_02_start_abcdef012345.png"
    assert np.array_equal(np.asarray(Image.open(still)), before.frames[-1])
    assert not stale.exists() and other.exists()  # an older start of this shot goes; another shot's stays
    again = _start_frame(tmp_path, 1, flat(8, 200))  # already made for this shot before: kept as it is
    assert again == still and np.array_equal(np.asarray(Image.open(still)), before.frames[-1])


def test_film_duration_is_its_frames_over_its_rate() -> None:
    film = Storyboard((Shot(take(8)),), loudness=None)._join([flat(8, 0)], "complete", ())
    assert isinstance(film, Film) and film.duration == 0.5


# -- a shot's Take in the film ---------------------------------------------------------------------

ASTRONAUT = str(Path(__file__).resolve().parent.parent / "assets" / "cameo_astronaut.png")


def test_a_matched_shot_takes_the_look_of_the_one_before() -> None:
    before = sorakit.Take(model="wan2.1-t2v-1.3b", prompt="a", seed=5, width=480, height=272, steps=12,
                          guidance_scale=4.5, negative_prompt="blur")
    own = sorakit.Take(model="ltx-video", prompt="b", seed=9, width=256, height=256, steps=30, guidance_scale=3.0)
    board = Storyboard((Shot(own, join="match"), Shot(own, join="match"), Shot(own)))
    matched = board._resolved(1, before)
    assert (matched.model, matched.seed, matched.size, matched.steps, matched.guidance_scale,
            matched.negative_prompt, matched.prompt) == ("wan2.1-t2v-1.3b", 5, (480, 272), 12, 4.5, "blur", "b")
    assert board._resolved(0, before) == own  # the first shot has nothing before it to match
    assert board._resolved(2, before) == own  # a cut keeps its own look


def test_a_continued_shot_starts_from_the_frame_it_is_given() -> None:
    own = sorakit.Take(model="ltx-video", prompt="b", width=256, height=256)
    board = Storyboard((Shot(own), Shot(own, join="continue")))
    cont = board._resolved(1, own, first_frame="shot_02_start_abc.png")
    assert (cont.mode, cont.first_frame) == ("i2v", "shot_02_start_abc.png")
    assert board._resolved(1, own) == own  # its start frame is not made yet
    assert board._resolved(0, own, first_frame="x.png") == own  # a cut is not started from a frame


def test_the_first_cast_member_with_a_cameo_conditions_picture_takes() -> None:
    ana = Character("Ana", cameo=sorakit.Cameo(ASTRONAUT, "Eileen Collins", consent=True))
    bo = Character("Bo")
    i2v = sorakit.Take(model="ltx-video", prompt="b", mode="i2v", width=256, height=256)
    board = Storyboard((Shot(i2v, characters=("Bo", "Ana")),), cast=(ana, bo))
    got = board._resolved(0, i2v)
    assert (got.cameo, got.cameo_name, got.cameo_consent) == (ASTRONAUT, "Eileen Collins", True)
    for mode in ("vace",):
        vace = sorakit.Take(model="wan2.1-vace-1.3b", prompt="b", mode=mode, width=256, height=256)
        assert Storyboard((Shot(vace, characters=("Ana",)),), cast=(ana,))._resolved(0, vace).cameo == ASTRONAUT
    t2v = i2v.replace(mode="t2v")
    assert Storyboard((Shot(t2v, characters=("Ana",)),), cast=(ana,))._resolved(0, t2v).cameo is None  # no picture
    mine = i2v.replace(cameo="me.png", cameo_name="Me", cameo_consent=True)
    assert Storyboard((Shot(mine, characters=("Ana",)),), cast=(ana,))._resolved(0, mine).cameo == "me.png"
    cont = Storyboard((Shot(t2v), Shot(i2v, join="continue", characters=("Ana",))), cast=(ana,))
    assert cont._resolved(1, t2v).cameo is None  # a continued shot starts from the frame before, not a photo


def test_each_line_of_a_shot_is_spoken_in_its_speakers_voice() -> None:
    lines = (DialogueLine("Ana", "Hi.", 0.1), DialogueLine("Bo", "Yo.", 0.5, voice="p230"))
    t = sorakit.Take(sound=sorakit.SoundConfig(dialogue=lines))
    board = Storyboard((Shot(t),), cast=(Character("Ana", voice="p225"),))
    assert [x.voice for x in board._resolved(0, t).sound.dialogue] == ["p225", "p230"]
    quiet = sorakit.Take(sound=sorakit.SoundConfig(dialogue=(DialogueLine("Cy", "Hm.", 0.1),)))
    unvoiced = Storyboard((Shot(quiet),), cast=board.cast)
    assert unvoiced._resolved(0, quiet) == quiet  # nobody in the cast speaks it: the Take as it was


# -- the saved film ----------------------------------------------------------------------------------


def test_the_film_is_saved_with_its_sidecar_label_and_signed_manifest(tmp_path: Path) -> None:
    import av

    from sorakit import _serde, credentials
    from sorakit._version import __version__
    from sorakit.sidecar import AI_LABEL, FILM_FORMAT, file_sha256, take_hash

    first = dataclasses.replace(flat(8, 40), take=take(8, seed=3))
    second = dataclasses.replace(flat(8, 160), take=take(8, seed=4))
    second = dataclasses.replace(second, provenance=dataclasses.replace(
        second.provenance, cameo="Eileen Collins; consent given; photo sha256 0123abcd"))
    for i, clip in enumerate((first, second)):
        clip.save(tmp_path / f"shot_{i + 1:02d}.mp4")
    board = Storyboard((Shot(first.take), Shot(second.take)), name="reel", loudness=None)
    film = board._join([first, second], "complete", ())
    path = board._save(film, tmp_path)
    assert path == tmp_path / "reel.mp4"
    side = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert (side["format"], side["label"], side["sorakit_version"]) == (FILM_FORMAT, AI_LABEL, __version__)
    assert side["mp4_sha256"] == file_sha256(path) and side["storyboard"] == _serde.to_dict(board)
    assert side["shots"] == [
        {"path": "shot_01.mp4", "start": 0.0, "take_sha256": take_hash(first.take), "model_id": "previz", "seed": 3,
         "cameo": ""},
        {"path": "shot_02.mp4", "start": 0.5, "take_sha256": take_hash(second.take), "model_id": "previz", "seed": 4,
         "cameo": "Eileen Collins; consent given; photo sha256 0123abcd"}]
    assert side["video"] == {"frames": 16, "fps": FPS}
    assert side["audio"]["sample_rate"] == RATE and side["audio"]["samples"] == RATE
    assert side["soundtrack"] == json.loads(json.dumps(_serde.to_dict(film.soundtrack)))
    with av.open(str(path)) as f:
        assert f.metadata["comment"].endswith("(storyboard)") and AI_LABEL in f.metadata["comment"]
        assert f.metadata["description"] == "2 shots; storyboard reel"
    signed = credentials.read(path)
    assert signed.signed and signed.provenance is not None
    assert signed.provenance["cameo_consent"] == "Eileen Collins; consent given"  # never the photo's hash
    assert signed.provenance["model_id"] == "storyboard" and signed.provenance["backend"] == "storyboard"
    assert signed.ingredients == ("shot_01.mp4", "shot_02.mp4")


# -- the storyboard's rules, each at its edge, each message whole -----------------------------------


def shots(*frames: int, **kw: Any) -> tuple[Shot, ...]:
    return tuple(Shot(take(n), **kw) if i else Shot(take(n)) for i, n in enumerate(frames))


def refusal(board: Storyboard) -> str:
    with pytest.raises(sorakit.InvalidInput) as info:
        board.validate()
    return str(info.value)


def test_the_crossfade_and_loudness_rules_at_their_edges() -> None:
    two = shots(24, 24)
    for ok in (5.0, 1 / 16):  # the longest dissolve; one frame at 16 fps
        Storyboard(two, crossfade=ok).validate()
    for bad in (0.0, 5.01, float("nan"), float("inf")):
        assert refusal(Storyboard(two, crossfade=bad)) == (f"crossfade={bad!r}: must be in (0, 5] seconds; 0.5 is a "
                                                           "soft dissolve")
    Storyboard(shots(24, 24, join="crossfade"), crossfade=1 / 16).validate()  # one frame blends
    assert refusal(Storyboard(shots(24, 24, join="crossfade"), crossfade=0.03)) == (
        "crossfade=0.03: shorter than one frame at 16 fps (0.0625 s), so nothing would blend; use at least 0.0625 s, "
        "or join='cut'")
    # a crossfade as long as a shot it joins (the one before it included) is refused
    assert refusal(Storyboard(shots(8, 24, join="crossfade"), crossfade=0.5)) == (
        "shots[1]: a crossfade of 0.5 s needs both shots longer than it")
    three = (Shot(take(8)), Shot(take(24), join="crossfade"), Shot(take(24)))
    assert refusal(Storyboard(three, crossfade=0.5)).startswith("shots[1]: a crossfade of 0.5 s")
    for ok_loudness in (-40.0, -5.0, None):
        Storyboard(two, loudness=ok_loudness).validate()
    for bad_loudness in (-40.5, -4.5, float("nan")):
        assert refusal(Storyboard(two, loudness=bad_loudness)) == (
            f"loudness={bad_loudness!r}: must be in [-40, -5] LUFS or None; -16 suits web and phone video, -23 broadcast")


def test_the_joins_cast_and_lines_rules_in_words(tmp_path: Path) -> None:
    assert refusal(Storyboard(())) == "shots=(): a storyboard needs at least one shot"
    for join in ("continue", "match", "crossfade"):
        assert refusal(Storyboard((Shot(take(8), join=join),))) == (
            f"shots[0].join={join!r}: the first shot has nothing to join; use 'cut'")
    assert refusal(Storyboard((Shot(take(8)), Shot(take(8), characters=("Ana",))), cast=(Character("Bo"),
                                                                                         Character("Cy")))) == (
        "shots[1].characters: 'Ana' is not in the cast (Bo, Cy)")
    assert refusal(Storyboard((Shot(take(8), characters=("Ana",)),))) == (
        "shots[0].characters: 'Ana' is not in the cast (empty)")
    assert refusal(Storyboard(shots(8), cast=(Character("Ana", reference="nope.png"),))) == (
        "cast 'Ana': reference='nope.png': no such file")
    picture = tmp_path / "ana.png"
    picture.write_bytes(b"a picture")
    Storyboard(shots(8), cast=(Character("Ana", reference=str(picture)),)).validate()
    wan = sorakit.Take(model="wan2.1-t2v-1.3b", prompt="a", width=128, height=128, frames=9, fps=16)
    assert refusal(Storyboard((Shot(wan), Shot(wan, join="continue")))) == (
        "shots[1].join='continue': it starts from the previous shot's last frame, which needs an image-to-video "
        "model; wan2.1-t2v-1.3b runs t2v, v2v. Use 'cut', or a model with i2v")
    Storyboard((Shot(wan), Shot(take(9).replace(prompt="b", width=128, height=128), join="match"))).validate()
    line = DialogueLine("Ana", "Hi.", 0.0)
    for bad in (dataclasses.replace(line, start=1.5), dataclasses.replace(line, text="  ")):
        assert refusal(Storyboard(shots(8, 16), dialogue=(bad,))) == (
            "dialogue[0]: a line needs text and a start within the film [0, 1.5) s")


def test_a_render_writes_its_storyboard_first_in_a_folder_it_makes(tmp_path: Path) -> None:
    from sorakit import _serde

    board = Storyboard(shots(8), cast=(Character("Zoë"),))
    out = tmp_path / "a" / "b"  # made, parents included
    film = board.render(out)
    text = (out / "storyboard.json").read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(json.dumps(_serde.to_dict(board)))
    assert '"Zoë"' in text and text.startswith('{\n  "')  # as written: readable, two-space indented
    assert film.status == "complete" and film.path == out / "film.mp4"
    assert [(e.index, e.total, e.state, e.path) for e in film.log] == [
        (0, 1, "rendering", str(out / "shot_01.mp4")), (0, 1, "rendered", str(out / "shot_01.mp4"))]
    again = board.render(out)
    assert [(e.index, e.total, e.state, e.path) for e in again.log] == [(0, 1, "loaded", str(out / "shot_01.mp4"))]


def test_a_wrong_type_is_refused_by_where_it_is_with_what_to_write() -> None:
    assert refusal(Storyboard((Shot(take(8)), Shot(take(8).replace(seed="x"))))) == (  # type: ignore[arg-type]
        "shots[1].take.seed: expected an integer, got 'x' (str); write a whole number such as 30")
    assert refusal(Storyboard((Shot(take(8), characters=("Ana", 3)),),  # type: ignore[arg-type]
                              cast=(Character("Ana"),))) == (
        "shots[0].characters=('Ana', 3): must be a tuple of cast names; write characters=('Ana',)")
    # a long value is cut to 57 characters and '...'
    assert refusal(Storyboard(shots(8), cast=(Character("Ana"), "Bo"))) == (  # type: ignore[arg-type]
        "cast=(Character(name='Ana', cameo=None, reference=None, voice=...: must be a tuple of sorakit.Character; "
        "write cast=(Character('Ana'),)")
    assert refusal(Storyboard(shots(8), cast=(Character("Ana", voice=3),))) == (  # type: ignore[arg-type]
        "cast=Character(name='Ana', cameo=None, reference=None, voice=3): a character's name and voice are strings; "
        "write Character('Ana', voice='')")
    hi = DialogueLine("Ana", "Hi", 0.0)
    assert refusal(Storyboard(shots(8), dialogue=(hi, "x"))) == (  # type: ignore[arg-type]
        "dialogue=(DialogueLine(speaker='Ana', text='Hi', start=0.0, voice=...: must be a tuple of "
        "sorakit.DialogueLine; write dialogue=(DialogueLine('Ana', 'Hi', 0.5),)")
    assert refusal(Storyboard(shots(8), dialogue=(hi, DialogueLine("Ana", "Hi", "soon")))) == (  # type: ignore[arg-type]
        "dialogue[1].start: expected a number, got 'soon' (str); write a number such as 5.0")
    assert refusal(Storyboard(shots(8), crossfade=True)) == (
        "crossfade=True: must be a number of seconds; 0.5 is a soft dissolve")  # a bool is not a number here
    # and what is right passes: a line at the film's very start, a tiny crossfade where nothing dissolves
    Storyboard(shots(8, 16), dialogue=(hi,)).validate()
    Storyboard(shots(24, 24), crossfade=0.03).validate()


def test_a_stop_is_logged_in_the_shot_it_stopped(tmp_path: Path) -> None:
    events: list[Any] = []
    board = Storyboard(shots(8, 8))
    film = board.render(tmp_path, on_shot=events.append, should_stop=lambda: len(events) > 2)
    states = [(e.index, e.total, e.state, e.path) for e in events]
    assert states == [(0, 2, "rendering", str(tmp_path / "shot_01.mp4")), (0, 2, "rendered", str(tmp_path / "shot_01.mp4")),
                      (1, 2, "rendering", str(tmp_path / "shot_02.mp4")), (1, 2, "stopped", "")]
    assert film.status.startswith("stopped in shot 2 of 2") and film.log == tuple(events)
    assert (tmp_path / "shot_01.mp4").is_file() and not (tmp_path / "shot_02.mp4").exists()


def test_a_film_that_cannot_be_saved_says_so_as_the_render(tmp_path: Path) -> None:
    from sorakit.errors import BadPath

    board = Storyboard(shots(8), name="reel", loudness=None)
    film = board._join([flat(8, 40)], "complete", ())
    (tmp_path / "reel.mp4").mkdir()
    with pytest.raises(BadPath, match=r"^Storyboard\.render: path=.*reel\.mp4': .*reel\.mp4 is a folder; pick a file"):
        board._save(film, tmp_path)


def test_a_render_hands_its_progress_and_step_callback_to_each_shot(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    generating = importlib.import_module("sorakit.generate")  # the module (sorakit.generate is the function)
    asked: list[dict[str, Any]] = []
    real = generating.generate

    def spy(take: Any, **kw: Any) -> Any:
        asked.append(kw)
        return real(take, **kw)

    monkeypatch.setattr(generating, "generate", spy)
    steps: list[Any] = []
    Storyboard(shots(8, 8)).render(tmp_path, progress=False, on_step=steps.append)
    assert len(asked) == 2 and all(kw["progress"] is False and kw["on_step"] == steps.append for kw in asked)
