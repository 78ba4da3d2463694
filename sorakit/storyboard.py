"""Storyboards: several shots with one cast, rendered in order, resumable, joined into one film.

A ``Storyboard`` is a cast (characters with a cameo or a reference picture and a voice) and an
ordered list of ``Shot``\\ s, each a Take plus how it joins the one before: ``cut``, ``crossfade``,
``continue`` (it starts from the previous shot's last frame, image-to-video) or ``match`` (same
model, seed, size, steps, guidance and negative prompt as the previous shot). ``render`` makes
the shots in order and saves each as soon as it is done; run it again after an interruption and
it loads the finished shots instead of rendering them again. The film joins them on one
timeline, with a music bed and dialogue that may run across the cuts, into ``film.mp4``.

>>> import sorakit, tempfile
>>> board = Storyboard((Shot(sorakit.Take(frames=16, width=96, height=64, seed=1)),
...                     Shot(sorakit.Take(frames=16, width=96, height=64, seed=2,
...                                       physics=sorakit.PhysicsConfig(scene="dominoes")))))
>>> film = board.render(tempfile.mkdtemp())
>>> film.duration, film.status, [e.state for e in film.log]
(2.0, 'complete', ['rendering', 'rendered', 'rendering', 'rendered'])
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sorakit import _media, _serde, credentials, models
from sorakit._version import __version__
from sorakit.audio import soundtrack as _soundtrack
from sorakit.audio.mix import RATE, Track, mix
from sorakit.audio.soundtrack import SoundtrackInfo
from sorakit.cameo import Cameo
from sorakit.clip import Clip
from sorakit.sidecar import AI_LABEL, FILM_FORMAT, take_hash, write
from sorakit.consistency import ConsistencyReport
from sorakit.lipsync import LipSync
from sorakit.errors import InvalidInput
from sorakit.farm import Done, Farm, Job, saved
from sorakit.take import DialogueLine, PhysicsConfig, SoundConfig, Take

JOINS = ("cut", "crossfade", "continue", "match")
EDGE = 0.005  # s of fade at every cut, so the sound never clicks where shots meet
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_OWN_FILES = re.compile(r"storyboard|shot_[0-9]+(_last)?", re.IGNORECASE)  # names the render already writes


@dataclass(frozen=True)
class Character:
    """Someone (or something) in the film: a cameo of a real person (with consent) or a reference
    picture, and the voice their lines are spoken in (a TTS voice; see ``sorakit.audio.tts``)."""

    name: str
    cameo: Cameo | None = None
    reference: str | None = None
    voice: str = ""

    @property
    def image(self) -> str | None:
        """The picture that shows who this is: the cameo's photo, else the reference."""
        return self.cameo.image if self.cameo is not None else self.reference


@dataclass(frozen=True)
class Shot:
    """One shot: its Take, how it joins the previous shot, and which characters are in it.

    ``characters`` name cast members: the first with a cameo conditions an image-to-video, VACE or
    identity Take that has no cameo of its own; every character's voice speaks their lines.
    """

    take: Take
    join: str = "cut"
    characters: tuple[str, ...] = ()


@dataclass(frozen=True)
class ShotEvent:
    """Progress of a render: shot ``index`` (from 0) of ``total`` was ``rendering``, ``rendered``
    (made and saved), ``loaded`` (already saved by an earlier run) or ``stopped``."""

    index: int
    total: int
    state: str
    path: str = ""


@dataclass(frozen=True, eq=False)
class Film:
    """The joined film: frames, sound, the shots it was made of and where each starts.

    ``status`` is ``complete`` or says where a stopped render ended; ``path`` is ``film.mp4`` once
    the complete film is saved. ``log`` lists what happened to each shot in this run.
    """

    frames: np.ndarray
    fps: int
    audio: np.ndarray
    sample_rate: int
    shots: tuple[Clip, ...]
    starts: tuple[float, ...]
    soundtrack: SoundtrackInfo | None
    status: str
    path: Path | None = None
    log: tuple[ShotEvent, ...] = ()
    cast: tuple[Character, ...] = ()

    @property
    def duration(self) -> float:
        return float(self.frames.shape[0] / self.fps)

    def consistency(self, *, model: str | None = None, device: str | None = None) -> ConsistencyReport:
        """How alike the shots look and whether the cast is found in each (``sorakit.consistency``).

        Args:
            model: the image-embedding model (a CLIP vision checkpoint: hub id or folder);
                ``sorakit.consistency.DEFAULT_EMBEDDER`` by default.
        """
        from sorakit.consistency import DEFAULT_EMBEDDER, measure

        cast: dict[str, Any] = {c.name: c.image for c in self.cast if c.image is not None}
        report = measure(self.shots, cast=cast or None, model=model or DEFAULT_EMBEDDER, device=device)
        return dataclasses.replace(report, lip_sync=self.lip_sync())

    def lip_sync(self) -> tuple[LipSync | None, ...]:
        """Per shot, ``sorakit.lipsync`` over the film's sound where lines are heard in that shot
        (the film's own lines and the shot's), else None."""
        from sorakit.lipsync import lipsync

        lines = self.soundtrack.lines if self.soundtrack is not None else ()
        out: list[LipSync | None] = []
        for clip, start in zip(self.shots, self.starts):
            if not any(start < line.end and line.start < start + clip.duration for line in lines):
                out.append(None)
                continue
            lo = int(round(start * self.sample_rate))
            heard = self.audio[:, lo:lo + int(round(clip.duration * self.sample_rate))]
            out.append(lipsync(dataclasses.replace(clip, audio=heard, sample_rate=self.sample_rate, stems={})))
        return tuple(out)


@dataclass(frozen=True)
class Storyboard:
    """A cast and an ordered list of shots that render into one film.

    Attributes:
        shots: the shots, in order; all share one size and frame rate.
        cast: the characters.
        music: a music bed for the whole film (it runs across the cuts and ducks under dialogue).
        music_model, music_backend: as in ``SoundConfig``.
        dialogue: lines on the film's timeline (seconds from the film's start; they may run across
            a cut); a line whose speaker is a cast member with a voice is spoken in that voice.
        crossfade: seconds of a ``crossfade`` join (picture and sound overlap for that long).
        loudness: the film's loudness target in LUFS.
        name: the film's file name (``film`` writes ``film.mp4``).
    """

    shots: tuple[Shot, ...]
    cast: tuple[Character, ...] = ()
    music: str = ""
    music_model: str = "facebook/musicgen-small"
    music_backend: str = "auto"
    dialogue: tuple[DialogueLine, ...] = ()
    crossfade: float = 0.5
    loudness: float | None = -16.0
    name: str = "film"

    # -- checks and the plan ------------------------------------------------------------------
    def validate(self) -> None:
        """Checks the whole storyboard before anything renders: the value, the rule and the fix."""
        self._check_types()
        if not self.shots:
            raise InvalidInput("shots=(): a storyboard needs at least one shot")
        if not _NAME.fullmatch(self.name):
            raise InvalidInput(f"name={self.name!r}: a film's name is 1-64 letters, digits, '_' or '-' "
                               "(it becomes the file name); use e.g. 'film'")
        if _OWN_FILES.fullmatch(self.name):
            raise InvalidInput(f"name={self.name!r}: the film would overwrite the render's own storyboard.json or "
                               "shot files beside it; use another name, e.g. 'film'")
        names = [c.name for c in self.cast]
        if len(set(names)) != len(names):
            raise InvalidInput(f"cast: names must differ, got {names}")
        for c in self.cast:
            if c.cameo is None and c.reference is not None and not os.path.isfile(c.reference):
                raise InvalidInput(f"cast {c.name!r}: reference={c.reference!r}: no such file")
        if not (math.isfinite(self.crossfade) and 0.0 < self.crossfade <= 5.0):
            raise InvalidInput(f"crossfade={self.crossfade!r}: must be in (0, 5] seconds; 0.5 is a soft dissolve")
        first = self.shots[0].take
        for i, shot in enumerate(self.shots):
            where = f"shots[{i}]"
            if shot.join not in JOINS:
                raise InvalidInput(f"{where}.join={shot.join!r}: must be one of {', '.join(JOINS)}")
            if i == 0 and shot.join in ("crossfade", "continue", "match"):
                raise InvalidInput(f"{where}.join={shot.join!r}: the first shot has nothing to join; use 'cut'")
            for who in shot.characters:
                if who not in names:
                    raise InvalidInput(f"{where}.characters: {who!r} is not in the cast ({', '.join(names) or 'empty'})")
            t = shot.take
            (w, h), (w0, h0) = t.size, first.size  # a knob left unset is the shot's model's card value
            if (w, h, t.rate) != (w0, h0, first.rate):
                raise InvalidInput(f"{where}.take: {w}x{h} at {t.rate} fps, but shot 0 is {w0}x{h0} at "
                                   f"{first.rate} fps; one film has one size and rate (set width, height and fps "
                                   "on every shot)")
            if shot.join == "continue":
                spec = models.get(self._resolved(i, t).model)
                if "i2v" not in spec.modes:
                    raise InvalidInput(f"{where}.join='continue': it starts from the previous shot's last frame, "
                                       f"which needs an image-to-video model; {spec.name} runs "
                                       f"{', '.join(spec.modes)}. Use 'cut', or a model with i2v")
        previous = first
        for i, shot in enumerate(self.shots):
            take = self._resolved(i, previous)
            if shot.join == "continue":  # its first frame exists once the shot before it is made
                take.replace(mode="i2v", first_frame=None).validate(first_frame_pending=True)
            else:
                take.validate()
            previous = take
        for i, shot in enumerate(self.shots):  # durations are known once every Take is valid
            t = shot.take
            if shot.join == "crossfade" and self.crossfade >= min(t.duration, self.shots[i - 1].take.duration):
                raise InvalidInput(f"shots[{i}]: a crossfade of {self.crossfade:g} s needs both shots longer than it")
            if shot.join == "crossfade" and round(self.crossfade * t.rate) < 1:
                raise InvalidInput(f"crossfade={self.crossfade:g}: shorter than one frame at {t.rate} fps "
                                   f"({1 / t.rate:.4g} s), so nothing would blend; use at least {1 / t.rate:.4g} s, "
                                   "or join='cut'")
        if self.loudness is not None and not (math.isfinite(self.loudness) and -40 <= self.loudness <= -5):
            raise InvalidInput(f"loudness={self.loudness!r}: must be in [-40, -5] LUFS or None; -16 suits web and "
                               "phone video, -23 broadcast")
        total = self.duration
        for i, line in enumerate(self.dialogue):
            if not line.text.strip() or not (math.isfinite(line.start) and 0 <= line.start < total):
                raise InvalidInput(f"dialogue[{i}]: a line needs text and a start within the film [0, {total:g}) s")
        if self.music or self.dialogue:
            bed = self._bed_take()
            # the music model id and the voices; at one frame a second, so a long film is not held to
            # the previz's frame limit (nothing of the bed is drawn)
            bed.replace(fps=1, frames=max(1, math.ceil(self.duration))).validate()
            _soundtrack.preflight(bed)
        for c in self.cast:  # consent, a readable photo with a face: before any model loads
            if c.cameo is not None:
                c.cameo.check()

    def _check_types(self) -> None:
        """Refuses a wrong type where a rule below would crash (a Take where a Shot goes, None for a number)."""
        def bad(key: str, value: object, rule: str, fix: str) -> InvalidInput:
            text = repr(value)
            return InvalidInput(f"{key}={text if len(text) <= 60 else text[:57] + '...'}: {rule}; {fix}")

        def number(value: object) -> bool:
            return isinstance(value, (int, float)) and not isinstance(value, bool)

        if not isinstance(self.shots, (tuple, list)):
            raise bad("shots", self.shots, "must be a tuple of Shot", "write shots=(Shot(take1), Shot(take2))")
        for i, shot in enumerate(self.shots):
            if not isinstance(shot, Shot):
                raise bad(f"shots[{i}]", shot, "must be a sorakit.Shot", "wrap a Take as Shot(take)")
            if not isinstance(shot.take, Take):
                raise bad(f"shots[{i}].take", shot.take, "must be a sorakit.Take", "make one with sorakit.Take(...)")
            _serde.from_dict(Take, shot.take.to_dict(), path=f"shots[{i}].take")
            if not (isinstance(shot.characters, (tuple, list)) and all(isinstance(c, str) for c in shot.characters)):
                raise bad(f"shots[{i}].characters", shot.characters, "must be a tuple of cast names",
                          "write characters=('Ana',)")
        if not (isinstance(self.cast, (tuple, list)) and all(isinstance(c, Character) for c in self.cast)):
            raise bad("cast", self.cast, "must be a tuple of sorakit.Character", "write cast=(Character('Ana'),)")
        for c in self.cast:
            if not isinstance(c.name, str) or not isinstance(c.voice, str):
                raise bad("cast", c, "a character's name and voice are strings", "write Character('Ana', voice='')")
            if c.cameo is not None and not isinstance(c.cameo, Cameo):
                raise bad(f"cast {c.name!r}: cameo", c.cameo, "must be a sorakit.Cameo or None",
                          "write cameo=sorakit.Cameo(photo, name, consent=True)")
            if c.reference is not None and not isinstance(c.reference, (str, os.PathLike)):
                raise bad(f"cast {c.name!r}: reference", c.reference, "must be a picture's path or None",
                          "write reference='ana.png'")
        if not (isinstance(self.dialogue, (tuple, list)) and all(isinstance(d, DialogueLine) for d in self.dialogue)):
            raise bad("dialogue", self.dialogue, "must be a tuple of sorakit.DialogueLine",
                      "write dialogue=(DialogueLine('Ana', 'Hi', 0.5),)")
        for i, line in enumerate(self.dialogue):
            _serde.from_dict(DialogueLine, _serde.to_dict(line), path=f"dialogue[{i}]")
        for key in ("name", "music", "music_model", "music_backend"):
            if not isinstance(getattr(self, key), str):
                raise bad(key, getattr(self, key), "must be a string", f"the default is {key}={_DEFAULTS[key]!r}")
        if not number(self.crossfade):
            raise bad("crossfade", self.crossfade, "must be a number of seconds", "0.5 is a soft dissolve")
        if self.loudness is not None and not number(self.loudness):
            raise bad("loudness", self.loudness, "must be a number (LUFS) or None", "-16 suits web and phone video")

    @property
    def duration(self) -> float:
        """The film's length: the shots' durations added up, less each crossfade's overlap."""
        return self._starts([s.take.duration for s in self.shots])[-1] + self.shots[-1].take.duration

    def _starts(self, durations: list[float]) -> list[float]:
        starts = [0.0]
        for i in range(1, len(durations)):
            overlap = self.crossfade if self.shots[i].join == "crossfade" else 0.0
            starts.append(starts[-1] + durations[i - 1] - overlap)
        return starts

    def _character(self, name: str) -> Character | None:
        return next((c for c in self.cast if c.name == name), None)

    def _resolved(self, i: int, previous: Take, *, first_frame: str | None = None) -> Take:
        """Shot ``i``'s Take with the cast applied, matched to ``previous`` when it joins with 'match'."""
        shot = self.shots[i]
        take = shot.take
        if shot.join == "match" and i > 0:
            prev = previous
            take = take.replace(model=prev.model, seed=prev.seed, width=prev.width, height=prev.height,
                                steps=prev.steps, guidance_scale=prev.guidance_scale,
                                negative_prompt=prev.negative_prompt)
        if shot.join == "continue" and first_frame is not None:
            take = take.replace(mode="i2v", first_frame=first_frame)
        if take.cameo is None and take.mode in ("i2v", "vace", "identity") and shot.join != "continue":
            for who in shot.characters:
                c = self._character(who)
                if c is not None and c.cameo is not None:
                    take = take.with_cameo(c.cameo)
                    break
        voiced = tuple(dataclasses.replace(line, voice=self._voice(line)) for line in take.sound.dialogue)
        if voiced != take.sound.dialogue:
            take = take.replace(sound=dataclasses.replace(take.sound, dialogue=voiced))
        return take

    def _voice(self, line: DialogueLine) -> str:
        c = self._character(line.speaker)
        return line.voice or (c.voice if c is not None else "")

    def _bed_take(self) -> Take:
        """A Take that carries the film-wide sound (music bed, dialogue) for the sound models."""
        first = self.shots[0].take
        frames = max(1, int(round(self.duration * first.rate)))
        lines = tuple(dataclasses.replace(line, voice=self._voice(line)) for line in self.dialogue)
        sound = SoundConfig(foley=False, music=self.music, music_model=self.music_model, backend=self.music_backend,
                            dialogue=lines, loudness=self.loudness)
        return Take(seed=first.seed, frames=frames, fps=first.rate, width=first.size[0], height=first.size[1],
                    physics=PhysicsConfig(), sound=sound)  # the previz backend carries the sound only

    # -- rendering ------------------------------------------------------------------------------
    def render(self, out_dir: str | os.PathLike[str], *, on_shot: Callable[[ShotEvent], None] | None = None,
               should_stop: Callable[[], bool] | None = None, progress: bool | None = None,
               on_step: Any = None, farm: Farm | None = None) -> Film:
        """Renders the shots in order into ``out_dir``, saving each when done, then the film.

        Shots already saved there by an earlier run of the same storyboard (same Take, file intact)
        are loaded, not rendered again. A render stopped by ``should_stop`` or interrupted
        (KeyboardInterrupt, a lost runtime) keeps every finished shot; no file is ever left
        half-written under its final name.

        Args:
            out_dir: the folder for ``shot_01.mp4`` ... and ``<name>.mp4``; everything is written inside it.
            on_shot: called with a ``ShotEvent`` as each shot starts, is saved or is loaded.
            should_stop: polled during each shot; when True the current shot ends unsaved and the
                film returned holds the finished shots, its status saying where it stopped.
            progress: True shows a bar over the shots and each shot's bars; False none; None (the
                default) leaves it to ``generate`` (video models show their steps).
            on_step: passed to ``generate`` for each shot.
            farm: where the shots render (``sorakit.RayFarm(...)``): every shot that does not continue
                from the one before is handed to it at once and they render in parallel, each saved as it
                finishes; then each 'continue' shot, which needs the last frame of the shot before, in
                order. None renders every shot here, in order. A shot that fails on the farm ends the
                film there, as a stop does (``film.status`` says which), with every finished shot saved.
        """
        from sorakit.generate import generate

        self.validate()
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        _clean_stale(out)
        with _media.atomic_path(out / "storyboard.json") as tmp:
            tmp.write_text(json.dumps(_serde.to_dict(self), indent=2, ensure_ascii=False), encoding="utf-8")
        clips: list[Clip] = []
        log: list[ShotEvent] = []
        n = len(self.shots)

        def note(event: ShotEvent) -> None:
            log.append(event)
            if on_shot is not None:
                on_shot(event)

        previous: Take | None = None
        status = "complete"
        # The film's lines over the shots that lip-sync: spoken once on the film's timeline, and each
        # such shot made to its slice of them (a line running across a cut is in both shots).
        starts = self._starts([s.take.duration for s in self.shots])
        film_spoken: _soundtrack.Spoken | None = None
        film_speech = None
        if self.dialogue and any(s.take.lip_syncs for s in self.shots):
            film_spoken = _soundtrack.speak(self._bed_take(), self.duration)
            film_speech = _soundtrack.speech_track(film_spoken, self.duration, RATE)

        def speech_for(i: int, take: Take) -> tuple[np.ndarray, int] | None:
            """Shot ``i``'s slice of the film's lines, when it lip-syncs them."""
            if film_speech is None or not take.lip_syncs:
                return None
            lo = int(round(starts[i] * RATE))
            part = film_speech[lo:lo + int(round(take.resolved().duration * RATE))]
            return (part, RATE) if np.any(part) else None

        on_farm = self._on_farm(farm, out, speech_for, note, should_stop) if farm is not None else {}
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=f"storyboard {self.name}", unit="shot")
        try:
            for i in range(n):
                if i in on_farm:  # rendered (or loaded, or failed) on the farm already
                    done = on_farm[i]
                    if done.clip is None:
                        status = (f"stopped in shot {i + 1} of {n}" if done.state == "stopped" else
                                  f"failed in shot {i + 1} of {n}: {done.error}")
                        break
                    clips.append(done.clip)
                    previous = done.job.take
                    if bar is not None:
                        bar.update(1)
                    continue
                path = out / f"shot_{i + 1:02d}.mp4"
                still = None
                if self.shots[i].join == "continue":  # named after the exact shot it comes from, so a
                    still = _start_frame(out, i, clips[-1])  # re-rendered shot before it means a new start
                # A continue shot's start frame is named relative to the film's folder in its Take (so
                # moving or respelling the folder renders nothing again); it runs from the file itself.
                take = self._resolved(i, previous or self.shots[0].take,
                                      first_frame=None if still is None else still.name)
                speech = speech_for(i, take)
                # a saved shot is this one when it has the same Take (card filled in) and was made to
                # the same speech
                kept = saved(Job(take, path, speech))
                if kept is not None:
                    clips.append(kept)
                    note(ShotEvent(i, n, "loaded", str(path)))
                else:
                    note(ShotEvent(i, n, "rendering", str(path)))
                    run = take if still is None else take.replace(first_frame=str(still))
                    if farm is not None:  # a continue shot, on the farm too, now that its first frame is made
                        [done] = farm.run([Job(run, path, speech, save=False)], should_stop=should_stop)
                        if done.clip is None:
                            status = f"{done.state} in shot {i + 1} of {n}" + (f": {done.error}" if done.error else "")
                            break
                        clip = done.clip  # saved below, with its start frame named as the film's folder has it
                    else:
                        clip = generate(run, should_stop=should_stop, progress=progress, on_step=on_step,
                                        speech=speech)
                    if still is not None:
                        clip = dataclasses.replace(clip, take=clip.take.replace(first_frame=still.name))
                    if clip.provenance.status != "complete":
                        note(ShotEvent(i, n, "stopped", ""))
                        status = f"stopped in shot {i + 1} of {n} ({clip.provenance.status})"
                        break
                    clip.save(path)
                    clips.append(clip)
                    note(ShotEvent(i, n, "rendered", str(path)))
                if bar is not None:
                    bar.update(1)
                previous = take
        finally:
            if bar is not None:
                bar.close()
        film = dataclasses.replace(self._join(clips, status, tuple(log), film_spoken), cast=self.cast)
        if status != "complete":
            return film
        return dataclasses.replace(film, path=self._save(film, out))

    def _on_farm(self, farm: Farm, out: Path, speech_for: Callable[[int, Take], tuple[np.ndarray, int] | None],
                 note: Callable[[ShotEvent], None], should_stop: Callable[[], bool] | None) -> dict[int, Done]:
        """Every shot that does not continue from the one before, rendered on ``farm`` at once (each saved
        as ``shot_NN.mp4`` as it finishes; one saved by an earlier run is loaded): shot index -> ``Done``."""
        n = len(self.shots)
        jobs: list[Job] = []
        where: dict[Path, int] = {}
        previous: Take | None = None
        for i in range(n):
            take = self._resolved(i, previous or self.shots[0].take)
            if self.shots[i].join != "continue":
                path = out / f"shot_{i + 1:02d}.mp4"
                where[path] = i
                jobs.append(Job(take, path, speech_for(i, take)))
                note(ShotEvent(i, n, "rendering", str(path)))
            previous = take

        def finished(done: Done) -> None:
            if done.clip is not None:
                i = where[done.job.path]
                note(ShotEvent(i, n, "loaded" if done.state == "loaded" else "rendered", str(done.job.path)))

        results = farm.run(jobs, on_done=finished, should_stop=should_stop)
        return {where[d.job.path]: d for d in results}

    def _join(self, clips: list[Clip], status: str, log: tuple[ShotEvent, ...],
              spoken: _soundtrack.Spoken | None = None) -> Film:
        """The shots on one timeline: crossfades blended, sound from every shot plus the film's own."""
        first = self.shots[0].take
        fps = first.rate
        if not clips:
            empty = np.zeros((0, first.size[1], first.size[0], 3), np.uint8)
            return Film(empty, fps, np.zeros((2, 0), np.float32), RATE, (), (), None, status, log=log)
        frame_counts = [c.frames.shape[0] for c in clips]
        starts = self._starts([k / fps for k in frame_counts])
        first_frames = [int(round(s * fps)) for s in starts]
        total = first_frames[-1] + frame_counts[-1]
        frames = np.zeros((total, *clips[0].frames.shape[1:]), np.float32)
        weight = np.zeros(total, np.float32)
        for i, (clip, at) in enumerate(zip(clips, first_frames)):
            ramp = np.ones(clip.frames.shape[0], np.float32)
            k = int(round(self.crossfade * fps))
            if i > 0 and self.shots[i].join == "crossfade":
                ramp[:k] = (np.arange(k) + 1) / (k + 1)
            if i + 1 < len(clips) and self.shots[i + 1].join == "crossfade":
                ramp[-k:] = np.minimum(ramp[-k:], 1 - (np.arange(k) + 1) / (k + 1))
            frames[at:at + len(ramp)] += clip.frames.astype(np.float32) * ramp[:, None, None, None]
            weight[at:at + len(ramp)] += ramp
        frames = np.clip(np.rint(frames / np.maximum(weight, 1e-6)[:, None, None, None]), 0, 255).astype(np.uint8)
        duration = total / fps
        parts: list[Track] = []
        for i, (clip, start) in enumerate(zip(clips, starts)):
            fade_in = self.crossfade if i > 0 and self.shots[i].join == "crossfade" else EDGE
            fade_out = self.crossfade if i + 1 < len(clips) and self.shots[i + 1].join == "crossfade" else EDGE
            parts.append(Track("shots", clip.audio, clip.sample_rate, start=start, fade_in=fade_in if i else 0.0,
                               fade_out=fade_out if i + 1 < len(clips) else 0.0, label=f"shot {i + 1}"))
        lines: tuple[_soundtrack.SpokenLine, ...] = ()
        if status == "complete" and (self.music or self.dialogue):
            bed, lines = _soundtrack.tracks(self._bed_take(), duration, spoken=spoken)
            lines = tuple(self._how(line, clips, starts) for line in lines)
            for i, track in enumerate(bed):  # shots may speak even when the film itself has no lines
                if track.name == "music":
                    bed[i] = dataclasses.replace(track, duck=True)
            parts += bed
        shot_lines = tuple(dataclasses.replace(line, start=round(line.start + s, 6), end=round(line.end + s, 6))
                           for c, s in zip(clips, starts) for line in (c.soundtrack.lines if c.soundtrack else ()))
        # the music bed also ducks under the lines spoken inside the shots
        mixed = mix(parts, duration, loudness=self.loudness, speech=tuple((x.start, x.end) for x in shot_lines))
        info = SoundtrackInfo(mixed.info, lines + shot_lines)
        return Film(frames, fps, mixed.audio, mixed.rate, tuple(clips), tuple(starts), info, status, log=log)

    def _how(self, line: _soundtrack.SpokenLine, clips: list[Clip], starts: list[float]) -> _soundtrack.SpokenLine:
        """A film line is ``lip-synced`` when every shot it is heard over was made to it, else ``overlaid``."""
        over = [c for c, s in zip(clips, starts) if s < line.end and line.start < s + c.duration]
        from sorakit.generate import FILM_SPEECH

        synced = bool(over) and all(FILM_SPEECH in c.provenance.dialogue for c in over)
        return dataclasses.replace(line, how=_soundtrack.LIP_SYNCED if synced else _soundtrack.OVERLAID)

    def _save(self, film: Film, out: Path) -> Path:
        def side(sha: str) -> dict[str, object]:
            return {"format": FILM_FORMAT, "label": AI_LABEL, "sorakit_version": __version__, "mp4_sha256": sha,
                    "storyboard": _serde.to_dict(self),
                    "shots": [{"path": f"shot_{i + 1:02d}.mp4", "start": s, "take_sha256": take_hash(c.take),
                               "model_id": c.provenance.model_id, "seed": c.take.seed, "cameo": c.provenance.cameo}
                              for i, (c, s) in enumerate(zip(film.shots, film.starts))],
                    "video": {"frames": int(film.frames.shape[0]), "fps": film.fps},
                    "audio": {"sample_rate": film.sample_rate, "samples": int(film.audio.shape[1])},
                    "soundtrack": _serde.to_dict(film.soundtrack)}

        consents = "; ".join(dict.fromkeys(credentials._consent(c.provenance.cameo) for c in film.shots
                                           if c.provenance.cameo))
        claims = credentials.manifest(title=f"{self.name}.mp4", model_id="storyboard", revision="", seed=None,
                                      guidance="", cameo=consents, label=AI_LABEL, backend="storyboard")
        shots = tuple(out / f"shot_{i + 1:02d}.mp4" for i in range(len(film.shots)))
        return write(out / f"{self.name}.mp4", film.frames, film.fps, film.audio, film.sample_rate,
                     made_by="storyboard", description=f"{len(film.shots)} shots; storyboard {self.name}",
                     sidecar=side, claims=claims, ingredients=tuple(s for s in shots if s.is_file()),
                     who="Storyboard.render")


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Storyboard)}


def _start_frame(out: Path, i: int, before: Clip) -> Path:
    """The first frame of 'continue' shot ``i``: the last frame of the shot before, saved as a PNG
    whose name carries that shot's mp4 hash (older starts of this shot are removed)."""
    from PIL import Image

    side = json.loads((out / f"shot_{i:02d}.json").read_text(encoding="utf-8"))
    still = out / f"shot_{i + 1:02d}_start_{str(side['mp4_sha256'])[:12]}.png"
    for old in out.glob(f"shot_{i + 1:02d}_start_*.png"):
        if old != still:
            old.unlink(missing_ok=True)
    if not still.is_file():
        with _media.atomic_path(still) as tmp:
            Image.fromarray(before.frames[-1]).save(tmp, format="PNG")
    return still


def _clean_stale(out: Path) -> None:
    """Removes temporary files a killed run left behind (``.shot_01.mp4.xxxx.part``); never a final file."""
    for p in out.glob(".*.part"):
        if p.is_file():
            p.unlink(missing_ok=True)
