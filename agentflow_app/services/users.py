"""Accounts and sessions: register, sign in, who a token belongs to, sign out, passwords.

The REST API, the Reflex states and the CLI all come here, so the rules (normalised
emails, 8+ character passwords, the first account is an admin, closed signup, throttled
sign-in, revocation) hold whichever door a request comes through. Services take the
acting user as an :class:`Actor`: a plain view of the account, never an ORM row.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Connection, delete, func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from agentflow_app.auth import links, passwords, throttle, tokens
from agentflow_app.auth.tokens import InvalidToken, IssuedToken
from agentflow_app.db import get_engine, reading, session_scope
from agentflow_app.errors import AgentFlowError, Conflict, Forbidden, InvalidInput
from agentflow_app.models import InstanceSetting, RevokedToken, User, WorkspaceRole
from agentflow_app.services import audit, token_cache, workspaces
from agentflow_app.services.audit import AuditAction
from agentflow_app.settings import get_settings

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_EMAIL_LENGTH = 320
#: What ``str.strip`` takes off, spelled out so that every regex engine reads it alike.
SPACE_CHARS = r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_PART = rf"[^@{SPACE_CHARS}\x00-\x1f\x7f-\x9f\ufeff]+"
#: An email as the API takes it (JSON-schema and Python regex alike): a local part and a
#: domain of visible characters, maybe with spaces around; :func:`normalise_email` trims.
EMAIL_PATTERN = rf"^[{SPACE_CHARS}]*{_PART}@{_PART}[{SPACE_CHARS}]*$"
MAX_NAME_LENGTH = 200


class Actor(BaseModel):
    """The signed-in user a request acts for; every service call that touches data takes one."""

    model_config = ConfigDict(frozen=True)

    id: int
    email: str
    name: str
    is_admin: bool
    #: The workspace the request acts in: lists read it, new objects go there
    #: (``services.workspaces``). The personal one unless the request chose another.
    workspace_id: int
    #: The account's role in each workspace it belongs to (an API key: its own only).
    roles: dict[int, WorkspaceRole]

    @property
    def role(self) -> WorkspaceRole:
        """The role in the workspace the request acts in."""
        return self.roles[self.workspace_id]


class InvalidCredentials(AgentFlowError):
    """Wrong email or password (which one is not said, so accounts cannot be probed)."""


class AccountDisabled(InvalidCredentials):
    """The right password of a disabled account (said only to whoever knows the password)."""


class SignupMode(StrEnum):
    """Who may create an account: anyone, nobody (the CLI and admins still can), or
    whoever holds an invitation link an admin made."""

    OPEN = "open"
    CLOSED = "closed"
    INVITE_ONLY = "invite-only"


SIGNUP_MODE_KEY = "signup_mode"
DISABLED_MESSAGE = "this account has been disabled by an administrator: ask them to enable it"


def require_admin(actor: Actor) -> None:
    """Raises Forbidden unless ``actor`` is an instance admin."""
    if not actor.is_admin:
        raise Forbidden("only an administrator can do this")


def refuse_disabled(disabled: bool) -> None:
    """The one check that a disabled account gets nothing: every way in (access token,
    API key, the browser session, sign-in) calls it with the value read just now.

    Raises:
        InvalidToken: the account is disabled.
    """
    if disabled:
        raise InvalidToken(DISABLED_MESSAGE)


def actor_of(conn: Connection, user_id: int, email: str, name: str, is_admin: bool) -> Actor:
    """The account as services see it, acting in its personal workspace."""
    found = workspaces.memberships_of(conn, user_id)
    return Actor(
        id=user_id,
        email=email,
        name=name,
        is_admin=is_admin,
        workspace_id=found.personal_id,
        roles=found.roles,
    )


def _actor(user: User, session: Session) -> Actor:
    return actor_of(session.connection(), user.id, user.email, user.name, user.is_admin)


def normalise_email(raw: str) -> str:
    """``raw`` stripped and lower-cased.

    Raises:
        InvalidInput: when it is not an email address.
    """
    email = (raw or "").strip()
    if not email:
        raise InvalidInput("enter your email", [{"field": "email", "message": "enter your email"}])
    email = email.lower()  # its length is the typed one's: lower() may lengthen a letter
    if len(raw.strip()) > MAX_EMAIL_LENGTH or not _EMAIL.match(email):
        message = f"{email[:60]!r} is not an email address"
        raise InvalidInput(message, [{"field": "email", "message": message}])
    return email


def _checked_password(password: str, field: str = "password") -> str:
    if why := passwords.check_strength(password or ""):
        raise InvalidInput(f"{field.replace('_', ' ')}: {why}", [{"field": field, "message": why}])
    return password


def _checked_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > MAX_NAME_LENGTH:
        why = f"use at most {MAX_NAME_LENGTH} characters"
        raise InvalidInput(f"name: {why}", [{"field": "name", "message": why}])
    return name


# -- accounts ----------------------------------------------------------------------------


def create_user(email: str, password: str, name: str = "", *, admin: bool = False) -> Actor:
    """Create an account (the CLI's way in: works whether or not signup is open).

    The first account of an installation is always an admin, so a fresh install can be
    administered without touching the database.

    Raises:
        InvalidInput: a malformed email, a short password or a long name.
        Conflict: the email is taken.
    """
    email = normalise_email(email)
    _checked_password(password)
    name = _checked_name(name)
    password_hash = passwords.hash_password(password)
    taken = Conflict(f"an account with the email {email} already exists: sign in instead")
    try:
        with session_scope() as session:
            if session.exec(select(User.id).where(User.email == email)).first() is not None:
                raise taken
            first = session.exec(select(func.count()).select_from(User)).one() == 0
            user = User(
                email=email, name=name, password_hash=password_hash, is_admin=admin or first
            )
            session.add(user)
            session.flush()
            workspaces.create_personal(session, user.id)
            return _actor(user, session)
    except IntegrityError:  # a concurrent registration of the same email won
        raise taken from None


def register(email: str, password: str, name: str = "", invite: str | None = None) -> Actor:
    """Self-service signup (``/register``, ``POST /api/auth/register``).

    Open signup takes anyone; invite-only takes the holder of an admin's invitation for
    this email (the signup uses it up: the email is then taken); closed takes nobody.

    Raises:
        Forbidden: signup is closed, or invite-only and no invitation was given.
        InvalidInput: as :func:`create_user`, or an invitation that is forged, expired or
            made for another email.
        Conflict: as :func:`create_user`.
    """
    mode = signup_mode()
    if mode == SignupMode.CLOSED:
        raise Forbidden("signup is closed on this server: ask an administrator for an account")
    if mode == SignupMode.INVITE_ONLY:
        if not invite:
            raise Forbidden(
                "signup is by invitation on this server: ask an administrator for a link"
            )
        invited = str(links.read("invite", invite).get("email", ""))
        if invited != normalise_email(email):
            why = f"this invitation is for {invited}: sign up with that email"
            raise InvalidInput(why, [{"field": "email", "message": why}])
    return create_user(email, password, name)


def signup_mode() -> SignupMode:
    """The admin's choice when one was made, else AGENTFLOW_OPEN_SIGNUP (open or closed)."""
    with get_engine().connect() as conn:
        stored = conn.execute(
            sa_select(InstanceSetting.__table__.c.value).where(
                InstanceSetting.__table__.c.key == SIGNUP_MODE_KEY
            )
        ).scalar_one_or_none()
    if stored in {mode.value for mode in SignupMode}:
        return SignupMode(stored)
    return SignupMode.OPEN if get_settings().agentflow_open_signup else SignupMode.CLOSED


def signup_open() -> bool:
    """Whether the signup form is offered without an invitation."""
    return signup_mode() == SignupMode.OPEN


def get_profile(actor: Actor) -> Actor:
    """The actor as stored now (name changes made elsewhere included)."""
    with session_scope() as session:
        return _actor(_user(session, actor), session)


def update_profile(actor: Actor, name: str) -> Actor:
    """Change the display name."""
    name = _checked_name(name)
    with session_scope() as session:
        user = _user(session, actor)
        user.name = name
        session.add(user)
        changed = _actor(user, session)
    token_cache.invalidate()  # requests name who they act for
    return changed


def find_by_email(email: str) -> Actor | None:
    """The account with ``email`` (normalised), for the CLI's ``--owner``."""
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == normalise_email(email))).first()
        return _actor(user, session) if user else None


# -- sessions ----------------------------------------------------------------------------


def login(email: str, password: str, address: str) -> IssuedToken:
    """Check a password and issue an access token; every attempt goes in the audit log.

    ``address`` is the client's network address: failures are counted per (account,
    address) so one attacker cannot lock a user out from everywhere.

    Raises:
        Throttled: 5 failures in 5 minutes for this pair; checked before the password.
        InvalidCredentials: the email is unknown or the password wrong.
        AccountDisabled: the right password of a disabled account.
    """
    account = (email or "").strip().lower()
    try:
        throttle.check(account, address)
    except throttle.Throttled:
        _failed_sign_in(account, address, None, "throttled")
        raise
    with session_scope() as session:
        user = session.exec(select(User).where(User.email == account)).first()
        if user is None:
            passwords.dummy_verify()  # answer as slowly as for a real account
            result = passwords.Verified(ok=False)
        else:
            result = passwords.verify(password or "", user.password_hash)
        user_id = user.id if user else None
        if not result.ok:
            throttle.record_failure(account, address)
            failure = InvalidCredentials("wrong email or password")
        elif user.disabled:
            failure = AccountDisabled(DISABLED_MESSAGE)
        else:
            failure = None
            if result.new_hash:  # hashed under older parameters: upgrade it now we know it
                user.password_hash = result.new_hash
                session.add(user)
            throttle.clear(account, address)
            audit.record(
                AuditAction.SIGN_IN,
                actor=_actor(user, session),
                target_type="user",
                target_id=user.id,
                address=address,
                session=session,
            )
            return tokens.issue(user.id, user.token_version)
    _failed_sign_in(account, address, user_id, "disabled" if user_id and result.ok else "wrong")
    raise failure


def _failed_sign_in(email: str, address: str, user_id: int | None, reason: str) -> None:
    audit.record(
        AuditAction.SIGN_IN_FAILED,
        actor_id=user_id,
        actor_email=email,
        target_type="user",
        target_id=user_id or "",
        address=address,
        detail={"reason": reason},
    )


def authenticate_token(token: str) -> Actor:
    """The user an access token (JWT) belongs to, if it is valid and not revoked.

    Raises:
        InvalidToken: forged, malformed, expired, revoked, or its account is gone.
    """
    claims = tokens.decode(token)  # the signature and the expiry, every time
    return token_cache.who(token, lambda: _token_owner(claims))


async def authenticate_token_in_loop(token: str) -> Actor:
    """:func:`authenticate_token` for a request handled in the event loop (a thread is
    taken only when the database must answer).

    Raises:
        InvalidToken: forged, malformed, expired, revoked, or its account is gone.
    """
    claims = tokens.decode(token)
    return await token_cache.who_in_loop(token, lambda: _token_owner(claims))


def _token_owner(claims: tokens.Claims) -> Actor:
    # Every REST request the cache cannot answer asks this: one statement, no ORM
    # session, no commit.
    users, revoked = User.__table__, RevokedToken.__table__
    query = sa_select(
        users.c.id,
        users.c.email,
        users.c.name,
        users.c.is_admin,
        users.c.token_version,
        users.c.disabled,
        sa_select(revoked.c.jti).where(revoked.c.jti == claims.jti).exists().label("revoked"),
    ).where(users.c.id == claims.user_id)
    with reading() as conn:
        row = conn.execute(query).one_or_none()
        if row is None or row.token_version != claims.token_version or row.revoked:
            raise InvalidToken("this session has ended: sign in again")
        refuse_disabled(row.disabled)
        return actor_of(conn, row.id, row.email, row.name, row.is_admin)


def logout(token: str) -> None:
    """Revoke one access token (the session that signs out); others stay valid.

    Raises:
        InvalidToken: the token is not a valid access token.
    """
    claims = tokens.decode(token)
    now = datetime.now(UTC)
    with session_scope() as session:
        # Rows are only needed until the token would have expired anyway.
        session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
        if session.get(RevokedToken, claims.jti) is None:
            session.add(
                RevokedToken(jti=claims.jti, user_id=claims.user_id, expires_at=claims.expires_at)
            )
    token_cache.invalidate()


def change_password(actor: Actor, current_password: str, new_password: str) -> IssuedToken:
    """Set a new password and revoke every token issued so far.

    Returns a fresh token so the session that changed the password stays signed in while
    every other session (other browsers, stolen tokens) is signed out.

    Raises:
        InvalidInput: the current password is wrong or the new one too short.
    """
    _checked_password(new_password, "new_password")
    with session_scope() as session:
        user = _user(session, actor)
        if not passwords.verify(current_password or "", user.password_hash).ok:
            why = "the current password is not right"
            raise InvalidInput(why, [{"field": "current_password", "message": why}])
        user.password_hash = passwords.hash_password(new_password)
        user.token_version += 1
        session.add(user)
        session.flush()
        fresh = tokens.issue(user.id, user.token_version)
    token_cache.invalidate()
    return fresh


def reset_password(token: str, new_password: str) -> None:
    """Set a new password through an admin's reset link; the link works once.

    Every token issued so far is revoked (the token version is bumped, which is also
    what makes the link stale: it carries the version it was made under).

    Raises:
        InvalidInput: a forged, expired or used link, or a weak password.
    """
    claims = links.read("password-reset", token)
    _checked_password(new_password, "new_password")
    used = "this link was already used or replaced: ask an administrator for a new one"
    with session_scope() as session:
        user = (
            session.get(User, int(claims["sub"])) if str(claims.get("sub", "")).isdigit() else None
        )
        if user is None or user.token_version != claims.get("tv"):
            raise InvalidInput(used, [{"field": "token", "message": used}])
        user.password_hash = passwords.hash_password(new_password)
        user.token_version += 1
        session.add(user)
        audit.record(
            AuditAction.PASSWORD_RESET,
            actor=_actor(user, session),
            target_type="user",
            target_id=user.id,
            session=session,
        )
    token_cache.invalidate()  # the account's older sessions end


def _user(session: Session, actor: Actor) -> User:
    user = session.get(User, actor.id)
    if user is None:
        raise InvalidToken("this account no longer exists")
    return user
