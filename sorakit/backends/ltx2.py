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

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from sorakit.backends import ltx
from sorakit.backends.contract import Conditioning, Output
# the same VAE layout, normalisation and packing
from sorakit.backends.ltx import encode_video, latent_grid, latents_for_preview, with_first_frame, working_size
from sorakit.models import Arch, Card, Fast, ModelSpec, register
from sorakit.models import knobs as card_knobs

__all__ = ["PIPELINES", "FLOAT32", "MAX_SEQUENCE_LENGTH", "N_FFT", "base_mode", "PIPELINE_SCALES", "scales",
           "uses_cfg", "passes_per_step", "steps_for", "schedule", "encode_prompt", "encode_video",
           "latents_for_preview", "working_size", "latent_grid", "pack_noise", "pack_step", "speech_mel",
           "encode_speech", "hold_audio", "call"]

PIPELINES = {"t2v": "LTX2Pipeline", "i2v": "LTX2ImageToVideoPipeline"}
FLOAT32: tuple[str, ...] = ()  # bfloat16 throughout (LTX2Pipeline's EXAMPLE_DOC_STRING)

# LTX-2.0's own defaults: Lightricks/LTX-2 packages/ltx-pipelines/src/ltx_pipelines/utils/constants.py,
# LTX_2_PARAMS ("Default params for LTX-2.0 non-distilled models"): stage-1 size 768x512, 121 frames at
# 24 fps, 40 steps; video guider cfg 3.0, stg 1.0, rescale 0.7, modality 3.0; audio guider cfg 7.0,
# stg 1.0, rescale 0.7, modality 3.0; STG blocks [29]. diffusers' transformer_ltx2.py docstring:
# use_cross_timestep "False is the legacy LTX-2.0 behavior". The negative prompt is LTX2Pipeline's
# EXAMPLE_DOC_STRING's. Time-to-Move (3, 7) at 50 steps: the paper gives no LTX-2 pair; this is its Wan
# cut-and-drag pair (both flow-matching), untuned on LTX-2's real weights.
# speed="fast": the distilled LTX-2 checkpoint as diffusers' LTX-2 docs run it ("Distilled checkpoint
# generation", docs/source/en/api/pipelines/ltx2.md: rootonchair/LTX-2-19b-distilled, a diffusers-format
# copy of Lightricks' ltx-2-19b-distilled, used there): 8 steps at DISTILLED_SIGMA_VALUES
# (diffusers.pipelines.ltx2.utils, from Lightricks/LTX-2 ltx-pipelines constants.py), guidance 1.0. Its
# sigmas are used as they are (Lightricks' distilled.py applies no shift), so the scheduler's dynamic
# shifting is off, as the docs' stage 2 sets it; the distilled pipeline runs no guider, so STG and
# modality guidance are off and the audio guidance is 1.0: one forward pass a step.
DISTILLED_SIGMAS = (1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875)
FAST = Fast(steps=8, guidance_scale=1.0, model_id="rootonchair/LTX-2-19b-distilled",
            knobs=(("sigmas", DISTILLED_SIGMAS), ("audio_guidance_scale", 1.0), ("stg_scale", 0.0),
                   ("audio_stg_scale", 0.0), ("modality_scale", 1.0), ("audio_modality_scale", 1.0)),
            scheduler=(("use_dynamic_shifting", False), ("shift_terminal", None)),
            source="diffusers' LTX-2 docs, distilled checkpoint generation; sigmas of Lightricks' ltx-pipelines")
register(ModelSpec(name="ltx-2", backend="diffusers", family="ltx2", model_id="Lightricks/LTX-2",
                   modes=("t2v", "i2v"), size_multiple=32, frame_rule=(8, 1), max_frames=257, min_size=128,
                   max_size=1920, joint_audio=True, lip_sync=True,
                   arch=Arch(18.9, 12.0, 1.2, 4096, 48, spatial=32, temporal=8, patch=(1, 1, 1)),
                   card=Card(width=768, height=512, frames=121, fps=24, steps=40, guidance_scale=3.0,
                             negative_prompt=ltx.NEGATIVE, ttm=(3, 7),
                             knobs=(("stg_scale", 1.0), ("modality_scale", 3.0), ("guidance_rescale", 0.7),
                                    ("audio_guidance_scale", 7.0), ("audio_stg_scale", 1.0),
                                    ("audio_modality_scale", 3.0), ("audio_guidance_rescale", 0.7),
                                    ("spatio_temporal_guidance_blocks", (29,)), ("use_cross_timestep", False)),
                             fast=FAST)))

MAX_SEQUENCE_LENGTH = 1024  # the pipelines' default


def base_mode(spec: ModelSpec, mode: str) -> str:
    return "t2v" if "t2v" in spec.modes else mode


def _knobs(take: Any) -> dict[str, Any]:
    knobs = card_knobs(take)  # the card's, or the fast variant's over them
    for key in ("spatio_temporal_guidance_blocks", "sigmas"):  # the pipelines take lists
        if key in knobs:
            knobs[key] = list(knobs[key])
    return knobs


# The guidance scales LTX2Pipeline and LTX2ImageToVideoPipeline run with when a knob is not passed (their
# ``__call__`` signatures; the docstrings' "defaults to None" are stale), and their fallbacks
# ``audio_x = audio_x or x`` (``__call__``, before ``check_inputs``).
PIPELINE_SCALES = {"stg_scale": 1.0, "modality_scale": 3.0, "audio_guidance_scale": 7.0, "audio_stg_scale": 1.0,
                   "audio_modality_scale": 3.0}


def scales(take: Any) -> dict[str, float]:
    """The guidance scales the pipeline runs ``take`` with: the Take's guidance, the card's knobs (or
    the fast variant's), the pipeline's defaults for the rest, and the audio ones falling back to the video's."""
    given = {**PIPELINE_SCALES, **{k: v for k, v in _knobs(take).items() if k in PIPELINE_SCALES}}
    out = {"guidance_scale": float(take.guidance_scale), "stg_scale": float(given["stg_scale"]),
           "modality_scale": float(given["modality_scale"])}
    for name in ("guidance_scale", "stg_scale", "modality_scale"):
        out[f"audio_{name}"] = float(given[f"audio_{name}"] or out[name])
    return out


def uses_cfg(take: Any) -> bool:
    """Classifier-free guidance runs when the video or the audio guidance scale is above 1
    (LTX2Pipeline.do_classifier_free_guidance)."""
    s = scales(take)
    return s["guidance_scale"] > 1.0 or s["audio_guidance_scale"] > 1.0


def passes_per_step(take: Any) -> int:
    """Forward passes a step, as LTX2Pipeline's loop runs them: conditional, plus unconditional with
    guidance, plus a perturbed pass with spatio-temporal guidance, plus a modality-isolated pass
    (its ``do_spatio_temporal_guidance`` and ``do_modality_isolation_guidance``). LTX-2.0's card runs all four."""
    s = scales(take)
    stg = s["stg_scale"] > 0.0 or s["audio_stg_scale"] > 0.0
    modality = s["modality_scale"] > 1.0 or s["audio_modality_scale"] > 1.0
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


# The audio VAE's front end, as Lightricks' reference builds it for the encoder (ltx-core's
# AudioProcessor, created with sample_rate=16000, mel_bins=64, mel_hop_length=160, n_fft=1024):
# torchaudio's MelSpectrogram with win_length=n_fft, a Hann window, f_min 0, f_max at Nyquist,
# centred with reflect padding, magnitude (power 1), Slaney mel scale and norm; then
# log(clamp(mel, 1e-5)), laid out [B, channels, frames, mel bins] (stereo: the encoder's
# in_channels is 2). diffusers 0.42.1 has the encoder but not this front end; the config gives the
# rate, hop and bins, the FFT size is not in it.
N_FFT = 1024


def speech_mel(pipe: Any, audio: np.ndarray, rate: int) -> Any:
    """``audio`` (mono ``[samples]`` or ``[channels, samples]`` at ``rate``) as the log-mel
    spectrogram LTX-2's audio VAE encodes: float32 ``[1, 2, frames, mel_bins]``."""
    import torch

    try:
        import torchaudio
    except ImportError as exc:
        from sorakit.errors import MissingPackage

        raise MissingPackage("lip sync on LTX-2 encodes the speech with torchaudio's mel front end: "
                             "pip install torchaudio (the build that matches your torch)") from exc
    cfg = pipe.audio_vae.config
    wave = torch.from_numpy(np.atleast_2d(np.asarray(audio, np.float32)))
    wave = wave.mean(0, keepdim=True).expand(2, -1)  # the speech in both channels
    if rate != cfg.sample_rate:
        wave = torchaudio.functional.resample(wave, rate, cfg.sample_rate)
    to_mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=cfg.sample_rate, n_fft=N_FFT, win_length=N_FFT, hop_length=cfg.mel_hop_length, f_min=0.0,
        f_max=cfg.sample_rate / 2.0, n_mels=cfg.mel_bins, window_fn=torch.hann_window, center=True,
        pad_mode="reflect", power=1.0, mel_scale="slaney", norm="slaney")
    mel = torch.log(torch.clamp(to_mel(wave), min=1e-5))  # [2, mel_bins, frames]
    return mel.transpose(1, 2)[None].contiguous()


def audio_frames(pipe: Any, take: Any) -> int:
    """The audio latent frames the LTX-2 pipelines make for ``take``: ``round(duration * rate / hop / 4)``
    with the duration ``num_frames / frame_rate`` (LTX2Pipeline.__call__, step 4)."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return int(round(take.n_frames / float(take.rate) * per_second))


def encode_speech(pipe: Any, audio: np.ndarray, rate: int, take: Any) -> Any:
    """The speech as LTX-2's raw (not normalised) audio latents ``[1, C, L, M]``, ``L`` the clip's
    audio latent frames: what the pipelines take as ``audio_latents`` (they normalise and pack them).

    The speech is padded with silence (or cut) to the clip's length and encoded whole; the
    encoder's distribution is read at its mode, the latent of that exact sound.
    """
    import torch

    frames = audio_frames(pipe, take)
    cfg = pipe.audio_vae.config
    mono = np.asarray(audio, np.float32)
    mono = mono.mean(0) if mono.ndim == 2 else mono
    need = int(np.ceil((frames * pipe.audio_vae_temporal_compression_ratio + 1) * cfg.mel_hop_length * rate
                       / cfg.sample_rate))
    mono = np.pad(mono, (0, max(0, need - mono.size)))[:need]
    vae = pipe.audio_vae
    with torch.no_grad():
        z = vae.encode(speech_mel(pipe, mono, rate).to(vae.device, vae.dtype)).latent_dist.mode()
    return z[:, :, :frames].float().cpu()


@contextlib.contextmanager
def hold_audio(pipe: Any) -> Iterator[None]:
    """For one call, the audio latents the pipeline is given stay clean: at sigma 0 for the
    transformer and untouched by the audio scheduler's step, so the picture is made to the sound.

    This is what LTX2DFRPipeline's ``freeze_audio=True`` does (its loop passes
    ``audio_timestep = audio_sigma = 0`` and skips the audio Euler step), done on LTX2Pipeline and
    LTX2ImageToVideoPipeline, which lack the flag: the transformer's ``forward`` gets
    ``audio_timestep`` and ``audio_sigma`` of 0 on every pass (conditional, unconditional,
    perturbed, modality-isolated), and the audio scheduler, a deep copy of the video one made
    inside the call, is of a subclass whose ``step`` returns the sample it was given. The video
    scheduler (``pipe.scheduler`` itself) steps as before. Pass the speech with ``noise_scale``
    0 (the default), so the latents start clean.
    """
    import torch

    transformer, scheduler = pipe.transformer, pipe.scheduler
    base = type(scheduler)
    had_forward = "forward" in vars(transformer)
    forward = transformer.forward

    def clean_forward(*args: Any, **kwargs: Any) -> Any:
        t = kwargs.get("timestep")
        if t is not None:
            zero = torch.zeros(t.shape[0], device=t.device, dtype=t.dtype)
            kwargs["audio_timestep"], kwargs["audio_sigma"] = zero, zero
        return forward(*args, **kwargs)

    def step(self: Any, model_output: Any, timestep: Any, sample: Any, *args: Any, **kwargs: Any) -> Any:
        out = base.step(self, model_output, timestep, sample, *args, **kwargs)
        if self is scheduler:
            return out
        return (sample,) if not kwargs.get("return_dict", True) else type(out)(prev_sample=sample)

    functools.update_wrapper(step, base.step)
    transformer.forward = clean_forward
    scheduler.__class__ = type(base.__name__, (base,), {"step": step, "__module__": base.__module__})
    try:
        yield
    finally:
        scheduler.__class__ = base
        if had_forward:
            transformer.forward = forward
        else:
            del transformer.forward


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
    if cond.speech is not None:  # lip sync: the picture is made to the lines, held clean
        args["audio_latents"] = encode_speech(pipe, cond.speech[0], cond.speech[1], take)
        with hold_audio(pipe):
            out = pipe(**args)
    else:
        out = pipe(**args)
    audio = out.audio[0] if hasattr(out.audio, "ndim") and out.audio.ndim == 3 else out.audio
    audio = audio.float().cpu().numpy() if hasattr(audio, "cpu") else np.asarray(audio, np.float32)
    return Output(float_frames(out.frames), audio.astype(np.float32), int(pipe.vocoder.config.output_sampling_rate))
