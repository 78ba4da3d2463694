"""The embedded clip and the demo page play, with sound, in a real browser (headless Chromium)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import sorakit
from sorakit.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None or not _has_playwright():
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and the playwright package (tests/setup.sh installs them)")
        pytest.skip("chromium or playwright not installed (run tests/setup.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"])
        yield b
        b.close()


def _has_playwright() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static file server on 127.0.0.1 for ``tmp_path``, stopped after the test."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", tmp_path
    finally:
        server.shutdown()
        server.server_close()


PLAY = """async () => {
  const v = document.querySelector('video');
  if (v.readyState < 2) await new Promise((ok, bad) => {
    v.addEventListener('loadeddata', ok, {once: true}); v.addEventListener('error', bad, {once: true});
    setTimeout(() => bad(new Error('no loadeddata in 10 s')), 10000); });
  v.muted = true;
  await Promise.race([v.play(), new Promise(r => setTimeout(r, 3000))]);
  await new Promise(r => setTimeout(r, 1200));
  v.pause();
  return {ready: v.readyState, duration: v.duration, time: v.currentTime, error: v.error && v.error.code,
          audioBytes: v.webkitAudioDecodedByteCount, videoBytes: v.webkitVideoDecodedByteCount,
          width: v.videoWidth, height: v.videoHeight};
}"""


def _check(state: dict[str, float], duration: float) -> None:
    assert state["error"] is None
    assert state["ready"] >= 2
    assert abs(state["duration"] - duration) < 0.1
    assert state["time"] > 0.2, "playback advanced"
    assert state["videoBytes"] > 0 and state["audioBytes"] > 0, "both the picture and the sound decoded"


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_show_html_plays_in_chromium(browser, served, codec: str) -> None:  # type: ignore[no-untyped-def]
    url, folder = served
    clip = sorakit.generate(sorakit.Take(frames=48, width=320, height=192))
    (folder / "show.html").write_text(f"<!doctype html><body>{sorakit.clip_html(clip, audio_codec=codec)}</body>")
    page = browser.new_page()
    page.goto(f"{url}/show.html")
    state = page.evaluate(PLAY)
    _check(state, clip.duration)
    assert (state["width"], state["height"]) == (320, 192)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"show_{codec}.png"))
    page.close()


def test_demo_page_plays_in_chromium(browser, served) -> None:  # type: ignore[no-untyped-def]
    url, folder = served
    assert main(["demo", "--out", str(folder), "--seconds", "3"]) == 0
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    page.goto(f"{url}/basketball.html")
    _check(page.evaluate(PLAY), 3.0)
    loaded = page.evaluate("[...document.images].map(i => i.complete && i.naturalWidth > 0)")
    assert loaded == [True, True], "filmstrip and waveform images load"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "demo_page.png"), full_page=True)
    page.close()


PLAY_AUDIO = """async () => {
  const out = [];
  for (const a of document.querySelectorAll('audio')) {
    if (a.readyState < 2) await new Promise((ok, bad) => {
      a.addEventListener('loadeddata', ok, {once: true}); a.addEventListener('error', bad, {once: true});
      setTimeout(() => bad(new Error('no loadeddata in 10 s')), 10000); });
    a.muted = true;
    await Promise.race([a.play(), new Promise(r => setTimeout(r, 3000))]);
    await new Promise(r => setTimeout(r, 400));
    a.pause();
    out.push({ready: a.readyState, duration: a.duration, time: a.currentTime, error: a.error && a.error.code,
              label: a.parentElement.innerText});
  }
  return out;
}"""


@pytest.mark.parametrize("codec", ["aac", "opus"])
def test_soundtrack_players_play_in_chromium(browser, served, codec: str) -> None:  # type: ignore[no-untyped-def]
    """The mix and each track alone (here Foley) play as <audio> with the clip's duration."""
    url, folder = served
    clip = sorakit.generate(sorakit.Take(frames=32, width=64, height=48))
    (folder / "sound.html").write_text(f"<!doctype html><body>{sorakit.soundtrack_html(clip, codec=codec)}</body>")
    page = browser.new_page()
    page.goto(f"{url}/sound.html")
    players = page.evaluate(PLAY_AUDIO)
    assert [p["label"] for p in players] == ["mix", "foley alone"]
    for p in players:
        assert p["error"] is None and p["ready"] >= 2 and p["time"] > 0.1
        assert abs(p["duration"] - clip.duration) < 0.1
    assert page.evaluate("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    page.close()
