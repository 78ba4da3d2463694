"""The Cosmos guardrail's own rules, fast and without a pipeline: what the checker is shown, what
comes back, the words of each refusal, and the provenance note for every kind of model. The
guardrail around a real (tiny) Cosmos run is in test_cosmos.py."""

from __future__ import annotations

import dataclasses
import importlib.machinery
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import sorakit
from sorakit import models
from sorakit.backends import _guardrail

COSMOS = sorakit.Take(model="cosmos-predict2.5-2b", prompt="a ball", width=256, height=256, frames=9)


class Checker:
    """Stands in for NVIDIA's CosmosSafetyChecker: records what it is shown, answers as told."""

    def __init__(self) -> None:
        self.shown: list[np.ndarray] = []
        self.prompts: list[str] = []
        self.answer: Any = "same"
        self.safe = True

    def check_text_safety(self, prompt: str) -> bool:
        self.prompts.append(prompt)
        return self.safe

    def check_video_safety(self, frames: np.ndarray) -> Any:
        self.shown.append(frames.copy())
        return frames if isinstance(self.answer, str) else self.answer

    def to(self, device: Any) -> Checker:
        return self


@pytest.fixture
def checker() -> Iterator[Checker]:
    c = Checker()
    _guardrail._CHECKER[:] = [c]
    try:
        yield c
    finally:
        _guardrail._CHECKER.clear()


def test_the_checker_is_shown_the_frames_as_bytes_and_its_changes_are_kept(checker: Checker) -> None:
    assert _guardrail.on(COSMOS)
    frames = np.array([[[[-0.2, 0.5, 1.3]]], [[[0.0, 1.0, 0.25]]]], np.float32)  # [2, 1, 1, 3]
    out = _guardrail.check_video(COSMOS, frames)
    assert out is frames  # let through unchanged: the model's own floats, not rounded
    shown = checker.shown[-1]
    assert shown.dtype == np.uint8 and shown.tolist() == [[[[0, 128, 255]]], [[[0, 255, 64]]]]  # clipped, rounded
    checker.answer = np.full((2, 1, 1, 3), 51, np.uint8)  # what it changed (a face blurred)
    changed = _guardrail.check_video(COSMOS, frames)
    assert changed.dtype == np.float32 and np.allclose(changed, 0.2) and changed.shape == frames.shape
    checker.answer = [[[[0, 128, 255]]], [[[0, 255, 64]]]]  # as a list, the same bytes: unchanged
    assert _guardrail.check_video(COSMOS, frames) is frames


def test_a_blocked_video_and_an_unsafe_prompt_are_refused_in_words(checker: Checker) -> None:
    checker.answer = None
    with pytest.raises(sorakit.InvalidInput) as info:
        _guardrail.check_video(COSMOS, np.zeros((1, 2, 2, 3), np.float32))
    assert str(info.value) == ("NVIDIA's Cosmos guardrail blocked the generated video as unsafe under the NVIDIA Open "
                               "Model License; nothing was kept. Change the prompt or the seed")
    checker.safe = False
    prompt = "x" * 59 + "yz" + "w" * 40
    with pytest.raises(sorakit.InvalidInput) as info:
        _guardrail.check_prompt(COSMOS, prompt)
    assert str(info.value) == (f"prompt={'x' * 59 + 'y'!r}: NVIDIA's Cosmos guardrail found it unsafe under the "
                               "NVIDIA Open Model License; write another prompt")  # its first 60 characters
    assert checker.prompts == [prompt]


def test_turned_off_nothing_is_checked(checker: Checker) -> None:
    off = COSMOS.replace(guardrail=False)
    frames = np.full((1, 2, 2, 3), 7.0, np.float32)
    checker.safe, checker.answer = False, None
    _guardrail.check_prompt(off, "anything")
    assert _guardrail.check_video(off, frames) is frames and checker.shown == [] and checker.prompts == []


def test_a_checker_that_cannot_be_had_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    _guardrail._CHECKER.clear()
    monkeypatch.setitem(sys.modules, "cosmos_guardrail", None)  # not installed: importing it fails
    with pytest.raises(sorakit.MissingPackage) as info:
        _guardrail.checker()
    assert str(info.value) == ("the Cosmos guardrail is on (guardrail=True) and cosmos_guardrail is not installed: pip "
                               "install cosmos-guardrail, or set guardrail=False to run without it (recorded in the "
                               "clip's provenance)")

    def offline() -> None:
        raise OSError("no connection")

    module = types.ModuleType("cosmos_guardrail")
    module.__spec__ = importlib.machinery.ModuleSpec("cosmos_guardrail", None)
    module.CosmosSafetyChecker = offline  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "cosmos_guardrail", module)
    with pytest.raises(sorakit.MissingPackage) as info:
        _guardrail.checker()
    assert str(info.value).startswith("the Cosmos guardrail is on (guardrail=True) but its checker could not load "
                                      "(OSError: no connection); its models download from the hub on first use")
    assert str(info.value).endswith("set guardrail=False to run without it (recorded in the clip's provenance)")
    assert _guardrail._CHECKER == []  # nothing half-built is kept


def test_the_note_for_every_kind_of_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _guardrail.note(COSMOS) == _guardrail.ON
    assert _guardrail.note(COSMOS.replace(guardrail=False)) == _guardrail.TURNED_OFF
    assert _guardrail.note(sorakit.Take(model="wan2.1-t2v-1.3b", prompt="x")) == ""  # outside NVIDIA's license
    assert _guardrail.note(sorakit.Take()) == ""  # the previz
    monkeypatch.setattr(models, "MODELS", dict(models.MODELS))
    bare = models.register(dataclasses.replace(models.get("cosmos-predict2.5-2b"), name="cosmos-bare", guardrail=False))
    assert _guardrail.note(COSMOS.replace(model=bare.name)) == ("NVIDIA Cosmos guardrail off: cosmos-bare is registered "
                                                                "without it (ModelSpec.guardrail=False)")
    assert not _guardrail.on(COSMOS.replace(model=bare.name))
