"""Inline preview: HTML5 video with sound, filmstrip and waveform (STYLE rule 1).

Every ``show_*`` is a thin wrapper over a pure function that returns HTML, an image
array or PNG bytes, so the output can be tested without IPython.
"""

from __future__ import annotations

from sorakit.errors import InvalidInput

import base64
import html
import io
import os
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sorakit import _media

if TYPE_CHECKING:
    from sorakit.best import Ranking
    from sorakit.clip import Clip
    from sorakit.storyboard import Film

DEFAULT_MAX_BYTES = 8_000_000
# Tried in order until the encoded clip fits: (scale of each side, x264 CRF, AAC bit rate).
_LADDER = ((1.0, 23, 128_000), (1.0, 28, 128_000), (0.75, 28, 96_000), (0.5, 28, 96_000),
           (0.5, 33, 64_000), (0.25, 33, 48_000), (0.25, 40, 32_000))


@dataclass(frozen=True)
class WebVideo:
    """An mp4 made to embed: its bytes and how it was reduced to fit."""

    data: bytes
    width: int
    height: int
    crf: int
    audio_codec: str
    audio_bitrate: int
    reduced: bool


def video_html(data: bytes, *, mime: str = "video/mp4", width: int | None = None, caption: str = "") -> str:
    """A ``<video controls>`` that carries its media as a data URI (plays in Colab, JupyterLab, VS Code).

    A ``src`` attribute, not a ``<source>`` child: it survives reopening an untrusted notebook.

    >>> video_html(b"abc", caption="hi")[:60]
    '<figure class="sorakit-clip" style="margin:0"><video control'
    """
    b64 = base64.b64encode(data).decode("ascii")
    size = f' width="{width}"' if width else ""
    cap = f'<figcaption style="font:12px sans-serif;color:#666">{html.escape(caption)}</figcaption>' if caption else ""
    return (f'<figure class="sorakit-clip" style="margin:0"><video controls playsinline preload="auto"{size} '
            f'src="data:{mime};base64,{b64}"></video>{cap}</figure>')


def _resize(frames: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return frames
    from PIL import Image

    h, w = frames.shape[1:3]
    nw, nh = max(2, int(w * scale) // 2 * 2), max(2, int(h * scale) // 2 * 2)
    return np.stack([np.asarray(Image.fromarray(f).resize((nw, nh), Image.Resampling.BOX)) for f in frames])


def in_vscode() -> bool:
    """True when the kernel was started by VS Code, whose player decodes Opus but not AAC."""
    return any(key.startswith("VSCODE_") for key in os.environ)


PAGE_BYTES = 4096  # the <figure>, <video> and caption around an embedded mp4, at most


def embedded_size(mp4_bytes: int) -> int:
    """Bytes an mp4 of ``mp4_bytes`` takes once embedded: base64 (4 per 3) plus the page around it.

    >>> embedded_size(3_000_000)
    4004096
    """
    return 4 * math.ceil(mp4_bytes / 3) + PAGE_BYTES


def encode_for_web(clip: Clip | Film, *, max_bytes: int = DEFAULT_MAX_BYTES, audio_codec: str = "aac") -> WebVideo:
    """Encodes ``clip`` as a small mp4 (H.264 + AAC or Opus, faststart), stepping down quality and size until
    what is embedded fits in ``max_bytes``: the mp4 as base64 (4 bytes for every 3) and the page around it.

    Raises:
        ValueError: if even the smallest step is over ``max_bytes``.
    """
    with tempfile.TemporaryDirectory(prefix="sorakit-") as tmp:
        out = Path(tmp) / "web.mp4"
        for step, (scale, crf, bitrate) in enumerate(_LADDER):
            frames = _resize(clip.frames, scale)
            _media.write_mp4(out, frames, clip.fps, clip.audio, clip.sample_rate, crf=crf,
                             preset="veryfast", audio_codec=audio_codec, audio_bitrate=bitrate)
            data = out.read_bytes()
            if embedded_size(len(data)) <= max_bytes:
                return WebVideo(data, frames.shape[2], frames.shape[1], crf, audio_codec, bitrate, step > 0)
    raise InvalidInput(f"the clip does not fit in max_bytes={max_bytes} even at 1/4 size; "
                     "raise max_bytes, shorten the clip, or save it and open the file")


def clip_html(clip: Clip, *, max_bytes: int = DEFAULT_MAX_BYTES, audio_codec: str | None = None) -> str:
    """The HTML that ``show(clip)`` displays: the playable video and a caption with its knobs.

    Args:
        max_bytes: cap on what is embedded (the mp4 as base64, and the page around it; Colab breaks past
            about 10 MB); quality, then size, step down until it fits.
        audio_codec: ``"aac"`` or ``"opus"``; by default Opus inside VS Code (which cannot
            play AAC), AAC elsewhere.
    """
    if audio_codec is None:
        audio_codec = "opus" if in_vscode() else "aac"
    web = encode_for_web(clip, max_bytes=max_bytes, audio_codec=audio_codec)
    t = clip.take
    caption = (f"{t.model} · seed {t.seed} · {clip.size[0]}×{clip.size[1]} · {clip.frames.shape[0]} frames "
               f"@ {clip.fps} fps · {clip.duration:.2f} s · {clip.provenance.label}")
    if web.reduced:
        caption += (f" · embedded at {web.width}×{web.height}, CRF {web.crf}, {web.audio_bitrate // 1000} kb/s "
                    f"{web.audio_codec} audio to stay under "
                    f"{max_bytes / 1e6:g} MB (save the clip for full quality)")
    if clip.provenance.guidance:
        caption += f" · physics: {clip.provenance.guidance}"
    if clip.provenance.status != "complete":
        caption += f" · {clip.provenance.status}"
    return video_html(web.data, width=min(clip.size[0], 832), caption=caption)


def show(clip: Clip | Film | Ranking, *, max_bytes: int = DEFAULT_MAX_BYTES, audio_codec: str | None = None) -> None:
    """Shows a clip (or a storyboard's film, or a best-of ranking) inline as video with sound (see
    ``clip_html`` for the options)."""
    from IPython.display import HTML, display

    from sorakit.best import Ranking
    from sorakit.storyboard import Film

    if isinstance(clip, Ranking):
        page = ranking_html(clip, max_bytes=max_bytes)
    elif isinstance(clip, Film):
        page = film_html(clip, max_bytes=max_bytes, audio_codec=audio_codec)
    else:
        page = clip_html(clip, max_bytes=max_bytes, audio_codec=audio_codec)
    display(HTML(page))  # type: ignore[no-untyped-call]


def compare_html(clips: list[Clip] | tuple[Clip, ...], labels: list[str] | tuple[str, ...] | None = None, *,
                 max_bytes: int = DEFAULT_MAX_BYTES, audio_codec: str | None = None) -> str:
    """Clips side by side, each labelled, sharing the size cap between them."""
    labels = list(labels) if labels is not None else [f"seed {c.take.seed}" for c in clips]
    if len(labels) != len(clips):
        raise InvalidInput(f"{len(labels)} labels for {len(clips)} clips: give one label per clip")
    share = max(1, max_bytes // max(1, len(clips)))
    cells = "".join(
        f'<div style="flex:1;min-width:0"><div style="font:bold 13px sans-serif;margin:4px 0">{html.escape(label)}'
        f"</div>{clip_html(clip, max_bytes=share, audio_codec=audio_codec)}</div>"
        for clip, label in zip(clips, labels))
    return f'<div class="sorakit-compare" style="display:flex;gap:12px;align-items:flex-start">{cells}</div>'


def show_compare(clips: list[Clip] | tuple[Clip, ...], labels: list[str] | tuple[str, ...] | None = None) -> None:
    """Shows clips side by side (see ``compare_html``)."""
    from IPython.display import HTML, display

    display(HTML(compare_html(clips, labels)))  # type: ignore[no-untyped-call]


def filmstrip(clip: Clip, n: int = 6, *, height: int = 120, gap: int = 4) -> np.ndarray:
    """``n`` evenly spaced frames side by side, each ``height`` pixels tall, as uint8 ``[H, W, 3]``."""
    from PIL import Image

    if n < 1:
        raise InvalidInput(f"n={n}: a filmstrip needs at least 1 frame")
    count = clip.frames.shape[0]
    picks = np.linspace(0, count - 1, min(n, count)).round().astype(int)
    w = max(1, round(clip.size[0] * height / clip.size[1]))
    tiles = [np.asarray(Image.fromarray(clip.frames[i]).resize((w, height), Image.Resampling.BOX)) for i in picks]
    strip = np.full((height, len(tiles) * (w + gap) - gap, 3), 255, np.uint8)
    for k, tile in enumerate(tiles):
        strip[:, k * (w + gap):k * (w + gap) + w] = tile
    return strip


def show_filmstrip(clip: Clip, n: int = 6, *, height: int = 120) -> None:
    from IPython.display import display
    from PIL import Image

    display(Image.fromarray(filmstrip(clip, n, height=height)))  # type: ignore[no-untyped-call]


def waveform_png(clip: Clip, *, width: float = 9.0) -> bytes:
    """A PNG of the soundtrack: waveform above, spectrogram below, every event's time marked."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    mono = clip.audio.mean(axis=0) if clip.audio.size else np.zeros(1, np.float32)
    t = np.arange(mono.size) / clip.sample_rate
    fig = Figure(figsize=(width, 4.2), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax_wave, ax_spec = fig.subplots(2, 1, sharex=True, height_ratios=(1, 1.4))
    ax_wave.plot(t, mono, lw=0.6, color="#2b6cb0")
    ax_wave.set_ylim(-1, 1)
    ax_wave.set_ylabel("amplitude")
    ax_wave.set_title(f"{clip.take.model} · seed {clip.take.seed} · {len(clip.events)} events", fontsize=10)
    if mono.size > 512:
        with np.errstate(divide="ignore"):  # silence between events is log10(0)
            ax_spec.specgram(mono, NFFT=1024, Fs=clip.sample_rate, noverlap=768, cmap="magma", vmin=-140)
    ax_spec.set_facecolor("black")
    ax_spec.set_ylim(0, min(8000, clip.sample_rate / 2))
    ax_spec.set_ylabel("Hz")
    ax_spec.set_xlabel("seconds")
    ax_spec.set_xlim(0, clip.duration)
    for e in clip.events:
        for ax in (ax_wave, ax_spec):
            ax.axvline(e.time, color="#e4572e", lw=0.8, alpha=0.8)
        ax_wave.annotate(e.b, (e.time, 0.92), fontsize=7, rotation=90, va="top", ha="right", color="#9c2f12")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def show_waveform(clip: Clip) -> None:
    from IPython.display import Image, display

    display(Image(waveform_png(clip)))  # type: ignore[no-untyped-call]


TRACK_COLORS = {"foley": "#e4572e", "ambience": "#4c9f70", "music": "#7a5cc6", "dialogue": "#2b6cb0",
                 "joint": "#b7791f"}


def audio_html(audio: np.ndarray, sample_rate: int, *, label: str = "", codec: str | None = None,
               bitrate: int = 128_000) -> str:
    """An ``<audio controls>`` carrying the sound as a data URI (AAC, or Opus inside VS Code).

    >>> audio_html(np.zeros((2, 4800), np.float32), 48_000, label="music")[:52]
    '<figure class="sorakit-audio" style="margin:4px 0"><'
    """
    if codec is None:
        codec = "opus" if in_vscode() and sample_rate == 48_000 else "aac"
    data, mime = _media.encode_audio(audio, sample_rate, codec=codec, bitrate=bitrate)
    b64 = base64.b64encode(data).decode("ascii")
    cap = (f'<figcaption style="font:12px sans-serif;color:#444;min-width:6em">{html.escape(label)}</figcaption>'
           if label else "")
    return (f'<figure class="sorakit-audio" style="margin:4px 0">{cap}'
            f'<audio controls preload="auto" src="data:{mime};base64,{b64}"></audio></figure>')


def soundtrack_png(clip: Clip, *, width: float = 9.0) -> bytes:
    """A PNG of the soundtrack by track: one lane per stem (level in dB over time), dialogue lines
    and physics events marked, and the spectrogram of the mix below, titled with its loudness."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    stems = clip.stems or {"mix": clip.audio}
    fig = Figure(figsize=(width, 1.1 * len(stems) + 2.6), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(stems) + 1, 1, sharex=True, height_ratios=(1,) * len(stems) + (2.0,))
    hop = max(1, clip.sample_rate // 100)  # 10 ms
    for ax, (name, stem) in zip(axes, stems.items()):
        mono = np.abs(stem).max(axis=0) if stem.size else np.zeros(1)
        n = mono.size // hop * hop
        env = mono[:n].reshape(-1, hop).max(axis=1) if n else np.zeros(1)
        with np.errstate(divide="ignore"):
            db = np.maximum(20 * np.log10(env), -60)
        t = np.arange(env.size) * hop / clip.sample_rate
        colour = TRACK_COLORS.get(name, "#555555")
        ax.fill_between(t, -60, db, color=colour, alpha=0.7, lw=0)
        ax.set_ylim(-60, 0)
        ax.set_yticks([-60, -30, 0])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=9)
        if name == "foley":
            for e in clip.events:
                ax.axvline(e.time, color="#9c2f12", lw=0.7)
    info = clip.soundtrack
    if info is not None and "dialogue" in stems:
        ax = axes[list(stems).index("dialogue")]
        for line in info.lines:
            ax.axvspan(line.start, line.end, color="#2b6cb0", alpha=0.12)
            ax.annotate(f"{line.speaker}: {line.text}"[:40], (line.start, -4), fontsize=7, va="top", color="#1a365d")
    spec = axes[-1]
    mix = clip.audio.mean(axis=0) if clip.audio.size else np.zeros(1, np.float32)
    if mix.size > 512:
        with np.errstate(divide="ignore"):
            spec.specgram(mix, NFFT=1024, Fs=clip.sample_rate, noverlap=768, cmap="magma", vmin=-140)
    spec.set_facecolor("black")
    spec.set_ylim(0, min(8000, clip.sample_rate / 2))
    spec.set_ylabel("mix, Hz", fontsize=9)
    spec.set_xlabel("seconds")
    spec.set_xlim(0, clip.duration)
    title = f"{clip.take.model} · seed {clip.take.seed}"
    if info is not None:
        m = info.mix
        level = f"{m.loudness:.1f} LUFS" if m.loudness is not None else "silent"
        target = f" (target {m.target:g})" if m.target is not None else ""
        peak = f", true peak {m.true_peak:.1f} dBTP" if m.true_peak is not None else ""
        title += f" · {level}{target}{peak}"
    axes[0].set_title(title, fontsize=10)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def soundtrack_html(clip: Clip, *, codec: str | None = None) -> str:
    """The mix and each track alone as audio players, over ``soundtrack_png``: hear what each part adds."""
    players = [audio_html(clip.audio, clip.sample_rate, label="mix", codec=codec)]
    for name, stem in clip.stems.items():  # each track alone, at a lighter bit rate to keep the page small
        players.append(audio_html(stem, clip.sample_rate, label=f"{name} alone", codec=codec, bitrate=64_000))
    png = base64.b64encode(soundtrack_png(clip)).decode("ascii")
    return (f'<div class="sorakit-soundtrack">{"".join(players)}'
            f'<img alt="soundtrack by track" src="data:image/png;base64,{png}" style="max-width:100%"></div>')


def show_soundtrack(clip: Clip, *, codec: str | None = None) -> None:
    """Shows the clip's sound: the mix and each track alone as players, and the tracks over time."""
    from IPython.display import HTML, display

    display(HTML(soundtrack_html(clip, codec=codec)))  # type: ignore[no-untyped-call]


def film_html(film: Film, *, max_bytes: int = DEFAULT_MAX_BYTES, audio_codec: str | None = None) -> str:
    """The HTML that ``show(film)`` displays: the joined film, its shots and where each starts."""
    if audio_codec is None:
        audio_codec = "opus" if in_vscode() else "aac"
    if film.frames.shape[0] == 0:
        return f'<p class="sorakit-film">no shot finished ({html.escape(film.status)})</p>'
    web = encode_for_web(film, max_bytes=max_bytes, audio_codec=audio_codec)
    cuts = ", ".join(f"{i + 1} at {s:.2f} s" for i, s in enumerate(film.starts))
    caption = (f"film · {len(film.shots)} shots ({cuts}) · {film.duration:.2f} s · {film.status} · "
               f"{film.shots[0].provenance.label}")
    if web.reduced:
        caption += f" · embedded at {web.width}×{web.height} to stay under {max_bytes / 1e6:g} MB"
    return video_html(web.data, width=min(film.frames.shape[2], 832), caption=caption)


def ranking_html(ranking: Ranking, *, max_bytes: int = DEFAULT_MAX_BYTES) -> str:
    """The HTML that shows a best-of run: every take, best first, with its physics score and verdict.

    The videos loop muted so they play in sync; the embedding budget is shared between them.
    """
    n = max(1, len(ranking.entries))
    cells = []
    for rank, e in enumerate(ranking.entries, 1):
        s = e.score
        facts = (f"#{rank} · seed {e.seed} · <b>physics {s.total:.1f}</b> · tracked {100 * s.found:.0f}% · "
                 f"path {'-' if s.path_pct is None else f'{s.path_pct:.1f}%'} · teleports {s.teleports}"
                 + ("" if s.gravity_error is None else f" · g {100 * s.gravity_error:+.0f}%"))
        video = clip_html(e.clip(), max_bytes=max_bytes // n).replace("<video controls",
                                                                      "<video controls autoplay muted loop")
        cells.append(f'<td style="vertical-align:top">{video}<div>{facts}</div>'
                     f'<div style="font-size:smaller">{html.escape(s.verdict)}</div></td>')
    rows = ["<tr>" + "".join(cells[i:i + 3]) + "</tr>" for i in range(0, len(cells), 3)]
    return (f'<table class="sorakit-best-of"><caption>best of {n} by physics score '
            f"({html.escape(str(ranking.folder))})</caption>{''.join(rows)}</table>")
