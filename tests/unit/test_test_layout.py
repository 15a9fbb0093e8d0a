"""Tests mirror the source tree; shared helpers live in tests/helpers/ (and fakes of the
outside world in tests/fakes/), and are not imported from other test modules (issue 12).

Every module under tests/ other than those two packages is parsed; importing from a
``conftest`` module, from another test module (a file named ``test_*.py``), or a module of
a test package by name (``from tests.integration.llm import conftest``) is refused, with
the file and line. Fixtures reach tests through conftest.py by directory, or are imported
from tests/helpers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
SHARED = ("helpers", "fakes")
#: Fewer modules than this means the walk went wrong, not that the tree is clean.
AT_LEAST = 80


def _modules() -> list[Path]:
    return sorted(
        path
        for path in TESTS.rglob("*.py")
        if path.relative_to(TESTS).parts[0] not in SHARED and "__pycache__" not in path.parts
    )


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(TESTS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str | None, level: int, importer: Path) -> str:
    """The absolute dotted name of a (possibly relative) ``from ... import``."""
    if not level:
        return module or ""
    package = _dotted(importer).split(".")
    if importer.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _file_of(dotted: str) -> Path | None:
    """The module file (or package folder) a dotted name under ``tests`` names, if any."""
    parts = dotted.split(".")
    if parts[0] != "tests":
        return None
    base = TESTS.parent.joinpath(*parts)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return base if base.is_dir() else None


def _forbidden(dotted: str) -> str | None:
    """Why importing from ``dotted`` is refused, or None."""
    parts = dotted.split(".")
    if parts[0] != "tests" or (len(parts) > 1 and parts[1] in SHARED):
        return None
    last = parts[-1]
    if last == "conftest":
        return "imports from a conftest module"
    if last.startswith("test_"):
        return "imports from another test module"
    if len(parts) > 2 and (path := _file_of(dotted)) is not None and path.is_file():
        return "imports a module of a test package (move it to tests/helpers or tests/fakes)"
    return None


def _imported(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute dotted name) of every module ``path`` imports from or imports; for
    ``from package import name``, also ``package.name`` when that is a module of its own."""
    for statement in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(statement, ast.Import):
            yield from ((statement.lineno, alias.name) for alias in statement.names)
        elif isinstance(statement, ast.ImportFrom):
            source = _absolute(statement.module, statement.level, path)
            yield statement.lineno, source
            package = _file_of(source)
            if package is not None and package.is_dir():
                for alias in statement.names:
                    if _file_of(f"{source}.{alias.name}") is not None:
                        yield statement.lineno, f"{source}.{alias.name}"


def _problems(path: Path) -> list[str]:
    where = path.relative_to(TESTS.parent)
    return [
        f"{where}:{line}: {why} ({dotted})"
        for line, dotted in _imported(path)
        if (why := _forbidden(dotted))
    ]


def test_the_walk_finds_the_test_modules() -> None:
    modules = _modules()
    assert len(modules) >= AT_LEAST, f"only {len(modules)} modules found under {TESTS}"
    names = {path.name for path in modules}
    assert {"conftest.py", "test_test_layout.py"} <= names


def test_the_checks_catch_each_kind_of_import() -> None:
    here = TESTS / "unit" / "example.py"
    assert _forbidden("tests.integration.api.conftest")
    assert _forbidden("tests.unit.test_plugins")
    assert _forbidden("tests.helpers.users") is None
    assert _forbidden("tests.fakes.llm") is None
    assert _absolute("conftest", 1, here) == "tests.unit.conftest"
    assert _absolute("test_plugins", 1, here) == "tests.unit.test_plugins"
    assert _file_of("tests.integration.llm.conftest") is not None


def test_no_test_module_imports_from_a_conftest_or_another_test_module() -> None:
    problems = [problem for path in _modules() for problem in _problems(path)]
    assert not problems, (
        "move shared helpers to tests/helpers/ (fakes to tests/fakes/) and import them "
        "from there:\n" + "\n".join(problems)
    )
