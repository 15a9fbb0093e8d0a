"""The banner every page shows while ``/api/health`` says something is wrong.

``health_banner.jsx`` polls the health route itself, over HTTP: the usual cause, Redis
being away, also takes away Reflex's per-tab state (it lives in Redis), so a banner
driven by a Reflex state could not appear when it is needed. It wraps the whole app
(:func:`app_wraps`), so every page has it, signed in or not.
"""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

_SOURCE = rx.asset("health_banner.jsx", shared=True)

#: How often an open page asks for the server's health (milliseconds).
EVERY_MS = 3000


class HealthBanner(rx.Component):
    """Renders its children, and above them the health route's ``detail`` when degraded."""

    library = _SOURCE.importable_path
    tag = "HealthBanner"

    every_ms: rx.Var[int]


def app_wraps() -> dict[tuple[int, str], Callable[[bool], rx.Component | None]]:
    """For ``rx.App(extra_app_wraps=...)``: the banner around every page."""
    return {(3, "HealthBanner"): lambda _stateful: HealthBanner.create(every_ms=EVERY_MS)}
