"""A tool's result as JSON: text for the model, blocks for the record, capped and scrubbed."""

from __future__ import annotations

import json

import mcp_types as types

from agentflow_app.mcp.client import MAX_RESULT_BYTES, cap, to_result


def test_text_structured_image_and_resources_all_become_json() -> None:
    result = types.CallToolResult(
        content=[
            types.TextContent(type="text", text="found it"),
            types.ImageContent(type="image", data="aGVsbG8=", mime_type="image/png"),
            types.EmbeddedResource(
                type="resource",
                resource=types.TextResourceContents(uri="file:///notes.txt", text="a note"),
            ),
            types.ResourceLink(type="resource_link", uri="https://x.test/r", name="report"),
        ],
        structured_content={"employees": 42},
    )

    out = to_result(result)

    assert out.data == {"employees": 42}
    assert out.text.splitlines() == [
        "found it",
        "a note",
        "[image image/png, 5 bytes, kept in the step output]",
        "[resource link https://x.test/r (report)]",
    ]
    assert out.content == [
        {"type": "image", "mime_type": "image/png", "data": "aGVsbG8="},
        {"type": "resource_link", "uri": "https://x.test/r", "name": "report"},
    ]
    assert not out.is_error and not out.truncated


def test_a_tool_error_is_a_result_not_an_exception() -> None:
    out = to_result(
        types.CallToolResult(
            content=[types.TextContent(type="text", text="no such company")], is_error=True
        )
    )
    assert out.is_error and out.text == "no such company"


def test_text_that_is_json_is_also_data() -> None:
    out = to_result(types.CallToolResult(content=[types.TextContent(type="text", text='{"a": 1}')]))
    assert out.data == {"a": 1}


def test_known_secrets_are_scrubbed_everywhere() -> None:
    out = to_result(
        types.CallToolResult(
            content=[types.TextContent(type="text", text="token is tok-SECRET-99")],
            structured_content={"echo": "tok-SECRET-99"},
        ),
        secrets=("tok-SECRET-99",),
    )
    assert "tok-SECRET-99" not in json.dumps(out.model_dump())
    assert out.text == "token is ***"


def test_a_result_over_the_cap_is_cut_and_marked() -> None:
    huge = "y" * (MAX_RESULT_BYTES + 500_000)
    out = to_result(types.CallToolResult(content=[types.TextContent(type="text", text=huge)]))

    assert out.truncated
    assert len(json.dumps(out.model_dump()).encode()) <= MAX_RESULT_BYTES
    assert out.text.endswith("… (cut at 1024 KiB; the whole text was 1512 KiB)")
    assert out.text.startswith("yyyy") and out.content == []


def test_a_result_under_the_cap_is_kept_whole() -> None:
    out = to_result(
        types.CallToolResult(content=[types.TextContent(type="text", text="z" * 900_000)])
    )
    assert not out.truncated and out.text == "z" * 900_000
    assert cap(out) == out
