"""The registry of generation backends and the rules a Take must meet for each.

Each backend registers a ``ModelSpec``; ``Take.validate`` reads it, so a Take the
model cannot run is refused before any weight loads. Only ``previz`` (no weights,
CPU) ships in this version; diffusers families register themselves the same way.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import os
import re
from dataclasses import dataclass


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
        default_fps: the rate the model was trained at.
        uses_prompt: whether the prompt is read (previz draws the scene and ignores it).
        joint_audio: the model itself makes sound with the video (LTX-2); it becomes one more track of the mix.
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
    default_fps: int = 16
    uses_prompt: bool = True
    joint_audio: bool = False
    arch: Arch | None = None


MODELS: dict[str, ModelSpec] = {}


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


def register(spec: ModelSpec) -> ModelSpec:
    """Adds (or replaces) a model in the registry.

    ``model_id`` must be a hub id (``owner/name``) or an existing local folder: anything else
    (a URL, a path with ``..`` that is not there) is refused before anything could load it.
    """
    if spec.backend != "previz":
        check_ref("model_id", spec.model_id, example="Wan-AI/Wan2.1-T2V-1.3B-Diffusers")
    MODELS[spec.name] = spec
    return spec


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


def get(name: str) -> ModelSpec:
    import sorakit.backends  # noqa: F401  (registers the diffusers families; imports no torch)

    if name not in MODELS:
        raise InvalidInput(f"model={name!r} is not known; use one of {', '.join(sorted(MODELS))}")
    return MODELS[name]


register(ModelSpec(name="previz", backend="previz", size_multiple=2, max_frames=16 * 60,
                   min_size=32, max_size=1920, uses_prompt=False))
