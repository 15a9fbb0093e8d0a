"""Credential kinds: what each accepts, what it refuses (by field), what it hides."""

from __future__ import annotations

import pytest

from agentflow_app.errors import InvalidInput
from agentflow_app.secrets.kinds import KINDS, parse_value
from agentflow_app.secrets.redaction import value_secrets
from tests.helpers.credential_examples import EXAMPLES, SECRET


def test_every_kind_has_an_example() -> None:
    assert set(EXAMPLES) == set(KINDS)


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_valid_values_parse_and_are_stored_without_unset_fields(kind: str) -> None:
    value = parse_value(kind, EXAMPLES[kind])
    stored = value.stored()
    assert None not in stored.values()
    assert set(stored) >= set(EXAMPLES[kind])


def test_base_url_trailing_slash_is_dropped() -> None:
    assert parse_value("openai", EXAMPLES["openai"]).stored()["base_url"] == (
        "https://gateway.example.com/v1"
    )


@pytest.mark.parametrize(
    ("kind", "data", "field", "words"),
    [
        ("anthropic", {}, "data.api_key", "required"),
        ("anthropic", {"api_key": SECRET, "apikey": SECRET}, "data.apikey", "not a field"),
        ("openai", {"api_key": SECRET, "base_url": f"ftp://{SECRET}"}, "data.base_url", "http"),
        ("aws", {"region": "eu-west-1"}, "data", "access_key_id"),
        (
            "aws",
            {"region": "eu-west-1", "use_default_chain": True, "secret_access_key": SECRET},
            "data",
            "not both",
        ),
        ("smtp", {"host": "h", "password": SECRET, "from_address": "a@b.c"}, "data", "username"),
        ("smtp", {"host": "h", "port": 70000, "from_address": "a@b.c"}, "data.port", "65535"),
        ("ses", {"region": "r", "access_key_id": "AKIA", "from_address": "a@b.c"}, "data", "both"),
        ("http", {"scheme": "header", "header_name": "X-Key"}, "data", "header_value"),
        ("http", {"scheme": "bearer", "token": SECRET, "password": SECRET}, "data", "password"),
        (
            "http",
            {"scheme": "header", "header_name": "X Key", "header_value": SECRET},
            "data",
            "header",
        ),
    ],
)
def test_invalid_values_name_the_field_and_never_echo_the_value(
    kind: str, data: dict, field: str, words: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_value(kind, data)
    fields = [p["field"] for p in caught.value.problems]
    assert field in fields, caught.value.problems
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.problems)


def test_unknown_kind_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput, match=r"unknown credential kind 'github'.*anthropic"):
        parse_value("github", {})


def test_a_value_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be an object"):
        parse_value("slack", SECRET)


@pytest.mark.parametrize(
    ("kind", "data", "hint"),
    [
        ("anthropic", {"api_key": SECRET}, "••••WXYZ"),
        ("anthropic", {"api_key": "short-key"}, "••••"),
        ("aws", {"region": "eu-west-1", "use_default_chain": True}, ""),
        ("http", {"scheme": "header", "header_name": "X-Key", "header_value": SECRET}, "••••WXYZ"),
    ],
)
def test_hint_shows_at_most_the_last_four_of_a_long_secret(
    kind: str, data: dict, hint: str
) -> None:
    assert parse_value(kind, data).hint() == hint


def test_secret_fields_are_declared_fields() -> None:
    for model in KINDS.values():
        assert set(model.secret_fields) <= set(model.model_fields), model.kind


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        ("anthropic", {"api_key": "sk-ant-ü123"}, "data.api_key"),
        ("openai", {"api_key": "sk-\u200b123"}, "data.api_key"),
        ("slack", {"token": "xoxb-1\n2"}, "data.token"),
        ("hubspot", {"token": "pat-€"}, "data.token"),
        ("http", {"scheme": "bearer", "token": "tök"}, "data.token"),
        (
            "http",
            {"scheme": "header", "header_name": "X-Key", "header_value": "v\x00w"},
            "data.header_value",
        ),
        (
            "aws",
            {"region": "eu-west-1", "access_key_id": "AKIA", "secret_access_key": "sé"},
            "data.secret_access_key",
        ),
        (
            "smtp",
            {"host": "mail", "username": "u", "password": "pässword", "from_address": "a@b.c"},
            "data.password",
        ),
    ],
)
def test_values_sent_in_headers_or_logins_must_be_printable_ascii(
    kind: str, data: dict, field: str
) -> None:
    # A non-ASCII key once saved fine, then every request with it died in the HTTP client
    # with UnicodeEncodeError (a 500 on the Test button, and every run failed).
    with pytest.raises(InvalidInput) as caught:
        parse_value(kind, data)
    assert [p["field"] for p in caught.value.problems] == [field]
    assert "printable ASCII" in caught.value.problems[0]["message"]
    for value in data.values():
        assert str(value) not in str(caught.value) or str(value).isascii()


def test_a_header_name_must_be_an_ascii_token() -> None:
    with pytest.raises(InvalidInput, match="header_name is not a valid HTTP header name"):
        parse_value("http", {"scheme": "header", "header_name": "\u212aey", "header_value": "v"})


def test_mcp_headers_may_be_typed_as_json_or_lines_and_every_value_is_secret() -> None:
    typed = parse_value(
        "mcp", {"url": "https://mcp.example.com/mcp", "headers": '{"X-Api-Key": "key-0123456789"}'}
    )
    lines = parse_value(
        "mcp", {"url": "https://mcp.example.com/mcp", "headers": "X-Api-Key: key-0123456789"}
    )
    assert typed.stored() == lines.stored()
    assert typed.request_headers() == {"X-Api-Key": "key-0123456789"}
    assert typed.hint() == "••••6789"
    assert "key-0123456789" in value_secrets("mcp", typed.stored())


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"url": "ftp://x.example.com/mcp"}, "data", "url must be an http:// or https:// URL"),
        (
            {"url": "https://x.example.com/mcp", "headers": "no colon"},
            "data.headers",
            "Name: value",
        ),
        (
            {"url": "https://x.example.com/mcp", "headers": {"X-K": "é"}},
            "data.headers.X-K",
            "ASCII",
        ),
        (
            {"url": "https://x.example.com/mcp", "headers": {"Bad Name": "v"}},
            "data",
            "not a valid header",
        ),
        (
            {"url": "https://x.example.com/mcp", "token": "t", "headers": {"Authorization": "x"}},
            "data",
            "either token or an Authorization header",
        ),
    ],
)
def test_mcp_values_are_checked_at_entry(data: dict, field: str, message: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_value("mcp", data)
    [problem] = refused.value.problems
    assert problem["field"] == field and message in problem["message"]
