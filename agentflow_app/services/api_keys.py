"""API keys: made in Settings, shown once, listed by prefix, revoked; they sign scripts in.

Ownership is checked here like everywhere else: another user's key id answers NotFound.
A key belongs to the workspace it was made in and acts there only, with a role no
higher than its creator's: chosen at creation, and lowered (never raised) whenever the
creator's own role there is lower or gone (checked on each use, so demoting or removing a
member takes effect on their keys at once). A key never carries its creator's instance
admin powers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlmodel import Session, select

from agentflow_app.auth import api_keys as keys
from agentflow_app.auth.tokens import InvalidToken
from agentflow_app.db import session_scope
from agentflow_app.errors import Forbidden, InvalidInput, NotFound
from agentflow_app.models import ApiKey, User, WorkspaceRole
from agentflow_app.services import audit, token_cache, workspaces
from agentflow_app.services.audit import AuditAction
from agentflow_app.services.users import Actor, refuse_disabled

MAX_NAME_LENGTH = 200
#: ``last_used_at`` is refreshed at most this often, so a busy script does not write per call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class ApiKeyView(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    #: The workspace the key acts in, and its role there.
    workspace_id: int
    role: WorkspaceRole


class CreatedApiKey(ApiKeyView):
    """The answer to a creation: the only time ``key`` itself is ever shown."""

    key: str


def _view(row: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        workspace_id=row.workspace_id,
        role=WorkspaceRole(row.role),
    )


def list_keys(actor: Actor) -> list[ApiKeyView]:
    """The actor's keys that still work, in every workspace, newest first."""
    with session_scope() as session:
        rows = session.exec(
            select(ApiKey)
            .where(ApiKey.user_id == actor.id, ApiKey.revoked_at.is_(None))
            .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
        ).all()
        return [_view(row) for row in rows]


def create_key(actor: Actor, name: str, role: WorkspaceRole | None = None) -> CreatedApiKey:
    """Make a key named ``name`` (what it is for, e.g. "CI deploy") acting in the actor's
    workspace with ``role`` (default: the actor's own role there).

    Raises:
        InvalidInput: the name is empty or too long.
        Forbidden: ``role`` is higher than the actor's.
    """
    mine = actor.role
    role = role or mine
    if workspaces.at_most(role, mine) != role:
        raise Forbidden(
            f"a key cannot have a higher role than yours: you are {mine.value} in this "
            f"workspace, so choose {mine.value} or lower"
        )
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        why = "give the key a name" if not name else f"use at most {MAX_NAME_LENGTH} characters"
        raise InvalidInput(f"name: {why}", [{"field": "name", "message": why}])
    made = keys.create()
    with session_scope() as session:
        row = ApiKey(
            user_id=actor.id,
            workspace_id=actor.workspace_id,
            role=role,
            name=name,
            prefix=made.prefix,
            key_hash=made.key_hash,
        )
        session.add(row)
        session.flush()
        audit.record(
            AuditAction.API_KEY_CREATED,
            actor=actor,
            target_type="api_key",
            target_id=row.id,
            workspace_id=row.workspace_id,
            detail={"name": name, "prefix": made.prefix, "role": role.value},
            session=session,
        )
        return CreatedApiKey(**_view(row).model_dump(), key=made.key)


def revoke_key(actor: Actor, key_id: int) -> None:
    """Stop a key working at once.

    Raises:
        NotFound: no such key of the actor's (or it is already revoked).
    """
    with session_scope() as session:
        row = _owned(session, actor, key_id)
        row.revoked_at = datetime.now(UTC)
        session.add(row)
        audit.record(
            AuditAction.API_KEY_REVOKED,
            actor=actor,
            target_type="api_key",
            target_id=row.id,
            workspace_id=row.workspace_id,
            detail={"name": row.name, "prefix": row.prefix},
            session=session,
        )
    token_cache.invalidate()


def authenticate_key(key: str) -> Actor:
    """The user a key belongs to.

    Raises:
        InvalidToken: unknown or revoked key, or its account is disabled.
    """
    return token_cache.who(key, lambda: _key_owner(key))


async def authenticate_key_in_loop(key: str) -> Actor:
    """:func:`authenticate_key` for a request handled in the event loop.

    Raises:
        InvalidToken: unknown or revoked key, or its account is disabled.
    """
    return await token_cache.who_in_loop(key, lambda: _key_owner(key))


def _key_owner(key: str) -> Actor:
    with session_scope() as session:
        row = session.exec(
            select(ApiKey).where(ApiKey.key_hash == keys.digest(key), ApiKey.revoked_at.is_(None))
        ).first()
        user = session.get(User, row.user_id) if row is not None else None
        if row is None or user is None:
            raise InvalidToken("the API key is not valid or was revoked")
        refuse_disabled(user.disabled)
        creator = workspaces.memberships_of(session.connection(), user.id).roles
        if row.workspace_id not in creator:
            raise InvalidToken("the API key's creator is no longer a member of its workspace")
        now = datetime.now(UTC)
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            row.last_used_at = now
            session.add(row)
        role = workspaces.at_most(WorkspaceRole(row.role), creator[row.workspace_id])
        return Actor(
            id=user.id,
            email=user.email,
            name=user.name,
            # A key acts in one workspace with a role; the instance console's powers stay
            # with the admin's own sign-in, so a leaked key of an admin is no admin.
            is_admin=False,
            workspace_id=row.workspace_id,
            roles={row.workspace_id: role},
        )


def _owned(session: Session, actor: Actor, key_id: int) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or row.user_id != actor.id or row.revoked_at is not None:
        raise NotFound(f"API key {key_id} not found")
    return row
