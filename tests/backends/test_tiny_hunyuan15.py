"""The tiny random HunyuanVideo 1.5 checkpoints: built, saved, loaded back offline and run for two steps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from sorakit.tiny import hunyuan15 as tiny_hunyuan15

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")



def load(folder: Path, mode: str) -> Any:
    pipe = getattr(diffusers, tiny_hunyuan15.PIPELINES[mode]).from_pretrained(folder, use_safetensors=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def inputs(mode: str, seed: int = 0) -> dict[str, Any]:
    kw: dict[str, Any] = dict(prompt="a red ball bounces", negative_prompt="blurry", num_inference_steps=2,
                              num_frames=9, generator=torch.Generator().manual_seed(seed), output_type="np")
    if mode == "i2v":  # no height / width: the size is the target_size bucket nearest the image's aspect
        kw["image"] = Image.new("RGB", (16, 16), (200, 40, 40))
    else:
        kw.update(height=16, width=16)
    return kw


@pytest.mark.parametrize("mode", ["t2v", "i2v"])
def test_builds_loads_and_runs_deterministically(mode: str, tmp_path: Path) -> None:
    folder = tiny_hunyuan15.build(tmp_path, mode)
    assert folder == tmp_path and (folder / "model_index.json").is_file()
    assert not list(folder.rglob("*.bin")) and list(folder.rglob("*.safetensors"))
    pipe = load(folder, mode)
    assert pipe.guider.guidance_scale == 6.0 and pipe.guider.num_conditions == 2
    first = pipe(**inputs(mode)).frames
    assert isinstance(first, np.ndarray) and first.shape == (1, 9, 16, 16, 3) and first.dtype == np.float32
    assert 0.0 <= first.min() and first.max() <= 1.0
    np.testing.assert_array_equal(pipe(**inputs(mode)).frames, first)
    assert not np.array_equal(pipe(**inputs(mode, seed=1)).frames, first)


def test_progress_and_early_stop_without_a_callback(tmp_path: Path) -> None:
    """The pipeline has no step callback: wrap ``scheduler.step`` to see each step's latents and stop."""
    pipe = load(tiny_hunyuan15.build(tmp_path, "t2v"), "t2v")
    step = pipe.scheduler.step
    seen: list[tuple[int, tuple[int, ...]]] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        out = step(*args, **kwargs)
        seen.append((pipe._num_timesteps, tuple(out[0].shape)))
        pipe._interrupt = True  # the loop `continue`s past every remaining step
        return out

    pipe.scheduler.step = spy
    out = pipe(**inputs("t2v") | dict(num_inference_steps=4))
    assert seen == [(4, (1, 4, 3, 4, 4))]  # [B, C, latent frames (9 - 1) // 4 + 1, h, w]
    assert out.frames.shape == (1, 9, 16, 16, 3)  # the partly denoised latents are still decoded


def test_cached_prompt_embeddings_give_the_same_video(tmp_path: Path) -> None:
    pipe = load(tiny_hunyuan15.build(tmp_path, "t2v"), "t2v")
    device = pipe._execution_device
    with torch.no_grad():
        pos = pipe.encode_prompt("a red ball bounces", device=device)
        neg = pipe.encode_prompt("blurry", device=device)
    assert [tuple(t.shape) for t in pos] == [(1, 1000, 16), (1, 1000), (1, 256, 32), (1, 256)]
    names = ("prompt_embeds", "prompt_embeds_mask", "prompt_embeds_2", "prompt_embeds_mask_2")
    embeds = dict(zip(names, pos)) | {f"negative_{n}": t for n, t in zip(names, neg)}
    kw = inputs("t2v")
    direct = pipe(**kw).frames
    del kw["prompt"], kw["negative_prompt"]
    kw["generator"] = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(pipe(**kw, **embeds).frames, direct)


def test_image_to_video_size_follows_the_image_aspect(tmp_path: Path) -> None:
    pipe = load(tiny_hunyuan15.build(tmp_path, "i2v"), "i2v")
    kw = inputs("i2v") | dict(image=Image.new("RGB", (32, 18)), num_frames=5)
    assert pipe(**kw).frames.shape == (1, 5, 12, 20, 3)  # the 16:9-ish bucket of area ~ TARGET_SIZE ** 2


def test_the_family_encodes_prompts_in_the_transformer_s_dtype(tmp_path: Path) -> None:
    """The pipelines' ``encode_prompt`` casts to the text encoder's dtype unless told; the family asks
    for the transformer's, which the denoising loop feeds it (a bfloat16 transformer beside a float32
    text encoder gets bfloat16 embeddings, both prompts, both encoders)."""
    from sorakit.backends import hunyuan15

    pipe = load(tiny_hunyuan15.build(tmp_path, "t2v"), "t2v")
    pipe.transformer.to(torch.bfloat16)
    assert pipe.text_encoder.dtype == torch.float32
    with torch.no_grad():
        embeds = hunyuan15.encode_prompt(pipe, "a red ball bounces", "blurry", cfg=True)
        alone = hunyuan15.encode_prompt(pipe, "a red ball bounces", "blurry", cfg=False)
    assert len(embeds) == 8 and {t.dtype for t in embeds.values()} == {torch.bfloat16}
    assert alone.keys() == {k for k in embeds if not k.startswith("negative_")}
    direct = pipe.encode_prompt(prompt="blurry")
    assert direct[0].dtype == torch.float32  # what the pipeline alone would give
    torch.testing.assert_close(embeds["negative_prompt_embeds"], direct[0].to(torch.bfloat16))
