"""/workflows/[workflow_id]: the editor. Palette | canvas | config panel, under a toolbar."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.config_form import config_panel
from agentflow_app.components.execute_dialog import execute_button
from agentflow_app.components.palette import palette
from agentflow_app.components.validation_panel import problems_button, problems_list
from agentflow_app.components.versions import versions_button
from agentflow_app.react_flow.canvas import workflow_canvas
from agentflow_app.state.editor import EditorState
from agentflow_app.state.palette import PaletteState


def _import_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Import a workflow document"),
            rx.dialog.description(
                "Paste an exported document. It replaces the canvas; Save keeps it as a new "
                "version, and Ctrl+Z takes it back.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.text_area(
                        name="document",
                        placeholder='{"schema_version": 1, "nodes": [...], "edges": [...]}',
                        rows="12",
                        width="100%",
                        font_family="var(--code-font-family)",
                        data_testid="import-text",
                    ),
                    rx.cond(
                        EditorState.import_error != "",
                        rx.text(EditorState.import_error, size="2", color_scheme="red"),
                    ),
                    rx.hstack(
                        rx.dialog.close(
                            rx.button("Cancel", variant="soft", color_scheme="gray", type="button")
                        ),
                        rx.button("Import", type="submit", data_testid="import-submit"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=EditorState.import_document,
                reset_on_submit=False,
            ),
            max_width="640px",
        ),
        open=EditorState.import_open,
        on_open_change=EditorState.set_import_open,
    )


def _delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete “", EditorState.name, "”?"),
            rx.alert_dialog.description(
                "Its versions and executions are deleted too. This cannot be undone.", size="2"
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        on_click=EditorState.delete_workflow,
                        data_testid="delete-confirm",
                    )
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
        open=EditorState.delete_open,
        on_open_change=EditorState.set_delete_open,
    )


def _more_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("ellipsis", size=16),
                variant="soft",
                color_scheme="gray",
                aria_label="More actions",
                data_testid="more-menu",
            )
        ),
        rx.menu.content(
            rx.menu.item(
                rx.icon("download", size=14),
                "Export JSON",
                on_click=EditorState.export_document,
                data_testid="export",
            ),
            rx.menu.item(
                rx.icon("upload", size=14),
                "Import JSON…",
                on_click=EditorState.set_import_open(True),
                data_testid="import-open",
            ),
            rx.menu.item(
                rx.icon("copy", size=14),
                "Duplicate",
                on_click=EditorState.duplicate,
                data_testid="duplicate",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("trash-2", size=14),
                "Delete…",
                color="red",
                on_click=EditorState.set_delete_open(True),
                data_testid="delete-open",
            ),
        ),
    )


def _toolbar() -> rx.Component:
    return rx.hstack(
        rx.link(
            rx.icon_button(rx.icon("arrow-left", size=16), variant="ghost", color_scheme="gray"),
            href=routes.WORKFLOWS,
            aria_label="Back to workflows",
        ),
        rx.icon("waypoints", size=20, color=rx.color("accent", 9)),
        rx.input(
            key=EditorState.version.to_string() + EditorState.graph["rev"].to_string(),
            default_value=EditorState.name,
            on_blur=EditorState.set_name,
            variant="soft",
            color_scheme="gray",
            size="2",
            width="22em",
            font_weight="600",
            aria_label="Workflow name",
            data_testid="workflow-name",
        ),
        rx.cond(
            EditorState.dirty,
            rx.badge(
                rx.box(
                    width="6px", height="6px", border_radius="3px", background=rx.color("amber", 9)
                ),
                "Unsaved changes",
                color_scheme="amber",
                variant="soft",
                data_testid="dirty",
            ),
            rx.badge("Saved", color_scheme="gray", variant="soft", data_testid="clean"),
        ),
        rx.spacer(),
        problems_button(),
        versions_button(),
        _more_menu(),
        # What the role in the workflow's workspace cannot do is not offered (a viewer
        # reads; a runner runs); the services refuse it anyway.
        rx.cond(EditorState.can_run, execute_button()),
        rx.cond(
            EditorState.can_edit,
            rx.button(
                rx.icon("save", size=15),
                "Save",
                rx.code("Ctrl+S", size="1", variant="ghost", color_scheme="gray"),
                on_click=EditorState.save,
                loading=EditorState.saving,
                data_testid="save",
            ),
            rx.badge(
                rx.icon("eye", size=12),
                "Read only: ",
                EditorState.role,
                color_scheme="gray",
                data_testid="read-only",
            ),
        ),
        align="center",
        spacing="3",
        padding="8px 14px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        width="100%",
    )


def _workflow_panel() -> rx.Component:
    """The right column when no node is selected: the workflow's description and problems."""
    return rx.vstack(
        rx.text("Workflow", size="3", weight="bold"),
        rx.text("Description", size="2", weight="medium"),
        rx.text_area(
            key=EditorState.graph["rev"].to_string(),
            default_value=EditorState.description,
            on_blur=EditorState.set_description,
            placeholder="What this workflow does",
            rows="3",
            width="100%",
        ),
        rx.hstack(
            rx.switch(
                checked=EditorState.expose_mcp,
                on_change=EditorState.set_expose_mcp,
                custom_attrs={"data-field": "expose_mcp"},
            ),
            rx.text("Available to MCP clients", size="2", weight="medium"),
            spacing="2",
            align="center",
        ),
        rx.text(
            "With a manual trigger, your API keys' MCP clients can run it as a tool "
            "described by the description above (see Settings).",
            size="1",
            color_scheme="gray",
        ),
        rx.separator(size="4"),
        rx.text("Problems", size="2", weight="medium"),
        problems_list(),
        rx.separator(size="4"),
        rx.text(
            "Select a node to configure it. Shift-drag selects several; Delete removes; "
            "Ctrl+C / Ctrl+V copy; Ctrl+Z / Ctrl+Shift+Z undo and redo.",
            size="1",
            color_scheme="gray",
        ),
        spacing="3",
        width="100%",
    )


def _side_panel() -> rx.Component:
    return rx.scroll_area(
        rx.box(
            rx.cond(EditorState.selected_id != "", config_panel(), _workflow_panel()),
            padding="14px",
        ),
        type="hover",
        scrollbars="vertical",
        width="380px",
        min_width="380px",
        height="100%",
        border_left=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
    )


def editor() -> rx.Component:
    return rx.cond(
        EditorState.load_error != "",
        rx.center(
            rx.vstack(
                rx.heading("Cannot open this workflow", size="5"),
                rx.text(EditorState.load_error, color_scheme="gray"),
                rx.link(rx.button("Back to workflows"), href=routes.WORKFLOWS),
                align="center",
                spacing="3",
            ),
            height="100vh",
        ),
        rx.vstack(
            _toolbar(),
            rx.hstack(
                palette(),
                rx.box(
                    workflow_canvas(
                        graph=EditorState.graph,
                        patch=EditorState.patch,
                        decorations=EditorState.decorations,
                        catalog=PaletteState.catalog,
                        focus_request=EditorState.focus_request,
                        dirty=EditorState.dirty,
                        on_moved=EditorState.nodes_moved,
                        on_changed=EditorState.canvas_changed,
                        on_select=EditorState.select_node,
                        on_save=EditorState.save,
                    ),
                    rx.cond(
                        ~EditorState.loaded,
                        rx.center(rx.spinner(size="3"), position="absolute", inset="0"),
                    ),
                    flex="1",
                    height="100%",
                    position="relative",
                    min_width="0",
                ),
                _side_panel(),
                spacing="0",
                flex="1",
                width="100%",
                min_height="0",
            ),
            _import_dialog(),
            _delete_dialog(),
            spacing="0",
            height="100vh",
            width="100%",
            overflow="hidden",
        ),
    )
