"""LTX-Video over diffusers: text- and image-to-video, and video-to-video from the previz.

Self-contained (STYLE rule 10). One checkpoint serves all three pipeline classes. Quirks
(read in diffusers 0.42.1's pipeline source): callback latents are packed ``[B, F·H·W, C]``;
prompt embeddings come with attention masks; the frame rate is an argument (the model's
timing depends on it); ``LTXImageToVideoPipeline`` returns ``latents`` as given, ignoring the
picture, so warped noise goes in with the picture's latent already in frame 0; and
``LTXConditionPipeline`` reads a list ``video`` as one condition per frame, so video-to-video
passes the previz as VAE latents with ``denoise_strength`` (SDEdit from the previz).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends.contract import Conditioning, Output
from sorakit.models import Arch, Card, ModelSpec, knobs, register

PIPELINES = {"t2v": "LTXPipeline", "i2v": "LTXImageToVideoPipeline", "v2v": "LTXConditionPipeline"}
FLOAT32: tuple[str, ...] = ()  # bfloat16 throughout (diffusers' ltx_video.md: "recommended dtype ... bfloat16")

_RULES = dict(backend="diffusers", family="ltx", size_multiple=32, frame_rule=(8, 1), max_frames=257,
              min_size=128, max_size=1280)
_ARCH = Arch(1.9, 4.7, 0.4, 2048, 28, spatial=32, temporal=8, patch=(1, 1, 1))
# Time-to-Move (3, 7) at 50 steps: the paper gives no LTX pair; this is its Wan cut-and-drag pair (both
# flow-matching), untuned on LTX's real weights.
_TTM = (3, 7)
# Every LTX EXAMPLE_DOC_STRING and LTX-Video's inference.py default.
NEGATIVE = "worst quality, inconsistent motion, blurry, jittery, distorted"
# LTX-Video 0.9.0 (the root repo): 704x480, 161 frames (pipeline_ltx.py EXAMPLE_DOC_STRING), 25 fps (the
# pipelines' frame_rate default and LTX-Video's inference.py), 40 steps and guidance 3 (LTX-Video
# configs/ltxv-2b-0.9.yaml). Its VAE has no timestep conditioning, so decode_timestep does nothing there.
register(ModelSpec(name="ltx-video", model_id="Lightricks/LTX-Video", modes=("t2v", "i2v", "v2v"), arch=_ARCH,
                   card=Card(width=704, height=480, frames=161, fps=25, steps=40, guidance_scale=3.0,
                             negative_prompt=NEGATIVE, ttm=_TTM),
                   **_RULES))  # type: ignore[arg-type]
# 0.9.5: 768x512 (pipeline_ltx_condition.py EXAMPLE_DOC_STRING), 40 steps (configs/ltxv-2b-0.9.5.yaml), and
# decode_timestep 0.05 / decode_noise_scale 0.025 for its timestep-aware VAE (same yaml; diffusers' docs note).
register(ModelSpec(name="ltx-video-0.9.5", model_id="Lightricks/LTX-Video-0.9.5", modes=("t2v", "i2v", "v2v"),
                   arch=_ARCH, card=Card(width=768, height=512, frames=161, fps=25, steps=40, guidance_scale=3.0,
                                         negative_prompt=NEGATIVE, ttm=_TTM,
                                         knobs=(("decode_timestep", 0.05), ("decode_noise_scale", 0.025))),
                   **_RULES))  # type: ignore[arg-type]

MAX_SEQUENCE_LENGTH = 128  # what LTXPipeline's and LTXImageToVideoPipeline's __call__ encode to
# LTXConditionPipeline's __call__ encodes to 256 tokens, and with the attention mask passed to T5
# (the other two pass none), so its embeddings differ and are encoded by it, at its own length.
CONDITION_SEQUENCE_LENGTH = 256


def base_mode(spec: ModelSpec, mode: str) -> str:
    return "t2v" if "t2v" in spec.modes else mode


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


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What LTXPipeline and LTXImageToVideoPipeline pass to ``set_timesteps``: sigmas from 1 to 1/N and
    the resolution-dependent shift ``mu`` (pipeline_ltx.py and pipeline_ltx_image2video.py, step 5)."""
    from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

    n = int(take.steps)
    _, f, h, w, _ = latent_grid(pipe, take)
    config = pipe.scheduler.config
    mu = calculate_shift(f * h * w, config.get("base_image_seq_len", 256), config.get("max_image_seq_len", 4096),
                         config.get("base_shift", 0.5), config.get("max_shift", 1.15))
    given = knobs(take).get("sigmas")  # a distilled variant's own schedule, passed as the call's sigmas
    return {"sigmas": np.linspace(1.0, 1 / n, n) if given is None else np.asarray(given), "mu": mu}


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool, *,
                  max_sequence_length: int = MAX_SEQUENCE_LENGTH) -> dict[str, Any]:
    """Embeddings with their attention masks, as the pipelines' keyword arguments (LTX-2 shares this)."""
    if type(pipe).__name__ == "LTXConditionPipeline":
        max_sequence_length = CONDITION_SEQUENCE_LENGTH
    pe, pm, ne, nm = pipe.encode_prompt(prompt, negative_prompt=negative, do_classifier_free_guidance=cfg,
                                        max_sequence_length=max_sequence_length, device=pipe._execution_device)
    return {"prompt_embeds": pe, "prompt_attention_mask": pm, "negative_prompt_embeds": ne,
            "negative_prompt_attention_mask": nm}


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to transformer-space latents ``[N, C, F, h, w]``: ``(z - mean) / std``."""
    return _encode(pipe, video).float().cpu().numpy()  # type: ignore[no-any-return]


def _encode(pipe: Any, video: np.ndarray) -> Any:
    from sorakit.backends._runtime import encode_mode

    vae = pipe.vae
    return pipe._normalize_latents(encode_mode(vae, video), vae.latents_mean, vae.latents_std)


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    """Packed ``[B, F·H·W, C]`` (after any condition tokens) to ``[C, F, H, W]``."""
    _, f, h, w, _ = latent_grid(pipe, take)
    x = pipe._unpack_latents(latents[:, -f * h * w:], f, h, w, pipe.transformer_spatial_patch_size,
                             pipe.transformer_temporal_patch_size)
    return x[0].float().cpu().numpy()  # type: ignore[no-any-return]


def working_size(pipe: Any, take: Any) -> tuple[int, int]:
    return take.size  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """The initial noise's grid for ``take``: ``(channels, latent frames, height, width, temporal factor)``."""
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    w, h = take.size
    return pipe.transformer.config.in_channels, (take.n_frames - 1) // t + 1, h // s, w // s, t


def with_first_frame(pipe: Any, noise: Any, cond: Conditioning) -> Any:
    """``[1, C, F, h, w]`` noise with latent frame 0 replaced by the picture's normalised latent.

    What ``prepare_latents`` does itself when it gets no ``latents`` (the conditioning mask then
    keeps frame 0 clean), done here because given ``latents`` it returns them untouched.
    """
    if cond.image is None:
        return noise
    picture = np.asarray(cond.image.convert("RGB"))[None, None]  # [1, 1, H, W, 3]
    first = _encode(pipe, picture).to(noise)
    noise = noise.clone()
    noise[:, :, :1] = first
    return noise


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` (with any first frame in place) in LTX's token layout ``[1, F·h·w, C]``."""
    import torch

    x = with_first_frame(pipe, torch.from_numpy(noise)[None], cond)
    return pipe._pack_latents(x, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """The loop carries its latents as its ``latents`` argument takes them: ``pack_noise``'s layout."""
    return pack_noise(pipe, latents, take, cond)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    from sorakit.backends._runtime import float_frames, step_callback

    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_frames=take.n_frames, frame_rate=take.rate,
                                num_inference_steps=take.steps, guidance_scale=take.guidance_scale,
                                generator=generator, output_type="np", callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **knobs(take),
                                **embeds)
    if latents is not None:  # warped noise from the physics previz
        args["latents"] = latents
    if take.mode == "i2v":
        args["image"] = cond.image
    elif take.mode == "v2v":
        # SDEdit from the previz: its normalised VAE latents, noised to denoise_strength by prepare_latents.
        assert cond.video is not None
        args["latents"] = _encode(pipe, cond.video[None]).float()
        args["denoise_strength"] = cond.strength
    out = pipe(**args)
    return Output(float_frames(out.frames), None, 0)
