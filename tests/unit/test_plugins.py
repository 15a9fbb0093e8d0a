"""Plugins load from entry points and from the AGENTFLOW_PLUGINS folder; broken ones are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow_app.engine.registry import Registry
from agentflow_app.plugins import load_entry_points, load_folder
from tests.helpers.plugins import GOOD, publish, write

HALF_BROKEN = """
from agentflow_app.engine.node import Node

class Fine(Node):
    type = "half.fine"
    label = "Fine"
    async def run(self, ctx, config):
        return {}

class NoLabel(Node):
    type = "half.no_label"
    async def run(self, ctx, config):
        return {}
"""


def test_folder_plugins_load_and_broken_ones_are_named(tmp_path: Path) -> None:
    write(tmp_path, "good.py", GOOD.format(prefix="folder"))
    write(tmp_path, "syntax.py", "def broken(:\n")
    write(tmp_path, "crashes.py", "raise RuntimeError('no API key for the widget service')\n")
    write(tmp_path, "half.py", HALF_BROKEN)
    write(tmp_path, "_helper.py", "raise SystemExit('never imported')\n")
    (tmp_path / "pkg").mkdir()
    write(tmp_path / "pkg", "__init__.py", GOOD.format(prefix="pkg"))

    registry = Registry()
    load_folder(registry, tmp_path)
    assert set(registry.nodes()) == {"folder.shout", "pkg.shout"}
    assert set(registry.tools()) == {"folder_echo", "pkg_echo"}
    errors = {e.name: e.message for e in registry.plugin_errors}
    assert set(errors) == {"syntax", "crashes", "half"}
    assert "SyntaxError" in errors["syntax"]
    assert "no API key for the widget service" in errors["crashes"]
    assert "needs a `label`" in errors["half"]
    assert not registry.has_node("half.fine")  # a broken plugin leaves nothing behind


def test_a_missing_folder_is_reported(tmp_path: Path) -> None:
    registry = Registry()
    load_folder(registry, tmp_path / "nope")
    assert [e.name for e in registry.plugin_errors] == [str(tmp_path / "nope")]


def test_entry_points_load_modules_classes_and_callables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "ep_module.py", GOOD.format(prefix="ep"))
    write(tmp_path, "ep_class.py", GOOD.format(prefix="cls"))
    write(
        tmp_path,
        "ep_callable.py",
        GOOD.format(prefix="call")
        + "\ndef install(registry):\n    registry.register_node(Shout)\n",
    )
    publish(
        tmp_path,
        "acme_plugins",
        {
            "module": "ep_module",
            "klass": "ep_class:Shout",
            "callable": "ep_callable:install",
            "missing": "ep_does_not_exist",
            "clash": "ep_class:Shout",  # the same class twice is harmless
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    load_entry_points(registry)
    assert {"ep.shout", "cls.shout", "call.shout"} <= set(registry.nodes())
    assert "ep_echo" in registry.tools()
    assert "cls_echo" not in registry.tools()  # only the class named was registered
    assert [e.name for e in registry.plugin_errors] == ["missing"]
    assert "ep_does_not_exist" in registry.plugin_errors[0].message


def test_a_duplicate_type_id_names_both_classes(tmp_path: Path) -> None:
    write(tmp_path, "one.py", GOOD.format(prefix="same"))
    write(tmp_path, "two.py", GOOD.format(prefix="same"))
    registry = Registry()
    load_folder(registry, tmp_path)
    (error,) = registry.plugin_errors
    assert error.name == "two"
    assert "'same.shout' is registered twice" in error.message
    assert "agentflow_plugins.one.Shout" in error.message
    assert "agentflow_plugins.two.Shout" in error.message
