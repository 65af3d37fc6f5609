"""The sandbox imports nothing from the client: a schema mistake there cannot be mirrored."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import flow_notebook.sandbox

SANDBOX_DIR = Path(flow_notebook.sandbox.__file__).parent
CLIENT = "flow_notebook.providers"

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import flow_notebook.sandbox as sandbox
for module in pkgutil.walk_packages(sandbox.__path__, "flow_notebook.sandbox."):
    importlib.import_module(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def test_importing_every_sandbox_module_loads_no_client_module():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_ALL], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout)
    assert "flow_notebook.sandbox.app" in loaded  # the walk did import the sandbox
    assert [name for name in loaded if name.startswith(CLIENT)] == []


def _imported_modules(source: str, package: tuple[str, ...]) -> list[str]:
    """Every module a source file imports, relative imports resolved against ``package``."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            names.append(".".join(part for part in (base, node.module or "") if part))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            names.extend(a.value for a in node.args if isinstance(a, ast.Constant))
    return names


def _package_of(path: Path) -> tuple[str, ...]:
    return path.parent.relative_to(SANDBOX_DIR.parent.parent).parts


def test_no_sandbox_source_file_names_a_client_module():
    files = sorted(SANDBOX_DIR.rglob("*.py"))
    assert len(files) > 10
    offending = {
        str(path.relative_to(SANDBOX_DIR)): name
        for path in files
        for name in _imported_modules(path.read_text(encoding="utf-8"), _package_of(path))
        if name == CLIENT or name.startswith(CLIENT + ".")
    }
    assert offending == {}


def test_the_scan_sees_absolute_relative_and_dynamic_client_imports():
    source = (
        "from flow_notebook.providers.mithril.api import dto\n"
        "from ...providers.mithril import api\n"
        "import flow_notebook.providers\n"
        "importlib.import_module('flow_notebook.providers.local')\n"
    )
    names = _imported_modules(source, ("flow_notebook", "sandbox", "routes"))
    assert names == [
        "flow_notebook.providers.mithril.api",
        "flow_notebook.providers.mithril",
        "flow_notebook.providers",
        "flow_notebook.providers.local",
    ]
