"""The editor's "Test this node": run the selected node alone and follow that run.

The test runs on a worker, on sample inputs and sample upstream outputs typed in the
panel (``services.node_tests``), and :meth:`NodeTestState.watch` follows that execution in
a background event. The form and the result belong to one node (``node``); the panel shows
them only while that node is selected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, TypedDict

import reflex as rx

from agentflow_app import routes
from agentflow_app.engine.errors import InvalidWorkflow
from agentflow_app.engine.events import Event, EventType, status_after
from agentflow_app.errors import AgentFlowError, InvalidInput, NotFound
from agentflow_app.services import executions, node_tests
from agentflow_app.state.auth import signed_in, to_login
from agentflow_app.state.editor import EditorState
from agentflow_app.state.formatting import format_duration, pretty_json

log = logging.getLogger(__name__)


class SampleView(TypedDict):
    """An upstream node's sample output in the test form."""

    node_id: str
    label: str
    type: str
    text: str
    source: str


class NodeTestView(TypedDict):
    """Where the node test stands, as the panel shows it."""

    execution_id: int
    href: str
    status: str
    step_status: str
    duration: str
    output: str
    truncated: bool
    error: str
    tokens: str
    logs: list[str]


def empty_test_run() -> NodeTestView:
    return NodeTestView(
        execution_id=0,
        href="",
        status="",
        step_status="",
        duration="",
        output="",
        truncated=False,
        error="",
        tokens="",
        logs=[],
    )


def parse_sample(text: str, what: str) -> Any:
    """JSON typed into the test form (blank means ``{}``).

    Raises:
        ValueError: saying which box holds text that is not JSON, and where.
    """
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None


def refusal_message(exc: InvalidInput) -> str:
    """A refused test, in one message that names each node and field."""
    lines = [
        f"{p.get('node_id') or 'workflow'}"
        f"{' · ' + str(p['field']).removeprefix('config.') if p.get('field') else ''}: "
        f"{p.get('message')}"
        for p in exc.problems
    ]
    if isinstance(exc, InvalidWorkflow):
        return "Not ready to test: " + "; ".join(lines)
    return "; ".join(lines) if lines else str(exc)


class NodeTestState(EditorState):
    """The test form and the last test run of one node of the open workflow."""

    #: The node the test form is for; the form shows only while that node is selected.
    node: str = ""
    ready: bool = False
    busy: bool = False
    running: bool = False
    error: str = ""
    inputs: str = "{}"
    inputs_source: str = ""
    samples: list[SampleView] = []
    form_key: int = 0
    run: NodeTestView = empty_test_run()

    #: ``<execution id>:<node id>`` of the run the watcher may write; cleared to stop it.
    _ticket: str = ""

    def _reset_for(self, node_id: str) -> None:
        """Forget the test form and result; a watcher still running stops at its next event."""
        self.node, self.ready, self.error = node_id, False, ""
        self._ticket = ""
        self.running = False
        self.run = empty_test_run()

    @rx.event
    async def prepare(self) -> Any:
        """Open the test form of the selected node, prefilled from the latest runs."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        node_id = self.selected_id
        if not node_id:
            return None
        self._reset_for(node_id)
        try:
            setup = await asyncio.to_thread(
                node_tests.prepare, actor, self.wf_id, self._plain(), node_id
            )
        except InvalidInput as exc:
            self.error = refusal_message(exc)
            return None
        except NotFound as exc:
            self.error = f"{exc}."
            return None
        self.inputs = pretty_json(setup.inputs)
        self.inputs_source = (
            f"from execution #{setup.inputs_from_execution}"
            if setup.inputs_from_execution
            else "from the trigger's declared inputs"
        )
        self.samples = [
            SampleView(
                node_id=slot.node_id,
                label=slot.label,
                type=slot.type,
                text=pretty_json(slot.output),
                source=f"from execution #{slot.from_execution}"
                if slot.from_execution
                else "no run has it yet",
            )
            for slot in setup.samples
        ]
        self.form_key += 1
        self.ready = True
        return None

    @rx.event
    async def start(self, form_data: dict[str, Any]) -> Any:
        """Queue the test with the form's sample inputs and outputs, then follow it."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        node_id = self.node
        if not node_id or node_id != self.selected_id or self.busy:
            return None
        try:
            inputs = parse_sample(str(form_data.get("inputs") or ""), "Sample inputs")
            samples = {
                slot["node_id"]: parse_sample(
                    str(form_data.get(f"sample:{slot['node_id']}") or ""),
                    f"The sample output of {slot['label']}",
                )
                for slot in self.samples
            }
        except ValueError as exc:
            self.error = str(exc)
            return None
        self.error = ""
        self.busy = True
        try:
            execution_id = await asyncio.to_thread(
                node_tests.start, actor, self.wf_id, self._plain(), node_id, inputs, samples
            )
        except InvalidInput as exc:
            self.error = refusal_message(exc)
            return None
        except AgentFlowError as exc:
            self.error = f"Could not start the test: {exc}."
            return None
        finally:
            self.busy = False
        self._ticket = f"{execution_id}:{node_id}"
        self.run = {
            **empty_test_run(),
            "execution_id": execution_id,
            "href": routes.execution_url(execution_id),
            "status": "queued",
        }
        self.running = True
        return NodeTestState.watch

    @rx.event
    async def stop(self) -> Any:
        """Cancel the running test (its execution ends as ``cancelled``)."""
        actor = await self._actor()
        if actor is None:
            return await to_login(self)
        execution_id = self.run["execution_id"]
        if not execution_id or not self.running:
            return None
        # An error means it ended meanwhile: the watcher shows how.
        with contextlib.suppress(AgentFlowError):
            await asyncio.to_thread(executions.cancel, actor, execution_id)
        return None

    @rx.event(background=True)
    async def watch(self):
        """Show the test's events as they come (status, tokens, logs), then its result."""
        async with self:
            actor = await signed_in(self)
            ticket = self._ticket
            execution_id = self.run["execution_id"]
            node_id = self.node
        if actor is None or not ticket:
            return
        try:
            async with contextlib.aclosing(executions.follow(actor, execution_id)) as events:
                async for event in events:
                    async with self:
                        if self._ticket != ticket:
                            return
                        self._apply(node_id, event)
            result = await asyncio.to_thread(node_tests.result, actor, execution_id, node_id)
        except NotFound:
            async with self:
                if self._ticket == ticket:
                    self.running = False
                    self.run = {**self.run, "error": "This test run no longer exists."}
            return
        except Exception as exc:  # Redis or the database went away while following
            log.warning("following node test %s failed: %s", execution_id, exc)
            async with self:
                if self._ticket == ticket:
                    self.running = False
                    self.run = {
                        **self.run,
                        "error": "Lost track of this test run; open it to see how it ended.",
                    }
            return
        async with self:
            if self._ticket != ticket:
                return
            output = result.output
            self.run = {
                **self.run,
                "status": str(result.status),
                "step_status": str(result.step_status or ""),
                "duration": format_duration(result.duration_s),
                "output": "" if output is None else pretty_json(output),
                "truncated": result.output_truncated,
                "error": result.error or "",
            }
            self.running = False

    def _apply(self, node_id: str, event: Event) -> None:
        run = dict(self.run)
        status = status_after(event)
        if not event.type.about_step:
            run["status"] = str(status)
        elif event.node_id == node_id:
            if event.type == EventType.STEP_TOKEN:
                run["tokens"] = run["tokens"] + str(event.data.get("text", ""))
            elif event.type == EventType.STEP_LOG:
                run["logs"] = [*run["logs"], str(event.data.get("message", ""))]
            else:
                run["step_status"] = str(status)
                if event.type == EventType.STEP_STARTED:
                    run["tokens"] = ""  # a retried attempt streams its answer again
        self.run = run
