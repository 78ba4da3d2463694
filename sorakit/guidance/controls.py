"""The physics previz as the control videos Cosmos-Transfer2.5's controlnets read: segmentation
from its exact body ids, edges from its frames, and blur.

Each follows how NVIDIA's Transfer2.5 reference makes its control from a real video
(``cosmos_transfer2/_src/transfer2/datasets/augmentors/control_input.py``, inference presets
"medium"), with what the previz knows exactly in place of what the reference estimates:

- ``seg``: the reference segments objects (GroundingDINO boxes, SAM2 masks) and paints each in
  one colour drawn at random in HSV (hue U(0, 1), saturation U(0.1, 1), value U(0.2, 1)) on black,
  kept over time. Here each dynamic body is its own segment, by its id, in a colour drawn from the
  same ranges by a generator seeded with the id: the same body has the same colour in every shot.
  Background and static geometry (id 0) are black.
- ``edge``: ``cv2.Canny`` on the RGB frame with the "medium" thresholds (100, 200), in three channels.
- ``blur``: the "medium" blur: area-downscale by 2, bilateral filter (d 30, sigma colour 150, sigma
  space 100), back up linearly, then bicubic down by 10 and back up.
"""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

from sorakit.errors import InvalidInput
from sorakit.previz import Previz

__all__ = ["CONTROLS", "make", "segmentation", "edges", "blur", "color"]

CONTROLS = ("edge", "seg", "blur")

EDGE_THRESHOLDS = (100, 200)  # the reference's "medium" Canny thresholds
BILATERAL = (30, 150.0, 100.0)  # d, sigma colour, sigma space: the reference's blur filter
BLUR_PRE_DOWN = 2  # "medium": area-downscale before the bilateral filter
BLUR_DOWN = 10  # "medium": bicubic down and up by this factor after it


def color(body_id: int) -> tuple[int, int, int]:
    """The RGB colour of body ``body_id`` (from 1) in the segmentation control; black for 0."""
    if body_id <= 0:
        return (0, 0, 0)
    rng = np.random.default_rng(body_id)
    h, s, v = rng.uniform(0.0, 1.0), rng.uniform(0.1, 1.0), rng.uniform(0.2, 1.0)
    r, g, b = colorsys.hsv_to_rgb(h, s, v)
    return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def segmentation(previz: Previz) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: each pixel the colour of the body id the previz drew there."""
    palette = np.array([color(i) for i in range(int(previz.body_ids.max()) + 1)], np.uint8)
    out: np.ndarray = palette[previz.body_ids]
    return out


def _cv2() -> Any:
    try:
        import cv2
    except ImportError as exc:
        from sorakit.errors import MissingPackage

        raise MissingPackage("Cosmos-Transfer2.5's edge and blur controls use OpenCV: "
                             "pip install 'opencv-python-headless>=4.8,<5'") from exc
    return cv2


def edges(previz: Previz) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: Canny edges of each previz frame (255 on an edge), in all three channels."""
    cv2 = _cv2()
    lo, hi = EDGE_THRESHOLDS
    out = np.stack([cv2.Canny(np.ascontiguousarray(f), lo, hi) for f in previz.frames])
    return np.ascontiguousarray(np.repeat(out[..., None], 3, axis=-1))


def blur(previz: Previz) -> np.ndarray:
    """uint8 ``[T, H, W, 3]``: each previz frame blurred as the reference's "medium" blur control."""
    from PIL import Image

    cv2 = _cv2()
    d, sigma_color, sigma_space = BILATERAL
    out = []
    for f in previz.frames:
        h, w = f.shape[:2]
        small = cv2.resize(f, (max(1, w // BLUR_PRE_DOWN), max(1, h // BLUR_PRE_DOWN)), interpolation=cv2.INTER_AREA)
        small = cv2.bilateralFilter(small, d, sigma_color, sigma_space)
        full = cv2.resize(small, (w, h))  # linear: OpenCV's default
        tiny = Image.fromarray(full).resize((max(1, w // BLUR_DOWN), max(1, h // BLUR_DOWN)))  # bicubic: Pillow's
        out.append(np.asarray(tiny.resize((w, h))))
    return np.stack(out)


def make(control: str, previz: Previz) -> np.ndarray:
    """The previz as ``control`` (``edge``, ``seg`` or ``blur``), uint8 ``[T, H, W, 3]``."""
    makers = {"edge": edges, "seg": segmentation, "blur": blur}
    if control not in makers:
        raise InvalidInput(f"control={control!r} is not one Cosmos-Transfer2.5 reads from a previz; "
                           f"use one of {', '.join(CONTROLS)}")
    return makers[control](previz)
