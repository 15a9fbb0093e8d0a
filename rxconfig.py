"""Reflex configuration. Values come from AgentFlow's settings, not from here."""

import reflex as rx

from agentflow_app.settings import get_settings

_settings = get_settings()

config = rx.Config(
    app_name="agentflow_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    # Reflex keeps per-tab state in Redis when there is one, so several backend workers
    # (and restarts) share it; without Redis it falls back to its on-disk manager.
    redis_url=_settings.effective_redis_url(),
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="violet", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
