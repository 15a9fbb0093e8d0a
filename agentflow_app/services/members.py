"""Who belongs to a workspace, and how people join, change role and go (issue 18).

Every function takes the acting user and checks it with :func:`services.workspaces.require`:
a workspace the actor is no member of is NotFound (like one that does not exist), a role
too low for the action is Forbidden. Reading the members needs ``read``; everything else
needs ``manage`` (owners), except leaving: any member may remove themself.

An invitation is a link carrying a random token (256 bits) of which only the SHA-256 is
stored, so the table alone cannot be used to join. The link is shown once, to the inviter,
and emailed to the invitee when the server can send email (``services.mailer``: its own
SMTP or SES setting, never a workspace's credential); the answer says whether the email
went, since the invitation stands either way and the inviter then passes the link on. It
lasts :data:`INVITATION_TTL`, works once, and only for the signed-in account whose email it
was made for. Inviting the same email again replaces its pending invitation (the old link
stops working): since a link is never shown twice, that is how one is sent again.

A workspace always keeps an owner: the last one can neither leave, be removed nor be
demoted (Conflict, saying what to do instead). The owners are counted after the change, in
its transaction, under a lock on the workspace row (PostgreSQL; on SQLite the change's
own write lock does it), so two owners demoting each other at once cannot both succeed.
A personal workspace is its account's alone: nobody is invited to it, and it is neither
left nor deleted (it goes with its account).

Each change is audited in its own transaction; a change of membership tells the token
cache after its commit, since each request's Actor carries its roles.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import delete, func, update
from sqlmodel import Session, select

from agentflow_app.db import aware, session_scope
from agentflow_app.errors import Conflict, Forbidden, NotFound
from agentflow_app.models import Membership, StoredFile, User, Workspace, WorkspaceInvitation
from agentflow_app.models import WorkspaceRole as Role
from agentflow_app.models.base import utcnow
from agentflow_app.routes import JOIN_WORKSPACE
from agentflow_app.services import audit, files, mailer, token_cache, workspaces
from agentflow_app.services.audit import AuditAction
from agentflow_app.services.users import Actor, normalise_email
from agentflow_app.services.workspaces import RANK, Can, WorkspaceView
from agentflow_app.settings import get_settings

INVITATION_TTL = timedelta(days=7)
#: The longest token a link can carry (the ones made here have 43 characters).
MAX_TOKEN_LENGTH = 128
_NOT_VALID = (
    "this invitation link is not valid: it was revoked or replaced by a newer one; "
    "ask for a new link"
)


class MemberView(BaseModel):
    """A member as the members list shows them."""

    user_id: int
    email: str
    name: str
    role: Role
    joined_at: datetime


class InvitationView(BaseModel):
    """An invitation not accepted yet (an expired one too, until it is revoked or sent
    again, so owners can see why someone never joined)."""

    id: int
    email: str
    role: Role
    #: The inviter's email; None once that account is gone.
    invited_by: str | None
    created_at: datetime
    expires_at: datetime
    expired: bool


class CreatedInvitation(InvitationView):
    """A new invitation; ``url`` is the link to pass on, shown in this answer only."""

    url: str
    #: Whether the link was also emailed to the invitee: False when the server has no mail
    #: setting, or its server or SES refused or could not be reached (logged).
    emailed: bool


@dataclass(frozen=True)
class InvitationEmail:
    """The email carrying a new invitation's link, to send once the invitation is committed.

    Sending blocks for up to :data:`mailer.TIMEOUT_S` per connection when the mail server
    does not answer, so a page shows the link first and sends this after (the REST answer
    waits for it, to say whether it went).
    """

    to: str
    subject: str
    text: str

    def send(self) -> bool:
        """True when the mail server or SES accepted it; a failure is logged with why."""
        return mailer.send(self.to, self.subject, self.text)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _require(actor: Actor, workspace_id: int, can: Can, what: str) -> None:
    workspaces.visible(actor, workspace_id, f"workspace {workspace_id} not found")
    workspaces.require(actor, workspace_id, can, what)


def _locked(session: Session, workspace_id: int) -> Workspace:
    """The workspace row, locked until the transaction ends (PostgreSQL), so membership
    changes of one workspace happen one at a time.

    Raises:
        NotFound: it was deleted meanwhile.
    """
    found = session.exec(
        select(Workspace).where(Workspace.id == workspace_id).with_for_update()
    ).first()
    if found is None:
        raise NotFound(f"workspace {workspace_id} not found")
    return found


def _keep_an_owner(session: Session, workspace_id: int, why: str) -> None:
    """Refuse a change (read after it, in its transaction) that left no owner."""
    owners = session.exec(
        select(func.count())
        .select_from(Membership)
        .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER.value)
    ).one()
    if owners == 0:
        raise Conflict(why)


def _member(session: Session, workspace_id: int, user_id: int) -> tuple[Membership, User]:
    found = session.exec(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.workspace_id == workspace_id, Membership.user_id == user_id)
    ).first()
    if found is None:
        raise NotFound(f"user {user_id} is not a member of this workspace")
    return found


def _member_view(membership: Membership, user: User) -> MemberView:
    return MemberView(
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(membership.role),
        joined_at=membership.created_at,
    )


def _invitation_view(row: WorkspaceInvitation, inviter: str | None) -> InvitationView:
    expires_at = aware(row.expires_at)
    return InvitationView(
        id=row.id,
        email=row.email,
        role=Role(row.role),
        invited_by=inviter,
        created_at=row.created_at,
        expires_at=expires_at,
        expired=expires_at <= utcnow(),
    )


# -- members ---------------------------------------------------------------------------------


def list_members(actor: Actor, workspace_id: int) -> list[MemberView]:
    """The workspace's members, owners first, then by email.

    Raises:
        NotFound: the actor is no member of the workspace.
    """
    _require(actor, workspace_id, Can.READ, "see its members")
    with session_scope() as session:
        rows = session.exec(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id)
        ).all()
        views = [_member_view(membership, user) for membership, user in rows]
    return sorted(views, key=lambda view: (RANK.index(view.role), view.email))


def change_role(actor: Actor, workspace_id: int, user_id: int, role: Role | str) -> MemberView:
    """Give a member another role.

    Raises:
        NotFound: the actor is no member of the workspace, or the user is none.
        Forbidden: the actor is no owner there.
        InvalidInput: not a role.
        Conflict: it would demote the workspace's last owner.
    """
    role = workspaces.parse_role(role)
    _require(actor, workspace_id, Can.MANAGE, "change members' roles")
    with session_scope() as session:
        _locked(session, workspace_id)
        membership, user = _member(session, workspace_id, user_id)
        before = Role(membership.role)
        changed = before != role
        if changed:
            membership.role = role.value
            session.add(membership)
            session.flush()
            _keep_an_owner(
                session,
                workspace_id,
                f"{user.email} is the last owner of this workspace: make another member "
                "an owner first",
            )
            audit.record(
                AuditAction.MEMBER_ROLE_CHANGED,
                actor=actor,
                target_type="user",
                target_id=user.id,
                workspace_id=workspace_id,
                detail={"email": user.email, "from": before.value, "to": role.value},
                session=session,
            )
        view = _member_view(membership, user)
    if changed:
        token_cache.invalidate()
    return view


def remove_member(actor: Actor, workspace_id: int, user_id: int) -> None:
    """Remove a member; any member may remove themself (leave). Their API keys for this
    workspace stop working with it (``services.api_keys`` checks on each use).

    Raises:
        NotFound: the actor is no member of the workspace, or the user is none.
        Forbidden: removing someone else without being an owner.
        Conflict: the workspace's last owner, or a personal workspace's own account.
    """
    leaving = user_id == actor.id
    if leaving:
        workspaces.visible(actor, workspace_id, f"workspace {workspace_id} not found")
    else:
        _require(actor, workspace_id, Can.MANAGE, "remove members")
    with session_scope() as session:
        workspace = _locked(session, workspace_id)
        if workspace.personal_of == user_id:
            raise Conflict("a personal workspace cannot be left: it goes with its account")
        membership, user = _member(session, workspace_id, user_id)
        role = membership.role
        session.delete(membership)
        session.flush()
        _keep_an_owner(
            session,
            workspace_id,
            "you are the last owner of this workspace: make another member an owner before "
            "you leave, or delete the workspace"
            if leaving
            else f"{user.email} is the last owner of this workspace: make another member "
            "an owner first",
        )
        audit.record(
            AuditAction.MEMBER_REMOVED,
            actor=actor,
            target_type="user",
            target_id=user.id,
            workspace_id=workspace_id,
            detail={"email": user.email, "role": role, "left": leaving},
            session=session,
        )
    token_cache.invalidate()


# -- invitations -----------------------------------------------------------------------------


def invite(actor: Actor, workspace_id: int, email: str, role: Role | str) -> CreatedInvitation:
    """Invite ``email`` with ``role``, and email them the link when the server can: the
    answer's ``url`` is the link to pass on, and ``emailed`` says whether the email went.

    Raises what :func:`open_invitation` raises.
    """
    made, letter = open_invitation(actor, workspace_id, email, role)
    if letter is None:
        return made
    return made.model_copy(update={"emailed": letter.send()})


def open_invitation(
    actor: Actor, workspace_id: int, email: str, role: Role | str
) -> tuple[CreatedInvitation, InvitationEmail | None]:
    """Invite ``email`` to join with ``role``, without sending anything yet: the invitation
    (``emailed`` False, ``url`` the link) and the email to send, None when the server sends
    no email.

    The email is sent by the caller after the invitation is committed, outside its
    transaction (a slow mail server holds no lock), and its failure leaves the invitation
    as it is.

    Raises:
        NotFound: the actor is no member of the workspace.
        Forbidden: the actor is no owner there.
        InvalidInput: not an email, or not a role.
        Conflict: a personal workspace, or the email is a member already.
    """
    _require(actor, workspace_id, Can.MANAGE, "invite members")
    email = normalise_email(email)
    role = workspaces.parse_role(role)
    token = secrets.token_urlsafe(32)
    with session_scope() as session:
        workspace = _locked(session, workspace_id)
        if workspace.personal_of is not None:
            raise Conflict(
                "a personal workspace is its account's alone: create a shared workspace "
                "to invite people"
            )
        member = session.exec(
            select(Membership.user_id)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == workspace_id, User.email == email)
        ).first()
        if member is not None:
            raise Conflict(f"{email} is already a member of this workspace")
        session.execute(
            delete(WorkspaceInvitation).where(
                WorkspaceInvitation.workspace_id == workspace_id,
                WorkspaceInvitation.email == email,
                WorkspaceInvitation.accepted_at.is_(None),
            )
        )
        row = WorkspaceInvitation(
            workspace_id=workspace_id,
            email=email,
            role=role.value,
            token_hash=_digest(token),
            invited_by=actor.id,
            expires_at=utcnow() + INVITATION_TTL,
        )
        session.add(row)
        session.flush()
        audit.record(
            AuditAction.MEMBER_INVITED,
            actor=actor,
            target_type="invitation",
            target_id=row.id,
            workspace_id=workspace_id,
            detail={"email": email, "role": role.value},
            session=session,
        )
        view = _invitation_view(row, actor.email)
        workspace_name = workspace.name
    base = get_settings().agentflow_public_url.rstrip("/")
    url = f"{base}{JOIN_WORKSPACE}?token={token}"
    made = CreatedInvitation(**view.model_dump(), url=url, emailed=False)
    if not mailer.configured():
        return made, None
    return made, InvitationEmail(email, *_invitation_email(actor, workspace_name, view, url))


def _invitation_email(
    actor: Actor, workspace_name: str, view: InvitationView, url: str
) -> tuple[str, str]:
    """The subject and text of the email that carries an invitation's link."""
    inviter = f"{actor.name} ({actor.email})" if actor.name else actor.email
    subject = f"{actor.name or actor.email} invited you to {workspace_name} on AgentFlow"
    text = (
        f'{inviter} invited you to join the workspace "{workspace_name}" on AgentFlow '
        f"with the role {view.role.value}.\n\n"
        f"To accept, open this link and sign in as {view.email}:\n\n{url}\n\n"
        f"The link works once and expires on {view.expires_at:%Y-%m-%d %H:%M} UTC. If you "
        "did not expect this invitation, you can ignore this email.\n"
    )
    return subject, text


def list_invitations(actor: Actor, workspace_id: int) -> list[InvitationView]:
    """The invitations not accepted yet, newest first.

    Raises:
        NotFound: the actor is no member of the workspace.
        Forbidden: the actor is no owner there.
    """
    _require(actor, workspace_id, Can.MANAGE, "see its invitations")
    with session_scope() as session:
        rows = session.exec(
            select(WorkspaceInvitation, User.email)
            .outerjoin(User, User.id == WorkspaceInvitation.invited_by)
            .where(
                WorkspaceInvitation.workspace_id == workspace_id,
                WorkspaceInvitation.accepted_at.is_(None),
            )
            .order_by(WorkspaceInvitation.id.desc())
        ).all()
        return [_invitation_view(row, inviter) for row, inviter in rows]


def revoke_invitation(actor: Actor, workspace_id: int, invitation_id: int) -> None:
    """Revoke an invitation not accepted yet: its link stops working.

    Raises:
        NotFound: the actor is no member of the workspace, or no such pending invitation.
        Forbidden: the actor is no owner there.
    """
    _require(actor, workspace_id, Can.MANAGE, "revoke invitations")
    with session_scope() as session:
        row = session.get(WorkspaceInvitation, invitation_id)
        if row is None or row.workspace_id != workspace_id or row.accepted_at is not None:
            raise NotFound(f"invitation {invitation_id} not found")
        audit.record(
            AuditAction.INVITATION_REVOKED,
            actor=actor,
            target_type="invitation",
            target_id=row.id,
            workspace_id=workspace_id,
            detail={"email": row.email, "role": row.role},
            session=session,
        )
        session.delete(row)


def accept_invitation(actor: Actor, token: str) -> WorkspaceView:
    """Join the workspace an invitation link names, with its role; the link is used up.

    Raises:
        NotFound: no such link (never made, revoked, or replaced by a newer one).
        Forbidden: the link was made for another email than the actor's.
        Conflict: the link was used already or expired, or the actor is a member already.
    """
    token = (token or "").strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise NotFound(_NOT_VALID)
    now = utcnow()
    with session_scope() as session:
        row = session.exec(
            select(WorkspaceInvitation).where(WorkspaceInvitation.token_hash == _digest(token))
        ).first()
        if row is None:
            raise NotFound(_NOT_VALID)
        if row.email != actor.email.lower():
            raise Forbidden(
                f"this invitation is for {row.email}: sign in with that account to accept it"
            )
        used = Conflict("this invitation was already used: ask for a new link")
        if row.accepted_at is not None:
            raise used
        if aware(row.expires_at) <= now:
            raise Conflict("this invitation has expired: ask for a new link")
        workspace = _locked(session, row.workspace_id)
        if session.get(Membership, (row.workspace_id, actor.id)) is not None:
            raise Conflict("you are already a member of this workspace")
        # Compare-and-set: of two requests with the same link, one joins.
        claimed = session.execute(
            update(WorkspaceInvitation)
            .where(WorkspaceInvitation.id == row.id, WorkspaceInvitation.accepted_at.is_(None))
            .values(accepted_at=now)
        )
        if claimed.rowcount != 1:
            raise used
        role = Role(row.role)
        session.add(Membership(workspace_id=workspace.id, user_id=actor.id, role=role.value))
        audit.record(
            AuditAction.MEMBER_JOINED,
            actor=actor,
            target_type="user",
            target_id=actor.id,
            workspace_id=workspace.id,
            detail={"email": actor.email, "role": role.value, "invitation_id": row.id},
            session=session,
        )
        view = WorkspaceView(
            id=workspace.id,
            name=workspace.name,
            personal=False,
            role=role,
            created_at=workspace.created_at,
        )
    token_cache.invalidate()
    return view


# -- the workspace itself --------------------------------------------------------------------


def rename_workspace(actor: Actor, workspace_id: int, name: str) -> WorkspaceView:
    """Give a workspace another name.

    Raises:
        NotFound: the actor is no member of the workspace.
        Forbidden: the actor is no owner there.
        InvalidInput: an empty or long name.
    """
    _require(actor, workspace_id, Can.MANAGE, "rename the workspace")
    name = workspaces.checked_name(name)
    with session_scope() as session:
        workspace = _locked(session, workspace_id)
        before = workspace.name
        if before != name:
            workspace.name = name
            session.add(workspace)
            audit.record(
                AuditAction.WORKSPACE_RENAMED,
                actor=actor,
                target_type="workspace",
                target_id=workspace_id,
                workspace_id=workspace_id,
                detail={"from": before, "to": name},
                session=session,
            )
        return WorkspaceView(
            id=workspace.id,
            name=name,
            personal=workspace.personal_of is not None,
            role=actor.roles[workspace_id],
            created_at=workspace.created_at,
        )


def delete_workspace(actor: Actor, workspace_id: int) -> None:
    """Delete a shared workspace and everything in it (workflows, runs, credentials, files,
    API keys, invitations, memberships). Its audit rows stay.

    Raises:
        NotFound: the actor is no member of the workspace.
        Forbidden: the actor is no owner there.
        Conflict: a personal workspace (it goes with its account).
    """
    _require(actor, workspace_id, Can.MANAGE, "delete the workspace")
    with session_scope() as session:
        workspace = _locked(session, workspace_id)
        if workspace.personal_of is not None:
            raise Conflict("a personal workspace cannot be deleted: it goes with its account")
        blobs = _deleted(session, actor, workspace, {"name": workspace.name})
    token_cache.invalidate()
    files.forget_blobs(blobs)


def _deleted(session: Session, actor: Actor, workspace: Workspace, detail: dict) -> list[str]:
    """Delete ``workspace`` in ``session``, audited with ``detail``; the keys of its stored
    files, whose bytes are to be forgotten once the transaction has committed (the rows
    go with the workspace: ON DELETE CASCADE)."""
    blobs = list(
        session.exec(select(StoredFile.key).where(StoredFile.workspace_id == workspace.id))
    )
    audit.record(
        AuditAction.WORKSPACE_DELETED,
        actor=actor,
        target_type="workspace",
        target_id=workspace.id,
        workspace_id=workspace.id,
        detail=detail,
        session=session,
    )
    session.delete(workspace)
    return blobs


def hand_over(session: Session, actor: Actor, leaving: User) -> list[str]:
    """Keep every shared workspace ``leaving`` is the last owner of manageable, as an admin
    deletes that account (in the deletion's transaction).

    Each such workspace goes to its member of the highest role, the longest-standing
    first, who becomes an owner: without one nobody could rename, share or delete it
    again. One with no other member is deleted with what it holds, as the account's
    personal workspace is. Both are in the audit log, under the workspace.

    Returns:
        The keys of the deleted workspaces' stored files, whose bytes are to be forgotten
        once the transaction has committed.
    """
    led = session.exec(
        select(Workspace)
        .join(Membership, Membership.workspace_id == Workspace.id)
        .where(
            Membership.user_id == leaving.id,
            Membership.role == Role.OWNER.value,
            Workspace.personal_of.is_(None),
        )
    ).all()
    blobs: list[str] = []
    for workspace in led:
        others = session.exec(
            select(Membership).where(
                Membership.workspace_id == workspace.id, Membership.user_id != leaving.id
            )
        ).all()
        if any(member.role == Role.OWNER for member in others):
            continue
        if not others:
            reason = f"{leaving.email} was deleted"
            blobs += _deleted(session, actor, workspace, {"name": workspace.name, "reason": reason})
            continue
        heir = min(
            others,
            key=lambda m: (workspaces.RANK.index(Role(m.role)), m.created_at, m.user_id),
        )
        audit.record(
            AuditAction.MEMBER_ROLE_CHANGED,
            actor=actor,
            target_type="user",
            target_id=heir.user_id,
            workspace_id=workspace.id,
            detail={
                "email": session.get(User, heir.user_id).email,
                "from": heir.role,
                "to": Role.OWNER.value,
                "reason": f"the last owner, {leaving.email}, was deleted",
            },
            session=session,
        )
        heir.role = Role.OWNER.value
        session.add(heir)
    return blobs
