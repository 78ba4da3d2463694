from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_open_in_colab_and_install_without_touching_torch() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"01_quickstart", "02_physics", "03_cameo", "04_storyboard", "05_audio", "06_workshop"} <= names
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        assert f"colab.research.google.com/github/sorakit/sorakit/blob/main/notebooks/{path.name}" in nb.cells[0].source
        install = nb.cells[1].source
        assert nb.cells[1].cell_type == "code" and '"google.colab" in sys.modules' in install
        assert "torch" not in install.replace("keeps Colab's own torch", ""), path.name


def test_notebooks_are_committed_without_outputs() -> None:
    assert NOTEBOOKS
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_and_shows_a_video(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors[0]["evalue"] if errors else ""
    htmls = [o["data"]["text/html"] for o in outputs if "data" in o and "text/html" in o["data"]]
    assert any('<video controls' in h and 'src="data:video/mp4;base64,' in h for h in htmls)
    if path.stem == "01_quickstart":
        assert sum('<video controls' in h for h in htmls) == 3
        assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # filmstrip, waveform
        assert any("True True" in o.get("text", "") for o in outputs)  # load == take, rerun identical
        assert (tmp_path / "sorakit-outputs" / "basketball.json").is_file()
    if path.stem == "05_audio":
        texts = "".join(o.get("text", "") for o in outputs)
        assert sum(h.count("<audio controls") for h in htmls) >= 6  # the mix and each track alone
        assert "tracks ['foley', 'ambience', 'music', 'dialogue', 'dialogue']" in texts
        assert "same clip back: True | verify: True" in texts and "target -23.0 got -23.0" in texts
        # dialogue the picture speaks: a lip-synced line, a line the model says itself, the measure
        assert "lip-synced: True" in texts and "coach: 'Again!'  [lip-synced]" in texts
        assert 'coach says loudly, with a grin: "Again!"' in texts
        assert "coach: 'Again!'  [spoken by the model" in texts and "no face:" in texts
    if path.stem == "03_cameo":
        texts = "".join(o.get("text", "") for o in outputs)
        # every refusal, with its message
        assert "no consent: cameo 'Ana': consent=False; a cameo puts a real person into generated video" in texts
        assert "no face: cameo 'Ana': no face found in" in texts
        assert "too small: " in texts and "its shorter side must be at least 256 px" in texts
        assert "not an image: " in texts and "is not an image PIL can read" in texts
        assert "a Take without consent: " in texts and "so it needs their consent" in texts
        # the framing keeps the face findable at every size
        assert texts.count("face found again: Face(") == 3 and "face found again: None" not in texts
        # the consent travels with every cameo clip, into the sidecar
        assert texts.count("cameo: Ana; consent given; photo sha256 ") == 4  # three clips and the sidecar
        assert "photo sha256 matches: True | verify: True" in texts
        assert "guidance: cameo composited into the previz first frame" in texts
        assert "guidance: cameo Ana as VACE reference image" in texts
        assert "models that run identity: []" in texts
        assert any('class="sorakit-compare"' in h for h in htmls)
        assert sum("image/png" in o.get("data", {}) for o in outputs) == 3  # face box, framings, composite
    if path.stem == "04_storyboard":
        texts = "".join(o.get("text", "") for o in outputs)
        out = tmp_path / "sorakit-outputs" / "storyboard"
        assert "complete -> sorakit-outputs/storyboard/film.mp4" in texts
        assert (out / "film.mp4").is_file() and (out / "film.json").is_file()
        assert len(list(out.glob("shot_03_start_*.png"))) == 1  # the continue shot's first frame
        assert any("<video controls" in h and "film · 3 shots" in h for h in htmls)  # the film plays
        assert "shots start at (0.0, 1.5, 3.0625) s" in texts and "verify film.mp4: Verification(ok=True" in texts
        assert "cameo: Ben; consent given" in texts
        assert "across the crossfade at 1.50 s" in texts and "across the continue at 3.06 s" in texts
        assert "second render: ['loaded', 'loaded', 'loaded']" in texts  # resume loads, never re-renders
        assert "-> stopped in shot 2 of 3" in texts and "film.mp4 written: False" in texts
        assert "shot 1 of 3: loaded    sorakit-outputs/storyboard-stopped/shot_01.mp4" in texts
        assert "after changing shot 3's seed: ['loaded', 'loaded', 'rendering', 'rendered']" in texts
        # the verdict printed is the one the printed measures give (consistency's own rule)
        import re

        from sorakit.consistency import _verdict

        joins = re.findall(r"join (\d)→\d: look (-?[\d.]+), color ΔE00 ([\d.]+), exposure ([+-][\d.]+) stops", texts)
        assert len(joins) == 2
        verdict = next(line for line in texts.splitlines() if line.startswith(("consistent", "inconsistent")))
        look, colour, stops = (tuple(float(j[k]) for j in joins) for k in (1, 2, 3))
        assert all(-1.0 <= x <= 1.0 for x in look) and all(x >= 0 for x in colour)
        found = re.findall(r"(\w+) in shot (\d+): similarity (-?[\d.]+) \((found|not found)\)", texts)
        assert found and verdict.split(":")[0] == ("inconsistent" if any(f[3] == "not found" for f in found) else
                                                   _verdict(look, colour, stops, [], 3).split(":")[0])
        assert sum("image/png" in o.get("data", {}) for o in outputs) == 2  # the cast, the consistency plot
    if path.stem == "02_physics":
        texts = "".join(o.get("text", "") for o in outputs)
        assert "hits the backboard" in texts  # the prompt help
        assert "video-to-video from the previz (strength 0.6)" in texts and "warped noise (strength 0.8)" in texts
        assert "Time-to-Move (t_weak 0, t_strong 1 of 4 steps" in texts
        assert "Cosmos-Transfer2.5 seg control made from the previz (control weight 1)" in texts
        assert "each body's colour in the control: {'ball': (" in texts
        assert "previz    score" in texts and "| physical" in texts  # the clean previz passes its report
        assert "gravity off in frames" in texts and "floats" in texts  # the staged surprise, named
        assert texts.count("best of 3, #") == 3 and any('class="sorakit-best-of"' in h for h in htmls)
        assert any('class="sorakit-compare"' in h for h in htmls)
        assert any("image/png" in o.get("data", {}) for o in outputs)  # the report's plot
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_the_notebooks_install_as_the_readme_says() -> None:
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    said = re.search(r'%pip install -q "sorakit @ ([^"]+)"', readme)
    assert said is not None
    for path in NOTEBOOKS:
        cell = next(c.source for c in nbformat.read(path, as_version=4).cells if "SORAKIT = " in c.source)
        spec = re.search(r'SORAKIT = "sorakit(\[[a-z,]+\])? @ ([^"]+)"', cell)
        assert spec is not None and spec.group(2) == said.group(1), path.name
