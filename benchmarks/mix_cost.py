"""Mixer cost: ``sorakit.audio.mix`` against a plain resample-and-sum of the same tracks.

Four tracks as the soundtrack makes them (Foley 48 kHz stereo, ambience 16 kHz mono, music
32 kHz mono, three dialogue lines 16 kHz mono), over ``--seconds`` of clip. The baseline, timed in
the same run, is what any mixer must do at least: resample each track to 48 kHz with the same
polyphase filter and add it at its start. ``mix`` adds ducking, fades, the BS.1770 loudness
target (a few measurements) and the oversampled true-peak limiter. Also printed: the cost per
second of audio, to set against the seconds a sound model takes.

    .venv/bin/python benchmarks/mix_cost.py [--seconds 10] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from sorakit.audio import Track, mix

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402

RATE = 48_000


def tracks(seconds: float) -> list[Track]:
    rng = np.random.default_rng(0)
    foley = np.zeros((2, int(seconds * RATE)), np.float32)
    for t in np.arange(0.5, seconds, 0.7):
        at = int(t * RATE)
        foley[:, at:at + 4800] += (rng.standard_normal(4800) * np.exp(-np.arange(4800) / 600)).astype(np.float32)
    out = [Track("foley", foley, RATE),
           Track("ambience", (0.1 * rng.standard_normal(int(seconds * 16_000))).astype(np.float32), 16_000,
                 gain_db=-10, fade_in=0.3, fade_out=0.5),
           Track("music", (0.1 * rng.standard_normal(int(seconds * 32_000))).astype(np.float32), 32_000,
                 gain_db=-8, duck=True, fade_out=1.0)]
    for start in (1.0, seconds / 2, seconds - 2.0):
        out.append(Track("dialogue", (0.2 * rng.standard_normal(24_000)).astype(np.float32), 16_000, start=start))
    return out


def plain_sum(parts: list[Track], seconds: float) -> np.ndarray:
    bus = np.zeros((2, int(round(seconds * RATE))))
    for t in parts:
        x = np.atleast_2d(t.audio).astype(np.float64)
        g = math.gcd(t.rate, RATE)
        if t.rate != RATE:
            x = resample_poly(x, RATE // g, t.rate // g, axis=-1)
        first = int(round(t.start * RATE))
        n = min(x.shape[1], bus.shape[1] - first)
        bus[:, first:first + n] += x[:, :n] * 10 ** (t.gain_db / 20)
    return bus


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    parts = tracks(args.seconds)
    base = timed(lambda: plain_sum(parts, args.seconds), args.repeats)
    full = timed(lambda: mix(parts, args.seconds), args.repeats)
    m = mix(parts, args.seconds)
    print(f"{args.seconds:g} s, {len(parts)} tracks: plain resample+sum {base:.3f} s, mix {full:.3f} s "
          f"-> ratio {full / base:.2f}x; {full / args.seconds * 1000:.1f} ms per second of audio; "
          f"reached {m.info.loudness} LUFS, true peak {m.info.true_peak} dBTP")


if __name__ == "__main__":
    main()
