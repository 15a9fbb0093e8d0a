"""The vault on the database backend: stored encrypted, read back by name for its owner only."""

from __future__ import annotations

import pytest

from agentflow_app.errors import Conflict, CredentialError, InvalidInput, NotFound
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials, workflows
from tests.helpers.credentials import raw_database

ANTHROPIC_KEY = "sk-ant-vault-test-SECRET-4f1c2d3e9a8b"
SLACK_TOKEN = "xoxb-vault-test-SECRET-77aa88bb99cc"
AWS_SECRET = "aws-vault-test-SECRET-0123456789abcdef"
SMTP_PASSWORD = "smtp-vault-test-SECRET-pw-5566"
SECRETS = (ANTHROPIC_KEY, SLACK_TOKEN, AWS_SECRET, SMTP_PASSWORD)


def _add_all(actor) -> None:
    credentials.create_credential(actor, "claude", "anthropic", {"api_key": ANTHROPIC_KEY})
    credentials.create_credential(actor, "bot", "slack", {"token": SLACK_TOKEN})
    credentials.create_credential(
        actor,
        "prod-aws",
        "aws",
        {"access_key_id": "AKIAVAULTTEST", "secret_access_key": AWS_SECRET, "region": "eu-west-1"},
    )
    credentials.create_credential(
        actor,
        "mailer",
        "ses",
        {"region": "eu-west-1", "aws_credential": "prod-aws", "from_address": "a@example.com"},
    )
    credentials.create_credential(
        actor,
        "smtp",
        "smtp",
        {
            "host": "mail.example.com",
            "username": "bot",
            "password": SMTP_PASSWORD,
            "from_address": "bot@example.com",
        },
    )


def test_the_raw_database_holds_no_plaintext_secret(stack, make_actor) -> None:
    _add_all(make_actor())
    dump = raw_database(stack)
    assert b"claude" in dump, "the dump should hold the rows (names are not secret)"
    for secret in SECRETS:
        assert secret.encode() not in dump, f"{secret} is in the {stack.kind} database"
        assert secret[-12:].encode() not in dump


def test_list_shows_hints_and_never_values(stack, make_actor) -> None:
    actor = make_actor()
    _add_all(actor)
    listed = credentials.list_credentials(actor)
    assert [c.name for c in listed] == ["bot", "claude", "mailer", "prod-aws", "smtp"]
    by_name = {c.name: c for c in listed}
    assert by_name["claude"].hint == "••••9a8b"
    assert by_name["claude"].kind == "anthropic"
    assert by_name["claude"].backend == "db"
    assert by_name["claude"].last_used_at is None
    text = " ".join(c.model_dump_json() for c in listed)
    for secret in SECRETS:
        assert secret not in text


async def test_vault_resolves_names_of_its_owner_only(stack, make_actor) -> None:
    owner, other = make_actor(), make_actor()
    _add_all(owner)
    vault = Vault(owner.workspace_id)
    assert await vault.get("claude", ("anthropic",)) == {
        "api_key": ANTHROPIC_KEY,
        "kind": "anthropic",
    }
    ses = await vault.get("mailer", ("smtp", "ses"))
    assert ses["secret_access_key"] == AWS_SECRET
    assert ses["access_key_id"] == "AKIAVAULTTEST"
    assert "aws_credential" not in ses

    with pytest.raises(
        CredentialError, match="'claude' is a anthropic credential; this needs slack"
    ):
        await vault.get("claude", ("slack",))
    with pytest.raises(CredentialError, match="no credential named 'claude'"):
        await Vault(other.workspace_id).get("claude", ("anthropic",))

    used = {c.name: c.last_used_at for c in credentials.list_credentials(owner)}
    assert (
        used["claude"] is not None and used["mailer"] is not None and used["prod-aws"] is not None
    )
    assert used["bot"] is None


def test_names_are_unique_per_owner(stack, make_actor) -> None:
    first, second = make_actor(), make_actor()
    credentials.create_credential(first, "shared-name", "slack", {"token": SLACK_TOKEN})
    with pytest.raises(Conflict, match="already has a credential named 'shared-name'"):
        credentials.create_credential(
            first, " shared-name ", "anthropic", {"api_key": ANTHROPIC_KEY}
        )
    credentials.create_credential(second, "shared-name", "slack", {"token": SLACK_TOKEN})


def test_bad_input_is_named(stack, make_actor) -> None:
    actor = make_actor()
    with pytest.raises(InvalidInput) as caught:
        credentials.create_credential(actor, "", "slack", {"token": SLACK_TOKEN})
    assert caught.value.problems == [{"field": "name", "message": "is required"}]
    with pytest.raises(InvalidInput) as caught:
        credentials.create_credential(
            actor,
            "mail",
            "ses",
            {"region": "eu-west-1", "aws_credential": "nope", "from_address": "a@b.co"},
        )
    assert caught.value.problems[0]["field"] == "data.aws_credential"
    credentials.create_credential(actor, "bot", "slack", {"token": SLACK_TOKEN})
    with pytest.raises(InvalidInput, match="is a slack credential"):
        credentials.create_credential(
            actor,
            "mail",
            "ses",
            {"region": "eu-west-1", "aws_credential": "bot", "from_address": "a@b.co"},
        )


async def test_replace_and_delete(stack, make_actor) -> None:
    actor = make_actor()
    created = credentials.create_credential(
        actor, "claude", "anthropic", {"api_key": ANTHROPIC_KEY}
    )
    new_key = "sk-ant-replaced-SECRET-00000000zz99"
    replaced = credentials.replace_credential(actor, created.id, {"api_key": new_key})
    assert replaced.hint == "••••zz99"
    assert replaced.updated_at > created.updated_at
    assert (await Vault(actor.workspace_id).get("claude", ("anthropic",)))["api_key"] == new_key
    with pytest.raises(InvalidInput) as caught:
        credentials.replace_credential(actor, created.id, {"token": new_key})
    assert {p["field"] for p in caught.value.problems} == {"data.api_key", "data.token"}

    credentials.delete_credential(actor, created.id)
    assert credentials.list_credentials(actor) == []
    with pytest.raises(CredentialError, match="no credential named 'claude'"):
        await Vault(actor.workspace_id).get("claude", ("anthropic",))


async def test_another_users_credential_is_not_found(stack, make_actor) -> None:
    owner, intruder = make_actor(), make_actor()
    created = credentials.create_credential(owner, "bot", "slack", {"token": SLACK_TOKEN})
    with pytest.raises(NotFound):
        credentials.get_credential(intruder, created.id)
    with pytest.raises(NotFound):
        credentials.replace_credential(intruder, created.id, {"token": "xoxb-hijack-0000"})
    with pytest.raises(NotFound):
        credentials.delete_credential(intruder, created.id)
    with pytest.raises(NotFound):
        await credentials.check_credential(intruder, created.id)
    assert (await Vault(owner.workspace_id).get("bot", ("slack",)))["token"] == SLACK_TOKEN


def test_list_shows_which_workflows_use_each_credential(stack, make_actor) -> None:
    actor = make_actor()
    credentials.create_credential(
        actor, "api-token", "http", {"scheme": "bearer", "token": SLACK_TOKEN}
    )
    credentials.create_credential(actor, "unused", "slack", {"token": SLACK_TOKEN})
    document = {
        "schema_version": 1,
        "name": "Calls an API",
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "position": {"x": 0, "y": 0},
                "data": {"label": "Start", "config": {"inputs": []}},
            },
            {
                "id": "call",
                "type": "http.request",
                "position": {"x": 0, "y": 100},
                "data": {
                    "label": "Call",
                    "config": {"url": "https://example.com", "credential": "api-token"},
                },
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": "start",
                "target": "call",
                "sourceHandle": "out",
                "targetHandle": "in",
            }
        ],
    }
    workflow = workflows.create(actor, document)
    by_name = {c.name: c for c in credentials.list_credentials(actor)}
    assert [(w.id, w.name) for w in by_name["api-token"].used_by] == [(workflow.id, "Calls an API")]
    assert by_name["unused"].used_by == []


def test_credential_problems_name_missing_and_wrong_kind_credentials(stack, make_actor) -> None:
    actor = make_actor()
    credentials.create_credential(actor, "bot", "slack", {"token": SLACK_TOKEN})
    credentials.create_credential(actor, "claude", "anthropic", {"api_key": ANTHROPIC_KEY})
    document = {
        "nodes": [
            {"id": "ok", "type": "slack.message", "data": {"config": {"credential": "bot"}}},
            {"id": "gone", "type": "http.request", "data": {"config": {"credential": "nope"}}},
            {"id": "kind", "type": "hubspot.contact", "data": {"config": {"credential": "bot"}}},
            {
                "id": "llm",
                "type": "llm.prompt",
                "data": {"config": {"provider": "openai", "credential": "claude"}},
            },
            {
                "id": "agent",
                "type": "llm.agent",
                "data": {
                    "config": {
                        "provider": "anthropic",
                        "credential": "claude",
                        "tool_credentials": {"http_request": "bot"},
                    }
                },
            },
        ]
    }
    assert credentials.credential_problems(actor.workspace_id, document) == [
        {
            "node_id": "gone",
            "field": "config.credential",
            "message": "there is no credential named 'nope'; add it under Credentials",
        },
        {
            "node_id": "kind",
            "field": "config.credential",
            "message": "credential 'bot' is a slack credential; this needs hubspot",
        },
        {
            "node_id": "llm",
            "field": "config.credential",
            "message": "credential 'claude' is a anthropic credential; this needs openai",
        },
        {
            "node_id": "agent",
            "field": "config.tool_credentials.http_request",
            "message": "credential 'bot' is a slack credential; this needs http",
        },
    ]
