"""Workflow documents over REST: create, validate, save versions, restore, webhooks, delete."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.helpers.documents import manual_document, webhook_document
from tests.helpers.users import Account


def test_create_read_update_and_history(client: TestClient, owner: Account) -> None:
    headers = owner.headers()
    created = client.post("/api/workflows", headers=headers, json=manual_document("First"))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["version"] == 1
    assert body["name"] == "First"
    assert body["webhook_url"] is None
    assert body["nodes"][0]["type"] == "trigger.manual"
    workflow_id = body["id"]

    # A document fetched from the API can be sent back as it is (server keys are dropped).
    fetched = client.get(f"/api/workflows/{workflow_id}", headers=headers).json()
    fetched["name"] = "Second"
    saved = client.put(f"/api/workflows/{workflow_id}", headers=headers, json=fetched)
    assert saved.status_code == 200, saved.text
    assert (saved.json()["version"], saved.json()["name"]) == (2, "Second")
    stored = client.get(f"/api/workflows/{workflow_id}/versions/2", headers=headers).json()
    assert "id" not in stored
    assert "version" not in stored

    history = client.get(f"/api/workflows/{workflow_id}/versions", headers=headers).json()
    assert [(v["version"], v["name"]) for v in history] == [(2, "Second"), (1, "First")]
    assert history[0]["created_by"] == owner.actor.id

    restored = client.post(f"/api/workflows/{workflow_id}/versions/1/restore", headers=headers)
    assert (restored.json()["version"], restored.json()["name"]) == (3, "First")
    listed = client.get("/api/workflows", headers=headers).json()
    assert [(w["id"], w["name"], w["version"]) for w in listed] == [(workflow_id, "First", 3)]

    missing = client.get(f"/api/workflows/{workflow_id}/versions/9", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"detail": f"workflow {workflow_id} has no version 9"}


def test_invalid_documents_answer_422_with_every_problem(
    client: TestClient, owner: Account
) -> None:
    document = manual_document()
    document["nodes"].append({"id": "x", "type": "no.such.type"})
    document["edges"] = [{"id": "e1", "source": "start", "target": "ghost"}]
    answer = client.post("/api/workflows", headers=owner.headers(), json=document)
    assert answer.status_code == 422
    problems = answer.json()["detail"]
    assert all(set(p) == {"node_id", "field", "message"} for p in problems)
    assert {"node_id": "x", "field": "type"} in [
        {"node_id": p["node_id"], "field": p["field"]} for p in problems
    ]
    assert any("ghost" in p["message"] for p in problems)

    not_object = client.post("/api/workflows", headers=owner.headers(), json=[1, 2])
    assert not_object.status_code == 422
    assert not_object.json()["detail"][0]["message"] == "a workflow document must be a JSON object"
    assert client.get("/api/workflows", headers=owner.headers()).json() == []


def test_webhook_url_follows_the_trigger(client: TestClient, owner: Account) -> None:
    headers = owner.headers()
    created = client.post("/api/workflows", headers=headers, json=webhook_document()).json()
    url = created["webhook_url"]
    assert url.startswith("http://testserver/api/hooks/")
    assert len(url.rsplit("/", 1)[1]) >= 32

    # Saving again keeps the URL that was handed out...
    again = client.put(f"/api/workflows/{created['id']}", headers=headers, json=webhook_document())
    assert again.json()["webhook_url"] == url
    assert client.get("/api/workflows", headers=headers).json()[0]["webhook_url"] == url
    # ...and switching to a manual trigger retires it.
    manual = client.put(f"/api/workflows/{created['id']}", headers=headers, json=manual_document())
    assert manual.json()["webhook_url"] is None


def test_delete_removes_the_workflow_and_its_versions(client: TestClient, owner: Account) -> None:
    headers = owner.headers()
    workflow_id = client.post("/api/workflows", headers=headers, json=manual_document()).json()[
        "id"
    ]
    assert client.delete(f"/api/workflows/{workflow_id}", headers=headers).status_code == 204
    assert client.get(f"/api/workflows/{workflow_id}", headers=headers).status_code == 404
    assert client.get(f"/api/workflows/{workflow_id}/versions", headers=headers).status_code == 404
    assert client.delete(f"/api/workflows/{workflow_id}", headers=headers).status_code == 404


def test_lists_are_private(client: TestClient, owner: Account, other: Account) -> None:
    client.post("/api/workflows", headers=owner.headers(), json=manual_document("Mine"))
    assert client.get("/api/workflows", headers=other.headers()).json() == []
