"""The live view's decision box: a waiting approval's question, a comment, Approve / Reject."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.execution import ExecutionState


def approval_panel() -> rx.Component:
    """Shown while the selected step is a ``human.approval`` waiting for a decision."""
    detail = ExecutionState.detail
    busy = ExecutionState.action_busy == "decide"
    return rx.cond(
        detail["can_decide"],
        rx.vstack(
            rx.hstack(
                rx.icon("user-check", size=16, color=rx.color("amber", 11)),
                rx.text("Waiting for a decision", weight="bold", size="2"),
                rx.spacer(),
                rx.badge(detail["label"], variant="soft", color_scheme="amber"),
                width="100%",
                align="center",
            ),
            rx.text(
                detail["approval_message"],
                size="2",
                white_space="pre-wrap",
                data_testid="approval-message",
            ),
            rx.text_area(
                placeholder="Comment (optional)",
                value=ExecutionState.approval_comment,
                on_change=ExecutionState.set_approval_comment,
                max_length=2000,
                rows="2",
                width="100%",
                data_testid="approval-comment",
            ),
            rx.hstack(
                rx.button(
                    rx.icon("check", size=14),
                    "Approve",
                    color_scheme="green",
                    loading=busy,
                    on_click=ExecutionState.decide(True),
                    data_testid="approve",
                ),
                rx.button(
                    rx.icon("x", size=14),
                    "Reject",
                    color_scheme="red",
                    variant="soft",
                    loading=busy,
                    on_click=ExecutionState.decide(False),
                    data_testid="reject",
                ),
                spacing="2",
            ),
            spacing="2",
            padding="12px",
            width="100%",
            border=f"1px solid {rx.color('amber', 6)}",
            border_radius="var(--radius-3)",
            background=rx.color("amber", 2),
            data_testid="approval-panel",
        ),
    )
