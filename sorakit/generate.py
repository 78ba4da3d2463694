"""``generate(take)``: validates the Take, fills it from its model's card, checks its sound, then
hands it to its backend (the previz here; a video model through ``backends.contract``)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np

from sorakit import models
from sorakit.audio import soundtrack
from sorakit.audio.mix import Track, mix
from sorakit.cameo import Cameo
from sorakit.callbacks import OnSound, OnStep, ShouldStop, Step
from sorakit.clip import Clip, Provenance
from sorakit.errors import SoundtrackFailed, Stopped
from sorakit.foley import SAMPLE_RATE, synthesize
from sorakit.physics.simulate import Simulation, simulate
from sorakit.previz import check_memory, render
from sorakit.take import Take

__all__ = ["generate", "Step"]


def generate(take: Take, *, on_step: OnStep | None = None, should_stop: ShouldStop | None = None,
             progress: bool | None = None, retry_lighter: bool = False,
             on_sound: OnSound | None = None, speech: tuple[np.ndarray, int] | None = None) -> Clip:
    """Renders ``take`` into a Clip with whichever backend its model names.

    >>> import sorakit
    >>> clip = sorakit.generate(sorakit.Take(frames=16, width=128, height=80, seed=3))
    >>> clip.frames.shape, clip.audio.shape
    ((16, 80, 128, 3), (2, 48000))

    Args:
        take: every knob; validated first, so a bad value fails before any model loads.
        on_step: called after each step with a ``Step`` (step, total, seconds per step, ETA, preview image).
            For previz a step is one rendered frame.
        should_stop: polled after each step; when it returns True the run ends within one step and
            the clip made so far comes back, its ``provenance.status`` saying where it stopped.
        progress: show tqdm progress bars; by default (None) the video models show one unless
            ``on_step`` is given, and the previz and the sound models show none. False hides them all.
        retry_lighter: after a CUDA out-of-memory error, run again under the next lighter memory
            preset instead of raising ``OutOfMemory``; the clip's Take records the preset used.
        on_sound: progress of the sound models after the video, ``(track, done, total)``.
        speech: more speech on the clip's timeline, ``(samples, rate)``, for a joint-audio model
            to make the picture to, besides the Take's own lines: a storyboard gives each shot the
            slice of the film's lines that falls inside it. Whoever spoke it mixes it; the clip's
            sound leaves it out. Ignored (with the Take's own lines overlaid) where the Take does
            not lip-sync.

    Raises:
        InvalidInput: a bad Take, before anything loads (a line its voice cannot speak included).
        MissingPackage: a sound track needs a library that is not installed (checked before the video).
        SoundtrackFailed: a sound model failed after the video was made; ``err.clip`` keeps the
            video with the sound that was made (Foley, a video model's own sound).
    """
    take.validate()
    take = take.resolved()  # the model card fills every knob left unset; the clip records the filled Take
    soundtrack.preflight(take)
    person = _cameo(take)  # the photo is checked (readable, big enough, a face) before any model loads
    spec = models.get(take.model)
    spoken = None
    if take.lip_synced:  # the lines are spoken first: the picture is made to them
        spoken = soundtrack.speak(take, take.duration)
    film = speech if speech is not None and take.lip_syncs else None
    over = None  # a video model's own sound came back: the Foley to lay over it (silent where none follows)
    if spec.backend == "previz":
        clip = _previz(take, on_step=on_step, should_stop=should_stop, progress=bool(progress))
    else:
        clip, over = _diffusers(take, spec, person, on_step=on_step, should_stop=should_stop,
                                progress=on_step is None if progress is None else progress,
                                retry_lighter=retry_lighter, spoken=spoken, speech=film)
    if take.watermark:  # a visible "AI-generated" in every frame, recorded in the provenance
        from sorakit.watermark import LABEL, burn

        clip = dataclasses.replace(clip, frames=burn(clip.frames),
                                   provenance=dataclasses.replace(clip.provenance, watermark=LABEL))
    # The backends hand back the video with its raw sound: Foley at 48 kHz, or a video model's own
    # (left out when lip-synced: it is the lines it was given, which the mix has from the voices)
    # with the Foley of the frames that follow the simulation on top.
    own = over is not None  # not a checkpoint without its sound part (a Cosmos 3 without the sound tokenizer)
    joint = (clip.audio, clip.sample_rate) if own and spoken is None and film is None else None
    return _with_sound(clip, foley=over if own else clip.audio, joint=joint, on_sound=on_sound,
                       should_stop=should_stop, progress=bool(progress), spoken=spoken)


def _cameo(take: Take) -> Cameo | None:
    if take.cameo is None:
        return None
    person = Cameo(take.cameo, take.cameo_name or Path(take.cameo).stem, consent=take.cameo_consent)
    person.check()
    return person


def _with_sound(clip: Clip, *, foley: np.ndarray | None, joint: tuple[np.ndarray, int] | None,
                on_sound: OnSound | None, should_stop: ShouldStop | None, progress: bool,
                spoken: soundtrack.Spoken | None = None) -> Clip:
    """The clip with its mixed soundtrack; a sound model's failure keeps the video (``SoundtrackFailed``)."""
    take = clip.take
    stopped = clip.provenance.status != "complete"
    bars: dict[str, Any] = {}

    def report(track: str, done: int, total: int) -> None:
        if on_sound is not None:
            on_sound(track, done, total)
        if progress:
            from tqdm.auto import tqdm

            bar = bars.get(track) or bars.setdefault(track, tqdm(total=total, desc=track, unit="step"))
            bar.update(done - bar.n)

    try:
        built = soundtrack.build(take, clip.duration, foley=foley, joint=joint, on_sound=report,
                                 should_stop=should_stop, models=not stopped, spoken=spoken)
    except Stopped as exc:  # stopped while a sound model ran: keep the video with the sound made without models
        built = soundtrack.build(take, clip.duration, foley=foley, joint=joint, models=False)
        clip = dataclasses.replace(clip, provenance=dataclasses.replace(
            clip.provenance, status=f"video complete; sound {exc.what} stopped after step {exc.done} of {exc.total}"))
    except Exception as exc:
        basic = soundtrack.build(take, clip.duration, foley=foley, joint=joint, models=False)
        kept = _replace_sound(clip, basic)
        raise SoundtrackFailed(f"the video was made, but its sound failed: {type(exc).__name__}: {exc}. "
                               "err.clip keeps the video with its Foley; save it with err.clip.save(path)",
                               kept) from exc
    finally:
        for bar in bars.values():
            bar.close()
    return _replace_sound(clip, built)


def _replace_sound(clip: Clip, built: soundtrack.Soundtrack) -> Clip:
    return Clip(clip.frames, clip.fps, built.mix.audio, built.mix.rate, clip.take, clip.provenance, clip.events,
                soundtrack=built.info, stems=built.mix.stems)


def _foley(take: Take, sim: Simulation | None, until: float | None = None) -> np.ndarray:
    """The scene's impacts as a stereo track; only those before ``until`` seconds when the picture
    follows the simulation no further (a continuation keeps just the previz's first frames)."""
    n = int(round(take.duration * SAMPLE_RATE))
    if sim is None or not take.sound.foley:
        return np.zeros((2, n), np.float32)
    events = [e for e in sim.events if until is None or e.time < until]
    return synthesize(events, sim.scene, take.duration, seed=take.seed)


def _previz(take: Take, *, on_step: OnStep | None, should_stop: ShouldStop | None, progress: bool) -> Clip:
    scene = take.scene()
    assert scene is not None  # validate() refuses a previz Take without a scene
    check_memory(take.n_frames, *take.size, take.rate)  # before anything renders
    sim = simulate(scene, frames=take.n_frames, fps=take.rate)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=take.n_frames, desc=f"previz {scene.name}", unit="frame")
    start = time.perf_counter()
    stopped_at: list[int] = []

    def on_frame(i: int, total: int, frame: np.ndarray) -> bool:
        if bar is not None:
            bar.update(1)
        if on_step is not None:
            per = (time.perf_counter() - start) / i
            on_step(Step(i, total, per, per * (total - i), frame))
        if should_stop is not None and i < total and should_stop():
            stopped_at.append(i)
            return False
        return True

    try:
        pv = render(sim, *take.size, trail=take.physics.trail, on_frame=on_frame)
    finally:
        if bar is not None:
            bar.close()
    audio = _foley(take, sim)
    frames, status = pv.frames, "complete"
    if stopped_at:
        done = stopped_at[0]
        frames = frames[:done]
        audio = audio[:, : int(round(done / take.rate * SAMPLE_RATE))]
        status = f"stopped after step {done} of {take.n_frames}"
    events = tuple(e for e in sim.events if e.time < frames.shape[0] / take.rate)
    return Clip(np.ascontiguousarray(frames), take.rate, np.ascontiguousarray(audio), SAMPLE_RATE, take,
                Provenance.now("previz", "previz", take.seed, status), events)


def _diffusers(take: Take, spec: models.ModelSpec, person: Cameo | None, *, on_step: OnStep | None,
               should_stop: ShouldStop | None, progress: bool, retry_lighter: bool = False,
               spoken: soundtrack.Spoken | None = None, speech: tuple[np.ndarray, int] | None = None
               ) -> tuple[Clip, np.ndarray | None]:
    """The clip from a diffusers model, its sound the model's own or Foley; and when the model made
    its own sound, the Foley (48 kHz) of the frames that follow the simulation, which the mix lays over
    it (silent where none does), else None."""
    from sorakit.backends import _runtime, family
    from sorakit.backends.contract import conditioning

    fam = family(spec.family)
    spec = models.variant(spec, take)  # a fast variant's own checkpoint, where it has one
    cond = conditioning(take, person)
    notes = [_dialogue_note(take, spec)] if take.sound.dialogue else []
    if spoken is not None or speech is not None:  # lip sync: the lines on the clip's timeline, for the model
        track = np.zeros(int(round(take.duration * SAMPLE_RATE)), np.float32)
        if spoken is not None:
            track += soundtrack.speech_track(spoken, take.duration, SAMPLE_RATE)
        if speech is not None:
            given = placed_speech(speech, take.duration)
            track += given
            notes.append(speech_note(given))
        cond = dataclasses.replace(cond, speech=(track, SAMPLE_RATE))
    result = _runtime.run(spec, fam, take, cond, on_step=on_step, should_stop=should_stop,
                          progress=progress, retry_lighter=retry_lighter)
    if take.memory != "auto" and result.preset != take.memory:
        take = take.replace(memory=result.preset)  # a lighter preset was needed: record it
    frames = _runtime.to_uint8(result.frames)
    duration = frames.shape[0] / take.rate
    sim = cond.sim
    # Only video-to-video and control video hold the picture to the simulation's timing; a continuation
    # (Cosmos' video-to-world) only for the previz frames it keeps.
    follows = take.mode in ("v2v", "vace")
    until = duration
    if take.mode == "v2v" and spec.family in models.CONTINUES:
        until = min(duration, models.CONTINUATION_FRAMES / take.rate)
    foley = _fit(_foley(take, sim if follows else None, until), duration, SAMPLE_RATE)
    over = None
    if result.audio is not None:
        audio, rate = _fit(result.audio, duration, result.sample_rate), result.sample_rate
        over = foley
    else:
        audio, rate = foley, SAMPLE_RATE
    status = "complete" if not result.stopped else f"stopped after step {result.steps_done} of {fam.steps_for(take)}"
    events = tuple(e for e in (sim.events if sim is not None and follows else ()) if e.time < until)
    consent = f"{person.name}; consent given; photo sha256 {person.sha256()}" if person is not None else ""
    provenance = Provenance.now("diffusers", spec.model_id, take.seed, status, "; ".join(cond.notes), consent,
                                _runtime.revision(spec))
    if notes:
        provenance = dataclasses.replace(provenance, dialogue="; ".join(notes))
    fast = models.fast_variant(take)
    if fast is not None:
        provenance = dataclasses.replace(provenance, variant=(
            f"fast: {fast.steps} steps, guidance {fast.guidance_scale:g}"
            + (f", shift {fast.shift:g}" if fast.shift is not None else "") + (f" ({fast.source})" if fast.source else "")))
    from sorakit.backends import _guardrail

    guardrail = _guardrail.note(take)  # whether NVIDIA's Cosmos guardrail ran, or why it did not
    if guardrail:
        provenance = dataclasses.replace(provenance, guardrail=guardrail)
    if take.all_loras:
        from sorakit.backends import _loras

        provenance = dataclasses.replace(provenance, loras=_loras.describe(take.all_loras))
    return Clip(frames, take.rate, audio, rate, take, provenance, events), over


def placed_speech(speech: tuple[np.ndarray, int], duration: float) -> np.ndarray:
    """Speech handed to ``generate`` as the model gets it: mono at 48 kHz, at its own level, cut or
    padded to the clip's ``duration`` (resampled by the mixer when it comes at another rate)."""
    audio, rate = np.atleast_2d(np.asarray(speech[0], np.float32)), int(speech[1])
    n = int(round(duration * SAMPLE_RATE))
    if rate == SAMPLE_RATE:
        mono = audio.mean(axis=0)
        return np.ascontiguousarray(np.pad(mono, (0, max(0, n - mono.size)))[:n], np.float32)
    placed = mix([Track("dialogue", audio, rate)], duration, rate=SAMPLE_RATE, loudness=None, ceiling=0.0, ducking=0.0)
    return np.asarray(placed.audio.mean(axis=0), np.float32)


FILM_SPEECH = "the storyboard's lines over this shot lip-synced"


def speech_note(speech: np.ndarray) -> str:
    """The provenance's words for speech handed to ``generate`` (a storyboard's lines over a shot),
    with a fingerprint of the exact samples (at 48 kHz) so a saved shot says what it was made to."""
    import hashlib

    digest = hashlib.sha256(np.ascontiguousarray(speech, np.float32).tobytes()).hexdigest()[:16]
    return f"{FILM_SPEECH} (speech sha256 {digest})"


def _dialogue_note(take: Take, spec: models.ModelSpec) -> str:
    """How the Take's lines reach the clip, in words, for its provenance."""
    n = len(take.sound.dialogue)
    lines = f"{n} dialogue line{'s' if n != 1 else ''}"
    if take.sound.dialogue_source == "model":
        return f"{lines} spoken by {spec.name} from its prompt; each line's start measured from its sound"
    if take.lip_synced:
        return (f"{lines} lip-synced: spoken by VITS voices, encoded with {spec.name}'s audio VAE and held clean "
                "(sigma 0) at every step while the picture was made to them; the model's own sound left out")
    why = ("sound.lip_sync is off" if spec.lip_sync else f"{spec.name} cannot be given speech to make its picture to"
           if spec.joint_audio else f"{spec.name} makes no sound to animate mouths by")
    return f"{lines} overlaid: spoken by VITS voices and laid over the picture ({why})"


def _fit(audio: np.ndarray, duration: float, rate: int) -> np.ndarray:
    """Pads with silence or trims so the track lasts exactly ``duration`` seconds."""
    n = int(round(duration * rate))
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[None]
    return np.ascontiguousarray(np.pad(audio, ((0, 0), (0, max(0, n - audio.shape[1]))))[:, :n])


