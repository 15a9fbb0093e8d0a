"""The templates gallery: a card per example workflow; one click makes it yours."""

from __future__ import annotations

import reflex as rx

from agentflow_app.state.templates import TemplateCard, TemplatesState


def _card(card: TemplateCard) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.foreach(
                    card["icons"],
                    lambda icon: rx.center(
                        rx.icon(icon, size=14),
                        width="26px",
                        height="26px",
                        border_radius="7px",
                        background=rx.color("accent", 3),
                        color=rx.color("accent", 11),
                    ),
                ),
                spacing="1",
            ),
            rx.text(card["name"], size="3", weight="bold"),
            rx.text(card["description"], size="2", color_scheme="gray", flex="1"),
            rx.hstack(
                rx.text(card["steps"], " steps", size="1", color_scheme="gray"),
                rx.spacer(),
                rx.button(
                    "Use template",
                    rx.icon("arrow-right", size=14),
                    size="1",
                    variant="soft",
                    loading=TemplatesState.busy == card["slug"],
                    on_click=TemplatesState.use(card["slug"]),
                    data_testid="use-template",
                ),
                align="center",
                width="100%",
            ),
            spacing="2",
            height="100%",
        ),
        size="2",
        data_testid="template-card",
        custom_attrs={"data-template": card["slug"]},
    )


def templates_gallery() -> rx.Component:
    """Start from an example; needs ``TemplatesState.load`` in the page's ``on_load``."""
    return rx.vstack(
        rx.heading("Start from a template", size="4"),
        rx.cond(
            TemplatesState.error != "",
            rx.callout(TemplatesState.error, icon="circle-alert", color_scheme="red", size="1"),
        ),
        rx.grid(
            rx.foreach(TemplatesState.cards, _card),
            columns=rx.breakpoints(initial="1", sm="2", lg="3"),
            spacing="3",
            width="100%",
        ),
        spacing="3",
        width="100%",
        margin_top="2em",
        data_testid="templates-gallery",
    )
