"""Farm speed-up: 8 previz takes on a Ray farm of 1 worker against 2 workers, on this machine.

Both farms run the same 8 takes (the basketball previz with Foley, 96 frames at 640x360, seeds
0-7) into fresh folders, after a warm-up take each (so the per-worker import of sorakit is not
counted in the take times). Printed: the fixed cost of starting the farm (Ray itself, then its
workers), each farm's wall time for the 8 takes, and the 2-worker speed-up as a ratio against the
1-worker run, measured in the same process; also the same 8 takes rendered here in this process.
On a machine with GPUs, ``--gpus 1`` runs one worker per GPU (``--workers`` fewer) and scales to them.

    .venv/bin/python benchmarks/farm.py [--takes 8] [--workers 2] [--gpus 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import sorakit
from sorakit import farm as farms


def jobs(folder: Path, n: int) -> list[farms.Job]:
    take = sorakit.Take(frames=96, width=640, height=360, fps=24, physics=sorakit.PhysicsConfig(scene="basketball"))
    return [farms.Job(take.replace(seed=s), folder / f"seed-{s}.mp4") for s in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--takes", type=int, default=8)
    parser.add_argument("--workers", type=int, help="the farm to set against 1 worker: 2, or one per GPU with --gpus")
    parser.add_argument("--gpus", type=float, default=0.0, help="GPUs per worker (0 on a CPU machine)")
    args = parser.parse_args()
    import ray

    root = Path(tempfile.mkdtemp(prefix="sorakit-farm-bench-"))
    start = time.perf_counter()
    ray.init(num_cpus=max(2, args.workers or 2), include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - start
    if args.workers is None:
        args.workers = max(1, int(ray.cluster_resources().get("GPU", 0) // args.gpus)) if args.gpus else 2

    walls: dict[int, float] = {}
    starts: dict[int, float] = {}
    for workers in (1, args.workers):
        t0 = time.perf_counter()
        farm = sorakit.RayFarm(workers=workers, gpus_per_take=args.gpus, progress=False).start()
        starts[workers] = time.perf_counter() - t0
        farm.run(jobs(root / f"warm-{workers}", workers))  # each worker renders once: imports and caches warm
        t0 = time.perf_counter()
        done = farm.run(jobs(root / f"run-{workers}", args.takes))
        walls[workers] = time.perf_counter() - t0
        assert all(d.state == "rendered" for d in done), [d.error for d in done]
        farm.shutdown()
    ray.shutdown()
    t0 = time.perf_counter()
    farms.Local().run(jobs(root / "here", args.takes))
    here = time.perf_counter() - t0

    print(f"{args.takes} previz takes (basketball, 96 frames at 640x360, Foley), saved as mp4 + sidecar:")
    print(f"  start-up: Ray {ray_start:.1f} s; a farm's workers ready in {starts[1]:.1f} s (1) and "
          f"{starts[args.workers]:.1f} s ({args.workers})")
    print(f"  here, in this process:     {here:6.1f} s")
    print(f"  farm, 1 worker:            {walls[1]:6.1f} s")
    print(f"  farm, {args.workers} workers:           {walls[args.workers]:6.1f} s")
    print(f"  speed-up, {args.workers} workers over 1: {walls[1] / walls[args.workers]:.2f}x "
          f"(1 worker over this process: {here / walls[1]:.2f}x)")


if __name__ == "__main__":
    main()
