"""The registry of generation backends and the rules a Take must meet for each.

Each backend registers a ``ModelSpec``; ``Take.validate`` reads it, so a Take the
model cannot run is refused before any weight loads. ``previz`` (no weights, CPU) is
registered here; each diffusers family module in ``sorakit.backends`` registers its own
checkpoints, each with its model card's defaults (a ``Card``) so that a Take which leaves
a knob unset runs as the model's authors intended.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import os
import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Lora:
    """A LoRA on the video model's transformer.

    Attributes:
        ref: a hub id (``owner/name``), a local folder, or a local ``.safetensors`` file.
        weight: its scale (1.0 as trained; 0 leaves the model as it is).
        file: the ``.safetensors`` file inside the repo or folder ("" when it holds just one).
    """

    ref: str
    weight: float = 1.0
    file: str = ""


@dataclass(frozen=True)
class Fast:
    """A model's step- and guidance-distilled variant, run by ``Take(speed="fast")``.

    Attributes:
        steps, guidance_scale: its schedule (guidance 1.0: one forward pass a step, no CFG).
        shift: its flow-matching shift (None keeps the checkpoint's).
        loras: the LoRAs that make it, on the base checkpoint.
        model_id, revision: a distilled checkpoint that replaces the base one ("": the base's).
        knobs: call arguments that replace the card's (a distilled sigma schedule, guidance
            passes turned off).
        scheduler: scheduler config values it runs with (``("use_dynamic_shifting", False)``).
        source: where the numbers come from (a model card, a repository file).
    """

    steps: int
    guidance_scale: float
    shift: float | None = None
    loras: tuple[Lora, ...] = ()
    model_id: str = ""
    revision: str = "main"
    knobs: tuple[tuple[str, Any], ...] = ()
    scheduler: tuple[tuple[str, Any], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class Card:
    """A model's own defaults, from its model card or its authors' reference code.

    A Take that leaves ``width``, ``height``, ``frames``, ``fps``, ``steps``, ``guidance_scale``
    or ``negative_prompt`` unset (None) gets these values (``Take.resolved``). Each registry
    entry names the source of every number in a comment beside it.

    Attributes:
        width, height, frames, fps: the size, length and rate the model was trained for.
        steps, guidance_scale: the sampling schedule its card runs.
        negative_prompt: the one its card or reference code uses ("" where none is given).
        shift: the flow-matching scheduler's shift (None keeps the checkpoint's scheduler config).
        knobs: family-specific call arguments as ``(name, value)`` pairs (LTX's
            ``decode_timestep``, LTX-2's audio guidance), passed to the pipeline as they are.
        scheduler: scheduler config values the card sets besides the shift (Cosmos 3's
            ``use_karras_sigmas=False``), as ``(name, value)`` pairs.
        ttm: Time-to-Move's ``(t_weak, t_strong)`` at 50 steps from the paper, for the
            checkpoints it runs on (None: no TTM; ``physics.method='auto'`` then warps the noise).
        fast: the distilled variant ``speed="fast"`` runs (None: the model has none registered).
    """

    width: int = 832
    height: int = 480
    frames: int = 81
    fps: int = 16
    steps: int = 30
    guidance_scale: float = 5.0
    negative_prompt: str = ""
    shift: float | None = None
    knobs: tuple[tuple[str, Any], ...] = ()
    scheduler: tuple[tuple[str, Any], ...] = ()
    ttm: tuple[int, int] | None = None
    fast: Fast | None = None

    def knob(self, name: str, default: Any = None) -> Any:
        """The family knob ``name``, or ``default`` when the card sets none."""
        return dict(self.knobs).get(name, default)


@dataclass(frozen=True)
class Arch:
    """Sizes of a checkpoint, for the pre-run memory and time estimate (no weights needed).

    Attributes:
        transformer, text_encoder, vae: parameter counts in billions.
        hidden, layers: the transformer's width and depth.
        spatial, temporal: VAE compression (8 and 4 for most video VAEs).
        patch: the transformer's (time, height, width) patch size.
    """

    transformer: float
    text_encoder: float
    vae: float
    hidden: int
    layers: int
    spatial: int = 8
    temporal: int = 4
    patch: tuple[int, int, int] = (1, 2, 2)


@dataclass(frozen=True)
class ModelSpec:
    """What a backend accepts.

    Attributes:
        name: the short name a Take uses (``Take.model``).
        backend: which sorakit backend renders it (``previz`` or ``diffusers``).
        family: for ``diffusers``, the module in ``sorakit.backends`` that knows the pipelines.
        model_id: hub id or local folder loaded by ``from_pretrained`` ("" for none).
        revision: for a hub id, the branch, tag or commit to load ("main"); recorded in each clip.
        modes: what it can do: ``t2v``, ``i2v``, ``v2v``, ``vace``, ``identity``.
        size_multiple: width and height must be multiples of this.
        sizes: if set, the only ``(width, height)`` pairs the checkpoint runs at.
        frame_rule: ``(k, r)``: frames must equal ``k * n + r`` (``(4, 1)`` is the 4k+1 rule).
        max_frames, min_size, max_size: inclusive limits.
        card: the model card's defaults (size, frames, fps, steps, guidance, negative prompt, shift).
        uses_prompt: whether the prompt is read (previz draws the scene and ignores it).
        joint_audio: the model itself makes sound with the video (LTX-2, Cosmos 3); it becomes one more track
            of the mix.
        lip_sync: the model can make its picture to speech it is given (LTX-2: the speech is encoded
            with its audio VAE and held clean while it denoises); ``SoundConfig.lip_sync`` uses it.
        control: for a control-video model (Cosmos-Transfer2.5), the control its controlnet reads, made
            from the previz: ``edge``, ``seg`` or ``blur`` (``sorakit.guidance.controls``).
        guardrail: the model's license asks for NVIDIA's Cosmos guardrail (``cosmos_guardrail``) on its
            prompts and videos; ``Take.guardrail`` keeps it on (the default) or turns it off, recorded.
        arch: sizes for the memory and time estimate.
    """

    name: str
    backend: str
    family: str = ""
    model_id: str = ""
    revision: str = "main"
    modes: tuple[str, ...] = ("t2v",)
    size_multiple: int = 16
    sizes: tuple[tuple[int, int], ...] = ()
    frame_rule: tuple[int, int] = (1, 0)
    max_frames: int = 121
    min_size: int = 64
    max_size: int = 1280
    card: Card = Card()
    uses_prompt: bool = True
    joint_audio: bool = False
    lip_sync: bool = False
    control: str = ""
    guardrail: bool = False
    arch: Arch | None = None


MODELS: dict[str, ModelSpec] = {}

# Families whose video-to-video continues the previz (its first frames kept clean, the rest generated)
# instead of denoising all of it from a level set by physics.strength (Cosmos' video-to-world).
CONTINUES = ("cosmos", "cosmos3")
# How many previz frames a continuing family keeps: two latent frames, 4 * (2 - 1) + 1 pixel frames
# (both Cosmos pipelines' defaults); what it generates comes after them, a latent frame (4) at least.
CONTINUATION_FRAMES = 5


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def register(spec: ModelSpec) -> ModelSpec:
    """Adds (or replaces) a model in the registry.

    ``model_id`` must be a hub id (``owner/name``) or an existing local folder: anything else
    (a URL, a path with ``..`` that is not there) is refused before anything could load it.
    """
    if spec.backend != "previz":
        check_ref("model_id", spec.model_id, example="Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    k, r = spec.frame_rule
    c = spec.card
    if not (1 <= c.frames <= spec.max_frames and (k == 1 or c.frames % k == r % k)):
        raise InvalidInput(f"card.frames={c.frames}: must meet {spec.name}'s own frame rule ({k}n+{r}, at most "
                           f"{spec.max_frames}); fix the registry entry")
    MODELS[spec.name] = spec
    return spec


def like(base: str, name: str, model_id: str, **changes: Any) -> ModelSpec:
    """Registers ``model_id`` (a hub id or a local folder) under ``name`` with everything else from
    the registered model ``base``: its family, modes, frame and size rules and card defaults.

    >>> import tempfile
    >>> like("wan2.1-t2v-1.3b", "my-wan", tempfile.mkdtemp()).card.fps
    16

    Args:
        changes: any ``ModelSpec`` field to set differently (``modes=("t2v",)``, ``card=...``).
    """
    import dataclasses

    return register(dataclasses.replace(get(base), name=name, model_id=model_id, **changes))


# Voices whose repositories publish only pickled weights (pytorch_model.bin, no model.safetensors).
PICKLE_ONLY = ("kakao-enterprise/vits-vctk",)


def no_safetensors(model: str) -> str:
    """Why a pickle-only voice is refused, and which voice to use instead."""
    return (f"voice={model!r}: publishes its weights only as a pickle (pytorch_model.bin), and sorakit loads "
            f"voices only from safetensors, so that a checkpoint cannot run code; use 'facebook/mms-tts-eng' (or another "
            "facebook/mms-tts-* voice), or a folder you saved with save_pretrained(safe_serialization=True)")


def check_safetensors(model: str) -> None:
    """Refuses, before anything loads, a voice known to publish only pickled weights, or a local
    folder without ``model.safetensors``.

    >>> check_safetensors("kakao-enterprise/vits-vctk")
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: voice='kakao-enterprise/vits-vctk': publishes its weights only as a pickle (pytorch_model.bin), and sorakit loads voices only from safetensors, so that a checkpoint cannot run code; use 'facebook/mms-tts-eng' (or another facebook/mms-tts-* voice), or a folder you saved with save_pretrained(safe_serialization=True)
    """
    if model in PICKLE_ONLY or (os.path.isdir(model) and not os.path.isfile(os.path.join(model, "model.safetensors"))
                                and os.path.isfile(os.path.join(model, "pytorch_model.bin"))):
        raise InvalidInput(no_safetensors(model))


def check_ref(key: str, ref: str, *, example: str = "facebook/musicgen-small") -> None:
    """Refuses a model reference that is neither a hub id (``owner/name``) nor an existing local folder.

    >>> check_ref("music_model", "https://example.org/m.bin")
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: music_model='https://example.org/m.bin': must be a hub id like 'facebook/musicgen-small' or an existing local folder; check the spelling or download the folder first
    """
    if not isinstance(ref, str) or not (os.path.isdir(ref) or (_HUB_ID.fullmatch(ref) and ".." not in ref)):
        raise InvalidInput(f"{key}={ref!r}: must be a hub id like {example!r} or an existing local folder; "
                           "check the spelling or download the folder first")


def fast_variant(take: Any) -> Fast | None:
    """The distilled variant ``take`` runs (``speed="fast"`` on a model that has one), else None."""
    fast = get(take.model).card.fast
    return fast if getattr(take, "speed", "quality") == "fast" else None


def knobs(take: Any) -> dict[str, Any]:
    """The family call arguments ``take`` runs with: its card's, the fast variant's over them."""
    out = dict(get(take.model).card.knobs)
    fast = fast_variant(take)
    if fast is not None:
        out.update(fast.knobs)
    return out


def variant(spec: ModelSpec, take: Any) -> ModelSpec:
    """The checkpoint ``take`` loads: ``spec``, or its fast variant's own checkpoint."""
    import dataclasses

    fast = fast_variant(take)
    if fast is None or not fast.model_id:
        return spec
    return dataclasses.replace(spec, model_id=fast.model_id, revision=fast.revision)


def get(name: str) -> ModelSpec:
    """The registered model ``name`` (``import sorakit`` registers every family's models)."""
    if name not in MODELS:
        import difflib

        near = difflib.get_close_matches(str(name).lower(), sorted(MODELS), n=1, cutoff=0.6)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise InvalidInput(f"model={name!r} is not known; {hint}use one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


# The previz has no card: these are sorakit's own choices (5 s of 480p at 16 fps; steps and
# guidance are not read).
register(ModelSpec(name="previz", backend="previz", size_multiple=2, max_frames=16 * 60,
                   min_size=32, max_size=1920, uses_prompt=False, card=Card()))
