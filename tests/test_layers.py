"""The code's shape: layers point down (ingest <- index <- app <- eval) and no module of ingest/, index/,
app/ or eval/ imports a module that imports it back, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("ingest", "index", "app", "eval")


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports anywhere in it (the longest known prefix of each import)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module(p): p for layer in LAYERS for p in (ROOT / layer).rglob("*.py")}
    return {m: _imports(p, set(files)) - {m} for m, p in files.items()}


def test_layers_point_down():
    graph = _graph()
    rank = {layer: i for i, layer in enumerate(LAYERS)}
    upward = [
        f"{m} imports {d}"
        for m, deps in graph.items()
        for d in deps
        if rank[d.split(".")[0]] > rank[m.split(".")[0]] and not (m == "app.cli" and d.startswith("eval."))
    ]  # the one command line dispatches `verbatim eval` and `verbatim bench` to eval/
    assert upward == []


def _circles(layer: str) -> list[str]:
    """Every import circle among the modules of `layer` (each as "a -> b -> a")."""
    graph = {m: {d for d in deps if d.startswith(layer + ".")} for m, deps in _graph().items() if m.startswith(layer + ".")}
    # A package's __init__ that re-exports its own modules is not a circle of jobs: leave packages out.
    packages = {m for m in graph if (ROOT / Path(*m.split("."))).is_dir()}
    graph = {m: deps - packages for m, deps in graph.items() if m not in packages}
    circles = []
    for start in graph:
        stack, seen = [(start, [start])], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    circles.append(" -> ".join(path + [start]))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, path + [nxt]))
    return sorted(set(circles))


@pytest.mark.parametrize("layer", ["ingest", "index", "app", "eval"])
def test_no_module_imports_one_that_imports_it_back(layer):
    """The format readers of ingest/ share helpers (extracted, containers, limits, decode) and only the
    dispatcher (formats) knows them all: no reader imports the dispatcher or another reader back. In
    eval/, the reader's training and the cross-encoder's dequantizing share reader_data, not each other."""
    assert _circles(layer) == []


def test_the_circle_check_sees_imports_inside_functions(tmp_path):
    """A circle closed only by an import inside a function (as ocr -> clean -> formats -> ocr was) counts."""
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n")
    modules = {"a", "b"}
    assert _imports(tmp_path / "a.py", modules) == {"b"} and _imports(tmp_path / "b.py", modules) == {"a"}
