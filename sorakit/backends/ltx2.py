"""LTX-2 over diffusers: joint audio and video, text- and image-to-video.

Self-contained (STYLE rule 10). The pipeline returns ``.frames`` and ``.audio``
(``[B, channels, samples]`` at the vocoder's ``output_sampling_rate``); that audio becomes the
Clip's soundtrack. Callback latents are packed ``[B, F·H·W, C]``. Read in diffusers 0.42.1's
source: the call's defaults are LTX-2.3's (STG block 28, ``use_cross_timestep=True``, 30 steps),
so LTX-2.0's own values are passed explicitly; ``latents`` must be 5-D and are taken as raw VAE
latents and normalised, so warped noise goes in denormalised; and image-to-video keeps frame 0
of given ``latents`` clean instead of encoding the picture, so the picture's latent is put there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends import ltx
from sorakit.backends.contract import Conditioning, Output
# the same VAE layout, normalisation and packing
from sorakit.backends.ltx import encode_video, latent_grid, latents_for_preview, with_first_frame, working_size
from sorakit.models import Arch, Card, ModelSpec, get, register

__all__ = ["PIPELINES", "FLOAT32", "MAX_SEQUENCE_LENGTH", "base_mode", "uses_cfg", "passes_per_step", "steps_for",
           "schedule", "encode_prompt", "encode_video", "latents_for_preview", "working_size", "latent_grid", "pack_noise",
           "pack_step",
           "call"]

PIPELINES = {"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline"}
FLOAT32: tuple[str, ...] = ()  # bfloat16 throughout (LTX2Pipeline's EXAMPLE_DOC_STRING)

# LTX-2.0's own defaults: Lightricks/LTX-2 packages/ltx-pipelines/src/ltx_pipelines/utils/constants.py,
# LTX_2_PARAMS ("Default params for LTX-2.0 non-distilled models"): stage-1 size 768x512, 121 frames at
# 24 fps, 40 steps; video guider cfg 3.0, stg 1.0, rescale 0.7, modality 3.0; audio guider cfg 7.0,
# stg 1.0, rescale 0.7, modality 3.0; STG blocks [29]. diffusers' transformer_ltx2.py docstring:
# use_cross_timestep "False is the legacy LTX-2.0 behavior". The negative prompt is LTX2Pipeline's
# EXAMPLE_DOC_STRING's. Time-to-Move (3, 7) at 50 steps: the paper gives no LTX-2 pair; this is its Wan
# cut-and-drag pair (both flow-matching), untuned on LTX-2's real weights.
register(ModelSpec(name="ltx-2", backend="diffusers", family="ltx2", model_id="Lightricks/LTX-2",
                   modes=("t2v", "i2v"), size_multiple=32, frame_rule=(8, 1), max_frames=257, min_size=128,
                   max_size=1920, joint_audio=True,
                   arch=Arch(18.9, 12.0, 1.2, 4096, 48, spatial=32, temporal=8, patch=(1, 1, 1)),
                   card=Card(width=768, height=512, frames=121, fps=24, steps=40, guidance_scale=3.0,
                             negative_prompt=ltx.NEGATIVE, ttm=(3, 7),
                             knobs=(("stg_scale", 1.0), ("modality_scale", 3.0), ("guidance_rescale", 0.7),
                                    ("audio_guidance_scale", 7.0), ("audio_stg_scale", 1.0),
                                    ("audio_modality_scale", 3.0), ("audio_guidance_rescale", 0.7),
                                    ("spatio_temporal_guidance_blocks", (29,)), ("use_cross_timestep", False)))))

MAX_SEQUENCE_LENGTH = 1024  # the pipelines' default


def base_mode(spec: ModelSpec, mode: str) -> str:
    return "t2v" if "t2v" in spec.modes else mode


def _knobs(take: Any) -> dict[str, Any]:
    knobs = dict(get(take.model).card.knobs)
    if "spatio_temporal_guidance_blocks" in knobs:
        knobs["spatio_temporal_guidance_blocks"] = list(knobs["spatio_temporal_guidance_blocks"])
    return knobs


def uses_cfg(take: Any) -> bool:
    """Classifier-free guidance runs when the video or the audio guidance scale is above 1 (the pipeline's rule)."""
    audio = _knobs(take).get("audio_guidance_scale") or take.guidance_scale
    return bool(take.guidance_scale > 1.0 or audio > 1.0)


def passes_per_step(take: Any) -> int:
    """Forward passes a step, as LTX2Pipeline's loop runs them: conditional, plus unconditional with
    guidance, plus a perturbed pass with spatio-temporal guidance, plus a modality-isolated pass.
    LTX-2.0's card runs all four."""
    knobs = _knobs(take)
    stg = knobs.get("stg_scale", 1.0) > 0.0 or (knobs.get("audio_stg_scale") or 0.0) > 0.0
    modality = knobs.get("modality_scale", 3.0) > 1.0 or (knobs.get("audio_modality_scale") or 0.0) > 1.0
    return 1 + int(uses_cfg(take)) + int(stg) + int(modality)


def steps_for(take: Any) -> int:
    if take.ttm is not None:  # Time-to-Move starts at step t_weak
        return int(take.steps) - int(take.ttm[0])
    return int(take.steps)


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What the LTX-2 pipelines pass to ``set_timesteps`` (as LTX's; the audio scheduler, a deep copy of
    the video one made inside the call, gets the same, and Time-to-Move's tail follows it there)."""
    return ltx.schedule(pipe, take)


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    return ltx.encode_prompt(pipe, prompt, negative, cfg, max_sequence_length=MAX_SEQUENCE_LENGTH)


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` (with the picture's latent in frame 0 for image-to-video) as
    LTX-2's 5-D ``latents``.

    The pipelines accept only 5-D latents and normalise them as raw VAE latents
    (``(z - mean) * scaling_factor / std``), so the noise goes in denormalised: what comes out
    of their normalisation is exactly the warped noise.
    """
    import torch

    # The picture normalised as LTX2ImageToVideoPipeline.prepare_latents normalises it: as LTX's.
    x = with_first_frame(pipe, torch.from_numpy(noise)[None], cond)
    vae = pipe.vae
    return pipe._denormalize_latents(x, vae.latents_mean.cpu(), vae.latents_std.cpu(), vae.config.scaling_factor)


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Inside the loop LTX-2 carries LTX's packed, normalised tokens (the picture's latent in frame 0
    for image-to-video): not the denormalised 5-D form its ``latents`` argument takes."""
    return ltx.pack_noise(pipe, latents, take, cond)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    """Returns the float frames and the joint soundtrack ``[channels, samples]`` with its sample rate."""
    from sorakit.backends._runtime import float_frames, step_callback

    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_frames=take.n_frames,
                                frame_rate=float(take.rate), num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **_knobs(take), **embeds)
    if latents is not None:  # warped noise from the physics previz
        args["latents"] = latents
    if take.mode == "i2v":
        args["image"] = cond.image
    out = pipe(**args)
    audio = out.audio[0] if hasattr(out.audio, "ndim") and out.audio.ndim == 3 else out.audio
    audio = audio.float().cpu().numpy() if hasattr(audio, "cpu") else np.asarray(audio, np.float32)
    return Output(float_frames(out.frames), audio.astype(np.float32), int(pipe.vocoder.config.output_sampling_rate))
