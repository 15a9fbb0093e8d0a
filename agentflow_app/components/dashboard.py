"""The runs dashboard shown above the workflow list: key figures and three small charts."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.state.dashboard import DAYS, DashboardState

_CHART_HEIGHT = 180


def _figure(label: str, value: rx.Var[str], hint: str, testid: str) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(label, size="1", weight="medium", color_scheme="gray"),
            rx.text(
                rx.cond(value != "", value, "—"),
                size="6",
                weight="bold",
                data_testid=testid,
            ),
            rx.text(hint, size="1", color_scheme="gray"),
            spacing="1",
        ),
        size="1",
        flex="1",
        min_width="9em",
    )


def _chart_card(title: str, chart: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(title, size="2", weight="medium"),
            rx.box(chart, width="100%", font_size="11px"),
            spacing="2",
            width="100%",
        ),
        size="1",
        flex="1",
        min_width="18em",
    )


def _axes(*, decimals: bool = False, axis_width: int = 40) -> list[rx.Component]:
    tick = {"fontSize": 11, "fill": "var(--gray-10)"}
    return [
        rx.recharts.cartesian_grid(
            stroke_dasharray="3 3", vertical=False, stroke=rx.color("gray", 4)
        ),
        rx.recharts.x_axis(data_key="day", tick_line=False, tick=tick, min_tick_gap=24),
        rx.recharts.y_axis(
            tick_line=False, axis_line=False, tick=tick, width=axis_width, allow_decimals=decimals
        ),
        rx.recharts.graphing_tooltip(),
    ]


def _runs_chart() -> rx.Component:
    series = [
        ("succeeded", "green"),
        ("failed", "red"),
        ("cancelled", "orange"),
        ("active", "blue"),
    ]
    return rx.recharts.bar_chart(
        *_axes(),
        *(
            rx.recharts.bar(
                data_key=key,
                stack_id="runs",
                fill=rx.color(color, 9),
                name=key.capitalize(),
                is_animation_active=False,
            )
            for key, color in series
        ),
        rx.recharts.legend(icon_size=10, icon_type="circle"),
        data=DashboardState.days,
        height=_CHART_HEIGHT,
        width="100%",
    )


def _tokens_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        *_axes(axis_width=48),
        rx.recharts.bar(
            data_key="tokens", name="Tokens", fill=rx.color("violet", 9), is_animation_active=False
        ),
        data=DashboardState.days,
        height=_CHART_HEIGHT,
        width="100%",
    )


def _cost_chart() -> rx.Component:
    return rx.recharts.bar_chart(
        *_axes(decimals=True, axis_width=64),
        rx.recharts.bar(
            data_key="cost", name="Cost (USD)", fill=rx.color("amber", 9), is_animation_active=False
        ),
        data=DashboardState.days,
        height=_CHART_HEIGHT,
        width="100%",
    )


def _empty() -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon("chart-column", size=28, color=rx.color("gray", 8)),
            rx.vstack(
                rx.text(f"No runs in the last {DAYS} days", size="2", weight="medium"),
                rx.text(
                    "Execute a workflow and this shows runs per day, durations, tokens and cost.",
                    size="2",
                    color_scheme="gray",
                ),
                spacing="1",
            ),
            align="center",
            spacing="3",
        ),
        size="2",
        width="100%",
        data_testid="dashboard-empty",
    )


def dashboard() -> rx.Component:
    """Runs per day by status, p50/p95 duration, tokens and cost per day (last 14 days)."""
    totals = DashboardState.totals
    return rx.box(
        rx.cond(
            DashboardState.loaded,
            rx.cond(
                DashboardState.has_runs,
                rx.vstack(
                    rx.hstack(
                        _figure("Runs", totals["runs"], f"last {DAYS} days", "dash-runs"),
                        _figure(
                            "Success rate", totals["success_rate"], "of finished runs", "dash-rate"
                        ),
                        _figure("Duration p50", totals["p50"], "median run", "dash-p50"),
                        _figure("Duration p95", totals["p95"], "slowest 5 %", "dash-p95"),
                        _figure("Tokens", totals["tokens"], "input + output", "dash-tokens"),
                        _figure("Cost", totals["cost"], "LLM spend", "dash-cost"),
                        spacing="3",
                        width="100%",
                        wrap="wrap",
                    ),
                    rx.hstack(
                        _chart_card("Runs per day", _runs_chart()),
                        _chart_card("Tokens per day", _tokens_chart()),
                        _chart_card("Cost per day (USD)", _cost_chart()),
                        spacing="3",
                        width="100%",
                        wrap="wrap",
                    ),
                    rx.link(
                        "See every run →",
                        href=routes.EXECUTIONS,
                        size="2",
                        align="right",
                        width="100%",
                    ),
                    spacing="3",
                    width="100%",
                    data_testid="dashboard",
                ),
                _empty(),
            ),
            rx.box(height="2em"),
        ),
        on_mount=DashboardState.load,
        width="100%",
        margin_bottom="1.5em",
    )
