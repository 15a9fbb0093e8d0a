"""Run a stored execution to its end, or resume one a dead process left behind.

The worker task and ``agentflow run`` both call :func:`run_execution`: it loads the pinned
document and inputs from the ``executions`` row, marks it running and drives the engine's
runner over a :class:`DbExecutionStore`, which records how the run ended on the row with
its terminal event. Running it again on an execution that was interrupted (a SIGKILLed
CLI, a worker that died) resumes it: the runner finds the finished steps in the store and
does not run them again (SPEC §7).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentflow_app.catalog import default_registry
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import Event, EventType
from agentflow_app.engine.node import CredentialProvider
from agentflow_app.engine.plan import plan_of
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.runner import RunResult, run
from agentflow_app.engine.status import ExecutionStatus
from agentflow_app.errors import Conflict
from agentflow_app.services import approvals
from agentflow_app.services.disk import DiskFull
from agentflow_app.services.executions import children
from agentflow_app.services.executions.lifecycle import mark_finished, mark_started
from agentflow_app.services.executions.rows import ClaimedRun, RunOwner, load_execution
from agentflow_app.services.executions.store import DbExecutionStore, Redactor, no_redaction
from agentflow_app.services.executions.waits import suspend
from agentflow_app.services.files import DbFileHost, FileTexts
from agentflow_app.services.flow_host import DbFlowHost

if TYPE_CHECKING:
    from redis import Redis

log = logging.getLogger(__name__)


async def run_execution(
    execution_id: int,
    *,
    http: Any,
    credentials: CredentialProvider | None,
    registry: Registry | None = None,
    services: dict[str, Any] | None = None,
    redis: Redis | None = None,
    redact: Redactor = no_redaction,
    on_event: Callable[[Event], None] | None = None,
    worker: str | None = None,
    claimed: ClaimedRun | None = None,
) -> RunResult:
    """Run (or resume) execution ``execution_id`` and record its end on the row.

    Args:
        http: the guarded HTTP client nodes use.
        credentials: the acting user's credential provider.
        registry: node types (the process default when omitted).
        services: extras for nodes (``ctx.services``); the registry reaches them as
            ``ctx.registry``.
        redis: where events are published (None: stored only).
        redact: the vault's redaction of the workspace's secrets (see ``no_redaction``).
        on_event: called with each stored event (live progress).
        worker: recorded on the row while the run holds it.
        claimed: the worker's claim of this execution: the row is already ``running`` for
            ``worker`` and the claim read its document and inputs, so neither the read nor
            the write is repeated here.

    Raises:
        NotFound: no such execution.
        Conflict: the execution already ended (re-run it instead).
        InvalidWorkflow: the pinned document no longer validates (the row is marked
            failed with the problems, so it does not stay queued).
    """
    if claimed is None:
        execution = await asyncio.to_thread(load_execution, execution_id)
        status = ExecutionStatus(execution.status)
        if status.finished:
            raise Conflict(f"execution {execution_id} has already {status}; re-run it instead")
        await asyncio.to_thread(mark_started, execution_id, worker=worker)
        document, inputs = execution.document, execution.inputs
    else:
        document, inputs = claimed.document, claimed.inputs
    registry = registry or default_registry()
    source = claimed if claimed is not None else execution
    owner = RunOwner(source.owner_id, source.workspace_id)
    services = {
        **(services or {}),
        "flow": DbFlowHost(execution_id, owner),
        "files": DbFileHost(execution_id, owner.workspace_id),
    }
    store = DbExecutionStore(
        execution_id, redis=redis, redact=redact, on_event=on_event, claimed=claimed
    )
    try:
        result = await run(
            plan_of(document, registry),
            inputs,
            store,
            registry=registry,
            http=http,
            credentials=credentials,
            services=services,
            execution_id=execution_id,
            resolve=FileTexts(owner.workspace_id),
        )
    except InvalidWorkflow as exc:
        await _fail(store, redact(f"{exc}"))
        raise
    except DiskFull as exc:
        # Logged by the store once; the reserve it released leaves room for the failure.
        store.drop_failure()
        await _fail(store, str(exc))
        raise
    except Exception as exc:
        # A bug or a database outage, not a node failure (those end up in RunResult):
        # say so on the row, keep the details in the log.
        log.exception("execution %s: the run stopped on an internal error", execution_id)
        await _fail(
            store,
            f"internal error ({type(exc).__name__}); see the worker log for execution "
            f"{execution_id}",
        )
        raise
    finally:
        await store.aclose()
    # The store recorded the end on the row with the run's terminal event; what the end
    # means for the run's waits and children is settled here.
    has_caller = claimed is None or claimed.has_caller
    if result.status != ExecutionStatus.SUCCEEDED or has_caller:  # else nothing to settle
        await asyncio.to_thread(_settle, execution_id, result, worker, has_caller)
    return result


def _settle(execution_id: int, result: RunResult, worker: str | None, has_caller: bool) -> None:
    """Pause a run whose steps all wait, or tidy after one that ended.

    An ended run closes its pending approvals and stops its children (when it did not
    succeed), wakes its own caller (if the claim did not find it has none: that read was
    one round trip in nine of a run), and, when it failed, starts its error workflow.
    """
    if result.status == ExecutionStatus.WAITING:
        suspend(execution_id, worker=worker, wake_at=result.wake_at)
        return
    if result.status != ExecutionStatus.SUCCEEDED:
        approvals.close_pending(execution_id)
        children.cancel_children(execution_id)
    if has_caller:
        children.child_ended(execution_id)
    if result.status == ExecutionStatus.FAILED:
        children.start_error_workflow(execution_id)


async def _fail(store: DbExecutionStore, error: str) -> None:
    """Best effort: the row and the live view learn the run failed.

    The failure event ends the row in its own transaction; only if the store cannot write
    (the error was a database outage, say) is the row marked directly.
    """
    try:
        await store.emit(EventType.EXECUTION_FAILED, error=error)
        return
    except Exception as exc:
        log.warning("execution %s: recording the failure event failed: %s", store.execution_id, exc)
    try:
        await asyncio.to_thread(
            mark_finished, store.execution_id, status=ExecutionStatus.FAILED, error=error
        )
    except Exception as exc:
        log.warning("execution %s: marking it failed failed: %s", store.execution_id, exc)
