"""Queueing a run: the one :func:`queue_run` behind every way a run starts.

The API and the editor (:func:`start`), webhooks (:func:`start_from_hook`), re-runs,
schedules, node tests and ``agentflow run`` all check the inputs against the trigger the
same way (:func:`check_inputs`), refuse a document naming credentials its owner lacks,
store the queued execution with its pinned document, and (except the CLI, which runs it
in-process) hand a token to the workers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import (
    select,
)

from agentflow_app.catalog import default_registry
from agentflow_app.db import get_engine, reading
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import EventType
from agentflow_app.engine.plan import plan_of
from agentflow_app.errors import Conflict, InvalidInput, NotFound
from agentflow_app.models import Workflow
from agentflow_app.nodes.triggers import InputsError, validate_inputs
from agentflow_app.services import disk, files, workspaces
from agentflow_app.services.credentials import credential_problems
from agentflow_app.services.executions.events import append_event
from agentflow_app.services.executions.lifecycle import reopen, store_queued
from agentflow_app.services.executions.rows import (
    TEST_TRIGGER,
    TRIGGERS,
    Caller,
    FinishedStep,
    current_document,
    owned_execution,
    owned_workflow_document,
)
from agentflow_app.services.users import Actor
from agentflow_app.services.workflow_calls import call_problems
from agentflow_app.services.workspaces import Can
from tasks import dispatch

WEBHOOK_TRIGGER = "trigger.webhook"


def check_inputs(
    document: dict[str, Any],
    inputs: Any,
    *,
    coerce_strings: bool = False,
    allow_extra: bool = False,
) -> dict[str, Any]:
    """The inputs a run of ``document`` starts with, checked against its trigger.

    Args:
        coerce_strings: The inputs were typed as text (``agentflow run --input k=v``):
            read each by its declared type, and as JSON where the trigger declares none.
        allow_extra: Keep inputs the trigger does not declare (an error workflow gets
            the failure's details whatever its trigger lists).

    Raises:
        InvalidWorkflow: the document does not validate.
        InputsError: (422) every input problem, each naming the trigger node and the input.
    """
    return inputs_checker(document, coerce_strings=coerce_strings, allow_extra=allow_extra)(inputs)


def inputs_checker(
    document: dict[str, Any], *, coerce_strings: bool = False, allow_extra: bool = False
) -> Callable[[Any], dict[str, Any]]:
    """:func:`check_inputs` for many inputs of one document: the document is validated
    once (a 10,000-item map would otherwise validate it 10,000 times).

    Raises:
        InvalidWorkflow: the document does not validate.
    """
    plan = plan_of(document, default_registry())
    trigger = plan.trigger
    specs = getattr(plan.nodes[trigger].config, "inputs", None)
    node_type = plan.nodes[trigger].type
    if not isinstance(specs, list):  # a schedule trigger: fixed values, merged at run time
        specs = []

    def check(inputs: Any) -> dict[str, Any]:
        if coerce_strings and not specs and isinstance(inputs, dict):
            return {name: _json_or_text(value) for name, value in inputs.items()}
        try:
            return validate_inputs(
                specs,
                inputs,
                allow_extra=allow_extra or node_type == WEBHOOK_TRIGGER,
                coerce_strings=coerce_strings,
            )
        except InputsError as exc:
            problems = [{**p, "node_id": p.get("node_id") or trigger} for p in exc.problems]
            raise InputsError(str(exc), problems) from None

    return check


def _json_or_text(value: Any) -> Any:
    """A command-line value: JSON when it parses (numbers, booleans, objects), else text."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def queue_run(
    document: dict[str, Any],
    inputs: Any,
    *,
    owner_id: int | None,
    workspace_id: int | None,
    trigger: str,
    workflow_id: int | None = None,
    version: int | None = None,
    parent_id: int | None = None,
    caller: Caller | None = None,
    queued_data: dict[str, Any] | None = None,
    finished_steps: Iterable[FinishedStep] = (),
    coerce_strings: bool = False,
    allow_extra: bool = False,
    send: bool = True,
    on_stored: Callable[[int], None] | None = None,
) -> int:
    """Check, store and queue one run of ``document``; the new execution's id.

    Args:
        owner_id: Who starts it (None: a run of ``agentflow run``, or its account is gone).
        workspace_id: Whose run it is: its credentials, files and callable workflows are
            the workspace's (None: a run of ``agentflow run``, with no vault).
        trigger: What started it (``manual``, ``webhook``, ``schedule``, ``rerun``, ``test``).
        caller: The run and step starting this one as a child, if any.
        queued_data: What the ``execution.queued`` event says (a schedule's fire time...).
        finished_steps: Steps stored as already succeeded (a node test's samples).
        coerce_strings, allow_extra: See :func:`check_inputs`.
        send: Hand a token to the workers (False: the caller runs it in-process).
        on_stored: Called with the new id once the run is stored, before it is sent: a
            caller waiting for its end watches it from there (``awaiting.EndOfRun``), so
            it needs no read to learn whether it missed the end.

    Raises:
        InvalidWorkflow: the document does not validate, or names credentials the workspace
            lacks.
        InputsError: (422) the inputs do not match the trigger.
        DiskFull: (507) the data disk is full: the run could not even record its end.
    """
    disk.refuse_when_full()
    values = check_inputs(document, inputs, coerce_strings=coerce_strings, allow_extra=allow_extra)
    values = files.claim_refs(workspace_id, values)
    if workspace_id is not None and (problems := credential_problems(workspace_id, document)):
        raise InvalidWorkflow(problems)
    queued = store_queued(
        document,
        values,
        owner_id=owner_id,
        workspace_id=workspace_id,
        workflow_id=workflow_id,
        workflow_version=version,
        trigger=trigger,
        parent_id=parent_id,
        caller=caller,
        queued_data=queued_data,
        finished_steps=finished_steps,
    )
    execution_id = queued["execution_id"]
    files.attach(execution_id, values)
    if on_stored is not None:
        on_stored(execution_id)
    if send:
        dispatch.enqueue_execution(execution_id, events=[queued])
    return execution_id


def start(
    actor: Actor,
    workflow_id: int,
    inputs: Any = None,
    trigger: str = "manual",
    *,
    on_stored: Callable[[int], None] | None = None,
) -> int:
    """Queue a run of the workflow's newest version and return its id at once.

    The document is pinned on the execution, so saving the workflow later never changes a
    run that is queued or in flight. ``on_stored``: see :func:`queue_run`.

    Raises:
        NotFound: not a workflow of the actor's workspaces.
        Forbidden: the actor's role there cannot run workflows.
        InputsError: (422) the inputs do not match the trigger.
    """
    if trigger not in TRIGGERS:
        raise InvalidInput(f"unknown trigger {trigger!r}; use one of {', '.join(TRIGGERS)}")
    with reading() as conn:
        workflow, document = owned_workflow_document(conn, actor, workflow_id, Can.RUN)
    if problems := call_problems(workflow.workspace_id, document, workflow.id):
        raise InvalidWorkflow(problems)
    return queue_run(
        document,
        inputs,
        owner_id=actor.id,
        workspace_id=workflow.workspace_id,
        trigger=trigger,
        workflow_id=workflow.id,
        version=workflow.version,
        on_stored=on_stored,
    )


def hook_workflow(hook_token: str) -> int:
    """The id of the workflow listening on ``hook_token``.

    Raises:
        NotFound: no workflow has this token (or its trigger is no longer a webhook).
    """
    with reading() as conn:
        workflow_id = conn.execute(
            select(Workflow.id).where(
                Workflow.hook_token == hook_token, workspaces.not_disabled(Workflow.workspace_id)
            )
        ).scalar_one_or_none()
    if workflow_id is None:
        raise NotFound("no workflow listens on this webhook URL")
    return workflow_id


def start_from_hook(
    hook_token: str, body: Any, *, on_stored: Callable[[int], None] | None = None
) -> int:
    """Queue a run of the workflow whose webhook token is ``hook_token``, in its workspace,
    started as its creator.

    ``on_stored``: see :func:`queue_run`.

    Raises:
        NotFound: no workflow has this token (or it is a disabled account's own).
        InputsError: (422) the body is not a JSON object or does not match the trigger.
    """
    with reading() as conn:
        workflow = conn.execute(
            select(Workflow.id, Workflow.owner_id, Workflow.workspace_id, Workflow.version).where(
                Workflow.hook_token == hook_token, workspaces.not_disabled(Workflow.workspace_id)
            )
        ).one_or_none()
        if workflow is None:
            raise NotFound("no workflow listens on this webhook URL")
        document = current_document(conn, workflow.id, workflow.version)
    if not isinstance(body, dict):
        message = 'the webhook body must be a JSON object, e.g. {"email": "a@b.com"}'
        raise InputsError(message, [{"node_id": None, "field": "body", "message": message}])
    return queue_run(
        document,
        body,
        owner_id=workflow.owner_id,
        workspace_id=workflow.workspace_id,
        trigger="webhook",
        workflow_id=workflow.id,
        version=workflow.version,
        on_stored=on_stored,
    )


def rerun(actor: Actor, execution_id: int) -> int:
    """Start a new execution with the same inputs, on the workflow's newest version.

    The newest version is what the user sees in the editor, so a fix made after a failure
    applies; use :func:`retry` to resume the same run instead.

    Raises:
        NotFound: not the actor's execution, or its workflow was deleted.
        Conflict: it was a node test (its inputs and samples are not a run's).
        InputsError: the inputs no longer match the newest trigger.
    """
    with reading() as conn:
        row = owned_execution(conn, actor, execution_id, Can.RUN)
        if row.trigger == TEST_TRIGGER:
            raise Conflict(
                f"execution {execution_id} tested one node: test it again from the editor, "
                "or press Execute to run the whole workflow"
            )
        if row.workflow_id is None:
            raise NotFound(f"execution {execution_id} has no stored workflow to run again")
        workflow, document = owned_workflow_document(conn, actor, row.workflow_id, Can.RUN)
    return queue_run(
        document,
        row.inputs,
        owner_id=actor.id,
        workspace_id=workflow.workspace_id,
        trigger="rerun",
        workflow_id=workflow.id,
        version=workflow.version,
        parent_id=execution_id,
    )


def retry(actor: Actor, execution_id: int) -> int:
    """Queue a failed or cancelled execution again; it resumes from its failed steps.

    Finished steps keep their outputs and are not run again; failed, cancelled and
    never-started steps run. The execution keeps its id, document and inputs.

    Raises:
        NotFound: not the actor's execution.
        Conflict: it did not fail (or get cancelled).
    """
    with get_engine().begin() as conn:
        row = owned_execution(conn, actor, execution_id, Can.RUN)
        if not reopen(conn, execution_id):
            raise Conflict(
                f"execution {execution_id} is {row.status}: only a failed or cancelled "
                "execution can be retried"
            )
        event = append_event(conn, execution_id, EventType.EXECUTION_QUEUED, retry=True)
    dispatch.enqueue_execution(execution_id, events=[event])
    return execution_id
