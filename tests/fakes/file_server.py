"""A web service that takes and gives files: what ``http.request`` talks to in file tests.

``POST /upload`` reads a multipart form (Starlette's parser) and records each part;
``POST /raw`` records the raw body and its Content-Type; ``GET /chart.png`` answers a PNG,
``GET /mislabelled`` a PNG that says it is a PDF, ``GET /notes.txt`` plain text.
"""

from __future__ import annotations

import hashlib
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


class FileServer:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/upload", self._upload, methods=["POST"]),
                Route("/raw", self._raw, methods=["POST", "PUT"]),
                Route("/chart.png", self._png),
                Route("/mislabelled", self._mislabelled),
                Route("/notes.txt", self._text),
            ]
        )

    async def _upload(self, request: Request) -> Response:
        form = await request.form()
        parts: list[dict[str, Any]] = []
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                data = await value.read()
                parts.append(
                    {
                        "field": name,
                        "filename": value.filename,
                        "content_type": value.content_type,
                        "sha256": hashlib.sha256(data).hexdigest(),
                    }
                )
            else:
                parts.append({"field": name, "value": value})
        self.received.append({"parts": parts})
        return JSONResponse({"ok": True, "parts": len(parts)})

    async def _raw(self, request: Request) -> Response:
        data = await request.body()
        self.received.append(
            {
                "content_type": request.headers.get("content-type"),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
        return JSONResponse({"ok": True})

    async def _png(self, _request: Request) -> Response:
        return Response(PNG, media_type="image/png")

    async def _mislabelled(self, _request: Request) -> Response:
        return Response(
            PNG,
            media_type="application/pdf",
            headers={"Content-Disposition": 'attachment; filename="report.pdf"'},
        )

    async def _text(self, _request: Request) -> Response:
        return Response("plain words", media_type="text/plain")
