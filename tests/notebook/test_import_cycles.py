"""The notebook layer's modules import each other without cycles, lazy imports included."""

from __future__ import annotations

import ast
from pathlib import Path

import flow_notebook.notebook as notebook_package

PACKAGE = "flow_notebook.notebook"


def _module_imports() -> dict[str, set[str]]:
    root = Path(notebook_package.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join((PACKAGE, *parts)).removesuffix(".__init__")
        tree = ast.parse(path.read_text())
        graph[name] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith(PACKAGE)
            and node.module != name
        }
    return graph


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack, seen = [(start, [start])], set()
    while stack:
        module, path = stack.pop()
        for target in graph.get(module, ()):
            if target == start:
                return [*path, target]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*path, target]))
    return None


def test_no_module_of_the_notebook_layer_imports_itself_back():
    graph = _module_imports()
    assert len(graph) > 20
    cycles = [cycle for name in graph if (cycle := _cycle_from(name, graph))]
    assert cycles == []
