"""Where takes render: in this process (``Local``, the default everywhere) or on a Ray cluster
(``RayFarm``), one worker per GPU keeping its pipelines warm.

A farm runs ``Job``s (a Take, the mp4 it is saved to, and for a storyboard shot the speech it is
made to) and hands back a ``Done`` for each, in the jobs' order. Either farm:

- loads a job already saved by an earlier run (the same Take, complete, its mp4 intact) instead
  of rendering it again, so a rerun after a kernel died renders only the rest;
- saves each clip with its sidecar as soon as it is made (atomically: never a half-written file
  under its final name), in this process: the output folder need not be shared with the workers;
- keeps nothing a stop interrupted: ``should_stop`` (or a KeyboardInterrupt, Jupyter's stop
  button) starts no more jobs and asks the running ones to end within a step, unsaved.

On Ray (``pip install 'sorakit[cluster]'``; imported only when a ``RayFarm`` starts) each worker
is an actor that renders one take at a time with ``generate``; its process keeps sorakit's
pipeline and prompt caches, so a job goes to a free worker that already holds its model where
there is one. A worker that dies mid-take (killed, out of memory, preempted) is replaced and its
take tried again, up to ``retries`` times, then reported failed with the error; a take whose own
render raises (a bad file, a model that will not load) is reported at once, not retried. Takes
are rendered by the same code as locally, so the frames are the same. Each take carries its
model's registry entry, so a model the notebook registered (a local folder) renders on a worker
too, as long as the folder is there: on one machine it is; across machines, put checkpoints,
first-frame pictures and LoRA files on storage every node sees (the saved clips come back here).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sorakit import models
from sorakit.clip import Clip, load
from sorakit.errors import InvalidInput, MissingPackage
from sorakit.sidecar import take_hash
from sorakit.take import Take

__all__ = ["Job", "Done", "Status", "Farm", "Local", "RayFarm", "finished", "saved", "all_made"]


@dataclass(frozen=True)
class Job:
    """One take for a farm: its Take, the mp4 it is saved to, and (a storyboard shot that lip-syncs)
    the speech on its timeline, ``(samples, rate)``, handed to ``generate(speech=)``. With ``save``
    False the clip only comes back (its caller saves it, as a storyboard saves a 'continue' shot)."""

    take: Take
    path: Path
    speech: tuple[np.ndarray, int] | None = None
    save: bool = True


@dataclass(frozen=True)
class Done:
    """What became of a job: its clip (None when it failed or was stopped), and how.

    ``state`` is ``rendered``, ``loaded`` (saved by an earlier run), ``stopped`` (nothing saved) or
    ``failed`` (``error`` says why; ``attempts`` how many workers tried it)."""

    job: Job
    clip: Clip | None
    state: str
    error: str = ""
    attempts: int = 1


@dataclass(frozen=True)
class Status:
    """The whole farm at a moment: jobs done (rendered or loaded), running, failed, and the estimated
    seconds left (None until a take has finished)."""

    total: int
    done: int
    running: int
    failed: int
    eta: float | None

    @property
    def left(self) -> str:
        """``", about N s left"``, or "" before a take has finished."""
        return "" if self.eta is None else f", about {self.eta:.0f} s left"

    def __str__(self) -> str:
        return f"{self.done}/{self.total} done, {self.running} running, {self.failed} failed{self.left}"


OnDone = Callable[[Done], None]
START_TIMEOUT = 120.0  # seconds a farm's workers have to start (importing sorakit in each) before it gives up
OnStatus = Callable[[Status], None]


class Farm(Protocol):
    """Something that renders jobs: ``Local`` or ``RayFarm``."""

    def run(self, jobs: Sequence[Job], *, on_done: OnDone | None = None, on_status: OnStatus | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[Done]: ...


def finished(path: Path, take: Take) -> bool:
    """True when ``path`` holds this very Take's clip (resolved), complete and matching its sidecar."""
    from sorakit.sidecar import read, verify

    side = path.with_suffix(".json")
    if not (path.is_file() and side.is_file()):
        return False
    try:
        meta = read(side)
    except (OSError, InvalidInput):  # unreadable or not a sidecar: render it again
        return False
    if meta.get("take_sha256") != take_hash(take):
        return False
    prov = meta.get("provenance")
    return isinstance(prov, dict) and prov.get("status") == "complete" and verify(path).ok


def saved(job: Job) -> Clip | None:
    """The clip an earlier run saved for ``job``, or None. A job made to speech is only its own
    when the saved clip says it was made to that very speech (a storyboard's fingerprint); one
    made to no speech only when the saved clip was not made to any."""
    from sorakit.generate import FILM_SPEECH, placed_speech, speech_note

    if not job.save:  # its caller keeps track of what is saved
        return None
    resolved = job.take.resolved()
    if not finished(job.path, resolved):
        return None
    clip = load(job.path)
    if job.speech is not None:
        return clip if speech_note(placed_speech(job.speech, resolved.duration)) in clip.provenance.dialogue else None
    return clip if FILM_SPEECH not in clip.provenance.dialogue else None


def all_made(results: Sequence[Done], folder: Path) -> None:
    """Raises ``TakesFailed`` naming every job that came back without a clip (failed or stopped)."""
    from sorakit.errors import TakesFailed

    lost = [d for d in results if d.clip is None]
    if lost:
        raise TakesFailed(f"{len(lost)} of {len(results)} takes did not render ("
                          + "; ".join(f"{d.job.path.name}: {d.state} {d.error}".strip() for d in lost)
                          + f"); the others are saved in {folder}, and a second run renders only the missing ones",
                          list(results))


def _keep(job: Job, clip: Clip) -> Clip:
    """Saves a finished clip with its sidecar at the job's path (atomically) and returns it."""
    if job.save:
        job.path.parent.mkdir(parents=True, exist_ok=True)
        clip.save(job.path)
    return clip


class _Tally:
    """Counts for ``Status`` and an ETA from the takes rendered so far."""

    def __init__(self, total: int, workers: int) -> None:
        self.total, self.workers = total, max(1, workers)
        self.done = self.failed = self.running = 0
        self.spent: list[float] = []

    def status(self) -> Status:
        left = self.total - self.done - self.failed
        eta = None
        if self.spent:
            eta = float(np.mean(self.spent)) * left / min(self.workers, max(1, left)) if left else 0.0
        return Status(self.total, self.done, self.running, self.failed, eta)

    def count(self, done: Done) -> None:
        """One job ended: rendered and loaded are done, failed is failed, stopped is neither."""
        if done.state == "failed":
            self.failed += 1
        elif done.state != "stopped":
            self.done += 1


class Local:
    """Renders the jobs here, one after another (what every sorakit call does without a farm)."""

    def run(self, jobs: Sequence[Job], *, on_done: OnDone | None = None, on_status: OnStatus | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[Done]:
        from sorakit.generate import generate

        tally = _Tally(len(jobs), 1)
        out: list[Done] = []

        def report(done: Done) -> None:
            out.append(done)
            tally.count(done)
            if on_done is not None:
                on_done(done)
            if on_status is not None:
                on_status(tally.status())

        for job in jobs:
            if should_stop is not None and should_stop():
                report(Done(job, None, "stopped"))
                continue
            kept = saved(job)
            if kept is not None:
                report(Done(job, kept, "loaded"))
                continue
            start = time.perf_counter()
            clip = generate(job.take, should_stop=should_stop, progress=False, speech=job.speech)
            if clip.provenance.status != "complete":
                report(Done(job, None, "stopped"))
                continue
            tally.spent.append(time.perf_counter() - start)
            report(Done(job, _keep(job, clip), "rendered"))
        return out


class _Worker:
    """A Ray actor's body: renders one take at a time in its own process, whose caches stay warm."""

    def __init__(self) -> None:
        import threading

        import sorakit  # noqa: F401  (registers every model in this process)

        self._lock = threading.Lock()
        self._stopped: set[int] = set()  # the tickets of the renders asked to stop

    def render(self, take: dict[str, Any], spec: Any, speech: tuple[np.ndarray, int] | None, ticket: int) -> Clip:
        """``generate`` on the Take, its model registered here as the notebook has it (a model the
        notebook registered, a local folder or a tiny checkpoint, exists in this process too).
        ``ticket`` names this render for ``stop``, which may arrive before the render starts."""
        from sorakit import models
        from sorakit.generate import generate

        if models.MODELS.get(spec.name) != spec:
            models.register(spec)
        try:
            return generate(Take.from_dict(take), should_stop=lambda: ticket in self._stopped, progress=False,
                            speech=speech)
        finally:
            with self._lock:
                self._stopped.discard(ticket)

    def stop(self, ticket: int) -> None:
        """Asks the render ``ticket`` to end within a step, or not to start (the actor runs this beside
        ``render``)."""
        with self._lock:
            self._stopped.add(ticket)

    def ready(self) -> bool:
        return True


def _died(ray: Any) -> tuple[type[BaseException], ...]:
    """What ``ray.get`` raises when a take's worker, not the take, failed: the actor died (killed,
    crashed), Ray's memory monitor killed it, or its node died (preempted) or lost the result."""
    e = ray.exceptions
    return tuple(getattr(e, n) for n in ("RayActorError", "OutOfMemoryError", "NodeDiedError", "WorkerCrashedError",
                                         "ObjectLostError", "LocalRayletDiedError") if hasattr(e, n))


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise MissingPackage("RayFarm needs Ray: pip install 'sorakit[cluster]' (or pip install 'ray>=2.40')") from exc
    return ray


class RayFarm:
    """Renders jobs on a Ray cluster: one actor per worker, each keeping its pipelines loaded.

    For example ``sorakit.sweep(take, seeds=[0, 1, 2, 3], knob="physics.strength", values=[0.3, 0.6],
    farm=RayFarm(workers=2, gpus_per_take=0), folder="sweep")`` (the README runs one).

    Args:
        address: ``None`` starts a Ray instance on this machine (or joins the one this process
            already runs); ``"auto"`` joins the cluster this machine is part of; ``"ray://host:10001"``
            a remote one.
        workers: how many actors; by default one per GPU the cluster has (``gpus_per_take`` each),
            or one per CPU on a cluster without GPUs.
        gpus_per_take: GPUs each actor holds; by default 1 where the cluster has GPUs, else 0.
        cpus_per_take: CPUs each actor holds.
        retries: how many more times a take is tried after its worker died.
        progress: show one bar for the whole farm (done, running, failed, ETA).
        init: more keyword arguments for ``ray.init`` (``runtime_env``, ``num_cpus``, ...).
    """

    def __init__(self, address: str | None = None, *, workers: int | None = None, gpus_per_take: float | None = None,
                 cpus_per_take: float = 1.0, retries: int = 2, progress: bool = True,
                 init: dict[str, Any] | None = None) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise InvalidInput(f"workers={workers!r}: give a whole number of workers, at least 1 (or None for one per GPU)")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10:
            raise InvalidInput(f"retries={retries!r}: a take is tried again 0 to 10 times after its worker dies")
        if gpus_per_take is not None and gpus_per_take < 0 or cpus_per_take <= 0:
            raise InvalidInput(f"gpus_per_take={gpus_per_take!r}, cpus_per_take={cpus_per_take!r}: GPUs may be 0 "
                               "(CPU workers), CPUs must be more than 0")
        self.address, self.workers, self.gpus_per_take = address, workers, gpus_per_take
        self.cpus_per_take, self.retries, self.progress = cpus_per_take, retries, progress
        self.init = dict(init or {})
        self.actors: list[Any] = []  # the live actors (tests kill one to see its take tried again)
        self._models: dict[int, str] = {}  # actor id -> the model it last rendered
        self._tickets = itertools.count()  # names each render, for stopping it
        self._started = False

    # -- the actors ----------------------------------------------------------------------------
    def start(self) -> RayFarm:
        """Connects to Ray and starts the actors (``run`` does it when needed); returns the farm."""
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=self.init.pop("include_dashboard", False),
                     log_to_driver=self.init.pop("log_to_driver", False), **self.init)
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if self.gpus_per_take is None:
            self.gpus_per_take = 1.0 if gpus >= 1 else 0.0
        if self.workers is None:
            cpus = float(ray.cluster_resources().get("CPU", 1))
            self.workers = max(1, int(gpus // self.gpus_per_take) if self.gpus_per_take else int(cpus // self.cpus_per_take))
        while len(self.actors) < self.workers:
            self.actors.append(self._spawn())
        ready, waiting = ray.wait([a.ready.remote() for a in self.actors], num_returns=len(self.actors),
                                  timeout=START_TIMEOUT)
        if waiting:
            have = ray.available_resources()
            self.shutdown()
            raise InvalidInput(f"workers={self.workers}: only {len(ready)} of them started within {START_TIMEOUT:g} s; "
                               f"each asks for {self.cpus_per_take:g} CPU and {self.gpus_per_take:g} GPU and the "
                               f"cluster has {have.get('CPU', 0):g} CPU and {have.get('GPU', 0):g} GPU free (another "
                               "farm's workers hold the rest?); ask for fewer workers, or shut the other farm down")
        self._started = True
        return self

    def _spawn(self) -> Any:
        ray = _ray()
        cls = ray.remote(num_cpus=self.cpus_per_take, num_gpus=self.gpus_per_take, max_concurrency=2,
                         max_restarts=0)(_Worker)
        return cls.remote()

    def shutdown(self) -> None:
        """Stops the actors (the Ray instance stays up for the next farm)."""
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor)
        self.actors, self._models, self._started = [], {}, False

    def __enter__(self) -> RayFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # -- running -------------------------------------------------------------------------------
    def run(self, jobs: Sequence[Job], *, on_done: OnDone | None = None, on_status: OnStatus | None = None,
            should_stop: Callable[[], bool] | None = None) -> list[Done]:
        """Renders ``jobs`` on the actors; returns a ``Done`` per job in the jobs' order."""
        ray = _ray()
        if not self._started:
            self.start()
        results: dict[int, Done] = {}
        pending: list[int] = []
        for i, job in enumerate(jobs):
            kept = saved(job)
            if kept is not None:
                results[i] = Done(job, kept, "loaded")
            else:
                pending.append(i)
        tally = _Tally(len(jobs), len(self.actors))
        tally.done = len(results)
        attempts = {i: 0 for i in pending}
        running: dict[Any, tuple[int, Any, float, int]] = {}  # ref -> (job, actor, start, ticket)
        free = list(self.actors)
        bar = self._bar(len(jobs))
        stopping = False
        asked: set[Any] = set()

        def report(done: Done, i: int) -> None:
            results[i] = done
            tally.count(done)
            if on_done is not None:
                on_done(done)

        def status() -> None:
            tally.running = len(running)
            s = tally.status()
            if bar is not None:
                bar.n = s.done + s.failed
                bar.set_postfix_str(f"{s.running} running, {s.failed} failed{s.left}")
                bar.refresh()
            if on_status is not None:
                on_status(s)

        for i in sorted(results):
            if on_done is not None:
                on_done(results[i])
        try:
            while pending or running:
                if not stopping and should_stop is not None and should_stop():
                    stopping = True
                if stopping:  # no new takes; the running ones asked (once) to end within a step
                    for i in pending:
                        report(Done(jobs[i], None, "stopped", attempts=attempts[i]), i)
                    pending = []
                    for ref, (_, actor, _, ticket) in running.items():
                        if ref not in asked:
                            asked.add(ref)
                            actor.stop.remote(ticket)
                while free and pending and not stopping:
                    actor = free.pop(0)
                    i = self._pick(actor, pending, jobs)
                    pending.remove(i)
                    attempts[i] += 1
                    job = jobs[i]
                    ticket = next(self._tickets)
                    ref = actor.render.remote(job.take.to_dict(), models.get(job.take.model), job.speech, ticket)
                    running[ref] = (i, actor, time.perf_counter(), ticket)
                    self._models[id(actor)] = job.take.model
                status()
                if not running:
                    continue
                ready, _ = ray.wait(list(running), num_returns=1, timeout=0.5)
                for ref in ready:
                    i, actor, start, _ = running.pop(ref)
                    job = jobs[i]
                    try:
                        clip = ray.get(ref)
                    except _died(ray) as exc:  # the worker died: replace it, try again
                        self._replace(actor)
                        free.append(self.actors[-1])
                        if attempts[i] <= self.retries and not stopping:
                            pending.insert(0, i)
                        else:
                            report(Done(job, None, "stopped" if stopping else "failed",
                                        f"its worker died {attempts[i]} time(s): {type(exc).__name__}",
                                        attempts[i]), i)
                        continue
                    except ray.exceptions.RayTaskError as exc:  # the take itself fails: no retry
                        free.append(actor)
                        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
                        report(Done(job, None, "failed", f"{type(cause).__name__}: {cause}", attempts[i]), i)
                        continue
                    free.append(actor)
                    if clip.provenance.status != "complete":  # stopped: nothing saved
                        report(Done(job, None, "stopped", attempts=attempts[i]), i)
                        continue
                    tally.spent.append(time.perf_counter() - start)
                    report(Done(job, _keep(job, clip), "rendered", attempts=attempts[i]), i)
                status()
        except KeyboardInterrupt:  # Jupyter's stop button: end the running takes unsaved, keep what is saved
            for _, actor, _, ticket in running.values():
                actor.stop.remote(ticket)
            try:
                ray.wait(list(running), num_returns=len(running), timeout=60)
            except Exception:  # a worker gone too: nothing of its take is saved either way
                pass
            raise
        finally:
            if bar is not None:
                bar.close()
        return [results[i] for i in range(len(jobs))]

    def _pick(self, actor: Any, pending: list[int], jobs: Sequence[Job]) -> int:
        """The first pending job for the model ``actor`` holds, else the first a warm worker would not
        take sooner, else the first pending."""
        held = self._models.get(id(actor))
        for i in pending:
            if jobs[i].take.model == held:
                return i
        others = {m for a, m in self._models.items() if a != id(actor)}
        for i in pending:
            if jobs[i].take.model not in others:
                return i
        return pending[0]

    def _replace(self, actor: Any) -> None:
        """A new actor in place of one whose take died with it; the old one is killed (it may still hold
        its GPU: a take killed for memory can leave its actor behind)."""
        _ray().kill(actor)
        self._models.pop(id(actor), None)
        self.actors = [a for a in self.actors if a is not actor]
        self.actors.append(self._spawn())

    def _bar(self, total: int) -> Any:
        if not self.progress:
            return None
        from tqdm.auto import tqdm

        # the farm's own ETA in the postfix (from the takes it rendered): tqdm's would count the takes
        # loaded from an earlier run as done in no time
        return tqdm(total=total, desc=f"farm ({len(self.actors)} workers)", unit="take",
                    bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]")
