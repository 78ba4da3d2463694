"""CogVideoX over diffusers: text-, image- and video-to-video.

Self-contained (STYLE rule 10). Quirks (read in diffusers 0.42.1's source): callback latents
are ``[B, F, C, h, w]``; the 1.0 image-to-video checkpoint has learned positional embeddings,
so it runs only at 720x480, which its registry entry states; video-to-video runs
``int(steps * strength)`` steps. CogVideoX 1.5 patches two latent frames at a time: its
text-to-video pads an odd latent count by one frame in front (and drops it after), so warped
noise gets that frame too; its video-to-video refuses an odd count, so the previz goes in with
its first frame repeated ``temporal`` times in front, and those frames are dropped from the
output. ConsisID (identity) is not wired: it needs face-analysis models from a hub at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from sorakit.backends.contract import Conditioning, Output
from sorakit.models import Arch, Card, ModelSpec, register

PIPELINES = {
    "t2v": "CogVideoXPipeline",
    "i2v": "CogVideoXImageToVideoPipeline",
    "v2v": "CogVideoXVideoToVideoPipeline",
}
FLOAT32: tuple[str, ...] = ()

_RULES = dict(backend="diffusers", family="cogvideox", size_multiple=16, frame_rule=(8, 1), max_frames=49,
              min_size=256, max_size=1360)
# CogVideoX 1.0: 720x480, 49 frames at 8 fps (zai-org/CogVideo README's model table: "720 * 480",
# "8 frames / second"), 50 steps and guidance 6 (the cards' examples; pipeline_cogvideox.py __call__
# defaults), no negative prompt (the cards and inference/cli_demo.py pass none).
# Time-to-Move (4, 9): the TTM paper's CogVideoX defaults at 50 steps (time-to-move/TTM README). CogVideoX 1.5
# (two-frame temporal patches, a padding latent frame) has none: there auto warps the noise.
_CARD = Card(width=720, height=480, frames=49, fps=8, steps=50, guidance_scale=6.0, ttm=(4, 9))
register(ModelSpec(name="cogvideox-2b", model_id="THUDM/CogVideoX-2b", modes=("t2v", "v2v"),
                   arch=Arch(1.7, 4.8, 0.2, 1920, 30), card=_CARD, **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="cogvideox-5b", model_id="THUDM/CogVideoX-5b", modes=("t2v", "v2v"),
                   arch=Arch(5.6, 4.8, 0.2, 3072, 42), card=_CARD, **_RULES))  # type: ignore[arg-type]
register(ModelSpec(name="cogvideox-5b-i2v", model_id="THUDM/CogVideoX-5b-I2V", modes=("i2v",),
                   sizes=((720, 480),), arch=Arch(5.6, 4.8, 0.2, 3072, 42), card=_CARD,
                   **_RULES))  # type: ignore[arg-type]
# CogVideoX 1.5: 1360x768, 81 or 161 frames (16n+1) at 16 fps (CogVideo README; diffusers' cogvideox.md:
# "works best at a resolution of 1360x768", "81 and 161 frames", "Exporting videos at 16 FPS").
register(ModelSpec(name="cogvideox1.5-5b", model_id="THUDM/CogVideoX1.5-5B", modes=("t2v", "v2v"),
                   arch=Arch(5.6, 4.8, 0.2, 3072, 42, patch=(2, 2, 2)),
                   card=replace(_CARD, width=1360, height=768, frames=81, fps=16, ttm=None),
                   **{**_RULES, "frame_rule": (16, 1), "max_frames": 161}))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    """Video-to-video reuses the text-to-video checkpoint; image-to-video has its own."""
    return "t2v" if mode == "v2v" and "t2v" in spec.modes else mode


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)


def passes_per_step(take: Any) -> int:
    return 2 if uses_cfg(take) else 1


def steps_for(take: Any) -> int:
    if take.mode == "v2v":
        return max(1, int(take.steps * take.physics.strength))
    if take.ttm is not None:  # Time-to-Move starts at step t_weak
        return int(take.steps) - int(take.ttm[0])
    return int(take.steps)


MAX_SEQUENCE_LENGTH = 226  # the pipelines' __call__ and the transformer's max_text_seq_length


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What the pipeline passes to ``set_timesteps`` (pipeline_cogvideox*.py: ``retrieve_timesteps(self.scheduler, num_inference_steps, device, timesteps)`` with no custom timesteps)."""
    return {"num_inference_steps": int(take.steps)}


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    pe, ne = pipe.encode_prompt(prompt, negative_prompt=negative, do_classifier_free_guidance=cfg,
                                max_sequence_length=MAX_SEQUENCE_LENGTH, device=pipe._execution_device)
    return {"prompt_embeds": pe, "negative_prompt_embeds": ne}


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to transformer-space latents ``[N, C, F, h, w]``: VAE mode times its scaling factor."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, video) * pipe.vae.config.scaling_factor
    return z.float().cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Callback latents ``[B, F, C, h, w]`` to ``[C, F, h, w]``."""
    return latents[0].permute(1, 0, 2, 3).float().cpu().numpy()  # type: ignore[no-any-return]


def working_size(pipe: Any, take: Any) -> tuple[int, int]:
    return take.size  # type: ignore[no-any-return]


def _pad(pipe: Any, latent_frames: int) -> int:
    """Latent frames CogVideoX 1.5 adds in front so its two-frame temporal patches tile the video."""
    p = pipe.transformer.config.patch_size_t
    return 0 if p is None or latent_frames % p == 0 else p - latent_frames % p


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    w, h = take.size
    return pipe.transformer.config.out_channels, (take.n_frames - 1) // t + 1, h // s, w // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` as CogVideoX's ``latents`` layout ``[1, F, C, h, w]``.

    On CogVideoX 1.5 the pipeline pads the latent frames to its temporal patch and drops the
    padding after denoising: the padding comes in front as fresh noise (seeded by the Take).
    """
    import torch

    x = torch.from_numpy(noise).permute(1, 0, 2, 3)[None].contiguous()
    pad = _pad(pipe, x.shape[1])
    if pad:
        fresh = np.random.default_rng(take.seed).standard_normal((1, pad, *x.shape[2:])).astype(np.float32)
        x = torch.cat([torch.from_numpy(fresh), x], dim=1)
    return x


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """The loop carries its latents as its ``latents`` argument takes them: ``pack_noise``'s layout."""
    return pack_noise(pipe, latents, take, cond)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    from PIL import Image

    from sorakit.backends._runtime import float_frames, step_callback

    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_inference_steps=take.steps,
                                guidance_scale=take.guidance_scale, generator=generator, output_type="np",
                                callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **embeds)
    if take.mode in ("t2v", "i2v"):
        args["num_frames"] = take.n_frames
    if latents is not None:  # warped noise from the physics previz
        args["latents"] = latents
    pad = 0
    if take.mode == "i2v":
        args["image"] = cond.image
    elif take.mode == "v2v":
        assert cond.video is not None
        video = cond.video
        t = pipe.vae_scale_factor_temporal
        pad = _pad(pipe, (len(video) - 1) // t + 1)
        if pad:  # CogVideoX 1.5: an even latent count, from the first frame held a little longer
            video = np.concatenate([np.repeat(video[:1], t * pad, axis=0), video])
            args["output_type"] = "latent"  # the padding latents are dropped before decoding, as t2v does
        args["video"] = [Image.fromarray(f) for f in video]
        args["strength"] = cond.strength
    out = pipe(**args)
    if pad:
        import torch

        with torch.no_grad():
            decoded = pipe.decode_latents(out.frames[:, pad:])
        return Output(float_frames(pipe.video_processor.postprocess_video(video=decoded, output_type="np")), None, 0)
    return Output(float_frames(out.frames), None, 0)
