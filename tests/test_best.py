"""Best of N by physics score: the score reads the report, the ranking follows it, takes are saved
as they finish and a second run resumes, on the previz and on a tiny video checkpoint."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import best, models
from sorakit.best import Score, best_of, score
from sorakit.physics import Ball, Change, Scene
from sorakit.previz import render
from sorakit.report import measure_frames

SMALL = dict(frames=24, width=160, height=96, fps=16)


def _drop() -> Scene:
    return Scene.room("drop", width=4.0, height=3.0).add(Ball("ball", 1.0, 2.4, 0.25, "rubber", vx=1.2))


def test_the_score_falls_when_the_physics_breaks() -> None:
    """A ball that floats for a moment (gravity switched off, staged in the scene) is judged against
    the scene without the surprise: it must score lower than the true fall, and both below 100."""
    fps, frames = 24, 36
    plain = sorakit.simulate(_drop(), frames=frames, fps=fps)
    floaty = sorakit.simulate(_drop().stage(Change(0.3, "gravity", value=0.0), Change(0.9, "gravity", value=-9.81)),
                              frames=frames, fps=fps)
    good = score(measure_frames(render(plain, 320, 240, trail=False).frames, fps, scene=_drop()))
    bad = score(measure_frames(render(floaty, 320, 240, trail=False).frames, fps, scene=_drop()))
    assert good.total > 80 and good.teleports == 0 and good.found > 0.95
    assert bad.total < good.total - 20
    assert bad.path_pct is not None and good.path_pct is not None and bad.path_pct > good.path_pct + 1.0


def test_best_of_ranks_by_score_saves_each_take_and_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    take = sorakit.Take(seed=5, physics=sorakit.PhysicsConfig(scene="bouncing_balls"), **SMALL)
    generate_module = importlib.import_module("sorakit.generate")

    real = generate_module.generate
    calls: list[int] = []

    def failing(t: sorakit.Take, **kw: Any) -> sorakit.Clip:
        calls.append(t.seed)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user stops the run during the third take
        return real(t, **kw)

    monkeypatch.setattr(generate_module, "generate", failing)
    with pytest.raises(KeyboardInterrupt):
        best_of(take, n=3, folder=tmp_path)
    folder = next(tmp_path.iterdir())
    assert sorted(p.name for p in folder.glob("*.mp4")) == ["seed-5.mp4", "seed-6.mp4"]  # saved as they finished
    calls.clear()
    seen: list[tuple[int, int, int, bool]] = []
    ranking = best_of(take, n=3, folder=tmp_path, on_take=lambda d, n, e: seen.append((d, n, e.seed, e.resumed)))
    assert calls == [7]  # only the take that had not finished is rendered again
    assert seen == [(1, 3, 5, True), (2, 3, 6, True), (3, 3, 7, False)]
    totals = [e.score.total for e in ranking.entries]
    assert totals == sorted(totals, reverse=True) and sorted(ranking.seeds) == [5, 6, 7]
    assert ranking.folder == folder and ranking.best.clip().take.seed == ranking.seeds[0]
    for e in ranking.entries:  # each score is the report's reading of the saved take
        assert e.score == score(sorakit.report.measure(sorakit.load(e.path)))
        record = json.loads(e.path.with_suffix(".score.json").read_text())
        assert record["score"]["total"] == e.score.total
    html = sorakit.display.ranking_html(ranking)
    assert html.count("<video controls autoplay muted loop") == 3 and f"physics {totals[0]:.1f}" in html


def test_a_damaged_or_stale_take_is_rendered_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    take = sorakit.Take(seed=1, **SMALL)
    first = best_of(take, seeds=[1, 2], folder=tmp_path)
    damaged = first.folder / "seed-2.mp4"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # a save cut short
    stale = first.folder / "seed-1.score.json"
    stale.write_text(json.dumps({"format": best.SCORE_FORMAT, "mp4_sha256": "0" * 64, "score": {}}))
    again = best_of(take, seeds=[1, 2], folder=tmp_path)
    resumed = {e.seed: e.resumed for e in again.entries}
    assert resumed == {1: True, 2: False}
    assert {e.seed: e.score for e in again.entries}[1] == {e.seed: e.score for e in first.entries}[1]  # re-scored


@pytest.mark.parametrize("kw, message", [
    (dict(n=0), r"n=0: best_of renders 1 to 64 takes"),
    (dict(seeds=[1, 1]), r"seeds=\[1, 1\]: give 1 to 64 different seeds"),
    (dict(seeds=[-1]), r"seeds: -1 is not a seed"),
    (dict(n=2, take=dict(physics=sorakit.PhysicsConfig(scene=None), model="wan2.1-t2v-1.3b", prompt="x")),
     r"physics.scene=None: best_of scores each take against its physics scene"),
    (dict(n=2, take=dict(fps=0)), r"fps=0"),
])
def test_bad_input_is_refused_before_anything_renders(tmp_path: Path, kw: dict[str, Any], message: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    generate_module = importlib.import_module("sorakit.generate")

    monkeypatch.setattr(generate_module, "generate", lambda *a, **k: pytest.fail("rendered"))
    kw = dict(kw)  # the parameters are shared by every run of the test in a process (mutmut runs it twice)
    take = sorakit.Take(**{**SMALL, **kw.pop("take", {})})
    with pytest.raises(sorakit.InvalidInput, match=message):
        best_of(take, folder=tmp_path, **kw)
    assert list(tmp_path.iterdir()) == []


def test_best_of_on_a_tiny_video_model(tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    tiny = importlib.import_module("sorakit.tiny.wan")
    folder = tiny.build(tmp_path / "tiny-wan", "t2v")
    card = models.Card(width=32, height=32, frames=9, fps=8, steps=2, guidance_scale=5.0, ttm=(6, 25))
    models.register(models.ModelSpec(name="best-tiny-wan", backend="diffusers", family="wan", model_id=str(folder),
                                     modes=("t2v",), size_multiple=16, frame_rule=(4, 1), max_frames=33, min_size=16,
                                     card=card))
    try:
        take = sorakit.Take(model="best-tiny-wan", prompt="a ball", memory="cpu",
                            physics=sorakit.PhysicsConfig(scene="basketball", strength=0.5))
        ranking = best_of(take, n=2, folder=tmp_path / "runs", progress=False)
        totals = [e.score.total for e in ranking.entries]
        assert totals == sorted(totals, reverse=True) and sorted(ranking.seeds) == [0, 1]
        assert all(0 < t <= 100 for t in totals)
        assert "Time-to-Move" in ranking.best.clip().provenance.guidance
    finally:
        models.MODELS.pop("best-tiny-wan", None)
        from sorakit.backends import _runtime

        _runtime.clear_cache()


def test_the_studio_runs_best_of_and_shows_scores(tmp_path: Path) -> None:
    from sorakit.studio import Studio

    studio = Studio(sorakit.Take(seed=2, **SMALL), out_dir=tmp_path)
    studio.best_n.value = 2
    studio.best_button.click()
    assert studio.error.value == ""
    assert studio.result.value.count("<video controls autoplay muted loop") == 2
    assert "best of 2 by physics score" in studio.result.value
    assert studio.status.value.startswith("best: seed ") and studio.last is not None
    studio.run()
    assert " · physics " in studio.status.value


def test_score_is_a_plain_record() -> None:
    s = Score(50.0, 1.0, 1.0, None, 0, 0, 0, 0, 1.0, "ok")
    assert Score(**s.__dict__) == s and np.isfinite(s.total)


# -- the edges, found by mutation testing (tests/mutation.py) ------------------------------------------------
def test_the_score_is_its_formula_over_the_report() -> None:
    from sorakit.report.faults import planted

    p = planted("energy", seed=2)  # a report with path error, gravity, problems and lost frames
    r = measure_frames(p.frames, p.fps, scene=p.scene)
    s = score(r)
    th = r.thresholds
    path = float(np.mean([b.trajectory.mean_pct for b in r.bodies if b.trajectory is not None]))
    found = float(np.mean([b.confidence for b in r.bodies]))
    counts = [len(r.problems_of(k)) for k in ("teleport", "energy", "penetration", "missing")]
    penalty = path / th.trajectory + abs(r.gravity_error or 0.0) / th.gravity + sum(counts) + 2 * (1 - found)
    assert s.penalty == pytest.approx(penalty, abs=1e-4) and s.total == round(100 / (1 + s.penalty), 2)
    assert (s.teleports, s.energy, s.penetrations, s.missing) == tuple(counts) and s.energy >= 1
    assert s.gravity_error == r.gravity_error and s.found == found and s.path_pct == path and s.verdict == r.verdict
    assert 0 < found < 1 and s.penalty > 1  # every part of the formula is at work in this clip


def test_seeds_wrap_and_the_limits_are_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert best._seeds(sorakit.Take(seed=2**32 - 1), 2) == [2**32 - 1, 0]
    generate_module = importlib.import_module("sorakit.generate")

    class Rendered(Exception):
        pass

    def first(*a: Any, **k: Any) -> Any:
        raise Rendered

    monkeypatch.setattr(generate_module, "generate", first)
    take = sorakit.Take(**SMALL)
    for allowed in (dict(n=1), dict(n=64), dict(seeds=list(range(64))), dict(seeds=[2**32 - 1])):
        with pytest.raises(Rendered):  # past every check, into the first render
            best_of(take, folder=tmp_path, **allowed)  # type: ignore[arg-type]
    for refused in (dict(n=65), dict(seeds=list(range(65))), dict(seeds=[2**32]), dict(n=True), dict(seeds=[True])):
        with pytest.raises(sorakit.InvalidInput):
            best_of(take, folder=tmp_path, **refused)  # type: ignore[arg-type]


def test_defaults_folder_and_progress_pass_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sorakit.sidecar import take_hash

    generate_module = importlib.import_module("sorakit.generate")
    real = generate_module.generate
    seen: list[tuple[int, object]] = []

    def spy(t: sorakit.Take, **kw: Any) -> sorakit.Clip:
        seen.append((t.seed, kw.get("progress")))
        return real(t, **kw)

    monkeypatch.setattr(generate_module, "generate", spy)
    take = sorakit.Take(seed=9, **{**SMALL, "frames": 8})
    ranking = best_of(take, folder=tmp_path, progress=False)
    assert seen == [(9, False), (10, False), (11, False), (12, False)]  # n defaults to 4, from the Take's seed
    assert ranking.folder == tmp_path / take_hash(take.replace(seed=0).resolved())[:16] and ranking.take == take


def test_a_saved_score_is_trusted_only_with_its_format_and_hash(tmp_path: Path) -> None:
    take = sorakit.Take(seed=4, **{**SMALL, "frames": 8})
    first = best_of(take, seeds=[4], folder=tmp_path)
    side = first.folder / "seed-4.score.json"
    record = json.loads(side.read_text())
    record["score"]["total"] = 12.5  # a hand-edited score under the right format and hash: trusted as saved
    side.write_text(json.dumps(record))
    assert best_of(take, seeds=[4], folder=tmp_path).entries[0].score.total == 12.5
    record["format"] = "something/else"  # the right hash under another format: scored again
    side.write_text(json.dumps(record))
    again = best_of(take, seeds=[4], folder=tmp_path).entries[0]
    assert again.resumed and again.score.total == first.entries[0].score.total


def test_a_file_that_is_another_take_or_unfinished_is_rendered_again(tmp_path: Path) -> None:
    import shutil

    take = sorakit.Take(seed=1, **{**SMALL, "frames": 8})
    first = best_of(take, seeds=[1, 2], folder=tmp_path)
    for suffix in (".mp4", ".json", ".score.json"):  # seed 1's files under seed 2's names
        shutil.copy(first.folder / f"seed-1{suffix}", first.folder / f"seed-2{suffix}")
    again = best_of(take, seeds=[1, 2], folder=tmp_path)
    assert {e.seed: e.resumed for e in again.entries} == {1: True, 2: False}
    stopped = sorakit.generate(take.replace(seed=3), should_stop=lambda: True)
    stopped.save(first.folder / "seed-3.mp4")  # a take stopped part way
    assert {e.seed: e.resumed for e in best_of(take, seeds=[3], folder=tmp_path).entries} == {3: False}
