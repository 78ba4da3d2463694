"""Time-to-Move's cost over the same family's plain run, and the report's cost on generated-looking frames.

1. TTM against the plain run: the same Take on a tiny random Wan (built here, on the CPU) with
   ``physics.method='ttm'`` against ``strength=0``. TTM skips its first ``t_weak`` steps but adds a
   VAE encode of the motion video, the body mask and an overwrite after each step up to
   ``t_strong``; on a real checkpoint the transformer dominates every step, so the figure there
   approaches ``(steps - t_weak) / steps``. The tiny model makes the steps cheap, so this figure
   is an upper bound of the overhead. Both are timed in the same run (median of ``--repeats``).
2. The report's seconds per second of video on dressed clips (``sorakit.report.faults``, the ball
   drawn in its own colour: the appearance and optical-flow tracker) as a ratio to the report on
   the flat previz of the same throw (the colour tracker), in the same run.

    .venv/bin/python benchmarks/ttm.py [--size 256] [--steps 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import sorakit
from sorakit import models
from sorakit.physics.simulate import simulate
from sorakit.previz import render
from sorakit.report import measure_frames
from sorakit.report.faults import planted
from sorakit.tiny import wan as tiny_wan

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    folder = tiny_wan.build(tempfile.mkdtemp(prefix="ttm-bench-"), "t2v")
    models.register(models.ModelSpec(name="bench-wan", backend="diffusers", family="wan", model_id=str(folder),
                                     modes=("t2v",), frame_rule=(4, 1), min_size=16,
                                     card=models.Card(width=args.size, height=args.size, frames=33, fps=16,
                                                      steps=args.steps, guidance_scale=5.0, ttm=(3, 7))))
    base = sorakit.Take(model="bench-wan", prompt="a ball", memory="cpu", seed=1)
    plain = base.replace(physics=sorakit.PhysicsConfig(scene="basketball", strength=0.0))
    ttm = base.replace(physics=sorakit.PhysicsConfig(scene="basketball", strength=1.0, method="ttm"))
    t_weak, t_strong = ttm.ttm or (0, 0)
    t_plain = timed(lambda: sorakit.generate(plain, progress=False), args.repeats)
    t_ttm = timed(lambda: sorakit.generate(ttm, progress=False), args.repeats)
    from sorakit.backends import _runtime, family

    spec = models.get("bench-wan")
    pipe = _runtime.pipeline(spec, family("wan"), "t2v", _runtime.PRESETS["cpu"])
    previz = render(simulate(ttm.scene(), frames=33, fps=16), args.size, args.size, trail=False)  # type: ignore[arg-type]
    t_encode = timed(lambda: family("wan").encode_video(pipe, previz.frames[None]), args.repeats)
    print(f"tiny Wan {args.size}x{args.size}, 33 frames, {args.steps} steps: plain {t_plain:.2f} s, "
          f"TTM (t_weak {t_weak}, t_strong {t_strong}) {t_ttm:.2f} s -> {t_ttm / t_plain:.2f}x the plain run "
          f"(steps alone would give {(args.steps - t_weak) / args.steps:.2f}x; the motion video's VAE encode "
          f"takes {t_encode:.2f} s of it, {t_encode / t_plain:.2f}x the plain run)")

    p = planted("clean", seed=0)
    flat = render(simulate(p.scene, frames=len(p.frames), fps=p.fps), p.frames.shape[2], p.frames.shape[1],
                  trail=False).frames
    seconds = len(p.frames) / p.fps
    t_dressed = timed(lambda: measure_frames(p.frames, p.fps, scene=p.scene), args.repeats)
    t_flat = timed(lambda: measure_frames(flat, p.fps, scene=p.scene), args.repeats)
    print(f"report at {p.frames.shape[2]}x{p.frames.shape[1]}: {t_dressed / seconds:.3f} s per second of video on "
          f"generated-looking frames, {t_dressed / t_flat:.1f}x the flat previz ({t_flat / seconds:.3f} s/s)")


if __name__ == "__main__":
    main()
