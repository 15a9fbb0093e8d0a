"""The /approvals page: every approval waiting for the signed-in user, decided in place."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.state.approvals import ApprovalRow, ApprovalsState


def _card(row: ApprovalRow) -> rx.Component:
    busy = ApprovalsState.busy == row["key"]
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.icon("user-check", size=16, color=rx.color("amber", 11)),
                rx.text(row["workflow"], weight="bold", size="3"),
                rx.link("Run ", row["execution_id"], href=row["run_href"], size="2"),
                rx.badge(row["node_id"], variant="soft", color_scheme="gray"),
                rx.spacer(),
                rx.text("Asked at ", row["created"], size="1", color_scheme="gray"),
                rx.cond(
                    row["expires"] != "",
                    rx.badge("Times out at ", row["expires"], color_scheme="orange", size="1"),
                ),
                width="100%",
                align="center",
                spacing="2",
            ),
            rx.text(row["message"], size="2", white_space="pre-wrap"),
            rx.hstack(
                rx.input(
                    placeholder="Comment (optional)",
                    value=ApprovalsState.comments.get(row["key"], ""),
                    on_change=lambda value: ApprovalsState.set_comment(row["key"], value),
                    max_length=2000,
                    width="100%",
                ),
                rx.button(
                    rx.icon("check", size=14),
                    "Approve",
                    color_scheme="green",
                    loading=busy,
                    on_click=ApprovalsState.decide(row["key"], True),
                ),
                rx.button(
                    rx.icon("x", size=14),
                    "Reject",
                    color_scheme="red",
                    variant="soft",
                    loading=busy,
                    on_click=ApprovalsState.decide(row["key"], False),
                ),
                width="100%",
                spacing="2",
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
        custom_attrs={"data-approval": row["key"]},
    )


def approvals_page() -> rx.Component:
    return app_shell(
        rx.vstack(
            rx.text(
                "Runs paused on an approval step you may decide: as the workflow's owner or "
                "as a listed approver. Each run holds no worker while it waits.",
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                ApprovalsState.notice != "",
                rx.callout(
                    ApprovalsState.notice, icon="circle-check", color_scheme="green", size="1"
                ),
            ),
            rx.cond(
                ApprovalsState.error != "",
                rx.callout(ApprovalsState.error, icon="circle-alert", color_scheme="red", size="1"),
            ),
            rx.cond(
                ApprovalsState.rows.length() > 0,
                rx.foreach(ApprovalsState.rows, _card),
                rx.cond(
                    ApprovalsState.loaded,
                    rx.center(
                        rx.vstack(
                            rx.icon("inbox", size=32, color=rx.color("gray", 8)),
                            rx.text("Nothing waits for you.", size="3", weight="medium"),
                            rx.text(
                                "Add an Approval node to a workflow: its runs pause here "
                                "until someone decides.",
                                size="2",
                                color_scheme="gray",
                            ),
                            align="center",
                            spacing="2",
                        ),
                        padding="4em",
                        width="100%",
                        data_testid="approvals-empty",
                    ),
                ),
            ),
            spacing="3",
            width="100%",
            max_width="56em",
        ),
        title="Approvals",
    )
