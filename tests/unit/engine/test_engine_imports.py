"""The engine is composed from outside: nothing under ``engine/`` reaches the host.

``catalog.py`` builds the registry from settings, built-in nodes and plugins and hands it
to the engine. If an engine module imported any of those (even lazily, inside a
function), the engine would compose itself again and the import cycle would be back.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agentflow_app.engine

ENGINE_DIR = Path(agentflow_app.engine.__file__).parent
FORBIDDEN = (
    "agentflow_app.settings",
    "agentflow_app.nodes",
    "agentflow_app.llm",
    "agentflow_app.catalog",
)


def _imported_modules(tree: ast.Module, module: str) -> list[tuple[int, str]]:
    """Every module ``tree`` imports, anywhere in it, as absolute dotted names.

    ``from agentflow_app import settings`` counts as importing ``agentflow_app.settings``,
    relative imports are resolved against ``module``, and a string that is a dotted name
    counts too (a module loaded by name).
    """
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):  # ast.walk enters function bodies too
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[: -node.level]
                base = ".".join([*package, base] if base else package)
            found.append((node.lineno, base))
            found.extend((node.lineno, f"{base}.{alias.name}") for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # importlib.import_module("agentflow_app.nodes") is an import too; prose in
            # docstrings never equals a module name, so it does not match
            found.append((node.lineno, node.value))
    return found


def _is_forbidden(name: str) -> bool:
    return any(name == banned or name.startswith(f"{banned}.") for banned in FORBIDDEN)


def test_the_walk_sees_the_engine_and_recognises_every_import_form() -> None:
    files = sorted(p.name for p in ENGINE_DIR.glob("*.py"))
    assert {"__init__.py", "registry.py", "runner.py", "node.py", "validate.py"} <= set(files)

    sample = ast.parse(
        "import agentflow_app.settings\n"
        "from agentflow_app.nodes import http\n"
        "from agentflow_app import llm\n"
        "from .. import catalog\n"
        "def later():\n"
        "    from agentflow_app.settings import get_settings\n"
        "    importlib.import_module('agentflow_app.llm.nodes')\n"
    )
    seen = [name for _, name in _imported_modules(sample, "agentflow_app.engine.sample")]
    assert [name for name in seen if _is_forbidden(name)] == [
        "agentflow_app.settings",
        "agentflow_app.nodes",
        "agentflow_app.nodes.http",
        "agentflow_app.llm",
        "agentflow_app.catalog",
        "agentflow_app.settings",
        "agentflow_app.settings.get_settings",
        "agentflow_app.llm.nodes",
    ]


def test_no_engine_module_imports_settings_nodes_llm_or_the_catalog() -> None:
    offences = []
    for path in sorted(ENGINE_DIR.rglob("*.py")):
        relative = path.relative_to(ENGINE_DIR).with_suffix("")
        module = ".".join(["agentflow_app", "engine", *relative.parts])
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offences.extend(
            f"{path.relative_to(ENGINE_DIR.parent.parent)}:{line} imports {name}"
            for line, name in _imported_modules(tree, module)
            if _is_forbidden(name)
        )
    assert offences == []
