"""``POST /api/hooks/{hook_token}``: start a webhook-triggered workflow (SPEC §9).

No sign-in: the secret token in the URL is the credential, and the run acts as the
workflow's owner. A JSON body is read up to 1 MiB (413 past that, before parsing), must be
a JSON object, and is checked against the webhook trigger's inputs (422 naming each
problem). A ``multipart/form-data`` body carries files (``api/files.py``): up to the run
limit, each file up to the file limit (413 naming the file).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from agentflow_app.api import files as files_api
from agentflow_app.api.errors import ErrorDetail, ProblemList
from agentflow_app.nodes.output import RESPONSE_KEY
from agentflow_app.services import executions, files

router = APIRouter(prefix="/hooks", tags=["webhooks"])

MAX_BODY_BYTES = 1024 * 1024


class HookAccepted(BaseModel):
    execution_id: int


def _too_large() -> JSONResponse:
    return JSONResponse(
        {"detail": f"the webhook body is over {MAX_BODY_BYTES // 1024} KiB; send less"},
        status_code=413,
    )


def _unprocessable(message: str) -> JSONResponse:
    return JSONResponse(
        {"detail": [{"node_id": None, "field": "body", "message": message}]}, status_code=422
    )


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None as soon as it passes the cap (the rest is never buffered)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/{hook_token}",
    status_code=202,
    response_model=HookAccepted,
    responses={
        404: {"model": ErrorDetail, "description": "no workflow listens on this token"},
        413: {
            "model": ErrorDetail,
            "description": "a JSON body over 1 MiB, a file over its limit",
        },
        422: {"model": ProblemList, "description": "the body does not fit the trigger"},
        200: {"description": "?wait=true: the run's outputs, with the output node's status"},
        409: {"model": ErrorDetail, "description": "?wait=true: the run was cancelled"},
        502: {"model": ErrorDetail, "description": "?wait=true: the workflow failed"},
    },
)
async def receive(
    hook_token: str,
    request: Request,
    wait: Annotated[bool, Query(description="Answer with the run's outputs when it ends")] = False,
    timeout_s: Annotated[
        float, Query(gt=0, le=executions.max_wait_s(), description="How long ?wait waits")
    ] = executions.default_wait_s(),
) -> Any:
    """Queue a run with the posted JSON as its inputs; with ``?wait=true``, answer with the
    run's outputs (and the status and headers its ``output`` node sets) when it ends."""
    # Unknown tokens answer 404 before the body is read: nothing is buffered for them.
    workflow_id = await run_in_threadpool(executions.hook_workflow, hook_token)
    # A caller who waits watches the run's end from before it is sent.
    async with executions.EndOfRun() if wait else contextlib.nullcontext() as end:
        watch = end.watch if end is not None else None
        if files_api.is_multipart(request):
            execution_id = await _receive_form(hook_token, workflow_id, request, watch)
        else:
            raw = await _read_capped(request)
            if raw is None:
                return _too_large()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                return _unprocessable(f"the webhook body is not valid JSON: {exc}")
            execution_id = await run_in_threadpool(
                partial(executions.start_from_hook, on_stored=watch), hook_token, body
            )
        if end is None:
            return HookAccepted(execution_id=execution_id)
        record = await executions.outcome(execution_id, timeout_s, end=end)
    if record is None:
        return JSONResponse(HookAccepted(execution_id=execution_id).model_dump(), 202)
    return _answer(record)


def _answer(record: dict[str, Any]) -> JSONResponse:
    """A finished run as a waiting webhook's answer."""
    if record["status"] == "cancelled":
        return JSONResponse(
            {"detail": "the run was cancelled", "execution_id": record["id"]}, status_code=409
        )
    if record["status"] != "succeeded":
        return JSONResponse(
            {"detail": f"the workflow failed: {record['error']}", "execution_id": record["id"]},
            status_code=502,
        )
    shape: dict[str, Any] = {}
    for step in record["steps"]:
        output = step.get("output")
        if step["type"] == "output" and isinstance(output, dict) and RESPONSE_KEY in output:
            shape = output[RESPONSE_KEY]
    return JSONResponse(
        record["outputs"] or {},
        status_code=shape.get("status_code", 200),
        headers=shape.get("headers") or None,
    )


async def _receive_form(
    hook_token: str,
    workflow_id: int,
    request: Request,
    on_stored: Callable[[int], None] | None,
) -> int:
    """A multipart webhook: fields are string inputs, file parts become file inputs
    (stored as the workflow workspace's), ``inputs`` may carry JSON."""
    workspace_id = await run_in_threadpool(files.workflow_workspace, workflow_id)
    form = await files_api.read_form(request)
    try:
        inputs, stored = await files_api.form_inputs(workspace_id, form)
    finally:
        await form.close()
    try:
        return await run_in_threadpool(
            partial(executions.start_from_hook, on_stored=on_stored), hook_token, inputs
        )
    except BaseException:
        await run_in_threadpool(files.discard, stored)
        raise
