from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import sorakit
from sorakit.cli import main


def test_demo_writes_mp4_sidecar_and_page(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--seconds", "2", "--width", "320", "--height", "192"]) == 0
    printed = capsys.readouterr().out
    for name in ("basketball.mp4", "basketball.json", "basketball.html", "basketball_filmstrip.png",
                 "basketball_waveform.png"):
        assert (tmp_path / name).stat().st_size > 0
        assert str(tmp_path / name) in printed
    clip = sorakit.load(tmp_path / "basketball.mp4")
    assert clip.frames.shape == (32, 192, 320, 3) and clip.take.physics.scene == "basketball"
    page = (tmp_path / "basketball.html").read_text()
    assert re.search(r'<video controls[^>]* src="basketball.mp4"', page)
    assert 'src="basketball_waveform.png"' in page and "&quot;seed&quot;: 0" in page


def test_demo_refuses_a_bad_size_with_the_fix(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path), "--width", "333"]) == 2
    assert "width=333: must be a multiple of 2 for previz; use 332 or 334" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_console_script_runs_the_default_demo(tmp_path: Path) -> None:
    exe = shutil.which("sorakit", path=str(Path(sys.executable).parent))
    assert exe, "pip install -e . puts a sorakit command beside python"
    run = subprocess.run([exe, "demo", "--out", str(tmp_path / "out"), "--scene", "dominoes"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "dominoes.html" in run.stdout
    clip = sorakit.load(tmp_path / "out" / "dominoes.mp4")
    assert clip.frames.shape == (80, 480, 832, 3)
    assert len(clip.events) > 10
