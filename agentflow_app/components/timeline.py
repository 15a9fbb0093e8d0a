"""The live view's step timeline: one row per node, expandable into its details.

Each row shows the step's status, label, type, duration and usage, a bar placing it on the
run's time line, the text the model is streaming while it runs, and (when selected) tabs
with its output, input, logs and error.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.json_viewer import json_viewer
from agentflow_app.components.status import status_color, status_icon
from agentflow_app.state.execution import ExecutionState
from agentflow_app.state.execution_view import LogView, StepView

_MONO = "var(--code-font-family, ui-monospace, monospace)"


def stream_box(text: rx.Var[str], **props) -> rx.Component:
    """Text a model is streaming, with a blinking caret."""
    return rx.box(
        rx.text(text, as_="span"),
        rx.box(as_="span", class_name="af-caret"),
        white_space="pre-wrap",
        word_break="break-word",
        font_size="12.5px",
        line_height="1.55",
        padding="8px 10px",
        border_radius="var(--radius-2)",
        background=rx.color("blue", 2),
        border=f"1px solid {rx.color('blue', 5)}",
        color=rx.color("gray", 12),
        max_height="14em",
        overflow_y="auto",
        **props,
    )


def _log_line(line: LogView) -> rx.Component:
    return rx.hstack(
        rx.text(line["time"], size="1", color_scheme="gray", font_family=_MONO, flex_shrink="0"),
        rx.badge(
            line["level"],
            size="1",
            variant="soft",
            color_scheme=rx.match(line["level"], ("error", "red"), ("warning", "amber"), "gray"),
            flex_shrink="0",
        ),
        rx.text(line["message"], size="1", font_family=_MONO, white_space="pre-wrap"),
        spacing="2",
        align="start",
        width="100%",
    )


def _empty_note(text: str) -> rx.Component:
    return rx.text(text, size="2", color_scheme="gray", padding="0.75em 0")


def step_detail() -> rx.Component:
    """The selected step's output, input, logs and error, in tabs."""
    detail = ExecutionState.detail
    return rx.tabs.root(
        rx.tabs.list(
            rx.tabs.trigger("Output", value="output"),
            rx.tabs.trigger("Input", value="input"),
            rx.tabs.trigger(
                "Logs",
                rx.cond(
                    detail["logs"].length() > 0,
                    rx.badge(detail["logs"].length(), size="1", variant="soft", margin_left="4px"),
                ),
                value="logs",
            ),
            rx.cond(
                detail["error"] != "",
                rx.tabs.trigger("Error", value="error", color=rx.color("red", 11)),
            ),
            size="1",
        ),
        rx.tabs.content(
            rx.cond(
                detail["child_href"] != "",
                rx.link(
                    rx.icon("external-link", size=13),
                    rx.cond(
                        detail["child_runs"] > 1,
                        rx.text("Open the first of ", detail["child_runs"], " item runs"),
                        rx.text("Open the run it started"),
                    ),
                    href=detail["child_href"],
                    size="1",
                    display="inline-flex",
                    align_items="center",
                    gap="4px",
                    margin_bottom="8px",
                    data_testid="child-link",
                ),
            ),
            rx.cond(
                detail["child_runs"] > 1,
                rx.form(
                    rx.hstack(
                        rx.input(
                            name="index",
                            placeholder="Item index (from 0)",
                            input_mode="numeric",
                            size="1",
                            width="160px",
                        ),
                        rx.button("Open item", size="1", variant="soft", type="submit"),
                        spacing="2",
                    ),
                    on_submit=ExecutionState.open_item,
                    margin_bottom="8px",
                    data_testid="open-item",
                ),
            ),
            rx.cond(
                detail["stream"] != "",
                stream_box(detail["stream"], margin_bottom="8px", data_testid="detail-stream"),
            ),
            rx.cond(
                detail["has_output"],
                rx.vstack(
                    rx.cond(
                        detail["truncated"],
                        rx.callout(
                            "This output passed 1 MiB and was stored cut short.",
                            icon="scissors",
                            size="1",
                            color_scheme="amber",
                        ),
                    ),
                    json_viewer(detail["output_html"], data_testid="step-output"),
                    spacing="2",
                    width="100%",
                ),
                rx.cond(
                    detail["stream"] == "",
                    _empty_note(
                        rx.match(
                            detail["status"],
                            ("running", "Running… the output appears when the step ends."),
                            ("pending", "Not started yet."),
                            ("skipped", "Skipped: no active path led here."),
                            "No output.",
                        )
                    ),
                ),
            ),
            value="output",
            padding_top="10px",
        ),
        rx.tabs.content(
            rx.text(
                rx.cond(
                    detail["type"].contains("trigger."),
                    "The run's inputs",
                    "Outputs of the steps connected into this one",
                ),
                size="1",
                color_scheme="gray",
                margin_bottom="6px",
            ),
            json_viewer(detail["input_html"], data_testid="step-input"),
            value="input",
            padding_top="10px",
        ),
        rx.tabs.content(
            rx.cond(
                detail["logs"].length() > 0,
                rx.vstack(rx.foreach(detail["logs"], _log_line), spacing="1", width="100%"),
                _empty_note("This step wrote no logs."),
            ),
            value="logs",
            padding_top="10px",
        ),
        rx.tabs.content(
            rx.callout(
                detail["error"],
                icon="triangle-alert",
                color_scheme="red",
                size="1",
                white_space="pre-wrap",
                data_testid="step-error",
            ),
            value="error",
            padding_top="10px",
        ),
        default_value=rx.cond(detail["error"] != "", "error", "output"),
        width="100%",
        margin_top="10px",
        data_testid="step-detail",
    )


def _bar(step: StepView) -> rx.Component:
    return rx.box(
        rx.box(
            position="absolute",
            top="0",
            bottom="0",
            left=step["bar_left"],
            width=step["bar_width"],
            border_radius="3px",
            background=rx.color(status_color(step["status"]), 9),
            class_name=rx.cond(step["status"] == "running", "af-bar-running", ""),
        ),
        position="relative",
        height="4px",
        border_radius="3px",
        background=rx.color("gray", 3),
        width="100%",
        margin_top="8px",
    )


def _row(step: StepView) -> rx.Component:
    selected = ExecutionState.selected == step["node_id"]
    return rx.box(
        rx.box(
            rx.hstack(
                rx.center(
                    status_icon(step["status"]), width="20px", height="20px", flex_shrink="0"
                ),
                rx.vstack(
                    rx.text(step["label"], size="2", weight="medium", trim="both"),
                    rx.hstack(
                        rx.code(step["type"], size="1", variant="ghost", color_scheme="gray"),
                        rx.cond(
                            step["attempts"] > 1,
                            rx.badge(
                                step["attempts"].to_string() + " attempts",
                                size="1",
                                variant="soft",
                                color_scheme="amber",
                            ),
                        ),
                        spacing="2",
                        align="center",
                    ),
                    spacing="1",
                    min_width="0",
                    flex="1",
                ),
                rx.vstack(
                    rx.text(
                        rx.cond(step["duration"] != "", step["duration"], step["status"]),
                        size="1",
                        weight="medium",
                        color=rx.cond(
                            step["duration"] != "", rx.color("gray", 12), rx.color("gray", 10)
                        ),
                        data_testid="step-duration",
                    ),
                    rx.cond(
                        step["usage"] != "",
                        rx.text(step["usage"], size="1", color_scheme="gray"),
                    ),
                    spacing="0",
                    align="end",
                    flex_shrink="0",
                ),
                rx.cond(
                    selected,
                    rx.icon("chevron-down", size=14, color=rx.color("gray", 9), flex_shrink="0"),
                    rx.icon("chevron-right", size=14, color=rx.color("gray", 9), flex_shrink="0"),
                ),
                spacing="3",
                align="center",
                width="100%",
            ),
            _bar(step),
            on_click=ExecutionState.select_step(step["node_id"]),
            cursor="pointer",
        ),
        rx.cond(
            step["stream"] != "",
            stream_box(step["stream"], margin_top="8px", data_testid="step-stream"),
        ),
        rx.cond(
            (step["error"] != "") & (step["status"] == "failed") & ~selected,
            rx.text(
                step["error"],
                size="1",
                color_scheme="red",
                margin_top="6px",
                trim="both",
                white_space="pre-wrap",
                data_testid="step-error-line",
            ),
        ),
        rx.cond(selected, step_detail()),
        padding="10px 12px",
        border_radius="var(--radius-3)",
        border=rx.cond(
            selected,
            f"1px solid {rx.color('accent', 7)}",
            f"1px solid {rx.color('gray', 4)}",
        ),
        background=rx.cond(selected, rx.color("accent", 1), rx.color("gray", 1)),
        box_shadow=rx.cond(selected, "0 2px 10px rgba(15, 23, 42, 0.06)", "none"),
        _hover={"border_color": rx.color("gray", 7)},
        width="100%",
        id="step-" + step["node_id"],
        data_testid="step-row",
        data_node_id=step["node_id"],
        data_status=step["status"],
    )


def timeline() -> rx.Component:
    """Every step of the run, in the order they started."""
    return rx.vstack(rx.foreach(ExecutionState.steps, _row), spacing="2", width="100%")


TIMELINE_CSS = """
.af-caret { display: inline-block; width: 7px; height: 1.05em; margin-left: 2px;
  vertical-align: text-bottom; background: var(--blue-9); animation: af-blink 1s steps(1) infinite; }
@keyframes af-blink { 50% { opacity: 0; } }
.af-bar-running { background-image: linear-gradient(90deg, transparent, rgba(255,255,255,.55), transparent);
  background-size: 60px 100%; background-repeat: no-repeat; animation: af-sheen 1.1s linear infinite; }
@keyframes af-sheen { from { background-position: -60px 0; } to { background-position: 260px 0; } }
"""
