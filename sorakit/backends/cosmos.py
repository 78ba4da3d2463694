"""NVIDIA Cosmos 2.5 over diffusers: Predict2.5 (text-, image- and video-to-world) and Transfer2.5
(the previz as its control video).

Self-contained (STYLE rule 10). Read in diffusers 0.42.1's source:

- ``Cosmos2_5_PredictBasePipeline`` runs all three Predict modes in one class. Its ``image=`` path
  needs torchvision (``torchvision.transforms.functional.to_tensor``), so image-to-world is run
  the way its docstring allows, ``video=[picture]`` with ``num_latent_conditional_frames=1``: the
  Wan VAE is causal, so latent frame 0 (the only one conditioned) is the picture's either way.
  (Cosmos 2.5's transformer itself still needs torchvision: ``preflight`` says so before loading.)
  Video-to-world conditions on the *last* 1 or 5 frames of the video it is given and generates
  the rest: here the previz's first 5 frames, so the clip continues the simulation's start.
- Latents are ``[B, C, F, h, w]``, normalised with the VAE config's mean and std; the loop keeps
  conditioned latent frames clean through a mask, so warped noise can replace all of ``latents``.
- ``Cosmos2_5_TransferPipeline`` generates in chunks of ``num_frames_per_chunk``; a clip here is
  one chunk of the 93 frames the model was trained on (``max_frames`` 93), its controls padded
  with their last frame as the pipeline pads them, and cut to the clip's length. Its control latents are
  *sampled* from the VAE with the call's generator, so the seed also reaches them. It rounds the
  decoded video to 8 bits for its safety checker, so its latents are taken (``output_type="latent"``)
  and decoded here as its own ``decode_latents`` does, to float frames like every other family's.
- Both call the safety checker they were built with; sorakit builds them with a pass-through and
  runs NVIDIA's guardrail itself (``_guardrail``), on the prompt the model reads and the video.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends import _guardrail
from sorakit.backends.contract import Conditioning, Output
from sorakit.models import CONTINUATION_FRAMES, Arch, Card, ModelSpec, register

__all__ = ["PIPELINES", "FLOAT32", "MAX_SEQUENCE_LENGTH", "CHUNK", "CONDITIONAL_FRAMES", "CONTROLNETS", "base_mode",
           "uses_cfg", "passes_per_step", "steps_for", "schedule", "encode_prompt", "encode_video",
           "latents_for_preview", "working_size", "latent_grid", "pack_noise", "pack_step", "preflight", "load_parts",
           "work_frames", "chunk", "control_video", "call"]

PIPELINES = {"t2v": "Cosmos2_5_PredictBasePipeline", "i2v": "Cosmos2_5_PredictBasePipeline",
             "v2v": "Cosmos2_5_PredictBasePipeline", "vace": "Cosmos2_5_TransferPipeline"}
FLOAT32: tuple[str, ...] = ()  # bfloat16 throughout (both pipelines' EXAMPLE_DOC_STRING)
MAX_SEQUENCE_LENGTH = 512  # both pipelines' __call__ default

# Transfer generates chunks of this many frames (num_frames_per_chunk's default; cosmos-transfer2.5's
# num_video_frames_per_chunk=93): a shorter clip is one chunk with its controls padded by their last frame,
# as the pipeline pads them, and cut to the clip's length.
CHUNK = 93

# Video-to-world keeps this many latent frames of the previz clean (the pipeline's default,
# num_latent_conditional_frames=2: 4 * (2 - 1) + 1 = 5 pixel frames).
CONDITIONAL_FRAMES = 2

# The Transfer2.5 controlnet of each control, as diffusers' Cosmos2_5_TransferPipeline docstring loads the
# edge one: AutoModel.from_pretrained("nvidia/Cosmos-Transfer2.5-2B", revision="diffusers/controlnet/general/edge");
# seg and blur by the same pattern (NVIDIA's checkpoint folders general/{edge,seg,blur}; not confirmed on the
# hub from here). Depth is left out: a 2-D previz has no depth to give it.
CONTROLNETS = {"edge": "diffusers/controlnet/general/edge", "seg": "diffusers/controlnet/general/seg",
               "blur": "diffusers/controlnet/general/blur"}

# Predict2.5's negative prompt: NVIDIA's DEFAULT_NEGATIVE_PROMPT (cosmos-predict2.5), which is also the
# pipeline's (DEFAULT_NEGATIVE_PROMPT in pipeline_cosmos2_5_predict.py).
NEGATIVE = ("The video captures a series of frames showing ugly scenes, static with no motion, motion blur, "
            "over-saturation, shaky footage, low resolution, grainy texture, pixelated images, poorly lit areas, "
            "underexposed and overexposed scenes, poor color balance, washed out colors, choppy sequences, jerky "
            "movements, low frame rate, artifacting, color banding, unnatural transitions, outdated special effects, "
            "fake elements, unconvincing visuals, poorly edited content, jump cuts, visual noise, and flickering. "
            "Overall, the video is of poor quality.")
# Transfer2.5's: NVIDIA's DEFAULT_NEGATIVE_PROMPT in cosmos-transfer2.5 (diffusers' pipeline defaults to
# Predict's instead; the authors' reference is the card here).
TRANSFER_NEGATIVE = ("The video captures a game playing, with bad crappy graphics and cartoonish frames. It represents "
                     "a recording of old outdated games. The lighting looks very fake. The textures are very raw and "
                     "basic. The geometries are very primitive. The images are very pixelated and of poor CG quality. "
                     "There are many subtitles in the footage. Overall, the video is unrealistic at all.")

_RULES = dict(backend="diffusers", family="cosmos", size_multiple=16, frame_rule=(4, 1), max_frames=93,
              min_size=256, max_size=1280, guardrail=True)
# 2 B transformer (CosmosTransformer3DModel in the 2.5 layout, 28 blocks of 16 heads x 128: 2.06 B on the meta
# device, benchmarks/gpu_matrix.py), the Qwen2.5-VL-7B text encoder (8.3 B), the Wan 2.1 VAE (0.13 B: 16 latent
# channels, 8x spatial, 4x temporal), 2x2 patches. Transfer's transformer adds image-context cross-attention to
# every block (2.41 B) and a 4-block controlnet (0.47 B), 2.88 B in all (diffusers' convert_cosmos_to_diffusers.py
# configs "Cosmos-2.5-Transfer-General-2B", counted on the meta device by benchmarks/gpu_matrix.py).
_ARCH = Arch(2.06, 8.3, 0.13, 2048, 28, spatial=8, temporal=4, patch=(1, 2, 2))
_TRANSFER_ARCH = dataclasses.replace(_ARCH, transformer=2.88)
# Predict2.5: 1280x704 and 93 frames (the pipeline's defaults; NVIDIA's model state_t=24 is 93 frames),
# 35 steps and guidance 7 (cosmos-predict2.5 cosmos_predict2/config.py: num_steps=35, guidance=7; diffusers'
# docstring also says 35, its signature 36), 16 fps (NVIDIA's reference saves at fps=16, as diffusers' examples).
register(ModelSpec(name="cosmos-predict2.5-2b", model_id="nvidia/Cosmos-Predict2.5-2B",
                   revision="diffusers/base/post-trained", modes=("t2v", "i2v", "v2v"), arch=_ARCH,
                   card=Card(width=1280, height=704, frames=93, fps=16, steps=35, guidance_scale=7.0,
                             negative_prompt=NEGATIVE),
                   **_RULES))  # type: ignore[arg-type]
# Transfer2.5: 1280x704 (VIDEO_RES_SIZE_INFO["720"]["16,9"]), one 93-frame chunk, 35 steps, guidance 3, control
# weight 1.0 (cosmos-transfer2.5 cosmos_transfer2/config.py: num_video_frames_per_chunk=93, num_steps=35,
# guidance=3, control_weight=1.0; here physics.strength is the weight), 16 fps (NVIDIA's Transfer2.5 timing
# table, "720P video with 16FPS"; its reference saves at its input's rate, diffusers' example at 30).
for _control in CONTROLNETS:
    register(ModelSpec(name=f"cosmos-transfer2.5-2b-{_control}", model_id="nvidia/Cosmos-Transfer2.5-2B",
                       revision="diffusers/general", modes=("vace",), control=_control, arch=_TRANSFER_ARCH,
                       card=Card(width=1280, height=704, frames=93, fps=16, steps=35, guidance_scale=3.0,
                                 negative_prompt=TRANSFER_NEGATIVE),
                       **_RULES))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    """Predict's three modes are one pipeline class over one checkpoint; Transfer is its own."""
    return "vace" if mode == "vace" else spec.modes[0]


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale > 1.0)  # both pipelines' do_classifier_free_guidance


def passes_per_step(take: Any) -> int:
    """Transformer passes a step: conditional, plus negative with guidance (Transfer runs its
    controlnet before each of them)."""
    return 2 if uses_cfg(take) else 1


def steps_for(take: Any) -> int:
    return int(take.steps)


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """Both pipelines call ``scheduler.set_timesteps(num_inference_steps)`` with nothing else."""
    return {}


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    """The embeddings each pipeline's ``__call__`` makes: Qwen2.5-VL's normalised hidden states of every
    layer, concatenated, at 512 tokens (Transfer's encode_prompt is the same as Predict's)."""
    embeds, negative_embeds = pipe.encode_prompt(prompt=prompt, negative_prompt=negative,
                                                 do_classifier_free_guidance=cfg,
                                                 max_sequence_length=MAX_SEQUENCE_LENGTH,
                                                 device=pipe._execution_device)
    out = {"prompt_embeds": embeds}
    if cfg:
        out["negative_prompt_embeds"] = negative_embeds
    return out


def _stats(pipe: Any, like: Any) -> tuple[Any, Any]:
    import torch

    cfg = pipe.vae.config
    shape = (1, cfg.z_dim, 1, 1, 1)
    mean = torch.tensor(cfg.latents_mean, dtype=like.dtype, device=like.device).view(shape)
    std = torch.tensor(cfg.latents_std, dtype=like.dtype, device=like.device).view(shape)
    return mean, std


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to the transformer's latents ``[N, C, F, h, w]``: the VAE's mode,
    normalised ``(z - mean) / std`` as both pipelines normalise their conditioning latents."""
    from sorakit.backends._runtime import encode_mode

    z = encode_mode(pipe.vae, video).float()
    mean, std = _stats(pipe, z)
    return ((z - mean) / std).cpu().numpy()  # type: ignore[no-any-return]


def latents_for_preview(pipe: Any, latents: Any, take: Any) -> np.ndarray:
    return latents[0].float().cpu().numpy()  # type: ignore[no-any-return]


def working_size(pipe: Any, take: Any) -> tuple[int, int]:
    width, height = take.size
    return int(width), int(height)


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    """``(channels, latent frames, height, width, temporal factor)`` as Predict's prepare_latents (Transfer's
    latents span its chunk; warped noise never reaches it, since its mode reads only the control)."""
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    width, height = take.size
    return pipe.transformer.config.in_channels - 1, (take.n_frames - 1) // t + 1, height // s, width // s, t


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` as ``latents`` ``[1, C, F, h, w]`` (a conditioned frame is masked
    clean by the loop, whatever its noise), on the transformer's device: Predict's text-to-world
    builds its masks on the device of the latents it is given and never moves them."""
    import torch

    from sorakit.backends._runtime import execution_device

    x = torch.from_numpy(np.ascontiguousarray(noise, np.float32))[None]
    return x.to(execution_device(pipe.transformer))


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    return pack_noise(pipe, latents, take, cond)


def preflight(spec: ModelSpec, take: Any, preset: Any) -> None:
    """Says before anything loads what Cosmos 2.5 needs beyond diffusers: its transformer and controlnet
    resize their padding mask with torchvision (diffusers imports it only when installed)."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        from sorakit.errors import MissingPackage

        raise MissingPackage(f"{spec.name}: Cosmos 2.5's transformer needs torchvision, which is not installed: "
                             "pip install torchvision (the build that matches your torch; Colab has it)")


def load_parts(spec: ModelSpec, mode: str, dtype: Any) -> dict[str, Any]:
    """What ``from_pretrained`` is given besides the folder: the pass-through safety checker (the
    guardrail runs around the call), and for Transfer from the hub its control's controlnet,
    which lives on its own revision of the same repository."""
    import os

    parts: dict[str, Any] = {"safety_checker": _guardrail.OFF}
    if mode == "vace" and not os.path.isdir(spec.model_id):
        import diffusers

        parts["controlnet"] = diffusers.CosmosControlNetModel.from_pretrained(
            spec.model_id, revision=CONTROLNETS[spec.control], dtype=dtype, use_safetensors=True)
    return parts


def work_frames(take: Any) -> int:
    """The frames a Take costs: Transfer denoises a whole chunk (``chunk``: 93 frames for the real
    checkpoints) however short the clip; Predict the clip's own."""
    return max(int(take.n_frames), CHUNK) if take.mode == "vace" else int(take.n_frames)


def chunk(pipe: Any, take: Any) -> int:
    """Transfer's ``num_frames_per_chunk`` for ``take``: the 93 frames it was trained on, or as many
    (4n + 1) as its position table reaches (the pipeline's own limit, ``max(max_size // patch)``), and
    never fewer than the clip's, so a clip is one chunk, padded with its last control frame and cut."""
    cfg = pipe.transformer.config
    reach = max(s // p for s, p in zip(cfg.max_size, cfg.patch_size)) if cfg.max_size else CHUNK
    t = pipe.vae_scale_factor_temporal
    return max(int(take.n_frames), min(CHUNK, int((reach - 1) // t * t + 1)))


def control_video(take: Any, cond: Conditioning) -> np.ndarray:
    """The previz as the control the model's controlnet reads, uint8 ``[T, H, W, 3]`` at the Take's size."""
    from sorakit import models
    from sorakit.guidance import controls
    from sorakit.previz import render

    assert cond.sim is not None  # validate() refuses a control-video Take without a scene
    previz = render(cond.sim, *take.size, trail=False)
    return controls.make(models.get(take.model).control, previz)


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    from PIL import Image

    from sorakit.backends._runtime import execution_device, float_frames, step_callback

    device = execution_device(pipe.transformer)
    _guardrail.check_prompt(take, take.model_prompt, device)
    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_frames=take.n_frames,
                                num_inference_steps=take.steps, guidance_scale=take.guidance_scale,
                                generator=generator, output_type="np", max_sequence_length=MAX_SEQUENCE_LENGTH,
                                callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **embeds)
    if latents is not None:  # warped noise from the physics previz
        args["latents"] = latents
    if take.mode == "vace":
        frames = control_video(take, cond)
        args.update(controls=[Image.fromarray(f) for f in frames], controls_conditioning_scale=float(cond.strength),
                    num_frames_per_chunk=chunk(pipe, take))
    elif take.mode == "i2v":  # image-to-world through the video path (not the image path's to_tensor): latent frame 0
        args.update(video=[cond.image], num_latent_conditional_frames=1)
    elif take.mode == "v2v":  # continuation: the previz's first frames kept, the rest generated
        assert cond.video is not None
        args.update(video=[Image.fromarray(f) for f in cond.video[:CONTINUATION_FRAMES]],
                    num_latent_conditional_frames=CONDITIONAL_FRAMES)
    # Transfer floors its decoded video to 8 bits for its safety checker (even a pass-through one): its latents
    # are taken and decoded here to float frames like every family's. The pipeline still decodes each chunk
    # itself before it returns latents, so the VAE decode runs twice (a few percent of a 35-step run).
    if take.mode == "vace":
        frames = _decode(pipe, pipe(**{**args, "output_type": "latent"}).frames)
    else:
        frames = float_frames(pipe(**args).frames)
    return Output(_guardrail.check_video(take, frames, device), None, 0)


def _decode(pipe: Any, latents: Any) -> np.ndarray:
    """Transfer's latents ``[1, C, F, h, w]`` to float frames, as its own ``decode_latents`` and post-processing
    do, without the round trip through uint8 it makes for the safety checker (the guardrail runs on its own)."""
    import torch

    from sorakit.backends._runtime import execution_device, float_frames

    vae = pipe.vae
    z = latents.to(device=execution_device(vae), dtype=vae.dtype)  # under offload, where the VAE will run
    mean, std = _stats(pipe, z)
    with torch.no_grad():
        video = vae.decode(z * std + mean, return_dict=False)[0]
    return float_frames(pipe.video_processor.postprocess_video(video, output_type="np"))
