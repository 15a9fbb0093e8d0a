"""``POST /api/hooks/{token}``: 202 and a run, 404, 413 and 422, with a real worker."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from agentflow_app.api.app import create_api
from agentflow_app.services import executions, workflows
from agentflow_app.services.executions import execution_record
from agentflow_app.services.users import Actor
from tests.fakes.servers import serve_asgi
from tests.helpers.documents import chain, node
from tests.helpers.executions import wait_finished


@pytest.fixture(scope="module")
def api_url(workers) -> Iterator[str]:
    with serve_asgi(create_api()) as url:
        yield url


@pytest.fixture
def hook(make_actor) -> tuple[str, int, Actor]:
    """A webhook workflow taking {email (required), score (integer)}: path, id, owner."""
    document = chain(
        "inbound",
        node(
            "hook",
            "trigger.webhook",
            inputs=[
                {"name": "email", "type": "string", "required": True},
                {"name": "score", "type": "integer", "default": 0},
            ],
        ),
        node(
            "out", "output", fields={"who": "{{ inputs.email }}", "source": "{{ inputs.source }}"}
        ),
    )
    owner = make_actor()
    detail = workflows.create(owner, document)
    return detail.webhook_path, detail.id, owner


def test_a_posted_json_object_starts_a_run_with_it_as_inputs(api_url, hook) -> None:
    path, _, _ = hook
    answer = httpx.post(f"{api_url}{path}", json={"email": "a@b.com", "source": "form"})

    assert answer.status_code == 202, answer.text
    execution_id = answer.json()["execution_id"]
    wait_finished(execution_id)
    run = execution_record(execution_id)
    assert run["status"] == "succeeded", run
    assert run["inputs"] == {"email": "a@b.com", "score": 0, "source": "form"}
    assert run["outputs"] == {"who": "a@b.com", "source": "form"}


def test_an_unknown_token_is_404(api_url) -> None:
    answer = httpx.post(f"{api_url}/api/hooks/not-a-token", json={"email": "a@b.com"})

    assert answer.status_code == 404
    assert answer.json() == {"detail": "no workflow listens on this webhook URL"}


def test_a_body_over_one_mebibyte_is_413_and_starts_nothing(api_url, hook) -> None:
    path, workflow_id, owner = hook
    padding = "x" * (1024 * 1024)

    answer = httpx.post(
        f"{api_url}{path}",
        content=f'{{"email": "a@b.com", "pad": "{padding}"}}',
        headers={"content-type": "application/json"},
    )
    # The same without a Content-Length header (chunked): the cap holds while reading.
    chunked = httpx.post(
        f"{api_url}{path}",
        content=iter([b'{"email": "a@b.com", "pad": "', padding.encode(), b'"}']),
        headers={"content-type": "application/json"},
    )

    assert answer.status_code == 413
    assert "over 1024 KiB" in answer.json()["detail"]
    assert chunked.status_code == 413
    owner_runs = executions.list_executions(owner, workflow_id=workflow_id)
    assert owner_runs.total == 0


def test_bodies_that_do_not_fit_are_422_naming_the_problem(api_url, hook) -> None:
    path, workflow_id, owner = hook
    url = f"{api_url}{path}"

    not_json = httpx.post(
        url, content=b"{email: nope", headers={"content-type": "application/json"}
    )
    not_object = httpx.post(url, json=["a@b.com"])
    missing = httpx.post(url, json={"score": 3})
    wrong_type = httpx.post(url, json={"email": "a@b.com", "score": "high"})

    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["field"] == "body"
    assert "not valid JSON" in not_json.json()["detail"][0]["message"]
    assert not_object.status_code == 422
    assert "must be a JSON object" in not_object.json()["detail"][0]["message"]
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"node_id": "hook", "field": "inputs.email", "message": "input 'email' is required"}
    ]
    assert wrong_type.status_code == 422
    assert wrong_type.json()["detail"][0]["field"] == "inputs.score"
    assert executions.list_executions(owner, workflow_id=workflow_id).total == 0
