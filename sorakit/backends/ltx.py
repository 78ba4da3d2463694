"""LTX-Video over diffusers: text- and image-to-video, and video-to-video through conditions.

Self-contained (STYLE rule 10). One checkpoint serves all three pipeline classes. Quirks:
callback latents are packed ``[B, F·H·W, C]`` (a condition pipeline prepends its own tokens);
prompt embeddings come with attention masks; the frame rate is an argument (the model's
timing depends on it); video-to-video conditions on the previz and denoises from
``physics.strength`` (SDEdit-style ``denoise_strength``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.models import Arch, ModelSpec, register

PIPELINES = {"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline", "v2v": "LTXConditionPipeline"}

_RULES = dict(backend="diffusers", family="ltx", size_multiple=32, frame_rule=(8, 1), max_frames=257,
              min_size=128, max_size=1280, default_fps=25)
_ARCH = Arch(1.9, 4.7, 0.4, 2048, 28, spatial=32, temporal=8, patch=(1, 1, 1))
register(ModelSpec(name="ltx-video", model_id="Lightricks/LTX-Video", modes=("t2v", "i2v", "v2v"), arch=_ARCH,
                   **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="ltx-video-0.9.5", model_id="Lightricks/LTX-Video-0.9.5", modes=("t2v", "i2v", "v2v"),
                   arch=_ARCH, **_RULES))  # type: ignore[arg-type]

MAX_SEQUENCE_LENGTH = 128  # LTXPipeline's default; embeddings are shared by all three classes


def base_mode(spec: ModelSpec, mode: str) -> str:
    return "t2v" if "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def steps_for(take: Any) -> int:
    if take.mode == "v2v":
        return max(1, int(take.steps * take.physics.strength))
    return int(take.steps)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool, *,
                  max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> dict[str, Any]:
    """Embeddings with their attention masks, as the pipelines' keyword arguments (LTX-2 shares this)."""
    pe, pm, ne, nm = pipe.encode_prompt(prompt, negative_prompt=negative, do_classifier_free_guidance=cfg,
                                        max_sequence_length=max_sequence_length, device=pipe._execution_device)
    return {"prompt_embeds": pe, "prompt_attention_mask": pm, "negative_prompt_embeds": ne,
            "negative_prompt_attention_mask": nm}


def encode_images(pipe: Any, images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` to transformer-space latents ``[N, C, h, w]``: ``(z - mean) / std``."""
    from sorakit.backends._runtime import encode_mode

    vae = pipe.vae
    z = pipe._normalize_latents(encode_mode(vae, images), vae.latents_mean, vae.latents_std)
    return z[:, :, 0].float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Packed ``[B, F·H·W, C]`` (after any condition tokens) to ``[C, F, H, W]``."""
    f = (take.frames - 1) // pipe.vae_temporal_compression_ratio + 1
    h = take.height // pipe.vae_spatial_compression_ratio
    w = take.width // pipe.vae_spatial_compression_ratio
    x = pipe._unpack_latents(latents[:, -f * h * w:], f, h, w, pipe.transformer_spatial_patch_size,
                             pipe.transformer_temporal_patch_size)
    return x[0].float().cpu().numpy()  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    return pipe.transformer.config.in_channels, (take.frames - 1) // t + 1, take.height // s, take.width // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any) -> Any:
    """Warped noise ``[C, F, h, w]`` packed into LTX's token layout ``[1, F·h·w, C]``."""
    import torch

    return pipe._pack_latents(torch.from_numpy(noise)[None], pipe.transformer_spatial_patch_size,
                              pipe.transformer_temporal_patch_size)


def call(pipe: Any, take: Any, inputs: dict[str, Any], embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], None]) -> tuple[np.ndarray, None, int]:
    from sorakit.backends._runtime import step_callback, to_uint8

    args: dict[str, Any] = dict(height=take.height, width=take.width, num_frames=take.frames, frame_rate=take.fps,
                                num_inference_steps=take.steps, guidance_scale=take.guidance_scale,
                                generator=generator, output_type="np", callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **embeds)
    if "latents" in inputs:  # warped noise from the physics previz
        args["latents"] = inputs["latents"]
    if take.mode == "i2v":
        args["image"] = inputs["image"]
    elif take.mode == "v2v":
        args["video"] = inputs["video"]
        args["denoise_strength"] = take.physics.strength
    out = pipe(**args)
    return to_uint8(out.frames), None, 0
