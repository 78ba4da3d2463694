"""Storyboards: shots rendered in order, saved as they finish, resumed after a stop, a Ctrl-C or a
SIGKILL, and joined into one film whose sound runs across the cuts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import _media
from sorakit.storyboard import Shot, ShotEvent, Storyboard

W, H, FPS = 96, 64, 16


def three_shots(frames: tuple[int, int, int] = (24, 16, 20)) -> tuple[Shot, ...]:
    scenes = ("basketball", "dominoes", "bouncing_balls")
    return tuple(Shot(sorakit.Take(frames=n, fps=FPS, width=W, height=H, seed=i,
                                   physics=sorakit.PhysicsConfig(scene=scene)))
                 for i, (n, scene) in enumerate(zip(frames, scenes)))


@pytest.fixture(scope="module")
def tiny_music(tmp_path_factory: pytest.TempPathFactory) -> str:
    from sorakit.tiny import musicgen as tiny_musicgen_hf

    return str(tiny_musicgen_hf.build(tmp_path_factory.mktemp("music"), max_duration=2.0))


def test_three_shots_join_into_one_film_with_the_summed_duration(tmp_path: Path, tiny_music: str) -> None:
    board = Storyboard(three_shots(), music="a warm synth pad", music_model=tiny_music, music_backend="transformers")
    film = board.render(tmp_path)
    assert film.status == "complete" and film.path == tmp_path / "film.mp4"
    assert [e.state for e in film.log] == ["rendering", "rendered"] * 3
    assert film.starts == (0.0, 1.5, 2.5) and film.duration == 60 / FPS
    frames, fps, audio, rate = _media.read_mp4(film.path)
    assert frames.shape[0] == 60 and fps == FPS
    assert audio is not None and abs(audio.shape[1] / rate - 60 / FPS) < 0.03
    for i in (1, 2, 3):
        assert sorakit.verify(tmp_path / f"shot_{i:02d}.mp4").ok
    assert sorakit.verify(film.path).ok
    side = json.loads(film.path.with_suffix(".json").read_text())
    assert side["format"] == "sorakit.film/1" and [s["start"] for s in side["shots"]] == [0.0, 1.5, 2.5]
    # the sound runs across each cut: no gap, no click where the shots meet
    mono = film.audio.mean(axis=0)
    for start in film.starts[1:]:
        at = int(start * rate)
        around = mono[at - 2400:at + 2400]
        assert np.sqrt(np.mean(around[:2400] ** 2)) > 1e-3 and np.sqrt(np.mean(around[2400:] ** 2)) > 1e-3
        jump = np.abs(np.diff(mono[at - 8:at + 8])).max()
        assert jump < 6 * np.abs(np.diff(around)).mean() + 1e-3


def test_a_crossfade_overlaps_and_blends(tmp_path: Path) -> None:
    shots = three_shots((24, 24, 16))
    board = Storyboard((shots[0], Shot(shots[1].take, join="crossfade")), crossfade=0.5)
    film = board.render(tmp_path)
    assert film.starts == (0.0, 1.0) and film.frames.shape[0] == 24 + 24 - 8
    a, b = film.shots[0].frames[-4].astype(float), film.shots[1].frames[3].astype(float)
    mid = film.frames[20].astype(float)  # half-way through the 8-frame dissolve
    assert np.abs(mid - (a + b) / 2).mean() < 3.0


def test_stopped_after_shot_two_resumes_without_rendering_shots_one_and_two(tmp_path: Path) -> None:
    board = Storyboard(three_shots())
    events: list[ShotEvent] = []
    state = {"shot": -1}

    def on_shot(e: ShotEvent) -> None:
        events.append(e)
        state["shot"] = e.index

    film = board.render(tmp_path, on_shot=on_shot, should_stop=lambda: state["shot"] == 2)
    assert film.status.startswith("stopped in shot 3 of 3") and film.path is None
    assert len(film.shots) == 2 and not (tmp_path / "shot_03.mp4").exists() and not (tmp_path / "film.mp4").exists()
    stamps = {i: (tmp_path / f"shot_{i:02d}.mp4").stat().st_mtime_ns for i in (1, 2)}
    again = board.render(tmp_path)
    assert [e.state for e in again.log] == ["loaded", "loaded", "rendering", "rendered"]
    assert {i: (tmp_path / f"shot_{i:02d}.mp4").stat().st_mtime_ns for i in (1, 2)} == stamps
    assert again.status == "complete" and again.duration == 60 / FPS


def test_ctrl_c_during_a_shot_keeps_the_finished_shots(tmp_path: Path) -> None:
    board = Storyboard(three_shots())
    seen = {"shot": -1}

    def on_step(step: object) -> None:
        if seen["shot"] == 2:
            raise KeyboardInterrupt  # Colab's Stop button, in the middle of shot 3

    with pytest.raises(KeyboardInterrupt):
        board.render(tmp_path, on_shot=lambda e: seen.update(shot=e.index), on_step=on_step)
    assert sorakit.verify(tmp_path / "shot_01.mp4").ok and sorakit.verify(tmp_path / "shot_02.mp4").ok
    assert not (tmp_path / "shot_03.mp4").exists() and not list(tmp_path.glob(".*.part"))
    assert [e.state for e in board.render(tmp_path).log] == ["loaded", "loaded", "rendering", "rendered"]


KILLED = textwrap.dedent("""
    import sys
    import sorakit
    from sorakit.storyboard import Shot, Storyboard

    shots = tuple(Shot(sorakit.Take(frames=n, fps=16, width=w, height=h, seed=i,
                                    physics=sorakit.PhysicsConfig(scene=s)))
                  for i, (n, w, h, s) in enumerate([(24, 96, 64, "basketball"), (16, 96, 64, "dominoes"),
                                                    (400, 96, 64, "bouncing_balls")]))

    def on_shot(e):
        print(e.state, e.index, flush=True)

    Storyboard(shots).render(sys.argv[1], on_shot=on_shot)
    print("done", flush=True)
""")


@pytest.mark.parametrize("kill_at", ["rendering 2", "rendered 2"])
def test_sigkill_at_any_point_leaves_finished_shots_intact_and_rerun_redoes_only_the_rest(
        tmp_path: Path, kill_at: str) -> None:
    """A process killed while shot 3 renders (or while the film is joined) leaves shots 1-2 whole and
    nothing half-written under a final name; the same render run again does only what is missing."""
    script = tmp_path / "render.py"
    script.write_text(KILLED)
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True,
                            cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == kill_at:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    for i in (1, 2):
        assert sorakit.verify(out / f"shot_{i:02d}.mp4").ok
    finals = {p.name for p in out.iterdir() if not p.name.startswith(".")}
    for name in finals:  # whatever is under a final name is whole
        if name.endswith(".mp4"):
            assert sorakit.verify(out / name).ok, name
    assert "film.mp4" not in finals or kill_at == "rendered 2"
    shots = tuple(Shot(sorakit.Take(frames=n, fps=16, width=96, height=64, seed=i,
                                    physics=sorakit.PhysicsConfig(scene=s)))
                  for i, (n, s) in enumerate([(24, "basketball"), (16, "dominoes"), (400, "bouncing_balls")]))
    again = Storyboard(shots).render(out)
    states = [e.state for e in again.log]
    assert states[:2] == ["loaded", "loaded"]
    assert states[2:] == (["rendering", "rendered"] if kill_at == "rendering 2" else ["loaded"])
    assert again.status == "complete" and not list(out.glob(".*.part"))


def test_a_changed_shot_is_rendered_again_and_the_others_are_not(tmp_path: Path) -> None:
    shots = three_shots()
    Storyboard(shots).render(tmp_path)
    changed = (shots[0], Shot(shots[1].take.replace(seed=9)), shots[2])
    assert [e.state for e in Storyboard(changed).render(tmp_path).log] == [
        "loaded", "rendering", "rendered", "loaded"]


def test_dialogue_runs_across_a_cut_in_the_cast_member_s_voice(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                               ) -> None:
    from sorakit.tiny import tts as tiny_tts

    voices = str(tiny_tts.build(tmp_path_factory.mktemp("voices"), speakers=2))
    cast = (sorakit.Character("coach", voice=voices + "#1"),)
    line = sorakit.DialogueLine("coach", "keep your eyes on the ball and follow through", 1.2)
    film = Storyboard(three_shots(), cast=cast, dialogue=(line,)).render(tmp_path)
    assert film.soundtrack is not None
    spoken = film.soundtrack.lines[0]
    assert spoken.voice == voices + "#1" and spoken.start == 1.2 and spoken.end > 1.5  # past the cut at 1.5 s


@pytest.mark.parametrize("board, message", [
    (lambda s: Storyboard(()), "shots=(): a storyboard needs at least one shot"),
    (lambda s: Storyboard(s, name="../escape"), "name='../escape': a film's name is 1-64 letters"),
    (lambda s: Storyboard((s[0], Shot(s[1].take, join="continue"))),
     "shots[1].join='continue': it starts from the previous shot's last frame, which needs an image-to-video "
     "model; previz runs t2v"),
    (lambda s: Storyboard((s[0], Shot(s[1].take.replace(width=128)))),
     "shots[1].take: 128x64 at 16 fps, but shot 0 is 96x64 at 16 fps"),
    (lambda s: Storyboard((s[0], Shot(s[1].take, characters=("Ana",)))), "shots[1].characters: 'Ana' is not in the cast"),
    (lambda s: Storyboard((Shot(s[0].take, join="crossfade"),)), "shots[0].join='crossfade': the first shot has nothing"),
    (lambda s: Storyboard((s[0], Shot(s[1].take, join="crossfade")), crossfade=0.03),
     "crossfade=0.03: shorter than one frame at 16 fps"),
    (lambda s: Storyboard((s[0], Shot(s[1].take.replace(steps=0)))), "steps=0: must be in [1, 200]"),
    (lambda s: Storyboard(s, cast=(sorakit.Character("Ana", cameo=sorakit.Cameo(
        str(Path(__file__).parent.parent / "assets" / "cameo_drawn_a.png"), "Ana")),)), "needs their consent"),
    (lambda s: Storyboard(s, music="a pad", music_model="../no/such/folder"),
     "sound.music_model='../no/such/folder': must be a hub id"),
    (lambda s: Storyboard(s, dialogue=(sorakit.DialogueLine("x", "hi", 9.0),)),
     "dialogue[0]: a line needs text and a start within the film [0, 3.75) s"),
])
def test_a_bad_storyboard_is_refused_before_anything_renders(tmp_path: Path, board: object, message: str) -> None:
    made = board(three_shots())  # type: ignore[operator]
    with pytest.raises(sorakit.InvalidInput) as err:
        made.render(tmp_path / "out")
    assert message in str(err.value)
    assert not (tmp_path / "out").exists()


def test_continue_starts_from_the_previous_shot_s_last_frame(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A 'continue' shot is image-to-video from the last frame of the shot before (saved beside the shots)."""
    pytest.importorskip("diffusers")
    from sorakit import models
    from sorakit.backends import family
    from sorakit.tiny import wan as tiny_wan

    folder = tiny_wan.build(tmp_path_factory.mktemp("wan-i2v"), "i2v")
    monkeypatch.setitem(models.MODELS, "tiny-wan-i2v-board", models.ModelSpec(
        name="tiny-wan-i2v-board", backend="diffusers", family="wan", model_id=str(folder), modes=("i2v",),
        frame_rule=(4, 1), min_size=16))
    fam = family("wan")
    seen: list[object] = []
    original = fam.call
    monkeypatch.setattr(fam, "call", lambda pipe, take, cond, *a: (seen.append(cond.image),
                                                                   original(pipe, take, cond, *a))[1])
    first = sorakit.Take(frames=16, fps=FPS, width=32, height=32, physics=sorakit.PhysicsConfig(scene="ramp"))
    second = sorakit.Take(model="tiny-wan-i2v-board", prompt="a red ball rolls on", frames=9, fps=FPS, width=32,
                          height=32, steps=2, memory="cpu", physics=sorakit.PhysicsConfig(scene=None))
    board = Storyboard((Shot(first), Shot(second, join="continue")))
    film = board.render(tmp_path)
    sha = json.loads((tmp_path / "shot_01.json").read_text())["mp4_sha256"]
    assert film.shots[1].take.first_frame == f"shot_02_start_{sha[:12]}.png"  # relative to the film's folder
    assert film.shots[1].take.mode == "i2v"
    np.testing.assert_array_equal(np.asarray(seen[0]), film.shots[0].frames[-1])
    assert film.frames.shape[0] == 16 + 9
    # a changed first shot is a new start for the second: both are rendered again
    changed = Storyboard((Shot(first.replace(seed=5)), Shot(second, join="continue")))
    assert [e.state for e in changed.render(tmp_path).log] == ["rendering", "rendered", "rendering", "rendered"]
    assert len(list(tmp_path.glob("shot_02_start_*.png"))) == 1
    # the folder moved (or spelled another way): nothing is rendered again
    moved = tmp_path.parent / (tmp_path.name + "-moved")
    tmp_path.rename(moved)
    again = Storyboard((Shot(first.replace(seed=5)), Shot(second, join="continue"))).render(moved / "." / "")
    assert [e.state for e in again.log] == ["loaded", "loaded"]


def test_the_film_reports_its_consistency_with_its_cast(tmp_path: Path,
                                                        tmp_path_factory: pytest.TempPathFactory) -> None:
    pytest.importorskip("transformers")
    from sorakit.tiny import clip as tiny_clip

    embedder = str(tiny_clip.build(tmp_path_factory.mktemp("clip")))
    drawn = str(Path(__file__).parent.parent / "assets" / "cameo_drawn_a.png")
    cast = (sorakit.Character("Ana", cameo=sorakit.Cameo(drawn, "Ana", consent=True)),)
    film = Storyboard(three_shots(), cast=cast).render(tmp_path)
    report = film.consistency(model=embedder)
    assert len(report.shots) == 3 and len(report.look_similarity) == 2 and len(report.color_drift) == 2
    assert [(m.name, m.shot) for m in report.cast] == [("Ana", 0), ("Ana", 1), ("Ana", 2)]
    assert report.verdict.startswith(("consistent", "inconsistent"))


def test_a_film_longer_than_one_previz_take_can_have_a_music_bed(tiny_music: str) -> None:
    long = tuple(Shot(sorakit.Take(frames=600, fps=FPS, width=W, height=H, seed=i)) for i in range(2))
    Storyboard(long, music="a pad", music_model=tiny_music, music_backend="transformers").validate()
    with pytest.raises(sorakit.InvalidInput, match=r"dialogue\[0\]: a line needs text and a start within the film"):
        Storyboard(long, dialogue=(sorakit.DialogueLine("x", "late", 80.0),)).validate()


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def test_each_shot_s_own_sound_is_in_the_film(tmp_path: Path) -> None:
    """Each shot's Foley lies in the film at the shot's start: the film's sound over a shot correlates
    with that shot's own sound (and not with another shot's)."""
    film = Storyboard(three_shots()).render(tmp_path)
    mono = film.audio.mean(axis=0)
    rate = film.sample_rate
    for i, (clip, start) in enumerate(zip(film.shots, film.starts)):
        own = clip.audio.mean(axis=0)
        assert clip.sample_rate == rate and np.abs(own).max() > 0.05, i  # the shot has sound of its own
        at, n = int(round(start * rate)), own.size - 480  # leave out the 5 ms fade where shots meet
        assert _correlation(mono[at + 240:at + n], own[240:n]) > 0.9, i
        if i:
            before = film.shots[i - 1].audio.mean(axis=0)
            m = min(n, before.size) - 240
            assert abs(_correlation(mono[at + 240:at + m], before[240:m])) < 0.5, i


def test_the_music_bed_ducks_under_lines_spoken_inside_shots(tmp_path: Path, tiny_music: str,
                                                             tmp_path_factory: pytest.TempPathFactory,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A line spoken inside shot 2 (its own Take's dialogue, not the film's) ducks the film's music bed."""
    from sorakit import storyboard
    from sorakit.tiny import tts as tiny_tts

    real_mix = storyboard.mix

    voices = str(tiny_tts.build(tmp_path_factory.mktemp("voices"), speakers=1))
    shots = list(three_shots())
    line = sorakit.DialogueLine("ref", "a ball bounces off the rim", 0.1, voices + "#0")
    shots[1] = Shot(shots[1].take.replace(sound=sorakit.SoundConfig(dialogue=(line,))))
    mixes: list[Any] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = real_mix(*args, **kwargs)
        mixes.append(out)
        return out

    monkeypatch.setattr(storyboard, "mix", spy)
    film = Storyboard(tuple(shots), music="a warm synth pad", music_model=tiny_music,
                      music_backend="transformers").render(tmp_path)
    assert film.soundtrack is not None
    spoken = [x for x in film.soundtrack.lines if x.text == line.text]
    assert len(spoken) == 1 and spoken[0].start == pytest.approx(film.starts[1] + 0.1)
    music = mixes[-1].stems["music"].mean(axis=0)
    rate = mixes[-1].rate

    def level(a: float, b: float) -> float:
        seg = music[int(a * rate):int(b * rate)]
        return 20 * np.log10(np.sqrt(np.mean(seg ** 2)) + 1e-12)

    during = level(spoken[0].start + 0.1, min(spoken[0].end, film.starts[2]) - 0.05)
    before = level(0.2, film.starts[1] - 0.2)
    assert before - during > 6.0, (before, during)
