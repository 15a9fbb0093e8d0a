"""The signup page; says so plainly when the operator closed signup."""

from __future__ import annotations

import reflex as rx

from agentflow_app import routes
from agentflow_app.components.layout import centered_card
from agentflow_app.pages.login import field, form_error
from agentflow_app.state.auth import AuthState


def _closed() -> rx.Component:
    return rx.vstack(
        rx.callout(
            "Signup is closed or by invitation on this server. Ask an administrator for "
            "an invitation link, or to create an account for you (agentflow user create).",
            icon="lock",
            color_scheme="amber",
            width="100%",
        ),
        rx.link(rx.button("Go to sign in", variant="soft", width="100%"), href=routes.LOGIN),
        spacing="3",
        width="100%",
    )


def _form() -> rx.Component:
    errors = AuthState.register_errors
    return rx.form(
        rx.vstack(
            field(
                "Name",
                rx.input(
                    name="name", placeholder="Ada Lovelace", auto_complete="name", width="100%"
                ),
                errors.get("name", ""),
            ),
            field(
                "Email",
                rx.input(
                    name="email",
                    type="email",
                    placeholder="you@example.com",
                    auto_complete="username",
                    width="100%",
                ),
                errors.get("email", ""),
            ),
            field(
                "Password",
                rx.input(
                    name="password",
                    type="password",
                    placeholder="at least 8 characters",
                    auto_complete="new-password",
                    width="100%",
                ),
                errors.get("password", ""),
            ),
            field(
                "Repeat the password",
                rx.input(
                    name="confirm", type="password", auto_complete="new-password", width="100%"
                ),
                errors.get("confirm", ""),
            ),
            rx.button(
                "Create account",
                type="submit",
                loading=AuthState.register_busy,
                # Inert until the page is connected: an early click would be lost.
                disabled=~rx.State.is_hydrated,
                width="100%",
                margin_top="0.5em",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthState.register,
        id="register-form",
        width="100%",
    )


def register() -> rx.Component:
    return centered_card(
        rx.vstack(
            rx.heading("Create your account", size="5"),
            rx.text("Draw a workflow, press Execute, watch it run.", size="2", color_scheme="gray"),
            spacing="1",
        ),
        form_error(AuthState.register_errors.get("form", "")),
        rx.cond(AuthState.signup_open, _form(), _closed()),
        rx.text(
            "Already have an account? ",
            rx.link("Sign in", href=routes.LOGIN),
            size="2",
            color_scheme="gray",
        ),
    )
