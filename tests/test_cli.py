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


import time  # noqa: E402

import pytest  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sorakit import cli  # noqa: E402


@pytest.mark.parametrize("args, says", [
    (["--seconds", "inf"], "--seconds inf: must be a length above 0"),
    (["--seconds", "nan"], "--seconds nan: must be a length above 0"),
    (["--seconds", "0"], "--seconds 0.0: must be a length above 0"),
    (["--seconds", "-1"], "--seconds -1.0: must be a length above 0"),
    (["--seconds", "1e308"], "is 1000000000 frames; the previz draws 1 to 960"),
    (["--fps", "0"], "--fps 0: must be in [1, 120]"),
    (["--width", "1920", "--height", "1920", "--seconds", "60"], "needs about 46.7 GB of memory"),
    (["--out", "/proc/sorakit-out"], "nothing can be written in /proc"),
    (["--out", "OUT/missing/deeper"], None),  # fine: the folders are made
    (["--out", "FILE"], "a file is in the way"),
    (["--out", "FILE/below"], "is not a folder"),
    (["--out", "a\0b"], "no folder can have this name"),
])
def test_the_demo_checks_everything_before_it_renders(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                      says: str | None) -> None:
    (tmp_path / "FILE").write_text("not a folder")
    args = [a.replace("OUT", str(tmp_path / "out")).replace("FILE", str(tmp_path / "FILE")) for a in args]
    if says is not None and "46.7 GB" in says:  # as on a machine with 16 GB free, whatever this one has
        monkeypatch.setattr("sorakit.previz.available_memory", lambda: 16 * 2**30)
    rendered: list[object] = []
    monkeypatch.setattr(cli, "demo", lambda take, out: (rendered.append(take), {"page": out})[1])
    started = time.perf_counter()
    code = main(["demo", *args])
    err = capsys.readouterr().err
    assert time.perf_counter() - started < 1.0
    if says is None:
        assert code == 0 and len(rendered) == 1
        return
    assert code == 2 and not rendered, err
    assert says in err and err.count("\n") == 1 and "Traceback" not in err  # one line saying what to change


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.sampled_from(["demo", "--scene", "--out", "--seed", "--seconds", "--fps", "--width", "--height", "--version",
                     "basketball", "ramp", "nope", "-1", "0", "1e400", "inf", "nan", "3.5", "832", "2**40",
                     "99999999999999999999", "", "/proc/x", "\x00", "../../..", "-", "--"]),
    st.text(max_size=12)), max_size=8))
def test_no_argv_makes_the_cli_print_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 argv: list[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "demo", lambda take, out: {"page": out})  # the checks, not the render
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --version (0), a usage error (2)
        code = exc.code  # type: ignore[assignment]
    assert code in (0, 2)
