"""``agentflow run FILE.json``: run a workflow file in this process, no server (SPEC §3).

The run is a real, durable execution in the configured database (the embedded SQLite in
the data dir by default), so ``agentflow run --resume ID`` finishes one that was
interrupted without repeating its finished steps, and the web UI shows CLI runs too.

A run that waits (``human.approval``, ``flow.wait``, a sub-workflow) prints what it waits
for, with an approval's approve / reject links, and waits here: it goes on when the wait
ends (a link followed, ``agentflow decide LINK``, a decision in the UI, the timer), taking
the run back with a compare-and-set so a server's worker and this process never both run
it. ``--no-wait`` exits at the first wait instead; ``--resume ID`` picks it up later.

Exit status: 0 when the execution succeeded, 1 when it failed or was cancelled, 2 when
nothing ran (unreadable file, invalid workflow or inputs, bad configuration), 3 when it
is waiting (``--no-wait``).

Credentials: the CLI has no vault yet, so a node that names a credential fails with
"there is no credential named …"; workflows without credentials run as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from agentflow_app.engine.events import Event, EventType, step_status_after
from agentflow_app.engine.status import ExecutionStatus, StepStatus
from agentflow_app.errors import AgentFlowError, InvalidInput

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_WAITING = 0, 1, 2, 3
#: How often a waiting run is looked at (seconds).
WAIT_POLL_S = 0.5

_STYLES = {
    StepStatus.PENDING: "dim",
    StepStatus.RUNNING: "cyan",
    StepStatus.WAITING: "yellow",
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "red",
    StepStatus.SKIPPED: "dim",
    StepStatus.CANCELLED: "yellow",
}


# -- reading what the user gave ---------------------------------------------------------


def read_document(path: Path) -> dict[str, Any]:
    """The workflow document in ``path``, or an :class:`InvalidInput` saying what is wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not a UTF-8 text file") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    if not isinstance(document, dict):
        raise InvalidInput(f"{path} must hold a JSON object (a workflow document)")
    return document


def parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    """``("k=v", ...)`` as a dict of raw strings; typing happens against the trigger."""
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InvalidInput(f"--input expects NAME=VALUE, got {pair!r}")
        values[name.strip()] = value
    return values


def format_problem(problem: dict[str, Any]) -> str:
    where = []
    if problem.get("node_id"):
        where.append(f"node {problem['node_id']!r}")
    if problem.get("field"):
        where.append(f"field {problem['field']!r}")
    return f"{', '.join(where) or 'workflow'}: {problem['message']}"


# -- live progress ----------------------------------------------------------------------


class ProgressView:
    """Step rows and an overall bar from the run's events: rich on a terminal, lines if not.

    Args:
        console: where progress goes (stderr when stdout carries ``--json``).
        nodes: ``[(node_id, type, label)]`` in document order.
    """

    def __init__(self, console: Console, nodes: list[tuple[str, str, str]]) -> None:
        self.console = console
        self.nodes = nodes
        self.status: dict[str, StepStatus] = {node_id: StepStatus.PENDING for node_id, *_ in nodes}
        self.started: dict[str, float] = {}
        self.duration: dict[str, float] = {}
        self.live: Live | None = None
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.bar.add_task("steps", total=len(nodes))

    @contextlib.contextmanager
    def showing(self) -> Iterator[ProgressView]:
        if not self.console.is_terminal:
            yield self
            return
        with Live(self._render(), console=self.console, refresh_per_second=10) as live:
            self.live = live
            try:
                yield self
            finally:
                live.update(self._render())
                self.live = None

    def on_event(self, event: Event) -> None:
        node_id = event.node_id
        if event.type == EventType.STEP_WAITING and node_id is not None:
            self._tell_wait(node_id, event.data)
        if event.type == EventType.STEP_LOG and node_id is not None:
            self._print(f"  {node_id}: {event.data.get('message', '')}")
            return
        status = step_status_after(event)
        if status is None or node_id is None:
            return
        now = time.monotonic()
        if status == StepStatus.RUNNING:
            self.started.setdefault(node_id, now)
        elif status != StepStatus.WAITING and node_id in self.started:
            self.duration[node_id] = now - self.started[node_id]
        self.status[node_id] = status
        if self.live is not None:
            self.bar.update(self.task, completed=self._finished())
            self.live.update(self._render())
        else:
            self._print(self._line(node_id, event))

    def _tell_wait(self, node_id: str, data: dict[str, Any]) -> None:
        """Say what the step waits for; for an approval, the question and its links."""
        state = data.get("state") or {}
        lines = [f"{node_id} waits: {data.get('reason') or 'a wait'}"]
        if state.get("approve_url"):
            lines += [
                f"  {state.get('message', '')}",
                f"  approve: {state['approve_url']}",
                f"  reject:  {state['reject_url']}",
                "  (open a link, or run `agentflow decide LINK` in another terminal)",
            ]
        for line in lines:
            self._print(line)

    def mark_cancelled(self) -> None:
        for node_id, status in self.status.items():
            if status in (StepStatus.RUNNING, StepStatus.WAITING):
                self.status[node_id] = StepStatus.CANCELLED

    def _finished(self) -> int:
        return sum(1 for status in self.status.values() if status.finished)

    def _print(self, line: str) -> None:
        self.console.print(Text(line), highlight=False)

    def _line(self, node_id: str, event: Event) -> str:
        status = self.status[node_id]
        line = f"[{self._finished()}/{len(self.nodes)}] {node_id} {status}"
        if node_id in self.duration and status.finished:
            line += f" in {_seconds(self.duration[node_id])}"
        if event.data.get("error"):
            line += f": {event.data['error']}"
        return line

    def _render(self) -> Group:
        table = Table(box=None, pad_edge=False, show_edge=False)
        table.add_column("node")
        table.add_column("type", style="dim")
        table.add_column("status")
        table.add_column("time", justify="right")
        for node_id, type_, label in self.nodes:
            status = self.status[node_id]
            if node_id in self.duration:
                took = _seconds(self.duration[node_id])
            elif node_id in self.started:
                took = _seconds(time.monotonic() - self.started[node_id])
            else:
                took = ""
            name = node_id if label in ("", node_id) else f"{label} ({node_id})"
            table.add_row(name, type_, Text(str(status), style=_STYLES[status]), took)
        return Group(table, self.bar)


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _nodes_of(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    rows = []
    for node in document.get("nodes") or []:
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            data = node.get("data") if isinstance(node.get("data"), dict) else {}
            rows.append((node["id"], str(node.get("type", "")), str(data.get("label") or "")))
    return rows


# -- the command ------------------------------------------------------------------------


@click.command("run")
@click.argument(
    "file", required=False, type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.json"
)
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    metavar="NAME=VALUE",
    help="An execution input; VALUE is read as the trigger declares it (JSON when it parses); "
    "@PATH stores that file and passes its reference (a file input).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the execution record as JSON.")
@click.option(
    "--resume",
    type=int,
    metavar="EXECUTION_ID",
    help="Finish an interrupted or waiting execution (finished steps are not run again).",
)
@click.option(
    "--no-wait",
    is_flag=True,
    help="Exit (status 3) with the execution id when the run waits, instead of waiting.",
)
def run_command(
    file: Path | None, inputs: tuple[str, ...], as_json: bool, resume: int | None, no_wait: bool
):
    """Run a workflow file in this process and show its progress.

    Exits 0 when the execution succeeded, 1 when it did not, 2 when it could not start,
    3 when it waits and --no-wait was given.
    """
    out = Console(soft_wrap=True)
    progress_console = Console(stderr=True) if as_json else out
    try:
        if (file is None) == (resume is None):
            raise InvalidInput("give a workflow FILE.json to run, or --resume EXECUTION_ID")
        if resume is not None and inputs:
            raise InvalidInput("--input does not apply to --resume: the execution keeps its inputs")
        execution_id, document = _prepare(file, inputs, resume)
    except InvalidInput as exc:
        _report_invalid(exc, as_json)
        sys.exit(EXIT_INVALID)
    except AgentFlowError as exc:  # bad configuration, an unreachable database
        _report_invalid(InvalidInput(str(exc)), as_json)
        sys.exit(EXIT_INVALID)

    from agentflow_app.services.executions import execution_record

    view = ProgressView(progress_console, _nodes_of(document))
    try:
        asyncio.run(_run(execution_id, view, wait=not no_wait))
    except KeyboardInterrupt:
        _stderr().print(
            f"stopped; finish it with `agentflow run --resume {execution_id}`", highlight=False
        )
        sys.exit(130)
    except Exception as exc:  # recorded on the execution; the record below shows it
        _stderr().print(Text(f"agentflow run: {exc}"))
    record = execution_record(execution_id)
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
    else:
        _summary(out, record)
    if record["status"] == ExecutionStatus.WAITING:
        _stderr().print(
            f"execution {execution_id} waits; finish it with `agentflow run --resume "
            f"{execution_id}`",
            highlight=False,
        )
        sys.exit(EXIT_WAITING)
    sys.exit(EXIT_OK if record["status"] == ExecutionStatus.SUCCEEDED else EXIT_FAILED)


def _stderr() -> Console:
    return Console(stderr=True, soft_wrap=True, highlight=False)


def _prepare(file: Path | None, inputs: tuple[str, ...], resume: int | None):
    """Validate and create the execution (or load the one to resume), migrating first."""
    from agentflow_app.catalog import default_registry
    from agentflow_app.engine.errors import InvalidWorkflow
    from agentflow_app.migrate import upgrade_head
    from agentflow_app.services import executions, files

    if resume is not None:
        upgrade_head()
        execution = executions.load_execution(resume)
        if ExecutionStatus(execution.status).finished:
            raise InvalidInput(
                f"execution {resume} has already {execution.status}; nothing to resume"
            )
        if execution.status == ExecutionStatus.RUNNING and execution.worker != "cli":
            raise InvalidInput(
                f"execution {resume} is running on {execution.worker}; watch it in the UI"
            )
        return resume, execution.document
    raw_inputs = parse_inputs(inputs)
    document = read_document(file)
    for broken in default_registry().plugin_errors:
        _stderr().print(Text(f"warning: plugin {broken.name} did not load: {broken.message}"))
    upgrade_head()
    raw_inputs = files.inputs_from_paths(raw_inputs)
    try:
        execution_id = executions.queue_run(
            document,
            raw_inputs,
            owner_id=None,
            workspace_id=None,
            trigger="manual",
            coerce_strings=True,
            send=False,
        )
    except InvalidWorkflow as exc:
        raise InvalidInput("the workflow is not valid", exc.problems) from None
    except InvalidInput as exc:
        raise InvalidInput("the inputs do not match the workflow's trigger", exc.problems) from None
    return execution_id, document


async def _run(execution_id: int, view: ProgressView, *, wait: bool = True) -> None:
    from agentflow_app.llm.providers import aclose_loop_clients
    from agentflow_app.net.client import GuardedClient
    from agentflow_app.nodes.credentials import StaticCredentials
    from agentflow_app.services.executions import load_execution, request_cancel, run_execution
    from agentflow_app.services.executions.waits import take_for

    loop = asyncio.get_running_loop()
    interrupted = False

    def on_interrupt() -> None:
        # First Ctrl-C: cancel cleanly (the runner ends within 2 s); second: stop now,
        # leaving the execution resumable with --resume.
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        view.console.print(
            "cancelling… (Ctrl-C again to stop at once; resume it later with "
            f"`agentflow run --resume {execution_id}`)"
        )
        loop.run_in_executor(None, request_cancel, execution_id)

    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    async with GuardedClient() as http:
        try:
            with view.showing():
                result = await run_execution(
                    execution_id,
                    http=http,
                    credentials=StaticCredentials({}),
                    on_event=view.on_event,
                    worker="cli",
                )
                while wait and result.status == ExecutionStatus.WAITING:
                    await asyncio.sleep(WAIT_POLL_S)
                    if interrupted:
                        break
                    if not await asyncio.to_thread(take_for, execution_id, "cli"):
                        row = await asyncio.to_thread(load_execution, execution_id)
                        if ExecutionStatus(row.status).finished:
                            break  # cancelled from the UI, or a server's worker finished it
                        continue
                    result = await run_execution(
                        execution_id,
                        http=http,
                        credentials=StaticCredentials({}),
                        on_event=view.on_event,
                        worker="cli",
                    )
                if result.status == ExecutionStatus.CANCELLED:
                    view.mark_cancelled()
        finally:
            await aclose_loop_clients()  # the LLM steps' connections end with the run


def _report_invalid(exc: InvalidInput, as_json: bool) -> None:
    err = _stderr()
    if exc.problems:
        count = len(exc.problems)
        err.print(Text(f"agentflow run: {exc} ({count} problem{'s' * (count > 1)}):"))
        for problem in exc.problems:
            err.print(Text(f"  - {format_problem(problem)}"))
    else:
        err.print(Text(f"agentflow run: {exc}"))
    if as_json:
        problems = exc.problems or [{"node_id": None, "field": None, "message": str(exc)}]
        click.echo(json.dumps({"error": str(exc), "problems": problems}, indent=2))


def _summary(console: Console, record: dict[str, Any]) -> None:
    status = record["status"]
    style = {"succeeded": "green", "failed": "red"}.get(status, "yellow")
    line = Text(f"execution {record['id']} {status}", style=f"bold {style}")
    if record.get("error"):
        line.append(f": {record['error']}", style=style)
    console.print(line)
    for step in record["steps"]:
        if step["status"] == "failed" and step.get("error"):
            console.print(Text(f"  {step['node_id']} ({step['type']}): {step['error']}"))
    if record.get("outputs"):
        console.print_json(json.dumps(record["outputs"], default=str))
