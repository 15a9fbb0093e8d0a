"""``attachments``: the fake providers receive the image and the PDF in each provider's
own format (base64 and media type exact), through the real SDKs and LangChain, with the
files read from the app's store; usage is still recorded."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentflow_app.engine.errors import NodeError
from agentflow_app.llm.nodes import LLMAgent, LLMPrompt
from agentflow_app.services import files
from agentflow_app.services.files import DbFileHost
from tests.fakes.llm import FakeLLM, Reply
from tests.helpers.llm import MODELS
from tests.helpers.node_context import run_node
from tests.helpers.stack import Stack, make_stack
from tests.helpers.users import new_account

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(200)
PDF = (SAMPLES / "invoice.pdf").read_bytes()


@pytest.fixture(scope="module")
def module_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with make_stack("embedded", tmp_path_factory.mktemp("attachments")) as made:
        yield made


@pytest.fixture
def attached(module_stack: Stack, make_ctx) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A context whose run owns a PNG and a PDF; their references."""
    owner = new_account("attach")
    png = files.store_file(owner.actor.workspace_id, "chart.png", "image/png", [PNG]).as_json()
    pdf = files.store_file(owner.actor.workspace_id, "Invoice #42.pdf", None, [PDF]).as_json()
    ctx = make_ctx()
    ctx.services["files"] = DbFileHost(1, owner.actor.workspace_id)
    return ctx, png, pdf


def _config(provider: str, **extra: Any) -> dict[str, Any]:
    name, credential = MODELS[provider]
    return {
        "provider": provider,
        "model": name,
        "credential": credential,
        "prompt": "What is the total?",
        # A template gives a file, or a list of files (a files input).
        "attachments": ["{{ inputs.photo }}", "{{ inputs.docs }}"],
        **extra,
    }


def _with_inputs(ctx: Any, photo: Any, docs: Any) -> Any:
    ctx.inputs.update(photo=photo, docs=docs)
    return ctx


B64_PNG = base64.b64encode(PNG).decode()
B64_PDF = base64.b64encode(PDF).decode()


async def test_anthropic_gets_image_and_document_blocks(fake_llm: FakeLLM, attached) -> None:
    ctx, png, pdf = attached
    fake_llm.script(Reply.say("1,250.00 EUR", input_tokens=1500, output_tokens=10))
    output = await run_node(LLMPrompt, _config("anthropic"), _with_inputs(ctx, png, [pdf]))
    assert output["text"] == "1,250.00 EUR"
    assert output["usage"]["input_tokens"] == 1500
    assert output["usage"]["cost_usd"] > 0
    [request] = fake_llm.requests
    assert request.body["messages"] == [
        {
            "role": "user",
            "content": [
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": B64_PNG},
                },
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": B64_PDF},
                },
                {"type": "text", "text": "What is the total?"},
            ],
        }
    ]


async def test_openai_gets_image_url_and_file_parts(fake_llm: FakeLLM, attached) -> None:
    ctx, png, pdf = attached
    fake_llm.script(Reply.say("1,250.00 EUR", input_tokens=900, output_tokens=10))
    output = await run_node(LLMPrompt, _config("openai"), _with_inputs(ctx, png, [pdf]))
    assert output["usage"]["input_tokens"] == 900
    [request] = fake_llm.requests
    [message] = request.body["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64_PNG}"}},
        {
            "type": "file",
            "file": {
                "filename": "Invoice #42.pdf",
                "file_data": f"data:application/pdf;base64,{B64_PDF}",
            },
        },
        {"type": "text", "text": "What is the total?"},
    ]


async def test_bedrock_converse_gets_image_and_document_blocks(fake_llm: FakeLLM, attached) -> None:
    ctx, png, pdf = attached
    fake_llm.script(Reply.say("1,250.00 EUR", input_tokens=1100, output_tokens=10))
    output = await run_node(LLMAgent, _config("bedrock"), _with_inputs(ctx, png, [pdf]))
    assert output["text"] == "1,250.00 EUR"
    assert output["usage"]["input_tokens"] == 1100
    [request] = fake_llm.requests
    [message] = request.body["messages"]
    assert message["role"] == "user"
    assert message["content"] == [
        {"image": {"format": "png", "source": {"bytes": B64_PNG}}},
        {"document": {"format": "pdf", "name": "Invoice 42", "source": {"bytes": B64_PDF}}},
        {"text": "What is the total?"},
    ]


async def test_a_type_no_model_takes_is_a_clear_step_error(fake_llm: FakeLLM, attached) -> None:
    ctx, png, _pdf = attached
    workspace_id = ctx.services["files"].workspace_id
    docx = files.store_file(
        workspace_id, "notes.docx", None, [(SAMPLES / "notes.docx").read_bytes()]
    )
    with pytest.raises(
        NodeError, match=r"attachment 'notes.docx' is application/vnd.*file\.extract"
    ):
        await run_node(LLMPrompt, _config("anthropic"), _with_inputs(ctx, png, docx.as_json()))
    with pytest.raises(NodeError, match=r"attachments\[0\] is not a file"):
        await run_node(LLMPrompt, _config("anthropic", attachments=["just text"]), ctx)
    assert fake_llm.requests == []
