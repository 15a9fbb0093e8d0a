"""/executions: every run of the workspace, with who started it, filtered and paginated; a
row opens it."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.layout import app_shell
from agentflow_app.components.status import STATUS_CSS, status_badge
from agentflow_app.pages.settings import page_header
from agentflow_app.state.executions import ALL, STATUSES, ExecutionRow, ExecutionsState


def _label(text: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.text(text, size="1", weight="medium", color_scheme="gray"), control, spacing="1"
    )


def _filters() -> rx.Component:
    return rx.hstack(
        _label(
            "Workflow",
            rx.select.root(
                rx.select.trigger(width="16em", data_testid="filter-workflow"),
                rx.select.content(
                    rx.foreach(
                        ExecutionsState.workflow_choices,
                        lambda c: rx.select.item(c["label"], value=c["value"]),
                    )
                ),
                value=ExecutionsState.workflow,
                on_change=ExecutionsState.set_workflow,
            ),
        ),
        _label(
            "Status",
            rx.select.root(
                rx.select.trigger(width="10em", data_testid="filter-status"),
                rx.select.content(
                    rx.select.item("Any status", value=ALL),
                    *(rx.select.item(s.capitalize(), value=s) for s in STATUSES),
                ),
                value=ExecutionsState.status,
                on_change=ExecutionsState.set_status,
            ),
        ),
        _label(
            "From",
            rx.input(
                type="date",
                value=ExecutionsState.since,
                on_change=ExecutionsState.set_since,
                data_testid="filter-since",
            ),
        ),
        _label(
            "To",
            rx.input(
                type="date",
                value=ExecutionsState.until,
                on_change=ExecutionsState.set_until,
                data_testid="filter-until",
            ),
        ),
        rx.cond(
            ExecutionsState.filtered,
            rx.button(
                rx.icon("x", size=14),
                "Clear",
                variant="ghost",
                color_scheme="gray",
                on_click=ExecutionsState.clear_filters,
                margin_bottom="2px",
            ),
        ),
        rx.spacer(),
        rx.icon_button(
            rx.icon("refresh-cw", size=15),
            variant="soft",
            color_scheme="gray",
            on_click=ExecutionsState.refresh,
            aria_label="Refresh",
        ),
        align="end",
        spacing="3",
        width="100%",
        margin_bottom="1em",
        wrap="wrap",
    )


def _row(row: ExecutionRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(
            rx.link("#", row["id"], href=row["href"], weight="medium", data_testid="open-run")
        ),
        rx.table.cell(rx.text(row["workflow_name"], size="2", weight="medium", trim="both")),
        rx.table.cell(
            rx.vstack(
                status_badge(row["status"]),
                rx.cond(
                    row["error"] != "",
                    rx.tooltip(
                        rx.text(
                            row["error"],
                            size="1",
                            color_scheme="red",
                            max_width="18em",
                            trim="both",
                            white_space="nowrap",
                            overflow="hidden",
                            text_overflow="ellipsis",
                        ),
                        content=row["error"],
                    ),
                ),
                spacing="1",
            )
        ),
        rx.table.cell(rx.badge(row["trigger"], variant="surface", color_scheme="gray")),
        rx.table.cell(
            rx.text(
                rx.cond(row["started_by"] != "", row["started_by"], "—"),
                size="2",
                color_scheme="gray",
                trim="both",
                max_width="14em",
                white_space="nowrap",
                overflow="hidden",
                text_overflow="ellipsis",
                title=row["started_by"],
                data_testid="started-by",
            )
        ),
        rx.table.cell(rx.tooltip(rx.text(row["created"], size="2"), content=row["created_full"])),
        rx.table.cell(rx.text(row["duration"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["tokens"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["cost"], size="2", color_scheme="gray")),
        align="center",
        cursor="pointer",
        _hover={"background": rx.color("gray", 2)},
        on_click=rx.redirect(row["href"]),
        data_testid="execution-row",
        data_status=row["status"],
    )


def _table() -> rx.Component:
    return rx.vstack(
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Run", width="6em"),
                    rx.table.column_header_cell("Workflow"),
                    rx.table.column_header_cell("Status", width="12em"),
                    rx.table.column_header_cell("Trigger", width="8em"),
                    rx.table.column_header_cell("Started by", width="12em"),
                    rx.table.column_header_cell("Started", width="9em"),
                    rx.table.column_header_cell("Duration", width="7em"),
                    rx.table.column_header_cell("Tokens", width="9em"),
                    rx.table.column_header_cell("Cost", width="6em"),
                )
            ),
            rx.table.body(rx.foreach(ExecutionsState.rows, _row)),
            variant="surface",
            width="100%",
        ),
        rx.hstack(
            rx.text(
                ExecutionsState.page_label, size="2", color_scheme="gray", data_testid="page-label"
            ),
            rx.text(
                ExecutionsState.kept_for, size="1", color_scheme="gray", data_testid="retention"
            ),
            rx.spacer(),
            rx.button(
                rx.icon("chevron-left", size=14),
                "Newer",
                variant="soft",
                color_scheme="gray",
                disabled=~ExecutionsState.has_previous,
                on_click=ExecutionsState.previous_page,
                data_testid="page-previous",
            ),
            rx.button(
                "Older",
                rx.icon("chevron-right", size=14),
                variant="soft",
                color_scheme="gray",
                disabled=~ExecutionsState.has_next,
                on_click=ExecutionsState.next_page,
                data_testid="page-next",
            ),
            width="100%",
            align="center",
        ),
        spacing="3",
        width="100%",
    )


def _empty() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("history", size=40, color=rx.color("accent", 9)),
            rx.cond(
                ExecutionsState.filtered,
                rx.fragment(
                    rx.heading("No runs match these filters", size="4"),
                    rx.button(
                        "Clear filters", variant="soft", on_click=ExecutionsState.clear_filters
                    ),
                ),
                rx.fragment(
                    rx.heading("No runs yet", size="4"),
                    rx.text(
                        "Open a workflow and press Execute, call its webhook, or POST to "
                        "/api/workflows/{id}/execute. Every run shows up here.",
                        size="2",
                        color_scheme="gray",
                        text_align="center",
                        max_width="30em",
                    ),
                    rx.link(rx.button("Go to workflows"), href=routes.WORKFLOWS),
                ),
            ),
            align="center",
            spacing="3",
        ),
        padding="4em 2em",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
        width="100%",
        data_testid="executions-empty",
    )


def executions_page() -> rx.Component:
    return app_shell(
        rx.el.style(STATUS_CSS),
        page_header("Executions"),
        _filters(),
        rx.cond(
            ExecutionsState.error != "",
            rx.callout(
                ExecutionsState.error,
                icon="circle-alert",
                color_scheme="amber",
                size="1",
                margin_bottom="1em",
            ),
        ),
        rx.cond(
            ExecutionsState.loaded,
            rx.cond(ExecutionsState.rows.length() > 0, _table(), _empty()),
            rx.center(rx.spinner(size="3"), padding="4em"),
        ),
    )
