"""What a model call costs: one price table, in US dollars per million tokens.

The built-in table covers the Anthropic, OpenAI and Bedrock models people use today; prices
change more often than releases, so an operator can point a JSON file at it (same shape as
:data:`DEFAULT_PRICES`, merged over it) without waiting for one. A model nobody priced costs
0 and the node says so in its log, because a missing price must never fail a run.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentflow_app.errors import ConfigError


class Price(BaseModel):
    """US dollars per million input and output tokens."""

    model_config = ConfigDict(extra="forbid")

    input: float = Field(ge=0)
    output: float = Field(ge=0)


_A = {
    # Anthropic list prices (also what Bedrock charges for the same Claude model).
    "claude-opus-4-8": (5.0, 25.0),
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-sonnet-5": (3.0, 15.0),
    "claude-sonnet-4-6": (3.0, 15.0),
    "claude-sonnet-4-5": (3.0, 15.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
}
_O = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "o3": (2.0, 8.0),
    "o4-mini": (1.1, 4.4),
}
_B = {
    # Bedrock-only families; Claude on Bedrock falls back to the Anthropic table.
    "amazon.nova-premier": (2.5, 12.5),
    "amazon.nova-pro": (0.8, 3.2),
    "amazon.nova-lite": (0.06, 0.24),
    "amazon.nova-micro": (0.035, 0.14),
    "meta.llama3-3-70b-instruct": (0.72, 0.72),
    "mistral.mistral-large-2407": (2.0, 6.0),
}

#: provider → model id (dates and Bedrock version suffixes stripped) → price per 1M tokens.
DEFAULT_PRICES: dict[str, dict[str, Price]] = {
    provider: {model: Price(input=i, output=o) for model, (i, o) in table.items()}
    for provider, table in (("anthropic", _A), ("openai", _O), ("bedrock", _B))
}

_DATE_SUFFIX = re.compile(r"-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$")
_BEDROCK_VERSION = re.compile(r"-v\d+(:\d+)?$")
_BEDROCK_REGION = re.compile(r"^(us|eu|apac|au|ca|jp|us-gov|global)\.")


class PriceTable:
    """Looks a model up under its provider, tolerating dated and versioned ids."""

    def __init__(self, prices: dict[str, dict[str, Price]]) -> None:
        self._prices = prices

    def price(self, provider: str, model: str) -> Price | None:
        """The price of ``model``, or None when nobody priced it."""
        table = self._prices.get(provider, {})
        for candidate in _candidates(provider, model):
            if candidate in table:
                return table[candidate]
            if provider == "bedrock" and candidate.startswith("anthropic."):
                found = self._prices.get("anthropic", {}).get(candidate.removeprefix("anthropic."))
                if found is not None:
                    return found
        return None

    def cost_usd(
        self, provider: str, model: str, input_tokens: int, output_tokens: int
    ) -> float | None:
        """Dollars for one call's tokens, or None when the model has no price."""
        price = self.price(provider, model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


def _candidates(provider: str, model: str) -> list[str]:
    """The model id as given, then without region prefix, version and date suffixes."""
    name = model.strip().lower()
    seen = [name]
    if provider == "bedrock":
        name = _BEDROCK_REGION.sub("", name)
        name = _BEDROCK_VERSION.sub("", name)
        seen.append(name)
    seen.append(_DATE_SUFFIX.sub("", name))
    return list(dict.fromkeys(seen))


def load_prices(path: Path | None = None) -> PriceTable:
    """The built-in table, with the operator's JSON file merged over it when given.

    Raises:
        ConfigError: the file is missing, not JSON, or not ``{provider: {model:
            {"input": dollars, "output": dollars}}}``; the message names the file and entry.
    """
    if path is None:
        return PriceTable(DEFAULT_PRICES)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"price file {path}: {exc.strerror}") from None
    return _load_file(path, stamp)


@lru_cache(maxsize=4)
def _load_file(path: Path, _stamp: int) -> PriceTable:
    # Cached per modification time: an edited file is picked up without a restart.
    try:
        raw = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"price file {path} is not readable JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"price file {path}: expected an object of providers at the top")
    merged = {provider: dict(models) for provider, models in DEFAULT_PRICES.items()}
    for provider, models in raw.items():
        if not isinstance(models, dict):
            raise ConfigError(f"price file {path}: {provider!r} must map model ids to prices")
        for model, value in models.items():
            try:
                price = Price.model_validate(value)
            except ValidationError as exc:
                problem = exc.errors()[0]
                where = ".".join(str(p) for p in problem["loc"])
                raise ConfigError(
                    f"price file {path}: {provider}.{model}"
                    f"{'.' + where if where else ''}: {problem['msg']} "
                    '(expected {"input": dollars per 1M tokens, "output": ...})'
                ) from None
            merged.setdefault(provider, {})[model.lower()] = price
    return PriceTable(merged)
