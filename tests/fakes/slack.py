"""A fake Slack Web API: ``chat.postMessage`` as Slack answers it, and the external file
upload (``files.getUploadURLExternal``, a POST of the bytes to the URL it gives,
``files.completeUploadExternal`` sharing them to a channel id).

Slack answers HTTP 200 with ``{"ok": false, "error": "<code>"}`` for most failures
(``not_authed``, ``invalid_auth``, ``channel_not_found``, ``no_text``) and HTTP 429 with a
``Retry-After`` header and ``{"ok": false, "error": "ratelimited"}`` when throttled. The
token arrives as ``Authorization: Bearer`` (JSON body) or as a ``token`` form field.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakeSlack:
    """The fake workspace: one valid token, known channels, messages received.

    Set ``ratelimit_next`` to answer that many next calls with HTTP 429.
    """

    token: str = "xoxb-test-token"
    channels: dict[str, str] = field(
        default_factory=lambda: {"#general": "C0GENERAL", "#alerts": "C0ALERTS"}
    )
    messages: list[dict[str, Any]] = field(default_factory=list)
    #: Uploaded files by id: ``{filename, length, data, shared_to, comment}``.
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    ratelimit_next: int = 0
    retry_after_s: int = 1
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    @property
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/chat.postMessage", self._post_message, methods=["POST"]),
                Route("/files.getUploadURLExternal", self._upload_url, methods=["POST"]),
                Route("/upload/{file_id}", self._upload, methods=["POST"]),
                Route("/files.completeUploadExternal", self._complete, methods=["POST"]),
            ]
        )

    async def _upload_url(self, request: Request) -> JSONResponse:
        args, token = await _arguments(request)
        if token != self.token:
            return _error("invalid_auth")
        if not args.get("filename") or not str(args.get("length", "")).isdigit():
            return _error("invalid_arguments")
        file_id = f"F{len(self.files) + 1:06d}"
        self.files[file_id] = {"filename": args["filename"], "length": int(args["length"])}
        url = str(request.base_url).rstrip("/") + f"/upload/{file_id}"
        return JSONResponse({"ok": True, "upload_url": url, "file_id": file_id})

    async def _upload(self, request: Request) -> JSONResponse:
        entry = self.files.get(request.path_params["file_id"])
        if entry is None:
            return JSONResponse({"error": "unknown upload"}, status_code=404)
        entry["data"] = await request.body()
        return JSONResponse({"ok": True})

    async def _complete(self, request: Request) -> JSONResponse:
        args, token = await _arguments(request)
        if token != self.token:
            return _error("invalid_auth")
        channel = str(args.get("channel_id") or "")
        if channel not in self.channels.values():
            return _error("channel_not_found")
        shared = []
        for item in args.get("files") or []:
            entry = self.files.get(item.get("id"))
            if entry is None or len(entry.get("data", b"")) != entry["length"]:
                return _error("file_upload_incomplete")
            entry.update(shared_to=channel, comment=args.get("initial_comment"))
            shared.append({"id": item["id"], "title": item.get("title") or entry["filename"]})
        return JSONResponse({"ok": True, "files": shared})

    async def _post_message(self, request: Request) -> JSONResponse:
        if self.ratelimit_next > 0:
            self.ratelimit_next -= 1
            return JSONResponse(
                {"ok": False, "error": "ratelimited"},
                status_code=429,
                headers={"Retry-After": str(self.retry_after_s)},
            )
        args, token = await _arguments(request)
        if not token:
            return _error("not_authed")
        if token != self.token:
            return _error("invalid_auth")
        channel = str(args.get("channel") or "")
        channel_id = self.channels.get(channel) or (
            channel if channel in self.channels.values() else None
        )
        if channel_id is None:
            return _error("channel_not_found")
        text = args.get("text")
        if not text and not args.get("blocks"):
            return _error("no_text")
        ts = f"1700000000.{next(self._ts):06d}"
        message = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "ts": ts,
            "user": "U0BOT",
            "bot_id": "B0BOT",
        }
        self.messages.append({"channel": channel_id, **message})
        return JSONResponse({"ok": True, "channel": channel_id, "ts": ts, "message": message})


async def _arguments(request: Request) -> tuple[dict[str, Any], str | None]:
    header = request.headers.get("authorization", "")
    token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else None
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            args = json.loads(await request.body() or b"{}")
        except ValueError:
            args = {}
    else:
        args = dict(await request.form())
        token = token or args.pop("token", None)
    return (args if isinstance(args, dict) else {}), token


def _error(code: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": code})
