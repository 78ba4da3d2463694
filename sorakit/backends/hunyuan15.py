"""HunyuanVideo 1.5 over diffusers: text- and image-to-video.

Self-contained (STYLE rule 10). Quirks: no ``guidance_scale`` argument (a ``guider`` object
carries it, renewed before each run because it keeps state between calls) and no step
callback, so progress, the preview and stopping come from wrapping ``scheduler.step`` for the
length of one call; image-to-video picks its own size from the picture's aspect ratio,
so its frames are resized to the Take's size afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.models import Arch, ModelSpec, register

PIPELINES = {"t2v": "HunyuanVideo15Pipeline", "i2v": "HunyuanVideo15ImageToVideoPipeline"}

_RULES = dict(backend="diffusers", family="hunyuan15", size_multiple=16, frame_rule=(4, 1), max_frames=121,
              min_size=256, max_size=1280, default_fps=24)
_ARCH = Arch(8.3, 7.6 + 0.4, 0.3, 2048, 54, spatial=16, patch=(1, 1, 1))
register(ModelSpec(name="hunyuanvideo1.5-480p-t2v", model_id="hunyuanvideo-community/HunyuanVideo-1.5-480p_t2v",
                   modes=("t2v",), arch=_ARCH, **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="hunyuanvideo1.5-480p-i2v", model_id="hunyuanvideo-community/HunyuanVideo-1.5-480p_i2v",
                   modes=("i2v",), arch=_ARCH, **_RULES))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    return mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def steps_for(take: Any) -> int:
    return int(take.steps)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    device, dtype = pipe._execution_device, pipe.transformer.dtype
    names = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")
    out = dict(zip(names, pipe.encode_prompt(prompt=prompt, device=device, dtype=dtype)))
    if cfg:
        neg = pipe.encode_prompt(prompt=negative, device=device, dtype=dtype)
        out.update({f"negative_{n}": v for n, v in zip(names, neg)})
    return out


def encode_images(pipe: Any, images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` to transformer-space latents ``[N, C, h, w]`` (VAE mode times its scaling factor)."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, images) * pipe.vae.config.scaling_factor
    return z[:, :, 0].float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Scheduler latents ``[B, C, F, h, w]`` to ``[C, F, h, w]`` (image-to-video also carries no extra channels)."""
    return latents[0].float().cpu().numpy()  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    return pipe.vae.config.latent_channels, (take.frames - 1) // t + 1, take.height // s, take.width // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any) -> Any:
    """Warped noise ``[C, F, h, w]`` as the pipeline's ``latents`` argument ``[1, C, F, h, w]``."""
    import torch

    return torch.from_numpy(noise)[None]


def call(pipe: Any, take: Any, inputs: dict[str, Any], embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], None]) -> tuple[np.ndarray, None, int]:
    from PIL import Image

    from sorakit.backends._runtime import to_uint8

    pipe.guider = pipe.guider.new(guidance_scale=take.guidance_scale)
    scheduler = pipe.scheduler
    original = scheduler.step
    done = [0]

    def step(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        done[0] += 1
        on_step_end(done[0], out[0] if isinstance(out, tuple) else out.prev_sample)
        return out

    call_args: dict[str, Any] = dict(num_frames=take.frames, num_inference_steps=take.steps, generator=generator,
                                     output_type="np", **embeds)
    if "latents" in inputs:  # warped noise from the physics previz
        call_args["latents"] = inputs["latents"]
    if take.mode == "i2v":
        call_args["image"] = inputs["image"]
    else:
        call_args.update(height=take.height, width=take.width)
    scheduler.step = step
    try:
        frames = to_uint8(pipe(**call_args).frames)
    finally:
        del scheduler.step  # the class's own method shows through again
    if frames.shape[1:3] != (take.height, take.width):  # image-to-video chose its own bucket
        frames = np.stack([np.asarray(Image.fromarray(f).resize((take.width, take.height), Image.Resampling.LANCZOS))
                           for f in frames])
    return frames, None, 0
