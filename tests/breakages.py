"""Deliberate breakages the suite must notice: each is made in a copy of the package and the tests
that should catch it are run against that copy. A breakage no test fails on is a hole in the suite.

    .venv/bin/python tests/breakages.py [words of the breakages to run]

Not part of the suite (it runs the suite many times); run it after changing a behaviour test. The
mutation testing of whole modules is the broad version of this (README, "The two commands").
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# (what breaks, file, text, replacement, the tests that must fail)
BREAKAGES = [
    ("v2v given black frames instead of the previz", "sorakit/backends/wan.py",
     '        args["video"] = [Image.fromarray(f) for f in cond.video]\n        args["strength"]',
     '        args["video"] = [Image.fromarray(f * 0) for f in cond.video]\n        args["strength"]',
     "tests/backends/test_inputs.py"),
    ("LTX v2v given no video at all", "sorakit/backends/ltx.py",
     '        args["latents"] = _encode(pipe, cond.video[None]).float()\n', "",
     "tests/backends/test_inputs.py"),
    ("the user's first frame replaced by grey", "sorakit/backends/contract.py",
     "            image = load_image(take.first_frame, width, height)",
     '            image = Image.new("RGB", (width, height), "grey")',
     "tests/backends/test_inputs.py"),
    ("no picture: grey instead of the previz's first frame", "sorakit/backends/contract.py",
     "            image = Image.fromarray(previz.frames[0])",
     '            image = Image.new("RGB", (width, height), "grey")',
     "tests/backends/test_inputs.py"),
    ("the warped noise replaced by plain independent noise", "sorakit/backends/_runtime.py",
     "            latents = fam.pack_noise(pipe, warped_noise(fam, pipe, take, cond), take, cond)",
     "            latents = None",
     "tests/backends/test_inputs.py"),
    ("the cameo never pasted into the previz frame", "sorakit/backends/contract.py",
     "        image = composite(previz.frames[0], person.image)",
     "        image = Image.fromarray(previz.frames[0])",
     "tests/backends/test_inputs.py"),
    ("the prompt and the negative prompt swapped", "sorakit/backends/_runtime.py",
     '        embeds = prompt_embeddings(spec, fam, pipe, take.model_prompt, take.negative_prompt or "", cfg, preset)',
     '        embeds = prompt_embeddings(spec, fam, pipe, take.negative_prompt or "", take.model_prompt, cfg, preset)',
     "tests/backends/test_inputs.py"),
    ("the Take's seed never reaching the generator", "sorakit/backends/_runtime.py",
     '        generator = torch.Generator(device="cpu").manual_seed(take.seed)',
     '        generator = torch.Generator(device="cpu").manual_seed(0)',
     "tests/backends/test_inputs.py"),
    ("Wan's prompt embeddings at the wrong length", "sorakit/backends/wan.py",
     "MAX_SEQUENCE_LENGTH = 512", "MAX_SEQUENCE_LENGTH = 226",
     "tests/backends/test_inputs.py"),
    ("a film dropping the shots' own sound", "sorakit/storyboard.py",
     '            parts.append(Track("shots", clip.audio,', '            (Track("shots", clip.audio,',
     "tests/test_storyboard.py"),
    ("the film's music not ducking under lines spoken inside shots", "sorakit/storyboard.py",
     "speech=tuple((x.start, x.end) for x in shot_lines))", "speech=())",
     "tests/test_storyboard.py"),
    ("the report skipping its pass-through (tunnelling) check", "sorakit/report/judging.py",
     "    for t, seg in _tunnels(b.p, ctx.scene):  # through a thin segment between two frames",
     "    for t, seg in []:",
     "tests/test_report.py"),
    ("lip-synced speech left to denoise with the picture", "sorakit/backends/ltx2.py",
     "        with hold_audio(pipe):\n            out = pipe(**args)", "        if True:\n            out = pipe(**args)",
     "tests/backends/test_lip_sync.py"),
    ("the film's lines never given to the shots", "sorakit/storyboard.py",
     "            return (part, RATE) if np.any(part) else None", "            return None",
     "tests/backends/test_lip_sync.py"),
    ("a Take's LoRAs left on for the next Take", "sorakit/backends/_loras.py",
     "        pipe.unload_lora_weights()\n        setattr(transformer, _APPLIED, ())\n    if not loras:",
     "        setattr(transformer, _APPLIED, ())\n    if not loras:", "tests/backends/test_speed.py"),
    ("speed='fast' running the card's schedule", "sorakit/take.py",
     "        if fast is not None:  # the distilled variant's own schedule",
     "        if False:", "tests/backends/test_speed.py"),
]


def main() -> int:
    only = [w.lower() for w in sys.argv[1:]]
    holes = 0
    with tempfile.TemporaryDirectory(prefix="sorakit-breakages-") as tmp:
        copy = Path(tmp)
        shutil.copytree(ROOT / "tests", copy / "tests")
        shutil.copytree(ROOT / "assets", copy / "assets")
        shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
        for what, file, old, new, tests in BREAKAGES:
            if only and not any(w in what.lower() for w in only):
                continue
            shutil.rmtree(copy / "sorakit", ignore_errors=True)
            shutil.copytree(ROOT / "sorakit", copy / "sorakit")
            path = copy / file
            text = path.read_text()
            if old not in text:
                print(f"STALE   {what}: the text to break is no longer in {file}")
                holes += 1
                continue
            path.write_text(text.replace(old, new, 1))
            run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", tests],
                                 cwd=copy, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONPATH": str(copy)})
            failed = [line.split(" - ")[0].removeprefix("FAILED ") for line in run.stdout.splitlines()
                      if line.startswith("FAILED")]
            if run.returncode == 0:
                holes += 1
                print(f"MISSED  {what}")
            else:
                print(f"CAUGHT  {what}: {', '.join(failed) or run.stdout.strip().splitlines()[-1]}")
    return 1 if holes else 0


if __name__ == "__main__":
    raise SystemExit(main())
