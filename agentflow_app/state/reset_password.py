"""/reset-password?token=…: set a new password with a link an admin made (works once)."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from agentflow_app.errors import InvalidInput
from agentflow_app.services import users
from agentflow_app.state.formatting import sentence


class ResetPasswordState(rx.State):
    errors: dict[str, str] = {}
    done: bool = False
    busy: bool = False

    @rx.event
    def open_page(self) -> None:
        self.errors, self.done, self.busy = {}, False, False

    @rx.event
    async def set_password(self, form_data: dict[str, Any]):
        password = str(form_data.get("new_password") or "")
        if password != str(form_data.get("confirm") or ""):
            self.errors = {"confirm": "The two passwords differ."}
            return
        token = self.router.url.query_parameters.get("token") or ""
        self.busy, self.errors = True, {}
        yield
        try:
            await asyncio.to_thread(users.reset_password, token, password)
        except InvalidInput as exc:
            self.errors = {
                p.get("field") or "form": sentence(p["message"]) for p in exc.problems
            } or {"form": sentence(str(exc))}
            self.errors = {("form" if k == "token" else k): v for k, v in self.errors.items()}
        else:
            self.done = True
        self.busy = False
