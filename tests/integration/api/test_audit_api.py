"""The audit log through its real doors: each audited action, done through the REST API
(or a real worker's run), is read back through ``GET /api/audit`` exactly once; filters,
pages and the JSON-lines export; and no route of the app changes a recorded row."""

from __future__ import annotations

import json
import re
import secrets
from collections import Counter
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select

from agentflow_app.api.app import create_api
from agentflow_app.db import get_engine
from agentflow_app.models import AuditEvent, User
from agentflow_app.services import users
from agentflow_app.services.audit import AuditAction, record
from tests.fakes.slow_server import SlowServer
from tests.helpers.documents import chain, manual_document, node
from tests.helpers.executions import wait_finished
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD, Account, new_account
from tests.helpers.workers import worker_pool

SECRET = "audit-secret-token-0f9e8d"


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Account:
    made = users.create_user(
        f"audit-admin-{secrets.token_hex(4)}@example.com", PASSWORD, admin=True
    )
    return Account(made, made.email, PASSWORD)


def _log(client: TestClient, admin: Account, **query: Any) -> list[dict[str, Any]]:
    answer = client.get("/api/audit", params={"limit": 500, **query}, headers=admin.headers())
    assert answer.status_code == 200, answer.text
    return answer.json()["events"]


def _actions(client: TestClient, admin: Account, email: str) -> Counter[str]:
    return Counter(event["action"] for event in _log(client, admin, actor=email))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_each_action_of_a_user_is_recorded_once(client: TestClient, admin: Account) -> None:
    user = new_account("audited")
    wrong = client.post("/api/auth/token", json={"email": user.email, "password": "not it at all"})
    assert wrong.status_code == 401
    signed = client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD})
    headers = _bearer(signed.json()["access_token"])

    made = client.post(
        "/api/credentials",
        json={"name": "crm", "kind": "http", "data": {"scheme": "bearer", "token": SECRET}},
        headers=headers,
    ).json()
    changed = {"data": {"scheme": "bearer", "token": SECRET + "2"}}
    assert client.put(f"/api/credentials/{made['id']}", json=changed, headers=headers).is_success
    assert client.delete(f"/api/credentials/{made['id']}", headers=headers).status_code == 204

    workflow = client.post("/api/workflows", json=manual_document("Audited"), headers=headers)
    workflow_id = workflow.json()["id"]
    client.put(f"/api/workflows/{workflow_id}", json=manual_document("Renamed"), headers=headers)
    restored = client.post(f"/api/workflows/{workflow_id}/versions/1/restore", headers=headers)
    assert restored.status_code == 200, restored.text
    assert client.delete(f"/api/workflows/{workflow_id}", headers=headers).status_code == 204

    key = client.post("/api/api-keys", json={"name": "ci"}, headers=headers).json()
    assert client.delete(f"/api/api-keys/{key['id']}", headers=headers).status_code == 204

    events = _log(client, admin, actor=user.email)
    assert Counter(event["action"] for event in events) == {
        AuditAction.SIGN_IN_FAILED: 1,
        AuditAction.SIGN_IN: 1,
        AuditAction.CREDENTIAL_CREATED: 1,
        AuditAction.CREDENTIAL_UPDATED: 1,
        AuditAction.CREDENTIAL_DELETED: 1,
        AuditAction.WORKFLOW_RESTORED: 1,
        AuditAction.WORKFLOW_DELETED: 1,
        AuditAction.API_KEY_CREATED: 1,
        AuditAction.API_KEY_REVOKED: 1,
    }
    assert {event["actor_id"] for event in events} == {user.actor.id}
    assert {event["address"] for event in events} == {"testclient"}  # TestClient's peer
    assert SECRET not in json.dumps(events), "a credential's value reached the audit log"
    by_action = {event["action"]: event for event in events}
    assert by_action[AuditAction.SIGN_IN_FAILED]["detail"] == {"reason": "wrong"}
    assert by_action[AuditAction.CREDENTIAL_CREATED]["target_id"] == str(made["id"])
    assert by_action[AuditAction.WORKFLOW_RESTORED]["detail"] == {
        "restored_version": 1,
        "new_version": 3,
    }


def test_a_failed_sign_in_of_an_unknown_email_is_recorded(
    client: TestClient, admin: Account
) -> None:
    email = f"nobody-{secrets.token_hex(4)}@example.com"
    client.post("/api/auth/token", json={"email": email, "password": "guess guess"})
    [event] = _log(client, admin, actor=email)
    assert (event["action"], event["actor_id"], event["actor_email"]) == (
        AuditAction.SIGN_IN_FAILED,
        None,
        email,
    )


def test_a_run_records_each_credential_it_uses_once(
    client: TestClient, admin: Account, stack: Stack, tmp_path
) -> None:
    user = new_account("runner")
    server = SlowServer()
    credential = {"name": "site", "kind": "http", "data": {"scheme": "bearer", "token": SECRET}}
    client.post("/api/credentials", json=credential, headers=user.headers())
    # Two steps with the same credential: still one record per run.
    calls = [
        node(f"call{i}", "http.request", url=f"{server.url}/hit/{i}", credential="site", retries=0)
        for i in (1, 2)
    ]
    document = chain("Uses a credential", node("start", "trigger.manual"), *calls)
    workflow_id = client.post("/api/workflows", json=document, headers=user.headers()).json()["id"]
    try:
        with worker_pool(stack, tmp_path) as pool:
            pool.start("audit")
            runs = [
                client.post(
                    f"/api/workflows/{workflow_id}/execute",
                    json={"inputs": {}},
                    headers=user.headers(),
                ).json()["execution_id"]
                for _ in range(2)
            ]
            wait_finished(*runs)
    finally:
        server.close()
    assert server.count("/hit/1") == 2  # the credential really was used by both runs
    used = _log(client, admin, actor=user.email, action=AuditAction.CREDENTIAL_USED)
    assert sorted(event["detail"]["execution_id"] for event in used) == sorted(runs)
    assert {event["detail"]["name"] for event in used} == {"site"}


def test_pages_filters_and_the_export(client: TestClient, admin: Account) -> None:
    user = new_account("paged")
    for _ in range(3):
        client.post("/api/auth/token", json={"email": user.email, "password": PASSWORD})
    first = client.get(
        "/api/audit", params={"actor": user.email, "limit": 2}, headers=admin.headers()
    ).json()
    assert len(first["events"]) == 2 and first["next_cursor"]
    rest = client.get(
        "/api/audit",
        params={"actor": user.email, "limit": 2, "cursor": first["next_cursor"]},
        headers=admin.headers(),
    ).json()
    assert len(rest["events"]) == 1 and rest["next_cursor"] is None
    ids = [event["id"] for event in first["events"] + rest["events"]]
    assert ids == sorted(ids, reverse=True), "newest first"

    newest = first["events"][0]["at"]
    assert _log(client, admin, actor=user.email, since=newest) == first["events"][:1]
    assert len(_log(client, admin, actor=user.email, until=newest)) == 2
    assert _log(client, admin, actor=user.email, action=AuditAction.API_KEY_CREATED) == []

    export = client.get("/api/audit/export", params={"actor": user.email}, headers=admin.headers())
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert [line["id"] for line in lines] == sorted(ids), "oldest first"

    bad = client.get("/api/audit", params={"action": "made.up"}, headers=admin.headers())
    assert bad.status_code == 422


def test_no_route_changes_a_recorded_row(client: TestClient, admin: Account) -> None:
    """Every route of the app, called by an admin with the newest row's id in every path
    parameter, leaves every recorded row as it was (rows may only be added)."""
    client.post("/api/auth/token", json={"email": admin.email, "password": "wrong password"})
    table = AuditEvent.__table__

    def rows() -> dict[int, tuple]:
        with get_engine().connect() as conn:
            return {row.id: tuple(row) for row in conn.execute(select(table))}

    with get_engine().connect() as conn:
        user_ids = set(conn.execute(select(User.__table__.c.id)).scalars())
    while max(rows()) in user_ids:  # the admin routes must not hit a real account
        record(AuditAction.SIGN_IN_FAILED, actor_email="padding@example.com")
    before = rows()
    newest = str(max(before))
    routes = set()
    for route in iter_route_contexts(create_api().routes):
        path = getattr(route, "path_format", "")
        routes |= {(m, path) for m in route.methods or () if path.startswith("/api/")}
    assert not [r for r in routes if r[1].startswith("/api/audit") and r[0] != "GET"]
    for method, template in sorted(routes):
        if template.endswith("/events") or method == "HEAD":
            continue  # a stream of a run that does not exist: answered by the GET anyway
        path = re.sub(r"\{\w+\}", newest, template)
        answer = client.request(method, path, headers=admin.headers(), json={})
        assert answer.status_code < 500, f"{method} {path}: {answer.status_code} {answer.text}"
    after = rows()
    assert {key: after.get(key) for key in before} == before
