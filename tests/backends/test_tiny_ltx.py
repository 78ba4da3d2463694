"""The tiny random LTX-Video checkpoint: built, saved, loaded back offline by every mode class, run for two steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sorakit.backends import ltx
from sorakit.tiny import ltx as tiny_ltx

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

SIZE = dict(height=32, width=32, num_frames=9)  # 9 = 8k+1 frames, sides a multiple of 32



def load(folder: Path, name: str) -> Any:
    pipe = getattr(diffusers, name).from_pretrained(folder, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(name: str, seed: int = 0) -> dict[str, Any]:
    kw: dict[str, Any] = dict(prompt="a robot dance", negative_prompt="", num_inference_steps=2, guidance_scale=3.0,
                              max_sequence_length=16, generator=torch.Generator().manual_seed(seed),
                              output_type="np", **SIZE)
    if name != "LTXPipeline":  # image to video, and the condition pipeline's shorthand for a frame-0 condition
        kw["image"] = Image.new("RGB", (32, 32), (200, 40, 40))
    return kw


@pytest.mark.parametrize("name", tuple(ltx.PIPELINES.values()))
def test_builds_loads_and_runs_deterministically(name: str, tmp_path: Path) -> None:
    folder = tiny_ltx.build(tmp_path)
    assert folder == tmp_path and (folder / "model_index.json").is_file()
    assert not list(folder.rglob("*.bin")) and list(folder.rglob("*.safetensors"))
    pipe = load(folder, name)
    assert type(pipe).__name__ == name
    first = pipe(**inputs(name)).frames
    assert isinstance(first, np.ndarray) and first.shape == (1, 9, 32, 32, 3) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(pipe(**inputs(name)).frames, first)
    assert not np.array_equal(pipe(**inputs(name, seed=1)).frames, first)


def test_condition_pipeline_takes_ltx_video_conditions(tmp_path: Path) -> None:
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    pipe = load(tiny_ltx.build(tmp_path), "LTXConditionPipeline")
    kw = inputs("LTXConditionPipeline")
    shorthand = pipe(**kw).frames
    condition = LTXVideoCondition(image=kw.pop("image"), frame_index=0, strength=1.0)
    kw["generator"] = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(pipe(**kw, conditions=[condition]).frames, shorthand)


def test_callback_sees_packed_latents_and_interrupt_stops_early(tmp_path: Path) -> None:
    pipe = load(tiny_ltx.build(tmp_path), "LTXPipeline")
    assert pipe._callback_tensor_inputs == ["latents", "prompt_embeds", "negative_prompt_embeds"]
    assert (pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio) == (4, 4)
    seen: list[tuple[int, tuple[int, ...], tuple[int, ...]]] = []

    def stop_after_first(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        video = p._unpack_latents(kw["latents"], 3, 8, 8, p.transformer_spatial_patch_size,
                                  p.transformer_temporal_patch_size)
        seen.append((i, tuple(kw["latents"].shape), tuple(video.shape)))
        p._interrupt = True
        return kw

    out = pipe(**inputs("LTXPipeline"), callback_on_step_end=stop_after_first)
    assert seen == [(0, (1, 3 * 8 * 8, 8), (1, 8, 3, 8, 8))]  # [B, F*H*W, C] unpacks to [B, C, F, H, W]
    assert out.frames.shape == (1, 9, 32, 32, 3)  # the loop skips the other steps; the latents are still decoded


def test_image_latents_are_the_normalised_vae_latents(tmp_path: Path) -> None:
    pipe = load(tiny_ltx.build(tmp_path), "LTXImageToVideoPipeline")
    kw = inputs("LTXImageToVideoPipeline")
    pixels = pipe.video_processor.preprocess(kw["image"], height=32, width=32).unsqueeze(2)  # [1, 3, 1, H, W]
    with torch.no_grad():  # the pipeline samples the posterior with the generator before drawing the noise
        sample = pipe.vae.encode(pixels).latent_dist.sample(torch.Generator().manual_seed(0))
    expected = pipe._normalize_latents(sample, pipe.vae.latents_mean, pipe.vae.latents_std)
    first: list[Any] = []

    def keep(p: Any, i: int, t: Any, cb: dict[str, Any]) -> dict[str, Any]:
        first.append(p._unpack_latents(cb["latents"], 3, 8, 8)[:, :, :1])
        return cb

    pipe(**kw, callback_on_step_end=keep)
    torch.testing.assert_close(first[-1], expected)  # frame 0 stays the clean image latent


def test_cached_prompt_embeddings_give_the_same_video(tmp_path: Path) -> None:
    pipe = load(tiny_ltx.build(tmp_path), "LTXPipeline")
    with torch.no_grad():
        pe, pm, ne, nm = pipe.encode_prompt("a robot dance", negative_prompt="", do_classifier_free_guidance=True,
                                            max_sequence_length=16, device=pipe._execution_device)
    assert pe.shape == ne.shape == (1, 16, 32) and pm.shape == nm.shape == (1, 16) and pm.dtype == torch.bool
    kw = inputs("LTXPipeline")
    direct = pipe(**kw).frames
    del kw["prompt"], kw["negative_prompt"]
    kw["generator"] = torch.Generator().manual_seed(0)
    cached = pipe(**kw, prompt_embeds=pe, prompt_attention_mask=pm, negative_prompt_embeds=ne,
                  negative_prompt_attention_mask=nm).frames
    np.testing.assert_allclose(cached, direct, atol=1e-5)


def test_frame_and_size_rules(tmp_path: Path) -> None:
    pipe = load(tiny_ltx.build(tmp_path), "LTXPipeline")
    kw = inputs("LTXPipeline") | dict(num_inference_steps=1, num_frames=12)
    assert pipe(**kw).frames.shape[1] == 9  # rounded down to k * 4 + 1 (8k+1 for the real VAE)
    with pytest.raises(ValueError, match="divisible by 32"):
        pipe(**(kw | dict(height=48)))
