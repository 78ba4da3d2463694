"""The tiny random CogVideoX checkpoints: built, saved, loaded back offline and run for two steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sorakit import models
from sorakit.backends import cogvideox
from sorakit.tiny import cogvideox as tiny_cogvideox

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")

SIZE = dict(height=16, width=16)



def load(folder: Path, mode: str) -> Any:
    pipe = getattr(diffusers, tiny_cogvideox.PIPELINES[mode]).from_pretrained(folder, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(mode: str, seed: int = 0) -> dict[str, Any]:
    kw: dict[str, Any] = dict(prompt="a red ball bounces", negative_prompt="blurry", num_inference_steps=2,
                              guidance_scale=6.0, generator=torch.Generator().manual_seed(seed), output_type="np",
                              **SIZE)
    if mode == "i2v":
        kw["image"] = Image.new("RGB", (16, 16), (200, 40, 40))
    if mode == "v2v":
        kw["video"] = [Image.new("RGB", (16, 16), (20 * i, 40, 40)) for i in range(9)]
        kw["strength"] = 1.0  # int(steps * strength) steps run: 2 here
    else:
        kw["num_frames"] = 9
    return kw


@pytest.mark.parametrize("mode", ["t2v", "i2v", "v2v"])
def test_builds_loads_and_runs_deterministically(mode: str, tmp_path: Path) -> None:
    folder = tiny_cogvideox.build(tmp_path, mode)
    assert folder == tmp_path and (folder / "model_index.json").is_file()
    assert not list(folder.rglob("*.bin")) and list(folder.rglob("*.safetensors"))
    pipe = load(folder, mode)
    first = pipe(**inputs(mode)).frames
    assert isinstance(first, np.ndarray) and first.shape == (1, 9, 16, 16, 3) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(pipe(**inputs(mode)).frames, first)
    assert not np.array_equal(pipe(**inputs(mode, seed=1)).frames, first)


def test_build_is_deterministic_and_v2v_shares_the_t2v_weights(tmp_path: Path) -> None:
    assert cogvideox.base_mode(models.get("cogvideox-2b"), "v2v") == "t2v"
    a = tiny_cogvideox.build(tmp_path / "a", "t2v")
    b = tiny_cogvideox.build(tmp_path / "b", "v2v")
    for part in ("transformer", "vae", "text_encoder"):
        (fa,), (fb,) = (a / part).glob("*.safetensors"), (b / part).glob("*.safetensors")
        assert fa.read_bytes() == fb.read_bytes(), part
    v2v = load(a, "v2v")  # the t2v folder loads as the video-to-video pipeline
    assert v2v(**inputs("v2v")).frames.shape == (1, 9, 16, 16, 3)
    with pytest.raises(ValueError, match="identity"):
        tiny_cogvideox.build(tmp_path / "c", "identity")


def test_callback_sees_bfchw_latents_and_interrupt_stops_early(tmp_path: Path) -> None:
    pipe = load(tiny_cogvideox.build(tmp_path, "t2v"), "t2v")
    assert pipe._callback_tensor_inputs == ["latents", "prompt_embeds", "negative_prompt_embeds"]
    seen: list[tuple[int, tuple[int, ...]]] = []

    def stop_after_first(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        seen.append((i, tuple(kw["latents"].shape)))
        p._interrupt = True
        return kw

    out = pipe(**inputs("t2v"), callback_on_step_end=stop_after_first)
    assert seen == [(0, (1, 3, 4, 2, 2))]  # [B, latent frames (9 - 1) // 4 + 1, C, h, w], then no more steps
    assert out.frames.shape == (1, 9, 16, 16, 3)  # the partly denoised latents are still decoded


def test_cached_prompt_embeddings_give_the_same_video(tmp_path: Path) -> None:
    pipe = load(tiny_cogvideox.build(tmp_path, "t2v"), "t2v")
    with torch.no_grad():  # encode_prompt is not no_grad itself; outside it the result differs by ~1e-6
        pe, ne = pipe.encode_prompt("a red ball bounces", negative_prompt="blurry", do_classifier_free_guidance=True,
                                    device=pipe._execution_device)
    assert pe.shape == ne.shape == (1, tiny_cogvideox.TEXT_LENGTH, 32)
    kw = inputs("t2v")
    direct = pipe(**kw).frames
    del kw["prompt"], kw["negative_prompt"]
    kw["generator"] = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(pipe(**kw, prompt_embeds=pe, negative_prompt_embeds=ne).frames, direct)


def test_image_to_video_only_runs_at_its_built_size(tmp_path: Path) -> None:
    pipe = load(tiny_cogvideox.build(tmp_path, "i2v"), "i2v")
    kw = inputs("i2v") | dict(height=32, width=32, image=Image.new("RGB", (32, 32)))
    with pytest.raises(ValueError, match="different resolution"):
        pipe(**kw)
