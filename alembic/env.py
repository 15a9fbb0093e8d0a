"""Alembic environment: SQLModel.metadata, the URL from settings, batch mode for SQLite."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import agentflow_app.models  # noqa: F401  (registers the tables)
from agentflow_app.db import get_engine

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def render_item(type_: str, obj, autogen_context):
    """Render our column types by import path so migrations stay self-contained."""
    from agentflow_app.models.base import UTCDateTime

    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import agentflow_app.models.base")
        return "agentflow_app.models.base.UTCDateTime()"
    return False


def _migrate(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Use the caller's connection (agentflow migrate) or open one (alembic CLI)."""
    if (connection := config.attributes.get("connection")) is not None:
        _migrate(connection)
        return
    with get_engine().connect() as opened:
        _migrate(opened)
        opened.commit()


run_migrations_online()
