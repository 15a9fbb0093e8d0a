"""/workflows: the list of the user's workflows, with an empty state that says what to do."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.dashboard import dashboard
from agentflow_app.components.layout import app_shell
from agentflow_app.components.templates_gallery import templates_gallery
from agentflow_app.pages.settings import page_header
from agentflow_app.state.auth import AuthState
from agentflow_app.state.workflows import WorkflowRow, WorkflowsState


def _new_button(**props) -> rx.Component:
    """Offered to roles that may change workflows (the service refuses the others)."""
    return rx.cond(
        AuthState.can_edit_here,
        rx.button(
            rx.icon("plus", size=16),
            "New workflow",
            on_click=WorkflowsState.create_workflow,
            loading=WorkflowsState.creating,
            **props,
        ),
    )


def _empty() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("workflow", size=40, color=rx.color("accent", 9)),
            rx.heading("No workflows yet", size="4"),
            rx.text(
                "A workflow starts with a trigger, then LLM agents, HTTP calls and "
                "conditions you draw on the canvas.",
                size="2",
                color_scheme="gray",
                text_align="center",
                max_width="26em",
            ),
            _new_button(size="3", margin_top="0.5em"),
            align="center",
            spacing="3",
        ),
        padding="4em 2em",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
        width="100%",
        data_testid="workflows-empty",
    )


def _delete(row: WorkflowRow) -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.icon_button(
                rx.icon("trash-2", size=16),
                variant="ghost",
                color_scheme="gray",
                aria_label="Delete " + row["name"],
            )
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete “" + row["name"] + "”?"),
            rx.alert_dialog.description(
                "Its versions and executions are deleted too. This cannot be undone.",
                size="2",
            ),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button(
                        "Delete",
                        color_scheme="red",
                        on_click=WorkflowsState.delete_workflow(row["id"]),
                    )
                ),
                spacing="3",
                justify="end",
                margin_top="1em",
            ),
        ),
    )


def _row(row: WorkflowRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.vstack(
                rx.link(row["name"], href=row["href"], weight="medium"),
                rx.cond(
                    row["description"] != "",
                    rx.text(row["description"], size="1", color_scheme="gray", trim="end"),
                ),
                spacing="0",
            )
        ),
        rx.table.cell(
            rx.cond(
                row["webhook"],
                rx.badge("webhook", color_scheme="violet", variant="soft"),
                rx.badge("manual", color_scheme="gray", variant="soft"),
            )
        ),
        rx.table.cell(rx.text("v", row["version"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["updated"], size="2", color_scheme="gray")),
        rx.table.cell(_delete(row), text_align="right"),
        align="center",
    )


def _table() -> rx.Component:
    return rx.table.root(
        rx.table.header(
            rx.table.row(
                rx.table.column_header_cell("Name"),
                rx.table.column_header_cell("Trigger", width="8em"),
                rx.table.column_header_cell("Version", width="6em"),
                rx.table.column_header_cell("Updated", width="9em"),
                rx.table.column_header_cell("", width="4em"),
            )
        ),
        rx.table.body(rx.foreach(WorkflowsState.rows, _row)),
        variant="surface",
        width="100%",
    )


def workflows() -> rx.Component:
    return app_shell(
        page_header(
            "Workflows",
            rx.cond(WorkflowsState.rows.length() > 0, _new_button()),
        ),
        rx.cond(
            WorkflowsState.error != "",
            rx.callout(
                WorkflowsState.error,
                icon="circle-alert",
                color_scheme="red",
                size="1",
                margin_bottom="1em",
            ),
        ),
        rx.cond(WorkflowsState.rows.length() > 0, dashboard()),
        rx.cond(
            WorkflowsState.loaded,
            rx.cond(WorkflowsState.rows.length() > 0, _table(), _empty()),
            rx.center(rx.spinner(size="3"), padding="4em"),
        ),
        templates_gallery(),
    )
