"""Farms: takes rendered here (``Local``) or on a local Ray cluster (``RayFarm``, two CPU workers),
with the previz and a tiny checkpoint.

One Ray instance serves the whole module (its start-up is the slow part). Checked: a sweep and a
best-of on the farm give the frames and sound a local run gives, saved as they finish and
resumed on a second run; a model the notebook registered renders on a worker; a worker killed
mid-take is replaced and its take rendered again, identically; a take that fails is reported,
and one whose worker always dies is tried ``retries`` more times and then reported; stopping
leaves no file behind for what did not finish; jobs go to the worker that holds their model.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import farm as farms
from sorakit import models

ray = pytest.importorskip("ray")

SMALL = dict(frames=12, width=96, height=64, fps=12)
# How far apart two saves of one clip may decode: x264 does not encode some tiny clips to the same bytes
# twice, even in one process on one thread (the storyboard's second shot at 96x64 or 160x96: up to 5 levels
# apart; at 256x160 and 640x360, and these bouncing balls at 160x96, it did, 8 encodes of 8). The clips
# themselves are compared exactly.
ENCODER = 16


def _take(seed: int = 0, **kw: Any) -> sorakit.Take:
    return sorakit.Take(seed=seed, physics=sorakit.PhysicsConfig(scene="bouncing_balls"), **{**SMALL, **kw})


def _same(a: sorakit.Clip, b: sorakit.Clip) -> None:
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.take == b.take


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def farm(cluster: None) -> Iterator[sorakit.RayFarm]:
    f = sorakit.RayFarm(workers=2, gpus_per_take=0, progress=False).start()
    try:
        yield f
    finally:
        f.shutdown()


def test_local_saves_each_take_and_a_rerun_loads_it(tmp_path: Path) -> None:
    jobs = [farms.Job(_take(s), tmp_path / f"seed-{s}.mp4") for s in (0, 1)]
    first = farms.Local().run(jobs)
    assert [d.state for d in first] == ["rendered", "rendered"] and _files(tmp_path) == [
        "seed-0.json", "seed-0.mp4", "seed-1.json", "seed-1.mp4"]
    statuses: list[farms.Status] = []
    again = farms.Local().run(jobs, on_status=statuses.append)
    assert [d.state for d in again] == ["loaded", "loaded"]
    assert str(statuses[-1]) == "2/2 done, 0 running, 0 failed"
    for job, done in zip(jobs, again):  # what was saved, decoded
        assert done.clip is not None
        np.testing.assert_array_equal(done.clip.frames, sorakit.load(job.path).frames)
        assert done.clip.take == job.take.resolved()


def test_a_sweep_on_the_farm_is_the_local_sweep(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    base = _take(3)
    local = sorakit.sweep(base, seeds=[3, 4], knob="physics.strength", values=[0.0, 0.5])
    seen: list[tuple[int, int]] = []
    grid = sorakit.sweep(base, seeds=[3, 4], knob="physics.strength", values=[0.0, 0.5], farm=farm,
                         folder=tmp_path, on_clip=lambda i, j, c: seen.append((i, j)))
    for row_a, row_b in zip(local, grid):
        for a, b in zip(row_a, row_b):
            _same(a, b)
    assert sorted(seen) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert len([n for n in _files(tmp_path) if n.endswith(".mp4")]) == 4
    assert sorakit.load(tmp_path / "seed-4_physics.strength-0.5.mp4").take == grid[1][1].take


def test_best_of_on_the_farm_ranks_the_same_takes(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    take = _take(0, frames=24, width=160, height=96, fps=16)
    here = sorakit.best_of(take, n=3, folder=tmp_path / "here")
    there = sorakit.best_of(take, n=3, folder=tmp_path / "there", farm=farm)
    assert there.seeds == here.seeds
    assert [e.score.total for e in there.entries] == [e.score.total for e in here.entries]
    again = sorakit.best_of(take, n=3, folder=tmp_path / "there", farm=farm)
    assert all(e.resumed for e in again.entries)  # a second run renders nothing


def test_a_tiny_checkpoint_the_notebook_registered_renders_on_a_worker(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    pytest.importorskip("diffusers")
    from sorakit.tiny import wan

    folder = wan.build(tmp_path / "tiny-wan", "t2v")
    spec = models.register(models.ModelSpec(name="tiny-wan-farm", backend="diffusers", family="wan",
                                            model_id=str(folder), modes=("t2v",), frame_rule=(4, 1), min_size=16,
                                            card=models.Card(width=32, height=32, frames=9, fps=16, steps=2)))
    try:
        take = sorakit.Take(model=spec.name, prompt="a red ball", seed=5, memory="cpu", physics=sorakit.PhysicsConfig(
            scene="bouncing_balls", strength=0.5))
        [done] = farm.run([farms.Job(take, tmp_path / "wan.mp4")])
        assert done.state == "rendered" and done.clip is not None
        _same(done.clip, sorakit.generate(take, progress=False))
    finally:
        models.MODELS.pop(spec.name, None)


def test_a_worker_killed_mid_take_is_replaced_and_the_take_rendered_again(cluster: None, tmp_path: Path) -> None:
    slow = _take(7, frames=96, width=640, height=360)
    killed: list[Any] = []
    with sorakit.RayFarm(workers=1, gpus_per_take=0, progress=False) as one:

        def kill_once(status: farms.Status) -> None:
            if status.running and not killed:  # the one worker holds the take now
                killed.append(one.actors[0])
                ray.kill(one.actors[0])

        [done] = one.run([farms.Job(slow, tmp_path / "slow.mp4")], on_status=kill_once)
        assert killed and done.state == "rendered" and done.attempts == 2
        assert len(one.actors) == 1 and one.actors[0] is not killed[0]
    assert done.clip is not None
    _same(done.clip, sorakit.generate(slow))


@pytest.mark.parametrize("death", ["OutOfMemoryError", "NodeDiedError"])
def test_a_take_lost_to_memory_or_a_dead_node_is_tried_again_on_a_new_worker(
        cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, death: str) -> None:
    # Ray's memory monitor and a preempted node surface from ray.get as these, not as RayActorError;
    # ray.get answers the first take with one, as Ray would, and the farm must treat it as a worker lost
    real, lost = ray.get, []

    def get(ref: Any, *args: Any, **kwargs: Any) -> Any:
        if not lost:
            lost.append(ref)
            raise getattr(ray.exceptions, death)(f"the take was lost with its worker ({death})")
        return real(ref, *args, **kwargs)

    take = _take(3)
    with sorakit.RayFarm(workers=1, gpus_per_take=0, progress=False) as one:
        first = one.actors[0]
        monkeypatch.setattr(ray, "get", get)
        [done] = one.run([farms.Job(take, tmp_path / "lost.mp4")])
        monkeypatch.undo()
        assert lost and done.state == "rendered" and done.attempts == 2
        assert one.actors[0] is not first  # replaced, and the old one killed:
        with pytest.raises(ray.exceptions.RayActorError):
            ray.get(first.ready.remote(), timeout=30)
    assert done.clip is not None
    _same(done.clip, sorakit.generate(take))


def test_a_stop_that_reaches_the_worker_before_its_take_starts_still_stops_it(tmp_path: Path) -> None:
    # the driver asks a running take to stop by its ticket; the actor may run the stop first
    worker = farms._Worker()
    take = _take(4)
    worker.stop(7)
    stopped = worker.render(take.to_dict(), models.get(take.model), None, 7)
    assert stopped.provenance.status == "stopped after step 1 of 12"  # its first frame, then the stop
    other = worker.render(take.to_dict(), models.get(take.model), None, 8)  # another ticket runs to its end
    assert other.provenance.status == "complete"
    again = worker.render(take.to_dict(), models.get(take.model), None, 7)  # a ticket is stopped once
    assert again.provenance.status == "complete"


def test_a_take_that_always_fails_is_reported_not_retried_forever(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    spec = models.register(models.ModelSpec(name="tiny-gone", backend="diffusers", family="wan", model_id=str(gone),
                                            modes=("t2v",), frame_rule=(4, 1), min_size=16,
                                            card=models.Card(width=32, height=32, frames=9, fps=16, steps=2)))
    shutil.rmtree(gone)  # the worker cannot load it: the take itself fails
    try:
        good = farms.Job(_take(1), tmp_path / "good.mp4")
        bad = farms.Job(sorakit.Take(model=spec.name, prompt="x", memory="cpu", physics=sorakit.PhysicsConfig(scene=None)),
                        tmp_path / "bad.mp4")
        results = farm.run([bad, good])
        assert [d.state for d in results] == ["failed", "rendered"]
        assert results[0].attempts == 1 and "gone" in results[0].error
        with pytest.raises(sorakit.TakesFailed, match=r"2 of 2 takes did not render \(seed-0_steps-1.mp4: failed") as err:
            sorakit.sweep(bad.take, seeds=[0], knob="steps", values=[1, 2], farm=farm, folder=tmp_path / "sweep")
        assert [d.state for d in err.value.results] == ["failed", "failed"]  # type: ignore[attr-defined]
    finally:
        models.MODELS.pop(spec.name, None)
    assert not (tmp_path / "bad.mp4").exists()


def test_a_take_whose_worker_always_dies_is_tried_again_then_reported(cluster: None, tmp_path: Path) -> None:
    deaths = sorakit.RayFarm(workers=1, gpus_per_take=0, retries=1, progress=False)
    try:
        slow = _take(2, frames=96, width=640, height=360)

        def kill(status: farms.Status) -> None:
            if status.running:
                for actor in list(deaths.actors):
                    ray.kill(actor)

        [done] = deaths.run([farms.Job(slow, tmp_path / "dies.mp4")], on_status=kill)
        assert done.state == "failed" and done.attempts == 2 and "worker died 2 time(s)" in done.error
    finally:
        deaths.shutdown()
    assert not (tmp_path / "dies.mp4").exists()


def test_stopping_keeps_what_finished_and_leaves_no_half_written_file(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    [quick] = farm.run([farms.Job(_take(0), tmp_path / "quick.mp4")])
    assert quick.state == "rendered"
    slow = [farms.Job(_take(s, frames=240, width=640, height=360), tmp_path / f"slow-{s}.mp4") for s in (1, 2, 3)]
    busy: list[int] = []  # stop once both workers are inside a take (the third is still waiting)
    results = farm.run(slow, on_status=lambda s: busy.append(s.running), should_stop=lambda: 2 in busy)
    assert [d.state for d in results] == ["stopped"] * 3 and all(d.clip is None for d in results)
    assert _files(tmp_path) == ["quick.json", "quick.mp4"]  # what finished stays; nothing else, not even a temp file
    assert farms.Local().run([farms.Job(_take(0), tmp_path / "quick.mp4")])[0].state == "loaded"


def test_jobs_go_to_the_worker_that_holds_their_model(farm: sorakit.RayFarm) -> None:
    a, b = farm.actors
    farm._models = {id(a): "previz", id(b): "other"}
    jobs = [farms.Job(_take(0).replace(model=m), Path(f"{i}.mp4")) for i, m in enumerate(["other", "x", "previz"])]
    assert farm._pick(a, [0, 1, 2], jobs) == 2  # its own model first
    assert farm._pick(b, [1, 2], jobs) == 1  # not the one a warm worker would take
    farm._models = {}


def test_farm_arguments_are_checked() -> None:
    with pytest.raises(sorakit.InvalidInput, match="workers=0"):
        sorakit.RayFarm(workers=0)
    with pytest.raises(sorakit.InvalidInput, match="retries=11"):
        sorakit.RayFarm(retries=11)
    assert dataclasses.is_dataclass(farms.Done)


def test_a_storyboard_on_the_farm_is_the_local_film(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    from tests.test_storyboard import three_shots

    shots = three_shots()
    board = sorakit.Storyboard((shots[0], sorakit.Shot(shots[1].take, join="crossfade"),
                                sorakit.Shot(shots[2].take, join="match")), crossfade=0.25)
    here = board.render(tmp_path / "here")
    events: list[str] = []
    there = board.render(tmp_path / "there", farm=farm, on_shot=lambda e: events.append(e.state))
    assert there.status == here.status == "complete"
    np.testing.assert_array_equal(there.frames, here.frames)
    np.testing.assert_array_equal(there.audio, here.audio)
    assert _files(tmp_path / "there") == _files(tmp_path / "here")  # the same files...
    for name in ("shot_01.mp4", "shot_02.mp4", "shot_03.mp4"):
        a, b = sorakit.load(tmp_path / "there" / name), sorakit.load(tmp_path / "here" / name)
        assert a.take == b.take  # ... of the same takes; x264 does not encode these tiny frames to
        assert np.abs(a.frames.astype(int) - b.frames).max() <= ENCODER  # the same bytes every time, even in one process
    assert events.count("rendered") == 3
    again: list[str] = []
    board.render(tmp_path / "there", farm=farm, on_shot=lambda e: again.append(e.state))
    assert again.count("loaded") == 3 and "rendered" not in again  # a rerun renders nothing


def test_the_sweep_panel_shows_the_farm_and_its_errors(farm: sorakit.RayFarm, tmp_path: Path) -> None:
    from sorakit.studio import SweepGrid

    take = _take(0)
    panel = SweepGrid(take, seeds=[0, 1], knob="physics.strength", values=[0.0, 0.5], out_dir=tmp_path, farm=farm)
    assert panel.status.value.startswith("4/4 done, 0 running, 0 failed") and panel.progress.value == 4
    assert panel.table.value.count("<video") == 4 and panel.cancel.disabled
    assert len(list((tmp_path / "sweep").glob("*.mp4"))) == 4  # each saved as it finished
    # Cancel: nothing more starts and nothing unfinished is saved; the panel says what happened
    stopped = sorakit.sweep(take, seeds=[5], knob="physics.strength", values=[0.0], farm=farm, folder=tmp_path / "s",
                            should_stop=lambda: False)
    assert len(stopped[0]) == 1
    with pytest.raises(sorakit.TakesFailed, match=r"2 of 2 takes did not render \(seed-7_physics.strength-0.0.mp4: stopped"):
        sorakit.sweep(take, seeds=[7], knob="physics.strength", values=[0.0, 0.5], farm=farm, folder=tmp_path / "c",
                      should_stop=lambda: True)
    assert not (tmp_path / "c").exists() or _files(tmp_path / "c") == []
    gone = tmp_path / "gone"
    gone.mkdir()
    spec = models.register(models.ModelSpec(name="tiny-gone-panel", backend="diffusers", family="wan",
                                            model_id=str(gone), modes=("t2v",), frame_rule=(4, 1), min_size=16,
                                            card=models.Card(width=32, height=32, frames=9, fps=16, steps=2)))
    shutil.rmtree(gone)
    try:
        bad = SweepGrid(sorakit.Take(model=spec.name, prompt="x", memory="cpu", physics=sorakit.PhysicsConfig(scene=None)),
                        seeds=[0], knob="steps", values=[1], out_dir=tmp_path / "bad", farm=farm)
    finally:
        models.MODELS.pop(spec.name, None)
    assert "1 of 1 takes did not render" in bad.message.value and "color:#b00" in bad.message.value
    assert bad.status.value.startswith("0/1 done, 0 running, 1 failed")


def test_the_farm_s_bar_counts_every_take_and_gives_its_own_time_left(cluster: None, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    first = farms.Job(_take(11), tmp_path / "a.mp4")
    farms.Local().run([first])  # saved by an earlier run: loaded, and no measure of how long a take takes
    jobs = [first, farms.Job(_take(12), tmp_path / "b.mp4"), farms.Job(_take(13), tmp_path / "c.mp4")]
    with sorakit.RayFarm(workers=1, gpus_per_take=0, progress=True) as one:
        one.run(jobs)
    states = [line.strip() for line in capsys.readouterr().err.replace("\r", "\n").splitlines() if "farm (" in line]
    assert states and all(line.startswith("farm (1 workers):") for line in states), states
    assert any("1/3" in line and "1 running, 0 failed]" in line for line in states), states  # no estimate yet
    assert any("2/3" in line and "about" in line and "s left]" in line for line in states), states
    assert "3/3" in states[-1] and "0 running, 0 failed, about 0 s left]" in states[-1], states


def test_a_continue_shot_on_the_farm_starts_from_the_shot_before_as_it_does_here(
        farm: sorakit.RayFarm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("diffusers")
    from sorakit.tiny import wan

    folder = wan.build(tmp_path / "tiny-wan-i2v", "i2v")
    monkeypatch.setitem(models.MODELS, "tiny-wan-i2v-farm", models.ModelSpec(
        name="tiny-wan-i2v-farm", backend="diffusers", family="wan", model_id=str(folder), modes=("i2v",),
        frame_rule=(4, 1), min_size=16))
    first = sorakit.Take(frames=16, fps=12, width=32, height=32, physics=sorakit.PhysicsConfig(scene="ramp"))
    second = sorakit.Take(model="tiny-wan-i2v-farm", prompt="a red ball rolls on", frames=9, fps=12, width=32,
                          height=32, steps=2, memory="cpu", physics=sorakit.PhysicsConfig(scene=None))
    board = sorakit.Storyboard((sorakit.Shot(first), sorakit.Shot(second, join="continue")))
    here = board.render(tmp_path / "here")
    events: list[tuple[int, str]] = []
    there = board.render(tmp_path / "there", farm=farm, on_shot=lambda e: events.append((e.index, e.state)))
    assert there.status == here.status == "complete"
    assert (1, "rendered") in events  # the continue shot rendered on a worker, once its start frame existed
    # its start frame is named after the shot before as saved there (that mp4's hash: two saves differ)
    sha = json.loads((tmp_path / "there" / "shot_01.json").read_text())["mp4_sha256"]
    assert there.shots[1].take.first_frame == f"shot_02_start_{sha[:12]}.png"
    np.testing.assert_array_equal(there.shots[1].frames, here.shots[1].frames)
    np.testing.assert_array_equal(there.frames, here.frames)
    assert len(_files(tmp_path / "there")) == len(_files(tmp_path / "here"))
