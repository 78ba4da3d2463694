"""NVIDIA Cosmos 3 over diffusers: one omni model for text-, image- and video-to-world, with its own
synchronized sound where the checkpoint ships a sound tokenizer.

Self-contained (STYLE rule 10). Read in diffusers 0.42.1's ``Cosmos3OmniPipeline``:

- There is no text encoder: the joint transformer reads the prompt's token ids, so the
  "embeddings" cached here are the prompt strings, which the pipeline tokenizes with its
  duration and resolution templates (and their inverses for the negative prompt).
- Latents are ``[1, C, F, h, w]`` (Wan 2.2 VAE: 16x spatial, 4x temporal), normalised. The loop
  zeroes the velocity of conditioned latent frames, and ``latents`` given to the call are used as
  they are: a picture is *not* put into frame 0 of given latents. So warped noise for
  image-to-world carries the picture's own latent (encoded as the pipeline encodes it) in frame 0.
- Video-to-world keeps latent frames ``condition_frame_indexes_vision`` (0, 1: the first 5 pixel
  frames) of the video clean and generates the rest: here the previz's first frames.
- With ``enable_sound=True`` the sound latents are denoised with the picture in the same passes and
  decoded by the sound tokenizer to ``[channels, samples]``; its length is rounded up to the
  tokenizer's hop, and ``generate`` fits it to the clip.
- The safety checker is called only when it is NVIDIA's class; sorakit loads the pipeline with a
  pass-through and runs the guardrail itself (``_guardrail``), as for Cosmos 2.5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sorakit.backends import _guardrail, cosmos
# the same latent layout as Cosmos 2.5's ([1, C, F, h, w]) at the Take's own size
from sorakit.backends.cosmos import latents_for_preview, working_size
from sorakit.backends.contract import Conditioning, Output
from sorakit.errors import InvalidInput
from sorakit.models import MODELS, Arch, Card, ModelSpec, register

__all__ = ["PIPELINES", "FLOAT32", "MAX_SEQUENCE_LENGTH", "CONDITION_FRAMES", "base_mode", "uses_cfg",
           "passes_per_step", "steps_for", "schedule", "encode_prompt", "encode_video", "latents_for_preview",
           "working_size", "latent_grid", "pack_noise", "pack_step", "load_parts", "preflight", "call"]

PIPELINES = {"t2v": "Cosmos3OmniPipeline", "i2v": "Cosmos3OmniPipeline", "v2v": "Cosmos3OmniPipeline"}
FLOAT32: tuple[str, ...] = ()
MAX_SEQUENCE_LENGTH = 0  # no text encoder: the prompt reaches the transformer as token ids, not padded embeddings
CONDITION_FRAMES = (0, 1)  # the pipeline's condition_frame_indexes_vision default: latent frames kept in video-to-world

# Text-to-video's negative prompt in diffusers' Cosmos3 docs (docs/source/en/api/pipelines/cosmos3.md as of
# 2026-05-27, the plain-text version; the docs now load a structured JSON negative prompt that diffusers does not
# ship). The pipeline itself falls back to "".
NEGATIVE = cosmos.NEGATIVE  # the same words as Predict2.5's (NVIDIA's DEFAULT_NEGATIVE_PROMPT)

# 720p 1280x720, 189 frames at 24 fps, 35 steps, guidance 6 (Cosmos3OmniPipeline.__call__'s defaults and diffusers'
# cosmos3.md examples; NVIDIA cosmos-framework inference/defaults/text2video/sample_args.json: num_steps 35,
# guidance 6.0, shift 10.0, fps 24, num_frames 189). The docs' text-to-video example sets the scheduler to
# flow_shift=10.0, use_karras_sigmas=False, as the card here does. The duration and resolution sentences the
# pipeline adds to the prompt stay on (its defaults). At 720p cosmos-framework caps clips at 200 frames
# (MAX_NUM_FRAMES), so 197 under the 4n+1 rule.
_RULES = dict(backend="diffusers", family="cosmos3", size_multiple=16, frame_rule=(4, 1), max_frames=197,
              min_size=256, max_size=1280, guardrail=True, joint_audio=True)
_CARD = Card(width=1280, height=720, frames=189, fps=24, steps=35, guidance_scale=6.0, negative_prompt=NEGATIVE,
             shift=10.0, scheduler=(("use_karras_sigmas", False),))
# Nano: 16 B (NVIDIA/cosmos README "Cosmos3-Nano | 16B", built on a dense 8B backbone: cosmos-framework args.py);
# Cosmos3OmniTransformer's class defaults are its layout (hidden 4096, 36 layers, 32 heads): 15.2 B on the meta
# device (benchmarks/gpu_matrix.py). Super: 64 B on a 32B backbone, hidden 5120 and 64 layers as the Qwen3-32B
# backbone its 64 query heads match (cosmos3.md; not confirmed). The VAE is Wan 2.2's (16x, 4x; 2x2 patches).
# Both ship a sound tokenizer (cosmos-framework Cosmos3-{Nano,Super}.yaml: sound_gen true, 48 kHz stereo).
# The fp8 weights are the same repositories' "fp8" revision (diffusers pipelines/cosmos/mixed_precision.py:
# "official Hub revision=fp8"; first and last 3 steps W8A16, the rest W8A8).
_NANO = Arch(15.2, 0.0, 0.7, 4096, 36, spatial=16, temporal=4, patch=(1, 2, 2))
_SUPER = Arch(64.0, 0.0, 0.7, 5120, 64, spatial=16, temporal=4, patch=(1, 2, 2))
for _name, _id, _arch in (("cosmos3-nano", "nvidia/Cosmos3-Nano", _NANO), ("cosmos3-super", "nvidia/Cosmos3-Super", _SUPER)):
    register(ModelSpec(name=_name, model_id=_id, modes=("t2v", "i2v", "v2v"), arch=_arch, card=_CARD,
                       **_RULES))  # type: ignore[arg-type]
    register(ModelSpec(name=f"{_name}-fp8", model_id=_id, revision="fp8", modes=("t2v", "i2v", "v2v"), arch=_arch,
                       card=_CARD, **_RULES))  # type: ignore[arg-type]


def base_mode(spec: ModelSpec, mode: str) -> str:
    return spec.modes[0]  # one pipeline class for every mode, over one checkpoint


def uses_cfg(take: Any) -> bool:
    return bool(take.guidance_scale != 1.0)  # Cosmos3OmniPipeline.do_classifier_free_guidance


def passes_per_step(take: Any) -> int:
    """One joint pass (picture and sound together), plus the unconditional one with guidance."""
    return 2 if uses_cfg(take) else 1


def steps_for(take: Any) -> int:
    return int(take.steps)


def schedule(pipe: Any, take: Any) -> dict[str, Any]:
    """What ``__call__`` passes to ``set_timesteps``: its own flow sigmas when the pipeline's config
    asks for the native schedule, else nothing."""
    if not pipe.config.use_native_flow_schedule:
        return {}
    n = int(take.steps)
    return {"sigmas": np.linspace(1.0 - 1.0 / pipe.scheduler.config.num_train_timesteps, 0.0, n + 1)[:-1]}


def encode_prompt(pipe: Any, prompt: str, negative: str, cfg: bool) -> dict[str, Any]:
    """The prompt as the pipeline takes it: text it tokenizes itself, with its templates."""
    return {"prompt": prompt, "negative_prompt": negative}


def encode_video(pipe: Any, video: np.ndarray) -> np.ndarray:
    """uint8 ``[N, T, H, W, 3]`` to normalised latents ``[N, C, F, h, w]``, the pipeline's own ``_encode_video``."""
    import torch

    from sorakit.backends._runtime import pixels

    with torch.no_grad():
        return pipe._encode_video(pixels(pipe.vae, video)).float().cpu().numpy()  # type: ignore[no-any-return]


def latent_grid(pipe: Any, take: Any) -> tuple[int, int, int, int, int]:
    t, s = pipe.vae_scale_factor_temporal, pipe.vae_scale_factor_spatial
    width, height = take.size
    return pipe.transformer.config.latent_channel, (take.n_frames - 1) // t + 1, height // s, width // s, t


def _picture_latent(pipe: Any, image: Any, take: Any) -> Any:
    """The picture's latent frame ``[C, h, w]`` as ``prepare_latents`` makes it: preprocessed by the
    pipeline module's own function and encoded alone (the VAE is causal: latent frame 0 sees only pixel frame 0)."""
    import torch
    from diffusers.pipelines.cosmos.pipeline_cosmos3_omni import _preprocess_conditioning_image

    from sorakit.backends._runtime import execution_device

    width, height = take.size
    frame = _preprocess_conditioning_image(image, height=height, width=width)
    frame = frame.to(device=execution_device(pipe.vae), dtype=torch.float32)  # _encode_video does not move it
    with torch.no_grad():
        return pipe._encode_video(frame.reshape(1, 3, 1, height, width))[0, :, 0].float().cpu()


def pack_noise(pipe: Any, noise: np.ndarray, take: Any, cond: Conditioning) -> Any:
    """Warped noise ``[C, F, h, w]`` as ``latents`` ``[1, C, F, h, w]``, with the picture's clean latent in
    frame 0 for image-to-world (the pipeline keeps that frame as it is given)."""
    import torch

    x = torch.from_numpy(np.array(noise, np.float32))
    if take.mode == "i2v" and cond.image is not None:
        x[:, 0] = _picture_latent(pipe, cond.image, take)
    return x[None]


def pack_step(pipe: Any, latents: np.ndarray, take: Any, cond: Conditioning) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(latents, np.float32))[None]


def load_parts(spec: ModelSpec, mode: str, dtype: Any) -> dict[str, Any]:
    """The pass-through safety checker (sorakit runs NVIDIA's guardrail around the call)."""
    return {"safety_checker": _guardrail.OFF}


_CONTEXT_GB = 0.8  # CUDA's own context beside the weights (as the estimate counts it)


def _weights_gb(spec: ModelSpec) -> float:
    """The checkpoint's weights on the GPU: the transformer in float8 for the fp8 revision, else bfloat16,
    and the VAE in bfloat16."""
    assert spec.arch is not None
    return (1 if spec.revision == "fp8" else 2) * spec.arch.transformer + 2 * spec.arch.vae


def preflight(spec: ModelSpec, take: Any, preset: Any) -> None:
    """Refuses, before anything loads, a GPU preset that cannot hold the checkpoint's weights (one
    transformer that is both reasoner and generator: model offload cannot split it, and a GPU too small
    for it has too little host RAM to stream it from), and says what fits: the fp8 revision, a GPU of
    the size it needs, or Predict2.5. What does not fit beyond the weights, the estimate warns of."""
    if spec.arch is None or preset.device != "cuda":
        return
    weights = _weights_gb(spec)
    if weights + _CONTEXT_GB <= preset.budget_gb:
        return
    kind = "float8" if spec.revision == "fp8" else "bfloat16"
    instead = []
    if spec.revision != "fp8" and f"{spec.name}-fp8" in MODELS:
        fp8 = _weights_gb(MODELS[f"{spec.name}-fp8"])
        instead.append(f"'{spec.name}-fp8' (about {fp8:.0f} GB in float8)"
                       + (" here" if fp8 + _CONTEXT_GB <= preset.budget_gb else f" on a GPU of more than {fp8:.0f} GB"))
    instead.append(f"a GPU of more than {weights:.0f} GB (memory='auto' there plans for all of it)")
    instead.append("'cosmos-predict2.5-2b', whose 2 B transformer is about 4 GB in bfloat16")
    raise InvalidInput(f"memory={preset.name!r}: {spec.name}'s weights alone are about {weights:.0f} GB in {kind}, "
                       f"more than the {preset.budget_gb:g} GB GPU preset '{preset.name}' plans for; use "
                       + ", or ".join(instead))


def call(pipe: Any, take: Any, cond: Conditioning, embeds: dict[str, Any], generator: Any,
         on_step_end: Callable[[int, Any], Any], latents: Any) -> Output:
    """Runs the omni pipeline; the sound comes back with the frames where the checkpoint makes it."""
    from PIL import Image

    from sorakit.backends._runtime import execution_device, float_frames, step_callback

    device = execution_device(pipe.transformer)
    _guardrail.check_prompt(take, embeds["prompt"], device)
    sound = pipe.sound_tokenizer is not None and bool(getattr(pipe.transformer.config, "sound_gen", False))
    width, height = take.size
    args: dict[str, Any] = dict(height=height, width=width, num_frames=take.n_frames, fps=float(take.rate),
                                num_inference_steps=take.steps, guidance_scale=take.guidance_scale,
                                enable_sound=sound, generator=generator, output_type="np",
                                enable_safety_check=False,  # the guardrail runs around the call (_guardrail)
                                callback_on_step_end=step_callback(on_step_end),
                                callback_on_step_end_tensor_inputs=["latents"], **embeds)
    if latents is not None:  # warped noise from the physics previz (the picture's latent in frame 0)
        args["latents"] = latents
    if take.mode == "i2v":
        args["image"] = cond.image
    elif take.mode == "v2v":  # continuation: the previz's first frames kept clean, the rest generated
        assert cond.video is not None
        args.update(video=[Image.fromarray(f) for f in cond.video], condition_frame_indexes_vision=list(CONDITION_FRAMES),
                    condition_video_keep="first")
    out = pipe(**args)
    frames = _guardrail.check_video(take, float_frames(out.video), device)
    if out.sound is None:
        return Output(frames, None, 0)
    audio = out.sound.float().cpu().numpy().astype(np.float32)
    return Output(frames, np.atleast_2d(audio), int(pipe.sound_tokenizer.config.sampling_rate))
