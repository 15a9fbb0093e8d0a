"""The node palette: the registry's node types by category, searchable.

Items carry ``data-palette-type``; the canvas listens for clicks and drags on them in the
browser, so adding a node is instant and a plugin's node needs no JavaScript of its own.
"""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.palette import PaletteGroup, PaletteItem, PaletteState


def _item(item: PaletteItem) -> rx.Component:
    # A div, not a <button>: Chromium starts no HTML5 drag from a button.
    return rx.el.div(
        rx.hstack(
            rx.center(
                rx.icon(item["icon"], size=15),
                width="28px",
                height="28px",
                border_radius="8px",
                background=rx.color("accent", 3),
                color=rx.color("accent", 11),
                flex_shrink="0",
            ),
            rx.vstack(
                rx.text(item["label"], size="2", weight="medium", trim="both"),
                rx.text(
                    item["type"],
                    size="1",
                    color_scheme="gray",
                    font_family="var(--code-font-family)",
                ),
                spacing="0",
                align="start",
                min_width="0",
            ),
            spacing="2",
            align="center",
            width="100%",
        ),
        title=item["description"],
        draggable=True,
        role="button",
        tab_index=0,
        custom_attrs={"data-palette-type": item["type"]},
        data_testid="palette-item",
        aria_label="Add " + item["label"],
        style={
            "display": "block",
            "width": "100%",
            "padding": "6px 8px",
            "border_radius": "8px",
            "cursor": "grab",
            "user_select": "none",
            "_hover": {"background": rx.color("gray", 3)},
            "_focus_visible": {"outline": f"2px solid {rx.color('accent', 8)}"},
        },
    )


def _group(group: PaletteGroup) -> rx.Component:
    return rx.vstack(
        rx.text(
            group["name"],
            size="1",
            weight="bold",
            color_scheme="gray",
            text_transform="uppercase",
            letter_spacing="0.06em",
            padding_x="8px",
        ),
        rx.foreach(group["items"], _item),
        spacing="0",
        width="100%",
    )


def palette() -> rx.Component:
    """The left column of the editor."""
    return rx.vstack(
        rx.input(
            rx.input.slot(rx.icon("search", size=14)),
            placeholder="Search nodes…",
            value=PaletteState.query,
            on_change=PaletteState.set_query,
            size="2",
            width="100%",
            data_testid="palette-search",
        ),
        rx.scroll_area(
            rx.vstack(
                rx.foreach(PaletteState.view, _group),
                rx.cond(
                    PaletteState.view.length() == 0,
                    rx.text("No node matches.", size="2", color_scheme="gray", padding="8px"),
                ),
                spacing="4",
                width="100%",
                padding_bottom="1em",
            ),
            type="hover",
            scrollbars="vertical",
            flex="1",
        ),
        rx.text(
            "Click or drag a node onto the canvas.",
            size="1",
            color_scheme="gray",
            padding_x="4px",
        ),
        spacing="3",
        width="260px",
        min_width="260px",
        height="100%",
        padding="12px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 1),
        data_testid="palette",
    )
