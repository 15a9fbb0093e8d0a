"""The side bar's workspace picker: which workspace this tab acts in, and a new one."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.auth import AuthState
from agentflow_app.state.workspaces import WorkspacesState


def _new_workspace_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("New workspace"),
            rx.dialog.description(
                "A shared workspace holds workflows, credentials and runs that its members "
                "use together. You will be its owner.",
                size="2",
            ),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="name",
                        placeholder="e.g. Sales automation",
                        max_length=200,
                        auto_focus=True,
                        required=True,
                        width="100%",
                        data_testid="new-workspace-name",
                    ),
                    rx.cond(
                        WorkspacesState.new_error != "",
                        rx.callout(WorkspacesState.new_error, color_scheme="red", size="1"),
                    ),
                    rx.hstack(
                        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray")),
                        rx.button("Create", type="submit", data_testid="create-workspace"),
                        justify="end",
                        width="100%",
                    ),
                    spacing="3",
                    margin_top="1em",
                ),
                on_submit=WorkspacesState.create,
                reset_on_submit=True,
            ),
        ),
        open=WorkspacesState.new_open,
        on_open_change=WorkspacesState.set_new_open,
    )


def workspace_switcher() -> rx.Component:
    """A select of the account's workspaces (role beside each), and "New workspace"."""
    return rx.vstack(
        rx.text("Workspace", size="1", color_scheme="gray"),
        rx.select.root(
            rx.select.trigger(width="100%", data_testid="workspace-switcher"),
            rx.select.content(
                rx.foreach(
                    AuthState.workspace_options,
                    lambda option: rx.select.item(
                        option["name"] + " · " + option["role"], value=option["id"]
                    ),
                ),
            ),
            value=AuthState.workspace_id.to_string(),
            on_change=AuthState.switch_workspace,
            size="2",
        ),
        rx.button(
            rx.icon("plus", size=14),
            "New workspace",
            variant="ghost",
            size="1",
            on_click=WorkspacesState.set_new_open(True),
            data_testid="new-workspace",
        ),
        _new_workspace_dialog(),
        spacing="1",
        width="100%",
    )
