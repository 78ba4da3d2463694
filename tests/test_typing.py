from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_mypy_strict_passes() -> None:
    root = Path(__file__).parent.parent
    run = subprocess.run([sys.executable, "-m", "mypy"], cwd=root, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
