from __future__ import annotations

import json
import subprocess
import sys


def test_import_sorakit_loads_no_heavy_or_display_modules() -> None:
    code = ("import sys, json, sorakit; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'torch', 'diffusers', 'transformers', 'audiocraft', 'matplotlib', 'IPython', 'ipywidgets'})))")
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
