"""Executions over REST (SPEC §9): execute, list, read, stream events, cancel, retry, re-run.

Thin: parse, call ``services.executions`` (which checks ownership), serialize.
``…/events`` is Server-Sent Events: each event is ``id: <seq>``, ``event: <type>`` and
``data: <the event JSON>``; the stream replays stored events, goes on live and ends after
the terminal event. A client that reconnects with ``Last-Event-ID`` (or ``?after_seq=``)
gets what it missed, without gaps or duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from agentflow_app.api import files as files_api
from agentflow_app.api.deps import CurrentUser, ObjectId, QueryTime
from agentflow_app.api.errors import ErrorDetail
from agentflow_app.db import MAX_ID
from agentflow_app.engine.events import Event
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import InvalidInput
from agentflow_app.services import executions, files, workflows, workspaces
from agentflow_app.services.executions import ExecutionRecord, ExecutionSummary, event_json
from agentflow_app.services.users import Actor
from agentflow_app.services.workspaces import Can

router = APIRouter(prefix="/workflows", tags=["executions"])

_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorDetail, "description": "the execution's status does not allow it"}
}

#: An event seq, maybe with spaces around (a row's seq fits in 18 digits).
_LAST_EVENT_ID = re.compile(r"^[ \t]*[0-9]{0,18}[ \t]*$")
#: A comment line sent when the stream is quiet, so proxies keep the connection open.
KEEPALIVE_S = 15.0


class ExecuteBody(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict, description="The trigger's inputs")


class Queued(BaseModel):
    execution_id: int
    status: ExecutionStatus = ExecutionStatus.QUEUED


class Accepted(BaseModel):
    execution_id: int
    status: ExecutionStatus


@router.post(
    "/{workflow_id:int}/execute",
    status_code=202,
    response_model=Queued,
    responses={413: {"model": ErrorDetail, "description": "a file is over the size limit"}},
    openapi_extra=files_api.execute_body(ExecuteBody),
)
async def execute(actor: CurrentUser, workflow_id: ObjectId, request: Request) -> Queued:
    """Queue a run of the newest version; 422 names each input that does not fit.

    JSON ``{inputs}``, or ``multipart/form-data`` with the files of ``file`` inputs as
    parts named after their inputs (and other inputs as fields, or JSON in ``inputs``).
    """
    if not files_api.is_multipart(request):
        raw = await request.body()
        try:
            body = ExecuteBody.model_validate_json(raw) if raw.strip() != b"" else ExecuteBody()
        except ValidationError as exc:
            raise RequestValidationError(exc.errors(include_url=False)) from None
        return Queued(
            execution_id=await run_in_threadpool(executions.start, actor, workflow_id, body.inputs)
        )
    # 404 (403) before reading files
    workflow = await run_in_threadpool(workflows.get, actor, workflow_id)
    workspaces.require(actor, workflow.workspace_id, Can.RUN, "run workflows")
    form = await files_api.read_form(request)
    try:
        inputs, stored = await files_api.form_inputs(workflow.workspace_id, form, actor.id)
    finally:
        await form.close()
    try:
        execution_id = await run_in_threadpool(executions.start, actor, workflow_id, inputs)
    except BaseException:
        await run_in_threadpool(files.discard, stored)
        raise
    return Queued(execution_id=execution_id)


class RunBody(BaseModel):
    inputs: dict[str, Any] = Field(default_factory=dict, description="The trigger's inputs")
    timeout_s: float = Field(
        default_factory=executions.default_wait_s,
        gt=0,
        le=executions.max_wait_s(),
        description="How long to wait for the end before answering 202 with the id",
    )


@router.post(
    "/{workflow_id:int}/run",
    response_model=ExecutionRecord,
    responses={202: {"model": Queued, "description": "still running when timeout_s passed"}},
)
async def run(
    actor: CurrentUser, workflow_id: ObjectId, body: Annotated[RunBody | None, Body()] = None
) -> Any:
    """Run the newest version and answer with the finished execution record (a function
    call: one request); 202 with the id if it has not ended within ``timeout_s``."""
    body = body or RunBody()
    async with executions.EndOfRun() as end:  # watching from before the run is sent
        execution_id = await run_in_threadpool(
            partial(executions.start, on_stored=end.watch), actor, workflow_id, body.inputs
        )
        record = await executions.outcome(execution_id, body.timeout_s, end=end)
    if record is None:
        return JSONResponse(Queued(execution_id=execution_id).model_dump(mode="json"), 202)
    return record


@router.get("/{workflow_id:int}/executions", response_model=list[ExecutionSummary])
def list_for_workflow(
    actor: CurrentUser,
    workflow_id: ObjectId,
    status: ExecutionStatus | None = None,
    since: QueryTime = None,
    until: QueryTime = None,
    limit: Annotated[int, Query(ge=1, le=executions.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[ExecutionSummary]:
    """Executions of the workflow, newest first (``limit``/``offset`` paginate)."""
    page = executions.list_executions(
        actor,
        workflow_id=workflow_id,
        status=status,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return page.items


@router.get("/executions/{execution_id:int}")
def get_execution(actor: CurrentUser, execution_id: ObjectId) -> ExecutionRecord:
    """The execution with its steps (outputs, errors, usage)."""
    return executions.get(actor, execution_id)


def _last_event_id(header: str, after_seq: int | None) -> int:
    """Where the stream starts: ``after_seq``, else the ``Last-Event-ID`` a reconnecting
    client sends, else the beginning.

    Raises:
        InvalidInput: the header is not an event seq (the schema states the same pattern).
    """
    if after_seq is not None:
        return after_seq
    if not _LAST_EVENT_ID.match(header):
        message = f"must be an event seq (a number), got {header[:40]!r}"
        raise InvalidInput(
            f"Last-Event-ID {message}", [{"field": "Last-Event-ID", "message": message}]
        )
    return int(header.strip(" \t") or 0)


def _sse(event: Event) -> str:
    return f"id: {event.seq}\nevent: {event.type}\ndata: {event_json(event)}\n\n"


async def _stream(actor: Actor, execution_id: int, after_seq: int) -> AsyncIterator[str]:
    events = executions.follow(actor, execution_id, after_seq).__aiter__()
    next_event = asyncio.ensure_future(events.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({next_event}, timeout=KEEPALIVE_S)
            if not done:
                yield ": keep-alive\n\n"
                continue
            try:
                event = next_event.result()
            except StopAsyncIteration:
                return
            yield _sse(event)
            next_event = asyncio.ensure_future(events.__anext__())
    finally:
        if not next_event.done():
            next_event.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await next_event
        await events.aclose()


@router.get(
    "/executions/{execution_id:int}/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    actor: CurrentUser,
    execution_id: ObjectId,
    after_seq: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
    last_event_id: Annotated[
        str,
        Header(
            description="the seq of the last event seen (a reconnecting EventSource sends it)",
            json_schema_extra={"pattern": _LAST_EVENT_ID.pattern},
        ),
    ] = "",
) -> StreamingResponse:
    """Server-Sent Events: stored events, then live ones; ends after the terminal event."""
    start = _last_event_id(last_event_id, after_seq)
    await asyncio.to_thread(executions.check_owner, actor, execution_id)  # 404 before 200
    return StreamingResponse(
        _stream(actor, execution_id, start),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post(
    "/executions/{execution_id:int}/cancel",
    status_code=202,
    response_model=Accepted,
    responses=_CONFLICT,
)
def cancel(actor: CurrentUser, execution_id: ObjectId) -> Accepted:
    """Stop the run; ``status`` is ``cancelled`` at once, or ``running`` until it stops."""
    return Accepted(execution_id=execution_id, status=executions.cancel(actor, execution_id))


@router.post(
    "/executions/{execution_id:int}/retry",
    status_code=202,
    response_model=Queued,
    responses=_CONFLICT,
)
def retry(actor: CurrentUser, execution_id: ObjectId) -> Queued:
    """Resume a failed or cancelled run from its failed steps (same execution)."""
    return Queued(execution_id=executions.retry(actor, execution_id))


@router.post(
    "/executions/{execution_id:int}/rerun",
    status_code=202,
    response_model=Queued,
    responses=_CONFLICT,
)
def rerun(actor: CurrentUser, execution_id: ObjectId) -> Queued:
    """Start a new execution with the same inputs on the workflow's newest version."""
    return Queued(execution_id=executions.rerun(actor, execution_id))
