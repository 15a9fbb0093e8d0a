"""/settings: profile, password, API keys and the MCP server; and the account menu every
signed-in page shows."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import app_shell
from agentflow_app.pages.login import field
from agentflow_app.state.auth import AuthState
from agentflow_app.state.settings import ApiKeyRow, SettingsState


def account_menu() -> rx.Component:
    """Who is signed in, and the way out."""
    return rx.hstack(
        rx.text(AuthState.user_email, size="2", color_scheme="gray", data_testid="signed-in-as"),
        rx.button(
            rx.icon("log-out", size=14),
            "Sign out",
            on_click=AuthState.logout,
            variant="soft",
            color_scheme="gray",
            size="1",
        ),
        align="center",
        spacing="3",
    )


def page_header(title: str, *actions: rx.Component) -> rx.Component:
    """The title row of a signed-in page: title, the page's actions, the account menu."""
    return rx.hstack(
        rx.heading(title, size="6"),
        rx.spacer(),
        *actions,
        account_menu(),
        align="center",
        spacing="4",
        width="100%",
        margin_bottom="1.5em",
    )


def _section(title: str, description: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(description, size="2", color_scheme="gray"),
            *children,
            spacing="3",
            width="100%",
        ),
        size="2",
        width="100%",
    )


def _note(message: rx.Var, color: str) -> rx.Component:
    return rx.cond(message != "", rx.text(message, size="2", color_scheme=color))


def _profile() -> rx.Component:
    return _section(
        "Profile",
        "Your sign-in email and the name shown to you.",
        rx.form(
            rx.vstack(
                field("Email", rx.input(value=SettingsState.email, read_only=True, width="100%")),
                field(
                    "Name",
                    rx.input(
                        name="name",
                        default_value=SettingsState.name,
                        key=SettingsState.name,
                        width="100%",
                    ),
                    SettingsState.profile_error,
                ),
                rx.hstack(
                    rx.button("Save profile", type="submit", variant="soft"),
                    _note(SettingsState.profile_message, "green"),
                    align="center",
                    spacing="3",
                ),
                spacing="3",
                width="100%",
                max_width="28em",
            ),
            on_submit=SettingsState.save_profile,
            width="100%",
        ),
    )


def _password() -> rx.Component:
    errors = SettingsState.password_errors
    return _section(
        "Password",
        "Changing it signs out every other browser and revokes every earlier token.",
        rx.form(
            rx.vstack(
                field(
                    "Current password",
                    rx.input(
                        name="current_password",
                        type="password",
                        auto_complete="current-password",
                        width="100%",
                    ),
                    errors.get("current_password", ""),
                ),
                field(
                    "New password",
                    rx.input(
                        name="new_password",
                        type="password",
                        placeholder="at least 8 characters",
                        auto_complete="new-password",
                        width="100%",
                    ),
                    errors.get("new_password", ""),
                ),
                field(
                    "Repeat the new password",
                    rx.input(
                        name="confirm_password",
                        type="password",
                        auto_complete="new-password",
                        width="100%",
                    ),
                    errors.get("confirm_password", ""),
                ),
                rx.hstack(
                    rx.button(
                        "Change password", type="submit", loading=SettingsState.password_busy
                    ),
                    _note(SettingsState.password_message, "green"),
                    align="center",
                    spacing="3",
                ),
                spacing="3",
                width="100%",
                max_width="28em",
            ),
            on_submit=SettingsState.change_password,
            reset_on_submit=True,
            width="100%",
        ),
    )


def _new_key() -> rx.Component:
    return rx.callout.root(
        rx.callout.icon(rx.icon("key-round")),
        rx.vstack(
            rx.text(
                "Copy the key “",
                SettingsState.new_key_name,
                "” now: it is not shown again.",
                size="2",
                weight="medium",
            ),
            rx.hstack(
                rx.code(SettingsState.new_key, size="2", data_testid="new-api-key"),
                rx.icon_button(
                    rx.icon("copy", size=14),
                    on_click=rx.set_clipboard(SettingsState.new_key),
                    variant="soft",
                    size="1",
                    aria_label="Copy the key",
                ),
                rx.button("Done", on_click=SettingsState.dismiss_new_key, variant="soft", size="1"),
                align="center",
                spacing="2",
                wrap="wrap",
            ),
            rx.text(
                "Use it as Authorization: Bearer <key> on any /api route.",
                size="1",
                color_scheme="gray",
            ),
            spacing="2",
        ),
        color_scheme="green",
        width="100%",
    )


def _key_row(row: ApiKeyRow) -> rx.Component:
    return rx.table.row(
        rx.table.row_header_cell(row["name"]),
        rx.table.cell(rx.code(row["prefix"], "…", variant="ghost")),
        rx.table.cell(rx.text(row["created"], size="2", color_scheme="gray")),
        rx.table.cell(rx.text(row["last_used"], size="2", color_scheme="gray")),
        rx.table.cell(
            rx.button(
                "Revoke",
                on_click=SettingsState.revoke_api_key(row["id"]),
                color_scheme="red",
                variant="soft",
                size="1",
            ),
            text_align="right",
        ),
        align="center",
    )


def _keys() -> rx.Component:
    return _section(
        "API keys",
        "For scripts and CI: a key works like a signed-in session on the REST API.",
        rx.cond(SettingsState.new_key != "", _new_key()),
        rx.form(
            rx.hstack(
                rx.input(name="name", placeholder="What is it for? e.g. CI deploy", width="20em"),
                rx.button(rx.icon("plus", size=14), "Create key", type="submit"),
                spacing="2",
                align="center",
            ),
            on_submit=SettingsState.create_api_key,
            reset_on_submit=True,
        ),
        _note(SettingsState.key_error, "red"),
        rx.cond(
            SettingsState.keys.length() > 0,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        rx.table.column_header_cell("Name"),
                        rx.table.column_header_cell("Key"),
                        rx.table.column_header_cell("Created"),
                        rx.table.column_header_cell("Last used"),
                        rx.table.column_header_cell(""),
                    )
                ),
                rx.table.body(rx.foreach(SettingsState.keys, _key_row)),
                variant="surface",
                width="100%",
            ),
            rx.text("No API keys yet.", size="2", color_scheme="gray", font_style="italic"),
        ),
    )


def _mcp() -> rx.Component:
    return _section(
        "MCP server",
        "MCP clients (Claude, IDEs, other agents) can run your workflows that have a manual "
        "trigger and expose_mcp: true, as tools. Connect them with an API key from above.",
        rx.hstack(
            rx.code(SettingsState.mcp_url, size="2", data_testid="mcp-url"),
            rx.icon_button(
                rx.icon("copy", size=14),
                on_click=rx.set_clipboard(SettingsState.mcp_url),
                variant="soft",
                size="1",
                aria_label="Copy the MCP server URL",
            ),
            align="center",
            spacing="2",
        ),
        rx.text("Client configuration (streamable HTTP):", size="2", weight="medium"),
        rx.code_block(
            SettingsState.mcp_config, language="json", width="100%", data_testid="mcp-config"
        ),
        rx.button(
            rx.icon("copy", size=14),
            "Copy configuration",
            on_click=rx.set_clipboard(SettingsState.mcp_config),
            variant="soft",
            size="1",
        ),
    )


def settings() -> rx.Component:
    return app_shell(
        page_header("Settings"),
        rx.cond(
            SettingsState.loaded,
            rx.vstack(_profile(), _password(), _keys(), _mcp(), spacing="4", max_width="52em"),
            rx.center(rx.spinner(size="3"), padding="4em"),
        ),
    )
