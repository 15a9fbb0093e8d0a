"""Workspaces and the one permission check (issue 18).

Every workflow, credential, execution, file, API key and approval belongs to a workspace.
An :class:`~agentflow_app.services.users.Actor` carries the role its account holds in
each workspace it belongs to (``roles``) and the workspace its request acts in
(``workspace_id``: where lists read and new objects go, the personal one unless the
request chose another). Services check an object in two steps, both here:

- :func:`visible`: the object's workspace is one of the actor's, else the object is
  reported as NotFound, exactly like a missing one, so ids cannot be probed;
- :func:`require`: the actor's role there allows the action (:class:`Can`), else
  Forbidden (403) saying which role is needed: a member knows the object exists.

What each role may do (``owner`` > ``editor`` > ``runner`` > ``viewer``):

========  ======  =====  ======  =======
role      read    run    edit    manage
========  ======  =====  ======  =======
owner     yes     yes    yes     yes
editor    yes     yes    yes
runner    yes     yes
viewer    yes
========  ======  =====  ======  =======

``read``: workflows, runs, credential names (never values: credentials stay write-only
for everyone); ``run``: start, cancel, retry and decide runs, upload their files;
``edit``: workflows and credentials (create, save, delete, test nodes); ``manage``:
members, roles, renaming and deleting the workspace.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlalchemy import Connection, select
from sqlmodel import Session

from agentflow_app.db import session_scope
from agentflow_app.errors import Forbidden, InvalidInput, NotFound
from agentflow_app.models import Membership, User, Workspace, WorkspaceRole
from agentflow_app.services import audit, token_cache
from agentflow_app.services.audit import AuditAction

if TYPE_CHECKING:  # users imports this module: the Actor type only
    from agentflow_app.services.users import Actor

PERSONAL_NAME = "Personal"
MAX_NAME_LENGTH = 200


class Can(StrEnum):
    """An action on a workspace's objects (see the module's table)."""

    READ = "read"
    RUN = "run"
    EDIT = "edit"
    MANAGE = "manage"


#: The actions each role may take.
ALLOWED: Mapping[WorkspaceRole, frozenset[Can]] = {
    WorkspaceRole.OWNER: frozenset(Can),
    WorkspaceRole.EDITOR: frozenset({Can.READ, Can.RUN, Can.EDIT}),
    WorkspaceRole.RUNNER: frozenset({Can.READ, Can.RUN}),
    WorkspaceRole.VIEWER: frozenset({Can.READ}),
}
#: Roles from the highest down: an API key's role is never above its creator's.
RANK = (WorkspaceRole.OWNER, WorkspaceRole.EDITOR, WorkspaceRole.RUNNER, WorkspaceRole.VIEWER)
#: The lowest role each action needs, for messages.
_LOWEST = {can: next(r for r in reversed(RANK) if can in ALLOWED[r]) for can in Can}


class WorkspaceView(BaseModel):
    """A workspace as its members see it in lists and the side bar."""

    id: int
    name: str
    personal: bool
    #: The viewer's role there.
    role: WorkspaceRole
    created_at: datetime


class Memberships(BaseModel):
    """An account's roles, and which workspace is its personal one."""

    roles: dict[int, WorkspaceRole]
    personal_id: int


def at_most(role: WorkspaceRole, ceiling: WorkspaceRole) -> WorkspaceRole:
    """``role``, lowered to ``ceiling`` when it is higher."""
    return role if RANK.index(role) >= RANK.index(ceiling) else ceiling


def parse_role(value: str) -> WorkspaceRole:
    """A role from a form or a request body.

    Raises:
        InvalidInput: not one of the four roles.
    """
    try:
        return WorkspaceRole(str(value).strip().lower())
    except ValueError:
        why = f"{str(value)[:40]!r} is not a role: use owner, editor, runner or viewer"
        raise InvalidInput(why, [{"field": "role", "message": why}]) from None


# -- the permission check --------------------------------------------------------------------


def visible(actor: Actor, workspace_id: int | None, what: str) -> WorkspaceRole:
    """The actor's role in ``workspace_id``.

    Raises:
        NotFound: ``what`` (e.g. "workflow 7 not found") when the actor is no member.
    """
    role = actor.roles.get(workspace_id) if workspace_id is not None else None
    if role is None:
        raise NotFound(what)
    return role


def require(actor: Actor, workspace_id: int | None, can: Can, what: str) -> None:
    """Check that the actor may ``can`` in ``workspace_id``; ``what`` names the action for
    the message ("save workflows").

    Raises:
        NotFound: the actor is no member of the workspace.
        Forbidden: the actor's role does not allow it.
    """
    role = visible(actor, workspace_id, "not found")
    if can not in ALLOWED[role]:
        raise Forbidden(
            f"your role in this workspace is {role.value}: only {_LOWEST[can].value}s "
            f"and above can {what}"
        )


def require_here(actor: Actor, can: Can, what: str) -> None:
    """:func:`require` in the workspace the actor acts in (creating, listing)."""
    require(actor, actor.workspace_id, can, what)


def not_disabled(workspace_column: Any) -> Any:
    """A SQL condition: the workspace in ``workspace_column`` is not the personal one of a
    disabled account. Webhooks and schedules start runs without anyone signing in; a
    disabled account's own workflows stop with it (a shared workspace's go on: the
    workspace owns them, not the member who made them)."""
    return ~(
        select(Workspace.id)
        .join(User, User.id == Workspace.personal_of)
        .where(Workspace.id == workspace_column, User.disabled.is_(True))
        .exists()
    )


# -- memberships -----------------------------------------------------------------------------


def memberships_of(conn: Connection, user_id: int) -> Memberships:
    """The account's roles and its personal workspace: one statement, for every sign-in
    check (the token cache keeps the answer until a membership changes)."""
    rows = conn.execute(
        select(Membership.workspace_id, Membership.role, Workspace.personal_of)
        .join(Workspace, Workspace.id == Membership.workspace_id)
        .where(Membership.user_id == user_id)
    ).all()
    personal = next((row.workspace_id for row in rows if row.personal_of == user_id), None)
    if personal is None:
        raise NotFound(f"account {user_id} has no personal workspace")
    return Memberships(
        roles={row.workspace_id: WorkspaceRole(row.role) for row in rows}, personal_id=personal
    )


def create_personal(session: Session, user_id: int) -> int:
    """Make a new account's personal workspace, which it owns; its id."""
    workspace = Workspace(name=PERSONAL_NAME, personal_of=user_id)
    session.add(workspace)
    session.flush()
    session.add(Membership(workspace_id=workspace.id, user_id=user_id, role=WorkspaceRole.OWNER))
    session.flush()
    return workspace.id


def act_in(actor: Actor, workspace_id: int) -> Actor:
    """``actor`` acting in ``workspace_id`` (lists read it, new objects go there).

    Raises:
        NotFound: the actor is no member of it.
    """
    visible(actor, workspace_id, f"workspace {workspace_id} not found")
    if actor.workspace_id == workspace_id:
        return actor
    return actor.model_copy(update={"workspace_id": workspace_id})


# -- workspaces ------------------------------------------------------------------------------


def checked_name(name: str | None) -> str:
    """A workspace name, trimmed.

    Raises:
        InvalidInput: empty or longer than :data:`MAX_NAME_LENGTH`.
    """
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        why = f"give the workspace a name of 1 to {MAX_NAME_LENGTH} characters"
        raise InvalidInput(why, [{"field": "name", "message": why}])
    return name


def list_workspaces(actor: Actor) -> list[WorkspaceView]:
    """The actor's workspaces, the personal one first, then by name."""
    with session_scope() as session:
        rows = session.execute(
            select(Workspace).where(Workspace.id.in_(list(actor.roles)))
        ).scalars()
        views = [
            WorkspaceView(
                id=row.id,
                name=row.name,
                personal=row.personal_of is not None,
                role=actor.roles[row.id],
                created_at=row.created_at,
            )
            for row in rows
        ]
    return sorted(views, key=lambda view: (not view.personal, view.name.lower(), view.id))


def get_workspace(actor: Actor, workspace_id: int) -> WorkspaceView:
    """One of the actor's workspaces.

    Raises:
        NotFound: the actor is no member of it.
    """
    for view in list_workspaces(actor):
        if view.id == workspace_id:
            return view
    raise NotFound(f"workspace {workspace_id} not found")


def create_workspace(actor: Actor, name: str) -> WorkspaceView:
    """A new shared workspace, owned by the actor.

    Raises:
        InvalidInput: an empty or long name.
    """
    name = checked_name(name)
    with session_scope() as session:
        workspace = Workspace(name=name)
        session.add(workspace)
        session.flush()
        session.add(
            Membership(workspace_id=workspace.id, user_id=actor.id, role=WorkspaceRole.OWNER)
        )
        audit.record(
            AuditAction.WORKSPACE_CREATED,
            actor=actor,
            target_type="workspace",
            target_id=workspace.id,
            workspace_id=workspace.id,
            detail={"name": name},
            session=session,
        )
        view = WorkspaceView(
            id=workspace.id,
            name=workspace.name,
            personal=False,
            role=WorkspaceRole.OWNER,
            created_at=workspace.created_at,
        )
    token_cache.invalidate()
    return view
