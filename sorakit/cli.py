"""The ``sorakit`` command: ``sorakit demo`` renders a physics previz clip with Foley on the CPU."""

from __future__ import annotations

import argparse
import html
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sorakit._version import __version__


def page_html(clip_name: str, take_json: str, caption: str, filmstrip: str, waveform: str) -> str:
    """A standalone page that plays the saved mp4 (by relative path) and shows its Take."""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sorakit · {html.escape(clip_name)}</title>
<style>body{{font:15px system-ui,sans-serif;max-width:900px;margin:2em auto;color:#222}}
video,img{{max-width:100%}} pre{{background:#f5f5f5;padding:1em;overflow:auto}}</style></head>
<body>
<h1>sorakit demo</h1>
<video controls playsinline preload="auto" src="{html.escape(clip_name)}"></video>
<p>{html.escape(caption)}</p>
<h2>Filmstrip</h2><img alt="filmstrip" src="{html.escape(filmstrip)}">
<h2>Sound and collision events</h2><img alt="waveform and spectrogram" src="{html.escape(waveform)}">
<h2>Take</h2><pre>{html.escape(take_json)}</pre>
</body></html>
"""


def plan(scene: str, out: Path, *, seed: int, seconds: float, width: int, height: int, fps: int) -> Any:
    """Everything the demo can check before it renders: the Take's values, the memory the previz
    needs, and the output folder. Returns the Take to render.

    Raises:
        SorakitError or BadPath: one line saying what to change.
    """
    import math

    import sorakit
    from sorakit.errors import InvalidInput
    from sorakit.previz import check_memory

    if not math.isfinite(seconds) or seconds <= 0:
        raise InvalidInput(f"--seconds {seconds!r}: must be a length above 0; try --seconds 5")
    if not 1 <= fps <= 120:
        raise InvalidInput(f"--fps {fps}: must be in [1, 120]; 16 is the previz's own")
    frames = round(seconds * fps) if seconds * fps < 1e9 else 10**9
    take = sorakit.Take(prompt=f"physics previz: {scene}", seed=seed, frames=max(1, frames), fps=fps, width=width,
                        height=height, physics=sorakit.PhysicsConfig(scene=scene))
    try:
        take.validate()
    except InvalidInput as exc:
        if "frames=" in str(exc):
            spec = sorakit.models.get("previz")
            raise InvalidInput(f"--seconds {seconds:g} at {fps} fps is {frames} frames; the previz draws 1 to "
                               f"{spec.max_frames} ({spec.max_frames / fps:g} s at this rate)") from exc
        raise
    check_memory(take.n_frames, width, height, fps)
    _check_out(out)
    return take


def _check_out(out: Path) -> None:
    """The output folder is a folder, or can be made under the nearest folder that exists, and a file
    can be written there (tried: permissions, a read-only file system, a full disk all show)."""
    import tempfile

    from sorakit.errors import BadPath

    try:
        if "\0" in str(out):
            raise ValueError("a NUL character")
        in_the_way = out.exists() and not out.is_dir()
        where = out.absolute()
        while not where.exists() and where != where.parent:
            where = where.parent
    except (ValueError, OSError) as exc:  # a NUL in the name, a name too long for the file system
        raise BadPath(f"--out {str(out)!r}: no folder can have this name ({exc}); use a plain name such as "
                      "./sorakit-demo") from None
    if in_the_way:
        raise BadPath(f"--out {str(out)!r}: a file is in the way; name a folder (it is made if missing)")
    if not where.is_dir():
        raise BadPath(f"--out {str(out)!r}: {where} is not a folder; name a folder (it is made if missing)")
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as exc:
        raise BadPath(f"--out {str(out)!r}: nothing can be written in {where} ({exc.strerror}); pick a folder you "
                      "can write, such as ./sorakit-demo") from None


def demo(take: Any, out: Path) -> dict[str, Path]:
    """Renders ``take`` (a previz Take from ``plan``) and writes ``<scene>.mp4``, ``.json``, ``.html`` and
    two PNGs into ``out``."""
    from PIL import Image

    import sorakit
    from sorakit import _media

    scene = take.physics.scene
    clip = sorakit.generate(take, progress=True)
    mp4 = clip.save(out / f"{scene}.mp4")
    paths = {"video": mp4, "sidecar": mp4.with_suffix(".json")}
    strip = out / f"{scene}_filmstrip.png"
    wave = out / f"{scene}_waveform.png"
    buf = io.BytesIO()
    Image.fromarray(sorakit.filmstrip(clip)).save(buf, format="PNG")
    for path, data in ((strip, buf.getvalue()), (wave, sorakit.waveform_png(clip))):
        with _media.atomic_path(path) as tmp:
            tmp.write_bytes(data)
    page = out / f"{scene}.html"
    width, height = take.size
    caption = (f"{clip.provenance.label} previz · {len(clip.events)} collision events with Foley · "
               f"{clip.duration:.2f} s at {take.rate} fps · {width}×{height}")
    with _media.atomic_path(page) as tmp:
        tmp.write_text(page_html(mp4.name, take.to_json(), caption, strip.name, wave.name), encoding="utf-8")
    paths.update(filmstrip=strip, waveform=wave, page=page)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    from sorakit.errors import SorakitError
    from sorakit.physics.presets import PRESETS

    parser = argparse.ArgumentParser(prog="sorakit", description="Short AI videos with synchronized sound.")
    parser.add_argument("--version", action="version", version=f"sorakit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="render a physics previz clip with Foley on the CPU (no weights)")
    d.add_argument("--scene", default="basketball", choices=sorted(PRESETS))
    d.add_argument("--out", type=Path, default=Path("sorakit-demo"), help="output folder (default: %(default)s)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--seconds", type=float, default=5.0)
    d.add_argument("--fps", type=int, default=16)
    d.add_argument("--width", type=int, default=832)
    d.add_argument("--height", type=int, default=480)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        take = plan(args.scene, args.out, seed=args.seed, seconds=args.seconds, width=args.width,
                    height=args.height, fps=args.fps)
        paths = demo(take, args.out)
    except (SorakitError, OSError) as exc:  # one line saying what to change, never a traceback
        print(f"sorakit demo: {exc}", file=sys.stderr)
        return 2
    for kind, path in paths.items():
        print(f"{kind:>9}: {path}")
    print(f"done in {time.perf_counter() - started:.1f} s; open {paths['page']} in a browser")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
