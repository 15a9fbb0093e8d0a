"""The side bar's "New workspace" dialog: create a shared workspace and act in it."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentflow_app import routes
from agentflow_app.errors import AgentFlowError
from agentflow_app.services import workspaces
from agentflow_app.state.auth import AuthState, signed_in, to_login
from agentflow_app.state.formatting import sentence


class WorkspacesState(rx.State):
    """The dialog's fields; the switch itself is :meth:`AuthState.switch_workspace`."""

    new_open: bool = False
    new_error: str = ""

    @rx.event
    def set_new_open(self, value: bool) -> None:
        self.new_open, self.new_error = value, ""

    @rx.event
    async def create(self, form_data: dict[str, Any]) -> Any:
        """Create a shared workspace owned by the signed-in account, then act in it."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            made = await asyncio.to_thread(
                workspaces.create_workspace, actor, str(form_data.get("name") or "")
            )
        except AgentFlowError as exc:
            self.new_error = sentence(str(exc))
            return None
        self.new_open = False
        auth = await self.get_state(AuthState)
        auth.workspace_choice = str(made.id)
        return rx.redirect(routes.WORKFLOWS)
