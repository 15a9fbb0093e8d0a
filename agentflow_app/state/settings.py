"""/settings: profile, password change, API keys and the MCP server's address. Thin: every
call goes through services.

A new API key is held in ``new_key`` only until the user dismisses it or leaves the page:
it is shown once, and the server keeps only its hash.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import InvalidInput, NotFound
from agentflow_app.routes import API_PREFIX
from agentflow_app.services import api_keys, users
from agentflow_app.services.api_keys import ApiKeyView
from agentflow_app.state.auth import AuthState, signed_in, to_login
from agentflow_app.state.workflows import ago


class ApiKeyRow(TypedDict):
    id: int
    name: str
    prefix: str
    created: str
    last_used: str


def _key_row(view: ApiKeyView) -> ApiKeyRow:
    return ApiKeyRow(
        id=view.id,
        name=view.name,
        prefix=view.prefix,
        created=ago(view.created_at),
        last_used=ago(view.last_used_at) if view.last_used_at else "never",
    )


def mcp_client_config(url: str, key: str = "") -> str:
    """The JSON an MCP client (Claude Code, VS Code, Cursor...) takes for AgentFlow's server."""
    bearer = f"Bearer {key or '<your API key>'}"
    config = {
        "mcpServers": {
            "agentflow": {"type": "http", "url": url, "headers": {"Authorization": bearer}}
        }
    }
    return json.dumps(config, indent=2)


def _field_errors(exc: InvalidInput) -> dict[str, str]:
    return {p.get("field") or "form": p["message"] for p in exc.problems} or {"form": str(exc)}


def _first_error(exc: InvalidInput) -> str:
    return exc.problems[0]["message"] if exc.problems else str(exc)


class SettingsState(rx.State):
    email: str = ""
    name: str = ""
    is_admin: bool = False
    loaded: bool = False

    profile_message: str = ""
    profile_error: str = ""

    password_errors: dict[str, str] = {}
    password_message: str = ""
    password_busy: bool = False

    keys: list[ApiKeyRow] = []
    new_key: str = ""
    new_key_name: str = ""
    key_error: str = ""
    #: ``/api/mcp`` on the origin the browser uses (UI and API share it).
    mcp_url: str = ""

    @rx.var
    def mcp_config(self) -> str:
        """The client configuration, with the key just created when there is one."""
        return mcp_client_config(self.mcp_url, self.new_key)

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the profile and the API keys of the signed-in user."""
        actor = await signed_in(self)
        if actor is None:
            self.loaded = False
            return await to_login(self)
        self.email, self.name, self.is_admin = actor.email, actor.name, actor.is_admin
        self.keys = [_key_row(view) for view in api_keys.list_keys(actor)]
        self.new_key = self.new_key_name = ""
        self.mcp_url = f"{self.router.url.origin}{API_PREFIX}/mcp"
        self.profile_message = self.profile_error = self.password_message = self.key_error = ""
        self.password_errors = {}
        self.loaded = True
        return None

    @rx.event
    async def save_profile(self, form_data: dict[str, Any]) -> Any:
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            updated = users.update_profile(actor, str(form_data.get("name") or ""))
        except InvalidInput as exc:
            self.profile_error, self.profile_message = _first_error(exc), ""
            return None
        self.name, self.profile_error, self.profile_message = updated.name, "", "Profile saved."
        auth = await self.get_state(AuthState)
        auth.user_name = updated.name
        return None

    @rx.event
    async def change_password(self, form_data: dict[str, Any]):
        """Change the password; every other session is signed out, this one stays in."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        new = str(form_data.get("new_password") or "")
        if new != str(form_data.get("confirm_password") or ""):
            self.password_errors = {"confirm_password": "The two new passwords differ."}
            self.password_message = ""
            return
        self.password_busy, self.password_errors, self.password_message = True, {}, ""
        yield
        try:
            issued = await asyncio.to_thread(
                users.change_password, actor, str(form_data.get("current_password") or ""), new
            )
        except InvalidInput as exc:
            self.password_errors = _field_errors(exc)
        else:
            auth = await self.get_state(AuthState)
            auth.auth_token = issued.access_token
            self.password_message = (
                "Password changed. Other browsers and old tokens are signed out."
            )
        self.password_busy = False

    @rx.event
    async def create_api_key(self, form_data: dict[str, Any]) -> Any:
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            created = api_keys.create_key(actor, str(form_data.get("name") or ""))
        except InvalidInput as exc:
            self.key_error = _first_error(exc)
            return None
        self.key_error = ""
        self.new_key, self.new_key_name = created.key, created.name
        self.keys = [_key_row(view) for view in api_keys.list_keys(actor)]
        return None

    @rx.event
    def dismiss_new_key(self) -> None:
        self.new_key = self.new_key_name = ""

    @rx.event
    async def revoke_api_key(self, key_id: int) -> Any:
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            api_keys.revoke_key(actor, key_id)
        except NotFound:
            self.key_error = "That key was already revoked."
        self.keys = [_key_row(view) for view in api_keys.list_keys(actor)]
        return None
