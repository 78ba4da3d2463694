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
