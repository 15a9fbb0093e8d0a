"""Every ``/api`` route × every kind of caller, generated from the app's own route table.

The objects in the paths (workflow, credential, execution waiting on an approval, file,
API key, the workspace itself, its members and invitations) live in a SHARED workspace,
made by its owner for each test, with an editor, a runner and a viewer in it. Callers:

- its four members with a token (``X-Workspace`` naming the shared workspace) and an API
  key of each role (made by the member of that role, in the shared workspace);
- three outsiders acting in their own workspace: a signed-in non-member, the owner of
  another shared workspace, and an instance admin (a member of nothing here);
- a disabled member (token and API key) and five broken credentials (none, malformed,
  bad signature, expired, ``alg: none``), which always get 401.

Each route has one line in :data:`MATRIX`: its success code and the least action
(:class:`~agentflow_app.services.workspaces.Can`) it needs, from which every caller's
answer is derived: a member whose role allows it succeeds, a member below it gets 403, an
outsider gets 404 for an object of the shared workspace (and succeeds in its own workspace
on lists and creations). A route that is neither in :data:`MATRIX` nor in :data:`PUBLIC`
fails here, so a new route cannot ship without saying who may call it (and, for a new kind
of object in a path, one factory in ``PATH_OBJECTS``).

No leak: the shared workspace's objects carry a marker that must not appear in any answer
to a caller who may not read them, a credential's value appears in no answer to anyone,
and every object in the path of a refused call is snapshotted (as the owner sees it)
before and after it. The module ends by printing how many combinations it checked and
how many leaked (zero, or a test failed).
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from agentflow_app.auth import tokens
from agentflow_app.db import session_scope
from agentflow_app.errors import Forbidden, NotFound
from agentflow_app.models import InstanceSetting, WorkspaceRole
from agentflow_app.routes import WORKSPACE_HEADER
from agentflow_app.services import (
    admin,
    api_keys,
    approvals,
    credentials,
    executions,
    files,
    members,
    users,
    workflows,
    workspaces,
)
from agentflow_app.services.executions.rows import RunOwner
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import ALLOWED, Can
from tests.helpers.documents import manual_document
from tests.helpers.stack import Stack
from tests.helpers.tally import Tally
from tests.helpers.users import PASSWORD, Account, new_account

#: Routes anyone may call; they are checked not to answer 401 without a token.
PUBLIC: set[tuple[str, str]] = {
    ("GET", "/api/health"),
    ("GET", "/api/openapi.json"),
    ("GET", "/api/docs"),
    ("POST", "/api/auth/register"),
    ("POST", "/api/auth/token"),
    # The signed, single-use reset link an admin made is its own permission.
    ("POST", "/api/auth/reset-password"),
    ("POST", "/api/hooks/{hook_token}"),
    # A signed approval link is its own permission (services/approvals.py).
    ("GET", "/api/approvals/{token}"),
    ("POST", "/api/approvals/{token}"),
}

# -- callers ---------------------------------------------------------------------------------

#: The shared workspace's members, by role; "<role>'s API key" is a key of that role.
ROLES = {
    "owner": WorkspaceRole.OWNER,
    "editor": WorkspaceRole.EDITOR,
    "runner": WorkspaceRole.RUNNER,
    "viewer": WorkspaceRole.VIEWER,
}
KEYS = {f"{member}'s API key": role for member, role in ROLES.items()}
#: Who reads the shared workspace's objects, and with which role.
ROLE_OF: dict[str, WorkspaceRole] = {**ROLES, **KEYS}
#: Signed in, member of nothing shared here: they act in a workspace of their own.
OUTSIDERS = ["non-member", "other workspace's owner", "admin"]
DISABLED = ["disabled member", "disabled member's API key"]


class Scope(StrEnum):
    """What a route acts on, which decides what the callers who may not act get."""

    #: An object of the shared workspace named in the path: outsiders get 404.
    OBJECT = "object"
    #: The workspace the caller acts in (lists, creations): outsiders act in their own.
    HERE = "here"
    #: The caller's own account (profile, password, keys, workspaces): anyone signed in.
    ACCOUNT = "account"
    #: The instance console: an admin only (403 for everyone else).
    CONSOLE = "console"
    #: The shared workspace owner's own thing (an API key, an invitation for their email).
    OWNERS = "owners"


@dataclass(frozen=True)
class Expect:
    """The success code of a route and who gets it; every other answer is derived."""

    ok: int
    scope: Scope
    #: The least action the route needs in the workspace (None: no role needed).
    can: Can | None = None
    #: The JSON body to send, made from the test's world (None: no body).
    body: Callable[[World], Any] | None = None
    #: Multipart files to send instead of a JSON body (``httpx``'s ``files``).
    files: dict[str, Any] | None = None
    #: What a member whose role is too low gets (403: a member knows the object exists).
    below: int = 403
    #: What anyone but the owner gets on a :data:`Scope.OWNERS` route.
    others: int = 404
    #: Answers that differ from the derived ones, by caller.
    odd: Mapping[str, int] = field(default_factory=dict)
    #: Who may see the shared workspace's data in the answer, when not its members.
    readers: frozenset[str] | None = None

    def wanted(self, caller: str) -> int:
        if caller in DISABLED or caller in BROKEN:
            return 401
        if caller in self.odd:
            return self.odd[caller]
        role = ROLE_OF.get(caller)
        if self.scope == Scope.ACCOUNT:
            return self.ok
        if self.scope == Scope.CONSOLE:
            return self.ok if caller == "admin" else 403
        if self.scope == Scope.OWNERS:
            return self.ok if role == WorkspaceRole.OWNER else self.others
        if role is None:  # an outsider, owner of the workspace it acts in
            return self.ok if self.scope == Scope.HERE else 404
        return self.ok if self.can is None or self.can in ALLOWED[role] else self.below


def on(can: Can, ok: int, body: Callable[[World], Any] | None = None, **more: Any) -> Expect:
    """A route on an object of the shared workspace, needing ``can`` there."""
    return Expect(ok, Scope.OBJECT, can, body, **more)


def here(can: Can, ok: int, body: Callable[[World], Any] | None = None, **more: Any) -> Expect:
    """A list or a creation in the workspace the caller acts in, needing ``can`` there."""
    return Expect(ok, Scope.HERE, can, body, **more)


def account(ok: int, body: Callable[[World], Any] | None = None, **more: Any) -> Expect:
    """A route on the caller's own account: anyone signed in."""
    return Expect(ok, Scope.ACCOUNT, None, body, **more)


def console(ok: int, body: Callable[[World], Any] | None = None) -> Expect:
    """An instance console route: every signed-in user but an admin is refused (403)."""
    return Expect(ok, Scope.CONSOLE, None, body)


def _document(_world: World) -> dict:
    return manual_document("Matrix workflow")


#: A credential's value: write-only, it must appear in no answer to anyone.
SECRET = "matrix-token-value"
_TOKEN = {"scheme": "bearer", "token": SECRET}


def _credential(name: str) -> dict:
    return {"name": name, "kind": "http", "data": _TOKEN}


#: Keys of a role below owner: they own no workspace, so they read no audit log.
_NOT_OWNER_KEYS = {key: 403 for key, role in KEYS.items() if role != WorkspaceRole.OWNER}
_AUDIT_READERS = frozenset({"owner", "owner's API key", "admin"})


# One line per authenticated route: (method, path as FastAPI formats it) -> Expect.
MATRIX: dict[tuple[str, str], Expect] = {
    # A key signs no session out.
    ("POST", "/api/auth/logout"): account(204, odd=dict.fromkeys(KEYS, 422)),
    ("GET", "/api/users/me"): account(200),
    ("POST", "/api/users/me/password"): account(
        200, lambda w: {"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/workflows"): here(Can.READ, 200),
    ("POST", "/api/workflows"): here(Can.EDIT, 201, _document),
    ("GET", "/api/workflows/{workflow_id}"): on(Can.READ, 200),
    ("PUT", "/api/workflows/{workflow_id}"): on(Can.EDIT, 200, _document),
    ("DELETE", "/api/workflows/{workflow_id}"): on(Can.EDIT, 204),
    ("GET", "/api/workflows/{workflow_id}/versions"): on(Can.READ, 200),
    ("GET", "/api/workflows/{workflow_id}/versions/{version}"): on(Can.READ, 200),
    ("POST", "/api/workflows/{workflow_id}/versions/{version}/restore"): on(Can.EDIT, 200),
    # Any member makes keys, of their own role at most, in the workspace they act in.
    ("GET", "/api/api-keys"): account(200),
    ("POST", "/api/api-keys"): account(201, lambda w: {"name": "matrix"}),
    # Keys are their creator's: the owner's, even in a shared workspace, is theirs alone.
    ("DELETE", "/api/api-keys/{key_id}"): Expect(204, Scope.OWNERS),
    ("GET", "/api/credentials"): here(Can.READ, 200),
    ("POST", "/api/credentials"): here(Can.EDIT, 201, lambda w: _credential(secrets.token_hex(4))),
    ("GET", "/api/credentials/{credential_id}"): on(Can.READ, 200),
    ("PUT", "/api/credentials/{credential_id}"): on(Can.EDIT, 200, lambda w: {"data": _TOKEN}),
    ("DELETE", "/api/credentials/{credential_id}"): on(Can.EDIT, 204),
    # An http credential's test makes no outside call, so the allowed cases stay local.
    ("POST", "/api/credentials/{credential_id}/test"): on(Can.EDIT, 200),
    ("POST", "/api/workflows/{workflow_id}/execute"): on(Can.RUN, 202, lambda w: {"inputs": {}}),
    ("GET", "/api/workflows/{workflow_id}/executions"): on(Can.READ, 200),
    ("GET", "/api/workflows/executions/{execution_id}"): on(Can.READ, 200),
    # The world's execution is already cancelled, so its event stream ends at once.
    ("GET", "/api/workflows/executions/{execution_id}/events"): on(Can.READ, 200),
    ("POST", "/api/workflows/executions/{execution_id}/cancel"): on(Can.RUN, 409),
    ("POST", "/api/workflows/executions/{execution_id}/retry"): on(Can.RUN, 202),
    ("POST", "/api/workflows/executions/{execution_id}/rerun"): on(Can.RUN, 202),
    # No worker runs here: the run outlives its short timeout and answers 202 with its id.
    ("POST", "/api/workflows/{workflow_id}/run"): on(
        Can.RUN, 202, lambda w: {"inputs": {}, "timeout_s": 0.2}
    ),
    ("GET", "/api/approvals"): account(200),
    # Whoever may not decide is told there is no approval for them (services/approvals.py).
    ("POST", "/api/workflows/executions/{execution_id}/approve"): on(
        Can.RUN, 202, lambda w: {"node_id": "ask", "approved": True}, below=404
    ),
    ("POST", "/api/files"): here(Can.RUN, 201, files={"file": ("a.txt", b"matrix", "text/plain")}),
    ("GET", "/api/files/{file_id}"): on(Can.READ, 200),
    ("GET", "/api/admin/users"): console(200),
    ("PATCH", "/api/admin/users/{user_id}"): console(200, lambda w: {"disabled": True}),
    ("DELETE", "/api/admin/users/{user_id}"): console(204),
    ("POST", "/api/admin/users/{user_id}/reset-link"): console(200),
    ("POST", "/api/admin/invites"): console(
        201, lambda w: {"email": f"invited-{secrets.token_hex(4)}@example.com"}
    ),
    ("GET", "/api/admin/signup"): console(200),
    ("PUT", "/api/admin/signup"): console(200, lambda w: {"mode": "open"}),
    ("GET", "/api/admin/health"): console(200),
    # Everyone owns a workspace (the personal one) and reads its rows; a key only when it
    # is an owner's key (it belongs to its workspace alone). The shared workspace's rows
    # reach its owners and the admin, not its other members.
    ("GET", "/api/audit"): account(200, odd=_NOT_OWNER_KEYS, readers=_AUDIT_READERS),
    ("GET", "/api/audit/export"): account(200, odd=_NOT_OWNER_KEYS, readers=_AUDIT_READERS),
    ("GET", "/api/workspaces"): account(200),
    ("POST", "/api/workspaces"): account(201, lambda w: {"name": "Matrix team"}),
    ("GET", "/api/workspaces/{workspace_id}"): on(Can.READ, 200),
    ("PATCH", "/api/workspaces/{workspace_id}"): on(
        Can.MANAGE, 200, lambda w: {"name": f"Renamed {w.marker}"}
    ),
    ("DELETE", "/api/workspaces/{workspace_id}"): on(Can.MANAGE, 204),
    ("GET", "/api/workspaces/{workspace_id}/members"): on(Can.READ, 200),
    ("PATCH", "/api/workspaces/{workspace_id}/members/{user_id}"): on(
        Can.MANAGE, 200, lambda w: {"role": "editor"}
    ),
    ("DELETE", "/api/workspaces/{workspace_id}/members/{user_id}"): on(Can.MANAGE, 204),
    ("GET", "/api/workspaces/{workspace_id}/invitations"): on(Can.MANAGE, 200),
    ("POST", "/api/workspaces/{workspace_id}/invitations"): on(
        Can.MANAGE,
        201,
        lambda w: {"email": f"invited-{secrets.token_hex(4)}@example.com", "role": "viewer"},
    ),
    ("DELETE", "/api/workspaces/{workspace_id}/invitations/{invitation_id}"): on(Can.MANAGE, 204),
    # The invitation is for the owner's email: anyone else is told it is not theirs.
    ("POST", "/api/invitations/{token}/accept"): Expect(200, Scope.OWNERS, others=403),
}


@dataclass
class World:
    """One test's shared workspace and its objects, each named with ``marker``."""

    accounts: Accounts
    #: The owner acting in the shared workspace (the snapshots' point of view).
    owner: Actor
    #: A member (viewer) the admin and member routes act on (a fresh one per test: they
    #: may delete it).
    victim: Account
    marker: str
    workspace_id: int
    workflow_id: int
    key_id: int
    credential_id: int
    execution_id: int
    approval_id: int
    file_id: int
    #: A pending invitation to the shared workspace.
    invitation_id: int
    #: A shared workspace of the victim's, and the token of its invitation for the owner.
    hosted_workspace_id: int
    invitation_token: str
    #: The API keys of :data:`KEYS` and of the disabled member, by caller.
    keys: dict[str, str]

    def headers(self, caller: str) -> dict[str, str]:
        """What ``caller`` sends: a member's token names the shared workspace, an
        outsider's names its own (or none: its personal one), a key needs none."""
        if caller in self.keys:
            return _bearer(self.keys[caller])
        if caller in BROKEN:
            return BROKEN[caller](self)
        found = self.accounts
        if caller in ROLES or caller == "disabled member":
            account = found.members[caller] if caller in ROLES else found.disabled
            return {**account.headers(), WORKSPACE_HEADER: str(self.workspace_id)}
        if caller == "other workspace's owner":
            return {**found.rival.headers(), WORKSPACE_HEADER: str(found.rival_workspace_id)}
        return (found.outsider if caller == "non-member" else found.admin).headers()


@dataclass(frozen=True)
class PathObject:
    #: The value to put in the path (an object of the shared workspace).
    value: Callable[[World], str]
    #: The object as its owner sees it, to prove a refused caller changed nothing.
    snapshot: Callable[[World], Any]


PATH_OBJECTS: dict[str, PathObject] = {
    "workflow_id": PathObject(
        value=lambda w: str(w.workflow_id),
        snapshot=lambda w: (
            workflows.get(w.owner, w.workflow_id).model_dump(),
            workflows.versions(w.owner, w.workflow_id),
        ),
    ),
    "version": PathObject(value=lambda w: "1", snapshot=lambda w: None),
    "credential_id": PathObject(
        value=lambda w: str(w.credential_id),
        snapshot=lambda w: credentials.get_credential(w.owner, w.credential_id),
    ),
    "execution_id": PathObject(
        value=lambda w: str(w.execution_id),
        snapshot=lambda w: (
            executions.get(w.owner, w.execution_id),
            approvals.decision_of(w.approval_id),
        ),
    ),
    "file_id": PathObject(
        value=lambda w: str(w.file_id),
        snapshot=lambda w: files.describe(w.owner, w.file_id),
    ),
    "user_id": PathObject(
        value=lambda w: str(w.victim.actor.id),
        snapshot=lambda w: (
            admin.get_user(w.accounts.admin.actor, w.victim.actor.id),
            members.list_members(w.owner, w.workspace_id),
        ),
    ),
    "key_id": PathObject(
        value=lambda w: str(w.key_id),
        snapshot=lambda w: api_keys.list_keys(w.owner),
    ),
    "workspace_id": PathObject(
        value=lambda w: str(w.workspace_id),
        snapshot=lambda w: _workspace_snapshot(w.owner, w.workspace_id),
    ),
    "invitation_id": PathObject(value=lambda w: str(w.invitation_id), snapshot=lambda w: None),
    "token": PathObject(
        value=lambda w: w.invitation_token,
        snapshot=lambda w: (
            _workspace_snapshot(users.get_profile(w.victim.actor), w.hosted_workspace_id),
            workspaces.list_workspaces(users.get_profile(w.owner)),
        ),
    ),
}


def _workspace_snapshot(actor: Actor, workspace_id: int) -> tuple[Any, ...]:
    """A workspace, its members and pending invitations as ``actor`` (an owner) sees them."""
    return (
        workspaces.get_workspace(actor, workspace_id),
        members.list_members(actor, workspace_id),
        members.list_invitations(actor, workspace_id),
    )


def _app_routes() -> list[tuple[str, str]]:
    found = set()
    for route in iter_route_contexts(create_api().routes):
        path = getattr(route, "path_format", "")
        if not path.startswith("/api/"):
            continue
        for method in route.methods or ():
            if method != "HEAD":
                found.add((method, path))
    return sorted(found)


APP_ROUTES = _app_routes()
PROTECTED = [route for route in APP_ROUTES if route not in PUBLIC]

# -- broken credentials ----------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(world: World) -> dict:
    now = datetime.now(UTC)
    return {
        "sub": str(world.owner.id),
        "tv": 0,
        "jti": secrets.token_hex(8),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(hours=1)).timestamp()),
    }


BROKEN: dict[str, Callable[[World], dict[str, str]]] = {
    "no token": lambda w: {},
    "malformed token": lambda w: {"Authorization": "Bearer not.a-jwt"},
    "bad signature": lambda w: {
        "Authorization": "Bearer "
        + jwt.encode(_claims(w), "not the server's key " * 3, algorithm="HS256")
    },
    "expired token": lambda w: {
        "Authorization": "Bearer " + tokens.issue(w.owner.id, 0, ttl_s=-60).access_token
    },
    "alg none": lambda w: {
        "Authorization": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(w))}."
    },
}
#: Callers with a live session, one test each; the dead ones share one test per route.
LIVE = [*ROLES, *KEYS, *OUTSIDERS]
DEAD = [*DISABLED, *BROKEN]

# -- fixtures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    """The module's accounts; each test's shared workspace takes them in."""

    #: The shared workspace's members by role (the owner creates it).
    members: dict[str, Account]
    outsider: Account
    #: The owner of another shared workspace, acting there.
    rival: Account
    rival_workspace_id: int
    admin: Account
    #: Disabled after it was made; each test's workspace still counts it as an editor.
    disabled: Account


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> Accounts:
    # The admin first: on a fresh database the first account is an admin whatever it asks.
    made = users.create_user(
        f"matrix-admin-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True
    )
    root = Account(made, made.email, PASSWORD)
    rival = new_account("matrix-rival")
    rival_workspace = workspaces.create_workspace(rival.actor, "Rival team")
    disabled = new_account("matrix-disabled")
    admin.set_disabled(root.actor, disabled.actor.id, True)
    return Accounts(
        {member: new_account(f"matrix-{member}") for member in ROLES},
        new_account("matrix-outsider"),
        rival,
        rival_workspace.id,
        root,
        disabled,
    )


@pytest.fixture
def signup_mode_unset(stack: Stack) -> Iterator[None]:
    """PUT /api/admin/signup stores a mode that beats the environment: forget it after,
    so the session's other tests see the signup their environment sets."""
    yield
    with session_scope() as session:
        if row := session.get(InstanceSetting, users.SIGNUP_MODE_KEY):
            session.delete(row)


def _join(owner: Actor, workspace_id: int, account: Account, role: WorkspaceRole) -> Actor:
    """``account`` invited with ``role`` and joined; it acting in the workspace."""
    invitation = members.invite(owner, workspace_id, account.email, role)
    members.accept_invitation(account.actor, _token(invitation.url))
    return workspaces.act_in(users.get_profile(account.actor), workspace_id)


@pytest.fixture
def world(accounts: Accounts) -> Iterator[World]:
    owner_account = accounts.members["owner"]
    marker = f"shared-only-{secrets.token_hex(6)}"
    shared = workspaces.create_workspace(owner_account.actor, f"Workspace {marker}")
    owner = workspaces.act_in(users.get_profile(owner_account.actor), shared.id)
    keys = {"owner's API key": api_keys.create_key(owner, f"Key {marker}")}
    for member, account in accounts.members.items():
        if member != "owner":
            joined = _join(owner, shared.id, account, ROLES[member])
            keys[f"{member}'s API key"] = api_keys.create_key(joined, f"{member} {marker}")
    disabled = _join(owner, shared.id, accounts.disabled, WorkspaceRole.EDITOR)
    keys["disabled member's API key"] = api_keys.create_key(disabled, "made before disabling")
    victim = new_account("matrix-victim")
    _join(owner, shared.id, victim, WorkspaceRole.VIEWER)
    pending = members.invite(owner, shared.id, f"pending-{marker}@example.com", "runner")
    hosted = workspaces.create_workspace(victim.actor, f"Hosted {marker}")
    for_owner = members.invite(
        users.get_profile(victim.actor), hosted.id, owner_account.email, "editor"
    )

    workflow = workflows.create(owner, manual_document(f"Workflow {marker}"))
    credential = credentials.create_credential(owner, **_credential(f"Cred {marker}"))
    # Queued with no worker, then cancelled: a finished run whose event stream ends; and
    # an approval of it still waiting (the world's run's one decision).
    execution_id = executions.start(owner, workflow.id, {})
    executions.cancel(owner, execution_id)
    approval_id, _ = approvals.open_approval(
        execution_id,
        "ask",
        owner=RunOwner(owner.id, shared.id),
        message=f"Approve {marker}?",
        approvers=[],
        expires_at=None,
    )
    stored = files.store_file(
        shared.id, f"{marker}.txt", "text/plain", [marker.encode()], owner_id=owner.id
    )
    yield World(
        accounts,
        owner,
        victim,
        marker,
        shared.id,
        workflow.id,
        keys["owner's API key"].id,
        credential.id,
        execution_id,
        approval_id,
        stored.id,
        pending.id,
        hosted.id,
        _token(for_owner.url),
        {caller: made.key for caller, made in keys.items()},
    )
    # The members' workspace lists stay short for the next tests.
    with contextlib.suppress(NotFound):
        members.delete_workspace(owner, shared.id)


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.fixture
def client(stack: Stack) -> Iterator[TestClient]:
    with TestClient(create_api()) as made:
        yield made


def _path(path: str, world: World) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in PATH_OBJECTS:
            pytest.fail(f"no PATH_OBJECTS factory for {{{name}}} in {path}: add one")
        return PATH_OBJECTS[name].value(world)

    return re.sub(r"\{(\w+)\}", fill, path)


def _snapshots(path: str, world: World) -> dict[str, Any]:
    return {name: PATH_OBJECTS[name].snapshot(world) for name in re.findall(r"\{(\w+)\}", path)}


# -- the tally -------------------------------------------------------------------------------

#: Combinations checked, refused, and leaks found, over the module (both databases).
TALLY = Tally()


@pytest.fixture(scope="module", autouse=True)
def _report_the_tally(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    TALLY.report(request.config, "authorization matrix (route x caller)")


def _call(client: TestClient, world: World, route: tuple[str, str], caller: str) -> list[str]:
    """Make ``caller``'s request; what went wrong (a wrong status first, then leaks)."""
    method, template = route
    expect = MATRIX.get(route)
    if expect is None:
        pytest.fail(f"no MATRIX entry for {method} {template}: add one line to MATRIX")
    wanted = expect.wanted(caller)
    refused = wanted != expect.ok
    before = _snapshots(template, world) if refused else None
    answer = client.request(
        method,
        _path(template, world),
        headers=world.headers(caller),
        json=expect.body(world) if expect.body else None,
        files=expect.files,
    )
    problems = []
    if answer.status_code != wanted:
        problems.append(f"{caller}: {answer.status_code} (wanted {wanted}) {answer.text[:300]}")
    if wanted == 401 and not answer.headers.get("WWW-Authenticate", "").startswith("Bearer"):
        problems.append(f"{caller}: a 401 without WWW-Authenticate: Bearer")
    # Members read the workspace's objects; an admin reads the whole audit log.
    if expect.readers is not None:
        reader = caller in expect.readers
    else:
        reader = caller in ROLE_OF or (caller == "admin" and expect.scope == Scope.CONSOLE)
    leaks = []
    if not reader and world.marker in answer.text:
        leaks.append(f"{caller}: the answer shows the shared workspace's data")
    if SECRET in answer.text:
        leaks.append(f"{caller}: the answer shows a credential's value")
    if refused and _snapshots(template, world) != before:
        leaks.append(f"{caller}: a refused call changed an object")
    TALLY.count(refused=refused, leaks=len(leaks))
    return problems + leaks


# -- tests -----------------------------------------------------------------------------------


def test_the_matrix_covers_exactly_the_apps_routes() -> None:
    missing = sorted(set(PROTECTED) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(PROTECTED))
    assert not missing, f"routes without a MATRIX entry (add one line each): {missing}"
    assert not stale, f"MATRIX entries for routes the app no longer has: {stale}"
    assert ("GET", "/api/workflows/{workflow_id}") in PROTECTED  # the table is really read


def test_each_role_may_less_than_the_one_above() -> None:
    """The derivation really tells the roles apart (a table of 200s would prove nothing)."""
    allowed = [
        {route for route, expect in MATRIX.items() if expect.wanted(member) == expect.ok}
        for member in ROLES
    ]
    for higher, lower in itertools.pairwise(allowed):
        assert lower < higher


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.usefixtures("signup_mode_unset")
@pytest.mark.parametrize("caller", LIVE)
@pytest.mark.parametrize("route", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_route_answers_each_caller(
    client: TestClient, world: World, route: tuple[str, str], caller: str
) -> None:
    problems = _call(client, world, route, caller)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_route_refuses_dead_sessions(
    client: TestClient, world: World, route: tuple[str, str]
) -> None:
    """A disabled member (token and key) and every broken credential: 401, nothing shown,
    nothing changed."""
    problems = [problem for caller in DEAD for problem in _call(client, world, route, caller)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("route", sorted(PUBLIC & set(APP_ROUTES)), ids=str)
def test_public_routes_need_no_token(client: TestClient, route: tuple[str, str]) -> None:
    method, template = route
    path = re.sub(r"\{\w+\}", "unknown", template)
    assert client.request(method, path).status_code != 401


def test_a_key_acts_in_its_own_workspace_only(client: TestClient, world: World) -> None:
    """``X-Workspace`` cannot take a key out of its workspace, even into one its creator
    owns (their personal one): 404, as for a workspace they are no member of."""
    for member, account in world.accounts.members.items():
        key = world.headers(f"{member}'s API key")
        personal = users.get_profile(account.actor).workspace_id
        assert personal != world.workspace_id
        moved = client.get("/api/workflows", headers={**key, WORKSPACE_HEADER: str(personal)})
        assert moved.status_code == 404, f"{member}'s key: {moved.status_code} {moved.text}"
        home = client.get(
            "/api/workflows", headers={**key, WORKSPACE_HEADER: str(world.workspace_id)}
        )
        assert home.status_code == 200 and world.marker in home.text


def test_a_key_is_never_above_its_creator(client: TestClient, world: World) -> None:
    """A key's role is chosen at most at its creator's, follows the creator down at once,
    and stops with the creator's membership."""
    shared = str(world.workspace_id)
    save = f"/api/workflows/{world.workflow_id}"

    def saves(key: str) -> int:
        return client.put(save, headers=_bearer(key), json=_document(world)).status_code

    viewer = workspaces.act_in(
        users.get_profile(world.accounts.members["viewer"].actor), world.workspace_id
    )
    with pytest.raises(Forbidden):
        api_keys.create_key(viewer, "above me", WorkspaceRole.EDITOR)
    lowered = api_keys.create_key(world.owner, "read only", WorkspaceRole.VIEWER).key
    assert saves(lowered) == 403

    editor = world.accounts.members["editor"]
    assert saves(world.keys["editor's API key"]) == 200
    members.change_role(world.owner, world.workspace_id, editor.actor.id, "viewer")
    assert saves(world.keys["editor's API key"]) == 403
    assert client.get(save, headers=_bearer(world.keys["editor's API key"])).status_code == 200

    runner = world.accounts.members["runner"]
    members.remove_member(world.owner, world.workspace_id, runner.actor.id)
    gone = client.get("/api/workflows", headers=_bearer(world.keys["runner's API key"]))
    assert gone.status_code == 401 and world.marker not in gone.text
    member_gone = client.get(
        "/api/workflows", headers={**runner.headers(), WORKSPACE_HEADER: shared}
    )
    assert member_gone.status_code == 404
