"""Best of N by physics: render a Take under several seeds, score each clip against its simulation
with the physics report, and rank them.

Reranking by a physics score is the cheapest gain there is for physical plausibility:
Physics-IQ moved from 42.3 to 46.4 for Sora 2 and from 38.3 to 44.4 for Wan 2.2 that way, and the
benchmark's best video-to-video entry is a best-of-N.

The score (0 to 100, higher is better) is ``100 / (1 + penalty)``, where the penalty adds, over
the report's bodies:

- the path error against the simulation, as a share of the report's trajectory threshold;
- the gravity error, as a share of the report's gravity threshold;
- one per teleport, per bounce that adds energy, per penetration, per body missing;
- twice the share of frames where a body should be seen but the tracker lost it (one minus the
  report's confidence: a clip it cannot read scores low rather than clean).

Each clip is saved as it finishes (``seed-<seed>.mp4`` with its sidecar and ``.score.json``) in a
folder named after the Take, so a run that is stopped or fails resumes where it was: a seed
whose files are there and whose hashes match is read back, not rendered again.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sorakit.clip import Clip, load
from sorakit.report import PhysicsReport, measure
from sorakit import _serde
from sorakit.sidecar import file_sha256, read, take_hash
from sorakit.take import Take

if TYPE_CHECKING:
    from sorakit.farm import Farm

__all__ = ["best_of", "score", "Score", "Entry", "Ranking"]

SCORE_FORMAT = "sorakit.score/1"


@dataclass(frozen=True)
class Score:
    """How physical one clip is, from its physics report.

    Attributes:
        total: 0 to 100, higher is better: ``100 / (1 + penalty)``.
        penalty: the sum the total is made from (see the module's docstring).
        path_pct: mean distance from the simulated path, % of the frame diagonal (mean over bodies).
        gravity_error: relative error of the fitted gravity (None when nothing flew long enough).
        teleports, energy, penetrations, missing: how many of each problem.
        found: the report's tracking confidence, mean over bodies (the share of the frames where a
            body should be seen in which it was tracked).
        verdict: the report's one line.
    """

    total: float
    penalty: float
    path_pct: float | None
    gravity_error: float | None
    teleports: int
    energy: int
    penetrations: int
    missing: int
    found: float
    verdict: str


def score(report: PhysicsReport) -> Score:
    """The physics score of a measured clip (see the module's docstring for the formula).

    >>> import sorakit
    >>> clip = sorakit.generate(sorakit.Take(frames=40, width=320, height=192))
    >>> s = score(sorakit.report.measure(clip))
    >>> s.total > 80, s.teleports
    (True, 0)
    """
    th = report.thresholds
    paths = [b.trajectory.mean_pct for b in report.bodies if b.trajectory is not None]
    path = float(np.mean(paths)) if paths else None
    found = float(np.mean([b.confidence for b in report.bodies])) if report.bodies else 0.0
    counts = {k: len(report.problems_of(k)) for k in ("teleport", "energy", "penetration", "missing")}
    g = report.gravity_error
    penalty = ((path or 0.0) / th.trajectory + (abs(g) / th.gravity if g is not None else 0.0)
               + sum(counts.values()) + 2.0 * (1.0 - found))
    return Score(total=round(100.0 / (1.0 + penalty), 2), penalty=round(penalty, 4), path_pct=path,
                 gravity_error=g, teleports=counts["teleport"], energy=counts["energy"],
                 penetrations=counts["penetration"], missing=counts["missing"], found=found,
                 verdict=report.verdict)


@dataclass(frozen=True)
class Entry:
    """One take of a best-of run: its seed, where it was saved, its score, and whether it was read back."""

    seed: int
    path: Path
    score: Score
    resumed: bool

    def clip(self) -> Clip:
        """The saved clip."""
        return load(self.path)


@dataclass(frozen=True)
class Ranking:
    """The takes of a best-of run, best first (ties keep seed order).

    ``sorakit.show(ranking)`` or leaving it as a cell's value shows the grid, each take with its score.
    """

    take: Take
    entries: tuple[Entry, ...]
    folder: Path

    @property
    def best(self) -> Entry:
        return self.entries[0]

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds, best first."""
        return tuple(e.seed for e in self.entries)


OnTake = Callable[[int, int, Entry], None]


def best_of(take: Take, n: int | None = 4, *, seeds: Sequence[int] | None = None,
            folder: str | os.PathLike[str] = "best_of", on_take: OnTake | None = None,
            progress: bool | None = None, farm: Farm | None = None) -> Ranking:
    """Renders ``take`` under ``n`` seeds (or the ``seeds`` given), scores each with the physics
    report, and returns them ranked, best first.

    >>> import sorakit, tempfile
    >>> r = best_of(sorakit.Take(frames=24, width=160, height=96), n=2, folder=tempfile.mkdtemp())
    >>> sorted(r.seeds), r.entries[0].score.total >= r.entries[1].score.total
    ([0, 1], True)

    Args:
        take: the Take; its seed is the first of the ``n`` (``seed, seed + 1, ...``).
        n: how many seeds, from 1 to 64 (ignored when ``seeds`` is given).
        seeds: the seeds to try, instead of ``n``.
        folder: where the takes are saved, in a subfolder named after the Take without its seed
            (``best_of/<hash>/seed-<seed>.mp4``); a second run over the same folder resumes.
        on_take: called after each take with ``(done, total, entry)``.
        progress: passed to ``generate`` for each take.
        farm: where the takes render (``sorakit.RayFarm(...)``: in parallel, each saved as it
            finishes); None renders them here, one after another. Scoring runs here either way.

    Raises:
        InvalidInput: bad ``n`` or ``seeds``, a Take without a physics scene, or any bad knob, before
            anything renders.
    """
    from sorakit.generate import generate

    chosen = list(seeds) if seeds is not None else _seeds(take, n)
    if not chosen or len(chosen) > 64 or len(set(chosen)) != len(chosen):
        raise InvalidInput(f"seeds={chosen!r}: give 1 to 64 different seeds (or n)")
    for s in chosen:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < 2**32:
            raise InvalidInput(f"seeds: {s!r} is not a seed; seeds are integers in [0, 4294967295]")
    if take.physics.scene is None:
        raise InvalidInput("physics.scene=None: best_of scores each take against its physics scene; set one")
    takes = [take.replace(seed=s) for s in chosen]
    for t in takes:
        t.validate()
    out = Path(folder) / take_hash(take.replace(seed=0).resolved())[:16]
    out.mkdir(parents=True, exist_ok=True)
    if farm is not None:
        entries = _on_farm(farm, takes, out, on_take)
    else:
        entries = []
        for i, t in enumerate(takes):
            mp4 = out / f"seed-{t.seed}.mp4"
            entry = _resume(t, mp4)
            if entry is None:
                clip = generate(t, progress=progress)
                path = clip.save(mp4)
                entry = Entry(t.seed, path, _scored(load(path), path), resumed=False)
            entries.append(entry)
            if on_take is not None:
                on_take(i + 1, len(takes), entry)
    order = sorted(range(len(entries)), key=lambda k: (-entries[k].score.total, k))
    return Ranking(take, tuple(entries[k] for k in order), out)


def _on_farm(farm: Farm, takes: list[Take], out: Path, on_take: OnTake | None) -> list[Entry]:
    """The takes rendered on ``farm`` (those saved and scored before are read back), each scored here
    as it comes back; in the takes' order. Failures raise ``TakesFailed`` once the rest are saved."""
    from sorakit.farm import Done, Job, all_made

    found: dict[int, Entry] = {}
    jobs: list[Job] = []
    where: dict[Path, int] = {}
    for i, t in enumerate(takes):
        mp4 = out / f"seed-{t.seed}.mp4"
        entry = _resume(t, mp4)
        if entry is not None:
            found[i] = entry
            if on_take is not None:
                on_take(len(found), len(takes), entry)
        else:
            where[mp4] = i
            jobs.append(Job(t, mp4))

    def scored(done: Done) -> None:
        if done.clip is None:
            return
        path = done.job.path
        found[where[path]] = Entry(done.job.take.seed, path, _scored(load(path), path),
                                   resumed=done.state == "loaded")
        if on_take is not None:
            on_take(len(found), len(takes), found[where[path]])

    all_made(farm.run(jobs, on_done=scored), out)
    return [found[i] for i in range(len(takes))]


def _seeds(take: Take, n: int | None) -> list[int]:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 64:
        raise InvalidInput(f"n={n!r}: best_of renders 1 to 64 takes; 4 to 8 is typical")
    return [(take.seed + k) % 2**32 for k in range(n)]


def _scored(clip: Clip, path: Path, sha: str | None = None) -> Score:
    """Scores the clip as saved (decoded from its mp4) and writes the score beside it, under the
    mp4's SHA-256 (``sha`` when the caller has it already)."""
    s = score(measure(clip))
    record = {"format": SCORE_FORMAT, "mp4_sha256": sha or file_sha256(path), "score": s.__dict__}
    tmp = path.with_suffix(".score.json.tmp")
    tmp.write_text(json.dumps(record, indent=2))
    os.replace(tmp, path.with_suffix(".score.json"))
    return s


def _resume(take: Take, mp4: Path) -> Entry | None:
    """The entry for a take already saved and scored in full, or None to render it again.

    The take is read from its sidecar and the mp4 checked against the hash recorded there (as
    ``load`` checks it), so a take whose score is on file is not decoded at all.
    """
    side = mp4.with_suffix(".json")
    if not (mp4.is_file() and side.is_file()):
        return None
    sha = file_sha256(mp4)
    try:
        meta = read(side)
        saved = _serde.from_dict(Take, meta.get("take"), path="take")
        provenance = meta.get("provenance")
        status = provenance.get("status") if isinstance(provenance, dict) else None
    except (InvalidInput, OSError):
        return None  # a damaged or half-written take: render it again
    if meta.get("mp4_sha256") != sha or saved != take.resolved() or status != "complete":
        return None
    try:
        record = json.loads(mp4.with_suffix(".score.json").read_text())
        if record.get("format") != SCORE_FORMAT or record.get("mp4_sha256") != sha:
            raise ValueError("stale")
        s = Score(**record["score"])
        if not math.isfinite(s.total):
            raise ValueError("bad")
    except (OSError, ValueError, TypeError, KeyError):
        try:
            s = _scored(load(mp4), mp4, sha)
        except (InvalidInput, OSError):
            return None
    return Entry(take.seed, mp4, s, resumed=True)
