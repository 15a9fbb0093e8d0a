"""The page an admin's password reset link opens."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.layout import centered_card
from agentflow_app.pages.login import field, form_error
from agentflow_app.state.reset_password import ResetPasswordState


def _form() -> rx.Component:
    errors = ResetPasswordState.errors
    return rx.form(
        rx.vstack(
            field(
                "New password",
                rx.input(
                    name="new_password",
                    type="password",
                    placeholder="at least 8 characters",
                    auto_complete="new-password",
                    width="100%",
                ),
                errors.get("new_password", ""),
            ),
            field(
                "Repeat the password",
                rx.input(
                    name="confirm", type="password", auto_complete="new-password", width="100%"
                ),
                errors.get("confirm", ""),
            ),
            rx.button(
                "Set password",
                type="submit",
                loading=ResetPasswordState.busy,
                disabled=~rx.State.is_hydrated,
                width="100%",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=ResetPasswordState.set_password,
        width="100%",
    )


def reset_password() -> rx.Component:
    return centered_card(
        rx.heading("Choose a new password", size="5"),
        form_error(ResetPasswordState.errors.get("form", "")),
        rx.cond(
            ResetPasswordState.done,
            rx.vstack(
                rx.callout(
                    "Your password is set. Sign in with it.", icon="check", color_scheme="green"
                ),
                rx.link(rx.button("Sign in", width="100%"), href=routes.LOGIN, width="100%"),
                width="100%",
            ),
            _form(),
        ),
    )
