"""sorakit's overhead over calling the same diffusers pipeline directly, on a tiny Wan checkpoint.

Both sides run the same pipeline object with the same prompt, size, frames, steps and seed, in
the same process, interleaved. Printed: the ratio of medians of ``sorakit.generate`` to the
raw call given precomputed prompt embeddings (the wrapper's own overhead; target at most 1.03)
and to the plain raw call that encodes its prompt each time, and the ratio for takes that
change only the seed, which must reuse the cached pipeline (no reload).

    .venv/bin/python benchmarks/overhead.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

import sorakit
from sorakit import models
from sorakit.backends import _runtime
from sorakit.tiny import wan as tiny_wan


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(2)
    folder = tiny_wan.build(tempfile.mkdtemp(prefix="sorakit-tiny-wan-"))
    models.register(models.ModelSpec(name="tiny-wan", backend="diffusers", family="wan", model_id=str(folder),
                                     modes=("t2v",), size_multiple=16, frame_rule=(4, 1), min_size=16))
    take = sorakit.Take(prompt="a red ball bounces", negative_prompt="blurry", model="tiny-wan", steps=4,
                        frames=17, width=64, height=64, seed=0, memory="cpu")
    first = time.perf_counter()
    sorakit.generate(take, progress=False)  # loads and caches the pipeline
    load_s = time.perf_counter() - first
    pipe = next(iter(_runtime._PIPELINES.values()))

    common = dict(height=take.height, width=take.width, num_frames=take.frames, num_inference_steps=take.steps,
                  guidance_scale=take.guidance_scale, output_type="np")
    with torch.no_grad():
        pe, ne = pipe.encode_prompt(take.prompt, take.negative_prompt, max_sequence_length=512)

    def raw(seed: int) -> None:  # what a careful user writes: embeddings computed once, passed in
        pipe(prompt_embeds=pe, negative_prompt_embeds=ne, generator=torch.Generator("cpu").manual_seed(seed),
             **common)

    def raw_prompt(seed: int) -> None:  # the plain call: the prompt is encoded every time
        pipe(prompt=take.prompt, negative_prompt=take.negative_prompt,
             generator=torch.Generator("cpu").manual_seed(seed), **common)

    def ours(seed: int) -> None:
        sorakit.generate(take.replace(seed=seed), progress=False)

    same: dict[str, list[float]] = {"raw": [], "ours": [], "raw_prompt": []}
    new_seed: dict[str, list[float]] = {"raw": [], "ours": []}
    for i in range(args.repeats):
        for name, fn in (("raw", raw), ("ours", ours), ("raw_prompt", raw_prompt)):
            start = time.perf_counter()
            fn(0)
            same[name].append(time.perf_counter() - start)
        for name, fn in (("ours", ours), ("raw", raw)):
            start = time.perf_counter()
            fn(1000 + i)
            new_seed[name].append(time.perf_counter() - start)
    med = {k: statistics.median(v) for k, v in same.items()}
    med_new = {k: statistics.median(v) for k, v in new_seed.items()}
    print(f"tiny Wan, {take.width}x{take.height}, {take.frames} frames, {take.steps} steps, CPU; "
          f"median of {args.repeats}; first take (load + run) {load_s:.2f} s")
    print(f"raw call with cached embeddings: {med['raw'] * 1000:.1f} ms; plain raw call (encodes the prompt): "
          f"{med['raw_prompt'] * 1000:.1f} ms; sorakit.generate: {med['ours'] * 1000:.1f} ms")
    print(f"ratio generate / raw with cached embeddings (same take): {med['ours'] / med['raw']:.3f}")
    print(f"ratio generate / plain raw call (same take): {med['ours'] / med['raw_prompt']:.3f}")
    print(f"ratio generate / raw with cached embeddings (new seed each take, no reload): "
          f"{med_new['ours'] / med_new['raw']:.3f}")
    print(f"pipelines loaded: {len(_runtime._PIPELINES)}")


if __name__ == "__main__":
    main()
