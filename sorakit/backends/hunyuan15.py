"""HunyuanVideo 1.5 over diffusers: text- and image-to-video.

Self-contained (STYLE rule 10). Quirks (read in diffusers 0.42.1's source): no
``guidance_scale`` argument (a ``guider`` object carries it, renewed before each run because
it keeps state between calls) and no step callback, so progress, the preview and stopping
come from wrapping ``scheduler.step`` for the length of one call; image-to-video picks its own
size bucket from the picture's aspect ratio (832x480 becomes 816x480), so warped noise is made
on that bucket's grid (``working_size``) and the frames are resized to the Take's size after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends.contract import Conditioning, Output
from sorakit.models import Arch, Card, ModelSpec, register

PIPELINES = {"t2v": "HunyuanVideo15Pipeline", "i2v": "HunyuanVideo15ImageToVideoPipeline"}
FLOAT32: tuple[str, ...] = ()  # bfloat16 (HunyuanVideo-1.5 README's diffusers snippet; diffusers' docs)

_RULES = dict(backend="diffusers", family="hunyuan15", size_multiple=16, frame_rule=(4, 1), max_frames=121,
              min_size=256, max_size=1280)
_ARCH = Arch(8.3, 7.6 + 0.4, 1.26, 2048, 54, spatial=16, patch=(1, 1, 1))  # VAE: AutoencoderKLHunyuanVideo15() is 1.26 B
# 480p: 848x480 (the 16:9 bucket calculate_default_height_width gives at the transformer's target_size),
# 121 frames (the pipelines' default; HunyuanVideo-1.5 generate.py --video_length), 24 fps (generate.py
# writes fps=24), 50 steps, guidance 6 (its README's "Optimal Inference Configurations"; the shipped
# guider), flow shift 5 for 480p (same table; the shipped scheduler), empty negative prompt (README CLI).
# Repo ids with "-Diffusers-", as Tencent's README names them (the pipeline docstring's ids do not exist).
# Time-to-Move (3, 7) at 50 steps: the paper gives no HunyuanVideo pair; this is its Wan cut-and-drag pair
# (both flow-matching), untuned on HunyuanVideo 1.5's real weights.
_CARD = Card(width=848, height=480, frames=121, fps=24, steps=50, guidance_scale=6.0, shift=5.0, ttm=(3, 7))
register(ModelSpec(name="hunyuanvideo1.5-480p-t2v",
                   model_id="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_t2v",
                   modes=("t2v",), arch=_ARCH, card=_CARD, **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="hunyuanvideo1.5-480p-i2v",
                   model_id="hunyuanvideo-community/HunyuanVideo-1.5-Diffusers-480p_i2v",
                   modes=("i2v",), arch=_ARCH, card=_CARD, **_RULES))  # type: ignore[arg-type]

MAX_SEQUENCE_LENGTH = 1000  # encode_prompt's own default, which the pipelines' __call__ uses


def base_mode(spec: ModelSpec, mode: str) -> str:
    return mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def passes_per_step(take: Any) -> int:
    return 2 if uses_cfg(take) else 1


def steps_for(take: Any) -> int:
    if take.ttm is not None:  # Time-to-Move starts at step t_weak
        return int(take.steps) - int(take.ttm[0])
    return int(take.steps)


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What both HunyuanVideo 1.5 pipelines pass to ``set_timesteps``: ``sigmas = linspace(1, 0, N + 1)[:-1]``
    (their ``__call__``, "Prepare timesteps"); the scheduler applies its shift."""
    n = int(take.steps)
    return {"sigmas": np.linspace(1.0, 0.0, n + 1)[:-1]}


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    """Both encoders' embeddings and masks, in the transformer's dtype (the pipelines' ``encode_prompt``
    would give the text encoder's), on the pipeline's execution device (its own default)."""
    dtype = pipe.transformer.dtype
    names = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")
    out = dict(zip(names, pipe.encode_prompt(prompt=prompt, dtype=dtype)))
    if cfg:
        neg = pipe.encode_prompt(prompt=negative, dtype=dtype)
        out.update({f"negative_{n}": v for n, v in zip(names, neg)})
    return out


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to transformer-space latents ``[N, C, F, h, w]`` (VAE mode times its scaling factor)."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, video) * pipe.vae.config.scaling_factor
    return z.float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Scheduler latents ``[B, C, F, h, w]`` to ``[C, F, h, w]`` (image-to-video also carries no extra channels)."""
    return latents[0].float().cpu().numpy()  # type: ignore[no-any-return]


def working_size(pipe: Any, take: Any) -> tuple[int, int]:
    """Text-to-video runs at the Take's size; image-to-video at the bucket it picks for that aspect ratio."""
    width, height = take.size
    if take.mode != "i2v":
        return int(width), int(height)
    h, w = pipe.video_processor.calculate_default_height_width(height=height, width=width,
                                                               target_size=pipe.target_size)
    return int(w), int(h)


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid on the working size: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    w, h = working_size(pipe, take)
    return pipe.vae.config.latent_channels, (take.n_frames - 1) // t + 1, h // s, w // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` as the pipeline's ``latents`` argument ``[1, C, F, h, w]`` (the picture
    is a separate condition it concatenates itself)."""
    import torch

    return torch.from_numpy(noise)[None]


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """The loop carries its latents as its ``latents`` argument takes them: ``pack_noise``'s layout."""
    return pack_noise(pipe, latents, take, cond)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    from PIL import Image

    from sorakit.backends._runtime import float_frames

    pipe.guider = pipe.guider.new(guidance_scale=take.guidance_scale)
    scheduler = pipe.scheduler
    original = scheduler.step
    done = [0]

    def step(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        done[0] += 1
        replaced = on_step_end(done[0], out[0])  # a tuple (return_dict=False); a SchedulerOutput indexes alike
        if replaced is None:
            return out
        if isinstance(out, tuple):  # Time-to-Move holds its region: the loop goes on from these latents
            return (replaced, *out[1:])
        out.prev_sample = replaced
        return out

    width, height = take.size
    call_args: dict[str, Any] = dict(num_frames=take.n_frames, num_inference_steps=take.steps, generator=generator,
                                     output_type="np", **embeds)
    if latents is not None:  # warped noise from the physics previz
        call_args["latents"] = latents
    if take.mode == "i2v":
        call_args["image"] = cond.image
    else:
        call_args.update(height=height, width=width)
    scheduler.step = step
    try:
        frames = float_frames(pipe(**call_args).frames)
    finally:
        del scheduler.step  # the class's own method shows through again
    if frames.shape[1:3] != (height, width):  # image-to-video chose its own bucket
        frames = np.stack([np.stack([np.asarray(Image.fromarray(f[..., c]).resize(
            (width, height), Image.Resampling.BILINEAR)) for c in range(3)], axis=-1) for f in frames])
    return Output(frames, None, 0)
