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
