"""The editor's config panel: the selected node's label, note and config form.

The form is generated from the node type's ``Config`` model (:mod:`.form_model`). The
parent :class:`~agentflow_app.state.editor.EditorState` rebuilds it after every change of
the document (:meth:`ConfigPanelState._build`); an edit here changes the node's data in the
working document, sends it to the canvas as a ``patch`` and validates again.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import reflex as rx
from pydantic import BaseModel

from agentflow_app.catalog import default_registry
from agentflow_app.state.editor import EditorState
from agentflow_app.state.form_model import (
    FieldView,
    build_form,
    coerce,
    field_schema,
    get_path,
    item_schema,
    set_path,
)
from agentflow_app.state.mcp_tools import McpToolsMixin

_TRIGGER_INPUTS = ("trigger.manual", "trigger.webhook", "trigger.schedule")


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


class ConfigPanelState(McpToolsMixin, EditorState):
    """The panel of the selected node (``EditorState.selected_id``)."""

    node_type: str = ""
    type_label: str = ""
    label: str = ""
    note: str = ""
    form: list[FieldView] = []
    #: Bumped when the inputs must drop what the browser holds and show the state's values.
    form_key: int = 0
    messages: list[str] = []
    #: Text typed into a JSON field that did not parse, per field key, until it does.
    json_errors: dict[str, str] = {}
    #: Whether "Test this node" applies (not a trigger, has an input).
    testable: bool = False

    @rx.var
    def main_fields(self) -> list[FieldView]:
        return [f for f in self.form if not f["advanced"]]

    @rx.var
    def advanced_fields(self) -> list[FieldView]:
        return [f for f in self.form if f["advanced"]]

    # -- built by the editor after each change ---------------------------------------------

    def _build(self, problems: list[tuple[str, str]], *, form_reset: bool) -> None:
        """Show the selected node with its ``(field, message)`` problems."""
        self._build_form(problems)
        if form_reset:
            self.form_key += 1

    def _build_form(self, problems: list[tuple[str, str]]) -> None:
        node = self._node(self.selected_id) if self.selected_id else None
        if node is None:
            self.selected_id = self.node_type = self.type_label = ""
            self.label = self.note = ""
            self.form, self.messages = [], []
            self.testable = False
            return
        registry = default_registry()
        data = node.get("data") or {}
        self.node_type = str(node.get("type", ""))
        self.label = str(data.get("label", ""))
        self.note = str(data.get("description", ""))
        self.messages = [m for f, m in problems if not f.startswith("config")]
        if not registry.has_node(self.node_type):
            self.type_label = "Unknown node type"
            self.form = []
            self.testable = False
            return
        cls = registry.node(self.node_type)
        self.type_label = cls.label
        self.testable = not cls.is_trigger and bool(cls.inputs)
        config = data.get("config") if isinstance(data.get("config"), dict) else {}
        form = build_form(
            cls.Config,
            config,
            problems=[(f, m) for f, m in problems if f.startswith("config")],
            hints=template_hints(self._doc, self.selected_id),
            credentials=self._credentials,
            tool_ids=sorted(registry.tools()),
            workflows=self._workflows,
        )
        for view in form:
            if view["key"] in self.json_errors:
                view["error"] = self.json_errors[view["key"]]
        self.form = form

    # -- editing the selected node -----------------------------------------------------------

    async def _update_data(self, change: dict[str, Any]) -> None:
        node = self._node(self.selected_id)
        if node is None:
            return
        data = dict(node.get("data") or {})
        data.update(change)
        node["data"] = data
        self._rev += 1
        self.patch = {"rev": self._rev, "nodes": {self.selected_id: data}}
        await self._refresh()

    def _config(self) -> dict[str, Any]:
        node = self._node(self.selected_id) or {}
        config = (node.get("data") or {}).get("config")
        return config if isinstance(config, dict) else {}

    def _config_model(self) -> type[BaseModel] | None:
        registry = default_registry()
        if not registry.has_node(self.node_type):
            return None
        return registry.node(self.node_type).Config

    async def _set(self, key: str, value: Any) -> None:
        await self._update_data({"config": set_path(self._config(), key, value)})

    @rx.event
    async def set_label(self, value: str) -> None:
        label = value.strip()
        node = self._node(self.selected_id)
        if node is None or label == (node.get("data") or {}).get("label"):
            return
        await self._update_data({"label": label})

    @rx.event
    async def set_note(self, value: str) -> None:
        node = self._node(self.selected_id)
        if node is None or value == (node.get("data") or {}).get("description", ""):
            return
        await self._update_data({"description": value})

    @rx.event
    async def set_value(self, key: str, raw: str) -> None:
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
            await self._refresh()
            return
        errors.pop(key, None)
        self.json_errors = errors
        if value == get_path(self._config(), key):
            await self._refresh()
            return
        await self._set(key, value)

    @rx.event
    async def set_choice(self, key: str, value: str) -> None:
        """An enum, credential or workflow picked from a list (``""`` clears it)."""
        field = next((f for f in self.form if f["key"] == key), None)
        if field is not None and field["kind"] == "workflow":
            await self._set(key, coerce({"widget": "workflow"}, value or ""))
            return
        await self._set(key, value or None)

    @rx.event
    async def set_checked(self, key: str, checked: bool) -> None:
        await self._set(key, bool(checked))

    @rx.event
    async def toggle_option(self, key: str, option: str, checked: bool) -> None:
        """A multi-choice list (agent tools): add or remove one option."""
        current = get_path(self._config(), key)
        chosen = [v for v in (current if isinstance(current, list) else []) if v != option]
        if checked:
            chosen.append(option)
        await self._set(key, chosen)

    @rx.event
    async def add_row(self, key: str) -> None:
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
            await self._set(key, pairs)
        elif form["kind"] == "objects":
            rows = list(current) if isinstance(current, list) else []
            rows.append(self._new_object(key, len(rows)))
            await self._set(key, rows)
        else:
            rows = list(current) if isinstance(current, list) else []
            rows.append("")
            await self._set(key, rows)
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
    async def remove_row(self, key: str, index: int) -> None:
        current = get_path(self._config(), key)
        if isinstance(current, dict):
            pairs = list(current.items())
            if 0 <= index < len(pairs):
                del pairs[index]
            await self._set(key, dict(pairs))
        elif isinstance(current, list) and 0 <= index < len(current):
            await self._set(key, [v for i, v in enumerate(current) if i != index])
        self.form_key += 1

    @rx.event
    async def set_cell(self, key: str, index: int, column: str, raw: str) -> None:
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
                    await self._refresh()
                    return
                pairs[index] = (raw, value)
            else:
                pairs[index] = (name, raw)
            await self._set(key, dict(pairs))
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
            await self._set(key, rows)

    @rx.event
    async def set_cell_checked(self, key: str, index: int, column: str, checked: bool) -> None:
        current = get_path(self._config(), key)
        if (
            isinstance(current, list)
            and 0 <= index < len(current)
            and isinstance(current[index], dict)
        ):
            rows = list(current)
            rows[index] = {**rows[index], column: bool(checked)}
            await self._set(key, rows)
