"""The catalog of node types and agent tools: a plain container.

Everything that needs to know which node types exist (validation, the runner, the editor
palette, the agent's tool list) asks a :class:`Registry` it is given. What goes into the
process-wide one (built-ins, entry points, the plugin folder) is decided outside the engine,
in :mod:`agentflow_app.catalog`; a plugin that failed to load is listed in
``plugin_errors`` so validation can name it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel

from agentflow_app.engine.errors import RegistryError
from agentflow_app.engine.node import Node, NodeConfig, Tool

N = TypeVar("N", bound=type[Node])
T = TypeVar("T", bound=type[Tool])


@dataclass(frozen=True)
class PluginError:
    """A plugin that failed to load: which one, and why (shown at start-up and in Settings)."""

    name: str
    message: str


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


class Registry:
    """Node types by ``type`` id and agent tools by ``id``."""

    def __init__(self) -> None:
        self._nodes: dict[str, type[Node]] = {}
        self._tools: dict[str, type[Tool]] = {}
        self.plugin_errors: list[PluginError] = []

    # -- registration -----------------------------------------------------------------------

    def register_node(self, cls: N) -> N:
        """Add a node type; usable as a class decorator.

        Raises:
            RegistryError: when the class is not a complete node type, or its ``type`` id is
                taken (the message names both classes).
        """
        check_node_class(cls)
        existing = self._nodes.get(cls.type)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"node type {cls.type!r} is registered twice: by {_qualname(existing)} "
                f"and by {_qualname(cls)}; rename one of them"
            )
        self._nodes[cls.type] = cls
        return cls

    def register_tool(self, cls: T) -> T:
        """Add an agent tool; usable as a class decorator.

        Raises:
            RegistryError: when the class is not a complete tool, or its ``id`` is taken.
        """
        check_tool_class(cls)
        existing = self._tools.get(cls.id)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"tool {cls.id!r} is registered twice: by {_qualname(existing)} "
                f"and by {_qualname(cls)}; rename one of them"
            )
        self._tools[cls.id] = cls
        return cls

    def merge(self, other: Registry) -> None:
        """Add everything ``other`` holds, or nothing when any of it clashes."""
        for type_id, cls in other._nodes.items():
            if type_id in self._nodes and self._nodes[type_id] is not cls:
                self.register_node(cls)  # raises, naming both classes
        for tool_id, cls in other._tools.items():
            if tool_id in self._tools and self._tools[tool_id] is not cls:
                self.register_tool(cls)
        self._nodes.update(other._nodes)
        self._tools.update(other._tools)

    # -- lookup -----------------------------------------------------------------------------

    def node(self, type_id: str) -> type[Node]:
        """The node class of ``type_id``.

        Raises:
            RegistryError: naming the unknown type.
        """
        try:
            return self._nodes[type_id]
        except KeyError:
            raise RegistryError(f"unknown node type {type_id!r}") from None

    def tool(self, tool_id: str) -> type[Tool]:
        """The tool class of ``tool_id``.

        Raises:
            RegistryError: naming the unknown tool.
        """
        try:
            return self._tools[tool_id]
        except KeyError:
            raise RegistryError(f"unknown tool {tool_id!r}") from None

    def has_node(self, type_id: str) -> bool:
        return type_id in self._nodes

    def nodes(self) -> dict[str, type[Node]]:
        """Every node type by id (a copy)."""
        return dict(self._nodes)

    def tools(self) -> dict[str, type[Tool]]:
        """Every tool by id (a copy)."""
        return dict(self._tools)


def check_node_class(cls: object) -> None:
    """Refuse a class that the runner or the editor could not use, saying what is missing."""
    if not (inspect.isclass(cls) and issubclass(cls, Node)):
        raise RegistryError(f"{cls!r} is not a subclass of agentflow_app.engine.node.Node")
    name = _qualname(cls)
    type_id = getattr(cls, "type", None)
    if not isinstance(type_id, str) or not type_id.strip():
        raise RegistryError(f"node class {name} needs a `type` id, e.g. type = 'acme.lookup'")
    if not isinstance(getattr(cls, "label", None), str) or not cls.label:
        raise RegistryError(f"node class {name} ({type_id}) needs a `label`")
    if not (inspect.isclass(cls.Config) and issubclass(cls.Config, NodeConfig)):
        raise RegistryError(
            f"node class {name} ({type_id}): `Config` must subclass "
            "agentflow_app.engine.node.NodeConfig"
        )
    if cls.run is Node.run:
        raise RegistryError(f"node class {name} ({type_id}) does not define `async def run`")
    if not inspect.iscoroutinefunction(cls.run):
        raise RegistryError(f"node class {name} ({type_id}): `run` must be `async def`")
    for attr in ("outputs", "inputs"):
        handles = getattr(cls, attr)
        if not isinstance(handles, tuple) or not all(isinstance(h, str) for h in handles):
            raise RegistryError(f"node class {name} ({type_id}): `{attr}` must be a tuple of str")


def check_tool_class(cls: object) -> None:
    """Refuse a tool class the agent could not describe or call, saying what is missing."""
    if not (inspect.isclass(cls) and issubclass(cls, Tool)):
        raise RegistryError(f"{cls!r} is not a subclass of agentflow_app.engine.node.Tool")
    name = _qualname(cls)
    tool_id = getattr(cls, "id", None)
    if not isinstance(tool_id, str) or not tool_id.strip():
        raise RegistryError(f"tool class {name} needs an `id`, e.g. id = 'word_count'")
    if not isinstance(getattr(cls, "description", None), str) or not cls.description:
        raise RegistryError(f"tool class {name} ({tool_id}) needs a `description`")
    args = getattr(cls, "Args", None)
    if not (inspect.isclass(args) and issubclass(args, BaseModel)):
        raise RegistryError(f"tool class {name} ({tool_id}): `Args` must be a pydantic model")
    if cls.run is Tool.run or not inspect.iscoroutinefunction(cls.run):
        raise RegistryError(f"tool class {name} ({tool_id}) needs `async def run(ctx, args)`")
