"""The instance admin's console over REST: disabling (felt on the very next request),
promoting, the self-lockout guard, reset links, signup modes and invitations, deleting
an account, and the health cards; each admin action lands in the audit log once."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from agentflow_app.db import session_scope
from agentflow_app.files.backends import file_store
from agentflow_app.files.store import MissingBlob
from agentflow_app.models import AuditEvent, InstanceSetting, StoredFile, Workflow
from agentflow_app.services import files, members, schedules, users, workflows, workspaces
from agentflow_app.services.audit import AuditAction
from tests.helpers.documents import chain, manual_document, node, webhook_document
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD, Account, new_account

NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Account:
    made = users.create_user(f"console-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True)
    return Account(made, made.email, PASSWORD)


@pytest.fixture
def signup_unset(stack: Stack) -> Iterator[None]:
    """The stored signup mode beats the environment: forget it after the test."""
    yield
    with session_scope() as session:
        if row := session.get(InstanceSetting, users.SIGNUP_MODE_KEY):
            session.delete(row)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_in(client: TestClient, email: str, password: str = PASSWORD):
    return client.post("/api/auth/token", json={"email": email, "password": password})


def _admin_actions(client: TestClient, admin: Account, target_id: int) -> Counter[str]:
    events = client.get(
        "/api/audit", params={"actor": admin.email, "limit": 500}, headers=admin.headers()
    ).json()["events"]
    return Counter(e["action"] for e in events if e["target_id"] == str(target_id))


def test_a_disabled_user_is_refused_on_the_next_request(client: TestClient, admin: Account) -> None:
    user = new_account("leaver")
    token = _bearer(_sign_in(client, user.email).json()["access_token"])
    key = _bearer(client.post("/api/api-keys", json={"name": "ci"}, headers=token).json()["key"])
    assert client.get("/api/workflows", headers=key).status_code == 200

    changed = client.patch(
        f"/api/admin/users/{user.actor.id}", json={"disabled": True}, headers=admin.headers()
    )
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    for headers in (token, key):
        refused = client.get("/api/workflows", headers=headers)
        assert refused.status_code == 401
        assert "disabled by an administrator" in refused.json()["detail"]
    # The MCP server (API keys only) is another door with the same check.
    mcp = client.post(
        "/api/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={**key, "Accept": "application/json, text/event-stream"},
    )
    assert mcp.status_code == 401 and "disabled by an administrator" in mcp.text
    signing_in = _sign_in(client, user.email)
    assert signing_in.status_code == 401
    assert "disabled by an administrator" in signing_in.json()["detail"]
    # Only the right password learns that the account is disabled.
    assert _sign_in(client, user.email, "not the password").json()["detail"] == (
        "wrong email or password"
    )

    client.patch(
        f"/api/admin/users/{user.actor.id}", json={"disabled": False}, headers=admin.headers()
    )
    assert client.get("/api/workflows", headers=token).status_code == 200
    assert client.get("/api/workflows", headers=key).status_code == 200
    assert _admin_actions(client, admin, user.actor.id) == {
        AuditAction.USER_DISABLED: 1,
        AuditAction.USER_ENABLED: 1,
    }


def test_an_admin_cannot_lock_themself_out(client: TestClient, admin: Account) -> None:
    me = f"/api/admin/users/{admin.actor.id}"
    for change in ({"disabled": True}, {"is_admin": False}):
        answer = client.patch(me, json=change, headers=admin.headers())
        assert answer.status_code == 409
        assert "another administrator has to" in answer.json()["detail"]
    assert client.delete(me, headers=admin.headers()).status_code == 409
    assert client.get("/api/admin/users", headers=admin.headers()).status_code == 200


def test_search_promote_and_demote(client: TestClient, admin: Account) -> None:
    user = new_account(f"findme{secrets.token_hex(2)}")
    part = user.email.split("@")[0].upper()  # search ignores case
    found = client.get("/api/admin/users", params={"search": part}, headers=admin.headers())
    assert [row["email"] for row in found.json()] == [user.email]
    assert client.get("/api/admin/users", headers=user.headers()).status_code == 403

    url = f"/api/admin/users/{user.actor.id}"
    assert client.patch(url, json={"is_admin": True}, headers=admin.headers()).json()["is_admin"]
    assert client.get("/api/admin/users", headers=user.headers()).status_code == 200
    client.patch(url, json={"is_admin": False}, headers=admin.headers())
    assert client.get("/api/admin/users", headers=user.headers()).status_code == 403
    assert _admin_actions(client, admin, user.actor.id) == {
        AuditAction.USER_PROMOTED: 1,
        AuditAction.USER_DEMOTED: 1,
    }


def test_a_reset_link_sets_a_password_once(client: TestClient, admin: Account) -> None:
    user = new_account("forgetful")
    old_token = _bearer(_sign_in(client, user.email).json()["access_token"])
    link = client.post(f"/api/admin/users/{user.actor.id}/reset-link", headers=admin.headers())
    assert link.status_code == 200
    url = urlsplit(link.json()["url"])
    assert url.path == "/reset-password"
    token = parse_qs(url.query)["token"][0]

    body = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/api/auth/reset-password", json=body).status_code == 204
    assert client.get("/api/users/me", headers=old_token).status_code == 401
    assert _sign_in(client, user.email, NEW_PASSWORD).status_code == 200
    again = client.post("/api/auth/reset-password", json=body)
    assert again.status_code == 422 and "already used" in again.text
    forged = client.post("/api/auth/reset-password", json={**body, "token": token[:-4] + "AAAA"})
    assert forged.status_code == 422 and "not valid" in forged.text


@pytest.mark.usefixtures("signup_unset")
def test_signup_modes_and_invitations(client: TestClient, admin: Account) -> None:
    def register(email: str, invite: str | None = None):
        body = {"email": email, "password": PASSWORD, "invite": invite}
        return client.post("/api/auth/register", json=body)

    def mode(value: str) -> None:
        answer = client.put("/api/admin/signup", json={"mode": value}, headers=admin.headers())
        assert answer.json() == {"mode": value}

    mode("closed")
    assert register(f"c-{secrets.token_hex(3)}@example.com").status_code == 403

    mode("invite-only")
    invited = f"inv-{secrets.token_hex(3)}@example.com"
    made = client.post("/api/admin/invites", json={"email": invited}, headers=admin.headers())
    assert made.status_code == 201
    invite = parse_qs(urlsplit(made.json()["url"]).query)["invite"][0]
    assert register(invited).status_code == 403
    assert register(f"x-{invited}", invite).status_code == 422  # another email
    assert register(invited, invite).status_code == 201
    assert register(invited, invite).status_code == 409  # used up: the email is taken
    taken = client.post("/api/admin/invites", json={"email": invited}, headers=admin.headers())
    assert taken.status_code == 409

    mode("open")
    assert register(f"o-{secrets.token_hex(3)}@example.com").status_code == 201
    assert client.get("/api/admin/signup", headers=admin.headers()).json() == {"mode": "open"}


def _blob_key(file_id: int) -> str:
    with session_scope() as session:
        return session.get(StoredFile, file_id).key


def test_deleting_a_user_deletes_what_they_own(client: TestClient, admin: Account) -> None:
    user = new_account("departed")
    headers = user.headers()
    made = client.post("/api/workflows", json=manual_document(), headers=headers)
    stored = files.store_file(user.actor.workspace_id, "notes.txt", "text/plain", [b"departing"])
    key = _blob_key(stored.id)
    assert b"".join(file_store().open(key)) == b"departing"
    url = f"/api/admin/users/{user.actor.id}"

    assert client.delete(url, headers=admin.headers()).status_code == 204
    assert client.get("/api/workflows", headers=headers).status_code == 401
    with session_scope() as session:
        assert session.get(Workflow, made.json()["id"]) is None
    with pytest.raises(MissingBlob):
        b"".join(file_store().open(key))  # the bytes went too, not only the row
    assert client.delete(url, headers=admin.headers()).status_code == 404
    assert _admin_actions(client, admin, user.actor.id) == {AuditAction.USER_DELETED: 1}


def _join(owner: Account, member: Account, workspace_id: int, role: str) -> Account:
    """``member`` invited by ``owner`` with ``role``, and joined."""
    # Actors are read at sign-in: read them again after a membership changes.
    invited = members.invite(users.get_profile(owner.actor), workspace_id, member.email, role)
    members.accept_invitation(users.get_profile(member.actor), invited.url.split("=")[-1])
    return member


def _workspace_roles(member: Account) -> dict[int, str]:
    return {w.id: w.role for w in workspaces.list_workspaces(users.get_profile(member.actor))}


def test_deleting_the_last_owner_of_shared_workspaces_hands_them_over(
    client: TestClient, admin: Account
) -> None:
    leaving = new_account("leaving")
    team = workspaces.create_workspace(leaving.actor, "Team")
    viewer = _join(leaving, new_account("viewer"), team.id, "viewer")  # joined first, lower role
    editor = _join(leaving, new_account("editor"), team.id, "editor")
    runner = _join(leaving, new_account("runner"), team.id, "runner")
    made = workflows.create(
        workspaces.act_in(users.get_profile(editor.actor), team.id), manual_document()
    )
    alone = workspaces.create_workspace(leaving.actor, "Solo")
    solo_flow = workflows.create(
        workspaces.act_in(users.get_profile(leaving.actor), alone.id), manual_document()
    )
    stored = files.store_file(alone.id, "solo.txt", "text/plain", [b"only mine"])
    key = _blob_key(stored.id)
    shared = workspaces.create_workspace(leaving.actor, "Shared ownership")
    co_owner = _join(leaving, new_account("co-owner"), shared.id, "owner")
    _join(leaving, new_account("bystander"), shared.id, "editor")

    url = f"/api/admin/users/{leaving.actor.id}"
    assert client.delete(url, headers=admin.headers()).status_code == 204

    # The team goes to its editor: the highest role left, though not the first to join.
    assert _workspace_roles(editor)[team.id] == "owner"
    assert _workspace_roles(viewer)[team.id] == "viewer"
    assert _workspace_roles(runner)[team.id] == "runner"
    assert workflows.get(workspaces.act_in(users.get_profile(editor.actor), team.id), made.id)
    renamed = client.patch(
        f"/api/workspaces/{team.id}", json={"name": "Team, continued"}, headers=editor.headers()
    )
    assert renamed.status_code == 200, renamed.text
    # A workspace with another owner keeps its roles as they were.
    assert _workspace_roles(co_owner)[shared.id] == "owner"
    # One nobody else belonged to goes, with its workflows and its files' bytes.
    with session_scope() as session:
        assert session.get(Workflow, solo_flow.id) is None
        assert session.get(StoredFile, stored.id) is None
    with pytest.raises(MissingBlob):
        b"".join(file_store().open(key))
    # Each is in the audit log, under its workspace, saying why.
    with session_scope() as session:
        rows = session.exec(
            select(AuditEvent.workspace_id, AuditEvent.action, AuditEvent.detail)
            .where(
                AuditEvent.workspace_id.in_([team.id, alone.id, shared.id]),
                AuditEvent.action.in_(
                    [AuditAction.MEMBER_ROLE_CHANGED, AuditAction.WORKSPACE_DELETED]
                ),
            )
            .order_by(AuditEvent.id)
        ).all()
    assert [(w, a, d["reason"]) for w, a, d in rows] == [
        (team.id, AuditAction.MEMBER_ROLE_CHANGED, f"the last owner, {leaving.email}, was deleted"),
        (alone.id, AuditAction.WORKSPACE_DELETED, f"{leaving.email} was deleted"),
    ]
    assert rows[0][2]["email"] == editor.email and rows[0][2]["to"] == "owner"


def test_health_cards(client: TestClient, admin: Account) -> None:
    files.store_file(admin.actor.workspace_id, "cards.txt", "text/plain", [b"x" * 1000])
    cards = client.get("/api/admin/health", headers=admin.headers()).json()
    assert cards["db"] == "ok" and cards["redis"] == "ok"
    assert cards["database_bytes"] > 0 and cards["files_bytes"] >= 1000
    assert cards["users"] >= 1
    assert {"workers", "queued", "running", "waiting"} <= set(cards)


def test_a_disabled_users_own_webhooks_and_schedules_stop_but_shared_ones_go_on(
    client: TestClient, admin: Account
) -> None:
    user = new_account("departing")
    teammate = new_account("staying")
    shared = workspaces.create_workspace(teammate.actor, "Team")
    _join(teammate, user, shared.id, "editor")
    mine = workflows.create(user.actor, webhook_document("Mine"))
    theirs = workflows.create(
        workspaces.act_in(users.get_profile(user.actor), shared.id), webhook_document("Team's")
    )
    cron = chain("cron", node("start", "trigger.schedule", cron="* * * * *", inputs={}))
    ticking = workflows.create(user.actor, cron)
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert ticking.id in {due.workflow_id for due in schedules.due(later)}

    client.patch(
        f"/api/admin/users/{user.actor.id}", json={"disabled": True}, headers=admin.headers()
    )
    gone = client.post(mine.webhook_path, json={})
    assert gone.status_code == 404
    assert client.post(theirs.webhook_path, json={}).status_code == 202
    assert ticking.id not in {due.workflow_id for due in schedules.due(later)}

    client.patch(
        f"/api/admin/users/{user.actor.id}", json={"disabled": False}, headers=admin.headers()
    )
    assert client.post(mine.webhook_path, json={}).status_code == 202


def test_an_admins_api_key_is_no_admin(client: TestClient, admin: Account) -> None:
    made = client.post("/api/api-keys", json={"name": "scripts"}, headers=admin.headers())
    assert made.status_code == 201, made.text
    key = _bearer(made.json()["key"])
    assert client.get("/api/admin/users", headers=key).status_code == 403
    assert client.get("/api/admin/users", headers=admin.headers()).status_code == 200
    # The key still does what its role in its workspace allows.
    assert client.get("/api/workflows", headers=key).status_code == 200
