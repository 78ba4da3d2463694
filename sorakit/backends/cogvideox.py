"""CogVideoX over diffusers: text-, image- and video-to-video.

Self-contained (STYLE rule 10). Quirks: callback latents are ``[B, F, C, h, w]``; the
image-to-video checkpoint has learned positional embeddings, so it runs only at the size it
was trained at (720x480), which its registry entry states; video-to-video runs
``int(steps * strength)`` steps. ConsisID (identity) is not wired here: it needs opencv and
face-analysis models that load from a hub at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.models import Arch, ModelSpec, register

PIPELINES = {
    "t2v": "CogVideoXPipeline",
    "i2v": "CogVideoXImageToVideoPipeline",
    "v2v": "CogVideoXVideoToVideoPipeline",
}

_RULES = dict(backend="diffusers", family="cogvideox", size_multiple=16, frame_rule=(8, 1), max_frames=49,
              min_size=256, max_size=1360, default_fps=8)
register(ModelSpec(name="cogvideox-2b", model_id="THUDM/CogVideoX-2b", modes=("t2v", "v2v"),
                   arch=Arch(1.7, 4.8, 0.2, 1920, 30), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="cogvideox-5b", model_id="THUDM/CogVideoX-5b", modes=("t2v", "v2v"),
                   arch=Arch(5.6, 4.8, 0.2, 3072, 42), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="cogvideox-5b-i2v", model_id="THUDM/CogVideoX-5b-I2V", modes=("i2v",),
                   sizes=((720, 480),), arch=Arch(5.6, 4.8, 0.2, 3072, 42), **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="cogvideox1.5-5b", model_id="THUDM/CogVideoX1.5-5B", modes=("t2v", "v2v"),
                   arch=Arch(5.6, 4.8, 0.2, 3072, 42, patch=(2, 2, 2)),
                   **{**_RULES, "frame_rule": (16, 1), "max_frames": 81, "default_fps": 16}))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    """Video-to-video reuses the text-to-video checkpoint; image-to-video has its own."""
    return "t2v" if mode == "v2v" and "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def steps_for(take: Any) -> int:
    if take.mode == "v2v":
        return max(1, int(take.steps * take.physics.strength))
    return int(take.steps)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    # 226 tokens, as the pipelines' __call__ and the transformer's max_text_seq_length expect.
    pe, ne = pipe.encode_prompt(prompt, negative_prompt=negative, do_classifier_free_guidance=cfg,
                                max_sequence_length=226, device=pipe._execution_device)
    return {"prompt_embeds": pe, "negative_prompt_embeds": ne}


def encode_images(pipe: Any, images: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` to transformer-space latents ``[N, C, h, w]``: VAE mode times its scaling factor."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, images) * pipe.vae.config.scaling_factor
    return z[:, :, 0].float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Callback latents ``[B, F, C, h, w]`` to ``[C, F, h, w]``."""
    return latents[0].permute(1, 0, 2, 3).float().cpu().numpy()  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    return pipe.transformer.config.out_channels, (take.frames - 1) // t + 1, take.height // s, take.width // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any) -> Any:
    """Warped noise ``[C, F, h, w]`` as CogVideoX's ``latents`` layout ``[1, F, C, h, w]``."""
    import torch

    return torch.from_numpy(noise).permute(1, 0, 2, 3)[None].contiguous()


def call(pipe: Any, take: Any, inputs: dict[str, Any], embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], None]) -> tuple[np.ndarray, None, int]:
    from sorakit.backends._runtime import step_callback, to_uint8

    args: dict[str, Any] = dict(height=take.height, width=take.width, num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end), callback_on_step_end_tensor_inputs=["latents"],
                                **embeds)
    if take.mode in ("t2v", "i2v"):
        args["num_frames"] = take.frames
    if "latents" in inputs:  # warped noise from the physics previz
        args["latents"] = inputs["latents"]
    if take.mode == "i2v":
        args["image"] = inputs["image"]
    elif take.mode == "v2v":
        args["video"] = inputs["video"]
        args["strength"] = take.physics.strength
    out = pipe(**args)
    return to_uint8(out.frames), None, 0
