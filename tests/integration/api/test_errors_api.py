"""What the API answers when the request is wrong, or something breaks on our side.

Regression tests for what a fuzzer found (each was a 500 or an answer the published schema
did not describe): ids beyond any database row, a non-ASCII API key, FastAPI's own 422
shape, a 405 naming one method; and the one shape every unexpected error takes.
"""

from __future__ import annotations

import logging
import sqlite3

import pytest
from fastapi.testclient import TestClient

from agentflow_app.api.app import create_api
from tests.helpers.documents import manual_document
from tests.helpers.stack import Stack
from tests.helpers.users import Account, new_account

HUGE = "35106370375366889301068002361344"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("DELETE", f"/api/workflows/{HUGE}"),
        ("POST", f"/api/workflows/1/versions/{HUGE}/restore"),
        ("POST", f"/api/workflows/{HUGE}/execute"),
        ("GET", f"/api/workflows/executions/{HUGE}"),
        ("DELETE", f"/api/credentials/{HUGE}"),
        ("DELETE", f"/api/api-keys/{HUGE}"),
        ("GET", "/api/workflows/0"),
    ],
)
def test_an_id_no_row_can_have_is_refused_naming_the_field(
    client: TestClient, owner: Account, method: str, path: str
) -> None:
    answer = client.request(method, path, headers=owner.headers(), json={})
    assert answer.status_code == 422, answer.text
    (problem,) = answer.json()["detail"]
    assert problem["field"] in {"workflow_id", "version", "execution_id", "credential_id", "key_id"}
    assert "less than or equal" in problem["message"] or "greater than" in problem["message"]


def test_a_non_ascii_api_key_is_refused_when_saved(client: TestClient, owner: Account) -> None:
    answer = client.post(
        "/api/credentials",
        json={"name": "pasted", "kind": "anthropic", "data": {"api_key": "sk-ant-ünï"}},
        headers=owner.headers(),
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["field"] == "data.api_key"
    assert "ünï" not in answer.text  # the value typed is never echoed
    assert client.get("/api/credentials", headers=owner.headers()).json() == []


def test_a_request_that_misses_the_schema_answers_the_problem_shape(
    client: TestClient, owner: Account
) -> None:
    broken = client.post(
        "/api/workflows",
        content=b"{not json",
        headers={**owner.headers(), "content-type": "application/json"},
    )
    assert broken.status_code == 422
    (problem,) = broken.json()["detail"]
    assert problem["field"] == "body"
    assert problem["message"].startswith("the body is not valid JSON")
    short = client.post(
        "/api/users/me/password",
        json={"current_password": "whatever", "new_password": "short"},
        headers=owner.headers(),
    )
    assert short.status_code == 422
    assert short.json()["detail"] == [
        {"field": "new_password", "message": "use at least 8 characters"}
    ]
    bad_time = client.get("/api/workflows/1/executions?until=0.5", headers=owner.headers())
    assert bad_time.status_code == 422
    assert bad_time.json()["detail"][0]["field"] == "until"


def test_a_405_lists_every_method_of_the_path(client: TestClient, owner: Account) -> None:
    answer = client.request("PATCH", "/api/workflows/1", headers=owner.headers())
    assert answer.status_code == 405
    assert answer.headers["allow"] == "DELETE, GET, PUT"
    assert answer.json() == {"detail": "Method Not Allowed"}


def test_the_openapi_document_states_every_answer(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    delete = document["paths"]["/api/workflows/{workflow_id}"]["delete"]["responses"]
    assert set(delete) >= {"204", "401", "404", "422", "500"}
    assert delete["422"]["content"]["application/json"]["schema"]["$ref"].endswith("ProblemList")
    register = document["paths"]["/api/auth/register"]["post"]["responses"]
    assert set(register) >= {"201", "400", "403", "409", "422", "500"}
    assert "401" not in register  # no token is needed to register


def test_an_unexpected_failure_answers_a_reference_that_is_logged(
    sqlite_stack: Stack, caplog: pytest.LogCaptureFixture
) -> None:
    account = new_account("broken")
    # Something outside the app breaks the database under it.
    with sqlite3.connect(sqlite_stack.db_url.removeprefix("sqlite:///")) as db:
        db.execute("DROP TABLE workflow_versions")
    with TestClient(create_api(), raise_server_exceptions=False) as client:
        caplog.set_level(logging.ERROR, logger="agentflow_app.api.errors")
        answer = client.post("/api/workflows", json=manual_document(), headers=account.headers())
    assert answer.status_code == 500
    body = answer.json()
    assert body["detail"] == "internal error"
    assert len(body["reference"]) == 12
    logged = [r for r in caplog.records if body["reference"] in r.getMessage()]
    assert logged and logged[0].exc_info is not None  # the traceback is beside it
