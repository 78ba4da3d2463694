"""A consistency report for a multi-shot film: do the shots keep their cast and their look?

A storyboard renders several shots; a video model renders each one on its own, so a character's
face, the grade and the exposure can change at every cut. The report measures the frames only:

1. **Look.** Each shot's middle frame is embedded with a CLIP image encoder; the cosine
   similarity between consecutive shots says whether they look like the same film (``LOOK_MIN``).
2. **Colour.** Eight evenly spaced frames per shot are converted sRGB -> linear -> XYZ -> CIELAB
   (D65) with numpy; the color drift at a cut is the CIEDE2000 difference (ΔE00) between the two
   shots' mean Lab colours (``COLOR_MAX``).
3. **Exposure.** The mean *linear* luminance of the same frames; the drift at a cut is
   ``log2(next / previous)`` in stops, so halving the light is exactly -1 stop (``EXPOSURE_MAX``).
4. **Cast.** Each character's reference image is embedded and compared with regions of four
   evenly spaced frames per shot: the whole frame and overlapping 2x2 and 3x3 windows (no face
   detector). The best cosine similarity per shot is kept; above ``CAST_FOUND`` the character is
   *found*.

Shots are numbered from 0, as in ``ShotLook.index`` and ``CastMatch.shot``.

>>> import tempfile, sorakit
>>> from sorakit.tiny import clip as tiny_clip
>>> tiny = str(tiny_clip.build(tempfile.mkdtemp()))
>>> shot = sorakit.generate(sorakit.Take(frames=8, width=96, height=64))
>>> r = measure([shot, shot], model=tiny, device="cpu")
>>> r.verdict.split(":")[0], round(r.look_similarity[0], 4), r.color_drift, r.exposure_drift
('consistent', 1.0, (0.0,), (0.0,))
"""

from __future__ import annotations

from sorakit._device import pick
from sorakit.errors import InvalidInput, MissingPackage

import io
import math
import os
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from PIL import Image

    from sorakit.clip import Clip
    from sorakit.lipsync import LipSync

    CastImage = str | os.PathLike[str] | Image.Image | np.ndarray

__all__ = ["consistency", "embed", "ConsistencyReport", "ShotLook", "CastMatch", "plot_consistency", "to_lab",
           "ciede2000", "DEFAULT_EMBEDDER", "LOOK_MIN", "COLOR_MAX", "EXPOSURE_MAX", "CAST_FOUND"]

DEFAULT_EMBEDDER = "openai/clip-vit-base-patch32"

# -- thresholds -------------------------------------------------------------------------------
# CLIP ViT-B/32 image-image cosine similarity between consecutive middle frames. Two shots of the
# same scene and grade (a wide and a closer shot) typically score 0.8-0.95; unrelated images
# 0.4-0.65. Below 0.75 a cut looks like another film. A judgement, not a calibration: a change of
# scene by design falls below it too.
LOOK_MIN = 0.75
# CIEDE2000 between mean Lab colours. About 2 is just noticeable side by side, but the mean colour
# of a whole frame also moves with what is in shot (a face fills a close-up), so the limit sits
# where a grade or a colour cast change shows across a cut: about a 1500 K white-balance shift.
COLOR_MAX = 10.0
# Mean linear luminance, stops. Graders match cuts to about a third of a stop; half a stop is a
# visible jump in brightness, even allowing for composition.
EXPOSURE_MAX = 0.5
# Best cosine similarity of a character's reference with a region of a shot. A crop that holds
# the same character in another pose scores about 0.75-0.9 with CLIP ViT-B/32, another person or
# the background 0.5-0.7. Meaningless with the random tiny model (only orderings are).
CAST_FOUND = 0.75

LOOK_FRAMES = 8       # frames per shot for the colour and exposure statistics
CAST_FRAMES = 4       # frames per shot searched for each character
GRIDS = (2, 3)        # n x n overlapping windows, each 2 / (n + 1) of the frame, on top of the whole frame
BATCH = 64            # images per forward pass
STATS_WIDTH = 256     # frames are subsampled to about this width for the colour statistics
THUMB_WIDTH = 240     # width of the thumbnails kept for the plot
_LUMA_FLOOR = 1e-5    # mean linear luminance of a black frame, so its exposure is finite

# sRGB (D65) linear RGB -> XYZ, IEC 61966-2-1; its row sums are the D65 white point.
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_WHITE = _RGB_TO_XYZ.sum(axis=1)

_CACHE: dict[tuple[str, str], tuple[Any, Any]] = {}


# -- colour -----------------------------------------------------------------------------------


def _linear(srgb: np.ndarray) -> np.ndarray:
    """sRGB in 0-1 -> linear light (the IEC 61966-2-1 curve)."""
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


_LINEAR_U8 = _linear(np.arange(256) / 255.0)


def _linear_rgb(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB ``[..., 3]`` -> float64 linear RGB (a lookup table), other dtypes taken as 0-1."""
    return _LINEAR_U8[rgb] if rgb.dtype == np.uint8 else _linear(np.clip(np.asarray(rgb, np.float64), 0.0, 1.0))


def _lab_from_linear(lin: np.ndarray) -> np.ndarray:
    xyz = lin @ _RGB_TO_XYZ.T / _WHITE
    eps = (6 / 29) ** 3
    f = np.where(xyz > eps, np.cbrt(np.maximum(xyz, eps)), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB colours ``[..., 3]`` (uint8, or floats in 0-1) -> CIELAB ``[..., 3]`` under D65.

    sRGB is decoded to linear light, converted to XYZ with the sRGB matrix and to L*a*b*
    relative to the D65 white.

    >>> np.round(to_lab(np.array([[255, 255, 255], [255, 0, 0], [0, 0, 0]], np.uint8)), 2)
    array([[100.  ,   0.  ,   0.  ],
           [ 53.24,  80.09,  67.2 ],
           [  0.  ,   0.  ,   0.  ]])
    """
    return _lab_from_linear(_linear_rgb(np.asarray(rgb)))


def ciede2000(lab1: np.ndarray | tuple[float, float, float],
              lab2: np.ndarray | tuple[float, float, float]) -> np.ndarray:
    """The CIEDE2000 colour difference ΔE00 between Lab colours (``[..., 3]``, broadcast).

    Args:
        lab1, lab2: CIELAB colours, the last axis L*, a*, b*.

    Returns:
        A float64 array of the broadcast shape without the last axis (a 0-d array for two colours).

    >>> round(float(ciede2000((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485))), 4)  # Sharma et al. pair 1
    2.0425
    """
    p, q = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    L1, a1, b1 = p[..., 0], p[..., 1], p[..., 2]
    L2, a2, b2 = q[..., 0], q[..., 1], q[..., 2]
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_mean7 / (c_mean7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma = c1p * c2p != 0
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma, dh, 0.0)
    d_l, d_c = L2 - L1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2)
    l_bar, c_bar = (L1 + L2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_bar = np.where(np.abs(h1p - h2p) <= 180, h_sum / 2, np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    h_bar = np.where(chroma, h_bar, h_sum)
    t = (1 - 0.17 * np.cos(np.radians(h_bar - 30)) + 0.24 * np.cos(np.radians(2 * h_bar))
         + 0.32 * np.cos(np.radians(3 * h_bar + 6)) - 0.20 * np.cos(np.radians(4 * h_bar - 63)))
    d_theta = 30 * np.exp(-(((h_bar - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_bar ** 7 / (c_bar ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (l_bar - 50) ** 2 / np.sqrt(20 + (l_bar - 50) ** 2)
    s_c = 1 + 0.045 * c_bar
    s_h = 1 + 0.015 * c_bar * t
    r_t = -np.sin(np.radians(2 * d_theta)) * r_c
    x, y, z = d_l / s_l, d_c / s_c, d_h / s_h
    out: np.ndarray = np.sqrt(np.maximum(x * x + y * y + z * z + r_t * y * z, 0.0))
    return out


# -- embeddings -------------------------------------------------------------------------------


def _deps() -> tuple[Any, Any]:
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise MissingPackage("The consistency report's image embeddings require torch and transformers: "
                          "pip install 'sorakit[video]'") from exc
    return torch, transformers


def _embedder(model: str, device: str | None) -> tuple[Any, Any, str]:
    """``(CLIPVisionModelWithProjection, image processor, device)``, loaded once per ``(model, device)``."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidInput(f"model={model!r}: the embedder is a CLIP hub id or a local folder; "
                           f"write e.g. {DEFAULT_EMBEDDER!r}")
    torch, transformers = _deps()
    key = (model, pick(device))
    if key not in _CACHE:
        encoder = transformers.CLIPVisionModelWithProjection.from_pretrained(model, use_safetensors=True)
        # the PIL backend everywhere, so the numbers do not depend on whether torchvision is installed
        if int(transformers.__version__.split(".")[0]) >= 5:
            processor = transformers.AutoImageProcessor.from_pretrained(model, backend="pil")
        else:
            processor = transformers.AutoImageProcessor.from_pretrained(model, use_fast=False)
        _CACHE[key] = (encoder.to(key[1]).eval(), processor)
    encoder, processor = _CACHE[key]
    return encoder, processor, key[1]


def _as_pil(image: object, what: str) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3 \
            and image.shape[0] > 0 and image.shape[1] > 0:
        return Image.fromarray(np.ascontiguousarray(image))
    desc = f"{image.dtype} {list(image.shape)}" if isinstance(image, np.ndarray) else type(image).__name__
    raise InvalidInput(f"{what}={desc}: an image is a PIL image or a uint8 [H, W, 3] array; "
                       "convert it with np.asarray(PIL.Image.open(path).convert('RGB'))")


def embed(images: list[Image.Image | np.ndarray] | tuple[Image.Image | np.ndarray, ...], *,
          model: str = DEFAULT_EMBEDDER, device: str | None = None) -> np.ndarray:
    """CLIP image embeddings, L2-normalised, so a dot product is a cosine similarity.

    The encoder (``CLIPVisionModelWithProjection``) and its image processor load with
    ``from_pretrained`` (safetensors only) on first use and stay cached per ``(model, device)``.
    The processor resizes the short side and centre-crops to the encoder's square input.
    Images go through in batches of ``BATCH``.

    Args:
        images: PIL images (any mode; converted to RGB) or uint8 ``[H, W, 3]`` arrays.
        model: a CLIP hub id or a local folder (``sorakit.tiny.clip.build`` makes a tiny one).
        device: ``"cuda"``, ``"cpu"``, ...; by default CUDA when there is a GPU, else the CPU.

    Returns:
        float32 ``[N, D]``, one unit-length row per image.

    >>> import tempfile
    >>> from sorakit.tiny import clip as tiny_clip
    >>> tiny = str(tiny_clip.build(tempfile.mkdtemp()))
    >>> e = embed([np.zeros((40, 60, 3), np.uint8), np.full((50, 50, 3), 200, np.uint8)], model=tiny, device="cpu")
    >>> e.shape, np.allclose(np.linalg.norm(e, axis=1), 1)
    ((2, 16), True)
    """
    pil = [_as_pil(im, f"images[{i}]") for i, im in enumerate(images)]
    return _embed(pil, model, device)


def _embed(pil: list[Any], model: str, device: str | None) -> np.ndarray:
    encoder, processor, dev = _embedder(model, device)
    import torch

    out: list[np.ndarray] = []
    with torch.inference_mode():
        for start in range(0, len(pil), BATCH):
            pixels = processor(images=pil[start:start + BATCH], return_tensors="pt")["pixel_values"]
            emb = encoder(pixel_values=pixels.to(dev, encoder.dtype)).image_embeds.float()
            emb = emb / emb.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            out.append(emb.cpu().numpy())
    if not out:
        return np.zeros((0, int(encoder.config.projection_dim)), np.float32)
    return np.concatenate(out).astype(np.float32)


# -- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShotLook:
    """The colour and exposure of one shot, over ``LOOK_FRAMES`` evenly spaced frames.

    Attributes:
        index: the shot's place in the film, from 0.
        brightness: mean L* (0 black to 100 white).
        contrast: RMS contrast, the standard deviation of L* within a frame, averaged over frames.
        mean_lab: mean ``(L*, a*, b*)`` over the pixels, D65.
        luminance: mean linear luminance Y (0 to 1), the basis of the exposure drift.
        chroma: mean C*ab, how saturated the shot is.
        frames: the frame numbers measured.
        middle: the middle frame's number, the one embedded for the look and shown in the plot.
        thumbnail: uint8 ``[h, w, 3]``, the middle frame at most ``THUMB_WIDTH`` wide.
    """

    index: int
    brightness: float
    contrast: float
    mean_lab: tuple[float, float, float]
    luminance: float
    chroma: float
    frames: tuple[int, ...]
    middle: int
    thumbnail: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class CastMatch:
    """How well a character's reference matches the best region of one shot.

    Attributes:
        name: the character.
        shot: the shot, from 0.
        similarity: the best cosine similarity over the regions and frames searched.
        found: ``similarity >= CAST_FOUND``.
        frame: the frame of the best region.
        box: the best region, ``(x0, y0, x1, y1)`` in pixels (x1, y1 exclusive).
    """

    name: str
    shot: int
    similarity: float
    found: bool
    frame: int
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class ConsistencyReport:
    """How consistent the shots of a film are; the tuples over cuts have one entry per pair
    ``(k, k + 1)`` of consecutive shots.

    Attributes:
        shots: colour and exposure of each shot.
        cast: one match per character and shot (characters in the order given, then shots).
        look_similarity: cosine similarity of consecutive shots' middle-frame embeddings.
        color_drift: CIEDE2000 ΔE00 between consecutive shots' mean Lab colours.
        exposure_drift: ``log2`` of the ratio of mean linear luminance, next over previous, in stops
            (negative: the next shot is darker).
        verdict: one line, ``"consistent: ..."`` or ``"inconsistent: ..."`` naming the worst cut and
            what broke which limit (``LOOK_MIN``, ``COLOR_MAX``, ``EXPOSURE_MAX``), and any
            character not found (``CAST_FOUND``).
        lip_sync: per shot, how its mouths move with the lines heard over it (``sorakit.lipsync``:
            offset in ms, confidence, verdict), or None for a shot without lines; filled by
            ``Film.consistency``, empty from ``measure`` alone.
    """

    shots: tuple[ShotLook, ...]
    cast: tuple[CastMatch, ...]
    look_similarity: tuple[float, ...]
    color_drift: tuple[float, ...]
    exposure_drift: tuple[float, ...]
    verdict: str
    lip_sync: tuple[LipSync | None, ...] = ()

    @property
    def passed(self) -> bool:
        """True when the verdict is ``consistent``."""
        return self.verdict.startswith("consistent")

    def plot(self) -> Figure:
        """Thumbnails of the shots, cast similarity per shot, and the drifts at each cut."""
        return plot_consistency(self)

    def plot_png(self) -> bytes:
        """``plot()`` as PNG bytes (the Agg canvas, no pyplot)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg

        fig = self.plot()
        FigureCanvasAgg(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.plot_png()


# -- the report -------------------------------------------------------------------------------


def _evenly(n: int, count: int) -> list[int]:
    """Up to ``count`` distinct frame numbers spread evenly over ``0 .. n - 1``."""
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, min(count, n))})


def _regions(height: int, width: int) -> list[tuple[int, int, int, int]]:
    """The whole frame, then for each ``n`` in ``GRIDS`` an n x n grid of overlapping windows.

    A window is ``2 / (n + 1)`` of the frame on each side and the windows step by half a window, so
    a character across a cell border is still whole in one of them.

    >>> _regions(80, 120)[:3]
    [(0, 0, 120, 80), (0, 0, 80, 53), (40, 0, 120, 53)]
    """
    boxes = [(0, 0, width, height)]
    for n in GRIDS:
        for gy in range(n):
            for gx in range(n):
                x0, x1 = round(gx * width / (n + 1)), round((gx + 2) * width / (n + 1))
                y0, y1 = round(gy * height / (n + 1)), round((gy + 2) * height / (n + 1))
                box = (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))
                if box not in boxes:
                    boxes.append(box)
    return boxes


def _look(index: int, frames: np.ndarray) -> ShotLook:
    from PIL import Image

    t, h, w = frames.shape[:3]
    picked = _evenly(t, LOOK_FRAMES)
    step = max(1, w // STATS_WIDTH)
    lin = _linear_rgb(frames[picked, ::step, ::step])
    lab = _lab_from_linear(lin)
    luma = float(np.mean(lin @ _RGB_TO_XYZ[1]))
    mean_lab = lab.reshape(-1, 3).mean(axis=0)
    middle = t // 2
    thumb = Image.fromarray(frames[middle])
    if w > THUMB_WIDTH:
        thumb = thumb.resize((THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), Image.Resampling.BILINEAR)
    return ShotLook(
        index=index, brightness=float(mean_lab[0]),
        contrast=float(lab[..., 0].reshape(len(picked), -1).std(axis=1).mean()),
        mean_lab=(float(mean_lab[0]), float(mean_lab[1]), float(mean_lab[2])),
        luminance=luma, chroma=float(np.hypot(lab[..., 1], lab[..., 2]).mean()),
        frames=tuple(picked), middle=middle, thumbnail=np.asarray(thumb))


def _check_clips(clips: object) -> list[Clip]:
    from sorakit.clip import Clip

    if not isinstance(clips, (list, tuple)):
        raise InvalidInput(f"clips={type(clips).__name__}: the report compares a list of Clips, one per shot; "
                           "pass e.g. [shot1, shot2]")
    if len(clips) < 2:
        raise InvalidInput(f"clips: {len(clips)} shot(s); consistency is measured between shots, so it needs "
                           "at least 2; pass every shot of the film, in order")
    for i, c in enumerate(clips):
        if not isinstance(c, Clip):
            raise InvalidInput(f"clips[{i}]={type(c).__name__}: each shot must be a sorakit.Clip; "
                               "load a saved one with sorakit.load(path)")
        if c.frames.shape[0] == 0 or c.frames.shape[1] == 0 or c.frames.shape[2] == 0:
            raise InvalidInput(f"clips[{i}]: frames {list(c.frames.shape)} hold no picture; "
                               "drop the empty shot or render it again")
    return list(clips)


def _check_cast(cast: object) -> dict[str, Any]:
    """The cast's reference images opened as RGB PIL images; every problem is found before a model loads."""
    from PIL import Image, UnidentifiedImageError

    if cast is None:
        return {}
    if not isinstance(cast, dict):
        raise InvalidInput(f"cast={type(cast).__name__}: the cast maps each character's name to a reference "
                           "image; write e.g. {'Mira': 'mira.png'}")
    refs: dict[str, Any] = {}
    for name, ref in cast.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"cast key {name!r}: a character's name is a non-empty string; write e.g. 'Mira'")
        if isinstance(ref, (str, os.PathLike)):
            path = os.fspath(ref)
            if not os.path.isfile(path):
                raise InvalidInput(f"cast[{name!r}]={path!r}: no such image file; give the path of a PNG or JPEG "
                                   "of the character, or a PIL image")
            try:
                with Image.open(path) as im:
                    refs[name] = im.convert("RGB")
            except (UnidentifiedImageError, OSError) as exc:
                raise InvalidInput(f"cast[{name!r}]={path!r}: not an image PIL can read ({exc}); "
                                   "save the reference as PNG or JPEG") from exc
        else:
            refs[name] = _as_pil(ref, f"cast[{name!r}]")
    return refs


def measure(clips: list[Clip] | tuple[Clip, ...], *,
                cast: dict[str, CastImage] | None = None,
                model: str = DEFAULT_EMBEDDER, device: str | None = None) -> ConsistencyReport:
    """Measures how well the shots of a film keep their look, colour, exposure and cast.

    Every input is checked before the embedder loads. All the images (middle frames, references
    and the regions searched for the cast) are embedded together, ``BATCH`` at a time.

    Args:
        clips: the shots, in film order (at least 2).
        cast: character name -> reference image (a path, a PIL image or a uint8 ``[H, W, 3]``
            array), searched for in every shot.
        model: the CLIP checkpoint, a hub id or a local folder.
        device: ``"cuda"``, ``"cpu"``, ...; by default CUDA when there is a GPU.

    Returns:
        The report; ``report.verdict`` says it in one line, ``report.plot_png()`` draws it.

    >>> import sorakit
    >>> measure([sorakit.generate(sorakit.Take(frames=4, width=64, height=48))])
    Traceback (most recent call last):
    ...
    sorakit.errors.InvalidInput: clips: 1 shot(s); consistency is measured between shots, so it needs at least 2; pass every shot of the film, in order
    """
    shots = _check_clips(clips)
    refs = _check_cast(cast)
    looks = tuple(_look(i, c.frames) for i, c in enumerate(shots))

    images = [_as_pil(c.frames[look.middle], f"clips[{i}]") for i, (c, look) in enumerate(zip(shots, looks))]
    images += list(refs.values())
    where: list[tuple[int, int, tuple[int, int, int, int]]] = []
    if refs:
        for s, c in enumerate(shots):
            h, w = c.frames.shape[1:3]
            boxes = _regions(h, w)
            for f in _evenly(c.frames.shape[0], CAST_FRAMES):
                for box in boxes:
                    x0, y0, x1, y1 = box
                    images.append(_as_pil(c.frames[f, y0:y1, x0:x1], f"clips[{s}]"))
                    where.append((s, f, box))
    emb = _embed(images, model, device).astype(np.float64)
    n, m = len(shots), len(refs)
    middles, references, regions = emb[:n], emb[n:n + m], emb[n + m:]

    look_sim = tuple(float(np.clip(middles[k] @ middles[k + 1], -1.0, 1.0)) for k in range(n - 1))
    colour = tuple(float(ciede2000(looks[k].mean_lab, looks[k + 1].mean_lab)) for k in range(n - 1))
    exposure = tuple(math.log2(max(looks[k + 1].luminance, _LUMA_FLOOR) / max(looks[k].luminance, _LUMA_FLOOR))
                     for k in range(n - 1))
    matches: list[CastMatch] = []
    if refs:
        sims = references @ regions.T
        shot_of = np.array([s for s, _, _ in where])
        for r, name in enumerate(refs):
            for s in range(n):
                idx = np.flatnonzero(shot_of == s)
                best = int(idx[np.argmax(sims[r, idx])])
                sim = float(np.clip(sims[r, best], -1.0, 1.0))
                matches.append(CastMatch(name, s, sim, sim >= CAST_FOUND, where[best][1], where[best][2]))
    verdict = _verdict(look_sim, colour, exposure, matches, n)
    return ConsistencyReport(looks, tuple(matches), look_sim, colour, exposure, verdict)


def _cut_problems(look: float, colour: float, stops: float) -> list[tuple[float, str]]:
    """``(severity, text)`` for each limit a cut breaks; severity is how far past the limit (1 = at it)."""
    out = []
    if look < LOOK_MIN:
        out.append(((1 - look) / (1 - LOOK_MIN), f"look {look:.2f} (min {LOOK_MIN:g})"))
    if colour > COLOR_MAX:
        out.append((colour / COLOR_MAX, f"color ΔE00 {colour:.1f} (max {COLOR_MAX:g})"))
    if abs(stops) > EXPOSURE_MAX:
        out.append((abs(stops) / EXPOSURE_MAX, f"exposure {stops:+.2f} stops (max ±{EXPOSURE_MAX:g})"))
    return sorted(out, reverse=True)


def _verdict(look: tuple[float, ...], colour: tuple[float, ...], exposure: tuple[float, ...],
             cast: list[CastMatch], n: int) -> str:
    """One line: the worst cut and what broke, then how many other cuts broke a limit and who is missing.

    >>> _verdict((0.9,), (24.0,), (-1.0,), [], 2)
    'inconsistent: worst cut shots 0→1: color ΔE00 24.0 (max 10), exposure -1.00 stops (max ±0.5)'
    >>> _verdict((0.95, 0.99), (1.0, 2.5), (0.1, -0.2), [CastMatch("Mira", 0, 0.9, True, 0, (0, 0, 8, 8))], 3)
    'consistent: 3 shots; look ≥ 0.95, color ΔE00 ≤ 2.5, exposure within ±0.20 stops; Mira found in all 3 shots'
    """
    cuts = [(_cut_problems(lk, c, e), k) for k, (lk, c, e) in enumerate(zip(look, colour, exposure))]
    bad = [(probs[0][0], k, probs) for probs, k in cuts if probs]
    missing: dict[str, list[int]] = {}
    for mt in cast:
        missing.setdefault(mt.name, [])
        if not mt.found:
            missing[mt.name].append(mt.shot)
    absent = [f"{name} not found in shot{'s' if len(s) > 1 else ''} {', '.join(map(str, s))}"
              for name, s in missing.items() if s]
    if not bad and not absent:
        parts = [f"{n} shots; look ≥ {min(look):.2f}, color ΔE00 ≤ {max(colour):.1f}, "
                 f"exposure within ±{max(abs(e) for e in exposure):.2f} stops"]
        if missing:
            parts.append(f"{', '.join(missing)} found in all {n} shots")
        return "consistent: " + "; ".join(parts)
    parts = []
    if bad:
        _, k, probs = max(bad)
        parts.append(f"worst cut shots {k}→{k + 1}: " + ", ".join(text for _, text in probs))
        if len(bad) > 1:
            parts.append(f"{len(bad) - 1} more cut{'s' if len(bad) > 2 else ''} over a limit")
    return "inconsistent: " + "; ".join(parts + absent)


# -- plot -------------------------------------------------------------------------------------


def plot_consistency(r: ConsistencyReport) -> Figure:
    """A row of thumbnails (each shot's middle frame), cast similarity per shot, and the drifts.

    >>> import tempfile, sorakit
    >>> from sorakit.tiny import clip as tiny_clip
    >>> shot = sorakit.generate(sorakit.Take(frames=4, width=64, height=48))
    >>> fig = plot_consistency(measure([shot, shot], model=str(tiny_clip.build(tempfile.mkdtemp()))))
    >>> len(fig.axes)
    6
    """
    from matplotlib.figure import Figure

    n = len(r.shots)
    fig = Figure(figsize=(max(8.0, 2.2 * n), 6.0), dpi=100, layout="constrained")
    subs = np.asarray(fig.subfigures(2, 1, height_ratios=[1, 1.3]), dtype=object)
    top, bottom = subs[0], subs[1]
    top.suptitle("\n".join(textwrap.wrap(r.verdict, 110)[:3]), fontsize=9, x=0.01, ha="left")
    thumbs = np.atleast_1d(top.subplots(1, n))
    for ax, look in zip(thumbs, r.shots):
        ax.imshow(look.thumbnail)
        ax.set_title(f"shot {look.index}: L* {look.brightness:.0f}", fontsize=8)
        ax.set_axis_off()
    ax_cast, ax_look, ax_color, ax_exp = bottom.subplots(1, 4)
    names = list(dict.fromkeys(m.name for m in r.cast))
    x = np.arange(n)
    width = 0.8 / max(1, len(names))
    for j, name in enumerate(names):
        sims = [next(m.similarity for m in r.cast if m.name == name and m.shot == s) for s in range(n)]
        ax_cast.bar(x - 0.4 + width * (j + 0.5), sims, width, label=name, color=f"C{j % 10}")
    ax_cast.axhline(CAST_FOUND, color="red", lw=0.8, ls="--")
    ax_cast.set_xticks(x, [str(i) for i in x])
    ax_cast.set_xlabel("shot")
    ax_cast.set_title("cast similarity" if names else "cast similarity (no cast given)", fontsize=8)
    if names:
        ax_cast.legend(fontsize=7)
    cuts = np.arange(n - 1)
    labels = [f"{k}→{k + 1}" for k in cuts]
    for ax, values, limits, title in (
            (ax_look, r.look_similarity, (LOOK_MIN,), "look similarity"),
            (ax_color, r.color_drift, (COLOR_MAX,), "color drift ΔE00"),
            (ax_exp, r.exposure_drift, (-EXPOSURE_MAX, EXPOSURE_MAX), "exposure drift (stops)")):
        ax.plot(cuts, values, "-", color="C0")
        over = [v < limits[0] if ax is ax_look else abs(v) > limits[-1] for v in values]
        ax.scatter(cuts, values, c=["red" if o else "C0" for o in over], zorder=3)
        for lim in limits:
            ax.axhline(lim, color="red", lw=0.8, ls="--")
        ax.set_xticks(cuts, labels)
        ax.set_xlabel("cut")
        ax.set_title(title, fontsize=8)
    return fig
