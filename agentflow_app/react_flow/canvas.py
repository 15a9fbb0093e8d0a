"""The workflow canvas: ``canvas.jsx`` (React Flow, pinned) as a Reflex component.

The JavaScript side owns every per-frame interaction; Python hears about finished changes
through the typed event specs below, whose payloads are plain JSON (never DOM events):

- ``on_moved([{id, x, y}])``: once per drag, when it stops (ARCHITECTURE rule 8);
- ``on_changed({reason, base_rev, nodes, edges})``: after a structural edit (connect,
  delete, paste, add, undo/redo, auto-layout);
- ``on_select(node_id)``: the single selected node, or ``""``;
- ``on_save()``: Ctrl+S.
"""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx
from reflex.event import EventHandler, no_args_event_spec, passthrough_event_spec

#: Pinned npm versions (exact): the canvas is tested against these.
XYFLOW = "@xyflow/react@12.12.1"
DAGRE = "@dagrejs/dagre@3.1.3"

_SOURCE = rx.asset("canvas.jsx", shared=True)
# The stylesheet is imported by canvas.jsx with a relative path; link it next to it.
rx.asset("canvas.css", shared=True)


class MovedNode(TypedDict):
    """Where a node was dropped after a drag."""

    id: str
    x: float
    y: float


class CanvasChange(TypedDict):
    """A finished structural edit: the whole graph as the browser now has it."""

    reason: str
    base_rev: int
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]


class WorkflowCanvas(rx.NoSSRComponent):
    """React Flow with AgentFlow's node card, history, clipboard, layout and shortcuts."""

    library = _SOURCE.importable_path
    tag = "WorkflowCanvas"
    lib_dependencies: list[str] = [XYFLOW, DAGRE]

    #: ``{rev, nodes, edges}``: a whole document to show (load, import, restore).
    graph: rx.Var[dict[str, Any]]
    #: ``{rev, nodes: {id: data}}``: node data edited in the config panel.
    patch: rx.Var[dict[str, Any]]
    #: ``{node_id: {problems: [message], status}}``: validation markers and run status.
    decorations: rx.Var[dict[str, Any]]
    #: ``{type: {label, icon, category, inputs, outputs, single_input}}`` from the registry.
    catalog: rx.Var[dict[str, Any]]
    #: ``{rev, id}``: select this node and bring it into view.
    focus_request: rx.Var[dict[str, Any]]
    #: Unsaved changes: leaving the page asks first.
    dirty: rx.Var[bool]
    #: Show only (the live view): no dragging, connecting, deleting or editing shortcuts.
    read_only: rx.Var[bool]

    on_moved: EventHandler[passthrough_event_spec(list[MovedNode])]
    on_changed: EventHandler[passthrough_event_spec(CanvasChange)]
    on_select: EventHandler[passthrough_event_spec(str)]
    on_save: EventHandler[no_args_event_spec]

    def add_imports(self) -> dict[str, list[str]]:
        """React Flow's stylesheet, imported where the component is used."""
        return {"": ["@xyflow/react/dist/style.css"]}


workflow_canvas = WorkflowCanvas.create
