"""The app shell: a side navigation and a content area every signed-in page shares."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.workspace_switcher import workspace_switcher
from agentflow_app.state.approvals import ApprovalsState
from agentflow_app.state.auth import AuthState

NAV_ITEMS: list[tuple[str, str, str]] = [
    ("Workflows", "workflow", routes.WORKFLOWS),
    ("Executions", "history", routes.EXECUTIONS),
    ("Approvals", "user-check", routes.APPROVALS),
    ("Credentials", "key-round", routes.CREDENTIALS),
    ("Members", "users", routes.MEMBERS),
    # Everyone owns a workspace (the personal one): its owners read its log.
    ("Audit log", "scroll-text", routes.AUDIT),
    ("Settings", "settings", routes.SETTINGS),
]
#: Shown to instance admins only (the pages and services refuse everyone else anyway).
ADMIN_ITEMS: list[tuple[str, str, str]] = [
    ("Admin", "shield", routes.ADMIN),
]


def brand() -> rx.Component:
    return rx.hstack(
        rx.icon("waypoints", size=22, color=rx.color("accent", 9)),
        rx.heading("AgentFlow", size="5", weight="bold"),
        align="center",
        spacing="2",
    )


def nav_link(label: str, icon: str, href: str) -> rx.Component:
    count = (
        rx.cond(
            ApprovalsState.count > 0,
            rx.badge(
                ApprovalsState.count,
                color_scheme="amber",
                radius="full",
                size="1",
                margin_left="auto",
                data_testid="approvals-count",
            ),
        )
        if href == routes.APPROVALS
        else rx.fragment()
    )
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=16),
            rx.text(label, size="2"),
            count,
            align="center",
            spacing="2",
            width="100%",
        ),
        href=href,
        underline="none",
        color_scheme="gray",
        high_contrast=True,
        padding_x="0.75em",
        padding_y="0.5em",
        border_radius="var(--radius-2)",
        _hover={"background": rx.color("gray", 3)},
        width="100%",
    )


def sidebar() -> rx.Component:
    return rx.vstack(
        brand(),
        rx.separator(),
        workspace_switcher(),
        rx.separator(),
        *(nav_link(*item) for item in NAV_ITEMS),
        rx.cond(
            AuthState.is_admin,
            rx.vstack(*(nav_link(*item) for item in ADMIN_ITEMS), spacing="2", width="100%"),
        ),
        on_mount=ApprovalsState.start_counting,
        spacing="2",
        padding="1em",
        width="14em",
        flex_shrink="0",
        height="100vh",
        position="sticky",
        top="0",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
    )


def app_shell(*children: rx.Component, title: str = "") -> rx.Component:
    """Wrap a signed-in page's content with the navigation."""
    return rx.hstack(
        sidebar(),
        rx.box(
            rx.cond(title != "", rx.heading(title, size="6", margin_bottom="1em")),
            *children,
            padding="1.5em 2em",
            flex="1",
            min_width="0",
        ),
        spacing="0",
        align="start",
        width="100%",
    )


def centered_card(*children: rx.Component) -> rx.Component:
    """The frame of the signed-out pages (login, register)."""
    return rx.center(
        rx.card(
            rx.vstack(brand(), *children, spacing="4", width="100%"),
            size="3",
            width="24em",
        ),
        min_height="100vh",
        background=rx.color("gray", 2),
    )
