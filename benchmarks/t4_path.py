"""The free-Colab T4 path: Wan 2.1 1.3B at 480p, 33 frames, with sound, under speed "quality" and "fast".

On a GPU the model is the full-size Wan 2.1 1.3B architecture with random weights (``gpu_wan.build``:
speed and memory do not depend on the weights' values), run under sorakit's ``t4`` preset (fp16,
no bf16), with GPU memory capped to a T4's 15 GB (``torch.cuda.set_per_process_memory_fraction``).
Colab's 12.7 GB of host RAM is not enforced (an address-space limit breaks CUDA's own mappings): the
peak resident memory is measured and compared against it. Without a GPU the tiny checkpoints run
the same code on the CPU and the figures say only that the path works.

"fast" here is a schedule, not a trained variant: no distilled Wan 1.3B release loads in diffusers
from safetensors with official settings (see README, Video models), so this times the 4-step,
guidance-free recipe lightx2v publishes for the 14B model (``denoising_step_list`` of 4, CFG off):
4 steps at one forward pass each. The sound is one MusicGen track from the tiny MusicGen (Foley
is laid only where the video follows the simulation, in v2v and VACE, not in this text-to-video) (no hub here for musicgen-small's config; a real MusicGen small adds
its own seconds on a T4). The quality run is the card's 50 steps with CFG; ``--steps`` shortens it.

    python benchmarks/t4_path.py [--steps 50] [--frames 33]

Prints, for each speed: load time, seconds per step, total time, peak GPU memory, peak host RAM,
and the quality / fast ratio of total time measured in the same run.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sorakit  # noqa: E402
from sorakit import models  # noqa: E402
from sorakit.backends import _runtime  # noqa: E402

T4_GB, COLAB_RAM_GB = 15.0, 12.7
FAST = models.Fast(steps=4, guidance_scale=1.0, source="lightx2v's 14B 4-step recipe, as a schedule to time")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def setup(gpu: bool, root: str) -> tuple[str, str]:
    """Registers the Wan model to time; returns its name and the music model's folder."""
    from sorakit.tiny import musicgen as tiny_musicgen

    if gpu:
        import gpu_wan

        folder = f"{root}/wan13"
        gpu_wan.build(folder)
        size = dict(width=832, height=480)
    else:
        from sorakit.tiny import wan as tiny_wan

        folder = str(tiny_wan.build(f"{root}/wan-tiny", "t2v"))
        size = dict(width=64, height=48)
    music = str(tiny_musicgen.build(f"{root}/musicgen", max_duration=3.0))
    real = models.get("wan2.1-t2v-1.3b")
    card = models.Card(**{**real.card.__dict__, **size, "fast": FAST})
    models.register(models.ModelSpec(**{**real.__dict__, "name": "t4-path-wan", "model_id": folder, "card": card,
                                        "min_size": 16}))
    return "t4-path-wan", music


def run(take: sorakit.Take, gpu: bool) -> dict[str, float]:
    _runtime.clear_cache()
    if gpu:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    stamps: list[float] = []
    t0 = time.perf_counter()
    clip = sorakit.generate(take, on_step=lambda s: stamps.append(time.perf_counter()))
    total = time.perf_counter() - t0
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    per = statistics.median(steps) if steps else float("nan")
    first = stamps[0] - t0 if stamps else float("nan")  # load, prompt, first step
    assert clip.soundtrack is not None
    return {"load_and_first_step_s": first, "s_per_step": per, "total_s": total,
            "peak_gpu_gb": torch.cuda.max_memory_allocated() / 2**30 if gpu else 0.0,
            "peak_host_gb": peak_rss_gb(), "tracks": len(clip.soundtrack.mix.tracks)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None, help="quality steps (default: the card's 50)")
    parser.add_argument("--frames", type=int, default=33)
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    if gpu:
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        torch.cuda.set_per_process_memory_fraction(min(1.0, T4_GB / total))
        print(f"{torch.cuda.get_device_name(0)} ({total:.0f} GiB), capped to {T4_GB:g} GB as a T4; fp16 (preset t4)")
    else:
        print("no GPU: the tiny checkpoints on the CPU; the figures only say that the path runs")
    name, music = setup(gpu, tempfile.mkdtemp(prefix="t4-path-"))
    sound = sorakit.SoundConfig(music="upbeat funk with slap bass", music_model=music, backend="transformers")
    base = sorakit.Take(prompt="a basketball bounces off the backboard", model=name, frames=args.frames,
                        steps=args.steps, memory="t4" if gpu else "cpu", seed=1, sound=sound,
                        physics=sorakit.PhysicsConfig(scene="basketball"))
    results = {speed: run(base.replace(speed=speed, steps=args.steps if speed == "quality" else None), gpu)
               for speed in ("quality", "fast")}
    for speed, r in results.items():
        print(f"{speed:8s} load+first step {r['load_and_first_step_s']:.1f} s, {r['s_per_step']:.2f} s/step, "
              f"total {r['total_s']:.1f} s, peak GPU {r['peak_gpu_gb']:.1f} GiB, peak host RAM "
              f"{r['peak_host_gb']:.1f} GiB (Colab has {COLAB_RAM_GB}), {r['tracks']:.0f} sound tracks")
    ratio = results["quality"]["total_s"] / results["fast"]["total_s"]
    print(f"quality / fast total time: {ratio:.2f}x (same run)")


if __name__ == "__main__":
    main()
