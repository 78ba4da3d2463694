"""The tiny random LTX-2 checkpoint: built, saved, loaded back offline by both mode classes, run for two steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sorakit.backends import ltx2
from sorakit.tiny import ltx2 as tiny_ltx2

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

SIZE = dict(height=32, width=32, num_frames=9, frame_rate=24.0)



def load(folder: Path, name: str) -> Any:
    pipe = getattr(diffusers, name).from_pretrained(folder, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(name: str, seed: int = 0) -> dict[str, Any]:
    """The pipeline's own guidance defaults (CFG 3, audio CFG 7, STG, modality guidance) with a short prompt."""
    kw: dict[str, Any] = dict(prompt="a robot dancing", negative_prompt="", num_inference_steps=2,
                              max_sequence_length=16, generator=torch.Generator().manual_seed(seed),
                              output_type="np", **SIZE)
    if name == "LTX2ImageToVideoPipeline":
        kw["image"] = Image.new("RGB", (32, 32), (200, 40, 40))  # a PIL image: the default CRF re-encode needs one
    return kw


def audio_samples(pipe: Any, num_frames: int, frame_rate: float) -> int:
    """Audio latents cover the requested duration; the audio VAE trims the causal mel frames; the vocoder upsamples."""
    latents = round(num_frames / frame_rate * pipe.audio_sampling_rate / pipe.audio_hop_length
                    / pipe.audio_vae_temporal_compression_ratio)
    mel = latents * pipe.audio_vae_temporal_compression_ratio - (pipe.audio_vae_temporal_compression_ratio - 1)
    return int(mel * pipe.vocoder.total_upsample_factor)


@pytest.mark.parametrize("name", tuple(ltx2.PIPELINES.values()))
def test_builds_loads_and_runs_deterministically(name: str, tmp_path: Path) -> None:
    folder = tiny_ltx2.build(tmp_path)
    assert folder == tmp_path and (folder / "model_index.json").is_file()
    assert not list(folder.rglob("*.bin")) and list(folder.rglob("*.safetensors"))
    pipe = load(folder, name)
    assert type(pipe).__name__ == name
    out = pipe(**inputs(name))
    frames, audio = out.frames, out.audio
    assert isinstance(frames, np.ndarray) and frames.shape == (1, 9, 32, 32, 3) and frames.dtype == np.float32
    assert 0.0 <= frames.min() and frames.max() <= 1.0
    # the audio stays a torch tensor [B, channels, samples] whatever output_type says
    assert isinstance(audio, torch.Tensor) and audio.dtype == torch.float32
    assert audio.shape == (1, 2, audio_samples(pipe, 9, 24.0)) == (1, 2, 5280)
    assert pipe.vocoder.config.output_sampling_rate == 16000 == pipe.audio_sampling_rate
    assert abs(audio.shape[-1] / 16000 - 9 / 24.0) < 0.05  # as long as the video, to a few mel hops
    again = pipe(**inputs(name))
    np.testing.assert_array_equal(again.frames, frames)
    torch.testing.assert_close(again.audio, audio, rtol=0, atol=0)
    assert not np.array_equal(pipe(**inputs(name, seed=1)).frames, frames)


def test_callback_sees_packed_latents_and_interrupt_stops_early(tmp_path: Path) -> None:
    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    assert pipe._callback_tensor_inputs == ["latents", "prompt_embeds", "negative_prompt_embeds"]
    assert (pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio) == (4, 4)
    seen: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def stop_after_first(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        video = p._unpack_latents(kw["latents"], 3, 8, 8, p.transformer_spatial_patch_size,
                                  p.transformer_temporal_patch_size)
        seen.append((i, tuple(kw["latents"].shape), tuple(video.shape)))
        p._interrupt = True
        return kw

    out = pipe(**inputs("LTX2Pipeline"), callback_on_step_end=stop_after_first)
    assert seen == [(0, (1, 3 * 8 * 8, 4), (1, 4, 3, 8, 8))]  # [B, F*H*W, C] unpacks to [B, C, F, H, W]
    assert out.frames.shape == (1, 9, 32, 32, 3) and out.audio.shape == (1, 2, 5280)  # still decoded


def test_image_latents_are_the_normalised_vae_latents(tmp_path: Path) -> None:
    pipe = load(tiny_ltx2.build(tmp_path), "LTX2ImageToVideoPipeline")
    kw = inputs("LTX2ImageToVideoPipeline") | dict(image_crf=0)  # no H.264 round trip: the pixels as given
    pixels = pipe.video_processor.preprocess(kw["image"], height=32, width=32).unsqueeze(2)  # [1, 3, 1, H, W]
    with torch.no_grad():
        mode = pipe.vae.encode(pixels).latent_dist.mode()  # LTX-2 takes the posterior's mode, not a sample
    expected = pipe._normalize_latents(mode, pipe.vae.latents_mean, pipe.vae.latents_std)
    first: list[Any] = []

    def keep(p: Any, i: int, t: Any, cb: dict[str, Any]) -> dict[str, Any]:
        first.append(p._unpack_latents(cb["latents"], 3, 8, 8)[:, :, :1])
        return cb

    pipe(**kw, callback_on_step_end=keep)
    torch.testing.assert_close(first[-1], expected)  # frame 0 stays the clean image latent


def test_cached_prompt_embeddings_give_the_same_video_and_audio(tmp_path: Path) -> None:
    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    with torch.no_grad():
        pe, pm, ne, nm = pipe.encode_prompt("a robot dancing", negative_prompt="", do_classifier_free_guidance=True,
                                            max_sequence_length=16, device=pipe._execution_device)
    # every Gemma hidden state (embeddings + 2 layers) of width 32, stacked: the connectors project them
    assert pe.shape == ne.shape == (1, 16, 32 * 3) and pm.shape == nm.shape == (1, 16)
    kw = inputs("LTX2Pipeline")
    direct = pipe(**kw)
    del kw["prompt"], kw["negative_prompt"]
    kw["generator"] = torch.Generator().manual_seed(0)
    cached = pipe(**kw, prompt_embeds=pe, prompt_attention_mask=pm, negative_prompt_embeds=ne,
                  negative_prompt_attention_mask=nm)
    np.testing.assert_allclose(cached.frames, direct.frames, atol=1e-5)
    torch.testing.assert_close(cached.audio, direct.audio, atol=1e-5, rtol=0)


def test_frame_and_size_rules(tmp_path: Path) -> None:
    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    kw = inputs("LTX2Pipeline") | dict(num_inference_steps=1, num_frames=12)
    out = pipe(**kw)
    assert out.frames.shape[1] == 9  # rounded down to k * 4 + 1 (8k+1 for the real VAE) ...
    assert out.audio.shape[-1] == audio_samples(pipe, 12, 24.0) > 5280  # ... but the audio follows the 12 asked
    with pytest.raises(ValueError, match="divisible by 32"):
        pipe(**(kw | dict(height=48)))
