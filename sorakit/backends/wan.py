"""Wan 2.1 / 2.2 over diffusers: text-, image- and video-to-video, and VACE control.

Self-contained (STYLE rule 10): the registry entries, the pipeline classes per mode, how a
Take becomes call arguments, and the latent layout for the step preview. torch and diffusers
are imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from dataclasses import replace

from sorakit.backends.contract import Conditioning, Output
from sorakit.models import Arch, Card, ModelSpec, register

PIPELINES = {
    "t2v": "WanPipeline",
    "i2v": "WanImageToVideoPipeline",
    "v2v": "WanVideoToVideoPipeline",
    "vace": "WanVACEPipeline",
}

_RULES = dict(backend="diffusers", family="wan", size_multiple=16, frame_rule=(4, 1), max_frames=81,
              min_size=128, max_size=1280)

# Wan's own negative prompt (Wan-Video/Wan2.1 wan/configs/shared_config.py, sample_neg_prompt), in
# the English the diffusers EXAMPLE_DOC_STRINGs and the Wan README's diffusers snippet use.
NEGATIVE = ("Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, "
            "overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, "
            "poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still "
            "picture, messy background, three legs, many people in the background, walking backwards")
# Wan 2.1 at 480p: 832x480, 81 frames at 16 fps (shared_config.py sample_fps=16; SUPPORTED_SIZES), 50 steps and
# guidance 5.0 (pipeline_wan.py __call__ defaults and the card's example), flow shift 3.0 for 480p
# (pipeline_wan.py EXAMPLE_DOC_STRING: "5.0 for 720P, 3.0 for 480P"; the shipped scheduler config).
# Time-to-Move (3, 7): the TTM paper's Wan cut-and-drag defaults at 50 steps (time-to-move/TTM README).
_CARD_480 = Card(width=832, height=480, frames=81, fps=16, steps=50, guidance_scale=5.0, negative_prompt=NEGATIVE,
                 shift=3.0, ttm=(3, 7))
register(ModelSpec(name="wan2.1-t2v-1.3b", model_id="Wan-AI/Wan2.1-T2V-1.3B-Diffusers", modes=("t2v", "v2v"),
                   arch=Arch(1.42, 5.7, 0.13, 1536, 30), card=_CARD_480, **_RULES))  # type: ignore[arg-type]
# 14B at 720p: 1280x720 (pipeline_wan.py EXAMPLE_DOC_STRING height=720, width=1280), shift 5.0 for 720p (same).
register(ModelSpec(name="wan2.1-t2v-14b", model_id="Wan-AI/Wan2.1-T2V-14B-Diffusers", modes=("t2v", "v2v"),
                   arch=Arch(14.0, 5.7, 0.13, 5120, 40),
                   card=replace(_CARD_480, width=1280, height=720, shift=5.0), **_RULES))  # type: ignore[arg-type]
# I2V 480P: max area 480*832 (pipeline_wan_i2v.py EXAMPLE_DOC_STRING), 50 steps (its __call__ default; Wan's
# generate.py uses 40), shift 3.0 (generate.py for i2v at 832*480).
register(ModelSpec(name="wan2.1-i2v-14b-480p", model_id="Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", modes=("i2v",),
                   arch=Arch(14.0, 5.7 + 0.6, 0.13, 5120, 40), card=_CARD_480, **_RULES))  # type: ignore[arg-type]
# VACE 1.3B: 480p only (Wan SUPPORTED_SIZES 'vace-1.3B'), 30 steps and shift 3.0 (pipeline_wan_vace.py
# EXAMPLE_DOC_STRING; Wan's own generate.py uses 50 steps and shift 16).
register(ModelSpec(name="wan2.1-vace-1.3b", model_id="Wan-AI/Wan2.1-VACE-1.3B-diffusers", modes=("vace",),
                   arch=Arch(1.6, 5.7, 0.13, 1536, 30), card=replace(_CARD_480, steps=30),
                   **_RULES))  # type: ignore[arg-type]
# Wan 2.2 TI2V 5B: 1280x704, 121 frames at 24 fps, 50 steps, guidance 5.0, shift 5.0
# (Wan-Video/Wan2.2 wan/configs/wan_ti2v_5B.py: frame_num, sample_fps, sample_steps, sample_guide_scale, sample_shift).
register(ModelSpec(name="wan2.2-ti2v-5b", model_id="Wan-AI/Wan2.2-TI2V-5B-Diffusers",
                   modes=("t2v", "i2v", "v2v"), arch=Arch(5.0, 5.7, 0.7, 3072, 30, spatial=16),
                   card=Card(width=1280, height=704, frames=121, fps=24, steps=50, guidance_scale=5.0,
                             negative_prompt=NEGATIVE, shift=5.0, ttm=(3, 7)),
                   **{**_RULES, "size_multiple": 32, "max_frames": 121}))  # type: ignore[arg-type]

# diffusers' Wan docs: "Set the AutoencoderKLWan dtype to torch.float32 for better decoding quality"; every
# Wan EXAMPLE_DOC_STRING loads the VAE (and I2V's CLIP image encoder) in float32.
FLOAT32 = ("vae", "image_encoder")


def base_mode(spec: ModelSpec, mode: str) -> str:
    """The mode whose pipeline loads the checkpoint: other modes of a text-to-video checkpoint share its weights."""
    return "t2v" if "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def passes_per_step(take: Any) -> int:
    """One transformer pass, two with classifier-free guidance (conditional and unconditional)."""
    return 2 if uses_cfg(take) else 1


def steps_for(take: Any) -> int:
    """Steps the denoising loop runs: video-to-video skips the first ``1 - strength`` of them."""
    if take.mode == "v2v":
        return max(1, int(take.steps * take.physics.strength))
    if take.ttm is not None:  # Time-to-Move starts at step t_weak
        return int(take.steps) - int(take.ttm[0])
    return int(take.steps)


MAX_SEQUENCE_LENGTH = 512  # what the pipelines' __call__ uses (encode_prompt alone defaults to 226)


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What the pipeline passes to ``set_timesteps`` (pipeline_wan*.py: ``self.scheduler.set_timesteps(num_inference_steps, device=device)``)."""
    return {"num_inference_steps": int(take.steps)}


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


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to transformer-space latents ``[N, C, F, h, w]``."""
    from sorakit.backends._runtime import encode_mode

    return _normalize(pipe, encode_mode(pipe.vae, video)).float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Callback latents are already ``[B, C, F, h, w]``: the first video's, as numpy."""
    return latents[0].float().cpu().numpy()  # type: ignore[no-any-return]


def working_size(pipe: Any, take: Any) -> tuple[int, int]:
    return take.size  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    w, h = take.size
    return pipe.vae.config.z_dim, (take.n_frames - 1) // t + 1, h // s, w // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` as the pipeline's ``latents`` argument ``[1, C, F, h, w]``.

    Wan's image-to-video keeps the picture in a separate condition (concatenated channels, or
    for Wan 2.2 the first latent frame it overwrites itself), so the noise goes in as it is.
    """
    import torch

    return torch.from_numpy(noise)[None]


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """The loop carries its latents as its ``latents`` argument takes them: ``pack_noise``'s layout."""
    return pack_noise(pipe, latents, take, cond)


def _vae_scale(pipe: Any) -> None:
    """diffusers 0.42.1's WanVideoToVideoPipeline takes its spatial factor as ``2 ** len(temperal_downsample)``
    (8), where Wan 2.2 TI2V's VAE patches 2x2 pixels first (16, its config's ``scale_factor_spatial``, which
    the other Wan pipelines read): its noise would not match the encoded video. Read it from the config."""
    from diffusers.video_processor import VideoProcessor

    factor = pipe.vae.config.scale_factor_spatial
    if factor and pipe.vae_scale_factor_spatial != factor:
        pipe.vae_scale_factor_spatial = factor
        pipe.video_processor = VideoProcessor(vae_scale_factor=factor)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    """Runs the pipeline for ``take.mode`` and returns its float frames (Wan makes no sound)."""
    from PIL import Image

    from sorakit.backends._runtime import float_frames, step_callback

    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **embeds)
    if take.mode in ("t2v", "i2v", "vace"):
        args["num_frames"] = take.n_frames
    if latents is not None:  # warped noise from the physics previz
        args["latents"] = latents
    if take.mode == "i2v":
        args["image"] = cond.image
    elif take.mode == "v2v":
        assert cond.video is not None
        _vae_scale(pipe)
        args["video"] = [Image.fromarray(f) for f in cond.video]
        args["strength"] = cond.strength
    elif take.mode == "vace":
        assert cond.video is not None
        args["video"] = [Image.fromarray(f) for f in cond.video]
        args["conditioning_scale"] = max(cond.strength, 0.05)
        if cond.reference_images:  # a cameo: the person to keep in the video
            args["reference_images"] = list(cond.reference_images)
    out = pipe(**args)
    return Output(float_frames(out.frames), None, 0)
