"""Every ```python block of the README runs as written, in order, offline.

The hub names the blocks use are served by tiny checkpoints: the video models are registered
under their short names (``wan2.1-t2v-1.3b``, ``wan2.1-i2v-14b-480p``) with tiny cards, and the
hub ids of the voice, AudioGen, MusicGen and CLIP models are laid out in a Hugging Face cache of
the test's own (``HF_HUB_OFFLINE=1``), so the real ``from_pretrained`` and ``hf_hub_download``
paths load them. A notebook-only line (``%pip``) is the only thing left out.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path



README = Path(__file__).resolve().parent.parent / "README.md"
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def _cache(root: Path, repo: str, folder: Path) -> None:
    """``folder`` laid out as the hub cache's snapshot of ``repo`` (what a download leaves)."""
    base = root / ("models--" + repo.replace("/", "--"))
    commit = "0" * 40
    shutil.copytree(folder, base / "snapshots" / commit)
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)


PRELUDE = """
import sorakit
from sorakit import models

card = models.Card(width=64, height=48, frames=9, fps=16, steps=2, guidance_scale=5.0)
for name, folder in {folders!r}.items():  # the short names the README uses, served by tiny checkpoints
    spec = models.get(name)
    models.register(models.ModelSpec(**{{**spec.__dict__, "model_id": folder, "card": card, "min_size": 16}}))
"""


def test_every_python_block_of_the_readme_runs_as_written(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from PIL import Image

    from sorakit.tiny import audiocraft, clip, tts, wan

    built, cache = tmp_path / "built", tmp_path / "hub"
    _cache(cache, "facebook/mms-tts-eng", tts.build(built / "voice"))
    _cache(cache, "facebook/audiogen-medium", audiocraft.build(built / "audiogen", "audiogen"))
    _cache(cache, "facebook/musicgen-small", audiocraft.build(built / "musicgen", "musicgen"))
    _cache(cache, "openai/clip-vit-base-patch32", clip.build(built / "clip"))
    folders = {name: str(wan.build(built / name, mode, max_side=64))
               for name, mode in (("wan2.1-t2v-1.3b", "t2v"), ("wan2.1-i2v-14b-480p", "i2v"))}
    with Image.open(ASSETS / "cameo_drawn_a.png") as im:  # a made-up person, as the notebooks use
        im.convert("RGB").save(tmp_path / "ana.jpg")

    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 7
    script = [PRELUDE.format(folders=folders)]
    for i, block in enumerate(blocks):
        code = "\n".join(line for line in block.splitlines() if not line.startswith("%"))  # a notebook's %pip
        script.append(f"print('-- README python block {i}', flush=True)\n{code}")
    script.append("print('film verifies:', sorakit.verify(film.path).ok, '| cameo:', clip.provenance.cameo[:18])")
    (tmp_path / "readme.py").write_text("\n".join(script), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "TRANSFORMERS_OFFLINE": "1"}
    run = subprocess.run([sys.executable, "readme.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    assert "film verifies: True | cameo: Ana; consent given" in run.stdout
    assert (tmp_path / "outputs" / "shot.json").is_file() and (tmp_path / "my-film" / "film.mp4").is_file()
