"""The report on clips that look like a video model's, not the previz: textured, relit, grainy,
blurred, H.264 at a web bit rate, the ball drawn in its own colour (``sorakit.report.faults``).
Every planted fault is found with the right kind where it is, and the clips without one (clean,
a dropped frame, a frame where the ball is hidden) pass. ``benchmarks/report_faults.py`` runs the
larger set behind the README's figures."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("cv2")

from sorakit.report import measure_frames  # noqa: E402
from sorakit.report.faults import KINDS, Looks, planted  # noqa: E402

SEEDS = (0, 7)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_planted_fault_is_found_and_nothing_else_is(kind: str, seed: int) -> None:
    p = planted(kind, seed=seed)
    r = measure_frames(p.frames, p.fps, scene=p.scene)
    kinds = {q.kind for q in r.problems}
    if not p.expect:
        assert r.passed, f"{kind}: {r.verdict}"
        assert r.bodies[0].confidence > 0.9  # a hidden or dropped frame costs one frame of tracking at most
        return
    assert p.expect in kinds, f"{kind}: {r.verdict}"
    assert "missing" not in kinds or kind in ("tunnel", "energy")  # those leave the view, the simulated ball does not
    if kind == "teleport":
        (tp,) = r.problems_of("teleport")
        assert p.window is not None and abs(tp.frame - p.window[0]) <= 1  # type: ignore[operator]
    if kind in ("float", "heavy"):
        assert p.window is not None
        for g in r.problems_of("gravity"):  # named where the fault is, with its sign
            assert g.frame is not None and p.window[0] - 4 <= g.frame <= p.window[1]
            assert ("floats" in g.text or "too slowly" in g.text) if kind == "float" else "too fast" in g.text
    if kind == "slow":
        (clock,) = r.problems_of("timescale")
        assert clock.value == pytest.approx(2 / 3, abs=0.03) and not r.problems_of("gravity")


def test_the_ball_in_the_previz_colour_keeps_the_colour_tracker_and_its_precision() -> None:
    """Dressed but in the scene's own colour, the colour tracker is used (it is exact on the previz);
    both trackers put a clean ball within a couple of pixels of the simulation."""
    own = planted("clean", seed=3, looks=Looks(recolor=None))
    drawn = planted("clean", seed=3)
    for p in (own, drawn):
        r = measure_frames(p.frames, p.fps, scene=p.scene)
        b = r.bodies[0]
        assert r.passed and b.trajectory is not None and b.trajectory.mean_px < 2.5, r.verdict


def test_a_body_nothing_can_follow_is_reported_with_low_confidence_not_as_a_fault() -> None:
    p = planted("clean", seed=1)
    blank = np.full_like(p.frames, 128)  # nothing to see: no ball anywhere
    r = measure_frames(blank, p.fps, scene=p.scene)
    assert r.bodies[0].confidence < 0.1
    assert "tracking confidence low: ball" in r.verdict
    assert not r.problems_of("teleport") and not r.problems_of("gravity") and not r.problems_of("missing")


@pytest.mark.parametrize("kind, expect", [("teleport", "teleport"), ("energy", "energy"), ("clean", "")])
def test_without_a_scene_what_moves_is_found_and_followed(kind: str, expect: str) -> None:
    """No scene to say where the ball is: the moving region is detected against the clip's median and
    followed by its appearance; teleports and energy gains still show (gravity needs the scene's scale)."""
    p = planted(kind, seed=0)
    r = measure_frames(p.frames, p.fps, scene=None)
    assert r.bodies and max(b.confidence for b in r.bodies) > 0.7, r.verdict
    kinds = {q.kind for q in r.problems}
    assert expect in kinds if expect else r.passed, r.verdict
