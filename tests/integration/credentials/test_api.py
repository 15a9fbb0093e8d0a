"""``/api/credentials``: write-only over REST; no answer ever holds the value."""

from __future__ import annotations

import httpx
import pytest

from tests.fakes import credential_checks
from tests.helpers.credentials import token_for

KEY = "sk-ant-api-test-SECRET-6e6f7071"
TOKEN = "xoxb-api-test-SECRET-8a8b8c8d8e"
SECRETS = (KEY, TOKEN, "SECRET")


def _clean(answer: httpx.Response) -> httpx.Response:
    """Fail when an answer (body or headers) carries any part of a secret."""
    seen = answer.text + " ".join(f"{k}: {v}" for k, v in answer.headers.items())
    for secret in SECRETS:
        assert secret not in seen, f"{answer.request.method} {answer.request.url} leaked it: {seen}"
    return answer


async def test_crud_answers_never_include_the_value(stack, api, make_actor) -> None:
    auth = await token_for(api, make_actor())
    created = _clean(
        await api.post(
            "/api/credentials",
            json={"name": "claude", "kind": "anthropic", "data": {"api_key": KEY}},
            headers=auth,
        )
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "claude" and body["kind"] == "anthropic"
    assert body["hint"] == "••••7071" and "data" not in body

    listed = _clean(await api.get("/api/credentials", headers=auth))
    assert [c["name"] for c in listed.json()] == ["claude"]
    assert _clean(await api.get(f"/api/credentials/{body['id']}", headers=auth)).status_code == 200

    replaced = _clean(
        await api.put(
            f"/api/credentials/{body['id']}",
            json={"data": {"api_key": "sk-ant-api-test-SECRET-zzzz9999"}},
            headers=auth,
        )
    )
    assert replaced.status_code == 200 and replaced.json()["hint"] == "••••9999"

    deleted = await api.delete(f"/api/credentials/{body['id']}", headers=auth)
    assert deleted.status_code == 204
    assert _clean(await api.get("/api/credentials", headers=auth)).json() == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (
            {"name": "x", "kind": "anthropic", "data": {"api_key": KEY, "extra": KEY}},
            422,
            "data.extra",
        ),
        ({"name": "x", "kind": "anthropic", "data": KEY}, 422, "data"),
        ({"name": "x", "kind": "nope", "data": {"api_key": KEY}}, 422, "kind"),
        ({"name": "x", "data": {"api_key": KEY}}, 422, "kind"),
        ([KEY], 422, "body"),
        (
            {
                "name": "x",
                "kind": "openai",
                "data": {"api_key": KEY, "base_url": f"gopher://{TOKEN}"},
            },
            422,
            "data.base_url",
        ),
    ],
)
async def test_error_answers_name_the_field_and_never_echo_the_value(
    stack, api, make_actor, body, status, field
) -> None:
    auth = await token_for(api, make_actor())
    answer = _clean(await api.post("/api/credentials", json=body, headers=auth))
    assert answer.status_code == status
    assert field in [p["field"] for p in answer.json()["detail"]]


async def test_malformed_json_is_not_echoed(stack, api, make_actor) -> None:
    auth = await token_for(api, make_actor())
    answer = await api.post(
        "/api/credentials",
        content=f'{{"name": "x", "kind": "slack", "data": {{"token": "{TOKEN}"',
        headers={**auth, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    _clean(answer)


async def test_conflict_not_found_and_unauthenticated(stack, api, make_actor) -> None:
    owner, other = await token_for(api, make_actor()), await token_for(api, make_actor())
    new = {"name": "bot", "kind": "slack", "data": {"token": TOKEN}}
    created = (await api.post("/api/credentials", json=new, headers=owner)).json()
    conflict = _clean(await api.post("/api/credentials", json=new, headers=owner))
    assert conflict.status_code == 409
    assert "already has a credential named 'bot'" in conflict.json()["detail"]

    for method, path, kwargs in [
        ("GET", f"/api/credentials/{created['id']}", {}),
        ("PUT", f"/api/credentials/{created['id']}", {"json": {"data": {"token": "xoxb-1234"}}}),
        ("DELETE", f"/api/credentials/{created['id']}", {}),
        ("POST", f"/api/credentials/{created['id']}/test", {}),
    ]:
        answer = _clean(await api.request(method, path, headers=other, **kwargs))
        assert answer.status_code == 404, (method, path)
    assert (await api.get("/api/credentials", headers=other)).json() == []
    assert (await api.get("/api/credentials")).status_code == 401


async def test_test_button_calls_each_service_and_never_echoes(
    stack, api, make_actor, asgi_server, set_env
) -> None:
    set_env(AGENTFLOW_ALLOW_PRIVATE_NETWORK="true")
    anthropic = asgi_server(credential_checks.anthropic_app(KEY))
    set_env(ANTHROPIC_BASE_URL=anthropic)
    slack = asgi_server(credential_checks.slack_app(TOKEN))
    hubspot = asgi_server(credential_checks.hubspot_app(TOKEN))
    openai = asgi_server(credential_checks.openai_app(KEY))
    auth = await token_for(api, make_actor())

    async def add_and_test(name: str, kind: str, data: dict) -> dict:
        created = await api.post(
            "/api/credentials", json={"name": name, "kind": kind, "data": data}, headers=auth
        )
        assert created.status_code == 201, created.text
        answer = _clean(
            await api.post(f"/api/credentials/{created.json()['id']}/test", headers=auth)
        )
        assert answer.status_code == 200
        return answer.json()

    assert await add_and_test("a", "anthropic", {"api_key": KEY}) == {
        "ok": True,
        "message": "Anthropic accepted the credential",
    }
    assert await add_and_test("a-bad", "anthropic", {"api_key": "sk-ant-wrong-SECRET-0000"}) == {
        "ok": False,
        "message": "Anthropic refused the credential (401)",
    }
    good = await add_and_test("o", "openai", {"api_key": KEY, "base_url": f"{openai}/v1"})
    assert good["ok"], good
    assert (await add_and_test("s", "slack", {"token": TOKEN, "base_url": slack}))["message"] == (
        "Slack accepted the token (agentbot in Acme)"
    )
    refused = await add_and_test(
        "s-bad", "slack", {"token": "xoxb-wrong-SECRET-1", "base_url": slack}
    )
    assert refused == {
        "ok": False,
        "message": "Slack refused the token: invalid_auth ([redacted:s-bad])",
    }
    assert (await add_and_test("h", "hubspot", {"token": TOKEN, "base_url": hubspot}))["ok"]
    http = await add_and_test("web", "http", {"scheme": "bearer", "token": TOKEN})
    assert http["ok"] and http["message"].startswith("saved")


async def test_test_button_refuses_private_addresses_by_default(
    stack, api, make_actor, asgi_server
) -> None:
    slack = asgi_server(credential_checks.slack_app(TOKEN))
    auth = await token_for(api, make_actor())
    created = await api.post(
        "/api/credentials",
        json={"name": "s", "kind": "slack", "data": {"token": TOKEN, "base_url": slack}},
        headers=auth,
    )
    answer = _clean(await api.post(f"/api/credentials/{created.json()['id']}/test", headers=auth))
    assert answer.json()["ok"] is False
    assert "loopback" in answer.json()["message"]
