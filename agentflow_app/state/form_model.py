"""The config panel's view model, generated from a node type's pydantic ``Config``.

Nothing here knows a node type by name: the JSON schema of the model says what each field
is (text, number, boolean, enum, list, key-value, list of objects, nested object, any JSON)
and the ``TemplateField`` markers on the model say which strings are templates, so a
plugin's node gets a complete form without any JavaScript. Pure Python, next to the state
that uses it: :class:`~agentflow_app.state.config_panel.ConfigPanelState` calls
:func:`build_form`, :func:`coerce`, :func:`item_schema` and the path helpers; the tests call
them directly. ``$ref`` resolution lives here only (:func:`_resolve`).
"""

from __future__ import annotations

import json
import re
import typing
from typing import Any, TypedDict

from pydantic import BaseModel

from agentflow_app.engine.node import NodeConfig, TemplateField

#: Keys every node has (SPEC §5); shown under "Settings", after the type's own fields.
COMMON_KEYS = tuple(NodeConfig.model_fields)
#: Template strings with these names get a multi-line editor.
LONG_TEXT = frozenset({"prompt", "system", "body", "text", "template", "message", "value"})
#: Array-of-string fields whose choices the registry knows (agent tools).
TOOL_FIELDS = frozenset({"tools"})

_INDEX = re.compile(r"\[(\d+)\]")


class Cell(TypedDict):
    """One editable value in a row of a list, key-value or list-of-objects editor."""

    column: str
    kind: str
    value: str
    checked: bool
    options: list[str]


class Column(TypedDict):
    key: str
    label: str


class Row(TypedDict):
    key: str
    cells: list[Cell]


class FieldView(TypedDict):
    """Everything the panel needs to draw one field."""

    key: str
    label: str
    kind: str
    description: str
    required: bool
    advanced: bool
    depth: int
    value: str
    placeholder: str
    checked: bool
    options: list[str]
    error: str
    hints: list[str]
    columns: list[Column]
    rows: list[Row]


class CredentialChoice(TypedDict):
    name: str
    kind: str


class WorkflowChoice(TypedDict):
    """One of the user's workflows, for a sub-workflow or map picker."""

    id: int
    name: str
    #: Its trigger's inputs, as ``name: type`` text (shown under the picker).
    inputs: str


def workflow_option(choice: WorkflowChoice) -> str:
    """A picker's option text: ``12 · Lead scoring``; :func:`coerce` reads the id back."""
    return f"{choice['id']} · {choice['name']}"


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.split("/")[-1], {})
        merged = {k: v for k, v in schema.items() if k != "$ref"}
        return {**target, **merged}
    return schema


def _unwrap_optional(schema: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema without a ``| None`` branch, and whether None was allowed."""
    variants = schema.get("anyOf")
    if not isinstance(variants, list):
        return _resolve(schema, root), False
    rest = [v for v in variants if v.get("type") != "null"]
    nullable = len(rest) < len(variants)
    if len(rest) == 1:
        inner = {k: v for k, v in schema.items() if k != "anyOf"}
        return {**_resolve(rest[0], root), **inner}, nullable
    return schema, nullable


def _template_kinds(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> template kind ("text" | "expression" | "json") for marked fields."""

    def find(annotation: Any, metadata: list[Any]) -> str | None:
        for item in metadata:
            if isinstance(item, TemplateField):
                return item.kind
        for arg in typing.get_args(annotation):
            if isinstance(arg, TemplateField):
                return arg.kind
            if arg is not None and (found := find(arg, [])) is not None:
                return found
        return None

    kinds = {}
    for name, info in model.model_fields.items():
        kind = find(info.annotation, list(info.metadata))
        if kind is not None:
            kinds[info.alias or name] = kind
    return kinds


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, indent=2, ensure_ascii=False)


def _label(key: str, schema: dict[str, Any]) -> str:
    title = schema.get("title")
    if isinstance(title, str) and title and title.replace(" ", "_").lower() != key.lower():
        return title
    words = key.replace("_", " ").strip()
    return (words[:1].upper() + words[1:]) or key


def _cell_kind(schema: dict[str, Any]) -> tuple[str, list[str]]:
    if isinstance(schema.get("enum"), list):
        return "enum", [str(v) for v in schema["enum"]]
    kind = schema.get("type")
    if kind == "boolean":
        return "boolean", []
    if kind in ("integer", "number"):
        return kind, []
    if kind == "string":
        return "text", []
    return "json", []


def _kind(
    key: str, schema: dict[str, Any], template: str | None, root: dict[str, Any]
) -> tuple[str, list[str]]:
    """The editor for a property and its fixed options."""
    widget = schema.get("widget")
    if widget == "mcp_tools":
        return "mcp_tools", []
    if "credential_kinds" in schema and schema.get("type") == "array":
        return "multi", []  # several credentials (an agent's MCP servers): options below
    if "credential_kinds" in schema or key == "credential":
        return "credential", []
    if widget == "workflow":
        return "workflow", []
    if widget == "json" or template == "json":
        return "json", []
    kind = schema.get("type")
    if isinstance(schema.get("enum"), list) or kind in ("boolean", "integer", "number"):
        return _cell_kind(schema)  # the same editors as a table cell's
    if kind == "string":
        if widget == "expression" or template == "expression":
            return "expression", []
        if widget == "textarea" or (template == "text" and key in LONG_TEXT):
            return "textarea", []
        return ("template" if template else "text"), []
    if kind == "array":
        items = _resolve(schema.get("items") or {}, root)
        if items.get("type") == "object" and isinstance(items.get("properties"), dict):
            return "objects", []
        if isinstance(items.get("enum"), list):
            return "multi", [str(v) for v in items["enum"]]
        if items.get("type") == "string":
            return "list", []
        return "json", []
    if kind == "object":
        if isinstance(schema.get("properties"), dict) and schema["properties"]:
            return "object", []
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict) and extra.get("type") == "string":
            return "keyvalue", []
        return "json", []
    return "json", []


def _field_errors(problems: list[tuple[str, str]]) -> dict[str, str]:
    """``config.x[0].y`` problems -> ``{"x": "row 1 · y: message"}`` (nested keys kept)."""
    errors: dict[str, list[str]] = {}
    for field, message in problems:
        path = field.removeprefix("config.") if field.startswith("config.") else field
        if path == "config":
            continue
        match = _INDEX.search(path)
        if match:
            head = path[: match.start()]
            tail = path[match.end() :].lstrip(".")
            detail = f"row {int(match.group(1)) + 1}" + (f" · {tail}" if tail else "")
            errors.setdefault(head, []).append(f"{detail}: {message}")
        else:
            errors.setdefault(path, []).append(message)
    return {key: "; ".join(messages) for key, messages in errors.items()}


def get_path(values: dict[str, Any], dotted: str) -> Any:
    """The value at dotted ``key`` of a config (None when any part is missing)."""
    current: Any = values
    for part in dotted.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def set_path(values: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of config ``values`` with dotted ``key`` set (None removes it)."""
    values = json.loads(json.dumps(values))
    parts = dotted.split(".")
    target = values
    for part in parts[:-1]:
        child = target.get(part)
        if not isinstance(child, dict):
            child = {}
            target[part] = child
        target = child
    if value is None:
        target.pop(parts[-1], None)
    else:
        target[parts[-1]] = value
    return values


def build_form(
    model: type[BaseModel],
    values: dict[str, Any],
    problems: list[tuple[str, str]] | None = None,
    hints: list[str] | None = None,
    credentials: list[CredentialChoice] | None = None,
    tool_ids: list[str] | None = None,
    workflows: list[WorkflowChoice] | None = None,
) -> list[FieldView]:
    """The fields of ``model``'s form, filled with ``values``.

    Args:
        model: the node type's ``Config``.
        values: the node's config as stored.
        problems: ``(field, message)`` of validation problems on this node
            (fields as :func:`agentflow_app.engine.validate.validate` names them).
        hints: what templates may use here (``inputs.x``, ``nodes.<id>.output``).
        credentials: the user's credentials, for pickers (filtered by kind per field).
        tool_ids: agent tools the registry knows, the choices of a ``tools`` list.
        workflows: the user's other workflows, the choices of a workflow picker.
    """
    root = model.model_json_schema()
    errors = _field_errors(problems or [])
    templates = _template_kinds(model)
    fields: list[FieldView] = []
    properties = root.get("properties", {})
    ordered = [k for k in properties if k not in COMMON_KEYS] + [
        k for k in properties if k in COMMON_KEYS
    ]
    required = set(root.get("required", []))
    for key in ordered:
        _add_fields(
            fields,
            key,
            properties[key],
            root,
            values,
            errors,
            required=key in required,
            template=templates.get(key),
            advanced=key in COMMON_KEYS,
            depth=0,
            hints=hints or [],
            credentials=credentials or [],
            tool_ids=tool_ids or [],
            workflows=workflows or [],
        )
    return fields


def _add_fields(
    fields: list[FieldView],
    key: str,
    raw_schema: dict[str, Any],
    root: dict[str, Any],
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    required: bool,
    template: str | None,
    advanced: bool,
    depth: int,
    hints: list[str],
    credentials: list[CredentialChoice],
    tool_ids: list[str],
    workflows: list[WorkflowChoice] | None = None,
) -> None:
    schema, _nullable = _unwrap_optional(raw_schema, root)
    name = key.rsplit(".", 1)[-1]
    kind, options = _kind(name, schema, template, root)
    if name in TOOL_FIELDS and kind == "list" and tool_ids:
        kind, options = "multi", list(tool_ids)
    value = get_path(values, key)
    default = schema.get("default", raw_schema.get("default"))
    view = FieldView(
        key=key,
        label=_label(name, raw_schema),
        kind=kind,
        description=str(raw_schema.get("description") or schema.get("description") or ""),
        required=required,
        advanced=advanced,
        depth=depth,
        value=_text(value) if kind not in ("boolean",) else "",
        placeholder="" if default is None else f"Default: {_text(default)}",
        checked=bool(value if value is not None else default),
        options=options,
        error=errors.get(key, ""),
        hints=hints if kind in ("template", "textarea", "expression", "json", "keyvalue") else [],
        columns=[],
        rows=[],
    )
    if kind == "credential":
        kinds = schema.get("credential_kinds") or raw_schema.get("credential_kinds")
        names = [c["name"] for c in credentials if not kinds or c["kind"] in kinds]
        if isinstance(value, str) and value and value not in names:
            names.append(value)
        view["options"] = names
        view["placeholder"] = (
            f"A {' or '.join(kinds)} credential" if kinds else "Choose a credential"
        )
    elif kind == "workflow":
        choices = workflows or []
        view["options"] = [workflow_option(c) for c in choices]
        chosen = next((c for c in choices if c["id"] == value), None)
        if chosen is not None:
            view["value"] = workflow_option(chosen)
            if chosen["inputs"]:
                view["description"] = f"Its inputs: {chosen['inputs']}"
        elif value is not None:
            view["value"] = f"{value} · (not one of your workflows)"
            view["options"].append(view["value"])
        view["placeholder"] = "Choose a workflow" if choices else "No other workflow yet"
    elif kind == "multi":
        chosen = value if isinstance(value, list) else []
        kinds = schema.get("credential_kinds")
        if kinds:
            options = [c["name"] for c in credentials if c["kind"] in kinds]
            options += [v for v in chosen if isinstance(v, str) and v not in options]
            view["options"] = options
        view["rows"] = [
            Row(key=option, cells=[_cell(option, "boolean", option in chosen, [])])
            for option in options
        ]
    elif kind == "list":
        items = value if isinstance(value, list) else []
        view["rows"] = [
            Row(key=str(i), cells=[_cell("value", "text", item, [])])
            for i, item in enumerate(items)
        ]
    elif kind == "keyvalue":
        pairs = value if isinstance(value, dict) else {}
        view["rows"] = [
            Row(key=str(k), cells=[_cell("key", "text", k, []), _cell("value", "text", v, [])])
            for k, v in pairs.items()
        ]
    elif kind == "objects":
        item_schema = _resolve(schema.get("items") or {}, root)
        props = item_schema.get("properties", {})
        view["columns"] = [Column(key=c, label=_label(c, s)) for c, s in props.items()]
        items = value if isinstance(value, list) else []
        rows = []
        for index, item in enumerate(items):
            item = item if isinstance(item, dict) else {}
            cells = []
            for column, column_schema in props.items():
                cell_schema, _ = _unwrap_optional(column_schema, root)
                cell_kind, cell_options = _cell_kind(cell_schema)
                cells.append(_cell(column, cell_kind, item.get(column), cell_options))
            rows.append(Row(key=str(index), cells=cells))
        view["rows"] = rows
    fields.append(view)
    if kind == "object":
        nested_required = set(schema.get("required", []))
        for child, child_schema in schema.get("properties", {}).items():
            _add_fields(
                fields,
                f"{key}.{child}",
                child_schema,
                root,
                values,
                errors,
                required=child in nested_required,
                template=None,
                advanced=advanced,
                depth=depth + 1,
                hints=hints,
                credentials=credentials,
                tool_ids=tool_ids,
            )


def _cell(column: str, kind: str, value: Any, options: list[str]) -> Cell:
    return Cell(
        column=column,
        kind=kind,
        value="" if kind == "boolean" else _text(value),
        checked=bool(value) if kind == "boolean" else False,
        options=options,
    )


# -- turning what was typed back into config values --------------------------------------


def field_schema(model: type[BaseModel], key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (unwrapped) schema of dotted ``key`` in ``model`` and the root schema.

    Raises:
        KeyError: naming the key when the model has no such field.
    """
    root = model.model_json_schema()
    schema: dict[str, Any] = root
    for part in key.split("."):
        properties = schema.get("properties", {})
        if part not in properties:
            raise KeyError(f"{model.__name__} has no field {key!r}")
        schema, _ = _unwrap_optional(properties[part], root)
    return schema, root


def item_schema(model: type[BaseModel], key: str) -> dict[str, Any]:
    """The schema of one row of list field ``key`` (``$ref`` resolved).

    Raises:
        KeyError: naming the key when the model has no such field.
    """
    schema, root = field_schema(model, key)
    return _resolve(schema.get("items") or {}, root)


def coerce(schema: dict[str, Any], raw: str) -> Any:
    """What typed text means for a field of ``schema``; None clears it.

    Numbers that do not parse are kept as text, so validation names the problem where it
    is instead of the keystroke disappearing. JSON fields that do not parse raise.

    Raises:
        ValueError: for a JSON field whose text is not JSON (the message says where).
    """
    text = raw if isinstance(raw, str) else str(raw)
    kind = schema.get("type")
    if text.strip() == "":
        return None
    if schema.get("widget") == "workflow":  # "12 · Lead scoring" from the picker
        head = text.split("·", 1)[0].strip()
        return int(head) if head.isdigit() else text
    if kind == "integer":
        try:
            return int(text.strip())
        except ValueError:
            return text
    if kind == "number":
        try:
            number = float(text.strip())
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "string" or isinstance(schema.get("enum"), list):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if kind is None:  # any JSON value: plain text is a string
            return text
        raise ValueError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from None
