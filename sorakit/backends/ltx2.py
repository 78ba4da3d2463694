"""LTX-2 over diffusers: joint audio and video, text- and image-to-video.

Self-contained (STYLE rule 10). The pipeline returns ``.frames`` and ``.audio``
(``[B, channels, samples]`` at the vocoder's ``output_sampling_rate``); that audio becomes the
Clip's soundtrack. Callback latents are packed ``[B, F·H·W, C]``. Guidance beyond
``guidance_scale`` (spatio-temporal, modality, audio) keeps the pipeline's defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends import ltx
from sorakit.backends.ltx import encode_images, latent_grid, latents_for_preview  # same VAE and packing
from sorakit.models import Arch, ModelSpec, register

__all__ = ["PIPELINES", "base_mode", "uses_cfg", "steps_for", "encode_prompt", "encode_images",
           "latents_for_preview", "latent_grid", "pack_noise", "call"]

PIPELINES = {"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline"}

register(ModelSpec(name="ltx-2", backend="diffusers", family="ltx2", model_id="Lightricks/LTX-2",
                   modes=("t2v", "i2v"), size_multiple=32, frame_rule=(8, 1), max_frames=257, min_size=128,
                   max_size=1920, default_fps=24, joint_audio=True,
                   arch=Arch(19.0, 12.0, 1.0, 4096, 48, spatial=32, temporal=8, patch=(1, 1, 1))))

MAX_SEQUENCE_LENGTH = 1024  # the pipelines' default


def base_mode(spec: ModelSpec, mode: str) -> str:
    return "t2v" if "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def steps_for(take: Any) -> int:
    return int(take.steps)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    return ltx.encode_prompt(pipe, prompt, negative, cfg, max_sequence_length=MAX_SEQUENCE_LENGTH)


def pack_noise(pipe: Any, noise: np.ndarray, take: Any) -> Any:
    """Warped noise ``[C, F, h, w]`` as LTX-2's ``latents``: unpacked ``[1, C, F, h, w]`` (it packs them itself)."""
    import torch

    return torch.from_numpy(noise)[None]


def call(pipe: Any, take: Any, inputs: dict[str, Any], embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], None]) -> tuple[np.ndarray, np.ndarray, int]:
    """Returns uint8 frames and the joint soundtrack ``[channels, samples]`` with its sample rate."""
    from sorakit.backends._runtime import step_callback, to_uint8

    args: dict[str, Any] = dict(height=take.height, width=take.width, num_frames=take.frames,
                                frame_rate=float(take.fps), num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end), callback_on_step_end_tensor_inputs=["latents"],
                                **embeds)
    if "latents" in inputs:  # warped noise from the physics previz
        args["latents"] = inputs["latents"]
    if take.mode == "i2v":
        args["image"] = inputs["image"]
    out = pipe(**args)
    audio = out.audio[0] if hasattr(out.audio, "ndim") and out.audio.ndim == 3 else out.audio
    audio = audio.float().cpu().numpy() if hasattr(audio, "cpu") else np.asarray(audio, np.float32)
    return to_uint8(out.frames), audio.astype(np.float32), int(pipe.vocoder.config.output_sampling_rate)
