"""Version history: every save is a version; restoring one saves it again as the newest."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.editor import EditorState
from agentflow_app.state.versions import VersionsState, VersionView


def _version(row: VersionView) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.hstack(
                rx.text("Version ", row["version"], size="2", weight="medium"),
                rx.cond(row["current"], rx.badge("current", size="1", color_scheme="grass")),
                spacing="2",
                align="center",
            ),
            rx.text(row["name"], " · ", row["created"], size="1", color_scheme="gray"),
            spacing="0",
        ),
        rx.spacer(),
        rx.cond(
            row["current"],
            rx.fragment(),
            rx.button(
                "Restore",
                size="1",
                variant="soft",
                on_click=VersionsState.restore(row["version"]),
                data_testid="restore-version",
            ),
        ),
        width="100%",
        align="center",
        padding_y="6px",
        data_testid="version-row",
    )


def versions_button() -> rx.Component:
    return rx.popover.root(
        rx.popover.trigger(
            rx.button(
                rx.icon("history", size=15),
                "v",
                EditorState.version,
                variant="soft",
                color_scheme="gray",
                size="2",
                on_click=VersionsState.load_versions,
                data_testid="versions-button",
            )
        ),
        rx.popover.content(
            rx.vstack(
                rx.text("Version history", size="2", weight="bold"),
                rx.scroll_area(
                    rx.vstack(
                        rx.foreach(VersionsState.versions, _version), spacing="0", width="100%"
                    ),
                    max_height="50vh",
                    type="auto",
                ),
                spacing="2",
                width="100%",
            ),
            width="320px",
        ),
    )
