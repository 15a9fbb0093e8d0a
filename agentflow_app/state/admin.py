"""/admin: the instance admin's console (users, signup, invitations, health). Thin: every
handler asks :func:`signed_in` and calls ``services.admin``, which checks that the actor
is an admin; a non-admin who forces an event gets the service's refusal as a message.

A reset link or an invitation is held in ``link`` only until dismissed: it is shown to
the admin to hand over, and never stored.
"""

from __future__ import annotations

from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import AgentFlowError, Forbidden
from agentflow_app.services import admin
from agentflow_app.services.admin import InstanceHealth, UserRow
from agentflow_app.services.users import SignupMode
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.workflows import ago

SIGNUP_MODES = [mode.value for mode in SignupMode]


class UserView(TypedDict):
    id: int
    email: str
    name: str
    is_admin: bool
    disabled: bool
    created: str


class HealthCard(TypedDict):
    label: str
    value: str


def _user(row: UserRow) -> UserView:
    return UserView(
        id=row.id,
        email=row.email,
        name=row.name,
        is_admin=row.is_admin,
        disabled=row.disabled,
        created=ago(row.created_at),
    )


def _size(count: int | None) -> str:
    if count is None:
        return "unknown"
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def _cards(health: InstanceHealth) -> list[HealthCard]:
    return [
        HealthCard(label="Status", value=health.status),
        HealthCard(label="Workers", value=str(health.workers)),
        HealthCard(label="Queued runs", value=str(health.queued)),
        HealthCard(label="Running", value=str(health.running)),
        HealthCard(label="Waiting runs", value=str(health.waiting)),
        HealthCard(label="Database", value=_size(health.database_bytes)),
        HealthCard(label="Files", value=_size(health.files_bytes)),
        HealthCard(label="Users", value=str(health.users)),
    ]


class AdminState(rx.State):
    users: list[UserView] = []
    search: str = ""
    signup_mode: str = ""
    health: list[HealthCard] = []
    #: A reset link or an invitation just made, with what it is for.
    link: str = ""
    link_label: str = ""
    message: str = ""
    error: str = ""
    allowed: bool = False

    async def _actor(self) -> Any:
        return await signed_in(self)

    def _refresh_users(self, actor: Any) -> None:
        self.users = [_user(row) for row in admin.list_users(actor, self.search)]

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the users, the signup mode and the health cards (admins only)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        self.link = self.link_label = self.message = self.error = ""
        try:
            self._refresh_users(actor)
            self.signup_mode = admin.get_signup_mode(actor).value
            self.health = _cards(await admin.instance_health(actor))
        except Forbidden as exc:
            self.allowed, self.users, self.health = False, [], []
            self.error = str(exc)
            return None
        self.allowed = True
        return None

    async def _do(self, action: Any, done: str) -> Any:
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        try:
            action(actor)
            self._refresh_users(actor)
        except AgentFlowError as exc:
            self.error, self.message = str(exc), ""
            return None
        self.error, self.message = "", done
        return None

    @rx.event
    async def find(self, value: str) -> Any:
        self.search = value[:320]
        return await self._do(lambda actor: None, "")

    @rx.event
    async def set_disabled(self, user_id: int, disabled: bool) -> Any:
        word = "disabled" if disabled else "enabled"
        return await self._do(
            lambda actor: admin.set_disabled(actor, user_id, disabled), f"Account {word}."
        )

    @rx.event
    async def set_admin(self, user_id: int, is_admin: bool) -> Any:
        word = "promoted to administrator" if is_admin else "no longer an administrator"
        return await self._do(
            lambda actor: admin.set_admin(actor, user_id, is_admin), f"Account {word}."
        )

    @rx.event
    async def delete_user(self, user_id: int) -> Any:
        return await self._do(
            lambda actor: admin.delete_user(actor, user_id), "Account and its data deleted."
        )

    @rx.event
    async def reset_link(self, user_id: int, email: str) -> Any:
        def make(actor: Any) -> None:
            self.link = admin.reset_link(actor, user_id).url
            self.link_label = f"Password reset link for {email} (valid 24 h, works once)"

        return await self._do(make, "")

    @rx.event
    async def invite(self, form_data: dict[str, Any]) -> Any:
        email = str(form_data.get("email") or "")

        def make(actor: Any) -> None:
            self.link = admin.invite(actor, email).url
            self.link_label = f"Invitation for {email.strip().lower()} (valid 7 days)"

        return await self._do(make, "")

    @rx.event
    async def change_signup(self, mode: str) -> Any:
        if mode not in SIGNUP_MODES:
            self.error = f"{mode[:40]!r} is not a signup mode"
            return None

        def store(actor: Any) -> None:
            self.signup_mode = admin.set_signup_mode(actor, SignupMode(mode)).value

        return await self._do(store, f"Signup is now {mode}.")

    @rx.event
    def dismiss_link(self) -> None:
        self.link = self.link_label = ""
