"""Provider failures become the right step error: permanent and readable, or retryable."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import NodeError, TransientError
from agentflow_app.llm.nodes import LLMConfig, LLMPrompt
from tests.fakes.llm import FakeLLM, Reply
from tests.helpers.llm import ANTHROPIC_KEY, AWS_SECRET, MODELS, OPENAI_KEY

PROVIDERS = sorted(MODELS)


def config(provider: str, **overrides: object) -> LLMConfig:
    model, credential = MODELS[provider]
    values = {"provider": provider, "model": model, "credential": credential, "prompt": "Hi"}
    values.update(overrides)
    return LLMConfig.model_validate(values)


REFUSED = {
    "anthropic": Reply.error(401, "invalid x-api-key"),
    "openai": Reply.error(401, f"Incorrect API key provided: {OPENAI_KEY}."),
    "bedrock": Reply.error(403, "The security token included in the request is invalid."),
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_refused_key_names_the_credential_and_is_not_retried(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    fake_llm.script(REFUSED[provider])

    with pytest.raises(NodeError) as caught:
        await LLMPrompt().run(make_ctx(), config(provider))

    credential = MODELS[provider][1]
    assert str(caught.value).startswith(
        f"the {provider} key in credential {credential!r} was refused"
    )
    assert not isinstance(caught.value, TransientError)
    assert len(fake_llm.requests) == 1
    for secret in (ANTHROPIC_KEY, OPENAI_KEY, AWS_SECRET):
        assert secret not in str(caught.value)


async def test_a_refused_environment_key_names_the_variable(fake_llm: FakeLLM, make_ctx) -> None:
    fake_llm.script(Reply.error(401, "invalid x-api-key"))

    with pytest.raises(
        NodeError, match=r"^the anthropic key in ANTHROPIC_API_KEY was refused: invalid x-api-key$"
    ):
        await LLMPrompt().run(make_ctx(), config("anthropic", credential=None))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_rate_limits_are_transient_and_carry_retry_after(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    fake_llm.script(Reply.error(429, "Too many requests", headers={"retry-after": "7"}))

    with pytest.raises(TransientError, match="rate limiting") as caught:
        await LLMPrompt().run(make_ctx(), config(provider))

    assert caught.value.retry_after == 7
    assert len(fake_llm.requests) == 1, "the SDK must not retry on its own"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_transient(
    fake_llm: FakeLLM, make_ctx, provider: str, status: int
) -> None:
    fake_llm.script(Reply.error(status, "upstream exploded"))

    with pytest.raises(
        TransientError, match=f"{provider} had a server error \\({status}: upstream exploded\\)"
    ):
        await LLMPrompt().run(make_ctx(), config(provider))
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_dropped_connection_is_transient(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    fake_llm.script(Reply.dropped())

    with pytest.raises(TransientError, match=f"lost the connection to {provider}"):
        await LLMPrompt().run(make_ctx(), config(provider))


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_timeout_is_transient(fake_llm: FakeLLM, make_ctx, provider: str) -> None:
    fake_llm.script(Reply.say("too late", delay_s=3))

    with pytest.raises(TransientError, match=f"{provider} did not answer in time"):
        await LLMPrompt().run(make_ctx(), config(provider, timeout_s=1))


TOO_LONG = {
    "anthropic": Reply.error(400, "prompt is too long: 250112 tokens > 200000 maximum"),
    "openai": Reply.error(
        400,
        "This model's maximum context length is 128000 tokens. However, your messages "
        "resulted in 250112 tokens.",
        type="context_length_exceeded",
    ),
    "bedrock": Reply.error(400, "Input is too long for requested model."),
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_context_too_long_names_the_step(fake_llm: FakeLLM, make_ctx, provider: str) -> None:
    fake_llm.script(TOO_LONG[provider])

    with pytest.raises(
        NodeError, match=r"^step 'summarise': the prompt is too long for "
    ) as caught:
        await LLMPrompt().run(make_ctx("summarise"), config(provider))
    assert not isinstance(caught.value, TransientError)


UNKNOWN_MODEL = {
    "anthropic": Reply.error(404, "model: claude-nope"),
    "openai": Reply.error(
        404, "The model `claude-nope` does not exist or you do not have access to it."
    ),
    "bedrock": Reply.error(400, "The provided model identifier is invalid."),
}


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_an_unknown_model_gives_the_providers_message(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    fake_llm.script(UNKNOWN_MODEL[provider])

    with pytest.raises(NodeError) as caught:
        await LLMPrompt().run(make_ctx(), config(provider, model="claude-nope"))

    message = str(caught.value)
    assert message.startswith(f"{provider} does not know the model 'claude-nope': ")
    assert UNKNOWN_MODEL[provider].error_message in message
    assert "Error code" not in message and "{" not in message


async def test_a_missing_key_says_where_to_put_one(
    fake_llm: FakeLLM, make_ctx, monkeypatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    from agentflow_app.settings import reset_settings

    reset_settings()
    with pytest.raises(
        NodeError, match="name an anthropic credential on the node or set ANTHROPIC_API_KEY"
    ):
        await LLMPrompt().run(make_ctx(), config("anthropic", credential=None))
    assert fake_llm.requests == []


async def test_a_credential_of_the_wrong_kind_is_refused(fake_llm: FakeLLM, make_ctx) -> None:
    with pytest.raises(
        NodeError, match=r"^credential 'oai' is a openai credential; this needs anthropic$"
    ):
        await LLMPrompt().run(make_ctx(), config("anthropic", credential="oai"))
    assert fake_llm.requests == []
