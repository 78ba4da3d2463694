from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sorakit
from PIL import Image

from sorakit import cameo as cameo_mod
from sorakit.cameo import MIN_SIDE, Cameo, Face, detect_faces
from sorakit.errors import InvalidInput

ASSETS = Path(__file__).resolve().parent.parent / "assets"
ASTRONAUT = str(ASSETS / "cameo_astronaut.png")
NOFACE = str(ASSETS / "cameo_noface.png")
ASTRONAUT_SHA256 = "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"  # as scikit-image's registry

needs_cv2 = pytest.mark.skipif(importlib.util.find_spec("cv2") is None,
                               reason="needs OpenCV: pip install 'sorakit[cameo]'")


def _refusal(cam: Cameo) -> str:
    with pytest.raises(InvalidInput) as info:
        cam.check()
    return str(info.value)


# -- consent, name, file ----------------------------------------------------------------------------


def test_no_consent_is_refused_before_the_file_is_opened(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("the photo was opened before consent was checked")

    monkeypatch.setattr(Image, "open", no_open)
    msg = _refusal(Cameo("/no/such/dir/ana.png", "Ana"))
    assert msg == ("cameo 'Ana': consent=False; a cameo puts a real person into generated video, so it needs their "
                   "consent; pass consent=True only if they agreed")
    with pytest.raises(InvalidInput, match="consent=False"):
        Cameo(ASTRONAUT, "Ana").prepare(0, 480)  # consent comes before every other rule


@pytest.mark.parametrize("name, rule", [("", "non-empty"), ("   ", "non-empty"), ("a" * 65, "64"),
                                        ("ana/../x", "path separator"), ("C:\\ana", "path separator"),
                                        ("Ana\n", "control"), ("A\x00na", "control")])
def test_bad_names_are_refused(name: str, rule: str) -> None:
    msg = _refusal(Cameo("/no/such/ana.png", name, consent=True))
    assert rule in msg and repr(name) in msg


def test_a_name_in_any_script_is_fine() -> None:
    msg = _refusal(Cameo("/no/such/ana.png", "Zoë 李", consent=True))
    assert "does not exist" in msg


def test_missing_file_names_the_path() -> None:
    msg = _refusal(Cameo("/no/such/ana.png", "Ana", consent=True))
    assert "'/no/such/ana.png' does not exist" in msg and "upload" in msg


def test_a_folder_is_not_a_photo(tmp_path: Path) -> None:
    assert "is not a file" in _refusal(Cameo(str(tmp_path), "Ana", consent=True))


def test_a_text_file_named_png_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_text("hello, I am not a picture\n")
    msg = _refusal(Cameo(str(path), "Ana", consent=True))
    assert "'x.png' is not an image" in msg and "PNG or JPEG" in msg


def test_a_truncated_photo_is_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    path.write_bytes(Path(ASTRONAUT).read_bytes()[:5000])
    assert "is not an image" in _refusal(Cameo(str(path), "Ana", consent=True))


def test_other_formats_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ana.gif"
    Image.open(ASTRONAUT).convert("P").save(path)
    msg = _refusal(Cameo(str(path), "Ana", consent=True))
    assert "is a GIF image" in msg and "PNG, JPEG or WebP" in msg


def test_too_small_is_refused_with_the_size_and_the_rule(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.open(ASTRONAUT).resize((200, 200)).save(path)
    msg = _refusal(Cameo(str(path), "Ana", consent=True))
    assert "200x200" in msg and f"at least {MIN_SIDE} px" in msg


def test_too_large_is_refused_before_decoding(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    Image.new("RGB", (8200, 300), (90, 120, 150)).save(path)
    msg = _refusal(Cameo(str(path), "Ana", consent=True))
    assert "8200x300" in msg and "over 8192 px" in msg


# -- detection --------------------------------------------------------------------------------------


@needs_cv2
def test_no_face_is_refused_with_what_to_do() -> None:
    msg = _refusal(Cameo(NOFACE, "Ana", consent=True))
    assert "no face found" in msg and "front-facing" in msg and "1/8" in msg


@needs_cv2
def test_the_astronaut_passes_and_her_face_is_found_where_it_is() -> None:
    face = Cameo(ASTRONAUT, "Eileen Collins", consent=True).check()
    cx, cy = face.center
    assert 0.35 * 512 < cx < 0.55 * 512  # a little left of centre
    assert 0.1 * 512 < cy < 0.35 * 512   # upper half, below the hair
    assert 0.15 * 512 < face.h < 0.3 * 512 and face.w == face.h
    assert face.score >= 8


@needs_cv2
def test_detect_faces_takes_pil_or_arrays() -> None:
    im = Image.open(ASTRONAUT).convert("RGB")
    inputs = (im, np.asarray(im), np.asarray(im.convert("RGBA")), np.asarray(im.convert("L")))
    boxes = [detect_faces(x)[0] for x in inputs]
    assert all(abs(b.x - boxes[0].x) <= 2 and abs(b.h - boxes[0].h) <= 4 for b in boxes)
    assert detect_faces(np.full((300, 400, 3), 128, np.uint8)) == []
    with pytest.raises(InvalidInput, match="uint8"):
        detect_faces(np.zeros((300, 400, 3), np.float32))


@needs_cv2
def test_exif_orientation_is_applied_before_detection(tmp_path: Path) -> None:
    upright = Image.open(ASTRONAUT).convert("RGB")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display": the pixels are stored on their side
    path = tmp_path / "phone.jpg"
    upright.transpose(Image.Transpose.ROTATE_90).save(path, quality=95, exif=exif)
    face = Cameo(str(path), "Eileen", consent=True).check()
    want = Cameo(ASTRONAUT, "Eileen", consent=True).check()
    assert abs(face.center[0] - want.center[0]) < 10 and abs(face.center[1] - want.center[1]) < 10
    assert Cameo(str(path), "Eileen", consent=True).prepare(256, 256).size == (256, 256)


def test_missing_opencv_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(sorakit.MissingPackage, match=r"pip install 'sorakit\[cameo\]'"):
        detect_faces(np.zeros((300, 300), np.uint8))


def test_import_sorakit_does_not_import_cv2() -> None:
    code = "import sys, json, sorakit, sorakit.cameo; print(json.dumps('cv2' in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) is False


# -- prepare --------------------------------------------------------------------------------------


def _marker_photo(tmp_path: Path, box: tuple[int, int, int, int], size: tuple[int, int]) -> str:
    """A light photo with a dark square where the (stubbed) detector will say the face is."""
    im = Image.new("RGB", size, (200, 210, 220))
    x, y, w, h = box
    im.paste((40, 40, 40), (x, y, x + w, y + h))
    path = tmp_path / "marker.png"
    im.save(path)
    return str(path)


def _dark_box(out: Image.Image) -> tuple[float, float, int]:
    """Centre x, centre y and height of the dark marker in ``out``."""
    dark = np.asarray(out).max(axis=2) < 120
    rows, cols = np.flatnonzero(dark.any(axis=1)), np.flatnonzero(dark.any(axis=0))
    return (cols[0] + cols[-1] + 1) / 2, (rows[0] + rows[-1] + 1) / 2, int(rows[-1] - rows[0] + 1)


@pytest.mark.parametrize("size", [(832, 480), (480, 832), (720, 480), (64, 64)])
def test_prepare_places_the_face_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         size: tuple[int, int]) -> None:
    box = (380, 60, 100, 100)  # near the right edge: the frame has to be padded
    path = _marker_photo(tmp_path, box, (520, 400))
    monkeypatch.setattr(cameo_mod, "detect_faces", lambda image: [Face(*box, 20.0)])
    w, h = size
    out = Cameo(path, "Ana", consent=True).prepare(w, h)
    assert out.size == size and out.mode == "RGB"
    cx, cy, fh = _dark_box(out)
    assert abs(cx - w / 2) <= 1.5
    assert abs(fh - 0.45 * h) <= max(1.5, 0.02 * h)
    assert abs(cy - max(h / 3, 0.75 * 0.45 * h)) <= 1.5
    grey = np.asarray(out).max(axis=2)
    half = fh / 2 + 2  # the marker is square, plus a little for resampling
    top, bottom, left, right = round(cy - half), round(cy + half), round(cx - half), round(cx + half)
    for around in (grey[:max(0, top)], grey[bottom:], grey[:, :max(0, left)], grey[:, right:]):
        assert around.size == 0 or around.min() > 150, "the padding must continue the light photo, not be black"


@needs_cv2
@pytest.mark.parametrize("size", [(832, 480), (480, 832), (720, 480), (64, 64)])
def test_prepare_frames_the_astronaut(size: tuple[int, int]) -> None:
    w, h = size
    out = Cameo(ASTRONAUT, "Eileen", consent=True).prepare(w, h)
    assert out.size == size and out.mode == "RGB"
    look = out if min(size) >= 256 else out.resize((w * 4, h * 4), Image.Resampling.LANCZOS)
    zoom = look.height / h
    face = detect_faces(look)[0]
    assert abs(face.center[0] / zoom - w / 2) <= max(3, 0.02 * w)  # centred left to right
    assert abs(face.h / zoom - 0.45 * h) <= 0.15 * 0.45 * h        # face_height of the height
    assert face.center[1] / zoom < 0.5 * h                          # in the upper part


@needs_cv2
def test_prepare_pads_with_the_photo_never_black_bars() -> None:
    cam = Cameo(ASTRONAUT, "Eileen", consent=True)
    out = np.asarray(cam.prepare(832, 480, face_height=0.15))  # the photo covers only the middle
    grey = out.max(axis=2)
    for strip in (grey[:20], grey[-20:], grey[:, :20], grey[:, -20:]):
        assert strip.mean() > 40 and (strip < 8).mean() < 0.5
    assert not (grey < 8).all(axis=0).any() and not (grey < 8).all(axis=1).any()  # no black row or column


@needs_cv2
def test_prepare_is_deterministic_and_checks_its_arguments() -> None:
    cam = Cameo(ASTRONAUT, "Eileen", consent=True)
    assert np.array_equal(np.asarray(cam.prepare(320, 192)), np.asarray(cam.prepare(320, 192)))
    for bad in ({"width": 0, "height": 480}, {"width": 832.0, "height": 480}):
        with pytest.raises(InvalidInput, match="width"):
            cam.prepare(**bad)
    with pytest.raises(InvalidInput, match="face_height"):
        cam.prepare(832, 480, face_height=0.95)


def test_sha256_is_of_the_file_bytes_and_stable(tmp_path: Path) -> None:
    cam = Cameo(ASTRONAUT, "Eileen")
    assert cam.sha256() == cam.sha256() == ASTRONAUT_SHA256
    assert cam.sha256() == hashlib.sha256(Path(ASTRONAUT).read_bytes()).hexdigest()
    with pytest.raises(InvalidInput, match="does not exist"):
        Cameo(os.fspath(tmp_path / "gone.png"), "Ana").sha256()
