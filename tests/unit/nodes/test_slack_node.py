"""slack.message and the slack_message tool against the fake Slack Web API."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.slack import SlackMessage, SlackMessageTool
from tests.fakes.slack import FakeSlack
from tests.helpers.node_context import node_context, run_node


def _ctx(http: GuardedClient, base: str, token: str = "xoxb-test-token", **kwargs):
    creds = {"team": ("slack", {"token": token, "base_url": base})}
    return node_context(http=http, credentials=creds, **kwargs)


async def test_posts_the_rendered_text_and_returns_slacks_reply(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    fake, base = slack
    ctx = _ctx(http, base, inputs={"who": "Ada"})
    out = await run_node(
        SlackMessage,
        {"credential": "team", "channel": "#general", "text": "Hello {{ inputs.who }}"},
        ctx,
    )
    assert out["ok"] is True
    assert out["channel"] == "C0GENERAL"
    assert out["message"]["text"] == "Hello Ada"
    assert [(m["channel"], m["text"]) for m in fake.messages] == [("C0GENERAL", "Hello Ada")]
    assert out["ts"] == fake.messages[0]["ts"]


async def test_a_wrong_token_fails_with_slacks_code(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    fake, base = slack
    with pytest.raises(NodeError) as caught:
        await run_node(
            SlackMessage,
            {"credential": "team", "channel": "#general", "text": "x"},
            _ctx(http, base, token="xoxb-wrong"),
        )
    assert str(caught.value) == (
        "slack.message: Slack says invalid_auth (the token was refused; check the credential)"
    )
    assert not isinstance(caught.value, TransientError)
    assert fake.messages == []


async def test_an_unknown_channel_fails_with_a_hint(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    _, base = slack
    with pytest.raises(NodeError, match="Slack says channel_not_found \\(check the channel name"):
        await run_node(
            SlackMessage,
            {"credential": "team", "channel": "#nowhere", "text": "x"},
            _ctx(http, base),
        )


async def test_rate_limiting_is_transient_with_retry_after(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    fake, base = slack
    fake.ratelimit_next, fake.retry_after_s = 1, 3
    config = {"credential": "team", "channel": "#alerts", "text": "x"}
    with pytest.raises(TransientError, match="Slack says ratelimited") as caught:
        await run_node(SlackMessage, config, _ctx(http, base))
    assert caught.value.retry_after == 3
    assert (await run_node(SlackMessage, config, _ctx(http, base)))["channel"] == "C0ALERTS"


async def test_a_missing_credential_is_named(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    with pytest.raises(NodeError, match=r"slack.message: there is no credential named 'team'"):
        await run_node(
            SlackMessage,
            {"credential": "team", "channel": "#general", "text": "x"},
            node_context(http=http),
        )


async def test_a_private_base_url_is_refused_when_private_networks_are_off(
    slack: tuple[FakeSlack, str], strict_http: GuardedClient
) -> None:
    fake, base = slack
    with pytest.raises(
        NodeError, match=r"slack.message: the URL resolves to 127.0.0.1, a loopback"
    ):
        await run_node(
            SlackMessage,
            {"credential": "team", "channel": "#general", "text": "x"},
            _ctx(strict_http, base),
        )
    assert fake.messages == []


async def test_the_tool_posts_with_the_agent_nodes_credential(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    fake, base = slack
    ctx = _ctx(http, base, services={"tool_credentials": {"slack_message": "team"}})
    out = await SlackMessageTool().run(ctx, SlackMessageTool.Args(channel="#general", text="hi"))
    assert out["ok"] is True
    assert fake.messages[-1]["text"] == "hi"


async def test_the_tool_without_a_chosen_credential_says_so(
    slack: tuple[FakeSlack, str], http: GuardedClient
) -> None:
    with pytest.raises(NodeError, match="slack_message: choose a credential \\(slack\\)"):
        await SlackMessageTool().run(
            _ctx(http, slack[1]), SlackMessageTool.Args(channel="#general", text="hi")
        )
