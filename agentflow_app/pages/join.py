"""/join?token=…: where a workspace invitation link leads. A visitor signs in first (and
comes back here); the signed-in account accepts, and then acts in the joined workspace."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.layout import centered_card
from agentflow_app.pages.login import form_error
from agentflow_app.state.members import JoinState


def join() -> rx.Component:
    return centered_card(
        rx.vstack(
            rx.heading("Join a workspace", size="5"),
            rx.text(
                "You were invited to a shared workspace: its members' workflows, runs and "
                "credentials, with the role the invitation gives you.",
                size="2",
                color_scheme="gray",
            ),
            spacing="1",
        ),
        rx.cond(
            JoinState.signed_in_as != "",
            rx.text(
                "Signed in as ",
                rx.text.strong(JoinState.signed_in_as, data_testid="join-account"),
                ". The invitation works for the account it was made for only.",
                size="2",
            ),
        ),
        rx.cond(
            JoinState.error != "",
            rx.box(form_error(JoinState.error), width="100%", data_testid="join-error"),
        ),
        rx.button(
            "Accept the invitation",
            on_click=JoinState.accept,
            loading=JoinState.busy,
            disabled=~JoinState.has_token | ~rx.State.is_hydrated,
            width="100%",
            data_testid="accept-invitation",
        ),
        rx.link("Back to my workflows", href=routes.WORKFLOWS, size="2"),
    )
