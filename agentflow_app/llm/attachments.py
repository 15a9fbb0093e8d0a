"""Files for the models: ``attachments`` of ``llm.prompt`` / ``llm.agent`` as each
provider's own content blocks (issue 15).

Images (PNG, JPEG, GIF, WebP) and PDFs go as base64 in the provider's format: Anthropic
``image`` / ``document`` blocks, OpenAI ``image_url`` / ``file`` parts with data URLs,
Bedrock Converse ``image`` / ``document`` blocks (raw bytes; boto3 base64-encodes them on
the wire). LangChain passes blocks in a provider's native shape through untouched, so
what is built here is what the provider receives. Text files go as text. Anything else
is a clear step error pointing at ``file.extract``.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from agentflow_app.engine.errors import NodeError
from agentflow_app.engine.node import RunContext
from agentflow_app.files.host import file_host
from agentflow_app.files.refs import is_ref
from agentflow_app.files.sniff import is_textual

#: The largest file sent to a model (providers refuse far smaller images anyway).
MAX_ATTACHMENT_BYTES = 32 * 1024 * 1024
#: Most attachments one step sends.
MAX_ATTACHMENTS = 20
IMAGES = {"image/png": "png", "image/jpeg": "jpeg", "image/gif": "gif", "image/webp": "webp"}
PDF = "application/pdf"


def attachment_refs(values: list[Any]) -> list[dict[str, Any]]:
    """The file references the rendered ``attachments`` give (a template may give a list).

    Raises:
        NodeError: an entry is not a file (naming its position).
    """
    refs: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not is_ref(item):
                raise NodeError(
                    f"attachments[{index}] is not a file: give a template resolving to one, "
                    "e.g. {{ inputs.photo }}"
                )
            refs.append(item)
    if len(refs) > MAX_ATTACHMENTS:
        raise NodeError(f"{len(refs)} attachments; a step sends at most {MAX_ATTACHMENTS}")
    return refs


async def attachment_blocks(
    ctx: RunContext, provider: str, values: list[Any], node_type: str
) -> list[dict[str, Any]]:
    """The content blocks for ``values`` (rendered ``attachments``), for ``provider``."""
    refs = attachment_refs(values)
    if not refs:
        return []
    host = file_host(ctx, node_type)
    blocks: list[dict[str, Any]] = []
    for ref in refs:
        stored, data = await host.read(ref, limit=MAX_ATTACHMENT_BYTES)
        blocks.append(_block(provider, stored, data))
    return blocks


def _block(provider: str, ref: dict[str, Any], data: bytes) -> dict[str, Any]:
    media_type, name = ref["media_type"], ref["name"]
    if is_textual(media_type):
        text = data.decode("utf-8", "replace")
        return {"type": "text", "text": f"<file name={name!r}>\n{text}\n</file>"}
    if media_type not in IMAGES and media_type != PDF:
        raise NodeError(
            f"attachment {name!r} is {media_type}; models take images (PNG, JPEG, GIF, "
            "WebP), PDFs and text: use file.extract to pass its text instead"
        )
    encoded = base64.b64encode(data).decode("ascii")
    if provider == "anthropic":
        kind = "image" if media_type in IMAGES else "document"
        source = {"type": "base64", "media_type": media_type, "data": encoded}
        return {"type": kind, "source": source}
    if provider == "openai":
        url = f"data:{media_type};base64,{encoded}"
        if media_type in IMAGES:
            return {"type": "image_url", "image_url": {"url": url}}
        return {"type": "file", "file": {"filename": name, "file_data": url}}
    if media_type in IMAGES:
        return {"image": {"format": IMAGES[media_type], "source": {"bytes": data}}}
    return {"document": {"format": "pdf", "name": _bedrock_name(name), "source": {"bytes": data}}}


def _bedrock_name(name: str) -> str:
    """Bedrock takes letters, digits, single spaces, hyphens, parentheses and brackets."""
    stem = name.rsplit(".", 1)[0]
    cleaned = re.sub(r"\s+", " ", re.sub(r"[^A-Za-z0-9 \-()\[\]]", " ", stem)).strip()
    return cleaned[:200] or "document"
