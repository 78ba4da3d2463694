from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_import_sorakit_loads_no_heavy_or_display_modules() -> None:
    code = ("import sys, json, sorakit; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'diffusers', 'transformers', 'audiocraft', 'matplotlib', 'IPython', 'ipywidgets', 'ray'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


def test_public_api_is_listed_by_hand() -> None:
    import sorakit

    for name in sorakit.__all__:
        assert hasattr(sorakit, name), name
    assert {"Take", "Clip", "generate", "load", "show", "Scene", "preset"} <= set(sorakit.__all__)


def test_the_readme_s_report_call_works_after_a_bare_import() -> None:
    import subprocess
    import sys

    code = ("import sorakit; clip = sorakit.generate(sorakit.Take(frames=32, width=160, height=96)); "
            "print(sorakit.report.measure(clip).passed)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True"]


def test_under_ci_a_skipped_test_or_doctest_fails_the_run(tmp_path: Path) -> None:
    """The run-wide hook (conftest.py at the root) turns skips into failures under CI=true, the
    package's doctests included, and leaves them skips elsewhere."""
    import shutil

    shutil.copy(Path(__file__).resolve().parent.parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_x.py").write_text("import pytest\n\ndef test_gone():\n    pytest.skip('no chromium')\n")
    (tmp_path / "mod.py").write_text('def f():\n    """\n    >>> f()  # doctest: +SKIP\n    """\n')

    def run(ci: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules",
                               str(tmp_path)], cwd=tmp_path, capture_output=True, text=True,
                              env={**os.environ, "CI": ci})

    strict = run("true")
    assert strict.returncode == 1 and "2 failed" in strict.stdout, strict.stdout
    assert "FAILED mod.py::mod.f - skipped under CI=true" in strict.stdout  # the doctest too
    assert run("").returncode == 0
