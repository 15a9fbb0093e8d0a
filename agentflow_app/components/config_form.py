"""The config panel: label, note and a form generated from the node type's pydantic model.

Text fields are uncontrolled and commit on blur (or Ctrl+S), so typing never waits for the
server; their ``key`` changes when the node's data changes from elsewhere (undo, restore),
which resets them to the new value.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.mcp_tools import mcp_tools_editor
from agentflow_app.components.node_test_panel import node_test_panel
from agentflow_app.routes import CREDENTIALS, WORKFLOWS
from agentflow_app.state.config_panel import ConfigPanelState
from agentflow_app.state.editor import EditorState
from agentflow_app.state.form_model import Cell, FieldView, Row


def _key(*parts) -> rx.Var:
    key = EditorState.selected_id + ":" + ConfigPanelState.form_key.to_string()
    for part in parts:
        key = key + ":" + part
    return key


def _hints(field: FieldView) -> rx.Component:
    return rx.cond(
        field["hints"].length() > 0,
        rx.flex(
            rx.text("Can use", size="1", color_scheme="gray"),
            rx.foreach(
                field["hints"],
                lambda hint: rx.badge(
                    hint,
                    variant="soft",
                    color_scheme="gray",
                    size="1",
                    font_family="var(--code-font-family)",
                    cursor="copy",
                    title="Copy {{ " + hint + " }}",
                    on_click=rx.set_clipboard("{{ " + hint + " }}"),
                    data_testid="template-hint",
                ),
            ),
            gap="4px",
            wrap="wrap",
            align="center",
        ),
    )


def _text_input(field: FieldView, **props) -> rx.Component:
    return rx.input(
        key=_key(field["key"]),
        default_value=field["value"],
        placeholder=field["placeholder"],
        on_blur=lambda value: ConfigPanelState.set_value(field["key"], value),
        width="100%",
        color_scheme=rx.cond(field["error"] != "", "red", "gray"),
        custom_attrs={"data-field": field["key"]},
        **props,
    )


def _area(field: FieldView, rows: str) -> rx.Component:
    return rx.text_area(
        key=_key(field["key"]),
        default_value=field["value"],
        placeholder=field["placeholder"],
        on_blur=lambda value: ConfigPanelState.set_value(field["key"], value),
        rows=rows,
        resize="vertical",
        width="100%",
        font_family=rx.cond(field["kind"] == "json", "var(--code-font-family)", "inherit"),
        color_scheme=rx.cond(field["error"] != "", "red", "gray"),
        custom_attrs={"data-field": field["key"]},
    )


def _select(field: FieldView) -> rx.Component:
    return rx.select(
        field["options"],
        value=field["value"],
        placeholder=rx.cond(field["placeholder"] != "", field["placeholder"], "Choose…"),
        on_change=lambda value: ConfigPanelState.set_choice(field["key"], value),
        width="100%",
        custom_attrs={"data-field": field["key"]},
    )


def _remove(field: FieldView, index: rx.Var) -> rx.Component:
    return rx.icon_button(
        rx.icon("x", size=14),
        variant="ghost",
        color_scheme="gray",
        size="1",
        aria_label="Remove row",
        on_click=ConfigPanelState.remove_row(field["key"], index),
    )


def _add(field: FieldView, label: str) -> rx.Component:
    return rx.button(
        rx.icon("plus", size=14),
        label,
        variant="soft",
        color_scheme="gray",
        size="1",
        on_click=ConfigPanelState.add_row(field["key"]),
        custom_attrs={"data-add-row": field["key"]},
    )


def _cell_input(field: FieldView, row: Row, index: rx.Var, cell: Cell) -> rx.Component:
    return rx.match(
        cell["kind"],
        (
            "boolean",
            rx.checkbox(
                cell["column"],
                checked=cell["checked"],
                on_change=lambda checked: ConfigPanelState.set_cell_checked(
                    field["key"], index, cell["column"], checked
                ),
                size="1",
            ),
        ),
        (
            "enum",
            rx.select(
                cell["options"],
                value=cell["value"],
                on_change=lambda value: ConfigPanelState.set_cell(
                    field["key"], index, cell["column"], value
                ),
                size="1",
            ),
        ),
        rx.input(
            key=_key(field["key"], row["key"], cell["column"]),
            default_value=cell["value"],
            placeholder=cell["column"],
            on_blur=lambda value: ConfigPanelState.set_cell(
                field["key"], index, cell["column"], value
            ),
            size="1",
            flex="1",
            min_width="0",
            custom_attrs={"data-cell": cell["column"]},
        ),
    )


def _rows(field: FieldView) -> rx.Component:
    """List, key-value and list-of-objects editors share one row layout."""
    return rx.vstack(
        rx.foreach(
            field["rows"],
            lambda row, index: rx.hstack(
                rx.cond(
                    field["kind"] == "objects",
                    rx.flex(
                        rx.foreach(
                            row["cells"],
                            lambda cell: rx.vstack(
                                rx.text(cell["column"], size="1", color_scheme="gray"),
                                _cell_input(field, row, index, cell),
                                spacing="1",
                                min_width="7em",
                                flex="1",
                            ),
                        ),
                        gap="8px",
                        wrap="wrap",
                        flex="1",
                        padding="8px",
                        border=f"1px solid {rx.color('gray', 5)}",
                        border_radius="var(--radius-3)",
                    ),
                    rx.hstack(
                        rx.foreach(row["cells"], lambda cell: _cell_input(field, row, index, cell)),
                        spacing="2",
                        flex="1",
                    ),
                ),
                _remove(field, index),
                align="center",
                width="100%",
                custom_attrs={"data-row": field["key"]},
            ),
        ),
        _add(
            field,
            rx.match(
                field["kind"], ("keyvalue", "Add entry"), ("objects", "Add item"), "Add value"
            ),
        ),
        spacing="2",
        width="100%",
    )


def _multi(field: FieldView) -> rx.Component:
    return rx.flex(
        rx.foreach(
            field["rows"],
            lambda row: rx.checkbox(
                row["key"],
                checked=row["cells"][0]["checked"],
                on_change=lambda checked: ConfigPanelState.toggle_option(
                    field["key"], row["key"], checked
                ),
                size="2",
            ),
        ),
        gap="12px",
        wrap="wrap",
    )


def _picker(field: FieldView, missing: str, page: str, href: str) -> rx.Component:
    """A choice among the user's objects, or where to make one when there is none."""
    return rx.cond(
        field["options"].length() > 0,
        _select(field),
        rx.text(missing, rx.link(page, href=href), ".", size="1", color_scheme="gray"),
    )


def _editor(field: FieldView) -> rx.Component:
    return rx.match(
        field["kind"],
        ("textarea", _area(field, "5")),
        ("json", _area(field, "4")),
        ("expression", _text_input(field, font_family="var(--code-font-family)")),
        ("number", _text_input(field, input_mode="decimal")),
        ("integer", _text_input(field, input_mode="numeric")),
        (
            "boolean",
            rx.switch(
                checked=field["checked"],
                on_change=lambda checked: ConfigPanelState.set_checked(field["key"], checked),
                custom_attrs={"data-field": field["key"]},
            ),
        ),
        ("enum", _select(field)),
        (
            "credential",
            _picker(
                field, "No matching credential yet: add one under ", "Credentials", CREDENTIALS
            ),
        ),
        (
            "workflow",
            _picker(
                field,
                "No other workflow yet: create the one to call under ",
                "Workflows",
                WORKFLOWS,
            ),
        ),
        ("multi", _multi(field)),
        ("mcp_tools", mcp_tools_editor()),
        ("list", _rows(field)),
        ("keyvalue", _rows(field)),
        ("objects", _rows(field)),
        ("object", rx.fragment()),
        _text_input(field),
    )


def form_field(field: FieldView) -> rx.Component:
    """One field: label, editor, inline error, description and template hints."""
    return rx.vstack(
        rx.hstack(
            rx.text(field["label"], size="2", weight="medium"),
            rx.cond(field["required"], rx.text("*", size="2", color_scheme="red")),
            spacing="1",
            align="center",
        ),
        _editor(field),
        rx.cond(
            field["error"] != "",
            rx.text(field["error"], size="1", color_scheme="red", data_testid="field-error"),
        ),
        rx.cond(
            field["description"] != "",
            rx.text(field["description"], size="1", color_scheme="gray"),
        ),
        _hints(field),
        spacing="1",
        width="100%",
        padding_left=(field["depth"] * 12).to_string() + "px",
        custom_attrs={"data-form-field": field["key"]},
    )


def config_panel() -> rx.Component:
    """The right column when a node is selected."""
    return rx.vstack(
        rx.hstack(
            rx.vstack(
                rx.text(ConfigPanelState.type_label, size="1", color_scheme="gray"),
                rx.code(ConfigPanelState.node_type, size="1", variant="ghost"),
                spacing="0",
            ),
            rx.spacer(),
            rx.icon_button(
                rx.icon("x", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Close panel",
                on_click=EditorState.select_node(""),
            ),
            width="100%",
            align="start",
        ),
        rx.vstack(
            rx.text("Label", size="2", weight="medium"),
            rx.input(
                key=_key("label"),
                default_value=ConfigPanelState.label,
                on_blur=ConfigPanelState.set_label,
                width="100%",
                custom_attrs={"data-field": "label"},
            ),
            rx.text("Note", size="2", weight="medium"),
            rx.text_area(
                key=_key("note"),
                default_value=ConfigPanelState.note,
                on_blur=ConfigPanelState.set_note,
                placeholder="What this step is for (optional)",
                rows="2",
                width="100%",
                custom_attrs={"data-field": "description"},
            ),
            spacing="1",
            width="100%",
        ),
        rx.foreach(
            ConfigPanelState.messages,
            lambda message: rx.callout(
                message, icon="triangle-alert", color_scheme="red", size="1", width="100%"
            ),
        ),
        rx.separator(size="4"),
        rx.foreach(ConfigPanelState.main_fields, form_field),
        rx.cond(
            ConfigPanelState.advanced_fields.length() > 0,
            rx.accordion.root(
                rx.accordion.item(
                    header="Timeout, retries and errors",
                    content=rx.vstack(
                        rx.foreach(ConfigPanelState.advanced_fields, form_field),
                        spacing="3",
                        width="100%",
                    ),
                    value="advanced",
                ),
                collapsible=True,
                type="single",
                variant="ghost",
                width="100%",
            ),
        ),
        rx.cond(
            ConfigPanelState.testable,
            rx.fragment(rx.separator(size="4"), node_test_panel()),
        ),
        spacing="3",
        width="100%",
        data_testid="config-panel",
    )
