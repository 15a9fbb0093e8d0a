"""How an execution or step status looks, everywhere it is shown: colour, icon, badge."""

from __future__ import annotations

import reflex as rx

#: Radix colour of each status (executions and steps share the words).
STATUS_COLORS: dict[str, str] = {
    "queued": "gray",
    "pending": "gray",
    "running": "blue",
    "waiting": "amber",
    "succeeded": "green",
    "failed": "red",
    "skipped": "gray",
    "cancelled": "orange",
}


def status_color(status: rx.Var[str]) -> rx.Var[str]:
    """The Radix colour name for a status var."""
    return rx.match(status, *STATUS_COLORS.items(), "gray")


def status_icon(status: rx.Var[str], size: int = 16) -> rx.Component:
    """A small glyph for a status; a spinner while running."""
    return rx.match(
        status,
        ("running", rx.spinner(size="2", color=rx.color("blue", 9))),
        ("succeeded", rx.icon("circle-check", size=size, color=rx.color("green", 9))),
        ("failed", rx.icon("circle-x", size=size, color=rx.color("red", 9))),
        ("waiting", rx.icon("hourglass", size=size, color=rx.color("amber", 9))),
        ("skipped", rx.icon("circle-slash", size=size, color=rx.color("gray", 8))),
        ("cancelled", rx.icon("ban", size=size, color=rx.color("orange", 9))),
        ("queued", rx.icon("clock", size=size, color=rx.color("gray", 9))),
        rx.icon("circle-dashed", size=size, color=rx.color("gray", 8)),
    )


def status_badge(status: rx.Var[str], **props) -> rx.Component:
    """The status word on a soft badge of its colour, with a pulse while it is running."""
    return rx.badge(
        rx.cond(
            (status == "running") | (status == "queued") | (status == "waiting"),
            rx.box(class_name="af-live-dot"),
        ),
        status,
        color_scheme=status_color(status),
        variant="soft",
        radius="full",
        data_testid="status-badge",
        data_status=status,
        **props,
    )


#: Shared styles: the pulsing dot of an active status.
STATUS_CSS = """
.af-live-dot { width: 7px; height: 7px; border-radius: 50%; background: currentColor;
  animation: af-dot 1.2s ease-in-out infinite; }
@keyframes af-dot { 0%, 100% { opacity: 1; } 50% { opacity: 0.25; } }
"""
