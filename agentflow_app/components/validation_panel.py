"""The list of validation problems; clicking one selects its node and brings it into view."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.editor import EditorState, ProblemView


def _problem(problem: ProblemView) -> rx.Component:
    return rx.el.button(
        rx.hstack(
            rx.icon(
                "circle-alert", size=14, color=rx.color("red", 9), flex_shrink="0", margin_top="2px"
            ),
            rx.vstack(
                rx.text(problem["where"], size="1", weight="bold"),
                rx.text(problem["message"], size="1", color_scheme="gray"),
                spacing="0",
                align="start",
            ),
            spacing="2",
            align="start",
        ),
        type="button",
        on_click=EditorState.focus_node(problem["node_id"]),
        disabled=problem["node_id"] == "",
        data_testid="problem",
        custom_attrs={"data-node-id": problem["node_id"]},
        style={
            "border": "none",
            "background": "transparent",
            "font": "inherit",
            "color": "inherit",
            "display": "block",
            "width": "100%",
            "padding": "8px",
            "border_radius": "8px",
            "cursor": "pointer",
            "text_align": "left",
            "_hover": {"background": rx.color("red", 2)},
        },
    )


def problems_list() -> rx.Component:
    """Every problem of the working document, or a reassuring line when there is none."""
    return rx.cond(
        EditorState.problems.length() > 0,
        rx.vstack(
            rx.foreach(EditorState.problems, _problem),
            spacing="0",
            width="100%",
            data_testid="problems",
        ),
        rx.hstack(
            rx.icon("circle-check", size=16, color=rx.color("grass", 9)),
            rx.text("Ready to run: no problems found.", size="2", color_scheme="gray"),
            spacing="2",
            align="center",
            data_testid="no-problems",
        ),
    )


def problems_button() -> rx.Component:
    """The toolbar's problem count, opening the list."""
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.cond(
                    EditorState.problems.length() > 0,
                    rx.icon("circle-alert", size=15),
                    rx.icon("circle-check", size=15),
                ),
                rx.cond(
                    EditorState.problems.length() > 0,
                    EditorState.problems.length().to_string() + " problems",
                    "Valid",
                ),
                variant="soft",
                color_scheme=rx.cond(EditorState.problems.length() > 0, "red", "grass"),
                size="2",
                data_testid="problems-button",
            )
        ),
        rx.popover.content(
            rx.scroll_area(problems_list(), max_height="60vh", type="auto"),
            width="360px",
        ),
    )
