"""/executions/[execution_id]: one run, live.

``load`` (the page's ``on_load``, which Reflex also runs when a dropped websocket
reconnects) reads the stored record and starts :meth:`ExecutionState.watch`, a background
event that consumes ``services.executions.follow`` from the last ``seq`` it applied: a
late viewer replays the stored events, then goes live; a viewer whose websocket dropped
resumes where it stopped, without gaps (follow fills them from the database) or
duplicates (:class:`LiveRun` ignores any ``seq`` it has seen).

State changes happen only inside short ``async with self`` blocks. Events that arrive
within :data:`PUSH_EVERY_S` of the last push are applied together, so a long token stream
costs at most twenty websocket updates a second, while the first event after a quiet spell
is shown at once.

Only the newest watcher of a tab applies events: each one takes a fresh ticket, and an
older one that finds a newer ticket (a reconnect, another execution opened) stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any, TypedDict

import reflex as rx
from redis.exceptions import RedisError

from agentflow_app import routes
from agentflow_app.catalog import default_registry
from agentflow_app.engine.events import Event
from agentflow_app.errors import AgentFlowError, Conflict, NotFound
from agentflow_app.services import approvals, executions, files
from agentflow_app.services.executions import children
from agentflow_app.services.users import Actor
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.execution_view import (
    LiveRun,
    RunHeader,
    StepDetail,
    StepView,
    empty_detail,
    empty_header,
)
from agentflow_app.state.formatting import route_id, sentence
from agentflow_app.state.palette import catalog as canvas_catalog

log = logging.getLogger(__name__)

#: Events arriving within this long of the previous push go out together (seconds).
PUSH_EVERY_S = 0.05
#: A watcher with nothing to apply checks this often whether it is still wanted, and
#: refreshes the running clocks (seconds).
IDLE_CHECK_S = 1.0
#: A run quiet this long (waiting on an approval, say) stops being watched until the page
#: asks again, so a tab closed without a goodbye does not hold a follower for days.
MAX_QUIET_S = 15 * 60.0

_END = object()

#: What reaching the tab's state raises while Redis (where Reflex keeps it) is away.
STATE_AWAY = (RedisError, OSError, TimeoutError)
#: How long a watcher waits before trying the tab's state again.
STATE_RETRY_S = 1.0


async def _state_away(execution_id: int, error: BaseException, first: bool) -> None:
    """The tab's state is out of reach: wait, the events read meanwhile are kept (said
    once per outage in the log)."""
    if first:
        log.warning(
            "execution %s: the live view's state is unreachable (%s); holding its events "
            "until it is back",
            execution_id,
            error,
        )
    await asyncio.sleep(STATE_RETRY_S)


class FileLink(TypedDict):
    id: int
    name: str
    media_type: str
    size: str
    url: str
    image: bool


def _file_links(actor: Actor, run: LiveRun) -> list[FileLink]:
    """Download links for the files the run's inputs, outputs and steps refer to."""
    ex = run.execution
    steps = [step.get("output") for step in run.steps.values()]
    return files.download_links(actor, [ex.get("inputs"), ex.get("outputs"), steps])


def _open(actor: Actor, execution_id: int) -> LiveRun:
    """The run's record and pinned document, checked against its owner (NotFound)."""
    record, row = executions.get_with_row(actor, execution_id)
    document = dict(row.document or {})
    return LiveRun({**record, "trigger": row.trigger}, document, str(document.get("name") or ""))


async def _final_record(actor: Actor, execution_id: int) -> dict[str, Any] | None:
    """The stored record once the events end: it also has what no event carries (the
    steps a cancel stopped). None when it cannot be read now (the view keeps its fold)."""
    try:
        return await asyncio.to_thread(executions.get, actor, execution_id)
    except NotFound:
        raise
    except Exception as exc:
        log.warning("reading execution %s after its events failed: %s", execution_id, exc)
        return None


async def _feed(actor: Actor, execution_id: int, after_seq: int, queue: asyncio.Queue) -> None:
    """Put every event after ``after_seq`` on ``queue``, then :data:`_END` (or the error)."""
    try:
        async for event in executions.follow(actor, execution_id, after_seq):
            queue.put_nowait(event)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # Redis or the database went away: tell the watcher
        log.warning("following execution %s stopped: %s", execution_id, exc)
        queue.put_nowait(exc)
        return
    queue.put_nowait(_END)


def _drain(queue: asyncio.Queue, into: list[Any]) -> None:
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            into.append(queue.get_nowait())


class ExecutionState(rx.State):
    """The execution open in this tab."""

    loaded: bool = False
    load_error: str = ""
    header: RunHeader = empty_header()
    steps: list[StepView] = []
    decorations: dict[str, Any] = {}
    graph: dict[str, Any] = {}
    catalog: dict[str, Any] = {}
    selected: str = ""
    detail: StepDetail = empty_detail()
    live: bool = False
    action_busy: str = ""
    action_error: str = ""
    approval_comment: str = ""
    #: The files the run took and made, with signed download (and preview) links.
    files: list[FileLink] = []

    _run: LiveRun | None = None
    _ticket: str = ""
    _rev: int = 0

    # -- loading -----------------------------------------------------------------------

    def _publish(self, touched: set[str] | None = None) -> None:
        """Rebuild the view models from the fold (``touched``: nodes changed since last)."""
        run = self._run
        if run is None:
            return
        self.header = run.header()
        self.steps = run.step_views()
        self.decorations = run.decorations()
        if self.selected and (touched is None or self.selected in touched or "" in touched):
            self.detail = run.detail(self.selected)
        if run.finished and self.action_busy == "cancel":
            self.action_busy = ""
        self._run = run  # reassigned: the fold changed in place, the state must be saved

    @rx.event
    async def load(self) -> Any:
        """``on_load`` (and reconnect): show the run, then follow it from the last seq."""
        actor = await signed_in(self)
        if actor is None:
            return await to_login(self)
        execution_id = route_id(self.router.url.path)
        if execution_id is None:
            self.load_error, self.loaded = "This address does not name an execution.", True
            return None
        run = self._run
        if run is not None and run.execution_id == execution_id and not run.finished:
            # A reconnect (or a return to this page): go on from the last applied seq.
            self._publish()
            self.load_error, self.loaded = "", True
            return ExecutionState.watch
        self._reset()
        try:
            run = await asyncio.to_thread(_open, actor, execution_id)
        except NotFound:
            self.load_error = "This execution does not exist, or it is not yours."
            self.loaded = True
            return None
        self._run = run
        self._rev += 1
        self.graph = {"rev": self._rev, "nodes": run.nodes, "edges": run.edges}
        used = {str(node.get("type")) for node in run.nodes}
        # Only the types on this canvas: the catalog rides in the page's first update.
        self.catalog = {
            kind: meta for kind, meta in canvas_catalog(default_registry()).items() if kind in used
        }
        self._publish()
        self.files = await asyncio.to_thread(_file_links, actor, run)
        if not self.selected and (waiting := run.waiting_approval()):
            self.selected = waiting  # the question is what a waiting run's viewer came for
            self.detail = run.detail(waiting)
        self.loaded = True
        return ExecutionState.watch

    def _reset(self) -> None:
        self._run = None
        self._ticket = ""
        self.loaded, self.load_error, self.live = False, "", False
        self.header, self.steps, self.decorations = empty_header(), [], {}
        self.selected, self.detail = "", empty_detail()
        self.action_busy = self.action_error = self.approval_comment = ""

    # -- following -----------------------------------------------------------------------

    @rx.event(background=True)
    async def watch(self):
        """Apply the run's events as they come, in short locked blocks, until it ends."""
        ticket = uuid.uuid4().hex
        async with self:
            run = self._run
            actor = await signed_in(self)
            if run is None or actor is None:
                return
            self._ticket = ticket
            execution_id, after = run.execution_id, run.seq
            self.live = True
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        feeder = asyncio.create_task(_feed(actor, execution_id, after, queue))
        last_push = 0.0
        last_event = loop.time()
        #: Events read but not yet shown: kept while the tab's state cannot be reached.
        batch: list[Any] = []
        away = False
        try:
            while True:
                if not batch:
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), IDLE_CHECK_S))
                    except TimeoutError:
                        try:
                            if not await self._tick(ticket, loop.time() - last_event):
                                return
                            away = False
                        except STATE_AWAY as exc:
                            await _state_away(execution_id, exc, first=not away)
                            away = True
                        continue
                    last_event = loop.time()
                _drain(queue, batch)
                wait = last_push + PUSH_EVERY_S - loop.time()
                if wait > 0 and batch[-1] is not _END:
                    await asyncio.sleep(wait)
                    _drain(queue, batch)
                ended = any(item is _END or isinstance(item, Exception) for item in batch)
                record = await _final_record(actor, execution_id) if ended else None
                try:
                    if not await self._apply(ticket, batch, record, ended):
                        return
                except STATE_AWAY as exc:
                    await _state_away(execution_id, exc, first=not away)
                    away = True
                    continue  # the batch is kept, and grows, until the state is back
                batch, away = [], False
                if ended:
                    links = await asyncio.to_thread(_file_links, actor, self._run)
                    async with self:
                        if self._ticket == ticket:
                            self.files = links
                    return
                last_push = loop.time()
        except NotFound:
            async with self:
                if self._ticket == ticket:
                    self.live = False
        finally:
            feeder.cancel()

    async def _tick(self, ticket: str, quiet_s: float) -> bool:
        """Nothing new: move the clocks on. False when this watcher should stop."""
        async with self:
            if self._ticket != ticket:
                return False
            if quiet_s > MAX_QUIET_S:
                self._ticket, self.live = "", False
                return False
            if self._run is not None and not self._run.finished:
                self.header = self._run.header()  # the clocks move on
                self.steps = self._run.step_views()
        return True

    async def _apply(
        self, ticket: str, batch: list[Any], record: dict[str, Any] | None, ended: bool
    ) -> bool:
        """Fold ``batch`` (and the final ``record``) into the view. False when this watcher
        is no longer wanted. A replayed event is ignored by the fold (its seq is known)."""
        async with self:
            if self._ticket != ticket or self._run is None:
                return False
            touched: set[str] = set()
            for item in batch:
                if isinstance(item, Event):
                    node = self._run.apply(item)
                    if node is not None:
                        touched.add(node)
            if record is not None:
                self._run.take_record(record)
                touched.add("")
            self._publish(touched)
            if ended:
                self.live = False
        return True

    @rx.event
    def stop_watching(self) -> None:
        """The page went away: the watcher stops at its next check, and the next page
        shown is not this run's until its own ``load`` says so."""
        self._ticket, self.live, self.loaded, self.load_error = "", False, False, ""

    @rx.event
    def resume_watching(self) -> Any:
        """Follow the run again after a pause (from the last applied seq)."""
        if self._run is None or self._run.finished:
            return None
        return ExecutionState.watch

    # -- the user's actions ----------------------------------------------------------------

    @rx.event
    def select_step(self, node: str) -> None:
        """Open one step's details (from the timeline or the canvas); ``""`` closes them."""
        self.selected = "" if node == self.selected else node
        if self._run is None or not self.selected:
            self.detail = empty_detail()
            return
        self.detail = self._run.detail(self.selected)

    @rx.event
    def select_node(self, node: str) -> Any:
        """The canvas's selection: open that step and bring its row into view."""
        if not node or self._run is None:
            return None
        self.selected = node
        self.detail = self._run.detail(node)
        return rx.scroll_to(step_anchor(node))

    async def _act(self, name: str):
        """Run one of cancel / retry / re-run on the open execution."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        if self._run is None:
            return
        execution_id = self._run.execution_id
        self.action_busy, self.action_error = name, ""
        yield
        try:
            if name == "cancel":
                await asyncio.to_thread(executions.cancel, actor, execution_id)
            elif name == "retry":
                await asyncio.to_thread(executions.retry, actor, execution_id)
            else:
                new_id = await asyncio.to_thread(executions.rerun, actor, execution_id)
                self.action_busy, self.loaded = "", False  # same page, another run next
                yield rx.redirect(routes.execution_url(new_id))
                return
        except Conflict as exc:
            self.action_error = sentence(str(exc))
        except NotFound:
            self.action_error = "This execution no longer exists."
        except AgentFlowError as exc:
            self.action_error = sentence(str(exc))
        if name != "cancel" or self.action_error:
            self.action_busy = ""  # a cancel stays busy until the run's last event arrives
        if name == "retry" and not self.action_error:
            yield ExecutionState.watch

    @rx.event
    async def cancel(self):
        """Stop the run (a running one ends within 2 s; the events say when)."""
        async for event in self._act("cancel"):
            yield event

    @rx.event
    async def retry(self):
        """Resume a failed or cancelled run from its failed steps, and follow it again."""
        async for event in self._act("retry"):
            yield event

    @rx.event
    async def rerun(self):
        """Start a new run with the same inputs and open it."""
        async for event in self._act("rerun"):
            yield event

    @rx.event
    def set_approval_comment(self, value: str) -> None:
        self.approval_comment = value

    @rx.event
    async def decide(self, approved: bool):
        """Approve or reject the selected waiting approval step, with the typed comment."""
        actor = await signed_in(self)
        if actor is None:
            yield await to_login(self)
            return
        if self._run is None or not self.detail["can_decide"]:
            return
        execution_id, node = self._run.execution_id, self.selected
        self.action_busy, self.action_error = "decide", ""
        yield
        try:
            await asyncio.to_thread(
                approvals.decide,
                actor,
                execution_id,
                node,
                bool(approved),
                self.approval_comment.strip() or None,
            )
            self.approval_comment = ""
        except NotFound:
            self.action_error = "You may not decide this approval."
        except AgentFlowError as exc:  # already decided (by whom), a comment too long
            self.action_error = sentence(str(exc))
        self.action_busy = ""
        if self._run is not None and not self.live:
            yield ExecutionState.watch

    @rx.event
    async def open_item(self, form: dict[str, Any]):
        """Open the run of one item of the selected map step (its index, from 0)."""
        actor = await signed_in(self)
        if actor is None or self._run is None:
            return
        raw = str(form.get("index") or "").strip()
        if not raw.isdigit():
            self.action_error = "Type an item's index (0 for the first)."
            return
        try:
            found = await asyncio.to_thread(
                children.item_run, actor, self._run.execution_id, self.selected, int(raw)
            )
        except NotFound as exc:
            self.action_error = sentence(str(exc))
            return
        self.loaded = False
        yield rx.redirect(routes.execution_url(found))

    @rx.var
    def cancelling(self) -> bool:
        return self.action_busy == "cancel" and self.header["active"]


def step_anchor(node: str) -> str:
    """The element id of a step's timeline row."""
    return f"step-{node}"
