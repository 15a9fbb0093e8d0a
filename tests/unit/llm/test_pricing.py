"""The price table: built-in prices, tolerant model ids, and the operator's override file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agentflow_app.errors import ConfigError
from agentflow_app.llm.pricing import load_prices


@pytest.mark.parametrize(
    ("provider", "model", "expected"),
    [
        ("anthropic", "claude-sonnet-4-5", 3 * 1.0 + 15 * 0.5),
        ("anthropic", "claude-sonnet-4-5-20250929", 3 * 1.0 + 15 * 0.5),
        ("anthropic", "claude-haiku-4-5-latest", 1 * 1.0 + 5 * 0.5),
        ("openai", "gpt-4o-2024-08-06", 2.5 * 1.0 + 10 * 0.5),
        ("bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0", 3 * 1.0 + 15 * 0.5),
        ("bedrock", "us.anthropic.claude-haiku-4-5-20251001-v1:0", 1 * 1.0 + 5 * 0.5),
        ("bedrock", "amazon.nova-lite-v1:0", 0.06 * 1.0 + 0.24 * 0.5),
    ],
)
def test_known_models_are_priced_per_million_tokens(
    provider: str, model: str, expected: float
) -> None:
    cost = load_prices().cost_usd(provider, model, 1_000_000, 500_000)

    assert cost == pytest.approx(expected)


def test_an_unknown_model_has_no_price() -> None:
    assert load_prices().cost_usd("openai", "my-finetune", 10, 10) is None
    assert load_prices().cost_usd("anthropic", "gpt-4o", 10, 10) is None


def test_the_price_file_adds_and_overrides_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(
        json.dumps(
            {
                "openai": {
                    "gpt-4o": {"input": 1, "output": 2},
                    "llama3.2": {"input": 0, "output": 0},
                },
                "anthropic": {"Claude-Next": {"input": 4, "output": 20}},
            }
        )
    )

    prices = load_prices(path)

    assert prices.cost_usd("openai", "gpt-4o", 1_000_000, 1_000_000) == 3
    assert prices.cost_usd("openai", "llama3.2", 5, 5) == 0
    assert prices.cost_usd("anthropic", "claude-next", 1_000_000, 0) == 4
    assert prices.cost_usd("openai", "gpt-4o-mini", 1_000_000, 0) == 0.15, "untouched defaults stay"


def test_an_edited_price_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"openai": {"m": {"input": 1, "output": 1}}}))
    assert load_prices(path).cost_usd("openai", "m", 1_000_000, 0) == 1

    path.write_text(json.dumps({"openai": {"m": {"input": 2, "output": 1}}}))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    assert load_prices(path).cost_usd("openai", "m", 1_000_000, 0) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not readable JSON"),
        ("[1, 2]", "expected an object of providers"),
        ('{"openai": ["gpt-4o"]}', "'openai' must map model ids to prices"),
        (
            '{"openai": {"gpt-4o": {"input": -1, "output": 2}}}',
            "openai.gpt-4o.input: Input should be greater than or equal to 0",
        ),
        ('{"openai": {"gpt-4o": {"in": 1, "output": 2}}}', "openai.gpt-4o.input: Field required"),
    ],
)
def test_a_bad_price_file_says_what_and_where(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)

    with pytest.raises(ConfigError) as caught:
        load_prices(path)

    assert str(caught.value).startswith(f"price file {path}")
    assert message in str(caught.value)


def test_a_missing_price_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"prices\.json: No such file"):
        load_prices(tmp_path / "prices.json")
