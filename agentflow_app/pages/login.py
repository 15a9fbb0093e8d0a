"""The sign-in page."""

from __future__ import annotations

import reflex as rx

from agentflow_app.components.layout import centered_card
from agentflow_app.state.auth import AuthState


def field(label: str, control: rx.Component, error: rx.Var | str = "") -> rx.Component:
    """A labelled form control with its inline error underneath (shared by the auth pages)."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium", as_="label"),
        control,
        rx.cond(error != "", rx.text(error, size="1", color_scheme="red", data_testid="error")),
        spacing="1",
        width="100%",
    )


def form_error(message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="circle-alert", color_scheme="red", size="1", width="100%"),
    )


def login() -> rx.Component:
    return centered_card(
        rx.vstack(
            rx.heading("Sign in", size="5"),
            rx.text("Welcome back. Sign in to your workflows.", size="2", color_scheme="gray"),
            spacing="1",
        ),
        rx.cond(
            AuthState.session_notice != "",
            rx.callout(
                AuthState.session_notice,
                icon="ban",
                color_scheme="amber",
                size="1",
                width="100%",
                data_testid="session-notice",
            ),
        ),
        form_error(AuthState.login_error),
        rx.form(
            rx.vstack(
                field(
                    "Email",
                    rx.input(
                        name="email",
                        type="email",
                        placeholder="you@example.com",
                        auto_complete="username",
                        auto_focus=True,
                        width="100%",
                    ),
                ),
                field(
                    "Password",
                    rx.input(
                        name="password",
                        type="password",
                        auto_complete="current-password",
                        width="100%",
                    ),
                ),
                rx.button(
                    "Sign in",
                    type="submit",
                    loading=AuthState.login_busy,
                    # Inert until the page is connected: an early click would be lost.
                    disabled=~rx.State.is_hydrated,
                    width="100%",
                    margin_top="0.5em",
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=AuthState.login,
            id="login-form",
            width="100%",
        ),
        rx.text(
            "No account yet? ",
            rx.link("Create one", href=AuthState.register_link),
            size="2",
            color_scheme="gray",
        ),
    )
