"""The physics report on clips that look generated: recall of planted faults, false positives, cost.

Each clip is a simulated throw dressed as a video model might draw it (``sorakit.report.faults``:
textured wall and ball, the ball in its own colour, drifting light and vignette, grain, blur,
H.264 at ~0.1 bit per pixel), with one planted fault or none. A fault is *found* when the report
flags a problem of its kind (teleport, gravity, penetration, energy, timescale); a clip with no
fault (clean, one dropped frame, the ball hidden for a frame) is a *false positive* when the
report flags anything at all.

The cost is the report's seconds per second of video on these clips, as a ratio to the same
report on the flat previz of the same throws measured in the same run (the colour tracker's
path), so machine speed cancels out.

    .venv/bin/python benchmarks/report_faults.py [--seeds 12] [--width 320 --height 192]
"""

from __future__ import annotations

import argparse
import time

from sorakit.previz import render
from sorakit.report import measure_frames
from sorakit.report.faults import EXPECT, KINDS, planted
from sorakit.physics.simulate import simulate


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=192)
    args = parser.parse_args()
    found = {k: 0 for k in KINDS}
    seconds_dressed = seconds_flat = video = 0.0
    misses: list[str] = []
    for seed in range(args.seeds):
        for kind in KINDS:
            p = planted(kind, seed=seed, width=args.width, height=args.height)
            start = time.perf_counter()
            r = measure_frames(p.frames, p.fps, scene=p.scene)
            seconds_dressed += time.perf_counter() - start
            ok = (p.expect in {q.kind for q in r.problems}) if p.expect else r.passed
            found[kind] += ok
            if not ok:
                misses.append(f"{kind} seed {seed}: {r.verdict}")
            if kind == "clean":
                flat = render(simulate(p.scene, frames=len(p.frames), fps=p.fps), args.width, args.height,
                              trail=False).frames
                start = time.perf_counter()
                measure_frames(flat, p.fps, scene=p.scene)
                seconds_flat += time.perf_counter() - start
                video += len(p.frames) / p.fps
    faults = [k for k in KINDS if EXPECT[k]]
    fine = [k for k in KINDS if not EXPECT[k]]
    n = args.seeds
    print(f"{args.seeds} seeds x {len(KINDS)} kinds at {args.width}x{args.height}")
    for k in KINDS:
        print(f"  {k:9s} {'found' if EXPECT[k] else 'passed':6s} {found[k]:3d} / {n}")
    recall = sum(found[k] for k in faults) / (n * len(faults))
    false_positive = 1 - sum(found[k] for k in fine) / (n * len(fine))
    print(f"recall {100 * recall:.1f}% over {n * len(faults)} planted faults; "
          f"false positives {100 * false_positive:.1f}% of {n * len(fine)} clips without one")
    dressed_per_s = seconds_dressed / (video * len(KINDS))
    flat_per_s = seconds_flat / video
    print(f"cost: {dressed_per_s:.3f} s per second of video on dressed clips, "
          f"{dressed_per_s / flat_per_s:.1f}x the report on the flat previz ({flat_per_s:.3f} s/s)")
    for m in misses:
        print("  miss:", m[:200])


if __name__ == "__main__":
    main()
