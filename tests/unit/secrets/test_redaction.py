"""Redaction: exact secrets and their usual encodings, anywhere in a value."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from pydantic import BaseModel

from agentflow_app.secrets.redaction import Redactor

TOKEN = "xoxb-12345/abc+def=ghi&jkl"
PASSWORD = 'pa ss:wörd"9'


def _redactor() -> Redactor:
    redactor = Redactor()
    redactor.add_value("slack-bot", "slack", {"token": TOKEN})
    redactor.add_value("api", "http", {"scheme": "basic", "username": "me", "password": PASSWORD})
    return redactor


def test_nothing_registered_changes_nothing() -> None:
    value = {"a": [1, "two"]}
    assert Redactor()(value) is value


def test_exact_secret_anywhere_in_nested_values_and_keys() -> None:
    out = _redactor()({"echo": [{"auth": f"Bearer {TOKEN}"}], TOKEN: 1, "n": 3, "ok": True})
    assert out == {
        "echo": [{"auth": "Bearer [redacted:slack-bot]"}],
        "[redacted:slack-bot]": 1,
        "n": 3,
        "ok": True,
    }


def test_common_encodings_are_caught() -> None:
    basic = base64.b64encode(f"me:{PASSWORD}".encode()).decode()
    text = " | ".join(
        [
            f"token={quote(TOKEN, safe='')}",
            f"Authorization: Basic {basic}",
            json.dumps({"password": PASSWORD}),
            base64.b64encode(TOKEN.encode()).decode(),
        ]
    )
    out = _redactor().text(text)
    assert TOKEN not in out and quote(TOKEN, safe="") not in out
    assert basic not in out and "9" not in out.split("password")[1]
    assert out.count("[redacted:slack-bot]") == 2
    assert out.count("[redacted:api]") == 2


def test_objects_and_errors_are_scrubbed_too() -> None:
    class Answer(BaseModel):
        body: str

    redactor = _redactor()
    assert redactor(Answer(body=f"you sent {TOKEN}")) == {"body": "you sent [redacted:slack-bot]"}
    assert redactor(ValueError(f"bad {TOKEN}")) == "bad [redacted:slack-bot]"


def test_a_longer_secret_wins_over_one_it_contains() -> None:
    redactor = Redactor()
    redactor.add("short", ["abcd1234"])
    redactor.add("long", ["abcd1234efgh"])
    assert redactor.text("x abcd1234efgh y abcd1234") == "x [redacted:long] y [redacted:short]"


def test_tiny_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor()
    redactor.add_value("pin", "http", {"scheme": "bearer", "token": "abc"})
    assert redactor.text("abc abc") == "abc abc"
