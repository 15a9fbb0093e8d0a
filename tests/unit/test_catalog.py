"""The catalog composes the process-wide registry: built-ins, entry points, plugin folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentflow_app.catalog import build_registry, default_registry, reset_default_registry
from agentflow_app.llm.nodes import LLMAgent, LLMPrompt
from agentflow_app.nodes import NODES, TOOLS
from agentflow_app.settings import reset_settings
from tests.helpers.plugins import GOOD, publish, write


def test_the_built_ins_and_entry_points_come_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "catalog_ep.py", GOOD.format(prefix="catalog"))
    publish(tmp_path, "catalog_plugins", {"module": "catalog_ep"})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = build_registry()
    for cls in (*NODES, LLMPrompt, LLMAgent):
        assert registry.node(cls.type) is cls
    for cls in TOOLS:
        assert registry.tool(cls.id) is cls
    assert registry.has_node("catalog.shout")
    assert "catalog_echo" in registry.tools()


def test_default_registry_reads_the_plugins_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "good.py", GOOD.format(prefix="env"))
    write(tmp_path, "bad.py", "import not_a_module_anywhere\n")
    monkeypatch.setenv("AGENTFLOW_PLUGINS", str(tmp_path))
    reset_settings()
    reset_default_registry()
    try:
        registry = default_registry()
        assert registry.has_node("env.shout")
        assert "bad" in [e.name for e in registry.plugin_errors]
        assert default_registry() is registry
    finally:
        monkeypatch.delenv("AGENTFLOW_PLUGINS")
        reset_settings()
        reset_default_registry()
