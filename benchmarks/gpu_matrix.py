"""Every family at full size, random weights, under every memory preset that fits: s/step, peak GPU
memory and peak host RAM, and the behaviour checks, on whatever GPU this runs on.

Speed and memory do not depend on the weights' values, so a checkpoint built from the real
architecture with random weights measures what a user meets. Each family's transformer and VAE
are built from diffusers' class defaults (which are the released checkpoints' configs; the
parameter counts printed first show it) or the released config's few differing numbers; the text
encoder is a one-layer stand-in of the real width (prompt encoding runs once and is cached, so it
does not touch the per-step figures; the real one's size is in the estimate). Each (model, preset)
runs in its own process, so its peak host RAM (ru_maxrss) is its own.

Without a GPU it prints what can be had on a CPU: the parameter counts of every family's full-size
transformer and VAE on the meta device against the registry's ``Arch`` figures, and the estimate for
each preset; then the behaviour checks on the tiny checkpoints (``pytest tests/backends/test_behaviour.py``).

    python benchmarks/gpu_matrix.py [--models wan2.1-t2v-1.3b,ltx-video] [--presets a100,l4,t4] [--steps 4]

Families built at full size for a GPU run: Wan 2.1 (1.3B, 14B), LTX-Video, CogVideoX (2B, 5B).
LTX-2 (Gemma 3 text encoder, audio VAE and vocoder), HunyuanVideo 1.5 (Qwen2.5-VL and ByT5 text
encoders), Cosmos-Predict2.5 (Qwen2.5-VL) and Cosmos3-Nano (its Wan 2.2 VAE and sound tokenizer) get
the meta-device count and the estimate only: their stand-in stacks are not built yet. (The VAE count
printed for Cosmos3 is the Wan 2.1 class default's, not its Wan 2.2 VAE's.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch

import sorakit
from sorakit import models
from sorakit.backends import _runtime, family

# model -> (transformer class, config overrides of the class defaults, VAE class, text width)
FULL: dict[str, tuple[str, dict[str, Any], str, int]] = {
    # Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json: 12 heads x 128, ffn 8960, 30 layers
    "wan2.1-t2v-1.3b": ("WanTransformer3DModel", dict(num_attention_heads=12, ffn_dim=8960, num_layers=30),
                        "AutoencoderKLWan", 4096),
    "wan2.1-t2v-14b": ("WanTransformer3DModel", {}, "AutoencoderKLWan", 4096),  # the class defaults are 14B's
    "ltx-video": ("LTXVideoTransformer3DModel", {}, "AutoencoderKLLTXVideo", 4096),
    "cogvideox-2b": ("CogVideoXTransformer3DModel", {}, "AutoencoderKLCogVideoX", 4096),
    # THUDM/CogVideoX-5b transformer/config.json: 48 heads x 64, 42 layers, rotary embeddings
    "cogvideox-5b": ("CogVideoXTransformer3DModel", dict(num_attention_heads=48, num_layers=42,
                                                         use_rotary_positional_embeddings=True),
                     "AutoencoderKLCogVideoX", 4096),
    "ltx-2": ("LTX2VideoTransformer3DModel", {}, "AutoencoderKLLTX2Video", 0),
    "hunyuanvideo1.5-480p-t2v": ("HunyuanVideo15Transformer3DModel", {}, "AutoencoderKLHunyuanVideo15", 0),
    # Cosmos-Predict2.5-2B: the 2.5 layout (16 heads x 128, 28 blocks, the condition-mask channel, Qwen2.5-VL-7B's
    # 28 hidden states of 3584 concatenated and projected to 1024; the class defaults are Cosmos 1.0's 7B).
    "cosmos-predict2.5-2b": ("CosmosTransformer3DModel", dict(
        in_channels=17, out_channels=16, num_attention_heads=16, attention_head_dim=128, num_layers=28,
        text_embed_dim=1024, max_size=(128, 240, 240), patch_size=(1, 2, 2), rope_scale=(1.0, 3.0, 3.0),
        concat_padding_mask=True, extra_pos_embed_type=None, use_crossattn_projection=True,
        crossattn_proj_in_channels=3584 * 28, encoder_hidden_states_channels=1024), "AutoencoderKLWan", 0),
    # Cosmos3-Nano: the class defaults are its layout (hidden 4096, 36 layers, 32 heads), with its sound head.
    "cosmos3-nano": ("Cosmos3OmniTransformer", dict(sound_gen=True, sound_dim=64, sound_latent_fps=25.0),
                     "AutoencoderKLWan", 0),
}


def counts() -> None:
    """Parameter counts of each full-size transformer and VAE, built on the meta device (no memory)."""
    import diffusers
    from accelerate import init_empty_weights

    print("full-size architectures on the meta device (billions of parameters) against the registry's Arch:")
    for name, (tcls, over, vcls, _) in FULL.items():
        with init_empty_weights():
            t = getattr(diffusers, tcls)(**over)
            v = getattr(diffusers, vcls)()
        arch = models.get(name).arch
        assert arch is not None
        nt, nv = (sum(p.numel() for p in m.parameters()) / 1e9 for m in (t, v))
        print(f"  {name:26s} transformer {nt:6.2f} (Arch {arch.transformer:5.2f})  VAE {nv:5.2f} (Arch {arch.vae:4.2f})")


def estimates(presets: list[str], steps: int) -> None:
    print(f"\nsorakit's estimate at each card's size, {steps} steps (peak GB / s per step on the preset's GPU class):")
    for name in FULL:
        take = sorakit.Take(model=name, prompt="a ball", steps=steps).resolved()
        spec, fam = models.get(name), family(models.get(name).family)
        row = []
        for p in presets:
            e = _runtime.estimate(spec, width=take.size[0], height=take.size[1], frames=take.n_frames, steps=steps,
                                  preset=_runtime.PRESETS[p], passes=fam.passes_per_step(take))
            row.append(f"{p} {e.peak_gb:5.1f} GB {e.seconds_per_step:6.2f} s{'' if e.fits else ' (too big)'}")
        print(f"  {name:26s} " + " | ".join(row))


def build(name: str, folder: str) -> None:
    """Saves a full-size random-weights pipeline for ``name`` (Wan, LTX-Video, CogVideoX) into ``folder``."""
    import diffusers
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    from sorakit.tiny import cogvideox as tiny_cogvideox, ltx as tiny_ltx, wan as tiny_wan

    tcls, over, vcls, width = FULL[name]
    torch.manual_seed(0)
    transformer = getattr(diffusers, tcls)(**over).to(torch.bfloat16)
    vae = getattr(diffusers, vcls)()
    spec = models.get(name)
    if spec.family == "wan":
        text = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=width, d_kv=64, d_ff=10240, num_layers=1,
                                           num_heads=64)).to(torch.bfloat16)
        scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                      flow_shift=3.0)
        pipe = diffusers.WanPipeline(tokenizer=tiny_wan.tokenizer(), text_encoder=text, transformer=transformer,
                                     vae=vae, scheduler=scheduler)
    else:
        text = T5EncoderModel(T5Config(vocab_size=128, d_model=width, d_kv=64, d_ff=10240, num_layers=1,
                                       num_heads=64)).to(torch.bfloat16)
        if spec.family == "ltx":
            pipe = diffusers.LTXPipeline(tokenizer=tiny_ltx.tokenizer(), text_encoder=text, transformer=transformer,
                                         vae=vae, scheduler=diffusers.FlowMatchEulerDiscreteScheduler())
        else:
            pipe = diffusers.CogVideoXPipeline(tokenizer=tiny_cogvideox._tokenizer(tiny_cogvideox.TEXT_LENGTH),
                                               text_encoder=text, transformer=transformer, vae=vae,
                                               scheduler=diffusers.CogVideoXDDIMScheduler())
    pipe.save_pretrained(folder, safe_serialization=True)


def one(name: str, preset: str, steps: int, folder: str) -> dict[str, Any]:
    """Runs ``name`` under ``preset`` in this process: s/step, peak GPU memory, and the behaviour checks."""
    models.like(name, "random-" + name, folder)
    take = sorakit.Take(model="random-" + name, prompt="a basketball bounces off the backboard", steps=steps,
                        memory=preset, physics=sorakit.PhysicsConfig(scene="basketball", strength=0.0))
    torch.cuda.reset_peak_memory_stats()
    stamps: list[float] = []
    t0 = time.perf_counter()
    clip = sorakit.generate(take, on_step=lambda s: stamps.append(time.perf_counter()), progress=False)
    total = time.perf_counter() - t0
    per = statistics.median(b - a for a, b in zip(stamps, stamps[1:])) if len(stamps) > 1 else float("nan")
    peak = torch.cuda.max_memory_allocated() / 2**30
    # behaviour on the GPU: identical on repeat, changed by the seed
    again = sorakit.generate(take, progress=False).frames
    other = sorakit.generate(take.replace(seed=take.seed + 1), progress=False).frames
    return {"s_per_step": per, "peak_gpu_gib": peak, "total_s": total, "frames": list(clip.frames.shape),
            "repeat_identical": bool((again == clip.frames).all()), "seed_changes": bool((other != clip.frames).any())}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="wan2.1-t2v-1.3b,ltx-video,cogvideox-2b,cogvideox-5b,wan2.1-t2v-14b")
    parser.add_argument("--presets", default="a100,l4,t4")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--one", nargs=3, metavar=("MODEL", "PRESET", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], args.steps, args.one[2])))
        return
    presets = args.presets.split(",")
    counts()
    estimates(presets, args.steps)
    if not torch.cuda.is_available():
        print("\nno GPU here: the s/step, peak GPU memory and peak host RAM figures need one. The behaviour checks "
              "run on the tiny checkpoints: python -m pytest tests/backends/test_behaviour.py")
        return
    print(f"\n{torch.cuda.get_device_name(0)}, {torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB; "
          f"random weights, each card's size and frames, {args.steps} steps")
    for name in args.models.split(","):
        if FULL[name][3] == 0:
            print(f"  {name}: not built (see the module docstring)")
            continue
        folder = tempfile.mkdtemp(prefix=f"{name}-random-")
        build(name, folder)
        for preset in presets:
            proc = subprocess.Popen([sys.executable, __file__, "--steps", str(args.steps), "--one", name, preset,
                                     folder], stdout=subprocess.PIPE, text=True)
            out = proc.stdout.read() if proc.stdout else ""
            _, status, usage = os.wait4(proc.pid, 0)
            host = usage.ru_maxrss / 2**20  # KiB -> GiB
            if status != 0:
                print(f"  {name:24s} {preset:5s} failed (exit {status}); host RAM peak {host:.1f} GiB")
                continue
            r = json.loads(out.strip().splitlines()[-1])
            print(f"  {name:24s} {preset:5s} {r['s_per_step']:6.2f} s/step  GPU peak {r['peak_gpu_gib']:5.1f} GiB  "
                  f"host RAM peak {host:5.1f} GiB  whole take {r['total_s']:5.0f} s  "
                  f"repeat identical {r['repeat_identical']}  seed changes output {r['seed_changes']}")


if __name__ == "__main__":
    main()
