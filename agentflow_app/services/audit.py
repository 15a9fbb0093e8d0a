"""The audit log: who did what, to what, when and from which address; append-only.

Services call :func:`record` at each audited action, inside the action's own transaction
when they have one (so an action and its record commit or roll back together). Admins
read every row (:func:`search`, :func:`export`); a workspace's owners read the rows of the
actions that happened in it (``workspace_id``), and nobody else reads any.

The client's address is request metadata, not an argument of every service: the REST
middleware and the Reflex auth check put it in :data:`client_address` for the request,
and :func:`record` reads it from there. Nothing here updates or deletes a row; on
PostgreSQL a trigger refuses both (migration 0006). Execution retention never touches
this table.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlmodel import Session, select

from agentflow_app.db import session_scope
from agentflow_app.errors import Forbidden, InvalidInput
from agentflow_app.models import AuditEvent, User, WorkspaceRole

if TYPE_CHECKING:  # services.users records sign-ins here, so it cannot be imported back
    from agentflow_app.services.users import Actor

#: The address of the client the current request came from ("" outside a request).
client_address: contextvars.ContextVar[str] = contextvars.ContextVar(
    "agentflow_client_address", default=""
)
MAX_PAGE = 500
_EXPORT_BATCH = 500


class AuditAction(StrEnum):
    """Every action the log knows; a record of anything else cannot be written."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    CREDENTIAL_CREATED = "credential.created"
    CREDENTIAL_UPDATED = "credential.updated"
    CREDENTIAL_DELETED = "credential.deleted"
    CREDENTIAL_USED = "credential.used_by_run"
    WORKFLOW_DELETED = "workflow.deleted"
    WORKFLOW_RESTORED = "workflow.version_restored"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    USER_DISABLED = "admin.user_disabled"
    USER_ENABLED = "admin.user_enabled"
    USER_PROMOTED = "admin.user_promoted"
    USER_DEMOTED = "admin.user_demoted"
    USER_DELETED = "admin.user_deleted"
    PASSWORD_RESET_LINK = "admin.password_reset_link"
    PASSWORD_RESET = "auth.password_reset"
    SIGNUP_MODE_CHANGED = "admin.signup_mode_changed"
    INVITE_CREATED = "admin.invite_created"
    WORKSPACE_CREATED = "workspace.created"
    WORKSPACE_RENAMED = "workspace.renamed"
    WORKSPACE_DELETED = "workspace.deleted"
    MEMBER_INVITED = "member.invited"
    INVITATION_REVOKED = "member.invitation_revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"


class AuditEntry(BaseModel):
    """One row as the API and the page show it."""

    id: int
    at: datetime
    actor_id: int | None
    actor_email: str
    action: str
    target_type: str
    target_id: str
    workspace_id: int | None
    address: str
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """Newest first; ``next_cursor`` fetches the older rows (null: there are none)."""

    events: list[AuditEntry]
    next_cursor: str | None


def record(
    action: AuditAction,
    *,
    actor: Actor | None = None,
    actor_id: int | None = None,
    actor_email: str = "",
    target_type: str = "",
    target_id: int | str = "",
    detail: dict[str, Any] | None = None,
    address: str | None = None,
    workspace_id: int | None = None,
    session: Session | None = None,
) -> None:
    """Append one row; in ``session`` when given (the action's transaction), else alone.

    ``actor`` names who acted; ``actor_id``/``actor_email`` do when there is no signed-in
    actor (a failed sign-in names the email typed, and the account when it exists).
    ``address`` overrides the request's :data:`client_address` (sign-in is given its own).
    ``workspace_id`` is the workspace the action happened in (its owners read its rows);
    None for actions on the instance or an account.
    """
    row = AuditEvent(
        actor_id=actor.id if actor else actor_id,
        actor_email=(actor.email if actor else actor_email)[:320],
        action=AuditAction(action).value,
        target_type=target_type,
        target_id=str(target_id)[:64],
        address=(address if address is not None else client_address.get())[:64],
        workspace_id=workspace_id,
        detail=detail or {},
    )
    if session is not None:
        session.add(row)
        return
    with session_scope() as own:
        own.add(row)


def recorded_for_run(session: Session, action: AuditAction, target_id: int, run_id: int) -> bool:
    """Whether ``action`` on ``target_id`` is already recorded for execution ``run_id``."""
    found = session.exec(
        select(AuditEvent.id).where(
            AuditEvent.action == action.value,
            AuditEvent.target_id == str(target_id),
            AuditEvent.detail["execution_id"].as_integer() == run_id,
        )
    ).first()
    return found is not None


def email_of(session: Session, user_id: int) -> str:
    """The account's email now ("" when it is gone), to name an actor known by id only."""
    return session.exec(select(User.email).where(User.id == user_id)).first() or ""


def _readable(actor: Actor, workspace_id: int | None) -> Any:
    """The rows ``actor`` may read: all for an admin, else its owned workspaces' (the one
    asked for, when ``workspace_id`` is given).

    Raises:
        Forbidden: the actor owns no workspace it asks about and is no admin.
    """
    query = select(AuditEvent)
    if actor.is_admin:
        return (
            query if workspace_id is None else query.where(AuditEvent.workspace_id == workspace_id)
        )
    owned = [ws for ws, role in actor.roles.items() if role == WorkspaceRole.OWNER]
    if workspace_id is not None:
        owned = [ws for ws in owned if ws == workspace_id]
    if not owned:
        raise Forbidden("only an administrator or the workspace's owners can read its audit log")
    return query.where(AuditEvent.workspace_id.in_(owned))


def _filtered(
    query: Any,
    action: str | None,
    actor: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Any:
    if action:
        known = {a.value for a in AuditAction}
        if action not in known:
            why = f"{action[:60]!r} is not an audited action; one of {', '.join(sorted(known))}"
            raise InvalidInput(why, [{"field": "action", "message": why}])
        query = query.where(AuditEvent.action == action)
    if actor:
        query = query.where(AuditEvent.actor_email.contains(actor.strip().lower()))
    if since is not None:
        query = query.where(AuditEvent.at >= since)
    if until is not None:
        query = query.where(AuditEvent.at < until)
    return query


def _cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not cursor.isdigit() or len(cursor) > 18:
        why = "the cursor is not one this server gave: use next_cursor of the previous page"
        raise InvalidInput(why, [{"field": "cursor", "message": why}])
    return int(cursor)


def _entry(row: AuditEvent) -> AuditEntry:
    return AuditEntry.model_validate(row, from_attributes=True)


def search(
    actor: Actor,
    *,
    action: str | None = None,
    actor_filter: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    cursor: str | None = None,
    workspace_id: int | None = None,
) -> AuditPage:
    """A page of the log, newest first, filtered by action, actor email (part of it), time
    and workspace.

    Raises:
        Forbidden: the actor is neither an admin nor an owner of the workspace(s) read.
        InvalidInput: an unknown action, a limit out of 1..500, a foreign cursor.
    """
    readable = _readable(actor, workspace_id)
    if not 1 <= limit <= MAX_PAGE:
        why = f"limit must be between 1 and {MAX_PAGE}"
        raise InvalidInput(why, [{"field": "limit", "message": why}])
    query = _filtered(readable, action, actor_filter, since, until)
    before = _cursor(cursor)
    if before is not None:
        query = query.where(AuditEvent.id < before)
    with session_scope() as session:
        rows = session.exec(query.order_by(AuditEvent.id.desc()).limit(limit + 1)).all()
        entries = [_entry(row) for row in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(events=entries, next_cursor=str(entries[-1].id) if more else None)


def export(
    actor: Actor,
    *,
    action: str | None = None,
    actor_filter: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    workspace_id: int | None = None,
) -> Iterator[str]:
    """Every matching row as JSON lines, oldest first, read in batches (for streaming).

    Who may read what and the filters are checked before the first line is produced.

    Raises:
        Forbidden: as :func:`search`.
        InvalidInput: an unknown action.
    """
    query = _filtered(_readable(actor, workspace_id), action, actor_filter, since, until)

    def lines() -> Iterator[str]:
        after = 0
        while True:
            with session_scope() as session:
                rows = session.exec(
                    query.where(AuditEvent.id > after).order_by(AuditEvent.id).limit(_EXPORT_BATCH)
                ).all()
                batch = [_entry(row).model_dump_json() + "\n" for row in rows]
                last = rows[-1].id if rows else after
            if not batch:
                return
            yield from batch
            after = last

    return lines()
