"""/members and /join: who belongs to the workspace a tab acts in, and joining one by link.

Thin: every handler asks :func:`signed_in` and calls ``services.members``, which checks the
actor's role in the workspace (only owners manage; any member may leave). The page hides
what the role cannot do, and every refusal the service gives is shown as its message.

An invitation's link is held in ``link`` only until dismissed: it is shown to the owner
once, to pass on unless the server emailed it (``link_email``), and cannot be shown again
(the server keeps only its hash). The link shows as soon as the invitation is stored; its
email goes after (``link_email`` is ``sending`` meanwhile), so a mail server that does not
answer holds neither the page nor the state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.errors import AgentFlowError
from agentflow_app.models import WorkspaceRole
from agentflow_app.services import members, workspaces
from agentflow_app.services.members import (
    CreatedInvitation,
    InvitationEmail,
    InvitationView,
    MemberView,
)
from agentflow_app.services.users import Actor
from agentflow_app.state.auth import AuthState, signed_in, to_login
from agentflow_app.state.formatting import sentence
from agentflow_app.state.workflows import ago

ROLES = [role.value for role in workspaces.RANK]
SENDING, SENT, NOT_SENT = "sending", "sent", "not sent"
#: What each role may do, for the invite form and the role selects.
ROLE_HELP = {
    WorkspaceRole.OWNER.value: "everything, members and deletion included",
    WorkspaceRole.EDITOR.value: "edit and run workflows, add credentials",
    WorkspaceRole.RUNNER.value: "run and watch workflows",
    WorkspaceRole.VIEWER.value: "read workflows and runs",
}


class MemberRow(TypedDict):
    user_id: int
    email: str
    name: str
    role: str
    joined: str
    is_you: bool


class InvitationRow(TypedDict):
    id: int
    email: str
    role: str
    invited_by: str
    expires: str
    expired: bool


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _member(view: MemberView, you: int) -> MemberRow:
    return MemberRow(
        user_id=view.user_id,
        email=view.email,
        name=view.name,
        role=view.role.value,
        joined=ago(view.joined_at),
        is_you=view.user_id == you,
    )


#: Where the email carrying a new link is (``MembersState.link_email``), as its label says it.
_EMAIL_SAYS = {
    SENDING: "emailing it to {email}…",
    SENT: "sent to {email}",
    NOT_SENT: "not emailed, copy the link",
}


def _link_label(made: CreatedInvitation, email: str) -> str:
    how = _EMAIL_SAYS[email].format(email=made.email)
    return f"Invitation for {made.email} as {made.role.value} ({how}): valid 7 days, works once"


def _invitation(view: InvitationView) -> InvitationRow:
    return InvitationRow(
        id=view.id,
        email=view.email,
        role=view.role.value,
        invited_by=view.invited_by or "a deleted account",
        expires=_when(view.expires_at),
        expired=view.expired,
    )


class MembersState(rx.State):
    """The /members page of one tab: the workspace it acts in, its members and invitations."""

    workspace_id: int = 0
    workspace_name: str = ""
    personal: bool = False
    #: The signed-in account's role here: only an owner is offered the controls.
    role: str = ""
    members: list[MemberRow] = []
    invitations: list[InvitationRow] = []
    loaded: bool = False
    #: The invitation just made: its link, shown this once, and whom it is for.
    link: str = ""
    link_label: str = ""
    #: That link's email: ``sending`` (the server may wait on the mail server), ``sent``,
    #: or ``not sent`` (no mail setting, or it failed: the owner passes the link on).
    link_email: str = NOT_SENT
    message: str = ""
    error: str = ""

    @rx.var
    def can_manage(self) -> bool:
        return self.role == WorkspaceRole.OWNER.value

    def _refresh(self, actor: Actor) -> None:
        view = workspaces.get_workspace(actor, actor.workspace_id)
        self.workspace_id, self.workspace_name = view.id, view.name
        self.personal, self.role = view.personal, view.role.value
        self.members = [_member(m, actor.id) for m in members.list_members(actor, view.id)]
        self.invitations = (
            [_invitation(i) for i in members.list_invitations(actor, view.id)]
            if self.can_manage
            else []
        )
        self.loaded = True

    @rx.event
    async def load(self) -> Any:
        """``on_load``: the workspace the tab acts in (after ``AuthState.require_login``)."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        self.link = self.link_label = self.message = self.error = ""
        try:
            await asyncio.to_thread(self._refresh, actor)
        except AgentFlowError as exc:
            self.error = sentence(str(exc))
        return None

    async def _do(self, action: Callable[[Actor], Any], done: str) -> Any:
        """Run ``action`` for the signed-in actor in this page's workspace, then reload;
        a refusal is shown as its message."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            await asyncio.to_thread(action, workspaces.act_in(actor, self.workspace_id))
            # The roles changed: a fresh actor carries them.
            actor = await signed_in(self) or actor
            await asyncio.to_thread(self._refresh, workspaces.act_in(actor, self.workspace_id))
        except AgentFlowError as exc:
            self.error, self.message = sentence(str(exc)), ""
            return None
        self.error, self.message = "", done
        return None

    @rx.event
    async def rename(self, form_data: dict[str, Any]) -> Any:
        name = str(form_data.get("name") or "")
        result = await self._do(
            lambda actor: members.rename_workspace(actor, actor.workspace_id, name),
            "Workspace renamed.",
        )
        if result is None and not self.error:
            return AuthState.require_login  # the side bar shows the name: read it again
        return result

    @rx.event
    async def change_role(self, user_id: int, role: str) -> Any:
        return await self._do(
            lambda actor: members.change_role(actor, actor.workspace_id, user_id, role),
            f"Role changed to {role}.",
        )

    @rx.event
    async def remove(self, user_id: int) -> Any:
        return await self._do(
            lambda actor: members.remove_member(actor, actor.workspace_id, user_id),
            "Member removed.",
        )

    @rx.event(background=True)
    async def invite(self, form_data: dict[str, Any]) -> Any:
        """Store the invitation and show its link at once, then email it: the email may
        wait on a mail server for up to ``mailer.TIMEOUT_S``, so it is sent without
        holding this state (other events on the page go on meanwhile)."""
        email = str(form_data.get("email") or "")
        role = str(form_data.get("role") or WorkspaceRole.EDITOR.value)
        opened: list[tuple[CreatedInvitation, InvitationEmail | None]] = []

        def make(actor: Actor) -> None:
            made, letter = members.open_invitation(actor, actor.workspace_id, email, role)
            opened.append((made, letter))
            self.link = made.url
            self.link_email = SENDING if letter is not None else NOT_SENT
            self.link_label = _link_label(made, self.link_email)

        async with self:
            result = await self._do(make, "")
        if not opened or opened[0][1] is None:
            return result
        made, letter = opened[0]
        sent = await asyncio.to_thread(letter.send)
        async with self:
            if self.link == made.url:  # still shown: not dismissed nor replaced
                self.link_email = SENT if sent else NOT_SENT
                self.link_label = _link_label(made, self.link_email)
        return None

    @rx.event
    async def revoke(self, invitation_id: int) -> Any:
        return await self._do(
            lambda actor: members.revoke_invitation(actor, actor.workspace_id, invitation_id),
            "Invitation revoked: its link no longer works.",
        )

    @rx.event
    def dismiss_link(self) -> None:
        self.link = self.link_label = ""

    async def _gone(self, action: Callable[[Actor, int], None]) -> Any:
        """Leave or delete this workspace, then act in the personal one again."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        try:
            await asyncio.to_thread(action, actor, self.workspace_id)
        except AgentFlowError as exc:
            self.error, self.message = sentence(str(exc)), ""
            return None
        auth = await self.get_state(AuthState)
        auth.workspace_choice = ""
        return rx.redirect(routes.WORKFLOWS)

    @rx.event
    async def leave(self) -> Any:
        return await self._gone(lambda actor, wid: members.remove_member(actor, wid, actor.id))

    @rx.event
    async def delete_workspace(self) -> Any:
        return await self._gone(members.delete_workspace)


class JoinState(rx.State):
    """/join?token=…: the signed-in account accepts the invitation the link carries."""

    signed_in_as: str = ""
    has_token: bool = False
    error: str = ""
    busy: bool = False

    _token: str = ""

    @rx.event
    async def open_page(self) -> Any:
        """``on_load``: a visitor signs in first and comes back to this very link."""
        self.error, self.busy = "", False
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        self.signed_in_as = actor.email
        self._token = str(self.router.url.query_parameters.get("token") or "")
        self.has_token = bool(self._token)
        if not self.has_token:
            self.error = "This link carries no invitation: open the whole link you were given."
        return None

    @rx.event
    async def accept(self) -> Any:
        """Join the workspace, then act in it (its workflows)."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        self.busy = True
        yield
        try:
            joined = await asyncio.to_thread(members.accept_invitation, actor, self._token)
        except AgentFlowError as exc:
            self.error, self.busy = sentence(str(exc)), False
            return
        self.busy = False
        auth = await self.get_state(AuthState)
        auth.workspace_choice = str(joined.id)
        yield rx.redirect(routes.WORKFLOWS)
        yield rx.toast.success(
            f"You joined {joined.name} as {joined.role.value}.", id="joined-workspace"
        )
