"""How states turn values into the short texts pages show: one copy of each helper.

Plain Python (no Reflex), so every state and the tests use the same wording.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from agentflow_app.db import MAX_ID


def format_duration(seconds: float | None) -> str:
    """``850 ms``, ``4.2 s``, ``2 m 03 s``, ``1 h 05 m``; empty when unknown."""
    if seconds is None or seconds < 0:
        return ""
    if seconds < 1:
        return f"{round(seconds * 1000)} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{round(seconds)} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} m"


def format_tokens(usage: dict[str, Any] | None) -> str:
    """``1,204 tokens`` (input + output); empty when the step used none."""
    usage = usage or {}
    total = sum(
        int(usage.get(key) or 0)
        for key in ("input_tokens", "output_tokens")
        if isinstance(usage.get(key), int | float)
    )
    return f"{total:,} tokens" if total else ""


def format_cost(usage: dict[str, Any] | None) -> str:
    """``$0.0123``; empty when there is no cost."""
    cost = (usage or {}).get("cost_usd")
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost <= 0:
        return ""
    return f"${cost:.4f}" if cost < 1 else f"${cost:,.2f}"


def format_clock(moment: datetime | None) -> str:
    """``2026-11-26 14:03:07 UTC``; empty when unknown."""
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else ""


def pretty_json(value: Any) -> str:
    """A value as a form shows and edits it: indented JSON, non-ASCII kept."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def sentence(message: str) -> str:
    """A message as a sentence: capitalised, ending in one full stop (or its own ``!``/``?``)."""
    message = message.strip()
    if not message:
        return message
    message = message[0].upper() + message[1:]
    return message if message.endswith(("!", "?")) else message.rstrip(".") + "."


def route_id(path: str | None) -> int | None:
    """The object id a page's URL ends with (``/workflows/12`` -> 12); None if it names none."""
    raw = str(path or "").rstrip("/").rsplit("/", 1)[-1]
    if not (raw.isascii() and raw.isdigit()):
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None  # a larger one names no row
