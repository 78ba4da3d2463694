"""The package's layers (docs/ARCHITECTURE.md): a module imports only from its own layer or the
ones below it, at the top of the file or inside a function; and no module imports another that
imports it back. Type-only imports (under ``if TYPE_CHECKING:``) do not count."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "sorakit"

# lowest first; a module's layer is that of the longest prefix listed
LAYERS: list[tuple[str, ...]] = [
    ("errors", "_version", "_serde", "callbacks", "_device"),
    ("physics", "models", "take", "cameo", "_media", "audio.loudness", "audio.mix", "foley", "previz", "guidance",
     "watermark", "sidecar", "credentials"),
    ("audio", "backends", "tiny"),
    ("clip", "generate", "storyboard", "consistency", "report", "best", "lipsync", "farm"),
    ("display", "notebook", "studio", "cli", ""),
]


def _layer(module: str) -> int:
    best, depth = -1, -1
    for i, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".") or name == "") and len(name) > depth:
                best, depth = i, len(name)
    assert best >= 0, module
    return best


def _imports(path: Path) -> set[str]:
    """sorakit modules ``path`` imports, outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sorakit"):
            base = node.module.removeprefix("sorakit").lstrip(".")
            for alias in node.names:  # `from sorakit import models` imports the module sorakit.models
                sub = f"{base}.{alias.name}" if base else alias.name
                found.add(sub if (PACKAGE / sub.replace(".", "/")).with_suffix(".py").exists()
                          or (PACKAGE / sub.replace(".", "/")).is_dir() else base)
        elif isinstance(node, ast.Import):
            found.update(a.name.removeprefix("sorakit.") for a in node.names if a.name.startswith("sorakit."))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {m for m in found if m}


def _modules() -> dict[str, set[str]]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        out[name] = _imports(path)
    return out


def test_no_module_imports_a_layer_above_its_own() -> None:
    wrong = []
    for module, imported in sorted(_modules().items()):
        for other in sorted(imported):
            if _layer(other) > _layer(module):
                wrong.append(f"{module} (layer {_layer(module)}) imports {other} (layer {_layer(other)})")
    assert not wrong, "\n".join(wrong)


def test_there_is_no_import_loop() -> None:
    graph = _modules()

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        todo = list(graph.get(start, ()))
        while todo:
            m = todo.pop()
            if m in seen:
                continue
            seen.add(m)
            todo.extend(graph.get(m, ()))
        return seen

    loops = sorted(m for m in graph if m and m in reach(m))
    assert not loops, f"modules that import themselves through others: {loops}"
