"""``Cameo``: a person's photo, checked and framed so they can be put into a generated scene.

A cameo puts a real person into video, so it is refused unless ``consent=True`` says they agreed.
``check()`` then validates the photo (a readable PNG, JPEG or WebP, 256 to 8192 px a side, with a
face that OpenCV's Haar cascade finds) and ``prepare(width, height)`` frames it around the face
for an image-to-video or identity model. All of it runs offline, before any model loads.

>>> ana = Cameo("ana.jpg", "Ana", consent=True)
>>> ana.name, ana.consent
('Ana', True)
>>> ana.prepare(832, 480).size  # doctest: +SKIP
(832, 480)
"""

from __future__ import annotations

import functools
import hashlib
import os
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from sorakit.errors import InvalidInput, MissingPackage

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["Cameo", "Face", "detect_faces", "MIN_SIDE", "MAX_SIDE"]

MIN_SIDE = 256
"""Pixels: a photo whose shorter side is smaller is refused (too little detail in the face)."""
MAX_SIDE = 8192
"""Pixels: a photo with a longer side is refused (memory; no video model uses that much)."""
FORMATS = ("PNG", "JPEG", "WEBP")

# Haar cascade settings, tuned on the astronaut photo under darkening, low contrast, blur, noise,
# JPEG q=20, 10 degrees of tilt and a face 1/8 of the picture tall (all found), and on scikit-image's
# other sample pictures and previz frames (no false faces). Histogram equalisation was tried and
# dropped: it added a false "face" on the astronaut's suit, larger than her real one.
_DETECT_SIDE = 256      # the grey copy's shorter side, in pixels (never upscaled)
_SCALE_FACTOR = 1.1     # pyramid step: 10% per level
_MIN_NEIGHBORS = 8      # overlapping windows needed to call a face; real faces get 20 to 70
_MIN_FACE = 1 / 12      # smallest face searched, as a fraction of the shorter side (the rule says ~1/8)
_CASCADE = "haarcascade_frontalface_default.xml"

ImageLike = Union["Image.Image", np.ndarray]


@dataclass(frozen=True)
class Face:
    """A face box in the photo's pixels (after EXIF rotation).

    Attributes:
        x, y: the box's top-left corner.
        w, h: its width and height (a Haar box runs from the brows to below the mouth).
        score: how many overlapping detector windows agreed on it; a higher score is more certain.

    >>> Face(10, 20, 100, 100, 30.0).center
    (60.0, 70.0)
    """

    x: int
    y: int
    w: int
    h: int
    score: float

    @property
    def center(self) -> tuple[float, float]:
        """The box's centre, ``(x, y)``."""
        return self.x + self.w / 2, self.y + self.h / 2


@dataclass(frozen=True)
class Cameo:
    """A real person's photo for a generated scene, with their name and their consent.

    Attributes:
        image: the path to the photo (PNG, JPEG or WebP).
        name: who it is ("Ana"); it goes into provenance and storyboards.
        consent: the person agreed to be put into generated video. Nothing runs without it.

    >>> Cameo("ana.jpg", "Ana").check()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: cameo 'Ana': consent=False; a cameo puts a real person into ...
    """

    image: str
    name: str
    consent: bool = False

    def check(self) -> Face:
        """Validates consent, name and photo, and returns the largest face found in it.

        Consent is checked first, before the file is even opened.

        Raises:
            InvalidInput: naming the value, the rule and the fix.
            ImportError: OpenCV (``pip install 'sorakit[cameo]'``) is missing.
        """
        return self._load()[1]

    def prepare(self, width: int, height: int, *, face_height: float = 0.45) -> Image.Image:
        """The photo framed around the face as an RGB picture of exactly ``width`` x ``height``.

        The face is centred left to right, scaled so its box is ``face_height`` of the picture's
        height, and placed in the upper third (lower only when a big face needs headroom above it).
        At the default 0.45 a tall frame may cut the top of the hair; 0.3 keeps the whole head.
        Where the frame reaches past the photo's edge, the gap is filled with the photo's border
        pixels stretched outwards (edge replication) and then blurred, so it reads as soft
        background, never black bars. The same photo and size always give the same pixels.

        Args:
            width, height: the output size in pixels (1 to 8192).
            face_height: the face box's height as a fraction of ``height``, in [0.05, 0.8].

        Raises:
            InvalidInput: as ``check()``, or for a bad size or ``face_height``.
        """
        self._check_person()
        for key, value in (("width", width), ("height", height)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SIDE:
                raise InvalidInput(f"cameo {self.name!r}: {key}={value!r}: must be an int in [1, {MAX_SIDE}]; "
                                   "use the video's size, e.g. 832x480")
        if isinstance(face_height, bool) or not isinstance(face_height, (int, float)) \
                or not 0.05 <= face_height <= 0.8:
            raise InvalidInput(f"cameo {self.name!r}: face_height={face_height!r}: must be in [0.05, 0.8] of the "
                               "picture's height; 0.45 is a head-and-shoulders shot, 0.2 shows the upper body")
        photo, face = self._load()
        return _frame(photo, face, width, height, float(face_height))

    def sha256(self) -> str:
        """The SHA-256 of the photo file's bytes, as hex, for provenance.

        Raises:
            InvalidInput: the file does not exist.
        """
        _check_file(self)
        digest = hashlib.sha256()
        with open(self.image, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def _check_person(self) -> None:
        """Consent first (nothing is read without it), then the name."""
        if self.consent is not True:
            raise InvalidInput(f"cameo {self.name!r}: consent={self.consent!r}; a cameo puts a real person into "
                               "generated video, so it needs their consent; pass consent=True only if they agreed")
        _check_name(self.name)

    def _load(self) -> tuple[Image.Image, Face]:
        """Every check, in order; returns the upright RGB photo and its largest face."""
        self._check_person()
        photo = _open(self)
        faces = detect_faces(photo)
        if not faces:
            raise InvalidInput(
                f"cameo {self.name!r}: no face found in {self.image!r} ({photo.width}x{photo.height}); a cameo needs "
                "one clearly visible face; use a well-lit, front-facing photo with the face at least ~1/8 of the "
                "picture's height (crop closer if it is smaller), without sunglasses or a strong tilt")
        return photo, faces[0]


def detect_faces(image: ImageLike) -> list[Face]:
    """Frontal faces in ``image``, largest first, as boxes in its pixels.

    Uses OpenCV's Haar cascade (``haarcascade_frontalface_default.xml``, shipped in the opencv
    wheel, so it runs offline) on a grey copy scaled down to 320 px on its shorter side. It finds
    faces at least ~1/12 of the shorter side tall. ``image`` is a PIL image or a uint8 array (H x W
    grey, H x W x 3 RGB or H x W x 4 RGBA). EXIF rotation is not applied here: ``Cameo`` does that.

    Raises:
        InvalidInput: an array that is not uint8 grey, RGB or RGBA.
        ImportError: OpenCV is missing (``pip install 'sorakit[cameo]'``).
    """
    cv2 = _cv2()
    grey = _grey(image, cv2)
    h, w = grey.shape
    f = min(1.0, _DETECT_SIDE / min(h, w))
    small = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA) \
        if f < 1.0 else grey
    fx, fy = small.shape[1] / w, small.shape[0] / h
    least = max(24, round(min(small.shape) * _MIN_FACE))
    if min(small.shape) < least:
        return []
    boxes, votes = _cascade().detectMultiScale2(small, scaleFactor=_SCALE_FACTOR, minNeighbors=_MIN_NEIGHBORS,
                                                minSize=(least, least))
    faces = []
    for (bx, by, bw, bh), n in zip(np.asarray(boxes).reshape(-1, 4).tolist(), np.asarray(votes).ravel().tolist()):
        x0, y0 = max(0, round(bx / fx)), max(0, round(by / fy))
        x1, y1 = min(w, round((bx + bw) / fx)), min(h, round((by + bh) / fy))
        faces.append(Face(int(x0), int(y0), int(x1 - x0), int(y1 - y0), float(n)))
    faces.sort(key=lambda b: (-b.w * b.h, -b.score, b.y, b.x))
    return faces


# -- checks -----------------------------------------------------------------------------------------


def _check_name(name: object) -> None:
    def bad(rule: str, fix: str) -> InvalidInput:
        return InvalidInput(f"cameo name={name!r}: {rule}; {fix}")

    if not isinstance(name, str) or not name.strip():
        raise bad("must be a non-empty string", "give the person's name, e.g. name='Ana'")
    if len(name) > 64:
        raise bad(f"is {len(name)} characters, the most is 64", "use a short name or a first name")
    if any(sep and sep in name for sep in ("/", "\\", os.sep, os.altsep)):
        raise bad("must not contain a path separator ('/' or '\\')", "give the person's name, not a path")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
        raise bad("must not contain control characters (newlines, tabs, invisible marks)", "type the name plainly")


def _check_file(cameo: Cameo) -> None:
    path = cameo.image
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise InvalidInput(f"cameo {cameo.name!r}: image={path!r}: must be a path to a photo; "
                           "pass the photo's file name, e.g. 'ana.jpg'")
    if not os.path.exists(path):
        raise InvalidInput(f"cameo {cameo.name!r}: image {path!r} does not exist (looked in {os.getcwd()!r}); "
                           "check the path, and on Colab upload the photo first")
    if not os.path.isfile(path):
        raise InvalidInput(f"cameo {cameo.name!r}: image {path!r} is not a file; give the path to the photo itself")


def _open(cameo: Cameo) -> Image.Image:
    """The photo decoded, EXIF-rotated upright and RGB; refuses unreadable, wrong-format or badly sized files."""
    from PIL import Image, ImageOps

    _check_file(cameo)
    path, who = cameo.image, f"cameo {cameo.name!r}"
    fix = "export the photo again as PNG or JPEG (an iPhone HEIC photo: share or save it as JPEG)"
    try:
        with Image.open(path) as im:
            fmt = im.format
            if fmt not in FORMATS:
                raise InvalidInput(f"{who}: image {path!r} is a {fmt} image; a cameo must be PNG, JPEG or WebP; {fix}")
            _check_size(who, path, im.size)
            im.load()
            upright = ImageOps.exif_transpose(im)
            photo = upright.convert("RGB")
    except Image.DecompressionBombError as exc:
        raise InvalidInput(f"{who}: image {path!r} is far too large ({exc}); photos over {MAX_SIDE} px a side are "
                           "refused; scale it down to about 2000 px") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"{who}: {os.path.basename(path)!r} is not an image PIL can read ({exc}); {fix}") from exc
    _check_size(who, path, photo.size)
    return photo


def _check_size(who: str, path: str, size: tuple[int, int]) -> None:
    w, h = size
    if min(w, h) < MIN_SIDE:
        raise InvalidInput(f"{who}: image {path!r} is {w}x{h}; its shorter side must be at least {MIN_SIDE} px so "
                           "the face has detail; use a larger original (not a thumbnail or a screenshot of one)")
    if max(w, h) > MAX_SIDE:
        raise InvalidInput(f"{who}: image {path!r} is {w}x{h}; sides over {MAX_SIDE} px are refused; "
                           "scale it down to about 2000 px on its longer side")


# -- detection ------------------------------------------------------------------------------------


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        raise MissingPackage("Cameo face detection requires OpenCV: pip install 'sorakit[cameo]'") from exc
    if not hasattr(cv2, "CascadeClassifier"):
        raise MissingPackage(f"Cameo face detection needs OpenCV 4's Haar cascades, which OpenCV {cv2.__version__} "
                          "left out: pip install 'opencv-python-headless>=4.8,<5'")
    return cv2


@functools.lru_cache(maxsize=1)
def _cascade() -> Any:
    cv2 = _cv2()
    path = os.path.join(cv2.data.haarcascades, _CASCADE)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise MissingPackage(f"OpenCV's face cascade {path!r} is missing or unreadable: "
                          "pip install --force-reinstall 'sorakit[cameo]'")
    return cascade


def _grey(image: ImageLike, cv2: Any) -> np.ndarray:
    if isinstance(image, np.ndarray):
        a = image
        if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3, 4))):
            raise InvalidInput(f"detect_faces: an array of shape {a.shape} and dtype {a.dtype}: must be uint8 "
                               "H x W, H x W x 3 (RGB) or H x W x 4 (RGBA); convert with np.uint8 or pass a PIL image")
        if a.ndim == 3 and a.shape[2] == 3:
            a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
        elif a.ndim == 3 and a.shape[2] == 4:
            a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGBA2GRAY)
        elif a.ndim == 3:
            a = a[:, :, 0]
        return np.ascontiguousarray(a)
    return np.asarray(image.convert("L"))


# -- framing --------------------------------------------------------------------------------------


def _frame(photo: Image.Image, face: Face, width: int, height: int, face_height: float) -> Image.Image:
    """Crops and scales ``photo`` so ``face`` sits centred, ``face_height`` tall, in the upper third."""
    from PIL import Image, ImageFilter

    face_px = face_height * height
    s = face_px / face.h  # output pixels per photo pixel
    fx, fy = face.center
    # Face centre on the upper-third line; lower only when the forehead and hair need the room.
    cy = max(height / 3, 0.75 * face_px)
    bx0, by0 = fx - width / 2 / s, fy - cy / s  # the output frame's top-left, in photo pixels
    # The part of the frame the photo covers, snapped to whole output pixels.
    u0 = max(0, min(width, round(-bx0 * s)))
    v0 = max(0, min(height, round(-by0 * s)))
    u1 = max(u0 + 1, min(width, round((photo.width - bx0) * s)))
    v1 = max(v0 + 1, min(height, round((photo.height - by0) * s)))
    box = (max(0.0, bx0 + u0 / s), max(0.0, by0 + v0 / s),
           min(float(photo.width), bx0 + u1 / s), min(float(photo.height), by0 + v1 / s))
    part = photo.resize((u1 - u0, v1 - v0), Image.Resampling.LANCZOS, box=box)
    if (u0, v0, u1, v1) == (0, 0, width, height):
        return part
    pad = ((v0, height - v1), (u0, width - u1), (0, 0))
    fill = Image.fromarray(np.pad(np.asarray(part), pad, mode="edge"))
    fill = fill.filter(ImageFilter.GaussianBlur(max(2.0, max(width, height) / 40)))
    fill.paste(part, (u0, v0))
    return fill


def load_image(path: str, width: int, height: int) -> Any:
    """The picture at ``path``, scaled to cover ``width`` x ``height`` and centre-cropped."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        return ImageOps.fit(im.convert("RGB"), (width, height), Image.Resampling.LANCZOS)


def composite(frame: np.ndarray, cameo: str, *, height: float = 0.6) -> Any:
    """The cameo picture pasted into a previz frame: ``height`` of the frame tall, standing on its right.

    A picture with transparency is pasted through its alpha; an opaque one as a framed inset.

    >>> import tempfile, os
    >>> from PIL import Image
    >>> path = os.path.join(tempfile.mkdtemp(), "me.png")
    >>> Image.new("RGB", (40, 60), "red").save(path)
    >>> composite(np.zeros((48, 64, 3), np.uint8), path).getpixel((50, 40))
    (255, 0, 0)
    """
    from PIL import Image

    base = Image.fromarray(frame).convert("RGB")
    with Image.open(cameo) as im:
        person = im.convert("RGBA")
    h = max(1, int(base.height * height))
    w = max(1, round(person.width * h / person.height))
    person = person.resize((w, h), Image.Resampling.LANCZOS)
    base.paste(person, (max(0, base.width - w - base.width // 20), base.height - h), mask=person)
    return base
