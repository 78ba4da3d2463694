from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import sorakit
from sorakit import consistency as cons
from sorakit.tiny import clip as tiny_clip
from sorakit.clip import Provenance
from sorakit.errors import InvalidInput


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_clip.build(tmp_path_factory.mktemp("tiny_clip")))


@pytest.fixture(scope="module")
def shots() -> tuple[sorakit.Clip, sorakit.Clip]:
    take = sorakit.Take(frames=16, width=128, height=80)
    balls = take.replace(physics=sorakit.PhysicsConfig(scene="bouncing_balls"), seed=3)
    return sorakit.generate(take), sorakit.generate(balls)


def clip_of(frames: np.ndarray) -> sorakit.Clip:
    t, h, w = frames.shape[:3]
    silence = np.zeros((2, round(t / 16 * 48_000)), np.float32)
    return sorakit.Clip(frames, 16, silence, 48_000, sorakit.Take(frames=max(t, 1), width=w, height=h),
                        Provenance.now("test", "test", 0))


def srgb_u8(linear: np.ndarray) -> np.ndarray:
    """Linear light in 0-1 -> 8-bit sRGB (the inverse of the IEC 61966-2-1 decoding)."""
    v = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(linear, 1 / 2.4) - 0.055)
    return np.round(np.clip(v, 0, 1) * 255).astype(np.uint8)


def test_identical_shots_are_consistent(shots: tuple[sorakit.Clip, sorakit.Clip], tiny: str) -> None:
    a = shots[0]
    r = cons.measure([a, a, a], model=tiny, device="cpu")
    assert len(r.shots) == 3 and [s.index for s in r.shots] == [0, 1, 2]
    assert r.look_similarity == pytest.approx((1.0, 1.0), abs=1e-5)
    assert r.color_drift == (0.0, 0.0) and r.exposure_drift == (0.0, 0.0)
    assert r.verdict.startswith("consistent") and r.passed and r.cast == ()
    s = r.shots[0]
    assert 0 < s.brightness < 100 and s.contrast > 0 and 0 < s.luminance < 1 and s.chroma > 0
    assert s.frames == (0, 2, 4, 6, 9, 11, 13, 15) and s.middle == 8 and s.thumbnail.shape == (80, 128, 3)
    assert s.mean_lab[0] == s.brightness


def test_half_the_linear_light_is_minus_one_stop(tiny: str) -> None:
    rng = np.random.default_rng(0)
    linear = rng.uniform(0.05, 0.9, (8, 48, 64, 3))
    bright, dark = clip_of(srgb_u8(linear)), clip_of(srgb_u8(linear * 0.5))
    r = cons.measure([bright, dark], model=tiny, device="cpu")
    assert r.exposure_drift[0] == pytest.approx(-1.0, abs=0.02)
    assert cons.measure([dark, bright], model=tiny, device="cpu").exposure_drift[0] == pytest.approx(1.0, abs=0.02)
    assert "worst cut shots 0→1" in r.verdict and "exposure -1.00 stops" in r.verdict and not r.passed
    # halving the 8-bit sRGB code values instead darkens by about 2.2 stops (the gamma), not 1
    naive = clip_of((srgb_u8(linear) * 0.5).astype(np.uint8))
    assert cons.measure([bright, naive], model=tiny, device="cpu").exposure_drift[0] < -2.0


def test_a_colour_shifted_shot_is_named(shots: tuple[sorakit.Clip, sorakit.Clip], tiny: str) -> None:
    a = shots[0]
    tinted = a.frames.astype(np.float32) * np.array([1.0, 0.8, 0.35], np.float32)
    r = cons.measure([a, a, clip_of(tinted.astype(np.uint8))], model=tiny, device="cpu")
    assert r.color_drift[0] == 0.0 and r.color_drift[1] > 2 * cons.COLOR_MAX
    assert r.verdict.startswith("inconsistent: worst cut shots 1→2: color ΔE00")
    assert r.shots[2].mean_lab[2] > r.shots[1].mean_lab[2] + 20  # yellower: b* up


def test_lab_and_ciede2000_match_reference_values() -> None:
    lab = cons.to_lab(np.array([[255, 255, 255], [0, 0, 255], [128, 128, 128]], np.uint8))
    expected = np.array([[100.0, 0.0, 0.0], [32.30, 79.19, -107.86], [53.59, 0.0, 0.0]])
    np.testing.assert_allclose(lab, expected, atol=0.02)
    # Sharma, Wu & Dalal (2005), test pairs 1, 7, 17, 25
    pairs = [((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425),
             ((50, 0, 0), (50, -1, 2), 2.3669),
             ((50, 2.5, 0), (73, 25, -18), 27.1492),
             ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644)]
    got = cons.ciede2000(np.array([p[0] for p in pairs], float), np.array([p[1] for p in pairs], float))
    np.testing.assert_allclose(got, [p[2] for p in pairs], atol=1e-4)
    assert float(cons.ciede2000((40.0, 10.0, -5.0), (40.0, 10.0, -5.0))) == 0.0


def test_a_character_cut_from_a_shot_is_found_there(shots: tuple[sorakit.Clip, sorakit.Clip], tiny: str,
                                                    tmp_path: Path) -> None:
    a, b = shots
    x0, y0, x1, y1 = box = (64, 20, 128, 60)  # one of the 3x3 windows of a 128x80 frame: the hoop
    assert box in cons._regions(80, 128)
    hero = tmp_path / "hero.png"
    Image.fromarray(a.frames[5, y0:y1, x0:x1]).save(hero)  # frames 0, 5, 10 and 15 are searched
    noise = np.random.default_rng(1).integers(0, 256, (40, 64, 3), dtype=np.uint8)
    r = cons.measure([a, b], cast={"hero": str(hero), "noise": Image.fromarray(noise)}, model=tiny, device="cpu")
    assert [(m.name, m.shot) for m in r.cast] == [("hero", 0), ("hero", 1), ("noise", 0), ("noise", 1)]
    hero0, hero1, noise0, _ = r.cast
    assert hero0.found and hero0.similarity == pytest.approx(1.0, abs=1e-5)
    assert hero0.box == box and hero0.frame in (0, 5)  # the hoop stands still: frame 0 holds the same pixels
    assert noise0.similarity < hero0.similarity and hero1.similarity < hero0.similarity
    assert all(-1 <= m.similarity <= 1 and m.found == (m.similarity >= cons.CAST_FOUND) for m in r.cast)


def test_the_embedder_loads_once_per_model_and_device(shots: tuple[sorakit.Clip, sorakit.Clip], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    folder = str(tiny_clip.build(tmp_path / "fresh"))
    calls: list[Any] = []
    original = transformers.CLIPVisionModelWithProjection.from_pretrained

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(transformers.CLIPVisionModelWithProjection, "from_pretrained", counting)
    images = [shots[0].frames[0], Image.fromarray(shots[1].frames[3])]
    first = cons.embed(images, model=folder, device="cpu")
    second = cons.embed(images, model=folder, device="cpu")
    cons.measure(list(shots), model=folder, device="cpu")
    assert len(calls) == 1 and calls[0][0] == folder
    np.testing.assert_array_equal(first, second)
    assert first.shape == (2, tiny_clip.PROJECTION_DIM) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-6)


def test_plot_png(shots: tuple[sorakit.Clip, sorakit.Clip], tiny: str) -> None:
    r = cons.measure(list(shots), cast={"hero": shots[0].frames[0, :40, :64]}, model=tiny, device="cpu")
    png = r.plot_png()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_bad_inputs_are_refused_before_any_model_loads(shots: tuple[sorakit.Clip, sorakit.Clip], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model loaded before the inputs were checked")

    monkeypatch.setattr(transformers.CLIPVisionModelWithProjection, "from_pretrained", refuse)
    a, b = shots
    empty = clip_of(np.zeros((0, 80, 128, 3), np.uint8))
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("not a picture")
    cases: list[tuple[dict[str, Any], str]] = [
        (dict(clips=[a]), "1 shot(s); consistency is measured between shots, so it needs at least 2"),
        (dict(clips=[]), "0 shot(s)"),
        (dict(clips=a), "clips=Clip: the report compares a list of Clips"),
        (dict(clips=[a, "b.mp4"]), "clips[1]=str: each shot must be a sorakit.Clip; load a saved one"),
        (dict(clips=[a, empty]), "clips[1]: frames [0, 80, 128, 3] hold no picture"),
        (dict(clips=[a, b], cast={"hero": str(tmp_path / "missing.png")}), "missing.png': no such image file"),
        (dict(clips=[a, b], cast={"hero": str(not_an_image)}), "not an image PIL can read"),
        (dict(clips=[a, b], cast={"hero": np.zeros((8, 8), np.float32)}), "cast['hero']=float32 [8, 8]"),
        (dict(clips=[a, b], cast=["hero.png"]), "the cast maps each character's name to a reference image"),
        (dict(clips=[a, b], cast={"": a.frames[0]}), "a character's name is a non-empty string"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidInput, match=None) as info:
            cons.measure(**kwargs)
        assert message in str(info.value), (kwargs, str(info.value))
    with pytest.raises(InvalidInput, match="images\\[1\\]=int64 \\[4, 4, 3\\]"):
        cons.embed([a.frames[0], np.zeros((4, 4, 3), np.int64)], model="never/loaded")
    with pytest.raises(InvalidInput, match="model='': the embedder is a CLIP hub id or a local folder"):
        cons.embed([a.frames[0]], model="")


def test_importing_the_report_loads_no_model_or_plot_library() -> None:
    code = ("import sys, json, sorakit.consistency, sorakit.tiny.clip; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'transformers', 'matplotlib'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
