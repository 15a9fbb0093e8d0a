"""The /credentials page's state: the list, and the add / replace / delete / test actions.

Secret values never live in this state. The forms are uncontrolled: what the user types
reaches the server once, in the submit event, goes to the service, and is dropped; the
browser resets the form. What the state holds (and so what travels back over the
websocket) is the service's view: name, kind, dates, the masked hint, the workflows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

import reflex as rx

from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.secrets.kinds import KINDS, form_fields
from agentflow_app.services import credentials
from agentflow_app.services.credentials import CredentialView
from agentflow_app.state.auth import signed_in, to_login


class CredentialRow(TypedDict):
    id: int
    name: str
    kind: str
    kind_label: str
    hint: str
    created: str
    last_used: str
    used_by: list[str]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _row(view: CredentialView) -> CredentialRow:
    return CredentialRow(
        id=view.id,
        name=view.name,
        kind=view.kind,
        kind_label=KINDS[view.kind].label,
        hint=view.hint,
        created=_when(view.created_at),
        last_used=_when(view.last_used_at),
        used_by=[workflow.name for workflow in view.used_by],
    )


def _value(kind: str, form_data: dict[str, Any]) -> dict[str, Any]:
    """The fields of ``kind`` the form filled in (blank means unset; a checkbox is "on")."""
    value: dict[str, Any] = {}
    for field in form_fields(kind):
        raw = form_data.get(field.name)
        if field.widget == "checkbox":
            if raw in ("on", True, "true"):
                value[field.name] = True
        elif isinstance(raw, str) and raw.strip():
            value[field.name] = raw
    return value


def _field_errors(exc: InvalidInput) -> dict[str, str]:
    return {
        str(p.get("field", "")).removeprefix("data.") or "data": str(p.get("message", ""))
        for p in exc.problems
    }


class CredentialsState(rx.State):
    """One browser tab's view of its user's credentials."""

    items: list[CredentialRow] = []
    loaded: bool = False

    add_open: bool = False
    add_kind: str = "anthropic"
    #: Replace dialog: the credential whose value is being replaced (0: closed).
    replace_id: int = 0
    replace_name: str = ""
    replace_kind: str = ""
    #: Delete dialog.
    delete_id: int = 0
    delete_name: str = ""
    delete_used_by: list[str] = []

    form_error: str = ""
    field_errors: dict[str, str] = {}
    busy: bool = False

    #: Test results by credential id (as text: Reflex dict keys travel as strings).
    test_messages: dict[str, str] = {}
    test_ok: dict[str, bool] = {}
    testing: dict[str, bool] = {}

    async def _actor(self):
        return await signed_in(self)

    def _reset_form(self) -> None:
        self.form_error = ""
        self.field_errors = {}
        self.busy = False

    def _refresh(self, actor) -> None:
        self.items = [_row(view) for view in credentials.list_credentials(actor)]
        self.loaded = True

    @rx.event
    async def load(self):
        """``on_load``: the list (after ``AuthState.require_login``)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        self._refresh(actor)
        return None

    # -- add ---------------------------------------------------------------------------

    @rx.event
    def open_add(self) -> None:
        self._reset_form()
        self.add_open = True

    @rx.event
    def set_add_open(self, is_open: bool) -> None:
        self.add_open = is_open
        if not is_open:
            self._reset_form()

    @rx.event
    def choose_kind(self, kind: str) -> None:
        if kind in KINDS:
            self.add_kind = kind
            self._reset_form()

    @rx.event
    async def create(self, form_data: dict[str, Any]):
        """Save a new credential from the add form; the value is never kept here."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        kind = self.add_kind
        name = str(form_data.get("name") or "")
        try:
            credentials.create_credential(actor, name, kind, _value(kind, form_data))
        except InvalidInput as exc:
            self.form_error, self.field_errors = str(exc), _field_errors(exc)
            return None
        except AgentFlowError as exc:
            self.form_error, self.field_errors = str(exc), {}
            return None
        self._reset_form()
        self.add_open = False
        self._refresh(actor)
        return rx.toast.success(f"Saved {name.strip()}")

    # -- replace -----------------------------------------------------------------------

    async def _owned_row(self, credential_id: int) -> CredentialRow | None:
        """The actor's credential, fresh from the service (None: not theirs or gone)."""
        actor = await self._actor()
        try:
            return _row(credentials.get_credential(actor, credential_id))
        except NotFound:
            return None

    @rx.event
    async def open_replace(self, credential_id: int) -> Any:
        if await self._actor() is None:
            return await to_login(self)
        row = await self._owned_row(credential_id)
        if row is None:
            return None
        self._reset_form()
        self.replace_id, self.replace_name, self.replace_kind = row["id"], row["name"], row["kind"]
        return None

    @rx.event
    def set_replace_open(self, is_open: bool) -> None:
        if not is_open:
            self.replace_id = 0
            self._reset_form()

    @rx.event
    async def replace(self, form_data: dict[str, Any]):
        """Replace the value of the credential in the replace dialog."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        try:
            credentials.replace_credential(
                actor, self.replace_id, _value(self.replace_kind, form_data)
            )
        except InvalidInput as exc:
            self.form_error, self.field_errors = str(exc), _field_errors(exc)
            return None
        except AgentFlowError as exc:
            self.form_error, self.field_errors = str(exc), {}
            return None
        name, replaced = self.replace_name, str(self.replace_id)
        self.replace_id = 0
        self._reset_form()
        self._refresh(actor)
        self.test_messages.pop(replaced, None)
        return rx.toast.success(f"Replaced the value of {name}")

    # -- delete ------------------------------------------------------------------------

    @rx.event
    async def open_delete(self, credential_id: int) -> Any:
        if await self._actor() is None:
            return await to_login(self)
        row = await self._owned_row(credential_id)
        if row is None:
            return None
        self.delete_id, self.delete_name = row["id"], row["name"]
        self.delete_used_by = list(row["used_by"])
        return None

    @rx.event
    def set_delete_open(self, is_open: bool) -> None:
        if not is_open:
            self.delete_id = 0

    @rx.event
    async def confirm_delete(self):
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        name = self.delete_name
        try:
            credentials.delete_credential(actor, self.delete_id)
        except AgentFlowError as exc:
            self.delete_id = 0
            return rx.toast.error(str(exc))
        self.delete_id = 0
        self._refresh(actor)
        return rx.toast.success(f"Deleted {name}")

    # -- test --------------------------------------------------------------------------

    @rx.event(background=True)
    async def test(self, credential_id: int):
        """The Test button: the cheapest authenticated call, off the event loop's hot path."""
        key = str(credential_id)
        async with self:
            actor = await self._actor()
            if actor is None:
                return await to_login(self)
            self.testing[key] = True
            self.test_messages.pop(key, None)
        try:
            result = await credentials.check_credential(actor, credential_id)
            ok, message = result.ok, result.message
        except AgentFlowError as exc:
            ok, message = False, str(exc)
        async with self:
            self.testing[key] = False
            self.test_ok[key] = ok
            self.test_messages[key] = message
            self._refresh(actor)
        return None
