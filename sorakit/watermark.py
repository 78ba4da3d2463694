"""A visible label burnt into the frames, so a clip says it is AI-generated wherever it is shown.

>>> import numpy as np
>>> frames = np.zeros((2, 120, 200, 3), np.uint8)
>>> marked = burn(frames)
>>> bool(marked[:, -20:, -100:].any()), bool(marked[:, :60, :100].any())  # bottom right only
(True, False)
"""

from __future__ import annotations

import numpy as np

from sorakit.sidecar import AI_LABEL

LABEL = AI_LABEL  # the one label: the mp4, the sidecar and the frames say the same


def burn(frames: np.ndarray, text: str = LABEL) -> np.ndarray:
    """``frames`` (uint8 ``[T, H, W, 3]``) with ``text`` in the bottom-right corner of every frame.

    The label is white on a half-transparent dark box, about 1/18 of the frame's height (at
    least 8 pixels), so it stays legible on any picture without hiding much of it.
    """
    from PIL import Image, ImageDraw, ImageFont

    t, h, w, _ = frames.shape
    size = max(8, h // 18)
    font = ImageFont.load_default(size=size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    pad = max(2, size // 4)
    bw, bh = min(w, right - left + 2 * pad), min(h, bottom - top + 2 * pad)
    box = Image.new("RGBA", (bw, bh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(box)
    draw.rectangle((0, 0, bw, bh), fill=(0, 0, 0, 140))
    draw.text((pad - left, pad - top), text, font=font, fill=(255, 255, 255, 235))
    overlay = np.asarray(box, np.float32)
    alpha = overlay[..., 3:4] / 255.0
    out = frames.copy()
    y0, x0 = h - bh - max(1, h // 60), w - bw - max(1, w // 60)
    y0, x0 = max(0, y0), max(0, x0)
    region = out[:, y0:y0 + bh, x0:x0 + bw].astype(np.float32)
    out[:, y0:y0 + bh, x0:x0 + bw] = np.rint(region * (1 - alpha) + overlay[..., :3] * alpha).astype(np.uint8)
    return out
