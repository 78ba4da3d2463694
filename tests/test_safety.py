"""Safe loading, checked over every call in the package's source: weights only from safetensors,
``torch.load`` only weights-only, and never remote code."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "sorakit"
NOT_WEIGHTS = ("Processor", "Tokenizer", "FeatureExtractor", "Config")  # configs and vocabularies, no tensors


def calls(name: str) -> list[tuple[str, ast.Call]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name:
                found.append((f"{path.relative_to(PACKAGE)}:{node.lineno} {ast.unparse(node.func)}", node))
    return found


def keyword(call: ast.Call, name: str) -> object:
    for k in call.keywords:
        if k.arg == name:
            return ast.literal_eval(k.value) if isinstance(k.value, ast.Constant) else "dynamic"
    return None


def test_every_model_loads_its_weights_from_safetensors() -> None:
    loads = [(where, c) for where, c in calls("from_pretrained") if not any(n in where for n in NOT_WEIGHTS)]
    assert len(loads) >= 4  # the diffusers pipelines, MusicGen, VITS, CLIP (the check found them)
    for where, c in loads:
        assert keyword(c, "use_safetensors") is True, where


def test_torch_load_is_only_ever_weights_only() -> None:
    loads = calls("load")
    torch_loads = [(w, c) for w, c in loads if w.split(" ")[1].startswith("torch.")]
    assert torch_loads, "the audiocraft checkpoint reader uses torch.load"
    for where, c in torch_loads:
        assert keyword(c, "weights_only") is True, where


def test_no_remote_code_is_ever_trusted() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword):
                assert node.arg != "trust_remote_code", f"{path}: trust_remote_code"
