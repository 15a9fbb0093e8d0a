"""Every ``/api`` route × every kind of caller, generated from the app's own route table.

Callers: the owner of the objects in the path (with a token, and with an API key), another
signed-in user, an instance admin, a disabled user (token and API key), and five broken
credentials (none, malformed, bad signature, expired, ``alg: none``). A route that is
neither in :data:`MATRIX` nor in :data:`PUBLIC` fails here, so a new route cannot ship
without saying who may call it: add one line to ``MATRIX`` (and, for a new kind of object
in a path, one factory to ``PATH_OBJECTS``).

Another user must get the owner's data nowhere: the owner's objects carry a marker that
must not appear in any answer to the other user, and each object in the path is
snapshotted (as its owner sees it) before and after the other user's request.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from agentflow_app.auth import tokens
from agentflow_app.db import session_scope
from agentflow_app.models import InstanceSetting
from agentflow_app.services import (
    admin,
    api_keys,
    credentials,
    executions,
    files,
    members,
    users,
    workflows,
    workspaces,
)
from tests.helpers.documents import manual_document
from tests.helpers.stack import Stack
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


@dataclass(frozen=True)
class Expect:
    """What each caller gets; broken credentials and disabled users always get 401."""

    owner: int
    other: int
    #: The JSON body to send, made from the test's world (None: no body).
    body: Callable[[World], Any] | None = None
    #: Multipart files to send instead of a JSON body (``httpx``'s ``files``).
    files: dict[str, Any] | None = None
    #: An instance admin (None: as another user: an admin reads nobody's objects).
    admin: int | None = None
    #: The owner's API key (None: as the owner's token).
    key: int | None = None

    def wanted(self, caller: str) -> int:
        if caller == "admin":
            return self.other if self.admin is None else self.admin
        if caller == "owner's API key":
            return self.owner if self.key is None else self.key
        return self.owner if caller == "owner" else self.other


def _admin_only(answer: int, body: Callable[[World], Any] | None = None) -> Expect:
    """A console route: every signed-in user but an admin is refused (403)."""
    return Expect(403, 403, body, admin=answer, key=403)


def _document(_world: World) -> dict:
    return manual_document("Matrix workflow")


_TOKEN = {"scheme": "bearer", "token": "matrix-token-value"}


def _credential(name: str) -> dict:
    return {"name": name, "kind": "http", "data": _TOKEN}


# One line per authenticated route: (method, path as FastAPI formats it) -> Expect.
MATRIX: dict[tuple[str, str], Expect] = {
    ("POST", "/api/auth/logout"): Expect(204, 204, key=422),
    ("GET", "/api/users/me"): Expect(200, 200),
    ("POST", "/api/users/me/password"): Expect(
        200, 200, lambda w: {"current_password": PASSWORD, "new_password": PASSWORD}
    ),
    ("GET", "/api/workflows"): Expect(200, 200),
    ("POST", "/api/workflows"): Expect(201, 201, _document),
    ("GET", "/api/workflows/{workflow_id}"): Expect(200, 404),
    ("PUT", "/api/workflows/{workflow_id}"): Expect(200, 404, _document),
    ("DELETE", "/api/workflows/{workflow_id}"): Expect(204, 404),
    ("GET", "/api/workflows/{workflow_id}/versions"): Expect(200, 404),
    ("GET", "/api/workflows/{workflow_id}/versions/{version}"): Expect(200, 404),
    ("POST", "/api/workflows/{workflow_id}/versions/{version}/restore"): Expect(200, 404),
    ("GET", "/api/api-keys"): Expect(200, 200),
    ("POST", "/api/api-keys"): Expect(201, 201, lambda w: {"name": "matrix"}),
    ("DELETE", "/api/api-keys/{key_id}"): Expect(204, 404),
    ("GET", "/api/credentials"): Expect(200, 200),
    ("POST", "/api/credentials"): Expect(201, 201, lambda w: _credential(secrets.token_hex(4))),
    ("GET", "/api/credentials/{credential_id}"): Expect(200, 404),
    ("PUT", "/api/credentials/{credential_id}"): Expect(200, 404, lambda w: {"data": _TOKEN}),
    ("DELETE", "/api/credentials/{credential_id}"): Expect(204, 404),
    # An http credential's test makes no outside call, so the owner's case stays local.
    ("POST", "/api/credentials/{credential_id}/test"): Expect(200, 404),
    ("POST", "/api/workflows/{workflow_id}/execute"): Expect(202, 404, lambda w: {"inputs": {}}),
    ("GET", "/api/workflows/{workflow_id}/executions"): Expect(200, 404),
    ("GET", "/api/workflows/executions/{execution_id}"): Expect(200, 404),
    # The world's execution is already cancelled, so its event stream ends at once.
    ("GET", "/api/workflows/executions/{execution_id}/events"): Expect(200, 404),
    ("POST", "/api/workflows/executions/{execution_id}/cancel"): Expect(409, 404),
    ("POST", "/api/workflows/executions/{execution_id}/retry"): Expect(202, 404),
    ("POST", "/api/workflows/executions/{execution_id}/rerun"): Expect(202, 404),
    # No worker runs here: the run outlives its short timeout and answers 202 with its id.
    ("POST", "/api/workflows/{workflow_id}/run"): Expect(
        202, 404, lambda w: {"inputs": {}, "timeout_s": 0.2}
    ),
    ("GET", "/api/approvals"): Expect(200, 200),
    # The world's execution waits on no approval: the owner is told there is none to decide.
    ("POST", "/api/workflows/executions/{execution_id}/approve"): Expect(
        404, 404, lambda w: {"node_id": "ask", "approved": True}
    ),
    ("POST", "/api/files"): Expect(201, 201, files={"file": ("a.txt", b"matrix", "text/plain")}),
    ("GET", "/api/files/{file_id}"): Expect(200, 404),
    ("GET", "/api/admin/users"): _admin_only(200),
    ("PATCH", "/api/admin/users/{user_id}"): _admin_only(200, lambda w: {"disabled": True}),
    ("DELETE", "/api/admin/users/{user_id}"): _admin_only(204),
    ("POST", "/api/admin/users/{user_id}/reset-link"): _admin_only(200),
    ("POST", "/api/admin/invites"): _admin_only(
        201, lambda w: {"email": f"invited-{secrets.token_hex(4)}@example.com"}
    ),
    ("GET", "/api/admin/signup"): _admin_only(200),
    ("PUT", "/api/admin/signup"): _admin_only(200, lambda w: {"mode": "open"}),
    ("GET", "/api/admin/health"): _admin_only(200),
    ("GET", "/api/audit"): _admin_only(200),
    ("GET", "/api/audit/export"): _admin_only(200),
    # The owner's API key acts in the owner's personal workspace only: the shared one is
    # not found through it.
    ("GET", "/api/workspaces"): Expect(200, 200),
    ("POST", "/api/workspaces"): Expect(201, 201, lambda w: {"name": "Matrix team"}),
    ("GET", "/api/workspaces/{workspace_id}"): Expect(200, 404, key=404),
    ("PATCH", "/api/workspaces/{workspace_id}"): Expect(
        200, 404, lambda w: {"name": f"Renamed {w.marker}"}, key=404
    ),
    ("DELETE", "/api/workspaces/{workspace_id}"): Expect(204, 404, key=404),
    ("GET", "/api/workspaces/{workspace_id}/members"): Expect(200, 404, key=404),
    ("PATCH", "/api/workspaces/{workspace_id}/members/{user_id}"): Expect(
        200, 404, lambda w: {"role": "editor"}, key=404
    ),
    ("DELETE", "/api/workspaces/{workspace_id}/members/{user_id}"): Expect(204, 404, key=404),
    ("GET", "/api/workspaces/{workspace_id}/invitations"): Expect(200, 404, key=404),
    ("POST", "/api/workspaces/{workspace_id}/invitations"): Expect(
        201,
        404,
        lambda w: {"email": f"invited-{secrets.token_hex(4)}@example.com", "role": "viewer"},
        key=404,
    ),
    ("DELETE", "/api/workspaces/{workspace_id}/invitations/{invitation_id}"): Expect(
        204, 404, key=404
    ),
    # The invitation is for the owner's email: anyone else is told it is not theirs.
    ("POST", "/api/invitations/{token}/accept"): Expect(200, 403),
}


@dataclass
class World:
    """The accounts of one test and the owner's objects, each named with ``marker``."""

    owner: Account
    other: Account
    admin: Account
    #: A user the admin routes act on (a fresh one per test: they may delete it).
    victim: Account
    marker: str
    workflow_id: int
    key_id: int
    credential_id: int
    execution_id: int
    file_id: int
    #: The owner's API key itself.
    key: str
    #: A shared workspace the owner made (named with ``marker``), with the victim in it
    #: as a viewer and a pending invitation.
    workspace_id: int
    invitation_id: int
    #: A shared workspace of the victim's, and the token of its invitation for the owner.
    hosted_workspace_id: int
    invitation_token: str


@dataclass(frozen=True)
class PathObject:
    #: The value to put in the path (an object of the owner's).
    value: Callable[[World], str]
    #: The object as its owner sees it, to prove another user changed nothing.
    snapshot: Callable[[World], Any]


PATH_OBJECTS: dict[str, PathObject] = {
    "workflow_id": PathObject(
        value=lambda w: str(w.workflow_id),
        snapshot=lambda w: (
            workflows.get(w.owner.actor, w.workflow_id).model_dump(),
            workflows.versions(w.owner.actor, w.workflow_id),
        ),
    ),
    "version": PathObject(value=lambda w: "1", snapshot=lambda w: None),
    "credential_id": PathObject(
        value=lambda w: str(w.credential_id),
        snapshot=lambda w: credentials.get_credential(w.owner.actor, w.credential_id),
    ),
    "execution_id": PathObject(
        value=lambda w: str(w.execution_id),
        snapshot=lambda w: executions.get(w.owner.actor, w.execution_id),
    ),
    "file_id": PathObject(
        value=lambda w: str(w.file_id),
        snapshot=lambda w: files.describe(w.owner.actor, w.file_id),
    ),
    "user_id": PathObject(
        value=lambda w: str(w.victim.actor.id),
        snapshot=lambda w: admin.get_user(w.admin.actor, w.victim.actor.id),
    ),
    "key_id": PathObject(
        value=lambda w: str(w.key_id),
        snapshot=lambda w: api_keys.list_keys(w.owner.actor),
    ),
    "workspace_id": PathObject(
        value=lambda w: str(w.workspace_id),
        snapshot=lambda w: _workspace_snapshot(users.get_profile(w.owner.actor), w.workspace_id),
    ),
    "invitation_id": PathObject(value=lambda w: str(w.invitation_id), snapshot=lambda w: None),
    "token": PathObject(
        value=lambda w: w.invitation_token,
        snapshot=lambda w: (
            _workspace_snapshot(users.get_profile(w.victim.actor), w.hosted_workspace_id),
            workspaces.list_workspaces(users.get_profile(w.owner.actor)),
        ),
    ),
}


def _workspace_snapshot(actor: users.Actor, workspace_id: int) -> tuple[Any, ...]:
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

# -- credentials -----------------------------------------------------------------------------


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(world: World) -> dict:
    now = datetime.now(UTC)
    return {
        "sub": str(world.owner.actor.id),
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
        "Authorization": "Bearer " + tokens.issue(w.owner.actor.id, 0, ttl_s=-60).access_token
    },
    "alg none": lambda w: {
        "Authorization": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(w))}."
    },
}
DISABLED = ["disabled user", "disabled user's API key"]
CALLERS = ["owner", "owner's API key", "other user", "admin", *DISABLED, *BROKEN]

# -- fixtures --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Accounts:
    owner: Account
    other: Account
    admin: Account
    disabled: Account
    #: Made before its account was disabled.
    disabled_key: str


@pytest.fixture(scope="module")
def accounts(stack: Stack) -> Accounts:
    # The admin first: on a fresh database the first account is an admin whatever it asks.
    made = users.create_user(
        f"matrix-admin-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True
    )
    root = Account(made, made.email, PASSWORD)
    disabled = new_account("matrix-disabled")
    key = api_keys.create_key(disabled.actor, "made before disabling").key
    admin.set_disabled(root.actor, disabled.actor.id, True)
    return Accounts(new_account("matrix-owner"), new_account("matrix-other"), root, disabled, key)


@pytest.fixture
def signup_mode_unset(stack: Stack) -> Any:
    """PUT /api/admin/signup stores a mode that beats the environment: forget it after,
    so the session's other tests see the signup their environment sets."""
    yield
    with session_scope() as session:
        if row := session.get(InstanceSetting, users.SIGNUP_MODE_KEY):
            session.delete(row)


@pytest.fixture
def world(accounts: Accounts) -> World:
    owner, other = accounts.owner, accounts.other
    marker = f"owner-only-{secrets.token_hex(6)}"
    workflow = workflows.create(owner.actor, manual_document(f"Workflow {marker}"))
    key = api_keys.create_key(owner.actor, f"Key {marker}")
    credential = credentials.create_credential(owner.actor, **_credential(f"Cred {marker}"))
    # Queued with no worker, then cancelled: a finished run whose event stream ends.
    execution_id = executions.start(owner.actor, workflow.id, {})
    executions.cancel(owner.actor, execution_id)
    stored = files.store_file(owner.actor.id, f"{marker}.txt", "text/plain", [marker.encode()])
    victim = new_account("matrix-victim")
    # The owner's shared workspace, with the victim in it and an invitation pending; and
    # the victim's, with an invitation for the owner.
    shared = workspaces.create_workspace(owner.actor, f"Workspace {marker}")
    manager = users.get_profile(owner.actor)
    joining = members.invite(manager, shared.id, victim.email, "viewer")
    members.accept_invitation(victim.actor, _token(joining.url))
    pending = members.invite(manager, shared.id, f"pending-{marker}@example.com", "runner")
    hosted = workspaces.create_workspace(victim.actor, f"Hosted {marker}")
    for_owner = members.invite(users.get_profile(victim.actor), hosted.id, owner.email, "editor")
    return World(
        owner,
        other,
        accounts.admin,
        victim,
        marker,
        workflow.id,
        key.id,
        credential.id,
        execution_id,
        stored.id,
        key.key,
        shared.id,
        pending.id,
        hosted.id,
        _token(for_owner.url),
    )


def _token(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


@pytest.fixture
def client(stack: Stack):
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


# -- tests -----------------------------------------------------------------------------------


def test_the_matrix_covers_exactly_the_apps_routes() -> None:
    missing = sorted(set(PROTECTED) - set(MATRIX))
    stale = sorted(set(MATRIX) - set(PROTECTED))
    assert not missing, f"routes without a MATRIX entry (add one line each): {missing}"
    assert not stale, f"MATRIX entries for routes the app no longer has: {stale}"
    assert ("GET", "/api/workflows/{workflow_id}") in PROTECTED  # the table is really read


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


@pytest.mark.usefixtures("signup_mode_unset")
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", PROTECTED, ids=[f"{m} {p}" for m, p in PROTECTED])
def test_route_answers_each_caller(
    client: TestClient, accounts: Accounts, world: World, route: tuple[str, str], caller: str
) -> None:
    method, template = route
    expect = MATRIX.get(route)
    if expect is None:
        pytest.fail(f"no MATRIX entry for {method} {template}: add one line to MATRIX")
    path = _path(template, world)
    body = expect.body(world) if expect.body else None

    if caller in BROKEN or caller in DISABLED:
        headers = (
            BROKEN[caller](world)
            if caller in BROKEN
            else accounts.disabled.headers()
            if caller == "disabled user"
            else _bearer(accounts.disabled_key)
        )
        before = _snapshots(template, world)
        answer = client.request(method, path, headers=headers, json=body, files=expect.files)
        assert answer.status_code == 401, f"{caller}: {answer.status_code} {answer.text}"
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert world.marker not in answer.text
        assert _snapshots(template, world) == before, f"{caller} changed an object"
        return

    headers = {
        "owner": world.owner.headers,
        "owner's API key": lambda: _bearer(world.key),
        "other user": world.other.headers,
        "admin": world.admin.headers,
    }[caller]()
    before = _snapshots(template, world) if caller == "other user" else None
    answer = client.request(method, path, headers=headers, json=body, files=expect.files)
    wanted = expect.wanted(caller)
    assert answer.status_code == wanted, f"{caller}: {answer.status_code} {answer.text}"
    if caller == "other user":
        assert world.marker not in answer.text, "another user's answer shows the owner's data"
        assert _snapshots(template, world) == before, "another user changed the owner's object"


@pytest.mark.parametrize("route", sorted(PUBLIC & set(APP_ROUTES)), ids=str)
def test_public_routes_need_no_token(client: TestClient, route: tuple[str, str]) -> None:
    method, template = route
    path = re.sub(r"\{\w+\}", "unknown", template)
    assert client.request(method, path).status_code != 401
