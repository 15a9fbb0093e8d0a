"""/admin: users (search, disable/enable, promote/demote, reset link, delete), signup mode
and invitations, and the instance's health."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.pages.settings import page_header
from agentflow_app.state.admin import SIGNUP_MODES, AdminState, HealthCard, UserView


def _card(card: HealthCard) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(card["label"], size="1", color_scheme="gray"),
            rx.text(card["value"], size="5", weight="bold"),
            spacing="1",
        ),
        data_testid="health-card",
        min_width="9em",
    )


def _user_row(user: UserView) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(rx.text(user["email"], size="2")),
        rx.table.cell(rx.text(user["name"], size="2")),
        rx.table.cell(
            rx.hstack(
                rx.cond(user["is_admin"], rx.badge("admin", color_scheme="violet")),
                rx.cond(user["disabled"], rx.badge("disabled", color_scheme="red")),
                spacing="1",
            )
        ),
        rx.table.cell(rx.text(user["created"], size="2", color_scheme="gray")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(user["disabled"], "Enable", "Disable"),
                    on_click=AdminState.set_disabled(user["id"], ~user["disabled"]),
                    size="1",
                    variant="soft",
                    color_scheme=rx.cond(user["disabled"], "green", "amber"),
                ),
                rx.button(
                    rx.cond(user["is_admin"], "Demote", "Make admin"),
                    on_click=AdminState.set_admin(user["id"], ~user["is_admin"]),
                    size="1",
                    variant="soft",
                ),
                rx.button(
                    "Reset link",
                    on_click=AdminState.reset_link(user["id"], user["email"]),
                    size="1",
                    variant="soft",
                    color_scheme="gray",
                ),
                rx.alert_dialog.root(
                    rx.alert_dialog.trigger(
                        rx.button("Delete", size="1", variant="soft", color_scheme="red")
                    ),
                    rx.alert_dialog.content(
                        rx.alert_dialog.title("Delete ", user["email"], "?"),
                        rx.alert_dialog.description(
                            "Their workflows, runs, credentials, API keys and files go too. "
                            "This cannot be undone."
                        ),
                        rx.hstack(
                            rx.alert_dialog.cancel(rx.button("Cancel", variant="soft")),
                            rx.alert_dialog.action(
                                rx.button(
                                    "Delete",
                                    color_scheme="red",
                                    on_click=AdminState.delete_user(user["id"]),
                                )
                            ),
                            justify="end",
                            spacing="3",
                            margin_top="1em",
                        ),
                    ),
                ),
                spacing="2",
            )
        ),
        data_testid="admin-user-row",
    )


def _users() -> rx.Component:
    return rx.vstack(
        rx.heading("Users", size="4"),
        rx.input(
            placeholder="Search by email or name",
            value=AdminState.search,
            on_change=AdminState.find.debounce(300),
            width="24em",
            data_testid="admin-search",
        ),
        rx.table.root(
            rx.table.header(
                rx.table.row(
                    rx.table.column_header_cell("Email"),
                    rx.table.column_header_cell("Name"),
                    rx.table.column_header_cell("Role"),
                    rx.table.column_header_cell("Created"),
                    rx.table.column_header_cell(""),
                )
            ),
            rx.table.body(rx.foreach(AdminState.users, _user_row)),
            width="100%",
        ),
        spacing="3",
        width="100%",
    )


def _signup() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading("Signup", size="4"),
            rx.text(
                "Open: anyone may create an account. Invite-only: only with an invitation "
                "link made here. Closed: nobody (accounts come from here or the CLI).",
                size="2",
                color_scheme="gray",
            ),
            rx.select(
                SIGNUP_MODES,
                value=AdminState.signup_mode,
                on_change=AdminState.change_signup,
                data_testid="signup-mode",
            ),
            rx.form(
                rx.hstack(
                    rx.input(name="email", type="email", placeholder="colleague@example.com"),
                    rx.button("Make an invitation", type="submit", variant="soft"),
                    spacing="2",
                ),
                on_submit=AdminState.invite,
                reset_on_submit=True,
            ),
            spacing="3",
        ),
        width="100%",
    )


def _link() -> rx.Component:
    return rx.cond(
        AdminState.link != "",
        rx.callout(
            rx.vstack(
                rx.text(AdminState.link_label, weight="medium"),
                rx.code(AdminState.link, data_testid="admin-link", word_break="break-all"),
                rx.hstack(
                    rx.button(
                        "Copy",
                        on_click=rx.set_clipboard(AdminState.link),
                        size="1",
                        variant="soft",
                    ),
                    rx.button(
                        "Done", on_click=AdminState.dismiss_link, size="1", variant="outline"
                    ),
                    spacing="2",
                ),
                spacing="2",
            ),
            icon="link",
            color_scheme="blue",
            width="100%",
        ),
    )


def admin_page() -> rx.Component:
    return app_shell(
        page_header("Admin"),
        rx.cond(
            AdminState.error != "",
            rx.callout(AdminState.error, icon="circle-alert", color_scheme="red", width="100%"),
        ),
        rx.cond(
            AdminState.message != "",
            rx.callout(AdminState.message, icon="check", color_scheme="green", width="100%"),
        ),
        rx.cond(
            AdminState.allowed,
            rx.vstack(
                rx.hstack(rx.foreach(AdminState.health, _card), wrap="wrap", spacing="3"),
                _link(),
                _signup(),
                _users(),
                spacing="5",
                width="100%",
            ),
        ),
    )
