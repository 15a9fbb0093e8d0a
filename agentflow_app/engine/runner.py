"""The scheduler: runs a compiled workflow over an :class:`ExecutionStore` (SPEC §7, §8).

How a run goes:

* A node is *ready* when every edge into it is resolved. It runs when at least one of those
  edges is *active*, else it is ``skipped``. An edge is active when its source succeeded and
  the edge's ``sourceHandle`` is among ``node.routes(output)``, or when its source failed
  with ``on_error: continue`` (then every edge out of it is active and its output is
  ``{"error": message}``).
* Ready nodes start at once as asyncio tasks, so independent branches overlap.
* A step is retried only on transient errors (:class:`TransientError`, httpx transport
  errors and timeouts), ``retries`` times, with exponential backoff and full jitter. Its own
  ``timeout_s`` bounds each attempt; running out of it is a permanent failure.
* A failed step without ``on_error: continue`` fails the run: nothing new starts, steps
  already running are allowed to finish (their results are kept, so a retry does not
  repeat them, and a half-sent side effect is not cut off mid-flight), and steps that never
  started stay ``pending`` so that ``/retry`` runs them later.
* Cancellation is polled from the store every ``cancel_poll_s``; running steps are
  cancelled (recorded ``cancelled``) and the run ends ``cancelled`` well within 2 s.
* Durable resume: the run starts from ``store.load_steps()``. Succeeded, skipped and
  failed-with-continue steps are reused, not run again. A step found ``running`` was in
  flight when a worker died: it runs again unless its node has side effects and is not
  idempotent for its config, in which case it fails as "may have been sent". Failed and
  cancelled steps run again (that is how ``/retry`` resumes).
* Waiting: a node that raises :class:`Wait` leaves its step ``waiting`` (its ``state``
  stored as the step's output) and its edges unresolved; the other branches go on. When
  nothing else can run, the run ends ``waiting`` (``execution.waiting`` names the waiting
  nodes and the earliest ``wake_at``), holding nothing. Run again later, a waiting step's
  node runs again with ``ctx.resume`` set to its state; finished steps are reused as for
  any resume.

Every finished step is saved before its event is emitted, so a crash between the two never
repeats a finished step.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import random
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from agentflow_app.engine.document import WorkflowDocument
from agentflow_app.engine.errors import NodeError, TransientError, Wait
from agentflow_app.engine.events import EventType, StepRecord
from agentflow_app.engine.node import CredentialProvider, Node, RunContext
from agentflow_app.engine.plan import OUTPUT_TYPE, Plan, PlanNode, compile_plan
from agentflow_app.engine.registry import Registry
from agentflow_app.engine.resolver import NeedsThread, OnLoop, Resolver
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.engine.step_output import stored_form, to_json, usage_of
from agentflow_app.engine.store import ExecutionStore
from agentflow_app.engine.templating import InputsScope, NodesScope, render_config
from agentflow_app.engine.tokens import TokenBatcher

log = logging.getLogger(__name__)

#: Longest single backoff between attempts (seconds).
MAX_BACKOFF_S = 30.0
#: How long cancelled steps get to unwind before the run reports ``cancelled`` anyway.
CANCEL_GRACE_S = 1.0
MAY_HAVE_BEEN_SENT = (
    "may have been sent: the worker stopped while this step was in flight; "
    "check the target before retrying"
)

_TRANSIENT = (TransientError, httpx.TransportError)


@dataclass
class RunResult:
    """How a run ended; ``steps`` holds the final record of every step that has one."""

    status: ExecutionStatus
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    steps: dict[str, StepRecord] = field(default_factory=dict)
    #: When ``status`` is ``waiting``: the earliest time a waiting step asked to run again
    #: (None: only a signal wakes it).
    wake_at: datetime | None = None


async def run(
    document: dict[str, Any] | WorkflowDocument | Plan,
    inputs: dict[str, Any],
    store: ExecutionStore,
    *,
    registry: Registry,
    http: Any,
    credentials: CredentialProvider | None,
    services: dict[str, Any] | None = None,
    cancel_poll_s: float = 0.2,
    execution_id: int | str | None = None,
    retry_backoff_s: float = 0.5,
    resolve: Resolver | None = None,
) -> RunResult:
    """Run a workflow to its end, recording steps and events in ``store``.

    Args:
        document: a document (validated here) or a compiled :class:`Plan`.
        inputs: the execution inputs, given to the trigger.
        store: where steps and events go; a resumed run finds its steps there.
        registry: node types and agent tools; the host composes it
            (``agentflow_app.catalog.default_registry()`` in the app) and nodes see it as
            ``ctx.registry``.
        http: the guarded HTTP client nodes use (``ctx.http``).
        credentials: the credential provider nodes use (``ctx.credentials``).
        services: extras for nodes (``ctx.services``), e.g. the LLM factory.
        cancel_poll_s: how often to ask the store whether cancellation was requested.
        execution_id: for ``ctx.execution_id``; defaults to ``store.execution_id`` if any.
        retry_backoff_s: the first backoff before a retry; doubles per attempt.
        resolve: keys the host supplies to templates on demand (a file's ``text``). A
            node's config is rendered on the loop, and again in a thread when the render
            asks the host for one, as its reads may block (``resolver.OnLoop``).

    Raises:
        InvalidWorkflow: when the document does not validate (nothing is recorded).
        Exception: whatever the store raises; the run is then abandoned as a crashed worker
            would leave it, and running it again resumes it.
    """
    plan = document if isinstance(document, Plan) else compile_plan(document, registry)
    if execution_id is None:
        execution_id = getattr(store, "execution_id", 0)
    execution = _Execution(
        plan=plan,
        inputs=dict(inputs),
        store=store,
        registry=registry,
        http=http,
        credentials=credentials,
        services=services or {},
        cancel_poll_s=cancel_poll_s,
        execution_id=execution_id,
        retry_backoff_s=retry_backoff_s,
        resolve=resolve,
    )
    return await execution.execute()


def _is_idempotent(node: Node, config: Any, registry: Registry) -> bool:
    """Ask ``node`` whether running ``config`` again is harmless, giving it the registry.

    Plugins written before ``is_idempotent`` received the registry override it with the
    config alone; they are asked that way rather than broken on resume.
    """
    if "registry" in inspect.signature(node.is_idempotent).parameters:
        return node.is_idempotent(config, registry=registry)
    return node.is_idempotent(config)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Outcome:
    status: StepStatus
    output: Any = None
    routes: tuple[str, ...] = ()
    error: str | None = None
    usage: dict[str, float] | None = None
    wake_at: datetime | None = None


class _Cancel:
    """Queued by the cancellation poller."""


class _Execution:
    def __init__(
        self,
        *,
        plan: Plan,
        inputs: dict[str, Any],
        store: ExecutionStore,
        registry: Registry,
        http: Any,
        credentials: CredentialProvider | None,
        services: dict[str, Any],
        cancel_poll_s: float,
        execution_id: int | str,
        retry_backoff_s: float,
        resolve: Resolver | None,
    ) -> None:
        self.plan = plan
        self.raw_inputs = inputs
        self.inputs = InputsScope(inputs)
        self.store = store
        self.registry = registry
        self.http = http
        self.credentials = credentials
        self.services = services
        self.cancel_poll_s = cancel_poll_s
        self.execution_id = execution_id
        self.retry_backoff_s = retry_backoff_s
        self.resolve = resolve
        self._on_loop = OnLoop(resolve.keys) if resolve is not None else None

        self.records: dict[str, StepRecord] = {}
        self.outputs: dict[str, Any] = {}
        self.scope_entries: dict[str, dict[str, Any]] = {}
        self.remaining = {node_id: len(pn.incoming) for node_id, pn in plan.nodes.items()}
        self.active: set[str] = set()
        self.ready: deque[str] = deque()
        self.running: dict[str, asyncio.Task[_Outcome]] = {}
        self.done: asyncio.Queue[asyncio.Task[_Outcome] | _Cancel | BaseException] = asyncio.Queue()
        self.cancelled = asyncio.Event()
        self.error: str | None = None
        self.usage: dict[str, float] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
        #: Steps that paused (:class:`Wait`), with the time each asked to be run again.
        self.waiting: dict[str, datetime | None] = {}

    # -- the loop ---------------------------------------------------------------------------

    async def execute(self) -> RunResult:
        self.records = await self.store.load_steps()
        # Nothing depends on the start being stored first (the claim marked the row
        # running): it shares the first step's transaction.
        await self.store.emit_soon(EventType.EXECUTION_STARTED, resumed=bool(self.records))
        if await self.store.cancel_requested():
            return await self._finish_cancelled()
        poller = asyncio.create_task(self._poll_cancel())
        try:
            self.ready.append(self.plan.trigger)
            while True:
                await self._drain_ready()
                if not self.running:
                    break
                item = await self.done.get()
                if isinstance(item, _Cancel):
                    return await self._finish_cancelled()
                if isinstance(item, BaseException):
                    raise item
                node_id = item.get_name()
                if self.running.get(node_id) is not item:
                    continue
                del self.running[node_id]
                self._settle(node_id, item.result())
        except BaseException:
            await self._abandon()
            raise
        finally:
            poller.cancel()
        return await self._finish()

    async def _drain_ready(self) -> None:
        """Start, skip or reuse every ready node (skips and reuses may ready more)."""
        while self.ready and self.error is None and not self.cancelled.is_set():
            node_id = self.ready.popleft()
            pn = self.plan.nodes[node_id]
            record = self.records.get(node_id)
            if node_id != self.plan.trigger and node_id not in self.active:
                if record is None or record.status != StepStatus.SKIPPED:
                    await self._record_skipped(pn)
                self._resolve(node_id, StepStatus.SKIPPED, None, ())
                continue
            reused = self._reusable(pn, record)
            if reused is not None:
                self._settle(node_id, reused)
                continue
            if (
                record is not None
                and record.status == StepStatus.RUNNING
                and pn.cls.side_effects
                and not _is_idempotent(pn.cls(), pn.config, self.registry)
            ):
                self._settle(node_id, await self._record_failed(pn, record, MAY_HAVE_BEEN_SENT))
                continue
            task = asyncio.create_task(self._run_step(pn), name=node_id)
            self.running[node_id] = task
            task.add_done_callback(self.done.put_nowait)

    def _reusable(self, pn: PlanNode, record: StepRecord | None) -> _Outcome | None:
        """The outcome of a step finished in an earlier run, if it may be reused."""
        if record is None:
            return None
        if record.status == StepStatus.SUCCEEDED:
            try:
                routes = tuple(pn.cls().routes(record.output)) if pn.outgoing else ()
            except Exception:  # e.g. a truncated output the node cannot route on: run again
                return None
            return _Outcome(StepStatus.SUCCEEDED, record.output, routes, usage=record.usage)
        if record.status == StepStatus.FAILED and pn.continue_on_error:
            return _Outcome(StepStatus.FAILED, record.output, error=record.error)
        return None

    def _settle(self, node_id: str, outcome: _Outcome) -> None:
        """Act on a finished step: usage, cost limit, failure, routing."""
        pn = self.plan.nodes[node_id]
        if outcome.usage:
            for key, value in outcome.usage.items():
                self.usage[key] = self.usage.get(key, 0) + value
            limit = self.plan.max_cost_usd
            if limit is not None and self.usage.get("cost_usd", 0) > limit and self.error is None:
                self.error = (
                    f"the run passed its cost limit: ${self.usage['cost_usd']:.4f} spent, "
                    f"max_cost_usd is ${limit:.4f} (after node {node_id!r})"
                )
        if outcome.status == StepStatus.FAILED and not pn.continue_on_error:
            if self.error is None:
                self.error = f"node {node_id!r} failed: {outcome.error}"
            return
        if outcome.status == StepStatus.WAITING:
            self.waiting[node_id] = outcome.wake_at
            return
        self._resolve(node_id, outcome.status, outcome.output, outcome.routes)

    def _resolve(self, node_id: str, status: StepStatus, output: Any, routes: tuple) -> None:
        pn = self.plan.nodes[node_id]
        if status != StepStatus.SKIPPED:
            self.outputs[node_id] = output
            self.scope_entries[node_id] = {"output": output}
            if node_id == self.plan.trigger and isinstance(output, dict):
                self.inputs = InputsScope(output)
        failed = status == StepStatus.FAILED  # only reaches here with on_error: continue
        for handle, target in pn.outgoing:
            if failed or (status == StepStatus.SUCCEEDED and handle in routes):
                self.active.add(target)
            self.remaining[target] -= 1
            if self.remaining[target] == 0:
                self.ready.append(target)

    async def _poll_cancel(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.cancel_poll_s)
                if await self.store.cancel_requested():
                    self.cancelled.set()
                    self.done.put_nowait(_Cancel())
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the store failed: the run cannot go on safely
            self.done.put_nowait(exc)

    async def _abandon(self) -> None:
        """Stop every running step without recording anything (the store is failing)."""
        for task in self.running.values():
            task.cancel()
        if self.running:
            await asyncio.wait(self.running.values(), timeout=CANCEL_GRACE_S)

    # -- endings ----------------------------------------------------------------------------

    async def _finish_cancelled(self) -> RunResult:
        self.cancelled.set()
        tasks = dict(self.running)
        for task in tasks.values():
            task.cancel()
        if tasks:
            await asyncio.wait(tasks.values(), timeout=CANCEL_GRACE_S)
        for node_id, task in tasks.items():
            if task.done() and not task.cancelled() and task.exception() is None:
                continue  # it finished (and was recorded) just before the cancel landed
            record = self.records.get(node_id) or StepRecord(
                node_id=node_id, type=self.plan.nodes[node_id].type
            )
            record.status = StepStatus.CANCELLED
            record.finished_at = _now()
            record.error = "cancelled"
            await self.store.save_step(record)
        self.running.clear()
        await self._close_waiting("cancelled while waiting")
        await self.store.emit(EventType.EXECUTION_CANCELLED, usage=self.usage)
        return self._result(ExecutionStatus.CANCELLED, {})

    async def _close_waiting(self, error: str) -> None:
        """End the steps still waiting when the run ends otherwise (failed, cancelled)."""
        for node_id in self.waiting:
            record = self.records[node_id]
            record.status = StepStatus.CANCELLED
            record.finished_at = _now()
            record.error = error
            await self.store.save_step(record)
        self.waiting.clear()

    async def _finish(self) -> RunResult:
        if self.error is not None:
            await self._close_waiting("the run failed while this step waited")
            await self.store.emit(EventType.EXECUTION_FAILED, error=self.error, usage=self.usage)
            return self._result(ExecutionStatus.FAILED, {})
        if self.waiting:
            times = [at for at in self.waiting.values() if at is not None]
            wake_at = min(times) if times else None
            await self.store.emit(
                EventType.EXECUTION_WAITING,
                nodes=sorted(self.waiting),
                wake_at=wake_at.isoformat() if wake_at else None,
                usage=self.usage,
            )
            result = self._result(ExecutionStatus.WAITING, {})
            result.wake_at = wake_at
            return result
        outputs: dict[str, Any] = {}
        for node_id in self.plan.order:
            pn = self.plan.nodes[node_id]
            record = self.records.get(node_id)
            if (
                pn.type == OUTPUT_TYPE
                and record is not None
                and record.status == StepStatus.SUCCEEDED
                and isinstance(self.outputs.get(node_id), dict)
            ):
                # Keys starting with "$" are directives for the host (a waiting webhook's
                # status and headers), not outputs.
                outputs.update(
                    (k, v) for k, v in self.outputs[node_id].items() if not str(k).startswith("$")
                )
        await self.store.emit(EventType.EXECUTION_SUCCEEDED, outputs=outputs, usage=self.usage)
        return self._result(ExecutionStatus.SUCCEEDED, outputs)

    def _result(self, status: ExecutionStatus, outputs: dict[str, Any]) -> RunResult:
        return RunResult(
            status=status,
            outputs=outputs,
            error=self.error if status == ExecutionStatus.FAILED else None,
            usage=dict(self.usage),
            steps=dict(self.records),
        )

    # -- one step ---------------------------------------------------------------------------

    async def _record_skipped(self, pn: PlanNode) -> None:
        record = StepRecord(node_id=pn.id, type=pn.type, status=StepStatus.SKIPPED)
        record.finished_at = _now()
        self.records[pn.id] = record
        await self.store.save_step(record)
        await self.store.emit_nowait(EventType.STEP_SKIPPED, pn.id)

    async def _record_failed(self, pn: PlanNode, record: StepRecord, error: str) -> _Outcome:
        record.status = StepStatus.FAILED
        record.error = error
        record.output = {"error": error} if pn.continue_on_error else None
        record.output_truncated = False
        record.finished_at = _now()
        self.records[pn.id] = record
        await self.store.save_step(record)
        await self.store.emit(EventType.STEP_FAILED, pn.id, error=error, attempts=record.attempts)
        return _Outcome(StepStatus.FAILED, record.output, error=error)

    def _context(
        self, pn: PlanNode, attempt: int, tokens: TokenBatcher, resume: dict[str, Any] | None
    ) -> RunContext:
        store, node_id = self.store, pn.id

        async def log_(message: str, **data: Any) -> None:
            await store.emit(EventType.STEP_LOG, node_id, **data, message=str(message))

        upstream = {s: self.outputs[s] for s, _ in pn.incoming if s in self.outputs}
        return RunContext(
            execution_id=self.execution_id,
            node_id=node_id,
            attempt=attempt,
            inputs=self.raw_inputs if node_id == self.plan.trigger else dict(self.inputs),
            http=self.http,
            credentials=self.credentials,
            cancelled=self.cancelled,
            log=log_,
            token=tokens.add,
            registry=self.registry,
            upstream=upstream,
            services=self.services,
            resume=resume,
        )

    async def _attempt(self, pn: PlanNode, node: Node, ctx: RunContext) -> tuple[Any, str]:
        config = pn.config
        if pn.needs_render:
            nodes = NodesScope(
                {r: self.scope_entries[r] for r in pn.references if r in self.scope_entries}
            )
            scope = {"inputs": self.inputs, "nodes": nodes}
            try:  # on the loop, unless the render asks the host for something (a read)
                config = render_config(config, scope, node_id=pn.id, resolve=self._on_loop)
            except NeedsThread:
                config = await asyncio.to_thread(
                    render_config, config, scope, node_id=pn.id, resolve=self.resolve
                )
        async with asyncio.timeout(pn.timeout_s) as deadline:
            try:
                output = await node.run(ctx, config)
            except TimeoutError as exc:
                if deadline.expired():
                    raise
                # The node's own wait timed out (not its timeout_s): worth another attempt.
                raise TransientError(f"an operation inside the node timed out ({exc})") from None
        return to_json(pn.id, output)

    async def _run_step(self, pn: PlanNode) -> _Outcome:
        node = pn.cls()
        record = self.records.get(pn.id) or StepRecord(node_id=pn.id, type=pn.type)
        self.records[pn.id] = record
        # A step that waited runs again with its state; it keeps its first start time
        # and its attempts (waking is not another try).
        resume = record.output if record.status == StepStatus.WAITING else None
        if not isinstance(resume, dict):
            resume = None
        if resume is None or record.started_at is None:
            record.started_at = _now()
        record.status = StepStatus.RUNNING
        record.finished_at = None
        record.error = None
        record.output = None
        record.output_truncated = False
        started = time.perf_counter()
        error: str | None = None
        attempt = 0
        while True:
            attempt += 1
            if resume is None or attempt > 1 or not record.attempts:
                record.attempts += 1
            await self.store.save_step(record)
            # A step with side effects is stored as running before it acts, so a crash
            # leaves the trace that makes a resume fail it as "may have been sent"
            # instead of repeating it. Any other step is simply run again after a crash,
            # so its start shares the transaction of its end when it ends quickly.
            started_event = self.store.emit if pn.cls.side_effects else self.store.emit_soon
            await started_event(
                EventType.STEP_STARTED, pn.id, node_type=pn.type, attempt=record.attempts
            )
            # Tokens are for the live view only: the stream does not wait for their commit.
            tokens = TokenBatcher(self.store.emit_soon, pn.id)
            ctx = self._context(pn, attempt, tokens, resume)
            try:
                output, text = await self._attempt(pn, node, ctx)
                routes = tuple(node.routes(output)) if pn.outgoing else ()
                await tokens.close()
                break
            except Wait as wait:
                await tokens.close()
                return await self._record_waiting(pn, record, wait)
            except _TRANSIENT as exc:
                await tokens.close()
                message = str(exc) or type(exc).__name__
                if attempt > pn.retries:
                    error = message if not pn.retries else f"{message} (after {attempt} attempts)"
                    break
                delay = self._backoff(attempt, getattr(exc, "retry_after", None))
                await ctx.log(
                    f"attempt {record.attempts} failed ({message}); retrying in {delay:.1f} s",
                    level="warning",
                )
                await asyncio.sleep(delay)
            except TimeoutError:
                await tokens.close()
                error = f"timed out after {pn.timeout_s:g} s (the node's timeout_s)"
                break
            except NodeError as exc:
                await tokens.close()
                error = str(exc)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug in the node: show it short, log it whole
                log.exception("execution %s: node %s crashed", self.execution_id, pn.id)
                await tokens.close()
                error = f"the node crashed: {type(exc).__name__}: {exc}"
                break
        if error is not None:
            return await self._record_failed(pn, record, error)

        usage = usage_of(output)
        stored, truncated = stored_form(output, text)
        record.status = StepStatus.SUCCEEDED
        record.output = stored
        record.output_truncated = truncated
        record.usage = usage
        record.finished_at = _now()
        await self.store.save_step(record)
        # The steps after it start while its end is written. A crash before the write
        # lands leaves the step as it was stored when it started: a step with side effects
        # then fails as "may have been sent" (it was stored as running before it acted),
        # any other is run again. A step with side effects after it starts with a write
        # that is waited for, stored after this one.
        await self.store.emit_nowait(
            EventType.STEP_SUCCEEDED,
            pn.id,
            output=stored,
            output_truncated=truncated,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            usage=usage,
        )
        return _Outcome(StepStatus.SUCCEEDED, output, routes, usage=usage)

    async def _record_waiting(self, pn: PlanNode, record: StepRecord, wait: Wait) -> _Outcome:
        try:
            state, _ = to_json(pn.id, wait.state)
        except NodeError as exc:
            return await self._record_failed(pn, record, str(exc))
        wake_at = wait.wake_at
        record.status = StepStatus.WAITING
        record.output = state
        record.output_truncated = False
        record.finished_at = None
        await self.store.save_step(record)
        await self.store.emit(
            EventType.STEP_WAITING,
            pn.id,
            reason=wait.reason,
            wake_at=wake_at.isoformat() if wake_at else None,
            state=state,
        )
        return _Outcome(StepStatus.WAITING, state, wake_at=wake_at)

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with full jitter, never sooner than the far side asked."""
        ceiling = min(MAX_BACKOFF_S, self.retry_backoff_s * 2 ** (attempt - 1))
        delay = random.uniform(0, ceiling)
        if retry_after is not None:
            delay = max(delay, min(float(retry_after), MAX_BACKOFF_S * 10))
        return delay
