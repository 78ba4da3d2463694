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

Families built at full size for a GPU run: Wan 2.1 (1.3B, 14B), LTX-Video, CogVideoX (2B, 5B),
Cosmos-Predict2.5-2B and Cosmos-Transfer2.5-2B (its 4-block controlnet, edge control), Cosmos3-Nano
(its Wan 2.2 VAE and 48 kHz sound tokenizer: 30 GB of bfloat16 weights written to disk once; only
presets that hold it run). Cosmos 2.5's text encoder stand-in is Qwen2.5-VL at its real width and
depth (3584 x 28 layers: the transformer reads every layer's states) with a thin MLP; Cosmos 3 has
none (the prompt's token ids reach its transformer). Cosmos takes run with the guardrail off (its
checker is not part of the timing; recorded in each clip). LTX-2 (Gemma 3 text encoder, audio VAE and
vocoder) and HunyuanVideo 1.5 (Qwen2.5-VL and ByT5 text encoders) get the meta-device count and the
estimate only: their stand-in stacks are not built yet.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, NamedTuple

import torch

import sorakit
from sorakit import models
from sorakit.backends import _runtime, family

# Wan-AI/Wan2.2-TI2V-5B-Diffusers vae/config.json, as Cosmos 3 uses it: 48 latent channels, 16x in space with 2x2
# pixel patches, 4x in time (latents_mean/std left at neutral values: random weights have no statistics)
WAN22_VAE = dict(base_dim=160, decoder_base_dim=256, z_dim=48, dim_mult=[1, 2, 4, 4], num_res_blocks=2,
                 temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                 patch_size=2, scale_factor_spatial=16, scale_factor_temporal=4, latents_mean=[0.0] * 48,
                 latents_std=[1.0] * 48)
# Cosmos-Predict2.5-2B: the 2.5 layout (16 heads x 128, 28 blocks, the condition-mask channel, Qwen2.5-VL-7B's
# 28 hidden states of 3584 concatenated and projected to 1024; the class defaults are Cosmos 1.0's 7B): diffusers'
# scripts/convert_cosmos_to_diffusers.py TRANSFORMER_CONFIGS["Cosmos-2.5-Predict-Base-2B"].
COSMOS25 = dict(in_channels=17, out_channels=16, num_attention_heads=16, attention_head_dim=128, num_layers=28,
                text_embed_dim=1024, max_size=(128, 240, 240), patch_size=(1, 2, 2), rope_scale=(1.0, 3.0, 3.0),
                concat_padding_mask=True, extra_pos_embed_type=None, use_crossattn_projection=True,
                crossattn_proj_in_channels=3584 * 28, encoder_hidden_states_channels=1024)
# Transfer2.5-2B: the same transformer with a control block every 7 layers and its image context, and a 4-block
# controlnet (the same script's TRANSFORMER_CONFIGS and CONTROLNET_CONFIGS["Cosmos-2.5-Transfer-General-2B"]).
TRANSFER_IMAGE = dict(img_context_dim_in=1152, img_context_dim_out=2048)
CONTROLNET = dict(n_controlnet_blocks=4, model_channels=2048, in_channels=130, latent_channels=18,
                  num_attention_heads=16, attention_head_dim=128, text_embed_dim=1024, patch_size=(1, 2, 2),
                  max_size=(128, 240, 240), rope_scale=(1.0, 3.0, 3.0), extra_pos_embed_type=None,
                  use_crossattn_projection=True, crossattn_proj_in_channels=3584 * 28,
                  encoder_hidden_states_channels=1024, **TRANSFER_IMAGE)


class Full(NamedTuple):
    transformer: str  # the diffusers class
    over: dict[str, Any]  # config overrides of the class defaults
    vae: str
    vae_over: dict[str, Any]
    text: int  # the text encoder stand-in's width; 0: not built here (see the module docstring)


FULL: dict[str, Full] = {
    # Wan-AI/Wan2.1-T2V-1.3B-Diffusers transformer/config.json: 12 heads x 128, ffn 8960, 30 layers
    "wan2.1-t2v-1.3b": Full("WanTransformer3DModel", dict(num_attention_heads=12, ffn_dim=8960, num_layers=30),
                            "AutoencoderKLWan", {}, 4096),
    "wan2.1-t2v-14b": Full("WanTransformer3DModel", {}, "AutoencoderKLWan", {}, 4096),  # the class defaults are 14B's
    "ltx-video": Full("LTXVideoTransformer3DModel", {}, "AutoencoderKLLTXVideo", {}, 4096),
    "cogvideox-2b": Full("CogVideoXTransformer3DModel", {}, "AutoencoderKLCogVideoX", {}, 4096),
    # THUDM/CogVideoX-5b transformer/config.json: 48 heads x 64, 42 layers, rotary embeddings
    "cogvideox-5b": Full("CogVideoXTransformer3DModel", dict(num_attention_heads=48, num_layers=42,
                                                             use_rotary_positional_embeddings=True),
                         "AutoencoderKLCogVideoX", {}, 4096),
    "ltx-2": Full("LTX2VideoTransformer3DModel", {}, "AutoencoderKLLTX2Video", {}, 0),
    "hunyuanvideo1.5-480p-t2v": Full("HunyuanVideo15Transformer3DModel", {}, "AutoencoderKLHunyuanVideo15", {}, 0),
    "cosmos-predict2.5-2b": Full("CosmosTransformer3DModel", COSMOS25, "AutoencoderKLWan", {}, 3584),
    "cosmos-transfer2.5-2b-edge": Full("CosmosTransformer3DModel", dict(
        COSMOS25, controlnet_block_every_n=7, img_context_num_tokens=256, **TRANSFER_IMAGE),
        "AutoencoderKLWan", {}, 3584),
    # Cosmos3-Nano: the class defaults are its layout (hidden 4096, 36 layers, 32 heads, 48 latent channels), with its
    # sound head (cosmos-framework Cosmos3-Nano.yaml: sound_gen, 64 latent channels at 25 a second)
    "cosmos3-nano": Full("Cosmos3OmniTransformer", dict(sound_gen=True, sound_dim=64, sound_latent_fps=25.0),
                         "AutoencoderKLWan", WAN22_VAE, -1),
}


def counts() -> None:
    """Parameter counts of each full-size transformer and VAE, built on the meta device (no memory)."""
    import diffusers
    from accelerate import init_empty_weights

    print("full-size architectures on the meta device (billions of parameters) against the registry's Arch:")
    for name, full in FULL.items():
        with init_empty_weights():
            t = getattr(diffusers, full.transformer)(**full.over)
            v = getattr(diffusers, full.vae)(**full.vae_over)
            extra = diffusers.CosmosControlNetModel(**CONTROLNET) if "transfer" in name else None
        arch = models.get(name).arch
        assert arch is not None
        nt, nv = (sum(p.numel() for p in m.parameters()) / 1e9 for m in (t, v))
        more = ""
        if extra is not None:  # the registry's Arch counts the controlnet with the transformer
            nc = sum(p.numel() for p in extra.parameters()) / 1e9
            more, nt = f"  (with its controlnet of {nc:4.2f})", nt + nc
        print(f"  {name:26s} transformer {nt:6.2f} (Arch {arch.transformer:5.2f})  VAE {nv:5.2f} "
              f"(Arch {arch.vae:4.2f}){more}")


def estimates(presets: list[str], steps: int) -> None:
    print(f"\nsorakit's estimate at each card's size, {steps} steps (peak GB / s per step on the preset's GPU class):")
    for name in FULL:
        take = sorakit.Take(model=name, prompt="a ball", steps=steps).resolved()
        spec, fam = models.get(name), family(models.get(name).family)
        row = []
        for p in presets:
            e = _runtime.estimate(spec, width=take.size[0], height=take.size[1], frames=_runtime.work_frames(fam, take),
                                  steps=steps,
                                  preset=_runtime.PRESETS[p], passes=fam.passes_per_step(take))
            verdict = " (refused)" if _runtime.refused(spec, _runtime.PRESETS[p]) else "" if e.fits else " (too big)"
            row.append(f"{p} {e.peak_gb:5.1f} GB {e.seconds_per_step:6.2f} s{verdict}")
        print(f"  {name:26s} " + " | ".join(row))


def build(name: str, folder: str) -> None:
    """Saves a full-size random-weights pipeline for ``name`` (Wan, LTX-Video, CogVideoX, Cosmos 2.5, Cosmos 3)
    into ``folder``. Transformers are built on the GPU where there is one (Cosmos3-Nano's 15 B parameters
    initialise in seconds there, minutes on a CPU) and saved in bfloat16."""
    import diffusers
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    from sorakit.backends import _guardrail
    from sorakit.tiny import cogvideox as tiny_cogvideox, cosmos as tiny_cosmos, cosmos3 as tiny_cosmos3
    from sorakit.tiny import ltx as tiny_ltx, wan as tiny_wan

    full = FULL[name]
    where = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    with where:
        transformer = getattr(diffusers, full.transformer)(**full.over).to(torch.bfloat16)
    vae = getattr(diffusers, full.vae)(**full.vae_over)
    spec = models.get(name)
    pipe: Any
    if spec.family == "wan":
        text = UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=full.text, d_kv=64, d_ff=10240, num_layers=1,
                                           num_heads=64)).to(torch.bfloat16)
        scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                      flow_shift=3.0)
        pipe = diffusers.WanPipeline(tokenizer=tiny_wan.tokenizer(), text_encoder=text, transformer=transformer,
                                     vae=vae, scheduler=scheduler)
    elif spec.family == "cosmos":
        tokenizer = tiny_cosmos.qwen_tokenizer()
        # Qwen2.5-VL-7B's width, depth and heads (Cosmos-Reason1-7B config.json: 3584 wide, 28 layers, 28 heads
        # of 128, 4 key-value heads), a thin MLP; its depth is what the transformer's projection reads
        heads = full.text // 128
        layers = full.over["crossattn_proj_in_channels"] // full.text
        text = tiny_cosmos.text_encoder(tokenizer, width=full.text, layers=layers, heads=heads, kv_heads=max(1, heads // 7),
                                        mlp=256, mrope=(16, 24, 24))
        text = text.to(torch.bfloat16)
        parts = dict(text_encoder=text, tokenizer=tokenizer, transformer=transformer, vae=vae,
                     scheduler=tiny_cosmos.scheduler(), safety_checker=_guardrail.OFF)
        if spec.modes == ("vace",):
            with where:
                parts["controlnet"] = diffusers.CosmosControlNetModel(**CONTROLNET).to(torch.bfloat16)
            pipe = diffusers.Cosmos2_5_TransferPipeline(**parts)
        else:
            pipe = diffusers.Cosmos2_5_PredictBasePipeline(**parts)
    elif spec.family == "cosmos3":
        from diffusers.models.autoencoders.autoencoder_cosmos3_audio import Cosmos3AVAEAudioTokenizer

        # the class defaults are the 48 kHz stereo tokenizer with a 1920-sample hop (25 latent frames a second)
        pipe = diffusers.Cosmos3OmniPipeline(transformer=transformer, vae=vae,
                                             sound_tokenizer=Cosmos3AVAEAudioTokenizer(),
                                             text_tokenizer=tiny_cosmos.qwen_tokenizer(("<|vision_start|>",)),
                                             scheduler=tiny_cosmos3.scheduler(), safety_checker=_guardrail.OFF)
    else:
        text = T5EncoderModel(T5Config(vocab_size=128, d_model=full.text, d_kv=64, d_ff=10240, num_layers=1,
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
    spec = models.like(name, "random-" + name, folder)
    transfer = spec.modes == ("vace",)  # Cosmos-Transfer: the previz is its control, at full weight
    take = sorakit.Take(model="random-" + name, prompt="a basketball bounces off the backboard", steps=steps,
                        memory=preset, mode="vace" if transfer else "t2v",
                        physics=sorakit.PhysicsConfig(scene="basketball", strength=1.0 if transfer else 0.0),
                        guardrail=False)  # Cosmos' checker is not part of the timing (the clip records it off)
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
    parser.add_argument("--models", default="wan2.1-t2v-1.3b,ltx-video,cogvideox-2b,cogvideox-5b,wan2.1-t2v-14b,"
                        "cosmos-predict2.5-2b,cosmos-transfer2.5-2b-edge,cosmos3-nano")
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
        if FULL[name].text == 0:
            print(f"  {name}: not built (see the module docstring)")
            continue
        runs = [p for p in presets if not _runtime.refused(models.get(name), _runtime.choose_preset(p))]
        for p in sorted(set(presets) - set(runs)):
            print(f"  {name:24s} {p:5s} refused before loading (its weights do not fit the preset)")
        if not runs:
            continue
        folder = tempfile.mkdtemp(prefix=f"{name}-random-")
        build(name, folder)
        for preset in runs:
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
        shutil.rmtree(folder, ignore_errors=True)  # up to 30 GB a model: the next one needs the disk


if __name__ == "__main__":
    main()
