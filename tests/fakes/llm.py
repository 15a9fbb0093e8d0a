"""A scripted stand-in for the three LLM APIs, speaking their real wire protocols.

One ASGI app answers Anthropic Messages (``POST /v1/messages``), OpenAI Chat Completions
(``POST /v1/chat/completions``) and Bedrock Converse / ConverseStream
(``POST /model/{modelId}/converse`` and ``/converse-stream``, the latter in the AWS
event-stream binary framing). A test scripts a queue of :class:`Reply` values (text, tool
calls, errors with headers, delays, dropped connections); each request takes the next one,
whatever the provider, and is recorded (path, headers, JSON body) so the test can assert on
what the real SDKs actually sent. An empty queue answers 500 with a message saying so, so a
test that under-scripts fails loudly instead of hanging.
"""

from __future__ import annotations

import asyncio
import binascii
import itertools
import json
import re
import struct
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.servers import serve_asgi

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_OPENAI_ERROR_CODES = {
    400: "invalid_request_error",
    401: "invalid_api_key",
    403: "unsupported_country_region_territory",
    404: "model_not_found",
    429: "rate_limit_exceeded",
    500: "server_error",
}
_BEDROCK_ERROR_TYPES = {
    400: "ValidationException",
    403: "UnrecognizedClientException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


@dataclass
class ToolCall:
    """A tool call the scripted model makes."""

    name: str
    args: dict[str, Any]
    id: str = ""


@dataclass
class Reply:
    """One scripted answer; build it with the class methods."""

    text: str = ""
    #: How the text is streamed; default: word by word (spaces kept).
    chunks: list[str] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    status: int = 200
    #: Provider error type / code; default by status (``authentication_error``, ...).
    error_type: str | None = None
    error_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    #: Close the connection half way through the answer.
    drop: bool = False
    input_tokens: int = 11
    output_tokens: int = 7

    @classmethod
    def say(cls, text: str, *, chunks: list[str] | None = None, **kw: Any) -> Reply:
        return cls(text=text, chunks=chunks, **kw)

    @classmethod
    def call(cls, name: str, args: dict[str, Any], *, text: str = "", **kw: Any) -> Reply:
        return cls(text=text, tool_calls=[ToolCall(name, args)], **kw)

    @classmethod
    def error(
        cls,
        status: int,
        message: str,
        *,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        return cls(status=status, error_message=message, error_type=type, headers=headers or {})

    @classmethod
    def dropped(cls) -> Reply:
        return cls(text="this answer is cut off half way", drop=True)

    def pieces(self) -> list[str]:
        if self.chunks is not None:
            return self.chunks
        return re.findall(r"\S+\s*|\s+", self.text)


@dataclass
class Recorded:
    """What the fake received."""

    provider: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    streamed: bool
    #: The client's address: the same one for requests over one kept-alive connection.
    peer: tuple[str, int] | None = None


class _Dropped(Exception):
    """Raised inside a response to make the server cut the connection."""


class FakeLLM:
    """The scripted server; start it with :func:`serve_fake_llm`."""

    def __init__(self) -> None:
        self.replies: deque[Reply] = deque()
        #: The answer when no scripted reply is left (None: a 500 saying so).
        self.default: Reply | None = None
        self.requests: list[Recorded] = []
        self.url = ""
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._anthropic, methods=["POST"]),
                Route("/v1/chat/completions", self._openai, methods=["POST"]),
                Route("/model/{model_id:path}/converse", self._bedrock, methods=["POST"]),
                Route("/model/{model_id:path}/converse-stream", self._bedrock, methods=["POST"]),
            ]
        )

    def script(self, *replies: Reply) -> None:
        """Queue answers for the next requests, in order."""
        self.replies.extend(replies)

    @property
    def bodies(self) -> list[str]:
        """Every request body as text (for scanning what the model was shown)."""
        return [r.raw.decode("utf-8", "replace") for r in self.requests]

    # -- plumbing -----------------------------------------------------------------------

    async def _take(self, provider: str, request: Request, streamed: bool) -> Reply:
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        self.requests.append(
            Recorded(
                provider=provider,
                path=request.url.path,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                raw=raw,
                streamed=streamed,
                peer=tuple(request.client) if request.client else None,
            )
        )
        reply = (
            self.replies.popleft()
            if self.replies
            else self.default
            or Reply.error(500, "fake LLM: no scripted reply left for this request")
        )
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return reply

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"

    def _call_ids(self, reply: Reply, prefix: str) -> list[ToolCall]:
        return [ToolCall(c.name, c.args, c.id or self._next_id(prefix)) for c in reply.tool_calls]

    # -- Anthropic Messages -------------------------------------------------------------

    async def _anthropic(self, request: Request) -> Response:
        peek = json.loads(await request.body() or b"{}")
        streamed = bool(peek.get("stream"))
        reply = await self._take("anthropic", request, streamed)
        if reply.status != 200:
            kind = reply.error_type or _ANTHROPIC_ERROR_TYPES.get(reply.status, "api_error")
            body = {"type": "error", "error": {"type": kind, "message": reply.error_message}}
            return JSONResponse(body, status_code=reply.status, headers=reply.headers)
        model = peek.get("model", "")
        calls = self._call_ids(reply, "toolu_")
        stop = "tool_use" if calls else "end_turn"
        msg_id = self._next_id("msg_")
        if not streamed:
            content: list[dict[str, Any]] = (
                [{"type": "text", "text": reply.text}] if reply.text else []
            )
            content += [
                {"type": "tool_use", "id": c.id, "name": c.name, "input": c.args} for c in calls
            ]
            body = {
                "id": msg_id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop,
                "stop_sequence": None,
                "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
            }
            return _maybe_dropped(reply, json.dumps(body).encode(), "application/json")

        def events() -> Iterator[tuple[str, dict[str, Any]]]:
            yield (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": msg_id,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
                    },
                },
            )
            index = 0
            if reply.text:
                yield (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
                yield "ping", {"type": "ping"}
                for piece in reply.pieces():
                    yield (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": 0,
                            "delta": {"type": "text_delta", "text": piece},
                        },
                    )
                yield "content_block_stop", {"type": "content_block_stop", "index": 0}
                index = 1
            for offset, c in enumerate(calls):
                i = index + offset
                yield (
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": i,
                        "content_block": {
                            "type": "tool_use",
                            "id": c.id,
                            "name": c.name,
                            "input": {},
                        },
                    },
                )
                for part in _halves(json.dumps(c.args)):
                    yield (
                        "content_block_delta",
                        {
                            "type": "content_block_delta",
                            "index": i,
                            "delta": {"type": "input_json_delta", "partial_json": part},
                        },
                    )
                yield "content_block_stop", {"type": "content_block_stop", "index": i}
            yield (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": stop, "stop_sequence": None},
                    # Today's API repeats the full, cumulative usage here.
                    "usage": {
                        "input_tokens": reply.input_tokens,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": reply.output_tokens,
                    },
                },
            )
            yield "message_stop", {"type": "message_stop"}

        frames = [
            f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events()
        ]
        return _stream(reply, frames, "text/event-stream")

    # -- OpenAI Chat Completions --------------------------------------------------------

    async def _openai(self, request: Request) -> Response:
        peek = json.loads(await request.body() or b"{}")
        streamed = bool(peek.get("stream"))
        reply = await self._take("openai", request, streamed)
        if reply.status != 200:
            code = reply.error_type or _OPENAI_ERROR_CODES.get(reply.status, "server_error")
            body = {
                "error": {
                    "message": reply.error_message,
                    "type": "invalid_request_error" if reply.status < 500 else "server_error",
                    "param": None,
                    "code": code,
                }
            }
            return JSONResponse(body, status_code=reply.status, headers=reply.headers)
        model = peek.get("model", "")
        calls = self._call_ids(reply, "call_")
        finish = "tool_calls" if calls else "stop"
        chat_id = self._next_id("chatcmpl-")
        created = 1_760_000_000
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        if not streamed:
            message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
            if calls:
                message["tool_calls"] = [
                    {
                        "id": c.id,
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.args)},
                    }
                    for c in calls
                ]
            body = {
                "id": chat_id,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            }
            return _maybe_dropped(reply, json.dumps(body).encode(), "application/json")

        include_usage = bool((peek.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
            out: dict[str, Any] = {
                "id": chat_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
                ],
            }
            if include_usage:
                out["usage"] = None
            return out

        payloads = [chunk({"role": "assistant", "content": ""})]
        if reply.text:
            payloads += [chunk({"content": piece}) for piece in reply.pieces()]
        for i, c in enumerate(calls):
            payloads.append(
                chunk(
                    {
                        "tool_calls": [
                            {
                                "index": i,
                                "id": c.id,
                                "type": "function",
                                "function": {"name": c.name, "arguments": ""},
                            }
                        ]
                    }
                )
            )
            payloads += [
                chunk({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
                for part in _halves(json.dumps(c.args))
            ]
        payloads.append(chunk({}, finish))
        if include_usage:
            payloads.append(
                {
                    "id": chat_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        frames = [f"data: {json.dumps(p)}\n\n".encode() for p in payloads]
        frames.append(b"data: [DONE]\n\n")
        return _stream(reply, frames, "text/event-stream")

    # -- Bedrock Converse / ConverseStream ----------------------------------------------

    async def _bedrock(self, request: Request) -> Response:
        streamed = request.url.path.endswith("/converse-stream")
        reply = await self._take("bedrock", request, streamed)
        if reply.status != 200:
            kind = reply.error_type or _BEDROCK_ERROR_TYPES.get(
                reply.status, "InternalServerException"
            )
            headers = {
                "x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"
            }
            headers.update(reply.headers)
            return JSONResponse(
                {"message": reply.error_message}, status_code=reply.status, headers=headers
            )
        calls = self._call_ids(reply, "tooluse_")
        stop = "tool_use" if calls else "end_turn"
        usage = {
            "inputTokens": reply.input_tokens,
            "outputTokens": reply.output_tokens,
            "totalTokens": reply.input_tokens + reply.output_tokens,
        }
        if not streamed:
            content: list[dict[str, Any]] = [{"text": reply.text}] if reply.text else []
            content += [
                {"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.args}} for c in calls
            ]
            body = {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": stop,
                "usage": usage,
                "metrics": {"latencyMs": 12},
            }
            return _maybe_dropped(reply, json.dumps(body).encode(), "application/json")

        events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
        index = 0
        if reply.text:
            events += [
                ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}})
                for piece in reply.pieces()
            ]
            events.append(("contentBlockStop", {"contentBlockIndex": 0}))
            index = 1
        for offset, c in enumerate(calls):
            i = index + offset
            events.append(
                (
                    "contentBlockStart",
                    {
                        "contentBlockIndex": i,
                        "start": {"toolUse": {"toolUseId": c.id, "name": c.name}},
                    },
                )
            )
            events += [
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": i, "delta": {"toolUse": {"input": part}}},
                )
                for part in _halves(json.dumps(c.args))
            ]
            events.append(("contentBlockStop", {"contentBlockIndex": i}))
        events.append(("messageStop", {"stopReason": stop}))
        events.append(("metadata", {"usage": usage, "metrics": {"latencyMs": 12}}))
        frames = [encode_event(name, payload) for name, payload in events]
        return _stream(reply, frames, "application/vnd.amazon.eventstream")


def encode_event(event_type: str, payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message, framed as botocore's ``EventStreamBuffer`` reads it.

    Layout: total length (u32), headers length (u32), CRC32 of those 8 bytes, headers,
    payload, CRC32 of everything before it. A header is name length (u8), name, value
    type (u8, 7 = string), value length (u16), value.
    """
    headers = b"".join(
        _string_header(name, value)
        for name, value in (
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        )
    )
    body = json.dumps(payload).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack("!II", total, len(headers))
    prelude += struct.pack("!I", binascii.crc32(prelude) & 0xFFFFFFFF)
    message = prelude + headers + body
    return message + struct.pack("!I", binascii.crc32(message) & 0xFFFFFFFF)


def _string_header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + struct.pack("!BH", 7, len(raw_value))
        + raw_value
    )


def _halves(text: str) -> list[str]:
    middle = len(text) // 2
    return [text[:middle], text[middle:]]


def _stream(reply: Reply, frames: list[bytes], media_type: str) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        for number, frame in enumerate(frames):
            if reply.drop and number >= max(1, len(frames) // 2):
                raise _Dropped("fake LLM: dropping the connection as scripted")
            yield frame

    return StreamingResponse(body(), media_type=media_type, headers=reply.headers)


def _maybe_dropped(reply: Reply, body: bytes, media_type: str) -> Response:
    if not reply.drop:
        return Response(body, media_type=media_type, headers=reply.headers)

    async def cut() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        raise _Dropped("fake LLM: dropping the connection as scripted")

    # A declared length the body never reaches: the client sees the peer hang up.
    headers = {**reply.headers, "content-length": str(len(body))}
    return StreamingResponse(cut(), media_type=media_type, headers=headers)


@contextmanager
def serve_fake_llm() -> Iterator[FakeLLM]:
    """Run a :class:`FakeLLM` on 127.0.0.1 on a free port in a background thread."""
    fake = FakeLLM()
    with serve_asgi(fake.app) as url:
        fake.url = url
        yield fake
