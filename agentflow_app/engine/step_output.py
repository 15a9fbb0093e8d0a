"""What a step's output must be to be stored: JSON, capped, with its usage read off it.

The runner stores every finished step's output (SPEC §7); these are the rules it applies
on the way, kept apart so the node-test panel sizes its samples by the same cap.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel

from agentflow_app.engine.errors import NodeError

#: A step output bigger than this (as JSON) is stored as a preview and marked truncated.
MAX_OUTPUT_BYTES = 1024 * 1024
#: Characters of the JSON text kept as the preview of a truncated output.
PREVIEW_CHARS = 64 * 1024
USAGE_KEYS = ("input_tokens", "output_tokens", "cost_usd")


def usage_of(output: Any) -> dict[str, float] | None:
    usage = output.get("usage") if isinstance(output, dict) else None
    if not isinstance(usage, dict):
        return None
    found = {
        key: usage[key]
        for key in USAGE_KEYS
        if isinstance(usage.get(key), int | float) and not isinstance(usage.get(key), bool)
    }
    return found or None


def to_json(node_id: str, output: Any) -> tuple[Any, str]:
    """The output as plain JSON data and its JSON text; a clear error when it is not JSON."""
    if isinstance(output, BaseModel):
        output = output.model_dump(mode="json")
    try:
        text = json.dumps(output, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise NodeError(
            f"node {node_id!r} returned an output that is not JSON ({exc}); "
            "return dicts, lists, strings, numbers, booleans or None"
        ) from None
    return output, text


def stored_form(output: Any, text: str) -> tuple[Any, bool]:
    """What is stored for ``output`` (whose JSON is ``text``), and whether it was cut.

    An output over :data:`MAX_OUTPUT_BYTES` is stored as the first :data:`PREVIEW_CHARS`
    of its JSON text (SPEC §7); the byte length is only measured when it could pass.
    """
    if len(text) > MAX_OUTPUT_BYTES // 4 and len(text.encode()) > MAX_OUTPUT_BYTES:
        return text[:PREVIEW_CHARS], True
    return output, False
