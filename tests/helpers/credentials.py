"""For the credentials vault's tests: signing an actor in through the REST API, and every
byte a stack's database holds (to show that no secret is stored in the clear)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from agentflow_app.services.users import Actor
from tests.helpers.stack import Stack
from tests.helpers.users import PASSWORD


async def token_for(api: httpx.AsyncClient, actor: Actor) -> dict[str, str]:
    """The Authorization header of a signed-in ``actor`` (through POST /api/auth/token)."""
    answer = await api.post("/api/auth/token", json={"email": actor.email, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def raw_database(stack: Stack) -> bytes:
    """Every byte the database holds: the SQLite files (WAL included) or a ``pg_dump``."""
    url = make_url(stack.db_url)
    if url.get_backend_name() == "sqlite":
        main = Path(url.database)
        files = [str(path) for path in (main, main.with_name(main.name + "-wal")) if path.exists()]
        # Read in another process: closing any descriptor of the database file in this one
        # drops every POSIX lock SQLite holds on it here, after which other processes may
        # reset the WAL under this process's connections ("disk I/O error", lost writes).
        return subprocess.run(["cat", *files], check=True, capture_output=True).stdout
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    pg_dump = shutil.which("pg_dump") or "/usr/bin/pg_dump"
    return subprocess.run(
        [pg_dump, "--data-only", "--inserts", dsn], check=True, capture_output=True, timeout=120
    ).stdout
