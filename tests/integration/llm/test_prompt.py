"""``llm.prompt`` against the fake provider: what was sent, what came back, what streamed."""

from __future__ import annotations

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.llm.nodes import LLMConfig, LLMPrompt
from agentflow_app.nodes.credentials import StaticCredentials
from agentflow_app.settings import reset_settings
from tests.fakes.llm import FakeLLM, Reply
from tests.helpers.llm import (
    ANTHROPIC_KEY,
    AWS_KEY_ID,
    CREDENTIALS,
    ENV_ANTHROPIC_KEY,
    ENV_OPENAI_KEY,
    MODELS,
    OPENAI_KEY,
    Recorder,
)


def config(provider: str, **overrides: object) -> LLMConfig:
    model, credential = MODELS[provider]
    values = {"provider": provider, "model": model, "credential": credential, "prompt": "Hi"}
    values.update(overrides)
    return LLMConfig.model_validate(values)


async def test_anthropic_prompt_streams_and_reports_usage(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder
) -> None:
    fake_llm.script(Reply.say("Acme makes anvils", input_tokens=1200, output_tokens=300))

    output = await LLMPrompt().run(
        make_ctx(),
        config(
            "anthropic",
            system="You are terse.",
            prompt="Three facts about Acme",
            temperature=0.2,
            max_tokens=256,
        ),
    )

    assert output == {
        "text": "Acme makes anvils",
        "usage": {"input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0081},
        "model": "claude-sonnet-4-5",
    }
    assert recorder.tokens == ["Acme ", "makes ", "anvils"]
    [request] = fake_llm.requests
    assert request.path == "/v1/messages"
    assert request.body["model"] == "claude-sonnet-4-5"
    assert request.body["system"] == "You are terse."
    assert request.body["messages"] == [{"role": "user", "content": "Three facts about Acme"}]
    assert request.body["temperature"] == 0.2
    assert request.body["max_tokens"] == 256
    assert request.body["stream"] is True
    assert ANTHROPIC_KEY in (
        request.headers.get("x-api-key", "") + request.headers.get("authorization", "")
    )


def auth_of(request) -> str:
    return request.headers.get("x-api-key", "") + " " + request.headers.get("authorization", "")


async def test_openai_prompt_asks_for_usage_in_the_stream(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder
) -> None:
    fake_llm.script(Reply.say("Hello from GPT", input_tokens=1000, output_tokens=100))

    output = await LLMPrompt().run(make_ctx(), config("openai", system="Be kind."))

    assert output["text"] == "Hello from GPT"
    assert output["usage"] == {"input_tokens": 1000, "output_tokens": 100, "cost_usd": 0.00021}
    assert recorder.tokens == ["Hello ", "from ", "GPT"]
    [request] = fake_llm.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["model"] == "gpt-4o-mini"
    assert request.body["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "Hi"},
    ]
    assert request.body["stream_options"] == {"include_usage": True}
    assert auth_of(request).strip() == f"Bearer {OPENAI_KEY}"


async def test_bedrock_prompt_uses_converse_stream_with_the_aws_credential(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder
) -> None:
    fake_llm.script(Reply.say("Hello from Bedrock", input_tokens=2000, output_tokens=1000))

    output = await LLMPrompt().run(make_ctx(), config("bedrock", system="Be brief."))

    assert output["text"] == "Hello from Bedrock"
    # Claude on Bedrock is priced like Claude: 2000 * $3 + 1000 * $15 per million.
    assert output["usage"] == {"input_tokens": 2000, "output_tokens": 1000, "cost_usd": 0.021}
    assert output["model"] == MODELS["bedrock"][0]
    assert recorder.tokens == ["Hello ", "from ", "Bedrock"]
    [request] = fake_llm.requests
    assert request.path == f"/model/{MODELS['bedrock'][0]}/converse-stream"
    assert request.body["system"] == [{"text": "Be brief."}]
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]
    assert f"Credential={AWS_KEY_ID}/" in auth_of(request)
    assert "/us-east-1/bedrock/aws4_request" in auth_of(request)


@pytest.mark.parametrize(
    ("provider", "env_key"), [("anthropic", ENV_ANTHROPIC_KEY), ("openai", ENV_OPENAI_KEY)]
)
async def test_without_a_credential_the_environment_key_is_used(
    fake_llm: FakeLLM, make_ctx, provider: str, env_key: str
) -> None:
    fake_llm.script(Reply.say("ok"))

    output = await LLMPrompt().run(make_ctx(), config(provider, credential=None))

    assert output["text"] == "ok"
    assert env_key in auth_of(fake_llm.requests[0])


async def test_an_openai_credential_may_carry_its_own_base_url(
    fake_llm: FakeLLM, make_ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The environment points at a port where nothing listens; the credential wins.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    reset_settings()
    vault = StaticCredentials(
        {
            **CREDENTIALS,
            "ollama": ("openai", {"api_key": "ollama", "base_url": f"{fake_llm.url}/v1"}),
        }
    )
    fake_llm.script(Reply.say("local llama"))

    output = await LLMPrompt().run(
        make_ctx(credentials=vault), config("openai", model="llama3.2", credential="ollama")
    )

    assert output["text"] == "local llama"
    assert fake_llm.requests[0].body["model"] == "llama3.2"


async def test_a_model_without_a_price_costs_zero_and_says_so(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder
) -> None:
    fake_llm.script(Reply.say("ok"))

    output = await LLMPrompt().run(make_ctx(), config("openai", model="my-finetune-7"))

    assert output["usage"]["cost_usd"] == 0
    assert output["usage"]["input_tokens"] == 11
    assert any("no price known for openai model 'my-finetune-7'" in m for m, _ in recorder.logs)


# -- json_output ---------------------------------------------------------------------------


@pytest.mark.parametrize("provider", sorted(MODELS))
async def test_json_output_is_parsed_into_data(fake_llm: FakeLLM, make_ctx, provider: str) -> None:
    fake_llm.script(Reply.say('```json\n{"facts": ["a", "b"], "count": 2}\n```'))

    output = await LLMPrompt().run(make_ctx(), config(provider, json_output=True))

    assert output["data"] == {"facts": ["a", "b"], "count": 2}
    assert "one JSON value" in fake_llm.bodies[0]


async def test_invalid_json_gets_one_repair_round(
    fake_llm: FakeLLM, make_ctx, recorder: Recorder
) -> None:
    fake_llm.script(
        Reply.say("Sure! {facts: [a]}", input_tokens=10, output_tokens=5),
        Reply.say('{"facts": ["a"]}', input_tokens=30, output_tokens=6),
    )

    output = await LLMPrompt().run(make_ctx(), config("anthropic", json_output=True))

    assert output["data"] == {"facts": ["a"]}
    assert output["text"] == '{"facts": ["a"]}'
    assert output["usage"]["input_tokens"] == 40
    assert output["usage"]["output_tokens"] == 11
    repair = fake_llm.requests[1].body["messages"]
    assert repair[1]["role"] == "assistant"
    assert "not valid JSON" in str(repair[-1]["content"])
    assert any("not valid JSON" in m for m, _ in recorder.logs)


async def test_json_still_invalid_after_the_repair_fails_clearly(
    fake_llm: FakeLLM, make_ctx
) -> None:
    fake_llm.script(Reply.say("not json"), Reply.say("still not json"))

    with pytest.raises(
        NodeError, match=r"not valid JSON, even after one repair round.*'still not json'"
    ):
        await LLMPrompt().run(make_ctx(), config("openai", json_output=True))
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
async def test_steps_of_one_loop_reuse_a_model_yet_see_a_new_key_or_setting_at_once(
    fake_llm: FakeLLM, make_ctx, provider: str
) -> None:
    """Chat models are kept per event loop and per (model, key, settings): the next step
    after a credential's key is edited, or a node's temperature changed, sends the new one."""
    name, (kind, value) = MODELS[provider][1], CREDENTIALS[MODELS[provider][1]]
    rotated = StaticCredentials({**CREDENTIALS, name: (kind, {**value, "api_key": "sk-rotated-2"})})
    steps = [
        (StaticCredentials(CREDENTIALS), 0.2),
        (StaticCredentials(CREDENTIALS), 0.2),
        (rotated, 0.2),
        (StaticCredentials(CREDENTIALS), 0.9),
    ]
    for vault, temperature in steps:
        fake_llm.script(Reply.say("ok"))
        step = config(provider, temperature=temperature)
        assert (await LLMPrompt().run(make_ctx(credentials=vault), step))["text"] == "ok"

    sent = [
        ("sk-rotated-2" in auth_of(r), value["api_key"] in auth_of(r), r.body["temperature"])
        for r in fake_llm.requests
    ]
    assert sent == [(False, True, 0.2), (False, True, 0.2), (True, False, 0.2), (False, True, 0.9)]


async def test_a_bedrock_credential_changed_between_steps_signs_the_next_request(
    fake_llm: FakeLLM, make_ctx
) -> None:
    """Bedrock clients are kept per set of credentials: editing the credential's key takes
    effect on the next step, and going back to the first key still works."""
    rotated = {**CREDENTIALS["aws"][1], "access_key_id": "AKIAROTATEDKEY000002"}
    vaults = [
        StaticCredentials(CREDENTIALS),
        StaticCredentials({**CREDENTIALS, "aws": ("aws", rotated)}),
        StaticCredentials(CREDENTIALS),
    ]
    for vault in vaults:
        fake_llm.script(Reply.say("ok"))
        assert (await LLMPrompt().run(make_ctx(credentials=vault), config("bedrock")))[
            "text"
        ] == "ok"

    signed_by = [auth_of(r).split("Credential=")[1].split("/")[0] for r in fake_llm.requests]
    assert signed_by == [AWS_KEY_ID, "AKIAROTATEDKEY000002", AWS_KEY_ID]


async def test_bedrock_without_a_credential_uses_the_aws_default_chain(
    fake_llm: FakeLLM, make_ctx, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-environment")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    fake_llm.script(Reply.say("from the chain"))

    output = await LLMPrompt().run(make_ctx(), config("bedrock", credential=None))

    assert output["text"] == "from the chain"
    authorization = auth_of(fake_llm.requests[0])
    assert "Credential=AKIAFROMENVIRONMENT1/" in authorization
    assert "/eu-west-1/bedrock/aws4_request" in authorization


async def test_a_prompt_that_rendered_to_an_object_is_sent_as_json(
    fake_llm: FakeLLM, make_ctx
) -> None:
    # `{{ nodes.fetch.output.body }}` keeps its type when rendered: the runner hands it over.
    rendered = config("openai").model_copy(update={"prompt": {"company": "Acme", "size": 12}})
    fake_llm.script(Reply.say("ok"))

    await LLMPrompt().run(make_ctx(), rendered)

    assert fake_llm.requests[0].body["messages"] == [
        {"role": "user", "content": '{"company": "Acme", "size": 12}'}
    ]
