"""Errors of one family, fuzzed Take input, and provenance that can be verified."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sorakit
from sorakit import InvalidInput, OutOfMemory, SorakitError

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=12)
KEYS = list(sorakit.Take().to_dict())


def test_errors_are_one_family() -> None:
    assert issubclass(InvalidInput, SorakitError) and issubclass(InvalidInput, ValueError)
    assert issubclass(OutOfMemory, SorakitError) and issubclass(OutOfMemory, RuntimeError)
    with pytest.raises(InvalidInput):
        sorakit.Take(seed=-1).validate()
    with pytest.raises(InvalidInput):
        sorakit.Take.from_json('{"seeed": 1}')
    with pytest.raises(InvalidInput):
        sorakit.preset("pinball")


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON)
def test_any_json_gives_a_take_or_an_invalid_input(value: object) -> None:
    try:
        take = sorakit.Take.from_json(json.dumps(value))
    except InvalidInput:
        return
    try:
        take.validate()
    except InvalidInput:
        pass


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), JSON, max_size=4))
def test_takes_with_fuzzed_fields_fail_only_with_invalid_input(changes: dict[str, object]) -> None:
    data = {**sorakit.Take().to_dict(), **changes}
    try:
        sorakit.Take.from_dict(data).validate()
    except InvalidInput as exc:
        assert str(exc)  # a message, naming the key
        key = str(exc).split(":", 1)[0].split("=", 1)[0].split(".", 1)[0].split("[", 1)[0]
        assert key in KEYS or key in ("Take", "width, height", "prompt")


def test_verify_reads_provenance_and_catches_tampering(tmp_path: Path) -> None:
    clip = sorakit.generate(sorakit.Take(seed=5, frames=8, width=96, height=64))
    path = clip.save(tmp_path / "shot.mp4")
    report = sorakit.verify(path)
    assert report.ok and report.problems == ()
    assert (report.label, report.model_id, report.seed) == ("AI-generated", "previz", 5)
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["take_sha256"] == sorakit.clip.take_hash(clip.take) and len(side["mp4_sha256"]) == 64

    side["take"]["seed"] = 6
    path.with_suffix(".json").write_text(json.dumps(side))
    assert "the Take was changed after the clip was saved" in " ".join(sorakit.verify(path).problems)

    clip.save(path)  # fresh again
    with open(path, "ab") as f:
        f.write(b"\0")
    assert not sorakit.verify(path).ok
    assert "SHA-256 differs" in sorakit.verify(path).problems[0]

    path.with_suffix(".json").unlink()
    assert "the sidecar is missing" in sorakit.verify(path).problems[0]


@pytest.mark.parametrize("model_id", ["https://example.com/model", "../../no-such-folder", "owner/../name", "/no/such/folder",
                                      "just-a-name", ""])
def test_model_ids_are_validated_before_anything_loads(model_id: str) -> None:
    from sorakit import models

    with pytest.raises(InvalidInput, match="must be a hub id like 'Wan-AI/Wan2.1-T2V-1.3B-Diffusers' or an existing"):
        models.register(models.ModelSpec(name="bad", backend="diffusers", family="wan", model_id=model_id))
    assert "bad" not in models.MODELS


NUMBER = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-10**7, 10**7)
BALL = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=4), "x": NUMBER, "y": NUMBER, "radius": NUMBER},
    optional={"material": st.sampled_from(["rubber", "glass", "unobtainium"]), "vx": NUMBER, "vy": NUMBER,
              "spin": NUMBER, "color": st.sampled_from(["#e4572e", "red"])})
SEGMENT = st.fixed_dictionaries(
    {"name": st.text(min_size=1, max_size=4), "x1": NUMBER, "y1": NUMBER, "x2": NUMBER, "y2": NUMBER},
    optional={"thickness": NUMBER, "collide": st.booleans()})
SCENE = st.fixed_dictionaries(
    {"name": st.text(max_size=5)},
    optional={"balls": st.lists(BALL, max_size=3), "segments": st.lists(SEGMENT, max_size=2), "gravity": NUMBER,
              "view": st.lists(NUMBER, min_size=4, max_size=4), "unknown": st.integers()})


@settings(max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck))
@given(SCENE)
def test_fuzzed_scenes_simulate_and_render_or_fail_with_invalid_input(data: dict[str, object]) -> None:
    """pymunk aborts the whole process on a non-finite mass: validation must stop such scenes first."""
    from sorakit.previz import render

    try:
        scene = sorakit.Scene.from_dict(data)
        sim = sorakit.simulate(scene, frames=2, fps=16)
    except InvalidInput:
        return
    pv = render(sim, 32, 24)
    assert pv.frames.shape == (2, 24, 32, 3)
