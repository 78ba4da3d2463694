"""The backend contract: what every diffusers family module provides (``Family``) and what it
is given (``Conditioning``), so ``generate`` only conducts.

A family is a module (``sorakit.backends.wan``, ``ltx``, ...) that meets the ``Family``
protocol; mypy checks each one against it (``FAMILY_MODULES`` below) and a test checks the
same at run time. ``conditioning(take, person)`` turns a resolved Take into the frozen
``Conditioning`` a family's ``call`` reads: the first image, the init or control video, the
reference images, the previz whose motion warps the noise, and which guidance method runs.
Nothing in it imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from sorakit import models
from sorakit.guidance.ttm import DILATE
from sorakit.models import ModelSpec

if TYPE_CHECKING:
    from sorakit.cameo import Cameo
    from sorakit.physics.simulate import Simulation
    from sorakit.previz import Previz
    from sorakit.take import Take

__all__ = ["Family", "Conditioning", "Output", "conditioning", "METHODS"]

# How the physics scene steers a video model (what ``Conditioning.method`` may say).
METHODS = ("none", "ttm", "warp", "v2v", "vace", "first_frame")


@dataclass(frozen=True, eq=False)
class Conditioning:
    """Everything a family's pipeline is conditioned on, built from a resolved Take.

    Attributes:
        image: the first frame for image-to-video (a PIL image at the Take's size), or None.
        video: uint8 ``[T, H, W, 3]``: the previz as the init video (``v2v``) or control video (``vace``).
        reference_images: pictures a VACE model keeps (a cameo, framed around the face).
        motion: the previz whose motion steers the model: its exact motion field warps the initial
            noise (``warp``), or its frames and body masks are held by Time-to-Move (``ttm``); else None.
        sim: the simulation behind the previz, when there is one (a family working at another
            size renders it again there).
        method: ``none``, ``ttm``, ``warp``, ``v2v``, ``vace`` or ``first_frame`` (``Take.method``).
        strength: ``physics.strength``, as the method reads it.
        ttm: Time-to-Move's ``(t_weak, t_strong)`` step indices when it runs, else None.
        speech: the dialogue lines spoken and placed on the clip's timeline, ``(mono samples, rate)``,
            for a joint-audio family to make the picture to (lip sync); else None.
        notes: what was done, in words, for the clip's provenance.
    """

    image: Any = None
    video: np.ndarray | None = None
    reference_images: tuple[Any, ...] = ()
    motion: Previz | None = None
    sim: Simulation | None = None
    method: str = "none"
    strength: float = 0.0
    ttm: tuple[int, int] | None = None
    speech: tuple[np.ndarray, int] | None = None
    notes: tuple[str, ...] = ()


class Output(NamedTuple):
    """What a family's ``call`` returns.

    ``frames`` are the pipeline's own float output, ``[T, H, W, 3]`` in [0, 1] (compare these,
    not rounded uint8, when checking that an input reached the model); ``audio`` is
    ``[channels, samples]`` at ``sample_rate`` for a model that makes its own sound, else None
    (and ``sample_rate`` 0).
    """

    frames: np.ndarray
    audio: np.ndarray | None
    sample_rate: int


# Called after each step with (step from 1, the pipeline's latents); a return other than None
# replaces the latents the loop goes on with (Time-to-Move holds its masked region that way).
OnStepEnd = Callable[[int, Any], Any]


class Family(Protocol):
    """The contract every module in ``sorakit.backends`` (one per model family) meets.

    Three functions are optional: ``load_parts(spec, mode, dtype)`` returns components to hand
    ``from_pretrained`` (Cosmos: a pass-through safety checker, Transfer's controlnet from its own
    revision), ``preflight(spec, take, preset)`` refuses a preset before anything loads, and
    ``work_frames(take)`` is how many frames the model denoises for the Take when that is not the
    clip's own count (Transfer: a whole chunk), which the estimate counts.

    Attributes:
        PIPELINES: diffusers pipeline class name per mode (``{"t2v": "WanPipeline", ...}``).
        FLOAT32: components that stay in float32 whatever the preset's dtype (Wan's VAE).
        MAX_SEQUENCE_LENGTH: the text length the pipelines' ``__call__`` encodes prompts to.
    """

    PIPELINES: Mapping[str, str]
    FLOAT32: tuple[str, ...]
    MAX_SEQUENCE_LENGTH: int

    def base_mode(self, spec: ModelSpec, mode: str) -> str:
        """The mode whose pipeline loads the checkpoint; other modes derive from it and share its weights."""

    def uses_cfg(self, take: Take) -> bool:
        """Whether the run uses classifier-free guidance (a negative prompt is encoded)."""

    def passes_per_step(self, take: Take) -> int:
        """Transformer forward passes per denoising step (2 with classifier-free guidance; LTX-2 runs up to 4)."""

    def steps_for(self, take: Take) -> int:
        """Steps the denoising loop runs (video-to-video skips the first ``1 - strength`` of them)."""

    def schedule(self, pipe: Any, take: Take) -> dict[str, Any]:
        """The keyword arguments the pipeline's ``__call__`` passes to ``scheduler.set_timesteps`` for ``take``
        (Time-to-Move reads the schedule before the call)."""

    def encode_prompt(self, pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
        """Prompt (and negative prompt) embeddings as the pipeline's keyword arguments."""

    def encode_video(self, pipe: Any, video: np.ndarray) -> np.ndarray:
        """uint8 ``[N, T, H, W, 3]`` clips to transformer-space latents ``[N, C, F, h, w]`` (no sampling)."""

    def latents_for_preview(self, pipe: Any, latents: Any, take: Take) -> np.ndarray:
        """Step-callback latents to ``[C, F, h, w]`` numpy, in the transformer's space."""

    def working_size(self, pipe: Any, take: Take) -> tuple[int, int]:
        """The ``(width, height)`` the pipeline generates at (HunyuanVideo 1.5 i2v picks a bucket)."""

    def latent_grid(self, pipe: Any, take: Take) -> tuple[int, int, int, int, int]:
        """The initial noise's grid: ``(channels, latent frames, height, width, temporal factor)``."""

    def pack_noise(self, pipe: Any, noise: np.ndarray, take: Take, cond: Conditioning) -> Any:
        """Warped noise ``[C, F, h, w]`` as the pipeline's ``latents`` argument, with any first frame in place."""

    def pack_step(self, pipe: Any, latents: np.ndarray, take: Take, cond: Conditioning) -> Any:
        """``[C, F, h, w]`` transformer-space latents in the layout the denoising loop carries them
        (what ``callback_on_step_end`` hands back; Time-to-Move's held latents)."""

    def call(self, pipe: Any, take: Take, cond: Conditioning, embeds: dict[str, Any], generator: Any,
             on_step_end: OnStepEnd, latents: Any) -> Output:
        """Runs the pipeline for ``take.mode`` with the card's knobs and returns its float frames and sound."""


def conditioning(take: Take, person: Cameo | None) -> Conditioning:
    """What ``take`` (resolved) conditions its model on, from its scene, first frame and cameo.

    The previz is rendered only when something reads it: video-to-video and VACE, Time-to-Move
    and warped noise (``physics.strength > 0``), or image-to-video with no picture. The method is
    ``take.method``: ``physics.method`` with ``auto`` resolved for the model.
    """
    from PIL import Image

    from sorakit.cameo import composite, load_image
    from sorakit.physics.simulate import simulate
    from sorakit.previz import render

    width, height = take.size
    strength = take.physics.strength
    method = take.method
    scene, sim, previz = take.scene(), None, None
    needs_previz = method in ("v2v", "vace", "ttm", "warp") or (take.mode == "i2v" and take.first_frame is None)
    if scene is not None and needs_previz:
        sim = simulate(scene, frames=take.n_frames, fps=take.rate)
        previz = render(sim, width, height, trail=False)
    image: Any = None
    video: np.ndarray | None = None
    references: tuple[Any, ...] = ()
    motion = None
    notes: list[str] = []
    if take.mode == "i2v" and take.first_frame is None and person is not None and previz is not None:
        image = composite(previz.frames[0], person.image)
        notes.append("cameo composited into the previz first frame")
    elif take.mode in ("i2v", "identity"):
        if take.mode == "i2v" and take.first_frame:
            image = load_image(take.first_frame, width, height)
        elif person is not None:  # the photo cropped and padded around the face to the Take's size
            image = person.prepare(width, height)
        else:  # validate() allowed it because a scene is set: start from the previz
            assert previz is not None
            image = Image.fromarray(previz.frames[0])
            notes.append("previz first frame")
    if take.mode == "vace" and person is not None:
        references = (person.prepare(width, height),)
        notes.append(f"cameo {person.name} as VACE reference image")
    if method in ("v2v", "vace"):
        assert previz is not None
        video = previz.frames
        spec = models.get(take.model)
        if spec.control:
            notes.append(f"Cosmos-Transfer2.5 {spec.control} control made from the previz (control weight {strength:g})")
        elif method == "v2v" and spec.family in models.CONTINUES:
            notes.append(f"video-to-world continuation of the previz: its first {models.CONTINUATION_FRAMES} frames kept clean, "
                         "the rest generated")
        else:
            notes.append(f"{'video-to-video' if method == 'v2v' else 'VACE control'} from the previz "
                         f"(strength {strength:g})")
    elif method == "warp" and previz is not None:
        motion = previz
        notes.append(f"warped noise (strength {strength:g})")
    elif method == "ttm" and previz is not None and take.ttm is not None:
        motion = previz
        t_weak, t_strong = take.ttm
        notes.append(f"Time-to-Move (t_weak {t_weak}, t_strong {t_strong} of {take.steps} steps; "
                     f"strength {strength:g}; moving bodies held, mask grown {DILATE} latent px)")
    return Conditioning(image=image, video=video, reference_images=references, motion=motion, sim=sim,
                        method=method, strength=strength, ttm=take.ttm if motion is not None else None,
                        notes=tuple(notes))


if TYPE_CHECKING:  # mypy checks every family module against the protocol
    from sorakit.backends import cogvideox, cosmos, cosmos3, hunyuan15, ltx, ltx2, wan

    FAMILY_MODULES: tuple[Family, ...] = (wan, ltx, ltx2, cogvideox, hunyuan15, cosmos, cosmos3)
