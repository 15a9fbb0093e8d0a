"""/executions/[execution_id]: the live view. Toolbar | canvas with step statuses | timeline."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.approval_panel import approval_panel
from agentflow_app.components.json_viewer import json_styles, json_viewer
from agentflow_app.components.status import STATUS_CSS, status_badge
from agentflow_app.components.timeline import TIMELINE_CSS, timeline
from agentflow_app.react_flow.canvas import workflow_canvas
from agentflow_app.state.execution import ExecutionState, FileLink

#: How each ``data-status`` looks on the canvas (React Flow's node element carries it).
CANVAS_CSS = """
.af-live-canvas .react-flow__node .af-node { transition: border-color 160ms ease,
  box-shadow 160ms ease, opacity 160ms ease, background 160ms ease; }
.af-live-canvas .react-flow__node[data-status="pending"] .af-node { opacity: 0.72; }
.af-live-canvas .react-flow__node[data-status="running"] .af-node {
  border-color: var(--blue-9); animation: af-node-pulse 1.4s ease-out infinite; }
.af-live-canvas .react-flow__node[data-status="succeeded"] .af-node {
  border-color: var(--green-9); box-shadow: 0 0 0 3px var(--green-a4); }
.af-live-canvas .react-flow__node[data-status="failed"] .af-node {
  border-color: var(--red-9); background: var(--red-2); box-shadow: 0 0 0 3px var(--red-a4); }
.af-live-canvas .react-flow__node[data-status="waiting"] .af-node {
  border-color: var(--amber-9); background: var(--amber-2); box-shadow: 0 0 0 3px var(--amber-a5); }
.af-live-canvas .react-flow__node[data-status="skipped"] .af-node {
  opacity: 0.5; filter: grayscale(1); border-style: dashed; }
.af-live-canvas .react-flow__node[data-status="cancelled"] .af-node {
  border-color: var(--orange-8); opacity: 0.85; }
@keyframes af-node-pulse {
  0% { box-shadow: 0 0 0 0 rgba(59, 130, 246, 0.55); }
  70% { box-shadow: 0 0 0 12px rgba(59, 130, 246, 0); }
  100% { box-shadow: 0 0 0 0 rgba(59, 130, 246, 0); } }
"""


def _meta(icon: str, value: rx.Var[str], testid: str) -> rx.Component:
    return rx.cond(
        value != "",
        rx.hstack(
            rx.icon(icon, size=14, color=rx.color("gray", 9)),
            rx.text(value, size="2", color_scheme="gray", data_testid=testid),
            spacing="1",
            align="center",
        ),
    )


def _actions() -> rx.Component:
    header = ExecutionState.header
    busy = ExecutionState.action_busy
    return rx.hstack(
        rx.cond(
            header["active"],
            rx.button(
                rx.icon("square", size=14),
                rx.cond(ExecutionState.cancelling, "Cancelling…", "Cancel"),
                on_click=ExecutionState.cancel,
                loading=ExecutionState.cancelling,
                color_scheme="red",
                variant="soft",
                data_testid="cancel",
            ),
        ),
        rx.cond(
            header["retryable"],
            rx.button(
                rx.icon("rotate-ccw", size=14),
                rx.cond(header["status"] == "cancelled", "Resume", "Retry failed steps"),
                on_click=ExecutionState.retry,
                loading=busy == "retry",
                variant="soft",
                data_testid="retry",
            ),
        ),
        rx.cond(
            ~header["active"] & (header["workflow_href"] != ""),
            rx.button(
                rx.icon("play", size=14),
                "Re-run",
                on_click=ExecutionState.rerun,
                loading=busy == "rerun",
                data_testid="rerun",
            ),
        ),
        spacing="2",
    )


def _toolbar() -> rx.Component:
    header = ExecutionState.header
    return rx.hstack(
        rx.link(
            rx.icon_button(rx.icon("arrow-left", size=16), variant="ghost", color_scheme="gray"),
            href=routes.EXECUTIONS,
            aria_label="Back to executions",
        ),
        rx.icon("waypoints", size=20, color=rx.color("accent", 9)),
        rx.vstack(
            rx.hstack(
                rx.cond(
                    header["workflow_href"] != "",
                    rx.link(
                        header["workflow_name"],
                        href=header["workflow_href"],
                        weight="bold",
                        size="3",
                        color_scheme="gray",
                        high_contrast=True,
                    ),
                    rx.text(header["workflow_name"], weight="bold", size="3"),
                ),
                rx.cond(
                    header["version"] != "",
                    rx.badge(header["version"], variant="outline", color_scheme="gray", size="1"),
                ),
                rx.text("Execution #", header["id"], size="2", color_scheme="gray"),
                status_badge(header["status"], size="2"),
                rx.cond(
                    ExecutionState.loaded & ~ExecutionState.live & header["active"],
                    rx.button(
                        rx.icon("radio", size=13),
                        "Resume live updates",
                        size="1",
                        variant="soft",
                        color_scheme="gray",
                        on_click=ExecutionState.resume_watching,
                        data_testid="resume-live",
                    ),
                ),
                rx.cond(
                    ExecutionState.live & header["active"],
                    rx.tooltip(
                        rx.badge(
                            rx.box(class_name="af-live-dot"),
                            "Live",
                            color_scheme="green",
                            variant="outline",
                            radius="full",
                            data_testid="live",
                        ),
                        content="Events stream in as the worker runs each step",
                    ),
                ),
                spacing="2",
                align="center",
            ),
            rx.hstack(
                _meta("calendar", header["created"], "created"),
                _meta("timer", header["duration"], "duration"),
                _meta("coins", header["tokens"], "tokens"),
                _meta("circle-dollar-sign", header["cost"], "cost"),
                rx.cond(
                    header["steps_total"] > 0,
                    rx.text(
                        header["steps_done"],
                        " / ",
                        header["steps_total"],
                        " steps done",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                spacing="4",
                align="center",
            ),
            spacing="1",
        ),
        rx.spacer(),
        _actions(),
        align="center",
        spacing="3",
        padding="10px 16px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        width="100%",
    )


def _run_card() -> rx.Component:
    header = ExecutionState.header
    return rx.box(
        rx.cond(
            header["caller_href"] != "",
            rx.hstack(
                rx.icon("corner-left-up", size=14),
                rx.text("Started by", size="1", color_scheme="gray"),
                rx.link(header["caller_label"], href=header["caller_href"], size="1"),
                align="center",
                spacing="1",
                margin_bottom="8px",
                data_testid="caller-link",
            ),
        ),
        rx.cond(
            header["waiting"] != "",
            rx.callout(
                "Waiting: " + header["waiting"].to(str) + ". The run holds no worker meanwhile.",
                icon="hourglass",
                color_scheme="amber",
                size="1",
                margin_bottom="10px",
                data_testid="execution-waiting",
            ),
        ),
        rx.cond(
            header["error"] != "",
            rx.callout(
                header["error"],
                icon="triangle-alert",
                color_scheme=rx.cond(header["status"] == "cancelled", "orange", "red"),
                size="1",
                margin_bottom="10px",
                white_space="pre-wrap",
                data_testid="execution-error",
            ),
        ),
        rx.tabs.root(
            rx.tabs.list(
                rx.tabs.trigger("Inputs", value="inputs"),
                rx.tabs.trigger("Outputs", value="outputs"),
                size="1",
            ),
            rx.tabs.content(
                json_viewer(header["inputs_html"], data_testid="run-inputs"),
                value="inputs",
                padding_top="8px",
            ),
            rx.tabs.content(
                rx.cond(
                    header["has_outputs"],
                    json_viewer(header["outputs_html"], data_testid="run-outputs"),
                    rx.text(
                        rx.cond(
                            header["active"],
                            "The outputs appear when the run succeeds.",
                            "This run produced no outputs (add an Output node to collect them).",
                        ),
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                value="outputs",
                padding_top="8px",
            ),
            default_value="inputs",
        ),
        rx.cond(ExecutionState.files.length() > 0, _files()),
        padding="12px",
        border=f"1px solid {rx.color('gray', 4)}",
        border_radius="var(--radius-3)",
        background=rx.color("gray", 1),
        width="100%",
    )


def _file_row(link: FileLink) -> rx.Component:
    return rx.hstack(
        rx.cond(
            link["image"],
            rx.image(src=link["url"], alt=link["name"], height="40px", border_radius="4px"),
            rx.icon("file", size=18, color=rx.color("gray", 10)),
        ),
        rx.vstack(
            rx.text(link["name"], size="2", weight="medium"),
            rx.text(link["media_type"], " · ", link["size"], size="1", color_scheme="gray"),
            spacing="0",
        ),
        rx.spacer(),
        # The client router would take the URL for a page of the app: reloadDocument
        # lets the browser fetch it, and the attachment becomes a download.
        rx.el.a(
            rx.hstack(rx.icon("download", size=14), rx.text("Download", size="2"), spacing="1"),
            href=link["url"],
            download=link["name"],
            color=rx.color("accent", 11),
            custom_attrs={"reloadDocument": True},
            data_testid="file-download",
        ),
        align="center",
        width="100%",
        data_testid="run-file",
    )


def _files() -> rx.Component:
    """The run's files (inputs, outputs, step outputs): preview for images, a download."""
    return rx.vstack(
        rx.text("Files", size="2", weight="medium"),
        rx.foreach(ExecutionState.files, _file_row),
        spacing="2",
        padding_top="10px",
        width="100%",
    )


def _side_panel() -> rx.Component:
    return rx.scroll_area(
        rx.vstack(
            approval_panel(),
            rx.text("Run", size="2", weight="bold", color_scheme="gray"),
            _run_card(),
            rx.hstack(
                rx.text("Steps", size="2", weight="bold", color_scheme="gray"),
                rx.spacer(),
                rx.text(
                    "Click a step for its output, input and logs", size="1", color_scheme="gray"
                ),
                width="100%",
                align="center",
                margin_top="6px",
            ),
            rx.cond(
                ExecutionState.action_error != "",
                rx.callout(
                    ExecutionState.action_error, icon="circle-alert", color_scheme="red", size="1"
                ),
            ),
            timeline(),
            spacing="2",
            padding="14px",
            width="100%",
        ),
        type="hover",
        scrollbars="vertical",
        width="460px",
        min_width="460px",
        height="100%",
        border_left=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
    )


def _canvas() -> rx.Component:
    return rx.box(
        workflow_canvas(
            graph=ExecutionState.graph,
            decorations=ExecutionState.decorations,
            catalog=ExecutionState.catalog,
            on_select=ExecutionState.select_node,
            read_only=True,
        ),
        class_name="af-live-canvas",
        flex="1",
        height="100%",
        position="relative",
        min_width="0",
        data_testid="live-canvas",
    )


def _missing() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("search-x", size=36, color=rx.color("gray", 9)),
            rx.heading("Cannot show this execution", size="5"),
            rx.text(ExecutionState.load_error, color_scheme="gray"),
            rx.link(rx.button("All executions"), href=routes.EXECUTIONS),
            align="center",
            spacing="3",
        ),
        height="100vh",
        data_testid="execution-missing",
    )


def execution_page() -> rx.Component:
    return rx.box(
        rx.el.style(CANVAS_CSS + STATUS_CSS + TIMELINE_CSS),
        json_styles(),
        rx.cond(
            ExecutionState.loaded,
            rx.cond(
                ExecutionState.load_error != "",
                _missing(),
                rx.vstack(
                    _toolbar(),
                    rx.hstack(
                        _canvas(),
                        _side_panel(),
                        spacing="0",
                        flex="1",
                        width="100%",
                        min_height="0",
                    ),
                    spacing="0",
                    height="100vh",
                    width="100%",
                    overflow="hidden",
                ),
            ),
            rx.center(rx.spinner(size="3"), height="100vh", width="100%"),
        ),
        on_unmount=ExecutionState.stop_watching,
        width="100%",
    )
