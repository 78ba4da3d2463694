"""Saves that never lose a good clip: the mp4 and its sidecar are replaced together or not at all,
at every write point; a pair whose hashes disagree is refused by ``load``; saved files get the
mode the user's umask gives (and keep a replaced file's); bad Take JSON is always ``InvalidInput``."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import sorakit
from sorakit import _media


@pytest.fixture(scope="module")
def clips() -> tuple[sorakit.Clip, sorakit.Clip]:
    a = sorakit.generate(sorakit.Take(frames=8, width=96, height=64, seed=1))
    b = sorakit.generate(sorakit.Take(frames=8, width=96, height=64, seed=2, physics=sorakit.PhysicsConfig(
        scene="dominoes")))
    return a, b


def _fail_on_call(n: int, real: Callable[..., object], error: BaseException) -> Callable[..., object]:
    calls = [0]

    def fn(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        if calls[0] == n:
            raise error
        return real(*args, **kwargs)

    return fn


def _points(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Callable[[], None]]]:
    yield "encoding the mp4", lambda: monkeypatch.setattr(
        _media, "write_mp4_unclipped", _fail_on_call(1, _media.write_mp4_unclipped, OSError(28, "No space left")))
    yield "writing the sidecar", lambda: monkeypatch.setattr(
        Path, "write_text", _fail_on_call(1, Path.write_text, OSError(28, "No space left")))
    yield "renaming the mp4", lambda: monkeypatch.setattr(
        os, "replace", _fail_on_call(1, os.replace, OSError(5, "I/O error")))
    yield "renaming the sidecar", lambda: monkeypatch.setattr(
        os, "replace", _fail_on_call(2, os.replace, OSError(5, "I/O error")))
    yield "syncing", lambda: monkeypatch.setattr(
        os, "fsync", _fail_on_call(2, os.fsync, OSError(5, "I/O error")))


@pytest.mark.parametrize("point", ["encoding the mp4", "writing the sidecar", "renaming the mp4",
                                   "renaming the sidecar", "syncing"])
def test_a_save_interrupted_at_any_write_point_keeps_the_old_pair(tmp_path: Path, clips: tuple[sorakit.Clip, ...],
                                                                  point: str, monkeypatch: pytest.MonkeyPatch) -> None:
    old, new = clips
    path = old.save(tmp_path / "shot.mp4")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with monkeypatch.context() as m:
        dict(_points(m))[point]()
        with pytest.raises(OSError):
            new.save(path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # nothing new, nothing left over
    assert sorakit.verify(path).ok and sorakit.load(path).take == old.take


def test_a_sidecar_that_cannot_be_written_keeps_the_old_pair(tmp_path: Path, clips: tuple[sorakit.Clip, ...]) -> None:
    """A prompt with a lone surrogate cannot be written as UTF-8: the save fails whole (validate() refuses
    such a Take first; a Clip made otherwise meets the save's own guard)."""
    old, new = clips
    path = old.save(tmp_path / "shot.mp4")
    broken = dataclasses.replace(new, take=new.take.replace(prompt="caf\udce9"))
    with pytest.raises(UnicodeEncodeError):
        broken.save(path)
    assert sorakit.verify(path).ok and sorakit.load(path).take == old.take
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shot.json", "shot.mp4"]
    with pytest.raises(sorakit.InvalidInput, match="prompt=.*a lone surrogate"):
        new.take.replace(prompt="caf\udce9").validate()


def test_load_refuses_a_pair_whose_hashes_disagree(tmp_path: Path, clips: tuple[sorakit.Clip, ...]) -> None:
    """What a process killed between the two renames leaves: the new mp4 beside the old sidecar."""
    old, new = clips
    path = old.save(tmp_path / "shot.mp4")
    other = new.save(tmp_path / "other.mp4")
    shutil.copyfile(other, path)
    report = sorakit.verify(path)
    assert not report.ok and any("SHA-256" in p for p in report.problems)
    with pytest.raises(sorakit.InvalidInput, match="SHA-256 differs.*strict=False"):
        sorakit.load(path)
    loose = sorakit.load(path, strict=False)
    assert loose.take == old.take and loose.frames.shape == new.frames.shape


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_saved_files_get_the_umask_s_mode(tmp_path: Path, clips: tuple[sorakit.Clip, ...], umask: int,
                                          mode: int) -> None:
    saved = os.umask(umask)
    try:
        path = clips[0].save(tmp_path / "shot.mp4")
    finally:
        os.umask(saved)
    assert path.stat().st_mode & 0o777 == mode and path.with_suffix(".json").stat().st_mode & 0o777 == mode


def test_saving_over_a_file_keeps_its_mode(tmp_path: Path, clips: tuple[sorakit.Clip, ...]) -> None:
    path = clips[0].save(tmp_path / "shot.mp4")
    os.chmod(path, 0o640)
    clips[1].save(path)
    assert path.stat().st_mode & 0o777 == 0o640 and sorakit.load(path).take == clips[1].take


def test_the_mp4_says_what_made_it(tmp_path: Path, clips: tuple[sorakit.Clip, ...]) -> None:
    import av

    path = clips[0].save(tmp_path / "shot.mp4")
    with av.open(str(path)) as c:
        meta = dict(c.metadata)
    assert meta["comment"] == f"AI-generated with sorakit {sorakit.__version__} (previz)"


@pytest.mark.parametrize("text, match", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"seed": ' + "9" * 5000 + "}", "holds a value no Take has"),
    ("{'seed': 1}", "does not parse"),
])
def test_every_bad_take_json_is_invalid_input(text: str, match: str) -> None:
    with pytest.raises(sorakit.InvalidInput, match=match):
        sorakit.Take.from_json(text)


def test_a_saved_pair_round_trips(tmp_path: Path, clips: tuple[sorakit.Clip, ...]) -> None:
    path = clips[0].save(tmp_path / "shot.mp4")
    again = sorakit.load(path)
    assert again.take == clips[0].take and np.abs(again.frames.astype(int) - clips[0].frames).mean() < 3
    side = json.loads(path.with_suffix(".json").read_text())
    assert side["take"]["seed"] == 1


@pytest.mark.parametrize("scene", ["basketball", "bouncing_balls", "dominoes", "ramp"])
def test_the_demo_scenes_decode_under_the_ceiling_by_an_external_meter(tmp_path: Path, scene: str) -> None:
    """ffmpeg's own decoder and its ebur128 true-peak meter read every demo scene's mp4 at or under -1 dBTP,
    and the sidecar's delivered true peak agrees with it."""
    import re
    import subprocess

    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.skip("ffmpeg not installed (tests/setup.sh installs it)")
    clip = sorakit.generate(sorakit.Take(seed=0, frames=80, fps=16, width=320, height=192,
                                         physics=sorakit.PhysicsConfig(scene=scene)))
    path = clip.save(tmp_path / f"{scene}.mp4")
    run = subprocess.run([ffmpeg, "-nostats", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true", "-f",
                          "null", "-"], capture_output=True, text=True, timeout=60)
    peak = float(re.findall(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", run.stderr)[-1])
    assert peak <= -1.0, (scene, peak)
    side = json.loads(path.with_suffix(".json").read_text())["audio"]
    assert abs(side["delivered_true_peak_dbtp"] - peak) < 0.3, (side, peak)
