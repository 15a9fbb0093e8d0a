"""``agentflow_app.secrets`` sits below the nodes: it must never import them.

The nodes read credentials through the secrets package (the kinds' models); an import the
other way would make the two depend on each other again. The check parses every module's
imports with :mod:`ast` (top level and inside functions, absolute and relative), so a
string that merely mentions the package in a docstring does not count and an import
written in any form does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import agentflow_app.secrets

PACKAGE = "agentflow_app.secrets"
FORBIDDEN = "agentflow_app.nodes"
SECRETS_DIR = Path(agentflow_app.secrets.__file__).parent


def imported_modules(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module ``source`` (the text of ``module``) imports, as absolute dotted names.

    ``from a import b`` yields both ``a`` and ``a.b`` (``b`` may be a submodule).
    """
    found: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def _is_forbidden(name: str) -> bool:
    return name == FORBIDDEN or name.startswith(FORBIDDEN + ".")


def _secrets_modules() -> list[tuple[str, Path]]:
    modules = []
    for path in sorted(SECRETS_DIR.rglob("*.py")):
        parts = path.relative_to(SECRETS_DIR).with_suffix("").parts
        modules.append((".".join([PACKAGE, *parts]), path))
    return modules


def _params() -> list:
    return [pytest.param(module, path, id=module) for module, path in _secrets_modules()]


def test_there_are_modules_to_check() -> None:
    names = {name for name, _ in _secrets_modules()}
    assert {f"{PACKAGE}.kinds", f"{PACKAGE}.vault", f"{PACKAGE}.__init__"} <= names


@pytest.mark.parametrize(("module", "path"), _params())
def test_no_secrets_module_imports_the_nodes(module: str, path: Path) -> None:
    is_package = path.name == "__init__.py"
    name = module.removesuffix(".__init__") if is_package else module
    imports = imported_modules(path.read_text(), name, is_package=is_package)
    assert not sorted(filter(_is_forbidden, imports)), f"{path} imports {FORBIDDEN}"


@pytest.mark.parametrize(
    "source",
    [
        "import agentflow_app.nodes.credentials",
        "from agentflow_app.nodes.credentials import CredentialError",
        "from agentflow_app import nodes",
        "from ..nodes import credentials",
        "from ..nodes.slack import SlackMessage",
        "def late():\n    from agentflow_app.nodes import http\n",
    ],
)
def test_the_check_catches_every_form_of_the_import(source: str) -> None:
    imports = imported_modules(source, f"{PACKAGE}.vault")
    assert any(map(_is_forbidden, imports)), imports


def test_the_check_ignores_mentions_that_are_not_imports() -> None:
    source = (
        '"""Field names match agentflow_app.nodes.credentials."""\nimport agentflow_app.errors\n'
    )
    assert not any(map(_is_forbidden, imported_modules(source, f"{PACKAGE}.kinds")))
