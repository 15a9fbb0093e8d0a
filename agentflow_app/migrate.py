"""Schema migrations: the one way tables come to exist (Alembic owns the schema)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import OperationalError

from agentflow_app.db import get_engine
from agentflow_app.errors import ConfigError

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"


def alembic_config() -> Config:
    config = Config(str(ALEMBIC_INI))
    config.attributes["configure_logging"] = False
    return config


def upgrade_head() -> None:
    """Bring the configured database to the newest schema.

    Raises:
        ConfigError: when the database cannot be reached or written.
    """
    engine = get_engine()
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise ConfigError(
            f"cannot migrate the database at {engine.url.render_as_string(hide_password=True)}: "
            f"{reason}; check DB_URL"
        ) from None
