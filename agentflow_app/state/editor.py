"""The workflow editor's state: the working document, validation, the config panel, saving.

The canvas (``react_flow/canvas.jsx``) owns per-frame interaction and reports finished
changes; this state keeps the working document in a backend-only var (``_doc``), validates
it with the engine after every change, and pushes to the browser only what it must:

- ``graph``: a whole document, when the server replaces the canvas (load, import, restore);
- ``patch``: node data edited in the config panel;
- ``decorations``: validation markers per node.

"Test this node" (``test_*`` vars) runs the selected node alone on a worker, on sample
inputs and sample upstream outputs typed in the panel (``services.node_tests``), and
follows that execution in a background event.

Every push carries a rising ``rev``; a canvas report names the ``rev`` it was based on, so
a report that crossed a panel edit on the wire keeps the panel's data (see
:meth:`EditorState.canvas_changed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import deque
from typing import Any, TypedDict

import reflex as rx
from pydantic import BaseModel, Field, ValidationError

from agentflow_app import routes
from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import Event, EventType
from agentflow_app.engine.registry import Registry, default_registry
from agentflow_app.engine.validate import validate
from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.services import credentials as credentials_service
from agentflow_app.services import executions, node_tests, workflows
from agentflow_app.services.users import Actor
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.form_model import (
    CredentialChoice,
    FieldView,
    build_form,
    coerce,
    field_schema,
    get_path,
    item_schema,
    set_path,
)
from agentflow_app.state.formatting import format_duration, pretty_json, route_id

log = logging.getLogger(__name__)

#: Palette order; categories a plugin invents come after these, alphabetically.
CATEGORY_ORDER = ("Triggers", "AI", "Logic", "Data", "Integrations", "Flow", "Output")
_TRIGGER_INPUTS = ("trigger.manual", "trigger.webhook", "trigger.schedule")


class PaletteItem(TypedDict):
    type: str
    label: str
    icon: str
    description: str
    category: str


class PaletteGroup(TypedDict):
    name: str
    items: list[PaletteItem]


class ProblemView(TypedDict):
    node_id: str
    where: str
    message: str


class VersionView(TypedDict):
    version: int
    name: str
    created: str
    current: bool


class SampleView(TypedDict):
    """An upstream node's sample output in the test form."""

    node_id: str
    label: str
    type: str
    text: str
    source: str


class NodeTestView(TypedDict):
    """Where the node test stands, as the panel shows it."""

    execution_id: int
    href: str
    status: str
    step_status: str
    duration: str
    output: str
    truncated: bool
    error: str
    tokens: str
    logs: list[str]


def empty_test_run() -> NodeTestView:
    return NodeTestView(
        execution_id=0,
        href="",
        status="",
        step_status="",
        duration="",
        output="",
        truncated=False,
        error="",
        tokens="",
        logs=[],
    )


class _Moved(BaseModel):
    id: str
    x: float
    y: float


class _Change(BaseModel):
    reason: str = ""
    base_rev: int = -1
    nodes: list[dict[str, Any]] = Field(default_factory=list)
    edges: list[dict[str, Any]] = Field(default_factory=list)


# -- pure helpers (tested directly) ------------------------------------------------------------


def catalog(registry: Registry) -> dict[str, dict[str, Any]]:
    """What the canvas draws for each node type: label, icon, colour group, handles."""
    return {
        type_id: {
            "label": cls.label,
            "icon": cls.icon,
            "category": cls.category,
            "description": cls.description,
            "inputs": list(cls.inputs),
            "outputs": list(cls.outputs),
            # A node type may declare that each input handle takes a single edge.
            "single_input": bool(getattr(cls, "single_input", False)),
        }
        for type_id, cls in registry.nodes().items()
    }


def palette(registry: Registry) -> list[PaletteGroup]:
    """Node types grouped by category, in palette order."""
    groups: dict[str, list[PaletteItem]] = {}
    for type_id, cls in registry.nodes().items():
        groups.setdefault(cls.category, []).append(
            PaletteItem(
                type=type_id,
                label=cls.label,
                icon=cls.icon,
                description=cls.description,
                category=cls.category,
            )
        )
    rank = {name: index for index, name in enumerate(CATEGORY_ORDER)}
    names = sorted(groups, key=lambda name: (rank.get(name, len(rank)), name))
    return [
        PaletteGroup(name=name, items=sorted(groups[name], key=lambda i: i["label"]))
        for name in names
    ]


def filter_palette(groups: list[PaletteGroup], query: str) -> list[PaletteGroup]:
    """Groups with the items whose label, type, category or description match ``query``."""
    words = query.lower().split()
    if not words:
        return groups
    result = []
    for group in groups:
        items = [
            item
            for item in group["items"]
            if all(
                word
                in f"{item['label']} {item['type']} {item['category']} {item['description']}".lower()
                for word in words
            )
        ]
        if items:
            result.append(PaletteGroup(name=group["name"], items=items))
    return result


def template_hints(document: dict[str, Any], node_id: str) -> list[str]:
    """What templates of ``node_id`` may use: the trigger's inputs and upstream outputs."""
    nodes = {n.get("id"): n for n in document.get("nodes", []) if isinstance(n, dict)}
    hints: list[str] = []
    for node in nodes.values():
        if node.get("type") not in _TRIGGER_INPUTS:
            continue
        declared = (node.get("data") or {}).get("config", {}).get("inputs")
        if isinstance(declared, list):
            names = [i.get("name") for i in declared if isinstance(i, dict)]
        elif isinstance(declared, dict):
            names = list(declared)
        else:
            names = []
        hints += [f"inputs.{name}" for name in names if isinstance(name, str) and name]
    incoming: dict[str, list[str]] = {}
    for edge in document.get("edges", []):
        if isinstance(edge, dict):
            incoming.setdefault(edge.get("target"), []).append(edge.get("source"))
    seen: set[str] = set()
    queue = deque(incoming.get(node_id, []))
    upstream: list[str] = []
    while queue:
        current = queue.popleft()
        if current in seen or current not in nodes or current == node_id:
            continue
        seen.add(current)
        upstream.append(current)
        queue.extend(incoming.get(current, []))
    hints += [f"nodes.{n}.output" for n in upstream]
    return hints


def merge_change(
    document: dict[str, Any], nodes: list[dict[str, Any]], edges: list[dict[str, Any]], fresh: bool
) -> dict[str, Any]:
    """The document after a canvas report.

    The browser is right about which nodes exist, where they are and how they connect.
    When the report was based on an older ``rev`` (a panel edit crossed it on the wire), the
    data of nodes the server already knows is kept from the server.
    """
    known = {n["id"]: n for n in document.get("nodes", []) if isinstance(n, dict) and "id" in n}
    merged = []
    for node in nodes:
        node = dict(node)
        if not fresh and node.get("id") in known:
            node["data"] = known[node["id"]].get("data", {})
        merged.append(node)
    return {**document, "nodes": merged, "edges": [dict(e) for e in edges]}


def parse_sample(text: str, what: str) -> Any:
    """JSON typed into the test form (blank means ``{}``).

    Raises:
        ValueError: saying which box holds text that is not JSON, and where.
    """
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


def refusal_message(exc: InvalidInput) -> str:
    """A refused test, in one message that names each node and field."""
    lines = [
        f"{p.get('node_id') or 'workflow'}"
        f"{' · ' + str(p['field']).removeprefix('config.') if p.get('field') else ''}: "
        f"{p.get('message')}"
        for p in exc.problems
    ]
    if isinstance(exc, InvalidWorkflow):
        return "Not ready to test: " + "; ".join(lines)
    return "; ".join(lines) if lines else str(exc)


def slug(name: str) -> str:
    """A file-name-safe version of a workflow name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workflow"


class EditorState(rx.State):
    """One open workflow in one browser tab."""

    wf_id: int = 0
    loaded: bool = False
    load_error: str = ""
    name: str = ""
    description: str = ""
    version: int = 0
    dirty: bool = False
    saving: bool = False

    graph: dict[str, Any] = {}
    patch: dict[str, Any] = {}
    decorations: dict[str, Any] = {}
    catalog: dict[str, Any] = {}
    focus_request: dict[str, Any] = {}

    palette_groups: list[PaletteGroup] = []
    palette_query: str = ""

    selected_id: str = ""
    selected_type: str = ""
    selected_type_label: str = ""
    selected_label: str = ""
    selected_note: str = ""
    form: list[FieldView] = []
    form_key: int = 0
    node_messages: list[str] = []
    json_errors: dict[str, str] = {}

    selected_testable: bool = False
    #: The node the test form is for; the form shows only while that node is selected.
    test_node: str = ""
    test_ready: bool = False
    test_busy: bool = False
    test_running: bool = False
    test_error: str = ""
    test_inputs: str = "{}"
    test_inputs_source: str = ""
    test_samples: list[SampleView] = []
    test_form_key: int = 0
    test_run: NodeTestView = empty_test_run()

    problems: list[ProblemView] = []
    versions: list[VersionView] = []
    import_error: str = ""
    import_open: bool = False
    delete_open: bool = False

    _doc: dict[str, Any] = {}
    _saved: str = ""
    _rev: int = 0
    _credentials: list[CredentialChoice] = []
    _test_ticket: str = ""

    # -- derived -------------------------------------------------------------------------

    @rx.var
    def palette_view(self) -> list[PaletteGroup]:
        return filter_palette(self.palette_groups, self.palette_query)

    @rx.var
    def problem_count(self) -> int:
        return len(self.problems)

    @rx.var
    def main_fields(self) -> list[FieldView]:
        return [f for f in self.form if not f["advanced"]]

    @rx.var
    def advanced_fields(self) -> list[FieldView]:
        return [f for f in self.form if f["advanced"]]

    @rx.event
    def set_palette_query(self, value: str) -> None:
        self.palette_query = value

    # -- loading -------------------------------------------------------------------------

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the workflow of the URL, its catalog and the user's credentials."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        self.loaded, self.load_error = False, ""
        self.selected_id, self.form, self.versions = "", [], []
        self._reset_test("")
        workflow_id = route_id(self.router.url.path)
        if workflow_id is None:
            self.load_error = "This address does not name a workflow."
            return None
        try:
            detail = await asyncio.to_thread(workflows.get, actor, workflow_id)
            creds = await asyncio.to_thread(credentials_service.list_credentials, actor)
        except NotFound:
            self.load_error = "This workflow does not exist, or it is not yours."
            return None
        registry = default_registry()
        self.catalog = catalog(registry)
        self.palette_groups = palette(registry)
        self._credentials = [CredentialChoice(name=c.name, kind=c.kind) for c in creds]
        self.wf_id = detail.id
        self.version = detail.version
        self._show(detail.document, saved=True)
        self.loaded = True
        return None

    def _show(self, document: dict[str, Any], *, saved: bool) -> None:
        """Replace the canvas with ``document``."""
        self._doc = json.loads(json.dumps(document))
        self._doc.setdefault("nodes", [])
        self._doc.setdefault("edges", [])
        if saved:
            self._saved = self._fingerprint()
        self.name = str(self._doc.get("name", ""))
        self.description = str(self._doc.get("description", ""))
        self._rev += 1
        self.graph = {"rev": self._rev, "nodes": self._doc["nodes"], "edges": self._doc["edges"]}
        if self.selected_id not in self._node_ids():
            self.selected_id = ""
        self._refresh(form_reset=True)

    def _plain(self) -> dict[str, Any]:
        """The working document as plain JSON values (not Reflex's change-tracking proxies)."""
        return json.loads(json.dumps(self._doc))

    def _fingerprint(self) -> str:
        return json.dumps(self._doc, sort_keys=True)

    def _node_ids(self) -> set[str]:
        return {n.get("id") for n in self._doc.get("nodes", [])}

    def _node(self, node_id: str) -> dict[str, Any] | None:
        return next((n for n in self._doc.get("nodes", []) if n.get("id") == node_id), None)

    # -- validation and the panel ---------------------------------------------------------

    def _refresh(self, *, form_reset: bool = False) -> None:
        """Validate, then rebuild markers, the problem list and the open form."""
        names = {c["name"] for c in self._credentials}
        problems = validate(self._doc, default_registry(), lambda name: name in names)
        labels = {
            n.get("id"): (n.get("data") or {}).get("label") or n.get("id")
            for n in self._doc.get("nodes", [])
        }
        views: list[ProblemView] = []
        markers: dict[str, Any] = {}
        for problem in problems:
            node_id = problem.node_id or ""
            where = labels.get(node_id, node_id) if node_id else "Workflow"
            if problem.field:
                where = f"{where} · {problem.field.removeprefix('config.')}"
            views.append(ProblemView(node_id=node_id, where=where, message=problem.message))
            if node_id:
                markers.setdefault(node_id, {"problems": []})["problems"].append(
                    f"{problem.field + ': ' if problem.field else ''}{problem.message}"
                )
        self.problems = views
        self.decorations = markers
        self.dirty = self._fingerprint() != self._saved
        self._build_form(
            problems=[(p.field or "", p.message) for p in problems if p.node_id == self.selected_id]
        )
        if form_reset:
            self.form_key += 1

    def _build_form(self, problems: list[tuple[str, str]]) -> None:
        node = self._node(self.selected_id) if self.selected_id else None
        if node is None:
            self.selected_id = self.selected_type = self.selected_type_label = ""
            self.selected_label = self.selected_note = ""
            self.form, self.node_messages = [], []
            self.selected_testable = False
            return
        registry = default_registry()
        data = node.get("data") or {}
        self.selected_type = str(node.get("type", ""))
        self.selected_label = str(data.get("label", ""))
        self.selected_note = str(data.get("description", ""))
        self.node_messages = [m for f, m in problems if not f.startswith("config")]
        if not registry.has_node(self.selected_type):
            self.selected_type_label = "Unknown node type"
            self.form = []
            self.selected_testable = False
            return
        cls = registry.node(self.selected_type)
        self.selected_type_label = cls.label
        self.selected_testable = not cls.is_trigger and bool(cls.inputs)
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        form = build_form(
            cls.Config,
            config,
            problems=[(f, m) for f, m in problems if f.startswith("config")],
            hints=template_hints(self._doc, self.selected_id),
            credentials=self._credentials,
            tool_ids=sorted(registry.tools()),
        )
        for view in form:
            if view["key"] in self.json_errors:
                view["error"] = self.json_errors[view["key"]]
        self.form = form

    # -- canvas events ------------------------------------------------------------------------

    @rx.event
    def nodes_moved(self, moved: list[dict[str, Any]]) -> None:
        """A drag ended: store where the nodes were dropped (once per drag, not per frame)."""
        try:
            positions = {m.id: m for m in (_Moved.model_validate(item) for item in moved)}
        except ValidationError:
            return
        for node in self._doc.get("nodes", []):
            if node.get("id") in positions:
                where = positions[node["id"]]
                node["position"] = {"x": where.x, "y": where.y}
        self.dirty = self._fingerprint() != self._saved

    @rx.event
    def canvas_changed(self, change: dict[str, Any]) -> None:
        """A finished structural edit on the canvas (connect, delete, paste, undo...)."""
        try:
            report = _Change.model_validate(change)
        except ValidationError:
            return
        fresh = report.base_rev == self._rev
        before = self._node(self.selected_id) if self.selected_id else None
        self._doc = merge_change(self._doc, report.nodes, report.edges, fresh)
        after = self._node(self.selected_id) if self.selected_id else None
        self._refresh(
            form_reset=before is not None and (after or {}).get("data") != before.get("data")
        )

    @rx.event
    def select_node(self, node_id: str) -> None:
        """Open the config panel of the selected node (``""`` closes it)."""
        if node_id == self.selected_id:
            return
        self.selected_id = node_id if node_id in self._node_ids() else ""
        self.json_errors = {}
        self._refresh(form_reset=True)

    @rx.event
    def focus_node(self, node_id: str) -> None:
        """A problem was clicked: select its node and bring it into view."""
        if node_id not in self._node_ids():
            return
        self._rev += 1
        self.focus_request = {"rev": self._rev, "id": node_id}
        self.selected_id = node_id
        self.json_errors = {}
        self._refresh(form_reset=True)

    # -- the config panel -------------------------------------------------------------------

    def _update_data(self, change: dict[str, Any]) -> None:
        node = self._node(self.selected_id)
        if node is None:
            return
        data = dict(node.get("data") or {})
        data.update(change)
        node["data"] = data
        self._rev += 1
        self.patch = {"rev": self._rev, "nodes": {self.selected_id: data}}
        self._refresh()

    def _config(self) -> dict[str, Any]:
        node = self._node(self.selected_id) or {}
        config = (node.get("data") or {}).get("config")
        return config if isinstance(config, dict) else {}

    def _config_model(self) -> type[BaseModel] | None:
        registry = default_registry()
        if not registry.has_node(self.selected_type):
            return None
        return registry.node(self.selected_type).Config

    def _set(self, key: str, value: Any) -> None:
        self._update_data({"config": set_path(self._config(), key, value)})

    @rx.event
    def set_label(self, value: str) -> None:
        label = value.strip()
        node = self._node(self.selected_id)
        if node is None or label == (node.get("data") or {}).get("label"):
            return
        self._update_data({"label": label})

    @rx.event
    def set_note(self, value: str) -> None:
        node = self._node(self.selected_id)
        if node is None or value == (node.get("data") or {}).get("description", ""):
            return
        self._update_data({"description": value})

    @rx.event
    def set_value(self, key: str, raw: str) -> None:
        """Text typed into a field (committed on blur), read as the field's type."""
        model = self._config_model()
        if model is None:
            return
        try:
            schema, _ = field_schema(model, key)
        except KeyError:
            return
        errors = dict(self.json_errors)
        try:
            value = coerce(schema, raw)
        except ValueError as exc:
            errors[key] = f"{key}: {exc}"
            self.json_errors = errors
            self._refresh()
            return
        errors.pop(key, None)
        self.json_errors = errors
        if value == get_path(self._config(), key):
            self._refresh()
            return
        self._set(key, value)

    @rx.event
    def set_choice(self, key: str, value: str) -> None:
        """An enum or credential picked from a list (``""`` clears it)."""
        self._set(key, value or None)

    @rx.event
    def set_checked(self, key: str, checked: bool) -> None:
        self._set(key, bool(checked))

    @rx.event
    def toggle_option(self, key: str, option: str, checked: bool) -> None:
        """A multi-choice list (agent tools): add or remove one option."""
        current = get_path(self._config(), key)
        chosen = [v for v in (current if isinstance(current, list) else []) if v != option]
        if checked:
            chosen.append(option)
        self._set(key, chosen)

    @rx.event
    def add_row(self, key: str) -> None:
        """A new row in a list, key-value or list-of-objects editor."""
        current = get_path(self._config(), key)
        form = next((f for f in self.form if f["key"] == key), None)
        if form is None:
            return
        if form["kind"] == "keyvalue":
            pairs = dict(current) if isinstance(current, dict) else {}
            n = 1
            while f"key_{n}" in pairs:
                n += 1
            pairs[f"key_{n}"] = ""
            self._set(key, pairs)
        elif form["kind"] == "objects":
            rows = list(current) if isinstance(current, list) else []
            rows.append(self._new_object(key, len(rows)))
            self._set(key, rows)
        else:
            rows = list(current) if isinstance(current, list) else []
            rows.append("")
            self._set(key, rows)
        self.form_key += 1

    def _new_object(self, key: str, index: int) -> dict[str, Any]:
        model = self._config_model()
        if model is None:
            return {}
        row_schema = item_schema(model, key)
        row: dict[str, Any] = {}
        for column in row_schema.get("required", []):
            column_schema = row_schema.get("properties", {}).get(column, {})
            row[column] = f"{column}_{index + 1}" if column_schema.get("type") == "string" else None
        return {k: v for k, v in row.items() if v is not None}

    @rx.event
    def remove_row(self, key: str, index: int) -> None:
        current = get_path(self._config(), key)
        if isinstance(current, dict):
            pairs = list(current.items())
            if 0 <= index < len(pairs):
                del pairs[index]
            self._set(key, dict(pairs))
        elif isinstance(current, list) and 0 <= index < len(current):
            self._set(key, [v for i, v in enumerate(current) if i != index])
        self.form_key += 1

    @rx.event
    def set_cell(self, key: str, index: int, column: str, raw: str) -> None:
        """A cell of a row edited: a list item, a key or value, or an object's column."""
        current = get_path(self._config(), key)
        if isinstance(current, dict):
            pairs = list(current.items())
            if not 0 <= index < len(pairs):
                return
            name, value = pairs[index]
            if column == "key":
                if raw == name or not raw or raw in current:
                    self.form_key += 1  # refused: a key must be new and not empty
                    self._refresh()
                    return
                pairs[index] = (raw, value)
            else:
                pairs[index] = (name, raw)
            self._set(key, dict(pairs))
        elif isinstance(current, list) and 0 <= index < len(current):
            rows = list(current)
            if isinstance(rows[index], dict):
                model = self._config_model()
                if model is None:
                    return
                column_schema = item_schema(model, key).get("properties", {}).get(column, {})
                try:
                    value = coerce(column_schema, raw)
                except ValueError:
                    value = raw
                row = dict(rows[index])
                if value is None:
                    row.pop(column, None)
                else:
                    row[column] = value
                rows[index] = row
            else:
                rows[index] = raw
            self._set(key, rows)

    @rx.event
    def set_cell_checked(self, key: str, index: int, column: str, checked: bool) -> None:
        current = get_path(self._config(), key)
        if (
            isinstance(current, list)
            and 0 <= index < len(current)
            and isinstance(current[index], dict)
        ):
            rows = list(current)
            rows[index] = {**rows[index], column: bool(checked)}
            self._set(key, rows)

    # -- the document -------------------------------------------------------------------------

    @rx.event
    def set_name(self, value: str) -> None:
        name = value.strip() or "Untitled workflow"
        if name != self._doc.get("name"):
            self._doc["name"] = name
            self.name = name
            self._refresh()

    @rx.event
    def set_description(self, value: str) -> None:
        if value != self._doc.get("description", ""):
            self._doc["description"] = value
            self.description = value
            self._refresh()

    async def _actor(self) -> Actor | None:
        return await signed_in(self)

    @rx.event
    async def save(self):
        """Save the working document as the workflow's next version (Ctrl+S)."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        if self.saving:
            return
        self.saving = True
        yield
        try:
            # A draft: half-built workflows save; runs are validated before they queue.
            detail = await asyncio.to_thread(
                workflows.update, actor, self.wf_id, self._plain(), draft=True
            )
        except InvalidInput as exc:
            self.saving = False
            yield rx.toast.error(f"Not saved: {exc}", id="save-result")
            return
        except NotFound:
            self.saving = False
            yield rx.toast.error("Not saved: this workflow no longer exists.", id="save-result")
            return
        self.version = detail.version
        self._saved = self._fingerprint()
        self.dirty = False
        self.saving = False
        if self.versions:
            self.versions = await self._version_views(actor)
        if self.problems:
            count = len(self.problems)
            yield rx.toast.warning(
                f"Saved as version {detail.version}, with {count} problem"
                f"{'s' if count > 1 else ''} to fix before it can run (see Problems).",
                id="save-result",
            )
        else:
            yield rx.toast.success(f"Saved as version {detail.version}.", id="save-result")

    async def _version_views(self, actor: Actor) -> list[VersionView]:
        rows = await asyncio.to_thread(workflows.versions, actor, self.wf_id)
        return [
            VersionView(
                version=row.version,
                name=row.name,
                created=f"{row.created_at:%Y-%m-%d %H:%M}",
                current=row.version == self.version,
            )
            for row in rows
        ]

    @rx.event
    async def load_versions(self) -> Any:
        """Fill the version history (when its panel opens)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        try:
            self.versions = await self._version_views(actor)
        except NotFound:
            self.versions = []
        return None

    @rx.event
    async def restore(self, version: int):
        """Save an older version as the newest one and show it."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        try:
            detail = await asyncio.to_thread(
                workflows.restore, actor, self.wf_id, version, draft=True
            )
        except AgentFlowError as exc:
            yield rx.toast.error(f"Could not restore version {version}: {exc}")
            return
        self.version = detail.version
        self._show(detail.document, saved=True)
        self.versions = await self._version_views(actor)
        yield rx.toast.success(f"Version {version} restored as version {detail.version}.")

    @rx.event
    def export_document(self) -> Any:
        """Download the working document as JSON (what the API and import accept)."""
        return rx.download(
            data=json.dumps(self._plain(), indent=2, ensure_ascii=False),
            filename=f"{slug(self.name)}.json",
            mime_type="application/json",
        )

    @rx.event
    def import_document(self, form_data: dict[str, Any]) -> Any:
        """Replace the canvas with a pasted document (unsaved until Save)."""
        text = str(form_data.get("document") or "").strip()
        if not text:
            self.import_error = "Paste a workflow document (JSON) first."
            return None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            self.import_error = (
                f"This is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            )
            return None
        if isinstance(raw, dict):
            raw = {k: v for k, v in raw.items() if k not in workflows.SERVER_KEYS}
        try:
            document = WorkflowDocument.model_validate(raw).to_json()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "the document"
            self.import_error = f"Not a workflow document: {where}: {first['msg']}."
            return None
        self.import_error = ""
        self.import_open = False
        self.selected_id = ""
        self._show(document, saved=False)
        return rx.toast.success("Imported. Save to keep it as a new version.")

    @rx.event
    def set_import_open(self, is_open: bool) -> None:
        self.import_open = is_open
        self.import_error = ""

    @rx.event
    def set_delete_open(self, is_open: bool) -> None:
        self.delete_open = is_open

    @rx.event
    async def duplicate(self):
        """Save a copy of the working document as a new workflow and open it."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        copy = {**self._plain(), "name": f"Copy of {self.name}"[:200]}
        try:
            created = await asyncio.to_thread(workflows.create, actor, copy, draft=True)
        except InvalidInput as exc:
            yield rx.toast.error(f"Could not duplicate: {exc}")
            return
        yield rx.redirect(routes.workflow_url(created.id))

    @rx.event
    async def delete_workflow(self):
        """Delete this workflow (after the confirmation dialog) and go back to the list."""
        actor = await self._actor()
        if actor is None:
            yield await to_login(self)
            return
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(workflows.delete, actor, self.wf_id)
        self.dirty = False
        self.delete_open = False
        yield rx.redirect(routes.WORKFLOWS)

    # -- testing one node -----------------------------------------------------------------

    def _reset_test(self, node_id: str) -> None:
        """Forget the test form and result; a watcher still running stops at its next event."""
        self.test_node, self.test_ready, self.test_error = node_id, False, ""
        self._test_ticket = ""
        self.test_running = False
        self.test_run = empty_test_run()

    @rx.event
    async def prepare_test(self) -> Any:
        """Open the test form of the selected node, prefilled from the latest runs."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        node_id = self.selected_id
        if not node_id:
            return None
        self._reset_test(node_id)
        try:
            setup = await asyncio.to_thread(
                node_tests.prepare, actor, self.wf_id, self._plain(), node_id
            )
        except InvalidInput as exc:
            self.test_error = refusal_message(exc)
            return None
        except NotFound as exc:
            self.test_error = f"{exc}."
            return None
        self.test_inputs = pretty_json(setup.inputs)
        self.test_inputs_source = (
            f"from execution #{setup.inputs_from_execution}"
            if setup.inputs_from_execution
            else "from the trigger's declared inputs"
        )
        self.test_samples = [
            SampleView(
                node_id=slot.node_id,
                label=slot.label,
                type=slot.type,
                text=pretty_json(slot.output),
                source=f"from execution #{slot.from_execution}"
                if slot.from_execution
                else "no run has it yet",
            )
            for slot in setup.samples
        ]
        self.test_form_key += 1
        self.test_ready = True
        return None

    @rx.event
    async def run_test(self, form_data: dict[str, Any]) -> Any:
        """Queue the test with the form's sample inputs and outputs, then follow it."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        node_id = self.test_node
        if not node_id or node_id != self.selected_id or self.test_busy:
            return None
        try:
            inputs = parse_sample(str(form_data.get("inputs") or ""), "Sample inputs")
            samples = {
                slot["node_id"]: parse_sample(
                    str(form_data.get(f"sample:{slot['node_id']}") or ""),
                    f"The sample output of {slot['label']}",
                )
                for slot in self.test_samples
            }
        except ValueError as exc:
            self.test_error = str(exc)
            return None
        self.test_error = ""
        self.test_busy = True
        try:
            execution_id = await asyncio.to_thread(
                node_tests.start, actor, self.wf_id, self._plain(), node_id, inputs, samples
            )
        except InvalidInput as exc:
            self.test_error = refusal_message(exc)
            return None
        except AgentFlowError as exc:
            self.test_error = f"Could not start the test: {exc}."
            return None
        finally:
            self.test_busy = False
        self._test_ticket = f"{execution_id}:{node_id}"
        self.test_run = {
            **empty_test_run(),
            "execution_id": execution_id,
            "href": routes.execution_url(execution_id),
            "status": "queued",
        }
        self.test_running = True
        return EditorState.watch_test

    @rx.event
    async def stop_test(self) -> Any:
        """Cancel the running test (its execution ends as ``cancelled``)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        execution_id = self.test_run["execution_id"]
        if not execution_id or not self.test_running:
            return None
        # An error means it ended meanwhile: the watcher shows how.
        with contextlib.suppress(AgentFlowError):
            await asyncio.to_thread(executions.cancel, actor, execution_id)
        return None

    @rx.event(background=True)
    async def watch_test(self):
        """Show the test's events as they come (status, tokens, logs), then its result."""
        async with self:
            actor = await signed_in(self)
            ticket = self._test_ticket
            execution_id = self.test_run["execution_id"]
            node_id = self.test_node
        if actor is None or not ticket:
            return
        try:
            async with contextlib.aclosing(executions.follow(actor, execution_id)) as events:
                async for event in events:
                    async with self:
                        if self._test_ticket != ticket:
                            return
                        self._apply_test_event(node_id, event)
            result = await asyncio.to_thread(node_tests.result, actor, execution_id, node_id)
        except NotFound:
            async with self:
                if self._test_ticket == ticket:
                    self.test_running = False
                    self.test_run = {**self.test_run, "error": "This test run no longer exists."}
            return
        except Exception as exc:  # Redis or the database went away while following
            log.warning("following node test %s failed: %s", execution_id, exc)
            async with self:
                if self._test_ticket == ticket:
                    self.test_running = False
                    self.test_run = {
                        **self.test_run,
                        "error": "Lost track of this test run; open it to see how it ended.",
                    }
            return
        async with self:
            if self._test_ticket != ticket:
                return
            output = result.output
            self.test_run = {
                **self.test_run,
                "status": str(result.status),
                "step_status": str(result.step_status or ""),
                "duration": format_duration(result.duration_s),
                "output": "" if output is None else pretty_json(output),
                "truncated": result.output_truncated,
                "error": result.error or "",
            }
            self.test_running = False

    def _apply_test_event(self, node_id: str, event: Event) -> None:
        run = dict(self.test_run)
        if event.node_id is None:
            name = str(event.type).removeprefix("execution.")
            run["status"] = "running" if name == "started" else name
        elif event.node_id == node_id:
            if event.type == EventType.STEP_TOKEN:
                run["tokens"] = run["tokens"] + str(event.data.get("text", ""))
            elif event.type == EventType.STEP_LOG:
                run["logs"] = [*run["logs"], str(event.data.get("message", ""))]
            elif event.type == EventType.STEP_STARTED:
                run["step_status"] = "running"
                run["tokens"] = ""  # a retried attempt streams its answer again
            elif str(event.type).startswith("step."):
                run["step_status"] = str(event.type).removeprefix("step.")
        self.test_run = run
