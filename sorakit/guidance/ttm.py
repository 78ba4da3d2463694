"""Time-to-Move: dual-clock denoising that holds the moving bodies to the previz.

Time-to-Move (Singer et al., 2025, arXiv 2511.08633; reference code ``time-to-move/TTM``,
Apache-2.0) is training-free: an image-to-video (or text-to-video) model is given a crude
"motion video" of where things should go, and two clocks decide how long it must follow it.

1. The motion video is VAE-encoded to reference latents ``z``.
2. Sampling starts at step ``t_weak`` of the ``N``-step schedule (the first ``t_weak`` steps are
   skipped) from ``z`` noised to that level with a fixed noise ``e``: the whole frame starts near
   the reference, weakly.
3. After each scheduler step ``i`` while ``i < t_strong``, the masked region (the moving bodies,
   dilated) is overwritten with ``z`` noised with the same ``e`` to the level of the next step:
   there the motion is held strongly. Outside the mask the model's own update stands.
4. From ``t_strong`` on the model runs free and draws the detail.

This module holds the parts that need no model: the step indices for a strength, the latent
mask from the previz's body ids, and the motion video with the first picture composited in.
The scheduler arithmetic lives in ``sorakit.backends._runtime`` (``ttm_*``), which reads the
installed scheduler's own schedule.

``physics.strength`` maps onto the pair: strength 0.5 gives the paper's defaults for the family
(Wan cut-and-drag ``(3, 7)``, CogVideoX ``(4, 9)``, at 50 steps), scaled with the step count;
strength 1 doubles them, lower strengths shrink them towards ``(0, 1)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["indices", "latent_mask", "motion_video", "DILATE"]

DILATE = 1  # latent pixels the body mask grows by (the TTM reference dilates its mask before downsampling)


def indices(strength: float, steps: int, pair: tuple[int, int]) -> tuple[int, int]:
    """``(t_weak, t_strong)`` for ``strength`` in (0, 1] on an ``steps``-step schedule.

    ``pair`` is the family's default at 50 steps (the paper's), which strength 0.5 gives. At
    least one step runs (``t_weak < steps``); ``t_strong = steps`` holds the bodies to the end.

    >>> indices(0.5, 50, (3, 7))
    (3, 7)
    >>> indices(0.5, 25, (3, 7))
    (2, 4)
    >>> indices(1.0, 50, (4, 9))
    (8, 18)
    """
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength {strength} is not in (0, 1]")
    scale = 2.0 * strength * steps / 50.0
    t_strong = min(steps, max(1, int(round(pair[1] * scale))))
    t_weak = min(t_strong, steps - 1, max(0, int(round(pair[0] * scale))))
    return t_weak, t_strong


def latent_mask(body_ids: np.ndarray, *, latent_frames: int, latent_height: int, latent_width: int,
                temporal: int, dilate: int = DILATE) -> np.ndarray:
    """The moving bodies' mask ``[F, h, w]`` (bool) on the latent grid.

    ``body_ids`` is the previz's int ``[T, H, W]`` (0 = background and static geometry). Latent
    frame 0 is video frame 0 (the video VAEs keep the first frame alone); latent frame ``k > 0``
    covers video frames ``temporal*(k-1)+1 .. temporal*k``, and a latent pixel is in the mask when
    any body covers any part of it in any of those frames. The mask is then grown by ``dilate``
    latent pixels, so a body's edge (and a model that draws it a little larger) stays held.
    """
    on = np.asarray(body_ids) > 0
    t_count, height, width = on.shape
    out = np.zeros((latent_frames, latent_height, latent_width), bool)
    ys = (np.arange(height) * latent_height) // height
    xs = (np.arange(width) * latent_width) // width
    for k in range(latent_frames):
        lo, hi = (0, 1) if k == 0 else (temporal * (k - 1) + 1, temporal * k + 1)
        lo, hi = min(lo, t_count - 1), min(hi, t_count)
        any_t = on[lo:max(hi, lo + 1)].any(axis=0)
        yy, xx = np.nonzero(any_t)
        out[k, ys[yy], xs[xx]] = True
    if dilate > 0:
        grown = out.copy()
        for dy in range(-dilate, dilate + 1):
            for dx in range(-dilate, dilate + 1):
                src = out[:, max(0, -dy):latent_height - max(0, dy), max(0, -dx):latent_width - max(0, dx)]
                grown[:, max(0, dy):latent_height - max(0, -dy), max(0, dx):latent_width - max(0, -dx)] |= src
        out = grown
    return out


def motion_video(frames: np.ndarray, body_ids: np.ndarray, image: np.ndarray | None) -> np.ndarray:
    """The video TTM holds the model to: uint8 ``[T, H, W, 3]``.

    With no first picture it is the previz. With one (the user's picture, or the cameo
    composited into the previz's first frame) the picture is the background of every frame and
    the previz's moving bodies are drawn over it where they are (the paper's "cut and drag"):
    the first frame is the picture itself, so image-to-video starts where the reference does.
    """
    frames = np.asarray(frames, np.uint8)
    if image is None:
        return frames
    picture = np.asarray(image, np.uint8)[..., :3]
    if picture.shape != frames.shape[1:]:
        raise ValueError(f"the picture is {picture.shape[1]}x{picture.shape[0]}, the previz "
                         f"{frames.shape[2]}x{frames.shape[1]}: render them at one size")
    out = np.where((np.asarray(body_ids) > 0)[..., None], frames, picture[None])
    out[0] = picture
    return out
