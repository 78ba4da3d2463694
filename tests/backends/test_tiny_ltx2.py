"""The tiny random LTX-2 checkpoint: built, saved, loaded back offline by both mode classes, run for two
steps; and lip sync's audio front end, against librosa's mel and the audio latents the pipeline makes."""

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


# The audio front end lip sync encodes speech with, against librosa's mel spectrogram (an implementation
# apart from torchaudio's) at the parameters Lightricks' AudioProcessor uses: a 1024-point Hann FFT,
# centred with reflect padding, magnitude, Slaney mel scale and norm, 0 Hz to Nyquist.
def test_speech_mel_is_the_log_magnitude_slaney_mel_spectrogram(tmp_path: Path) -> None:
    librosa = pytest.importorskip("librosa")
    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    cfg = pipe.audio_vae.config
    rng = np.random.default_rng(0)
    t = np.arange(8000) / cfg.sample_rate
    wave = (0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)
    mel = ltx2.speech_mel(pipe, wave, cfg.sample_rate)
    assert mel.dtype == torch.float32 and mel.shape == (1, 2, 1 + wave.size // cfg.mel_hop_length, cfg.mel_bins)
    reference = librosa.feature.melspectrogram(y=wave, sr=cfg.sample_rate, n_fft=1024, hop_length=cfg.mel_hop_length,
                                               win_length=1024, window="hann", center=True, pad_mode="reflect",
                                               power=1.0, n_mels=cfg.mel_bins, fmin=0.0, fmax=cfg.sample_rate / 2,
                                               htk=False, norm="slaney")
    expected = np.log(np.maximum(reference, 1e-5)).T
    for channel in (0, 1):  # the speech in both channels
        np.testing.assert_allclose(mel[0, channel].numpy(), expected, atol=2e-3)
    # stereo is mixed to mono first, float64 is taken as float32, and another rate is resampled to the model's
    np.testing.assert_allclose(ltx2.speech_mel(pipe, np.stack([wave * 0.5, wave * 1.5]).astype(np.float64),
                                               cfg.sample_rate).numpy(), mel.numpy(), atol=1e-4)
    at_48k = np.sin(2 * np.pi * 440 * np.arange(24000) / 48000).astype(np.float32)
    at_16k = np.sin(2 * np.pi * 440 * np.arange(8000) / 16000).astype(np.float32)
    assert cfg.sample_rate == 16000
    resampled = ltx2.speech_mel(pipe, at_48k, 48000)
    assert resampled.shape == ltx2.speech_mel(pipe, at_16k, 16000).shape
    np.testing.assert_allclose(resampled[0, 0, 5:-5].numpy(), ltx2.speech_mel(pipe, at_16k, 16000)[0, 0, 5:-5].numpy(),
                               atol=0.05)


@pytest.mark.parametrize("frames, rate", [(9, 24.0), (17, 24.0), (9, 12.0), (25, 25.0)])
def test_audio_frames_are_the_audio_latents_the_pipeline_makes(tmp_path: Path, frames: int, rate: float,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    lengths: list[int] = []
    forward = type(pipe.transformer).forward

    def spy(module: Any, *args: Any, **kwargs: Any) -> Any:
        lengths.append(int(kwargs["audio_hidden_states"].shape[1]))  # packed [B, L, C·M]
        return forward(module, *args, **kwargs)

    monkeypatch.setattr(type(pipe.transformer), "forward", spy)
    pipe(**(inputs("LTX2Pipeline") | dict(num_frames=frames, frame_rate=rate, num_inference_steps=1)))
    assert set(lengths) == {ltx2.audio_frames(pipe, SimpleNamespace(n_frames=frames, rate=rate))}


def test_speech_reaches_the_mel_front_end_unshifted_and_padded_with_silence(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Stereo speech is mixed to mono, a clip's worth is kept from its first sample, silence fills
    the rest, and the audio VAE (in bfloat16 here, as on a GPU) gets the mel in its own dtype."""
    from types import SimpleNamespace

    pipe = load(tiny_ltx2.build(tmp_path), "LTX2Pipeline")
    take = SimpleNamespace(n_frames=9, rate=24.0)
    frames = ltx2.audio_frames(pipe, take)
    given: list[np.ndarray] = []
    mel = ltx2.speech_mel

    def keep(p: Any, audio: np.ndarray, rate: int) -> Any:
        given.append(np.array(audio))
        return mel(p, audio, rate)

    monkeypatch.setattr(ltx2, "speech_mel", keep)
    rng = np.random.default_rng(1)
    short = rng.standard_normal((2, 4000))  # float64 stereo, a quarter of the clip at 48 kHz
    latents = ltx2.encode_speech(pipe, short, 48000, take)
    assert latents.shape == (1, pipe.audio_vae.config.latent_channels, frames, latents.shape[-1])
    assert latents.dtype == torch.float32
    mono = given[-1]
    assert mono.dtype == np.float32 and mono.ndim == 1
    # the span the clip's audio latents cover, and the one mel hop more the causal encoder reads, no more
    cfg = pipe.audio_vae.config
    span = frames * pipe.audio_vae_temporal_compression_ratio * cfg.mel_hop_length / cfg.sample_rate
    hop = cfg.mel_hop_length / cfg.sample_rate
    assert (span + hop) * 48000 <= mono.size < (span + 1.5 * hop) * 48000
    np.testing.assert_allclose(mono[:4000], short.mean(0), atol=1e-6)
    assert not mono[4000:].any()
    long = rng.standard_normal(48000)  # longer than the clip: cut to the same length
    ltx2.encode_speech(pipe, long, 48000, take)
    assert given[-1].size == mono.size
    np.testing.assert_allclose(given[-1], long[:mono.size], atol=1e-6)
    pipe.audio_vae.to(torch.bfloat16)
    half = ltx2.encode_speech(pipe, short, 48000, take)
    assert half.dtype == torch.float32 and half.shape == latents.shape
    torch.testing.assert_close(half, latents, atol=0.1, rtol=0.1)
