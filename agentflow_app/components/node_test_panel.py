""" "Test this node", at the foot of the config panel: sample data in, the node's result out.

The sample boxes are uncontrolled and read once, when the form is submitted, so typing
costs no server round trip; their ``key`` changes when the form is prefilled again.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.editor import EditorState
from agentflow_app.state.node_test import NodeTestState, SampleView

_CODE = "var(--code-font-family)"
_STATUS_COLORS = (
    ("queued", "gray"),
    ("running", "blue"),
    ("waiting", "amber"),
    ("succeeded", "green"),
    ("failed", "red"),
    ("cancelled", "orange"),
    ("skipped", "gray"),
)


def _key(*parts) -> rx.Var:
    key = NodeTestState.node + ":" + NodeTestState.form_key.to_string()
    for part in parts:
        key = key + ":" + part
    return key


def _json_box(name: rx.Var | str, value: rx.Var, rows: str, testid: str) -> rx.Component:
    return rx.text_area(
        key=_key(name),
        name=name,
        default_value=value,
        rows=rows,
        width="100%",
        font_family=_CODE,
        font_size="12px",
        spell_check=False,
        data_testid=testid,
    )


def _sample(sample: SampleView) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(sample["label"], size="2", weight="medium"),
            rx.code(sample["type"], size="1", variant="ghost", color_scheme="gray"),
            spacing="2",
            align="center",
        ),
        rx.text(
            "Output of nodes.",
            sample["node_id"],
            " (",
            sample["source"],
            ")",
            size="1",
            color_scheme="gray",
        ),
        _json_box("sample:" + sample["node_id"], sample["text"], "4", "node-test-sample"),
        spacing="1",
        width="100%",
        custom_attrs={"data-sample": sample["node_id"]},
    )


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.text("Sample inputs", size="2", weight="medium"),
            rx.text("inputs.* as JSON (", NodeTestState.inputs_source, ")", size="1", color="gray"),
            _json_box("inputs", NodeTestState.inputs, "3", "node-test-inputs"),
            rx.foreach(NodeTestState.samples, _sample),
            rx.hstack(
                rx.button(
                    rx.icon("play", size=14),
                    "Run test",
                    type="submit",
                    loading=NodeTestState.busy,
                    disabled=NodeTestState.running,
                    data_testid="node-test-run",
                ),
                rx.cond(
                    NodeTestState.running,
                    rx.button(
                        "Stop",
                        type="button",
                        variant="soft",
                        color_scheme="red",
                        on_click=NodeTestState.stop,
                        data_testid="node-test-stop",
                    ),
                ),
                rx.spacer(),
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Refill",
                    type="button",
                    variant="ghost",
                    color_scheme="gray",
                    size="1",
                    title="Fill the samples again from the latest runs",
                    on_click=NodeTestState.prepare,
                ),
                width="100%",
                align="center",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=NodeTestState.start,
        reset_on_submit=False,
        width="100%",
    )


def _status(value: rx.Var, testid: str) -> rx.Component:
    return rx.badge(
        value,
        color_scheme=rx.match(value, *_STATUS_COLORS, "gray"),
        variant="soft",
        data_testid=testid,
    )


def _result() -> rx.Component:
    run = NodeTestState.run
    return rx.vstack(
        rx.hstack(
            rx.text("Result", size="2", weight="medium"),
            _status(run["status"], "node-test-status"),
            rx.cond(run["step_status"] != "", _status(run["step_status"], "node-test-step")),
            rx.cond(NodeTestState.running, rx.spinner(size="1")),
            rx.spacer(),
            rx.text(run["duration"], size="1", color_scheme="gray", data_testid="node-test-time"),
            rx.link(
                "Open run",
                href=run["href"],
                size="1",
                title="The test's execution in the live view",
            ),
            width="100%",
            align="center",
            spacing="2",
        ),
        rx.cond(
            run["error"] != "",
            rx.callout(
                run["error"],
                icon="circle-x",
                color_scheme="red",
                size="1",
                width="100%",
                data_testid="node-test-error",
            ),
        ),
        rx.cond(
            (run["tokens"] != "") & (run["output"] == ""),
            rx.box(
                rx.text(run["tokens"], size="2", white_space="pre-wrap"),
                width="100%",
                data_testid="node-test-tokens",
            ),
        ),
        rx.cond(
            run["output"] != "",
            rx.vstack(
                rx.cond(
                    run["truncated"],
                    rx.text("Over 1 MiB: the start is shown.", size="1", color_scheme="amber"),
                ),
                rx.el.pre(
                    run["output"],
                    style={
                        "font_family": _CODE,
                        "font_size": "12px",
                        "white_space": "pre-wrap",
                        "word_break": "break-word",
                        "max_height": "320px",
                        "overflow": "auto",
                        "margin": "0",
                        "padding": "8px",
                        "width": "100%",
                        "border_radius": "6px",
                        "background": rx.color("gray", 3),
                    },
                    data_testid="node-test-output",
                ),
                spacing="1",
                width="100%",
            ),
        ),
        rx.cond(
            run["logs"].length() > 0,
            rx.vstack(
                rx.text("Log", size="1", weight="medium"),
                rx.foreach(
                    run["logs"],
                    lambda line: rx.text(line, size="1", font_family=_CODE, white_space="pre-wrap"),
                ),
                spacing="1",
                width="100%",
                data_testid="node-test-logs",
            ),
        ),
        spacing="2",
        width="100%",
    )


def node_test_panel() -> rx.Component:
    """Sample inputs and upstream outputs, a Run button, and the node's result."""
    mine = NodeTestState.node == EditorState.selected_id
    return rx.vstack(
        rx.hstack(
            rx.icon("flask-conical", size=16),
            rx.text("Test this node", size="2", weight="bold"),
            align="center",
            spacing="2",
        ),
        rx.text(
            "Runs this node alone on a worker, with your credentials and its current "
            "settings (saved or not). Nodes before it are not run: their outputs come from "
            "the samples below.",
            size="1",
            color_scheme="gray",
        ),
        rx.cond(
            mine & NodeTestState.ready,
            _form(),
            rx.button(
                rx.icon("flask-conical", size=14),
                "Test…",
                variant="soft",
                on_click=NodeTestState.prepare,
                data_testid="node-test-open",
            ),
        ),
        rx.cond(
            mine & (NodeTestState.error != ""),
            rx.callout(
                NodeTestState.error,
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                width="100%",
                data_testid="node-test-refused",
            ),
        ),
        rx.cond(mine & (NodeTestState.run["execution_id"] > 0), _result()),
        spacing="2",
        width="100%",
        data_testid="node-test",
    )
