"""The composition root: which node types and agent tools this process knows.

The engine only ever receives a :class:`Registry`; this module decides what goes into the
process-wide one, in this order:

1. the built-in node types and tools (:mod:`agentflow_app.nodes`, :mod:`agentflow_app.llm.nodes`);
2. the ``agentflow.nodes`` entry points of the installed distributions;
3. the ``AGENTFLOW_PLUGINS`` folder, when the settings name one.

A broken plugin is logged and listed in ``registry.plugin_errors`` (see
:mod:`agentflow_app.plugins`); the rest of the catalog still loads. The web process, the
worker and the CLI all call :func:`default_registry`; tests build their own registries.
"""

from __future__ import annotations

import threading
from pathlib import Path

from agentflow_app.engine.registry import Registry
from agentflow_app.plugins import load_entry_points, load_folder
from agentflow_app.settings import get_settings


def register_builtins(registry: Registry) -> None:
    """Register the node types and agent tools that ship with AgentFlow."""
    # Imported on first use, not with this module: the LLM nodes bring LangChain and the
    # provider SDKs (about a second), which a process that never builds the catalog (a CLI
    # command, a web process before its first editor page) should not pay for.
    from agentflow_app import nodes
    from agentflow_app.llm import nodes as llm_nodes
    from agentflow_app.nodes.mcp import McpTool

    nodes.register_builtin(registry)
    llm_nodes.register_builtin(registry)
    registry.register_node(McpTool)


def build_registry(plugin_folder: Path | None = None) -> Registry:
    """A new registry: built-ins, then entry-point plugins, then ``plugin_folder`` if any."""
    registry = Registry()
    register_builtins(registry)
    load_entry_points(registry)
    if plugin_folder is not None:
        load_folder(registry, plugin_folder)
    return registry


_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry, with the plugin folder ``AGENTFLOW_PLUGINS`` names.

    Built on first use and cached, so importing this module stays cheap for a process that
    never runs or edits a workflow.
    """
    global _default
    with _default_lock:
        if _default is None:
            _default = build_registry(get_settings().agentflow_plugins)
        return _default


def reset_default_registry() -> None:
    """Forget the cached registry (after changing AGENTFLOW_PLUGINS, in tests and the CLI)."""
    global _default
    with _default_lock:
        _default = None
