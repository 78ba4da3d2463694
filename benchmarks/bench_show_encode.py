"""Encode cost of ``show()`` against imageio-ffmpeg encoding the same frames, in the same run.

The clip is the basketball previz, 5 s at 832x480, 16 fps, with Foley. sorakit's cost is
``clip_html`` (H.264 + AAC through PyAV in-process, base64 into the HTML). The baseline is
imageio-ffmpeg piping the same frames to its ffmpeg binary with the same codec settings (libx264
CRF 23, preset veryfast, yuv420p, +faststart; the same audio as AAC 128 kb/s from a WAV file).

    .venv/bin/python benchmarks/bench_show_encode.py [--repeats 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _timing import timed  # noqa: E402

import argparse
import tempfile
import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np

import sorakit
from sorakit.display import clip_html, encode_for_web


def baseline(clip: sorakit.Clip, folder: Path) -> int:
    wav = folder / "audio.wav"
    pcm = (np.clip(clip.audio.T, -1, 1) * 32767).astype("<i2")
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(clip.audio.shape[0])
        w.setsampwidth(2)
        w.setframerate(clip.sample_rate)
        w.writeframes(pcm.tobytes())
    out = folder / "baseline.mp4"
    writer = imageio_ffmpeg.write_frames(
        str(out), clip.size, fps=clip.fps, codec="libx264", pix_fmt_out="yuv420p", quality=None,
        audio_path=str(wav), audio_codec="aac", macro_block_size=2, ffmpeg_log_level="error",
        output_params=["-crf", "23", "-preset", "veryfast", "-b:a", "128k", "-movflags", "+faststart"])
    writer.send(None)
    for frame in clip.frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return out.stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    clip = sorakit.generate(sorakit.Take(frames=80, fps=16, width=832, height=480))
    with tempfile.TemporaryDirectory() as tmp:
        ours = timed(lambda: clip_html(clip), args.repeats)
        base = timed(lambda: baseline(clip, Path(tmp)), args.repeats)
        base_size = baseline(clip, Path(tmp))
    web = encode_for_web(clip)
    html = clip_html(clip)
    print(f"clip: {clip.duration:.1f} s at {clip.size[0]}x{clip.size[1]}, {clip.fps} fps; median of {args.repeats}")
    print(f"sorakit show() (PyAV encode + base64 HTML): {ours:.3f} s; mp4 {len(web.data) / 1e3:.0f} kB")
    print(f"baseline imageio-ffmpeg encode:           {base:.3f} s; mp4 {base_size / 1e3:.0f} kB")
    print(f"ratio sorakit / baseline time: {ours / base:.2f}")
    print(f"embedded size: {len(html) / clip.duration / 1e3:.1f} kB of HTML per second of video "
          f"({len(web.data) / clip.duration / 1e3:.1f} kB/s of mp4)")


if __name__ == "__main__":
    main()
