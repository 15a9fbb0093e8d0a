"""The 404 page."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.layout import centered_card


def not_found() -> rx.Component:
    return centered_card(
        rx.heading("Page not found", size="5"),
        rx.text("There is nothing at this address.", color_scheme="gray"),
        rx.link(rx.button("Go to your workflows", width="100%"), href=routes.WORKFLOWS),
    )
