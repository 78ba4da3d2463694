"""Wan 2.1 / 2.2 over diffusers: text-, image- and video-to-video, and VACE control.

Self-contained (STYLE rule 10): the registry entries, the pipeline classes per mode, how a
Take becomes call arguments, and the latent layout for the step preview. torch and diffusers
are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.models import Arch, ModelSpec, register

PIPELINES = {
    "t2v": "WanPipeline",
    "i2v": "WanImageToVideoPipeline",
    "v2v": "WanVideoToVideoPipeline",
    "vace": "WanVACEPipeline",
}

_RULES = dict(backend="diffusers", family="wan", size_multiple=16, frame_rule=(4, 1), max_frames=81,
              min_size=128, max_size=1280, default_fps=16)
register(ModelSpec(name="wan2.1-t2v-1.3b", model_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", modes=("t2v", "v2v"),
                   arch=Arch(1.42, 5.7, 0.13, 1536, 30), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="wan2.1-t2v-14b", model_id="Wan-AI/Wan2.1-T2V-14B-Diffusers", modes=("t2v", "v2v"),
                   arch=Arch(14.0, 5.7, 0.13, 5120, 40), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="wan2.1-i2v-14b-480p", model_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", modes=("i2v",),
                   arch=Arch(14.0, 5.7 + 0.6, 0.13, 5120, 40), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="wan2.1-vace-1.3b", model_id="Wan-AI/Wan2.1-VACE-1.3B-diffusers", modes=("vace",),
                   arch=Arch(1.6, 5.7, 0.13, 1536, 30), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="wan2.2-ti2v-5b", model_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
                   modes=("t2v", "i2v", "v2v"), arch=Arch(5.0, 5.7, 0.7, 3072, 30, spatial=16),
                   **{**_RULES, "size_multiple": 32, "max_frames": 121, "default_fps": 24}))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    """The mode whose pipeline loads the checkpoint: other modes of a text-to-video checkpoint share its weights."""
    return "t2v" if "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def steps_for(take: Any) -> int:
    """Steps the denoising loop runs: video-to-video skips the first ``1 - strength`` of them."""
    if take.mode == "v2v":
        return max(1, int(take.steps * take.physics.strength))
    return int(take.steps)


MAX_SEQUENCE_LENGTH = 512  # what the pipelines' __call__ uses (encode_prompt alone defaults to 226)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    pe, ne = pipe.encode_prompt(prompt=prompt, negative_prompt=negative, do_classifier_free_guidance=cfg,
                                max_sequence_length=MAX_SEQUENCE_LENGTH, device=pipe._execution_device)
    return {"prompt_embeds": pe, "negative_prompt_embeds": ne}


def _normalize(pipe: Any, z: Any) -> Any:
    """VAE latents to the transformer's space: ``(z - mean) / std`` per channel."""
    import torch

    mean = torch.tensor(pipe.vae.config.latents_mean).view(1, -1, 1, 1, 1).to(z)
    std = torch.tensor(pipe.vae.config.latents_std).view(1, -1, 1, 1, 1).to(z)
    return (z - mean) / std


def encode_images(pipe: Any, images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` pictures to transformer-space latents ``[N, C, h, w]`` (one frame each)."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, images)
    return _normalize(pipe, z)[:, :, 0].float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Callback latents are already ``[B, C, F, h, w]``: the first video's, as numpy."""
    return latents[0].float().cpu().numpy()  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    return pipe.vae.config.z_dim, (take.frames - 1) // t + 1, take.height // s, take.width // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any) -> Any:
    """Warped noise ``[C, F, h, w]`` as the pipeline's ``latents`` argument ``[1, C, F, h, w]``."""
    import torch

    return torch.from_numpy(noise)[None]


def call(pipe: Any, take: Any, inputs: dict[str, Any], embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], None]) -> tuple[np.ndarray, None, int]:
    """Runs the pipeline for ``take.mode`` and returns uint8 frames (Wan makes no sound)."""
    from sorakit.backends._runtime import step_callback, to_uint8

    args: dict[str, Any] = dict(height=take.height, width=take.width, num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end), callback_on_step_end_tensor_inputs=["latents"],
                                **embeds)
    if take.mode in ("t2v", "i2v", "vace"):
        args["num_frames"] = take.frames
    if "latents" in inputs:  # warped noise from the physics previz
        args["latents"] = inputs["latents"]
    if take.mode == "i2v":
        args["image"] = inputs["image"]
    elif take.mode == "v2v":
        args["video"] = inputs["video"]
        args["strength"] = take.physics.strength
    elif take.mode == "vace":
        args["video"] = inputs["video"]
        args["conditioning_scale"] = max(take.physics.strength, 0.05)
        if "reference_images" in inputs:  # a cameo: the person to keep in the video
            args["reference_images"] = inputs["reference_images"]
    out = pipe(**args)
    return to_uint8(out.frames), None, 0
