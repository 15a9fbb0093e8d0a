"""The execution task: claim, run the engine, finish, hand out the owner's next token.

Thin on purpose (ARCHITECTURE rule 5): the business rules (claiming, limits) live in
``services.executions``; the run itself is ``services.executions.run_execution``,
the same function ``agentflow run`` uses.

While a run is in this process, a thread renews its lease on the row every
``LEASE_RENEW_S``; the reaper takes back a row whose lease is older than ``LEASE_S``. If
the renewal finds the row was given to another worker meanwhile (this process looked
dead, e.g. it was frozen), the local run is cancelled so two workers do not both go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading

from celery.signals import worker_process_shutdown, worker_shutdown

from agentflow_app.errors import AgentFlowError
from agentflow_app.net.client import GuardedClient
from agentflow_app.nodes.credentials import StaticCredentials
from agentflow_app.observability import runs, tracing
from agentflow_app.redis_client import get_redis
from agentflow_app.secrets.vault import Vault
from agentflow_app.services import credentials, executions
from agentflow_app.services.disk import DiskFull
from agentflow_app.services.executions import (
    ClaimedRun,
    map_items,
    no_redaction,
    run_execution,
)
from agentflow_app.settings import get_settings
from tasks.celery_app import celery_app
from tasks.dispatch import RUN_EXECUTION
from tasks.run_loop import RunLoop

log = logging.getLogger(__name__)

#: Ids are bigint at most (PostgreSQL's claim function takes one); a message with a larger
#: one is not ours.
MAX_ID = 2**63


class _Leases:
    """Renews the leases of the executions this process runs; cancels one taken away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[int, tuple[str, asyncio.AbstractEventLoop, asyncio.Task]] = {}
        self._thread: threading.Thread | None = None

    def add(self, execution_id: int, worker: str, task: asyncio.Task) -> None:
        with self._lock:
            self._runs[execution_id] = (worker, asyncio.get_running_loop(), task)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._renew, name="agentflow-run-leases", daemon=True
                )
                self._thread.start()

    def remove(self, execution_id: int) -> None:
        with self._lock:
            self._runs.pop(execution_id, None)

    def _renew(self) -> None:
        stop = threading.Event()
        while not stop.wait(executions.LEASE_RENEW_S):
            with self._lock:
                runs = dict(self._runs)
            by_worker: dict[str, list[int]] = {}
            for execution_id, (worker, _, _) in runs.items():
                by_worker.setdefault(worker, []).append(execution_id)
            for worker, ids in by_worker.items():
                try:
                    lost = executions.renew_leases(ids, worker)
                except Exception as exc:  # the database is away a moment: beat again later
                    log.warning("renewing run leases failed: %s", exc)
                    continue
                for execution_id in lost:
                    with self._lock:
                        run = self._runs.get(execution_id)
                    if run is not None:
                        log.warning(
                            "execution %s was given to another worker; stopping it here",
                            execution_id,
                        )
                        run[1].call_soon_threadsafe(run[2].cancel)


_leases = _Leases()


_runs = RunLoop(get_settings().agentflow_runs_per_process)


@worker_process_shutdown.connect
@worker_shutdown.connect
def _drain(**_kwargs: object) -> None:
    """A process stopping on purpose lets its runs end (a solo pool's is the main one),
    then exports their spans (the observability module's own flush may have run first)."""
    _runs.drain()
    tracing.flush()


def worker_name(hostname: str | None) -> str:
    """What the ``worker`` column records: the Celery node name and this process."""
    return f"{hostname or 'worker'}/{os.getpid()}"


@celery_app.task(name=RUN_EXECUTION, bind=True, acks_late=True, ignore_result=True)
def run(self, execution_id: int) -> None:
    """Claim an execution of this token's owner and start it on this process's run loop."""
    if (
        isinstance(execution_id, bool)
        or not isinstance(execution_id, int)
        or not 0 < execution_id < MAX_ID
    ):
        log.error("%s: ignoring a message with a bad execution id %r", RUN_EXECUTION, execution_id)
        return
    worker = worker_name(self.request.hostname)
    with _runs.slot() as start:
        claimed = executions.claim(execution_id, worker)
        if claimed is None:
            return  # a duplicate, a spare token, or the owner is at the limit
        labels = runs.labels_of(claimed.execution_id) if runs.observing() else None
        scope = runs.run_scope(
            claimed.execution_id,
            worker,
            labels=labels,
            message_id=execution_id,
            headers=_headers(self.request),
        )
        start(_run_claimed(claimed, worker, scope))
    _runs.wait_for_room()


async def _run_claimed(
    claimed: ClaimedRun, worker: str, scope: contextlib.AbstractContextManager
) -> None:
    """A claimed run on this process's loop, to its end; then the owner's next token."""
    try:
        with scope:
            await execute(claimed, worker)
    except DiskFull as exc:  # recorded on the execution, logged once by the store
        log.warning("execution %s: failed: %s", claimed.execution_id, exc)
    except Exception:  # recorded on the execution by run_execution; keep the worker going
        log.exception("execution %s: the run stopped on an error", claimed.execution_id)
    finally:
        await asyncio.to_thread(executions.dispatch_waiting, claimed.owner_id)


async def execute(claimed: ClaimedRun, worker: str) -> None:
    """Run a claimed execution with its workspace's vault and the guarded HTTP client.

    A map item whose workflow allows it runs with the map's next items in one turn
    (``services.executions.map_items``)."""
    execution_id, workspace_id = claimed.execution_id, claimed.workspace_id
    vault = (
        Vault(workspace_id, on_use=credentials.run_use_recorder(execution_id))
        if workspace_id is not None
        else None
    )
    task = asyncio.current_task()
    _leases.add(execution_id, worker, task)
    provider = vault if vault is not None else StaticCredentials({})
    redact = vault.redactor if vault is not None else no_redaction
    try:
        async with GuardedClient() as http:
            if map_items.batchable(claimed) and await map_items.run_items(
                claimed,
                worker,
                http=http,
                credentials=provider,
                redact=redact,
                redis=_redis(),
                hold=lambda item: _leases.add(item, worker, task),
                release=_leases.remove,
            ):
                return
            await run_execution(
                execution_id,
                http=http,
                credentials=provider,
                redact=redact,
                redis=_redis(),
                worker=worker,
                claimed=claimed,
            )
    except asyncio.CancelledError:
        log.warning("execution %s: stopped here, another worker holds it", execution_id)
    finally:
        _leases.remove(execution_id)


def _headers(request) -> dict:
    """The message's own headers (the trace context); Celery puts them on the request."""
    return {name: getattr(request, name, None) for name in ("traceparent", "tracestate")}


def _redis():
    try:
        return get_redis()
    except AgentFlowError as exc:
        log.warning("no Redis to publish events on (%s); viewers will poll the database", exc)
        return None
