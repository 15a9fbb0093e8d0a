"""A node reads a credential with the same model per kind that checked it when it was saved.

The read path is :func:`~agentflow_app.nodes.credentials.load_credential` over a provider
(here ``StaticCredentials``, as in tests and the CLI); the write path is
:func:`~agentflow_app.secrets.kinds.parse_value`, what the service calls on save. The two
used to be separate models that disagreed on HTTP basic auth without a password, on
Slack's ``base_url`` default and on the ``from`` spelling of an email sender; each has a
test below showing both paths now give the same answer.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from agentflow_app.engine.errors import NodeError
from agentflow_app.errors import InvalidInput
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes import NODES, TOOLS
from agentflow_app.nodes import credentials as node_credentials
from agentflow_app.nodes.credentials import load_credential
from agentflow_app.secrets import checks
from agentflow_app.secrets.kinds import (
    HUBSPOT_API,
    KINDS,
    SLACK_API,
    CredentialKind,
    HttpKind,
    HubSpotKind,
    SlackKind,
    parse_value,
)
from tests.helpers.credential_examples import EXAMPLES
from tests.helpers.node_context import node_context

SECRET = "pw-0123456789abcdefWXYZ"


def _kinds_the_nodes_read() -> set[str]:
    kinds: set[str] = set()
    for node in NODES:
        field = node.Config.model_fields.get("credential")
        extra = field.json_schema_extra if field is not None else None
        if isinstance(extra, dict):
            kinds.update(extra.get("credential_kinds", ()))
    for tool in TOOLS:
        kinds.update(getattr(tool, "credential_kinds", ()))
    return kinds


NODE_KINDS = sorted(_kinds_the_nodes_read())


@pytest.fixture
async def http() -> AsyncIterator[GuardedClient]:
    async with GuardedClient(allow_private=False) as client:
        yield client


async def read(http: GuardedClient, kind: str, data: dict[str, Any]) -> CredentialKind:
    """``data`` as a node reads it: a credential named ``c`` of ``kind``."""
    ctx = node_context(http=http, credentials={"c": (kind, data)})
    return await load_credential(ctx, "test.node", "c", (kind,))


def write(kind: str, data: dict[str, Any]) -> CredentialKind:
    """``data`` as it is saved."""
    return parse_value(kind, data)


# -- one model per kind -----------------------------------------------------------------------


def test_the_nodes_module_defines_no_credential_model() -> None:
    own_models = [
        name
        for name, value in inspect.getmembers(node_credentials, inspect.isclass)
        if issubclass(value, BaseModel) and value.__module__ == node_credentials.__name__
    ]
    assert own_models == []


def test_the_nodes_read_only_kinds_that_have_a_model() -> None:
    assert NODE_KINDS == ["http", "hubspot", "ses", "slack", "smtp"]
    assert set(NODE_KINDS) <= set(KINDS)


@pytest.mark.parametrize("kind", NODE_KINDS)
async def test_a_saved_value_reads_back_as_the_same_class_and_value(
    http: GuardedClient, kind: str
) -> None:
    saved = write(kind, EXAMPLES[kind])
    loaded = await read(http, kind, saved.stored())
    assert type(saved) is KINDS[kind]
    assert type(loaded) is KINDS[kind]
    assert loaded == saved


async def test_reading_drops_keys_that_are_not_fields_and_saving_refuses_them(
    http: GuardedClient,
) -> None:
    data = {"token": "xoxb-1", "team": "T01"}
    assert (await read(http, "slack", data)) == SlackKind(token="xoxb-1")
    with pytest.raises(InvalidInput, match=r"data\.team: is not a field"):
        write("slack", data)


# -- HTTP basic auth without a password -----------------------------------------------------


async def test_basic_auth_without_a_password_is_refused_on_save_and_on_read(
    http: GuardedClient,
) -> None:
    data = {"scheme": "basic", "username": "ada"}
    with pytest.raises(InvalidInput, match="scheme basic needs password"):
        write("http", data)
    with pytest.raises(
        NodeError, match=r"credential 'c' \(http\) is incomplete: .*scheme basic needs password"
    ):
        await read(http, "http", data)


async def test_basic_auth_with_a_password_gives_the_same_header_both_ways(
    http: GuardedClient,
) -> None:
    data = {"scheme": "basic", "username": "ada", "password": SECRET}
    saved, loaded = write("http", data), await read(http, "http", data)
    assert isinstance(loaded, HttpKind)
    assert loaded.headers() == saved.headers()
    assert loaded.headers()["Authorization"].startswith("Basic ")


# -- Slack's base_url default -----------------------------------------------------------------


async def test_slack_without_base_url_calls_slack_both_ways(http: GuardedClient) -> None:
    saved = write("slack", {"token": "xoxb-1"})
    assert "base_url" not in saved.stored()  # the default is not frozen into stored values
    loaded = await read(http, "slack", saved.stored())
    assert isinstance(saved, SlackKind) and isinstance(loaded, SlackKind)
    assert saved.base_url is None and loaded.base_url is None
    assert saved.api_url == loaded.api_url == SLACK_API == "https://slack.com/api"
    assert checks.SLACK_API is SLACK_API  # the Test button calls the same default


async def test_slack_with_base_url_uses_it_both_ways(http: GuardedClient) -> None:
    data = {"token": "xoxb-1", "base_url": "https://proxy.example.com/slack/"}
    saved, loaded = write("slack", data), await read(http, "slack", data)
    assert isinstance(saved, SlackKind) and isinstance(loaded, SlackKind)
    assert saved.api_url == loaded.api_url == "https://proxy.example.com/slack"


async def test_hubspot_without_base_url_calls_hubspot_both_ways(http: GuardedClient) -> None:
    saved = write("hubspot", {"token": "pat-1"})
    loaded = await read(http, "hubspot", saved.stored())
    assert isinstance(saved, HubSpotKind) and isinstance(loaded, HubSpotKind)
    assert saved.api_url == loaded.api_url == HUBSPOT_API == "https://api.hubapi.com"


# -- the email sender: from_address, or from ------------------------------------------------

SENDERS = {
    "smtp": {"host": "smtp.example.com", "username": "bot", "password": SECRET},
    "ses": {"region": "eu-west-1"},
}


@pytest.mark.parametrize("kind", sorted(SENDERS))
@pytest.mark.parametrize("spelling", ["from_address", "from"])
async def test_the_sender_is_accepted_under_either_name_both_ways(
    http: GuardedClient, kind: str, spelling: str
) -> None:
    data = {**SENDERS[kind], spelling: "AgentFlow <robot@agentflow.test>"}
    saved, loaded = write(kind, data), await read(http, kind, data)
    assert saved == loaded
    assert saved.stored()["from_address"] == "AgentFlow <robot@agentflow.test>"
    assert "from" not in saved.stored()
    assert (await read(http, kind, saved.stored())) == saved


@pytest.mark.parametrize("kind", sorted(SENDERS))
async def test_a_missing_sender_is_refused_both_ways_by_the_same_name(
    http: GuardedClient, kind: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        write(kind, SENDERS[kind])
    assert "data.from_address" in [p["field"] for p in caught.value.problems]
    with pytest.raises(NodeError, match="incomplete: from_address: Field required"):
        await read(http, kind, SENDERS[kind])


@pytest.mark.parametrize("kind", sorted(SENDERS))
async def test_a_sender_that_is_not_an_address_is_refused_both_ways(
    http: GuardedClient, kind: str
) -> None:
    data = {**SENDERS[kind], "from": "robot"}
    with pytest.raises(InvalidInput, match="from_address must be an email address"):
        write(kind, data)
    with pytest.raises(NodeError, match="from_address must be an email address"):
        await read(http, kind, data)
