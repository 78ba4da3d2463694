"""NVIDIA's Cosmos guardrail around a Cosmos take: the prompt checked before the run, the video after.

The Cosmos pipelines in diffusers build ``cosmos_guardrail.CosmosSafetyChecker`` when they load,
and check only a prompt given as text (sorakit hands them cached embeddings). So the pipelines
are loaded with ``OFF``, a stand-in that passes everything, and sorakit runs the real checker
itself on every take that keeps ``Take.guardrail`` on: ``check_text_safety`` on the prompt the
model reads before anything denoises, ``check_video_safety`` on the frames after (it may blur
faces; it returns None for a video it blocks). The same for every Cosmos model, and a Take that
turns it off is recorded as such in the provenance. The checker loads once (its own models come
from the hub on first use) and stays cached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from sorakit.errors import InvalidInput, MissingPackage

__all__ = ["OFF", "on", "checker", "check_prompt", "check_video", "note"]

ON = "NVIDIA Cosmos guardrail on: the prompt and the video were checked"
TURNED_OFF = "NVIDIA Cosmos guardrail off: turned off by the Take (guardrail=False)"

_CHECKER: list[Any] = []


class _Off:
    """What the pipelines hold instead of the checker: passes every prompt and video unchanged."""

    def check_text_safety(self, prompt: str) -> bool:
        return True

    def check_video_safety(self, frames: np.ndarray) -> np.ndarray:
        return frames

    def to(self, *args: Any, **kwargs: Any) -> _Off:
        return self


OFF = _Off()


def checker() -> Any:
    """NVIDIA's ``CosmosSafetyChecker``, built once; a clear ``MissingPackage`` when it cannot be."""
    if not _CHECKER:
        try:
            from cosmos_guardrail import CosmosSafetyChecker
        except ImportError as exc:
            raise MissingPackage("the Cosmos guardrail is on (guardrail=True) and cosmos_guardrail is not installed: "
                                 "pip install cosmos-guardrail, or set guardrail=False to run without it (recorded "
                                 "in the clip's provenance)") from exc
        try:
            _CHECKER.append(CosmosSafetyChecker())
        except Exception as exc:  # its models could not be fetched or loaded (offline, no disk, no access)
            raise MissingPackage(f"the Cosmos guardrail is on (guardrail=True) but its checker could not load "
                                 f"({type(exc).__name__}: {exc}); its models download from the hub on first use: "
                                 "connect once, or set guardrail=False to run without it (recorded in the clip's "
                                 "provenance)") from exc
    return _CHECKER[0]


def on(take: Any) -> bool:
    """Whether the guardrail runs for ``take``: its model's license asks for it and the Take keeps it on."""
    from sorakit import models

    return bool(take.guardrail and models.get(take.model).guardrail)


@contextlib.contextmanager
def _on(device: Any) -> Iterator[Any]:
    """The checker on ``device`` (the GPU the model runs on) for one check, back on the CPU after, as
    Cosmos3OmniPipeline moves it: its guard models would be slow on the CPU and too big to keep on the GPU."""
    c = checker()
    if device is not None:
        c.to(device)
    try:
        yield c
    finally:
        if device is not None:
            c.to("cpu")


def check_prompt(take: Any, prompt: str, device: Any = None) -> None:
    """Refuses, before the run, a prompt the guardrail finds unsafe (nothing is checked when it is off)."""
    if not on(take):
        return
    with _on(device) as c:
        safe = c.check_text_safety(prompt)
    if not safe:
        raise InvalidInput(f"prompt={prompt[:60]!r}: NVIDIA's Cosmos guardrail found it unsafe under the NVIDIA "
                           "Open Model License; write another prompt")


def check_video(take: Any, frames: np.ndarray, device: Any = None) -> np.ndarray:
    """The float frames ``[T, H, W, 3]`` as the guardrail lets them out: unchanged, or with what it
    changed (blurred faces); an error when it blocks the video. Unchanged when it is off."""
    if not on(take):
        return frames
    u8 = (np.clip(frames, 0.0, 1.0) * 255).round().astype(np.uint8)
    with _on(device) as c:
        checked = c.check_video_safety(u8)
    if checked is None:
        raise InvalidInput("NVIDIA's Cosmos guardrail blocked the generated video as unsafe under the NVIDIA Open "
                           "Model License; nothing was kept. Change the prompt or the seed")
    checked = np.asarray(checked, np.uint8)
    if np.array_equal(checked, u8):
        return frames
    return checked.astype(np.float32) / 255.0


FAMILIES = ("cosmos", "cosmos3")  # the families under the NVIDIA Open Model License


def note(take: Any) -> str:
    """The provenance's words for the guardrail's state on ``take`` ("" for a model outside NVIDIA's license)."""
    from sorakit import models

    spec = models.get(take.model)
    if not spec.guardrail:
        return (f"NVIDIA Cosmos guardrail off: {spec.name} is registered without it (ModelSpec.guardrail=False)"
                if spec.family in FAMILIES else "")
    return ON if take.guardrail else TURNED_OFF
