"""Draws the two made-up people in ``assets/`` (``cameo_drawn_a.png``, ``cameo_drawn_b.png``).

Nobody real is shown, so the notebooks can put them in generated video; OpenCV's frontal-face
detector finds both (the shading gives it the dark eye band and light cheeks it looks for).

    .venv/bin/python assets/make_drawn_faces.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

PEOPLE = {
    "cameo_drawn_a.png": dict(backdrop=(120, 140, 165), skin=(225, 180, 150), hair=(60, 40, 30), shirt=(60, 80, 120)),
    "cameo_drawn_b.png": dict(backdrop=(170, 150, 120), skin=(170, 120, 90), hair=(25, 20, 20), shirt=(140, 50, 50)),
}


def draw(backdrop: tuple[int, int, int], skin: tuple[int, int, int], hair: tuple[int, int, int],
         shirt: tuple[int, int, int], size: int = 512) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size].astype(float)
    img = np.zeros((size, size, 3)) + np.array(backdrop, float)
    cx, cy, rx, ry = size / 2, size * 0.48, size * 0.2, size * 0.27
    head = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    shade = 1 - 0.35 * ((x - cx) / rx) ** 2  # rounder: darker towards the sides
    img[head] = (np.array(skin, float)[None, None] * shade[..., None])[head]
    top = (((x - cx) / (rx * 1.08)) ** 2 + ((y - (cy - ry * 0.35)) / (ry * 0.8)) ** 2 <= 1) & (y < cy - ry * 0.55)
    img[top] = hair

    def blob(px: float, py: float, ax: float, ay: float, colour: tuple[float, float, float]) -> None:
        m = ((x - px) / ax) ** 2 + ((y - py) / ay) ** 2 <= 1
        img[m] = img[m] * 0.2 + np.array(colour) * 0.8

    eyes = cy - ry * 0.15
    for side in (-1, 1):
        blob(cx + side * rx * 0.42, eyes - ry * 0.16, rx * 0.28, ry * 0.035, (40, 28, 20))  # brows
        blob(cx + side * rx * 0.42, eyes, rx * 0.2, ry * 0.07, (70, 60, 60))  # eyes
        blob(cx + side * rx * 0.42, eyes, rx * 0.08, ry * 0.05, (40, 40, 40))  # irises
    blob(cx, cy + ry * 0.18, rx * 0.12, ry * 0.05, (skin[0] * 0.66, skin[1] * 0.55, skin[2] * 0.55))  # nose
    blob(cx, cy + ry * 0.45, rx * 0.3, ry * 0.06, (120, 50, 50))  # mouth
    neck = (abs(x - cx) < rx * 0.45) & (y > cy + ry * 0.8) & (y < cy + ry * 1.3)
    img[neck] = np.array(skin, float) * 0.9
    img[((x - cx) / (rx * 2.4)) ** 2 + ((y - size * 1.05) / (size * 0.3)) ** 2 <= 1] = shirt
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(4))


if __name__ == "__main__":
    for name, colours in PEOPLE.items():
        draw(**colours).save(Path(__file__).parent / name)  # type: ignore[arg-type]
