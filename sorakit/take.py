"""``Take``: one frozen dataclass with every knob of a generation (STYLE rule 3)."""

from __future__ import annotations

from sorakit.errors import InvalidInput, MissingPackage, warn

import dataclasses
from collections.abc import Iterable
import json
import math
import os
from dataclasses import dataclass, field

from sorakit import _serde, models
from sorakit.cameo import Cameo
from sorakit.models import Lora
from sorakit.physics.presets import PRESETS
from sorakit.physics.scene import Scene

MEMORY_PRESETS = ("auto", "cpu", "t4", "l4", "a100")
MODES = ("t2v", "i2v", "v2v", "vace", "identity")
# The knobs a Take may leave unset (None): its model's card fills them (``Take.resolved``).
CARD_KNOBS = ("width", "height", "frames", "fps", "steps", "guidance_scale", "negative_prompt")


@dataclass(frozen=True)
class DialogueLine:
    """A spoken line: who says what, when (seconds from the clip start), in which voice.

    ``voice`` is the VITS voice that speaks it (a hub id or folder, ``#n`` for a speaker);
    ``style`` is how it is said ("softly", "angrily"), words a video model that speaks the line
    itself reads (``SoundConfig.dialogue_source='model'``).
    """

    speaker: str
    text: str
    start: float
    voice: str = ""
    style: str = ""


@dataclass(frozen=True)
class PhysicsConfig:
    """The physics part of a Take.

    Attributes:
        scene: a preset name (``"basketball"``), a full ``Scene``, or None for no physics.
        strength: how strongly a video model is held to the simulation, 0 (off) to 1.
        trail: draw a fading motion trail behind moving balls in the previz.
        method: how the scene steers a video model: ``auto`` (Time-to-Move where the model has
            it, else warped noise; the mode's own method for ``v2v`` and ``vace``), ``ttm``,
            ``warp``, ``v2v``, ``vace`` or ``first_frame`` (image-to-video from the previz's first
            frame, no motion guidance). ``Take.method`` says which one runs.
    """

    scene: str | Scene | None = "basketball"
    strength: float = 0.0
    trail: bool = True
    method: str = "auto"


# What ``physics.method`` may say (``Take.method`` resolves ``auto`` to one of the others, or ``none``).
PHYSICS_METHODS = ("auto", "ttm", "warp", "v2v", "vace", "first_frame")


AUDIO_BACKENDS = ("auto", "audiocraft", "transformers")
# Who speaks the dialogue: a VITS voice (laid over the picture, or lip-synced by a joint-audio
# model), or the joint-audio video model itself from the lines in its prompt.
DIALOGUE_SOURCES = ("voice", "model")


@dataclass(frozen=True)
class SoundConfig:
    """The soundtrack part of a Take: which tracks, from which models, and how they are mixed.

    Attributes:
        foley: impact sounds synthesized from the physics scene's collisions (sample-exact).
        ambience: a prompt for AudioGen ("rain on a tin roof, distant traffic"); "" for none.
        music: a prompt for MusicGen ("warm lo-fi beat, 80 bpm"); "" for none.
        dialogue: spoken lines, each placed at its start time.
        ambience_model: an audiocraft AudioGen hub id or exported folder.
        music_model: a MusicGen hub id or folder (audiocraft's export, or transformers' format).
        backend: for music, ``auto`` (audiocraft when installed, else transformers), ``audiocraft``
            or ``transformers``. Ambience always needs audiocraft.
        loudness: the mix's integrated loudness target in LUFS (None leaves the level alone).
        ducking: dB by which music drops while someone speaks.
        foley_gain, ambience_gain, music_gain, dialogue_gain: each track's level in dB, after each
            generated track is first brought to the same reference loudness.
        lip_sync: a joint-audio video model (LTX-2) makes the picture to the spoken lines: they
            are encoded with its audio VAE and held clean while it denoises, so mouths move with
            them. None (the default) lip-syncs wherever the model can; False lays the voice over
            the picture; True on a model without joint audio warns and lays it over.
        dialogue_source: ``voice`` (VITS voices speak the lines) or ``model`` (the joint-audio
            video model speaks them from its prompt; their starts are measured from its sound).
    """

    foley: bool = True
    ambience: str = ""
    music: str = ""
    dialogue: tuple[DialogueLine, ...] = ()
    ambience_model: str = "facebook/audiogen-medium"
    music_model: str = "facebook/musicgen-small"
    backend: str = "auto"
    loudness: float | None = -16.0
    ducking: float = 10.0
    foley_gain: float = 0.0
    ambience_gain: float = -10.0
    music_gain: float = -8.0
    dialogue_gain: float = 0.0
    lip_sync: bool | None = None
    dialogue_source: str = "voice"


@dataclass(frozen=True)
class Take:
    """Every knob of one generation; edit with ``dataclasses.replace`` or ``take.replace``.

    ``mode`` is ``t2v`` (text to video), ``i2v`` (``first_frame``, else the cameo, becomes the
    first frame), ``v2v`` (the physics previz is the init video, denoised from a level set by
    ``physics.strength``), ``vace`` (the previz is a control video) or ``identity`` (the cameo's
    face is kept). ``memory`` is a memory preset: ``auto``, ``cpu``, ``t4``, ``l4`` or ``a100``.
    A cameo (``cameo`` photo, ``cameo_name``, ``cameo_consent``) is set with ``with_cameo``.
    ``watermark`` burns a visible "AI-generated" label into every frame. ``speed`` is
    ``quality`` (the card's schedule) or ``fast`` (the model's registered distilled variant,
    ``models.Fast``); ``loras`` are ``sorakit.Lora``s put on the model's transformer for this Take.
    ``guardrail`` keeps a model's own safety checker on where its license asks for one (NVIDIA's
    Cosmos guardrail checks the prompt and the video); False turns it off, and the clip's
    provenance says so. Models without one ignore it.

    ``width``, ``height``, ``frames``, ``fps``, ``steps``, ``guidance_scale`` and
    ``negative_prompt`` may be left None: the model's card fills them (``resolved()``), so each
    model runs as its authors intended and plays at its own frame rate. A value you set is used
    as given. The clip records the resolved Take.

    >>> take = Take(prompt="a missed basketball shot", seed=7, frames=33)
    >>> take.validate()
    >>> Take.from_json(take.to_json()) == take
    True
    >>> take.replace(seed=8).seed
    8
    """

    prompt: str = ""
    negative_prompt: str | None = None
    seed: int = 0
    steps: int | None = None
    guidance_scale: float | None = None
    frames: int | None = None
    fps: int | None = None
    width: int | None = None
    height: int | None = None
    model: str = "previz"
    mode: str = "t2v"
    first_frame: str | None = None
    memory: str = "auto"
    physics: PhysicsConfig = field(default_factory=PhysicsConfig)
    sound: SoundConfig = field(default_factory=SoundConfig)
    cameo: str | None = None
    cameo_name: str = ""
    cameo_consent: bool = False
    watermark: bool = False
    speed: str = "quality"
    loras: tuple[Lora, ...] = ()
    guardrail: bool = True

    @property
    def duration(self) -> float:
        """Length of the clip in seconds (the model's card fills frames or fps left unset)."""
        return self.n_frames / self.rate

    def resolved(self) -> Take:
        """This Take with every knob it leaves unset (None) filled from its model's card.

        What ``generate`` runs and records, so a saved clip's Take reruns exactly even after a
        card default changes.

        >>> t = Take(model="previz").resolved()
        >>> (t.width, t.height, t.frames, t.fps)
        (832, 480, 81, 16)
        >>> Take(fps=24).resolved().fps
        24
        """
        card = models.get(self.model).card
        unset = {k: getattr(card, k) for k in CARD_KNOBS if getattr(self, k) is None}
        fast = models.fast_variant(self)
        if fast is not None:  # the distilled variant's own schedule
            unset.update({k: getattr(fast, k) for k in ("steps", "guidance_scale") if getattr(self, k) is None})
        return self.replace(**unset) if unset else self

    @property
    def all_loras(self) -> tuple[Lora, ...]:
        """The LoRAs the model runs with: the fast variant's (``speed="fast"``), then the Take's own."""
        fast = models.fast_variant(self)
        return (fast.loras if fast is not None else ()) + tuple(self.loras)

    @property
    def shift(self) -> float | None:
        """The flow-matching shift the model runs at: the fast variant's, else its card's (None: the checkpoint's)."""
        fast = models.fast_variant(self)
        if fast is not None and fast.shift is not None:
            return fast.shift
        return models.get(self.model).card.shift

    # Typed views of a resolved Take's knobs, for code that runs it (a Take left unset reads its card).
    @property
    def n_frames(self) -> int:
        return int(self.frames if self.frames is not None else models.get(self.model).card.frames)

    @property
    def rate(self) -> int:
        return int(self.fps if self.fps is not None else models.get(self.model).card.fps)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        card = models.get(self.model).card
        return (int(self.width if self.width is not None else card.width),
                int(self.height if self.height is not None else card.height))

    def replace(self, **changes: object) -> Take:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def with_cameo(self, cameo: Cameo) -> Take:
        """This Take with ``cameo`` (a ``sorakit.Cameo``: photo, name, consent) as its person.

        >>> Take().with_cameo(Cameo("me.png", "Ana", consent=True)).cameo_name
        'Ana'
        """
        return self.replace(cameo=cameo.image, cameo_name=cameo.name, cameo_consent=cameo.consent)

    @property
    def method(self) -> str:
        """The physics guidance that runs: ``none``, ``ttm``, ``warp``, ``v2v``, ``vace`` or ``first_frame``.

        ``physics.method='auto'`` picks Time-to-Move where the model's card has it and warped
        noise elsewhere, for text- and image-to-video with a strength above 0; ``first_frame`` is
        image-to-video started from the previz's first frame with no motion guidance.

        >>> Take(model="wan2.1-t2v-1.3b", physics=PhysicsConfig(strength=0.5)).method
        'ttm'
        >>> Take(model="wan2.1-t2v-1.3b", physics=PhysicsConfig(strength=0.5, method="warp")).method
        'warp'
        """
        spec = models.get(self.model)
        ph = self.physics
        if spec.backend == "previz" or self.mode == "identity":
            return "none"
        if self.mode in ("v2v", "vace"):
            return self.mode
        if ph.method != "first_frame" and ph.strength > 0 and ph.scene is not None:
            if ph.method == "auto":
                return "ttm" if spec.card.ttm is not None else "warp"
            return ph.method
        if self.mode == "i2v" and self.first_frame is None and ph.scene is not None:
            return "first_frame"
        return "none"

    @property
    def ttm(self) -> tuple[int, int] | None:
        """Time-to-Move's ``(t_weak, t_strong)`` step indices when it runs, else None.

        >>> Take(model="wan2.1-t2v-1.3b", steps=50, physics=PhysicsConfig(strength=0.5)).ttm
        (3, 7)
        """
        pair = models.get(self.model).card.ttm
        if self.method != "ttm" or pair is None:
            return None
        from sorakit.guidance.ttm import indices

        steps = self.steps if self.steps is not None else models.get(self.model).card.steps
        return indices(self.physics.strength, int(steps), pair)

    @property
    def lip_syncs(self) -> bool:
        """Whether the model makes its picture to speech it is given (its own lines, or a
        storyboard's): it can lip-sync (``ModelSpec.lip_sync``: LTX-2), the lines are spoken by
        voices, and ``sound.lip_sync`` is not False."""
        au = self.sound
        return au.lip_sync is not False and au.dialogue_source == "voice" and models.get(self.model).lip_sync

    @property
    def lip_synced(self) -> bool:
        """Whether the dialogue's voices are lip-synced by the video model: the Take has lines spoken
        by voices, its model can lip-sync (LTX-2), and ``sound.lip_sync`` is not False.

        >>> line = DialogueLine("Ana", "Nice shot!", 0.5)
        >>> Take(model="ltx-2", sound=SoundConfig(dialogue=(line,))).lip_synced
        True
        >>> Take(model="wan2.1-t2v-1.3b", sound=SoundConfig(dialogue=(line,))).lip_synced
        False
        """
        return bool(self.sound.dialogue) and self.lip_syncs

    @property
    def model_prompt(self) -> str:
        """The prompt as the video model reads it: with ``dialogue_source='model'`` the lines follow
        it as LTX-2's prompting guide asks, who speaks, how, and the exact words in quotes.

        >>> line = DialogueLine("The coach", "Keep your elbow in.", 0.5, style="calmly")
        >>> Take(prompt="A gym.", model="ltx-2", sound=SoundConfig(dialogue=(line,),
        ...      dialogue_source="model")).model_prompt
        'A gym. The coach says calmly: "Keep your elbow in."'
        """
        if self.sound.dialogue_source != "model" or not self.sound.dialogue:
            return self.prompt
        said = [f'{line.speaker} says{" " + line.style if line.style else ""}: "{line.text}"'
                for line in sorted(self.sound.dialogue, key=lambda line: line.start)]
        return " ".join([self.prompt.strip(), *said]).strip()

    # -- JSON ---------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, object]:
        return _serde.to_dict(self)  # type: ignore[no-any-return]

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: object) -> Take:
        """Builds a Take, refusing unknown keys and wrong types with the key named."""
        return _serde.from_dict(cls, data)

    @classmethod
    def from_json(cls, text: str) -> Take:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"Take JSON does not parse: {exc}") from exc
        except RecursionError as exc:  # nested deeper than Python's stack: no Take is
            raise InvalidInput("Take JSON is nested too deeply to be a Take; write it as sorakit.Take.to_json "
                               "does") from exc
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            raise InvalidInput(f"Take JSON holds a value no Take has ({exc}); write it as sorakit.Take.to_json "
                               "does") from exc
        except TypeError as exc:
            raise InvalidInput(f"Take JSON must be text (str), not {type(text).__name__}") from exc
        return cls.from_dict(data)

    # -- rules --------------------------------------------------------------------------------
    def scene(self) -> Scene | None:
        """The physics scene this Take renders (a preset is built with the Take's seed)."""
        s = self.physics.scene
        if isinstance(s, str):
            return PRESETS[s](self.seed)
        return s

    def validate(self, *, first_frame_pending: bool = False) -> None:
        """Checks every knob against its range and the model's rules; cheap, loads nothing.

        Args:
            first_frame_pending: the first frame will be made before this Take runs (a storyboard
                shot that continues from the shot before), so image-to-video without one is fine.

        Raises:
            ValueError: naming the value, the rule and the fix.
        """
        _check_types(self)
        spec = models.get(self.model)
        t = self.resolved()  # the card fills what is unset; what is set is checked as given
        _check_schedule(t, spec)
        _check_shape(t, spec)
        _check_mode(t, spec, first_frame_pending)
        _check_text(t)
        _check_physics(t, spec)
        _check_sound(t)
        _check_dialogue(t, spec)
        _check_speed(t, spec)
        _check_guardrail(t, spec)
        _check_pictures(t)


def _bad(key: str, value: object, rule: str, fix: str) -> InvalidInput:
    """The one shape of a refusal: the key and value, the rule it breaks, and what to do."""
    return InvalidInput(f"{key}={value!r}: {rule}; {fix}")


def _did_you_mean(value: object, options: Iterable[str], fix: str) -> str:
    """``fix``, led by the option ``value`` nearly spells (``mode='t2V'``: did you mean 't2v'?)."""
    import difflib

    if not isinstance(value, str):
        return fix
    by_lower = {o.lower(): o for o in options}
    near = difflib.get_close_matches(value.strip().lower(), list(by_lower), n=1, cutoff=0.6)
    return f"did you mean {by_lower[near[0]]!r}? {fix}" if near else fix


def _check_schedule(t: Take, spec: models.ModelSpec) -> None:
    """Seed, steps, guidance, frame rate and length."""
    steps, guidance, fps, frames = t.steps or 0, t.guidance_scale or 0.0, t.rate, t.n_frames
    if not 0 <= t.seed < 2**32:
        raise _bad("seed", t.seed, "must be in [0, 4294967295]", "pick any seed in that range")
    if not 1 <= steps <= 200:
        raise _bad("steps", steps, "must be in [1, 200]", "30 to 50 is typical")
    if not (math.isfinite(guidance) and 0.0 <= guidance <= 30.0):
        raise _bad("guidance_scale", guidance, "must be in [0, 30]", "3 to 7 is typical")
    if not 1 <= fps <= 120:
        raise _bad("fps", fps, "must be in [1, 120]", f"{spec.name} is made for {spec.card.fps} fps")
    if not 1 <= frames <= spec.max_frames:
        raise _bad("frames", frames, f"must be in [1, {spec.max_frames}] for {spec.name}",
                  "shorten the clip or split it into shots")
    k, r = spec.frame_rule
    if k > 1 and frames % k != r % k:
        lower = frames - ((frames - r) % k)
        raise _bad("frames", frames, f"{spec.name} needs {k}n+{r} frames",
                  f"use {lower} or {lower + k}")


def _check_shape(t: Take, spec: models.ModelSpec) -> None:
    """Width and height against the model's limits, multiple and fixed sizes."""
    width, height = t.size
    for key, v in (("width", width), ("height", height)):
        if not spec.min_size <= v <= spec.max_size:
            raise _bad(key, v, f"must be in [{spec.min_size}, {spec.max_size}] for {spec.name}",
                      "832x480 is the usual 480p size")
        m = spec.size_multiple
        if v % m:
            down = v - v % m
            raise _bad(key, v, f"must be a multiple of {m} for {spec.name}", f"use {down} or {down + m}")
    if spec.sizes and (width, height) not in spec.sizes:
        allowed = " or ".join(f"{w}x{h}" for w, h in spec.sizes)
        raise _bad("width, height", (width, height), f"{spec.name} runs only at {allowed}",
                  f"use width={spec.sizes[0][0]}, height={spec.sizes[0][1]}")


def _check_mode(t: Take, spec: models.ModelSpec, first_frame_pending: bool) -> None:
    """The prompt, the mode and what it starts from, the memory preset, the cameo's consent."""
    if spec.uses_prompt and not t.prompt.strip():
        raise _bad("prompt", t.prompt, f"{spec.name} needs a prompt", "describe the shot in a sentence")
    if t.mode not in spec.modes:
        others = sorted(n for n, m in models.MODELS.items() if t.mode in m.modes)
        fix = (f"pick one of those modes, or a model that has this one ({', '.join(others)})" if others else
               f"no registered model runs {t.mode!r} yet (identity-keeping ConsisID is not wired); "
               "use mode='i2v' with the cameo as the first frame, or 'vace' with it as the reference")
        typo = "" if t.mode in MODES else _did_you_mean(t.mode, MODES, "")  # a real mode, only not this model's
        raise _bad("mode", t.mode, f"{spec.name} runs {', '.join(spec.modes)}", typo.strip() if typo else fix)
    if t.memory not in MEMORY_PRESETS:
        raise _bad("memory", t.memory, f"must be one of {', '.join(MEMORY_PRESETS)}",
                   _did_you_mean(t.memory, MEMORY_PRESETS, "'auto' picks one from the GPU it finds"))
    if (t.mode == "i2v" and t.first_frame is None and t.cameo is None and t.physics.scene is None
            and not first_frame_pending):
        raise _bad("first_frame", None, "image-to-video needs a first frame",
                  "set first_frame (or cameo) to an image path, or physics.scene to start from its previz")
    if t.mode in ("v2v", "vace") and t.physics.scene is None:
        raise _bad("physics.scene", None, f"mode {t.mode!r} starts from the physics previz",
                  "set physics.scene, or use mode='t2v'")
    if t.mode == "v2v" and spec.family not in models.CONTINUES and not t.physics.strength > 0:
        raise _bad("physics.strength", t.physics.strength, "video-to-video needs a strength in (0, 1]",
                  "0.6 keeps the previz's motion and lets the model repaint it")
    if t.cameo is not None and not t.cameo_consent:
        raise _bad("cameo", t.cameo, "a cameo puts a real person into generated video, so it needs their "
                  "consent", "make it with take.with_cameo(sorakit.Cameo(photo, name, consent=True)) once they "
                  "agreed")
    if t.mode == "identity" and t.cameo is None:
        raise _bad("cameo", None, "identity mode keeps the face of a cameo image", "set cameo to a photo")
    if spec.family in models.CONTINUES:  # Cosmos: a clip, not a still; a continuation keeps 5 frames, then makes more
        kept = models.CONTINUATION_FRAMES
        least = kept + 4 if t.mode == "v2v" else 5
        if t.n_frames < least:
            what = f"a continuation keeps the previz's first {kept} frames and generates after them" if t.mode == "v2v" \
                else "its pipelines make a clip of at least two latent frames"
            raise _bad("frames", t.n_frames, f"{t.model} needs at least {least} frames: {what}", f"use {least} or more")
    if t.cameo is not None and t.mode == "vace" and spec.control:
        raise _bad("cameo", t.cameo, f"{t.model} reads only the {spec.control} control made from the previz, no "
                   "reference picture", "use an image-to-video model with the cameo as its first frame")


def _check_text(t: Take) -> None:
    """Text that can be saved (no lone surrogates) and is not overlong."""
    for key, text in (("prompt", t.prompt), ("negative_prompt", t.negative_prompt or ""),
                      ("sound.ambience", t.sound.ambience), ("sound.music", t.sound.music),
                      *((f"sound.dialogue[{i}].text", line.text) for i, line in enumerate(t.sound.dialogue))):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:  # a lone surrogate: no file can hold it as UTF-8
            raise _bad(key, text[max(0, exc.start - 10):exc.end + 10], f"holds {text[exc.start]!r}, half of a "
                      "character (a lone surrogate), which cannot be saved", "retype the text around it") from exc
    for key, text in (("prompt", t.prompt), ("negative_prompt", t.negative_prompt or "")):
        if len(text) > 4000:
            raise _bad(key, text[:20] + "...", f"is {len(text)} characters, over 4000",
                       "shorten it (the models read a few hundred tokens)")


def _check_physics(t: Take, spec: models.ModelSpec) -> None:
    """The scene and the guidance strength."""
    ph = t.physics
    if not (math.isfinite(ph.strength) and 0.0 <= ph.strength <= 1.0):
        raise _bad("physics.strength", ph.strength, "must be in [0, 1]", "0 turns guidance off, 1 is strongest")
    if isinstance(ph.scene, str) and ph.scene not in PRESETS:
        raise _bad("physics.scene", ph.scene, f"is not a preset ({', '.join(PRESETS)})",
                   _did_you_mean(ph.scene, PRESETS, "pick a preset or pass a sorakit.Scene"))
    if isinstance(ph.scene, Scene):
        ph.scene.validate(path="physics.scene")
    if spec.backend == "previz" and ph.scene is None:
        raise _bad("physics.scene", None, "the previz backend draws a physics scene",
                  f"set one of {', '.join(PRESETS)}")
    if spec.backend != "previz" and ph.strength > 0 and ph.scene is None:
        raise _bad("physics.strength", ph.strength, "physics guidance needs a scene",
                  "set physics.scene or strength=0")
    if ph.method not in PHYSICS_METHODS:
        raise _bad("physics.method", ph.method, f"must be one of {', '.join(PHYSICS_METHODS)}",
                   _did_you_mean(ph.method, PHYSICS_METHODS, "'auto' picks the best the model has"))
    if spec.backend == "previz" or ph.method == "auto":
        return
    if ph.method in ("v2v", "vace") and t.mode != ph.method:
        raise _bad("physics.method", ph.method, f"runs only with mode={ph.method!r}",
                   f"set mode={ph.method!r}, or method='auto' for mode={t.mode!r}")
    if ph.method in ("ttm", "warp", "first_frame") and t.mode not in ("t2v", "i2v"):
        raise _bad("physics.method", ph.method, "steers text- and image-to-video",
                   f"use method='auto' for mode={t.mode!r}")
    if ph.method == "first_frame" and (t.mode != "i2v" or t.first_frame is not None):
        raise _bad("physics.method", ph.method, "starts image-to-video from the previz's first frame, so it "
                   "needs mode='i2v' and no first_frame picture", "use method='auto'")
    if ph.method in ("ttm", "warp") and not ph.strength > 0:
        raise _bad("physics.method", ph.method, "needs physics.strength above 0",
                   "set strength (0.5 gives the method's defaults) or method='auto'")
    if ph.method == "ttm" and spec.card.ttm is None:
        raise _bad("physics.method", ph.method, f"{spec.name} has no Time-to-Move",
                   "use method='warp' (warped noise) or 'auto'")


def _check_sound(t: Take) -> None:
    """The sound: models, backend, loudness, gains, texts and dialogue lines."""
    au = t.sound
    for key, ref in (("sound.ambience_model", au.ambience_model), ("sound.music_model", au.music_model)):
        models.check_ref(key, ref)
    if au.backend not in AUDIO_BACKENDS:
        raise _bad("sound.backend", au.backend, f"must be one of {', '.join(AUDIO_BACKENDS)}",
                   _did_you_mean(au.backend, AUDIO_BACKENDS,
                                 "'auto' uses audiocraft when it is installed, else transformers"))
    if au.loudness is not None and not (math.isfinite(au.loudness) and -40 <= au.loudness <= -5):
        raise _bad("sound.loudness", au.loudness, "must be in [-40, -5] LUFS or null",
                  "-16 suits web and phone video, -23 broadcast")
    if not (math.isfinite(au.ducking) and 0 <= au.ducking <= 40):
        raise _bad("sound.ducking", au.ducking, "must be in [0, 40] dB", "10 keeps music audible under speech")
    for name in ("foley", "ambience", "music", "dialogue"):
        gain = getattr(au, f"{name}_gain")
        if not (math.isfinite(gain) and -60 <= gain <= 20):
            raise _bad(f"sound.{name}_gain", gain, "must be in [-60, 20] dB", "0 is the reference level")
    for key, text in (("sound.ambience", au.ambience), ("sound.music", au.music)):
        if len(text) > 1000:
            raise _bad(key, text[:20] + "...", "is longer than 1000 characters", "describe the sound in a sentence")
    for i, line in enumerate(au.dialogue):
        if not line.text.strip():
            raise _bad(f"sound.dialogue[{i}].text", line.text, "is empty", "write the line or remove it")
        if len(line.text) > 1000:
            raise _bad(f"sound.dialogue[{i}].text", line.text[:20] + "...", "is longer than 1000 characters",
                      "split it into several lines")
        if not (math.isfinite(line.start) and 0.0 <= line.start < t.duration):
            raise _bad(f"sound.dialogue[{i}].start", line.start,
                      f"must lie within the clip [0, {t.duration:g}) s", "move the line earlier")
        if line.voice:
            ref, _, speaker = line.voice.partition("#")
            models.check_ref(f"sound.dialogue[{i}].voice", ref)
            if "#" in line.voice and not (speaker.isdigit() and len(speaker) <= 6):
                raise _bad(f"sound.dialogue[{i}].voice", line.voice, "a speaker is chosen as '#' and a number",
                          "write e.g. '/content/my-vits#12' (a multi-speaker VITS folder), or leave it empty")
            models.check_safetensors(ref)  # a pickle-only voice is refused before any model loads


def _check_dialogue(t: Take, spec: models.ModelSpec) -> None:
    """Who speaks the lines, and whether the model can lip-sync them (a warning when it cannot)."""
    au = t.sound
    if au.dialogue_source not in DIALOGUE_SOURCES:
        raise _bad("sound.dialogue_source", au.dialogue_source, f"must be one of {', '.join(DIALOGUE_SOURCES)}",
                   _did_you_mean(au.dialogue_source, DIALOGUE_SOURCES,
                                 "'voice' speaks the lines with VITS voices, 'model' lets LTX-2 speak them"))
    for i, line in enumerate(au.dialogue):
        if len(line.style) > 200:
            raise _bad(f"sound.dialogue[{i}].style", line.style[:20] + "...", "is longer than 200 characters",
                       "say how the line is spoken in a few words ('softly', 'with a grin')")
    if au.dialogue_source == "model" and au.dialogue and not spec.joint_audio:
        raise _bad("sound.dialogue_source", "model", f"{t.model} makes no sound, so it cannot speak the lines",
                   "use dialogue_source='voice', or a model with joint audio such as 'ltx-2'")
    if au.lip_sync and au.dialogue and au.dialogue_source == "voice" and not spec.lip_sync:
        why = ("makes its own sound but cannot be given speech to make its picture to" if spec.joint_audio
               else "makes no sound with its picture")
        warn(f"sound.lip_sync=True: {t.model} {why}, so it cannot animate mouths to the lines; they are "
             "laid over the video. Use a model that lip-syncs, such as 'ltx-2'", UserWarning)


def _check_guardrail(t: Take, spec: models.ModelSpec) -> None:
    """A model whose license asks for NVIDIA's Cosmos guardrail runs it, or the Take turns it off in so
    many words: a missing package is said before anything loads, never skipped silently."""
    if not (spec.guardrail and t.guardrail):
        return
    import importlib.util

    if importlib.util.find_spec("cosmos_guardrail") is None:
        raise MissingPackage(
            f"guardrail=True: {t.model} runs NVIDIA's Cosmos guardrail on its prompt and video (its license, the "
            "NVIDIA Open Model License, asks for it), and the package is not installed: pip install cosmos-guardrail "
            "(its checker models download from the hub on first use). Or set guardrail=False to run without it; "
            "the clip's provenance records that it was off")


SPEEDS = ("quality", "fast")
MAX_LORAS = 4


def _check_speed(t: Take, spec: models.ModelSpec) -> None:
    """``speed`` has a variant behind it, and each LoRA is a safetensors file at a sane weight."""
    if t.speed not in SPEEDS:
        raise _bad("speed", t.speed, f"must be one of {', '.join(SPEEDS)}",
                   _did_you_mean(t.speed, SPEEDS, "'quality' runs the card's schedule, 'fast' its distilled variant"))
    if t.speed == "fast" and spec.card.fast is None:
        raise _bad("speed", "fast", f"{t.model} has no step-distilled variant registered",
                   "use speed='quality' (or register a models.Fast on its card)")
    fast = models.fast_variant(t)
    sigmas = dict(fast.knobs).get("sigmas") if fast is not None else None
    if sigmas is not None and t.steps != len(sigmas):
        raise _bad("steps", t.steps, f"speed='fast' on {t.model} runs its distilled schedule of {len(sigmas)} "
                   "steps", "leave steps unset (None) for the fast variant")
    if not isinstance(t.loras, tuple) or not all(isinstance(x, models.Lora) for x in t.loras):
        raise _bad("loras", t.loras, "must be a tuple of sorakit.Lora", "write loras=(sorakit.Lora('owner/name'),)")
    if t.loras and spec.backend == "previz":
        raise _bad("loras", t.loras[0].ref, "the previz has no transformer to apply a LoRA to", "pick a video model")
    if len(t.loras) > MAX_LORAS:
        raise _bad("loras", len(t.loras), f"at most {MAX_LORAS} LoRAs run at once", "drop the ones you need least")
    seen = set()
    for i, lora in enumerate(t.loras):
        key = f"loras[{i}]"
        if os.path.isfile(lora.ref):
            if not lora.ref.endswith(".safetensors"):
                raise _bad(f"{key}.ref", lora.ref, "LoRAs load only from .safetensors (a pickle could run code)",
                           "convert it to safetensors, or pick a LoRA published as .safetensors")
        else:
            models.check_ref(f"{key}.ref", lora.ref, example="lightx2v/Wan2.1-Distill-Loras")
        if lora.file and (not lora.file.endswith(".safetensors") or ".." in lora.file or lora.file.startswith("/")):
            raise _bad(f"{key}.file", lora.file, "must be a .safetensors file name inside the repo or folder",
                       "write e.g. 'my_lora.safetensors', or leave it empty when there is one")
        if not (isinstance(lora.weight, (int, float)) and math.isfinite(lora.weight) and -4 <= lora.weight <= 4):
            raise _bad(f"{key}.weight", lora.weight, "must be in [-4, 4]", "1.0 applies it as trained")
        if (lora.ref, lora.file) in seen:
            raise _bad(f"{key}.ref", lora.ref, "is already in the list", "give each LoRA once, with one weight")
        seen.add((lora.ref, lora.file))


def _check_pictures(t: Take) -> None:
    """The cameo and first-frame image files."""
    for key, image in (("cameo", t.cameo), ("first_frame", t.first_frame)):
        if image is None:
            continue
        ext = os.path.splitext(image)[1].lower()
        if ext not in (".png", ".jpg", ".jpeg", ".webp"):
            raise _bad(key, image, "must be a .png, .jpg or .webp image", "export the picture as PNG or JPEG")
        if not os.path.isfile(image):
            raise _bad(key, image, "no such file", "check the path (upload it first on Colab)")


def physics_prompt(take: Take) -> str:
    """The Take's prompt followed by what its physics scene shows, for the user to read and edit.

    >>> physics_prompt(Take(prompt="Gym footage.", frames=32))[:40]
    'Gym footage. A basketball, a backboard, '
    """
    from sorakit.physics.describe import describe
    from sorakit.physics.simulate import simulate

    scene = take.scene()
    if scene is None:
        return take.prompt
    text = describe(scene, simulate(scene, frames=take.n_frames, fps=take.rate))
    return f"{take.prompt.rstrip()} {text}".strip()


def _check_types(take: Take) -> None:
    """Refuses wrong types that reached the dataclass directly, not through JSON."""
    _serde.from_dict(Take, take.to_dict())
