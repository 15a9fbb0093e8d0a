"""The instance admin's console: users, the signup mode, invitations and health.

Every function takes the acting user and refuses non-admins (Forbidden). An admin cannot
disable, demote or delete themself (Conflict, saying why), which is what keeps the
instance from ever losing its last admin.
Every change goes in the audit log, in the change's own transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import func, or_, text
from sqlmodel import Session, select

from agentflow_app.auth import links
from agentflow_app.db import get_engine, session_scope
from agentflow_app.errors import Conflict, InvalidInput, NotFound
from agentflow_app.models import Execution, InstanceSetting, StoredFile, User, Workspace
from agentflow_app.models.base import utcnow
from agentflow_app.services import audit, files, health, members, operations, token_cache
from agentflow_app.services.audit import AuditAction
from agentflow_app.services.users import (
    SIGNUP_MODE_KEY,
    Actor,
    SignupMode,
    normalise_email,
    require_admin,
    signup_mode,
)
from agentflow_app.settings import get_settings

#: How long an admin's reset link and an invitation stay valid.
RESET_LINK_TTL = timedelta(hours=24)
INVITE_TTL = timedelta(days=7)
MAX_SEARCH = 200


class UserRow(BaseModel):
    """A user as the console lists it."""

    id: int
    email: str
    name: str
    is_admin: bool
    disabled: bool
    created_at: datetime


class SignedLink(BaseModel):
    """A link to hand to someone (shown once to the admin who made it)."""

    url: str
    expires_at: datetime


class InstanceHealth(BaseModel):
    """The cards of the console's health panel."""

    status: str
    db: str
    redis: str
    workers: int
    queued: int
    running: int
    waiting: int
    oldest_queued_age_s: float
    database_bytes: int | None
    files_bytes: int
    users: int


def _row(user: User) -> UserRow:
    return UserRow.model_validate(user, from_attributes=True)


def list_users(actor: Actor, search: str = "", limit: int = 100) -> list[UserRow]:
    """Users whose email or name contains ``search`` (all when empty), oldest first.

    Raises:
        Forbidden: not an admin.
        InvalidInput: a limit out of 1..200.
    """
    require_admin(actor)
    if not 1 <= limit <= MAX_SEARCH:
        why = f"limit must be between 1 and {MAX_SEARCH}"
        raise InvalidInput(why, [{"field": "limit", "message": why}])
    query = select(User).order_by(User.id).limit(limit)
    needle = (search or "").strip().lower()
    if needle:
        query = query.where(
            or_(User.email.contains(needle), func.lower(User.name).contains(needle))
        )
    with session_scope() as session:
        return [_row(user) for user in session.exec(query).all()]


def get_user(actor: Actor, user_id: int) -> UserRow:
    """One user. Raises Forbidden (not an admin), NotFound (no such user)."""
    require_admin(actor)
    with session_scope() as session:
        return _row(_target(session, user_id))


def _target(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def _not_yourself(actor: Actor, user: User, doing: str) -> None:
    """Refuse ``doing`` to one's own account.

    This is also what keeps an instance from losing its last admin: only an admin can
    disable, demote or delete anyone, and never themself, so whoever acts stays an admin.
    """
    if user.id == actor.id:
        raise Conflict(
            f"you cannot {doing} your own account: another administrator has to "
            "(this keeps the instance from losing its last administrator)"
        )


def _change(actor: Actor, user_id: int, action: AuditAction, doing: str, **values: bool) -> UserRow:
    require_admin(actor)
    with session_scope() as session:
        user = _target(session, user_id)
        if any(values[key] != getattr(user, key) for key in values):
            if action in (AuditAction.USER_DISABLED, AuditAction.USER_DEMOTED):
                _not_yourself(actor, user, doing)
            for key, value in values.items():
                setattr(user, key, value)
            session.add(user)
            audit.record(
                action,
                actor=actor,
                target_type="user",
                target_id=user.id,
                detail={"email": user.email},
                session=session,
            )
        session.flush()
        changed = _row(user)
    token_cache.invalidate()  # a disabled account's tokens stop on their next request
    return changed


def set_disabled(actor: Actor, user_id: int, disabled: bool) -> UserRow:
    """Disable (every token and API key stops working on its next request) or enable.

    Raises:
        Forbidden: not an admin. NotFound: no such user.
        Conflict: disabling oneself.
    """
    action = AuditAction.USER_DISABLED if disabled else AuditAction.USER_ENABLED
    return _change(actor, user_id, action, "disable", disabled=disabled)


def set_admin(actor: Actor, user_id: int, is_admin: bool) -> UserRow:
    """Promote to admin or demote.

    Raises:
        Forbidden: not an admin. NotFound: no such user.
        Conflict: demoting oneself.
    """
    action = AuditAction.USER_PROMOTED if is_admin else AuditAction.USER_DEMOTED
    return _change(actor, user_id, action, "demote", is_admin=is_admin)


def delete_user(actor: Actor, user_id: int) -> None:
    """Delete an account and everything it owns (workflows, runs, credentials, keys, files).

    A shared workspace it was the last owner of gets another owner (or, with no other
    member, goes too): see :func:`.members.hand_over`.

    Raises:
        Forbidden: not an admin. NotFound: no such user.
        Conflict: deleting oneself.
    """
    require_admin(actor)
    with session_scope() as session:
        user = _target(session, user_id)
        _not_yourself(actor, user, "delete")
        blobs = members.hand_over(session, actor, user)
        # Its personal workspace goes with it, and everything in that (ON DELETE CASCADE);
        # what it made in shared workspaces stays there, no longer naming it.
        personal = select(Workspace.id).where(Workspace.personal_of == user.id).scalar_subquery()
        # The rows go with the account; the bytes in the file store are forgotten after.
        blobs += list(
            session.exec(
                select(StoredFile.key).where(
                    or_(
                        StoredFile.workspace_id == personal,
                        StoredFile.execution_id.in_(
                            select(Execution.id).where(Execution.workspace_id == personal)
                        ),
                    )
                )
            ).all()
        )
        audit.record(
            AuditAction.USER_DELETED,
            actor=actor,
            target_type="user",
            target_id=user.id,
            detail={"email": user.email},
            session=session,
        )
        session.delete(user)  # its rows go with it (ON DELETE CASCADE)
    token_cache.invalidate()
    files.forget_blobs(blobs)


def reset_link(actor: Actor, user_id: int) -> SignedLink:
    """A link that lets the user set a new password once, within a day.

    Raises:
        Forbidden: not an admin. NotFound: no such user.
    """
    require_admin(actor)
    with session_scope() as session:
        user = _target(session, user_id)
        token = links.sign(
            "password-reset", {"sub": str(user.id), "tv": user.token_version}, RESET_LINK_TTL
        )
        audit.record(
            AuditAction.PASSWORD_RESET_LINK,
            actor=actor,
            target_type="user",
            target_id=user.id,
            detail={"email": user.email},
            session=session,
        )
    base = get_settings().agentflow_public_url.rstrip("/")
    return SignedLink(
        url=f"{base}/reset-password?token={token}", expires_at=utcnow() + RESET_LINK_TTL
    )


def invite(actor: Actor, email: str) -> SignedLink:
    """An invitation for ``email`` to sign up (what invite-only signup asks for).

    Raises:
        Forbidden: not an admin. InvalidInput: not an email.
        Conflict: an account with that email exists.
    """
    require_admin(actor)
    email = normalise_email(email)
    with session_scope() as session:
        if session.exec(select(User.id).where(User.email == email)).first() is not None:
            raise Conflict(f"an account with the email {email} already exists")
        audit.record(
            AuditAction.INVITE_CREATED,
            actor=actor,
            target_type="user",
            detail={"email": email},
            session=session,
        )
    token = links.sign("invite", {"email": email}, INVITE_TTL)
    base = get_settings().agentflow_public_url.rstrip("/")
    return SignedLink(url=f"{base}/register?invite={token}", expires_at=utcnow() + INVITE_TTL)


def get_signup_mode(actor: Actor) -> SignupMode:
    """The signup mode in force. Raises Forbidden: not an admin."""
    require_admin(actor)
    return signup_mode()


def set_signup_mode(actor: Actor, mode: SignupMode) -> SignupMode:
    """Store the admin's choice; from now on it beats AGENTFLOW_OPEN_SIGNUP.

    Raises:
        Forbidden: not an admin.
    """
    require_admin(actor)
    mode = SignupMode(mode)
    with session_scope() as session:
        row = session.get(InstanceSetting, SIGNUP_MODE_KEY)
        before = row.value if row else None
        row = row or InstanceSetting(key=SIGNUP_MODE_KEY, value=mode.value)
        row.value, row.updated_at = mode.value, utcnow()
        session.add(row)
        audit.record(
            AuditAction.SIGNUP_MODE_CHANGED,
            actor=actor,
            target_type="instance",
            target_id=SIGNUP_MODE_KEY,
            detail={"from": before, "to": mode.value},
            session=session,
        )
    return mode


async def instance_health(actor: Actor) -> InstanceHealth:
    """Workers, queue depth, waiting runs and storage used, read now.

    Raises:
        Forbidden: not an admin.
    """
    require_admin(actor)
    checked = await health.check()
    runs = operations.open_runs()
    with session_scope() as session:
        files_bytes = session.exec(select(func.coalesce(func.sum(StoredFile.size), 0))).one()
        users = session.exec(select(func.count()).select_from(User)).one()
    return InstanceHealth(
        status=checked.status,
        db=checked.db,
        redis=checked.redis,
        workers=checked.workers,
        queued=runs.by_status.get("queued", 0),
        running=runs.by_status.get("running", 0),
        waiting=runs.by_status.get("waiting", 0),
        oldest_queued_age_s=runs.oldest_queued_age_s,
        database_bytes=_database_bytes(),
        files_bytes=int(files_bytes),
        users=int(users),
    )


def _database_bytes() -> int | None:
    """The database's size on disk (PostgreSQL: the server's count; SQLite: its files)."""
    engine = get_engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar())
    database = engine.url.database
    if not database or database == ":memory:":
        return None
    files = [Path(database + suffix) for suffix in ("", "-wal")]
    return sum(path.stat().st_size for path in files if path.exists())
