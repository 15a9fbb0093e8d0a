"""``POST /api/files`` (multipart upload) and ``GET /api/files/{id}`` (download), plus the
multipart reading that ``…/execute`` and webhooks share (issue 15).

Uploads are read as a stream capped at the run limit (``AGENTFLOW_MAX_RUN_MB``) before
the multipart parser spools anything, so an endless body costs nothing; each file part is
then streamed into the file store, which enforces ``AGENTFLOW_MAX_FILE_MB`` and answers
413 naming the file.

Downloads are authorised like everything else (another user's file is 404) and are built
so that a file can never act on AgentFlow's origin: always ``Content-Disposition:
attachment``, ``X-Content-Type-Options: nosniff``, a CSP of ``default-src 'none';
sandbox``, and active types (HTML, SVG, XML) served as ``application/octet-stream``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from agentflow_app.api.deps import CurrentUser, ObjectId, bearer_token, current_user
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.errors import InvalidInput
from agentflow_app.files.names import attachment_header
from agentflow_app.files.store import CHUNK
from agentflow_app.services import files
from agentflow_app.services.files import FileRecord, FileTooLarge
from agentflow_app.services.users import Actor

router = APIRouter(prefix="/files", tags=["files"])

#: Served as bytes to download, never as something a browser would render or run.
ACTIVE_TYPES = {
    "text/html",
    "application/xhtml+xml",
    "image/svg+xml",
    "application/xml",
    "text/xml",
    "text/javascript",
    "application/javascript",
}
SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "private, no-store",
    "Cross-Origin-Resource-Policy": "same-origin",
}
#: Multipart overhead allowed over the file bytes (boundaries, headers, small fields).
OVERHEAD = 1024 * 1024
MULTIPART = "multipart/form-data"


def _upload_body(**properties: Any) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {
                MULTIPART: {
                    "schema": {"type": "object", "properties": properties, "required": ["file"]}
                }
            },
        }
    }


def execute_body(json_model: type[BaseModel]) -> dict[str, Any]:
    """The request body of a route taking JSON or a multipart form with files."""
    schema = json_model.model_json_schema()
    return {
        "requestBody": {
            "content": {
                "application/json": {"schema": schema},
                MULTIPART: {
                    "schema": {
                        "type": "object",
                        "properties": {"inputs": {"type": "string", "description": "JSON"}},
                        "additionalProperties": {"type": "string", "format": "binary"},
                    }
                },
            }
        }
    }


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(MULTIPART)


async def read_form(request: Request) -> FormData:
    """The multipart form, its body capped at the run limit while it is read.

    Raises:
        FileTooLarge: (413) the body passed the cap.
        InvalidInput: (422) the body is not a readable multipart form.
    """
    cap = files.max_run_bytes() + OVERHEAD
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FileTooLarge(_over_run())

    async def capped() -> AsyncIterator[bytes]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise FileTooLarge(_over_run())
            yield chunk

    try:
        return await MultiPartParser(request.headers, capped(), max_files=100).parse()
    except MultiPartException as exc:
        raise InvalidInput(
            f"the multipart body could not be read: {exc.message}",
            [{"node_id": None, "field": "body", "message": exc.message}],
        ) from None


def _over_run() -> str:
    return (
        f"the upload is over the limit of {files.max_run_bytes() // files.MIB} MiB a run "
        "(AGENTFLOW_MAX_RUN_MB); send fewer or smaller files"
    )


def _chunks(upload: UploadFile) -> Iterator[bytes]:
    upload.file.seek(0)
    while chunk := upload.file.read(CHUNK):
        yield chunk


async def store_part(
    workspace_id: int | None, upload: UploadFile, owner_id: int | None = None
) -> FileRecord:
    """Stream one file part into the store (in a thread: the store's calls block)."""
    return await run_in_threadpool(
        functools.partial(files.store_file, owner_id=owner_id),
        workspace_id,
        upload.filename,
        upload.content_type,
        _chunks(upload),
    )


async def form_inputs(
    workspace_id: int | None, form: FormData, owner_id: int | None = None
) -> tuple[dict[str, Any], list[int]]:
    """A run's inputs from a multipart form, and the ids of the files it stored.

    A field ``inputs`` holds JSON inputs; every other text field is a string input; every
    file part is stored and becomes its field's file reference (several parts with one
    name, a list). The stored files are deleted again if anything is refused.
    """
    inputs: dict[str, Any] = {}
    stored: list[int] = []
    try:
        if isinstance(raw := form.get("inputs"), str) and raw.strip():
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise _field_problem(
                    "inputs", f"the inputs field is not valid JSON: {exc}"
                ) from None
            if not isinstance(parsed, dict):
                raise _field_problem("inputs", "the inputs field must be a JSON object")
            inputs.update(parsed)
        for name, value in form.multi_items():
            if name == "inputs" and isinstance(value, str):
                continue
            if isinstance(value, str):
                inputs[name] = value
                continue
            ref = (await store_part(workspace_id, value, owner_id)).as_json()
            stored.append(ref["$file"])
            if name in inputs and isinstance(inputs[name], list):
                inputs[name].append(ref)
            elif name in inputs:
                inputs[name] = [inputs[name], ref]
            else:
                inputs[name] = ref
    except BaseException:
        await run_in_threadpool(files.discard, stored)
        raise
    return inputs, stored


def _field_problem(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, [{"node_id": None, "field": field, "message": message}])


@router.post(
    "",
    status_code=201,
    response_model=FileRecord,
    responses={413: {"model": ErrorDetail, "description": "the file is over the size limit"}},
    openapi_extra=_upload_body(file={"type": "string", "format": "binary"}),
)
async def upload(actor: CurrentUser, request: Request) -> FileRecord:
    """Store one file (the ``file`` part); use its reference as a run's input."""
    if not is_multipart(request):
        raise _field_problem("body", "send the file as multipart/form-data, in a part named file")
    form = await read_form(request)
    try:
        part = form.get("file")
        if not isinstance(part, UploadFile):
            raise _field_problem("file", "no file: send it in a multipart part named file")
        return await run_in_threadpool(
            files.upload, actor, part.filename, part.content_type, _chunks(part)
        )
    finally:
        await form.close()


#: The bearer header, optional here: a signed link stands in for it.
_optional_bearer = HTTPBearer(auto_error=False)


async def _signed_or_signed_in(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
    sig: Annotated[str | None, Query(max_length=200, description="a signed link's proof")] = None,
) -> Actor | None:
    """The signed-in user, or None for a request carrying a signed link (``sig``)."""
    if sig is not None and credentials is None:
        return None
    return await current_user(await bearer_token(credentials))


@router.get(
    "/{file_id:int}",
    response_class=StreamingResponse,
    responses={
        200: {
            # Any type: the file's own (active types as application/octet-stream).
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the bytes, as an attachment",
        }
    },
)
def download(
    file_id: ObjectId,
    actor: Annotated[Actor | None, Depends(_signed_or_signed_in)],
    sig: Annotated[str | None, Query(max_length=200)] = None,
) -> StreamingResponse:
    """The file's bytes, as an attachment; 404 unless it is yours (or the link is good)."""
    if actor is None:
        record, chunks = files.download_signed(file_id, sig or "")
    else:
        record, chunks = files.download(actor, file_id)
    media_type = record.media_type
    if media_type in ACTIVE_TYPES or media_type.endswith("+xml"):
        media_type = "application/octet-stream"
    headers = {
        **SAFE_HEADERS,
        "Content-Disposition": attachment_header(record.name),
        "Content-Length": str(record.size),
        "ETag": f'"{record.sha256}"',
    }
    return StreamingResponse(chunks, media_type=media_type, headers=headers)
