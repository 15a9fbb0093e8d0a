"""Loading plugins: the ``agentflow.nodes`` entry point group and the AGENTFLOW_PLUGINS folder.

A plugin is anything that adds node types or tools. An entry point (or a module in the
folder) may be:

* a module: its ``register(registry)`` function is called if it has one, otherwise every
  complete :class:`Node` / :class:`Tool` subclass defined in it is registered;
* a :class:`Node` or :class:`Tool` subclass: registered;
* any other callable: called with the registry.

Each plugin is installed into a scratch registry first and merged only when it loaded
completely, so a plugin that breaks halfway leaves nothing behind. Its failure is logged and
kept as a :class:`PluginError` naming it; the other plugins and the built-ins still load.

This is the mechanics; :mod:`agentflow_app.catalog` decides what gets loaded (which group,
which folder) and in what order. It lives beside the catalog, not in the engine, because
importing foreign code from the file system and the installed distributions is the host's
business: the engine only receives the registry that results.
"""

from __future__ import annotations

import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import ModuleType

from agentflow_app.engine.node import Node, Tool
from agentflow_app.engine.registry import PluginError, Registry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "agentflow.nodes"
#: Modules from the plugin folder are imported under this prefix, so a file named like a
#: standard module (``json.py``) cannot shadow it.
FOLDER_MODULE_PREFIX = "agentflow_plugins"


def install(registry: Registry, obj: object) -> None:
    """Register what ``obj`` (a module, a class or a callable) provides.

    Raises:
        RegistryError: when a class is incomplete or a type id is taken.
        TypeError: when ``obj`` is none of the supported kinds.
    """
    if isinstance(obj, ModuleType):
        register = getattr(obj, "register", None)
        if callable(register):
            register(registry)
            return
        found = [
            value
            for value in vars(obj).values()
            if inspect.isclass(value) and value.__module__ == obj.__name__
        ]
        nodes = [c for c in found if issubclass(c, Node) and getattr(c, "type", None)]
        tools = [c for c in found if issubclass(c, Tool) and getattr(c, "id", None)]
        if not nodes and not tools:
            raise TypeError(
                f"module {obj.__name__} defines no node or tool class and no register(registry)"
            )
        for cls in nodes:
            registry.register_node(cls)
        for cls in tools:
            registry.register_tool(cls)
    elif inspect.isclass(obj) and issubclass(obj, Node):
        registry.register_node(obj)
    elif inspect.isclass(obj) and issubclass(obj, Tool):
        registry.register_tool(obj)
    elif callable(obj):
        obj(registry)
    else:
        raise TypeError(
            f"{obj!r} is not a module, a Node or Tool class, or a callable taking the registry"
        )


def _load_one(registry: Registry, name: str, load: Callable[[], object]) -> None:
    """Install one plugin atomically; record a failure under ``name`` instead of raising."""
    scratch = Registry()
    try:
        install(scratch, load())
        registry.merge(scratch)
    except (Exception, SystemExit) as exc:  # foreign code: any failure is its own
        message = f"{type(exc).__name__}: {exc}"
        log.exception("plugin %s failed to load: %s", name, message)
        registry.plugin_errors.append(PluginError(name=name, message=message))


def load_entry_points(registry: Registry, group: str = ENTRY_POINT_GROUP) -> None:
    """Install every entry point of ``group`` from the installed distributions."""
    for entry_point in metadata.entry_points(group=group):
        _load_one(registry, entry_point.name, entry_point.load)


def load_folder(registry: Registry, folder: Path) -> None:
    """Install every module (``*.py``) and package (a folder with ``__init__.py``) in ``folder``.

    Files starting with ``_`` or ``.`` are ignored, so helpers can live next to plugins.
    """
    folder = Path(folder)
    if not folder.is_dir():
        registry.plugin_errors.append(
            PluginError(
                name=str(folder),
                message="AGENTFLOW_PLUGINS names a folder that does not exist or is not a folder",
            )
        )
        log.error("AGENTFLOW_PLUGINS folder %s does not exist", folder)
        return
    for path in sorted(folder.iterdir()):
        if path.name.startswith(("_", ".")):
            continue
        if path.is_file() and path.suffix == ".py":
            name = path.stem
            _load_one(registry, name, lambda p=path, n=name: _import_file(n, p, None))
        elif path.is_dir() and (path / "__init__.py").is_file():
            name = path.name
            _load_one(
                registry, name, lambda p=path, n=name: _import_file(n, p / "__init__.py", [str(p)])
            )


def _import_file(name: str, path: Path, search: list[str] | None) -> ModuleType:
    """Import ``path`` as ``agentflow_plugins.<name>`` (kept in sys.modules for pydantic)."""
    module_name = f"{FOLDER_MODULE_PREFIX}.{name}"
    spec = importlib.util.spec_from_file_location(
        module_name, path, submodule_search_locations=search
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module
