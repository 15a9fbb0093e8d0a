"""/audit: the audit log, filtered by action, actor and dates; exportable as JSON lines."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.pages.settings import page_header
from agentflow_app.state.audit import ACTIONS, AuditRow, AuditState


def _row(row: AuditRow) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(row["at"], size="1", white_space="nowrap")),
        rx.table.cell(rx.text(row["actor"], size="2")),
        rx.table.cell(rx.code(row["action"], variant="ghost")),
        rx.table.cell(rx.text(row["target"], size="2")),
        rx.table.cell(rx.text(row["address"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["detail"], size="1", color_scheme="gray")),
        data_testid="audit-row",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.select(ACTIONS, name="action", default_value="all"),
            rx.input(name="actor", placeholder="actor email contains…", width="16em"),
            rx.input(name="since", type="date"),
            rx.input(name="until", type="date"),
            rx.button("Filter", type="submit", variant="soft"),
            rx.button(
                rx.icon("download", size=14),
                "Export JSON lines",
                type="button",
                on_click=AuditState.export,
                variant="outline",
            ),
            spacing="2",
            wrap="wrap",
            align="center",
        ),
        on_submit=AuditState.filter,
        width="100%",
    )


def audit_page() -> rx.Component:
    return app_shell(
        page_header("Audit log"),
        rx.vstack(
            _filters(),
            rx.cond(
                AuditState.error != "",
                rx.callout(AuditState.error, icon="circle-alert", color_scheme="red"),
            ),
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(title)
                            for title in ("When", "Who", "Action", "Target", "From", "Detail")
                        )
                    )
                ),
                rx.table.body(rx.foreach(AuditState.rows, _row)),
                width="100%",
            ),
            rx.cond(
                AuditState.more,
                rx.button("Older", on_click=AuditState.older, variant="soft"),
            ),
            spacing="4",
            width="100%",
        ),
    )
