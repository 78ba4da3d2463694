"""Wan 2.1 1.3B (full-size architecture, random weights) on a GPU under sorakit's memory presets.

Speed and memory do not depend on the weights' values, so a random checkpoint built from the
real configs measures what a user would meet: seconds per denoising step and peak GPU memory
for 480x832, 33 frames, with classifier-free guidance, next to sorakit's own pre-run estimate.
The text encoder is a one-layer stand-in with the real width (4096): prompt encoding happens
once and is cached, so it does not touch the per-step figures.

    python benchmarks/gpu_wan.py [--presets a100,t4] [--steps 4] [--frames 33]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import traceback

import torch

import sorakit
from sorakit import models
from sorakit.backends import _runtime
from sorakit.tiny import wan as tiny_wan


def build(folder: str) -> None:
    import diffusers
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024).to(torch.bfloat16)
    vae = diffusers.AutoencoderKLWan()  # the defaults are Wan 2.1's VAE
    text = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=4096, d_kv=64, d_ff=10240, num_layers=1,
                                       num_heads=64)).to(torch.bfloat16)
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=3.0)
    pipe = diffusers.WanPipeline(tokenizer=tiny_wan.tokenizer(), text_encoder=text, transformer=transformer,
                                 vae=vae, scheduler=scheduler)
    pipe.save_pretrained(folder, safe_serialization=True)
    params = sum(p.numel() for p in transformer.parameters()) / 1e9
    print(f"built Wan 2.1 1.3B architecture: transformer {params:.2f} B parameters")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="a100,t4")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--frames", type=int, default=33)
    args = parser.parse_args()
    print(torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
    folder = tempfile.mkdtemp(prefix="wan13-random-")
    start = time.perf_counter()
    build(folder)
    print(f"build + save: {time.perf_counter() - start:.0f} s")
    real = models.get("wan2.1-t2v-1.3b")
    models.register(models.ModelSpec(**{**real.__dict__, "name": "wan13-random", "model_id": folder}))
    take = sorakit.Take(prompt="a basketball bounces off the backboard", model="wan13-random", steps=args.steps,
                        frames=args.frames, width=832, height=480, guidance_scale=5.0)
    for name in args.presets.split(","):
        preset = _runtime.PRESETS[name]
        est = _runtime.estimate(real, width=832, height=480, frames=args.frames, steps=args.steps, preset=preset)
        try:
            torch.cuda.reset_peak_memory_stats()
            stamps: list[float] = []
            t0 = time.perf_counter()
            clip = sorakit.generate(take.replace(memory=name), on_step=lambda s: stamps.append(time.perf_counter()))
            total = time.perf_counter() - t0
            per = statistics.median(b - a for a, b in zip(stamps, stamps[1:])) if len(stamps) > 1 else float("nan")
            peak = torch.cuda.max_memory_allocated() / 2**30
            print(f"preset {name}: {per:.2f} s/step (median after the first), peak {peak:.1f} GiB allocated, "
                  f"whole take incl. load {total:.0f} s, frames {clip.frames.shape}; "
                  f"estimate {est.seconds_per_step} s/step on the preset's GPU class, peak {est.peak_gb} GB")
        except Exception:  # report and go on to the next preset
            traceback.print_exc()
        _runtime.clear_cache()


if __name__ == "__main__":
    main()
