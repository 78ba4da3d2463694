from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import sorakit
from sorakit import display


def payload(html: str) -> bytes:
    match = re.search(r'<video controls[^>]*src="data:video/mp4;base64,([A-Za-z0-9+/=]+)"', html)
    assert match, "a <video controls> with an mp4 data URI"
    return base64.b64decode(match.group(1))


def test_clip_html_embeds_a_playable_mp4_with_sound(basketball_clip: sorakit.Clip, tmp_path: Path) -> None:
    html = display.clip_html(basketball_clip, audio_codec="aac")
    assert "<source" not in html  # a src attribute survives reopening an untrusted notebook
    mp4 = tmp_path / "embedded.mp4"
    mp4.write_bytes(payload(html))
    with av.open(str(mp4)) as f:
        assert f.streams.video[0].codec_context.name == "h264"
        assert f.streams.video[0].codec_context.pix_fmt == "yuv420p"
        assert f.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in f.decode(video=0)) == 80
    assert "AI-generated" in html and "seed 0" in html and "embedded at" not in html


def test_show_stays_under_the_cap_and_says_so(basketball_clip: sorakit.Clip) -> None:
    full = display.embedded_size(len(display.encode_for_web(basketball_clip).data))
    cap = full * 2 // 3
    html = display.clip_html(basketball_clip, max_bytes=cap, audio_codec="aac")
    assert len(html.encode()) <= cap and len(payload(html)) < cap
    assert re.search(r"embedded at \d+×\d+, CRF \d+, \d+ kb/s aac audio to stay under", html)
    with pytest.raises(ValueError, match="does not fit in max_bytes=1000 even at 1/4 size"):
        display.clip_html(basketball_clip, max_bytes=1000)


def test_show_displays_the_html(basketball_clip: sorakit.Clip, monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[object] = []
    monkeypatch.setattr("IPython.display.display", shown.append)
    sorakit.show(basketball_clip)
    assert len(shown) == 1 and "<video controls" in shown[0].data  # type: ignore[attr-defined]
    assert sorakit.clip_html(basketball_clip).startswith('<figure class="sorakit-clip"')


def test_filmstrip_puts_n_frames_in_a_row(basketball_clip: sorakit.Clip) -> None:
    strip = display.filmstrip(basketball_clip, 5, height=60, gap=4)
    assert strip.shape == (60, 5 * 100 + 4 * 4, 3) and strip.dtype == np.uint8
    first = np.asarray(Image.fromarray(basketball_clip.frames[0]).resize((100, 60), Image.Resampling.BOX))
    np.testing.assert_array_equal(strip[:, :100], first)
    assert np.all(strip[:, 100:104] == 255)


def test_waveform_png_marks_every_event(basketball_clip: sorakit.Clip, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    lines: list[float] = []
    real = Axes.axvline
    monkeypatch.setattr(Axes, "axvline", lambda self, x, **kw: lines.append(x) or real(self, x, **kw))
    png = display.waveform_png(basketball_clip)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (900, 420)
    assert sorted(set(lines)) == sorted(e.time for e in basketball_clip.events)
    assert lines.count(basketball_clip.events[0].time) == 2  # on the waveform and on the spectrogram


def test_opus_audio_for_vscode(basketball_clip: sorakit.Clip, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """VS Code's player decodes H.264 and Opus but not AAC: inside VS Code, show() embeds Opus."""
    from sorakit import _media

    from .conftest import onset

    monkeypatch.setenv("VSCODE_PID", "1234")
    mp4 = tmp_path / "vscode.mp4"
    mp4.write_bytes(payload(display.clip_html(basketball_clip)))
    with av.open(str(mp4)) as f:
        assert f.streams.audio[0].codec_context.name == "opus"
    _, _, audio, rate = _media.read_mp4(mp4)
    for e in basketball_clip.events:
        assert abs(onset(audio, rate, e.time) / rate - e.time) <= 0.005
    monkeypatch.delenv("VSCODE_PID")
    with pytest.raises(ValueError, match="audio_codec='mp3': use one of aac, opus"):
        display.clip_html(basketball_clip, audio_codec="mp3")


def test_compare_html_puts_labelled_clips_side_by_side(basketball_clip: sorakit.Clip) -> None:
    other = sorakit.generate(basketball_clip.take.replace(seed=1, physics=sorakit.PhysicsConfig(scene="ramp")))
    html = display.compare_html([basketball_clip, other], ["basketball", "ramp"], audio_codec="aac")
    assert html.count("<video controls") == 2 and ">basketball</div>" in html and ">ramp</div>" in html
    with pytest.raises(ValueError, match="1 labels for 2 clips: give one label per clip"):
        display.compare_html([basketball_clip, other], ["only one"])


def test_soundtrack_html_has_the_mix_and_each_track_alone(basketball_clip: sorakit.Clip) -> None:
    page = sorakit.soundtrack_html(basketball_clip, codec="aac")
    sources = re.findall(r'<figcaption[^>]*>([^<]+)</figcaption><audio controls preload="auto" '
                         r'src="data:audio/mp4;base64,([^"]+)"', page)
    assert [label for label, _ in sources] == ["mix", "foley alone"]
    for _, b64 in sources:
        with av.open(io.BytesIO(base64.b64decode(b64))) as f:
            stream = f.streams.audio[0]
            assert stream.rate == 48_000
            assert abs(float(stream.duration * stream.time_base) - basketball_clip.duration) < 0.05
    png = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert png is not None and base64.b64decode(png.group(1))[:8] == b"\x89PNG\r\n\x1a\n"


def test_soundtrack_png_titles_the_loudness(basketball_clip: sorakit.Clip, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.axes import Axes

    titles: list[str] = []
    original = Axes.set_title
    monkeypatch.setattr(Axes, "set_title", lambda self, t, **k: (titles.append(t), original(self, t, **k))[1])
    sorakit.soundtrack_png(basketball_clip)
    info = basketball_clip.soundtrack
    assert info is not None and info.mix.loudness is not None
    assert titles == [f"previz · seed {basketball_clip.take.seed} · {info.mix.loudness:.1f} LUFS (target -16), "
                      f"true peak {info.mix.true_peak:.1f} dBTP"]


def test_a_clip_left_as_a_cell_s_value_shows_as_a_video(basketball_clip: sorakit.Clip) -> None:
    """The view layer registers itself as the Clip's HTML formatter in IPython (the Clip knows nothing of it)."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        sorakit._register_views()
        data, _ = shell.display_formatter.format(basketball_clip)
        assert '<video controls' in data["text/html"] and 'src="data:video/mp4;base64,' in data["text/html"]
    finally:
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("cap", [300_000, 120_000, 60_000])
def test_the_cap_counts_what_is_embedded(basketball_clip: sorakit.Clip, cap: int) -> None:
    """The page a notebook stores (the mp4 as base64 and its HTML) stays under the cap, not just the mp4."""
    page = sorakit.clip_html(basketball_clip, max_bytes=cap)
    assert len(page.encode()) <= cap
